/* Unit tests of the fake tool environment itself (fake.h), so the tool tests that rely on it
 * can trust it: reads, bindings, agent membership and order, workspace operations, injected
 * failures, scheduled changes and the clock. */
#include "testing.h"

#include "fake.h"

#include "base/str.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    *state = fake_new();
    return 0;
}

static int teardown(void **state)
{
    fake_free(*state);
    return 0;
}

static void test_reads_and_bindings(void **state)
{
    struct fake *f = *state;
    struct workspace_agent *a = fake_running(f, "dev");
    struct chat *c = &f->chats[0];
    assert_string_equal(f->call.chat_id, c->id);
    assert_string_equal(f->call.owner_id, f->owner->id);

    struct err e = ERR_INIT;
    struct chat got = {0};
    assert_int_equal(f->env.db.chat_get(f->env.db.arg, c->id, &got, &e), 0);
    assert_string_equal(got.title, "test chat");
    assert_ptr_not_equal(got.title, c->title); /* a deep copy */
    chat_clear(&got);
    assert_int_equal(f->env.db.chat_get(f->env.db.arg, "nope", &got, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);

    struct workspace_build *b = fake_latest_build(f, c->workspace_id);
    assert_int_equal(
        f->env.db.chat_bind(f->env.db.arg, c->id, c->workspace_id, b->id, NULL, &got, &e), 0);
    assert_string_equal(got.build_id, b->id);
    assert_string_equal(got.agent_id, "");
    chat_clear(&got);
    assert_int_equal(f->env.db.chat_bind_agent(f->env.db.arg, c->id, b->id, a->id, &e), 0);
    assert_string_equal(c->agent_id, a->id);
    assert_int_equal(f->nbinds, 1);
    assert_int_equal(f->nbind_agents, 1);
    assert_string_equal(f->binds[0].build_id, b->id);
    assert_int_equal(f->calls[FAKE_CHAT_BIND], 1);

    f->env.on_chat_updated(f->env.on_chat_updated_arg, c);
    assert_int_equal(f->nupdates, 1);
    assert_string_equal(f->updates[0].agent_id, a->id);
}

static void test_agents_latest(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    struct workspace_build *b1 = fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    fake_agent(f, b1->id, "old");
    struct workspace_build *b2 = fake_build(f, ws->id, TRANSITION_START, JOB_RUNNING);
    assert_int_equal(b2->build_number, 2);
    fake_agent(f, b2->id, "second")->display_order = 2;
    fake_agent(f, b2->id, "first")->display_order = 1;

    struct agent_list l = {0};
    struct err e = ERR_INIT;
    assert_int_equal(f->env.db.agents_latest(f->env.db.arg, ws->id, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "first");
    assert_string_equal(l.items[1].name, "second");
    agent_list_free(&l);

    char build[UUID_STR_LEN];
    assert_int_equal(f->env.db.agent_build(f->env.db.arg, f->agents[0].row.id, build, &e), 0);
    assert_string_equal(build, b1->id);

    fake_build(f, ws->id, TRANSITION_STOP, JOB_PENDING);
    assert_int_equal(f->env.db.agents_latest(f->env.db.arg, ws->id, &l, &e), 0);
    assert_int_equal(l.n, 0);
    agent_list_free(&l);
}

static void test_job_status(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    enum job_status all[] = {JOB_PENDING,   JOB_RUNNING,  JOB_SUCCEEDED,
                             JOB_CANCELING, JOB_CANCELED, JOB_FAILED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        struct job *j = fake_job(f, fake_build(f, ws->id, TRANSITION_START, all[i])->job_id);
        assert_int_equal(job_status_derive(j), all[i]);
        assert_int_equal(j->status, all[i]);
    }
    assert_string_equal(f->jobs[5].error, "build failed");
}

/* Counts the reads of one job, and stops a workspace's agent once the job was read twice. */
static void after_hook(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    int *reads = arg;
    if (fn == FAKE_JOB_GET && ++*reads == 2)
        fake_agent_status(f, &f->agents[0].row, AGENT_DISCONNECTED);
}

static void test_changes_after_reads(void **state)
{
    struct fake *f = *state;
    int reads = 0;
    f->after = after_hook;
    f->after_arg = &reads;
    struct workspace_agent *a = fake_running(f, "dev");
    struct workspace_build *b =
        fake_build(f, f->chats[0].workspace_id, TRANSITION_STOP, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 1, JOB_FAILED, "terraform exploded");
    a->lifecycle = LIFECYCLE_STARTING;
    fake_agent_after_reads(f, a->id, 2, LIFECYCLE_START_ERROR);

    struct err e = ERR_INIT;
    struct job j = {0};
    assert_int_equal(f->env.db.job_get(f->env.db.arg, b->job_id, &j, &e), 0);
    assert_int_equal(j.status, JOB_RUNNING); /* the first read sees it running */
    job_clear(&j);
    assert_int_equal(f->env.db.job_get(f->env.db.arg, b->job_id, &j, &e), 0);
    assert_int_equal(j.status, JOB_FAILED);
    assert_string_equal(j.error, "terraform exploded");
    job_clear(&j);

    struct workspace_agent got = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->env.db.agent_get(f->env.db.arg, a->id, &got, &e), 0);
        assert_int_equal(got.lifecycle, LIFECYCLE_STARTING);
        workspace_agent_clear(&got);
    }
    assert_int_equal(f->env.db.agent_get(f->env.db.arg, a->id, &got, &e), 0);
    assert_int_equal(got.lifecycle, LIFECYCLE_START_ERROR);
    assert_int_equal(agentconn_status(&got, f->now_us), AGENT_DISCONNECTED);
    workspace_agent_clear(&got);
    assert_int_equal(reads, 2);
}

static void test_failures(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    const char *id = f->chats[0].id;
    fake_fail_n(f, FAKE_CHAT_GET, 1, 2, ERR_INTERNAL, "database is locked");
    struct err e = ERR_INIT;
    struct chat c = {0};
    int rcs[4];
    for (int i = 0; i < 4; i++) {
        rcs[i] = f->env.db.chat_get(f->env.db.arg, id, &c, &e);
        if (rcs[i] == 0)
            chat_clear(&c);
    }
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], -1);
    assert_int_equal(rcs[2], -1);
    assert_int_equal(rcs[3], 0);
    assert_string_equal(err_msg(&e), "database is locked");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 4);
    err_clear(&e);
}

static void on_wait(struct fake *f, int64_t timeout_ms, void *arg)
{
    (*(int *)arg)++;
}

static void test_clock(void **state)
{
    struct fake *f = *state;
    int hooks = 0;
    f->on_wait = on_wait;
    f->on_wait_arg = &hooks;
    int64_t now = f->now_us, mono = f->mono_us;
    const char *channels[] = {"workspace:1", "agent:2", NULL};
    void *watch = f->env.clock.watch(f->env.clock.arg, channels);
    assert_true(f->env.clock.wait(f->env.clock.arg, watch, 2000, NULL));
    assert_int_equal(f->env.clock.now_us(f->env.clock.arg), now + 2000000);
    assert_int_equal(f->env.clock.mono_us(f->env.clock.arg), mono + 2000000);
    assert_int_equal(hooks, 1);
    assert_int_equal(f->calls[FAKE_WAIT], 1);
    assert_string_equal(f->wait_channels[0], "workspace:1");
    assert_string_equal(f->wait_channels[1], "agent:2");
    assert_null(f->wait_channels[2]);

    struct tool_cancel cancel = {0};
    atomic_store(&cancel.canceled, true);
    assert_false(f->env.clock.wait(f->env.clock.arg, watch, 5, &cancel));
    f->env.clock.unwatch(f->env.clock.arg, watch);
    watch = f->env.clock.watch(f->env.clock.arg, NULL);
    assert_null(f->wait_channels[0]);
    f->env.clock.unwatch(f->env.clock.arg, watch);
}

static void test_workspace_ops(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    struct err e = ERR_INIT;
    struct workspace ws = {0};
    struct workspace_build b = {0};
    struct build_param_value params[] = {{"region", "eu"}};
    struct workspace_create req = {
        .name = "box", .template_id = t->id, .params = params, .nparams = 1};
    assert_int_equal(f->env.ws.create(f->env.ws.arg, f->owner->id, &req, &ws, &b, &e), 0);
    assert_string_equal(ws.name, "box");
    assert_string_equal(b.template_version_id, t->active_version_id);
    assert_int_equal(fake_job(f, b.job_id)->status, JOB_PENDING);
    assert_int_equal(f->ncreates, 1);
    assert_string_equal(f->creates[0].param_values[0], "eu");
    assert_string_equal(f->creates[0].build_id, b.id);
    workspace_build_clear(&b);

    f->new_job_status = JOB_SUCCEEDED;
    str_copy(f->start_version_id, sizeof f->start_version_id,
             "0190a0a0-0000-7000-8000-0000000000aa");
    assert_int_equal(f->env.ws.start(f->env.ws.arg, f->owner->id, ws.id, params, 1, &b, &e), 0);
    assert_int_equal(b.build_number, 2);
    assert_int_equal(b.transition, TRANSITION_START);
    assert_string_equal(b.template_version_id, "0190a0a0-0000-7000-8000-0000000000aa");
    assert_int_equal(f->nstarts, 1);
    assert_string_equal(f->starts[0].workspace_id, ws.id);
    workspace_build_clear(&b);

    assert_int_equal(f->env.ws.stop(f->env.ws.arg, f->owner->id, ws.id, &b, &e), 0);
    assert_int_equal(b.transition, TRANSITION_STOP);
    assert_string_equal(b.template_version_id, "0190a0a0-0000-7000-8000-0000000000aa");
    workspace_build_clear(&b);

    fake_fail(f, FAKE_START, ERR_PARAM_VALIDATION, TOOL_MANUAL_UPDATE_TEXT);
    err_detail(&f->fail[FAKE_START].err, "Parameter \"team\" is required but not provided");
    assert_int_equal(f->env.ws.start(f->env.ws.arg, f->owner->id, ws.id, NULL, 0, &b, &e), -1);
    assert_true(err_is(&e, ERR_PARAM_VALIDATION));
    assert_string_equal(e.detail, "Parameter \"team\" is required but not provided");
    assert_string_equal(f->starts[1].build_id, "");
    assert_int_equal(f->nbuilds, 3);
    err_clear(&e);
    workspace_clear(&ws);
}

/* Builds the workspace operations make: their jobs' status and error, and their agents (start
 * and create builds only). */
static void test_new_builds(void **state)
{
    struct fake *f = *state;
    static const char *const names[] = {"dev", "dev-berth-chat", NULL};
    f->new_agents = names;
    f->new_job_status = JOB_FAILED;
    f->new_job_error = "terraform apply: exit status 1";
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    struct err e = ERR_INIT;
    struct workspace_build b = {0};
    assert_int_equal(f->env.ws.start(f->env.ws.arg, f->owner->id, ws->id, NULL, 0, &b, &e), 0);
    struct job *j = fake_job(f, b.job_id);
    assert_int_equal(j->status, JOB_FAILED);
    assert_string_equal(j->error, "terraform apply: exit status 1");
    assert_int_equal(f->nagents, 2);
    assert_string_equal(f->agents[0].build_id, b.id);
    assert_string_equal(f->agents[0].row.name, "dev");
    assert_string_equal(f->agents[1].row.name, "dev-berth-chat");
    assert_int_equal(f->agents[1].row.lifecycle, LIFECYCLE_READY);
    workspace_build_clear(&b);

    f->new_job_error = NULL;
    assert_int_equal(f->env.ws.stop(f->env.ws.arg, f->owner->id, ws->id, &b, &e), 0);
    assert_string_equal(fake_job(f, b.job_id)->error, "build failed");
    assert_int_equal(f->nagents, 2); /* a stop build has no agents */
    workspace_build_clear(&b);

    f->new_job_status = JOB_SUCCEEDED;
    f->new_job_error = "ignored unless failed";
    assert_int_equal(f->env.ws.start(f->env.ws.arg, f->owner->id, ws->id, NULL, 0, &b, &e), 0);
    assert_int_equal(fake_job(f, b.job_id)->status, JOB_SUCCEEDED);
    assert_string_equal(fake_job(f, b.job_id)->error, "");
    assert_int_equal(f->nagents, 4);
    workspace_build_clear(&b);
}

static int refuse(struct fake *f, const char *agent_id, struct err *e)
{
    return err_set(e, ERR_TIMEOUT, "agent %s unreachable", agent_id);
}

static void test_dial(void **state)
{
    struct fake *f = *state;
    struct err e = ERR_INIT;
    int64_t mono = f->mono_us;
    assert_int_equal(f->env.agent.dial(f->env.agent.arg, "a1", 5000, NULL, &e), 0);
    assert_int_equal(f->mono_us, mono);
    f->dial_handler = refuse;
    assert_int_equal(f->env.agent.dial(f->env.agent.arg, "a2", 5000, NULL, &e), -1);
    assert_string_equal(err_msg(&e), "agent a2 unreachable");
    assert_int_equal(f->mono_us, mono + 5000000);
    assert_int_equal(f->ndials, 2);
    assert_string_equal(f->dials[1].agent_id, "a2");
    assert_int_equal(f->dials[1].timeout_ms, 5000);
    err_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_and_bindings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_after_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_builds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
