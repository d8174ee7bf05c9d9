/* messages.c - a person's side of a chat's conversation: post a message, read the messages,
 * interrupt the turn (see chat.h). */
#include "chat/service.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

int chat_post_message(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                      const char *content, struct chat_message *out, bool *queued, struct err *e)
{
    memset(out, 0, sizeof *out);
    *queued = false;
    struct chat c;
    if (chat_get(svc, sub, chat_id, &c, e) < 0)
        return -1;
    chat_clear(&c);
    if (!content)
        return jsonx_invalid(e, "content", "is required");
    size_t len = strlen(content);
    if (len > CHAT_MESSAGE_MAX_BYTES)
        return jsonx_invalid(e, "content", "must be at most %d bytes (got %zu)",
                             CHAT_MESSAGE_MAX_BYTES, len);
    if (!utf8_valid(content, len))
        return jsonx_invalid(e, "content", "must be valid UTF-8");
    bool blank = true;
    for (const char *p = content; *p && blank; p++)
        blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    if (blank)
        return jsonx_invalid(e, "content", "must not be empty");

    json_t *parts = json_pack("[{s:s, s:s}]", "type", "text", "text", content);
    str_copy(out->chat_id, sizeof out->chat_id, chat_id);
    out->role = CHAT_ROLE_USER;
    out->parts = jsonx_dump(parts);
    json_decref(parts);
    out->created_at = time_now_us();
    struct err le = ERR_INIT;
    pthread_mutex_lock(&svc->publish_mu);
    if (store_chat_post(svc->st, out, CHAT_QUEUE_MAX, queued, &le) < 0) {
        pthread_mutex_unlock(&svc->publish_mu);
        chat_message_clear(out);
        if (err_is(&le, ERR_CONFLICT)) {
            err_clear(&le);
            return err_set(e, ERR_CONFLICT,
                           "The chat already has %d messages waiting for the running turn; wait "
                           "for it to end or interrupt it.",
                           CHAT_QUEUE_MAX);
        }
        return err_move(e, &le);
    }
    if (!*queued) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"kind\":\"message\",\"id\":%lld}", (long long)out->id);
        pubsub_publishf(svc->ps, payload, "chat:%s", chat_id);
        struct chat now;
        if (store_chat_get(svc->st, chat_id, &now, &le) == 0) {
            chat_publish(svc, &now);
            chat_clear(&now);
        }
        err_clear(&le);
    }
    pthread_mutex_unlock(&svc->publish_mu);
    if (!*queued)
        chat_workers_wake(svc);
    return 0;
}

int chat_messages(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                  int64_t after, int limit, struct chat_message_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct chat c;
    if (chat_get(svc, sub, chat_id, &c, e) < 0)
        return -1;
    chat_clear(&c);
    return store_chat_messages_after(svc->st, chat_id, after, limit, out, e);
}

json_t *chat_message_to_json(const struct chat_message *m)
{
    json_t *parts = m->parts ? json_loads(m->parts, 0, NULL) : NULL;
    return json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)m->id, "role",
                     chat_role_name(m->role), "created_at", jsonx_time(m->created_at), "parts",
                     parts ? parts : json_array());
}

int chat_interrupt(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                   struct chat *out, struct err *e)
{
    struct chat c;
    if (chat_get(svc, sub, chat_id, &c, e) < 0)
        return -1;
    chat_clear(&c);
    enum chat_status was;
    pthread_mutex_lock(&svc->publish_mu);
    int rc = store_chat_interrupt(svc->st, chat_id, time_now_us(), &was, e);
    if (rc == 0 && was == CHAT_PENDING) {
        rc = chat_get(svc, sub, chat_id, out, e);
        if (rc == 0)
            chat_publish(svc, out);
        chat_clear(out);
    }
    pthread_mutex_unlock(&svc->publish_mu);
    if (rc < 0)
        return -1;
    if (was == CHAT_RUNNING)
        chat_workers_interrupt(svc, chat_id); /* at once when this process runs it */
    return chat_get(svc, sub, chat_id, out, e);
}
