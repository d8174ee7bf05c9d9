/* ops.h - what the in-workspace agent does for the server: run commands (in the foreground or in
 * the background), report on background processes, read, write and edit files.
 *
 * Pure "JSON request in, JSON result or error out": no networking. A request is an object with a
 * "type" and the fields of that type; the result is a JSON object. The networking part of
 * `berth agent` calls agent_ops_handle from its worker threads, several at once.
 *
 * Request types (all results are objects):
 *   exec            {command, workdir?, env?, timeout_ms? (default 10000, max 3600000),
 *                    background?}
 *                   foreground -> {exit_code, output, truncated, duration_ms, timed_out}
 *                   background -> {process_id}
 *   process_output  {process_id, wait_ms? (default 0 = snapshot, max 300000)}
 *                   -> {process_id, running, exit_code|null, output, truncated, duration_ms}
 *   process_list    -> {processes: [{process_id, command, running, exit_code|null, started_at,
 *                    duration_ms}]}
 *   process_signal  {process_id, signal: "terminate"|"kill"} -> {process_id, signal, sent}
 *   read_file       {path, offset? (1-based line, default 1), limit? (default 2000, max 10000)}
 *                   file -> {path, content, file_size, total_lines, lines_read, truncated?}
 *                   directory -> {path, is_directory, entries: [{name, is_dir, size}],
 *                   total_entries, truncated?}
 *   write_file      {path, content} -> {path, bytes_written}
 *   edit_files      {files: [{path, edits: [{search, replace, replace_all?}]}]}
 *                   -> {files: [{path, edits_applied}]}
 *   cancel          {call_id} -> {call_id, canceled}: the foreground exec of the request whose
 *                   "id" is call_id is stopped like a time-out (SIGTERM to its group, SIGKILL
 *                   after the grace); a cancel that arrives before its exec starts stops it as
 *                   it starts (the last 32 such ids are kept)
 *
 * Commands run as `/bin/sh -c <command>` through proc/ in their own session and process group,
 * with exactly base_env plus the agent's variables (BERTH_AGENT=true, GIT_EDITOR=true,
 * GIT_SEQUENCE_EDITOR=true, EDITOR=true, VISUAL=true, GIT_TERMINAL_PROMPT=0, NO_COLOR=1,
 * TERM=dumb, PAGER=cat, GIT_PAGER=cat) plus the request's env, later ones winning; never the
 * agent's own environment. Relative paths (workdir, file paths) are taken against the configured
 * directory. Output handed back is valid UTF-8 (invalid bytes become U+FFFD).
 *
 * Errors are a struct err: ERR_BAD_REQUEST for bad arguments (missing or wrong-typed fields give
 * jsonx's "Validation failed." naming the field), ERR_NOT_FOUND for missing files and unknown
 * processes, ERR_INTERNAL for failures below (I/O, threads).
 */
#ifndef BERTH_AGENT_OPS_H
#define BERTH_AGENT_OPS_H

#include "base/err.h"

#include <jansson.h>
#include <stddef.h>

#define AGENT_OPS_MAX_BACKGROUND_DEFAULT 64

/* The shared state of one agent: the background process table, the base directory and the
 * base environment. */
struct agent_ops;

struct agent_ops_config {
    const char *directory; /* working directory for relative paths and commands (the workspace
                              directory); NULL or "" = the agent's current directory */
    char *const *base_env; /* the allow-listed base environment of commands (NULL-terminated
                              "K=V"; NULL = empty); ops adds the execute variables on top */
    size_t max_background; /* live background processes at most; 0 = 64 */
};

/* A new agent_ops owned by the caller (agent_ops_free). cfg and its strings are copied (borrowed
 * for the call only). A relative directory is made absolute against the current directory.
 * Never NULL (out of memory aborts). Thread-safe. */
struct agent_ops *agent_ops_new(const struct agent_ops_config *cfg);

/* Sends SIGKILL to the process group of every background process still running, waits for their
 * runner threads (which reap them) and frees everything. NULL is fine. No other call on ops may
 * run concurrently or follow. */
void agent_ops_free(struct agent_ops *ops);

/* Runs one request (see the table above). req is borrowed; on success returns 0 and *result is a
 * new reference to a JSON object owned by the caller; on failure returns -1, *result is NULL and
 * e (may be NULL) says why. Blocks for as long as the request takes (a foreground exec, a
 * process_output wait). Thread-safe: any number of requests may run at once on different
 * threads. */
int agent_ops_handle(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);

#endif
