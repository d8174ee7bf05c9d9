/* Unit tests for create_workspace (reference §3.3, createworkspace_test): the argument and
 * configuration checks, names, the create function's errors, binding and publication, the build
 * wait, the agent choice and the re-fire, and checkExistingWorkspace (an existing building,
 * running, connecting or stopped workspace answers instead of a new one; a dead, failed or deleted
 * one lets a new one be made), plus the workspace lock. */
#include "testing.h"

#include "fake.h"

#include "base/str.h"
#include "base/uuid.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const one_agent[] = {"dev", NULL};

struct fx {
    struct fake *f;
    struct template_row *t;
    char args[256]; /* {"template_id": "<t>"} */
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->f = fake_new();
    x->t = fake_template(x->f, "docker");
    str_fmt(x->args, sizeof x->args, "{\"template_id\": \"%s\"}", x->t->id);
    x->f->new_job_status = JOB_SUCCEEDED;
    x->f->new_agents = one_agent;
    fake_chat(x->f, NULL); /* a chat without a workspace */
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    fake_free(x->f);
    free(x);
    return 0;
}

/* The arguments {"template_id": <t>, "name": name} (name NULL: none). */
static const char *named(struct fx *x, const char *name)
{
    if (name)
        str_fmt(x->args, sizeof x->args, "{\"template_id\": \"%s\", \"name\": \"%s\"}", x->t->id,
                name);
    else
        str_fmt(x->args, sizeof x->args, "{\"template_id\": \"%s\"}", x->t->id);
    return x->args;
}

static void assert_binding(const struct fake_binding *b, const char *chat_id,
                           const char *workspace_id, const char *build_id)
{
    assert_string_equal(b->chat_id, chat_id);
    assert_string_equal(b->workspace_id, workspace_id);
    assert_string_equal(b->build_id, build_id);
    assert_string_equal(b->agent_id, "");
}

/* ---- checks before anything is created ---- */

static void test_argument_errors(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    assert_string_equal(fake_error(f, &tool_create_workspace, "{\"template_id\": 5}"),
                        "invalid parameters: \"template_id\" must be a string");
    assert_string_equal(
        fake_error(f, &tool_create_workspace, "{\"template_id\": \"x\", \"name\": true}"),
        "invalid parameters: \"name\" must be a string");
    assert_string_equal(
        fake_error(f, &tool_create_workspace, "{\"template_id\": \"x\", \"parameters\": [\"a\"]}"),
        "invalid parameters: \"parameters\" must be an object");
    assert_string_equal(fake_error(f, &tool_create_workspace,
                                   "{\"template_id\": \"x\", \"parameters\": {\"a\": [1]}}"),
                        "invalid parameters: \"parameters.a\" must be a string, number or "
                        "boolean");
    assert_int_equal(f->ncreates, 0);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
}

static void test_not_configured(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->env.ws.create = NULL;
    assert_string_equal(fake_error(f, &tool_create_workspace, x->args),
                        "workspace creator is not configured");
    /* Before the template_id checks. */
    assert_string_equal(fake_error(f, &tool_create_workspace, NULL),
                        "workspace creator is not configured");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
}

static void test_template_id_checks(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    const char *missing = "template_id is required; use list_templates to find one";
    assert_string_equal(fake_error(f, &tool_create_workspace, NULL), missing);
    assert_string_equal(fake_error(f, &tool_create_workspace, "{}"), missing);
    assert_string_equal(fake_error(f, &tool_create_workspace, "{\"template_id\": \"\"}"), missing);
    assert_string_equal(fake_error(f, &tool_create_workspace, "{\"template_id\": null}"), missing);
    assert_string_equal(fake_error(f, &tool_create_workspace, "{\"template_id\": \"abc\"}"),
                        "invalid template_id: invalid UUID length: 3");
    assert_string_equal(fake_error(f, &tool_create_workspace,
                                   "{\"template_id\": \"0190a0a0-0000-7000-8000-00000000000g\"}"),
                        "invalid template_id: invalid UUID format");
    assert_int_equal(f->ncreates, 0);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
}

static void test_allowlist(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct template_row *other = fake_template(f, "other");
    fake_allow(f, other->id);
    assert_string_equal(fake_error(f, &tool_create_workspace, x->args),
                        "template not available for chat workspaces; use list_templates to find "
                        "allowed templates");
    assert_int_equal(f->ncreates, 0);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    /* Ids compare case-insensitively. */
    char upper[UUID_STR_LEN];
    str_copy(upper, sizeof upper, x->t->id);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    fake_allow(f, upper);
    fake_ok(f, &tool_create_workspace, x->args);
    assert_int_equal(f->ncreates, 1);
}

static void test_template_lookup_error(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    const char *id = "0190a0a0-0000-7000-8000-0000000000ff";
    char args[128];
    str_fmt(args, sizeof args, "{\"template_id\": \"%s\"}", id);
    assert_string_equal(fake_error(f, &tool_create_workspace, args),
                        "look up template: template 0190a0a0-0000-7000-8000-0000000000ff not "
                        "found");
    fake_fail(f, FAKE_TEMPLATE_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_create_workspace, x->args),
                        "look up template: database is locked");
    assert_int_equal(f->ncreates, 0);
}

/* ---- creating ---- */

/* A new workspace: created as the owner with the arguments; the chat is bound to it and its
 * build (no agent) and published; the build and the agent are waited for; the chat is published
 * again at the end. No TTL is set: the template's default applies (GlobalTTL's
 * ZeroTTLUsesTemplateDefault: berth has no chat-workspace TTL setting). */
static void test_creates(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    char args[256];
    str_fmt(args, sizeof args,
            "{\"template_id\": \"%s\", \"name\": \"box\", \"parameters\": {\"region\": \"eu\"}}",
            x->t->id);
    json_t *r = fake_ok(f, &tool_create_workspace, args);
    assert_int_equal(f->ncreates, 1);
    const struct fake_ws_call *c = &f->creates[0];
    assert_string_equal(c->owner_id, f->owner->id);
    assert_string_equal(c->name, "box");
    assert_string_equal(c->template_id, x->t->id);
    assert_string_equal(c->template_version_id, "");
    assert_false(c->has_ttl);
    assert_int_equal(c->nparams, 1);
    assert_string_equal(c->param_names[0], "region");
    assert_string_equal(c->param_values[0], "eu");

    fake_keys(r, "created", "workspace_name", "build_id", NULL);
    assert_true(fake_bool(r, "created"));
    assert_string_equal(fake_str(r, "workspace_name"), "testuser/box");
    assert_string_equal(fake_str(r, "build_id"), c->build_id);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, c->workspace_id, c->build_id);
    assert_string_equal(f->chats[0].workspace_id, c->workspace_id);
    assert_int_equal(f->nupdates, 2);
    assert_binding(&f->updates[0], f->chats[0].id, c->workspace_id, c->build_id);
    assert_binding(&f->updates[1], f->chats[0].id, c->workspace_id, c->build_id);
    assert_int_equal(f->ndials, 1);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 1);
}

/* Without a chat: created, nothing bound or published. */
static void test_creates_without_chat(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->call.chat_id = NULL;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_true(fake_bool(r, "created"));
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
}

/* The owner cannot be read: the bare name, not "/box". */
static void test_owner_unreadable(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    fake_fail(f, FAKE_USER_GET, ERR_INTERNAL, "database is locked");
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_true(fake_bool(r, "created"));
    assert_string_equal(fake_str(r, "workspace_name"), "box");
}

/* Whether name is prefix, "-" and four lower-case hex digits. */
static void assert_generated(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strlen(name) != n + 5 || strncmp(name, prefix, n) != 0 || name[n] != '-')
        fail_msg("name \"%s\" is not \"%s-xxxx\"", name, prefix);
    for (size_t i = n + 1; i < n + 5; i++)
        assert_non_null(strchr("0123456789abcdef", name[i]));
    assert_true(workspace_name_valid(name));
}

static void test_names(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->call.chat_id = NULL; /* each call makes a new workspace */
    fake_ok(f, &tool_create_workspace, named(x, "  box  "));
    assert_string_equal(f->creates[0].name, "box");
    /* None: from the template's name. */
    fake_ok(f, &tool_create_workspace, named(x, NULL));
    assert_generated(f->creates[1].name, "docker");
    fake_ok(f, &tool_create_workspace, named(x, "   "));
    assert_generated(f->creates[2].name, "docker");
    /* Invalid: from the name given, lower-cased, other characters as single hyphens. */
    fake_ok(f, &tool_create_workspace, named(x, "My Box!"));
    assert_generated(f->creates[3].name, "my-box");
    fake_ok(f, &tool_create_workspace, named(x, "--"));
    assert_generated(f->creates[4].name, "workspace");
    /* Cut to 27 characters, then trailing hyphens dropped. */
    fake_ok(f, &tool_create_workspace, named(x, "abcdefghijklmnopqrstuvwxyz-tail-and-more"));
    assert_generated(f->creates[5].name, "abcdefghijklmnopqrstuvwxyz");
    str_copy(x->t->name, sizeof x->t->name, "Docker Dev (GPU)");
    fake_ok(f, &tool_create_workspace, named(x, NULL));
    assert_generated(f->creates[6].name, "docker-dev-gpu");
    /* Two generated names differ. */
    assert_string_not_equal(f->creates[1].name, f->creates[2].name);
}

/* The create function's error is the answer as is (with its detail). */
static void test_create_errors(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    fake_fail(f, FAKE_CREATE, ERR_CONFLICT, "Workspace \"box\" already exists.");
    assert_string_equal(fake_error(f, &tool_create_workspace, named(x, "box")),
                        "Workspace \"box\" already exists.");
    err_detail(&f->fail[FAKE_CREATE].err, "Pick another name.");
    assert_string_equal(fake_error(f, &tool_create_workspace, named(x, "box")),
                        "Workspace \"box\" already exists.: Pick another name.");
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
}

/* TestCreateWorkspace_PostCreationBuildFailure: a build error with the build's id. */
static void test_post_creation_build_failure(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->new_job_status = JOB_FAILED;
    f->new_job_error = "terraform apply: exit status 1";
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "workspace build failed: terraform apply: exit status 1");
    assert_string_equal(fake_str(r, "build_id"), f->creates[0].build_id);
    assert_int_equal(f->nbinds, 1);
    assert_int_equal(f->nupdates, 1); /* the binding; no re-fire */
    assert_int_equal(f->ndials, 0);
}

/* TestWaitForBuild_CanceledJob. */
static void test_canceled_job(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->new_job_status = JOB_CANCELED;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"), "workspace build failed: build was canceled");
    assert_string_equal(fake_str(r, "build_id"), f->creates[0].build_id);
}

/* A build that never ends. */
static void test_build_deadline(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->new_job_status = JOB_PENDING;
    f->env.waits.build_timeout_ms = 50;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_string_equal(fake_str(r, "error"),
                        "workspace build failed: timed out waiting for workspace build: context "
                        "deadline exceeded");
}

/* TestCreateWorkspace_PrefersChatSuffixAgent. */
static void test_prefers_chat_agent(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    static const char *const agents[] = {"dev", "dev-berth-chat", NULL};
    f->new_agents = agents;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "created", "workspace_name", "build_id", NULL);
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, f->agents[1].row.id);
    assert_string_equal(f->agents[1].row.name, "dev-berth-chat");
}

/* TestCreateWorkspace_ReturnsSelectionErrorImmediately. */
static void test_selection_error(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    static const char *const agents[] = {"a-berth-chat", "b-berth-chat", NULL};
    f->new_agents = agents;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "test-selection-error"));
    fake_keys(r, "created", "workspace_name", "build_id", "agent_status", "agent_error", NULL);
    assert_true(fake_bool(r, "created"));
    assert_string_equal(fake_str(r, "workspace_name"), "testuser/test-selection-error");
    assert_string_equal(fake_str(r, "agent_status"), "selection_error");
    assert_string_equal(fake_str(r, "agent_error"),
                        "multiple agents match the chat suffix \"-berth-chat\": a-berth-chat, "
                        "b-berth-chat; only one agent should use this suffix");
    assert_int_equal(f->ndials, 0);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[0].id, f->creates[0].workspace_id,
                   f->creates[0].build_id);
}

static void test_no_agent(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->new_agents = NULL;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "created", "workspace_name", "build_id", "agent_status", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "no_agent");
    assert_int_equal(f->nupdates, 2);
}

/* The agents cannot be read: nothing is added (reference: "if the agent query fails, add
 * nothing"). */
static void test_agents_unreadable(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    fake_fail(f, FAKE_AGENTS_LATEST, ERR_INTERNAL, "database is locked");
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "created", "workspace_name", "build_id", NULL);
    assert_int_equal(f->ndials, 0);
}

static int refuse(struct fake *f, const char *agent_id, struct err *e)
{
    (void)f;
    (void)agent_id;
    return err_set(e, ERR_TIMEOUT, "agent did not connect");
}

/* The agents of the build the create function just made are still starting. */
static void starting_agents(struct fake *f, enum fake_fn fn, const char *key, void *arg)
{
    (void)key;
    (void)arg;
    if (fn != FAKE_CREATE || f->ncreates == 0 || !f->creates[f->ncreates - 1].build_id[0])
        return;
    for (size_t i = 0; i < f->nagents; i++)
        if (strcmp(f->agents[i].build_id, f->creates[f->ncreates - 1].build_id) == 0)
            f->agents[i].row.lifecycle = LIFECYCLE_STARTING;
}

/* The new agent never connects, or never finishes starting. */
static void test_agent_deadlines(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    f->call.chat_id = NULL;
    f->dial_handler = refuse;
    f->env.waits.dial_timeout_ms = 50;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    fake_keys(r, "created", "workspace_name", "build_id", "agent_status", "agent_error", NULL);
    assert_string_equal(fake_str(r, "agent_status"), "not_ready");
    assert_string_equal(fake_str(r, "agent_error"), "agent did not connect");

    f->dial_handler = NULL;
    f->env.waits.lifecycle_timeout_ms = 50;
    f->after = starting_agents;
    r = fake_ok(f, &tool_create_workspace, named(x, "box2"));
    fake_keys(r, "created", "workspace_name", "build_id", "startup_scripts", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_timeout");
}

/* ---- checkExistingWorkspace ---- */

/* The chat's workspace "dev" on the template with a latest build (t, s) and, when agent_status
 * is not -1, an agent in that state. */
static struct workspace_build *existing(struct fx *x, enum transition t, enum job_status s,
                                        int agent_status)
{
    struct fake *f = x->f;
    struct workspace *ws = fake_workspace(f, "dev", x->t->id);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, t, s);
    if (agent_status >= 0)
        fake_agent_status(f, fake_agent(f, b->id, "dev"), (enum agent_status)agent_status);
    return b;
}

static void assert_existing(const json_t *r, const char *status, const char *message)
{
    assert_false(fake_bool(r, "created"));
    assert_string_equal(fake_str(r, "workspace_name"), "dev");
    assert_string_equal(fake_str(r, "status"), status);
    assert_string_equal(fake_str(r, "message"), message);
}

/* TestCheckExistingWorkspace_ConnectedAgent: answered at once; no dial (lifecycle only); no
 * re-fire. */
static void test_existing_connected(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_CONNECTED);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "created", "workspace_name", "status", "message", NULL);
    assert_existing(r, "already_exists", "workspace is already running and recently connected");
    assert_int_equal(f->ncreates, 0);
    assert_int_equal(f->ndials, 0);
    assert_int_equal(f->calls[FAKE_AGENT_GET], 1);
    assert_int_equal(f->nbinds, 0);
    assert_int_equal(f->nupdates, 0);
}

/* The connected agent is still starting: the lifecycle is waited for. */
static void test_existing_connected_starting(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_CONNECTED);
    f->agents[0].row.lifecycle = LIFECYCLE_STARTING;
    fake_agent_after_reads(f, f->agents[0].row.id, 1, LIFECYCLE_START_ERROR);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "created", "workspace_name", "status", "message", "startup_scripts",
              "lifecycle_state", NULL);
    assert_string_equal(fake_str(r, "startup_scripts"), "startup_scripts_failed");
    assert_string_equal(fake_str(r, "lifecycle_state"), "start_error");
    assert_int_equal(f->ndials, 0);
}

/* …_ConnectingAgentWaits: one dial. */
static void test_existing_connecting(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_CONNECTING);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "created", "workspace_name", "status", "message", NULL);
    assert_existing(r, "already_exists", "workspace exists and the agent is still connecting");
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, f->agents[0].row.id);
    assert_int_equal(f->ncreates, 0);
}

/* …_DeadAgentAllowsCreation: disconnected and timed-out agents, and no agent at all. */
static void test_existing_dead_agent_allows_creation(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    const int dead[] = {AGENT_DISCONNECTED, AGENT_TIMEOUT, -1};
    for (size_t i = 0; i < 3; i++) {
        existing(x, TRANSITION_START, JOB_SUCCEEDED, dead[i]);
        json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
        assert_true(fake_bool(r, "created"));
        assert_int_equal(f->ncreates, i + 1);
    }
}

/* The chat agent decides, not the first agent. */
static void test_existing_chat_agent_decides(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_DISCONNECTED);
    fake_agent_status(f, fake_agent(f, b->id, "x-berth-chat"), AGENT_CONNECTED);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    assert_existing(r, "already_exists", "workspace is already running and recently connected");
    assert_int_equal(f->ncreates, 0);
}

/* …_InProgressBuildReturnsBuildID: the binding is published; the build's id is answered. */
static void test_existing_in_progress(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_RUNNING, AGENT_CONNECTING);
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "created", "workspace_name", "status", "message", "build_id", NULL);
    assert_existing(r, "already_exists", "workspace build completed");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->nbinds, 1);
    assert_binding(&f->binds[0], f->chats[1].id, b->workspace_id, b->id);
    assert_int_equal(f->nupdates, 1); /* done: no re-fire */
    assert_binding(&f->updates[0], f->chats[1].id, b->workspace_id, b->id);
    assert_int_equal(f->ndials, 1);
    assert_int_equal(f->ncreates, 0);
}

/* In progress, with two chat agents: the first agent is waited for. */
static void test_existing_in_progress_selection_error(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_PENDING, -1);
    struct workspace_agent *second = fake_agent(f, b->id, "b-berth-chat");
    second->display_order = 1;
    struct workspace_agent *first = fake_agent(f, b->id, "a-berth-chat");
    first->display_order = 0;
    fake_job_after_reads(f, b->job_id, 1, JOB_SUCCEEDED, NULL);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    assert_existing(r, "already_exists", "workspace build completed");
    assert_int_equal(f->ndials, 1);
    assert_string_equal(f->dials[0].agent_id, first->id);
}

/* …_InProgressBuildFailureReturnsBuildID. */
static void test_existing_in_progress_fails(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_RUNNING, -1);
    fake_job_after_reads(f, b->job_id, 1, JOB_FAILED, "terraform exploded");
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "error", "build_id", NULL);
    assert_string_equal(fake_str(r, "error"),
                        "existing workspace build failed: terraform exploded");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->ncreates, 0);
}

static void cancel_on_wait(struct fake *f, int64_t timeout_ms, void *arg)
{
    (void)f;
    (void)timeout_ms;
    tool_cancel_trigger(arg);
}

static void test_existing_in_progress_canceled(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    f->call.cancel = &cancel;
    f->on_wait = cancel_on_wait;
    f->on_wait_arg = &cancel;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_RUNNING, -1);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    assert_string_equal(fake_str(r, "error"),
                        "existing workspace build failed: timed out waiting for workspace build: "
                        "context canceled");
    assert_string_equal(fake_str(r, "build_id"), b->id);
    assert_int_equal(f->ncreates, 0);
    tool_cancel_destroy(&cancel);
}

/* …_StoppedWorkspace. */
static void test_existing_stopped(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_STOP, JOB_SUCCEEDED, -1);
    json_t *r = fake_ok(f, &tool_create_workspace, x->args);
    fake_keys(r, "created", "workspace_name", "status", "message", NULL);
    assert_existing(r, "stopped", "workspace is stopped; use start_workspace to start it");
    assert_int_equal(f->ncreates, 0);
    assert_int_equal(f->nupdates, 0);
}

/* …_DeletedWorkspace, failed or canceled builds, a workspace without builds: a new one. */
static void test_existing_allows_creation(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_CONNECTED);
    f->workspaces[0].deleted = true;
    fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_int_equal(f->ncreates, 1);
    /* The new workspace is bound to the chat. */
    assert_string_equal(f->chats[1].workspace_id, f->creates[0].workspace_id);

    existing(x, TRANSITION_START, JOB_FAILED, AGENT_CONNECTED);
    fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_int_equal(f->ncreates, 2);

    existing(x, TRANSITION_STOP, JOB_CANCELED, -1);
    fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_int_equal(f->ncreates, 3);

    struct workspace *ws = fake_workspace(f, "empty", x->t->id);
    fake_chat(f, ws->id);
    fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_int_equal(f->ncreates, 4);

    /* A workspace that no longer exists at all. */
    fake_chat(f, "0190a0a0-0000-7000-8000-0000000000ee");
    fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_int_equal(f->ncreates, 5);
}

static void test_existing_load_errors(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    existing(x, TRANSITION_START, JOB_SUCCEEDED, AGENT_CONNECTED);
    fake_fail(f, FAKE_CHAT_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_create_workspace, x->args),
                        "load chat: database is locked");
    f->fail[FAKE_CHAT_GET].on = false;
    fake_fail(f, FAKE_WORKSPACE_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(fake_error(f, &tool_create_workspace, x->args),
                        "load workspace: database is locked");
    assert_int_equal(f->ncreates, 0);
}

/* ---- the workspace lock ---- */

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

/* Held through the wait for an existing build and for a new one; released after, errors
 * included; not taken at all for argument errors. */
static void test_lock_held_through_waits(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct lock_probe p = {&mu, 0, 0};
    f->call.workspace_mu = &mu;
    f->on_wait = probe_lock;
    f->on_wait_arg = &p;
    struct workspace_build *b = existing(x, TRANSITION_START, JOB_RUNNING, -1);
    fake_job_after_reads(f, b->job_id, 2, JOB_SUCCEEDED, NULL); /* seen running twice */
    fake_ok(f, &tool_create_workspace, x->args);
    assert_int_equal(p.busy, 1);

    f->new_job_status = JOB_RUNNING;
    f->env.waits.build_timeout_ms = 10;
    f->call.chat_id = NULL;
    json_t *r = fake_ok(f, &tool_create_workspace, named(x, "box"));
    assert_string_equal(fake_str(r, "error"),
                        "workspace build failed: timed out waiting for workspace build: context "
                        "deadline exceeded");
    assert_int_equal(p.busy, 2);
    assert_int_equal(p.free_, 0);
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);

    fake_fail(f, FAKE_TEMPLATE_GET, ERR_INTERNAL, "database is locked");
    fake_error(f, &tool_create_workspace, x->args);
    assert_int_equal(pthread_mutex_trylock(&mu), 0);
    pthread_mutex_unlock(&mu);

    /* An argument error while another holds the lock: answered without waiting for it. */
    pthread_mutex_lock(&mu);
    assert_string_equal(fake_error(f, &tool_create_workspace, "{\"template_id\": \"abc\"}"),
                        "invalid template_id: invalid UUID length: 3");
    pthread_mutex_unlock(&mu);
    pthread_mutex_destroy(&mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_argument_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_id_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_lookup_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creates_without_chat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_creation_build_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canceled_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefers_chat_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_deadlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_connected_starting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_connecting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_dead_agent_allows_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_chat_agent_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_in_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_in_progress_selection_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_in_progress_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_in_progress_canceled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_allows_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_through_waits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
