/* Unit tests for the stream decoders (provider_openai.c, provider_anthropic.c, llm_common.c):
 * streams shaped like the providers' own, fed through the SSE parser in pieces, with parallel
 * tool calls, arguments split anywhere, error events, bad JSON, cut streams and caps. */
#include "testing.h"

#include "base/buf.h"
#include "base/err.h"
#include "chat/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
    struct llm_reply reply;
    struct llm_decoder dec;
    struct llm_sink sink;
    struct buf sunk; /* what reached the sink: text as is, reasoning in [] */
    struct err err;
    bool anthropic;
    bool failed;
};

static void sink_text(void *arg, const char *s, size_t n)
{
    buf_append(&((struct run *)arg)->sunk, s, n);
}

static void sink_reasoning(void *arg, const char *s, size_t n)
{
    struct run *r = arg;
    buf_putc(&r->sunk, '[');
    buf_append(&r->sunk, s, n);
    buf_putc(&r->sunk, ']');
}

static int on_event(void *arg, const char *event, const char *data)
{
    struct run *r = arg;
    int rc = r->anthropic ? llm_anthropic_event(&r->dec, event, data, &r->err)
                          : llm_openai_event(&r->dec, event, data, &r->err);
    if (rc < 0)
        r->failed = true;
    return rc < 0;
}

/* Decodes a whole stream fed in pieces of step bytes; clean_eof as the transport would say. */
static void decode(struct run *r, bool anthropic, const char *stream, size_t step)
{
    memset(r, 0, sizeof *r);
    r->anthropic = anthropic;
    buf_init(&r->sunk, 0);
    r->sink = (struct llm_sink){r, sink_text, sink_reasoning};
    llm_reply_init(&r->reply);
    llm_decoder_init(&r->dec, &r->reply, &r->sink);
    struct sse_parser p;
    sse_init(&p, on_event, r);
    size_t len = strlen(stream);
    for (size_t i = 0; i < len; i += step)
        if (sse_feed(&p, stream + i, len - i < step ? len - i : step) < 0)
            break;
    sse_free(&p);
    llm_decoder_end(&r->dec, anthropic, !r->failed);
}

static void run_free(struct run *r)
{
    llm_decoder_free(&r->dec);
    llm_reply_clear(&r->reply);
    buf_free(&r->sunk);
    err_clear(&r->err);
}

#define OA(delta)                                                                                  \
    "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":" delta       \
    "}]}\n\n"
#define OA_FINISH(reason)                                                                          \
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" reason "\"}]}\n\n"

/* clang-format off */
static const char openai_text[] =
    OA("{\"role\":\"assistant\",\"content\":\"\"}")
    OA("{\"content\":\"Hel\"}")
    OA("{\"reasoning_content\":\"hmm\"}")
    OA("{\"content\":\"lo \\u00e9\"}")
    OA_FINISH("stop")
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":82,\"completion_tokens\":17,"
    "\"total_tokens\":99}}\n\n"
    "data: [DONE]\n\n";
/* clang-format on */

static void test_openai_text(void **state)
{
    for (size_t step = 1; step <= 64; step *= 4) {
        struct run r;
        decode(&r, false, openai_text, step);
        assert_false(r.failed);
        assert_true(r.reply.complete);
        assert_int_equal(r.reply.stop, LLM_STOP_END);
        assert_string_equal(buf_str(&r.reply.text), "Hello \xc3\xa9");
        assert_string_equal(buf_str(&r.reply.reasoning), "hmm");
        assert_string_equal(buf_str(&r.sunk), "Hel[hmm]lo \xc3\xa9");
        assert_int_equal(r.reply.ncalls, 0);
        assert_int_equal(r.reply.input_tokens, 82);
        assert_int_equal(r.reply.output_tokens, 17);
        assert_true(r.dec.delivered);
        run_free(&r);
    }
}

/* Two calls in parallel, interleaved, arguments split inside an escape. */
/* clang-format off */
static const char openai_calls[] =
    OA("{\"role\":\"assistant\",\"content\":null}")
    OA("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{"
       "\"name\":\"read_file\",\"arguments\":\"\"}}]}")
    OA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\":\\\"a\\\\\"}}]}")
    OA("{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\","
       "\"function\":{\"name\":\"execute\",\"arguments\":\"{\\\"command\\\"\"}}]}")
    OA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\\b.c\\\"}\"}}]}")
    OA("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":\\\"ls\\\"}\"}}]}")
    OA_FINISH("tool_calls")
    "data: [DONE]\n\n";
/* clang-format on */

static void test_openai_calls(void **state)
{
    for (size_t step = 1; step <= 256; step *= 16) {
        struct run r;
        decode(&r, false, openai_calls, step);
        assert_false(r.failed);
        assert_true(r.reply.complete);
        assert_int_equal(r.reply.stop, LLM_STOP_TOOLS);
        assert_int_equal(r.reply.ncalls, 2);
        assert_string_equal(r.reply.calls[0].id, "call_1");
        assert_string_equal(r.reply.calls[0].name, "read_file");
        assert_string_equal(r.reply.calls[0].args, "{\"path\":\"a\\\\b.c\"}");
        assert_string_equal(r.reply.calls[1].id, "call_2");
        assert_string_equal(r.reply.calls[1].name, "execute");
        assert_string_equal(r.reply.calls[1].args, "{\"command\":\"ls\"}");
        assert_false(r.dec.delivered); /* calls never reach the sink */
        run_free(&r);
    }
}

/* Deviations: no index, all calls at index 0 with different ids, the name repeated, no id,
 * finish_reason "stop" beside calls, no [DONE] but a clean end. */
static void test_openai_deviations(void **state)
{
    struct run r;
    decode(
        &r, false,
        OA("{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"x\",\"arguments\":\"{}\"}}]}")
            OA("{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"y\","
               "\"arguments\":\"{\\\"k\\\"\"}}]}")
                OA("{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"y\","
                   "\"arguments\":\":1}\"}}]}")
                    OA("{\"tool_calls\":[{\"index\":2,\"function\":{\"name\":\"z\"}}]}")
                        OA_FINISH("stop"),
        7);
    assert_false(r.failed);
    assert_true(r.reply.complete);
    assert_int_equal(r.reply.stop, LLM_STOP_TOOLS);
    assert_int_equal(r.reply.ncalls, 3);
    assert_string_equal(r.reply.calls[0].id, "a");
    assert_string_equal(r.reply.calls[0].name, "x");
    assert_string_equal(r.reply.calls[0].args, "{}");
    assert_string_equal(r.reply.calls[1].id, "b");
    assert_string_equal(r.reply.calls[1].name, "y");
    assert_string_equal(r.reply.calls[1].args, "{\"k\":1}");
    assert_true(strncmp(r.reply.calls[2].id, "call_", 5) == 0); /* made up */
    assert_int_equal(strlen(r.reply.calls[2].id), 29);
    assert_string_equal(r.reply.calls[2].name, "z");
    assert_string_equal(r.reply.calls[2].args, "");
    run_free(&r);
}

static void test_openai_incomplete(void **state)
{
    struct run r;
    /* Cut before any finish: not complete, but nothing failed in decoding. */
    decode(&r, false, OA("{\"content\":\"Hi\"}"), 5);
    assert_false(r.failed);
    assert_false(r.reply.complete);
    assert_string_equal(buf_str(&r.reply.text), "Hi");
    run_free(&r);

    /* The token limit with a call open: never complete (arguments may be cut). */
    decode(&r, false,
           OA("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\","
              "\"arguments\":\"{\\\"a\\\":\"}}]}") OA_FINISH("length") "data: [DONE]\n\n",
           1000);
    assert_false(r.reply.complete);
    assert_int_equal(r.reply.stop, LLM_STOP_MAX);
    run_free(&r);

    /* [DONE] without any finish_reason still completes the calls. */
    decode(&r, false,
           OA("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\","
              "\"arguments\":\"{}\"}}]}") "data: [DONE]\n\n",
           1000);
    assert_true(r.reply.complete);
    assert_int_equal(r.reply.stop, LLM_STOP_TOOLS);
    assert_int_equal(r.reply.ncalls, 1);
    run_free(&r);
    /* A finish_reason and a clean end without [DONE] complete them too; a call without either
     * does not. */
    decode(&r, false,
           OA("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\"}}]}")
               OA_FINISH("tool_calls"),
           1000);
    assert_true(r.reply.complete);
    run_free(&r);
    decode(&r, false,
           OA("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\"}}]}"), 1000);
    assert_false(r.reply.complete);
    assert_int_equal(r.reply.ncalls, 1);
    run_free(&r);

    /* The token limit on text alone is a complete reply that stopped at MAX. */
    decode(&r, false, OA("{\"content\":\"Hi\"}") OA_FINISH("length") "data: [DONE]\n\n", 1000);
    assert_true(r.reply.complete);
    assert_int_equal(r.reply.stop, LLM_STOP_MAX);
    run_free(&r);

    /* content_filter and an unknown reason. */
    decode(&r, false, OA_FINISH("content_filter") "data: [DONE]\n\n", 1000);
    assert_int_equal(r.reply.stop, LLM_STOP_REFUSAL);
    run_free(&r);
    decode(&r, false, OA_FINISH("eos") "data: [DONE]\n\n", 1000);
    assert_int_equal(r.reply.stop, LLM_STOP_OTHER);
    run_free(&r);
}

static void test_openai_errors(void **state)
{
    struct run r;
    /* OpenRouter: an error event inside a 200 stream. */
    decode(&r, false,
           "data: {\"error\":{\"code\":502,\"message\":\"upstream died\"},\"choices\":[{"
           "\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
           1000);
    assert_true(r.failed);
    assert_false(r.reply.complete);
    assert_true(r.dec.error_retryable);
    assert_string_equal(err_msg(&r.err),
                        "the LLM provider reported an error in its stream: upstream died");
    run_free(&r);

    decode(&r, false,
           "data: {\"error\":{\"type\":\"invalid_request_error\",\"message\":\"no\"}}\n\n", 1000);
    assert_true(r.failed);
    assert_false(r.dec.error_retryable);
    run_free(&r);

    decode(&r, false, "data: {\"error\":\"Unauthorized\"}\n\n", 1000);
    assert_true(r.failed);
    assert_string_equal(err_msg(&r.err),
                        "the LLM provider reported an error in its stream: Unauthorized");
    run_free(&r);

    /* Not JSON, and JSON that is not an object. */
    decode(&r, false, OA("{\"content\":\"a\"}") "data: {\"choices\":[\n\n", 1000);
    assert_true(r.failed);
    assert_true(err_is(&r.err, ERR_UNAVAILABLE));
    assert_string_equal(err_msg(&r.err), "the LLM provider sent a stream event that is not a "
                                         "JSON object (']' expected near end of file)");
    assert_false(r.reply.complete);
    assert_string_equal(buf_str(&r.reply.text), "a");
    run_free(&r);
    decode(&r, false, "data: [1,2]\n\n", 1000);
    assert_string_equal(
        err_msg(&r.err),
        "the LLM provider sent a stream event that is not a JSON object (another JSON value)");
    run_free(&r);

    /* Choices that are not what we asked for are skipped; wrong types are ignored. */
    decode(&r, false,
           "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}}]}\n\n"
           "data: {\"choices\":\"x\"}\n\n"
           "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":5}}]}\n\n" OA_FINISH(
               "stop") "data: [DONE]\n\n",
           1000);
    assert_false(r.failed);
    assert_true(r.reply.complete);
    assert_string_equal(buf_str(&r.reply.text), "");
    run_free(&r);
}

static void test_openai_caps(void **state)
{
    struct run r;
    struct buf s = BUF_INIT;
    for (int i = 0; i <= LLM_CALLS_MAX; i++)
        buf_printf(&s,
                   "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%d,"
                   "\"id\":\"c%d\",\"function\":{\"name\":\"x\"}}]}}]}\n\n",
                   i, i);
    decode(&r, false, buf_str(&s), 100000);
    assert_true(r.failed);
    assert_string_equal(err_msg(&r.err), "the LLM provider sent more than 64 tool calls");
    run_free(&r);
    buf_free(&s);

    /* Arguments over the cap, in pieces that each fit an event. */
    size_t piece = 1024 * 1024;
    char *a = malloc(piece + 1);
    memset(a, 'a', piece);
    a[piece] = '\0';
    buf_printf(&s,
               OA("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\"}}]}"));
    for (int i = 0; i < 9; i++)
        buf_printf(&s, OA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"%s\"}}]}"),
                   a);
    decode(&r, false, buf_str(&s), 1 << 20);
    assert_true(r.failed);
    assert_string_equal(err_msg(&r.err),
                        "the LLM provider sent tool call arguments over 8388608 bytes");
    run_free(&r);
    buf_free(&s);
    free(a);
}

#define AN(type, json) "event: " type "\ndata: " json "\n\n"

/* clang-format off */
static const char anthropic_stream[] =
    AN("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
       "\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":472,"
       "\"cache_read_input_tokens\":8,\"output_tokens\":1}}}")
    AN("ping", "{\"type\":\"ping\"}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
       "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
       "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
       "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"abc\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
       "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
       "\"delta\":{\"type\":\"text_delta\",\"text\":\"Reading \"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
       "\"delta\":{\"type\":\"text_delta\",\"text\":\"both.\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,"
       "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"read_file\","
       "\"input\":{}}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,"
       "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,"
       "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \\\"a\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,"
       "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\".c\\\"}\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":3,"
       "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01B\","
       "\"name\":\"list_templates\",\"input\":{}}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":3}");

static const char anthropic_end[] =
    AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
       "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}")
    AN("message_stop", "{\"type\":\"message_stop\"}");
/* clang-format on */

static void test_anthropic(void **state)
{
    char *all = malloc(sizeof anthropic_stream + sizeof anthropic_end);
    memcpy(all, anthropic_stream, sizeof anthropic_stream - 1);
    memcpy(all + sizeof anthropic_stream - 1, anthropic_end, sizeof anthropic_end);
    for (size_t step = 1; step <= 1024; step *= 8) {
        struct run r;
        decode(&r, true, all, step);
        assert_false(r.failed);
        assert_true(r.reply.complete);
        assert_int_equal(r.reply.stop, LLM_STOP_TOOLS);
        assert_string_equal(buf_str(&r.reply.text), "Reading both.");
        assert_string_equal(buf_str(&r.reply.reasoning), "Let me");
        assert_string_equal(buf_str(&r.sunk), "[Let me]Reading both.");
        assert_int_equal(r.reply.ncalls, 2);
        assert_string_equal(r.reply.calls[0].id, "toolu_01A");
        assert_string_equal(r.reply.calls[0].name, "read_file");
        assert_string_equal(r.reply.calls[0].args, "{\"path\": \"a.c\"}");
        assert_string_equal(r.reply.calls[1].id, "toolu_01B");
        assert_string_equal(r.reply.calls[1].name, "list_templates");
        assert_string_equal(r.reply.calls[1].args, "");
        assert_int_equal(r.reply.input_tokens, 480);
        assert_int_equal(r.reply.output_tokens, 89);
        run_free(&r);
    }
    /* Without message_stop the reply is not complete, even after a clean end. */
    struct run r;
    decode(&r, true, anthropic_stream, 4096);
    assert_false(r.failed);
    assert_false(r.reply.complete);
    run_free(&r);
    free(all);
}

static void test_anthropic_stops(void **state)
{
    static const struct {
        const char *reason;
        enum llm_stop stop;
    } cases[] = {
        {"end_turn", LLM_STOP_END},        {"stop_sequence", LLM_STOP_END},
        {"max_tokens", LLM_STOP_MAX},      {"model_context_window_exceeded", LLM_STOP_MAX},
        {"refusal", LLM_STOP_REFUSAL},     {"pause_turn", LLM_STOP_PAUSE},
        {"something_new", LLM_STOP_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[512];
        snprintf(s, sizeof s,
                 AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                     "\"%s\"}}") AN("message_stop", "{\"type\":\"message_stop\"}"),
                 cases[i].reason);
        struct run r;
        decode(&r, true, s, 1000);
        assert_true(r.reply.complete);
        assert_int_equal(r.reply.stop, cases[i].stop);
        run_free(&r);
    }
    /* max_tokens with a tool_use block never stopped: not complete. */
    struct run r;
    decode(&r, true,
           AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                                     "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
                                     "\"name\":\"x\",\"input\":{}}}")
               AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                         "{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}")
                   AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                       "\"max_tokens\"}}")
                       AN("message_stop", "{\"type\":\"message_stop\"}"),
           1000);
    assert_false(r.failed);
    assert_false(r.reply.complete);
    run_free(&r);
}

static void test_anthropic_errors(void **state)
{
    struct run r;
    decode(&r, true,
           AN("message_start", "{\"type\":\"message_start\",\"message\":{}}") AN(
               "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                        "\"Overloaded\"}}"),
           1000);
    assert_true(r.failed);
    assert_true(r.dec.error_retryable);
    assert_string_equal(err_msg(&r.err),
                        "the LLM provider reported an error in its stream: Overloaded");
    assert_false(r.reply.complete);
    run_free(&r);

    decode(&r, true,
           AN("error", "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                       "\"message\":\"bad\"}}"),
           1000);
    assert_true(r.failed);
    assert_false(r.dec.error_retryable);
    run_free(&r);

    /* Input for a block that is no tool call. */
    decode(&r, true,
           AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":4,\"delta\":{"
                                     "\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}"),
           1000);
    assert_true(r.failed);
    assert_string_equal(err_msg(&r.err), "the LLM provider sent tool input for block 4, which is "
                                         "no open tool call");
    run_free(&r);

    decode(&r, true, AN("content_block_delta", "not json"), 1000);
    assert_true(r.failed);
    assert_string_equal(err_msg(&r.err), "the LLM provider sent a stream event that is not a "
                                         "JSON object (invalid token near 'not')");
    run_free(&r);

    /* Unknown events and deltas are ignored. */
    decode(&r, true,
           AN("future_event", "{\"type\":\"future_event\"}")
               AN("content_block_delta",
                  "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_"
                  "delta\"}}") AN("message_stop", "{\"type\":\"message_stop\"}"),
           1000);
    assert_false(r.failed);
    assert_true(r.reply.complete);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_text),       cmocka_unit_test(test_openai_calls),
        cmocka_unit_test(test_openai_deviations), cmocka_unit_test(test_openai_incomplete),
        cmocka_unit_test(test_openai_errors),     cmocka_unit_test(test_openai_caps),
        cmocka_unit_test(test_anthropic),         cmocka_unit_test(test_anthropic_stops),
        cmocka_unit_test(test_anthropic_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
