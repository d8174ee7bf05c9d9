/* sse.c - Server-Sent Events framing for the LLM providers' streams (see llm.h). */
#include "base/str.h"
#include "chat/llm.h"

#include <string.h>

void sse_init(struct sse_parser *p, int (*fn)(void *arg, const char *event, const char *data),
              void *arg)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->line, LLM_EVENT_MAX);
    buf_init(&p->data, LLM_EVENT_MAX);
    p->fn = fn;
    p->arg = arg;
}

void sse_free(struct sse_parser *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
}

/* Handles one complete line (without its end). */
static int line_done(struct sse_parser *p)
{
    const char *line = buf_str(&p->line);
    size_t len = p->line.len;
    int rc = 0;
    if (len == 0) {
        if (p->has_data && p->fn(p->arg, p->event[0] ? p->event : "message", buf_str(&p->data)))
            rc = -1;
        buf_reset(&p->data);
        p->event[0] = '\0';
        p->has_data = false;
    } else if (line[0] != ':') {
        const char *colon = memchr(line, ':', len);
        size_t klen = colon ? (size_t)(colon - line) : len;
        const char *value = colon ? colon + 1 : line + len;
        if (*value == ' ')
            value++;
        if (klen == 4 && memcmp(line, "data", 4) == 0) {
            if ((p->has_data && buf_putc(&p->data, '\n') < 0) || buf_puts(&p->data, value) < 0)
                rc = -1;
            p->has_data = true;
        } else if (klen == 5 && memcmp(line, "event", 5) == 0) {
            str_copy(p->event, sizeof p->event, value);
        }
        /* id:, retry: and unknown fields mean nothing to us. */
    }
    buf_reset(&p->line);
    return rc;
}

int sse_feed(struct sse_parser *p, const char *s, size_t n)
{
    if (p->failed)
        return -1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\n' && c != '\r') {
            p->after_cr = false;
            continue;
        }
        bool skip = c == '\n' && p->after_cr && i == start; /* the \n of a \r\n */
        p->after_cr = c == '\r';
        if (skip) {
            start = i + 1;
            continue;
        }
        if (buf_append(&p->line, s + start, i - start) < 0 || line_done(p) < 0) {
            p->failed = true;
            return -1;
        }
        start = i + 1;
    }
    if (start < n && buf_append(&p->line, s + start, n - start) < 0) {
        p->failed = true;
        return -1;
    }
    return 0;
}
