/* watcher.h - follows one workspace's watch stream (GET /api/v2/workspaces/{id}/watch) on a
 * thread of its own and records when each build was first seen ended, its agent connected and
 * its agent ready, for the benchmark programs.
 *
 * The stream sends the whole workspace, its latest build's agents included, on every change, so
 * the instants are those at which this process received the event (monotonic clock). Waiting
 * for a build is woken by the stream thread at once. Thread-safety: watcher_wait may be called
 * from any one thread while the stream thread runs.
 */
#ifndef BERTH_BENCH_WATCHER_H
#define BERTH_BENCH_WATCHER_H

#include "base/buf.h"
#include "base/map.h"
#include "client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WATCHER_WAIT_MS 60000 /* for one build or one agent to get where it is waited for */

/* What the watch stream showed of one build, as monotonic instants in µs (0: not yet). */
struct sighting {
    int64_t ended_us, connected_us, ready_us;
    bool failed;       /* the build ended other than succeeded */
    char agent_id[40]; /* the build's first agent ("" before one was seen) */
};

struct watcher {
    struct client cl;
    char *path;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct map builds; /* build id -> struct sighting */
    struct buf line, data;
    bool stop;
};

/* Opens the watch stream of workspace_id on a connection of its own (url is kept by
 * reference). Stop with watcher_stop. */
void watcher_start(struct watcher *w, const char *url, const char *token, const char *workspace_id);
/* Closes the stream, joins its thread and frees everything. */
void watcher_stop(struct watcher *w);

/* Waits until build_id has ended and, with agent, its agent is both ready and connected (the
 * agent reports its lifecycle on a connection of its own, so either may come first, and both may
 * come before the build ends). 0, or -1 (reason on stderr) when the build failed or
 * WATCHER_WAIT_MS passed. *out gets what was seen. */
int watcher_wait(struct watcher *w, const char *build_id, bool agent, struct sighting *out);

#endif
