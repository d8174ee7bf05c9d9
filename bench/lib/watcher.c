/* watcher.c - one workspace's watch stream on a thread of its own (see watcher.h). */
#include "watcher.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sighting *sighting_of(struct watcher *w, const char *build_id)
{
    struct sighting *s = map_get(&w->builds, build_id);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        map_put(&w->builds, build_id, s);
    }
    return s;
}

/* One workspace snapshot: records the first sighting of each state of its latest build. */
static void watcher_snapshot(struct watcher *w, const json_t *ws, int64_t now)
{
    const json_t *b = json_object_get(ws, "latest_build");
    const char *id = jsonx_get_str(b, "id", NULL);
    if (!id)
        return;
    const char *job = jsonx_get_str(json_object_get(b, "job"), "status", "");
    const json_t *res = json_array_get(json_object_get(b, "resources"), 0);
    const json_t *agent = json_array_get(json_object_get(res, "agents"), 0);
    pthread_mutex_lock(&w->lock);
    struct sighting *s = sighting_of(w, id);
    bool ended =
        strcmp(job, "succeeded") == 0 || strcmp(job, "failed") == 0 || strcmp(job, "canceled") == 0;
    if (ended && !s->ended_us) {
        s->ended_us = now;
        s->failed = strcmp(job, "succeeded") != 0;
    }
    if (agent) {
        str_copy(s->agent_id, sizeof s->agent_id, jsonx_get_str(agent, "id", ""));
        if (!s->connected_us && strcmp(jsonx_get_str(agent, "status", ""), "connected") == 0)
            s->connected_us = now;
        if (!s->ready_us && strcmp(jsonx_get_str(agent, "lifecycle_state", ""), "ready") == 0)
            s->ready_us = now;
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* SSE lines: "data: " lines accumulate, an empty line ends the event (pings are not
 * workspaces and are skipped by watcher_snapshot). */
static void watcher_line(struct watcher *w, const char *line)
{
    if (str_has_prefix(line, "data: ")) {
        buf_puts(&w->data, line + 6);
        return;
    }
    if (*line || !w->data.len)
        return;
    int64_t now = time_mono_us();
    json_error_t je;
    json_t *ws = json_loadb(w->data.data, w->data.len, 0, &je);
    watcher_snapshot(w, ws, now);
    json_decref(ws);
    buf_reset(&w->data);
}

static size_t watcher_write(char *p, size_t size, size_t n, void *arg)
{
    struct watcher *w = arg;
    for (size_t i = 0; i < size * n; i++) {
        if (p[i] != '\n') {
            buf_putc(&w->line, p[i]);
            continue;
        }
        watcher_line(w, buf_str(&w->line));
        buf_reset(&w->line);
    }
    return size * n;
}

static int watcher_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct watcher *w = arg;
    pthread_mutex_lock(&w->lock);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return stop; /* non-zero aborts the transfer */
}

static void *watcher_main(void *arg)
{
    struct watcher *w = arg;
    char *url = str_printf("%s%s", w->cl.url, w->path);
    curl_easy_setopt(w->cl.curl, CURLOPT_URL, url);
    curl_easy_setopt(w->cl.curl, CURLOPT_HTTPHEADER, w->cl.headers);
    curl_easy_setopt(w->cl.curl, CURLOPT_WRITEFUNCTION, watcher_write);
    curl_easy_setopt(w->cl.curl, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->cl.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(w->cl.curl, CURLOPT_XFERINFOFUNCTION, watcher_progress);
    curl_easy_setopt(w->cl.curl, CURLOPT_XFERINFODATA, w);
    curl_easy_perform(w->cl.curl);
    free(url);
    return NULL;
}

void watcher_start(struct watcher *w, const char *url, const char *token, const char *workspace_id)
{
    memset(w, 0, sizeof *w);
    client_init(&w->cl, url, token);
    w->path = str_printf("/api/v2/workspaces/%s/watch", workspace_id);
    buf_init(&w->line, 0);
    buf_init(&w->data, 0);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_create(&w->thread, NULL, watcher_main, w);
}

void watcher_stop(struct watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    map_free(&w->builds, free);
    buf_free(&w->line);
    buf_free(&w->data);
    free(w->path);
    client_free(&w->cl);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

int watcher_wait(struct watcher *w, const char *build_id, bool agent, struct sighting *out)
{
    struct timespec deadline = time_mono_deadline(WATCHER_WAIT_MS);
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        const struct sighting *s = map_get(&w->builds, build_id);
        if (s && s->failed) {
            rc = -1;
            break;
        }
        if (s && s->ended_us && (!agent || (s->ready_us && s->connected_us)))
            break;
        if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != 0) {
            rc = -1;
            break;
        }
    }
    const struct sighting *s = map_get(&w->builds, build_id);
    if (s)
        *out = *s;
    pthread_mutex_unlock(&w->lock);
    if (rc < 0)
        fprintf(stderr, "build %s: %s\n", build_id,
                s && s->failed ? "failed" : "no answer in time");
    return rc;
}
