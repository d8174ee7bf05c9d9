/* ops_edit.c - the edit_files request: search/replace edits over several files, all or nothing.
 *
 * Every file is read and every edit applied in memory first; only when all of them applied are
 * the new contents written, each to a temporary file next to its target, and only when all of
 * those were written are they renamed over their targets. A failure before the renames changes
 * nothing. The whole request runs under ops->files_mu, so it does not interleave with another
 * edit_files or write_file of this agent.
 */
#include "agent/ops_internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EDIT_FILES_MAX 100
#define EDITS_MAX      1000

struct edit_file {
    char *path;   /* as answered: absolute, cleaned */
    char *target; /* where it is written (a symlink resolved) */
    json_t *edits;
    char *data;
    size_t len;
    mode_t mode;
    char *tmp;
};

/* Re-issues the validation failure in e for a nested field as "<prefix>.<field>". */
static int nested_invalid(struct err *e, const char *prefix)
{
    if (!e || e->nvalidations == 0)
        return -1;
    char *field = str_printf("%s.%s", prefix, e->validations[0].field);
    char *detail = xstrdup(e->validations[0].detail);
    jsonx_invalid(e, field, "%s", detail);
    free(field);
    free(detail);
    return -1;
}

/* Counts the non-overlapping occurrences of s[0..slen) in data[0..len). */
static size_t count_occurrences(const char *data, size_t len, const char *s, size_t slen)
{
    size_t n = 0;
    const char *p = data, *end = data + len;
    while ((p = memmem(p, (size_t)(end - p), s, slen))) {
        n++;
        p += slen;
    }
    return n;
}

/* Replaces the first (or every) occurrence of search in f's data by replace. */
static int apply_edit(struct edit_file *f, size_t idx, const char *search, size_t slen,
                      const char *replace, size_t rlen, bool all, struct err *e)
{
    if (slen == 0)
        return err_set(e, ERR_BAD_REQUEST, "%s: edit %zu: search text is empty", f->path, idx);
    size_t n = count_occurrences(f->data, f->len, search, slen);
    if (n == 0)
        return err_set(e, ERR_BAD_REQUEST, "%s: edit %zu: search text not found", f->path, idx);
    if (n > 1 && !all)
        return err_set(e, ERR_BAD_REQUEST,
                       "%s: edit %zu: search text occurs %zu times; set replace_all or give more "
                       "context",
                       f->path, idx, n);
    size_t count = all ? n : 1;
    size_t out_len = f->len - count * slen + count * rlen;
    if (out_len > OPS_READ_FILE_MAX)
        return err_set(e, ERR_BAD_REQUEST, "%s: edit %zu: the file would exceed %u bytes", f->path,
                       idx, OPS_READ_FILE_MAX);
    char *out = xmalloc(out_len + 1);
    const char *p = f->data, *end = f->data + f->len;
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        const char *hit = memmem(p, (size_t)(end - p), search, slen);
        memcpy(out + o, p, (size_t)(hit - p));
        o += (size_t)(hit - p);
        memcpy(out + o, replace, rlen);
        o += rlen;
        p = hit + slen;
    }
    memcpy(out + o, p, (size_t)(end - p));
    o += (size_t)(end - p);
    out[o] = '\0';
    free(f->data);
    f->data = out;
    f->len = o;
    return 0;
}

/* Validates the i-th edit (0-based) of the fi-th file entry, edit. */
static int check_edit(json_t *edit, size_t fi, size_t i, struct err *e)
{
    char prefix[64];
    str_fmt(prefix, sizeof prefix, "files[%zu].edits[%zu]", fi, i);
    if (!json_is_object(edit))
        return jsonx_invalid(e, prefix, "must be an object");
    const char *search, *replace;
    bool all;
    if (jsonx_string(edit, "search", JSONX_REQUIRED, 0, &search, e) < 0 ||
        jsonx_string(edit, "replace", JSONX_REQUIRED, 0, &replace, e) < 0 ||
        jsonx_bool(edit, "replace_all", JSONX_OPTIONAL, &all, NULL, e) < 0)
        return nested_invalid(e, prefix);
    return 0;
}

/* Applies the i-th edit (0-based, validated by check_edit) of f. */
static int edit_one(struct edit_file *f, size_t i, struct err *e)
{
    json_t *edit = json_array_get(f->edits, i);
    json_t *search = json_object_get(edit, "search"), *replace = json_object_get(edit, "replace");
    return apply_edit(f, i + 1, json_string_value(search), json_string_length(search),
                      json_string_value(replace), json_string_length(replace),
                      json_is_true(json_object_get(edit, "replace_all")), e);
}

/* Validates the fi-th file entry and its edits into f (no I/O). */
static int parse_file(struct agent_ops *ops, json_t *item, size_t fi, struct edit_file *f,
                      struct err *e)
{
    char prefix[32];
    str_fmt(prefix, sizeof prefix, "files[%zu]", fi);
    if (!json_is_object(item))
        return jsonx_invalid(e, prefix, "must be an object");
    const char *rel;
    if (jsonx_string(item, "path", JSONX_REQUIRED, 0, &rel, e) < 0 ||
        jsonx_array(item, "edits", JSONX_REQUIRED, EDITS_MAX, &f->edits, e) < 0)
        return nested_invalid(e, prefix);
    if (!rel[0]) {
        jsonx_invalid(e, "path", "must not be empty");
        return nested_invalid(e, prefix);
    }
    if (json_array_size(f->edits) == 0) {
        jsonx_invalid(e, "edits", "must not be empty");
        return nested_invalid(e, prefix);
    }
    for (size_t i = 0; i < json_array_size(f->edits); i++) {
        if (check_edit(json_array_get(f->edits, i), fi, i, e) < 0)
            return -1;
    }
    f->path = ops_path_resolve(ops, rel);
    return 0;
}

int ops_edit_files(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    json_t *files;
    if (jsonx_array(req, "files", JSONX_REQUIRED, EDIT_FILES_MAX, &files, e) < 0)
        return -1;
    size_t nfiles = json_array_size(files);
    if (nfiles == 0)
        return jsonx_invalid(e, "files", "must not be empty");

    struct edit_file *fs = xcalloc(nfiles, sizeof *fs);
    int rc = -1;
    bool locked = false;
    for (size_t i = 0; i < nfiles; i++) {
        if (parse_file(ops, json_array_get(files, i), i, &fs[i], e) < 0)
            goto cleanup;
    }

    pthread_mutex_lock(&ops->files_mu);
    locked = true;
    for (size_t i = 0; i < nfiles; i++) {
        struct edit_file *f = &fs[i];
        f->target = ops_write_target(f->path);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(fs[j].target, f->target) == 0) {
                err_set(e, ERR_BAD_REQUEST, "%s: listed more than once", f->path);
                goto cleanup;
            }
        }
        if (ops_file_load(f->target, OPS_READ_FILE_MAX, &f->data, &f->len, &f->mode, e) < 0) {
            if (strcmp(f->target, f->path) != 0)
                err_prefix(e, "%s", f->path);
            goto cleanup;
        }
        for (size_t j = 0; j < json_array_size(f->edits); j++) {
            if (edit_one(f, j, e) < 0)
                goto cleanup;
        }
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (ops_tmp_write(fs[i].target, fs[i].data, fs[i].len, fs[i].mode, false, &fs[i].tmp, e) <
            0)
            goto cleanup;
    }
    for (size_t i = 0; i < nfiles; i++) {
        int r = ops_tmp_commit(fs[i].tmp, fs[i].target, e);
        free(fs[i].tmp);
        fs[i].tmp = NULL;
        if (r < 0) {
            if (i > 0)
                err_detail(e, "%zu of the %zu files were already written", i, nfiles);
            goto cleanup;
        }
    }

    json_t *list = ops_json_must(json_array());
    for (size_t i = 0; i < nfiles; i++) {
        json_array_append_new(
            list, ops_json_must(json_pack("{s:s, s:I}", "path", fs[i].path, "edits_applied",
                                          (json_int_t)json_array_size(fs[i].edits))));
    }
    *result = ops_json_must(json_pack("{s:o}", "files", list));
    rc = 0;

cleanup:
    if (locked)
        pthread_mutex_unlock(&ops->files_mu);
    for (size_t i = 0; i < nfiles; i++) {
        if (fs[i].tmp) {
            unlink(fs[i].tmp);
            free(fs[i].tmp);
        }
        free(fs[i].path);
        free(fs[i].target);
        free(fs[i].data);
    }
    free(fs);
    return rc;
}
