/* jw.c - streaming JSON writer (see jw.h). */
#include "base/jw.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w)
{
    memset(w, 0, sizeof *w);
    buf_init(&w->out, 0);
    w->first[0] = true;
}

void jw_free(struct jw *w)
{
    buf_free(&w->out);
}

char *jw_take(struct jw *w, size_t *len)
{
    if (len)
        *len = w->out.len;
    char *s = buf_take(&w->out);
    jw_init(w);
    return s;
}

/* Writes the separator a new value needs at the current depth. */
static void sep(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth])
        buf_putc(&w->out, ',');
    w->first[w->depth] = false;
}

static void open(struct jw *w, char c)
{
    sep(w);
    buf_putc(&w->out, c);
    assert(w->depth + 1 < JW_MAX_DEPTH);
    w->depth++;
    w->first[w->depth] = true;
}

static void close_(struct jw *w, char c)
{
    assert(w->depth > 0);
    w->depth--;
    buf_putc(&w->out, c);
}

void jw_object(struct jw *w)
{
    open(w, '{');
}

void jw_object_end(struct jw *w)
{
    close_(w, '}');
}

void jw_array(struct jw *w)
{
    open(w, '[');
}

void jw_array_end(struct jw *w)
{
    close_(w, ']');
}

static void escaped(struct jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    struct buf *b = &w->out;
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80)
            continue;
        if (c >= 0x80) {
            size_t ok = utf8_seq_len(s + i, len - i);
            if (ok) {
                i += ok - 1;
                continue;
            }
        }
        buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        default:
            if (c >= 0x80) {
                buf_puts(b, "\xEF\xBF\xBD"); /* invalid UTF-8 */
            } else {
                char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
                buf_puts(b, u);
            }
        }
    }
    buf_append(b, s + start, len - start);
    buf_putc(b, '"');
}

void jw_key(struct jw *w, const char *key)
{
    sep(w);
    escaped(w, key, strlen(key));
    buf_putc(&w->out, ':');
    w->after_key = true;
}

void jw_strn(struct jw *w, const char *s, size_t len)
{
    sep(w);
    escaped(w, s, len);
}

void jw_str(struct jw *w, const char *s)
{
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, int64_t v)
{
    sep(w);
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(&w->out, p, (size_t)(tmp + sizeof tmp - p));
}

void jw_bool(struct jw *w, bool v)
{
    sep(w);
    buf_puts(&w->out, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    sep(w);
    buf_puts(&w->out, "null");
}

void jw_time(struct jw *w, int64_t us)
{
    if (!us) {
        jw_null(w);
        return;
    }
    char ts[TIME_STR_LEN];
    time_format(us, ts);
    sep(w);
    buf_putc(&w->out, '"');
    buf_puts(&w->out, ts);
    buf_putc(&w->out, '"');
}

void jw_raw(struct jw *w, const char *json)
{
    sep(w);
    buf_puts(&w->out, json);
}

void jw_json(struct jw *w, const json_t *v)
{
    char *s = jsonx_dump(v);
    jw_raw(w, s);
    free(s);
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s ? s : "");
}

void jw_kint(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_kbool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

void jw_ktime(struct jw *w, const char *key, int64_t us)
{
    jw_key(w, key);
    jw_time(w, us);
}

void jw_kstr_or_null(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    if (s && *s)
        jw_str(w, s);
    else
        jw_null(w);
}
