/* follow.c - following a build from the CLI: its logs as they arrive, a progress line on a
 * terminal (plain lines otherwise), and the outcome. */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "cli/internal.h"

#include "base/curlx.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct follow {
    bool tty;
    bool status_shown;
    const char *label; /* "Starting w1" */
    int64_t started_us;
    int frame;
    int64_t cursor; /* the last agent log printed */
};

static const char *frames[] = {"|", "/", "-", "\\"};

static void status_clear(struct follow *f)
{
    if (f->tty && f->status_shown) {
        fputs("\r\033[K", stderr);
        f->status_shown = false;
    }
}

static void status_draw(struct follow *f)
{
    if (!f->tty)
        return;
    double secs = (double)(time_mono_us() - f->started_us) / 1e6;
    fprintf(stderr, "\r\033[K%s %s... %.1fs", frames[f->frame++ % 4], f->label, secs);
    fflush(stderr);
    f->status_shown = true;
}

static void tick(void *arg)
{
    status_draw(arg);
}

static int on_event(const char *event, const char *data, void *arg)
{
    struct follow *f = arg;
    if (strcmp(event, "data") == 0) {
        json_error_t je;
        json_t *log = json_loads(data, 0, &je);
        if (log) {
            status_clear(f);
            bool error = strcmp(jsonx_get_str(log, "log_level", "info"), "error") == 0;
            if (f->tty && error)
                fprintf(stderr, "\033[31m%s\033[0m\n", jsonx_get_str(log, "output", ""));
            else
                fprintf(stderr, "%s\n", jsonx_get_str(log, "output", ""));
            json_decref(log);
        }
    }
    status_draw(f);
    return 0;
}

int cli_follow_build(struct client *c, const char *build_id, const char *label, json_t **build,
                     struct err *e)
{
    struct follow f = {.tty = isatty(2) != 0, .label = label, .started_us = time_mono_us()};
    char *path = str_printf("/api/v2/workspacebuilds/%s/logs?follow", build_id);
    status_draw(&f);
    int r = client_sse_progress(c, path, on_event, f.tty ? tick : NULL, &f, 0, e);
    free(path);
    status_clear(&f);
    if (r < 0)
        return -1;
    path = str_printf("/api/v2/workspacebuilds/%s", build_id);
    r = client_json(c, "GET", path, NULL, build, NULL, e);
    free(path);
    return r;
}

int cli_build_outcome(const json_t *build, struct err *e)
{
    const json_t *job = json_object_get(build, "job");
    const char *status = jsonx_get_str(job, "status", "");
    if (strcmp(status, "succeeded") == 0)
        return 0;
    long long n = (long long)json_integer_value(json_object_get(build, "build_number"));
    if (strcmp(status, "canceled") == 0)
        return err_set(e, ERR_CANCELED, "build #%lld was canceled", n);
    return err_set(e, ERR_BAD_REQUEST, "build #%lld failed: %s", n,
                   jsonx_get_str(job, "error", "unknown error"));
}

/* Prints one agent log line (once: lines at or before the cursor were printed already). */
static void print_agent_line(struct follow *f, const json_t *log)
{
    json_int_t id = json_integer_value(json_object_get(log, "id"));
    if (id <= f->cursor)
        return;
    f->cursor = id;
    status_clear(f);
    fprintf(stderr, "%s\n", jsonx_get_str(log, "output", ""));
}

static int print_agent_log(const char *event, const char *data, void *arg)
{
    struct follow *f = arg;
    if (strcmp(event, "data") == 0) {
        json_error_t je;
        json_t *log = json_loads(data, 0, &je);
        if (log)
            print_agent_line(f, log);
        json_decref(log);
    }
    status_draw(f);
    return 0;
}

/* Prints the agent's logs not printed yet (its startup may have ended before we looked). */
static int print_agent_backlog(struct client *c, const char *id, struct follow *f, struct err *e)
{
    char *path = str_printf("/api/v2/workspaceagents/%s/logs?after=%lld", id, (long long)f->cursor);
    json_t *logs = NULL;
    int rc = client_json(c, "GET", path, NULL, &logs, NULL, e);
    free(path);
    size_t i;
    json_t *log;
    json_array_foreach(logs, i, log)
    {
        print_agent_line(f, log);
    }
    json_decref(logs);
    return rc;
}

/* Waits for one agent's startup to end, printing its startup script output. */
static int wait_agent(struct client *c, const json_t *agent, struct err *e)
{
    const char *id = jsonx_get_str(agent, "id", "");
    const char *name = jsonx_get_str(agent, "name", "");
    int64_t timeout_s = json_integer_value(json_object_get(agent, "connection_timeout_seconds"));
    char label[128];
    snprintf(label, sizeof label, "Waiting for agent %s", name);
    struct follow f = {.tty = isatty(2) != 0, .label = label, .started_us = time_mono_us()};
    char *logs = NULL;
    char *path = str_printf("/api/v2/workspaceagents/%s", id);
    json_t *a = NULL;
    int rc = -1;
    for (;;) {
        json_decref(a);
        a = NULL;
        if (client_json(c, "GET", path, NULL, &a, NULL, e) < 0)
            goto out;
        const char *lc = jsonx_get_str(a, "lifecycle_state", "");
        const char *st = jsonx_get_str(a, "status", "");
        if (strcmp(lc, "created") != 0 && strcmp(lc, "starting") != 0) {
            if (print_agent_backlog(c, id, &f, e) < 0)
                goto out;
            break;
        }
        if (strcmp(st, "timeout") == 0) {
            err_set(e, ERR_TIMEOUT, "agent %s never connected (its connection time-out is %llds)",
                    name, (long long)timeout_s);
            goto out;
        }
        /* Before the agent connected, wait no longer than its connection time-out. */
        long limit =
            strcmp(st, "connecting") == 0 && timeout_s > 0 ? (long)timeout_s * 1000 + 500 : 0;
        free(logs);
        logs = str_printf("/api/v2/workspaceagents/%s/logs?follow&after=%lld", id,
                          (long long)f.cursor);
        if (client_sse_progress(c, logs, print_agent_log, f.tty ? tick : NULL, &f, limit, e) < 0)
            goto out;
    }
    status_clear(&f);
    const char *lc = jsonx_get_str(a, "lifecycle_state", "");
    if (strcmp(lc, "ready") == 0)
        rc = 0;
    else if (strcmp(lc, "start_error") == 0)
        err_set(e, ERR_BAD_REQUEST, "a startup script of agent %s failed (start_error)", name);
    else if (strcmp(lc, "start_timeout") == 0)
        err_set(e, ERR_TIMEOUT, "a startup script of agent %s timed out (start_timeout)", name);
    else
        err_set(e, ERR_BAD_REQUEST, "agent %s is %s", name, lc);
out:
    status_clear(&f);
    json_decref(a);
    free(logs);
    free(path);
    return rc;
}

int cli_wait_agents(struct client *c, const char *workspace_id, struct err *e)
{
    char *path = str_printf("/api/v2/workspaces/%s", workspace_id);
    json_t *ws = NULL;
    int r = client_json(c, "GET", path, NULL, &ws, NULL, e);
    free(path);
    if (r < 0)
        return -1;
    const json_t *lb = json_object_get(ws, "latest_build");
    size_t i, k;
    json_t *res, *agent;
    json_array_foreach(json_object_get(lb, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "agents"), k, agent)
        {
            if (wait_agent(c, agent, e) < 0) {
                json_decref(ws);
                return -1;
            }
        }
    }
    json_decref(ws);
    return 0;
}
