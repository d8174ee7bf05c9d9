/* Unit tests for base/: errors, strings, buffers, times, durations, UUIDs, maps, JSON fields. */
#include "testing.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jw.h"
#include "base/map.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_err_kinds_and_statuses(void **state)
{
    (void)state;
    struct err e = ERR_INIT;
    assert_int_equal(err_set(&e, ERR_PARAM_VALIDATION, "Unable to validate parameter \"%s\"", "x"),
                     -1);
    assert_true(err_is(&e, ERR_PARAM_VALIDATION));
    assert_int_equal(err_status(&e), 400);
    assert_string_equal(e.message, "Unable to validate parameter \"x\"");
    err_detail(&e, "Parameter \"%s\" is required but not provided", "x");
    err_add_validation(&e, "x", "%s", e.detail);
    assert_int_equal(e.nvalidations, 1);
    assert_string_equal(e.validations[0].field, "x");
    err_set_status(&e, 406);
    assert_int_equal(err_status(&e), 406);
    err_prefix(&e, "start workspace");
    assert_string_equal(e.message, "start workspace: Unable to validate parameter \"x\"");
    struct err copy = ERR_INIT;
    err_copy(&copy, &e);
    assert_string_equal(copy.detail, e.detail);
    err_clear(&e);
    assert_int_equal(e.kind, ERR_NONE);
    assert_null(e.message);
    struct err moved = ERR_INIT;
    err_move(&moved, &copy);
    assert_null(copy.message);
    assert_true(err_is(&moved, ERR_PARAM_VALIDATION));
    err_clear(&moved);
    assert_int_equal(err_kind_status(ERR_NOT_FOUND), 404);
    assert_int_equal(err_kind_status(ERR_CONFLICT), 409);
    assert_string_equal(err_kind_name(ERR_UNAUTHORIZED), "ERR_UNAUTHORIZED");
    assert_int_equal(err_set(NULL, ERR_INTERNAL, "ignored"), -1);
}

static void test_str_helpers(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(str_copy(small, sizeof small, "hello"), 5);
    assert_string_equal(small, "hel");
    assert_int_equal(str_fmt(small, sizeof small, "%d", 12345), -1);
    assert_int_equal(str_fmt(small, sizeof small, "%d", 12), 0);
    assert_true(str_has_prefix("berth.yaml", "berth"));
    assert_false(str_has_prefix("b", "berth"));
    assert_true(str_has_suffix("dev-berth-chat", "-berth-chat"));
    assert_true(str_eq_ci("Dev", "dEV"));
    assert_true(str_eq(NULL, ""));
    char t[] = "  spaced \n";
    assert_string_equal(str_trim(t), "spaced");
    int64_t v;
    assert_int_equal(str_to_int64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(str_to_int64("4x", &v), -1);
    assert_int_equal(str_to_int64("", &v), -1);
    assert_int_equal(str_to_int64(" 1", &v), -1);
    assert_int_equal(str_to_int64("99999999999999999999", &v), -1);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("h\xC3\xA9llo", 6));
    assert_false(utf8_valid("\xC3", 1));
    assert_false(utf8_valid("\xED\xA0\x80", 3)); /* surrogate */
    assert_false(utf8_valid("\xC0\xAF", 2));     /* overlong */
    /* cutting in the middle of a 3-byte sequence keeps only whole characters */
    assert_int_equal(utf8_cut("ab\xE2\x82\xAC", 4), 2);
    assert_int_equal(utf8_cut("ab\xE2\x82\xAC", 5), 5);
    size_t n;
    char *s = utf8_sanitize("a\xFF"
                            "b",
                            3, &n);
    assert_string_equal(s, "a\xEF\xBF\xBD"
                           "b");
    assert_int_equal(n, 5);
    free(s);
    assert_int_equal(utf8_count("h\xC3\xA9"), 2);
    s = str_quote("a\"b\\\n\x01\xC3\xA9\xFF");
    assert_string_equal(s, "\"a\\\"b\\\\\\n\\x01\xC3\xA9\\xff\"");
    free(s);
    s = utf8_truncate("h\xC3\xA9llo", 2);
    assert_string_equal(s, "h\xC3\xA9");
    free(s);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "1234"), 0);
    assert_int_equal(buf_printf(&b, "%d", 5678), 0);
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_string_equal(buf_str(&b), "12345678");
    buf_consume(&b, 3);
    assert_string_equal(buf_str(&b), "45678");
    char *s = buf_take(&b);
    assert_string_equal(s, "45678");
    free(s);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_times(void **state)
{
    (void)state;
    char ts[TIME_STR_LEN];
    time_format(1763938913123456, ts);
    assert_string_equal(ts, "2025-11-23T23:01:53.123456Z");
    int64_t us;
    assert_int_equal(time_parse("2025-11-23T23:01:53.123456Z", &us), 0);
    assert_int_equal(us, 1763938913123456);
    assert_int_equal(time_parse("2025-11-24T00:01:53.123456+01:00", &us), 0);
    assert_int_equal(us, 1763938913123456);
    assert_int_equal(time_parse("2025-11-23 23:01:53Z", &us), 0);
    assert_int_equal(time_parse("2025-13-23T23:01:53Z", &us), -1);
    assert_int_equal(time_parse("yesterday", &us), -1);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(duration_parse("10m", &ms), 0);
    assert_int_equal(ms, 600000);
    assert_int_equal(duration_parse("5m30s", &ms), 0);
    assert_int_equal(ms, 330000);
    assert_int_equal(duration_parse("1.5h", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(duration_parse("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(duration_parse("10", &ms), -1);
    assert_int_equal(duration_parse("-1s", &ms), -1);
    assert_int_equal(duration_parse("1d", &ms), -1);
    assert_int_equal(duration_parse("", &ms), -1);
    char out[32];
    duration_format(600000, out, sizeof out);
    assert_string_equal(out, "10m0s");
    duration_format(3600000, out, sizeof out);
    assert_string_equal(out, "1h0m0s");
    duration_format(1500, out, sizeof out);
    assert_string_equal(out, "1.5s");
    duration_format(500, out, sizeof out);
    assert_string_equal(out, "500ms");
    duration_format(90000, out, sizeof out);
    assert_string_equal(out, "1m30s");
    duration_format(0, out, sizeof out);
    assert_string_equal(out, "0s");
}

static void test_uuid_v7(void **state)
{
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid_v7(a);
    assert_true(uuid_valid(a));
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL);
    for (int i = 0; i < 1000; i++) {
        uuid_v7(b);
        assert_true(strcmp(a, b) < 0); /* strictly increasing within a process */
        memcpy(a, b, sizeof a);
    }
    assert_false(uuid_valid("not-a-uuid"));
    assert_false(uuid_valid("0000000000000000000000000000000000000"));
}

static void test_map(void **state)
{
    (void)state;
    struct map m = MAP_INIT;
    char keys[500][16];
    for (int i = 0; i < 500; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_null(map_put(&m, keys[i], keys[i]));
    }
    assert_int_equal(m.len, 500);
    for (int i = 0; i < 500; i += 2)
        assert_ptr_equal(map_del(&m, keys[i]), keys[i]);
    for (int i = 0; i < 500; i++) {
        if (i % 2)
            assert_ptr_equal(map_get(&m, keys[i]), keys[i]);
        else
            assert_null(map_get(&m, keys[i]));
    }
    assert_ptr_equal(map_put(&m, "k1", NULL), keys[1]);
    map_free(&m, NULL);
}

static void test_secure(void **state)
{
    (void)state;
    assert_int_equal(secure_init(), 0);
    char tok[23];
    secure_token(tok, 22);
    assert_int_equal(strlen(tok), 22);
    char hex[65];
    secure_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char hash[SECURE_PASSWORD_HASH_MAX];
    assert_int_equal(secure_password_hash("correct horse", hash), 0);
    assert_true(str_has_prefix(hash, "$argon2id$"));
    assert_true(secure_password_verify(hash, "correct horse"));
    assert_false(secure_password_verify(hash, "wrong"));
    assert_false(secure_password_verify("garbage", "x"));
    assert_true(secure_equal("abcd", "abcd", 4));
    assert_false(secure_equal("abcd", "abce", 4));
}

static void test_json_fields(void **state)
{
    (void)state;
    struct err e = ERR_INIT;
    assert_null(jsonx_parse_object("{\"a\":", 5, &e));
    assert_string_equal(e.message, "Request body must be valid JSON.");
    assert_null(jsonx_parse_object("[1]", 3, &e));
    assert_string_equal(e.message, "Request body must be a JSON object.");
    assert_null(jsonx_parse_object("{\"a\":1,\"a\":2}", 13, &e));
    const char *body = "{\"name\":\"x\",\"n\":\"7\",\"b\":true,\"arr\":[1,2]}";
    json_t *o = jsonx_parse_object(body, strlen(body), &e);
    assert_non_null(o);
    const char *s;
    assert_int_equal(jsonx_string(o, "name", JSONX_REQUIRED, 10, &s, &e), 0);
    assert_string_equal(s, "x");
    assert_int_equal(jsonx_string(o, "missing", JSONX_OPTIONAL, 10, &s, &e), 0);
    assert_null(s);
    assert_int_equal(jsonx_string(o, "missing", JSONX_REQUIRED, 10, &s, &e), -1);
    assert_string_equal(e.validations[0].field, "missing");
    assert_string_equal(e.validations[0].detail, "is required");
    int64_t n;
    assert_int_equal(jsonx_int(o, "n", JSONX_REQUIRED, &n, NULL, &e), -1);
    assert_string_equal(e.message, "Validation failed.");
    assert_string_equal(e.validations[0].field, "n");
    assert_string_equal(e.validations[0].detail, "must be an integer");
    bool bv, present;
    assert_int_equal(jsonx_bool(o, "b", JSONX_OPTIONAL, &bv, &present, &e), 0);
    assert_true(bv && present);
    json_t *arr;
    assert_int_equal(jsonx_array(o, "arr", JSONX_OPTIONAL, 1, &arr, &e), -1);
    assert_int_equal(jsonx_array(o, "arr", JSONX_OPTIONAL, 2, &arr, &e), 0);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(o);
    err_clear(&e);
}

static void test_json_writer(void **state)
{
    (void)state;
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_kstr(&w, "s", "a\"b\\c\n\x01\xC3\xA9\xFF\"");
    jw_kint(&w, "n", -42);
    jw_kint(&w, "big", INT64_MIN);
    jw_kbool(&w, "t", true);
    jw_ktime(&w, "zero", 0);
    jw_ktime(&w, "when", 1763938913123456);
    jw_kstr_or_null(&w, "empty", "");
    jw_key(&w, "arr");
    jw_array(&w);
    jw_int(&w, 1);
    jw_object(&w);
    jw_object_end(&w);
    jw_null(&w);
    jw_array_end(&w);
    jw_object_end(&w);
    size_t len;
    char *s = jw_take(&w, &len);
    assert_string_equal(s, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xC3\xA9\xEF\xBF\xBD\\\"\","
                           "\"n\":-42,\"big\":-9223372036854775808,\"t\":true,\"zero\":null,"
                           "\"when\":\"2025-11-23T23:01:53.123456Z\",\"empty\":null,"
                           "\"arr\":[1,{},null]}");
    /* The output is valid JSON that jansson reads back. */
    json_error_t je;
    json_t *v = json_loadb(s, len, 0, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "s")),
                        "a\"b\\c\n\x01\xC3\xA9\xEF\xBF\xBD\"");
    json_decref(v);
    free(s);
    jw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_kinds_and_statuses),
        cmocka_unit_test(test_str_helpers),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_uuid_v7),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
