/* Unit tests for execute (reference §3.6): argument checks before the agent, the request sent,
 * foreground and background answers, time-outs, the trailing "&", and the file-dump note. */
#include "testing.h"

#include "fake.h"

#include "base/json.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* What the fake agent answers, and how long the answer takes on the fake clock. */
struct answer {
    const char *json;  /* the result; NULL: fail with message */
    const char *error; /* the failure message */
    int64_t took_ms;
};

static int agent(struct fake *f, const char *agent_id, const json_t *request, json_t **result,
                 struct err *e)
{
    struct answer *an = f->handler_arg;
    f->mono_us += an->took_ms * 1000;
    if (!an->json)
        return err_set(e, ERR_UNAVAILABLE, "%s", an->error);
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
    x->answer = (struct answer){
        "{\"exit_code\": 0, \"output\": \"hi\\n\", \"truncated\": false, \"duration_ms\": 3, "
        "\"timed_out\": false}",
        NULL, 0};
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

/* The last request sent to the agent, compared with want (JSON text). */
static void assert_request(struct fake *f, const char *want)
{
    assert_true(f->nagent_calls > 0);
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    const json_t *got = f->agent_calls[f->nagent_calls - 1].request;
    if (!json_equal(got, w)) {
        char *s = jsonx_dump(got);
        fail_msg("request %s, want %s", s, want);
    }
    json_decref(w);
}

static void test_argument_errors(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    assert_string_equal(fake_error(f, &tool_execute, NULL), "command is required");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"\"}"), "command is required");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \" & \"}"),
                        "command is required");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": [\"ls\"]}"),
                        "invalid parameters: \"command\" must be a string");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\", \"timeout\": 30}"),
                        "invalid parameters: \"timeout\" must be a string");
    assert_string_equal(
        fake_error(f, &tool_execute, "{\"command\": \"ls\", \"run_in_background\": \"yes\"}"),
        "invalid parameters: \"run_in_background\" must be a boolean");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\", \"timeout\": \"abc\"}"),
                        "invalid timeout \"abc\": time: invalid duration \"abc\"");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\", \"timeout\": \"30\"}"),
                        "invalid timeout \"30\": time: missing unit in duration \"30\"");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\", \"timeout\": \"0s\"}"),
                        "timeout must be positive, got \"0s\"");
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\", \"timeout\": \"-1m\"}"),
                        "timeout must be positive, got \"-1m\"");
    /* Arguments are checked before the agent is looked for. */
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);
    assert_int_equal(f->nagent_calls, 0);
}

static void test_no_agent(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    fake_chat(f, NULL);
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\"}"),
                        "no workspace is associated with this chat. Use the create_workspace "
                        "tool to create one");
    fake_agent_status(f, x->agent, AGENT_DISCONNECTED);
    f->call.chat_id = f->chats[0].id;
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\"}"),
                        "workspace agent is disconnected and cannot execute tools. Stop and then "
                        "start the workspace with the stop_workspace and start_workspace tools");
    assert_int_equal(f->nagent_calls, 0);
}

static void test_foreground(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.took_ms = 1234;
    json_t *r = fake_ok(f, &tool_execute, "{\"command\": \"echo hi\"}");
    fake_keys(r, "success", "output", "exit_code", "wall_duration_ms", NULL);
    assert_true(fake_bool(r, "success"));
    assert_string_equal(fake_str(r, "output"), "hi\n");
    assert_int_equal(fake_int(r, "exit_code"), 0);
    assert_int_equal(fake_int(r, "wall_duration_ms"), 1234);
    assert_int_equal(f->nagent_calls, 1);
    assert_string_equal(f->agent_calls[0].agent_id, x->agent->id);
    assert_request(f, "{\"type\": \"exec\", \"command\": \"echo hi\", \"timeout_ms\": 10000}");
    assert_int_equal(f->agent_calls[0].timeout_ms, 10000 + TOOL_AGENT_CALL_MARGIN_MS);

    /* A failing command; an empty output is still there; workdir and timeout go along. */
    x->answer.json = "{\"exit_code\": 3, \"output\": \"\", \"truncated\": false, \"duration_ms\": "
                     "3, \"timed_out\": false}";
    r = fake_ok(f, &tool_execute,
                "{\"command\": \"make\", \"timeout\": \"1m30s\", \"workdir\": \"src\"}");
    fake_keys(r, "success", "output", "exit_code", "wall_duration_ms", NULL);
    assert_false(fake_bool(r, "success"));
    assert_int_equal(fake_int(r, "exit_code"), 3);
    assert_string_equal(fake_str(r, "output"), "");
    assert_request(
        f,
        "{\"type\": \"exec\", \"command\": \"make\", \"workdir\": \"src\", \"timeout_ms\": 90000}");
    assert_int_equal(f->agent_calls[1].timeout_ms, 90000 + TOOL_AGENT_CALL_MARGIN_MS);

    /* Longer than the agent allows: cut to an hour. */
    fake_ok(f, &tool_execute, "{\"command\": \"make\", \"timeout\": \"2h\"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"make\", \"timeout_ms\": 3600000}");
}

static void test_truncated_and_timed_out(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.json = "{\"exit_code\": 0, \"output\": \"lots\", \"truncated\": true, "
                     "\"duration_ms\": 3, \"timed_out\": false}";
    json_t *r = fake_ok(f, &tool_execute, "{\"command\": \"yes\"}");
    fake_keys(r, "success", "output", "exit_code", "wall_duration_ms", "truncated", NULL);
    assert_true(fake_bool(r, "truncated"));

    x->answer.json = "{\"exit_code\": -1, \"output\": \"partial\", \"truncated\": false, "
                     "\"duration_ms\": 5000, \"timed_out\": true}";
    r = fake_ok(f, &tool_execute, "{\"command\": \"sleep 60\", \"timeout\": \"5s\"}");
    fake_keys(r, "success", "output", "exit_code", "wall_duration_ms", "error", NULL);
    assert_false(fake_bool(r, "success"));
    assert_int_equal(fake_int(r, "exit_code"), -1);
    assert_string_equal(fake_str(r, "output"), "partial");
    assert_string_equal(fake_str(r, "error"), "command timed out after 5s");

    r = fake_ok(f, &tool_execute, "{\"command\": \"sleep 600\", \"timeout\": \"90s\"}");
    assert_string_equal(fake_str(r, "error"), "command timed out after 1m30s");
    r = fake_ok(f, &tool_execute, "{\"command\": \"sleep 1\", \"timeout\": \"1500ms\"}");
    assert_string_equal(fake_str(r, "error"), "command timed out after 1.5s");
}

static void test_background(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.json = "{\"process_id\": \"p-42\"}";
    x->answer.took_ms = 7;
    /* The time-out is ignored in the background, even an invalid one. */
    json_t *r = fake_ok(f, &tool_execute,
                        "{\"command\": \"npm run dev\", \"run_in_background\": true, \"timeout\": "
                        "\"whenever\", \"workdir\": \"/app\"}");
    fake_keys(r, "success", "exit_code", "wall_duration_ms", "background_process_id", NULL);
    assert_true(fake_bool(r, "success"));
    assert_int_equal(fake_int(r, "exit_code"), 0);
    assert_int_equal(fake_int(r, "wall_duration_ms"), 7);
    assert_string_equal(fake_str(r, "background_process_id"), "p-42");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"npm run dev\", \"workdir\": \"/app\", "
                      "\"background\": true}");
    assert_int_equal(f->agent_calls[0].timeout_ms, TOOL_AGENT_CALL_MS);

    /* run_in_background false is the foreground. */
    x->answer.json = "{\"exit_code\": 0, \"output\": \"\", \"timed_out\": false}";
    fake_ok(f, &tool_execute, "{\"command\": \"true\", \"run_in_background\": false}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"true\", \"timeout_ms\": 10000}");
}

static void test_trailing_ampersand(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.json = "{\"process_id\": \"p-1\"}";
    fake_ok(f, &tool_execute, "{\"command\": \"  python -m http.server 8000 &  \"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"python -m http.server 8000\", "
                      "\"background\": true}");
    /* The time-out of a command that turned out to be backgrounded is ignored too. */
    fake_ok(f, &tool_execute, "{\"command\": \"sleep 9&\", \"timeout\": \"bad\"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"sleep 9\", \"background\": true}");

    x->answer.json = "{\"exit_code\": 0, \"output\": \"\", \"timed_out\": false}";
    fake_ok(f, &tool_execute, "{\"command\": \"make &&\"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"make &&\", \"timeout_ms\": 10000}");
    fake_ok(f, &tool_execute, "{\"command\": \"make |&\"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"make |&\", \"timeout_ms\": 10000}");
    fake_ok(f, &tool_execute, "{\"command\": \"a & b\"}");
    assert_request(f, "{\"type\": \"exec\", \"command\": \"a & b\", \"timeout_ms\": 10000}");
}

static bool has_note(struct fake *f, const char *command)
{
    json_t *args = json_pack("{s:s}", "command", command);
    char *text = jsonx_dump(args);
    json_t *r = fake_ok(f, &tool_execute, text);
    free(text);
    json_decref(args);
    json_t *note = json_object_get(r, "note");
    if (note)
        assert_string_equal(json_string_value(note),
                            "Consider using read_file instead of dumping file contents with shell "
                            "commands.");
    return note != NULL;
}

static void test_file_dump_note(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    assert_true(has_note(f, "cat main.c"));
    assert_true(has_note(f, "cat\tmain.c | head"));
    assert_true(has_note(f, "grep -l TODO src/*.c"));
    assert_true(has_note(f, "rg -l TODO"));
    assert_true(has_note(f, "rg --include-all foo"));
    assert_true(has_note(f, "grep -r foo . --include-all"));

    assert_false(has_note(f, "cat"));
    assert_false(has_note(f, "catalog list"));
    assert_false(has_note(f, " cat main.c"));
    assert_false(has_note(f, "ls; cat main.c"));
    assert_false(has_note(f, "grep -rn foo ."));
    assert_false(has_note(f, "grep -li foo ."));
    assert_false(has_note(f, "rg foo -l"));
    assert_false(has_note(f, "rgrep -l foo"));
    assert_false(has_note(f, "rg foo\n--include-all"));
    assert_false(has_note(f, "echo rg --include-all"));

    /* Only foreground runs get the note. */
    x->answer.json = "{\"process_id\": \"p-1\"}";
    json_t *r = fake_ok(f, &tool_execute,
                        "{\"command\": \"cat big.log\", \"run_in_background\": "
                        "true}");
    assert_null(json_object_get(r, "note"));
}

static void test_agent_error(void **state)
{
    struct fx *x = *state;
    struct fake *f = x->f;
    x->answer.json = NULL;
    x->answer.error = "workspace agent is not connected";
    assert_string_equal(fake_error(f, &tool_execute, "{\"command\": \"ls\"}"),
                        "workspace agent is not connected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_argument_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreground, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_timed_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_ampersand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_dump_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
