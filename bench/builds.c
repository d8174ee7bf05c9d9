/* builds.c - drives workspace builds through a running server and prints figures.
 *
 * usage: bench_builds URL TOKEN TEMPLATE_ID SERVER_LOG [workspaces] [builds-per-workspace]
 *
 * Each thread owns one workspace and alternates stop and start builds, following each build's
 * log stream to its end (the stream ends when the job ends, so no polling). Per build it
 * records the time from POST /builds to the end of the stream. The server logs, at debug
 * level, how long the provision program itself ran; the difference is the server's own time.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
    char job_id[40];
    int64_t e2e_us;
    int64_t post_us; /* the POST /builds round trip alone */
    /* The job's own timestamps, as the server recorded them (wall clock, microseconds). */
    int64_t created_us, started_us, completed_us;
};

struct worker {
    const char *url, *token, *template_id;
    int index, builds;
    struct record *records;
    int nrecords;
    int failures;
};

static size_t collect(char *p, size_t s, size_t n, void *arg)
{
    buf_append(arg, p, s * n);
    return s * n;
}

static size_t discard(char *p, size_t s, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return s * n;
}

static json_t *request(CURL *c, const struct worker *w, const char *method, const char *path,
                       const char *body)
{
    struct buf b;
    buf_init(&b, 0);
    char *url = str_printf("%s%s", w->url, path);
    char *auth = str_printf("Berth-Session-Token: %s", w->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    free(url);
    free(auth);
    json_error_t je;
    json_t *v = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    buf_free(&b);
    return v;
}

/* Follows a build's logs until the server ends the stream (the job ended). */
static void follow(CURL *c, const struct worker *w, const char *build_id)
{
    char *url = str_printf("%s/api/v2/workspacebuilds/%s/logs?follow", w->url, build_id);
    char *auth = str_printf("Berth-Session-Token: %s", w->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    free(url);
    free(auth);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    char *body = str_printf("{\"name\":\"bench%d-%d\",\"template_id\":\"%s\"}", w->index,
                            (int)(time_now_us() % 100000), w->template_id);
    json_t *ws = request(c, w, "POST", "/api/v2/users/me/workspaces", body);
    free(body);
    if (!ws || !json_object_get(ws, "latest_build")) {
        fprintf(stderr, "create workspace failed\n");
        w->failures++;
        json_decref(ws);
        curl_easy_cleanup(c);
        return NULL;
    }
    follow(c, w, jsonx_get_str(json_object_get(ws, "latest_build"), "id", ""));
    char *path = str_printf("/api/v2/workspaces/%s/builds", jsonx_get_str(ws, "id", ""));
    w->records = xcalloc((size_t)w->builds, sizeof *w->records);
    for (int i = 0; i < w->builds; i++) {
        const char *tr = i % 2 == 0 ? "{\"transition\":\"stop\"}" : "{\"transition\":\"start\"}";
        int64_t t0 = time_mono_us();
        json_t *b = request(c, w, "POST", path, tr);
        int64_t posted = time_mono_us();
        const char *bid = jsonx_get_str(b, "id", NULL);
        if (!bid) {
            w->failures++;
            json_decref(b);
            continue;
        }
        follow(c, w, bid);
        struct record *r = &w->records[w->nrecords++];
        r->e2e_us = time_mono_us() - t0;
        r->post_us = posted - t0;
        str_copy(r->job_id, sizeof r->job_id, jsonx_get_str(json_object_get(b, "job"), "id", ""));
        /* Read the finished build back (not timed) for the server's own timestamps. */
        char *bpath = str_printf("/api/v2/workspacebuilds/%s", bid);
        json_t *done = request(c, w, "GET", bpath, NULL);
        const json_t *job = json_object_get(done, "job");
        time_parse(jsonx_get_str(job, "created_at", ""), &r->created_us);
        time_parse(jsonx_get_str(job, "started_at", ""), &r->started_us);
        time_parse(jsonx_get_str(job, "completed_at", ""), &r->completed_us);
        json_decref(done);
        free(bpath);
        json_decref(b);
    }
    free(path);
    json_decref(ws);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void print_dist(const char *what, int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
    printf("  %-36s p50 %8.3f ms   p99 %8.3f ms   (n=%zu)\n", what, pct(v, n, 0.5) / 1000.0,
           pct(v, n, 0.99) / 1000.0, n);
}

/* Reads "timing job=<id> setup_us=A program_us=B finish_us=C" lines from the server log. */
static void read_timings(const char *path, struct map *program, struct map *own)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "timing job=");
        if (!p)
            continue;
        char id[40];
        long long setup, prog, fin;
        if (sscanf(p, "timing job=%39s setup_us=%lld program_us=%lld finish_us=%lld", id, &setup,
                   &prog, &fin) != 4)
            continue;
        map_put(program, id, (void *)(intptr_t)prog);
        map_put(own, id, (void *)(intptr_t)(setup + fin));
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_builds URL TOKEN TEMPLATE_ID SERVER_LOG [workspaces] "
                        "[builds-per-workspace]\n");
        return 2;
    }
    int nws = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 4;
    int per = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 50;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct worker *ws = xcalloc((size_t)nws, sizeof *ws);
    pthread_t *th = xcalloc((size_t)nws, sizeof *th);
    int64_t t0 = time_mono_us();
    for (int i = 0; i < nws; i++) {
        ws[i] = (struct worker){
            .url = argv[1], .token = argv[2], .template_id = argv[3], .index = i, .builds = per};
        pthread_create(&th[i], NULL, worker_main, &ws[i]);
    }
    size_t total = 0;
    int failures = 0;
    for (int i = 0; i < nws; i++) {
        pthread_join(th[i], NULL);
        total += (size_t)ws[i].nrecords;
        failures += ws[i].failures;
    }
    double secs = (double)(time_mono_us() - t0) / 1e6;
    struct map program = MAP_INIT, own = MAP_INIT;
    read_timings(argv[4], &program, &own);
    int64_t *e2e = xcalloc(total + 1, sizeof *e2e), *prog = xcalloc(total + 1, sizeof *prog),
            *over = xcalloc(total + 1, sizeof *over), *runner = xcalloc(total + 1, sizeof *runner),
            *post = xcalloc(total + 1, sizeof *post), *inside = xcalloc(total + 1, sizeof *inside),
            *queued = xcalloc(total + 1, sizeof *queued);
    size_t n = 0, matched = 0;
    for (int i = 0; i < nws; i++) {
        for (int k = 0; k < ws[i].nrecords; k++) {
            struct record *r = &ws[i].records[k];
            post[n] = r->post_us;
            e2e[n++] = r->e2e_us;
            void *pv = map_get(&program, r->job_id);
            if (pv) {
                prog[matched] = (int64_t)(intptr_t)pv;
                over[matched] = r->e2e_us - prog[matched];
                runner[matched] = (int64_t)(intptr_t)map_get(&own, r->job_id);
                inside[matched] = r->completed_us - r->created_us - prog[matched];
                queued[matched] = r->started_us - r->created_us;
                matched++;
            }
        }
        free(ws[i].records);
    }
    printf("builds through the whole pipeline (no-op provision program), %d workspaces in "
           "parallel\n",
           nws);
    printf("  %zu builds in %.2f s: %.1f builds/s (%d failed requests)\n", total, secs,
           (double)total / secs, failures);
    print_dist("POST /builds to end of log stream", e2e, n);
    print_dist("  the POST /builds round trip alone", post, n);
    print_dist("provision program (fork to exit)", prog, matched);
    print_dist("server's own time (the rest)", over, matched);
    print_dist("  of which the runner's setup+finish", runner, matched);
    printf("  server-side, from the job's own timestamps (no HTTP client in the figure):\n");
    print_dist("job created -> completed, minus program", inside, matched);
    print_dist("  job created -> claimed by a runner", queued, matched);
    map_free(&program, NULL);
    map_free(&own, NULL);
    free(e2e);
    free(prog);
    free(over);
    free(runner);
    free(post);
    free(inside);
    free(queued);
    free(ws);
    free(th);
    curl_global_cleanup();
    return 0;
}
