/* versions.c - uploading archives and creating template versions with their import jobs. */
#include "base/json.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "template/tarball.h"
#include "template/template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int template_file_upload(struct store *st, const struct subject *sub, const void *data, size_t len,
                         char hash[HASH_HEX_LEN + 1], bool *created, struct err *e)
{
    struct rbac_object obj = {RBAC_FILE, NULL, NULL};
    if (rbac_authorize(sub, RBAC_CREATE, &obj, e) < 0)
        return -1;
    struct tar_index ix;
    if (tarball_index(data, len, &ix, e) < 0)
        return -1;
    tarball_index_free(&ix);
    secure_sha256_hex(data, len, hash);
    *created = false;
    struct file_row existing;
    if (store_file_get(st, hash, false, &existing, NULL) == 0) {
        file_row_clear(&existing);
        return 0;
    }
    struct file_row f;
    memset(&f, 0, sizeof f);
    str_copy(f.id, sizeof f.id, hash);
    str_copy(f.mimetype, sizeof f.mimetype, "application/x-tar");
    str_copy(f.created_by, sizeof f.created_by, sub->user_id);
    f.created_at = time_now_us();
    f.data = (void *)(uintptr_t)data;
    f.size = len;
    struct err ie = ERR_INIT;
    if (store_file_insert(st, &f, &ie) < 0) {
        if (err_is(&ie, ERR_CONFLICT)) { /* uploaded concurrently: same bytes, same id */
            err_clear(&ie);
            return 0;
        }
        return err_move(e, &ie);
    }
    *created = true;
    return 0;
}

bool template_version_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || !isalnum((unsigned char)name[0]) ||
        !isalnum((unsigned char)name[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (isalnum((unsigned char)c))
            continue;
        if ((c == '-' || c == '_' || c == '.') && isalnum((unsigned char)name[i + 1]))
            continue;
        return false;
    }
    return true;
}

/* Picks "v<N>" for the next free N in the template (or "v1" for an unattached version). */
static int generate_name(struct store *st, const char *template_id, char *out, size_t size,
                         struct err *e)
{
    size_t count = 0;
    if (template_id) {
        struct version_list l;
        if (store_version_list(st, template_id, &l, e) < 0)
            return -1;
        count = l.n;
        version_list_free(&l);
    }
    for (size_t n = count + 1;; n++) {
        snprintf(out, size, "v%zu", n);
        if (!template_id)
            return 0;
        bool taken;
        if (store_version_name_taken(st, template_id, out, &taken, e) < 0)
            return -1;
        if (!taken)
            return 0;
    }
}

static int invalid(struct err *e, const char *field, const char *detail)
{
    return jsonx_invalid(e, field, "%s", detail);
}

int template_version_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                            const struct template_version_create *req, struct template_version *out,
                            struct err *e)
{
    struct rbac_object obj = {RBAC_TEMPLATE_VERSION, NULL, NULL};
    if (rbac_authorize(sub, RBAC_CREATE, &obj, e) < 0)
        return -1;
    if (!req->file_id || !*req->file_id)
        return invalid(e, "file_id", "is required");
    struct file_row f;
    if (store_file_get(st, req->file_id, false, &f, NULL) < 0)
        return invalid(e, "file_id", "no uploaded file has this hash");
    file_row_clear(&f);
    if (req->template_id && *req->template_id) {
        struct template_row t;
        if (!uuid_valid(req->template_id) || store_template_get(st, req->template_id, &t, NULL) < 0)
            return invalid(e, "template_id", "no template has this id");
        bool deleted = t.deleted;
        template_row_clear(&t);
        if (deleted)
            return invalid(e, "template_id", "no template has this id");
    }
    const char *template_id = req->template_id && *req->template_id ? req->template_id : NULL;
    if (req->name && *req->name && !template_version_name_valid(req->name))
        return invalid(e, "name",
                       "must be 1 to 64 letters or digits, separated by single '-', '_' or '.'");
    if (req->message && strlen(req->message) > 1048576)
        return invalid(e, "message", "must be at most 1 MiB");

    struct template_version v;
    memset(&v, 0, sizeof v);
    struct job job;
    memset(&job, 0, sizeof job);
    uuid_v7(v.id);
    uuid_v7(job.id);
    int64_t now = time_now_us();
    job.type = JOB_TEMPLATE_VERSION_IMPORT;
    job.created_at = now;
    str_copy(job.initiator_id, sizeof job.initiator_id, sub->user_id);
    str_copy(job.file_id, sizeof job.file_id, req->file_id);
    char input[128];
    snprintf(input, sizeof input, "{\"template_version_id\":\"%s\"}", v.id);
    job.input = input;
    str_copy(v.template_id, sizeof v.template_id, template_id ? template_id : "");
    str_copy(v.file_id, sizeof v.file_id, req->file_id);
    str_copy(v.job_id, sizeof v.job_id, job.id);
    str_copy(v.created_by, sizeof v.created_by, sub->user_id);
    v.message = (char *)(uintptr_t)(req->message ? req->message : "");
    v.provision_timeout_ms = 600000;
    v.created_at = v.updated_at = now;

    if (store_tx_begin(st, e) < 0)
        return -1;
    if (req->name && *req->name) {
        str_copy(v.name, sizeof v.name, req->name);
        bool taken = false;
        if (template_id && store_version_name_taken(st, template_id, v.name, &taken, e) < 0)
            goto fail;
        if (taken) {
            err_set(e, ERR_CONFLICT, "A template version named \"%s\" already exists.", v.name);
            err_add_validation(e, "name", "is already used by another version of this template");
            goto fail;
        }
    } else if (generate_name(st, template_id, v.name, sizeof v.name, e) < 0) {
        goto fail;
    }
    if (store_job_insert(st, &job, e) < 0 || store_version_insert(st, &v, e) < 0 ||
        store_tx_commit(st, e) < 0)
        goto fail;
    provision_post(ps, job.id);
    v.message = NULL;
    if (out) {
        *out = v;
        out->message = xstrdup(req->message ? req->message : "");
        out->readme = xstrdup("");
        out->description = xstrdup("");
        out->icon = xstrdup("");
        out->provision = xstrdup("");
    }
    return 0;
fail:
    store_tx_rollback(st);
    return -1;
}
