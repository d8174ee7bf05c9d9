/* dirs.c - the data dir: creation, the single-server lock, the replica id, the URL file. */
#include "base/mem.h"
#include "base/str.h"
#include "base/uuid.h"
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p with mode for the last component. */
static int mkdirs(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int r = mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return r;
}

static int write_file_atomic(const char *path, const char *content, struct err *e)
{
    char *tmp = str_printf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(e, ERR_INTERNAL, "write %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t len = strlen(content);
    ssize_t w = write(fd, content, len);
    int r = (w == (ssize_t)len && fsync(fd) == 0) ? 0 : -1;
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = -1;
    if (r < 0) {
        err_set(e, ERR_INTERNAL, "write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return r;
}

static int replica_id(struct server_dirs *d, struct err *e)
{
    char *path = str_printf("%s/replica-id", d->data_dir);
    FILE *f = fopen(path, "re");
    if (f) {
        char buf[64] = "";
        if (fgets(buf, sizeof buf, f))
            str_trim(buf);
        fclose(f);
        if (uuid_valid(buf)) {
            str_copy(d->replica_id, sizeof d->replica_id, buf);
            free(path);
            return 0;
        }
    }
    char id[UUID_STR_LEN];
    uuid_v7(id);
    char *content = str_printf("%s\n", id);
    int r = write_file_atomic(path, content, e);
    free(content);
    free(path);
    if (r == 0)
        str_copy(d->replica_id, sizeof d->replica_id, id);
    return r;
}

int server_dirs_open(const char *data_dir, struct server_dirs *d, struct err *e)
{
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
    if (mkdirs(data_dir, 0700) < 0)
        return err_set(e, ERR_INTERNAL, "cannot create data dir %s: %s", data_dir, strerror(errno));
    char real[PATH_MAX];
    if (!realpath(data_dir, real))
        return err_set(e, ERR_INTERNAL, "data dir %s: %s", data_dir, strerror(errno));
    d->data_dir = xstrdup(real);
    chmod(d->data_dir, 0700);
    char *lock = str_printf("%s/berth.lock", d->data_dir);
    d->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock);
    if (d->lock_fd < 0)
        return err_set(e, ERR_INTERNAL, "cannot open the lock file in %s: %s", d->data_dir,
                       strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return err_set(e, ERR_CONFLICT, "another berth server is using the data dir %s",
                       d->data_dir);
    char *ws = str_printf("%s/workspaces", d->data_dir);
    int r = mkdirs(ws, 0700);
    free(ws);
    if (r < 0)
        return err_set(e, ERR_INTERNAL, "cannot create %s/workspaces: %s", d->data_dir,
                       strerror(errno));
    return replica_id(d, e);
}

int server_write_url(struct server_dirs *d, const char *access_url, const char *addr, struct err *e)
{
    free(d->url_file);
    d->url_file = str_printf("%s/server.url", d->data_dir);
    char *content = str_printf("%s\n%s\n", access_url, addr);
    int r = write_file_atomic(d->url_file, content, e);
    free(content);
    return r;
}

void server_dirs_close(struct server_dirs *d)
{
    if (d->url_file)
        unlink(d->url_file);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d->url_file);
    free(d->data_dir);
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
}
