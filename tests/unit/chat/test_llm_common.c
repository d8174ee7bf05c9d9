/* Unit tests for the providers' pure parts: request bodies of both APIs from stored messages,
 * the conversation's normalization, error bodies, redaction, retry rules, retry-after and the
 * configuration checks of llm_provider_new. */
#include "testing.h"

#include "base/json.h"
#include "base/secure.h"
#include "chat/llm.h"

#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fail_msg("bad test JSON: %s", je.text);
    return v;
}

/* Asserts that v equals the JSON text want (compared as values). */
static void assert_json(const json_t *v, const char *want)
{
    json_t *w = parse(want);
    if (!json_equal(v, w)) {
        char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        char *exp = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", got, exp);
        free(got);
        free(exp);
        fail();
    }
    json_decref(w);
}

/* A conversation with every part type: a user asks, the assistant reasons, talks and calls two
 * tools (one with arguments that were not an object), both answer (a result and a text error),
 * then the assistant answers and two user messages follow (one queued during the turn). */
static const char conversation[] =
    "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"start my workspace\"}]},"
    " {\"role\":\"assistant\",\"parts\":["
    "   {\"type\":\"reasoning\",\"text\":\"secret thoughts\"},"
    "   {\"type\":\"text\",\"text\":\"On it.\"},"
    "   {\"type\":\"tool-call\",\"tool_call_id\":\"c1\",\"tool_name\":\"list_templates\","
    "    \"args\":{}},"
    "   {\"type\":\"tool-call\",\"tool_call_id\":\"c2\",\"tool_name\":\"execute\","
    "    \"args\":\"{broken\"}]},"
    " {\"role\":\"tool\",\"parts\":["
    "   {\"type\":\"tool-result\",\"tool_call_id\":\"c2\",\"tool_name\":\"execute\","
    "    \"result\":\"no workspace\",\"is_error\":true},"
    "   {\"type\":\"tool-result\",\"tool_call_id\":\"c1\",\"tool_name\":\"list_templates\","
    "    \"result\":{\"templates\":[]},\"is_error\":false}]},"
    " {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Done.\"}]},"
    " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"thanks\"}]},"
    " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"and again\"}]}]";

static const char tools[] = "[{\"name\":\"execute\",\"description\":\"Run a command.\","
                            "\"input_schema\":{\"type\":\"object\",\"properties\":{\"command\":{"
                            "\"type\":\"string\"}}}},{\"name\":\"list_templates\"}]";

static void test_openai_body(void **state)
{
    json_t *msgs = parse(conversation), *t = parse(tools);
    struct llm_config cfg = {.model = "gpt-x"};
    struct llm_request req = {"You are berth.", msgs, t};
    json_t *body = llm_openai_body(&cfg, &req);
    assert_json(
        body,
        "{\"model\":\"gpt-x\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":["
        " {\"role\":\"system\",\"content\":\"You are berth.\"},"
        " {\"role\":\"user\",\"content\":\"start my workspace\"},"
        " {\"role\":\"assistant\",\"content\":\"On it.\",\"tool_calls\":["
        "   {\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"list_templates\","
        "    \"arguments\":\"{}\"}},"
        "   {\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"execute\","
        "    \"arguments\":\"{}\"}}]},"
        " {\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"templates\\\":[]}\"},"
        " {\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"no workspace\"},"
        " {\"role\":\"assistant\",\"content\":\"Done.\"},"
        " {\"role\":\"user\",\"content\":\"thanks\"},"
        " {\"role\":\"user\",\"content\":\"and again\"}],"
        "\"tools\":["
        " {\"type\":\"function\",\"function\":{\"name\":\"execute\",\"description\":\"Run a "
        "command.\",\"parameters\":{\"type\":\"object\",\"properties\":{\"command\":{\"type\":"
        "\"string\"}}}}},"
        " {\"type\":\"function\",\"function\":{\"name\":\"list_templates\",\"parameters\":{"
        "\"type\":\"object\"}}}]}");
    json_decref(body);

    /* max_tokens when set; no tools key without tools; no system message without one. */
    cfg.max_tokens = 100;
    json_t *none = json_array();
    json_t *one = parse("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"hi\"}]}]");
    struct llm_request bare = {NULL, one, none};
    body = llm_openai_body(&cfg, &bare);
    assert_json(body, "{\"model\":\"gpt-x\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                      "true},\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}]}");
    json_decref(body);
    json_decref(none);
    json_decref(one);
    json_decref(msgs);
    json_decref(t);
}

static void test_anthropic_body(void **state)
{
    json_t *msgs = parse(conversation), *t = parse(tools);
    struct llm_config cfg = {.model = "claude-x"};
    struct llm_request req = {"You are berth.", msgs, t};
    json_t *body = llm_anthropic_body(&cfg, &req);
    assert_json(
        body,
        "{\"model\":\"claude-x\",\"max_tokens\":8192,\"stream\":true,\"system\":\"You are "
        "berth.\","
        "\"messages\":["
        " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"start my workspace\"}]},"
        " {\"role\":\"assistant\",\"content\":["
        "   {\"type\":\"text\",\"text\":\"On it.\"},"
        "   {\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"list_templates\",\"input\":{}},"
        "   {\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"execute\",\"input\":{}}]},"
        " {\"role\":\"user\",\"content\":["
        "   {\"type\":\"tool_result\",\"tool_use_id\":\"c1\",\"content\":\"{\\\"templates\\\":[]}"
        "\",\"is_error\":false},"
        "   {\"type\":\"tool_result\",\"tool_use_id\":\"c2\",\"content\":\"no workspace\","
        "    \"is_error\":true}]},"
        " {\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}]},"
        " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"thanks\"},"
        "   {\"type\":\"text\",\"text\":\"and again\"}]}],"
        "\"tools\":["
        " {\"name\":\"execute\",\"description\":\"Run a command.\",\"input_schema\":{\"type\":"
        "\"object\",\"properties\":{\"command\":{\"type\":\"string\"}}}},"
        " {\"name\":\"list_templates\",\"input_schema\":{\"type\":\"object\"}}]}");
    json_decref(body);
    json_decref(msgs);
    json_decref(t);
}

/* A turn cut short (no results stored) and a result that answers no call. */
static void test_normalize(void **state)
{
    json_t *msgs =
        parse("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"go\"}]},"
              " {\"role\":\"tool\",\"parts\":[{\"type\":\"tool-result\",\"tool_call_id\":\"stray\","
              "   \"tool_name\":\"x\",\"result\":{},\"is_error\":false}]},"
              " {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool-call\",\"tool_call_id\":\"a\","
              "   \"tool_name\":\"execute\",\"args\":{\"command\":\"sleep 100\"}},"
              "   {\"type\":\"tool-call\",\"tool_call_id\":\"b\",\"tool_name\":\"read_file\","
              "    \"args\":{}}]},"
              " {\"role\":\"tool\",\"parts\":[{\"type\":\"tool-result\",\"tool_call_id\":\"b\","
              "   \"tool_name\":\"read_file\",\"result\":{\"content\":\"x\"},\"is_error\":false}]},"
              " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"stop\"}]}]");
    json_t *n = llm_normalize_messages(msgs);
    assert_json(
        n, "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"go\"}]},"
           " {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool-call\",\"tool_call_id\":\"a\","
           "   \"tool_name\":\"execute\",\"args\":{\"command\":\"sleep 100\"}},"
           "   {\"type\":\"tool-call\",\"tool_call_id\":\"b\",\"tool_name\":\"read_file\","
           "    \"args\":{}}]},"
           " {\"role\":\"tool\",\"parts\":["
           "   {\"type\":\"tool-result\",\"tool_call_id\":\"a\",\"tool_name\":\"execute\","
           "    \"result\":\"the tool call was interrupted before it finished\","
           "    \"is_error\":true},"
           "   {\"type\":\"tool-result\",\"tool_call_id\":\"b\",\"tool_name\":\"read_file\","
           "    \"result\":{\"content\":\"x\"},\"is_error\":false}]},"
           " {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"stop\"}]}]");
    json_decref(n);
    json_decref(msgs);
}

static void test_error_message(void **state)
{
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"error\":{\"message\":\"Incorrect API key provided: sk-abc12***********wxyz.\","
         "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
         "Incorrect API key provided: [redacted]."},
        {"{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"model: x\"},"
         "\"request_id\":\"req_1\"}",
         "model: x"},
        {"{\"error\":\"Unauthorized\"}", "Unauthorized"},
        {"{\"object\":\"error\",\"message\":\"flat vLLM\",\"code\":400}", "flat vLLM"},
        {"{\"detail\":\"Not Found\"}", "Not Found"},
        {"  model \"x\" not found  \n", "model \"x\" not found"},
        {"<html><body>502 Bad Gateway</body></html>", ""},
        {"", ""},
        {"{\"error\":{\"message\":\"my key is KEY-0123456789 ok\"}}", "my key is [redacted] ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *m = llm_error_message(cases[i].body, strlen(cases[i].body), "KEY-0123456789");
        assert_string_equal(m, cases[i].want);
        free(m);
    }
    /* Cut to 500 bytes, never inside a UTF-8 sequence; invalid UTF-8 replaced. */
    char body[2000] = "{\"error\":{\"message\":\"";
    size_t at = strlen(body);
    for (int i = 0; i < 600; i++, at += 2)
        memcpy(body + at, "\xc3\xa9", 2);
    memcpy(body + at, "\"}}", 4);
    char *m = llm_error_message(body, strlen(body), NULL);
    assert_int_equal(strlen(m), 500);
    free(m);
}

static void test_redact(void **state)
{
    char *r = llm_redact("key sk-proj-AbC_12345678 and sk-short and risk-management and "
                         "SECRET123 and SECRET12",
                         "SECRET123");
    assert_string_equal(r, "key [redacted] and sk-short and risk-management and [redacted] and "
                           "SECRET12");
    free(r);
    r = llm_redact("abc", NULL);
    assert_string_equal(r, "abc");
    free(r);
    r = llm_redact("abc", ""); /* an empty key redacts nothing */
    assert_string_equal(r, "abc");
    free(r);
}

static void test_retryable(void **state)
{
    long yes[] = {408, 409, 429, 500, 502, 503, 504, 529};
    long no[] = {400, 401, 402, 403, 404, 413, 422, 501};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(llm_status_retryable(yes[i], "", 0));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(llm_status_retryable(no[i], "", 0));
    const char *quota =
        "{\"error\":{\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}";
    assert_false(llm_status_retryable(429, quota, strlen(quota)));
    const char *spend = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"details\":{"
                        "\"error_code\":\"enforced_spend_limit_reached\"}}}";
    assert_false(llm_status_retryable(429, spend, strlen(spend)));
    const char *rate = "{\"error\":{\"type\":\"rate_limit_error\"}}";
    assert_true(llm_status_retryable(429, rate, strlen(rate)));
}

static void test_retry_after(void **state)
{
    assert_int_equal(llm_retry_after(NULL, NULL, 0), -1);
    assert_int_equal(llm_retry_after("", "", 0), -1);
    assert_int_equal(llm_retry_after(NULL, "2", 0), 2000);
    assert_int_equal(llm_retry_after(NULL, "0.5", 0), 500);
    assert_int_equal(llm_retry_after("1500", "9", 0), 1500); /* ms wins */
    assert_int_equal(llm_retry_after("junk", "3", 0), 3000);
    assert_int_equal(llm_retry_after(NULL, "-1", 0), -1);
    assert_int_equal(llm_retry_after(NULL, "soon", 0), -1);
    assert_int_equal(llm_retry_after(NULL, "3 s", 0), 3000);
    /* An HTTP date: 1994-11-06 08:49:37 UTC is 784111777. */
    assert_int_equal(llm_retry_after(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000);
    assert_int_equal(llm_retry_after(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
}

static void test_provider_new(void **state)
{
    struct {
        struct llm_config cfg;
        const char *want;
    } bad[] = {
        {{.provider = "gemini", .model = "m"},
         "unknown LLM provider \"gemini\": use \"openai\" (OpenAI-compatible servers) or "
         "\"anthropic\""},
        {{.provider = "openai"}, "no LLM model: set BERTH_LLM_MODEL or --llm-model"},
        {{.provider = "anthropic", .model = ""},
         "no LLM model: set BERTH_LLM_MODEL or --llm-model"},
        {{.model = "m", .base_url = "ftp://x/v1"},
         "the LLM base URL must be an http:// or https:// URL (up to 2048 bytes, no spaces), "
         "e.g. https://api.openai.com/v1"},
        {{.model = "m", .base_url = "http://a b/v1"},
         "the LLM base URL must be an http:// or https:// URL (up to 2048 bytes, no spaces), "
         "e.g. https://api.openai.com/v1"},
        {{.model = "m", .api_key = "a\r\nX-Evil: 1"},
         "the LLM API key must be at most 4096 printable bytes"},
        {{.model = "m\n"}, "the LLM model name must be at most 256 printable bytes"},
        {{.model = "m", .idle_timeout_ms = -1},
         "the LLM token limit and time-outs must not be negative"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct err e = ERR_INIT;
        assert_null(llm_provider_new(&bad[i].cfg, &e));
        assert_int_equal(e.kind, ERR_BAD_REQUEST);
        assert_string_equal(err_msg(&e), bad[i].want);
        err_clear(&e);
    }
    struct err e = ERR_INIT;
    struct llm_config cfg = {.model = "m", .api_key = "k"};
    struct llm_provider *p = llm_provider_new(&cfg, &e);
    assert_non_null(p);
    assert_string_equal(p->name, "openai");
    llm_provider_free(p);
    cfg.provider = "anthropic";
    cfg.base_url = "http://127.0.0.1:1/v1/";
    p = llm_provider_new(&cfg, &e);
    assert_non_null(p);
    assert_string_equal(p->name, "anthropic");
    llm_provider_free(p);
    llm_provider_free(NULL);
}

static int setup(void **state)
{
    return secure_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_body), cmocka_unit_test(test_anthropic_body),
        cmocka_unit_test(test_normalize),   cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_redact),      cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_provider_new),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
