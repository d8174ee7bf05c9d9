/* server.h - `berth server`: configuration, start-up, the dev bootstrap, and shutdown.
 *
 * The composition root: it opens the store in the data dir, creates the pubsub bus, identity,
 * provisioner and HTTP server, registers the API and runs until SIGTERM or SIGINT, then stops
 * accepting, finishes or fails in-flight work and closes the store.
 */
#ifndef BERTH_SERVER_SERVER_H
#define BERTH_SERVER_SERVER_H

#include "base/err.h"
#include "chat/provider.h"

#include <stdbool.h>

struct server_config {
    char *listen;       /* host:port */
    char *access_url;   /* default http://<listen address> */
    char *agent_url;    /* what provision programs and agents dial (default: see --agent-url) */
    char *data_dir;     /* default $XDG_DATA_HOME/berth */
    char *postgres_url; /* not supported yet */
    bool dev;
    int provisioners;
    int http_loops;
    int http_workers;
    char *log_level;
    char *log_format;
    /* The chat loop's model (BERTH_LLM_*); no provider and no model: chats answer with an
     * error saying none is configured. */
    char *llm_provider;
    char *llm_base_url;
    char *llm_model;
    char *llm_api_key_file; /* the key, read at start; else BERTH_LLM_API_KEY (never a flag) */
    char *llm_api_key;      /* heap, wiped when freed; removed from the environment */
    int chat_workers;
    int chat_model_attempts; /* tries of one model call (transient failures) */
};

/* Fills cfg from BERTH_* environment variables and then argv (flags win). Returns 0, 1 when
 * --help was printed, or -1 with e filled for a bad flag. Strings in cfg are heap-owned;
 * release with server_config_free. */
int server_config_parse(struct server_config *cfg, int argc, char **argv, struct err *e);
void server_config_free(struct server_config *cfg);
/* Takes the LLM API key into cfg->llm_api_key: from --llm-api-key-file when given, else from
 * BERTH_LLM_API_KEY, which is removed from the environment either way. ERR_BAD_REQUEST when
 * the file cannot be read or is over 4 KiB. */
int server_llm_key(struct server_config *cfg, struct err *e);
/* The chat loop's provider for cfg: NULL (and 0) when nothing about one is configured;
 * ERR_BAD_REQUEST naming what is wrong (no model, unknown provider, bad URL). */
int server_llm_provider(const struct server_config *cfg, struct llm_provider **out, struct err *e);
/* Runs the server until a termination signal. Returns the process exit status. */
int server_run(struct server_config *cfg);
/* `berth server` entry point. */
int server_main(int argc, char **argv);

#endif
