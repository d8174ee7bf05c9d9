/* runner.c - runs a workspace build: the template's provision program in a private scratch
 * copy of the archive, with an allow-listed environment, the previous state in a file, every
 * output line logged as it is written, a time-out and cancellation by process group. The build
 * ends when the program exits; its state, the job's outcome and (for a delete) the workspace's
 * deletion are stored in one transaction. */
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "build/build.h"
#include "proc/proc.h"
#include "template/tarball.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX   (1024 * 1024)
#define STAGE_SETUP "Setting up"

static const char *stage_of(enum transition t)
{
    return t == TRANSITION_START  ? "Starting workspace"
           : t == TRANSITION_STOP ? "Stopping workspace"
                                  : "Destroying workspace";
}

/* Everything a build run needs, loaded up front. */
struct run {
    struct build_runner *r;
    struct job_ctx *ctx;
    struct workspace_build build;
    struct workspace ws;
    struct user owner;
    struct template_version version;
    struct build_param_list params;
    char *dir;        /* <scratch>/<job id> */
    char *archive;    /* <dir>/template */
    char *state_path; /* <dir>/state */
    char **env;
    size_t nenv;
    const char *stage;
    int64_t start_us, exec_us, exit_us; /* monotonic: handler start, program start, exit */
};

static void run_free(struct run *run)
{
    workspace_build_clear(&run->build);
    workspace_clear(&run->ws);
    template_version_clear(&run->version);
    build_param_list_free(&run->params);
    free(run->dir);
    free(run->archive);
    free(run->state_path);
    proc_env_free(run->env);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void env_add(struct run *run, const char *name, const char *value)
{
    proc_env_add(&run->env, &run->nenv, name, value ? value : "");
}

/* "BERTH_PARAM_" + upper-cased name, '-' as '_'. */
static char *env_name(const char *prefix, const char *name)
{
    char *s = str_printf("%s%s", prefix, name);
    for (char *p = s + strlen(prefix); *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    return s;
}

static int load(struct run *run, struct err *e)
{
    struct store *st = run->r->st;
    const struct job *job = job_ctx_job(run->ctx);
    if (store_build_get_by_job(st, job->id, &run->build, e) < 0 ||
        store_workspace_get(st, run->build.workspace_id, &run->ws, e) < 0 ||
        store_user_get(st, run->ws.owner_id, &run->owner, e) < 0 ||
        store_version_get(st, run->build.template_version_id, &run->version, e) < 0 ||
        store_build_params(st, run->build.id, &run->params, e) < 0)
        return -1;
    run->stage = stage_of(run->build.transition);
    return 0;
}

/* Unpacks the archive into a private scratch directory and writes the previous state. */
static int prepare_dir(struct run *run, struct err *e)
{
    const struct job *job = job_ctx_job(run->ctx);
    run->dir = str_printf("%s/%s", run->r->scratch_dir, job->id);
    run->archive = str_printf("%s/template", run->dir);
    run->state_path = str_printf("%s/state", run->dir);
    if (mkdir(run->dir, 0700) < 0 && errno != EEXIST)
        return err_set(e, ERR_INTERNAL, "create %s: %s", run->dir, strerror(errno));
    if (mkdir(run->archive, 0700) < 0 && errno != EEXIST)
        return err_set(e, ERR_INTERNAL, "create %s: %s", run->archive, strerror(errno));
    struct file_row f;
    if (store_file_get(run->r->st, job->file_id, true, &f, e) < 0)
        return -1;
    int r = tarball_extract(f.data, f.size, run->archive, e);
    file_row_clear(&f);
    if (r < 0)
        return err_prefix(e, "unpack the template");
    int fd = open(run->state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(e, ERR_INTERNAL, "create %s: %s", run->state_path, strerror(errno));
    ssize_t w = run->build.state_len ? write(fd, run->build.state, run->build.state_len) : 0;
    close(fd);
    if (w != (ssize_t)run->build.state_len)
        return err_set(e, ERR_INTERNAL, "write %s: %s", run->state_path, strerror(errno));
    return 0;
}

/* A start build's agents: one resource and the manifest's agents, with fresh tokens that go into
 * the environment (only their hashes are stored). */
static int create_agents(struct run *run, struct err *e)
{
    struct store *st = run->r->st;
    struct version_agent_list agents = {0};
    struct version_script_list scripts = {0};
    if (store_version_agents(st, run->version.id, &agents, e) < 0 ||
        store_version_scripts(st, run->version.id, &scripts, e) < 0)
        goto fail;
    if (store_tx_begin(st, e) < 0)
        goto fail;
    struct workspace_resource res;
    memset(&res, 0, sizeof res);
    uuid_v7(res.id);
    str_copy(res.job_id, sizeof res.job_id, job_ctx_job(run->ctx)->id);
    res.transition = TRANSITION_START;
    str_copy(res.type, sizeof res.type, "berth_workspace");
    str_copy(res.name, sizeof res.name, run->ws.name);
    res.created_at = time_now_us();
    if (agents.n && store_resource_insert(st, &res, e) < 0)
        goto rollback;
    for (size_t i = 0; i < agents.n; i++) {
        const struct version_agent *va = &agents.items[i];
        struct workspace_agent a;
        memset(&a, 0, sizeof a);
        uuid_v7(a.id);
        str_copy(a.resource_id, sizeof a.resource_id, res.id);
        str_copy(a.name, sizeof a.name, va->name);
        char token[UUID_STR_LEN];
        unsigned char raw[16];
        secure_random(raw, sizeof raw);
        raw[6] = (unsigned char)(0x40 | (raw[6] & 0x0F));
        raw[8] = (unsigned char)(0x80 | (raw[8] & 0x3F));
        snprintf(token, sizeof token,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", raw[0],
                 raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10],
                 raw[11], raw[12], raw[13], raw[14], raw[15]);
        secure_sha256(token, strlen(token), a.auth_token_hash);
        a.directory = va->directory;
        a.connection_timeout_seconds = va->connection_timeout_seconds;
        a.lifecycle = LIFECYCLE_CREATED;
        a.display_order = va->display_order;
        a.created_at = a.updated_at = res.created_at;
        if (store_agent_insert(st, &a, e) < 0)
            goto rollback;
        for (size_t k = 0; k < scripts.n; k++) {
            const struct version_script *vs = &scripts.items[k];
            if (strcmp(vs->agent_name, va->name) != 0)
                continue;
            struct agent_script s = {.script = vs->script,
                                     .run_on_start = vs->run_on_start,
                                     .run_on_stop = vs->run_on_stop,
                                     .start_blocks_login = vs->start_blocks_login,
                                     .timeout_seconds = vs->timeout_seconds,
                                     .display_order = vs->display_order};
            str_copy(s.name, sizeof s.name, vs->name);
            if (store_agent_script_insert(st, a.id, &s, e) < 0)
                goto rollback;
        }
        char *name = env_name("BERTH_AGENT_TOKEN_", va->name);
        env_add(run, name, token);
        free(name);
    }
    if (store_tx_commit(st, e) < 0)
        goto rollback;
    version_agent_list_free(&agents);
    version_script_list_free(&scripts);
    return 0;
rollback:
    store_tx_rollback(st);
fail:
    version_agent_list_free(&agents);
    version_script_list_free(&scripts);
    return -1;
}

static void build_env(struct run *run)
{
    const char *keep[] = {"PATH", "HOME", "LANG", "TZ", NULL};
    for (int i = 0; keep[i]; i++) {
        const char *v = getenv(keep[i]);
        if (v)
            env_add(run, keep[i], v);
        else if (strcmp(keep[i], "PATH") == 0)
            env_add(run, "PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)run->build.build_number);
    env_add(run, "BERTH_URL", run->r->access_url);
    env_add(run, "BERTH_BIN", run->r->berth_bin);
    env_add(run, "BERTH_TRANSITION", transition_name(run->build.transition));
    env_add(run, "BERTH_WORKSPACE_ID", run->ws.id);
    env_add(run, "BERTH_WORKSPACE_NAME", run->ws.name);
    env_add(run, "BERTH_WORKSPACE_OWNER", run->owner.username);
    env_add(run, "BERTH_BUILD_ID", run->build.id);
    env_add(run, "BERTH_BUILD_NUMBER", num);
    env_add(run, "BERTH_STATE_FILE", run->state_path);
    env_add(run, "BERTH_WORKSPACES_DIR", run->r->workspaces_dir);
    for (size_t i = 0; i < run->params.n; i++) {
        char *name = env_name("BERTH_PARAM_", run->params.items[i].name);
        env_add(run, name, run->params.items[i].value);
        free(name);
    }
}

static void on_line(void *arg, enum proc_stream stream, const char *line, size_t len)
{
    struct run *run = arg;
    const char *lines[1] = {line};
    job_log_lines(run->ctx, stream == PROC_STDERR ? JOB_LOG_ERROR : JOB_LOG_INFO,
                  LOG_SOURCE_PROVISIONER, run->stage, lines, &len, 1);
}

static void on_cancel(void *arg)
{
    proc_cancel_fire(arg);
}

/* Runs the provision program; fills error (heap, "" on success). */
static int execute(struct run *run, char **error, struct err *e)
{
    char *path = str_printf("%s/%s", run->archive, run->version.provision);
    chmod(path, 0755);
    char *argv[] = {path, (char *)(uintptr_t)transition_name(run->build.transition), NULL};
    struct proc_spec spec = {.path = path, .argv = argv, .envp = run->env, .cwd = run->archive};
    struct proc_cancel *cancel = proc_cancel_new();
    job_ctx_on_cancel(run->ctx, on_cancel, cancel);
    struct proc_run_opts opts = {.timeout_ms = run->version.provision_timeout_ms,
                                 .kill_grace_ms = run->r->kill_grace_ms,
                                 .cancel = cancel,
                                 .line_max = JOB_LOG_LINE_MAX,
                                 .on_line = on_line,
                                 .arg = run,
                                 .wait_for_pipes = false};
    struct proc_result res;
    int rc = -1;
    run->exec_us = time_mono_us();
    struct err pe = ERR_INIT;
    struct proc *p = proc_start(&spec, &pe);
    if (!p) {
        *error = str_printf("provision program could not start: %s", err_msg(&pe));
        err_clear(&pe);
        rc = 0;
        goto out;
    }
    if (proc_run(p, &opts, &res, e) < 0)
        goto out;
    run->exit_us = time_mono_us();
    rc = 0;
    char dur[32];
    if (res.canceled) {
        /* Killed for a user's cancel (the job ends canceled) or because the server stops. */
        *error = xstrdup(job_ctx_user_canceled(run->ctx) ? "" : PROVISION_SHUTDOWN_ERROR);
    } else if (res.timed_out) {
        duration_format(run->version.provision_timeout_ms, dur, sizeof dur);
        *error = str_printf("provision program timed out after %s", dur);
    } else if (res.exited && res.exit_status == 0) {
        *error = xstrdup("");
    } else if (res.exited) {
        *error = res.last_stderr[0]
                     ? str_printf("provision program exited with status %d: %s", res.exit_status,
                                  res.last_stderr)
                     : str_printf("provision program exited with status %d", res.exit_status);
    } else {
        *error = str_printf("provision program was killed by signal %d", res.signal);
    }
out:
    job_ctx_on_cancel(run->ctx, NULL, NULL);
    proc_free(p);
    proc_cancel_free(cancel);
    free(path);
    return rc;
}

/* Reads the state the program left (at most STATE_MAX). */
static int read_state(struct run *run, struct buf *state, char **error)
{
    int fd = open(run->state_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* removed by the program: empty state */
    buf_init(state, STATE_MAX);
    char tmp[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, tmp, sizeof tmp)) > 0) {
        if (buf_append(state, tmp, (size_t)n) < 0) {
            if (!**error) {
                free(*error);
                *error = xstrdup("provision program left a state file larger than 1 MiB");
            }
            buf_free(state);
            rc = -1;
            break;
        }
    }
    close(fd);
    return rc;
}

static int finish(struct run *run, const char *error, struct err *e)
{
    struct store *st = run->r->st;
    struct buf state = BUF_INIT;
    char *err_text = xstrdup(error);
    read_state(run, &state, &err_text);
    int rc = -1;
    if (store_tx_begin(st, e) < 0)
        goto out;
    if (store_build_set_state(st, run->build.id, state.data, state.len, e) < 0 ||
        job_ctx_complete(run->ctx, err_text, e) < 0)
        goto rollback;
    bool succeeded = !*err_text && !job_ctx_canceled(run->ctx);
    if (succeeded && run->build.transition == TRANSITION_DELETE &&
        store_workspace_set_deleted(st, run->ws.id, time_now_us(), e) < 0)
        goto rollback;
    if (store_tx_commit(st, e) < 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    store_tx_rollback(st);
out:
    buf_free(&state);
    free(err_text);
    return rc;
}

int build_job_run(struct job_ctx *ctx, void *arg, struct err *e)
{
    struct run run;
    memset(&run, 0, sizeof run);
    run.r = arg;
    run.ctx = ctx;
    run.stage = STAGE_SETUP;
    run.start_us = time_mono_us();
    int rc = -1;
    char *error = NULL;
    if (load(&run, e) < 0)
        goto out;
    pubsub_publishf(run.r->ps, "job", "workspace:%s", run.ws.id);
    job_log(ctx, JOB_LOG_INFO, STAGE_SETUP, "Build #%lld of %s/%s: %s on template version %s",
            (long long)run.build.build_number, run.owner.username, run.ws.name,
            transition_name(run.build.transition), run.version.name);
    if (prepare_dir(&run, e) < 0)
        goto out;
    build_env(&run);
    if (run.build.transition == TRANSITION_START && create_agents(&run, e) < 0)
        goto out;
    if (execute(&run, &error, e) < 0)
        goto out;
    if (*error)
        job_log(ctx, JOB_LOG_ERROR, run.stage, "%s", error);
    if (finish(&run, error, e) < 0)
        goto out;
    /* The server's own share of the build, for the benchmark (debug level). */
    log_debug("build", "timing job=%s setup_us=%lld program_us=%lld finish_us=%lld",
              job_ctx_job(ctx)->id, (long long)(run.exec_us - run.start_us),
              (long long)(run.exit_us - run.exec_us), (long long)(time_mono_us() - run.exit_us));
    rc = 0;
out:
    if (rc < 0 && e->message)
        job_log(ctx, JOB_LOG_ERROR, run.stage, "%s", e->message);
    if (run.dir)
        nftw(run.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (run.ws.id[0])
        pubsub_publishf(run.r->ps, "end", "workspace:%s", run.ws.id);
    free(error);
    run_free(&run);
    return rc;
}

void build_job_abandoned(struct store *st, const struct job *job, void *arg)
{
    struct build_runner *r = arg;
    struct workspace_build b;
    if (store_build_get_by_job(st, job->id, &b, NULL) < 0)
        return;
    if (!b.state_len && b.build_number > 1) {
        struct workspace_build prev;
        if (store_build_get_by_number(st, b.workspace_id, b.build_number - 1, &prev, NULL) == 0) {
            store_build_set_state(st, b.id, prev.state, prev.state_len, NULL);
            workspace_build_clear(&prev);
        }
    }
    pubsub_publishf(r->ps, "end", "workspace:%s", b.workspace_id);
    workspace_build_clear(&b);
}
