/* cmd_exec.c - berth exec NAME -- COMMAND...: runs a command through the workspace's agent. */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: berth exec NAME [--timeout DURATION] [--workdir DIR] -- COMMAND [ARG...]\n"
    "\n"
    "Runs COMMAND in the workspace through its agent (with /bin/sh -c and the arguments quoted),\n"
    "prints its output and exits with its exit status. The default time limit is 10m.\n";

/* One shell word: single-quoted unless it is made of safe characters only. */
static void quote_word(struct buf *b, const char *w)
{
    bool safe = *w != '\0';
    for (const char *p = w; *p && safe; p++)
        safe =
            strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,@%+", *p);
    if (safe) {
        buf_puts(b, w);
        return;
    }
    buf_putc(b, '\'');
    for (const char *p = w; *p; p++) {
        if (*p == '\'')
            buf_puts(b, "'\\''");
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '\'');
}

/* The workspace's agent: the one whose name ends in -berth-chat, else the first. */
static const json_t *pick_agent(const json_t *ws)
{
    const json_t *first = NULL;
    size_t i, k;
    json_t *res, *agent;
    json_array_foreach(json_object_get(json_object_get(ws, "latest_build"), "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "agents"), k, agent)
        {
            if (!first)
                first = agent;
            if (str_has_suffix(jsonx_get_str(agent, "name", ""), "-berth-chat"))
                return agent;
        }
    }
    return first;
}

int cmd_exec(int argc, char **argv)
{
    char *timeout = NULL, *workdir = NULL;
    const struct flag flags[] = {
        {"timeout", 0, FLAG_STRING, &timeout, NULL, "DURATION", "time limit (default 10m)"},
        {"workdir", 'w', FLAG_STRING, &workdir, NULL, "DIR", "working directory"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash, status = 1;
    struct client c;
    memset(&c, 0, sizeof c);
    struct err e = ERR_INIT;
    json_t *ws = NULL, *body = NULL, *res = NULL;
    struct buf cmd;
    buf_init(&cmd, 64 * 1024);
    int r = cli_parse(argc, argv, 2, usage, flags, 2, &g, &pos, &npos, &ndash);
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    int first_cmd = ndash >= 0 ? ndash : 1;
    if (npos < 2 || (ndash >= 0 && ndash != 1)) {
        status = cli_usage_error(usage, "exec needs a workspace and a command after --");
        goto out;
    }
    for (int i = first_cmd; i < npos; i++) {
        if (i > first_cmd)
            buf_putc(&cmd, ' ');
        quote_word(&cmd, pos[i]);
    }
    int64_t ms = 600000;
    if (timeout && duration_parse(timeout, &ms) < 0) {
        status = cli_usage_error(usage, "--timeout wants a duration like 30s or 10m");
        goto out;
    }
    if (client_open(&c, &g, true, &e) < 0)
        goto fail;
    char *esc = client_escape(pos[0]);
    char *path = str_printf("/api/v2/users/me/workspace/%s", esc);
    free(esc);
    r = client_json(&c, "GET", path, NULL, &ws, NULL, &e);
    free(path);
    if (r < 0) {
        if (err_is(&e, ERR_NOT_FOUND))
            err_set(&e, ERR_NOT_FOUND, "workspace \"%s\" not found", pos[0]);
        goto fail;
    }
    const json_t *agent = pick_agent(ws);
    if (!agent) {
        err_set(&e, ERR_BAD_REQUEST,
                "workspace %s has no running agent: start it with `berth "
                "start %s`",
                pos[0], pos[0]);
        goto fail;
    }
    body = json_pack("{s:s, s:I}", "command", buf_str(&cmd), "timeout_ms", (json_int_t)ms);
    if (workdir)
        json_object_set_new(body, "workdir", json_string(workdir));
    path = str_printf("/api/v2/workspaceagents/%s/exec", jsonx_get_str(agent, "id", ""));
    r = client_json(&c, "POST", path, body, &res, NULL, &e);
    free(path);
    if (r < 0)
        goto fail;
    if (cli_json(&g)) {
        cli_print_json(res);
    } else {
        fputs(jsonx_get_str(res, "output", ""), stdout);
        fflush(stdout);
        if (json_is_true(json_object_get(res, "truncated")))
            fprintf(stderr, "berth: the output was cut at 32 KiB\n");
    }
    if (json_is_true(json_object_get(res, "timed_out"))) {
        fprintf(stderr, "berth: the command timed out and was stopped\n");
        status = 124;
    } else {
        status = (int)json_integer_value(json_object_get(res, "exit_code")) & 0xFF;
    }
    goto out;
fail:
    status = cli_fail(&e);
out:
    json_decref(ws);
    json_decref(body);
    json_decref(res);
    buf_free(&cmd);
    client_close(&c);
    free(pos);
    cli_globals_free(&g);
    free(timeout);
    free(workdir);
    return status;
}
