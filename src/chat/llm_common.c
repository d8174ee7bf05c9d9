/* llm_common.c - what both providers share: replies, the decoder's tool-call slots, reading the
 * stored parts back for a request, provider error bodies, redaction and retry rules. */
#include "base/json.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "chat/llm.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_MESSAGE_MAX 500 /* bytes of a provider's error message we keep */

void llm_reply_init(struct llm_reply *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->text, LLM_RESPONSE_MAX);
    buf_init(&r->reasoning, LLM_RESPONSE_MAX);
}

void llm_reply_clear(struct llm_reply *r)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].args);
    }
    free(r->calls);
    buf_free(&r->text);
    buf_free(&r->reasoning);
    llm_reply_init(r);
}

/* ---- decoding ---- */

void llm_decoder_init(struct llm_decoder *d, struct llm_reply *reply, const struct llm_sink *sink)
{
    memset(d, 0, sizeof *d);
    d->reply = reply;
    d->sink = sink;
}

static void slot_free(struct llm_slot *s)
{
    free(s->id);
    free(s->name);
    buf_free(&s->args);
}

void llm_decoder_free(struct llm_decoder *d)
{
    for (size_t i = 0; i < d->nslots; i++)
        slot_free(&d->slots[i]);
    free(d->slots);
    free(d->error);
    d->slots = NULL;
    d->nslots = 0;
    d->error = NULL;
}

int llm_emit_text(struct llm_decoder *d, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_append(&d->reply->text, s, n) < 0)
        return -1;
    d->delivered = true;
    if (d->sink && d->sink->text)
        d->sink->text(d->sink->arg, s, n);
    return 0;
}

int llm_emit_reasoning(struct llm_decoder *d, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_append(&d->reply->reasoning, s, n) < 0)
        return -1;
    d->delivered = true;
    if (d->sink && d->sink->reasoning)
        d->sink->reasoning(d->sink->arg, s, n);
    return 0;
}

struct llm_slot *llm_slot_new(struct llm_decoder *d, int64_t index)
{
    if (d->nslots >= LLM_CALLS_MAX)
        return NULL;
    d->slots = xreallocarray(d->slots, d->nslots + 1, sizeof *d->slots);
    struct llm_slot *s = &d->slots[d->nslots++];
    memset(s, 0, sizeof *s);
    s->index = index;
    buf_init(&s->args, LLM_ARGS_MAX);
    return s;
}

struct llm_slot *llm_slot_find(struct llm_decoder *d, int64_t index)
{
    for (size_t i = d->nslots; i > 0; i--)
        if (d->slots[i - 1].index == index)
            return &d->slots[i - 1];
    return NULL;
}

void llm_decoder_end(struct llm_decoder *d, bool anthropic, bool clean_eof)
{
    struct llm_reply *r = d->reply;
    bool open_call = false;
    r->calls = d->nslots ? xcalloc(d->nslots, sizeof *r->calls) : NULL;
    for (size_t i = 0; i < d->nslots; i++) {
        struct llm_slot *s = &d->slots[i];
        struct llm_tool_call *c = &r->calls[r->ncalls++];
        if (s->id && *s->id) {
            c->id = s->id;
            s->id = NULL;
        } else {
            char tok[25];
            secure_token(tok, 24);
            c->id = str_printf("call_%s", tok);
        }
        c->name = s->name ? s->name : xstrdup("");
        s->name = NULL;
        c->args = buf_take(&s->args);
        if (!s->closed)
            open_call = true;
    }
    if (r->ncalls &&
        (r->stop == LLM_STOP_END || r->stop == LLM_STOP_NONE || r->stop == LLM_STOP_OTHER))
        r->stop = LLM_STOP_TOOLS; /* a turn is a tool turn if any call was assembled */
    if (d->error)
        r->complete = false;
    else if (anthropic)
        r->complete = d->done;
    else
        r->complete = d->done || (d->finished && clean_eof);
    if (open_call)
        r->complete = false; /* arguments may be cut: never run such a call */
}

/* ---- stored parts ---- */

char *llm_parts_text(const json_t *parts)
{
    struct buf b = BUF_INIT;
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (strcmp(jsonx_get_str(p, "type", ""), "text") != 0)
            continue;
        const char *t = jsonx_get_str(p, "text", "");
        if (!*t)
            continue;
        if (b.len)
            buf_puts(&b, "\n\n");
        buf_puts(&b, t);
    }
    return buf_take(&b);
}

json_t *llm_call_input(const json_t *part)
{
    const json_t *args = json_object_get(part, "args");
    return json_is_object(args) ? json_deep_copy(args) : json_object();
}

char *llm_result_text(const json_t *part)
{
    const json_t *r = json_object_get(part, "result");
    if (json_is_string(r))
        return xstrdup(json_string_value(r));
    if (!r || json_is_null(r))
        return xstrdup("{}");
    return jsonx_dump(r);
}

/* ---- errors ---- */

static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

char *llm_redact(const char *text, const char *api_key)
{
    struct buf b = BUF_INIT;
    size_t klen = api_key ? strlen(api_key) : 0;
    for (const char *p = text; *p;) {
        if (klen >= 4 && strncmp(p, api_key, klen) == 0) {
            buf_puts(&b, "[redacted]");
            p += klen;
            continue;
        }
        /* "sk-..." at a word start: OpenAI echoes a masked key in its 401 message. */
        if (strncmp(p, "sk-", 3) == 0 && (p == text || !key_char(p[-1]))) {
            const char *q = p + 3;
            while (*q && (key_char(*q) || *q == '*'))
                q++;
            if (q - p >= 3 + 8) { /* "sk-" and at least 8 more */
                buf_puts(&b, "[redacted]");
                p = q;
                continue;
            }
        }
        buf_putc(&b, *p++);
    }
    return buf_take(&b);
}

char *llm_error_message(const char *body, size_t len, const char *api_key)
{
    const char *msg = NULL;
    json_error_t je;
    json_t *o = len ? json_loadb(body, len, JSON_DECODE_ANY, &je) : NULL;
    if (o) {
        const json_t *err = json_object_get(o, "error");
        if (json_is_string(err))
            msg = json_string_value(err);
        else if (json_is_object(err))
            msg = jsonx_get_str(err, "message", NULL);
        if (!msg)
            msg = jsonx_get_str(o, "message", NULL);
        if (!msg)
            msg = jsonx_get_str(o, "detail", NULL);
    } else if (len && !memchr(body, '<', len > 512 ? 512 : len)) {
        msg = body; /* plain text; HTML pages say nothing useful */
    }
    char *cut = msg ? xstrndup(msg, utf8_cut(msg, strnlen(msg, ERROR_MESSAGE_MAX))) : xstrdup("");
    json_decref(o);
    char *clean = utf8_sanitize(cut, strlen(cut), NULL);
    free(cut);
    str_trim(clean);
    char *out = llm_redact(clean, api_key);
    free(clean);
    return out;
}

bool llm_status_retryable(long status, const char *body, size_t len)
{
    if (status == 429) {
        /* A quota or spend cap does not lift by waiting. */
        if (len && (memmem(body, len, "insufficient_quota", 18) ||
                    memmem(body, len, "enforced_spend_limit_reached", 28)))
            return false;
        return true;
    }
    return status == 408 || status == 409 || status == 529 || (status >= 500 && status != 501);
}

int64_t llm_retry_after(const char *retry_after_ms, const char *retry_after, int64_t now_s)
{
    if (retry_after_ms && *retry_after_ms) {
        char *end;
        double v = strtod(retry_after_ms, &end);
        if (end != retry_after_ms && v >= 0)
            return (int64_t)v;
    }
    if (retry_after && *retry_after) {
        char *end;
        double v = strtod(retry_after, &end);
        if (end != retry_after && v >= 0 && (*end == '\0' || isspace((unsigned char)*end)))
            return (int64_t)(v * 1000);
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(retry_after, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (rest) {
            int64_t at = (int64_t)timegm(&tm);
            return at > now_s ? (at - now_s) * 1000 : 0;
        }
    }
    return -1;
}

/* ---- the conversation ---- */

static bool part_is(const json_t *p, const char *type)
{
    return strcmp(jsonx_get_str(p, "type", ""), type) == 0;
}

/* The stored result for call_id in a tool message's parts, or NULL. */
static const json_t *find_result(const json_t *parts, const char *call_id)
{
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (part_is(p, "tool-result") && strcmp(jsonx_get_str(p, "tool_call_id", ""), call_id) == 0)
            return p;
    }
    return NULL;
}

json_t *llm_normalize_messages(const json_t *messages)
{
    json_t *out = json_array();
    size_t n = json_array_size(messages);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = jsonx_get_str(m, "role", "");
        const json_t *parts = json_object_get(m, "parts");
        if (strcmp(role, "tool") == 0)
            continue; /* placed after the assistant message it answers */
        json_array_append(out, (json_t *)(uintptr_t)m);
        if (strcmp(role, "assistant") != 0)
            continue;
        /* The results stored for this message's calls: in the tool messages right after it. */
        json_t *results = NULL;
        for (size_t j = i + 1; j < n; j++) {
            const json_t *t = json_array_get(messages, j);
            if (strcmp(jsonx_get_str(t, "role", ""), "tool") != 0)
                break;
            if (!results)
                results = json_array();
            json_array_extend(results, json_object_get(t, "parts"));
        }
        json_t *answers = json_array();
        size_t k;
        const json_t *p;
        json_array_foreach(parts, k, p)
        {
            if (!part_is(p, "tool-call"))
                continue;
            const char *id = jsonx_get_str(p, "tool_call_id", "");
            const json_t *r = results ? find_result(results, id) : NULL;
            if (r)
                json_array_append(answers, (json_t *)(uintptr_t)r);
            else
                json_array_append_new(answers,
                                      json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "tool-result",
                                                "tool_call_id", id, "tool_name",
                                                jsonx_get_str(p, "tool_name", ""), "result",
                                                LLM_MISSING_RESULT, "is_error", 1));
        }
        json_decref(results);
        if (json_array_size(answers))
            json_array_append_new(out, json_pack("{s:s, s:o}", "role", "tool", "parts", answers));
        else
            json_decref(answers);
    }
    return out;
}

/* ---- configuration and the provider ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void llm_secret_free(char *s)
{
    if (!s)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

void llm_config_copy(struct llm_config *dst, const struct llm_config *cfg, const char *default_url)
{
    *dst = *cfg;
    dst->provider = dup_or_null(cfg->provider);
    char *url = xstrdup(cfg->base_url && *cfg->base_url ? cfg->base_url : default_url);
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    dst->base_url = url;
    dst->model = dup_or_null(cfg->model);
    dst->api_key = cfg->api_key && *cfg->api_key ? xstrdup(cfg->api_key) : NULL;
    if (dst->connect_timeout_ms <= 0)
        dst->connect_timeout_ms = 10 * 1000;
    if (dst->idle_timeout_ms <= 0)
        dst->idle_timeout_ms = 180 * 1000;
    if (dst->total_timeout_ms <= 0)
        dst->total_timeout_ms = 10 * 60 * 1000;
}

void llm_config_free_strings(struct llm_config *dst)
{
    free((char *)(uintptr_t)dst->provider);
    free((char *)(uintptr_t)dst->base_url);
    free((char *)(uintptr_t)dst->model);
    llm_secret_free((char *)(uintptr_t)dst->api_key);
    dst->provider = dst->base_url = dst->model = dst->api_key = NULL;
}

/* Bytes a header value may not hold (a key or model with them would split the request). */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

struct llm_provider *llm_provider_new(const struct llm_config *cfg, struct err *e)
{
    const char *name = cfg->provider && *cfg->provider ? cfg->provider : "openai";
    bool anthropic = strcmp(name, "anthropic") == 0;
    if (!anthropic && strcmp(name, "openai") != 0) {
        err_set(e, ERR_BAD_REQUEST,
                "unknown LLM provider \"%.64s\": use \"openai\" (OpenAI-compatible servers) or "
                "\"anthropic\"",
                name);
        return NULL;
    }
    if (!cfg->model || !*cfg->model) {
        err_set(e, ERR_BAD_REQUEST, "no LLM model: set BERTH_LLM_MODEL or --llm-model");
        return NULL;
    }
    if (strlen(cfg->model) > 256 || has_control(cfg->model)) {
        err_set(e, ERR_BAD_REQUEST, "the LLM model name must be at most 256 printable bytes");
        return NULL;
    }
    if (cfg->base_url && *cfg->base_url) {
        const char *u = cfg->base_url;
        if ((!str_has_prefix(u, "http://") && !str_has_prefix(u, "https://")) || strlen(u) > 2048 ||
            has_control(u) || strchr(u, ' ')) {
            err_set(e, ERR_BAD_REQUEST,
                    "the LLM base URL must be an http:// or https:// URL (up to 2048 bytes, no "
                    "spaces), e.g. https://api.openai.com/v1");
            return NULL;
        }
    }
    if (cfg->api_key && (strlen(cfg->api_key) > 4096 || has_control(cfg->api_key))) {
        err_set(e, ERR_BAD_REQUEST, "the LLM API key must be at most 4096 printable bytes");
        return NULL;
    }
    if (cfg->max_tokens < 0 || cfg->connect_timeout_ms < 0 || cfg->idle_timeout_ms < 0 ||
        cfg->total_timeout_ms < 0) {
        err_set(e, ERR_BAD_REQUEST, "the LLM token limit and time-outs must not be negative");
        return NULL;
    }
    return anthropic ? llm_anthropic_new(cfg) : llm_openai_new(cfg);
}

void llm_provider_free(struct llm_provider *p)
{
    if (p)
        p->free(p);
}
