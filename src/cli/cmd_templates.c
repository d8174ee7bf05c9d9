/* cmd_templates.c - berth templates push|list|versions|edit|promote|archive|unarchive. */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "cli/internal.h"
#include "template/tarball.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: berth templates <push|list|versions|edit|promote|archive|unarchive> ...\n"
    "\n"
    "  push NAME [-d DIR] [--activate] [--name V] [--message M]\n"
    "                          upload DIR (default .) as a new version of NAME; creates the\n"
    "                          template when missing; --activate promotes the new version\n"
    "  list                    list templates\n"
    "  versions NAME           list the versions of a template, oldest first\n"
    "  edit NAME [--require-active-version=true|false] [--display-name S] [--description S]\n"
    "            [--icon S] [--deprecation-message S] [--default-ttl DURATION]\n"
    "                          change settings (an empty deprecation message undeprecates)\n"
    "  promote NAME VERSION    make VERSION (a name or an id) the active version\n"
    "  archive NAME VERSION    archive a version; unarchive NAME VERSION undoes it\n";

/* Finds a version of template t by name or id. *out new reference. */
static int version_lookup(struct client *c, const json_t *t, const char *ref, json_t **out,
                          struct err *e)
{
    char *path = str_printf("/api/v2/templates/%s/versions", jsonx_get_str(t, "id", ""));
    json_t *list;
    int r = client_json(c, "GET", path, NULL, &list, NULL, e);
    free(path);
    if (r < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(jsonx_get_str(v, "id", ""), ref) == 0 ||
            str_eq_ci(jsonx_get_str(v, "name", ""), ref)) {
            *out = json_incref(v);
            json_decref(list);
            return 0;
        }
    }
    json_decref(list);
    return err_set(e, ERR_NOT_FOUND, "template \"%s\" has no version \"%s\"",
                   jsonx_get_str(t, "name", ""), ref);
}

static int print_log(const char *event, const char *data, void *arg)
{
    if (strcmp(event, "data") != 0)
        return 0;
    json_error_t je;
    json_t *log = json_loads(data, 0, &je);
    if (!log)
        return 0;
    const char *level = jsonx_get_str(log, "log_level", "info");
    fprintf(stderr, "%s%s\n", strcmp(level, "error") == 0 ? "error: " : "",
            jsonx_get_str(log, "output", ""));
    json_decref(log);
    return 0;
}

static int push(struct client *c, const struct cli_globals *g, const char *name, const char *dir,
                bool activate, const char *vname, const char *message)
{
    struct err e = ERR_INIT;
    struct buf tar;
    buf_init(&tar, 0);
    json_t *t = NULL, *file = NULL, *v = NULL, *resp = NULL, *body = NULL;
    char *path = NULL;
    int status = 1;
    if (tarball_pack_dir(dir, &tar, TARBALL_MAX_BYTES, &e) < 0)
        goto fail;
    if (client_raw(c, "POST", "/api/v2/files", tar.data, tar.len, "application/x-tar", &file, NULL,
                   &e) < 0)
        goto fail;
    struct err le = ERR_INIT;
    if (cli_template_by_name(c, name, &t, &le) < 0) {
        if (!err_is(&le, ERR_NOT_FOUND)) {
            err_move(&e, &le);
            goto fail;
        }
        err_clear(&le);
    }
    body = json_pack("{s:s}", "file_id", jsonx_get_str(file, "hash", ""));
    if (t)
        json_object_set_new(body, "template_id", json_string(jsonx_get_str(t, "id", "")));
    if (vname)
        json_object_set_new(body, "name", json_string(vname));
    if (message)
        json_object_set_new(body, "message", json_string(message));
    if (client_json(c, "POST", "/api/v2/templateversions", body, &v, NULL, &e) < 0)
        goto fail;
    char vid[64];
    str_copy(vid, sizeof vid, jsonx_get_str(v, "id", ""));
    path = str_printf("/api/v2/templateversions/%s/logs?follow", vid);
    if (client_sse(c, path, print_log, NULL, &e) < 0)
        goto fail;
    free(path);
    path = str_printf("/api/v2/templateversions/%s", vid);
    json_decref(v);
    v = NULL;
    if (client_json(c, "GET", path, NULL, &v, NULL, &e) < 0)
        goto fail;
    json_t *job = json_object_get(v, "job");
    const char *js = jsonx_get_str(job, "status", "");
    const char *vn = jsonx_get_str(v, "name", "");
    if (strcmp(js, "succeeded") != 0) {
        err_set(&e, ERR_BAD_REQUEST, "the import of version %s %s: %s", vn,
                strcmp(js, "failed") == 0 ? "failed" : js, jsonx_get_str(job, "error", ""));
        goto fail;
    }
    if (!t) {
        json_decref(body);
        body = json_pack("{s:s, s:s}", "name", name, "template_version_id", vid);
        if (client_json(c, "POST", "/api/v2/templates", body, &resp, NULL, &e) < 0)
            goto fail;
        if (!cli_json(g))
            printf("Created template %s with version %s (active).\n", name, vn);
    } else if (activate) {
        json_decref(body);
        body = json_pack("{s:s}", "id", vid);
        free(path);
        path = str_printf("/api/v2/templates/%s/versions", jsonx_get_str(t, "id", ""));
        if (client_json(c, "PATCH", path, body, &resp, NULL, &e) < 0)
            goto fail;
        if (!cli_json(g))
            printf("Pushed version %s of %s; it is now the active version.\n", vn, name);
    } else if (!cli_json(g)) {
        printf("Pushed version %s of %s (not active: run `berth templates promote %s %s`).\n", vn,
               name, name, vn);
    }
    if (cli_json(g))
        cli_print_json(v);
    status = 0;
    goto out;
fail:
    status = cli_fail(&e);
out:
    free(path);
    json_decref(t);
    json_decref(file);
    json_decref(v);
    json_decref(resp);
    json_decref(body);
    buf_free(&tar);
    return status;
}

static int list(struct client *c, const struct cli_globals *g)
{
    struct err e = ERR_INIT;
    json_t *arr;
    if (client_json(c, "GET", "/api/v2/templates", NULL, &arr, NULL, &e) < 0)
        return cli_fail(&e);
    if (cli_json(g)) {
        cli_print_json(arr);
        json_decref(arr);
        return 0;
    }
    const char *headers[] = {"NAME", "DISPLAY NAME", "ACTIVE VERSION", "REQUIRE ACTIVE",
                             "DEPRECATED"};
    struct table tb;
    table_init(&tb, 5, headers);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        char *path =
            str_printf("/api/v2/templateversions/%s", jsonx_get_str(t, "active_version_id", ""));
        json_t *v = NULL;
        client_json(c, "GET", path, NULL, &v, NULL, NULL);
        free(path);
        table_add(&tb, jsonx_get_str(t, "name", ""), jsonx_get_str(t, "display_name", ""),
                  jsonx_get_str(v, "name", "?"),
                  json_is_true(json_object_get(t, "require_active_version")) ? "yes" : "no",
                  json_is_true(json_object_get(t, "deprecated"))
                      ? jsonx_get_str(t, "deprecation_message", "yes")
                      : "no");
        json_decref(v);
    }
    if (tb.nrows == 0)
        printf("No templates yet. Push one with `berth templates push NAME -d DIR`.\n");
    else
        table_print(&tb);
    json_decref(arr);
    return 0;
}

static int versions(struct client *c, const struct cli_globals *g, const char *name)
{
    struct err e = ERR_INIT;
    json_t *t, *arr;
    if (cli_template_by_name(c, name, &t, &e) < 0)
        return cli_fail(&e);
    char *path = str_printf("/api/v2/templates/%s/versions", jsonx_get_str(t, "id", ""));
    int r = client_json(c, "GET", path, NULL, &arr, NULL, &e);
    free(path);
    if (r < 0) {
        json_decref(t);
        return cli_fail(&e);
    }
    if (cli_json(g)) {
        cli_print_json(arr);
    } else {
        const char *headers[] = {"NAME", "ID", "IMPORT", "ACTIVE", "ARCHIVED", "CREATED"};
        struct table tb;
        table_init(&tb, 6, headers);
        const char *active = jsonx_get_str(t, "active_version_id", "");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            char age[32];
            cli_age(jsonx_get_str(v, "created_at", NULL), age, sizeof age);
            table_add(&tb, jsonx_get_str(v, "name", ""), jsonx_get_str(v, "id", ""),
                      jsonx_get_str(json_object_get(v, "job"), "status", ""),
                      strcmp(jsonx_get_str(v, "id", ""), active) == 0 ? "yes" : "",
                      json_is_true(json_object_get(v, "archived")) ? "yes" : "", age);
        }
        table_print(&tb);
    }
    json_decref(arr);
    json_decref(t);
    return 0;
}

static int edit(struct client *c, const struct cli_globals *g, const char *name, const char *rav,
                const char *display, const char *desc, const char *icon, const char *deprecation,
                const char *ttl)
{
    struct err e = ERR_INIT;
    json_t *body = json_object();
    if (rav) {
        if (strcmp(rav, "true") && strcmp(rav, "false")) {
            json_decref(body);
            return cli_usage_error(usage, "--require-active-version wants true or false");
        }
        json_object_set_new(body, "require_active_version", json_boolean(!strcmp(rav, "true")));
    }
    if (display)
        json_object_set_new(body, "display_name", json_string(display));
    if (desc)
        json_object_set_new(body, "description", json_string(desc));
    if (icon)
        json_object_set_new(body, "icon", json_string(icon));
    if (deprecation)
        json_object_set_new(body, "deprecation_message", json_string(deprecation));
    if (ttl) {
        int64_t ms;
        if (duration_parse(ttl, &ms) < 0) {
            json_decref(body);
            return cli_usage_error(usage, "--default-ttl wants a duration like 8h or 30m");
        }
        json_object_set_new(body, "default_ttl_ms", json_integer(ms));
    }
    if (json_object_size(body) == 0) {
        json_decref(body);
        return cli_usage_error(usage, "edit needs at least one setting to change");
    }
    json_t *t, *resp = NULL;
    if (cli_template_by_name(c, name, &t, &e) < 0) {
        json_decref(body);
        return cli_fail(&e);
    }
    char *path = str_printf("/api/v2/templates/%s", jsonx_get_str(t, "id", ""));
    int r = client_json(c, "PATCH", path, body, &resp, NULL, &e);
    free(path);
    json_decref(body);
    json_decref(t);
    if (r < 0)
        return cli_fail(&e);
    if (cli_json(g))
        cli_print_json(resp);
    else
        printf("Updated template %s (require active version: %s%s%s).\n", name,
               json_is_true(json_object_get(resp, "require_active_version")) ? "yes" : "no",
               json_is_true(json_object_get(resp, "deprecated")) ? ", deprecated: " : "",
               json_is_true(json_object_get(resp, "deprecated"))
                   ? jsonx_get_str(resp, "deprecation_message", "")
                   : "");
    json_decref(resp);
    return 0;
}

static int version_action(struct client *c, const struct cli_globals *g, const char *action,
                          const char *name, const char *ref)
{
    struct err e = ERR_INIT;
    json_t *t = NULL, *v = NULL, *resp = NULL, *body = NULL;
    char *path = NULL;
    int status = 1;
    if (cli_template_by_name(c, name, &t, &e) < 0 || version_lookup(c, t, ref, &v, &e) < 0)
        goto fail;
    const char *vid = jsonx_get_str(v, "id", "");
    if (strcmp(action, "promote") == 0) {
        body = json_pack("{s:s}", "id", vid);
        path = str_printf("/api/v2/templates/%s/versions", jsonx_get_str(t, "id", ""));
        if (client_json(c, "PATCH", path, body, &resp, NULL, &e) < 0)
            goto fail;
    } else {
        path = str_printf("/api/v2/templateversions/%s/%s", vid, action);
        if (client_json(c, "POST", path, NULL, &resp, NULL, &e) < 0)
            goto fail;
    }
    if (cli_json(g))
        cli_print_json(resp);
    else if (strcmp(action, "promote") == 0)
        printf("Version %s of %s is now the active version.\n", jsonx_get_str(v, "name", ""), name);
    else
        printf("Version %s of %s %sd.\n", jsonx_get_str(v, "name", ""), name, action);
    status = 0;
    goto out;
fail:
    status = cli_fail(&e);
out:
    free(path);
    json_decref(t);
    json_decref(v);
    json_decref(resp);
    json_decref(body);
    return status;
}

int cmd_templates(int argc, char **argv)
{
    char *dir = NULL, *vname = NULL, *message = NULL, *rav = NULL, *display = NULL, *desc = NULL,
         *icon = NULL, *deprecation = NULL, *ttl = NULL;
    bool activate = false;
    const struct flag flags[] = {
        {"directory", 'd', FLAG_STRING, &dir, NULL, "DIR", "push: the template directory"},
        {"activate", 0, FLAG_BOOL, &activate, NULL, NULL, "push: promote the new version"},
        {"name", 0, FLAG_STRING, &vname, NULL, "VERSION", "push: the new version's name"},
        {"message", 'm', FLAG_STRING, &message, NULL, "TEXT", "push: a note for the version"},
        {"require-active-version", 0, FLAG_STRING, &rav, NULL, "BOOL",
         "edit: starts must use the active version"},
        {"display-name", 0, FLAG_STRING, &display, NULL, "TEXT", "edit"},
        {"description", 0, FLAG_STRING, &desc, NULL, "TEXT", "edit"},
        {"icon", 0, FLAG_STRING, &icon, NULL, "URL", "edit"},
        {"deprecation-message", 0, FLAG_STRING, &deprecation, NULL, "TEXT",
         "edit: deprecate (empty: undeprecate)"},
        {"default-ttl", 0, FLAG_STRING, &ttl, NULL, "DURATION", "edit: default autostop"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash, status;
    int r = cli_parse(argc, argv, 2, usage, flags, sizeof flags / sizeof flags[0], &g, &pos, &npos,
                      &ndash);
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    if (npos < 1) {
        status = cli_usage_error(usage, "templates needs a subcommand");
        goto out;
    }
    const char *sub = pos[0];
    struct client c;
    struct err e = ERR_INIT;
    if (client_open(&c, &g, true, &e) < 0) {
        status = cli_fail(&e);
        goto out;
    }
    if (strcmp(sub, "push") == 0 && npos == 2)
        status = push(&c, &g, pos[1], dir ? dir : ".", activate, vname, message);
    else if (strcmp(sub, "list") == 0 && npos == 1)
        status = list(&c, &g);
    else if (strcmp(sub, "versions") == 0 && npos == 2)
        status = versions(&c, &g, pos[1]);
    else if (strcmp(sub, "edit") == 0 && npos == 2)
        status = edit(&c, &g, pos[1], rav, display, desc, icon, deprecation, ttl);
    else if ((strcmp(sub, "promote") == 0 || strcmp(sub, "archive") == 0 ||
              strcmp(sub, "unarchive") == 0) &&
             npos == 3)
        status = version_action(&c, &g, sub, pos[1], pos[2]);
    else
        status = cli_usage_error(usage, "bad use of `templates %s`", sub);
    client_close(&c);
out:
    free(pos);
    cli_globals_free(&g);
    free(dir);
    free(vname);
    free(message);
    free(rav);
    free(display);
    free(desc);
    free(icon);
    free(deprecation);
    free(ttl);
    return status;
}
