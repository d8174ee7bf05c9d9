/* log.c - line-atomic logging to stderr (see log.h). */
#include "base/log.h"

#include "base/buf.h"
#include "base/str.h"
#include "base/times.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static bool json_format;

static const char *names[] = {"debug", "info", "warn", "error", "off"};
static const char *upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};

void log_configure(enum log_level min, bool json)
{
    min_level = min;
    json_format = json;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

bool log_enabled(enum log_level lvl)
{
    return lvl >= min_level && lvl < LOG_OFF;
}

void log_write(enum log_level lvl, const char *component, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    char ts[TIME_STR_LEN];
    time_format(time_now_us(), ts);
    struct buf b;
    buf_init(&b, 0);
    if (json_format) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", names[lvl], "component",
                              component, "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        buf_puts(&b, line ? line : "{}");
        free(line);
        json_decref(o);
    } else {
        buf_printf(&b, "%s %s %s: %s", ts, upper[lvl], component, msg);
    }
    buf_putc(&b, '\n');
    ssize_t r = write(2, b.data, b.len);
    (void)r;
    buf_free(&b);
    free(msg);
}
