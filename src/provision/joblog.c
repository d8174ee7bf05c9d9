/* joblog.c - the handler's view of a running job: its logs (capped), cancellation. */
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "provision/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void job_ctx_init(struct job_ctx *ctx, struct provisioner *p, const struct job *job)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->p = p;
    ctx->job = *job;
    ctx->job.error = xstrdup(job->error);
    ctx->job.input = xstrdup(job->input);
    ctx->log_bytes = job->logs_length;
    ctx->log_overflowed = job->logs_overflowed;
    pthread_mutex_init(&ctx->lock, NULL);
}

void job_ctx_destroy(struct job_ctx *ctx)
{
    job_clear(&ctx->job);
    pthread_mutex_destroy(&ctx->lock);
}

const struct job *job_ctx_job(const struct job_ctx *ctx)
{
    return &ctx->job;
}

struct store *job_ctx_store(const struct job_ctx *ctx)
{
    return ctx->p->st;
}

struct pubsub *job_ctx_pubsub(const struct job_ctx *ctx)
{
    return ctx->p->ps;
}

bool job_ctx_canceled(struct job_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    bool c = ctx->canceled || ctx->shutdown || ctx->lost;
    pthread_mutex_unlock(&ctx->lock);
    return c;
}

bool job_ctx_user_canceled(struct job_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    bool c = ctx->canceled;
    pthread_mutex_unlock(&ctx->lock);
    return c;
}

int job_ctx_complete(struct job_ctx *ctx, const char *error, struct err *e)
{
    pthread_mutex_lock(&ctx->lock);
    bool canceled = ctx->canceled;
    pthread_mutex_unlock(&ctx->lock);
    if (store_job_complete(ctx->p->st, ctx->job.id, ctx->p->worker_id, time_now_us(),
                           canceled ? "" : (error ? error : ""), "", e) < 0)
        return -1;
    pthread_mutex_lock(&ctx->lock);
    ctx->completed = true;
    pthread_mutex_unlock(&ctx->lock);
    return 0;
}

void job_ctx_on_cancel(struct job_ctx *ctx, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->on_cancel = fn;
    ctx->on_cancel_arg = arg;
    bool already = ctx->canceled || ctx->shutdown || ctx->lost;
    pthread_mutex_unlock(&ctx->lock);
    if (already && fn)
        fn(arg);
}

void job_ctx_signal(struct job_ctx *ctx, bool shutdown)
{
    pthread_mutex_lock(&ctx->lock);
    bool first = !ctx->canceled && !ctx->shutdown;
    if (shutdown)
        ctx->shutdown = true;
    else
        ctx->canceled = true;
    void (*fn)(void *) = ctx->on_cancel;
    void *arg = ctx->on_cancel_arg;
    pthread_mutex_unlock(&ctx->lock);
    if (first && fn)
        fn(arg);
}

void job_log_lines(struct job_ctx *ctx, enum job_log_level level, enum log_source source,
                   const char *stage, const char *const *lines, const size_t *lens, size_t n)
{
    if (ctx->log_overflowed || n == 0)
        return;
    struct job_log *logs = xcalloc(n + 1, sizeof *logs);
    size_t count = 0;
    int64_t now = time_now_us();
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(lines[i]);
        if (len > JOB_LOG_LINE_MAX)
            len = utf8_cut(lines[i], JOB_LOG_LINE_MAX);
        if (ctx->log_bytes + (int64_t)len > JOB_LOGS_MAX) {
            ctx->log_overflowed = true;
            break;
        }
        ctx->log_bytes += (int64_t)len;
        struct job_log *l = &logs[count++];
        l->created_at = now;
        l->source = source;
        l->level = level;
        str_copy(l->stage, sizeof l->stage, stage ? stage : "");
        l->output = utf8_sanitize(lines[i], len, NULL);
    }
    if (ctx->log_overflowed) {
        struct job_log *l = &logs[count++];
        l->created_at = now;
        l->source = LOG_SOURCE_PROVISIONER_DAEMON;
        l->level = JOB_LOG_WARN;
        str_copy(l->stage, sizeof l->stage, stage ? stage : "");
        l->output = xstrdup("Log output exceeded 1 MiB; further lines are not recorded.");
    }
    struct err e = ERR_INIT;
    if (store_job_logs_insert(ctx->p->st, ctx->job.id, logs, count, &e) < 0)
        log_warn("provision", "store job logs failed job=%s: %s", ctx->job.id, err_msg(&e));
    if (ctx->log_overflowed)
        store_job_logs_overflow(ctx->p->st, ctx->job.id, NULL);
    err_clear(&e);
    for (size_t i = 0; i < count; i++)
        free(logs[i].output);
    free(logs);
    pubsub_publishf(ctx->p->ps, "logs", "job:%s:logs", ctx->job.id);
}

void job_log(struct job_ctx *ctx, enum job_log_level level, const char *stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = str_vprintf(fmt, ap);
    va_end(ap);
    const char *lines[1] = {line};
    job_log_lines(ctx, level, LOG_SOURCE_PROVISIONER_DAEMON, stage, lines, NULL, 1);
    free(line);
}
