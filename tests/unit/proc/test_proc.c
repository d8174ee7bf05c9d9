/* Unit tests for proc/: starting children cleanly, lines, exec failures, timeouts, cancel,
 * pipes after the leader exits, captured output, concurrency. Real processes via /bin/sh; timing
 * bounds are generous so a loaded machine passes. */
#include "testing.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINES 64

struct line {
    enum proc_stream stream;
    char *text;
    size_t len;
};

struct lines {
    struct line v[MAX_LINES];
    size_t n;
    size_t dropped;
};

static void collect(void *arg, enum proc_stream stream, const char *line, size_t len)
{
    struct lines *l = arg;
    assert_int_equal(line[len], '\0');
    if (l->n == MAX_LINES) {
        l->dropped++;
        return;
    }
    l->v[l->n].stream = stream;
    l->v[l->n].text = xmemdup(line, len);
    l->v[l->n].len = len;
    l->n++;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    l->n = 0;
}

/* The idx-th line of stream (NULL when there are fewer). */
static const struct line *nth(const struct lines *l, enum proc_stream stream, size_t idx)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].stream == stream && idx-- == 0)
            return &l->v[i];
    }
    return NULL;
}

static size_t count(const struct lines *l, enum proc_stream stream)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].stream == stream;
    return n;
}

static void assert_line(const struct lines *l, enum proc_stream stream, size_t idx,
                        const char *want)
{
    const struct line *got = nth(l, stream, idx);
    if (!got)
        fail_msg("no line %zu on stream %d (want \"%s\")", idx, (int)stream, want);
    assert_int_equal(got->len, strlen(want));
    assert_memory_equal(got->text, want, got->len);
}

static char *const test_env[] = {"PATH=/usr/bin:/bin", "LANG=C", NULL};

/* Runs /bin/sh -c script with the given options (on_line/arg set to l when l is given). */
static int run_sh(char *script, struct proc_run_opts *opts, struct lines *l,
                  struct proc_result *res, struct err *e)
{
    char *const argv[] = {"sh", "-c", script, NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = test_env};
    struct proc *p = proc_start(&spec, e);
    if (!p)
        return -1;
    struct proc_run_opts o = {0};
    if (!opts)
        opts = &o;
    if (l) {
        opts->on_line = collect;
        opts->arg = l;
    }
    int r = proc_run(p, opts, res, e);
    proc_free(p);
    return r;
}

static int64_t elapsed_ms(int64_t since_us)
{
    return (time_mono_us() - since_us) / 1000;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Reaps orphans re-parented to this process (a subreaper), without blocking. */
static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

/* True once no process of group pgid is left (waiting up to 5 s for it to settle). */
static bool group_gone(pid_t pgid)
{
    int64_t start = time_mono_us();
    while (elapsed_ms(start) < 5000) {
        reap_orphans();
        if (kill(-pgid, 0) == -1 && errno == ESRCH)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

static void test_exit_status(void **state)
{
    (void)state;
    struct proc_result res;
    struct err e = ERR_INIT;
    assert_int_equal(run_sh("exit 0", NULL, NULL, &res, &e), 0);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 0);
    assert_false(res.signaled || res.timed_out || res.canceled);
    assert_string_equal(res.last_stderr, "");
    assert_true(res.duration_ms >= 0);

    assert_int_equal(run_sh("exit 3", NULL, NULL, &res, &e), 0);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 3);

    assert_int_equal(run_sh("kill -USR1 $$", NULL, NULL, &res, &e), 0);
    assert_false(res.exited);
    assert_true(res.signaled);
    assert_int_equal(res.signal, SIGUSR1);
}

static void test_lines_in_order(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    assert_int_equal(run_sh("echo one; echo err1 >&2; echo; echo two; printf 'err2\\n' >&2; "
                            "echo three; echo >&2; exit 1",
                            NULL, &l, &res, NULL),
                     0);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 1);
    assert_int_equal(count(&l, PROC_STDOUT), 4);
    assert_line(&l, PROC_STDOUT, 0, "one");
    assert_line(&l, PROC_STDOUT, 1, "");
    assert_line(&l, PROC_STDOUT, 2, "two");
    assert_line(&l, PROC_STDOUT, 3, "three");
    assert_int_equal(count(&l, PROC_STDERR), 3);
    assert_line(&l, PROC_STDERR, 0, "err1");
    assert_line(&l, PROC_STDERR, 1, "err2");
    assert_line(&l, PROC_STDERR, 2, "");
    assert_string_equal(res.last_stderr, "err2"); /* the last NON-EMPTY line */
    lines_free(&l);
}

static void test_long_lines_cut(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    struct proc_run_opts opts = {.line_max = 10};
    /* 9 bytes then a euro sign (3 bytes) straddling the cut; exactly 10 bytes (with and without
     * CRLF); 11 bytes; a line far longer than a read. */
    assert_int_equal(run_sh("printf 'aaaaaaaaa\\342\\202\\254bbbb\\nok\\n0123456789\\n'; "
                            "printf '0123456789\\r\\n0123456789A\\n'; "
                            "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after; "
                            "printf 'eeeeeeeeeeeeeeeeeeeeeeee\\n' >&2",
                            &opts, &l, &res, NULL),
                     0);
    assert_true(res.exited && res.exit_status == 0);
    assert_int_equal(count(&l, PROC_STDOUT), 7);
    assert_line(&l, PROC_STDOUT, 0, "aaaaaaaaa");
    assert_line(&l, PROC_STDOUT, 1, "ok");
    assert_line(&l, PROC_STDOUT, 2, "0123456789");
    assert_line(&l, PROC_STDOUT, 3, "0123456789");
    assert_line(&l, PROC_STDOUT, 4, "0123456789");
    assert_line(&l, PROC_STDOUT, 5, "xxxxxxxxxx");
    assert_line(&l, PROC_STDOUT, 6, "after");
    assert_string_equal(res.last_stderr, "eeeeeeeeee");
    lines_free(&l);

    /* A whole multi-byte character at the end is kept. */
    opts = (struct proc_run_opts){.line_max = 12};
    assert_int_equal(run_sh("printf 'aaaaaaaaa\\342\\202\\254bbbb\\n'", &opts, &l, &res, NULL), 0);
    assert_line(&l, PROC_STDOUT, 0, "aaaaaaaaa\xE2\x82\xAC");
    lines_free(&l);

    /* last_stderr holds at most 1023 bytes, cut on a character boundary. */
    opts = (struct proc_run_opts){.line_max = 2000};
    assert_int_equal(run_sh("{ printf '%01022d' 0 | tr 0 a; printf '\\342\\202\\254\\n'; } >&2",
                            &opts, &l, &res, NULL),
                     0);
    assert_int_equal(nth(&l, PROC_STDERR, 0)->len, 1025);
    assert_int_equal(strlen(res.last_stderr), 1022);
    assert_true(utf8_valid(res.last_stderr, strlen(res.last_stderr)));
    lines_free(&l);
}

static void test_partial_line_and_crlf(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    assert_int_equal(
        run_sh("printf 'a\\r\\nb\\rc\\r\\n\\r\\nlast'; printf 'x\\ny' >&2", NULL, &l, &res, NULL),
        0);
    assert_int_equal(count(&l, PROC_STDOUT), 4);
    assert_line(&l, PROC_STDOUT, 0, "a");
    assert_line(&l, PROC_STDOUT, 1, "b\rc");
    assert_line(&l, PROC_STDOUT, 2, "");
    assert_line(&l, PROC_STDOUT, 3, "last");
    assert_int_equal(count(&l, PROC_STDERR), 2);
    assert_line(&l, PROC_STDERR, 1, "y");
    assert_string_equal(res.last_stderr, "y");
    lines_free(&l);
}

static void test_environment_exact(void **state)
{
    (void)state;
    static const char *const pairs[] = {"FOO=bar", "BAZ=qux", NULL};
    char **env = proc_env_build(pairs);
    char *const argv[] = {"env", NULL};
    struct proc_spec spec = {.path = "/usr/bin/env", .argv = argv, .envp = env};
    struct err e = ERR_INIT;
    struct proc *p = proc_start(&spec, &e);
    assert_non_null(p);
    assert_true(proc_pid(p) > 0);
    struct lines l = {0};
    struct proc_run_opts opts = {.on_line = collect, .arg = &l};
    struct proc_result res;
    assert_int_equal(proc_run(p, &opts, &res, &e), 0);
    proc_free(p);
    assert_true(res.exited && res.exit_status == 0);
    assert_int_equal(l.n, 2);
    assert_line(&l, PROC_STDOUT, 0, "FOO=bar");
    assert_line(&l, PROC_STDOUT, 1, "BAZ=qux");
    lines_free(&l);

    /* NULL envp: an empty environment, not the parent's. */
    spec.envp = NULL;
    p = proc_start(&spec, &e);
    assert_non_null(p);
    opts = (struct proc_run_opts){.on_line = collect, .arg = &l};
    assert_int_equal(proc_run(p, &opts, &res, &e), 0);
    proc_free(p);
    assert_int_equal(l.n, 0);

    /* Building: replace an entry, append others. */
    size_t n = proc_env_count(env);
    assert_int_equal(n, 2);
    proc_env_add(&env, &n, "FOO", "new");
    proc_env_add(&env, &n, "FO", "short");
    proc_env_add(&env, &n, "EMPTY", NULL);
    assert_int_equal(n, 4);
    assert_string_equal(env[0], "FOO=new");
    assert_string_equal(env[1], "BAZ=qux");
    assert_string_equal(env[2], "FO=short");
    assert_string_equal(env[3], "EMPTY=");
    assert_null(env[4]);
    proc_env_free(env);

    char **fresh = NULL;
    proc_env_add(&fresh, NULL, "A", "1");
    proc_env_add(&fresh, NULL, "A", "2");
    assert_int_equal(proc_env_count(fresh), 1);
    assert_string_equal(fresh[0], "A=2");
    proc_env_free(fresh);
    char **none = proc_env_build(NULL);
    assert_null(none[0]);
    proc_env_free(none);
}

static char *write_temp_file(const char *content, mode_t mode)
{
    char *path = xstrdup("/tmp/berth-proc-test-XXXXXX");
    int fd = mkostemp(path, O_CLOEXEC);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void test_exec_failure(void **state)
{
    (void)state;
    int fds_before = count_fds();
    char *const argv[] = {"x", NULL};
    struct proc_spec spec = {.path = "/nonexistent/berth-test", .argv = argv, .envp = test_env};
    struct err e = ERR_INIT;
    assert_null(proc_start(&spec, &e));
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    assert_string_equal(e.message,
                        "cannot execute /nonexistent/berth-test: No such file or directory");

    char *plain = write_temp_file("#!/bin/sh\nexit 0\n", 0644);
    spec.path = plain;
    assert_null(proc_start(&spec, &e));
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    char *want = str_printf("cannot execute %s: Permission denied", plain);
    assert_string_equal(e.message, want);
    free(want);

    char *garbage = write_temp_file("this is not a program\n", 0755);
    spec.path = garbage;
    assert_null(proc_start(&spec, &e));
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    want = str_printf("cannot execute %s: Exec format error", garbage);
    assert_string_equal(e.message, want);
    free(want);

    /* The capture convenience reports the same error. */
    struct proc_capture cap;
    struct proc_result res;
    assert_int_equal(proc_run_capture(&spec, NULL, 100, &cap, &res, &e), -1);
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    assert_null(cap.data);
    proc_capture_free(&cap);

    spec.path = "/bin/true";
    spec.cwd = "/nonexistent/dir";
    assert_null(proc_start(&spec, &e));
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    assert_string_equal(e.message,
                        "cannot change directory to /nonexistent/dir: No such file or directory");
    spec.cwd = NULL;
    spec.stdin_path = "/nonexistent/input";
    assert_null(proc_start(&spec, &e));
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    assert_true(str_has_prefix(e.message, "cannot open /nonexistent/input"));

    unlink(plain);
    unlink(garbage);
    free(plain);
    free(garbage);
    err_clear(&e);
    assert_int_equal(count_fds(), fds_before);
}

static void test_cwd_stdin_argv0(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    struct proc_run_opts opts = {.on_line = collect, .arg = &l};

    char *input = write_temp_file("from the file\n", 0600);
    char *const argv[] = {"my-shell", "-c", "pwd; cat; tr '\\0' ' ' < /proc/$$/cmdline; echo",
                          NULL};
    struct proc_spec spec = {.path = "/bin/sh",
                             .argv = argv,
                             .envp = test_env,
                             .cwd = "/tmp",
                             .stdin_path = input + strlen("/tmp/")}; /* relative to cwd */
    struct proc *p = proc_start(&spec, NULL);
    assert_non_null(p);
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    proc_free(p);
    assert_line(&l, PROC_STDOUT, 0, "/tmp");
    assert_line(&l, PROC_STDOUT, 1, "from the file");
    assert_true(str_has_prefix(nth(&l, PROC_STDOUT, 2)->text, "my-shell -c "));
    lines_free(&l);
    unlink(input);
    free(input);

    /* No stdin_path: /dev/null, so cat ends at once. A relative path resolves in cwd. */
    char *const argv2[] = {"sh", "-c", "cat; echo done", NULL};
    spec = (struct proc_spec){.path = "sh", .argv = argv2, .envp = test_env, .cwd = "/bin"};
    p = proc_start(&spec, NULL);
    assert_non_null(p);
    opts = (struct proc_run_opts){.on_line = collect, .arg = &l, .timeout_ms = 20000};
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    proc_free(p);
    assert_false(res.timed_out);
    assert_int_equal(l.n, 1);
    assert_line(&l, PROC_STDOUT, 0, "done");
    lines_free(&l);
}

static void test_clean_child(void **state)
{
    (void)state;
    /* A descriptor without close-on-exec, an ignored signal and a blocked one in the parent. */
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak >= 0);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr1;
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &ign, &old_usr1), 0);
    struct sigaction ign_pipe = ign, old_pipe;
    assert_int_equal(sigaction(SIGPIPE, &ign_pipe, &old_pipe), 0);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);

    struct lines l = {0};
    struct proc_result res;
    struct proc_run_opts opts = {.on_line = collect, .arg = &l};
    char *const ls_argv[] = {"ls", "/proc/self/fd", NULL};
    struct proc_spec spec = {.path = "/bin/ls", .argv = ls_argv, .envp = test_env};
    struct proc *p = proc_start(&spec, NULL);
    assert_non_null(p);
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    proc_free(p);
    /* 0-2, and 3: the directory ls reads. */
    assert_int_equal(l.n, 4);
    assert_line(&l, PROC_STDOUT, 0, "0");
    assert_line(&l, PROC_STDOUT, 3, "3");
    lines_free(&l);

    char *const grep_argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    spec = (struct proc_spec){.path = "/bin/grep", .argv = grep_argv, .envp = test_env};
    p = proc_start(&spec, NULL);
    assert_non_null(p);
    opts = (struct proc_run_opts){.on_line = collect, .arg = &l};
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    proc_free(p);
    assert_int_equal(l.n, 2);
    assert_line(&l, PROC_STDOUT, 0, "SigBlk:\t0000000000000000");
    assert_line(&l, PROC_STDOUT, 1, "SigIgn:\t0000000000000000");
    lines_free(&l);

    /* Its own session and process group. */
    char *const sid_argv[] = {"sh", "-c", "exit 0", NULL};
    spec = (struct proc_spec){.path = "/bin/sh", .argv = sid_argv, .envp = test_env};
    p = proc_start(&spec, NULL);
    assert_non_null(p);
    pid_t pid = proc_pid(p);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(getsid(pid), pid);
    assert_int_equal(proc_run(p, NULL, &res, NULL), 0);
    proc_free(p);

    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(leak);
}

static void test_timeout(void **state)
{
    (void)state;
    struct proc_result res;
    struct proc_run_opts opts = {.timeout_ms = 200};
    int64_t start = time_mono_us();
    assert_int_equal(run_sh("sleep 30", &opts, NULL, &res, NULL), 0);
    int64_t took = elapsed_ms(start);
    assert_true(res.timed_out);
    assert_false(res.canceled);
    assert_true(res.signaled);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(took >= 190);
    assert_true(took < 5000); /* far below the 10 s grace */
    assert_true(res.duration_ms >= 190 && res.duration_ms < 5000);

    /* A child that ignores SIGTERM is killed after the grace period. */
    opts = (struct proc_run_opts){.timeout_ms = 200, .kill_grace_ms = 300};
    start = time_mono_us();
    assert_int_equal(run_sh("trap '' TERM; sleep 30", &opts, NULL, &res, NULL), 0);
    took = elapsed_ms(start);
    assert_true(res.timed_out);
    assert_true(res.signaled);
    assert_int_equal(res.signal, SIGKILL);
    assert_true(took >= 450);
    assert_true(took < 8000);
}

struct fire_later {
    struct proc_cancel *c;
    int delay_ms;
};

static void *fire_thread(void *arg)
{
    struct fire_later *f = arg;
    usleep((useconds_t)f->delay_ms * 1000);
    proc_cancel_fire(f->c);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    struct proc_cancel *c = proc_cancel_new();
    assert_non_null(c);
    assert_false(proc_cancel_fired(c));
    char *const argv[] = {"sh", "-c", "sleep 100 & sleep 100 & wait", NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = test_env};
    struct proc *p = proc_start(&spec, NULL);
    assert_non_null(p);
    pid_t pgid = proc_pid(p);

    struct fire_later f = {c, 100};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fire_thread, &f), 0);
    struct proc_result res;
    struct proc_run_opts opts = {.cancel = c, .timeout_ms = 60000};
    int64_t start = time_mono_us();
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    int64_t took = elapsed_ms(start);
    pthread_join(t, NULL);
    proc_free(p);
    assert_true(res.canceled);
    assert_false(res.timed_out);
    assert_true(res.signaled);
    assert_int_equal(res.signal, SIGTERM);
    assert_true(took >= 90 && took < 5000);
    assert_true(proc_cancel_fired(c));
    assert_true(group_gone(pgid));

    /* Fired before the run (and again: idempotent): the child is stopped at once. */
    proc_cancel_fire(c);
    p = proc_start(&spec, NULL);
    assert_non_null(p);
    start = time_mono_us();
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    assert_true(elapsed_ms(start) < 5000);
    assert_true(res.canceled);
    pgid = proc_pid(p);
    proc_free(p);
    assert_true(group_gone(pgid));
    proc_cancel_free(c);

    proc_cancel_fire(NULL);
    assert_false(proc_cancel_fired(NULL));
    proc_cancel_free(NULL);
}

static void test_leader_exit_without_pipes(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    char *const argv[] = {"sh", "-c", "(sleep 3; echo late) & echo early; exit 0", NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = test_env};
    struct proc *p = proc_start(&spec, NULL);
    assert_non_null(p);
    struct proc_run_opts opts = {.on_line = collect, .arg = &l};
    int64_t start = time_mono_us();
    assert_int_equal(proc_run(p, &opts, &res, NULL), 0);
    assert_true(elapsed_ms(start) < 2000);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 0);
    assert_int_equal(l.n, 1);
    assert_line(&l, PROC_STDOUT, 0, "early");
    lines_free(&l);
    /* The leader is gone but the group is not: signal it all the same. */
    pid_t pgid = proc_pid(p);
    assert_int_equal(kill(-pgid, 0), 0);
    proc_signal_group(p, SIGKILL);
    proc_free(p);
    assert_true(group_gone(pgid));
}

static void test_wait_for_pipes(void **state)
{
    (void)state;
    struct lines l = {0};
    struct proc_result res;
    struct proc_run_opts opts = {.wait_for_pipes = true, .timeout_ms = 60000};
    int64_t start = time_mono_us();
    assert_int_equal(run_sh("(sleep 1; echo late) & echo early; exit 0", &opts, &l, &res, NULL), 0);
    assert_true(elapsed_ms(start) >= 900);
    assert_true(res.exited && res.exit_status == 0);
    assert_false(res.timed_out);
    assert_int_equal(l.n, 2);
    assert_line(&l, PROC_STDOUT, 0, "early");
    assert_line(&l, PROC_STDOUT, 1, "late");
    lines_free(&l);

    /* A lingering child that ignores SIGTERM and holds the pipes is killed after the grace. */
    opts = (struct proc_run_opts){.wait_for_pipes = true, .timeout_ms = 200, .kill_grace_ms = 300};
    start = time_mono_us();
    assert_int_equal(
        run_sh("(trap '' TERM; sleep 30; echo never) & echo early; exit 5", &opts, &l, &res, NULL),
        0);
    int64_t took = elapsed_ms(start);
    assert_true(took >= 450 && took < 8000);
    assert_true(res.timed_out);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 5);
    assert_int_equal(l.n, 1);
    lines_free(&l);
    reap_orphans();
}

static void test_capture(void **state)
{
    (void)state;
    char *const argv_big[] = {"sh", "-c", "head -c 50000 /dev/zero | tr '\\0' a; exit 4", NULL};
    struct proc_spec spec = {.path = "/bin/sh", .argv = argv_big, .envp = test_env};
    struct proc_capture cap;
    struct proc_result res;
    struct err e = ERR_INIT;
    assert_int_equal(proc_run_capture(&spec, NULL, 100, &cap, &res, &e), 0);
    assert_true(res.exited);
    assert_int_equal(res.exit_status, 4);
    assert_true(cap.truncated);
    assert_int_equal(cap.len, 100);
    assert_int_equal(strlen(cap.data), 100);
    assert_int_equal(strspn(cap.data, "a"), 100);
    proc_capture_free(&cap);

    /* Truncation never splits a character: 100 euro signs (300 bytes) into 100 and 101. */
    char *const argv_euro[] = {
        "sh", "-c", "i=0; while [ $i -lt 100 ]; do printf '\\342\\202\\254'; i=$((i+1)); done",
        NULL};
    spec.argv = argv_euro;
    for (size_t c = 100; c <= 101; c++) {
        assert_int_equal(proc_run_capture(&spec, NULL, c, &cap, NULL, &e), 0);
        assert_true(cap.truncated);
        assert_int_equal(cap.len, 99);
        assert_true(utf8_valid(cap.data, cap.len));
        proc_capture_free(&cap);
    }
    assert_int_equal(proc_run_capture(&spec, NULL, 300, &cap, NULL, &e), 0);
    assert_false(cap.truncated);
    assert_int_equal(cap.len, 300);
    proc_capture_free(&cap);

    /* Interleaved in arrival order; a character split across writes (with the other stream in
     * between) arrives whole; invalid bytes become U+FFFD. */
    char *const argv_mix[] = {"sh", "-c",
                              "echo a; sleep 0.3; echo b >&2; sleep 0.3; printf '\\342'; "
                              "sleep 0.3; echo x >&2; sleep 0.3; printf '\\202\\254\\n\\377c\\n'",
                              NULL};
    spec.argv = argv_mix;
    struct proc_run_opts opts = {.timeout_ms = 30000};
    assert_int_equal(proc_run_capture(&spec, &opts, 1000, &cap, &res, &e), 0);
    assert_false(cap.truncated);
    assert_string_equal(cap.data, "a\nb\nx\n\xE2\x82\xAC\n\xEF\xBF\xBD"
                                  "c\n");
    assert_int_equal(cap.len, strlen(cap.data));
    assert_string_equal(res.last_stderr, "x");
    proc_capture_free(&cap);

    /* The timeout applies; the capture waits for the pipes. */
    char *const argv_slow[] = {"sh", "-c", "echo before; (sleep 1; echo after) & exit 0", NULL};
    spec.argv = argv_slow;
    assert_int_equal(proc_run_capture(&spec, &opts, 1000, &cap, &res, &e), 0);
    assert_string_equal(cap.data, "before\nafter\n");
    proc_capture_free(&cap);
    reap_orphans();

    char *const argv_sleep[] = {"sh", "-c", "echo started; sleep 30", NULL};
    spec.argv = argv_sleep;
    opts = (struct proc_run_opts){.timeout_ms = 200};
    assert_int_equal(proc_run_capture(&spec, &opts, 0, &cap, &res, &e), 0);
    assert_true(res.timed_out);
    assert_true(cap.truncated);
    assert_int_equal(cap.len, 0);
    assert_string_equal(cap.data, "");
    proc_capture_free(&cap);
    err_clear(&e);
}

#define THREADS         4
#define RUNS_PER_THREAD 50

struct worker {
    int id;
    int failures;
    char first_failure[256];
};

static void worker_fail(struct worker *w, const char *what)
{
    if (w->failures++ == 0)
        str_copy(w->first_failure, sizeof w->first_failure, what);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < RUNS_PER_THREAD; i++) {
        char script[64], want[64];
        str_fmt(script, sizeof script, "echo hello-%d-%d; echo oops-%d >&2", w->id, i, i);
        str_fmt(want, sizeof want, "hello-%d-%d", w->id, i);
        char *const argv[] = {"sh", "-c", script, NULL};
        struct proc_spec spec = {.path = "/bin/sh", .argv = argv, .envp = test_env};
        struct proc_result res;
        struct err e = ERR_INIT;
        if (i % 3 == 2) {
            struct proc_capture cap;
            if (proc_run_capture(&spec, NULL, 4096, &cap, &res, &e) < 0) {
                worker_fail(w, err_msg(&e));
                err_clear(&e);
                continue;
            }
            if (!strstr(cap.data, want) || !res.exited || res.exit_status != 0)
                worker_fail(w, "capture output");
            proc_capture_free(&cap);
            continue;
        }
        struct proc_cancel *c = proc_cancel_new();
        struct proc *p = proc_start(&spec, &e);
        if (!p) {
            worker_fail(w, err_msg(&e));
            err_clear(&e);
            proc_cancel_free(c);
            continue;
        }
        struct lines l = {0};
        struct proc_run_opts opts = {
            .on_line = collect, .arg = &l, .cancel = c, .timeout_ms = 60000};
        if (proc_run(p, &opts, &res, &e) < 0)
            worker_fail(w, err_msg(&e));
        else if (!res.exited || res.exit_status != 0 || l.n != 2)
            worker_fail(w, "bad result");
        else if (!nth(&l, PROC_STDOUT, 0) || strcmp(nth(&l, PROC_STDOUT, 0)->text, want) != 0)
            worker_fail(w, "bad line");
        else if (!str_has_prefix(res.last_stderr, "oops-"))
            worker_fail(w, "bad last_stderr");
        lines_free(&l);
        proc_free(p);
        proc_cancel_free(c);
        err_clear(&e);
    }
    return NULL;
}

static void test_concurrent_runs(void **state)
{
    (void)state;
    int fds_before = count_fds();
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].failures)
            fail_msg("thread %d: %d failures, first: %s", i, w[i].failures, w[i].first_failure);
    }
    assert_int_equal(count_fds(), fds_before);
}

int main(void)
{
    /* Orphaned grandchildren come back here to be reaped, whatever PID 1 does. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_lines_in_order),
        cmocka_unit_test(test_long_lines_cut),
        cmocka_unit_test(test_partial_line_and_crlf),
        cmocka_unit_test(test_environment_exact),
        cmocka_unit_test(test_exec_failure),
        cmocka_unit_test(test_cwd_stdin_argv0),
        cmocka_unit_test(test_clean_child),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_leader_exit_without_pipes),
        cmocka_unit_test(test_wait_for_pipes),
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_concurrent_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
