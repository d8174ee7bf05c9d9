/* server.h - `berth server`: configuration, start-up, the dev bootstrap, and shutdown.
 *
 * The composition root: it opens the store in the data dir, creates the pubsub bus, identity,
 * provisioner and HTTP server, registers the API and runs until SIGTERM or SIGINT, then stops
 * accepting, finishes or fails in-flight work and closes the store.
 */
#ifndef BERTH_SERVER_SERVER_H
#define BERTH_SERVER_SERVER_H

#include "base/err.h"

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
};

/* Fills cfg from BERTH_* environment variables and then argv (flags win). Returns 0, 1 when
 * --help was printed, or -1 with e filled for a bad flag. Strings in cfg are heap-owned;
 * release with server_config_free. */
int server_config_parse(struct server_config *cfg, int argc, char **argv, struct err *e);
void server_config_free(struct server_config *cfg);
/* Runs the server until a termination signal. Returns the process exit status. */
int server_run(struct server_config *cfg);
/* `berth server` entry point. */
int server_main(int argc, char **argv);

#endif
