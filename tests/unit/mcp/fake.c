/* fake.c - the in-memory chat side of the MCP unit tests (see fake.h). */
#include "unit/mcp/fake.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
}

void fake_free(struct fake *f)
{
    free(f->last_args);
    pthread_mutex_destroy(&f->lock);
}

void fake_add_chat(struct fake *f, const char *owner, const char *title, char id[UUID_STR_LEN])
{
    pthread_mutex_lock(&f->lock);
    struct fake_chat *c = &f->chats[f->nchats++];
    uuid_v7(c->id);
    str_copy(c->owner, sizeof c->owner, owner);
    str_copy(c->title, sizeof c->title, title);
    if (id)
        str_copy(id, UUID_STR_LEN, c->id);
    pthread_mutex_unlock(&f->lock);
}

struct subject fake_user(const char *id)
{
    struct subject s;
    memset(&s, 0, sizeof s);
    s.kind = SUBJECT_USER;
    str_copy(s.user_id, sizeof s.user_id, id);
    return s;
}

int64_t fake_now_ms(void *arg)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    int64_t t = f->now_ms;
    pthread_mutex_unlock(&f->lock);
    return t;
}

static int chat_create_(void *arg, const struct subject *sub, const char *title,
                        char out[UUID_STR_LEN], struct err *e)
{
    struct fake *f = arg;
    if (strlen(title) > 256)
        return err_set(e, ERR_BAD_REQUEST, "Validation failed.");
    pthread_mutex_lock(&f->lock);
    f->creates++;
    pthread_mutex_unlock(&f->lock);
    fake_add_chat(f, sub->user_id, title, out);
    return 0;
}

static int chat_check_(void *arg, const struct subject *sub, const char *chat_id, struct err *e)
{
    struct fake *f = arg;
    int rc = err_set(e, ERR_NOT_FOUND, "Resource not found");
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nchats; i++)
        if (strcmp(f->chats[i].id, chat_id) == 0 && strcmp(f->chats[i].owner, sub->user_id) == 0)
            rc = 0;
    pthread_mutex_unlock(&f->lock);
    if (rc == 0)
        err_clear(e);
    return rc;
}

static int chat_find_(void *arg, const struct subject *sub, const char *title,
                      char out[UUID_STR_LEN], struct err *e)
{
    struct fake *f = arg;
    int rc = err_set(e, ERR_NOT_FOUND, "no such chat");
    pthread_mutex_lock(&f->lock);
    f->finds++;
    for (int i = f->nchats - 1; i >= 0; i--) { /* newest first */
        if (strcmp(f->chats[i].owner, sub->user_id) == 0 && strcmp(f->chats[i].title, title) == 0) {
            str_copy(out, UUID_STR_LEN, f->chats[i].id);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (rc == 0)
        err_clear(e);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int run_tool_(void *arg, const struct subject *sub, const char *chat_id, const char *name,
                     const json_t *args, struct tool_cancel *cancel,
                     void (*progress)(void *parg, const char *message), void *progress_arg,
                     struct tool_answer *out, struct err *e)
{
    struct fake *f = arg;
    if (chat_check_(f, sub, chat_id, e) < 0)
        return -1;
    pthread_mutex_lock(&f->lock);
    str_copy(f->last_chat, sizeof f->last_chat, chat_id);
    free(f->last_args);
    f->last_args = args ? jsonx_dump(args) : NULL;
    pthread_mutex_unlock(&f->lock);
    tool_answer_clear(out);
    if (strcmp(name, "list_templates") == 0) {
        tool_result(out, json_pack("{s:[]}", "templates"));
    } else if (strcmp(name, "execute") == 0) {
        tool_text_error(out, "command failed: %s", "boom");
    } else if (strcmp(name, "create_workspace") == 0) {
        tool_build_error(out, "build failed", "b1");
    } else if (strcmp(name, "read_file") == 0) {
        tool_result(out, json_pack("{s:s}", "content", jsonx_get_str(args, "path", "")));
    } else if (strcmp(name, "start_workspace") == 0) {
        if (progress) {
            progress(progress_arg, "Build #1 is pending");
            progress(progress_arg, "Build #1 is running");
        }
        pthread_mutex_lock(&f->lock);
        f->waiting = true;
        f->cancel = cancel;
        pthread_mutex_unlock(&f->lock);
        for (int i = 0; i < 10000 && !tool_cancel_is_set(cancel); i++)
            sleep_ms(1);
        pthread_mutex_lock(&f->lock);
        f->waiting = false;
        f->cancel = NULL;
        pthread_mutex_unlock(&f->lock);
        if (progress)
            progress(progress_arg, "after the cancel: never sent");
        tool_build_error(out, "canceled", "b1");
    } else {
        tool_result(out, json_object());
    }
    return 0;
}

struct mcp_backend fake_backend(struct fake *f)
{
    struct mcp_backend b = {
        .arg = f,
        .chat_create = chat_create_,
        .chat_check = chat_check_,
        .chat_find = chat_find_,
        .run_tool = run_tool_,
    };
    return b;
}
