/* Unit tests for start_workspace (reference §3.4, TestStartWorkspace; spec "start_workspace —
 * what must hold"): the guards and load errors, the already-running answer, the agent choice,
 * starting a stopped workspace (pinned to the active version: StoppedWorkspaceReportsAutoUpdate,
 * ManualUpdateRequired), the start function's errors, builds in progress (a stop build is waited
 * for, then the workspace is started), cancellation, deadlines, the re-fire after the agent is
 * ready, and the workspace lock. */
#include "testing.h"

#include "fake.h"

#include "base/str.h"
#include "base/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const one_agent[] = {"dev", NULL};

#define AUTO_UPDATE_MESSAGE                                                                        \
    "Workspace started and was updated to the active template version because the template "       \
    "requires active versions."
#define TEAM_DETAIL "Parameter \"team\" is required but not provided"

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

/* A workspace "dev" of template t (may be NULL) with a chat bound to it, started on version_id
 * (NULL: none) with an agent "dev", then stopped. Builds the tool starts succeed at once and
 * get an agent "dev". */
static struct workspace *stopped(struct fake *f, const struct template_row *t,
                                 const char *version_id)
{
    struct workspace *ws = fake_workspace(f, "dev", t ? t->id : NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    str_copy(b->template_version_id, sizeof b->template_version_id, version_id ? version_id : "");
    fake_agent(f, b->id, "dev");
    fake_build(f, ws->id, TRANSITION_STOP, JOB_SUCCEEDED);
    f->new_job_status = JOB_SUCCEEDED;
    f->new_agents = one_agent;
    return ws;
}

static void assert_binding(const struct fake_binding *b, const char *chat_id,
                           const char *workspace_id, const char *build_id, const char *agent_id)
{
    assert_string_equal(b->chat_id, chat_id);
    assert_string_equal(b->workspace_id, workspace_id);
    assert_string_equal(b->build_id, build_id);
    assert_string_equal(b->agent_id, agent_id);
}

/* ---- guards and load errors ---- */

static void test_not_configured(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->env.ws.start = NULL;
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "workspace starter is not configured");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nbinds, 0);
}

static void test_not_properly_configured(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    f->call.chat_id = NULL;
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "start_workspace is not properly configured");
    f->call.chat_id = "";
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "start_workspace is not properly configured");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nstarts, 0);
}

static void test_argument_errors(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    assert_string_equal(fake_error(f, &tool_start_workspace, "{\"parameters\": \"team=x\"}"),
                        "invalid parameters: \"parameters\" must be an object");
    assert_string_equal(fake_error(f, &tool_start_workspace, "{\"parameters\": [\"team\"]}"),
                        "invalid parameters: \"parameters\" must be an object");
    assert_string_equal(
        fake_error(f, &tool_start_workspace, "{\"parameters\": {\"team\": {\"name\": \"x\"}}}"),
        "invalid parameters: \"parameters.team\" must be a string, number or boolean");
    assert_string_equal(fake_error(f, &tool_start_workspace, "{\"parameters\": {\"team\": null}}"),
                        "invalid parameters: \"parameters.team\" must be a string, number or "
                        "boolean");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nstarts, 0);
    /* Argument errors come before the configuration check. */
    f->env.ws.start = NULL;
    assert_string_equal(fake_error(f, &tool_start_workspace, "{\"parameters\": 1}"),
                        "invalid parameters: \"parameters\" must be an object");
}

/* NoWorkspace: the chat has none; the start function is not called. */
static void test_no_workspace(void **state)
{
    struct fake *f = *state;
    fake_chat(f, NULL);
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "chat has no workspace; use create_workspace first");
    assert_int_equal(f->nstarts, 0);
    assert_int_equal(f->nbinds, 0);
}

/* DeletedWorkspace. */
static void test_deleted_workspace(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = stopped(f, NULL, NULL);
    ws->deleted = true;
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "workspace was deleted; use create_workspace to make a new one");
    assert_int_equal(f->nstarts, 0);
    assert_int_equal(f->calls[FAKE_BUILD_LATEST], 0);
}

static void test_load_errors(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    fake_fail(f, FAKE_CHAT_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "load chat: database is locked");
    f->fail[FAKE_CHAT_GET].on = false;
    fake_fail(f, FAKE_WORKSPACE_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "load workspace: database is locked");
    f->fail[FAKE_WORKSPACE_GET].on = false;
    fake_fail(f, FAKE_BUILD_LATEST, ERR_INTERNAL, "disk I/O error");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "get latest build: disk I/O error");
    f->fail[FAKE_BUILD_LATEST].on = false;
    fake_fail(f, FAKE_JOB_GET, ERR_INTERNAL, "disk I/O error");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "get provisioner job: disk I/O error");
    f->fail[FAKE_JOB_GET].on = false;

    /* A chat that no longer exists, a workspace without builds. */
    struct workspace *other = fake_workspace(f, "empty", NULL);
    fake_chat(f, other->id);
    char *want = str_printf("get latest build: latest build of workspace %s not found", other->id);
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL), want);
    free(want);
    f->call.chat_id = "0190a0a0-0000-7000-8000-000000000009";
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "load chat: chat 0190a0a0-0000-7000-8000-000000000009 not found");
    assert_int_equal(f->nstarts, 0);
}

/* ---- already running ---- */

/* AlreadyRunning: started, no build_id, no_build; nothing started, bound or published. */
static void test_already_running(void **state)
{
    struct fake *f = *state;
    struct workspace_agent *a = fake_running(f, "dev");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", NULL);
    assert_true(fake_bool(r, "started"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_true(fake_bool(r, "no_build"));
    assert_int_equal(f->nstarts, 0);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, a->id);
}

/* AlreadyRunningPrefersChatSuffixAgent: the dial goes to dev-berth-chat, not dev. */
static void test_already_running_prefers_chat_agent(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    struct workspace_agent *chat =
        fake_agent(f, fake_latest_build(f, f->chats[0].workspace_id)->id, "dev-berth-chat");
    chat->display_order = 3; /* after "dev" in display order: the suffix wins anyway */
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", NULL);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, chat->id);
}

/* AlreadyRunningWithoutAgentsReturnsNoAgent: no_agent, no dial. */
static void test_already_running_without_agents(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", "agent_status", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "no_agent");
    assert_true(fake_bool(r, "no_build"));
    assert_int_equal(f->ndials, 0);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 0);
}

/* AlreadyRunningPreservesAgentSelectionError: two chat agents. */
static void test_already_running_selection_error(void **state)
{
    struct fake *f = *state;
    fake_running(f, "b-berth-chat");
    fake_agent(f, fake_latest_build(f, f->chats[0].workspace_id)->id, "A-Berth-Chat");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", "agent_status", "agent_error", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "selection_error");
    assert_string_equal(fake_str(r, "agent_error"),
                        "multiple agents match the chat suffix \"-berth-chat\": A-Berth-Chat, "
                        "b-berth-chat; only one agent should use this suffix");
    assert_int_equal(f->ndials, 0);
}

/* The agents cannot be read: reported as no agent (reference: "query error or no agents"). */
static void test_agents_unreadable_is_no_agent(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    fake_fail(f, FAKE_AGENTS_LATEST, ERR_INTERNAL, "database is locked");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", "agent_status", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "no_agent");
    assert_int_equal(f->ndials, 0);
}

/* ---- starting a stopped workspace ---- */

/* StoppedWorkspace: started as the owner, on the workspace; the answer names the new build; the
 * chat is bound to it and published, then published again once the agent is ready. */
static void test_stopped_workspace(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = stopped(f, NULL, "0190a0a0-0000-7000-8000-0000000000a1");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_int_equal(f->nstarts, 1);
    assert_string_equal(f->starts[0].owner_id, f->owner->id);
    assert_string_equal(f->starts[0].workspace_id, ws->id);
    assert_int_equal(f->starts[0].nparams, 0);
    const char *build_id = f->starts[0].build_id;
    assert_true(uuid_valid(build_id));
    fake_keys(r, "started", "workspace_name", "build_id", NULL);
    assert_true(fake_bool(r, "started"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_string_equal(fake_str(r, "build_id"), build_id);
    /* The same version as before: no update annotation. */
    assert_string_equal(fake_latest_build(f, ws->id)->template_version_id,
                        "0190a0a0-0000-7000-8000-0000000000a1");

    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, ws->id, build_id, "");
    assert_int_equal(f->nupdates, 2);
    assert_binding(&f->updates[0], f->chats[0].id, ws->id, build_id, "");
    assert_binding(&f->updates[1], f->chats[0].id, ws->id, build_id, "");
    assert_string_equal(f->chats[0].build_id, build_id);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, f->agents[1].row.id); /* the new build's agent */
}

/* The binding fails: the start goes on; only the final re-fire is published. */
static void test_bind_failure_is_not_fatal(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    fake_fail(f, FAKE_CHAT_BIND, ERR_INTERNAL, "database is locked");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", NULL);
    assert_int_equal(f->nbinds, 1);
    assert_int_equal(f->nupdates, 1);
    assert_string_equal(f->updates[0].build_id, ""); /* the chat as it is: never bound */
}

/* A failed or canceled latest build: the workspace is started anyway. */
static void test_failed_latest_build_starts(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    fake_build(f, ws->id, TRANSITION_START, JOB_FAILED);
    f->new_job_status = JOB_SUCCEEDED;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_int_equal(f->nstarts, 1);
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
    assert_string_equal(fake_str(r, "agent_status"), "no_agent");

    fake_build(f, ws->id, TRANSITION_START, JOB_CANCELED);
    fake_ok(f, &tool_start_workspace, NULL);
    assert_int_equal(f->nstarts, 2);
}

/* StoppedWorkspaceReportsAutoUpdate: stopped on version 1; the start (pinned by the start
 * function to the active version) builds version 2. */
static void test_stopped_workspace_reports_auto_update(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    t->require_active_version = true;
    struct workspace *ws = stopped(f, t, "0190a0a0-0000-7000-8000-0000000000a1");
    str_copy(f->start_version_id, sizeof f->start_version_id, t->active_version_id);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", "updated_to_active_version",
              "update_reason", "message", NULL);
    assert_true(fake_bool(r, "started"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
    assert_true(fake_bool(r, "updated_to_active_version"));
    assert_string_equal(fake_str(r, "update_reason"), "template requires active versions");
    assert_string_equal(fake_str(r, "message"), AUTO_UPDATE_MESSAGE);
    assert_string_equal(f->starts[0].template_version_id, t->active_version_id);
    assert_string_equal(fake_latest_build(f, ws->id)->template_version_id, t->active_version_id);
    assert_int_equal(f->nupdates, 2);
}

/* A version that cannot be compared (none recorded) is no update. */
static void test_no_update_without_versions(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    str_copy(f->start_version_id, sizeof f->start_version_id,
             "0190a0a0-0000-7000-8000-0000000000a2");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", NULL);
}

/* ManualUpdateRequired: the active version needs a parameter the workspace lacks. The start
 * function's message is the answer as is; nothing is bound or built. Retrying with the
 * parameter passes it on and starts the workspace on the active version. */
static void test_manual_update_required(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    t->require_active_version = true;
    struct workspace *ws = stopped(f, t, "0190a0a0-0000-7000-8000-0000000000a1");
    str_copy(f->start_version_id, sizeof f->start_version_id, t->active_version_id);
    fake_fail_n(f, FAKE_START, 0, 1, ERR_PARAM_VALIDATION,
                TOOL_MANUAL_UPDATE_TEXT "\n\n" TEAM_DETAIL);
    size_t builds = f->nbuilds;

    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        TOOL_MANUAL_UPDATE_TEXT "\n\n" TEAM_DETAIL);
    assert_int_equal(f->nstarts, 1);
    assert_string_equal(f->starts[0].build_id, "");
    assert_int_equal(f->nbuilds, builds);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
    assert_int_equal(f->calls[FAKE_BUILD_GET], 0);

    json_t *r = fake_ok(f, &tool_start_workspace, "{\"parameters\": {\"team\": \"x\"}}");
    assert_int_equal(f->nstarts, 2);
    assert_string_equal(f->starts[1].workspace_id, ws->id);
    assert_int_equal(f->starts[1].nparams, 1);
    assert_string_equal(f->starts[1].param_names[0], "team");
    assert_string_equal(f->starts[1].param_values[0], "x");
    assert_int_equal(f->nbuilds, builds + 1);
    assert_string_equal(fake_str(r, "build_id"), f->starts[1].build_id);
    assert_true(fake_bool(r, "updated_to_active_version"));
    assert_string_equal(fake_str(r, "message"), AUTO_UPDATE_MESSAGE);
}

/* Several parameters, numbers and booleans as their JSON text. */
static void test_parameters_passed(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    fake_ok(f, &tool_start_workspace,
            "{\"parameters\": {\"team\": \"infra\", \"cpus\": 4, \"gpu\": false}}");
    assert_int_equal(f->starts[0].nparams, 3);
    const char *want[][2] = {{"team", "infra"}, {"cpus", "4"}, {"gpu", "false"}};
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (size_t k = 0; k < 3; k++)
            if (strcmp(f->starts[0].param_names[k], want[i][0]) == 0) {
                assert_string_equal(f->starts[0].param_values[k], want[i][1]);
                found = true;
            }
        assert_true(found);
    }
}

/* The start function's errors: internal ones are wrapped, user-facing ones are the answer. */
static void test_start_errors(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    fake_fail(f, FAKE_START, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "start workspace: database is locked");
    fake_fail(f, FAKE_START, ERR_FORBIDDEN, "You do not have permission to update this workspace.");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "You do not have permission to update this workspace.");
    fake_fail(f, FAKE_START, ERR_CONFLICT, "A workspace build is already active.");
    assert_string_equal(fake_error(f, &tool_start_workspace, NULL),
                        "A workspace build is already active.");
    assert_int_equal(f->nstarts, 3);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
}

/* StartTriggeredBuildFailure: a build error with the start build's id (is_error false). */
static void test_start_build_failure(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    f->new_job_status = JOB_FAILED;
    f->new_job_error = "terraform apply: exit status 1";
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace start build failed: terraform apply: exit status 1");
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
    assert_int_equal(f->nbinds, 1);
    assert_int_equal(f->nupdates, 1); /* the binding only: no re-fire */
    assert_int_equal(f->ndials, 0);
}

/* ---- builds in progress ---- */

/* InProgressBuild: the running start build completes after the tool read it; its id is bound,
 * published and answered; nothing is started. */
static void test_in_progress_build(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_RUNNING);
    struct workspace_agent *a = fake_agent(f, b->id, "dev");
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", NULL);
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstarts, 0);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, ws->id, b->id, "");
    assert_int_equal(f->nupdates, 2);
    assert_binding(&f->updates[0], f->chats[0].id, ws->id, b->id, "");
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, a->id);
}

/* Pending and canceling builds are in progress too. */
static void test_in_progress_statuses(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_PENDING);
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_string_equal(fake_str(r, "build_id"), b->id);

    b = fake_build(f, ws->id, TRANSITION_START, JOB_CANCELING);
    fake_job_after_reads(f, b->job_id, 1, JOB_CANCELED, NULL);
    r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"), "waiting for in-progress build: build was canceled");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstarts, 0);
}

/* FailedBuild: the running build fails: a build error keeping its id. */
static void test_in_progress_build_fails(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 1, JOB_FAILED, "terraform exploded");
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"), "waiting for in-progress build: terraform exploded");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstarts, 0);
    assert_int_equal(f->nupdates, 1);
}

/* A stop build in progress: berth waits for it, then starts the workspace (the reference
 * answered started: true for the stopped workspace; see tool_start_workspace.c). */
static void test_in_progress_stop_then_start(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b1 = fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    fake_agent(f, b1->id, "dev");
    struct workspace_build *stop = fake_build(f, ws->id, TRANSITION_STOP, JOB_RUNNING);
    fake_job_after_reads(f, stop->job_id, 1, JOB_SUCCEEDED, NULL);
    f->new_job_status = JOB_SUCCEEDED;
    f->new_agents = one_agent;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_int_equal(f->nstarts, 1);
    assert_string_equal(f->starts[0].workspace_id, ws->id);
    fake_keys(r, "started", "workspace_name", "build_id", NULL);
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
    assert_int_equal(f->nbinds, 2);
    assert_binding(&f->binds[0], f->chats[0].id, ws->id, stop->id, "");
    assert_binding(&f->binds[1], f->chats[0].id, ws->id, f->starts[0].build_id, "");
    assert_int_equal(fake_job(f, stop->job_id)->status, JOB_SUCCEEDED);
    assert_int_equal(f->nupdates, 3);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, f->agents[1].row.id);
}

/* Starts the workspace elsewhere while the tool waits for the stop build: the tool then finds
 * it running and starts nothing. */
static void start_elsewhere(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    (void)key;
    struct workspace_build *stop = arg;
    if (fn != FAKE_JOB_GET || f->calls[FAKE_JOB_GET] != 2)
        return;
    fake_job_set(f, fake_job(f, stop->job_id), JOB_SUCCEEDED, NULL);
    struct workspace_build *b = fake_build(f, stop->workspace_id, TRANSITION_START, JOB_SUCCEEDED);
    fake_agent(f, b->id, "dev");
}

static void test_in_progress_stop_then_running(void **state)
{
    struct fake *f = *state;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    struct workspace_build *stop = fake_build(f, ws->id, TRANSITION_STOP, JOB_RUNNING);
    f->after = start_elsewhere;
    f->after_arg = stop;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "no_build", NULL);
    assert_int_equal(f->nstarts, 0);
}

/* ---- cancellation and deadlines ---- */

static void cancel_on_wait(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)f;
    (void)timeout_ms;
    tool_cancel_trigger(arg);
}

static void test_canceled(void **state)
{
    struct fake *f = *state;
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    f->call.cancel = &cancel;
    f->on_wait = cancel_on_wait;
    f->on_wait_arg = &cancel;

    /* While waiting for a build in progress. */
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_PENDING);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "waiting for in-progress build: timed out waiting for workspace build: "
                        "context canceled");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nstarts, 0);
    tool_cancel_destroy(&cancel);
}

static void starting_agents(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    (void)key;
    (void)arg;
    if (fn != FAKE_START || f->nstarts == 0 || !f->starts[f->nstarts - 1].build_id[0])
        return;
    for (size_t i = 0; i < f->nagents; i++)
        if (strcmp(f->agents[i].build_id, f->starts[f->nstarts - 1].build_id) == 0)
            f->agents[i].row.lifecycle = LIFECYCLE_STARTING;
}

/* Canceled while the agent of the new build starts up: startup_scripts_unknown, and the answer
 * still names the build. */
static void test_canceled_during_startup(void **state)
{
    struct fake *f = *state;
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    f->call.cancel = &cancel;
    f->on_wait = cancel_on_wait;
    f->on_wait_arg = &cancel;
    f->after = starting_agents;
    stopped(f, NULL, NULL);
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", "startup_scripts", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_unknown");
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
    assert_int_equal(f->calls[FAKE_WAIT], 1);
    tool_cancel_destroy(&cancel);
}

/* A start build that never ends. */
static void test_build_deadline(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    f->new_job_status = JOB_RUNNING;
    f->env.waits.build_timeout_ms = 50;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace start build failed: timed out waiting for workspace build: "
                        "context deadline exceeded");
    assert_string_equal(fake_str(r, "build_id"), f->starts[0].build_id);
}

/* Startup that never ends. */
static void test_lifecycle_deadline(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    f->after = starting_agents;
    f->env.waits.lifecycle_timeout_ms = 50;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", "startup_scripts", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_timeout");
}

static int refuse(struct fake *f, const char *agent_id, struct err *e)
{
    (void)f;
    (void)agent_id;
    return err_set(e, ERR_TIMEOUT, "agent did not connect");
}

/* An agent that never becomes reachable. */
static void test_dial_deadline(void **state)
{
    struct fake *f = *state;
    stopped(f, NULL, NULL);
    f->dial_handler = refuse;
    f->env.waits.dial_timeout_ms = 50;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    fake_keys(r, "started", "workspace_name", "build_id", "agent_status", "agent_error", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "not_ready");
    assert_string_equal(fake_str(r, "agent_error"), "agent did not connect");
    assert_int_equal(f->calls[FAKE_AGENT_GET], 0);
}

/* ---- the re-fire after the agent is ready ---- */

struct events {
    enum fake_fn fn[64];
    size_t n;
};

/* Records the bindings, the publications and the agent reads, in order; the agents of new
 * builds start up (ready after two reads). */
static void record(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    struct events *ev = arg;
    if (fn == FAKE_START || fn == FAKE_CHAT_BIND || fn == FAKE_CHAT_UPDATED || fn == FAKE_DIAL ||
        fn == FAKE_AGENT_GET) {
        assert_true(ev->n < sizeof ev->fn / sizeof ev->fn[0]);
        ev->fn[ev->n++] = fn;
    }
    if (fn == FAKE_START && f->nstarts > 0)
        for (size_t i = 0; i < f->nagents; i++)
            if (strcmp(f->agents[i].build_id, f->starts[f->nstarts - 1].build_id) == 0) {
                f->agents[i].row.lifecycle = LIFECYCLE_STARTING;
                fake_agent_after_reads(f, f->agents[i].row.id, 2, LIFECYCLE_READY);
            }
    (void)key;
}

static void assert_events(const struct events *ev, const enum fake_fn *want, size_t n)
{
    for (size_t i = 0; i < ev->n && i < n; i++)
        if (ev->fn[i] != want[i])
            fail_msg("event %zu is %s, want %s", i, fake_fn_name(ev->fn[i]), fake_fn_name(want[i]));
    assert_int_equal(ev->n, n);
}

/* The seed: the chat is published when bound (so a client can follow the build's logs) and
 * again only after the agent is ready (lifecycle read as ready), with the bound chat. */
static void test_refire_after_agent_ready(void **state)
{
    struct fake *f = *state;
    struct events ev = {0};
    struct workspace *ws = stopped(f, NULL, NULL);
    f->after = record;
    f->after_arg = &ev;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_null(json_object_get(r, "startup_scripts"));
    const enum fake_fn want[] = {FAKE_START,     FAKE_CHAT_BIND,   FAKE_CHAT_UPDATED,
                                 FAKE_DIAL,      FAKE_AGENT_GET,   FAKE_AGENT_GET,
                                 FAKE_AGENT_GET, FAKE_CHAT_UPDATED};
    assert_events(&ev, want, sizeof want / sizeof want[0]);
    assert_int_equal(f->nupdates, 2);
    assert_binding(&f->updates[1], f->chats[0].id, ws->id, f->starts[0].build_id, "");

    /* The same around a build in progress. */
    memset(&ev, 0, sizeof ev);
    f->nupdates = 0;
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    struct workspace_agent *a = fake_agent(f, b->id, "dev");
    a->lifecycle = LIFECYCLE_STARTING;
    fake_agent_after_reads(f, a->id, 1, LIFECYCLE_READY);
    fake_ok(f, &tool_start_workspace, NULL);
    const enum fake_fn want2[] = {FAKE_CHAT_BIND, FAKE_CHAT_UPDATED, FAKE_DIAL,
                                  FAKE_AGENT_GET, FAKE_AGENT_GET,    FAKE_CHAT_UPDATED};
    assert_events(&ev, want2, sizeof want2 / sizeof want2[0]);
    assert_binding(&f->updates[1], f->chats[0].id, ws->id, b->id, "");
}

/* ---- the workspace lock ---- */

struct lock_probe {
    pthread_mutex_t *mu;
    int busy, free_;
};

/* Tries the lock at every wait: it must be held by the tool. */
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

static void test_lock_held_through_waits(void **state)
{
    struct fake *f = *state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct lock_probe p = {&mu, 0, 0};
    f->call.workspace_mu = &mu;
    f->on_wait = probe_lock;
    f->on_wait_arg = &p;
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_STOP, JOB_RUNNING);
    fake_job_after_reads(f, b->job_id, 2, JOB_SUCCEEDED, NULL);
    f->new_job_status = JOB_RUNNING;
    f->new_agents = one_agent;
    f->env.waits.build_timeout_ms = 10;
    json_t *r = fake_ok(f, &tool_start_workspace, NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace start build failed: timed out waiting for workspace build: "
                        "context deadline exceeded");
    assert_true(p.busy >= 2); /* the in-progress build, then the start build */
    assert_int_equal(p.free_, 0);
    /* Released after the call, also after an early error. */
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);
    ws->deleted = true;
    fake_error(f, &tool_start_workspace, NULL);
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);
    pthread_mutex_destroy(&mu);
}

struct blocked_run {
    struct fake *f;
    pthread_barrier_t started;
    atomic_bool released;
    bool saw_released, checked;
    struct tool_answer out;
};

/* At the tool's first read (after it took the lock): was the lock released by then? */
static void first_read(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    (void)f;
    (void)key;
    struct blocked_run *r = arg;
    if (fn == FAKE_CHAT_GET && !r->checked) {
        r->checked = true;
        r->saw_released = atomic_load(&r->released);
    }
}

static void *run_start(void *arg)
{
    struct blocked_run *r = arg;
    pthread_barrier_wait(&r->started);
    /* No cmocka assertions off the test thread: run the tool directly. */
    tool_start_workspace.run(&r->f->env, &r->f->call, &r->out);
    return NULL;
}

/* A call while another holder has the chat's lock waits until it is released: the tool does
 * not read anything before. */
static void test_lock_blocks_until_released(void **state)
{
    struct fake *f = *state;
    fake_running(f, "dev");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    f->call.workspace_mu = &mu;
    struct blocked_run r;
    memset(&r, 0, sizeof r);
    r.f = f;
    atomic_init(&r.released, false);
    pthread_barrier_init(&r.started, NULL, 2);
    f->after = first_read;
    f->after_arg = &r;

    pthread_mutex_lock(&mu);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_start, &r), 0);
    pthread_barrier_wait(&r.started);
    /* Give the tool every chance to go past the lock if it did not honour it. */
    for (int i = 0; i < 20; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&r.released, true);
    pthread_mutex_unlock(&mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&r.started);

    assert_true(r.checked);
    assert_true(r.saw_released);
    assert_false(r.out.is_error);
    assert_true(json_is_true(json_object_get(r.out.result, "started")));
    assert_true(json_is_true(json_object_get(r.out.result, "no_build")));
    tool_answer_clear(&r.out);
    pthread_mutex_destroy(&mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_properly_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argument_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_running_prefers_chat_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_running_without_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_running_selection_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_unreadable_is_no_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_failure_is_not_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_latest_build_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_workspace_reports_auto_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_update_without_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_update_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_build_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_build_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_stop_then_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress_stop_then_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canceled_during_startup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refire_after_agent_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_through_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_blocks_until_released, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
