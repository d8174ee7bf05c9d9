/* cmd_workspaces.c - berth create, start, stop, restart, delete, list, show, logs. */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Shared state of one workspace command. */
struct wcmd {
    struct cli_globals g;
    struct client c;
    char **pos;
    int npos;
    char *template_name;
    struct flag_list params;
    bool yes, follow;
    int build_number;
};

static void wcmd_free(struct wcmd *w)
{
    client_close(&w->c);
    free(w->pos);
    cli_globals_free(&w->g);
    free(w->template_name);
    flag_list_free(&w->params);
}

/* Parses flags and opens the client; returns -1 (status set) when the command must end. */
static int wcmd_open(struct wcmd *w, int argc, char **argv, const char *usage, int npos,
                     int *status)
{
    memset(w, 0, sizeof *w);
    const struct flag flags[] = {
        {"template", 't', FLAG_STRING, &w->template_name, NULL, "TEMPLATE", "create: the template"},
        {"parameter", 0, FLAG_LIST, &w->params, NULL, "NAME=VALUE",
         "a parameter value (repeatable)"},
        {"yes", 'y', FLAG_BOOL, &w->yes, NULL, NULL, "do not ask"},
        {"follow", 'f', FLAG_BOOL, &w->follow, NULL, NULL, "logs: follow until the build ends"},
        {"build", 0, FLAG_INT, &w->build_number, NULL, "N", "logs: build number (default: latest)"},
    };
    int ndash;
    int r = cli_parse(argc, argv, 2, usage, flags, sizeof flags / sizeof flags[0], &w->g, &w->pos,
                      &w->npos, &ndash);
    if (r != 0) {
        *status = r < 0 ? 2 : 0;
        return -1;
    }
    if (w->npos != npos) {
        *status = cli_usage_error(usage, "expected %d argument%s", npos, npos == 1 ? "" : "s");
        return -1;
    }
    struct err e = ERR_INIT;
    if (client_open(&w->c, &w->g, true, &e) < 0) {
        *status = cli_fail(&e);
        return -1;
    }
    return 0;
}

/* [{name, value}] from --parameter k=v flags. */
static int params_json(const struct flag_list *l, json_t **out, struct err *e)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const char *eq = strchr(l->items[i], '=');
        if (!eq || eq == l->items[i]) {
            json_decref(arr);
            return err_set(e, ERR_BAD_REQUEST, "--parameter wants NAME=VALUE, not \"%s\"",
                           l->items[i]);
        }
        char *name = xstrndup(l->items[i], (size_t)(eq - l->items[i]));
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "value", eq + 1));
        free(name);
    }
    *out = arr;
    return 0;
}

static int get_workspace(struct client *c, const char *name, json_t **out, struct err *e)
{
    char *esc = client_escape(name);
    char *path = str_printf("/api/v2/users/me/workspace/%s", esc);
    int r = client_json(c, "GET", path, NULL, out, NULL, e);
    free(path);
    free(esc);
    if (r < 0 && err_is(e, ERR_NOT_FOUND))
        err_set(e, ERR_NOT_FOUND, "workspace \"%s\" not found", name);
    return r;
}

/* Follows build b to its end and reports; prints the workspace as JSON with -o json. */
static int follow_and_report(struct wcmd *w, const json_t *b, const char *verb, const char *name)
{
    struct err e = ERR_INIT;
    json_t *final = NULL, *ws = NULL;
    char label[128];
    snprintf(label, sizeof label, "%s %s (build #%lld)", verb, name,
             (long long)json_integer_value(json_object_get(b, "build_number")));
    int status = 1;
    if (cli_follow_build(&w->c, jsonx_get_str(b, "id", ""), label, &final, &e) < 0 ||
        cli_build_outcome(final, &e) < 0)
        goto fail;
    bool start = strcmp(jsonx_get_str(final, "transition", ""), "start") == 0;
    if (start && cli_wait_agents(&w->c, jsonx_get_str(final, "workspace_id", ""), &e) < 0)
        goto fail;
    if (cli_json(&w->g)) {
        char *path = str_printf("/api/v2/workspaces/%s", jsonx_get_str(final, "workspace_id", ""));
        if (client_json(&w->c, "GET", path, NULL, &ws, NULL, &e) < 0) {
            free(path);
            goto fail;
        }
        free(path);
        cli_print_json(ws);
    } else {
        printf("Workspace %s is %s.\n", name,
               start ? "ready" : jsonx_get_str(final, "status", "?"));
    }
    status = 0;
    goto out;
fail:
    status = cli_fail(&e);
out:
    json_decref(final);
    json_decref(ws);
    return status;
}

/* Asks for required parameters of the template's active version that were not given. */
static int prompt_params(struct wcmd *w, const json_t *t, json_t *params, struct err *e)
{
    if (w->yes || !isatty(0))
        return 0;
    char *path = str_printf("/api/v2/templateversions/%s/rich-parameters",
                            jsonx_get_str(t, "active_version_id", ""));
    json_t *defs;
    int r = client_json(&w->c, "GET", path, NULL, &defs, NULL, e);
    free(path);
    if (r < 0)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        if (!json_is_true(json_object_get(d, "required")))
            continue;
        const char *name = jsonx_get_str(d, "name", "");
        bool given = false;
        size_t k;
        json_t *p;
        json_array_foreach(params, k, p) given =
            given || strcmp(jsonx_get_str(p, "name", ""), name) == 0;
        if (given)
            continue;
        const char *desc = jsonx_get_str(d, "description", "");
        fprintf(stderr, "%s%s%s: ", name, *desc ? " - " : "", desc);
        char line[4096];
        if (!fgets(line, sizeof line, stdin))
            break;
        str_trim(line);
        json_array_append_new(params, json_pack("{s:s, s:s}", "name", name, "value", line));
    }
    json_decref(defs);
    return 0;
}

static const char *create_usage =
    "usage: berth create NAME -t TEMPLATE [--parameter NAME=VALUE ...] [-y]\n"
    "\n"
    "Creates a workspace from TEMPLATE's active version and follows its first build. On a\n"
    "terminal, required parameters not given are asked for (unless -y).\n";

int cmd_create(int argc, char **argv)
{
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, create_usage, 1, &status) < 0) {
        wcmd_free(&w);
        return status;
    }
    struct err e = ERR_INIT;
    json_t *t = NULL, *params = NULL, *ws = NULL, *body = NULL;
    if (!w.template_name) {
        status = cli_usage_error(create_usage, "create needs -t TEMPLATE");
        goto out;
    }
    if (cli_template_by_name(&w.c, w.template_name, &t, &e) < 0 ||
        params_json(&w.params, &params, &e) < 0 || prompt_params(&w, t, params, &e) < 0)
        goto fail;
    body = json_pack("{s:s, s:s, s:O}", "name", w.pos[0], "template_id", jsonx_get_str(t, "id", ""),
                     "rich_parameter_values", params);
    if (client_json(&w.c, "POST", "/api/v2/users/me/workspaces", body, &ws, NULL, &e) < 0)
        goto fail;
    status = follow_and_report(&w, json_object_get(ws, "latest_build"), "Creating", w.pos[0]);
    goto out;
fail:
    status = cli_fail(&e);
out:
    json_decref(t);
    json_decref(params);
    json_decref(ws);
    json_decref(body);
    wcmd_free(&w);
    return status;
}

/* Posts a build; start builds on require_active_version templates pass the active version. */
static int transition(struct wcmd *w, const char *name, const char *tr, const char *verb)
{
    struct err e = ERR_INIT;
    json_t *ws = NULL, *params = NULL, *body = NULL, *b = NULL;
    int status;
    if (get_workspace(&w->c, name, &ws, &e) < 0 || params_json(&w->params, &params, &e) < 0)
        goto fail;
    body = json_pack("{s:s, s:O}", "transition", tr, "rich_parameter_values", params);
    if (strcmp(tr, "start") == 0 &&
        json_is_true(json_object_get(ws, "template_require_active_version"))) {
        const char *active = jsonx_get_str(ws, "template_active_version_id", "");
        json_object_set_new(body, "template_version_id", json_string(active));
        const json_t *lb = json_object_get(ws, "latest_build");
        if (!cli_json(&w->g) && strcmp(jsonx_get_str(lb, "template_version_id", ""), active) != 0)
            fprintf(stderr,
                    "The template requires the active version: starting %s on it (it was on "
                    "%s).\n",
                    name, jsonx_get_str(lb, "template_version_name", "an older version"));
    }
    char *path = str_printf("/api/v2/workspaces/%s/builds", jsonx_get_str(ws, "id", ""));
    int r = client_json(&w->c, "POST", path, body, &b, NULL, &e);
    free(path);
    if (r < 0)
        goto fail;
    status = follow_and_report(w, b, verb, name);
    goto out;
fail:
    status = cli_fail(&e);
out:
    json_decref(ws);
    json_decref(params);
    json_decref(body);
    json_decref(b);
    return status;
}

static int simple_transition(int argc, char **argv, const char *usage, const char *tr,
                             const char *verb)
{
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 1, &status) == 0)
        status = transition(&w, w.pos[0], tr, verb);
    wcmd_free(&w);
    return status;
}

int cmd_start(int argc, char **argv)
{
    return simple_transition(argc, argv,
                             "usage: berth start NAME [--parameter NAME=VALUE ...]\n\nStarts a "
                             "workspace; on a template that requires its active version, starts "
                             "on that version and says so.\n",
                             "start", "Starting");
}

int cmd_stop(int argc, char **argv)
{
    return simple_transition(argc, argv, "usage: berth stop NAME\n\nStops a workspace.\n", "stop",
                             "Stopping");
}

int cmd_restart(int argc, char **argv)
{
    const char *usage = "usage: berth restart NAME [--parameter NAME=VALUE ...]\n\nStops, then "
                        "starts a workspace.\n";
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 1, &status) == 0) {
        struct flag_list saved = w.params;
        memset(&w.params, 0, sizeof w.params);
        status = transition(&w, w.pos[0], "stop", "Stopping");
        w.params = saved;
        if (status == 0)
            status = transition(&w, w.pos[0], "start", "Starting");
    }
    wcmd_free(&w);
    return status;
}

int cmd_delete(int argc, char **argv)
{
    const char *usage = "usage: berth delete NAME [-y]\n\nDeletes a workspace (asks first on a "
                        "terminal unless -y).\n";
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 1, &status) == 0) {
        if (!w.yes && isatty(0)) {
            fprintf(stderr, "Delete workspace %s and everything in it? [y/N] ", w.pos[0]);
            char line[16];
            if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
                fprintf(stderr, "Not deleted.\n");
                wcmd_free(&w);
                return 1;
            }
        }
        status = transition(&w, w.pos[0], "delete", "Deleting");
    }
    wcmd_free(&w);
    return status;
}

int cmd_list(int argc, char **argv)
{
    const char *usage = "usage: berth list\n\nLists your workspaces.\n";
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 0, &status) < 0) {
        wcmd_free(&w);
        return status;
    }
    struct err e = ERR_INIT;
    json_t *resp;
    if (client_json(&w.c, "GET", "/api/v2/workspaces?q=owner%3Ame", NULL, &resp, NULL, &e) < 0) {
        wcmd_free(&w);
        return cli_fail(&e);
    }
    json_t *arr = json_object_get(resp, "workspaces");
    if (cli_json(&w.g)) {
        cli_print_json(arr);
    } else if (json_array_size(arr) == 0) {
        printf("No workspaces yet. Create one with `berth create NAME -t TEMPLATE`.\n");
    } else {
        const char *headers[] = {"NAME", "TEMPLATE", "STATUS", "BUILD", "LAST BUILT", "OUTDATED"};
        struct table tb;
        table_init(&tb, 6, headers);
        size_t i;
        json_t *ws;
        json_array_foreach(arr, i, ws)
        {
            const json_t *lb = json_object_get(ws, "latest_build");
            char num[24], age[32];
            snprintf(num, sizeof num, "#%lld",
                     (long long)json_integer_value(json_object_get(lb, "build_number")));
            cli_age(jsonx_get_str(lb, "created_at", NULL), age, sizeof age);
            table_add(&tb, jsonx_get_str(ws, "name", ""), jsonx_get_str(ws, "template_name", ""),
                      jsonx_get_str(lb, "status", ""), num, age,
                      json_is_true(json_object_get(ws, "outdated")) ? "yes" : "");
        }
        table_print(&tb);
    }
    json_decref(resp);
    wcmd_free(&w);
    return 0;
}

int cmd_show(int argc, char **argv)
{
    const char *usage = "usage: berth show NAME\n\nShows a workspace.\n";
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 1, &status) < 0) {
        wcmd_free(&w);
        return status;
    }
    struct err e = ERR_INIT;
    json_t *ws;
    if (get_workspace(&w.c, w.pos[0], &ws, &e) < 0) {
        wcmd_free(&w);
        return cli_fail(&e);
    }
    if (cli_json(&w.g)) {
        cli_print_json(ws);
    } else {
        const json_t *lb = json_object_get(ws, "latest_build");
        printf("Workspace:  %s/%s (%s)\n", jsonx_get_str(ws, "owner_name", ""),
               jsonx_get_str(ws, "name", ""), jsonx_get_str(ws, "id", ""));
        printf("Template:   %s, version %s%s\n", jsonx_get_str(ws, "template_name", ""),
               jsonx_get_str(lb, "template_version_name", ""),
               json_is_true(json_object_get(ws, "outdated")) ? " (outdated)" : "");
        printf("Status:     %s (build #%lld, %s)\n", jsonx_get_str(lb, "status", ""),
               (long long)json_integer_value(json_object_get(lb, "build_number")),
               jsonx_get_str(lb, "transition", ""));
        const char *err = jsonx_get_str(json_object_get(lb, "job"), "error", "");
        if (*err)
            printf("Error:      %s\n", err);
        size_t i, k;
        json_t *res, *agent;
        json_array_foreach(json_object_get(lb, "resources"), i, res)
        {
            json_array_foreach(json_object_get(res, "agents"), k, agent) printf(
                "Agent:      %s (%s, %s)\n", jsonx_get_str(agent, "name", ""),
                jsonx_get_str(agent, "status", ""), jsonx_get_str(agent, "lifecycle_state", ""));
        }
    }
    json_decref(ws);
    wcmd_free(&w);
    return 0;
}

static int print_log_line(const char *event, const char *data, void *arg)
{
    if (strcmp(event, "data") != 0)
        return 0;
    json_error_t je;
    json_t *log = json_loads(data, 0, &je);
    if (log)
        printf("%s\n", jsonx_get_str(log, "output", ""));
    fflush(stdout);
    json_decref(log);
    return 0;
}

int cmd_logs(int argc, char **argv)
{
    const char *usage = "usage: berth logs NAME [-f] [--build N]\n\nPrints the logs of the "
                        "latest build (or build N); -f follows them until the build ends.\n";
    struct wcmd w;
    int status;
    if (wcmd_open(&w, argc, argv, usage, 1, &status) < 0) {
        wcmd_free(&w);
        return status;
    }
    struct err e = ERR_INIT;
    json_t *ws = NULL, *b = NULL, *logs = NULL;
    char *path = NULL;
    if (get_workspace(&w.c, w.pos[0], &ws, &e) < 0)
        goto fail;
    const char *build_id = jsonx_get_str(json_object_get(ws, "latest_build"), "id", "");
    if (w.build_number > 0) {
        char *esc = client_escape(w.pos[0]);
        path = str_printf("/api/v2/users/me/workspace/%s/builds/%d", esc, w.build_number);
        free(esc);
        if (client_json(&w.c, "GET", path, NULL, &b, NULL, &e) < 0)
            goto fail;
        build_id = jsonx_get_str(b, "id", "");
        free(path);
        path = NULL;
    }
    if (w.follow) {
        path = str_printf("/api/v2/workspacebuilds/%s/logs?follow", build_id);
        if (client_sse(&w.c, path, print_log_line, NULL, &e) < 0)
            goto fail;
    } else {
        path = str_printf("/api/v2/workspacebuilds/%s/logs", build_id);
        if (client_json(&w.c, "GET", path, NULL, &logs, NULL, &e) < 0)
            goto fail;
        if (cli_json(&w.g)) {
            cli_print_json(logs);
        } else {
            size_t i;
            json_t *l;
            json_array_foreach(logs, i, l) printf("%s\n", jsonx_get_str(l, "output", ""));
        }
    }
    status = 0;
    goto out;
fail:
    status = cli_fail(&e);
out:
    free(path);
    json_decref(ws);
    json_decref(b);
    json_decref(logs);
    wcmd_free(&w);
    return status;
}
