/* store_fixture.h - a real SQLite store in a temporary directory and the rows tests need
 * (users, templates with a version, workspaces, builds, agents), shared by the unit tests of
 * several modules. Every helper fails the test on an unexpected error. */
#ifndef BERTH_TESTS_STORE_FIXTURE_H
#define BERTH_TESTS_STORE_FIXTURE_H

#include "testing.h"

#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx_store {
    char dir[64];
    struct store *st;
    char admin_id[UUID_STR_LEN];    /* a user that creates templates */
    char file_id[HASH_HEX_LEN + 1]; /* an archive every version points at */
};

static inline void fx_check(int rc, struct err *e)
{
    if (rc < 0)
        fail_msg("store: %s", err_msg(e));
}

/* Inserts a user; id receives its id. */
static inline void fx_user(struct fx_store *f, const char *name, char id[UUID_STR_LEN])
{
    struct user u = {0};
    uuid_v7(u.id);
    str_copy(u.username, sizeof u.username, name);
    snprintf(u.email, sizeof u.email, "%s@example.com", name);
    str_copy(u.hashed_password, sizeof u.hashed_password, "x");
    u.created_at = u.updated_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_user_insert(f->st, &u, &e), &e);
    str_copy(id, UUID_STR_LEN, u.id);
}

static inline void fx_store_open(struct fx_store *f)
{
    memset(f, 0, sizeof *f);
    str_copy(f->dir, sizeof f->dir, "/tmp/berth-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *url = str_printf("sqlite:%s/t.db", f->dir);
    struct err e = ERR_INIT;
    f->st = store_open(url, &e);
    free(url);
    if (!f->st)
        fail_msg("store_open: %s", err_msg(&e));
    fx_user(f, "admin", f->admin_id);
    struct file_row file = {0};
    memset(f->file_id, 'a', HASH_HEX_LEN);
    str_copy(file.id, sizeof file.id, f->file_id);
    str_copy(file.mimetype, sizeof file.mimetype, "application/x-tar");
    str_copy(file.created_by, sizeof file.created_by, f->admin_id);
    file.data = "x";
    file.size = 1;
    fx_check(store_file_insert(f->st, &file, &e), &e);
}

static inline void fx_store_close(struct fx_store *f)
{
    store_close(f->st);
    char *cmd = str_printf("rm -rf %s", f->dir);
    int r = system(cmd);
    (void)r;
    free(cmd);
}

/* Inserts a job of the given type; id receives its id. */
static inline void fx_job(struct fx_store *f, enum job_type type, const char *initiator,
                          char id[UUID_STR_LEN])
{
    struct job j = {0};
    uuid_v7(j.id);
    j.type = type;
    j.created_at = time_now_us();
    str_copy(j.initiator_id, sizeof j.initiator_id, initiator);
    str_copy(j.file_id, sizeof j.file_id, f->file_id);
    struct err e = ERR_INIT;
    fx_check(store_job_insert(f->st, &j, &e), &e);
    str_copy(id, UUID_STR_LEN, j.id);
}

/* Inserts a template named name with one (active) version; tid and vid receive their ids. */
static inline void fx_template(struct fx_store *f, const char *name, char tid[UUID_STR_LEN],
                               char vid[UUID_STR_LEN])
{
    struct err e = ERR_INIT;
    struct template_version v = {0};
    uuid_v7(v.id);
    uuid_v7(tid);
    str_copy(v.template_id, sizeof v.template_id, tid);
    str_copy(v.name, sizeof v.name, "v1");
    str_copy(v.file_id, sizeof v.file_id, f->file_id);
    fx_job(f, JOB_TEMPLATE_VERSION_IMPORT, f->admin_id, v.job_id);
    str_copy(v.created_by, sizeof v.created_by, f->admin_id);
    v.created_at = v.updated_at = time_now_us();
    struct template_row t = {0};
    str_copy(t.id, sizeof t.id, tid);
    str_copy(t.name, sizeof t.name, name);
    str_copy(t.active_version_id, sizeof t.active_version_id, v.id);
    str_copy(t.created_by, sizeof t.created_by, f->admin_id);
    t.created_at = t.updated_at = time_now_us();
    /* The template names its active version without a foreign key: insert it first. */
    fx_check(store_template_insert(f->st, &t, &e), &e);
    fx_check(store_version_insert(f->st, &v, &e), &e);
    str_copy(vid, UUID_STR_LEN, v.id);
}

/* Inserts a live workspace; id receives its id. */
static inline void fx_workspace(struct fx_store *f, const char *owner, const char *tid,
                                const char *name, char id[UUID_STR_LEN])
{
    struct workspace w = {0};
    uuid_v7(w.id);
    str_copy(w.owner_id, sizeof w.owner_id, owner);
    str_copy(w.template_id, sizeof w.template_id, tid);
    str_copy(w.name, sizeof w.name, name);
    w.created_at = w.updated_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_workspace_insert(f->st, &w, &e), &e);
    str_copy(id, UUID_STR_LEN, w.id);
}

/* Inserts build number n of a workspace (with its job); build_id and job_id receive ids. */
static inline void fx_build(struct fx_store *f, const char *ws_id, const char *vid,
                            const char *initiator, int64_t n, enum transition t,
                            char build_id[UUID_STR_LEN], char job_id[UUID_STR_LEN])
{
    struct workspace_build b = {0};
    uuid_v7(b.id);
    str_copy(b.workspace_id, sizeof b.workspace_id, ws_id);
    str_copy(b.template_version_id, sizeof b.template_version_id, vid);
    b.build_number = n;
    b.transition = t;
    str_copy(b.initiator_id, sizeof b.initiator_id, initiator);
    fx_job(f, JOB_WORKSPACE_BUILD, initiator, b.job_id);
    b.created_at = b.updated_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_build_insert(f->st, &b, &e), &e);
    str_copy(build_id, UUID_STR_LEN, b.id);
    if (job_id)
        str_copy(job_id, UUID_STR_LEN, b.job_id);
}

/* Inserts a resource of the job and an agent on it; id receives the agent's id. */
static inline void fx_agent(struct fx_store *f, const char *job_id, const char *name,
                            int display_order, char id[UUID_STR_LEN])
{
    struct workspace_resource r = {0};
    uuid_v7(r.id);
    str_copy(r.job_id, sizeof r.job_id, job_id);
    str_copy(r.type, sizeof r.type, "local");
    str_copy(r.name, sizeof r.name, name);
    r.created_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_resource_insert(f->st, &r, &e), &e);
    struct workspace_agent a = {0};
    uuid_v7(a.id);
    str_copy(a.resource_id, sizeof a.resource_id, r.id);
    str_copy(a.name, sizeof a.name, name);
    memcpy(a.auth_token_hash, a.id, sizeof a.auth_token_hash); /* unique, as ids are */
    a.display_order = display_order;
    a.created_at = time_now_us();
    fx_check(store_agent_insert(f->st, &a, &e), &e);
    str_copy(id, UUID_STR_LEN, a.id);
}

#endif
