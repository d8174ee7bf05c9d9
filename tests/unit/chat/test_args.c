/* Unit tests for chat/args.c: the typed argument decoders and their texts, the build parameter
 * map, and durations read the way the reference reads them. */
#include "testing.h"

#include "fake.h"

#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    return v;
}

static void test_string(void **state)
{
    json_t *args = parse("{\"s\": \"x\", \"n\": null, \"i\": 3, \"b\": true, \"o\": {}}");
    struct tool_answer a = {0};
    const char *s = "unset";
    assert_int_equal(tool_arg_string(args, "s", &s, &a), 0);
    assert_string_equal(s, "x");
    assert_int_equal(tool_arg_string(args, "missing", &s, &a), 0);
    assert_null(s);
    s = "unset";
    assert_int_equal(tool_arg_string(args, "n", &s, &a), 0);
    assert_null(s);
    s = "unset";
    assert_int_equal(tool_arg_string(NULL, "s", &s, &a), 0);
    assert_null(s);
    assert_false(a.is_error);

    assert_int_equal(tool_arg_string(args, "i", &s, &a), -1);
    assert_true(a.is_error);
    assert_string_equal(a.text, "invalid parameters: \"i\" must be a string");
    assert_int_equal(tool_arg_string(args, "b", &s, &a), -1);
    assert_string_equal(a.text, "invalid parameters: \"b\" must be a string");
    assert_int_equal(tool_arg_string(args, "o", &s, &a), -1);
    assert_string_equal(a.text, "invalid parameters: \"o\" must be a string");
    tool_answer_clear(&a);
    json_decref(args);
}

static void test_int(void **state)
{
    json_t *args = parse("{\"i\": 42, \"neg\": -7, \"r\": 3.0, \"frac\": 2.5, \"big\": 1e300, "
                         "\"s\": \"4\", \"b\": false, \"n\": null}");
    struct tool_answer a = {0};
    bool present = true;
    int64_t v = 0;
    assert_int_equal(tool_arg_int(args, "i", &present, &v, &a), 0);
    assert_true(present);
    assert_int_equal(v, 42);
    assert_int_equal(tool_arg_int(args, "neg", &present, &v, &a), 0);
    assert_int_equal(v, -7);
    assert_int_equal(tool_arg_int(args, "r", &present, &v, &a), 0);
    assert_true(present);
    assert_int_equal(v, 3);
    assert_int_equal(tool_arg_int(args, "missing", &present, &v, &a), 0);
    assert_false(present);
    present = true;
    assert_int_equal(tool_arg_int(args, "n", &present, &v, &a), 0);
    assert_false(present);
    assert_false(a.is_error);

    const char *bad[] = {"frac", "big", "s", "b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tool_arg_int(args, bad[i], &present, &v, &a), -1);
        char want[64];
        snprintf(want, sizeof want, "invalid parameters: \"%s\" must be an integer", bad[i]);
        assert_string_equal(a.text, want);
        assert_false(present);
    }
    tool_answer_clear(&a);
    json_decref(args);
}

static void test_bool(void **state)
{
    json_t *args = parse("{\"t\": true, \"f\": false, \"s\": \"true\", \"i\": 1}");
    struct tool_answer a = {0};
    bool v = false;
    assert_int_equal(tool_arg_bool(args, "t", &v, &a), 0);
    assert_true(v);
    assert_int_equal(tool_arg_bool(args, "f", &v, &a), 0);
    assert_false(v);
    v = true;
    assert_int_equal(tool_arg_bool(args, "missing", &v, &a), 0);
    assert_true(v); /* absent leaves the default */
    assert_int_equal(tool_arg_bool(args, "s", &v, &a), -1);
    assert_string_equal(a.text, "invalid parameters: \"s\" must be a boolean");
    assert_int_equal(tool_arg_bool(args, "i", &v, &a), -1);
    assert_string_equal(a.text, "invalid parameters: \"i\" must be a boolean");
    tool_answer_clear(&a);
    json_decref(args);
}

static void test_params(void **state)
{
    json_t *args = parse("{\"parameters\": {\"region\": \"eu\", \"cpus\": 4, \"ratio\": 0.1, "
                         "\"whole\": 2.0, \"gpu\": true, \"off\": false, \"empty\": \"\"}}");
    struct tool_answer a = {0};
    struct build_param_value *p = NULL;
    size_t n = 0;
    assert_int_equal(tool_arg_params(args, "parameters", &p, &n, &a), 0);
    assert_int_equal(n, 7);
    const char *want[][2] = {{"region", "eu"}, {"cpus", "4"},    {"ratio", "0.1"}, {"whole", "2"},
                             {"gpu", "true"},  {"off", "false"}, {"empty", ""}};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(p[i].name, want[i][0]);
        assert_string_equal(p[i].value, want[i][1]);
    }
    tool_params_free(p, n);

    assert_int_equal(tool_arg_params(args, "missing", &p, &n, &a), 0);
    assert_null(p);
    assert_int_equal(n, 0);
    assert_false(a.is_error);
    json_decref(args);

    args = parse("{\"parameters\": {}}");
    assert_int_equal(tool_arg_params(args, "parameters", &p, &n, &a), 0);
    assert_null(p);
    assert_int_equal(n, 0);
    json_decref(args);

    args = parse("{\"parameters\": [\"a\"]}");
    assert_int_equal(tool_arg_params(args, "parameters", &p, &n, &a), -1);
    assert_string_equal(a.text, "invalid parameters: \"parameters\" must be an object");
    json_decref(args);

    const char *bad[] = {"{\"parameters\": {\"ok\": \"1\", \"team\": {\"a\": 1}}}",
                         "{\"parameters\": {\"ok\": \"1\", \"team\": [1]}}",
                         "{\"parameters\": {\"ok\": \"1\", \"team\": null}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        args = parse(bad[i]);
        p = (struct build_param_value *)1;
        assert_int_equal(tool_arg_params(args, "parameters", &p, &n, &a), -1);
        assert_string_equal(
            a.text, "invalid parameters: \"parameters.team\" must be a string, number or boolean");
        assert_null(p);
        assert_int_equal(n, 0);
        json_decref(args);
    }
    tool_answer_clear(&a);
}

static void duration_ok(const char *s, int64_t want)
{
    int64_t ms = -12345;
    char *why = NULL;
    if (tool_duration(s, &ms, &why) < 0)
        fail_msg("%s: %s", s, why);
    assert_int_equal(ms, want);
    assert_null(why);
}

static void duration_bad(const char *s, const char *want)
{
    int64_t ms;
    char *why = NULL;
    assert_int_equal(tool_duration(s, &ms, &why), -1);
    assert_non_null(why);
    assert_string_equal(why, want);
    free(why);
}

static void test_duration(void **state)
{
    duration_ok("30s", 30000);
    duration_ok("5m", 300000);
    duration_ok("1.5h", 5400000);
    duration_ok("1m30s", 90000);
    duration_ok("250ms", 250);
    duration_ok("0", 0);
    duration_ok("0s", 0);
    duration_ok("-5s", -5000);
    duration_ok("+2s", 2000);

    duration_bad("", "time: invalid duration \"\"");
    duration_bad("abc", "time: invalid duration \"abc\"");
    duration_bad("-", "time: invalid duration \"-\"");
    duration_bad("s", "time: invalid duration \"s\"");
    duration_bad("10", "time: missing unit in duration \"10\"");
    duration_bad("1m30", "time: missing unit in duration \"1m30\"");
    duration_bad("10x", "time: unknown unit \"x\" in duration \"10x\"");
    duration_bad("5ns", "time: unknown unit \"ns\" in duration \"5ns\"");
    duration_bad("3 s", "time: unknown unit \" s\" in duration \"3 s\"");
    duration_bad("1\"s", "time: unknown unit \"\\\"s\" in duration \"1\\\"s\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string), cmocka_unit_test(test_int),      cmocka_unit_test(test_bool),
        cmocka_unit_test(test_params), cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
