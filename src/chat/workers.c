/* workers.c - the chat workers: threads that claim pending chats and run their turns, and one
 * that keeps their leases alive.
 *
 * A worker claims in a loop; with nothing to claim it sleeps until a post wakes it or the
 * backstop poll passes (which also claims turns whose lease expired, and at start the turns an
 * earlier process of this replica left running). Every turn this process runs is on the active
 * list: the heartbeat thread extends their leases and carries interrupts requested elsewhere to
 * them; a lost lease abandons the turn. A turn ends in the store only after its last message was
 * stored (chat_turn_run returns then), and every status change is published.
 */
#include "chat/service.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

#define LEASE_DEFAULT_MS 60000
#define POLL_DEFAULT_MS  5000

static int64_t lease_ms(const struct chat_service *svc)
{
    return svc->loop.lease_ms > 0 ? svc->loop.lease_ms : LEASE_DEFAULT_MS;
}

static int64_t heartbeat_ms(const struct chat_service *svc)
{
    return svc->loop.heartbeat_ms > 0 ? svc->loop.heartbeat_ms : lease_ms(svc) / 4;
}

static int64_t poll_ms(const struct chat_service *svc)
{
    return svc->loop.poll_ms > 0 ? svc->loop.poll_ms : POLL_DEFAULT_MS;
}

void chat_workers_wake(struct chat_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->posts++;
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
}

bool chat_workers_interrupt(struct chat_service *svc, const char *chat_id)
{
    bool found = false;
    pthread_mutex_lock(&svc->lock);
    for (struct chat_active *a = svc->active; a; a = a->next) {
        if (strcmp(a->chat_id, chat_id) == 0) {
            chat_turn_ctl_stop(&a->ctl, CHAT_TURN_INTERRUPT);
            found = true;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return found;
}

/* ---- holds of tool batches: the chat's workspace lock, counted for shutdown ---- */

static pthread_mutex_t *batch_hold(void *arg, const char *chat_id)
{
    struct chat_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    svc->batches++;
    pthread_mutex_t *mu = chat_workspace_mu_get_locked(svc, chat_id);
    pthread_mutex_unlock(&svc->lock);
    return mu;
}

static void batch_release(void *arg, const char *chat_id)
{
    struct chat_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    chat_workspace_mu_put_locked(svc, chat_id);
    svc->batches--;
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
}

/* ---- one turn ---- */

static void publish_chat(struct chat_service *svc, const char *id)
{
    struct chat c;
    struct err e = ERR_INIT;
    if (store_chat_get(svc->st, id, &c, &e) < 0) {
        err_clear(&e);
        return;
    }
    chat_publish(svc, &c);
    chat_clear(&c);
}

static void run_claimed(struct chat_service *svc, const struct chat *c)
{
    struct chat_active a = {0};
    str_copy(a.chat_id, sizeof a.chat_id, c->id);
    chat_turn_ctl_init(&a.ctl);
    pthread_mutex_lock(&svc->lock);
    if (svc->closing)
        chat_turn_ctl_stop(&a.ctl, CHAT_TURN_ABANDON);
    a.next = svc->active;
    if (a.next)
        a.next->prev = &a;
    svc->active = &a;
    pthread_mutex_unlock(&svc->lock);
    if (c->attempts > 1)
        log_warn("chat", "chat %s: resuming a turn its previous worker left (claim %d)", c->id,
                 c->attempts);

    size_t ntools;
    const struct tool_def *const *tools = tool_defs(&ntools);
    struct chat_turn t = {
        .st = svc->st,
        .ps = svc->ps,
        .provider = svc->loop.provider,
        .env = &svc->env,
        .tools = tools,
        .ntools = ntools,
        .limits = svc->loop.limits,
        .chat = c,
        .ctl = &a.ctl,
        .hold = batch_hold,
        .release = batch_release,
        .hold_arg = svc,
    };
    char *error = NULL;
    enum chat_turn_end end = chat_turn_run(&t, &error);

    pthread_mutex_lock(&svc->lock);
    if (a.prev)
        a.prev->next = a.next;
    else
        svc->active = a.next;
    if (a.next)
        a.next->prev = a.prev;
    pthread_mutex_unlock(&svc->lock);
    bool lost = chat_turn_ctl_state(&a.ctl) == CHAT_TURN_ABANDON;
    chat_turn_ctl_destroy(&a.ctl);

    struct err e = ERR_INIT;
    bool requeued = false;
    int rc = 0;
    pthread_mutex_lock(&svc->publish_mu);
    if (end == CHAT_TURN_ABANDONED || (lost && end != CHAT_TURN_FAILED)) {
        /* Shutdown gives the turn back; a lost lease means another worker has it. */
        rc = store_chat_release(svc->st, c->id, svc->worker_id, &e);
    } else {
        if (end == CHAT_TURN_FAILED)
            log_warn("chat", "chat %s: the turn failed: %s", c->id, error);
        rc = store_chat_finish(svc->st, c->id, svc->worker_id,
                               end == CHAT_TURN_FAILED ? error : NULL, time_now_us(), &requeued,
                               NULL, &e);
    }
    if (rc < 0 && !err_is(&e, ERR_CONFLICT))
        log_warn("chat", "chat %s: ending the turn: %s", c->id, err_msg(&e));
    err_clear(&e);
    free(error);
    publish_chat(svc, c->id);
    pthread_mutex_unlock(&svc->publish_mu);
    if (requeued)
        chat_workers_wake(svc);
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    struct chat_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    uint64_t seen = svc->posts;
    while (!svc->closing) {
        pthread_mutex_unlock(&svc->lock);
        struct chat c;
        struct err e = ERR_INIT;
        pthread_mutex_lock(&svc->publish_mu);
        int r = store_chat_claim(svc->st, svc->worker_id, svc->replica_id, time_now_us(),
                                 lease_ms(svc), &c, &e);
        if (r > 0)
            chat_publish(svc, &c);
        pthread_mutex_unlock(&svc->publish_mu);
        if (r < 0) {
            log_warn("chat", "claiming a chat: %s", err_msg(&e));
            err_clear(&e);
        } else if (r > 0) {
            run_claimed(svc, &c);
            chat_clear(&c);
        }
        pthread_mutex_lock(&svc->lock);
        if (r > 0 || svc->closing)
            continue; /* there may be more */
        if (svc->posts != seen) {
            seen = svc->posts;
            continue;
        }
        struct timespec deadline = time_mono_deadline(poll_ms(svc));
        while (!svc->closing && svc->posts == seen) {
            if (pthread_cond_timedwait(&svc->wake, &svc->lock, &deadline) != 0)
                break;
        }
        seen = svc->posts;
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

/* Extends the leases of the turns this process runs; passes interrupts requested elsewhere;
 * abandons turns whose lease was lost. */
static void *heartbeat_main(void *arg)
{
    struct chat_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    while (!svc->closing) {
        struct timespec deadline = time_mono_deadline(heartbeat_ms(svc));
        while (!svc->closing) {
            if (pthread_cond_timedwait(&svc->wake, &svc->lock, &deadline) != 0)
                break;
        }
        if (svc->closing)
            break;
        /* Collect the ids, then talk to the store without the lock. */
        size_t n = 0;
        for (struct chat_active *a = svc->active; a; a = a->next)
            n++;
        char(*ids)[UUID_STR_LEN] = xcalloc(n ? n : 1, UUID_STR_LEN);
        size_t i = 0;
        for (struct chat_active *a = svc->active; a; a = a->next)
            str_copy(ids[i++], UUID_STR_LEN, a->chat_id);
        pthread_mutex_unlock(&svc->lock);
        for (i = 0; i < n; i++) {
            bool interrupted = false;
            struct err e = ERR_INIT;
            enum chat_turn_stop stop = CHAT_TURN_RUN;
            if (store_chat_heartbeat(svc->st, ids[i], svc->worker_id, time_now_us(), lease_ms(svc),
                                     &interrupted, &e) < 0) {
                if (err_is(&e, ERR_CONFLICT)) {
                    log_warn("chat", "chat %s: the turn's lease was lost; abandoning it", ids[i]);
                    stop = CHAT_TURN_ABANDON;
                } else {
                    log_warn("chat", "chat %s: heartbeat: %s", ids[i], err_msg(&e));
                }
                err_clear(&e);
            } else if (interrupted) {
                stop = CHAT_TURN_INTERRUPT;
            }
            if (stop == CHAT_TURN_RUN)
                continue;
            pthread_mutex_lock(&svc->lock);
            for (struct chat_active *a = svc->active; a; a = a->next)
                if (strcmp(a->chat_id, ids[i]) == 0)
                    chat_turn_ctl_stop(&a->ctl, stop);
            pthread_mutex_unlock(&svc->lock);
        }
        free(ids);
        pthread_mutex_lock(&svc->lock);
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

int chat_service_start(struct chat_service *svc, struct err *e)
{
    int n = svc->loop.workers;
    if (n <= 0)
        return 0;
    svc->threads = xcalloc((size_t)n + 1, sizeof *svc->threads);
    for (int i = 0; i <= n; i++) {
        if (pthread_create(&svc->threads[i], NULL, i < n ? worker_main : heartbeat_main, svc) !=
            0) {
            chat_workers_stop(svc);
            return err_set(e, ERR_INTERNAL, "could not start the chat workers");
        }
        svc->nthreads = i + 1;
    }
    log_info("chat", "%d chat workers (worker id %s, provider %s)", n, svc->worker_id,
             svc->loop.provider ? svc->loop.provider->name : "none");
    return 0;
}

void chat_workers_stop(struct chat_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->closing = true;
    for (struct chat_active *a = svc->active; a; a = a->next)
        chat_turn_ctl_stop(&a->ctl, CHAT_TURN_ABANDON);
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
    for (int i = 0; i < svc->nthreads; i++)
        pthread_join(svc->threads[i], NULL);
    free(svc->threads);
    svc->threads = NULL;
    svc->nthreads = 0;
}

void chat_workers_drain(struct chat_service *svc)
{
    /* Tool threads of abandoned turns were canceled; one waiting for an agent's answer ends once
     * the agent's stream is gone (the HTTP server stopped): wait until they all are. */
    pthread_mutex_lock(&svc->lock);
    while (svc->batches > 0)
        pthread_cond_wait(&svc->wake, &svc->lock);
    pthread_mutex_unlock(&svc->lock);
}
