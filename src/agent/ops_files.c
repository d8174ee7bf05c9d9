/* ops_files.c - the read_file and write_file requests, and the file helpers edit_files shares:
 * loading a regular file with a size cap, atomic replacement through a temporary file in the
 * same directory (O_EXCL, fsync, rename, fsync of the directory).
 */
#include "agent/ops_internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_LIMIT_DEFAULT 2000
#define READ_LIMIT_MAX     10000
#define DIR_ENTRIES_MAX    1000
#define TMP_BASE_MAX       64 /* bytes of the target's name kept in a temporary file's name */

/* Reads fd to its end, refusing more than max bytes. *data is NUL-terminated. */
static int read_all(int fd, const char *path, size_t hint, size_t max, char **data, size_t *len,
                    struct err *e)
{
    size_t cap = (hint < max ? hint : max) + 1, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                return err_set(e, ERR_BAD_REQUEST, "%s is too large (over %zu bytes)", path, max);
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            return ops_errno(e, err, "read", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static int open_read(const char *path, struct err *e)
{
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ops_errno(e, errno, "open", path);
    return fd;
}

/* Refuses what is not a regular file of at most max bytes. */
static int check_regular(const struct stat *st, const char *path, size_t max, struct err *e)
{
    if (S_ISDIR(st->st_mode))
        return err_set(e, ERR_BAD_REQUEST, "%s is a directory", path);
    if (!S_ISREG(st->st_mode))
        return err_set(e, ERR_BAD_REQUEST, "%s is not a regular file", path);
    if ((uintmax_t)st->st_size > max)
        return err_set(e, ERR_BAD_REQUEST, "%s is too large (%jd bytes; the limit is %zu)", path,
                       (intmax_t)st->st_size, max);
    return 0;
}

int ops_file_load(const char *path, size_t max, char **data, size_t *len, mode_t *mode,
                  struct err *e)
{
    int fd = open_read(path, e);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        ops_errno(e, errno, "stat", path);
        goto cleanup;
    }
    if (check_regular(&st, path, max, e) < 0)
        goto cleanup;
    if (read_all(fd, path, (size_t)st.st_size, max, data, len, e) < 0)
        goto cleanup;
    *mode = st.st_mode & 07777;
    rc = 0;

cleanup:
    close(fd);
    return rc;
}

char *ops_write_target(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *real = realpath(path, NULL);
        if (real)
            return real;
    }
    return xstrdup(path);
}

/* Creates the missing directories of the absolute path dir (0755). */
static int mkdirs(const char *dir, struct err *e)
{
    char *p = xstrdup(dir);
    int rc = -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, 0755) < 0) {
            if (errno != EEXIST) {
                ops_errno(e, errno, "create directory", p);
                goto cleanup;
            }
            if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) {
                err_set(e, ERR_BAD_REQUEST, "%s is not a directory", p);
                goto cleanup;
            }
        }
        *s = c;
        if (c == '\0')
            break;
    }
    rc = 0;

cleanup:
    free(p);
    return rc;
}

static int write_full(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int ops_tmp_write(const char *path, const char *data, size_t len, mode_t mode, bool make_dirs,
                  char **tmp, struct err *e)
{
    *tmp = NULL;
    char *copy = xstrdup(path), *copy2 = xstrdup(path);
    const char *dir = dirname(copy), *base = basename(copy2);
    int rc = -1, fd = -1;
    if (make_dirs && mkdirs(dir, e) < 0)
        goto cleanup;
    char *name = str_printf("%s/.%.*s.berth-tmp-XXXXXX", strcmp(dir, "/") ? dir : "",
                            (int)utf8_cut(base, strnlen(base, TMP_BASE_MAX)), base);
    fd = mkostemp(name, O_CLOEXEC);
    if (fd < 0) {
        ops_errno(e, errno, "create a temporary file for", path);
        free(name);
        goto cleanup;
    }
    *tmp = name;
    if (fchmod(fd, mode) < 0 || write_full(fd, data, len) < 0 || fsync(fd) < 0) {
        ops_errno(e, errno, "write", path);
        goto cleanup;
    }
    int r = close(fd);
    fd = -1;
    if (r < 0) {
        ops_errno(e, errno, "write", path);
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && *tmp) {
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
    }
    free(copy);
    free(copy2);
    return rc;
}

int ops_tmp_commit(const char *tmp, const char *path, struct err *e)
{
    if (rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return ops_errno(e, err, "rename onto", path);
    }
    char *copy = xstrdup(path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: the rename is done either way */
        close(dfd);
    }
    free(copy);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory listing answer for the open directory fd (taken). */
static int list_dir(int fd, const char *path, json_t **result, struct err *e)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        return ops_errno(e, err, "list", path);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xreallocarray(names, cap, sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    json_t *entries = ops_json_must(json_array());
    for (size_t i = 0; i < n && i < DIR_ENTRIES_MAX; i++) {
        struct stat st;
        bool ok = fstatat(dirfd(d), names[i], &st, 0) == 0 ||
                  fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0;
        bool is_dir = ok && S_ISDIR(st.st_mode);
        json_int_t size = ok && !is_dir ? (json_int_t)st.st_size : 0;
        json_array_append_new(entries,
                              ops_json_must(json_pack("{s:o, s:b, s:I}", "name",
                                                      ops_json_text(names[i], strlen(names[i])),
                                                      "is_dir", (int)is_dir, "size", size)));
    }
    *result = ops_json_must(json_pack("{s:s, s:b, s:o, s:I, s:b}", "path", path, "is_directory", 1,
                                      "entries", entries, "total_entries", (json_int_t)n,
                                      "truncated", (int)(n > DIR_ENTRIES_MAX)));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return 0;
}

/* The read_file answer for the text data[0..len): lines offset..offset+limit-1, each with its
 * newline, so reading a whole file gives back its exact bytes. */
static json_t *select_lines(const char *path, const char *data, size_t len, int64_t offset,
                            int64_t limit)
{
    size_t total = 0;
    for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))); p++)
        total++;
    if (len > 0 && data[len - 1] != '\n')
        total++;

    size_t start = 0, end = 0, lines = 0;
    bool truncated = false;
    if ((uint64_t)offset <= total) {
        for (int64_t i = 1; i < offset; i++)
            start = (size_t)((const char *)memchr(data + start, '\n', len - start) - data) + 1;
        size_t pos = start;
        end = start;
        while (lines < (uint64_t)limit && pos < len) {
            const char *nl = memchr(data + pos, '\n', len - pos);
            lines++;
            end = nl ? (size_t)(nl - data) + 1 : len; /* a line keeps its newline */
            pos = end;
        }
        if (end - start > OPS_READ_CONTENT_MAX) {
            end = start + utf8_cut(data + start, OPS_READ_CONTENT_MAX);
            truncated = true;
            lines = data[end - 1] == '\n' ? 0 : 1; /* a partial last line counts */
            for (const char *p = data + start; (p = memchr(p, '\n', end - (size_t)(p - data))); p++)
                lines++;
        }
    }
    return ops_json_must(json_pack("{s:s, s:o, s:I, s:I, s:I, s:b}", "path", path, "content",
                                   ops_json_must(json_stringn(data + start, end - start)),
                                   "file_size", (json_int_t)len, "total_lines", (json_int_t)total,
                                   "lines_read", (json_int_t)lines, "truncated", (int)truncated));
}

int ops_read_file(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *rel;
    int64_t offset = 1, limit = READ_LIMIT_DEFAULT;
    if (jsonx_string(req, "path", JSONX_REQUIRED, 0, &rel, e) < 0 ||
        jsonx_int(req, "offset", JSONX_OPTIONAL, &offset, NULL, e) < 0 ||
        jsonx_int(req, "limit", JSONX_OPTIONAL, &limit, NULL, e) < 0)
        return -1;
    if (!rel[0])
        return jsonx_invalid(e, "path", "must not be empty");
    if (offset < 1)
        return jsonx_invalid(e, "offset", "must be at least 1");
    if (limit < 1 || limit > READ_LIMIT_MAX)
        return jsonx_invalid(e, "limit", "must be between 1 and %d", READ_LIMIT_MAX);

    char *path = ops_path_resolve(ops, rel);
    char *data = NULL;
    size_t len;
    int rc = -1;
    int fd = open_read(path, e);
    if (fd < 0)
        goto cleanup;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ops_errno(e, errno, "stat", path);
        close(fd);
        goto cleanup;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = list_dir(fd, path, result, e);
        goto cleanup;
    }
    if (check_regular(&st, path, OPS_READ_FILE_MAX, e) < 0 ||
        read_all(fd, path, (size_t)st.st_size, OPS_READ_FILE_MAX, &data, &len, e) < 0) {
        close(fd);
        goto cleanup;
    }
    close(fd);
    if (!utf8_valid(data, len) || memchr(data, '\0', len)) {
        err_set(e, ERR_BAD_REQUEST, "%s is not a text file", path);
        goto cleanup;
    }
    *result = select_lines(path, data, len, offset, limit);
    rc = 0;

cleanup:
    free(data);
    free(path);
    return rc;
}

int ops_write_file(struct agent_ops *ops, const json_t *req, json_t **result, struct err *e)
{
    const char *rel, *content;
    if (jsonx_string(req, "path", JSONX_REQUIRED, 0, &rel, e) < 0 ||
        jsonx_string(req, "content", JSONX_REQUIRED, OPS_WRITE_CONTENT_MAX, &content, e) < 0)
        return -1;
    if (!rel[0])
        return jsonx_invalid(e, "path", "must not be empty");
    size_t len = json_string_length(json_object_get(req, "content"));

    char *path = ops_path_resolve(ops, rel);
    pthread_mutex_lock(&ops->files_mu);
    char *target = ops_write_target(path);
    char *tmp = NULL;
    int rc = -1;
    mode_t mode = 0644;
    struct stat st;
    if (stat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            err_set(e, ERR_BAD_REQUEST, "%s is a directory", path);
            goto cleanup;
        }
        if (!S_ISREG(st.st_mode)) {
            err_set(e, ERR_BAD_REQUEST, "%s is not a regular file", path);
            goto cleanup;
        }
        mode = st.st_mode & 07777;
    } else if (errno != ENOENT && errno != ENOTDIR) { /* ENOTDIR: mkdirs says which */
        ops_errno(e, errno, "stat", path);
        goto cleanup;
    }
    if (ops_tmp_write(target, content, len, mode, true, &tmp, e) < 0 ||
        ops_tmp_commit(tmp, target, e) < 0)
        goto cleanup;
    *result =
        ops_json_must(json_pack("{s:s, s:I}", "path", path, "bytes_written", (json_int_t)len));
    rc = 0;

cleanup:
    pthread_mutex_unlock(&ops->files_mu);
    free(tmp);
    free(target);
    free(path);
    return rc;
}
