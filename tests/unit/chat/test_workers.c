/* Unit tests for the chat workers over a real store and pubsub with an in-process provider: a
 * post is answered and its status changes are published in order; a turn an earlier process of
 * this replica left running is claimed at start; a turn whose lease expired is claimed by
 * anyone; interrupts of pending and running chats; shutdown gives a running turn back; messages
 * queued behind a turn start the next one. */
#include "testing.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/times.h"
#include "chat/service.h"
#include "unit/store_fixture.h"

#include <pthread.h>
#include <unistd.h>

struct model {
    struct llm_provider p;
    pthread_mutex_t mu;
    int calls;
    bool block; /* wait until canceled */
    bool blocked;
};

static int model_stream(struct llm_provider *lp, const struct llm_request *req,
                        const struct llm_sink *sink, struct tool_cancel *cancel,
                        struct llm_reply *out, struct llm_failure *fail, struct err *e)
{
    struct model *m = lp->impl;
    pthread_mutex_lock(&m->mu);
    m->calls++;
    bool block = m->block;
    if (block)
        m->blocked = true;
    pthread_mutex_unlock(&m->mu);
    if (block) {
        while (!tool_cancel_is_set(cancel))
            usleep(1000);
        return err_set(e, ERR_CANCELED, "the LLM request was canceled");
    }
    size_t n = json_array_size(req->messages);
    buf_printf(&out->text, "answer to %zu messages", n);
    out->stop = LLM_STOP_END;
    out->complete = true;
    return 0;
}

struct fixture {
    struct fx_store s;
    struct pubsub *ps;
    struct agentconn *ac;
    struct model m;
    struct chat_service *svc;
    char alice[UUID_STR_LEN];
    struct subject sub;
    pthread_mutex_t emu;
    json_t *statuses; /* status of each status_change event, in order */
    struct pubsub_sub *watch;
};

static void on_status(const char *channel, const char *payload, void *arg)
{
    struct fixture *f = arg;
    json_t *ev = json_loads(payload, 0, NULL);
    pthread_mutex_lock(&f->emu);
    json_array_append_new(f->statuses,
                          json_string(jsonx_get_str(json_object_get(ev, "chat"), "status", "")));
    pthread_mutex_unlock(&f->emu);
    json_decref(ev);
}

static void start_service(struct fixture *f, int workers, const char *replica)
{
    struct chat_service_config cfg = {.st = f->s.st, .ps = f->ps, .ac = f->ac};
    cfg.loop = (struct chat_loop_config){.provider = &f->m.p,
                                         .workers = workers,
                                         .replica_id = replica,
                                         .lease_ms = 2000,
                                         .heartbeat_ms = 50,
                                         .poll_ms = 50};
    f->svc = chat_service_new(&cfg);
    struct err e = ERR_INIT;
    fx_check(chat_service_start(f->svc, &e), &e);
}

static void stop_service(struct fixture *f)
{
    if (!f->svc)
        return;
    chat_service_shutdown(f->svc);
    chat_service_free(f->svc);
    f->svc = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    f->sub.kind = SUBJECT_USER;
    str_copy(f->sub.user_id, sizeof f->sub.user_id, f->alice);
    f->ps = pubsub_new();
    struct agentconn_config acc = {.replica_id = "r1"};
    f->ac = agentconn_new(f->s.st, f->ps, &acc);
    pthread_mutex_init(&f->m.mu, NULL);
    f->m.p = (struct llm_provider){.name = "fake", .impl = &f->m, .stream = model_stream};
    pthread_mutex_init(&f->emu, NULL);
    f->statuses = json_array();
    char channel[96];
    snprintf(channel, sizeof channel, "chat:owner:%s", f->alice);
    f->watch = pubsub_subscribe(f->ps, channel, on_status, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stop_service(f);
    pubsub_unsubscribe(f->watch);
    json_decref(f->statuses);
    pthread_mutex_destroy(&f->emu);
    pthread_mutex_destroy(&f->m.mu);
    agentconn_free(f->ac);
    pubsub_free(f->ps);
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static void new_chat(struct fixture *f, char id[UUID_STR_LEN])
{
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(chat_create(f->svc, &f->sub, NULL, NULL, &c, &e), &e);
    str_copy(id, UUID_STR_LEN, c.id);
    chat_clear(&c);
}

static bool post(struct fixture *f, const char *id, const char *text)
{
    struct chat_message m;
    bool queued = false;
    struct err e = ERR_INIT;
    fx_check(chat_post_message(f->svc, &f->sub, id, text, &m, &queued, &e), &e);
    chat_message_clear(&m);
    return queued;
}

static enum chat_status status_of(struct fixture *f, const char *id)
{
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(store_chat_get(f->s.st, id, &c, &e), &e);
    enum chat_status s = c.status;
    chat_clear(&c);
    return s;
}

/* Waits (5 s at most) until the chat has the status. */
static void wait_status(struct fixture *f, const char *id, enum chat_status want)
{
    for (int i = 0; i < 5000 && status_of(f, id) != want; i++)
        usleep(1000);
    assert_string_equal(chat_status_name(status_of(f, id)), chat_status_name(want));
}

static size_t message_count(struct fixture *f, const char *id)
{
    struct chat_message_list l;
    struct err e = ERR_INIT;
    fx_check(store_chat_messages_after(f->s.st, id, 0, 0, &l, &e), &e);
    size_t n = l.n;
    chat_message_list_free(&l);
    return n;
}

static void wait_blocked(struct fixture *f)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&f->m.mu);
        bool b = f->m.blocked;
        pthread_mutex_unlock(&f->m.mu);
        if (b)
            return;
        usleep(1000);
    }
    fail_msg("the model was never called");
}

static void test_post_is_answered(void **state)
{
    struct fixture *f = *state;
    start_service(f, 2, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    assert_false(post(f, id, "hello"));
    wait_status(f, id, CHAT_WAITING);
    assert_int_equal(message_count(f, id), 2);
    stop_service(f);
    pthread_mutex_lock(&f->emu);
    json_t *want = json_pack("[s, s, s]", "pending", "running", "waiting");
    if (!json_equal(f->statuses, want))
        fail_msg("statuses: %s", json_dumps(f->statuses, 0));
    json_decref(want);
    pthread_mutex_unlock(&f->emu);
}

/* A turn left running by this replica's previous process is claimed at start. */
static void test_restart_claims_own_replicas_turn(void **state)
{
    struct fixture *f = *state;
    start_service(f, 0, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "hello");
    stop_service(f);
    struct chat c;
    struct err e = ERR_INIT;
    /* The dead process's claim, with a lease far in the future. */
    assert_int_equal(store_chat_claim(f->s.st, "r1:deadbeef", "r1", time_now_us(), 3600000, &c, &e),
                     1);
    chat_clear(&c);
    start_service(f, 1, "r1");
    wait_status(f, id, CHAT_WAITING);
    assert_int_equal(message_count(f, id), 2);
}

/* Another replica's turn is claimed only once its lease expired. */
static void test_expired_lease_is_claimed(void **state)
{
    struct fixture *f = *state;
    start_service(f, 0, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "hello");
    stop_service(f);
    struct chat c;
    struct err e = ERR_INIT;
    assert_int_equal(store_chat_claim(f->s.st, "r2:alive", "r2", time_now_us(), 1500, &c, &e), 1);
    chat_clear(&c);
    start_service(f, 1, "r1");
    usleep(100000);
    assert_int_equal(status_of(f, id), CHAT_RUNNING); /* still r2's */
    assert_int_equal(f->m.calls, 0);
    wait_status(f, id, CHAT_WAITING); /* after the lease ran out */
    assert_int_equal(f->m.calls, 1);
}

static void test_interrupt_pending_and_running(void **state)
{
    struct fixture *f = *state;
    start_service(f, 0, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "hello");
    assert_int_equal(status_of(f, id), CHAT_PENDING);
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(chat_interrupt(f->svc, &f->sub, id, &c, &e), &e);
    assert_int_equal(c.status, CHAT_WAITING);
    chat_clear(&c);
    stop_service(f);

    f->m.block = true;
    start_service(f, 1, "r1");
    post(f, id, "again");
    wait_blocked(f);
    int64_t t0 = time_mono_us();
    fx_check(chat_interrupt(f->svc, &f->sub, id, &c, &e), &e);
    chat_clear(&c);
    wait_status(f, id, CHAT_WAITING);
    assert_true(time_mono_us() - t0 < 3000000); /* at once, not at a heartbeat or poll */
    /* Someone else's chat is not found. */
    struct subject bob = {.kind = SUBJECT_USER};
    str_copy(bob.user_id, sizeof bob.user_id, f->s.admin_id);
    assert_int_equal(chat_interrupt(f->svc, &bob, id, &c, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

/* An interrupt requested in the store (by another server process) reaches the turn with the next
 * heartbeat. */
static void test_interrupt_through_the_store(void **state)
{
    struct fixture *f = *state;
    f->m.block = true;
    start_service(f, 1, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "hello");
    wait_blocked(f);
    enum chat_status was;
    struct err e = ERR_INIT;
    fx_check(store_chat_interrupt(f->s.st, id, time_now_us(), &was, &e), &e);
    assert_int_equal(was, CHAT_RUNNING);
    wait_status(f, id, CHAT_WAITING);
    assert_int_equal(message_count(f, id), 1);
}

static void test_shutdown_gives_the_turn_back(void **state)
{
    struct fixture *f = *state;
    f->m.block = true;
    start_service(f, 1, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "hello");
    wait_blocked(f);
    stop_service(f);
    assert_int_equal(status_of(f, id), CHAT_PENDING);
    assert_int_equal(message_count(f, id), 1);
    /* The next start answers it. */
    f->m.block = false;
    start_service(f, 1, "r1");
    wait_status(f, id, CHAT_WAITING);
    assert_int_equal(message_count(f, id), 2);
}

static void test_queued_messages_start_the_next_turn(void **state)
{
    struct fixture *f = *state;
    f->m.block = true;
    start_service(f, 1, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    post(f, id, "first");
    wait_blocked(f);
    assert_true(post(f, id, "second"));
    assert_true(post(f, id, "third"));
    pthread_mutex_lock(&f->m.mu);
    f->m.block = false;
    pthread_mutex_unlock(&f->m.mu);
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(chat_interrupt(f->svc, &f->sub, id, &c, &e), &e);
    chat_clear(&c);
    for (int i = 0; i < 5000 && message_count(f, id) < 4; i++)
        usleep(1000);
    wait_status(f, id, CHAT_WAITING);
    /* first, second, third, then one answer to all three. */
    struct chat_message_list l;
    fx_check(store_chat_messages_after(f->s.st, id, 0, 0, &l, &e), &e);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.items[3].role, CHAT_ROLE_ASSISTANT);
    assert_string_equal(l.items[3].parts,
                        "[{\"type\":\"text\",\"text\":\"answer to 3 messages\"}]");
    chat_message_list_free(&l);
}

static void test_bad_messages(void **state)
{
    struct fixture *f = *state;
    start_service(f, 0, "r1");
    char id[UUID_STR_LEN];
    new_chat(f, id);
    struct chat_message m;
    bool queued;
    struct err e = ERR_INIT;
    const char *bad[] = {"", " \n\t", "\xff\xfe"};
    const char *why[] = {"must not be empty", "must not be empty", "must be valid UTF-8"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(chat_post_message(f->svc, &f->sub, id, bad[i], &m, &queued, &e), -1);
        assert_true(err_is(&e, ERR_BAD_REQUEST));
        assert_int_equal(e.nvalidations, 1);
        assert_string_equal(e.validations[0].field, "content");
        assert_string_equal(e.validations[0].detail, why[i]);
        err_clear(&e);
    }
    char *big = xcalloc(1, CHAT_MESSAGE_MAX_BYTES + 2);
    memset(big, 'x', CHAT_MESSAGE_MAX_BYTES + 1);
    assert_int_equal(chat_post_message(f->svc, &f->sub, id, big, &m, &queued, &e), -1);
    assert_string_equal(e.validations[0].detail, "must be at most 65536 bytes (got 65537)");
    err_clear(&e);
    big[CHAT_MESSAGE_MAX_BYTES] = '\0';
    fx_check(chat_post_message(f->svc, &f->sub, id, big, &m, &queued, &e), &e);
    chat_message_clear(&m);
    free(big);
    assert_int_equal(message_count(f, id), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_is_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_claims_own_replicas_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_lease_is_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_pending_and_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_through_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_gives_the_turn_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_messages_start_the_next_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
