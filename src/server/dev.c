/* dev.c - `berth server --dev`: a ready-to-use owner and the built-in `local` template. */
#include "base/buf.h"
#include "base/embed.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "server/internal.h"
#include "template/tarball.h"
#include "template/template.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEV_EMAIL    "admin@berth.local"
#define DEV_USERNAME "admin"
#define LOCAL_NAME   "local"

extern const struct embedded_file builtin_local_template[];

static int create_owner(struct identity *id, const char *access_url, struct err *e)
{
    char password[21];
    secure_token(password, 20);
    struct user u;
    if (identity_create_first_user(id, DEV_EMAIL, DEV_USERNAME, password, &u, e) < 0)
        return -1;
    char token[TOKEN_STR_LEN];
    if (identity_issue_token(id, u.id, LOGIN_TOKEN, "dev", 0, token, e) < 0)
        return -1;
    printf("berth: development mode: created the owner (shown once, keep it)\n"
           "  email:    %s\n"
           "  username: %s\n"
           "  password: %s\n"
           "  token:    %s\n"
           "Use it with:\n"
           "  berth login %s --token %s\n",
           DEV_EMAIL, DEV_USERNAME, password, token, access_url, token);
    fflush(stdout);
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Packs the embedded template into a tar (through a scratch directory: the packer reads
 * files, so modes and layout are exactly what `templates push` would produce). */
static int pack_builtin(const char *scratch, struct buf *tar, struct err *e)
{
    if (mkdir(scratch, 0700) < 0 && errno != EEXIST)
        return err_set(e, ERR_INTERNAL, "create %s: %s", scratch, strerror(errno));
    int rc = -1;
    for (const struct embedded_file *f = builtin_local_template; f->path; f++) {
        if (strchr(f->path, '/')) /* the built-in template is flat */
            continue;
        char *path = str_printf("%s/%s", scratch, f->path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f->mode);
        bool ok = fd >= 0 && write(fd, f->data, f->size) == (ssize_t)f->size;
        if (fd >= 0)
            close(fd);
        free(path);
        if (!ok) {
            err_set(e, ERR_INTERNAL, "write the built-in template: %s", strerror(errno));
            goto out;
        }
    }
    rc = tarball_pack_dir(scratch, tar, TARBALL_MAX_BYTES, e);
out:
    nftw(scratch, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* Waits (event-driven) for a job to leave pending/running; 30 s at most. */
static int wait_job(struct store *st, struct pubsub *ps, const char *job_id, struct job *out,
                    struct err *e)
{
    struct pubsub_waiter *w = pubsub_waiter_new(ps);
    char channel[96];
    snprintf(channel, sizeof channel, "job:%s", job_id);
    pubsub_waiter_add(w, channel);
    int64_t deadline = time_mono_us() + 30 * 1000000LL;
    int rc = -1;
    for (;;) {
        if (store_job_get(st, job_id, out, e) < 0)
            break;
        if (job_status_terminal(out->status)) {
            rc = 0;
            break;
        }
        job_clear(out);
        int64_t left = (deadline - time_mono_us()) / 1000;
        if (left <= 0) {
            err_set(e, ERR_TIMEOUT, "the import of the built-in template did not finish");
            break;
        }
        pubsub_waiter_wait(w, left < 1000 ? left : 1000);
    }
    pubsub_waiter_free(w);
    return rc;
}

static int load_local_template(struct store *st, struct pubsub *ps, const char *data_dir,
                               struct err *e)
{
    struct template_row t;
    if (store_template_get_by_name(st, LOCAL_NAME, &t, NULL) == 0) {
        template_row_clear(&t);
        return 0;
    }
    struct user_list users;
    if (store_user_list(st, &users, e) < 0)
        return -1;
    struct subject sub = {.kind = SUBJECT_USER, .roles = ROLE_OWNER};
    for (size_t i = 0; i < users.n; i++) {
        if (users.items[i].roles & ROLE_OWNER) {
            str_copy(sub.user_id, sizeof sub.user_id, users.items[i].id);
            str_copy(sub.username, sizeof sub.username, users.items[i].username);
            break;
        }
    }
    user_list_free(&users);
    if (!sub.user_id[0])
        return err_set(e, ERR_INTERNAL, "no owner to create the local template as");
    struct buf tar = BUF_INIT;
    char *scratch = str_printf("%s/.builtin-local", data_dir);
    int rc = -1;
    char hash[HASH_HEX_LEN + 1];
    bool created;
    struct template_version v;
    memset(&v, 0, sizeof v);
    struct job job;
    memset(&job, 0, sizeof job);
    if (pack_builtin(scratch, &tar, e) < 0 ||
        template_file_upload(st, &sub, tar.data, tar.len, hash, &created, e) < 0)
        goto out;
    struct template_version_create vc = {.file_id = hash, .message = "built-in"};
    if (template_version_create(st, ps, &sub, &vc, &v, e) < 0 ||
        wait_job(st, ps, v.job_id, &job, e) < 0)
        goto out;
    if (job.status != JOB_SUCCEEDED) {
        err_set(e, ERR_INTERNAL, "the built-in local template failed to import: %s", job.error);
        goto out;
    }
    struct template_create tc = {.name = LOCAL_NAME, .version_id = v.id};
    struct template_row created_t;
    if (template_create(st, &sub, &tc, &created_t, e) < 0)
        goto out;
    template_row_clear(&created_t);
    log_info("server", "created the built-in template \"%s\"", LOCAL_NAME);
    printf("berth: the built-in template \"%s\" is ready: berth create NAME -t %s\n", LOCAL_NAME,
           LOCAL_NAME);
    fflush(stdout);
    rc = 0;
out:
    job_clear(&job);
    template_version_clear(&v);
    buf_free(&tar);
    free(scratch);
    return rc;
}

int server_dev_bootstrap(struct store *st, struct pubsub *ps, struct identity *id,
                         const char *data_dir, const char *access_url, struct err *e)
{
    int64_t users;
    if (store_user_count(st, &users, e) < 0)
        return -1;
    if (users > 0)
        printf("berth: development mode (the data dir already has users; log in with yours)\n");
    else if (create_owner(id, access_url, e) < 0)
        return -1;
    return load_local_template(st, ps, data_dir, e);
}
