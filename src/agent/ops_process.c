/* ops_process.c - background processes: the table, one runner thread per process, the output
 * ring, and the process_output, process_list and process_signal requests.
 *
 * The table (a list in start order) and each entry's state are guarded by ops->mu; an entry's
 * output ring by its own out_mu, taken after ops->mu when both are held, so the runner thread
 * appending lines never waits for the table. An entry is reference-counted: the table, its
 * runner thread while it runs, and each process_output waiting on it hold one. Whoever drops the
 * last reference (a runner evicting an old finished entry, or a waiter of an evicted one) joins
 * the entry's runner thread and frees it, outside ops->mu. A runner never drops the last
 * reference of its own entry (its entry is in the table when it finishes, and the table evicts
 * only the oldest finished entries, never the one finishing now), so no thread joins itself.
 */
#include "agent/ops_internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "proc/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BG  OPS_OUTPUT_MAX /* longer lines are cut: no answer shows more anyway */
#define WAIT_MAX_MS  300000
#define RING_INITIAL 4096

/* The most recent bytes of a process's output, at most OPS_BG_BUFFER_MAX: grows by doubling,
 * then wraps around, dropping the oldest bytes. */
struct ring {
    char *data;
    size_t cap;
    size_t start;
    size_t len;
    bool dropped; /* older bytes were dropped */
};

struct ops_proc {
    struct ops_proc *prev, *next; /* the table, while in_table */
    struct agent_ops *ops;
    char id[24];
    char *command;
    struct proc *p; /* valid while running (freed by the runner once finished) */
    struct proc_cancel *cancel;
    pthread_t thread;
    bool thread_started;
    pthread_cond_t done; /* broadcast on ops->mu when running turns false */
    int refs;
    bool in_table;
    bool running;
    int exit_code;
    int64_t started_us; /* wall clock */
    int64_t start_mono_us;
    int64_t end_mono_us;
    uint64_t finish_seq;

    pthread_mutex_t out_mu;
    struct ring out;
};

/* Copies the n bytes of r starting off bytes after its oldest one into dst. */
static void ring_copy(const struct ring *r, size_t off, size_t n, char *dst)
{
    if (n == 0)
        return;
    size_t pos = (r->start + off) % r->cap;
    size_t first = n < r->cap - pos ? n : r->cap - pos;
    memcpy(dst, r->data + pos, first);
    memcpy(dst + first, r->data, n - first);
}

static void ring_append(struct ring *r, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (n >= OPS_BG_BUFFER_MAX) {
        if (r->cap < OPS_BG_BUFFER_MAX) {
            free(r->data);
            r->data = xmalloc(OPS_BG_BUFFER_MAX);
            r->cap = OPS_BG_BUFFER_MAX;
        }
        r->dropped = r->dropped || r->len > 0 || n > OPS_BG_BUFFER_MAX;
        memcpy(r->data, p + (n - OPS_BG_BUFFER_MAX), OPS_BG_BUFFER_MAX);
        r->start = 0;
        r->len = OPS_BG_BUFFER_MAX;
        return;
    }
    if (r->len + n > r->cap && r->cap < OPS_BG_BUFFER_MAX) {
        size_t cap = r->cap ? r->cap : RING_INITIAL;
        while (cap < r->len + n && cap < OPS_BG_BUFFER_MAX)
            cap *= 2;
        if (cap > OPS_BG_BUFFER_MAX)
            cap = OPS_BG_BUFFER_MAX;
        char *data = xmalloc(cap);
        ring_copy(r, 0, r->len, data);
        free(r->data);
        r->data = data;
        r->cap = cap;
        r->start = 0;
    }
    size_t pos = (r->start + r->len) % r->cap;
    size_t first = n < r->cap - pos ? n : r->cap - pos;
    memcpy(r->data + pos, p, first);
    memcpy(r->data, p + first, n - first);
    if (r->len + n > r->cap) {
        r->start = (r->start + (r->len + n - r->cap)) % r->cap;
        r->len = r->cap;
        r->dropped = true;
    } else {
        r->len += n;
    }
}

/* Called by proc_run on the runner thread for each line: kept with its "\n". */
static void on_line(void *arg, enum proc_stream stream, const char *line, size_t len)
{
    struct ops_proc *bp = arg;
    pthread_mutex_lock(&bp->out_mu);
    ring_append(&bp->out, line, len);
    ring_append(&bp->out, "\n", 1);
    pthread_mutex_unlock(&bp->out_mu);
}

/* Joins bp's runner thread (finished or about to return) and frees bp. Not under ops->mu. */
static void entry_destroy(struct ops_proc *bp)
{
    if (!bp)
        return;
    if (bp->thread_started)
        pthread_join(bp->thread, NULL);
    proc_free(bp->p);
    proc_cancel_free(bp->cancel);
    pthread_cond_destroy(&bp->done);
    pthread_mutex_destroy(&bp->out_mu);
    free(bp->out.data);
    free(bp->command);
    free(bp);
}

/* Under ops->mu: unlinks bp from the table and drops the table's reference. Returns bp when that
 * was the last reference (the caller destroys it after unlocking), else NULL. */
static struct ops_proc *table_remove(struct agent_ops *ops, struct ops_proc *bp)
{
    if (bp->prev)
        bp->prev->next = bp->next;
    else
        ops->head = bp->next;
    if (bp->next)
        bp->next->prev = bp->prev;
    else
        ops->tail = bp->prev;
    bp->prev = bp->next = NULL;
    bp->in_table = false;
    if (!bp->running)
        ops->nfinished--;
    return --bp->refs == 0 ? bp : NULL;
}

/* Under ops->mu: when more than OPS_FINISHED_KEEP finished entries are kept, removes the one that
 * finished first. Returns an entry for the caller to destroy, or NULL. */
static struct ops_proc *table_evict(struct agent_ops *ops)
{
    if (ops->nfinished <= OPS_FINISHED_KEEP)
        return NULL;
    struct ops_proc *oldest = NULL;
    for (struct ops_proc *bp = ops->head; bp; bp = bp->next) {
        if (!bp->running && (!oldest || bp->finish_seq < oldest->finish_seq))
            oldest = bp;
    }
    return oldest ? table_remove(ops, oldest) : NULL;
}

static struct ops_proc *table_find(struct agent_ops *ops, const char *id)
{
    for (struct ops_proc *bp = ops->head; bp; bp = bp->next) {
        if (strcmp(bp->id, id) == 0)
            return bp;
    }
    return NULL;
}

/* Under ops->mu: one fewer live process; wakes agent_ops_free when none is left. */
static void live_done(struct agent_ops *ops)
{
    if (--ops->nlive == 0)
        pthread_cond_broadcast(&ops->idle);
}

static void *runner(void *arg)
{
    struct ops_proc *bp = arg;
    struct agent_ops *ops = bp->ops;
    struct proc_run_opts opts = {
        .kill_grace_ms = OPS_KILL_GRACE_MS,
        .cancel = bp->cancel,
        .line_max = LINE_MAX_BG,
        .on_line = on_line,
        .arg = bp,
        .wait_for_pipes = true,
    };
    struct proc_result res;
    struct err e = ERR_INIT;
    int rc = proc_run(bp->p, &opts, &res, &e);
    err_clear(&e);

    pthread_mutex_lock(&ops->mu);
    struct proc *p = bp->p;
    bp->p = NULL;
    bp->running = false;
    bp->end_mono_us = time_mono_us();
    if (rc < 0)
        bp->exit_code = -1;
    else if (res.exited)
        bp->exit_code = res.exit_status;
    else if (res.signaled)
        bp->exit_code = 128 + res.signal;
    else
        bp->exit_code = -1;
    bp->finish_seq = ++ops->finish_seq;
    bp->refs--; /* the runner's; the table still holds one */
    ops->nfinished++;
    pthread_cond_broadcast(&bp->done);
    struct ops_proc *victim = table_evict(ops);
    live_done(ops);
    pthread_mutex_unlock(&ops->mu);

    proc_free(p);
    entry_destroy(victim);
    return NULL;
}

int ops_process_start(struct agent_ops *ops, const char *command, char *const *env, const char *cwd,
                      json_t **result, struct err *e)
{
    pthread_mutex_lock(&ops->mu);
    if (ops->nlive >= ops->max_background) {
        pthread_mutex_unlock(&ops->mu);
        return err_set(e, ERR_BAD_REQUEST, "too many background processes (%zu)",
                       ops->max_background);
    }
    ops->nlive++; /* reserved while starting */
    pthread_mutex_unlock(&ops->mu);

    struct ops_proc *bp = xcalloc(1, sizeof *bp);
    bp->ops = ops;
    bp->command = xstrdup(command);
    pthread_condattr_t attr;
    if (pthread_mutex_init(&bp->out_mu, NULL) != 0 || pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&bp->done, &attr) != 0)
        mem_oom();
    pthread_condattr_destroy(&attr);
    bp->cancel = proc_cancel_new();
    if (!bp->cancel) {
        err_set(e, ERR_INTERNAL, "cannot create a cancel for the process: %s", strerror(errno));
        goto fail;
    }
    char *argv[] = {"sh", "-c", bp->command, NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = env, .cwd = cwd};
    bp->started_us = time_now_us();
    bp->start_mono_us = time_mono_us();
    bp->p = proc_start(&spec, e);
    if (!bp->p)
        goto fail;

    pthread_mutex_lock(&ops->mu);
    str_fmt(bp->id, sizeof bp->id, "p%llu", (unsigned long long)++ops->next_id);
    bp->running = true;
    bp->refs = 2; /* the table and the runner */
    bp->in_table = true;
    bp->prev = ops->tail;
    if (ops->tail)
        ops->tail->next = bp;
    else
        ops->head = bp;
    ops->tail = bp;
    int r = pthread_create(&bp->thread, NULL, runner, bp);
    if (r != 0) {
        /* Nothing else can have finished it: take it back out, kill and reap it. */
        bp->refs = 1;
        table_remove(ops, bp);
        live_done(ops);
        pthread_mutex_unlock(&ops->mu);
        proc_signal_group(bp->p, SIGKILL);
        proc_cancel_fire(bp->cancel);
        struct proc_run_opts o = {.cancel = bp->cancel, .kill_grace_ms = 1};
        struct proc_result res;
        proc_run(bp->p, &o, &res, NULL);
        entry_destroy(bp);
        return err_set(e, ERR_INTERNAL, "cannot start a thread for the process: %s", strerror(r));
    }
    bp->thread_started = true;
    *result = ops_json_must(json_pack("{s:s}", "process_id", bp->id));
    pthread_mutex_unlock(&ops->mu);
    return 0;

fail:
    pthread_mutex_lock(&ops->mu);
    live_done(ops);
    pthread_mutex_unlock(&ops->mu);
    entry_destroy(bp);
    return -1;
}

static int64_t duration_of(const struct ops_proc *bp)
{
    int64_t end = bp->running ? time_mono_us() : bp->end_mono_us;
    return (end - bp->start_mono_us) / 1000;
}

static json_t *exit_code_json(const struct ops_proc *bp)
{
    return bp->running ? json_null() : json_integer(bp->exit_code);
}

/* The most recent output of bp (at most OPS_OUTPUT_MAX bytes of valid UTF-8) as a new JSON
 * string; *truncated tells whether earlier output is missing. Under ops->mu. */
static json_t *output_json(struct ops_proc *bp, bool *truncated)
{
    pthread_mutex_lock(&bp->out_mu);
    size_t n = bp->out.len < OPS_OUTPUT_MAX ? bp->out.len : OPS_OUTPUT_MAX;
    char *tail = xmalloc(n + 1);
    ring_copy(&bp->out, bp->out.len - n, n, tail);
    bool cut = bp->out.dropped || n < bp->out.len;
    pthread_mutex_unlock(&bp->out_mu);

    size_t skip = 0;
    if (cut) {
        /* The tail may start inside a character: skip its continuation bytes. */
        while (skip < n && skip < 3 && ((unsigned char)tail[skip] & 0xC0) == 0x80)
            skip++;
    }
    size_t len;
    char *clean = utf8_sanitize(tail + skip, n - skip, &len);
    size_t off = 0;
    if (len > OPS_OUTPUT_MAX) {
        off = len - OPS_OUTPUT_MAX;
        while (off < len && ((unsigned char)clean[off] & 0xC0) == 0x80)
            off++;
        cut = true;
    }
    json_t *v = ops_json_must(json_stringn(clean + off, len - off));
    free(clean);
    free(tail);
    *truncated = cut;
    return v;
}

int ops_process_output(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *id;
    int64_t wait_ms = 0;
    if (jsonx_string(req, "process_id", JSONX_REQUIRED, 0, &id, e) < 0 ||
        jsonx_int(req, "wait_ms", JSONX_OPTIONAL, &wait_ms, NULL, e) < 0)
        return -1;
    if (wait_ms < 0 || wait_ms > WAIT_MAX_MS)
        return jsonx_invalid(e, "wait_ms", "must be between 0 and %d", WAIT_MAX_MS);

    struct ops_proc *victim = NULL;
    pthread_mutex_lock(&ops->mu);
    struct ops_proc *bp = table_find(ops, id);
    if (!bp) {
        pthread_mutex_unlock(&ops->mu);
        return err_set(e, ERR_NOT_FOUND, "process %s not found", id);
    }
    if (wait_ms > 0 && bp->running) {
        bp->refs++;
        struct timespec deadline = time_mono_deadline(wait_ms);
        while (bp->running) {
            if (pthread_cond_timedwait(&bp->done, &ops->mu, &deadline) == ETIMEDOUT)
                break;
        }
        if (--bp->refs == 0)
            victim = bp; /* evicted while waiting: answer, then free it */
    }
    bool truncated;
    json_t *output = output_json(bp, &truncated);
    *result = ops_json_must(json_pack("{s:s, s:b, s:o, s:o, s:b, s:I}", "process_id", bp->id,
                                      "running", (int)bp->running, "exit_code", exit_code_json(bp),
                                      "output", output, "truncated", (int)truncated, "duration_ms",
                                      (json_int_t)duration_of(bp)));
    pthread_mutex_unlock(&ops->mu);
    entry_destroy(victim);
    return 0;
}

int ops_process_list(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    json_t *list = ops_json_must(json_array());
    pthread_mutex_lock(&ops->mu);
    for (struct ops_proc *bp = ops->head; bp; bp = bp->next) {
        json_t *item =
            json_pack("{s:s, s:o, s:b, s:o, s:o, s:I}", "process_id", bp->id, "command",
                      ops_json_text(bp->command, strlen(bp->command)), "running", (int)bp->running,
                      "exit_code", exit_code_json(bp), "started_at", jsonx_time(bp->started_us),
                      "duration_ms", (json_int_t)duration_of(bp));
        json_array_append_new(list, ops_json_must(item));
    }
    pthread_mutex_unlock(&ops->mu);
    *result = ops_json_must(json_pack("{s:o}", "processes", list));
    return 0;
}

int ops_process_signal(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *id, *name;
    if (jsonx_string(req, "process_id", JSONX_REQUIRED, 0, &id, e) < 0 ||
        jsonx_string(req, "signal", JSONX_REQUIRED, 0, &name, e) < 0)
        return -1;
    int sig;
    if (strcmp(name, "terminate") == 0)
        sig = SIGTERM;
    else if (strcmp(name, "kill") == 0)
        sig = SIGKILL;
    else
        return err_set(e, ERR_BAD_REQUEST, "signal must be \"terminate\" or \"kill\"");

    pthread_mutex_lock(&ops->mu);
    struct ops_proc *bp = table_find(ops, id);
    if (!bp) {
        pthread_mutex_unlock(&ops->mu);
        return err_set(e, ERR_NOT_FOUND, "process %s not found", id);
    }
    if (!bp->running) {
        pthread_mutex_unlock(&ops->mu);
        return err_set(e, ERR_BAD_REQUEST, "process %s has already exited", id);
    }
    proc_signal_group(bp->p, sig);
    *result = ops_json_must(
        json_pack("{s:s, s:s, s:b}", "process_id", bp->id, "signal", name, "sent", 1));
    pthread_mutex_unlock(&ops->mu);
    return 0;
}

void ops_processes_free(struct agent_ops *ops)
{
    pthread_mutex_lock(&ops->mu);
    for (struct ops_proc *bp = ops->head; bp; bp = bp->next) {
        if (bp->running) {
            proc_cancel_fire(bp->cancel); /* the run stops waiting for pipes held elsewhere */
            proc_signal_group(bp->p, SIGKILL);
        }
    }
    while (ops->nlive > 0)
        pthread_cond_wait(&ops->idle, &ops->mu);
    /* Every runner is past its last use of the table; what it still does (freeing its proc,
     * destroying an evicted entry) ends before its thread is joined below. */
    struct ops_proc *bp = ops->head;
    ops->head = ops->tail = NULL;
    ops->nfinished = 0;
    pthread_mutex_unlock(&ops->mu);
    while (bp) {
        struct ops_proc *next = bp->next;
        entry_destroy(bp);
        bp = next;
    }
}
