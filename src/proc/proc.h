/* proc.h - running child processes carefully: a clean start, line-wise output, timeouts, cancel.
 *
 * Used by the provisioner to run a template's provision program for each build, and by the
 * in-workspace agent to run commands. A child always starts with exactly the environment it is
 * given (never the parent's), in its own session and process group, with stdin from a file or
 * /dev/null, stdout and stderr on pipes, no other descriptor, an empty signal mask and default
 * signal dispositions. Exec failures are errors of proc_start, not exit statuses.
 *
 * Waiting (proc_run) is a poll() over a pidfd, the two pipes, an optional cancel eventfd and the
 * deadlines: no SIGCHLD handler, no busy loop, no sleeping. The module installs no signal handler
 * and keeps no global state: several threads may each start and run their own children at once.
 * Every descriptor it opens is close-on-exec, so children started concurrently by other threads
 * never inherit them.
 */
#ifndef BERTH_PROC_PROC_H
#define BERTH_PROC_PROC_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_LINE_MAX_DEFAULT 1024
#define PROC_KILL_GRACE_MS    10000
#define PROC_LAST_STDERR_MAX  1024
#define PROC_LINE_MAX_LIMIT   (16u << 20) /* larger line_max values are lowered to this */

/* What to start. All strings are borrowed for the duration of proc_start only. Relative paths
 * are resolved by the child after it changed to cwd. */
struct proc_spec {
    const char *path;       /* executable; not searched in PATH. A relative path is resolved in
                               the child's working directory (cwd when given), like Go's exec */
    char *const *argv;      /* NULL-terminated, required; argv[0] as given */
    char *const *envp;      /* the COMPLETE environment (never the parent's); NULL = empty */
    const char *cwd;        /* working directory, or NULL for the caller's */
    const char *stdin_path; /* file opened read-only as stdin (relative: in cwd); NULL =
                               /dev/null */
};

/* A started child (the leader of its own session and process group). */
struct proc;

/* Starts the child described by spec. Returns a proc owned by the caller (proc_free), or NULL:
 *   - ERR_BAD_REQUEST "cannot execute <path>: <strerror>" when execve fails (ENOENT, EACCES,
 *     ENOEXEC...), detected through a close-on-exec pipe: the failed child is reaped here;
 *   - ERR_BAD_REQUEST "cannot change directory to <cwd>: ..." or "cannot open <stdin_path>: ...";
 *   - ERR_INTERNAL when a pipe, fork or pidfd cannot be created.
 * Thread-safe (any number of threads may start children at once). e may be NULL. */
struct proc *proc_start(const struct proc_spec *spec, struct err *e);

/* The child's pid, which is also its process group and session id. Thread-safe. */
pid_t proc_pid(const struct proc *p);

/* Sends sig to the child's whole process group (kill(-pgid, sig)), errors ignored (ESRCH when
 * the group is gone). Safe after the leader exited or was reaped: the group id stays reserved by
 * the kernel while any member remains. Thread-safe and async-signal-safe; p must not be freed
 * concurrently. */
void proc_signal_group(struct proc *p, int sig);

/* Closes the descriptors and frees p (NULL is fine). Does not signal the child; reaps it when it
 * has exited (a child still running when freed is left to run, and becomes a zombie of this
 * process when it exits: run it to completion, or kill it, first). Not thread-safe against other
 * calls on p. */
void proc_free(struct proc *p);

/* A cancellation that wakes proc_run waits (an eventfd with a flag). One cancel may be shared by
 * several runs; once fired it stays fired. */
struct proc_cancel;

/* A new, unfired cancel owned by the caller (proc_cancel_free), or NULL when no eventfd can be
 * created (descriptor limits): check it, as every function here takes NULL as "no cancel". */
struct proc_cancel *proc_cancel_new(void);
/* Fires c: every proc_run using it SIGTERMs its group. Thread-safe, async-signal-safe (usable in
 * a signal handler), idempotent. */
void proc_cancel_fire(struct proc_cancel *c);
/* True once c was fired. Thread-safe, async-signal-safe. */
bool proc_cancel_fired(const struct proc_cancel *c);
/* Frees c (NULL is fine). No run may still be using it. */
void proc_cancel_free(struct proc_cancel *c);

enum proc_stream { PROC_STDOUT = 1, PROC_STDERR = 2 };

/* Receives one line of output: each complete line without its "\n" (a "\r\n" loses the "\r"
 * too), and a final partial line at the end of the stream. Lines longer than line_max are
 * delivered cut at line_max (backed up to a UTF-8 character boundary) and the rest of that line
 * is dropped. The bytes are passed through otherwise (not validated as UTF-8); line[len] is a
 * NUL byte, line is borrowed for the call. Called on the thread running proc_run, in the order
 * the bytes were read per stream (the order across streams is the order of arrival, as far as
 * poll() can tell). */
typedef void (*proc_line_fn)(void *arg, enum proc_stream stream, const char *line, size_t len);

/* How to wait. A zeroed struct (or NULL) means: no timeout, no cancel, defaults. */
struct proc_run_opts {
    int64_t timeout_ms;         /* <= 0: none. On expiry SIGTERM to the group, then SIGKILL after
                                   kill_grace_ms if the run has not finished */
    int64_t kill_grace_ms;      /* <= 0: PROC_KILL_GRACE_MS (10 s) */
    struct proc_cancel *cancel; /* may be NULL; on fire: like the timeout */
    size_t line_max;            /* 0: PROC_LINE_MAX_DEFAULT (1024); at most 16 MiB */
    proc_line_fn on_line;       /* may be NULL */
    void *arg;                  /* passed to on_line */
    bool wait_for_pipes;        /* false (the provisioner): return as soon as the LEADER exits,
                                   after draining what is already readable from the pipes without
                                   blocking; lingering children's later output is dropped.
                                   true (agent commands): also wait until both pipes reach EOF. */
};

/* How a run ended. */
struct proc_result {
    bool exited; /* normal exit, with exit_status */
    int exit_status;
    bool signaled; /* killed by a signal */
    int signal;
    bool timed_out;                         /* the timeout fired (the child was sent SIGTERM) */
    bool canceled;                          /* the cancel fired (the child was sent SIGTERM) */
    int64_t duration_ms;                    /* from proc_start to the end of proc_run */
    char last_stderr[PROC_LAST_STDERR_MAX]; /* the last non-empty stderr line (cut to line_max
                                               and to fit, on a UTF-8 boundary), "" if none */
};

/* Waits for p's leader, delivering its output lines to opts->on_line, and reaps it (waitpid).
 * When the timeout or the cancel fires (whichever first; only that one's flag is set), the group
 * gets SIGTERM, then SIGKILL once kill_grace_ms passed if the leader has not exited (with
 * wait_for_pipes, also if the pipes are still held open then; after that SIGKILL the run ends as
 * soon as the leader is reaped, without waiting for EOF). With wait_for_pipes and no timeout, a
 * group member holding the pipes open keeps the run waiting.
 * Without wait_for_pipes, group members outliving a leader that obeyed the SIGTERM are not
 * SIGKILLed (proc_signal_group(p, SIGKILL) after the run does that if wanted).
 * Returns 0 with *out filled whatever the child's outcome, or -1 (ERR_INTERNAL) when polling or
 * reaping fails; the group is then SIGKILLed. Call it at most once per proc. Thread-safe with
 * respect to other procs and to proc_signal_group/proc_cancel_fire from other threads. */
int proc_run(struct proc *p, const struct proc_run_opts *opts, struct proc_result *out,
             struct err *e);

/* Output collected by proc_run_capture. */
struct proc_capture {
    char *data; /* valid UTF-8 (invalid bytes became U+FFFD; cut on a boundary), NUL-terminated */
    size_t len;
    bool truncated; /* more output than cap: the rest was read and discarded */
};

/* Starts spec and runs it to completion (waiting for both pipes to close, with opts' timeout,
 * cancel and kill_grace_ms; on_line and wait_for_pipes ignored; opts may be NULL), collecting
 * stdout and stderr interleaved in arrival order into at most cap bytes. *out is filled on
 * success (free with proc_capture_free), and res too when not NULL. Errors: those of proc_start
 * and proc_run; on -1 *out holds nothing to free. Thread-safe. */
int proc_run_capture(const struct proc_spec *spec, const struct proc_run_opts *opts, size_t cap,
                     struct proc_capture *out, struct proc_result *res, struct err *e);
/* Frees c's data and resets it (NULL is fine). */
void proc_capture_free(struct proc_capture *c);

/* A new NULL-terminated heap array holding copies of the "NAME=value" strings of pairs
 * (NULL-terminated; NULL means none). Never NULL. Free with proc_env_free. */
char **proc_env_build(const char *const *pairs);
/* Sets NAME=value in *env (an array from proc_env_build or NULL; *env may move), *n being its
 * number of entries (updated; n may be NULL, then the entries are counted): an existing entry of
 * that name is replaced, otherwise one is appended. name must be non-empty without '='; value
 * NULL is taken as "". */
void proc_env_add(char ***env, size_t *n, const char *name, const char *value);
/* The number of entries of env (NULL counts 0). */
size_t proc_env_count(char *const *env);
/* Frees env and its strings (NULL is fine). */
void proc_env_free(char **env);

#endif
