/* Unit tests for process_output, process_list and process_signal (reference §3.6). */
#include "testing.h"

#include "fake.h"

#include "base/json.h"

#include <stdlib.h>
#include <string.h>

struct answer {
    const char *json;  /* the result; NULL: fail with error */
    const char *error; /* ERR_NOT_FOUND message */
};

static int agent(struct fake *f, const char *agent_id, const json_t *request, json_t **result,
                 struct err *e)
{
    struct answer *an = f->handler_arg;
    if (!an->json)
        return err_set(e, ERR_NOT_FOUND, "%s", an->error);
    *result = json_loads(an->json, 0, NULL);
    assert_non_null(*result);
    return 0;
}

struct fx {
    struct fake *f;
    struct workspace_agent *agent;
    struct answer answer;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    x->f = fake_new();
    x->agent = fake_running(x->f, "dev");
    x->f->handler = agent;
    x->f->handler_arg = &x->answer;
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

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *s = jsonx_dump(got);
        fail_msg("got %s, want %s", s, want);
    }
    json_decref(w);
}

static const json_t *last_request(struct fake *f)
{
    assert_true(f->nagent_calls > 0);
    assert_string_equal(f->agent_calls[f->nagent_calls - 1].agent_id, f->agents[0].row.id);
    return f->agent_calls[f->nagent_calls - 1].request;
}

static void test_output_arguments(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    assert_string_equal(fake_error(f, &tool_process_output, NULL), "process_id is required");
    assert_string_equal(fake_error(f, &tool_process_output, "{\"process_id\": \"\"}"),
                        "process_id is required");
    assert_string_equal(fake_error(f, &tool_process_output, "{\"process_id\": 4}"),
                        "invalid parameters: \"process_id\" must be a string");
    assert_string_equal(
        fake_error(f, &tool_process_output, "{\"process_id\": \"p\", \"wait_timeout\": \"soon\"}"),
        "invalid wait_timeout \"soon\": time: invalid duration \"soon\"");
    assert_string_equal(
        fake_error(f, &tool_process_output, "{\"process_id\": \"p\", \"wait_timeout\": \"5\"}"),
        "invalid wait_timeout \"5\": time: missing unit in duration \"5\"");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nagent_calls, 0);
}

static void test_output(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.json = "{\"process_id\": \"p1\", \"running\": true, \"exit_code\": null, "
                     "\"output\": \"booting\\n\", \"truncated\": false, \"duration_ms\": 900}";
    json_t *r = fake_ok(f, &tool_process_output, "{\"process_id\": \"p1\"}");
    assert_json(r, "{\"process_id\": \"p1\", \"running\": true, \"exit_code\": null, \"output\": "
                   "\"booting\\n\", \"truncated\": false, \"duration_ms\": 900, \"success\": "
                   "true, \"note\": \"process is still running\"}");
    assert_json(last_request(f),
                "{\"type\": \"process_output\", \"process_id\": \"p1\", \"wait_ms\": 10000}");
    assert_int_equal(f->agent_calls[0].timeout_ms, 10000 + TOOL_AGENT_CALL_MARGIN_MS);

    x->answer.json = "{\"process_id\": \"p1\", \"running\": false, \"exit_code\": 0, \"output\": "
                     "\"done\\n\", \"truncated\": false, \"duration_ms\": 1200}";
    r = fake_ok(f, &tool_process_output, "{\"process_id\": \"p1\", \"wait_timeout\": \"0s\"}");
    assert_json(r, "{\"process_id\": \"p1\", \"running\": false, \"exit_code\": 0, \"output\": "
                   "\"done\\n\", \"truncated\": false, \"duration_ms\": 1200, \"success\": true}");
    assert_json(last_request(f),
                "{\"type\": \"process_output\", \"process_id\": \"p1\", \"wait_ms\": 0}");
    assert_int_equal(f->agent_calls[1].timeout_ms, TOOL_AGENT_CALL_MARGIN_MS);

    x->answer.json = "{\"process_id\": \"p1\", \"running\": false, \"exit_code\": 2, \"output\": "
                     "\"\", \"truncated\": false, \"duration_ms\": 1}";
    r = fake_ok(f, &tool_process_output, "{\"process_id\": \"p1\", \"wait_timeout\": \"1h\"}");
    assert_false(fake_bool(r, "success"));
    assert_null(json_object_get(r, "note"));
    /* Waits are cut to what the agent allows; a negative one is a snapshot. */
    assert_json(last_request(f),
                "{\"type\": \"process_output\", \"process_id\": \"p1\", \"wait_ms\": 300000}");
    fake_ok(f, &tool_process_output, "{\"process_id\": \"p1\", \"wait_timeout\": \"-3s\"}");
    assert_json(last_request(f),
                "{\"type\": \"process_output\", \"process_id\": \"p1\", \"wait_ms\": 0}");
    fake_ok(f, &tool_process_output, "{\"process_id\": \"p1\", \"wait_timeout\": \"2.5s\"}");
    assert_json(last_request(f),
                "{\"type\": \"process_output\", \"process_id\": \"p1\", \"wait_ms\": 2500}");

    x->answer.json = NULL;
    x->answer.error = "process p9 not found";
    assert_string_equal(fake_error(f, &tool_process_output, "{\"process_id\": \"p9\"}"),
                        "get process output: process p9 not found");
}

static void test_list(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    const char *list = "{\"processes\": [{\"process_id\": \"p1\", \"command\": \"npm run dev\", "
                       "\"running\": true, \"exit_code\": null, \"started_at\": "
                       "\"2027-01-15T08:00:00.000000Z\", \"duration_ms\": 5}]}";
    x->answer.json = list;
    assert_json(fake_ok(f, &tool_process_list, NULL), list);
    assert_json(last_request(f), "{\"type\": \"process_list\"}");
    assert_int_equal(f->agent_calls[0].timeout_ms, TOOL_AGENT_CALL_MS);
    x->answer.json = "{\"processes\": []}";
    assert_json(fake_ok(f, &tool_process_list, "{}"), "{\"processes\": []}");

    x->answer.json = NULL;
    x->answer.error = "agent went away";
    assert_string_equal(fake_error(f, &tool_process_list, NULL), "list processes: agent went away");

    fake_chat(f, NULL);
    assert_string_equal(fake_error(f, &tool_process_list, NULL),
                        "no workspace is associated with this chat. Use the create_workspace "
                        "tool to create one");
}

static void test_signal(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    const char *bad = "signal must be \"terminate\" or \"kill\"";
    assert_string_equal(fake_error(f, &tool_process_signal, "{\"signal\": \"kill\"}"),
                        "process_id is required");
    assert_string_equal(fake_error(f, &tool_process_signal, "{\"process_id\": \"p1\"}"), bad);
    assert_string_equal(
        fake_error(f, &tool_process_signal, "{\"process_id\": \"p1\", \"signal\": \"SIGKILL\"}"),
        bad);
    assert_string_equal(
        fake_error(f, &tool_process_signal, "{\"process_id\": \"p1\", \"signal\": \"Kill\"}"), bad);
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    x->answer.json = "{\"process_id\": \"p1\", \"signal\": \"kill\", \"sent\": true}";
    assert_json(fake_ok(f, &tool_process_signal, "{\"process_id\": \"p1\", \"signal\": \"kill\"}"),
                "{\"success\": true, \"message\": \"signal \\\"kill\\\" sent to process p1\"}");
    assert_json(last_request(f),
                "{\"type\": \"process_signal\", \"process_id\": \"p1\", \"signal\": \"kill\"}");
    assert_json(
        fake_ok(f, &tool_process_signal, "{\"process_id\": \"p2\", \"signal\": \"terminate\"}"),
        "{\"success\": true, \"message\": \"signal \\\"terminate\\\" sent to process p2\"}");

    x->answer.json = NULL;
    x->answer.error = "process p3 not found";
    assert_string_equal(
        fake_error(f, &tool_process_signal, "{\"process_id\": \"p3\", \"signal\": \"kill\"}"),
        "signal process: process p3 not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
