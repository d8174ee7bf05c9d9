/* provider_anthropic.c - Anthropic Messages with streaming and tool use: the request body, the
 * stream decoder, and the provider (POST {base_url}/messages). */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "chat/llm.h"

#include <stdlib.h>
#include <string.h>

#define ANTHROPIC_VERSION    "2023-06-01" /* pinned: later versions change what requests mean */
#define ANTHROPIC_MAX_TOKENS 8192

/* ---- the request ---- */

static bool part_is(const json_t *p, const char *type)
{
    return strcmp(jsonx_get_str(p, "type", ""), type) == 0;
}

/* Appends a message, merging it into the previous one when the role repeats (the API wants
 * user and assistant to alternate). Takes blocks. */
static void add_message(json_t *msgs, const char *role, json_t *blocks)
{
    if (!json_array_size(blocks)) {
        json_decref(blocks); /* an empty content list is a 400 */
        return;
    }
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    if (last && strcmp(jsonx_get_str(last, "role", ""), role) == 0) {
        json_array_extend(json_object_get(last, "content"), blocks);
        json_decref(blocks);
        return;
    }
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", role, "content", blocks));
}

static json_t *text_blocks(const json_t *parts)
{
    json_t *blocks = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *t = jsonx_get_str(p, "text", "");
        if (part_is(p, "text") && *t) /* empty text blocks are a 400 */
            json_array_append_new(blocks, json_pack("{s:s, s:s}", "type", "text", "text", t));
    }
    return blocks;
}

static json_t *assistant_blocks(const json_t *parts)
{
    json_t *blocks = text_blocks(parts); /* reasoning is never sent back */
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (!part_is(p, "tool-call"))
            continue;
        json_array_append_new(blocks, json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id",
                                                jsonx_get_str(p, "tool_call_id", ""), "name",
                                                jsonx_get_str(p, "tool_name", ""), "input",
                                                llm_call_input(p)));
    }
    return blocks;
}

static json_t *result_blocks(const json_t *parts)
{
    json_t *blocks = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (!part_is(p, "tool-result"))
            continue;
        char *content = llm_result_text(p);
        const json_t *is_error = json_object_get(p, "is_error");
        json_array_append_new(blocks,
                              json_pack("{s:s, s:s, s:s, s:b}", "type", "tool_result",
                                        "tool_use_id", jsonx_get_str(p, "tool_call_id", ""),
                                        "content", content, "is_error", json_is_true(is_error)));
        free(content);
    }
    return blocks;
}

json_t *llm_anthropic_body(const struct llm_config *cfg, const struct llm_request *req)
{
    json_t *msgs = json_array();
    json_t *conv = llm_normalize_messages(req->messages);
    size_t i;
    const json_t *m;
    json_array_foreach(conv, i, m)
    {
        const char *role = jsonx_get_str(m, "role", "");
        const json_t *parts = json_object_get(m, "parts");
        if (strcmp(role, "user") == 0)
            add_message(msgs, "user", text_blocks(parts));
        else if (strcmp(role, "assistant") == 0)
            add_message(msgs, "assistant", assistant_blocks(parts));
        else if (strcmp(role, "tool") == 0)
            add_message(msgs, "user", result_blocks(parts));
    }
    json_decref(conv);
    json_t *tools = json_array();
    const json_t *t;
    json_array_foreach(req->tools, i, t)
    {
        json_t *tool = json_pack("{s:s}", "name", jsonx_get_str(t, "name", ""));
        const json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc))
            json_object_set(tool, "description", (json_t *)(uintptr_t)desc);
        const json_t *schema = json_object_get(t, "input_schema");
        json_object_set_new(tool, "input_schema",
                            json_is_object(schema) ? json_deep_copy(schema)
                                                   : json_pack("{s:s}", "type", "object"));
        json_array_append_new(tools, tool);
    }
    json_t *body =
        json_pack("{s:s, s:I, s:o, s:b}", "model", cfg->model, "max_tokens",
                  (json_int_t)(cfg->max_tokens > 0 ? cfg->max_tokens : ANTHROPIC_MAX_TOKENS),
                  "messages", msgs, "stream", 1);
    if (req->system && *req->system)
        json_object_set_new(body, "system", json_string(req->system));
    if (json_array_size(tools))
        json_object_set_new(body, "tools", tools);
    else
        json_decref(tools);
    return body;
}

/* ---- the stream ---- */

static enum llm_stop stop_of(const char *reason)
{
    if (strcmp(reason, "end_turn") == 0 || strcmp(reason, "stop_sequence") == 0)
        return LLM_STOP_END;
    if (strcmp(reason, "max_tokens") == 0 || strcmp(reason, "model_context_window_exceeded") == 0)
        return LLM_STOP_MAX;
    if (strcmp(reason, "tool_use") == 0)
        return LLM_STOP_TOOLS;
    if (strcmp(reason, "refusal") == 0)
        return LLM_STOP_REFUSAL;
    if (strcmp(reason, "pause_turn") == 0)
        return LLM_STOP_PAUSE;
    return LLM_STOP_OTHER;
}

static int stream_error(struct llm_decoder *d, const json_t *o, struct err *e)
{
    const json_t *error = json_object_get(o, "error");
    const char *type = jsonx_get_str(error, "type", "");
    const char *msg = jsonx_get_str(error, "message", "");
    if (!*msg)
        msg = *type ? type : "unknown error";
    d->error_retryable = strcmp(type, "overloaded_error") == 0 || strcmp(type, "api_error") == 0 ||
                         strcmp(type, "timeout_error") == 0 ||
                         strcmp(type, "rate_limit_error") == 0;
    free(d->error);
    d->error = xstrdup(msg);
    return err_set(e, ERR_UNAVAILABLE, "the LLM provider reported an error in its stream: %s", msg);
}

static int too_large(struct err *e)
{
    return err_set(e, ERR_UNAVAILABLE, "the LLM provider's reply is over %u bytes",
                   LLM_RESPONSE_MAX);
}

static int block_start(struct llm_decoder *d, const json_t *o, struct err *e)
{
    int64_t ix = json_integer_value(json_object_get(o, "index"));
    const json_t *block = json_object_get(o, "content_block");
    const char *type = jsonx_get_str(block, "type", "");
    if (strcmp(type, "text") == 0) {
        const char *t = jsonx_get_str(block, "text", "");
        return llm_emit_text(d, t, strlen(t)) < 0 ? too_large(e) : 0;
    }
    if (strcmp(type, "thinking") == 0) {
        const char *t = jsonx_get_str(block, "thinking", "");
        return llm_emit_reasoning(d, t, strlen(t)) < 0 ? too_large(e) : 0;
    }
    if (strcmp(type, "tool_use") != 0)
        return 0; /* redacted thinking, server tools: nothing for us */
    struct llm_slot *s = llm_slot_new(d, ix);
    if (!s)
        return err_set(e, ERR_UNAVAILABLE, "the LLM provider sent more than %d tool calls",
                       LLM_CALLS_MAX);
    s->id = xstrdup(jsonx_get_str(block, "id", ""));
    s->name = xstrdup(jsonx_get_str(block, "name", ""));
    /* input is a placeholder {}: the arguments come as input_json_delta pieces. */
    return 0;
}

static int block_delta(struct llm_decoder *d, const json_t *o, struct err *e)
{
    int64_t ix = json_integer_value(json_object_get(o, "index"));
    const json_t *delta = json_object_get(o, "delta");
    const char *type = jsonx_get_str(delta, "type", "");
    const json_t *v;
    if (strcmp(type, "text_delta") == 0 && json_is_string(v = json_object_get(delta, "text")))
        return llm_emit_text(d, json_string_value(v), json_string_length(v)) < 0 ? too_large(e) : 0;
    if (strcmp(type, "thinking_delta") == 0 &&
        json_is_string(v = json_object_get(delta, "thinking")))
        return llm_emit_reasoning(d, json_string_value(v), json_string_length(v)) < 0 ? too_large(e)
                                                                                      : 0;
    if (strcmp(type, "input_json_delta") == 0) {
        struct llm_slot *s = llm_slot_find(d, ix);
        if (!s || s->closed)
            return err_set(e, ERR_UNAVAILABLE,
                           "the LLM provider sent tool input for block %lld, which is no open "
                           "tool call",
                           (long long)ix);
        if (buf_puts(&s->args, jsonx_get_str(delta, "partial_json", "")) < 0)
            return err_set(e, ERR_UNAVAILABLE,
                           "the LLM provider sent tool call arguments over %u bytes", LLM_ARGS_MAX);
    }
    return 0; /* signature_delta, citations and unknown deltas */
}

int llm_anthropic_event(struct llm_decoder *d, const char *event, const char *data, struct err *e)
{
    json_error_t je;
    json_t *o = json_loads(data, JSON_DECODE_ANY, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(e, ERR_UNAVAILABLE,
                       "the LLM provider sent a stream event that is not a JSON object (%s)",
                       o ? "another JSON value" : je.text);
    }
    const char *type = jsonx_get_str(o, "type", event);
    int rc = 0;
    if (strcmp(type, "message_start") == 0) {
        const json_t *usage = json_object_get(json_object_get(o, "message"), "usage");
        d->reply->input_tokens =
            json_integer_value(json_object_get(usage, "input_tokens")) +
            json_integer_value(json_object_get(usage, "cache_read_input_tokens")) +
            json_integer_value(json_object_get(usage, "cache_creation_input_tokens"));
        d->reply->output_tokens = json_integer_value(json_object_get(usage, "output_tokens"));
    } else if (strcmp(type, "content_block_start") == 0) {
        rc = block_start(d, o, e);
    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = block_delta(d, o, e);
    } else if (strcmp(type, "content_block_stop") == 0) {
        struct llm_slot *s = llm_slot_find(d, json_integer_value(json_object_get(o, "index")));
        if (s)
            s->closed = true;
    } else if (strcmp(type, "message_delta") == 0) {
        const char *reason = jsonx_get_str(json_object_get(o, "delta"), "stop_reason", NULL);
        if (reason) {
            d->finished = true;
            d->reply->stop = stop_of(reason);
        }
        const json_t *out = json_object_get(json_object_get(o, "usage"), "output_tokens");
        if (json_is_integer(out))
            d->reply->output_tokens = json_integer_value(out);
    } else if (strcmp(type, "message_stop") == 0) {
        d->done = true;
    } else if (strcmp(type, "error") == 0) {
        rc = stream_error(d, o, e);
    }
    /* ping and unknown events mean nothing to us */
    json_decref(o);
    return rc;
}

/* ---- the provider ---- */

struct anthropic {
    struct llm_config cfg; /* strings owned */
    struct llm_pool pool;
    char *url;
    char *key; /* "x-api-key: <key>" or NULL */
};

static int anthropic_stream(struct llm_provider *p, const struct llm_request *req,
                            const struct llm_sink *sink, struct tool_cancel *cancel,
                            struct llm_reply *out, struct llm_failure *fail, struct err *e)
{
    struct anthropic *a = p->impl;
    json_t *body = llm_anthropic_body(&a->cfg, req);
    char *text = jsonx_dump(body);
    json_decref(body);
    const char *headers[] = {"Content-Type: application/json", "Accept: text/event-stream",
                             "anthropic-version: " ANTHROPIC_VERSION, a->key, NULL};
    int rc =
        llm_stream_call(&a->cfg, &a->pool, a->url, headers, text, true, sink, cancel, out, fail, e);
    free(text);
    return rc;
}

static void anthropic_free(struct llm_provider *p)
{
    struct anthropic *a = p->impl;
    llm_pool_free(&a->pool);
    llm_config_free_strings(&a->cfg);
    free(a->url);
    llm_secret_free(a->key);
    free(a);
    free(p);
}

struct llm_provider *llm_anthropic_new(const struct llm_config *cfg)
{
    struct anthropic *a = xcalloc(1, sizeof *a);
    llm_pool_init(&a->pool);
    llm_config_copy(&a->cfg, cfg, "https://api.anthropic.com/v1");
    a->url = str_printf("%s/messages", a->cfg.base_url);
    if (a->cfg.api_key && *a->cfg.api_key)
        a->key = str_printf("x-api-key: %s", a->cfg.api_key);
    struct llm_provider *p = xcalloc(1, sizeof *p);
    p->name = "anthropic";
    p->impl = a;
    p->stream = anthropic_stream;
    p->free = anthropic_free;
    return p;
}
