/* proc.c - starting a child cleanly (fork + execve), signalling its group, cancels.
 *
 * The parent prepares everything (descriptors, arguments) before fork(); between fork and execve
 * the child only makes async-signal-safe calls, as it is a copy of a multi-threaded process.
 * Signals are blocked in the forking thread around fork() so that no handler of the parent runs
 * in the child before its dispositions are reset. The child reports a failure before or at
 * execve as {stage, errno} on a close-on-exec pipe; the parent reads it until EOF, which means
 * execve succeeded.
 */
#include "base/mem.h"
#include "base/times.h"
#include "proc/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum child_stage { STAGE_SETUP = 1, STAGE_CHDIR, STAGE_STDIN, STAGE_EXEC };

/* What the child writes on the report pipe when it cannot exec. */
struct child_failure {
    int stage;
    int err;
};

/* Everything the child needs, prepared by the parent. */
struct child_args {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    const char *stdin_path;
    int out_fd, err_fd, report_fd;
    int max_fd; /* for closing descriptors when close_range is unavailable */
};

static char *const empty_env[] = {NULL};

static _Noreturn void child_fail(int report_fd, int stage, int err)
{
    struct child_failure f = {stage, err};
    ssize_t r;
    do {
        r = write(report_fd, &f, sizeof f);
    } while (r < 0 && errno == EINTR);
    _exit(127);
}

/* fd itself when >= 3, else a close-on-exec duplicate >= 3 (so dup2 onto 0-2 cannot clobber it). */
static int child_fd_high(int fd)
{
    if (fd >= 3)
        return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static void child_close_from(unsigned lo, unsigned hi, int max_fd)
{
    if (lo > hi)
        return;
    if (close_range(lo, hi, 0) == 0)
        return;
    for (unsigned fd = lo; fd <= hi && fd < (unsigned)max_fd; fd++)
        close((int)fd);
}

/* Runs in the child after fork(): async-signal-safe calls only. */
static _Noreturn void child_exec(const struct child_args *a)
{
    int report = child_fd_high(a->report_fd);
    if (report < 0)
        _exit(127);
    int out = child_fd_high(a->out_fd);
    int err = child_fd_high(a->err_fd);
    if (out < 0 || err < 0)
        child_fail(report, STAGE_SETUP, errno);

    /* Default dispositions for every signal (ignored ones would survive execve, handled ones must
     * not run here); errors are expected for SIGKILL, SIGSTOP and libc's reserved signals. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    }

    if (setsid() < 0)
        child_fail(report, STAGE_SETUP, errno);
    if (a->cwd && chdir(a->cwd) < 0)
        child_fail(report, STAGE_CHDIR, errno);
    /* Opened here so that a relative stdin_path, like the path, is resolved in cwd. */
    int in = open(a->stdin_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        child_fail(report, STAGE_STDIN, errno);
    in = child_fd_high(in);
    if (in < 0)
        child_fail(report, STAGE_SETUP, errno);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        child_fail(report, STAGE_SETUP, errno);
    /* Everything else goes, whoever opened it (other threads, libraries), except the report pipe,
     * which is close-on-exec. */
    child_close_from(3, (unsigned)report - 1, a->max_fd);
    child_close_from((unsigned)report + 1, ~0U, a->max_fd);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* ETXTBSY: another thread's child, forked while the program file was still open for
     * writing here (a freshly extracted archive), holds that descriptor until it execs. It is
     * gone within moments: retry for up to a second. */
    for (int tries = 0;; tries++) {
        execve(a->path, a->argv, a->envp ? a->envp : empty_env);
        if (errno != ETXTBSY || tries == 100)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    child_fail(report, STAGE_EXEC, errno);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Blocking waitpid that retries on EINTR. Returns waitpid's result. */
static pid_t wait_child(pid_t pid, int *status)
{
    pid_t r;
    do {
        r = waitpid(pid, status, 0);
    } while (r < 0 && errno == EINTR);
    return r;
}

static int fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
        return 1048576;
    return (int)rl.rlim_cur;
}

struct proc *proc_start(const struct proc_spec *spec, struct err *e)
{
    struct proc *p = NULL;
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, report[2] = {-1, -1};
    pid_t pid = -1;

    if (!spec || !spec->path || !spec->argv) {
        err_set(e, ERR_INTERNAL, "proc_start: no path or argv");
        goto fail;
    }
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
        pipe2(report, O_CLOEXEC) < 0) {
        err_set(e, ERR_INTERNAL, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    if (set_nonblock(out_pipe[0]) < 0 || set_nonblock(err_pipe[0]) < 0) {
        err_set(e, ERR_INTERNAL, "cannot set pipes non-blocking: %s", strerror(errno));
        goto fail;
    }

    struct child_args args = {
        .path = spec->path,
        .argv = spec->argv,
        .envp = spec->envp,
        .cwd = spec->cwd,
        .stdin_path = spec->stdin_path ? spec->stdin_path : "/dev/null",
        .out_fd = out_pipe[1],
        .err_fd = err_pipe[1],
        .report_fd = report[1],
        .max_fd = fd_limit(),
    };
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int64_t start_us = time_mono_us();
    pid = fork();
    if (pid == 0)
        child_exec(&args);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        err_set(e, ERR_INTERNAL, "fork: %s", strerror(fork_errno));
        goto fail;
    }
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[1]);
    close_fd(&report[1]);

    struct child_failure f;
    ssize_t n;
    do {
        n = read(report[0], &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    if (n != 0) {
        /* The child failed before or at execve and exits at once. */
        int status;
        wait_child(pid, &status);
        pid = -1;
        if (n != (ssize_t)sizeof f)
            err_set(e, ERR_INTERNAL, "cannot start %s: lost the child's report", spec->path);
        else if (f.stage == STAGE_EXEC)
            err_set(e, ERR_BAD_REQUEST, "cannot execute %s: %s", spec->path, strerror(f.err));
        else if (f.stage == STAGE_CHDIR)
            err_set(e, ERR_BAD_REQUEST, "cannot change directory to %s: %s", spec->cwd,
                    strerror(f.err));
        else if (f.stage == STAGE_STDIN)
            err_set(e, ERR_BAD_REQUEST, "cannot open %s: %s",
                    spec->stdin_path ? spec->stdin_path : "/dev/null", strerror(f.err));
        else
            err_set(e, ERR_INTERNAL, "cannot set up the child for %s: %s", spec->path,
                    strerror(f.err));
        goto fail;
    }
    close_fd(&report[0]);

    /* Not reaped yet, so the pid cannot have been reused. */
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        err_set(e, ERR_INTERNAL, "pidfd_open: %s", strerror(errno));
        kill(-pid, SIGKILL);
        int status;
        wait_child(pid, &status);
        pid = -1;
        goto fail;
    }

    p = xcalloc(1, sizeof *p);
    p->pid = pid;
    p->pidfd = pidfd;
    p->out_fd = out_pipe[0];
    p->err_fd = err_pipe[0];
    p->start_us = start_us;
    return p;

fail:
    close_fd(&out_pipe[0]);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[0]);
    close_fd(&err_pipe[1]);
    close_fd(&report[0]);
    close_fd(&report[1]);
    return NULL;
}

pid_t proc_pid(const struct proc *p)
{
    return p->pid;
}

void proc_signal_group(struct proc *p, int sig)
{
    if (p && p->pid > 0)
        kill(-p->pid, sig);
}

void proc_free(struct proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        int status;
        pid_t r;
        do {
            r = waitpid(p->pid, &status, WNOHANG);
        } while (r < 0 && errno == EINTR);
    }
    close_fd(&p->pidfd);
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
    free(p);
}

struct proc_cancel *proc_cancel_new(void)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return NULL;
    struct proc_cancel *c = xcalloc(1, sizeof *c);
    atomic_init(&c->fired, false);
    c->efd = efd;
    return c;
}

void proc_cancel_fire(struct proc_cancel *c)
{
    if (!c || atomic_exchange(&c->fired, true))
        return;
    uint64_t one = 1;
    int saved = errno; /* may run in a signal handler */
    ssize_t r;
    do {
        r = write(c->efd, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    errno = saved;
}

bool proc_cancel_fired(const struct proc_cancel *c)
{
    return c && atomic_load(&c->fired);
}

void proc_cancel_free(struct proc_cancel *c)
{
    if (!c)
        return;
    close_fd(&c->efd);
    free(c);
}
