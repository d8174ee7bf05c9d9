/* client.h - the CLI's connection to a berth server (libcurl): where the server is, the
 * token, JSON requests, and SSE streams.
 *
 * The URL and token come from --url/--token, else BERTH_URL/BERTH_SESSION_TOKEN, else the
 * config written by `berth login` ($XDG_CONFIG_HOME/berth/config.json, mode 0600).
 * Not thread-safe: one client per thread.
 */
#ifndef BERTH_CLI_CLIENT_H
#define BERTH_CLI_CLIENT_H

#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct client {
    char *url;        /* without a trailing slash */
    char *token;      /* may be NULL */
    void *curl;       /* CURL* */
    bool token_saved; /* the token came from the config file */
};

/* Global flags every client command accepts. */
struct cli_globals {
    char *url;
    char *token;
    char *output; /* "json" or NULL for human output */
};

/* Resolves URL and token (need_token: fail when none). ERR_BAD_REQUEST explains what is
 * missing ("not logged in: run berth login URL"). */
int client_open(struct client *c, const struct cli_globals *g, bool need_token, struct err *e);
void client_close(struct client *c);

/* Sends a request; body (borrowed) is sent as JSON when non-NULL. On a 2xx *out receives the
 * parsed JSON (NULL for an empty body; may be NULL when the caller does not want it) and
 * *status the code. Any other status becomes an error carrying the server's message, detail and
 * validations, with the status's kind; transport failures are ERR_UNAVAILABLE. */
int client_json(struct client *c, const char *method, const char *path, const json_t *body,
                json_t **out, long *status, struct err *e);
/* Like client_json with a raw body and content type. */
int client_raw(struct client *c, const char *method, const char *path, const void *body, size_t len,
               const char *content_type, json_t **out, long *status, struct err *e);
/* Reads an SSE stream at path, calling fn(event, data, arg) per event; fn returns non-zero to
 * stop. Returns when the server ends the stream (0), fn stopped it (0), or on error (-1). */
int client_sse(struct client *c, const char *path,
               int (*fn)(const char *event, const char *data, void *arg), void *arg, struct err *e);

/* client_sse with a progress function called about ten times a second while the stream is
 * open (for a spinner; may be NULL) and a time limit (timeout_ms 0 = none; when it passes the
 * call returns 0 as if the stream had ended). */
int client_sse_progress(struct client *c, const char *path,
                        int (*fn)(const char *event, const char *data, void *arg),
                        void (*progress)(void *arg), void *arg, long timeout_ms, struct err *e);

/* The config file: reads url/token into the out pointers (heap strings, NULL when absent). */
int cli_config_read(char **url, char **token);
/* Writes url and token to the config file (0600, directory 0700). */
int cli_config_write(const char *url, const char *token, struct err *e);
/* The config file's path (heap). */
char *cli_config_path(void);

/* Percent-encodes a path segment (heap). */
char *client_escape(const char *s);

#endif
