/* Unit tests for stop_workspace (reference §3.5, TestStopWorkspace): the guards and load errors,
 * the already-stopped answer, stopping a running workspace (binding, publication, re-fire), builds
 * in progress (waited for, then looked at again), the stop function's errors, the stop build's
 * failure, cancellation, deadlines and the workspace lock. */
#include "testing.h"

#include "fake.h"

#include "base/str.h"
#include "base/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    struct fake *f = fake_new();
    f->new_job_status = JOB_SUCCEEDED; /* stop builds succeed at once unless a test says */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_free(*state);
    return 0;
}

static void assert_binding(const struct fake_binding *b, const char *chat_id,
                           const char *workspace_id, const char *build_id)
{
    assert_string_equal(b->chat_id, chat_id);
    assert_string_equal(b->workspace_id, workspace_id);
    assert_string_equal(b->build_id, build_id);
    assert_string_equal(b->agent_id, "");
}

/* A workspace "dev" with a chat bound to it and a latest build (transition t, job status s). */
static struct workspace_build *with_build(struct fake *f, enum transition t, enum job_status s)
{
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    return fake_build(f, ws->id, t, s);
}

static void test_not_configured(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->env.ws.stop = NULL;
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "workspace stopper is not configured");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nbinds, 0);
}

static void test_not_properly_configured(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->call.chat_id = NULL;
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "stop_workspace is not properly configured");
    f->call.chat_id = "";
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "stop_workspace is not properly configured");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nstops, 0);
}

/* NoWorkspace. */
static void test_no_workspace(void **state)
{
    struct fake *f = *state;
    fake_chat(f, NULL);
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "chat has no workspace; use create_workspace first");
    assert_int_equal(f->nstops, 0);
}

/* DeletedWorkspace. */
static void test_deleted_workspace(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->workspaces[0].deleted = true;
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "workspace was deleted; use create_workspace to make a new one");
    assert_int_equal(f->nstops, 0);
}

static void test_load_errors(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    fake_fail(f, FAKE_CHAT_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL), "load chat: database is locked");
    f->fail[FAKE_CHAT_GET].on = false;
    fake_fail(f, FAKE_WORKSPACE_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "load workspace: database is locked");
    f->fail[FAKE_WORKSPACE_GET].on = false;
    fake_fail(f, FAKE_BUILD_LATEST, ERR_INTERNAL, "disk I/O error");
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "get latest build: disk I/O error");
    f->fail[FAKE_BUILD_LATEST].on = false;
    fake_fail(f, FAKE_JOB_GET, ERR_INTERNAL, "disk I/O error");
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "get provisioner job: disk I/O error");
    assert_int_equal(f->nstops, 0);
}

/* AlreadyStopped: no_build, no build_id; nothing stopped, bound or published. */
static void test_already_stopped(void **state)
{
    struct fake *f = *state;
    with_build(f, TRANSITION_STOP, JOB_SUCCEEDED);
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "stopped", "workspace_name", "no_build", NULL);
    assert_true(fake_bool(r, "stopped"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_true(fake_bool(r, "no_build"));
    assert_int_equal(f->nstops, 0);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
}

/* RunningWorkspaceStops: the answer names the stop build; the chat is bound to it (in the
 * store too), published, and published again at the end. */
static void test_running_workspace_stops(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    const char *ws_id = f->chats[0].workspace_id;
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    assert_int_equal(f->nstops, 1);
    assert_string_equal(f->stops[0].owner_id, f->owner->id);
    assert_string_equal(f->stops[0].workspace_id, ws_id);
    const char *stop_id = f->stops[0].build_id;
    assert_true(uuid_valid(stop_id));
    assert_int_equal(fake_latest_build(f, ws_id)->transition, TRANSITION_STOP);
    fake_keys(r, "stopped", "workspace_name", "build_id", NULL);
    assert_true(fake_bool(r, "stopped"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_string_equal(fake_str(r, "build_id"), stop_id);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, ws_id, stop_id);
    assert_string_equal(f->chats[0].build_id, stop_id);
    assert_int_equal(f->nupdates, 2);
    assert_binding(&f->updates[0], f->chats[0].id, ws_id, stop_id);
    assert_binding(&f->updates[1], f->chats[0].id, ws_id, stop_id);
}

/* Records the status of the in-progress build's job when the stop function is called. */
static void stop_sees(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    (void)key;
    if (fn == FAKE_STOP && f->nstops == 1) {
        enum job_status *seen = arg;
        *seen = fake_job(f, f->builds[0].job_id)->status;
    }
}

/* InProgressBuildWaitsThenStops: the stop function is called only once the running build
 * ended; both builds are bound in turn. */
static void test_in_progress_waits_then_stops(void **state)
{
    struct fake *f = *state;
    struct workspace_build *b = with_build(f, TRANSITION_START, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 2, JOB_SUCCEEDED, NULL);
    enum job_status seen = JOB_PENDING;
    f->after = stop_sees;
    f->after_arg = &seen;
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    assert_int_equal(f->nstops, 1);
    assert_int_equal(seen, JOB_SUCCEEDED);
    assert_true(f->calls[FAKE_WAIT] >= 1);
    assert_string_equal(fake_str(r, "build_id"), f->stops[0].build_id);
    assert_int_equal(f->nbinds, 2);
    assert_binding(&f->binds[0], f->chats[0].id, b->workspace_id, b->id);
    assert_binding(&f->binds[1], f->chats[0].id, b->workspace_id, f->stops[0].build_id);
    assert_int_equal(f->nupdates, 3);
}

/* The build in progress was a stop: once it is done there is nothing to stop. */
static void test_in_progress_stop_build(void **state)
{
    struct fake *f = *state;
    struct workspace_build *b = with_build(f, TRANSITION_STOP, JOB_PENDING);
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "stopped", "workspace_name", "no_build", NULL);
    assert_int_equal(f->nstops, 0);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, b->workspace_id, b->id);
}

/* The running build fails: its failure does not matter once it ended; the workspace is
 * stopped. */
static void test_in_progress_fails_then_stops(void **state)
{
    struct fake *f = *state;
    struct workspace_build *b = with_build(f, TRANSITION_START, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 1, JOB_FAILED, "terraform exploded");
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "stopped", "workspace_name", "build_id", NULL);
    assert_int_equal(f->nstops, 1);
    assert_string_equal(fake_str(r, "build_id"), f->stops[0].build_id);
}

/* FailedLatestStopBuildStillStops. */
static void test_failed_latest_stop_still_stops(void **state)
{
    struct fake *f = *state;
    with_build(f, TRANSITION_STOP, JOB_FAILED);
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    assert_int_equal(f->nstops, 1);
    fake_keys(r, "stopped", "workspace_name", "build_id", NULL);
    assert_string_equal(fake_str(r, "build_id"), f->stops[0].build_id);

    with_build(f, TRANSITION_STOP, JOB_CANCELED);
    fake_ok(f, &tool_stop_workspace, NULL);
    assert_int_equal(f->nstops, 2);
}

/* StopTriggeredBuildFailure: a build error (is_error false) with the stop build's id. */
static void test_stop_build_failure(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->new_job_status = JOB_FAILED;
    f->new_job_error = "terraform destroy: exit status 1";
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace stop build failed: terraform destroy: exit status 1");
    assert_string_equal(fake_str(r, "build_id"), f->stops[0].build_id);
    assert_int_equal(f->nupdates, 1); /* the binding; no re-fire */
}

/* The stop function's errors: internal ones are a wrapped text error; the others keep their
 * message, detail and status in a result. */
static void test_stop_errors(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    fake_fail(f, FAKE_STOP, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_stop_workspace, NULL),
                        "stop workspace: database is locked");

    fake_fail(f, FAKE_STOP, ERR_FORBIDDEN, "You do not have permission to update this workspace.");
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "error", "status", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "You do not have permission to update this workspace.");
    assert_int_equal(fake_int(r, "status"), 403);

    fake_fail(f, FAKE_STOP, ERR_CONFLICT, "A workspace build is already active.");
    err_detail(&f->fail[FAKE_STOP].err, "Wait for it to finish.");
    r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "error", "detail", "status", NULL);
    assert_string_equal(fake_str(r, "error"), "A workspace build is already active.");
    assert_string_equal(fake_str(r, "detail"), "Wait for it to finish.");
    assert_int_equal(fake_int(r, "status"), 409);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
}

static void cancel_on_wait(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)f;
    (void)timeout_ms;
    tool_cancel_trigger(arg);
}

/* Canceled while a build is in progress (it still runs): a build error with its id; nothing
 * stopped. */
static void test_canceled(void **state)
{
    struct fake *f = *state;
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    f->call.cancel = &cancel;
    f->on_wait = cancel_on_wait;
    f->on_wait_arg = &cancel;
    struct workspace_build *b = with_build(f, TRANSITION_START, JOB_RUNNING);
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "waiting for in-progress build: timed out waiting for workspace build: "
                        "context canceled");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstops, 0);
    tool_cancel_destroy(&cancel);
}

/* Deadlines: a build in progress that never ends, a stop build that never ends. */
static void test_deadlines(void **state)
{
    struct fake *f = *state;
    f->env.waits.build_timeout_ms = 50;
    struct workspace_build *b = with_build(f, TRANSITION_START, JOB_RUNNING);
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    assert_string_equal(fake_str(r, "error"),
                        "waiting for in-progress build: timed out waiting for workspace build: "
                        "context deadline exceeded");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstops, 0);

    fake_job_set(f, fake_job(f, b->job_id), JOB_SUCCEEDED, NULL);
    f->new_job_status = JOB_RUNNING;
    r = fake_ok(f, &tool_stop_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace stop build failed: timed out waiting for workspace build: "
                        "context deadline exceeded");
    assert_string_equal(fake_str(r, "build_id"), f->stops[0].build_id);
}

struct lock_probe {
    pthread_mutex_t *mu;
    int busy, free_;
};

static void probe_lock(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)f;
    (void)timeout_ms;
    struct lock_probe *p = arg;
    int rc = pthread_mutex_trylock(p->mu);
    if (rc == 0) {
        p->free_++;
        pthread_mutex_unlock(p->mu);
    } else if (rc == EBUSY) {
        p->busy++;
    }
}

/* The chat's lock is held through the waits and released at the end, early errors included. */
static void test_lock_held_through_waits(void **state)
{
    struct fake *f = *state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct lock_probe p = {&mu, 0, 0};
    f->call.workspace_mu = &mu;
    f->on_wait = probe_lock;
    f->on_wait_arg = &p;
    struct workspace_build *b = with_build(f, TRANSITION_START, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 2, JOB_SUCCEEDED, NULL);
    f->new_job_status = JOB_RUNNING;
    f->env.waits.build_timeout_ms = 10;
    json_t *r = fake_ok(f, &tool_stop_workspace, NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace stop build failed: timed out waiting for workspace build: "
                        "context deadline exceeded");
    assert_true(p.busy >= 2);
    assert_int_equal(p.free_, 0);
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);
    f->workspaces[0].deleted = true;
    fake_error(f, &tool_stop_workspace, NULL);
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);
    pthread_mutex_destroy(&mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_properly_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_workspace_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_waits_then_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_stop_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_fails_then_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_latest_stop_still_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_build_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_through_waits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
