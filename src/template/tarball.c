/* tarball.c - reading template archives: validation, listing, reading one file, extraction.
 *
 * One walker (struct tar_walk) reads headers with libarchive and applies every safety rule of
 * tarball.h, so listing, reading and extracting can never disagree about what is allowed.
 * Packing a directory lives in tarball_pack.c.
 */
#include "template/tarball.h"
#include "template/archivex.h"

#include "base/map.h"
#include "base/mem.h"
#include "base/str.h"
#include "template/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tar_walk {
    struct archive *a;
    struct map seen; /* normalized paths already listed */
    size_t count;    /* headers read, including a skipped root entry */
    uint64_t total;  /* content bytes of regular files */
};

int tarball_path_normalize(const char *raw, char **out, const char **why)
{
    *out = NULL;
    if (!raw || !*raw) {
        *why = "it has an empty path";
        return -1;
    }
    if (raw[0] == '/') {
        *why = "it is an absolute path";
        return -1;
    }
    size_t len = strlen(raw);
    char *norm = xmalloc(len + 1);
    size_t o = 0;
    const char *p = raw;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(norm);
            *why = "it contains a \"..\" path segment";
            return -1;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o > 0)
                norm[o++] = '/';
            memcpy(norm + o, p, n);
            o += n;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    norm[o] = '\0';
    *out = norm;
    return 0;
}

/* Why an entry of this kind is refused, or NULL for regular files and directories. */
static const char *entry_unsafe_kind(struct archive_entry *ae)
{
    if (archive_entry_hardlink(ae))
        return "it is a hard link";
    if (archive_entry_symlink(ae))
        return "it is a symbolic link";
    switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
    case AE_IFDIR:
        return NULL;
    case AE_IFLNK:
        return "it is a symbolic link";
    case AE_IFCHR:
        return "it is a character device";
    case AE_IFBLK:
        return "it is a block device";
    case AE_IFIFO:
        return "it is a FIFO";
    case AE_IFSOCK:
        return "it is a socket";
    default:
        return "it is not a regular file or directory";
    }
}

/* Fails with `Archive entry "<raw>" <what>`. Returns -1. */
static int entry_fail(struct err *e, const char *raw, const char *what, const char *why)
{
    char *q = template_quote(raw, raw ? strlen(raw) : 0);
    err_set(e, ERR_BAD_REQUEST, "Archive entry %s %s%s", q, what, why);
    free(q);
    return -1;
}

static int walk_open(struct tar_walk *w, const void *data, size_t len, struct err *e)
{
    memset(w, 0, sizeof *w);
    if (len > TARBALL_MAX_BYTES)
        return err_set(e, ERR_TOO_LARGE, "Archive is larger than %u MiB",
                       TARBALL_MAX_BYTES / (1024 * 1024));
    if (len == 0)
        return err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: the file is empty");
    w->a = archive_read_new();
    if (!w->a)
        mem_oom();
    archive_read_support_format_tar(w->a);
    if (archive_read_open_memory(w->a, data, len) != ARCHIVE_OK) {
        const char *msg = archive_error_string(w->a);
        err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: %s",
                msg ? msg : "unreadable");
        archive_read_free(w->a);
        w->a = NULL;
        return -1;
    }
    return 0;
}

static void walk_close(struct tar_walk *w)
{
    if (w->a)
        archive_read_free(w->a);
    map_free(&w->seen, NULL);
    memset(w, 0, sizeof *w);
}

/* Values of tar_walk.seen: what a path is. */
static char mark_file, mark_dir, mark_parent;

/* Records norm (and its parents as implied directories), refusing repeats and paths that are
 * both a file and a directory. */
static int walk_remember(struct tar_walk *w, const char *norm, bool is_dir, const char *raw,
                         struct err *e)
{
    void *prev = map_get(&w->seen, norm);
    if (prev && !(prev == &mark_parent && is_dir))
        return entry_fail(e, raw, prev == &mark_parent ? "is unsafe: " : "appears more than once",
                          prev == &mark_parent ? "it is a file but other entries are inside it"
                                               : "");
    map_put(&w->seen, norm, is_dir ? &mark_dir : &mark_file);
    char *parent = xstrdup(norm);
    int rc = 0;
    for (char *slash = strrchr(parent, '/'); slash && rc == 0; slash = strrchr(parent, '/')) {
        *slash = '\0';
        void *kind = map_get(&w->seen, parent);
        if (kind == &mark_file)
            rc = entry_fail(e, raw, "is unsafe: ", "it is inside an entry that is a file");
        else if (kind)
            break; /* this parent, and so all of its own parents, are known directories */
        else
            map_put(&w->seen, parent, &mark_parent);
    }
    free(parent);
    return rc;
}

/* Checks one header: kind, path, count, size, repetition. Returns 0 with *norm set (caller
 * frees), 1 to skip the entry (the archive root "./"), -1 on error. */
static int walk_check(struct tar_walk *w, struct archive_entry *ae, char **norm, struct err *e)
{
    *norm = NULL;
    const char *raw = archive_entry_pathname(ae);
    if (!raw)
        raw = archive_entry_pathname_utf8(ae);
    if (++w->count > TARBALL_MAX_ENTRIES)
        return err_set(e, ERR_BAD_REQUEST, "Archive has more than %d entries", TARBALL_MAX_ENTRIES);
    const char *why = entry_unsafe_kind(ae);
    if (why)
        return entry_fail(e, raw, "is unsafe: ", why);
    if (tarball_path_normalize(raw, norm, &why) < 0)
        return entry_fail(e, raw, "is unsafe: ", why);
    bool is_dir = archive_entry_filetype(ae) == AE_IFDIR;
    if (**norm == '\0') {
        free(*norm);
        *norm = NULL;
        if (is_dir)
            return 1;
        return entry_fail(e, raw, "is unsafe: ", "it has an empty path");
    }
    if (!is_dir) {
        int64_t size = archive_entry_size(ae);
        if (size < 0)
            size = 0;
        w->total += (uint64_t)size;
        if (w->total > TARBALL_MAX_BYTES) {
            free(*norm);
            *norm = NULL;
            return err_set(e, ERR_TOO_LARGE, "Archive content is larger than %u MiB",
                           TARBALL_MAX_BYTES / (1024 * 1024));
        }
    }
    if (walk_remember(w, *norm, is_dir, raw, e) < 0) {
        free(*norm);
        *norm = NULL;
        return -1;
    }
    return 0;
}

/* Reads the next listed entry. Returns 1 with *ae and *norm (caller frees) set, 0 at the end of
 * the archive, -1 on error. */
static int walk_next(struct tar_walk *w, struct archive_entry **ae, char **norm, struct err *e)
{
    for (;;) {
        int r = archive_read_next_header(w->a, ae);
        if (r == ARCHIVE_EOF)
            return 0;
        /* ARCHIVE_WARN: e.g. a name not convertible to the locale; the raw name is kept. */
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            const char *msg = archive_error_string(w->a);
            return err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: %s",
                           msg ? msg : "unreadable");
        }
        int c = walk_check(w, *ae, norm, e);
        if (c < 0)
            return -1;
        if (c == 0)
            return 1;
    }
}

/* Reads the current entry's data through (discarding it), so that an archive whose headers
 * parse but whose data does not (a broken sparse map, a truncated member) is refused when it is
 * indexed rather than when a file is read from it later. */
static int entry_data_check(struct archive *a, struct err *e)
{
    char chunk[16384];
    la_ssize_t n;
    while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0)
        ;
    if (n == 0)
        return 0;
    const char *msg = archive_error_string(a);
    return err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: %s",
                   msg ? msg : "unreadable");
}

int tarball_index(const void *data, size_t len, struct tar_index *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct tar_walk w;
    if (walk_open(&w, data, len, e) < 0)
        return -1;
    size_t cap = 0;
    int rc = -1;
    for (;;) {
        struct archive_entry *ae;
        char *norm;
        int r = walk_next(&w, &ae, &norm, e);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->entries = xreallocarray(out->entries, cap, sizeof *out->entries);
        }
        struct tar_entry *te = &out->entries[out->n++];
        te->path = norm;
        te->is_dir = archive_entry_filetype(ae) == AE_IFDIR;
        if (!te->is_dir && entry_data_check(w.a, e) < 0)
            goto out;
        te->size = (te->is_dir || archive_entry_size(ae) < 0) ? 0 : (size_t)archive_entry_size(ae);
        te->mode = (unsigned)archive_entry_perm(ae) & 07777;
    }
    rc = 0;
out:
    walk_close(&w);
    if (rc < 0)
        tarball_index_free(out);
    return rc;
}

void tarball_index_free(struct tar_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++)
        free(ix->entries[i].path);
    free(ix->entries);
    ix->entries = NULL;
    ix->n = 0;
}

bool tarball_has_file(const struct tar_index *ix, const char *path)
{
    if (!ix || !path)
        return false;
    char *norm;
    const char *why;
    if (tarball_path_normalize(path, &norm, &why) < 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < ix->n && !found; i++)
        found = !ix->entries[i].is_dir && strcmp(ix->entries[i].path, norm) == 0;
    free(norm);
    return found;
}

/* Appends the current entry's data to b (capped). ERR_TOO_LARGE past the cap. */
static int read_entry_data(struct archive *a, struct buf *b, const char *path, size_t max,
                           struct err *e)
{
    char chunk[16384];
    for (;;) {
        la_ssize_t n = archive_read_data(a, chunk, sizeof chunk);
        if (n == 0)
            return 0;
        if (n < 0) {
            const char *msg = archive_error_string(a);
            return err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: %s",
                           msg ? msg : "unreadable");
        }
        if (buf_append(b, chunk, (size_t)n) < 0) {
            char *q = template_quote(path, strlen(path));
            err_set(e, ERR_TOO_LARGE, "File %s is larger than %zu bytes", q, max);
            free(q);
            return -1;
        }
    }
}

int tarball_read(const void *data, size_t len, const char *path, size_t max, char **out,
                 size_t *out_len, struct err *e)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    char *want = NULL;
    const char *why;
    struct tar_walk w = {0};
    struct buf b;
    buf_init(&b, max ? max : 1);
    int rc = -1;
    if (tarball_path_normalize(path, &want, &why) < 0 || !*want) {
        char *q = template_quote(path, path ? strlen(path) : 0);
        err_set(e, ERR_NOT_FOUND, "Archive has no file %s", q);
        free(q);
        goto out;
    }
    if (walk_open(&w, data, len, e) < 0)
        goto out;
    for (;;) {
        struct archive_entry *ae;
        char *norm;
        int r = walk_next(&w, &ae, &norm, e);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        bool match = archive_entry_filetype(ae) == AE_IFREG && strcmp(norm, want) == 0;
        free(norm);
        if (!match)
            continue;
        if (archive_entry_size(ae) > (int64_t)max || (max == 0 && archive_entry_size(ae) > 0)) {
            char *q = template_quote(want, strlen(want));
            err_set(e, ERR_TOO_LARGE, "File %s is larger than %zu bytes", q, max);
            free(q);
            goto out;
        }
        if (read_entry_data(w.a, &b, want, max, e) < 0)
            goto out;
        if (out_len)
            *out_len = b.len;
        *out = buf_take(&b);
        rc = 0;
        goto out;
    }
    char *q = template_quote(want, strlen(want));
    err_set(e, ERR_NOT_FOUND, "Archive has no file %s", q);
    free(q);
out:
    walk_close(&w);
    buf_free(&b);
    free(want);
    return rc;
}

int tarball_open_beneath(int dirfd, const char *path, int flags, unsigned mode, bool mkdirs)
{
    int cur = dirfd;
    const char *p = path;
    char seg[NAME_MAX + 1];
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > NAME_MAX) {
            if (cur != dirfd)
                close(cur);
            errno = n ? ENAMETOOLONG : EINVAL;
            return -1;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        bool is_last = !slash;
        bool want_dir = !is_last || (flags & O_DIRECTORY);
        int fd = -1;
        if (!(mkdirs && want_dir && mkdirat(cur, seg, 0755) < 0 && errno != EEXIST)) {
            if (is_last)
                fd = openat(cur, seg, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
            else
                fd = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int saved = errno;
        if (cur != dirfd)
            close(cur);
        errno = saved;
        if (fd < 0 || is_last)
            return fd;
        cur = fd;
        p = slash + 1;
    }
}

/* Writes all of p[0..n) to fd. 0, or -1 with errno. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int extract_fail(struct err *e, const char *path, int errnum)
{
    char *q = template_quote(path, strlen(path));
    err_set(e, ERR_INTERNAL, "Cannot extract %s: %s", q, template_errno_text(errnum));
    free(q);
    return -1;
}

/* Copies the current entry's data into fd, never more than the header's size. */
static int extract_data(struct archive *a, int fd, const char *norm, struct err *e)
{
    char chunk[65536];
    for (;;) {
        la_ssize_t n = archive_read_data(a, chunk, sizeof chunk);
        if (n == 0)
            return 0;
        if (n < 0) {
            const char *msg = archive_error_string(a);
            return err_set(e, ERR_BAD_REQUEST, "File is not a valid tar archive: %s",
                           msg ? msg : "unreadable");
        }
        if (write_all(fd, chunk, (size_t)n) < 0)
            return extract_fail(e, norm, errno);
    }
}

/* Creates one entry (norm, already checked) beneath rootfd. */
static int extract_entry(struct archive *a, struct archive_entry *ae, int rootfd, const char *norm,
                         struct err *e)
{
    bool is_dir = archive_entry_filetype(ae) == AE_IFDIR;
    unsigned mode = (is_dir || (archive_entry_perm(ae) & 0111)) ? 0755 : 0644;
    int flags = is_dir ? O_RDONLY | O_DIRECTORY : O_WRONLY | O_CREAT | O_TRUNC;
    int fd = tarball_open_beneath(rootfd, norm, flags, mode, true);
    if (fd < 0)
        return extract_fail(e, norm, errno);
    int rc = -1;
    if (fchmod(fd, (mode_t)mode) < 0) {
        extract_fail(e, norm, errno);
        goto out;
    }
    if (!is_dir && extract_data(a, fd, norm, e) < 0)
        goto out;
    rc = 0;
out:
    close(fd);
    return rc;
}

int tarball_extract(const void *data, size_t len, const char *dir, struct err *e)
{
    struct tar_index ix;
    if (tarball_index(data, len, &ix, e) < 0)
        return -1; /* nothing is written for an unsafe archive */
    tarball_index_free(&ix);
    struct tar_walk w = {0};
    int rc = -1;
    int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        extract_fail(e, dir, errno);
        goto out;
    }
    if (walk_open(&w, data, len, e) < 0)
        goto out;
    for (;;) {
        struct archive_entry *ae;
        char *norm;
        int r = walk_next(&w, &ae, &norm, e);
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        r = extract_entry(w.a, ae, rootfd, norm, e);
        free(norm);
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    walk_close(&w);
    if (rootfd >= 0)
        close(rootfd);
    return rc;
}
