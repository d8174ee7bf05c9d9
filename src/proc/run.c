/* run.c - waiting for a child: poll() over its pidfd, its pipes, a cancel and the deadlines;
 * splitting its output into lines; collecting it with a cap (proc_run_capture).
 *
 * One loop per run, on the caller's thread: compute the next deadline, poll, read at most one
 * chunk per readable pipe (so neither stream starves the other), reap the leader when its pidfd
 * becomes readable, and escalate SIGTERM -> SIGKILL on timeout or cancel.
 */
#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "proc/internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define MAX_MS     (INT64_C(100) * 365 * 24 * 3600 * 1000) /* a century: "forever" */

/* A stream's pending line: up to line_max + 1 bytes (room for a "\r" before the "\n") and a
 * NUL. */
struct line_state {
    char *buf;
    size_t len;
    bool dropping; /* the line was too long and delivered cut: skip to its end */
};

struct run_ctx {
    size_t line_max;
    proc_line_fn on_line;
    void *arg;
    proc_chunk_fn on_chunk;
    void *chunk_arg;
    struct line_state lines[2]; /* stdout, stderr */
    struct proc_result *out;
};

/* Where to cut s (len > max bytes) at most max bytes in, keeping a multi-byte UTF-8 character
 * that straddles the cut out whole. Input that is not UTF-8 is cut at max. */
static size_t cut_at_boundary(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    for (int i = 0; i < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
        n--;
    if (((unsigned char)s[n] & 0xC0) == 0x80)
        return max; /* more than 3 continuation bytes: not UTF-8 */
    return n;
}

/* Delivers s[0..len) (len <= line_max + 1; the buffer has room for a NUL after it). */
static void line_emit(struct run_ctx *c, enum proc_stream stream, char *s, size_t len)
{
    len = cut_at_boundary(s, len, c->line_max);
    s[len] = '\0';
    if (stream == PROC_STDERR && len > 0) {
        size_t n = cut_at_boundary(s, len, sizeof c->out->last_stderr - 1);
        memcpy(c->out->last_stderr, s, n);
        c->out->last_stderr[n] = '\0';
    }
    if (c->on_line)
        c->on_line(c->arg, stream, s, len);
}

static void line_feed(struct run_ctx *c, enum proc_stream stream, const char *data, size_t n)
{
    struct line_state *ls = &c->lines[stream - 1];
    size_t room_max = c->line_max + 1;
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t seg = nl ? (size_t)(nl - data) : n;
        if (!ls->dropping) {
            size_t room = room_max - ls->len;
            size_t take = seg < room ? seg : room;
            memcpy(ls->buf + ls->len, data, take);
            ls->len += take;
            if (seg > take) {
                /* At least line_max + 2 bytes before the newline: longer than line_max even
                 * without a final "\r". */
                line_emit(c, stream, ls->buf, ls->len);
                ls->len = 0;
                ls->dropping = true;
            }
        }
        if (!nl)
            break;
        if (!ls->dropping) {
            size_t len = ls->len;
            if (len > 0 && ls->buf[len - 1] == '\r')
                len--;
            line_emit(c, stream, ls->buf, len);
        }
        ls->len = 0;
        ls->dropping = false;
        data = nl + 1;
        n -= seg + 1;
    }
}

/* Delivers a final partial line. */
static void line_flush(struct run_ctx *c, enum proc_stream stream)
{
    struct line_state *ls = &c->lines[stream - 1];
    if (!ls->dropping && ls->len > 0)
        line_emit(c, stream, ls->buf, ls->len);
    ls->len = 0;
    ls->dropping = false;
}

static void got_bytes(struct run_ctx *c, enum proc_stream stream, const char *data, size_t n)
{
    if (c->on_chunk)
        c->on_chunk(c->chunk_arg, stream, data, n);
    line_feed(c, stream, data, n);
}

/* Reads one chunk of at most max bytes from *fd. At EOF (or a read error) the stream's partial
 * line is flushed and *fd becomes -1 (the descriptor stays owned by the proc). */
static void stream_read(struct run_ctx *c, int *fd, enum proc_stream stream, size_t max)
{
    char chunk[READ_CHUNK];
    if (max > sizeof chunk)
        max = sizeof chunk;
    ssize_t r;
    do {
        r = read(*fd, chunk, max);
    } while (r < 0 && errno == EINTR);
    if (r > 0) {
        got_bytes(c, stream, chunk, (size_t)r);
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    line_flush(c, stream);
    *fd = -1;
}

/* Reads what is readable right now from *fd without waiting for more. */
static void stream_drain(struct run_ctx *c, int *fd, enum proc_stream stream)
{
    int avail = 0;
    if (*fd < 0 || ioctl(*fd, FIONREAD, &avail) < 0)
        return;
    size_t left = avail > 0 ? (size_t)avail : 0;
    while (left > 0 && *fd >= 0) {
        char chunk[READ_CHUNK];
        size_t want = left < sizeof chunk ? left : sizeof chunk;
        ssize_t r;
        do {
            r = read(*fd, chunk, want);
        } while (r < 0 && errno == EINTR);
        if (r <= 0)
            break;
        got_bytes(c, stream, chunk, (size_t)r);
        left -= (size_t)r;
    }
}

static int reap(struct proc *p, struct err *e)
{
    int status;
    pid_t r;
    do {
        r = waitpid(p->pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return err_set(e, ERR_INTERNAL, "waitpid %d: %s", (int)p->pid, strerror(errno));
    p->reaped = true;
    p->status = status;
    return 0;
}

static int64_t clamp_ms(int64_t ms)
{
    return ms > MAX_MS ? MAX_MS : ms;
}

int proc_run_chunks(struct proc *p, const struct proc_run_opts *opts, proc_chunk_fn on_chunk,
                    void *chunk_arg, struct proc_result *out, struct err *e)
{
    static const struct proc_run_opts defaults;
    if (!opts)
        opts = &defaults;
    memset(out, 0, sizeof *out);
    if (p->ran)
        return err_set(e, ERR_INTERNAL, "proc_run: the child was already waited for");
    p->ran = true;

    int rc = -1;
    struct run_ctx c = {
        .line_max = opts->line_max ? opts->line_max : PROC_LINE_MAX_DEFAULT,
        .on_line = opts->on_line,
        .arg = opts->arg,
        .on_chunk = on_chunk,
        .chunk_arg = chunk_arg,
        .out = out,
    };
    if (c.line_max > PROC_LINE_MAX_LIMIT)
        c.line_max = PROC_LINE_MAX_LIMIT;
    for (int i = 0; i < 2; i++)
        c.lines[i].buf = xmalloc(c.line_max + 2);

    int64_t grace_us =
        clamp_ms(opts->kill_grace_ms > 0 ? opts->kill_grace_ms : PROC_KILL_GRACE_MS) * 1000;
    int64_t deadline =
        opts->timeout_ms > 0 ? time_mono_us() + clamp_ms(opts->timeout_ms) * 1000 : 0;
    int64_t kill_at = 0;
    bool term_sent = false, kill_sent = false;
    int out_fd = p->out_fd, err_fd = p->err_fd;
    int cancel_fd = opts->cancel ? opts->cancel->efd : -1;

    for (;;) {
        bool pipes_done = out_fd < 0 && err_fd < 0;
        if (p->reaped && (!opts->wait_for_pipes || pipes_done || kill_sent))
            break;

        int64_t now = time_mono_us();
        if (!term_sent) {
            bool canceled = proc_cancel_fired(opts->cancel);
            if (canceled || (deadline && now >= deadline)) {
                out->canceled = canceled;
                out->timed_out = !canceled;
                kill(-p->pid, SIGTERM);
                term_sent = true;
                kill_at = now + grace_us;
            }
        } else if (!kill_sent && now >= kill_at) {
            kill(-p->pid, SIGKILL);
            kill_sent = true;
            continue;
        }

        int64_t wake = 0;
        if (!term_sent)
            wake = deadline;
        else if (!kill_sent)
            wake = kill_at;
        int timeout = -1;
        if (wake) {
            int64_t ms = (wake - now + 999) / 1000;
            timeout = ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
        }

        struct pollfd pf[4] = {
            {.fd = p->reaped ? -1 : p->pidfd, .events = POLLIN},
            {.fd = out_fd, .events = POLLIN},
            {.fd = err_fd, .events = POLLIN},
            {.fd = term_sent ? -1 : cancel_fd, .events = POLLIN},
        };
        int n = poll(pf, 4, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err_set(e, ERR_INTERNAL, "poll: %s", strerror(errno));
            goto cleanup;
        }
        /* Output first: what the leader wrote before exiting is read before it is reaped. */
        if (pf[1].revents)
            stream_read(&c, &out_fd, PROC_STDOUT, READ_CHUNK);
        if (pf[2].revents)
            stream_read(&c, &err_fd, PROC_STDERR, READ_CHUNK);
        if (pf[0].revents && reap(p, e) < 0)
            goto cleanup;
    }
    /* Whatever is already in the pipes (all of it when they reached EOF). */
    stream_drain(&c, &out_fd, PROC_STDOUT);
    stream_drain(&c, &err_fd, PROC_STDERR);
    line_flush(&c, PROC_STDOUT);
    line_flush(&c, PROC_STDERR);

    if (WIFEXITED(p->status)) {
        out->exited = true;
        out->exit_status = WEXITSTATUS(p->status);
    } else if (WIFSIGNALED(p->status)) {
        out->signaled = true;
        out->signal = WTERMSIG(p->status);
    }
    rc = 0;

cleanup:
    if (rc < 0) {
        kill(-p->pid, SIGKILL);
        if (!p->reaped)
            reap(p, NULL);
    }
    out->duration_ms = (time_mono_us() - p->start_us) / 1000;
    free(c.lines[0].buf);
    free(c.lines[1].buf);
    return rc;
}

int proc_run(struct proc *p, const struct proc_run_opts *opts, struct proc_result *out,
             struct err *e)
{
    return proc_run_chunks(p, opts, NULL, NULL, out, e);
}

/* proc_run_capture's collector: a capped buffer, and per stream the first bytes of a UTF-8
 * character split across reads, held back so that the other stream's output cannot land
 * inside it. */
struct capture {
    struct buf b;
    size_t cap;
    bool truncated;
    char hold[2][4];
    size_t nhold[2];
};

/* The length a UTF-8 sequence starting with lead byte b has, 0 when b cannot start one. */
static size_t utf8_lead_len(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* How many bytes at the end of s[0..n) are the start of a multi-byte character cut short. */
static size_t utf8_incomplete_tail(const char *s, size_t n)
{
    for (size_t i = 1; i <= 3 && i <= n; i++) {
        unsigned char b = (unsigned char)s[n - i];
        if ((b & 0xC0) == 0x80)
            continue;
        return utf8_lead_len(b) > i ? i : 0;
    }
    return 0;
}

static void capture_append(struct capture *cap, const char *data, size_t n)
{
    if (cap->truncated || n == 0)
        return;
    size_t room = cap->cap - cap->b.len;
    if (n > room) {
        n = room;
        cap->truncated = true;
    }
    buf_append(&cap->b, data, n);
}

static void capture_chunk(void *arg, enum proc_stream stream, const char *data, size_t n)
{
    struct capture *cap = arg;
    int s = stream - 1;
    if (cap->nhold[s] > 0) {
        /* Complete the held character with the continuation bytes that follow. */
        size_t need = utf8_lead_len((unsigned char)cap->hold[s][0]) - cap->nhold[s];
        size_t k = 0;
        while (k < need && k < n && ((unsigned char)data[k] & 0xC0) == 0x80)
            k++;
        memcpy(cap->hold[s] + cap->nhold[s], data, k);
        cap->nhold[s] += k;
        data += k;
        n -= k;
        if (k == need || n > 0) {
            capture_append(cap, cap->hold[s], cap->nhold[s]);
            cap->nhold[s] = 0;
        }
        if (n == 0)
            return;
    }
    size_t tail = utf8_incomplete_tail(data, n);
    capture_append(cap, data, n - tail);
    memcpy(cap->hold[s], data + n - tail, tail);
    cap->nhold[s] = tail;
}

int proc_run_capture(const struct proc_spec *spec, const struct proc_run_opts *opts, size_t cap,
                     struct proc_capture *out, struct proc_result *res, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct proc_result local;
    if (!res)
        res = &local;
    struct proc *p = proc_start(spec, e);
    if (!p) {
        memset(res, 0, sizeof *res);
        return -1;
    }
    struct proc_run_opts o = opts ? *opts : (struct proc_run_opts){0};
    o.on_line = NULL;
    o.arg = NULL;
    o.wait_for_pipes = true;
    struct capture c = {.cap = cap};
    buf_init(&c.b, 0);
    int rc = proc_run_chunks(p, &o, capture_chunk, &c, res, e);
    proc_free(p);
    if (rc < 0) {
        buf_free(&c.b);
        return -1;
    }
    capture_append(&c, c.hold[0], c.nhold[0]);
    capture_append(&c, c.hold[1], c.nhold[1]);
    if (c.truncated && c.b.len > 0) {
        c.b.len -= utf8_incomplete_tail(c.b.data, c.b.len);
        c.b.data[c.b.len] = '\0';
    }

    if (utf8_valid(buf_str(&c.b), c.b.len)) {
        out->len = c.b.len;
        out->data = buf_take(&c.b);
    } else {
        /* Invalid bytes become U+FFFD (3 bytes each), which may take the text over the cap. */
        out->data = utf8_sanitize(buf_str(&c.b), c.b.len, &out->len);
        if (out->len > cap) {
            out->len = utf8_cut(out->data, cap);
            out->data[out->len] = '\0';
            c.truncated = true;
        }
    }
    out->truncated = c.truncated;
    buf_free(&c.b);
    return 0;
}

void proc_capture_free(struct proc_capture *c)
{
    if (!c)
        return;
    free(c->data);
    c->data = NULL;
    c->len = 0;
    c->truncated = false;
}
