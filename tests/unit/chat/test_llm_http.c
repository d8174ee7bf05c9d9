/* Tests of both providers over real HTTP on 127.0.0.1 against fakellm: streamed replies, what
 * the provider sent (headers and body), HTTP errors and their retry hints, dropped streams,
 * error events, time-outs, cancellation and redaction. */
#include "testing.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/secure.h"
#include "base/times.h"
#include "chat/llm.h"
#include "fakellm/fakellm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "sk-test-0123456789abcdef"

static void fake_start(struct fakellm *f, const char *script)
{
    assert_int_equal(fakellm_start(f, script), 0);
}

static json_t *fake_log(struct fakellm *f)
{
    return fakellm_requests(f);
}

static void fake_stop(struct fakellm *f)
{
    assert_int_equal(fakellm_stop(f), 0);
}

static struct llm_provider *provider(const struct fakellm *f, const char *which, int64_t idle_ms)
{
    struct llm_config cfg = {.provider = which,
                             .base_url = f->url,
                             .model = "test-model",
                             .api_key = KEY,
                             .idle_timeout_ms = idle_ms,
                             .total_timeout_ms = 60 * 1000};
    struct err e = ERR_INIT;
    struct llm_provider *p = llm_provider_new(&cfg, &e);
    assert_non_null(p);
    return p;
}

static void sink_text(void *arg, const char *s, size_t n)
{
    buf_append(arg, s, n);
    buf_putc(arg, '|');
}

struct call {
    struct llm_reply reply;
    struct llm_failure fail;
    struct err err;
    struct buf sunk;
    int rc;
};

static json_t *conversation(void)
{
    return json_loads("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"hi\"}]}]", 0,
                      NULL);
}

static void call_run(struct call *c, struct llm_provider *p, struct tool_cancel *cancel)
{
    memset(c, 0, sizeof *c);
    buf_init(&c->sunk, 0);
    llm_reply_init(&c->reply);
    json_t *msgs = conversation();
    json_t *tools = json_loads("[{\"name\":\"execute\",\"description\":\"Run.\",\"input_schema\":"
                               "{\"type\":\"object\"}}]",
                               0, NULL);
    struct llm_request req = {"SYSTEM PROMPT", msgs, tools};
    struct llm_sink sink = {&c->sunk, sink_text, NULL};
    c->rc = p->stream(p, &req, &sink, cancel, &c->reply, &c->fail, &c->err);
    json_decref(msgs);
    json_decref(tools);
}

static void call_free(struct call *c)
{
    llm_reply_clear(&c->reply);
    err_clear(&c->err);
    buf_free(&c->sunk);
}

static void test_openai_stream(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"require_header\":\"Authorization: Bearer " KEY "\","
                   "  \"text\":[\"Hel\",\"lo\"],\"tool_calls\":[{\"id\":\"call_9\",\"name\":"
                   "\"execute\",\"args\":[\"{\\\"command\\\":\",\"\\\"ls\\\"}\"]}]}]");
    struct llm_provider *p = provider(&f, "openai", 0);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, 0);
    assert_true(c.reply.complete);
    assert_int_equal(c.reply.stop, LLM_STOP_TOOLS);
    assert_string_equal(buf_str(&c.reply.text), "Hello");
    assert_string_equal(buf_str(&c.sunk), "Hel|lo|");
    assert_int_equal(c.reply.ncalls, 1);
    assert_string_equal(c.reply.calls[0].id, "call_9");
    assert_string_equal(c.reply.calls[0].name, "execute");
    assert_string_equal(c.reply.calls[0].args, "{\"command\":\"ls\"}");
    assert_int_equal(c.reply.input_tokens, 10);
    assert_int_equal(c.fail.status, 200);
    call_free(&c);

    json_t *log = fake_log(&f);
    assert_int_equal(json_array_size(log), 1);
    json_t *body = json_array_get(log, 0);
    char *got = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        got, "{\"messages\":[{\"content\":\"SYSTEM PROMPT\",\"role\":\"system\"},{\"content\":"
             "\"hi\",\"role\":\"user\"}],\"model\":\"test-model\",\"stream\":true,"
             "\"stream_options\":{\"include_usage\":true},\"tools\":[{\"function\":{"
             "\"description\":\"Run.\",\"name\":\"execute\",\"parameters\":{\"type\":"
             "\"object\"}},\"type\":\"function\"}]}");
    free(got);
    json_decref(log);
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_anthropic_stream(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"require_header\":\"x-api-key: " KEY "\",\"match\":\"SYSTEM PROMPT\","
                   "  \"reasoning\":\"hmm\",\"text\":\"On it.\",\"tool_calls\":[{\"name\":"
                   "\"execute\",\"args\":[\"{\\\"command\\\"\",\":\\\"ls\\\"}\"]}]},"
                   " {\"require_header\":\"anthropic-version: 2023-06-01\",\"text\":\"v\"}]");
    struct llm_provider *p = provider(&f, "anthropic", 0);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, 0);
    assert_true(c.reply.complete);
    assert_int_equal(c.reply.stop, LLM_STOP_TOOLS);
    assert_string_equal(buf_str(&c.reply.text), "On it.");
    assert_string_equal(buf_str(&c.reply.reasoning), "hmm");
    assert_int_equal(c.reply.ncalls, 1);
    assert_string_equal(c.reply.calls[0].id, "toolu_1");
    assert_string_equal(c.reply.calls[0].args, "{\"command\":\"ls\"}");
    call_free(&c);
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, 0);
    assert_string_equal(buf_str(&c.reply.text), "v");
    assert_int_equal(c.reply.stop, LLM_STOP_END);
    call_free(&c);

    json_t *log = fake_log(&f);
    char *got = json_dumps(json_array_get(log, 0), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"max_tokens\":8192,\"messages\":[{\"content\":[{\"text\":\"hi\","
                             "\"type\":\"text\"}],\"role\":\"user\"}],\"model\":\"test-model\","
                             "\"stream\":true,\"system\":\"SYSTEM PROMPT\",\"tools\":[{"
                             "\"description\":\"Run.\",\"input_schema\":{\"type\":\"object\"},"
                             "\"name\":\"execute\"}]}");
    free(got);
    json_decref(log);
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_http_errors(void **state)
{
    struct fakellm f;
    fake_start(&f,
               "[{\"status\":429,\"retry_after\":\"2\",\"delay_ms\":50},"
               " {\"status\":429,\"retry_after_ms\":\"250\",\"retry_after\":\"9\"},"
               " {\"status\":429,\"body\":{\"error\":{\"message\":\"You exceeded your current "
               "quota\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}},"
               " {\"status\":500},"
               " {\"status\":503,\"should_retry\":\"false\"},"
               " {\"status\":400,\"should_retry\":\"true\",\"body\":{\"error\":{\"message\":"
               "\"busy\"}}},"
               " {\"status\":401,\"body\":{\"error\":{\"message\":\"Incorrect API key provided: "
               "" KEY "\"}}},"
               " {\"status\":404,\"body\":\"<html>not here</html>\"},"
               " {\"status\":200,\"body\":{\"error\":{\"message\":\"streaming is off\"}}},"
               " {\"status\":200,\"body\":{\"choices\":[]}}]");
    struct llm_provider *p = provider(&f, "openai", 0);
    static const struct {
        bool retryable;
        int64_t after;
        int status;
        const char *msg;
    } want[] = {
        {true, 2000, 429, "the LLM provider answered HTTP 429: fakellm: scripted HTTP 429"},
        {true, 250, 429, "the LLM provider answered HTTP 429: fakellm: scripted HTTP 429"},
        {false, -1, 429, "the LLM provider answered HTTP 429: You exceeded your current quota"},
        {true, -1, 500, "the LLM provider answered HTTP 500: fakellm: scripted HTTP 500"},
        {false, -1, 503, "the LLM provider answered HTTP 503: fakellm: scripted HTTP 503"},
        {true, -1, 400, "the LLM provider answered HTTP 400: busy"},
        {false, -1, 401,
         "the LLM provider answered HTTP 401: Incorrect API key provided: "
         "[redacted]"},
        {false, -1, 404, "the LLM provider answered HTTP 404"},
        {false, -1, 200, "the LLM provider answered HTTP 200 without a stream: streaming is off"},
        {false, -1, 200, "the LLM provider answered HTTP 200 without a stream"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct call c;
        call_run(&c, p, NULL);
        assert_int_equal(c.rc, -1);
        assert_int_equal(c.err.kind, ERR_UNAVAILABLE);
        assert_string_equal(err_msg(&c.err), want[i].msg);
        assert_int_equal(c.fail.retryable, want[i].retryable);
        assert_int_equal(c.fail.retry_after_ms, want[i].after);
        assert_int_equal(c.fail.status, want[i].status);
        assert_false(c.fail.delivered);
        assert_false(c.reply.complete);
        call_free(&c);
    }
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_dropped(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"text\":[\"partial\"],\"drop\":true},"
                   " {\"text\":[\"never\"],\"drop_after\":1},"
                   " {\"tool_calls\":[{\"name\":\"execute\",\"args\":[\"{\\\"comm\",\"and\"]}],"
                   "  \"drop\":true},"
                   " {\"text\":\"ok\"}]");
    struct llm_provider *p = provider(&f, "openai", 0);
    struct call c;
    /* Text reached the person: a retry would repeat it. */
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.err.kind, ERR_UNAVAILABLE);
    assert_string_equal(err_msg(&c.err), "the LLM provider's stream broke off: transfer closed "
                                         "with outstanding read data remaining");
    assert_false(c.fail.retryable);
    assert_true(c.fail.delivered);
    assert_string_equal(buf_str(&c.reply.text), "partial");
    assert_false(c.reply.complete);
    call_free(&c);
    /* Nothing delivered: retryable. */
    for (int i = 0; i < 2; i++) {
        call_run(&c, p, NULL);
        assert_int_equal(c.rc, -1);
        assert_true(c.fail.retryable);
        assert_false(c.fail.delivered);
        assert_false(c.reply.complete);
        assert_int_equal(c.reply.ncalls, i); /* a cut call is handed back, never complete */
        call_free(&c);
    }
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, 0);
    assert_string_equal(buf_str(&c.reply.text), "ok");
    call_free(&c);
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_stream_errors(void **state)
{
    struct fakellm f;
    fake_start(&f,
               "[{\"error_event\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}},"
               " {\"text\":\"so far\",\"error_event\":{\"type\":\"overloaded_error\","
               "  \"message\":\"Overloaded\"}},"
               " {\"text\":\"x\",\"raw\":[\"event: content_block_delta\\ndata: {oops\\n\\n\"]},"
               " {\"text\":\"x\",\"finish\":\"max_tokens\"},"
               " {\"error_event\":{\"type\":\"invalid_request_error\",\"message\":\"" KEY "\"}}]");
    struct llm_provider *p = provider(&f, "anthropic", 0);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_string_equal(err_msg(&c.err),
                        "the LLM provider reported an error in its stream: Overloaded");
    assert_true(c.fail.retryable);
    assert_int_equal(c.fail.status, 200);
    call_free(&c);
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_false(c.fail.retryable); /* text reached the person */
    assert_true(c.fail.delivered);
    call_free(&c);
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_string_equal(err_msg(&c.err), "the LLM provider sent a stream event that is not a JSON "
                                         "object (string or '}' expected near 'oops')");
    assert_false(c.fail.retryable);
    call_free(&c);
    /* A reply cut at the token limit without a call is complete. */
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.reply.stop, LLM_STOP_MAX);
    call_free(&c);
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_string_equal(err_msg(&c.err),
                        "the LLM provider reported an error in its stream: [redacted]");
    assert_false(c.fail.retryable);
    call_free(&c);
    llm_provider_free(p);
    fake_stop(&f);
}

struct canceler {
    struct tool_cancel *cancel;
    int64_t after_ms;
};

static void *cancel_later(void *arg)
{
    struct canceler *k = arg;
    usleep((useconds_t)(k->after_ms * 1000));
    tool_cancel_trigger(k->cancel);
    return NULL;
}

static void test_cancel(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"text\":\"warm\"},{\"text\":\"working\",\"hang\":true},"
                   " {\"delay_ms\":60000,\"text\":\"late\"}]");
    struct llm_provider *p = provider(&f, "openai", 0);
    /* The first request leaves its connection open: the first cancel below hits a reused one. */
    struct call warm;
    call_run(&warm, p, NULL);
    assert_int_equal(warm.rc, 0);
    call_free(&warm);
    for (int i = 0; i < 2; i++) {
        /* While the stream hangs after some text, then while the answer has not begun. */
        struct tool_cancel cancel;
        tool_cancel_init(&cancel);
        struct canceler k = {&cancel, 200};
        pthread_t t;
        pthread_create(&t, NULL, cancel_later, &k);
        int64_t t0 = time_mono_us();
        struct call c;
        call_run(&c, p, &cancel);
        int64_t took_ms = (time_mono_us() - t0) / 1000;
        pthread_join(t, NULL);
        assert_int_equal(c.rc, -1);
        assert_int_equal(c.err.kind, ERR_CANCELED);
        assert_string_equal(err_msg(&c.err), "the LLM request was canceled");
        assert_false(c.fail.retryable);
        assert_string_equal(buf_str(&c.reply.text), i == 0 ? "working" : "");
        /* Not the 60 s time-outs: the cancel ended it (a bound, not a measurement). */
        assert_true(took_ms < 10 * 1000);
        call_free(&c);
        tool_cancel_destroy(&cancel);
    }
    /* Canceled before it began: no request is made. */
    struct tool_cancel cancel;
    tool_cancel_init(&cancel);
    tool_cancel_trigger(&cancel);
    struct call c;
    call_run(&c, p, &cancel);
    assert_int_equal(c.err.kind, ERR_CANCELED);
    call_free(&c);
    tool_cancel_destroy(&cancel);
    json_t *log = fake_log(&f);
    assert_int_equal(json_array_size(log), 3);
    json_decref(log);
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_idle_timeout(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"text\":\"x\",\"hang\":true}]");
    struct llm_provider *p = provider(&f, "anthropic", 300);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.err.kind, ERR_TIMEOUT);
    assert_string_equal(err_msg(&c.err), "the LLM provider's stream broke off: no data for 300 ms");
    assert_false(c.fail.retryable);
    call_free(&c);
    llm_provider_free(p);
    fake_stop(&f);
}

/* Without a key no Authorization header is sent (local servers). */
static void test_no_key(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"forbid_header\":\"Authorization\",\"text\":\"local\"},"
                   " {\"forbid_header\":\"x-api-key\",\"text\":\"local\"}]");
    static const char *const which[] = {"openai", "anthropic"};
    for (int i = 0; i < 2; i++) {
        struct llm_config cfg = {
            .provider = which[i], .base_url = f.url, .model = "m", .api_key = ""};
        struct err e = ERR_INIT;
        struct llm_provider *p = llm_provider_new(&cfg, &e);
        assert_non_null(p);
        struct call c;
        call_run(&c, p, NULL);
        assert_int_equal(c.rc, 0);
        assert_string_equal(buf_str(&c.reply.text), "local");
        call_free(&c);
        llm_provider_free(p);
    }
    fake_stop(&f);
}

/* The whole request's time limit. */
static void test_total_timeout(void **state)
{
    struct fakellm f;
    fake_start(&f, "[{\"text\":\"x\",\"hang\":true}]");
    struct llm_config cfg = {.base_url = f.url, .model = "m", .total_timeout_ms = 300};
    struct err e = ERR_INIT;
    struct llm_provider *p = llm_provider_new(&cfg, &e);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.err.kind, ERR_TIMEOUT);
    const char *want = "the LLM provider's stream broke off: Operation timed out after ";
    assert_true(strncmp(err_msg(&c.err), want, strlen(want)) == 0);
    assert_false(c.fail.retryable); /* "x" reached the person */
    assert_true(c.fail.delivered);
    call_free(&c);
    llm_provider_free(p);
    fake_stop(&f);
}

static void test_unreachable(void **state)
{
    struct fakellm f;
    fake_start(&f, "[]");
    char url[128];
    snprintf(url, sizeof url, "%s", f.url);
    fake_stop(&f); /* nobody listens there now */
    snprintf(f.url, sizeof f.url, "%s", url);
    struct llm_provider *p = provider(&f, "openai", 0);
    struct call c;
    call_run(&c, p, NULL);
    assert_int_equal(c.rc, -1);
    assert_int_equal(c.err.kind, ERR_UNAVAILABLE);
    assert_true(strncmp(err_msg(&c.err), "cannot reach the LLM provider: ", 31) == 0);
    assert_true(c.fail.retryable);
    assert_int_equal(c.fail.status, 0);
    call_free(&c);
    llm_provider_free(p);
}

static int setup(void **state)
{
    return secure_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream), cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_http_errors),   cmocka_unit_test(test_dropped),
        cmocka_unit_test(test_stream_errors), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_idle_timeout),  cmocka_unit_test(test_no_key),
        cmocka_unit_test(test_total_timeout), cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
