/* lifecycle.c - the agent's startup and shutdown: run_on_start scripts in order (ready once
 * every start_blocks_login script succeeded), run_on_stop scripts on SIGTERM, and the
 * environment commands get. */
#include "agent/internal.h"

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "proc/proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The agent's own variables that commands may see (never its token or the server URL). */
static const char *const inherited[] = {"PATH", "HOME",    "LANG",  "LC_ALL", "TZ",
                                        "USER", "LOGNAME", "SHELL", NULL};

static struct proc_cancel *current_cancel; /* the running startup script, under the agent lock */

static void build_env(struct agent *ag)
{
    size_t n = 0;
    for (int i = 0; inherited[i]; i++) {
        const char *v = getenv(inherited[i]);
        if (v)
            proc_env_add(&ag->base_env, &n, inherited[i], v);
    }
    if (!getenv("PATH"))
        proc_env_add(&ag->base_env, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(ag->manifest, "environment"), key, value)
    {
        if (json_is_string(value))
            proc_env_add(&ag->base_env, &n, key, json_string_value(value));
    }
    if (!ag->base_env)
        ag->base_env = proc_env_build((const char *const[]){NULL});
}

static void resolve_directory(struct agent *ag)
{
    const char *d = jsonx_get_str(ag->manifest, "directory", "");
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        str_copy(cwd, sizeof cwd, "/");
    if (!*d)
        ag->directory = xstrdup(cwd);
    else if (d[0] == '/')
        ag->directory = xstrdup(d);
    else if (d[0] == '~' && getenv("HOME"))
        ag->directory = str_printf("%s%s", getenv("HOME"), d + 1);
    else
        ag->directory = str_printf("%s/%s", cwd, d);
}

struct line_ctx {
    struct agent *ag;
    const char *source;
};

static void on_line(void *arg, enum proc_stream stream, const char *line, size_t len)
{
    struct line_ctx *c = arg;
    agent_log_line(c->ag, stream == PROC_STDERR ? "error" : "info", c->source, line, len);
}

/* Runs one script; returns 0 on success, 1 on a failure, 2 on a time-out. */
static int run_script(struct agent *ag, const json_t *s, struct proc_cancel *cancel)
{
    const char *name = jsonx_get_str(s, "name", "script");
    const char *text = jsonx_get_str(s, "script", "");
    char *argv[] = {"/bin/sh", "-c", (char *)(uintptr_t)text, NULL};
    struct proc_spec spec = {
        .path = "/bin/sh", .argv = argv, .envp = ag->base_env, .cwd = ag->directory};
    struct line_ctx lc = {ag, name};
    struct proc_run_opts opts = {
        .timeout_ms = json_integer_value(json_object_get(s, "timeout_seconds")) * 1000,
        .kill_grace_ms = 5000,
        .cancel = cancel,
        .on_line = on_line,
        .arg = &lc,
        .wait_for_pipes = true};
    struct err e = ERR_INIT;
    struct proc *p = proc_start(&spec, &e);
    if (!p) {
        char *msg = str_printf("script %s could not start: %s", name, err_msg(&e));
        agent_log_line(ag, "error", name, msg, strlen(msg));
        free(msg);
        err_clear(&e);
        return 1;
    }
    struct proc_result res;
    int rc = 1;
    if (proc_run(p, &opts, &res, &e) == 0) {
        if (res.timed_out)
            rc = 2;
        else if (res.exited && res.exit_status == 0)
            rc = 0;
        if (rc != 0) {
            char *msg = res.timed_out ? str_printf("script %s timed out", name)
                        : res.exited
                            ? str_printf("script %s exited with status %d", name, res.exit_status)
                            : str_printf("script %s was killed by signal %d", name, res.signal);
            agent_log_line(ag, "error", name, msg, strlen(msg));
            free(msg);
        }
    }
    err_clear(&e);
    proc_free(p);
    return rc;
}

static void *startup_main(void *arg)
{
    struct agent *ag = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    agent_set_lifecycle(ag, "starting");
    const json_t *scripts = json_object_get(ag->manifest, "scripts");
    size_t blocking = 0, i;
    json_t *s;
    json_array_foreach(scripts, i, s)
    {
        if (json_is_true(json_object_get(s, "run_on_start")) &&
            json_is_true(json_object_get(s, "start_blocks_login")))
            blocking++;
    }
    if (blocking == 0)
        agent_set_lifecycle(ag, "ready");
    size_t done = 0;
    json_array_foreach(scripts, i, s)
    {
        if (!json_is_true(json_object_get(s, "run_on_start")))
            continue;
        bool blocks = json_is_true(json_object_get(s, "start_blocks_login"));
        struct proc_cancel *cancel = proc_cancel_new();
        pthread_mutex_lock(&ag->lock);
        current_cancel = cancel;
        bool stopping = ag->exit_requested;
        pthread_mutex_unlock(&ag->lock);
        int rc = stopping ? 1 : run_script(ag, s, cancel);
        pthread_mutex_lock(&ag->lock);
        current_cancel = NULL;
        pthread_mutex_unlock(&ag->lock);
        bool canceled = proc_cancel_fired(cancel);
        proc_cancel_free(cancel);
        if (canceled)
            break;
        if (!blocks)
            continue;
        if (rc != 0) {
            agent_set_lifecycle(ag, rc == 2 ? "start_timeout" : "start_error");
            return NULL;
        }
        if (++done == blocking)
            agent_set_lifecycle(ag, "ready");
    }
    return NULL;
}

void agent_start(struct agent *ag)
{
    resolve_directory(ag);
    build_env(ag);
    struct agent_ops_config cfg = {.directory = ag->directory, .base_env = ag->base_env};
    ag->ops = agent_ops_new(&cfg);
    log_info("agent", "agent %s of %s/%s, directory %s", jsonx_get_str(ag->manifest, "name", "?"),
             jsonx_get_str(ag->manifest, "owner_name", "?"),
             jsonx_get_str(ag->manifest, "workspace_name", "?"), ag->directory);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    ag->scripts_started = pthread_create(&ag->scripts_thread, &attr, startup_main, ag) == 0;
    pthread_attr_destroy(&attr);
}

static void *shutdown_main(void *arg)
{
    struct agent *ag = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    agent_set_lifecycle(ag, "shutting_down");
    const char *final = "off";
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(ag->manifest, "scripts"), i, s)
    {
        if (!json_is_true(json_object_get(s, "run_on_stop")))
            continue;
        int rc = run_script(ag, s, NULL);
        if (rc == 2)
            final = "shutdown_timeout";
        else if (rc != 0 && strcmp(final, "off") == 0)
            final = "shutdown_error";
    }
    agent_set_lifecycle(ag, final);
    agent_request_exit(ag);
    return NULL;
}

void agent_stop(struct agent *ag)
{
    pthread_mutex_lock(&ag->lock);
    if (current_cancel)
        proc_cancel_fire(current_cancel);
    pthread_mutex_unlock(&ag->lock);
    if (!ag->manifest) {
        event_base_loopexit(ag->base, NULL);
        return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    ag->stop_started = pthread_create(&ag->stop_thread, &attr, shutdown_main, ag) == 0;
    pthread_attr_destroy(&attr);
    if (!ag->stop_started)
        event_base_loopexit(ag->base, NULL);
}

int agent_stop_budget_s(struct agent *ag)
{
    int64_t total = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(ag->manifest, "scripts"), i, s)
    {
        if (json_is_true(json_object_get(s, "run_on_stop"))) {
            int64_t t = json_integer_value(json_object_get(s, "timeout_seconds"));
            total += t > 0 ? t : 60;
        }
    }
    return total > 600 ? 600 : (int)total;
}

void agent_finish(struct agent *ag)
{
    pthread_mutex_lock(&ag->lock);
    if (current_cancel)
        proc_cancel_fire(current_cancel);
    ag->exit_requested = true;
    pthread_mutex_unlock(&ag->lock);
    if (ag->scripts_started)
        pthread_join(ag->scripts_thread, NULL);
    if (ag->stop_started)
        pthread_join(ag->stop_thread, NULL);
    agent_ops_free(ag->ops);
    proc_env_free(ag->base_env);
    free(ag->directory);
}
