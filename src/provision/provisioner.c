/* provisioner.c - runner threads, the heartbeat, the reaper and recovery at start. */
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "provision/internal.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void provision_post(struct pubsub *ps, const char *job_id)
{
    pubsub_publish(ps, "jobs:posted", job_id);
}

static void publish_job(struct pubsub *ps, const char *job_id, const char *what)
{
    pubsub_publishf(ps, what, "job:%s", job_id);
    if (strcmp(what, "end") == 0)
        pubsub_publishf(ps, "end", "job:%s:logs", job_id);
}

int provision_cancel(struct store *st, struct pubsub *ps, const char *job_id, struct err *e)
{
    if (store_job_cancel(st, job_id, time_now_us(), e) < 0)
        return -1;
    pubsub_publishf(ps, "cancel", "job:%s:cancel", job_id);
    struct job j;
    if (store_job_get(st, job_id, &j, NULL) == 0) {
        publish_job(ps, job_id, job_status_terminal(j.status) ? "end" : "update");
        job_clear(&j);
    }
    return 0;
}

int provision_fail_job(struct store *st, struct pubsub *ps, const struct job *job,
                       const char *error, const char *const *log_lines, size_t nlines,
                       struct err *e)
{
    if (nlines) {
        struct job_log *logs = xcalloc(nlines, sizeof *logs);
        int64_t now = time_now_us();
        for (size_t i = 0; i < nlines; i++) {
            logs[i].created_at = now;
            logs[i].source = LOG_SOURCE_PROVISIONER_DAEMON;
            logs[i].level = JOB_LOG_ERROR;
            logs[i].output = (char *)(uintptr_t)log_lines[i];
        }
        store_job_logs_insert(st, job->id, logs, nlines, NULL);
        free(logs);
    }
    int r = store_job_complete(st, job->id, NULL, time_now_us(), error, "", e);
    publish_job(ps, job->id, "end");
    return r;
}

static void abandon(struct provisioner *p, const struct job *job)
{
    const struct job_handler *h = &p->cfg.handlers[job->type];
    if (h->abandoned)
        h->abandoned(p->st, job, h->arg);
}

/* ---- running one job ---- */

static void on_cancel_event(const char *channel, const char *payload, void *arg)
{
    job_ctx_signal(arg, false);
}

static void run_job(struct provisioner *p, struct job *job)
{
    struct job_ctx *ctx = xmalloc(sizeof *ctx);
    job_ctx_init(ctx, p, job);
    char channel[96];
    snprintf(channel, sizeof channel, "job:%s:cancel", job->id);
    struct pubsub_sub *sub = pubsub_subscribe(p->ps, channel, on_cancel_event, ctx);
    pthread_mutex_lock(&p->lock);
    ctx->next = p->running;
    p->running = ctx;
    pthread_mutex_unlock(&p->lock);
    /* A cancel requested between the claim and the subscription is caught here. */
    struct job fresh;
    if (store_job_get(p->st, job->id, &fresh, NULL) == 0) {
        if (fresh.canceled_at)
            job_ctx_signal(ctx, false);
        job_clear(&fresh);
    }
    publish_job(p->ps, job->id, "update");

    const struct job_handler *h = &p->cfg.handlers[job->type];
    struct err e = ERR_INIT;
    int rc = h->run ? h->run(ctx, h->arg, &e)
                    : err_set(&e, ERR_INTERNAL, "no handler for %s jobs", job_type_name(job->type));

    pthread_mutex_lock(&p->lock);
    for (struct job_ctx **pp = &p->running; *pp; pp = &(*pp)->next) {
        if (*pp == ctx) {
            *pp = ctx->next;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    pubsub_unsubscribe(sub);

    pthread_mutex_lock(&ctx->lock);
    bool canceled = ctx->canceled, shutdown = ctx->shutdown, lost = ctx->lost;
    pthread_mutex_unlock(&ctx->lock);
    const char *error = NULL;
    pthread_mutex_lock(&ctx->lock);
    bool completed = ctx->completed;
    pthread_mutex_unlock(&ctx->lock);
    /* A handler that completed the job and then failed (its transaction rolled back) has not
     * really completed it: completing it again fails harmlessly if it had. */
    if (lost || (completed && rc == 0))
        error = NULL;
    else if (canceled)
        error = ""; /* canceled_at is set: the job ends canceled */
    else if (rc < 0 && shutdown)
        error = PROVISION_SHUTDOWN_ERROR;
    else if (rc < 0)
        error = e.message && *e.message ? e.message : "job failed";
    else
        error = "";
    if (error) {
        struct err ce = ERR_INIT;
        if (store_job_complete(p->st, job->id, p->worker_id, time_now_us(), error, "", &ce) < 0 &&
            !err_is(&ce, ERR_CONFLICT))
            log_error("provision", "complete job %s failed: %s", job->id, err_msg(&ce));
        err_clear(&ce);
    }
    if (rc < 0 || canceled)
        log_info("provision", "job %s (%s) ended: %s", job->id, job_type_name(job->type),
                 canceled ? "canceled" : err_msg(&e));
    publish_job(p->ps, job->id, "end");
    err_clear(&e);
    job_ctx_destroy(ctx);
    free(ctx);
}

struct runner_arg {
    struct provisioner *p;
    int index;
};

static void *runner_main(void *arg)
{
    struct runner_arg *ra = arg;
    struct provisioner *p = ra->p;
    struct pubsub_waiter *w = p->waiters[ra->index];
    free(ra);
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        struct job job;
        struct err e = ERR_INIT;
        int r = store_job_claim(p->st, p->worker_id, time_now_us(), &job, &e);
        if (r < 0) {
            log_error("provision", "claim failed: %s", err_msg(&e));
            err_clear(&e);
            pubsub_waiter_wait(w, 1000);
            continue;
        }
        if (r == 0) {
            pubsub_waiter_wait(w, p->cfg.poll_ms);
            continue;
        }
        run_job(p, &job);
        job_clear(&job);
    }
    return NULL;
}

/* ---- heartbeat and reaper ---- */

static bool sleep_unless_stopping(struct provisioner *p, int64_t ms)
{
    struct timespec deadline = time_mono_deadline(ms);
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) != 0)
            break;
    }
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    return !stopping;
}

static void *heartbeat_main(void *arg)
{
    struct provisioner *p = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (sleep_unless_stopping(p, p->cfg.heartbeat_ms)) {
        pthread_mutex_lock(&p->lock);
        for (struct job_ctx *c = p->running; c; c = c->next) {
            pthread_mutex_lock(&c->lock);
            bool done = c->completed; /* its handler completed it: nothing to keep alive */
            pthread_mutex_unlock(&c->lock);
            if (done)
                continue;
            bool canceled = false;
            struct err e = ERR_INIT;
            if (store_job_heartbeat(p->st, c->job.id, p->worker_id, time_now_us(), &canceled, &e) <
                0) {
                pthread_mutex_lock(&c->lock);
                done = c->completed; /* completed while we asked */
                pthread_mutex_unlock(&c->lock);
                if (err_is(&e, ERR_CONFLICT) && !done) {
                    log_warn("provision", "job %s is no longer ours; stopping it", c->job.id);
                    pthread_mutex_lock(&c->lock);
                    c->lost = true;
                    pthread_mutex_unlock(&c->lock);
                    job_ctx_signal(c, false);
                }
            } else if (canceled) {
                job_ctx_signal(c, false);
            }
            err_clear(&e);
        }
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

static void reap_once(struct provisioner *p)
{
    int64_t now = time_now_us();
    struct job_list hung;
    struct err e = ERR_INIT;
    if (store_job_list_hung(p->st, now - p->cfg.hung_running_ms * 1000,
                            now - p->cfg.hung_pending_ms * 1000, 10, &hung, &e) < 0) {
        log_error("provision", "reaper query failed: %s", err_msg(&e));
        err_clear(&e);
        return;
    }
    for (size_t i = 0; i < hung.n; i++) {
        struct job *j = &hung.items[i];
        bool pending = j->started_at == 0;
        int64_t minutes = (pending ? p->cfg.hung_pending_ms : p->cfg.hung_running_ms) / 60000;
        const char *what = j->type == JOB_WORKSPACE_BUILD ? "Build" : "Template import";
        char *line = str_printf("berth: %s has been detected as %s for %lld minutes and will "
                                "be terminated.",
                                what, pending ? "pending" : "hung", (long long)minutes);
        const char *lines[] = {"", "====================", line, "====================", ""};
        char *error = str_printf("%s has been detected as %s for %lld minutes and has been "
                                 "terminated by the reaper.",
                                 what, pending ? "pending" : "hung", (long long)minutes);
        log_warn("provision", "reaping job %s: %s", j->id, error);
        if (provision_fail_job(p->st, p->ps, j, error, lines, 5, &e) == 0)
            abandon(p, j);
        err_clear(&e);
        free(line);
        free(error);
    }
    job_list_free(&hung);
}

static void *reaper_main(void *arg)
{
    struct provisioner *p = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (sleep_unless_stopping(p, p->cfg.reap_every_ms))
        reap_once(p);
    return NULL;
}

/* Fails the jobs this worker had claimed before it (re)started. */
static int recover(struct provisioner *p, struct err *e)
{
    struct job_list mine;
    if (store_job_list_by_worker(p->st, p->worker_id, &mine, e) < 0)
        return -1;
    for (size_t i = 0; i < mine.n; i++) {
        struct job *j = &mine.items[i];
        const char *msg = "The server restarted while this job was running; the job was "
                          "interrupted.";
        const char *lines[] = {msg};
        log_warn("provision", "failing interrupted job %s (%s)", j->id, job_type_name(j->type));
        struct err fe = ERR_INIT;
        if (provision_fail_job(p->st, p->ps, j, msg, lines, 1, &fe) == 0)
            abandon(p, j);
        err_clear(&fe);
    }
    job_list_free(&mine);
    return 0;
}

struct provisioner *provisioner_start(struct store *st, struct pubsub *ps,
                                      const struct provisioner_config *cfg, struct err *e)
{
    struct provisioner *p = xcalloc(1, sizeof *p);
    p->st = st;
    p->ps = ps;
    p->cfg = *cfg;
    str_copy(p->worker_id, sizeof p->worker_id, cfg->worker_id ? cfg->worker_id : "local");
    p->cfg.worker_id = p->worker_id;
    if (p->cfg.runners <= 0)
        p->cfg.runners = 3;
    if (p->cfg.heartbeat_ms <= 0)
        p->cfg.heartbeat_ms = 5000;
    if (p->cfg.poll_ms <= 0)
        p->cfg.poll_ms = 30000;
    if (p->cfg.reap_every_ms <= 0)
        p->cfg.reap_every_ms = 60000;
    if (p->cfg.hung_running_ms <= 0)
        p->cfg.hung_running_ms = 5 * 60000;
    if (p->cfg.hung_pending_ms <= 0)
        p->cfg.hung_pending_ms = 30 * 60000;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (recover(p, e) < 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    p->runners = xcalloc((size_t)p->cfg.runners, sizeof *p->runners);
    p->waiters = xcalloc((size_t)p->cfg.runners, sizeof *p->waiters);
    for (int i = 0; i < p->cfg.runners; i++) {
        p->waiters[i] = pubsub_waiter_new(ps);
        pubsub_waiter_add(p->waiters[i], "jobs:posted");
    }
    for (int i = 0; i < p->cfg.runners; i++) {
        struct runner_arg *ra = xmalloc(sizeof *ra);
        ra->p = p;
        ra->index = i;
        pthread_create(&p->runners[i], NULL, runner_main, ra);
    }
    pthread_create(&p->heartbeat, NULL, heartbeat_main, p);
    pthread_create(&p->reaper, NULL, reaper_main, p);
    return p;
}

void provisioner_stop(struct provisioner *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    for (struct job_ctx *c = p->running; c; c = c->next)
        job_ctx_signal(c, true);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->cfg.runners; i++)
        pubsub_waiter_wake(p->waiters[i]);
    for (int i = 0; i < p->cfg.runners; i++)
        pthread_join(p->runners[i], NULL);
    pthread_join(p->heartbeat, NULL);
    pthread_join(p->reaper, NULL);
    for (int i = 0; i < p->cfg.runners; i++)
        pubsub_waiter_free(p->waiters[i]);
    free(p->waiters);
    free(p->runners);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
