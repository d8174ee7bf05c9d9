/* ops_exec.c - the exec request: a command's environment and working directory, and the
 * foreground run (to completion or time-out, output captured up to 32 KiB). Background runs are
 * handed to ops_process.c.
 */
#include "agent/ops_internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "proc/proc.h"

#include <stdlib.h>
#include <string.h>

#define EXEC_TIMEOUT_DEFAULT_MS 10000
#define EXEC_TIMEOUT_MAX_MS     3600000

/* Set on top of the base environment for every command, before the request's own env. */
static const char *const agent_vars[][2] = {
    {"BERTH_AGENT", "true"}, {"GIT_EDITOR", "true"}, {"GIT_SEQUENCE_EDITOR", "true"},
    {"EDITOR", "true"},      {"VISUAL", "true"},     {"GIT_TERMINAL_PROMPT", "0"},
    {"NO_COLOR", "1"},       {"TERM", "dumb"},       {"PAGER", "cat"},
    {"GIT_PAGER", "cat"},
};

/* base_env + agent_vars + the request's env object (may be NULL), later entries winning.
 * *out is a new proc_env array (proc_env_free). */
static int exec_env(const struct agent_ops *ops, json_t *extra, char ***out, struct err *e)
{
    char **env = proc_env_build((const char *const *)ops->base_env);
    size_t n = proc_env_count(env);
    for (size_t i = 0; i < sizeof agent_vars / sizeof agent_vars[0]; i++)
        proc_env_add(&env, &n, agent_vars[i][0], agent_vars[i][1]);
    const char *key;
    json_t *val;
    json_object_foreach(extra, key, val)
    {
        if (!key[0] || strchr(key, '=')) {
            proc_env_free(env);
            return jsonx_invalid(e, "env", "names must be non-empty and must not contain \"=\"");
        }
        if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val)) {
            proc_env_free(env);
            return jsonx_invalid(e, "env", "%s must be a string without NUL characters", key);
        }
        proc_env_add(&env, &n, key, json_string_value(val));
    }
    *out = env;
    return 0;
}

/* The exit code reported for a run: the status, 128 + signal, or -1 on time-out. */
static int exit_code_of(const struct proc_result *res)
{
    if (res->timed_out)
        return -1;
    if (res->exited)
        return res->exit_status;
    if (res->signaled)
        return 128 + res->signal;
    return -1;
}

/* Whether call_id was canceled before its exec started (the id is then forgotten). Under mu. */
static bool take_early_cancel(struct agent_ops *ops, const char *call_id)
{
    for (size_t i = 0; i < OPS_EARLY_CANCELS; i++) {
        if (strcmp(ops->early_cancels[i], call_id) == 0) {
            ops->early_cancels[i][0] = '\0';
            return true;
        }
    }
    return false;
}

/* Makes the exec of call_id ("" when the request had no id: not cancelable) findable by a
 * cancel; fg->cancel may be NULL (no eventfd left): the exec then runs to its end. */
static void foreground_add(struct agent_ops *ops, struct ops_foreground *fg, const char *call_id)
{
    memset(fg, 0, sizeof *fg);
    if (!call_id[0] || strlen(call_id) >= sizeof fg->call_id)
        return;
    fg->cancel = proc_cancel_new();
    if (!fg->cancel)
        return;
    memcpy(fg->call_id, call_id, strlen(call_id) + 1);
    pthread_mutex_lock(&ops->mu);
    fg->next = ops->foreground;
    ops->foreground = fg;
    if (take_early_cancel(ops, call_id))
        proc_cancel_fire(fg->cancel);
    pthread_mutex_unlock(&ops->mu);
}

static void foreground_remove(struct agent_ops *ops, struct ops_foreground *fg)
{
    if (!fg->cancel)
        return;
    pthread_mutex_lock(&ops->mu);
    for (struct ops_foreground **p = &ops->foreground; *p; p = &(*p)->next) {
        if (*p == fg) {
            *p = fg->next;
            break;
        }
    }
    pthread_mutex_unlock(&ops->mu);
    proc_cancel_free(fg->cancel);
}

int ops_cancel(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *call_id;
    if (jsonx_string(req, "call_id", JSONX_REQUIRED, 0, &call_id, e) < 0)
        return -1;
    if (!call_id[0] || strlen(call_id) >= sizeof ops->early_cancels[0])
        return jsonx_invalid(e, "call_id", "must be 1 to %zu bytes",
                             sizeof ops->early_cancels[0] - 1);
    bool found = false;
    pthread_mutex_lock(&ops->mu);
    for (struct ops_foreground *fg = ops->foreground; fg && !found; fg = fg->next) {
        if (strcmp(fg->call_id, call_id) == 0) {
            proc_cancel_fire(fg->cancel);
            found = true;
        }
    }
    if (!found) { /* its exec may not have started yet */
        memcpy(ops->early_cancels[ops->next_early], call_id, strlen(call_id) + 1);
        ops->next_early = (ops->next_early + 1) % OPS_EARLY_CANCELS;
    }
    pthread_mutex_unlock(&ops->mu);
    *result = ops_json_must(json_pack("{s:s, s:b}", "call_id", call_id, "canceled", (int)found));
    return 0;
}

static int exec_foreground(struct agent_ops *ops, const char *call_id, char *command,
                           char *const *env, const char *cwd, int64_t timeout_ms, json_t **result,
                           struct err *e)
{
    char *argv[] = {"sh", "-c", command, NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = env, .cwd = cwd};
    struct ops_foreground fg;
    foreground_add(ops, &fg, call_id);
    struct proc_run_opts opts = {
        .timeout_ms = timeout_ms, .kill_grace_ms = OPS_KILL_GRACE_MS, .cancel = fg.cancel};
    struct proc_capture cap;
    struct proc_result res;
    int rc = proc_run_capture(&spec, &opts, OPS_OUTPUT_MAX, &cap, &res, e);
    foreground_remove(ops, &fg);
    if (rc < 0)
        return -1;
    *result = ops_json_must(
        json_pack("{s:i, s:o, s:b, s:I, s:b}", "exit_code", exit_code_of(&res), "output",
                  ops_json_text(cap.data, cap.len), "truncated", (int)cap.truncated, "duration_ms",
                  (json_int_t)res.duration_ms, "timed_out", (int)res.timed_out));
    proc_capture_free(&cap);
    return 0;
}

int ops_exec(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *command, *workdir;
    json_t *extra;
    int64_t timeout_ms = EXEC_TIMEOUT_DEFAULT_MS;
    bool has_timeout, background = false;
    if (jsonx_string(req, "command", JSONX_REQUIRED, 0, &command, e) < 0 ||
        jsonx_string(req, "workdir", JSONX_OPTIONAL, 0, &workdir, e) < 0 ||
        jsonx_object(req, "env", JSONX_OPTIONAL, &extra, e) < 0 ||
        jsonx_int(req, "timeout_ms", JSONX_OPTIONAL, &timeout_ms, &has_timeout, e) < 0 ||
        jsonx_bool(req, "background", JSONX_OPTIONAL, &background, NULL, e) < 0)
        return -1;
    if (!command[0])
        return jsonx_invalid(e, "command", "must not be empty");
    if (has_timeout && (timeout_ms < 1 || timeout_ms > EXEC_TIMEOUT_MAX_MS))
        return jsonx_invalid(e, "timeout_ms", "must be between 1 and %d", EXEC_TIMEOUT_MAX_MS);

    int rc = -1;
    char **env = NULL;
    char *cmd = xstrdup(command);
    char *cwd = workdir && workdir[0] ? ops_path_resolve(ops, workdir) : xstrdup(ops->directory);
    if (exec_env(ops, extra, &env, e) < 0)
        goto cleanup;
    if (background)
        rc = ops_process_start(ops, cmd, env, cwd, result, e);
    else
        rc = exec_foreground(ops, jsonx_get_str(req, "id", ""), cmd, env, cwd, timeout_ms, result,
                             e);

cleanup:
    proc_env_free(env);
    free(cwd);
    free(cmd);
    return rc;
}
