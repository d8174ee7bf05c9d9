/* tool_execute.c - execute: runs a shell command in the chat's workspace through its agent, in the
 * foreground (waiting up to a time-out) or in the background (reference §3.6).
 *
 * The agent kills a foreground command at its time-out and reports timed_out, so unlike the
 * reference a timed-out command leaves no process to re-attach to: the answer has no
 * background_process_id then.
 */
#include "chat/internal.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

#define TIMEOUT_DEFAULT_MS 10000
#define TIMEOUT_MAX_MS     3600000 /* the agent's limit; longer requests are cut, not refused */
#define OUTPUT_MAX         32768

#define FILE_DUMP_NOTE                                                                             \
    "Consider using read_file instead of dumping file contents with shell commands."

/* Whitespace as the reference's patterns (\s) see it. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* After word at the start of s and at least one space: where the spaces end, or NULL. */
static const char *after_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s, word, n) != 0 || !is_space(s[n]))
        return NULL;
    s += n;
    while (is_space(*s))
        s++;
    return s;
}

/* Whether the command dumps whole files: `cat ...`, or rg/grep with --include-all (on the line
 * that follows the command name) or with -l as their first flag. */
static bool dumps_files(const char *cmd)
{
    if (after_word(cmd, "cat"))
        return true;
    const char *rest = after_word(cmd, "rg");
    if (!rest)
        rest = after_word(cmd, "grep");
    if (!rest)
        return false;
    if (after_word(rest, "-l"))
        return true;
    const char *nl = strchr(rest, '\n');
    char *line = nl ? xstrndup(rest, (size_t)(nl - rest)) : xstrdup(rest);
    bool found = strstr(line, "--include-all") != NULL;
    free(line);
    return found;
}

/* The command with a trailing single "&" (not "&&" or "|&") removed, or NULL when it has none:
 * the model asked for the background the shell's way. */
static char *strip_background(const char *command)
{
    char *t = str_trim(xstrdup(command));
    size_t n = strlen(t);
    if (n == 0 || t[n - 1] != '&' || (n >= 2 && (t[n - 2] == '&' || t[n - 2] == '|'))) {
        free(t);
        return NULL;
    }
    t[n - 1] = '\0';
    return str_trim(t);
}

static int64_t elapsed_ms(const struct tool_env *env, int64_t start_us)
{
    return (env->clock.mono_us(env->clock.arg) - start_us) / 1000;
}

/* The answer to a foreground run from the agent's {exit_code, output, truncated, timed_out}. */
static json_t *foreground_result(const json_t *r, const char *command, int64_t timeout_ms,
                                 int64_t wall_ms)
{
    bool timed_out = json_is_true(json_object_get(r, "timed_out"));
    bool truncated = json_is_true(json_object_get(r, "truncated"));
    json_int_t code = timed_out ? -1 : json_integer_value(json_object_get(r, "exit_code"));
    const char *output = jsonx_get_str(r, "output", "");
    size_t len = strlen(output);
    if (len > OUTPUT_MAX) { /* the agent already caps it; never hand the model more */
        len = utf8_cut(output, OUTPUT_MAX);
        truncated = true;
    }
    json_t *o = json_pack("{s:b, s:s%, s:I, s:I}", "success", (int)(code == 0), "output", output,
                          len, "exit_code", code, "wall_duration_ms", (json_int_t)wall_ms);
    if (timed_out) {
        char d[32];
        duration_format(timeout_ms, d, sizeof d);
        json_object_set_new(o, "error", json_sprintf("command timed out after %s", d));
    }
    if (truncated)
        json_object_set_new(o, "truncated", json_true());
    if (dumps_files(command))
        json_object_set_new(o, "note", json_string(FILE_DUMP_NOTE));
    return o;
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *command, *timeout, *workdir;
    bool background = false;
    if (tool_arg_string(call->args, "command", &command, out) < 0 ||
        tool_arg_string(call->args, "timeout", &timeout, out) < 0 ||
        tool_arg_string(call->args, "workdir", &workdir, out) < 0 ||
        tool_arg_bool(call->args, "run_in_background", &background, out) < 0)
        return;
    char *cmd = NULL;
    if (command && !background)
        cmd = strip_background(command);
    background = background || cmd;
    if (!cmd)
        cmd = xstrdup(command ? command : "");
    json_t *req = NULL, *r = NULL;
    if (!cmd[0]) {
        tool_text_error(out, "command is required");
        goto done;
    }

    /* The time-out applies to foreground runs only; a background run ignores it entirely. */
    int64_t timeout_ms = TIMEOUT_DEFAULT_MS;
    if (timeout && !background) {
        char *why = NULL, *q = str_quote(timeout);
        if (tool_duration(timeout, &timeout_ms, &why) < 0)
            tool_text_error(out, "invalid timeout %s: %s", q, why);
        else if (timeout_ms <= 0)
            tool_text_error(out, "timeout must be positive, got %s", q);
        free(why);
        free(q);
        if (out->is_error)
            goto done;
        if (timeout_ms > TIMEOUT_MAX_MS)
            timeout_ms = TIMEOUT_MAX_MS;
    }

    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        goto done;
    req = json_pack("{s:s, s:s}", "type", "exec", "command", cmd);
    if (workdir && workdir[0])
        json_object_set_new(req, "workdir", json_string(workdir));
    if (background)
        json_object_set_new(req, "background", json_true());
    else
        json_object_set_new(req, "timeout_ms", json_integer(timeout_ms));

    int64_t start = env->clock.mono_us(env->clock.arg);
    int64_t wait_ms = background ? TOOL_AGENT_CALL_MS : timeout_ms + TOOL_AGENT_CALL_MARGIN_MS;
    if (tool_agent_request(env, agent_id, req, wait_ms, call->cancel, NULL, &r, out) < 0)
        goto done;
    if (background)
        tool_result(out, json_pack("{s:b, s:i, s:I, s:s}", "success", 1, "exit_code", 0,
                                   "wall_duration_ms", (json_int_t)elapsed_ms(env, start),
                                   "background_process_id", jsonx_get_str(r, "process_id", "")));
    else
        tool_result(out, foreground_result(r, cmd, timeout_ms, elapsed_ms(env, start)));

done:
    json_decref(r);
    json_decref(req);
    free(cmd);
}

const struct tool_def tool_execute = {
    .name = "execute",
    .description =
        "Run a shell command in the chat's workspace (under \"sh -c\", non-interactive: editors "
        "and pagers are disabled). By default it waits for the command to finish, at most the "
        "timeout (10s unless you set one, e.g. '30s' or '5m'; at most 1h), and returns "
        "{success, output, exit_code, wall_duration_ms} plus error when it failed to finish in "
        "time, truncated when the output was cut (32 KiB at most) and note with advice. Use "
        "run_in_background=true for servers, watchers and other long-running processes: it "
        "returns at once with background_process_id; read its output later with process_output "
        "and stop it with process_signal. Do not end the command with '&' to background it; use "
        "run_in_background. Prefer read_file to reading files with cat.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"command\":{\"type\":\"string\",\"description\":\"The shell command to run (POSIX sh "
        "syntax).\"},"
        "\"timeout\":{\"type\":\"string\",\"description\":\"How long to wait for a foreground "
        "command, as a duration such as '30s', '5m' or '1h' (default 10s, at most 1h). The "
        "command is stopped when it runs longer. Ignored with run_in_background.\"},"
        "\"workdir\":{\"type\":\"string\",\"description\":\"The directory to run the command in "
        "(default: the workspace's directory; relative paths are taken from there).\"},"
        "\"run_in_background\":{\"type\":\"boolean\",\"description\":\"Start the command and "
        "return at once with its background_process_id instead of waiting for it.\"}},"
        "\"required\":[\"command\"],\"additionalProperties\":false}",
    .run = run,
};
