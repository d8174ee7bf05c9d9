/* provision.h - the provisioner: a job queue in the store and runner threads that execute jobs.
 *
 * Jobs are rows in provisioner_jobs (status derived from timestamps). A runner claims the
 * oldest pending job (one claimer per job), runs the handler for its type, and completes or
 * fails it. Posting a job (provision_post after the inserting transaction committed) wakes an
 * idle runner at once; a slow poll backs the wake-up. While a job runs, a heartbeat keeps its
 * updated_at fresh and notices cancel requests; a reaper fails jobs hung past 5 min (running)
 * or 30 min (pending); at start, jobs this replica had claimed and no longer runs are failed.
 *
 * Pubsub channels: "jobs:posted" (a job is ready), "job:<id>" (status changed: payload
 * "update" or "end"), "job:<id>:logs" (new log lines: payload "logs" or "end").
 * Thread-safe.
 */
#ifndef BERTH_PROVISION_PROVISION_H
#define BERTH_PROVISION_PROVISION_H

#include "base/err.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define JOB_LOG_LINE_MAX 1024          /* bytes per line; longer lines are cut */
#define JOB_LOGS_MAX     (1024 * 1024) /* bytes per job, then one line saying so */

struct provisioner;
struct job_ctx;

/* What a handler reports besides success: a failure sets e (its message becomes the job's
 * error). A job canceled while it ran ends canceled, whatever the handler returns. */
typedef int (*job_handler_fn)(struct job_ctx *ctx, void *arg, struct err *e);
/* Called with the job's id when a job of this type is failed without its handler finishing
 * (reaper, restart recovery), inside no transaction; lets the domain repair related rows. */
typedef void (*job_abandon_fn)(struct store *st, const struct job *job, void *arg);

struct job_handler {
    job_handler_fn run;
    job_abandon_fn abandoned; /* may be NULL */
    void *arg;
};

struct provisioner_config {
    int runners;                    /* runner threads (default 3) */
    const char *worker_id;          /* this replica's stable id (kept in the data dir) */
    int64_t heartbeat_ms;           /* default 5000 */
    int64_t poll_ms;                /* backstop poll for posted jobs (default 30000) */
    int64_t reap_every_ms;          /* default 60000 */
    int64_t hung_running_ms;        /* default 5 min */
    int64_t hung_pending_ms;        /* default 30 min */
    struct job_handler handlers[2]; /* indexed by enum job_type */
};

/* Recovers jobs this worker had claimed, then starts runners, heartbeat and reaper threads.
 * Borrows st and ps. NULL with e filled on failure. */
struct provisioner *provisioner_start(struct store *st, struct pubsub *ps,
                                      const struct provisioner_config *cfg, struct err *e);
/* Stops taking jobs, cancels and waits for running ones (their jobs fail with "the server shut
 * down"), and joins every thread. */
void provisioner_stop(struct provisioner *p);

/* Announces a committed pending job. */
void provision_post(struct pubsub *ps, const char *job_id);
/* Requests cancellation of a job: canceled_at (and completed_at if unclaimed) then wakes the
 * runner. ERR_CONFLICT when already completed or canceled. */
int provision_cancel(struct store *st, struct pubsub *ps, const char *job_id, struct err *e);
/* Fails the job now with error as its message, adding log lines first (reaper, recovery). */
int provision_fail_job(struct store *st, struct pubsub *ps, const struct job *job,
                       const char *error, const char *const *log_lines, size_t nlines,
                       struct err *e);

/* ---- for handlers ---- */
const struct job *job_ctx_job(const struct job_ctx *ctx);
struct store *job_ctx_store(const struct job_ctx *ctx);
struct pubsub *job_ctx_pubsub(const struct job_ctx *ctx);
/* Appends one log line (cut at JOB_LOG_LINE_MAX; after JOB_LOGS_MAX bytes one final notice and
 * nothing more) and wakes followers. stage may be NULL. */
void job_log(struct job_ctx *ctx, enum job_log_level level, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends several lines as one write (same caps). */
void job_log_lines(struct job_ctx *ctx, enum job_log_level level, enum log_source source,
                   const char *stage, const char *const *lines, const size_t *lens, size_t n);
/* Completes the job inside the caller's open transaction (so a handler can store its results
 * and the outcome atomically). error: "" for success, or the failure message; when a cancel was
 * requested the job ends canceled (error ignored). The runner then does not complete it again.
 * ERR_CONFLICT when the job is no longer this worker's. */
int job_ctx_complete(struct job_ctx *ctx, const char *error, struct err *e);
/* True once cancellation of the job was requested (by a user, a shutdown or a lost claim). */
bool job_ctx_canceled(struct job_ctx *ctx);
/* True when a user asked for the cancel (the job then ends canceled, not failed). */
bool job_ctx_user_canceled(struct job_ctx *ctx);

/* The error of a job interrupted because the server stopped. */
#define PROVISION_SHUTDOWN_ERROR "The server shut down while this job was running."
/* Registers a function the heartbeat calls (from another thread) when a cancel is seen, so a
 * handler blocked on a child process can signal it. */
void job_ctx_on_cancel(struct job_ctx *ctx, void (*fn)(void *arg), void *arg);

#endif
