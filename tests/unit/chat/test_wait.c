/* Unit tests for chat/wait.c: waitForBuild (every job outcome, read errors, the deadline and
 * cancellation, the watched channel, progress) and waitForAgentReady (reference §4 and
 * TestWaitForAgentReady: the dial phase with its retries, deadline and cancellation, the lifecycle
 * phase with its outcomes, deadline and cancellation). */
#include "testing.h"

#include "fake.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

struct fx {
    struct fake *f;
    struct tool_cancel cancel;
    char *progress[32];
    size_t nprogress;
};

static void on_progress(void *arg, const char *message)
{
    struct fx *x = arg;
    assert_true(x->nprogress < sizeof x->progress / sizeof x->progress[0]);
    x->progress[x->nprogress++] = xstrdup(message);
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->f = fake_new();
    tool_cancel_init(&x->cancel);
    x->f->call.cancel = &x->cancel;
    x->f->call.progress = on_progress;
    x->f->call.progress_arg = x;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    for (size_t i = 0; i < x->nprogress; i++)
        free(x->progress[i]);
    tool_cancel_destroy(&x->cancel);
    fake_free(x->f);
    free(x);
    return 0;
}

/* Waits for the build; returns the failure (heap, caller frees) or NULL when it succeeded. */
static char *wait_build(struct fake *f, const char *build_id)
{
    char *msg = (char *)"untouched";
    int rc = tool_wait_build(&f->env, &f->call, build_id, &msg);
    if (rc == 0) {
        assert_null(msg);
        return NULL;
    }
    assert_int_equal(rc, -1);
    assert_non_null(msg);
    return msg;
}

static void assert_failure(struct fake *f, const char *build_id, const char *want)
{
    char *msg = wait_build(f, build_id);
    if (!msg)
        fail_msg("the wait succeeded; want \"%s\"", want);
    assert_string_equal(msg, want);
    free(msg);
}

/* A workspace with one build whose job is in status s. */
static struct workspace_build *one_build(struct fake *f, enum job_status s)
{
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    return fake_build(f, ws->id, TRANSITION_START, s);
}

static void test_build_succeeded_at_once(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = one_build(f, JOB_SUCCEEDED);
    assert_null(wait_build(f, b->id));
    assert_int_equal(f->calls[FAKE_WAIT], 0); /* the first look is immediate */
    assert_int_equal(x->nprogress, 1);
    assert_string_equal(x->progress[0], "Build #1 is succeeded");
}

/* A build that runs for a while: each wake-up re-reads it; it watches the workspace channel
 * before the first read, and reports each new status once. */
static void test_build_succeeds_after_running(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = one_build(f, JOB_PENDING);
    fake_job_after_reads(f, b->job_id, 1, JOB_RUNNING, NULL);
    fake_job_after_reads(f, b->job_id, 3, JOB_SUCCEEDED, NULL);
    assert_null(wait_build(f, b->id));
    assert_int_equal(f->calls[FAKE_JOB_GET], 4);
    assert_int_equal(f->calls[FAKE_WAIT], 3);
    char *channel = str_printf("workspace:%s", b->workspace_id);
    assert_string_equal(f->wait_channels[0], channel);
    assert_null(f->wait_channels[1]);
    free(channel);
    assert_int_equal(x->nprogress, 3);
    assert_string_equal(x->progress[0], "Build #1 is pending");
    assert_string_equal(x->progress[1], "Build #1 is running");
    assert_string_equal(x->progress[2], "Build #1 is succeeded");
}

static void test_build_outcomes(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = one_build(f, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 1, JOB_FAILED, "terraform apply: exit status 1");
    assert_failure(f, b->id, "terraform apply: exit status 1");

    /* A failed job without an error text. */
    struct job *j = fake_job(f, b->job_id);
    free(j->error);
    j->error = xstrdup("");
    assert_failure(f, b->id, "build failed");

    fake_job_set(f, j, JOB_CANCELED, NULL);
    assert_failure(f, b->id, "build was canceled");

    /* Canceling is still under way: it is waited for. */
    fake_job_set(f, j, JOB_CANCELING, NULL);
    fake_job_after_reads(f, b->job_id, 1, JOB_CANCELED, NULL);
    int waits = f->calls[FAKE_WAIT];
    assert_failure(f, b->id, "build was canceled");
    assert_int_equal(f->calls[FAKE_WAIT], waits + 1);

    j->status = (enum job_status)42;
    assert_failure(f, b->id, "unexpected job status: unknown");
}

static void test_build_read_errors(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = one_build(f, JOB_RUNNING);
    fake_fail(f, FAKE_BUILD_GET, ERR_INTERNAL, "database is locked");
    assert_failure(f, b->id, "get build: database is locked");
    assert_int_equal(f->calls[FAKE_WAIT], 0);
    f->fail[FAKE_BUILD_GET].on = false;

    fake_fail(f, FAKE_JOB_GET, ERR_INTERNAL, "disk I/O error");
    assert_failure(f, b->id, "get provisioner job: disk I/O error");

    f->fail[FAKE_JOB_GET].on = false;
    assert_failure(f, "0190a0a0-0000-7000-8000-000000000001",
                   "get build: build 0190a0a0-0000-7000-8000-000000000001 not found");
}

/* A job that never ends: the deadline, on the fake clock, polled at the backstop interval. */
static void test_build_deadline(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->env.waits.build_timeout_ms = 50;
    f->env.waits.build_poll_ms = 20;
    struct workspace_build *b = one_build(f, JOB_RUNNING);
    int64_t mono = f->mono_us;
    assert_failure(f, b->id, "timed out waiting for workspace build: context deadline exceeded");
    assert_int_equal(f->calls[FAKE_WAIT], 3);       /* 20 + 20 + 10 ms */
    assert_int_equal(f->mono_us, mono + 50 * 1000); /* never past the deadline */
}

/* The default deadline is ten minutes and the backstop poll two seconds. */
static void test_build_default_deadline(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = one_build(f, JOB_PENDING);
    int64_t mono = f->mono_us;
    assert_failure(f, b->id, "timed out waiting for workspace build: context deadline exceeded");
    assert_int_equal(f->calls[FAKE_WAIT], 300);
    assert_int_equal(f->mono_us - mono, 600LL * 1000 * 1000);
    struct tool_waits w = tool_waits_resolved(NULL);
    assert_int_equal(w.build_timeout_ms, 600000);
    assert_int_equal(w.build_poll_ms, 2000);
    assert_int_equal(w.dial_timeout_ms, 120000);
    assert_int_equal(w.dial_attempt_ms, 5000);
    assert_int_equal(w.dial_interval_ms, 2000);
    assert_int_equal(w.lifecycle_timeout_ms, 600000);
    assert_int_equal(w.lifecycle_poll_ms, 2000);
}

/* Cancels the call at the second wait. */
static void cancel_on_wait(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)timeout_ms;
    struct fx *x = arg;
    if (f->calls[FAKE_WAIT] == 2)
        tool_cancel_trigger(&x->cancel);
}

static void test_build_canceled(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->on_wait = cancel_on_wait;
    f->on_wait_arg = x;
    struct workspace_build *b = one_build(f, JOB_RUNNING);
    assert_failure(f, b->id, "timed out waiting for workspace build: context canceled");
    assert_int_equal(f->calls[FAKE_WAIT], 2);
    assert_int_equal(f->calls[FAKE_JOB_GET], 2);
    assert_true(tool_cancel_is_set(&x->cancel));

    /* Already canceled: one look, then the cancellation. */
    f->on_wait = NULL;
    int reads = f->calls[FAKE_JOB_GET];
    assert_failure(f, b->id, "timed out waiting for workspace build: context canceled");
    assert_int_equal(f->calls[FAKE_JOB_GET], reads + 1);

    /* A build that already ended answers even when the call is canceled. */
    fake_job_set(f, fake_job(f, b->job_id), JOB_SUCCEEDED, NULL);
    assert_null(wait_build(f, b->id));
}

/* ---- waitForAgentReady ---- */

static json_t *agent_ready(struct fake *f, const char *agent_id, bool dial, bool lifecycle)
{
    json_t *r = json_object();
    assert_true(f->nargs < FAKE_RECORD_MAX);
    f->args[f->nargs++] = r; /* freed with the fake */
    tool_wait_agent_ready(&f->env, &f->call, agent_id, dial, lifecycle, r);
    return r;
}

/* AgentConnectsAndLifecycleReady: an empty map. */
static void test_agent_ready(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    json_t *r = agent_ready(f, a->id, true, true);
    assert_int_equal(json_object_size(r), 0);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, a->id);
    assert_int_equal(f->dials[0].timeout_ms, 5000);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 1);
    assert_int_equal(f->calls[FAKE_WAIT], 0);
}

/* Fails the first `left` dials (arg: int *). */
static int refuse_some(struct fake *f, const char *agent_id, struct err *e)
{
    int *left = f->handler_arg;
    if (*left <= 0)
        return 0;
    (*left)--;
    return err_set(e, ERR_UNAVAILABLE, "dial agent %s: connection refused", agent_id);
}

/* A failing dial is retried every dial_interval_ms until it works. */
static void test_agent_dial_retries(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    int left = 2;
    f->handler_arg = &left;
    f->dial_handler = refuse_some;
    json_t *r = agent_ready(f, a->id, true, true);
    assert_int_equal(json_object_size(r), 0);
    assert_int_equal(f->ndials, 3);
    assert_int_equal(f->calls[FAKE_WAIT], 2);
    char *channel = str_printf("agent:%s", a->id);
    assert_string_equal(f->wait_channels[0], channel);
    free(channel);
}

/* The dial never succeeds: not_ready with the last error, and no lifecycle phase. */
static void test_agent_dial_deadline(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    int left = 1000000;
    f->handler_arg = &left;
    f->dial_handler = refuse_some;
    f->env.waits.dial_timeout_ms = 50;
    f->env.waits.dial_attempt_ms = 20;
    f->env.waits.dial_interval_ms = 10;
    json_t *r = agent_ready(f, a->id, true, true);
    fake_keys(r, "agent_status", "agent_error", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "not_ready");
    char *want = str_printf("dial agent %s: connection refused", a->id);
    assert_string_equal(fake_str(r, "agent_error"), want);
    free(want);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 0);
    /* Attempts of 20 ms, 10 ms apart: 20 + 10 + 20 = 50. */
    assert_int_equal(f->ndials, 2);
    assert_int_equal(f->dials[0].timeout_ms, 20);
    assert_int_equal(f->dials[1].timeout_ms, 20);
}

static int refuse_canceled(struct fake *f, const char *agent_id, struct err *e)
{
    (void)f;
    (void)agent_id;
    return err_set(e, ERR_CANCELED, "context canceled");
}

/* AgentConnectTimeout: the call is already canceled; one attempt is still made, and its error
 * is reported. */
static void test_agent_dial_canceled(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    tool_cancel_trigger(&x->cancel);
    f->dial_handler = refuse_canceled;
    json_t *r = agent_ready(f, a->id, true, true);
    fake_keys(r, "agent_status", "agent_error", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "not_ready");
    assert_string_equal(fake_str(r, "agent_error"), "context canceled");
    assert_int_equal(f->ndials, 1);
    assert_int_equal(f->calls[FAKE_WAIT], 0);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 0);
}

/* AgentConnectsButStartupFails: any lifecycle other than created, starting or ready. */
static void test_agent_startup_fails(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    fake_agent_after_reads(f, a->id, 2, LIFECYCLE_START_ERROR);
    json_t *r = agent_ready(f, a->id, true, true);
    fake_keys(r, "startup_scripts", "lifecycle_state", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_failed");
    assert_string_equal(fake_str(r, "lifecycle_state"), "start_error");
    assert_int_equal(f->calls[FAKE_AGENT_GET], 3);

    const enum agent_lifecycle ended[] = {LIFECYCLE_START_TIMEOUT, LIFECYCLE_SHUTTING_DOWN,
                                          LIFECYCLE_SHUTDOWN_TIMEOUT, LIFECYCLE_SHUTDOWN_ERROR,
                                          LIFECYCLE_OFF};
    const char *names[] = {"start_timeout", "shutting_down", "shutdown_timeout", "shutdown_error",
                           "off"};
    for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++) {
        a->lifecycle = ended[i];
        r = agent_ready(f, a->id, false, true);
        assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_failed");
        assert_string_equal(fake_str(r, "lifecycle_state"), names[i]);
    }
}

/* created and starting are waited through; a failed read is retried at the next poll. */
static void test_agent_lifecycle_waits(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_CREATED;
    fake_agent_after_reads(f, a->id, 1, LIFECYCLE_STARTING);
    fake_agent_after_reads(f, a->id, 2, LIFECYCLE_READY);
    fake_fail_n(f, FAKE_AGENT_GET, 1, 1, ERR_INTERNAL, "database is locked");
    json_t *r = agent_ready(f, a->id, true, true);
    assert_int_equal(json_object_size(r), 0);
    /* created, (failed read), starting, ready */
    assert_int_equal(f->calls[FAKE_AGENT_GET], 4);
    assert_int_equal(f->calls[FAKE_WAIT], 3);
    assert_int_equal(x->nprogress, 3);
    assert_string_equal(x->progress[0], "Agent dev is created");
    assert_string_equal(x->progress[1], "Agent dev is starting");
    assert_string_equal(x->progress[2], "Agent dev is ready");
}

/* The lifecycle never leaves starting: startup_scripts_timeout at the deadline. */
static void test_agent_lifecycle_deadline(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    f->env.waits.lifecycle_timeout_ms = 50;
    int64_t mono = f->mono_us;
    json_t *r = agent_ready(f, a->id, true, true);
    fake_keys(r, "startup_scripts", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_timeout");
    assert_int_equal(f->mono_us, mono + 50 * 1000);
    assert_int_equal(f->calls[FAKE_WAIT], 1); /* min(poll 2 s, 50 ms left) */
}

/* Cancels the call at the first wait. */
static void cancel_now(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)f;
    (void)timeout_ms;
    tool_cancel_trigger(&((struct fx *)arg)->cancel);
}

/* Canceled while startup runs: startup_scripts_unknown. */
static void test_agent_lifecycle_canceled(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    f->on_wait = cancel_now;
    f->on_wait_arg = x;
    json_t *r = agent_ready(f, a->id, true, true);
    fake_keys(r, "startup_scripts", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_unknown");
    assert_int_equal(f->calls[FAKE_WAIT], 1);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 1);
}

/* NilAgentConnFn: no dial phase; the lifecycle alone decides. */
static void test_agent_without_dial(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    json_t *r = agent_ready(f, a->id, false, true);
    assert_int_equal(json_object_size(r), 0);
    assert_int_equal(f->ndials, 0);

    f->env.agent.dial = NULL; /* no connection at all: the same */
    r = agent_ready(f, a->id, true, true);
    assert_int_equal(json_object_size(r), 0);
    assert_int_equal(f->ndials, 0);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 2);
}

/* NilDB: no lifecycle phase, even while startup still runs. */
static void test_agent_without_lifecycle(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_agent *a = fake_running(f, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    json_t *r = agent_ready(f, a->id, true, false);
    assert_int_equal(json_object_size(r), 0);
    assert_int_equal(f->ndials, 1);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_succeeded_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_succeeds_after_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_read_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_default_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_dial_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_dial_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_dial_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_startup_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_lifecycle_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_lifecycle_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_lifecycle_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_without_dial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_without_lifecycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
