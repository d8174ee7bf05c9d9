/* Unit tests for read_file (files and directory listings), write_file and edit_files (reference
 * §3.6). */
#include "testing.h"

#include "fake.h"

#include "base/json.h"

#include <stdlib.h>
#include <string.h>

static int agent(struct fake *f, const char *agent_id, const json_t *request, json_t **result,
                 struct err *e)
{
    const char *answer = f->handler_arg;
    if (!answer) {
        err_set(e, ERR_BAD_REQUEST, "Validation failed.");
        err_add_validation(e, "files[0].edits", "must not be empty");
        return -1;
    }
    *result = json_loads(answer, 0, NULL);
    assert_non_null(*result);
    return 0;
}

static int setup(void **state)
{
    struct fake *f = fake_new();
    fake_running(f, "dev");
    f->handler = agent;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_free(*state);
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
    assert_int_equal(f->agent_calls[f->nagent_calls - 1].timeout_ms, TOOL_AGENT_CALL_MS);
    return f->agent_calls[f->nagent_calls - 1].request;
}

static void test_read_file(void **state)
{
    struct fake *f = *state;
    assert_string_equal(fake_error(f, &tool_read_file, NULL), "path is required");
    assert_string_equal(fake_error(f, &tool_read_file, "{\"path\": \"\"}"), "path is required");
    assert_string_equal(fake_error(f, &tool_read_file, "{\"path\": \"a\", \"offset\": \"2\"}"),
                        "invalid parameters: \"offset\" must be an integer");
    assert_string_equal(fake_error(f, &tool_read_file, "{\"path\": \"a\", \"limit\": 0.5}"),
                        "invalid parameters: \"limit\" must be an integer");
    /* Values the schema rules out are refused before the agent is asked. */
    assert_string_equal(fake_error(f, &tool_read_file, "{\"path\": \"a\", \"offset\": 0}"),
                        "offset must be at least 1, got 0");
    assert_string_equal(fake_error(f, &tool_read_file, "{\"path\": \"a\", \"limit\": 10001}"),
                        "limit must be between 1 and 10000, got 10001");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    f->handler_arg = "{\"path\": \"/home/testuser/a.txt\", \"content\": \"one\\ntwo\\n\", "
                     "\"file_size\": 8, \"total_lines\": 2, \"lines_read\": 2, \"truncated\": "
                     "false}";
    assert_json(fake_ok(f, &tool_read_file, "{\"path\": \"a.txt\"}"),
                "{\"content\": \"one\\ntwo\\n\", \"file_size\": 8, \"total_lines\": 2, "
                "\"lines_read\": 2}");
    assert_json(last_request(f), "{\"type\": \"read_file\", \"path\": \"a.txt\", \"offset\": 1, "
                                 "\"limit\": 2000}");
    fake_ok(f, &tool_read_file, "{\"path\": \"/etc/hosts\", \"offset\": 10, \"limit\": 5}");
    assert_json(last_request(f), "{\"type\": \"read_file\", \"path\": \"/etc/hosts\", "
                                 "\"offset\": 10, \"limit\": 5}");

    /* Content cut by the agent is flagged. */
    f->handler_arg = "{\"path\": \"/big\", \"content\": \"x\", \"file_size\": 300000, "
                     "\"total_lines\": 1, \"lines_read\": 1, \"truncated\": true}";
    assert_json(fake_ok(f, &tool_read_file, "{\"path\": \"/big\"}"),
                "{\"content\": \"x\", \"file_size\": 300000, \"total_lines\": 1, \"lines_read\": "
                "1, \"truncated\": true}");
}

static const char listing[] =
    "{\"path\": \"/src\", \"is_directory\": true, \"entries\": [{\"name\": \"lib\", \"is_dir\": "
    "true, \"size\": 0}, {\"name\": \"main.c\", \"is_dir\": false, \"size\": 120}, {\"name\": "
    "\"util.c\", \"is_dir\": false, \"size\": 80}], \"total_entries\": 3, \"truncated\": false}";

static void test_read_directory(void **state)
{
    struct fake *f = *state;
    f->handler_arg = (void *)(uintptr_t)listing;
    json_t *r = fake_ok(f, &tool_read_file, "{\"path\": \"/src\"}");
    assert_json(r,
                "{\"is_directory\": true, \"content\": \"1\\tlib/\\n2\\tmain.c\\n3\\tutil.c\\n\", "
                "\"entries\": [{\"name\": \"lib\", \"is_dir\": true, \"size\": 0}, {\"name\": "
                "\"main.c\", \"is_dir\": false, \"size\": 120}, {\"name\": \"util.c\", "
                "\"is_dir\": false, \"size\": 80}], \"entries_read\": 3, \"total_entries\": 3, "
                "\"truncated\": false}");

    /* offset and limit page through the entries as through lines. */
    r = fake_ok(f, &tool_read_file, "{\"path\": \"/src\", \"offset\": 2, \"limit\": 1}");
    assert_json(r, "{\"is_directory\": true, \"content\": \"2\\tmain.c\\n\", \"entries\": "
                   "[{\"name\": \"main.c\", \"is_dir\": false, \"size\": 120}], \"entries_read\": "
                   "1, \"total_entries\": 3, \"truncated\": true}");
    r = fake_ok(f, &tool_read_file, "{\"path\": \"/src\", \"offset\": 3}");
    assert_string_equal(fake_str(r, "content"), "3\tutil.c\n");
    assert_false(fake_bool(r, "truncated"));
    r = fake_ok(f, &tool_read_file, "{\"path\": \"/src\", \"offset\": 9}");
    assert_string_equal(fake_str(r, "content"), "");
    assert_int_equal(fake_int(r, "entries_read"), 0);
    assert_int_equal(json_array_size(json_object_get(r, "entries")), 0);

    /* The agent listed only some of the entries. */
    f->handler_arg = "{\"path\": \"/huge\", \"is_directory\": true, \"entries\": [{\"name\": "
                     "\"a\", \"is_dir\": false, \"size\": 1}], \"total_entries\": 5000, "
                     "\"truncated\": true}";
    r = fake_ok(f, &tool_read_file, "{\"path\": \"/huge\"}");
    assert_int_equal(fake_int(r, "entries_read"), 1);
    assert_int_equal(fake_int(r, "total_entries"), 5000);
    assert_true(fake_bool(r, "truncated"));

    /* Empty directory. */
    f->handler_arg = "{\"path\": \"/e\", \"is_directory\": true, \"entries\": [], "
                     "\"total_entries\": 0, \"truncated\": false}";
    assert_json(fake_ok(f, &tool_read_file, "{\"path\": \"/e\"}"),
                "{\"is_directory\": true, \"content\": \"\", \"entries\": [], \"entries_read\": 0, "
                "\"total_entries\": 0, \"truncated\": false}");
}

static void test_write_file(void **state)
{
    struct fake *f = *state;
    assert_string_equal(fake_error(f, &tool_write_file, "{\"content\": \"x\"}"),
                        "path is required");
    assert_string_equal(fake_error(f, &tool_write_file, "{\"path\": \"a\", \"content\": 1}"),
                        "invalid parameters: \"content\" must be a string");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    f->handler_arg = "{\"path\": \"/home/testuser/a.txt\", \"bytes_written\": 6}";
    assert_json(fake_ok(f, &tool_write_file, "{\"path\": \"a.txt\", \"content\": \"hello\\n\"}"),
                "{\"ok\": true}");
    assert_json(last_request(f),
                "{\"type\": \"write_file\", \"path\": \"a.txt\", \"content\": \"hello\\n\"}");
    /* Content is required (as the schema says); an empty string writes an empty file. */
    assert_string_equal(fake_error(f, &tool_write_file, "{\"path\": \"empty\"}"),
                        "content is required (an empty string writes an empty file)");
    fake_ok(f, &tool_write_file, "{\"path\": \"empty\", \"content\": \"\"}");
    assert_json(last_request(f),
                "{\"type\": \"write_file\", \"path\": \"empty\", \"content\": \"\"}");

    fake_fail(f, FAKE_CALL, ERR_BAD_REQUEST, "/home/testuser is a directory");
    assert_string_equal(fake_error(f, &tool_write_file, "{\"path\": \".\", \"content\": \"\"}"),
                        "/home/testuser is a directory");
}

static void test_edit_files(void **state)
{
    struct fake *f = *state;
    assert_string_equal(fake_error(f, &tool_edit_files, NULL), "files is required");
    assert_string_equal(fake_error(f, &tool_edit_files, "{\"files\": []}"), "files is required");
    assert_string_equal(fake_error(f, &tool_edit_files, "{\"files\": null}"), "files is required");
    assert_string_equal(fake_error(f, &tool_edit_files, "{\"files\": \"a.c\"}"),
                        "invalid parameters: \"files\" must be an array");
    assert_int_equal(f->calls[FAKE_CHAT_GET], 0);

    const char *files = "[{\"path\": \"a.c\", \"edits\": [{\"search\": \"int x\", \"replace\": "
                        "\"long x\"}, {\"search\": \"f(\", \"replace\": \"g(\", \"replace_all\": "
                        "true}]}, {\"path\": \"b.c\", \"edits\": [{\"search\": \"1\", "
                        "\"replace\": \"2\"}]}]";
    char args[512];
    snprintf(args, sizeof args, "{\"files\": %s}", files);
    f->handler_arg = "{\"files\": [{\"path\": \"/a.c\", \"edits_applied\": 2}, {\"path\": "
                     "\"/b.c\", \"edits_applied\": 1}]}";
    assert_json(fake_ok(f, &tool_edit_files, args), "{\"ok\": true}");
    char want[600];
    snprintf(want, sizeof want, "{\"type\": \"edit_files\", \"files\": %s}", files);
    assert_json(last_request(f), want);

    /* The agent names the bad edit; nothing was applied. */
    f->handler_arg = NULL;
    assert_string_equal(
        fake_error(f, &tool_edit_files, "{\"files\": [{\"path\": \"a.c\", \"edits\": []}]}"),
        "Validation failed.\n- files[0].edits: must not be empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
