/* llm.h - what the HTTP providers share: the SSE parser, the stream decoders of both APIs, the
 * request builders and the libcurl transport. Not for use outside src/chat/ (and its unit
 * tests). The decoders and builders are pure (no network), so they are unit-tested directly.
 */
#ifndef BERTH_CHAT_LLM_H
#define BERTH_CHAT_LLM_H

#include "base/buf.h"
#include "base/err.h"
#include "chat/provider.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what a provider may send (ours, see docs/chat.md). */
#define LLM_EVENT_MAX    (8u * 1024 * 1024)  /* one SSE event */
#define LLM_ARGS_MAX     (8u * 1024 * 1024)  /* one tool call's arguments */
#define LLM_RESPONSE_MAX (32u * 1024 * 1024) /* one streamed response */
#define LLM_ERRBODY_MAX  (64u * 1024)        /* an error response's body */
#define LLM_CALLS_MAX    64                  /* tool calls in one reply */

/* ---- SSE framing (sse.c) ----
 * Lines end in \n, \r\n or \r (a partial line is kept across feeds); "field: value" (one space
 * after the colon dropped); an event's data lines are joined with \n; "event:" names it
 * ("message" by default); ":" comments and unknown fields are ignored; a blank line dispatches
 * an event that has data. Text left when the stream ends is an incomplete event (dropped). */
struct sse_parser {
    struct buf line, data;
    char event[64];
    bool has_data;
    bool after_cr; /* the last byte fed was \r: a following \n ends nothing */
    bool failed;
    /* Called per event; a non-zero return stops the parser (sse_feed then returns -1). */
    int (*fn)(void *arg, const char *event, const char *data);
    void *arg;
};

void sse_init(struct sse_parser *p, int (*fn)(void *arg, const char *event, const char *data),
              void *arg);
/* Feeds bytes. -1 once fn stopped it or a line or event went over LLM_EVENT_MAX. */
int sse_feed(struct sse_parser *p, const char *s, size_t n);
void sse_free(struct sse_parser *p);

/* ---- stream decoding (llm_common.c, provider_openai.c, provider_anthropic.c) ---- */

/* A tool call being assembled. */
struct llm_slot {
    int64_t index; /* the provider's index */
    char *id, *name;
    struct buf args;
    bool closed; /* complete (Anthropic content_block_stop; OpenAI finish other than length) */
};

struct llm_decoder {
    struct llm_reply *reply;
    const struct llm_sink *sink;
    struct llm_slot *slots;
    size_t nslots;
    bool delivered; /* text or reasoning reached the sink */
    bool finished;  /* a stop reason arrived (OpenAI finish_reason; Anthropic message_delta) */
    bool done;      /* the end marker arrived ([DONE]; message_stop) */
    /* An error event in the stream: its message (heap) and whether a retry may help. */
    char *error;
    bool error_retryable;
};

void llm_decoder_init(struct llm_decoder *d, struct llm_reply *reply, const struct llm_sink *sink);
void llm_decoder_free(struct llm_decoder *d);
/* One event of an OpenAI-compatible stream. 0, or -1 with e set (invalid JSON, an error event,
 * over a cap): the stream is over. */
int llm_openai_event(struct llm_decoder *d, const char *event, const char *data, struct err *e);
/* One event of an Anthropic stream. Same contract. */
int llm_anthropic_event(struct llm_decoder *d, const char *event, const char *data, struct err *e);
/* After the stream: moves the assembled calls into the reply (ids made up where missing) and
 * sets reply->complete: OpenAI (anthropic false) when [DONE] arrived, or a finish_reason and
 * the stream ended cleanly (clean_eof); Anthropic at message_stop. A reply cut off at the token
 * limit with a call still open is not complete. */
void llm_decoder_end(struct llm_decoder *d, bool anthropic, bool clean_eof);

/* Helpers for decoders (llm_common.c): text and reasoning to the reply and the sink (-1 when
 * the reply is over LLM_RESPONSE_MAX). */
int llm_emit_text(struct llm_decoder *d, const char *s, size_t n);
int llm_emit_reasoning(struct llm_decoder *d, const char *s, size_t n);
/* A new slot for index (appended); NULL past LLM_CALLS_MAX. */
struct llm_slot *llm_slot_new(struct llm_decoder *d, int64_t index);
/* The latest slot with index, or NULL. */
struct llm_slot *llm_slot_find(struct llm_decoder *d, int64_t index);

/* ---- request bodies (provider_openai.c, provider_anthropic.c) ---- */

/* The JSON body of a streamed Chat Completions request. New reference. */
json_t *llm_openai_body(const struct llm_config *cfg, const struct llm_request *req);
/* The JSON body of a streamed Messages request. New reference. */
json_t *llm_anthropic_body(const struct llm_config *cfg, const struct llm_request *req);

/* The text a part list says (text parts joined with "\n\n"; reasoning left out). Heap. */
char *llm_parts_text(const json_t *parts);
/* A tool-call part's arguments as an object: args when it is one, else {} (invalid JSON is never
 * sent back: some servers refuse it). New reference. */
json_t *llm_call_input(const json_t *part);
/* A tool-result part's content for the model: the text of a text error, the compact JSON of a
 * result. Heap. */
char *llm_result_text(const json_t *part);

/* Every assistant message's tool calls answered: a copy of messages where each assistant message
 * with tool-call parts is followed by a tool message holding one result per call, in call order
 * (a stored result where one exists, else the text error LLM_MISSING_RESULT: an interrupted
 * turn), and tool results that answer no call are dropped (both APIs refuse either mistake).
 * New reference. */
json_t *llm_normalize_messages(const json_t *messages);
#define LLM_MISSING_RESULT "the tool call was interrupted before it finished"

/* ---- configuration (llm_common.c) ---- */

/* Copies cfg into dst (strings duplicated; defaults filled in: base_url default_url without a
 * trailing slash, timeouts). */
void llm_config_copy(struct llm_config *dst, const struct llm_config *cfg, const char *default_url);
/* Frees dst's strings; the key is wiped first. */
void llm_config_free_strings(struct llm_config *dst);
/* Wipes s (sodium_memzero) and frees it. s may be NULL. */
void llm_secret_free(char *s);

/* The providers (provider_openai.c, provider_anthropic.c), for llm_provider_new: cfg is valid. */
struct llm_provider *llm_openai_new(const struct llm_config *cfg);
struct llm_provider *llm_anthropic_new(const struct llm_config *cfg);

/* ---- errors (llm_common.c) ---- */

/* The message of an error body: error.message, a string error, message, or the text itself
 * when short and not HTML; cut to 500 bytes and redacted. Heap, never NULL ("" when nothing). */
char *llm_error_message(const char *body, size_t len, const char *api_key);
/* Replaces the key and anything that looks like one ("sk-..." tokens) with "[redacted]". Heap. */
char *llm_redact(const char *text, const char *api_key);
/* Whether an HTTP status may succeed on a retry (408, 409, 429, 5xx but 501, 529). Quota and
 * spend-limit 429s (body codes insufficient_quota, enforced_spend_limit_reached) may not. */
bool llm_status_retryable(long status, const char *body, size_t len);
/* Parses retry-after-ms (ms) or retry-after (seconds, or an HTTP date against now_s): ms, or -1
 * when absent or unreadable. */
int64_t llm_retry_after(const char *retry_after_ms, const char *retry_after, int64_t now_s);

/* ---- the transport (llm_http.c) ---- */

/* Idle libcurl handles of one provider: a handle keeps its connection (and TLS session) open for
 * the next request, so a step does not pay a new handshake. Thread-safe. */
struct llm_pool {
    pthread_mutex_t mu;
    struct llm_conn **idle;
    size_t nidle;
};

void llm_pool_init(struct llm_pool *p);
/* Closes every idle handle. No request may be running. */
void llm_pool_free(struct llm_pool *p);

struct llm_http {
    const char *url;
    const char *const *headers; /* "Name: value" lines up to a NULL (borrowed; copies wiped) */
    const char *body;
    size_t len;
    const struct llm_config *cfg; /* timeouts */
    struct tool_cancel *cancel;   /* may be NULL */
    struct llm_pool *pool;        /* where the handle comes from; NULL: a fresh one */
    /* The response's events (2xx only). */
    int (*on_event)(void *arg, const char *event, const char *data);
    void *arg;
};

struct llm_http_result {
    long status;
    struct buf errbody; /* the body of a non-2xx or not_streamed answer (capped) */
    bool not_streamed;  /* a 2xx answer in JSON instead of a stream */
    int64_t retry_after_ms;
    int should_retry; /* x-should-retry: 1 true, 0 false, -1 absent */
    char request_id[128];
    bool transport_failed; /* no complete response (connect, time-out, reset, cap) */
    bool timed_out;        /* ... because a time-out (connect, idle, total) passed */
    bool canceled;
    bool stopped; /* on_event stopped the stream */
    bool clean_eof;
    char transport_error[256];
};

void llm_http_result_init(struct llm_http_result *r);
void llm_http_result_free(struct llm_http_result *r);
/* POSTs the request and streams the answer's events to on_event until it ends. Returns 0 once
 * the exchange ended (whatever its status; see res), -1 only when libcurl could not start. */
int llm_http_post(const struct llm_http *h, struct llm_http_result *res, struct err *e);

/* Runs a whole streamed call for a provider: posts body to url with headers (as in struct
 * llm_http; a handle from pool), decodes the stream (Anthropic's when anthropic, else OpenAI's),
 * ends the decoder and turns every failure into e and fail, redacted with cfg->api_key (the
 * provider's half of struct llm_provider.stream). Thread-safe. */
int llm_stream_call(const struct llm_config *cfg, struct llm_pool *pool, const char *url,
                    const char *const *headers, const char *body, bool anthropic,
                    const struct llm_sink *sink, struct tool_cancel *cancel, struct llm_reply *out,
                    struct llm_failure *fail, struct err *e);

#endif
