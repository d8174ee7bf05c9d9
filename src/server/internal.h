/* internal.h - pieces of `berth server` (not for use outside src/server/). */
#ifndef BERTH_SERVER_INTERNAL_H
#define BERTH_SERVER_INTERNAL_H

#include "base/err.h"
#include "identity/identity.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

struct server_dirs {
    char *data_dir;      /* absolute */
    char *url_file;      /* <data-dir>/server.url, removed at shutdown */
    int lock_fd;         /* flock on <data-dir>/berth.lock */
    char replica_id[64]; /* stable for the data dir (<data-dir>/replica-id) */
};

/* Creates (0700) and locks the data dir, and reads or creates the replica id. ERR_CONFLICT when
 * another server holds the lock. */
int server_dirs_open(const char *data_dir, struct server_dirs *d, struct err *e);
void server_dirs_close(struct server_dirs *d);
/* Writes "<access url>\n<listen address>\n" to <data-dir>/server.url atomically. */
int server_write_url(struct server_dirs *d, const char *access_url, const char *addr,
                     struct err *e);
/* --dev: on an empty store creates an owner and a token and prints them once on stdout; and
 * creates the built-in `local` template when no template has that name. */
int server_dev_bootstrap(struct store *st, struct pubsub *ps, struct identity *id,
                         const char *data_dir, const char *access_url, struct err *e);

#endif
