/* fleet.c - many simulated workspace agents held by one server: connections, heartbeats, memory.
 *
 * usage: bench_fleet URL SESSION_TOKEN TEMPLATE_ID TOKENS_FILE SERVER_PID SECONDS N...
 *
 * TEMPLATE_ID's provision program starts no agent: on start it appends its build's agent token
 * ($BERTH_AGENT_TOKEN_MAIN) to TOKENS_FILE. The program creates workspaces from it (4 creations in
 * flight) until the file holds as many tokens as the largest N. Then, for each N in turn, one
 * libevent loop plays N agents:
 *   - each opens its request stream (GET /api/v2/workspaceagents/me/stream) on a connection of
 *     its own, at most 256 opening at once, and once the stream has begun reports its lifecycle
 *     ready;
 *   - each heartbeats (POST /api/v2/workspaceagents/me/heartbeat) every 10 s, the agents spread
 *     evenly over the interval. Lifecycle reports and heartbeats share a pool of 32 keep-alive
 *     connections, one request at a time on each; a real agent has a second connection of its
 *     own, but 2 x 10,000 sockets fit in neither process's usual descriptor limit.
 * Once every stream is open and every agent has reported ready, it measures for SECONDS: the
 * latency of each heartbeat sent in that window, the server's RSS and open descriptors
 * (/proc/SERVER_PID) before connecting, when all are connected, at the end and after every
 * connection was closed, and its CPU time in the window. Figures only, never pass/fail.
 */
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "samples.h"

#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define OPENING_MAX 256               /* streams being opened at once */
#define LANES       32                /* keep-alive connections shared by the agents' POSTs */
#define CREATING    4                 /* workspace creations in flight */
#define BEAT_US     10000000LL        /* each agent's heartbeat interval */
#define OPEN_US     (120LL * 1000000) /* stop waiting for streams to open after this */
#define DRAIN_US    (10LL * 1000000)  /* wait for the last answers this long */
#define TOKENS_IDLE (5LL * 1000000)   /* the builds are over when no token came for this long */
#define TOP_UPS     3                 /* rounds of creations that replace failed builds */
#define SPARE_FDS   64                /* descriptors kept for everything but the agents */
#define TARGET      "target at 10,000 agents: heartbeat p99 <= 20 ms, server RSS <= 300 MiB"

/* What /proc says of the server. */
struct server_stats {
    long rss_kb;
    int fds;
    double cpu_s;
};

/* One keep-alive connection that POSTs take turns on. */
struct lane {
    struct evhttp_connection *conn;
    int busy;
};

struct fleet;

struct agent {
    struct fleet *f;
    int index;
    const char *token;
    struct evhttp_connection *conn; /* the request stream's own */
    struct event *beat;
    int64_t next_beat_us;
    bool open;
};

struct fleet {
    struct event_base *base;
    char *host, *prefix, host_header[320];
    int port;
    pid_t server;
    struct lane lanes[LANES];
    struct post *posts; /* in flight */
    /* workspace creation */
    const char *session_token, *template_id;
    int create_next, create_total, creating, create_failed;
    /* one run */
    struct agent *agents;
    int n, next, opening, open, refused, refused_status, lost;
    int64_t t_begin, window_start, window_end, window_us, ended;
    int reporting, beat_failed, lifecycle_failed, waited;
    struct samples beats;
    struct server_stats at_open, at_end;
};

/* ---- the server's process ---- */

static long proc_value(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    str_fmt(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    FILE *fp = fopen(path, "r");
    long v = -1;
    size_t klen = strlen(key);
    while (fp && v < 0 && fgets(line, sizeof line, fp))
        if (strncmp(line, key, klen) == 0)
            v = strtol(line + klen, NULL, 10);
    if (fp)
        fclose(fp);
    return v;
}

static int count_fds(pid_t pid)
{
    char path[64];
    str_fmt(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n > 2 ? n - 2 : 0; /* . and .. */
}

/* utime + stime, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    str_fmt(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t len = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp)
        fclose(fp);
    text[len] = '\0';
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static struct server_stats server_stats(pid_t pid)
{
    return (struct server_stats){proc_value(pid, "status", "VmRSS:"), count_fds(pid),
                                 cpu_seconds(pid)};
}

/* ---- POSTs over the lanes ---- */

typedef void (*post_done_fn)(struct fleet *f, int status, int64_t us, void *arg);

/* One POST in flight, linked in its fleet's list until it has an answer. */
struct post {
    struct post *prev, *next;
    struct fleet *f;
    struct lane *lane;
    int64_t t0;
    post_done_fn done;
    void *arg;
};

static void post_unlink(struct post *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->f->posts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->lane->busy--;
}

static void post_finished(struct evhttp_request *req, void *arg)
{
    struct post *p = arg;
    int64_t us = time_mono_us() - p->t0;
    post_unlink(p);
    p->done(p->f, req ? evhttp_request_get_response_code(req) : 0, us, p->arg);
    free(p);
}

/* An idle lane, or the least busy one (*waited: the request queues behind another). */
static struct lane *lane_pick(struct fleet *f, bool *waited)
{
    struct lane *best = &f->lanes[0];
    for (int i = 0; i < LANES && best->busy; i++)
        if (f->lanes[i].busy < best->busy)
            best = &f->lanes[i];
    *waited = best->busy > 0;
    return best;
}

/* POSTs body to path with one authentication header; returns whether it had to queue. */
static bool post(struct fleet *f, const char *path, const char *header, const char *value,
                 const char *body, post_done_fn done, void *arg)
{
    bool waited;
    struct post *p = xcalloc(1, sizeof *p);
    p->f = f;
    p->lane = lane_pick(f, &waited);
    p->done = done;
    p->arg = arg;
    struct evhttp_request *req = evhttp_request_new(post_finished, p);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", f->host_header);
    evhttp_add_header(h, header, value);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    char *full = str_printf("%s%s", f->prefix, path);
    p->lane->busy++;
    p->next = f->posts;
    if (f->posts)
        f->posts->prev = p;
    f->posts = p;
    p->t0 = time_mono_us();
    if (evhttp_make_request(p->lane->conn, req, EVHTTP_REQ_POST, full) != 0) {
        post_unlink(p); /* evhttp freed the request */
        done(f, 0, 0, arg);
        free(p);
    }
    free(full);
    return waited;
}

static void lanes_open(struct fleet *f)
{
    for (int i = 0; i < LANES; i++) {
        f->lanes[i].conn = evhttp_connection_base_new(f->base, NULL, f->host, (ev_uint16_t)f->port);
        evhttp_connection_set_timeout(f->lanes[i].conn, 60);
        f->lanes[i].busy = 0;
    }
}

/* Closes the lanes; POSTs still unanswered are dropped (evhttp frees their requests silently). */
static void lanes_close(struct fleet *f)
{
    for (int i = 0; i < LANES; i++)
        evhttp_connection_free(f->lanes[i].conn);
    while (f->posts) {
        struct post *p = f->posts;
        f->posts = p->next;
        free(p);
    }
}

/* ---- creating the workspaces ---- */

static void create_more(struct fleet *f);

static void create_done(struct fleet *f, int status, int64_t us, void *arg)
{
    f->creating--;
    if (status != 201 && f->create_failed++ == 0)
        fprintf(stderr, "bench_fleet: create workspace: status %d\n", status);
    create_more(f);
    if (!f->creating)
        event_base_loopbreak(f->base);
}

static void create_more(struct fleet *f)
{
    while (f->creating < CREATING && f->create_next < f->create_total) {
        char *body = str_printf("{\"name\":\"fleet-%d\",\"template_id\":\"%s\"}", f->create_next++,
                                f->template_id);
        f->creating++;
        post(f, "/api/v2/users/me/workspaces", "Berth-Session-Token", f->session_token, body,
             create_done, NULL);
        free(body);
    }
}

static int count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    int n = 0, c;
    while (fp && (c = getc(fp)) != EOF)
        n += c == '\n';
    if (fp)
        fclose(fp);
    return n;
}

/* Waits until path has want lines, or has not grown for TOKENS_IDLE; returns the count. */
static int wait_lines(const char *path, int want)
{
    int n = count_lines(path), last = n;
    int64_t grew = time_mono_us();
    while (n < want && time_mono_us() - grew < TOKENS_IDLE) {
        usleep(100 * 1000);
        n = count_lines(path);
        if (n != last) {
            last = n;
            grew = time_mono_us();
        }
    }
    return n;
}

/* Creates workspaces until total builds have written their tokens (builds that fail write none:
 * up to TOP_UPS more rounds make up for them) and returns the tokens (*ntokens of them). */
static char **create_workspaces(struct fleet *f, int total, const char *tokens_path, int *ntokens)
{
    int64_t t0 = time_mono_us();
    int got = 0;
    for (int round = 0; round <= TOP_UPS && got < total; round++) {
        f->create_total += total - got;
        create_more(f);
        event_base_dispatch(f->base);
        got = wait_lines(tokens_path, total);
    }
    double secs = (double)(time_mono_us() - t0) / 1e6;
    int created = f->create_total - f->create_failed;
    printf(
        "  created %d workspaces (%d requests in flight), their builds wrote %d tokens in %.1f s "
        "(%.0f builds/s)\n",
        created, CREATING, got, secs, got / secs);
    if (f->create_failed || created > got)
        printf("  %d creations refused, %d builds wrote no token (failed: see the server log)\n",
               f->create_failed, created - got);
    char **tokens = xcalloc((size_t)total + 1, sizeof *tokens);
    FILE *fp = fopen(tokens_path, "r");
    char line[128];
    int n = 0;
    while (fp && n < total && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        tokens[n++] = xstrdup(line);
    }
    if (fp)
        fclose(fp);
    *ntokens = n;
    return tokens;
}

/* ---- the agents ---- */

static void lifecycle_done(struct fleet *f, int status, int64_t us, void *arg)
{
    f->reporting--;
    if (status != 204)
        f->lifecycle_failed++;
}

/* arg is non-NULL for a heartbeat sent in the window. */
static void beat_done(struct fleet *f, int status, int64_t us, void *arg)
{
    bool measured = arg != NULL;
    if (status != 204)
        f->beat_failed++;
    else if (measured)
        samples_add(&f->beats, us);
}

static void beat_schedule(struct agent *a, int64_t now)
{
    int64_t delay = a->next_beat_us - now;
    struct timeval tv = {(time_t)(delay / 1000000), (suseconds_t)(delay % 1000000)};
    evtimer_add(a->beat, &tv);
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    struct fleet *f = a->f;
    int64_t now = time_mono_us();
    if (f->window_end && now >= f->window_end)
        return; /* the run is ending */
    bool measured = f->window_start && now >= f->window_start;
    bool waited = post(f, "/api/v2/workspaceagents/me/heartbeat", "Berth-Agent-Token", a->token,
                       "{}", beat_done, measured ? f : NULL);
    f->waited += measured && waited;
    a->next_beat_us += BEAT_US;
    if (a->next_beat_us < now)
        a->next_beat_us = now;
    beat_schedule(a, now);
}

static void open_more(struct fleet *f);

/* The stream's first bytes (its `hello` event): the agent is connected. */
static void stream_chunk(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    struct fleet *f = a->f;
    if (a->open || evhttp_request_get_response_code(req) != 200)
        return;
    a->open = true;
    f->opening--;
    f->open++;
    f->reporting++;
    post(f, "/api/v2/workspaceagents/me/lifecycle", "Berth-Agent-Token", a->token,
         "{\"state\":\"ready\"}", lifecycle_done, NULL);
    int64_t now = time_mono_us();
    a->next_beat_us = f->t_begin + (int64_t)a->index * BEAT_US / f->n; /* spread evenly */
    while (a->next_beat_us <= now)
        a->next_beat_us += BEAT_US;
    beat_schedule(a, now);
    open_more(f);
}

/* The stream ended: refused before it began, or lost afterwards. */
static void stream_done(struct evhttp_request *req, void *arg)
{
    struct agent *a = arg;
    struct fleet *f = a->f;
    if (a->open) {
        a->open = false;
        f->open--;
        f->lost++;
        evtimer_del(a->beat);
        return;
    }
    f->opening--;
    if (f->refused++ == 0)
        f->refused_status = req ? evhttp_request_get_response_code(req) : 0;
    open_more(f);
}

static void stream_open(struct agent *a)
{
    struct fleet *f = a->f;
    a->conn = evhttp_connection_base_new(f->base, NULL, f->host, (ev_uint16_t)f->port);
    evhttp_connection_set_timeout(a->conn, 60); /* the server pings every 15 s */
    struct evhttp_request *req = evhttp_request_new(stream_done, a);
    evhttp_request_set_chunked_cb(req, stream_chunk);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", f->host_header);
    evhttp_add_header(h, "Berth-Agent-Token", a->token);
    evhttp_add_header(h, "Accept", "text/event-stream");
    char *path = str_printf("%s/api/v2/workspaceagents/me/stream", f->prefix);
    f->opening++;
    if (evhttp_make_request(a->conn, req, EVHTTP_REQ_GET, path) != 0) {
        f->opening--;
        f->refused++;
    }
    free(path);
}

static void open_more(struct fleet *f)
{
    while (f->opening < OPENING_MAX && f->next < f->n)
        stream_open(&f->agents[f->next++]);
}

/* Every 100 ms: starts the window once every stream is open and every lifecycle report answered
 * (or OPEN_US passed); once the window is over, sends no more and ends the run when every POST
 * has its answer. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fleet *f = arg;
    int64_t now = time_mono_us();
    if (!f->window_start) {
        if ((f->next == f->n && !f->opening && !f->reporting) || now - f->t_begin > OPEN_US) {
            f->at_open = server_stats(f->server);
            f->window_start = now;
            f->window_end = now + f->window_us;
        }
        return;
    }
    if (now >= f->window_end && (!f->posts || now > f->window_end + DRAIN_US)) {
        f->at_end = server_stats(f->server);
        f->ended = now;
        event_base_loopbreak(f->base);
    }
}

static void agents_close(struct fleet *f)
{
    for (int i = 0; i < f->n; i++) {
        if (f->agents[i].conn)
            evhttp_connection_free(f->agents[i].conn);
        event_free(f->agents[i].beat);
    }
    free(f->agents);
    f->agents = NULL;
}

/* Waits (up to 30 s) for the server to close what the run had open. */
static struct server_stats wait_released(pid_t pid, int fds_before)
{
    int64_t deadline = time_mono_us() + 30LL * 1000000;
    while (count_fds(pid) > fds_before + 4 && time_mono_us() < deadline)
        usleep(100 * 1000);
    return server_stats(pid);
}

static double mib(long kb)
{
    return (double)kb / 1024.0;
}

static void print_run(struct fleet *f, struct server_stats before, struct server_stats after,
                      double open_s)
{
    int agents = f->open + f->lost;
    printf("  %d agents: %d streams open and reported ready after %.2f s, %d refused, %d lost in "
           "the window\n",
           f->n, agents, open_s, f->refused, f->lost);
    if (f->refused)
        printf("  the first refusal had status %d (0: no answer)\n", f->refused_status);
    samples_print("heartbeat POST latency in the window", &f->beats);
    printf("  %d heartbeats failed, %d lifecycle reports failed, %d of the window's heartbeats "
           "waited for a free connection\n",
           f->beat_failed, f->lifecycle_failed, f->waited);
    printf("  server RSS: %.1f MiB before, %.1f MiB all open, %.1f MiB at the end, %.1f MiB "
           "after closing\n",
           mib(before.rss_kb), mib(f->at_open.rss_kb), mib(f->at_end.rss_kb), mib(after.rss_kb));
    double window_s = (double)(f->ended - f->window_start) / 1e6;
    printf("  server memory per agent: %.1f KiB (end - before); open descriptors %d before, %d "
           "all open; CPU in the window %.0f%% of one core\n",
           agents ? (double)(f->at_end.rss_kb - before.rss_kb) / agents : 0.0, before.fds,
           f->at_open.fds,
           window_s > 0 ? 100.0 * (f->at_end.cpu_s - f->at_open.cpu_s) / window_s : 0);
}

static void run(struct fleet *f, char **tokens, int n)
{
    struct server_stats before = server_stats(f->server);
    f->agents = xcalloc((size_t)n, sizeof *f->agents);
    f->n = n;
    f->next = f->opening = f->open = f->refused = f->refused_status = f->lost = 0;
    f->reporting = f->beat_failed = f->lifecycle_failed = f->waited = 0;
    f->window_start = f->window_end = f->ended = 0;
    f->beats.n = 0;
    for (int i = 0; i < n; i++) {
        struct agent *a = &f->agents[i];
        *a = (struct agent){.f = f, .index = i, .token = tokens[i]};
        a->beat = evtimer_new(f->base, on_beat, a);
    }
    lanes_open(f);
    struct event *tick = event_new(f->base, -1, EV_PERSIST, on_tick, f);
    struct timeval tv = {0, 100 * 1000};
    event_add(tick, &tv);
    f->t_begin = time_mono_us();
    open_more(f);
    event_base_dispatch(f->base);
    double open_s = (double)(f->window_start - f->t_begin) / 1e6;
    event_free(tick);
    agents_close(f);
    lanes_close(f);
    struct server_stats after = wait_released(f->server, before.fds);
    print_run(f, before, after, open_s);
}

/* Raises the descriptor limit to the hard limit; returns how many agents fit. */
static int agents_that_fit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur > LANES + SPARE_FDS ? (int)(rl.rlim_cur - LANES - SPARE_FDS) : 0;
}

static int parse_url(struct fleet *f, const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u || !evhttp_uri_get_host(u)) {
        evhttp_uri_free(u);
        return -1;
    }
    f->host = xstrdup(evhttp_uri_get_host(u));
    f->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    const char *path = evhttp_uri_get_path(u);
    f->prefix = xstrdup(path && strcmp(path, "/") != 0 ? path : "");
    str_fmt(f->host_header, sizeof f->host_header, "%s:%d", f->host, f->port);
    evhttp_uri_free(u);
    return 0;
}

/* How many of want agents can run: limited by the tokens and by both processes' descriptors
 * (the server spins on accept() once it has none left, so it is never pushed there). */
static int agents_possible(struct fleet *f, int want, int ntokens, int fit)
{
    long server_room = proc_value(f->server, "limits", "Max open files") - count_fds(f->server) -
                       LANES - SPARE_FDS;
    int n = want;
    const char *why = NULL;
    if (n > ntokens) {
        n = ntokens;
        why = "not enough tokens";
    }
    if (n > fit) {
        n = fit;
        why = "this process's open file limit";
    }
    if (server_room >= 0 && n > server_room) {
        n = (int)server_room;
        why = "the server's open file limit";
    }
    if (why)
        printf("  only %d of %d agents: %s\n", n, want, why);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: bench_fleet URL SESSION_TOKEN TEMPLATE_ID TOKENS_FILE SERVER_PID "
                        "SECONDS N...\n");
        return 2;
    }
    struct fleet f = {.session_token = argv[2], .template_id = argv[3]};
    if (parse_url(&f, argv[1]) < 0) {
        fprintf(stderr, "bench_fleet: not a URL: %s\n", argv[1]);
        return 2;
    }
    f.server = (pid_t)strtol(argv[5], NULL, 10);
    f.window_us = strtol(argv[6], NULL, 10) * 1000000LL;
    int fit = agents_that_fit(), most = 0;
    for (int i = 7; i < argc; i++) {
        int n = (int)strtol(argv[i], NULL, 10);
        most = n > most ? n : most;
    }
    f.base = event_base_new();
    printf("simulated agents, played by one event loop: a stream each (%d opening at once), a "
           "heartbeat every %lld s each\n",
           OPENING_MAX, BEAT_US / 1000000);
    printf("  lifecycle reports and heartbeats share %d keep-alive connections; measured for %lld "
           "s once all streams are open\n",
           LANES, (long long)(f.window_us / 1000000));
    printf("  open file limits: %d agents' streams fit here; the server may open %ld files\n", fit,
           proc_value(f.server, "limits", "Max open files"));
    lanes_open(&f);
    int ntokens;
    char **tokens = create_workspaces(&f, most, argv[4], &ntokens);
    lanes_close(&f);
    for (int i = 7; i < argc; i++)
        run(&f, tokens, agents_possible(&f, (int)strtol(argv[i], NULL, 10), ntokens, fit));
    printf("  %s\n", TARGET);
    for (int i = 0; i < ntokens; i++)
        free(tokens[i]);
    free(tokens);
    free(f.beats.v);
    free(f.host);
    free(f.prefix);
    event_base_free(f.base);
    return 0;
}
