/* provider.h - the model behind the chat loop: one small interface over the LLM providers.
 *
 * A provider takes the conversation (the chat's stored messages), a system prompt and the tool
 * schemas, streams the model's reply (text as it arrives goes to a sink) and hands back the
 * whole reply: its text, reasoning, tool calls (arguments as the model wrote them) and why it
 * stopped. Two implementations speak HTTP over libcurl with streaming (SSE): OpenAI-compatible
 * Chat Completions (provider_openai.c: OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter) and
 * Anthropic Messages (provider_anthropic.c). The loop never sees which one it talks to, so a
 * test can hand it a fake.
 *
 * A provider makes exactly one HTTP request per call to stream() and never retries: the loop
 * decides (llm_failure says whether a retry may help and how long the provider asked to wait).
 *
 * Keys: the API key lives in the provider's memory only (wiped when it is freed); it is sent in
 * a header, never in a URL, and never logged; provider error texts are redacted before they
 * reach logs, errors or the model.
 *
 * Thread-safety: stream() may run on several threads at once.
 */
#ifndef BERTH_CHAT_PROVIDER_H
#define BERTH_CHAT_PROVIDER_H

#include "base/buf.h"
#include "base/err.h"
#include "chat/tool.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why the model stopped. */
enum llm_stop {
    LLM_STOP_NONE,    /* the stream never said */
    LLM_STOP_END,     /* a natural end (OpenAI stop; Anthropic end_turn, stop_sequence) */
    LLM_STOP_MAX,     /* the token limit (length; max_tokens, model_context_window_exceeded) */
    LLM_STOP_TOOLS,   /* it calls tools */
    LLM_STOP_REFUSAL, /* content_filter; refusal */
    LLM_STOP_PAUSE,   /* Anthropic pause_turn */
    LLM_STOP_OTHER,   /* anything else */
};

/* One tool call of a reply. */
struct llm_tool_call {
    char *id;   /* the provider's id, or one made up when it sent none (heap) */
    char *name; /* heap */
    char *args; /* the arguments' JSON text as the model wrote it; "" when none (heap) */
};

struct llm_reply {
    struct buf text;      /* the reply's text */
    struct buf reasoning; /* reasoning the provider streamed (never sent back) */
    struct llm_tool_call *calls;
    size_t ncalls;
    enum llm_stop stop;
    bool complete; /* the stream ended properly (calls are only valid then) */
    int64_t input_tokens, output_tokens;
};

void llm_reply_init(struct llm_reply *r);
/* Frees everything and re-initializes r. */
void llm_reply_clear(struct llm_reply *r);

/* Where the reply goes while it streams (members may be NULL). Called on the caller's thread,
 * in order. */
struct llm_sink {
    void *arg;
    void (*text)(void *arg, const char *s, size_t n);
    void (*reasoning)(void *arg, const char *s, size_t n);
};

struct llm_request {
    const char *system;     /* the system prompt */
    const json_t *messages; /* [{role: user|assistant|tool, parts: [...]}], as stored */
    const json_t *tools;    /* [{name, description, input_schema: {...}}] */
};

/* What a failed call tells the loop. */
struct llm_failure {
    bool retryable;         /* transient (429, 5xx, dropped connection) and nothing delivered */
    bool delivered;         /* some of the reply already reached the sink */
    int64_t retry_after_ms; /* what the provider asked for; -1 when it did not say */
    int status;             /* the HTTP status (0: no response) */
};

struct llm_provider {
    const char *name; /* "openai", "anthropic", or a fake's */
    void *impl;
    /* Streams one reply into out (initialized by the caller). 0 when the stream completed (out
     * complete), -1 with e (a message for the person: "the LLM provider ...") and fail filled
     * otherwise; out then holds what arrived. cancel (may be NULL) aborts the request at once
     * (ERR_CANCELED). */
    int (*stream)(struct llm_provider *p, const struct llm_request *req,
                  const struct llm_sink *sink, struct tool_cancel *cancel, struct llm_reply *out,
                  struct llm_failure *fail, struct err *e);
    void (*free)(struct llm_provider *p);
};

/* Configuration of the HTTP providers (server flags or BERTH_LLM_* variables). */
struct llm_config {
    const char *provider;       /* "openai" (default) or "anthropic" */
    const char *base_url;       /* ending in /v1; default https://api.openai.com/v1 or
                                   https://api.anthropic.com/v1 */
    const char *model;          /* required */
    const char *api_key;        /* may be NULL or "" (local servers) */
    int64_t max_tokens;         /* 0: Anthropic 8192, OpenAI-compatible not sent */
    int64_t connect_timeout_ms; /* 0: 10 s */
    int64_t idle_timeout_ms;    /* no byte for this long ends the stream; 0: 180 s */
    int64_t total_timeout_ms;   /* one request at most; 0: 10 min */
};

/* A provider for cfg (strings copied). ERR_BAD_REQUEST naming what is wrong: an unknown
 * provider, no model, a base URL that is not http(s). Free with llm_provider_free. */
struct llm_provider *llm_provider_new(const struct llm_config *cfg, struct err *e);
void llm_provider_free(struct llm_provider *p);

#endif
