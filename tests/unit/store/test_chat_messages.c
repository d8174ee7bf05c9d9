/* Unit tests for a chat's conversation and turns in a real SQLite store: posting (to the
 * conversation or the queue, and the queue's limit), reading after a cursor, claiming with a
 * lease (expiry, another process of the same replica, another replica), heartbeats and
 * interrupt requests, finishing (waiting, error, queued messages joining), releasing, and the
 * workspace context. */
#include "testing.h"

#include "base/mem.h"
#include "base/secure.h"
#include "unit/store_fixture.h"

#define LEASE_MS 60000

struct fixture {
    struct fx_store s;
    char alice[UUID_STR_LEN];
    char chat[UUID_STR_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, f->alice);
    c.title = xstrdup("t");
    c.created_at = c.updated_at = 1000;
    struct err e = ERR_INIT;
    fx_check(store_chat_insert(f->s.st, &c, &e), &e);
    str_copy(f->chat, sizeof f->chat, c.id);
    chat_clear(&c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static struct chat get(struct fixture *f)
{
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(store_chat_get(f->s.st, f->chat, &c, &e), &e);
    return c;
}

/* Posts a user message with text; returns its id (a queue id when *queued). */
static int64_t post(struct fixture *f, const char *text, int64_t at, bool *queued)
{
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, f->chat);
    m.role = CHAT_ROLE_USER;
    m.parts = str_printf("[{\"type\":\"text\",\"text\":\"%s\"}]", text);
    m.created_at = at;
    struct err e = ERR_INIT;
    bool q = false;
    fx_check(store_chat_post(f->s.st, &m, 3, &q, &e), &e);
    if (queued)
        *queued = q;
    int64_t id = m.id;
    chat_message_clear(&m);
    return id;
}

static int claim(struct fixture *f, const char *worker, const char *replica, int64_t now,
                 struct chat *out)
{
    struct err e = ERR_INIT;
    int r = store_chat_claim(f->s.st, worker, replica, now, LEASE_MS, out, &e);
    fx_check(r, &e);
    return r;
}

static void test_post_to_an_idle_chat(void **state)
{
    struct fixture *f = *state;
    bool queued = true;
    int64_t id1 = post(f, "hello", 2000, &queued);
    assert_false(queued);
    assert_true(id1 > 0);
    struct chat c = get(f);
    assert_int_equal(c.status, CHAT_PENDING);
    assert_int_equal(c.updated_at, 2000);
    assert_null(c.last_error);
    chat_clear(&c);
    /* A second one while still pending joins the conversation too. */
    int64_t id2 = post(f, "again", 3000, &queued);
    assert_false(queued);
    assert_true(id2 > id1);

    struct chat_message_list l;
    struct err e = ERR_INIT;
    fx_check(store_chat_messages_after(f->s.st, f->chat, 0, 0, &l, &e), &e);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.items[0].id, id1);
    assert_int_equal(l.items[0].role, CHAT_ROLE_USER);
    assert_string_equal(l.items[0].parts, "[{\"type\":\"text\",\"text\":\"hello\"}]");
    assert_int_equal(l.items[0].created_at, 2000);
    assert_string_equal(l.items[0].chat_id, f->chat);
    assert_int_equal(l.items[1].id, id2);
    chat_message_list_free(&l);
    fx_check(store_chat_messages_after(f->s.st, f->chat, id1, 0, &l, &e), &e);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].id, id2);
    chat_message_list_free(&l);
    fx_check(store_chat_messages_after(f->s.st, f->chat, 0, 1, &l, &e), &e);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].id, id1);
    chat_message_list_free(&l);
    int64_t last = 0;
    fx_check(store_chat_message_last_id(f->s.st, f->chat, &last, &e), &e);
    assert_int_equal(last, id2);
}

static void test_post_unknown_chat(void **state)
{
    struct fixture *f = *state;
    struct chat_message m = {0};
    uuid_v7(m.chat_id);
    m.parts = xstrdup("[]");
    bool queued;
    struct err e = ERR_INIT;
    assert_int_equal(store_chat_post(f->s.st, &m, 3, &queued, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    chat_message_clear(&m);
}

static void test_claim_heartbeat_finish(void **state)
{
    struct fixture *f = *state;
    struct chat c;
    assert_int_equal(claim(f, "r:1", "r", 1000, &c), 0); /* nothing pending */
    post(f, "hello", 2000, NULL);
    assert_int_equal(claim(f, "r:1", "r", 3000, &c), 1);
    assert_string_equal(c.id, f->chat);
    assert_int_equal(c.status, CHAT_RUNNING);
    assert_int_equal(c.attempts, 1);
    chat_clear(&c);
    /* One claimer only. */
    assert_int_equal(claim(f, "r:1", "r", 3000, &c), 0);
    assert_int_equal(claim(f, "s:1", "s", 3000, &c), 0);

    struct err e = ERR_INIT;
    bool interrupted = true;
    fx_check(store_chat_heartbeat(f->s.st, f->chat, "r:1", 4000, LEASE_MS, &interrupted, &e), &e);
    assert_false(interrupted);
    assert_int_equal(store_chat_heartbeat(f->s.st, f->chat, "s:1", 4000, LEASE_MS, NULL, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);
    /* Another worker cannot finish it. */
    bool requeued;
    assert_int_equal(store_chat_finish(f->s.st, f->chat, "s:1", NULL, 5000, &requeued, NULL, &e),
                     -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);

    fx_check(store_chat_finish(f->s.st, f->chat, "r:1", NULL, 5000, &requeued, &c, &e), &e);
    assert_false(requeued);
    assert_int_equal(c.status, CHAT_WAITING);
    assert_int_equal(c.updated_at, 5000);
    assert_int_equal(c.attempts, 0);
    chat_clear(&c);
    /* Finished: the heartbeat tells the worker. */
    assert_int_equal(store_chat_heartbeat(f->s.st, f->chat, "r:1", 6000, LEASE_MS, NULL, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);
}

static void test_finish_with_error_then_post_clears_it(void **state)
{
    struct fixture *f = *state;
    post(f, "hello", 2000, NULL);
    struct chat c;
    assert_int_equal(claim(f, "r:1", "r", 3000, &c), 1);
    chat_clear(&c);
    struct err e = ERR_INIT;
    bool requeued;
    fx_check(
        store_chat_finish(f->s.st, f->chat, "r:1", "the provider is down", 4000, &requeued, &c, &e),
        &e);
    assert_int_equal(c.status, CHAT_ERROR);
    assert_string_equal(c.last_error, "the provider is down");
    chat_clear(&c);
    c = get(f);
    assert_string_equal(c.last_error, "the provider is down");
    chat_clear(&c);
    post(f, "try again", 5000, NULL);
    c = get(f);
    assert_int_equal(c.status, CHAT_PENDING);
    assert_null(c.last_error);
    chat_clear(&c);
}

static void test_queue_while_running(void **state)
{
    struct fixture *f = *state;
    int64_t first = post(f, "one", 2000, NULL);
    struct chat c;
    assert_int_equal(claim(f, "r:1", "r", 3000, &c), 1);
    chat_clear(&c);
    /* The turn stores an answer; meanwhile three messages are queued (the limit here). */
    struct chat_message a = {0};
    str_copy(a.chat_id, sizeof a.chat_id, f->chat);
    a.role = CHAT_ROLE_ASSISTANT;
    a.parts = xstrdup("[{\"type\":\"text\",\"text\":\"answer\"}]");
    a.created_at = 3500;
    struct err e = ERR_INIT;
    bool queued = false;
    post(f, "two", 3100, &queued);
    assert_true(queued);
    fx_check(store_chat_message_insert(f->s.st, &a, &e), &e);
    assert_true(a.id > first);
    post(f, "three", 3200, &queued);
    assert_true(queued);
    post(f, "four", 3300, &queued);
    assert_true(queued);
    int64_t n = 0;
    fx_check(store_chat_queued_count(f->s.st, f->chat, &n, &e), &e);
    assert_int_equal(n, 3);
    /* The fourth is refused. */
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, f->chat);
    m.parts = xstrdup("[]");
    m.created_at = 3400;
    assert_int_equal(store_chat_post(f->s.st, &m, 3, &queued, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    assert_string_equal(err_msg(&e), "This chat already has 3 queued messages; wait for the "
                                     "current turn to end.");
    err_clear(&e);
    chat_message_clear(&m);
    /* Still only the first message and the answer in the conversation. */
    struct chat_message_list l;
    fx_check(store_chat_messages_after(f->s.st, f->chat, 0, 0, &l, &e), &e);
    assert_int_equal(l.n, 2);
    chat_message_list_free(&l);

    /* The turn ends: the queue joins the conversation in order and the chat is pending. */
    bool requeued = false;
    fx_check(store_chat_finish(f->s.st, f->chat, "r:1", "ignored: a new turn follows", 4000,
                               &requeued, &c, &e),
             &e);
    assert_true(requeued);
    assert_int_equal(c.status, CHAT_PENDING);
    assert_null(c.last_error);
    chat_clear(&c);
    fx_check(store_chat_messages_after(f->s.st, f->chat, a.id, 0, &l, &e), &e);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].parts, "[{\"type\":\"text\",\"text\":\"two\"}]");
    assert_string_equal(l.items[1].parts, "[{\"type\":\"text\",\"text\":\"three\"}]");
    assert_string_equal(l.items[2].parts, "[{\"type\":\"text\",\"text\":\"four\"}]");
    assert_int_equal(l.items[0].role, CHAT_ROLE_USER);
    assert_int_equal(l.items[0].created_at, 3100);
    assert_true(l.items[0].id < l.items[1].id && l.items[1].id < l.items[2].id);
    chat_message_list_free(&l);
    fx_check(store_chat_queued_count(f->s.st, f->chat, &n, &e), &e);
    assert_int_equal(n, 0);
    chat_message_clear(&a);
    /* And the next claim takes it. */
    assert_int_equal(claim(f, "r:1", "r", 5000, &c), 1);
    assert_int_equal(c.attempts, 1);
    chat_clear(&c);
}

static void test_reclaim(void **state)
{
    struct fixture *f = *state;
    post(f, "hello", 2000, NULL);
    struct chat c;
    int64_t t0 = 10 * 1000000LL;
    assert_int_equal(claim(f, "r:1", "r", t0, &c), 1);
    chat_clear(&c);
    /* Another replica waits for the lease to expire. */
    assert_int_equal(claim(f, "s:1", "s", t0 + 1000, &c), 0);
    int64_t expired = t0 + (LEASE_MS + 1) * 1000;
    assert_int_equal(claim(f, "s:1", "s", expired, &c), 1);
    assert_int_equal(c.attempts, 2);
    chat_clear(&c);
    /* The old worker lost it. */
    struct err e = ERR_INIT;
    assert_int_equal(store_chat_heartbeat(f->s.st, f->chat, "r:1", expired, LEASE_MS, NULL, &e),
                     -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);
    /* A new process of replica s takes it at once (the one that claimed it is gone). */
    assert_int_equal(claim(f, "s:1", "s", expired + 1000, &c), 0); /* not its own, again */
    assert_int_equal(claim(f, "s:2", "s", expired + 1000, &c), 1);
    assert_int_equal(c.attempts, 3);
    chat_clear(&c);
    /* "s:2" is not a prefix match for replica "s:" or "" */
    assert_int_equal(claim(f, "x:1", "", expired + 2000, &c), 0);
    assert_int_equal(claim(f, "s:3", "s:", expired + 2000, &c), 0);
}

static void test_release(void **state)
{
    struct fixture *f = *state;
    post(f, "hello", 2000, NULL);
    struct chat c;
    assert_int_equal(claim(f, "r:1", "r", 3000, &c), 1);
    chat_clear(&c);
    struct err e = ERR_INIT;
    assert_int_equal(store_chat_release(f->s.st, f->chat, "s:1", &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);
    fx_check(store_chat_release(f->s.st, f->chat, "r:1", &e), &e);
    c = get(f);
    assert_int_equal(c.status, CHAT_PENDING);
    chat_clear(&c);
    assert_int_equal(claim(f, "r:2", "r", 4000, &c), 1);
    assert_int_equal(c.attempts, 1);
    chat_clear(&c);
}

static void test_interrupt(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    enum chat_status was;
    /* Idle: nothing happens. */
    fx_check(store_chat_interrupt(f->s.st, f->chat, 1500, &was, &e), &e);
    assert_int_equal(was, CHAT_WAITING);
    struct chat c = get(f);
    assert_int_equal(c.status, CHAT_WAITING);
    assert_int_equal(c.updated_at, 1000);
    chat_clear(&c);
    /* Pending: back to waiting. */
    post(f, "hello", 2000, NULL);
    fx_check(store_chat_interrupt(f->s.st, f->chat, 2500, &was, &e), &e);
    assert_int_equal(was, CHAT_PENDING);
    c = get(f);
    assert_int_equal(c.status, CHAT_WAITING);
    assert_int_equal(c.updated_at, 2500);
    chat_clear(&c);
    assert_int_equal(claim(f, "r:1", "r", 2600, &c), 0);
    /* Running: the worker's heartbeat sees the request; a new claim clears it. */
    post(f, "again", 3000, NULL);
    assert_int_equal(claim(f, "r:1", "r", 3100, &c), 1);
    chat_clear(&c);
    fx_check(store_chat_interrupt(f->s.st, f->chat, 3200, &was, &e), &e);
    assert_int_equal(was, CHAT_RUNNING);
    c = get(f);
    assert_int_equal(c.status, CHAT_RUNNING);
    chat_clear(&c);
    bool interrupted = false;
    fx_check(store_chat_heartbeat(f->s.st, f->chat, "r:1", 3300, LEASE_MS, &interrupted, &e), &e);
    assert_true(interrupted);
    fx_check(store_chat_release(f->s.st, f->chat, "r:1", &e), &e);
    assert_int_equal(claim(f, "r:1", "r", 3400, &c), 1);
    chat_clear(&c);
    fx_check(store_chat_heartbeat(f->s.st, f->chat, "r:1", 3500, LEASE_MS, &interrupted, &e), &e);
    assert_false(interrupted);
    uuid_v7(c.id);
    assert_int_equal(store_chat_interrupt(f->s.st, c.id, 3600, &was, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

static void test_context(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    char *ctx = (char *)"x";
    fx_check(store_chat_context_get(f->s.st, f->chat, &ctx, &e), &e);
    assert_null(ctx);
    fx_check(store_chat_context_set(f->s.st, f->chat, "rules", &e), &e);
    fx_check(store_chat_context_get(f->s.st, f->chat, &ctx, &e), &e);
    assert_string_equal(ctx, "rules");
    free(ctx);
    /* updated_at is left alone. */
    struct chat c = get(f);
    assert_int_equal(c.updated_at, 1000);
    chat_clear(&c);
    fx_check(store_chat_context_set(f->s.st, f->chat, NULL, &e), &e);
    fx_check(store_chat_context_get(f->s.st, f->chat, &ctx, &e), &e);
    assert_null(ctx);
    char other[UUID_STR_LEN];
    uuid_v7(other);
    assert_int_equal(store_chat_context_set(f->s.st, other, "x", &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

static void test_roles(void **state)
{
    enum chat_role r;
    assert_int_equal(chat_role_parse("tool", &r), 0);
    assert_int_equal(r, CHAT_ROLE_TOOL);
    assert_string_equal(chat_role_name(CHAT_ROLE_ASSISTANT), "assistant");
    assert_int_equal(chat_role_parse("system", &r), -1);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_to_an_idle_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_unknown_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_heartbeat_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_with_error_then_post_clears_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context, setup, teardown),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
