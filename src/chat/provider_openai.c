/* provider_openai.c - OpenAI-compatible Chat Completions with streaming and tool calls (OpenAI,
 * vLLM, Ollama, llama.cpp server, OpenRouter): the request body, the stream decoder, and the
 * provider (POST {base_url}/chat/completions). */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "chat/llm.h"

#include <stdlib.h>
#include <string.h>

/* ---- the request ---- */

static void add_assistant(json_t *msgs, const json_t *parts)
{
    char *text = llm_parts_text(parts);
    json_t *calls = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (strcmp(jsonx_get_str(p, "type", ""), "tool-call") != 0)
            continue;
        json_t *input = llm_call_input(p);
        char *args = jsonx_dump(input);
        json_decref(input);
        json_array_append_new(
            calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", jsonx_get_str(p, "tool_call_id", ""),
                             "type", "function", "function", "name",
                             jsonx_get_str(p, "tool_name", ""), "arguments", args));
        free(args);
    }
    json_t *m = json_pack("{s:s}", "role", "assistant");
    /* content may be null beside tool calls; an assistant turn with neither says nothing. */
    if (*text)
        json_object_set_new(m, "content", json_string(text));
    else
        json_object_set_new(m, "content", json_array_size(calls) ? json_null() : json_string(""));
    if (json_array_size(calls))
        json_object_set_new(m, "tool_calls", calls);
    else
        json_decref(calls);
    if (*text || json_object_get(m, "tool_calls"))
        json_array_append_new(msgs, m);
    else
        json_decref(m);
    free(text);
}

/* Every call needs exactly one tool message right after its assistant message; a result gives
 * its text (a text error) or the result's JSON: there is no error flag. */
static void add_results(json_t *msgs, const json_t *parts)
{
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (strcmp(jsonx_get_str(p, "type", ""), "tool-result") != 0)
            continue;
        char *content = llm_result_text(p);
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
                                        jsonx_get_str(p, "tool_call_id", ""), "content", content));
        free(content);
    }
}

json_t *llm_openai_body(const struct llm_config *cfg, const struct llm_request *req)
{
    json_t *msgs = json_array();
    if (req->system && *req->system)
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s}", "role", "system", "content", req->system));
    json_t *conv = llm_normalize_messages(req->messages);
    size_t i;
    const json_t *m;
    json_array_foreach(conv, i, m)
    {
        const char *role = jsonx_get_str(m, "role", "");
        const json_t *parts = json_object_get(m, "parts");
        if (strcmp(role, "user") == 0) {
            char *text = llm_parts_text(parts);
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
            free(text);
        } else if (strcmp(role, "assistant") == 0) {
            add_assistant(msgs, parts);
        } else if (strcmp(role, "tool") == 0) {
            add_results(msgs, parts);
        }
    }
    json_decref(conv);
    json_t *tools = json_array();
    const json_t *t;
    json_array_foreach(req->tools, i, t)
    {
        json_t *fn = json_pack("{s:s}", "name", jsonx_get_str(t, "name", ""));
        const json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc))
            json_object_set(fn, "description", (json_t *)(uintptr_t)desc);
        const json_t *schema = json_object_get(t, "input_schema");
        json_object_set_new(fn, "parameters",
                            json_is_object(schema) ? json_deep_copy(schema)
                                                   : json_pack("{s:s}", "type", "object"));
        json_array_append_new(tools, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    }
    json_t *body = json_pack("{s:s, s:o, s:b, s:{s:b}}", "model", cfg->model, "messages", msgs,
                             "stream", 1, "stream_options", "include_usage", 1);
    if (json_array_size(tools))
        json_object_set_new(body, "tools", tools);
    else
        json_decref(tools);
    if (cfg->max_tokens > 0)
        json_object_set_new(body, "max_tokens", json_integer(cfg->max_tokens));
    return body;
}

/* ---- the stream ---- */

static enum llm_stop stop_of(const char *reason)
{
    if (strcmp(reason, "stop") == 0)
        return LLM_STOP_END;
    if (strcmp(reason, "length") == 0)
        return LLM_STOP_MAX;
    if (strcmp(reason, "tool_calls") == 0 || strcmp(reason, "function_call") == 0)
        return LLM_STOP_TOOLS;
    if (strcmp(reason, "content_filter") == 0)
        return LLM_STOP_REFUSAL;
    return LLM_STOP_OTHER;
}

/* An error object (or string) inside the stream. Retrying may help for server-side trouble. */
static int stream_error(struct llm_decoder *d, const json_t *error, struct err *e)
{
    const char *msg = json_is_string(error) ? json_string_value(error)
                                            : jsonx_get_str(error, "message", "unknown error");
    const char *type = jsonx_get_str(error, "type", "");
    const json_t *code = json_object_get(error, "code");
    json_int_t n = json_is_integer(code) ? json_integer_value(code) : 0;
    d->error_retryable = strcmp(type, "server_error") == 0 || strcmp(type, "api_error") == 0 ||
                         strcmp(type, "overloaded_error") == 0 || n == 429 || n >= 500;
    free(d->error);
    d->error = xstrdup(msg);
    return err_set(e, ERR_UNAVAILABLE, "the LLM provider reported an error in its stream: %s", msg);
}

static int tool_call_delta(struct llm_decoder *d, const json_t *tc, struct err *e)
{
    const json_t *index = json_object_get(tc, "index");
    int64_t ix = json_is_integer(index) ? json_integer_value(index) : 0; /* missing: 0 */
    const char *id = jsonx_get_str(tc, "id", NULL);
    const json_t *fn = json_object_get(tc, "function");
    const char *name = jsonx_get_str(fn, "name", NULL);
    const char *args = jsonx_get_str(fn, "arguments", NULL);
    struct llm_slot *s = llm_slot_find(d, ix);
    /* A different id at a used index starts a new call (servers that put every call at 0). */
    if (!s || (id && *id && s->id && *s->id && strcmp(s->id, id) != 0))
        s = llm_slot_new(d, ix);
    if (!s)
        return err_set(e, ERR_UNAVAILABLE, "the LLM provider sent more than %d tool calls",
                       LLM_CALLS_MAX);
    if (id && *id && (!s->id || !*s->id)) {
        free(s->id);
        s->id = xstrdup(id);
    }
    if (name && *name) { /* some servers repeat the name: assign, never append */
        free(s->name);
        s->name = xstrdup(name);
    }
    if (args && buf_puts(&s->args, args) < 0)
        return err_set(e, ERR_UNAVAILABLE,
                       "the LLM provider sent tool call arguments over %u bytes", LLM_ARGS_MAX);
    return 0;
}

int llm_openai_event(struct llm_decoder *d, const char *event, const char *data, struct err *e)
{
    (void)event; /* Chat Completions streams name no events */
    if (strcmp(data, "[DONE]") == 0) {
        d->done = true;
        /* The end closes every call, even from a server that sent no finish_reason; a call
         * open at the token limit stays open (its arguments may be cut). */
        for (size_t k = 0; k < d->nslots; k++)
            if (d->reply->stop != LLM_STOP_MAX)
                d->slots[k].closed = true;
        return 0;
    }
    json_error_t je;
    json_t *o = json_loads(data, JSON_DECODE_ANY, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(e, ERR_UNAVAILABLE,
                       "the LLM provider sent a stream event that is not a JSON object (%s)",
                       o ? "another JSON value" : je.text);
    }
    int rc = 0;
    const json_t *error = json_object_get(o, "error");
    if (error && !json_is_null(error)) {
        rc = stream_error(d, error, e);
        goto out;
    }
    const json_t *choices = json_object_get(o, "choices");
    size_t i;
    const json_t *ch;
    json_array_foreach(choices, i, ch)
    {
        const json_t *index = json_object_get(ch, "index");
        if (json_is_integer(index) && json_integer_value(index) != 0)
            continue; /* we ask for one choice */
        const json_t *delta = json_object_get(ch, "delta");
        const json_t *content = json_object_get(delta, "content");
        if (json_is_string(content) &&
            llm_emit_text(d, json_string_value(content), json_string_length(content)) < 0)
            goto too_large;
        /* Reasoning (vLLM, llama.cpp: reasoning_content; Ollama: reasoning) is kept apart. */
        const char *keys[] = {"reasoning_content", "reasoning"};
        for (size_t k = 0; k < 2; k++) {
            const json_t *r = json_object_get(delta, keys[k]);
            if (json_is_string(r) &&
                llm_emit_reasoning(d, json_string_value(r), json_string_length(r)) < 0)
                goto too_large;
        }
        size_t j;
        const json_t *tc;
        json_array_foreach(json_object_get(delta, "tool_calls"), j, tc)
        {
            if ((rc = tool_call_delta(d, tc, e)) < 0)
                goto out;
        }
        const char *reason = jsonx_get_str(ch, "finish_reason", NULL);
        if (reason) {
            d->finished = true;
            d->reply->stop = stop_of(reason);
            for (size_t k = 0; k < d->nslots; k++)
                d->slots[k].closed = d->reply->stop != LLM_STOP_MAX;
        }
    }
    const json_t *usage = json_object_get(o, "usage");
    if (json_is_object(usage)) {
        d->reply->input_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
        d->reply->output_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    }
out:
    json_decref(o);
    return rc;
too_large:
    json_decref(o);
    return err_set(e, ERR_UNAVAILABLE, "the LLM provider's reply is over %u bytes",
                   LLM_RESPONSE_MAX);
}

/* ---- the provider ---- */

struct openai {
    struct llm_config cfg; /* strings owned */
    struct llm_pool pool;
    char *url;
    char *auth; /* "Authorization: Bearer <key>" or NULL */
};

static int openai_stream(struct llm_provider *p, const struct llm_request *req,
                         const struct llm_sink *sink, struct tool_cancel *cancel,
                         struct llm_reply *out, struct llm_failure *fail, struct err *e)
{
    struct openai *o = p->impl;
    json_t *body = llm_openai_body(&o->cfg, req);
    char *text = jsonx_dump(body);
    json_decref(body);
    const char *headers[] = {"Content-Type: application/json", "Accept: text/event-stream", o->auth,
                             NULL};
    int rc = llm_stream_call(&o->cfg, &o->pool, o->url, headers, text, false, sink, cancel, out,
                             fail, e);
    free(text);
    return rc;
}

static void openai_free(struct llm_provider *p)
{
    struct openai *o = p->impl;
    llm_pool_free(&o->pool);
    llm_config_free_strings(&o->cfg);
    free(o->url);
    llm_secret_free(o->auth);
    free(o);
    free(p);
}

struct llm_provider *llm_openai_new(const struct llm_config *cfg)
{
    struct openai *o = xcalloc(1, sizeof *o);
    llm_pool_init(&o->pool);
    llm_config_copy(&o->cfg, cfg, "https://api.openai.com/v1");
    o->url = str_printf("%s/chat/completions", o->cfg.base_url);
    /* Without a key no Authorization header (Ollama, vLLM and llama.cpp do not need one). */
    if (o->cfg.api_key && *o->cfg.api_key)
        o->auth = str_printf("Authorization: Bearer %s", o->cfg.api_key);
    struct llm_provider *p = xcalloc(1, sizeof *p);
    p->name = "openai";
    p->impl = o;
    p->stream = openai_stream;
    p->free = openai_free;
    return p;
}
