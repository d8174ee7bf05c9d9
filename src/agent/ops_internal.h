/* ops_internal.h - what the agent_ops files share: the ops struct, the per-type handlers and the
 * path, file and JSON helpers. Not a public header: only src/agent/ops*.c include it.
 */
#ifndef BERTH_AGENT_OPS_INTERNAL_H
#define BERTH_AGENT_OPS_INTERNAL_H

#include "agent/ops.h"
#include "base/err.h"
#include "proc/proc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OPS_OUTPUT_MAX        32768          /* bytes of output handed back per answer */
#define OPS_KILL_GRACE_MS     2000           /* SIGTERM -> SIGKILL on time-out or free */
#define OPS_BG_BUFFER_MAX     (1024u * 1024) /* kept output of a background process */
#define OPS_FINISHED_KEEP     256            /* finished background processes remembered */
#define OPS_READ_FILE_MAX     (64u * 1024 * 1024)
#define OPS_READ_CONTENT_MAX  (256u * 1024)
#define OPS_WRITE_CONTENT_MAX (4u * 1024 * 1024)

struct ops_proc;

#define OPS_EARLY_CANCELS 32

/* A foreground exec in progress, by the id of the request that started it. */
struct ops_foreground {
    char call_id[40];
    struct proc_cancel *cancel;
    struct ops_foreground *next;
};

struct agent_ops {
    char *directory; /* absolute, cleaned */
    char **base_env; /* a copy (proc_env_build) */
    size_t max_background;

    pthread_mutex_t mu;    /* the process table and every ops_proc's state but its output */
    pthread_cond_t idle;   /* broadcast when nlive drops to 0 (agent_ops_free waits on it) */
    struct ops_proc *head; /* the table, in start order */
    struct ops_proc *tail;
    size_t nlive;     /* running, or being started */
    size_t nfinished; /* finished and still in the table */
    uint64_t next_id;
    uint64_t finish_seq;

    pthread_mutex_t files_mu; /* serializes write_file and edit_files (read-modify-write) */

    /* Foreground execs a cancel may stop, and cancels that came before their exec (under mu). */
    struct ops_foreground *foreground;
    char early_cancels[OPS_EARLY_CANCELS][40];
    size_t next_early;
};

/* Handlers, one per request type: req borrowed, *result a new object on success. */
int ops_exec(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_process_output(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_process_list(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_process_signal(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_read_file(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_write_file(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_edit_files(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);
int ops_cancel(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e);

/* Starts command (sh -c) in the background with env and cwd (borrowed) and answers
 * {process_id}. ERR_BAD_REQUEST when max_background processes already run. */
int ops_process_start(struct agent_ops *ops, const char *command, char *const *env, const char *cwd,
                      json_t **result, struct err *e);
/* Kills every running background process, waits for every runner thread, frees the table. */
void ops_processes_free(struct agent_ops *ops);

/* path made absolute against ops->directory and cleaned lexically (no ".", "..", "//").
 * Caller frees. */
char *ops_path_resolve(const struct agent_ops *ops, const char *path);
/* A JSON string of s[0..n), invalid UTF-8 replaced by U+FFFD. New reference, never NULL. */
json_t *ops_json_text(const char *s, size_t n);
/* Aborts on NULL (jansson's out of memory); returns v. */
json_t *ops_json_must(json_t *v);
/* Sets e from errno err about path: ENOENT/ENOTDIR -> ERR_NOT_FOUND "<path>: no such file or
 * directory"; permission and name problems -> ERR_BAD_REQUEST; else ERR_INTERNAL
 * "<what> <path>: <strerror>". Returns -1. */
int ops_errno(struct err *e, int err, const char *what, const char *path);

/* Reads the regular file at path (at most max bytes, else ERR_BAD_REQUEST) into *data (NUL
 * terminated, caller frees) and *len; *mode gets its permission bits. A directory or another
 * non-regular file: ERR_BAD_REQUEST. */
int ops_file_load(const char *path, size_t max, char **data, size_t *len, mode_t *mode,
                  struct err *e);
/* The path writes should go to: path itself, or the file a symlink at path resolves to.
 * Caller frees. */
char *ops_write_target(const char *path);
/* Writes data to a new temporary file next to path (O_EXCL, the given mode), fsynced and closed;
 * *tmp is its path (caller frees, and unlinks it unless committed). Creates missing parent
 * directories (0755) when mkdirs. */
int ops_tmp_write(const char *path, const char *data, size_t len, mode_t mode, bool mkdirs,
                  char **tmp, struct err *e);
/* Renames tmp over path and fsyncs the directory. On failure tmp is unlinked. */
int ops_tmp_commit(const char *tmp, const char *path, struct err *e);

#endif
