/* log.h - structured logging to stderr.
 *
 * One line per record, written with a single write(2) so lines from threads never interleave.
 * Text format: "<RFC 3339> <LEVEL> <component>: <message>" where the message carries key=value
 * pairs; JSON format: {"ts","level","component","msg"}. Thread-safe. Secrets (tokens, passwords,
 * API keys) are never passed to the logger.
 */
#ifndef BERTH_BASE_LOG_H
#define BERTH_BASE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the minimum level and the format (call before threads start). Default: info, text. */
void log_configure(enum log_level min, bool json);
/* Parses "debug", "info", "warn", "error" or "off". 0 on success. */
int log_level_parse(const char *s, enum log_level *out);
/* True when a record at lvl would be written. */
bool log_enabled(enum log_level lvl);
/* Writes one record. */
void log_write(enum log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(comp, ...) log_write(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_write(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_write(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_write(LOG_ERROR, comp, __VA_ARGS__)

#endif
