/* internal.h - shared state of the provisioner (not for use outside src/provision/). */
#ifndef BERTH_PROVISION_INTERNAL_H
#define BERTH_PROVISION_INTERNAL_H

#include "provision/provision.h"

#include <pthread.h>

struct job_ctx {
    struct provisioner *p;
    struct job job;
    pthread_mutex_t lock;
    bool canceled;  /* a cancel was requested */
    bool shutdown;  /* the server is stopping */
    bool lost;      /* the job is no longer ours (reaped or completed elsewhere) */
    bool completed; /* the handler completed it (job_ctx_complete) */
    void (*on_cancel)(void *arg);
    void *on_cancel_arg;
    int64_t log_bytes;
    bool log_overflowed;
    struct job_ctx *next; /* running list */
};

struct provisioner {
    struct store *st;
    struct pubsub *ps;
    struct provisioner_config cfg;
    char worker_id[64];
    pthread_t *runners;
    pthread_t heartbeat, reaper;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* stop signal for heartbeat and reaper */
    bool stopping;
    struct job_ctx *running;
    struct pubsub_waiter **waiters; /* one per runner, woken on stop */
};

/* joblog.c */
void job_ctx_init(struct job_ctx *ctx, struct provisioner *p, const struct job *job);
void job_ctx_destroy(struct job_ctx *ctx);
/* Sets a flag and calls the cancel function outside the lock. */
void job_ctx_signal(struct job_ctx *ctx, bool shutdown);

#endif
