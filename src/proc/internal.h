/* internal.h - what proc.c, run.c and env.c share: the proc and cancel structs, the raw run. */
#ifndef BERTH_PROC_INTERNAL_H
#define BERTH_PROC_INTERNAL_H

#include "proc/proc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
    pid_t pid;  /* also the process group and session id */
    int pidfd;  /* readable once the leader exited */
    int out_fd; /* read ends of the stdout and stderr pipes (non-blocking), or -1 */
    int err_fd;
    bool reaped;      /* waitpid collected the leader; status is valid */
    bool ran;         /* proc_run was called */
    int status;       /* waitpid status */
    int64_t start_us; /* monotonic time of the fork */
};

struct proc_cancel {
    atomic_bool fired;
    int efd; /* eventfd written once on fire and never read: stays readable */
};

/* Receives raw output bytes as they are read (before line splitting). */
typedef void (*proc_chunk_fn)(void *arg, enum proc_stream stream, const char *data, size_t len);

/* proc_run, also handing every chunk read to on_chunk (may be NULL) before line splitting. */
int proc_run_chunks(struct proc *p, const struct proc_run_opts *opts, proc_chunk_fn on_chunk,
                    void *chunk_arg, struct proc_result *out, struct err *e);

#endif
