/* Unit tests of the JSON-RPC 2.0 decoder and the texts of outgoing messages: classification,
 * the error code for each kind of bad input, ids echoed with their JSON type, batches refused. */
#include "testing.h"

#include "mcp/mcp.h"

#include <stdlib.h>
#include <string.h>

static enum jsonrpc_kind kind_of(const char *text, int *code)
{
    struct jsonrpc_msg m;
    jsonrpc_decode(text, strlen(text), &m);
    enum jsonrpc_kind k = m.kind;
    if (code)
        *code = m.error_code;
    jsonrpc_msg_clear(&m);
    return k;
}

static void test_requests_and_notifications(void **state)
{
    struct jsonrpc_msg m;
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{}}";
    jsonrpc_decode(req, strlen(req), &m);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_string_equal(m.method, "tools/list");
    assert_true(json_is_integer(m.id));
    assert_int_equal(json_integer_value(m.id), 7);
    assert_non_null(m.params);
    assert_false(m.params_invalid);
    jsonrpc_msg_clear(&m);

    const char *str_id = "{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"ping\"}";
    jsonrpc_decode(str_id, strlen(str_id), &m);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_string_equal(json_string_value(m.id), "a-1");
    assert_null(m.params);
    jsonrpc_msg_clear(&m);

    const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    jsonrpc_decode(note, strlen(note), &m);
    assert_int_equal(m.kind, JSONRPC_NOTIFICATION);
    assert_null(m.id);
    jsonrpc_msg_clear(&m);

    /* params that are not an object: a request still, with invalid params to answer. */
    const char *arr = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}";
    jsonrpc_decode(arr, strlen(arr), &m);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_true(m.params_invalid);
    assert_null(m.params);
    jsonrpc_msg_clear(&m);
}

static void test_responses(void **state)
{
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", NULL),
                     JSONRPC_RESPONSE);
    assert_int_equal(
        kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":1,\"message\":\"m\"}}",
                NULL),
        JSONRPC_RESPONSE);
    assert_int_equal(
        kind_of("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1,\"message\":\"m\"}}", NULL),
        JSONRPC_RESPONSE);
    int code;
    /* both result and error, neither, or a result for a null id */
    const char *bad[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kind_of(bad[i], &code), JSONRPC_INVALID);
        assert_int_equal(code, JSONRPC_INVALID_REQUEST);
    }
}

static void test_invalid(void **state)
{
    int code;
    const char *parse[] = {"", "{", "not json", "{\"a\":1,\"a\":2}", "{\"jsonrpc\":\"2.0\"}x"};
    for (size_t i = 0; i < sizeof parse / sizeof parse[0]; i++) {
        assert_int_equal(kind_of(parse[i], &code), JSONRPC_INVALID);
        assert_int_equal(code, JSONRPC_PARSE_ERROR);
    }
    const char *invalid[] = {
        "[]",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
        "42",
        "\"ping\"",
        "null",
        "{}",
        "{\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (kind_of(invalid[i], &code) != JSONRPC_INVALID || code != JSONRPC_INVALID_REQUEST)
            fail_msg("%s: not an invalid request", invalid[i]);
    }
    /* The id of an invalid message is kept when it is usable, for the error's "id". */
    struct jsonrpc_msg m;
    const char *t = "{\"jsonrpc\":\"1.0\",\"id\":\"k\",\"method\":\"ping\"}";
    jsonrpc_decode(t, strlen(t), &m);
    assert_string_equal(json_string_value(m.id), "k");
    jsonrpc_msg_clear(&m);
}

static void test_texts(void **state)
{
    json_t *sid = json_string("a\"b");
    json_t *nid = json_integer(-3);
    char *s = jsonrpc_error_text(sid, -32601, "Method not found", NULL);
    assert_string_equal(
        s, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"error\":{\"code\":-32601,\"message\":\"Method "
           "not found\"}}");
    free(s);
    json_t *data = json_pack("{s:s}", "requested", "x");
    s = jsonrpc_error_text(NULL, -32022, "v", data);
    assert_string_equal(s,
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32022,\"message\":"
                        "\"v\",\"data\":{\"requested\":\"x\"}}}");
    free(s);
    json_decref(data);
    s = jsonrpc_result_text(nid, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":-3,\"result\":{}}");
    free(s);
    s = jsonrpc_notification_text("notifications/progress", NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}");
    free(s);
    json_decref(sid);
    json_decref(nid);
}

static void test_versions(void **state)
{
    assert_true(mcp_version_legacy("2025-11-25"));
    assert_true(mcp_version_legacy("2025-06-18"));
    assert_true(mcp_version_legacy("2025-03-26"));
    assert_false(mcp_version_legacy("2026-07-28"));
    assert_false(mcp_version_legacy("2024-11-05"));
    assert_false(mcp_version_legacy(NULL));
    json_t *v = mcp_versions_json();
    assert_int_equal(json_array_size(v), 4);
    assert_string_equal(json_string_value(json_array_get(v, 0)), "2026-07-28");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_and_notifications),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
