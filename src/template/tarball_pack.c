/* tarball_pack.c - packing a directory into a deterministic tar archive (see tarball.h).
 *
 * Two passes: walk the tree (descriptors opened relative to their parent with O_NOFOLLOW, so a
 * symbolic link is reported, never followed) collecting paths, then sort them and write a pax
 * (restricted) archive with fixed metadata through libarchive into the caller's buffer.
 */
#include "template/archivex.h"
#include "template/tarball.h"

#include "base/mem.h"
#include "base/str.h"
#include "template/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_MAX_DEPTH 64 /* directory nesting below dir */

struct pack_item {
    char *path;
    bool is_dir;
    uint64_t size;
    unsigned mode;
};

struct pack {
    struct pack_item *items;
    size_t n, cap;
    uint64_t total; /* content bytes */
    size_t max;     /* archive size cap */
};

struct pack_out {
    struct buf *out;
    size_t start; /* out->len before packing */
    size_t max;
    bool too_large;
};

static int pack_fail(struct err *e, enum err_kind kind, const char *path, const char *why)
{
    char *q = template_quote(path, strlen(path));
    err_set(e, kind, "Cannot pack %s: %s", q, why);
    free(q);
    return -1;
}

static const char *special_kind(mode_t m)
{
    if (S_ISLNK(m))
        return "it is a symbolic link";
    if (S_ISCHR(m))
        return "it is a character device";
    if (S_ISBLK(m))
        return "it is a block device";
    if (S_ISFIFO(m))
        return "it is a FIFO";
    if (S_ISSOCK(m))
        return "it is a socket";
    return "it is not a regular file or directory";
}

static int pack_add(struct pack *pk, char *path, const struct stat *st, struct err *e)
{
    if (pk->n >= TARBALL_MAX_ENTRIES) {
        free(path);
        return err_set(e, ERR_TOO_LARGE, "Directory has more than %d entries", TARBALL_MAX_ENTRIES);
    }
    bool is_dir = S_ISDIR(st->st_mode);
    if (!is_dir) {
        pk->total += (uint64_t)st->st_size;
        if (pk->total > pk->max) {
            free(path);
            return err_set(e, ERR_TOO_LARGE, "Archive would be larger than %zu bytes", pk->max);
        }
    }
    if (pk->n == pk->cap) {
        pk->cap = pk->cap ? pk->cap * 2 : 64;
        pk->items = xreallocarray(pk->items, pk->cap, sizeof *pk->items);
    }
    pk->items[pk->n++] = (struct pack_item){
        .path = path,
        .is_dir = is_dir,
        .size = is_dir ? 0 : (uint64_t)st->st_size,
        .mode = (is_dir || (st->st_mode & 0111)) ? 0755 : 0644,
    };
    return 0;
}

/* Collects the entries of the directory fd (taken: closed here) whose path is prefix. */
static int pack_walk(struct pack *pk, int fd, const char *prefix, int depth, struct err *e)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int errnum = errno;
        close(fd);
        return pack_fail(e, ERR_INTERNAL, prefix, template_errno_text(errnum));
    }
    int rc = -1;
    struct dirent *de;
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        char *path = *prefix ? str_printf("%s/%s", prefix, name) : xstrdup(name);
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            pack_fail(e, ERR_INTERNAL, path, template_errno_text(errno));
            free(path);
            goto out;
        }
        if (S_ISDIR(st.st_mode) && strcmp(name, ".git") == 0) {
            free(path);
            continue;
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
            pack_fail(e, ERR_BAD_REQUEST, path, special_kind(st.st_mode));
            free(path);
            goto out;
        }
        if (pack_add(pk, path, &st, e) < 0) /* takes path */
            goto out;
        if (!S_ISDIR(st.st_mode))
            continue;
        if (depth >= PACK_MAX_DEPTH) {
            pack_fail(e, ERR_BAD_REQUEST, path, "directories are nested too deeply");
            goto out;
        }
        int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            pack_fail(e, ERR_INTERNAL, path, template_errno_text(errno));
            goto out;
        }
        if (pack_walk(pk, sub, path, depth + 1, e) < 0)
            goto out;
    }
    if (errno != 0) {
        pack_fail(e, ERR_INTERNAL, *prefix ? prefix : ".", template_errno_text(errno));
        goto out;
    }
    rc = 0;
out:
    closedir(d);
    return rc;
}

static int item_cmp(const void *a, const void *b)
{
    const struct pack_item *x = a, *y = b;
    return strcmp(x->path, y->path);
}

static la_ssize_t pack_write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
    struct pack_out *po = ctx;
    if (po->out->len - po->start + n > po->max || buf_append(po->out, p, n) < 0) {
        po->too_large = true;
        archive_set_error(a, EFBIG, "archive too large");
        return -1;
    }
    return (la_ssize_t)n;
}

/* Fails with the writer's error, or ERR_TOO_LARGE when the output cap was hit. */
static int writer_fail(struct archive *a, const struct pack_out *po, const char *path,
                       struct err *e)
{
    if (po->too_large)
        return err_set(e, ERR_TOO_LARGE, "Archive would be larger than %zu bytes", po->max);
    const char *msg = archive_error_string(a);
    return pack_fail(e, ERR_INTERNAL, path, msg ? msg : "cannot write the archive");
}

/* Streams the regular file item (checked to be unchanged since the walk) into the archive. */
static int pack_file_data(struct archive *a, int rootfd, const struct pack_item *it,
                          const struct pack_out *po, struct err *e)
{
    int fd = tarball_open_beneath(rootfd, it->path, O_RDONLY, 0, false);
    if (fd < 0)
        return pack_fail(e, ERR_INTERNAL, it->path, template_errno_text(errno));
    int rc = -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != it->size) {
        pack_fail(e, ERR_INTERNAL, it->path, "it changed while being packed");
        goto out;
    }
    char chunk[65536];
    uint64_t left = it->size;
    while (left > 0) {
        ssize_t n = read(fd, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pack_fail(e, ERR_INTERNAL, it->path,
                      n < 0 ? template_errno_text(errno) : "it changed while being packed");
            goto out;
        }
        if (archive_write_data(a, chunk, (size_t)n) != n) {
            writer_fail(a, po, it->path, e);
            goto out;
        }
        left -= (uint64_t)n;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

/* Writes the sorted items as an archive appended to po->out. */
static int pack_write(const struct pack *pk, int rootfd, struct pack_out *po, struct err *e)
{
    struct archive *a = archive_write_new();
    struct archive_entry *ae = archive_entry_new();
    if (!a || !ae)
        mem_oom();
    int rc = -1;
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open2(a, po, NULL, pack_write_cb, NULL, NULL) != ARCHIVE_OK) {
        writer_fail(a, po, ".", e);
        goto out;
    }
    for (size_t i = 0; i < pk->n; i++) {
        const struct pack_item *it = &pk->items[i];
        archive_entry_clear(ae);
        archive_entry_copy_pathname(ae, it->path);
        archive_entry_set_filetype(ae, it->is_dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(ae, it->mode);
        archive_entry_set_size(ae, (la_int64_t)it->size);
        archive_entry_set_mtime(ae, 0, 0);
        archive_entry_set_uid(ae, 0);
        archive_entry_set_gid(ae, 0);
        if (archive_write_header(a, ae) < ARCHIVE_WARN) {
            writer_fail(a, po, it->path, e);
            goto out;
        }
        if (!it->is_dir && pack_file_data(a, rootfd, it, po, e) < 0)
            goto out;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        writer_fail(a, po, ".", e);
        goto out;
    }
    rc = 0;
out:
    archive_entry_free(ae);
    archive_write_free(a);
    return rc;
}

int tarball_pack_dir(const char *dir, struct buf *out, size_t max_bytes, struct err *e)
{
    struct pack pk = {0};
    pk.max = (max_bytes == 0 || max_bytes > TARBALL_MAX_BYTES) ? TARBALL_MAX_BYTES : max_bytes;
    struct pack_out po = {.out = out, .start = out->len, .max = pk.max};
    int rc = -1;
    int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        pack_fail(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_INTERNAL, dir,
                  template_errno_text(errno));
        goto out;
    }
    int walkfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (walkfd < 0) {
        pack_fail(e, ERR_INTERNAL, dir, template_errno_text(errno));
        goto out;
    }
    if (pack_walk(&pk, walkfd, "", 0, e) < 0)
        goto out;
    if (pk.n > 0)
        qsort(pk.items, pk.n, sizeof *pk.items, item_cmp);
    if (pack_write(&pk, rootfd, &po, e) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && out->len > po.start) {
        out->len = po.start;
        out->data[out->len] = '\0';
    }
    for (size_t i = 0; i < pk.n; i++)
        free(pk.items[i].path);
    free(pk.items);
    if (rootfd >= 0)
        close(rootfd);
    return rc;
}
