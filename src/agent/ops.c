/* ops.c - agent_ops: creation, teardown, request dispatch, and the helpers the handlers share
 * (paths against the workspace directory, UTF-8-safe JSON strings, errno to struct err).
 */
#include "agent/ops_internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "proc/proc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*handler_fn)(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);

static const struct {
    const char *type;
    handler_fn fn;
} handlers[] = {
    {"exec", ops_exec},
    {"process_output", ops_process_output},
    {"process_list", ops_process_list},
    {"process_signal", ops_process_signal},
    {"read_file", ops_read_file},
    {"write_file", ops_write_file},
    {"edit_files", ops_edit_files},
    {"cancel", ops_cancel},
};

/* The lexically cleaned form of the absolute path p (like Go's filepath.Clean): no empty, "."
 * or ".." components, no trailing slash (but "/"). Caller frees. */
static char *path_clean(const char *p)
{
    size_t n = strlen(p);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    out[o++] = '/';
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t start = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 || (len == 1 && p[start] == '.'))
            continue;
        if (len == 2 && p[start] == '.' && p[start + 1] == '.') {
            /* Back up over the last component (never above the root). */
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
            continue;
        }
        if (o > 1)
            out[o++] = '/';
        memcpy(out + o, p + start, len);
        o += len;
    }
    out[o] = '\0';
    return out;
}

char *ops_path_resolve(const struct agent_ops *ops, const char *path)
{
    if (path[0] == '/')
        return path_clean(path);
    char *joined = str_printf("%s/%s", ops->directory, path);
    char *clean = path_clean(joined);
    free(joined);
    return clean;
}

json_t *ops_json_must(json_t *v)
{
    if (!v)
        mem_oom();
    return v;
}

json_t *ops_json_text(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return ops_json_must(json_stringn(s, n));
    size_t len;
    char *clean = utf8_sanitize(s, n, &len);
    json_t *v = ops_json_must(json_stringn(clean, len));
    free(clean);
    return v;
}

int ops_errno(struct err *e, int err, const char *what, const char *path)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return err_set(e, ERR_NOT_FOUND, "%s: no such file or directory", path);
    case EACCES:
    case EPERM:
        return err_set(e, ERR_BAD_REQUEST, "%s: permission denied", path);
    case EISDIR:
        return err_set(e, ERR_BAD_REQUEST, "%s is a directory", path);
    case ELOOP:
    case ENAMETOOLONG:
    case EROFS:
    case ETXTBSY:
    case ENOSPC:
    case EDQUOT:
        return err_set(e, ERR_BAD_REQUEST, "%s %s: %s", what, path, strerror(err));
    default:
        return err_set(e, ERR_INTERNAL, "%s %s: %s", what, path, strerror(err));
    }
}

/* The absolute, cleaned form of the configured directory ("" or NULL: the current one). */
static char *directory_absolute(const char *dir)
{
    char cwd[PATH_MAX];
    if (dir && dir[0] == '/')
        return path_clean(dir);
    if (!getcwd(cwd, sizeof cwd))
        str_copy(cwd, sizeof cwd, "/");
    char *joined = str_printf("%s/%s", cwd, dir ? dir : "");
    char *clean = path_clean(joined);
    free(joined);
    return clean;
}

static void init_mutex_cond(pthread_mutex_t *mu, pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_mutex_init(mu, NULL) != 0)
        mem_oom();
    if (!cond)
        return;
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 || pthread_cond_init(cond, &attr))
        mem_oom();
    pthread_condattr_destroy(&attr);
}

struct agent_ops *agent_ops_new(const struct agent_ops_config *cfg)
{
    struct agent_ops *ops = xcalloc(1, sizeof *ops);
    ops->directory = directory_absolute(cfg ? cfg->directory : NULL);
    ops->base_env = proc_env_build(cfg ? (const char *const *)cfg->base_env : NULL);
    ops->max_background =
        cfg && cfg->max_background ? cfg->max_background : AGENT_OPS_MAX_BACKGROUND_DEFAULT;
    init_mutex_cond(&ops->mu, &ops->idle);
    init_mutex_cond(&ops->files_mu, NULL);
    return ops;
}

void agent_ops_free(struct agent_ops *ops)
{
    if (!ops)
        return;
    ops_processes_free(ops);
    pthread_mutex_destroy(&ops->mu);
    pthread_cond_destroy(&ops->idle);
    pthread_mutex_destroy(&ops->files_mu);
    proc_env_free(ops->base_env);
    free(ops->directory);
    free(ops);
}

int agent_ops_handle(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    *result = NULL;
    if (!json_is_object(req))
        return err_set(e, ERR_BAD_REQUEST, "request must be a JSON object");
    const char *type;
    if (jsonx_string(req, "type", JSONX_REQUIRED, 0, &type, e) < 0)
        return -1;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        if (strcmp(handlers[i].type, type) != 0)
            continue;
        if (handlers[i].fn(ops, req, result, e) < 0) {
            if (*result) {
                json_decref(*result);
                *result = NULL;
            }
            return -1;
        }
        return 0;
    }
    char *q = str_quote(type);
    err_set(e, ERR_BAD_REQUEST, "unknown request type %s", q);
    free(q);
    return -1;
}
