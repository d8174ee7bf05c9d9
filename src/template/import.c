/* import.c - the import job of a template version: unpack, validate berth.yaml, store what it
 * declares (parameters, agents, scripts) and the README. */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "template/manifest.h"
#include "template/tarball.h"
#include "template/template.h"

#include <stdlib.h>
#include <string.h>

#define STAGE "Importing template"

/* The parameter's options as the JSON array stored with it. Caller frees. */
static char *options_json(const struct manifest_param *mp)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < mp->noptions; i++) {
        const struct manifest_option *o = &mp->options[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", o->name, "description",
                                             o->description ? o->description : "", "value",
                                             o->value, "icon", o->icon ? o->icon : ""));
    }
    char *s = jsonx_dump(arr);
    json_decref(arr);
    return s;
}

static int store_params(struct store *st, const char *version_id, const struct manifest *m,
                        struct err *e)
{
    for (size_t i = 0; i < m->nparams; i++) {
        const struct manifest_param *mp = &m->params[i];
        struct version_param p;
        memset(&p, 0, sizeof p);
        str_copy(p.name, sizeof p.name, mp->name);
        str_copy(p.display_name, sizeof p.display_name, mp->display_name ? mp->display_name : "");
        p.description = mp->description;
        str_copy(p.type, sizeof p.type, mp->type);
        p.mutable_ = mp->mutable_;
        p.default_value = mp->default_value;
        p.required = mp->required;
        p.ephemeral = mp->ephemeral;
        p.validation_regex = mp->validation_regex;
        p.validation_error = mp->validation_error;
        p.has_min = mp->has_min;
        p.validation_min = mp->min;
        p.has_max = mp->has_max;
        p.validation_max = mp->max;
        str_copy(p.validation_monotonic, sizeof p.validation_monotonic,
                 mp->monotonic ? mp->monotonic : "");
        p.display_order = (int)i;
        char *opts = options_json(mp);
        p.options = opts;
        int r = store_version_param_insert(st, version_id, &p, e);
        free(opts);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int store_agents(struct store *st, const char *version_id, const struct manifest *m,
                        struct err *e)
{
    for (size_t i = 0; i < m->nagents; i++) {
        const struct manifest_agent *ma = &m->agents[i];
        struct version_agent a;
        memset(&a, 0, sizeof a);
        str_copy(a.name, sizeof a.name, ma->name);
        a.directory = ma->directory;
        a.connection_timeout_seconds = ma->connection_timeout_ms / 1000;
        a.display_order = (int)i;
        if (store_version_agent_insert(st, version_id, &a, e) < 0)
            return -1;
        for (size_t k = 0; k < ma->nscripts; k++) {
            const struct manifest_script *ms = &ma->scripts[k];
            struct version_script s;
            memset(&s, 0, sizeof s);
            str_copy(s.agent_name, sizeof s.agent_name, ma->name);
            str_copy(s.name, sizeof s.name, ms->name);
            s.script = ms->script;
            s.run_on_start = ms->run_on_start;
            s.run_on_stop = ms->run_on_stop;
            s.start_blocks_login = ms->start_blocks_login;
            s.timeout_seconds = (ms->timeout_ms + 999) / 1000;
            s.display_order = (int)k;
            if (store_version_script_insert(st, version_id, &s, e) < 0)
                return -1;
        }
    }
    return 0;
}

/* Validates the archive's manifest and files; fills m and readme. */
static int inspect(struct job_ctx *ctx, const struct file_row *f, struct manifest *m, char **readme,
                   struct err *e)
{
    struct tar_index ix;
    if (tarball_index(f->data, f->size, &ix, e) < 0)
        return -1;
    int rc = -1;
    char *yaml = NULL;
    size_t yaml_len = 0;
    if (!tarball_has_file(&ix, "berth.yaml")) {
        err_set(e, ERR_BAD_REQUEST, "berth.yaml: not found at the root of the archive");
        goto out;
    }
    if (tarball_read(f->data, f->size, "berth.yaml", TEMPLATE_MANIFEST_MAX, &yaml, &yaml_len, e) <
        0) {
        err_prefix(e, "berth.yaml");
        goto out;
    }
    if (manifest_parse(yaml, yaml_len, m, e) < 0)
        goto out;
    if (!tarball_has_file(&ix, m->provision)) {
        err_set(e, ERR_BAD_REQUEST, "provision: ./%s is not a file in the archive", m->provision);
        manifest_free(m);
        memset(m, 0, sizeof *m);
        goto out;
    }
    *readme = NULL;
    if (tarball_has_file(&ix, "README.md")) {
        size_t n;
        if (tarball_read(f->data, f->size, "README.md", TEMPLATE_README_MAX, readme, &n, e) < 0) {
            err_prefix(e, "README.md");
            manifest_free(m);
            memset(m, 0, sizeof *m);
            goto out;
        }
        if (!utf8_valid(*readme, n)) {
            char *clean = utf8_sanitize(*readme, n, NULL);
            free(*readme);
            *readme = clean;
        }
    }
    job_log(ctx, JOB_LOG_INFO, STAGE, "Found %zu parameter%s and %zu agent%s.", m->nparams,
            m->nparams == 1 ? "" : "s", m->nagents, m->nagents == 1 ? "" : "s");
    rc = 0;
out:
    free(yaml);
    tarball_index_free(&ix);
    return rc;
}

int template_import_run(struct job_ctx *ctx, void *arg, struct err *e)
{
    struct store *st = job_ctx_store(ctx);
    const struct job *job = job_ctx_job(ctx);
    struct template_version v;
    if (store_version_get_by_job(st, job->id, &v, e) < 0)
        return -1;
    struct file_row f;
    memset(&f, 0, sizeof f);
    struct manifest m;
    memset(&m, 0, sizeof m);
    char *readme = NULL;
    int rc = -1;
    job_log(ctx, JOB_LOG_INFO, STAGE, "Reading the archive of version %s.", v.name);
    if (store_file_get(st, job->file_id, true, &f, e) < 0)
        goto out;
    if (inspect(ctx, &f, &m, &readme, e) < 0) {
        job_log(ctx, JOB_LOG_ERROR, STAGE, "%s", err_msg(e));
        goto out;
    }
    free(v.readme);
    v.readme = readme;
    readme = NULL;
    str_copy(v.display_name, sizeof v.display_name, m.display_name ? m.display_name : "");
    free(v.description);
    v.description = xstrdup(m.description ? m.description : "");
    free(v.icon);
    v.icon = xstrdup(m.icon ? m.icon : "");
    free(v.provision);
    v.provision = xstrdup(m.provision);
    v.provision_timeout_ms = m.provision_timeout_ms;
    v.updated_at = time_now_us();
    if (store_tx_begin(st, e) < 0)
        goto out;
    if (store_version_set_import_result(st, &v, e) < 0 || store_params(st, v.id, &m, e) < 0 ||
        store_agents(st, v.id, &m, e) < 0 || store_tx_commit(st, e) < 0) {
        store_tx_rollback(st);
        goto out;
    }
    job_log(ctx, JOB_LOG_INFO, STAGE, "Template version %s imported.", v.name);
    rc = 0;
out:
    if (m.provision)
        manifest_free(&m);
    free(readme);
    file_row_clear(&f);
    template_version_clear(&v);
    return rc;
}
