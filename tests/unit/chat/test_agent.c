/* Unit tests for chat/agent.c: which agent the exec and file tools use (the bound one while it is
 * the latest build's, else the chat agent of the latest build, remembered), the refusals, and
 * how agent errors read. */
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

/* Resolves the chat's agent; returns the text error or NULL (then id holds the agent). */
static const char *resolve(struct fake *f, char id[UUID_STR_LEN])
{
    assert_true(f->nanswers < FAKE_RECORD_MAX);
    struct tool_answer *a = &f->answers[f->nanswers++];
    memset(a, 0, sizeof *a);
    int rc = tool_chat_agent(&f->env, &f->call, id, a);
    assert_int_equal(rc, a->is_error ? -1 : 0);
    if (rc == 0)
        assert_int_equal(strlen(id), UUID_STR_LEN - 1);
    else
        assert_string_equal(id, "");
    return rc < 0 ? a->text : NULL;
}

static const char no_workspace[] =
    "no workspace is associated with this chat. Use the create_workspace tool to create one";
static const char no_agent[] = "workspace has no running agent: the workspace is likely stopped. "
                               "Use the start_workspace tool to start it";
static const char disconnected[] =
    "workspace agent is disconnected and cannot execute tools. Stop and then start the "
    "workspace with the stop_workspace and start_workspace tools";

static void test_no_workspace(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    f->call.chat_id = NULL;
    assert_string_equal(resolve(f, id), no_workspace);
    f->call.chat_id = "";
    assert_string_equal(resolve(f, id), no_workspace);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    fake_chat(f, NULL);
    assert_string_equal(resolve(f, id), no_workspace);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 1);
    assert_int_equal(f->calls[FAKE_AGENTS_LATEST], 0);
}

static void test_load_chat_error(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    fake_running(f, "dev");
    fake_fail(f, FAKE_CHAT_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(resolve(f, id), "load chat: database is locked");

    f->call.chat_id = "0190a0a0-0000-7000-8000-000000000000";
    f->fail[FAKE_CHAT_GET].on = false;
    assert_string_equal(resolve(f, id),
                        "load chat: chat 0190a0a0-0000-7000-8000-000000000000 not found");
}

static void test_selects_and_remembers(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *dev = fake_running(f, "dev");
    struct workspace_build *b = fake_latest_build(f, f->chats[0].workspace_id);
    struct workspace_agent *chat_agent = fake_agent(f, b->id, "dev-Berth-Chat");
    dev->display_order = 0;
    chat_agent->display_order = 5;

    assert_null(resolve(f, id));
    assert_string_equal(id, chat_agent->id);
    assert_int_equal(f->nbind_agents, 1);
    assert_string_equal(f->bind_agents[0].chat_id, f->chats[0].id);
    assert_string_equal(f->bind_agents[0].build_id, b->id);
    assert_string_equal(f->bind_agents[0].agent_id, chat_agent->id);
    assert_string_equal(f->chats[0].agent_id, chat_agent->id);
    assert_string_equal(f->chats[0].build_id, b->id);

    /* Next time the binding is used as is: no selection, no new binding. */
    int listed = f->calls[FAKE_AGENTS_LATEST];
    assert_null(resolve(f, id));
    assert_string_equal(id, chat_agent->id);
    assert_int_equal(f->calls[FAKE_AGENTS_LATEST], listed);
    assert_int_equal(f->nbind_agents, 1);
    assert_int_equal(f->nbinds, 0);
}

static void test_first_agent_without_suffix(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    fake_running(f, "beta");
    struct workspace_agent *alpha =
        fake_agent(f, fake_latest_build(f, f->chats[0].workspace_id)->id, "alpha");
    assert_null(resolve(f, id));
    assert_string_equal(id, alpha->id); /* same display order: by name */
}

/* The workspace was stopped and started outside the tools: the bound agent belongs to an old
 * build, so the new build's agent is chosen and remembered (reference #28152). */
static void test_stale_binding_after_restart(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *old = fake_running(f, "dev");
    struct chat *c = &f->chats[0];
    struct workspace_build *first = fake_latest_build(f, c->workspace_id);
    str_copy(c->build_id, sizeof c->build_id, first->id);
    str_copy(c->agent_id, sizeof c->agent_id, old->id);
    fake_build(f, c->workspace_id, TRANSITION_STOP, JOB_SUCCEEDED);
    struct workspace_build *restart =
        fake_build(f, c->workspace_id, TRANSITION_START, JOB_SUCCEEDED);
    struct workspace_agent *fresh = fake_agent(f, restart->id, "dev");

    assert_null(resolve(f, id));
    assert_string_equal(id, fresh->id);
    assert_int_equal(f->nbind_agents, 1);
    assert_string_equal(f->bind_agents[0].build_id, restart->id);
    assert_string_equal(f->bind_agents[0].agent_id, fresh->id);
}

static void test_bound_agent_gone(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *a = fake_running(f, "dev");
    str_copy(f->chats[0].agent_id, sizeof f->chats[0].agent_id,
             "0190a0a0-0000-7000-8000-000000000000");
    assert_null(resolve(f, id));
    assert_string_equal(id, a->id);
    assert_int_equal(f->nbind_agents, 1);
    assert_string_equal(f->chats[0].agent_id, a->id);
}

/* When the latest build cannot be read the binding cannot be trusted: choose again. */
static void test_bound_agent_unverifiable(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *a = fake_running(f, "dev");
    str_copy(f->chats[0].agent_id, sizeof f->chats[0].agent_id, a->id);
    fake_fail(f, FAKE_BUILD_LATEST, ERR_INTERNAL, "boom");
    assert_null(resolve(f, id));
    assert_string_equal(id, a->id);
    assert_int_equal(f->calls[FAKE_AGENTS_LATEST], 1);
}

static void test_stopped_workspace(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *a = fake_running(f, "dev");
    str_copy(f->chats[0].agent_id, sizeof f->chats[0].agent_id, a->id);
    fake_build(f, f->chats[0].workspace_id, TRANSITION_STOP, JOB_SUCCEEDED);
    assert_string_equal(resolve(f, id), no_agent);
    assert_int_equal(f->nbind_agents, 0);

    /* A workspace that never had a build. */
    struct workspace *ws = fake_workspace(f, "empty", NULL);
    fake_chat(f, ws->id);
    assert_string_equal(resolve(f, id), no_agent);
}

static void test_selection_error(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    fake_running(f, "a-berth-chat");
    fake_agent(f, fake_latest_build(f, f->chats[0].workspace_id)->id, "b-berth-chat");
    const char *text = resolve(f, id);
    assert_true(str_has_prefix(
        text, "find chat agent: multiple agents match the chat suffix \"-berth-chat\": "));
    assert_non_null(strstr(text, "a-berth-chat"));
    assert_non_null(strstr(text, "b-berth-chat"));
    assert_int_equal(f->nbind_agents, 0);
}

static void test_list_error(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    fake_running(f, "dev");
    fake_fail(f, FAKE_AGENTS_LATEST, ERR_INTERNAL, "disk I/O error");
    const char *text = resolve(f, id);
    assert_true(str_has_prefix(text, "find chat agent: "));
    assert_non_null(strstr(text, "disk I/O error"));
}

static void test_bind_error_ignored(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *a = fake_running(f, "dev");
    fake_fail(f, FAKE_CHAT_BIND_AGENT, ERR_INTERNAL, "database is locked");
    assert_null(resolve(f, id));
    assert_string_equal(id, a->id);
    assert_int_equal(f->calls[FAKE_CHAT_BIND_AGENT], 1);

    fake_fail(f, FAKE_AGENT_BUILD, ERR_INTERNAL, "database is locked");
    assert_null(resolve(f, id));
    assert_string_equal(id, a->id);
}

static void test_agent_status(void **state)
{
    struct fake *f = *state;
    char id[UUID_STR_LEN];
    struct workspace_agent *a = fake_running(f, "dev");

    fake_agent_status(f, a, AGENT_DISCONNECTED);
    assert_string_equal(resolve(f, id), disconnected);
    /* The agent was still remembered: it is the right one, only not reachable. */
    assert_int_equal(f->nbind_agents, 1);
    assert_string_equal(f->bind_agents[0].agent_id, a->id);

    fake_agent_status(f, a, AGENT_TIMEOUT);
    assert_string_equal(resolve(f, id), disconnected);

    fake_agent_status(f, a, AGENT_CONNECTING);
    assert_string_equal(resolve(f, id),
                        "workspace agent is not connected yet; use start_workspace to wait for it");

    /* Silent for longer than the inactivity window: disconnected. */
    fake_agent_status(f, a, AGENT_CONNECTED);
    f->now_us += AGENT_INACTIVE_TIMEOUT_US + 1;
    assert_string_equal(resolve(f, id), disconnected);

    fake_agent_status(f, a, AGENT_CONNECTED);
    assert_null(resolve(f, id));
    assert_string_equal(id, a->id);
}

static int echo_error(struct fake *f, const char *agent_id, const json_t *request, json_t **result,
                      struct err *e)
{
    const char *kind = json_string_value(json_object_get(request, "kind"));
    if (strcmp(kind, "plain") == 0)
        return err_set(e, ERR_NOT_FOUND, "process p1 not found");
    if (strcmp(kind, "detail") == 0) {
        err_set(e, ERR_BAD_REQUEST, "cannot read");
        return err_detail(e, "permission denied");
    }
    err_set(e, ERR_BAD_REQUEST, "Validation failed.");
    err_add_validation(e, "offset", "must be at least 1");
    err_add_validation(e, "limit", "must be between 1 and 10000");
    return -1;
}

static void test_agent_request(void **state)
{
    struct fake *f = *state;
    f->handler = echo_error;
    struct tool_answer a = {0};
    json_t *r = json_true(), *req = json_pack("{s:s}", "kind", "plain");
    assert_int_equal(tool_agent_request(&f->env, "agent-1", req, 1234, NULL, NULL, &r, &a), -1);
    assert_null(r);
    assert_string_equal(a.text, "process p1 not found");
    assert_int_equal(
        tool_agent_request(&f->env, "agent-1", req, 1234, NULL, "get process output", &r, &a), -1);
    assert_string_equal(a.text, "get process output: process p1 not found");
    assert_string_equal(f->agent_calls[0].agent_id, "agent-1");
    assert_int_equal(f->agent_calls[0].timeout_ms, 1234);
    assert_true(json_equal(f->agent_calls[0].request, req));
    json_decref(req);

    req = json_pack("{s:s}", "kind", "detail");
    assert_int_equal(tool_agent_request(&f->env, "agent-1", req, 1, NULL, NULL, &r, &a), -1);
    assert_string_equal(a.text, "cannot read: permission denied");
    json_decref(req);

    req = json_pack("{s:s}", "kind", "validation");
    assert_int_equal(tool_agent_request(&f->env, "agent-1", req, 1, NULL, NULL, &r, &a), -1);
    assert_string_equal(a.text, "Validation failed.\n- offset: must be at least 1\n- limit: must "
                                "be between 1 and 10000");
    json_decref(req);

    f->handler = NULL;
    req = json_pack("{s:s}", "kind", "none");
    tool_answer_clear(&a);
    assert_int_equal(tool_agent_request(&f->env, "agent-1", req, 1, NULL, NULL, &r, &a), 0);
    assert_true(json_is_object(r));
    assert_false(a.is_error);
    json_decref(r);
    json_decref(req);
    tool_answer_clear(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_chat_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selects_and_remembers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_agent_without_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_binding_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_agent_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_agent_unverifiable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_error_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
