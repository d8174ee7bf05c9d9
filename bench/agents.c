/* agents.c - a workspace agent started by the real `local` template, and what it costs.
 *
 * usage: bench_agents URL TOKEN TEMPLATE_ID BERTH_BIN [starts] [execs]
 *
 * TEMPLATE_ID is the local template with one blocking startup script (`true`). The program
 * creates 10 workspaces and follows each on its watch stream (GET /api/v2/workspaces/{id}/watch),
 * which sends the whole workspace, its latest build's agents included, on every change. Then:
 *   1. start -> ready: rounds of stopping all 10 at once (a stop build waits for the agent and its
 *      sandbox to be gone, which takes far longer than a start), then starting them one after the
 *      other, each timed from POST /builds to the first watch event that shows the new build's
 *      agent ready, to the one that shows it connected, and to the build's end (the agent may be
 *      ready before the provision program has exited). Beside it, the bare cost of starting the
 *      agent's process: fork, exec and wait of `berth agent` with an empty environment (it exits
 *      at once) and, when the agent runs in bubblewrap, of the sandbox's own command line (read
 *      from /proc) with `berth version` in place of `berth agent`.
 *   2. exec round trip: sequential POST /workspaceagents/{id}/exec {"command":"true"} on one
 *      keep-alive connection, beside fork, exec and wait of `sh -c true` here (what the agent
 *      has to do for each of them anyway).
 *   3. idle agent memory: VmRSS and anonymous memory (smaps_rollup) of the agent process, found
 *      in /proc by its command line and BERTH_URL, 2 s after it became ready and 2 s after the
 *      execs.
 * 2 and 3 use the first workspace, the others stopped. It ends by stopping every workspace, so
 * that no agent outlives the run. Figures only, never pass/fail.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "lib/client.h"
#include "lib/watcher.h"
#include "samples.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKSPACES   10 /* stopped together: a stop build takes far longer than a start */
#define SPAWN_AGENT  200
#define SPAWN_BWRAP  100
#define IDLE_SECONDS 2

/* ---- processes ---- */

/* fork, exec and wait of argv (PATH searched) with envp, output discarded: microseconds, or -1
 * when it could not run or exited with a status other than want. */
static int64_t spawn_once(char *const argv[], char *const envp[], int want)
{
    int64_t t0 = time_mono_us();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != want)
        return -1;
    return time_mono_us() - t0;
}

static void spawn_dist(const char *what, char *const argv[], char *const envp[], int want, int n)
{
    struct samples s = {0};
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int64_t us = spawn_once(argv, envp, want);
        if (us < 0)
            failed++;
        else
            samples_add(&s, us);
    }
    samples_print(what, &s);
    if (failed)
        printf("  (%d of %d runs of %s failed)\n", failed, n, argv[0]);
    free(s.v);
}

/* The contents of a small file (NUL-terminated; *len excludes the NUL), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct buf b;
    buf_init(&b, 4 * 1024 * 1024);
    char tmp[8192];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0 && buf_append(&b, tmp, (size_t)n) == 0)
        ;
    close(fd);
    *len = b.len;
    return buf_take(&b);
}

/* Whether process pid runs `<berth_bin> agent` with url_var (BERTH_URL=...) in its environment. */
static bool proc_matches(const char *pid, const char *berth_bin, const char *url_var)
{
    char path[64];
    size_t len;
    str_fmt(path, sizeof path, "/proc/%s/cmdline", pid);
    char *cmd = slurp(path, &len);
    bool ok = cmd && strcmp(cmd, berth_bin) == 0 && strlen(cmd) + 1 < len &&
              strcmp(cmd + strlen(cmd) + 1, "agent") == 0;
    free(cmd);
    if (!ok)
        return false;
    str_fmt(path, sizeof path, "/proc/%s/environ", pid);
    char *env = slurp(path, &len);
    ok = false;
    for (size_t i = 0; env && i < len && !ok; i += strlen(env + i) + 1)
        ok = strcmp(env + i, url_var) == 0;
    free(env);
    return ok;
}

/* The pid of `<berth_bin> agent` whose environment has BERTH_URL=url, or 0. */
static pid_t find_agent(const char *berth_bin, const char *url)
{
    char *url_var = str_printf("BERTH_URL=%s", url);
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;
    while (d && !found && (de = readdir(d)) != NULL) {
        int64_t pid;
        if (str_to_int64(de->d_name, &pid) == 0 && proc_matches(de->d_name, berth_bin, url_var))
            found = (pid_t)pid;
    }
    if (d)
        closedir(d);
    free(url_var);
    return found;
}

/* The "<key>   <n> kB" value of a /proc file, in kB, or -1. */
static long proc_kb(pid_t pid, const char *file, const char *key)
{
    char path[64];
    size_t len;
    str_fmt(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    char *text = slurp(path, &len);
    long kb = -1;
    for (char *p = text; p && kb < 0 && (p = strstr(p, key)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[strlen(key)] == ':')
            kb = strtol(p + strlen(key) + 1, NULL, 10);
    free(text);
    return kb;
}

/* The pid of pid's parent when that is bubblewrap (the sandbox the agent runs in), else 0. */
static pid_t sandbox_of(pid_t pid)
{
    char path[64];
    size_t len;
    str_fmt(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *stat = slurp(path, &len);
    const char *close = stat ? strrchr(stat, ')') : NULL;
    int ppid = 0;
    if (close)
        sscanf(close + 2, "%*c %d", &ppid);
    free(stat);
    str_fmt(path, sizeof path, "/proc/%d/comm", ppid);
    char *comm = slurp(path, &len);
    bool yes = comm && strcmp(comm, "bwrap\n") == 0;
    free(comm);
    return yes ? (pid_t)ppid : 0;
}

struct agent_mem {
    long rss_kb, anon_kb;
};

static struct agent_mem agent_mem(pid_t pid)
{
    return (struct agent_mem){proc_kb(pid, "status", "VmRSS"),
                              proc_kb(pid, "smaps_rollup", "Anonymous")};
}

/* ---- the benchmark ---- */

struct workspace {
    char id[40];
    char agent_id[40]; /* of its latest start build */
    struct watcher watch;
    bool running;
};

struct bench {
    const char *url, *token, *template_id, *berth_bin;
    int starts, execs;
    struct client cl;
    struct workspace ws[WORKSPACES];
    int nws;
};

/* Creates the workspaces, watches each and waits for their first agents to be ready. */
static int create_workspaces(struct bench *b)
{
    char build[WORKSPACES][40];
    for (int i = 0; i < WORKSPACES; i++) {
        char *body = str_printf("{\"name\":\"agents-%d-%lld\",\"template_id\":\"%s\"}", i,
                                (long long)(time_now_us() % 1000000), b->template_id);
        json_t *ws = client_call(&b->cl, "POST", "/api/v2/users/me/workspaces", body);
        free(body);
        if (!ws)
            return -1;
        struct workspace *w = &b->ws[b->nws++];
        str_copy(w->id, sizeof w->id, jsonx_get_str(ws, "id", ""));
        str_copy(build[i], sizeof build[i],
                 jsonx_get_str(json_object_get(ws, "latest_build"), "id", ""));
        json_decref(ws);
        watcher_start(&w->watch, b->url, b->token, w->id);
        w->running = true;
    }
    for (int i = 0; i < WORKSPACES; i++) {
        struct sighting s;
        if (watcher_wait(&b->ws[i].watch, build[i], true, &s) < 0)
            return -1;
        str_copy(b->ws[i].agent_id, sizeof b->ws[i].agent_id, s.agent_id);
    }
    return 0;
}

/* Stops the running workspaces from index `from` on, all at once, and waits for each; adds the
 * time from POST to the end of each build to stop (may be NULL). */
static void stop_workspaces(struct bench *b, int from, struct samples *stop)
{
    char build[WORKSPACES][40];
    int64_t t0[WORKSPACES];
    for (int i = from; i < b->nws; i++) {
        t0[i] = time_mono_us();
        if (b->ws[i].running && client_post_build(&b->cl, b->ws[i].id, "stop", build[i]) < 0)
            fprintf(stderr, "bench_agents: could not stop workspace %s\n", b->ws[i].id);
    }
    for (int i = from; i < b->nws; i++) {
        struct sighting s;
        if (!b->ws[i].running)
            continue;
        b->ws[i].running = false;
        if (build[i][0] && watcher_wait(&b->ws[i].watch, build[i], false, &s) == 0 && stop)
            samples_add(stop, s.ended_us - t0[i]);
    }
}

/* What a start is timed by, from POST /builds. */
struct start_samples {
    struct samples ready, connected, ended;
};

/* Starts a stopped workspace and waits for its agent and its build: 0, or -1 when either
 * failed. */
static int start_workspace(struct bench *b, struct workspace *w, struct start_samples *t)
{
    char build[40];
    struct sighting s;
    int64_t t0 = time_mono_us();
    if (client_post_build(&b->cl, w->id, "start", build) < 0)
        return -1;
    w->running = true;
    if (watcher_wait(&w->watch, build, true, &s) < 0)
        return -1;
    samples_add(&t->ready, s.ready_us - t0);
    samples_add(&t->connected, s.connected_us - t0);
    samples_add(&t->ended, s.ended_us - t0);
    str_copy(w->agent_id, sizeof w->agent_id, s.agent_id);
    return 0;
}

/* Rounds of: stop every workspace at once, then start them one after the other, timed. */
static void bench_starts(struct bench *b)
{
    struct start_samples t = {0};
    struct samples stop = {0};
    int done = 0, failed = 0;
    while (done + failed < b->starts) {
        stop_workspaces(b, 0, &stop);
        for (int i = 0; i < b->nws && done + failed < b->starts; i++) {
            if (start_workspace(b, &b->ws[i], &t) == 0)
                done++;
            else
                failed++;
        }
    }
    printf("  %d starts, one at a time (%d failed); target: ready p50 <= 50 ms, p99 <= 200 ms\n",
           b->starts, failed);
    samples_print("start: POST /builds -> agent lifecycle ready", &t.ready);
    samples_print("start: POST /builds -> agent stream connected", &t.connected);
    samples_print("start: POST /builds -> build ended", &t.ended);
    char what[64];
    str_fmt(what, sizeof what, "stop: POST /builds -> build ended (%d at once)", b->nws);
    samples_print(what, &stop);
    free(t.ready.v);
    free(t.connected.v);
    free(t.ended.v);
    free(stop.v);
}

/* The sandbox's own command line with `berth version` in place of `berth agent`, without the
 * descriptors it was handed (--info-fd 3 and the like): NULL-terminated, in *text. */
static char **sandbox_argv(pid_t bwrap, char **text)
{
    char path[64];
    size_t len;
    str_fmt(path, sizeof path, "/proc/%d/cmdline", (int)bwrap);
    *text = slurp(path, &len);
    char **argv = xcalloc(len + 1, sizeof *argv);
    int n = 0;
    for (size_t i = 0; *text && i < len; i += strlen(*text + i) + 1) {
        char *arg = *text + i;
        if (str_has_prefix(arg, "--") && str_has_suffix(arg, "-fd"))
            i += strlen(arg) + 1; /* and its value */
        else
            argv[n++] = arg;
    }
    if (n && strcmp(argv[n - 1], "agent") == 0)
        argv[n - 1] = "version";
    return argv;
}

/* The process costs beside start -> ready; bwrap is the agent's sandbox (0: none). */
static void bench_spawn(struct bench *b, pid_t bwrap)
{
    char *agent_argv[] = {(char *)(uintptr_t)b->berth_bin, "agent", NULL};
    char *no_env[] = {NULL};
    spawn_dist("berth agent, exits at once (fork+exec+wait)", agent_argv, no_env, 2, SPAWN_AGENT);
    if (!bwrap)
        return;
    char *text;
    char **argv = sandbox_argv(bwrap, &text);
    char *path_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    spawn_dist("the agent's bwrap command, berth version in it", argv, path_env, 0, SPAWN_BWRAP);
    free(argv);
    free(text);
}

static void bench_exec(struct bench *b, const char *agent_id)
{
    char *path = str_printf("/api/v2/workspaceagents/%s/exec", agent_id);
    struct samples rt = {0};
    int failed = 0;
    for (int i = 0; i < b->execs; i++) {
        int64_t t0 = time_mono_us();
        json_t *r = client_call(&b->cl, "POST", path, "{\"command\":\"true\"}");
        int64_t us = time_mono_us() - t0;
        const json_t *code = json_object_get(r, "exit_code");
        if (json_is_integer(code) && json_integer_value(code) == 0)
            samples_add(&rt, us);
        else
            failed++;
        json_decref(r);
    }
    free(path);
    printf("  %d sequential execs of `true` on one connection (%d failed); target: p50 <= 2 ms\n",
           b->execs, failed);
    samples_print("POST /workspaceagents/{id}/exec round trip", &rt);
    double exec_p50 = samples_ms(&rt, 0.5);
    free(rt.v);

    char *argv[] = {"sh", "-c", "true", NULL};
    char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    struct samples sh = {0};
    for (int i = 0; i < b->execs; i++) {
        int64_t us = spawn_once(argv, env, 0);
        if (us >= 0)
            samples_add(&sh, us);
    }
    samples_print("baseline: sh -c true here (fork+exec+wait)", &sh);
    double sh_p50 = samples_ms(&sh, 0.5);
    printf("  exec p50 is %.1fx the baseline's; the rest (%.3f ms) is HTTP, the server and the "
           "agent\n",
           sh_p50 > 0 ? exec_p50 / sh_p50 : 0, exec_p50 - sh_p50);
    free(sh.v);
}

static void print_mem(const char *when, struct agent_mem m)
{
    printf("  %-46s VmRSS %6.2f MiB   anonymous %6.2f MiB\n", when, m.rss_kb / 1024.0,
           m.anon_kb / 1024.0);
}

static int run(struct bench *b)
{
    if (create_workspaces(b) < 0)
        return -1;
    printf("agents through the local template (%d workspaces)\n", b->nws);
    bench_starts(b);
    stop_workspaces(b, 1, NULL); /* the first one's agent is the only one left */
    sleep(IDLE_SECONDS);
    pid_t pid = find_agent(b->berth_bin, b->url);
    pid_t bwrap = pid ? sandbox_of(pid) : 0;
    struct agent_mem fresh = pid ? agent_mem(pid) : (struct agent_mem){-1, -1};
    printf("  the agent runs %s\n", !pid    ? "(its process was not found in /proc)"
                                    : bwrap ? "in a bubblewrap sandbox"
                                            : "as a plain process (no bubblewrap)");
    bench_spawn(b, bwrap);
    printf("\n");

    printf("agent exec round trip\n");
    bench_exec(b, b->ws[0].agent_id);
    printf("\n");

    printf("idle agent memory (%d s idle); target: anonymous <= 4 MiB, VmRSS <= 12 MiB\n",
           IDLE_SECONDS);
    if (!pid) {
        printf("  the agent process was not found in /proc\n");
        return 0;
    }
    sleep(IDLE_SECONDS);
    print_mem("after start", fresh);
    print_mem("after the execs", agent_mem(pid));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_agents URL TOKEN TEMPLATE_ID BERTH_BIN [starts] [execs]\n");
        return 2;
    }
    struct bench b = {.url = argv[1],
                      .token = argv[2],
                      .template_id = argv[3],
                      .berth_bin = argv[4],
                      .starts = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 100,
                      .execs = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 500};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    client_init(&b.cl, b.url, b.token);
    int rc = run(&b);
    stop_workspaces(&b, 0, NULL);
    for (int i = 0; i < b.nws; i++)
        watcher_stop(&b.ws[i].watch);
    client_free(&b.cl);
    curl_global_cleanup();
    return rc < 0 ? 1 : 0;
}
