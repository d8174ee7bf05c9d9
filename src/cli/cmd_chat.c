/* cmd_chat.c - berth chat new|send|list|show: chats with the server's model, which works in
 * the chat's workspace through the chat tools. `send` streams the reply and the tool activity
 * to the terminal until the chat waits again (or fails). */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: berth chat <new|send|list|show> ...\n"
    "\n"
    "  new [--workspace NAME] [--title TEXT]\n"
    "                          start a chat (bound to a workspace of yours when given); prints\n"
    "                          its id\n"
    "  send CHAT TEXT          send a message and stream the reply and tool activity until the\n"
    "                          model is done (exit status 1 when the turn failed)\n"
    "  list                    list your chats\n"
    "  show CHAT               show a chat and its messages\n";

#define RESULT_PREVIEW 300 /* characters of a tool result printed by send */

static char *chat_path(const char *id, const char *suffix)
{
    char *esc = client_escape(id);
    char *p = str_printf("/api/experimental/chats/%s%s", esc, suffix);
    free(esc);
    return p;
}

static int chat_new(struct client *c, const struct cli_globals *g, const char *workspace,
                    const char *title)
{
    struct err e = ERR_INIT;
    json_t *body = json_object();
    if (title)
        json_object_set_new(body, "title", json_string(title));
    if (workspace) {
        char *esc = client_escape(workspace);
        char *path = str_printf("/api/v2/users/me/workspace/%s", esc);
        free(esc);
        json_t *ws;
        int r = client_json(c, "GET", path, NULL, &ws, NULL, &e);
        free(path);
        if (r < 0) {
            json_decref(body);
            if (err_is(&e, ERR_NOT_FOUND))
                err_set(&e, ERR_NOT_FOUND, "workspace \"%s\" not found", workspace);
            return cli_fail(&e);
        }
        json_object_set_new(body, "workspace_id", json_string(jsonx_get_str(ws, "id", "")));
        json_decref(ws);
    }
    json_t *chat;
    int r = client_json(c, "POST", "/api/experimental/chats", body, &chat, NULL, &e);
    json_decref(body);
    if (r < 0)
        return cli_fail(&e);
    if (cli_json(g))
        cli_print_json(chat);
    else
        printf("%s\n", jsonx_get_str(chat, "id", ""));
    json_decref(chat);
    return 0;
}

static int chat_list(struct client *c, const struct cli_globals *g)
{
    struct err e = ERR_INIT;
    json_t *list;
    if (client_json(c, "GET", "/api/experimental/chats", NULL, &list, NULL, &e) < 0)
        return cli_fail(&e);
    if (cli_json(g)) {
        cli_print_json(list);
        json_decref(list);
        return 0;
    }
    const char *headers[] = {"ID", "TITLE", "STATUS", "UPDATED"};
    struct table t;
    table_init(&t, 4, headers);
    size_t i;
    json_t *ch;
    json_array_foreach(list, i, ch)
    {
        char age[64];
        cli_age(jsonx_get_str(ch, "updated_at", ""), age, sizeof age);
        table_add(&t, jsonx_get_str(ch, "id", ""), jsonx_get_str(ch, "title", ""),
                  jsonx_get_str(ch, "status", ""), age);
    }
    table_print(&t);
    json_decref(list);
    return 0;
}

/* A tool result, shortened to one line for the terminal. */
static void print_result(const json_t *part)
{
    const json_t *r = json_object_get(part, "result");
    char *s = json_is_string(r) ? xstrdup(json_string_value(r)) : jsonx_dump(r);
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char *cut = utf8_truncate(s, RESULT_PREVIEW);
    printf("  %s %s: %s%s\n", json_is_true(json_object_get(part, "is_error")) ? "!!" : "<-",
           jsonx_get_str(part, "tool_name", ""), cut, utf8_count(s) > RESULT_PREVIEW ? " ..." : "");
    free(cut);
    free(s);
}

static void print_call(const json_t *part)
{
    char *args = jsonx_dump(json_object_get(part, "args"));
    printf("  -> %s %s\n", jsonx_get_str(part, "tool_name", ""), args);
    free(args);
}

/* A stored message as show prints it. */
static void print_message(const json_t *m)
{
    const char *role = jsonx_get_str(m, "role", "");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(m, "parts"), i, p)
    {
        const char *type = jsonx_get_str(p, "type", "");
        if (strcmp(type, "text") == 0)
            printf("%s: %s\n", role, jsonx_get_str(p, "text", ""));
        else if (strcmp(type, "tool-call") == 0)
            print_call(p);
        else if (strcmp(type, "tool-result") == 0)
            print_result(p);
    }
}

static int chat_show(struct client *c, const struct cli_globals *g, const char *id)
{
    struct err e = ERR_INIT;
    char *path = chat_path(id, "");
    json_t *chat = NULL, *msgs = NULL;
    int r = client_json(c, "GET", path, NULL, &chat, NULL, &e);
    free(path);
    if (r == 0) {
        path = chat_path(id, "/messages");
        r = client_json(c, "GET", path, NULL, &msgs, NULL, &e);
        free(path);
    }
    if (r < 0) {
        json_decref(chat);
        if (err_is(&e, ERR_NOT_FOUND))
            err_set(&e, ERR_NOT_FOUND, "chat \"%s\" not found", id);
        return cli_fail(&e);
    }
    if (cli_json(g)) {
        json_object_set(chat, "messages", msgs);
        cli_print_json(chat);
    } else {
        printf("%s  %s  [%s]\n", jsonx_get_str(chat, "id", ""), jsonx_get_str(chat, "title", ""),
               jsonx_get_str(chat, "status", ""));
        const char *err = jsonx_get_str(chat, "last_error", NULL);
        if (err)
            printf("error: %s\n", err);
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m) print_message(m);
    }
    json_decref(chat);
    json_decref(msgs);
    return 0;
}

/* ---- send: follow the chat's stream until the turn is over ---- */

struct follow {
    bool json;
    bool busy;    /* a turn was seen pending or running */
    bool in_text; /* text deltas were printed without a newline yet */
    bool failed;  /* the chat ended in error */
    char *error;  /* its last_error */
};

static void end_text(struct follow *f)
{
    if (f->in_text) {
        printf("\n");
        f->in_text = false;
    }
}

static int on_event(const char *event, const char *data, void *arg)
{
    struct follow *f = arg;
    if (strcmp(event, "ping") == 0)
        return 0;
    json_t *ev = json_loads(data, 0, NULL);
    if (!ev)
        return 0;
    int stop = 0;
    if (f->json && strcmp(event, "message_part") != 0) {
        char *s = jsonx_dump(ev);
        printf("%s\n", s);
        free(s);
    }
    if (strcmp(event, "message_part") == 0 && !f->json) {
        const json_t *p = json_object_get(ev, "part");
        const char *type = jsonx_get_str(p, "type", "");
        if (strcmp(type, "text") == 0) {
            fputs(jsonx_get_str(p, "text", ""), stdout);
            f->in_text = true;
        } else if (strcmp(type, "tool-result") == 0) {
            end_text(f);
            print_result(p);
        }
    } else if (strcmp(event, "message") == 0 && !f->json) {
        /* Text was streamed; print the tool calls (results come as they end). */
        if (strcmp(jsonx_get_str(ev, "role", ""), "assistant") == 0) {
            end_text(f);
            size_t i;
            json_t *p;
            json_array_foreach(json_object_get(ev, "parts"), i, p)
            {
                if (strcmp(jsonx_get_str(p, "type", ""), "tool-call") == 0)
                    print_call(p);
            }
        }
    } else if (strcmp(event, "retry") == 0 && !f->json) {
        end_text(f);
        fprintf(stderr, "berth: the model's provider failed (%s); retrying\n",
                jsonx_get_str(ev, "error", ""));
    } else if (strcmp(event, "status_change") == 0) {
        const json_t *chat = json_object_get(ev, "chat");
        const char *status = jsonx_get_str(chat, "status", "");
        if (strcmp(status, "pending") == 0 || strcmp(status, "running") == 0) {
            f->busy = true;
        } else if (f->busy) {
            stop = 1;
            f->failed = strcmp(status, "error") == 0;
            if (f->failed)
                f->error = xstrdup(jsonx_get_str(chat, "last_error", "the turn failed"));
        }
    }
    fflush(stdout);
    json_decref(ev);
    return stop;
}

static int chat_send(struct client *c, const struct cli_globals *g, const char *id,
                     const char *text)
{
    struct err e = ERR_INIT;
    char *path = chat_path(id, "/messages");
    json_t *body = json_pack("{s:s}", "content", text);
    json_t *msg;
    int r = client_json(c, "POST", path, body, &msg, NULL, &e);
    free(path);
    json_decref(body);
    if (r < 0) {
        if (err_is(&e, ERR_NOT_FOUND))
            err_set(&e, ERR_NOT_FOUND, "chat \"%s\" not found", id);
        return cli_fail(&e);
    }
    /* From the message on: the stream starts with the chat's status (pending or running, since
     * the message made it so) and ends for us when the chat waits again. */
    json_int_t after = json_integer_value(json_object_get(msg, "id"));
    if (json_is_true(json_object_get(msg, "queued"))) {
        /* A queued message's id is its place in the queue: follow from the conversation's end
         * as it is now. */
        json_t *msgs;
        path = chat_path(id, "/messages");
        r = client_json(c, "GET", path, NULL, &msgs, NULL, &e);
        free(path);
        if (r < 0) {
            json_decref(msg);
            return cli_fail(&e);
        }
        size_t n = json_array_size(msgs);
        after = n ? json_integer_value(json_object_get(json_array_get(msgs, n - 1), "id")) : 0;
        json_decref(msgs);
        if (!cli_json(g))
            fprintf(stderr, "berth: a turn is running; the message waits for it to end\n");
    }
    json_decref(msg);
    char suffix[64];
    str_fmt(suffix, sizeof suffix, "/stream?after_id=%lld", (long long)after);
    path = chat_path(id, suffix);
    struct follow f = {.json = cli_json(g), .busy = true};
    r = client_sse(c, path, on_event, &f, &e);
    free(path);
    end_text(&f);
    if (r < 0)
        return cli_fail(&e);
    if (f.failed) {
        fprintf(stderr, "berth: %s\n", f.error);
        free(f.error);
        return 1;
    }
    return 0;
}

int cmd_chat(int argc, char **argv)
{
    char *workspace = NULL, *title = NULL;
    const struct flag flags[] = {
        {"workspace", 'w', FLAG_STRING, &workspace, NULL, "NAME", "new: bind to this workspace"},
        {"title", 0, FLAG_STRING, &title, NULL, "TEXT", "new: the chat's title"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash, status;
    int r = cli_parse(argc, argv, 2, usage, flags, sizeof flags / sizeof flags[0], &g, &pos, &npos,
                      &ndash);
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    if (npos < 1) {
        status = cli_usage_error(usage, "chat needs a subcommand");
        goto out;
    }
    const char *sub = pos[0];
    struct client c;
    struct err e = ERR_INIT;
    if (client_open(&c, &g, true, &e) < 0) {
        status = cli_fail(&e);
        goto out;
    }
    if (strcmp(sub, "new") == 0 && npos == 1)
        status = chat_new(&c, &g, workspace, title);
    else if (strcmp(sub, "send") == 0 && npos == 3)
        status = chat_send(&c, &g, pos[1], pos[2]);
    else if (strcmp(sub, "list") == 0 && npos == 1)
        status = chat_list(&c, &g);
    else if (strcmp(sub, "show") == 0 && npos == 2)
        status = chat_show(&c, &g, pos[1]);
    else
        status = cli_usage_error(usage, "bad use of `chat %s`", sub);
    client_close(&c);
out:
    free(pos);
    cli_globals_free(&g);
    free(workspace);
    free(title);
    return status;
}
