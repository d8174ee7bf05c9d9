/* logs.c - a job's logs: a JSON page after a cursor, or an SSE stream that follows the job.
 *
 * Following: subscribe to "job:<id>:logs" first, then read the job and the backlog after the
 * cursor; every notification reads again after the last id sent. Reads happen in order on the
 * stream's loop thread and ids are assigned in commit order, so nothing is missed or repeated.
 * The stream ends once the job is complete and every log has been sent.
 */
#include "api/internal.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PAGE 1000
#define PING_MS  15000

void api_list_job_logs(struct api *api, struct http_request *req, const char *job_id, int64_t after)
{
    struct err e = ERR_INIT;
    struct job_log_list l;
    if (store_job_logs_after(api->st, job_id, after, 0, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++)
        render_job_log(&w, &l.items[i]);
    jw_array_end(&w);
    job_log_list_free(&l);
    http_reply_jw(req, 200, &w);
}

struct follower {
    struct api *api;
    struct http_stream *stream;
    struct pubsub_sub *sub;
    char job_id[UUID_STR_LEN];
    int64_t cursor;
};

static void follower_end(struct follower *f)
{
    pubsub_unsubscribe(f->sub);
    http_stream_end(f->stream);
    free(f);
}

/* Sends every log after the cursor; ends the stream when the job is complete. Loop thread. */
static void follower_pump(void *arg)
{
    struct follower *f = arg;
    struct err e = ERR_INIT;
    struct job job;
    bool done = false;
    /* Read the job first: if it is complete now, every one of its logs is already stored. */
    if (store_job_get(f->api->st, f->job_id, &job, &e) == 0) {
        done = job_status_terminal(job.status);
        job_clear(&job);
    } else {
        done = true;
    }
    for (;;) {
        struct job_log_list l;
        if (store_job_logs_after(f->api->st, f->job_id, f->cursor, LOG_PAGE, &l, &e) < 0) {
            done = true;
            break;
        }
        for (size_t i = 0; i < l.n; i++) {
            struct jw w;
            jw_init(&w);
            render_job_log(&w, &l.items[i]);
            char *s = jw_take(&w, NULL);
            http_stream_sse(f->stream, "data", s);
            free(s);
            jw_free(&w);
            f->cursor = l.items[i].id;
        }
        size_t n = l.n;
        job_log_list_free(&l);
        if (n < LOG_PAGE)
            break;
    }
    err_clear(&e);
    if (done)
        follower_end(f);
}

static void follower_closed(void *arg)
{
    follower_end(arg);
}

static void on_logs_event(const char *channel, const char *payload, void *arg)
{
    struct follower *f = arg;
    http_stream_wake(f->stream);
}

void api_follow_job_logs(struct api *api, struct http_request *req, const char *job_id,
                         int64_t after)
{
    struct follower *f = xcalloc(1, sizeof *f);
    f->api = api;
    str_copy(f->job_id, sizeof f->job_id, job_id);
    f->cursor = after;
    f->stream =
        http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
    http_stream_on_close(f->stream, follower_closed, f);
    http_stream_on_wake(f->stream, follower_pump, f);
    char channel[96];
    snprintf(channel, sizeof channel, "job:%s:logs", job_id);
    f->sub = pubsub_subscribe(api->ps, channel, on_logs_event, f);
    http_stream_wake(f->stream); /* the backlog, read after subscribing */
}

void api_job_logs(struct api *api, struct http_request *req, const char *job_id)
{
    int64_t after = 0;
    const char *a = http_request_query(req, "after");
    if (a && *a && (str_to_int64(a, &after) < 0 || after < 0)) {
        struct err e = ERR_INIT;
        jsonx_invalid(&e, "after", "must be a non-negative log id");
        api_fail(req, &e);
        return;
    }
    const char *follow = http_request_query(req, "follow");
    if (follow && strcmp(follow, "false") != 0 && strcmp(follow, "0") != 0)
        api_follow_job_logs(api, req, job_id, after);
    else
        api_list_job_logs(api, req, job_id, after);
}
