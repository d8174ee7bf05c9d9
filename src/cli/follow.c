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
    int r = client_sse_progress(c, path, on_event, f.tty ? tick : NULL, &f, e);
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
