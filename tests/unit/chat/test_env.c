/* Unit tests for the tools' real environment: dialing an agent (woken by its connection,
 * timing out, canceled), waits on pubsub channels (event, time-out, cancellation) and calls to
 * an agent that is not connected. */
#include "testing.h"

#include "base/secure.h"
#include "chat/service.h"
#include "unit/store_fixture.h"

#include <pthread.h>
#include <time.h>

struct fixture {
    struct fx_store s;
    struct pubsub *ps;
    struct agentconn *ac;
    struct chat_service *svc;
    const struct tool_env *env;
    char alice[UUID_STR_LEN], tid[UUID_STR_LEN], vid[UUID_STR_LEN];
    char ws[UUID_STR_LEN], build[UUID_STR_LEN], job[UUID_STR_LEN], agent[UUID_STR_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    fx_template(&f->s, "tpl", f->tid, f->vid);
    fx_workspace(&f->s, f->alice, f->tid, "dev", f->ws);
    fx_build(&f->s, f->ws, f->vid, f->alice, 1, TRANSITION_START, f->build, f->job);
    fx_agent(&f->s, f->job, "main", 0, f->agent);
    f->ps = pubsub_new();
    struct agentconn_config acc = {.replica_id = "test"};
    f->ac = agentconn_new(f->s.st, f->ps, &acc);
    struct chat_service_config cfg = {.st = f->s.st, .ps = f->ps, .ac = f->ac};
    cfg.waits.dial_timeout_ms = 1234;
    f->svc = chat_service_new(&cfg);
    f->env = chat_tool_env(f->svc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    chat_service_free(f->svc);
    agentconn_free(f->ac);
    pubsub_free(f->ps);
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static int64_t elapsed_ms(int64_t since_us)
{
    return (time_mono_us() - since_us) / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Something another thread does after a short delay. */
struct later {
    pthread_t thread;
    struct fixture *f;
    long delay_ms;
    enum { LATER_CONNECT, LATER_CANCEL, LATER_PUBLISH } what;
    struct tool_cancel *cancel;
    const char *channel;
    struct agentconn_session *session;
};

static int link_send(void *ctx, const char *event, const char *data)
{
    return 0;
}

static void *later_main(void *arg)
{
    struct later *l = arg;
    sleep_ms(l->delay_ms);
    switch (l->what) {
    case LATER_CONNECT: {
        struct agent_auth a = {0};
        str_copy(a.agent.id, sizeof a.agent.id, l->f->agent);
        str_copy(a.workspace_id, sizeof a.workspace_id, l->f->ws);
        struct agentconn_link link = {link_send, NULL};
        l->session = agentconn_attach(l->f->ac, &a, link);
        break;
    }
    case LATER_CANCEL:
        tool_cancel_trigger(l->cancel);
        break;
    case LATER_PUBLISH:
        pubsub_publish(l->f->ps, l->channel, "x");
        break;
    }
    return NULL;
}

static void later_start(struct later *l)
{
    assert_int_equal(pthread_create(&l->thread, NULL, later_main, l), 0);
}

static void later_join(struct later *l)
{
    pthread_join(l->thread, NULL);
    if (l->session)
        agentconn_detach(l->f->ac, l->session);
}

static void test_env_is_wired(void **state)
{
    struct fixture *f = *state;
    const struct tool_env *env = f->env;
    assert_non_null(env->db.chat_get);
    assert_non_null(env->agent.dial);
    assert_non_null(env->agent.call);
    assert_non_null(env->clock.wait);
    assert_int_equal(env->waits.dial_timeout_ms, 1234); /* from the configuration */
    assert_int_equal(env->waits.build_timeout_ms, 0);   /* the tools' default */
    int64_t now = env->clock.now_us(env->clock.arg);
    assert_true(now > time_now_us() - 1000000 && now <= time_now_us());
    int64_t mono = env->clock.mono_us(env->clock.arg);
    assert_true(mono > time_mono_us() - 1000000 && mono <= time_mono_us());
}

static void test_dial_times_out(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    int64_t t0 = time_mono_us();
    assert_int_equal(f->env->agent.dial(f->env->agent.arg, f->agent, 50, NULL, &e), -1);
    assert_true(elapsed_ms(t0) >= 50);
    assert_true(err_is(&e, ERR_TIMEOUT));
    assert_string_equal(err_msg(&e), "agent did not connect within 50ms");
    err_clear(&e);
    assert_int_equal(f->env->agent.dial(f->env->agent.arg, f->agent, 0, NULL, &e), -1);
    assert_string_equal(err_msg(&e), "agent did not connect within 0s");
    err_clear(&e);
}

static void test_dial_is_woken_by_the_connection(void **state)
{
    struct fixture *f = *state;
    struct later l = {.f = f, .delay_ms = 100, .what = LATER_CONNECT};
    later_start(&l);
    struct err e = ERR_INIT;
    int64_t t0 = time_mono_us();
    int rc = f->env->agent.dial(f->env->agent.arg, f->agent, 30000, NULL, &e);
    int64_t took = elapsed_ms(t0);
    later_join(&l);
    if (rc < 0)
        fail_msg("dial: %s", err_msg(&e));
    /* Woken by the "agent:<id>" event, not by the 2 s backstop poll. */
    assert_true(took < 1900);
    /* Already connected: at once. */
    l = (struct later){.f = f, .delay_ms = 0, .what = LATER_CONNECT};
    later_start(&l);
    pthread_join(l.thread, NULL);
    assert_int_equal(f->env->agent.dial(f->env->agent.arg, f->agent, 10, NULL, &e), 0);
    agentconn_detach(f->ac, l.session);
}

static void test_dial_is_canceled(void **state)
{
    struct fixture *f = *state;
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    struct later l = {.f = f, .delay_ms = 100, .what = LATER_CANCEL, .cancel = &cancel};
    later_start(&l);
    struct err e = ERR_INIT;
    int64_t t0 = time_mono_us();
    int rc = f->env->agent.dial(f->env->agent.arg, f->agent, 30000, &cancel, &e);
    int64_t took = elapsed_ms(t0);
    later_join(&l);
    assert_int_equal(rc, -1);
    assert_true(err_is(&e, ERR_CANCELED));
    assert_string_equal(err_msg(&e), "context canceled");
    err_clear(&e);
    assert_true(took < 1900);
    assert_null(cancel.wake); /* the wait no longer registered */
    /* A call canceled before it dials does not wait at all. */
    t0 = time_mono_us();
    assert_int_equal(f->env->agent.dial(f->env->agent.arg, f->agent, 30000, &cancel, &e), -1);
    assert_true(err_is(&e, ERR_CANCELED));
    assert_true(elapsed_ms(t0) < 1000);
    err_clear(&e);
    tool_cancel_destroy(&cancel);
}

static void test_wait_for_an_event(void **state)
{
    struct fixture *f = *state;
    const char *channels[] = {"workspace:x", "job:y:logs", NULL};
    void *watch = f->env->clock.watch(f->env->clock.arg, channels);
    struct later l = {.f = f, .delay_ms = 100, .what = LATER_PUBLISH, .channel = "job:y:logs"};
    later_start(&l);
    int64_t t0 = time_mono_us();
    assert_true(f->env->clock.wait(f->env->clock.arg, watch, 30000, NULL));
    int64_t took = elapsed_ms(t0);
    later_join(&l);
    assert_true(took < 10000);
    /* No event: the time-out, and still not canceled. */
    t0 = time_mono_us();
    assert_true(f->env->clock.wait(f->env->clock.arg, watch, 60, NULL));
    assert_true(elapsed_ms(t0) >= 60);
    /* An event published after the watch but before the wait is not missed. */
    pubsub_publish(f->ps, "workspace:x", "build");
    t0 = time_mono_us();
    assert_true(f->env->clock.wait(f->env->clock.arg, watch, 30000, NULL));
    assert_true(elapsed_ms(t0) < 10000);
    f->env->clock.unwatch(f->env->clock.arg, watch);
}

static void test_wait_is_canceled(void **state)
{
    struct fixture *f = *state;
    const char *channels[] = {"workspace:x", NULL};
    void *watch = f->env->clock.watch(f->env->clock.arg, channels);
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    struct later l = {.f = f, .delay_ms = 100, .what = LATER_CANCEL, .cancel = &cancel};
    later_start(&l);
    int64_t t0 = time_mono_us();
    assert_false(f->env->clock.wait(f->env->clock.arg, watch, 30000, &cancel));
    int64_t took = elapsed_ms(t0);
    later_join(&l);
    assert_true(took < 10000);
    assert_null(cancel.wake);
    t0 = time_mono_us();
    assert_false(f->env->clock.wait(f->env->clock.arg, watch, 30000, &cancel));
    assert_true(elapsed_ms(t0) < 1000);
    f->env->clock.unwatch(f->env->clock.arg, watch);
    tool_cancel_destroy(&cancel);
}

static void test_call_needs_a_connected_agent(void **state)
{
    struct fixture *f = *state;
    json_t *req = json_pack("{s:s}", "type", "process_list");
    json_t *result = NULL;
    struct err e = ERR_INIT;
    assert_int_equal(f->env->agent.call(f->env->agent.arg, f->agent, req, 1000, NULL, &result, &e),
                     -1);
    assert_true(err_is(&e, ERR_UNAVAILABLE));
    assert_null(result);
    err_clear(&e);
    json_decref(req);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_is_wired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_is_woken_by_the_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_is_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_an_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_is_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_needs_a_connected_agent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
