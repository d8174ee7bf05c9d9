/* ops_fixture.h - what the agent/ops unit tests share: a temporary directory with an agent_ops
 * on it, requests that must succeed or fail, result accessors, file and process helpers. */
#ifndef BERTH_TESTS_UNIT_AGENT_OPS_FIXTURE_H
#define BERTH_TESTS_UNIT_AGENT_OPS_FIXTURE_H

#include "testing.h"

#include "agent/ops.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const base_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL};

struct fx {
    char dir[PATH_MAX];
    struct agent_ops *ops;
};

static inline int setup_with(void **state, size_t max_background)
{
    struct fx *f = xcalloc(1, sizeof *f);
    char tmpl[] = "/tmp/berth-ops-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    struct agent_ops_config cfg = {
        .directory = f->dir, .base_env = base_env, .max_background = max_background};
    f->ops = agent_ops_new(&cfg);
    *state = f;
    return 0;
}

static inline int setup(void **state)
{
    return setup_with(state, 0);
}

static inline int setup_small(void **state)
{
    return setup_with(state, 2);
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline int teardown(void **state)
{
    struct fx *f = *state;
    agent_ops_free(f->ops);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Runs req (taken) and returns the result, failing the test on an error. */
static inline json_t *ok(struct fx *f, json_t *req)
{
    assert_non_null(req);
    struct err e = ERR_INIT;
    json_t *res = NULL;
    if (agent_ops_handle(f->ops, req, &res, &e) < 0)
        fail_msg("request failed: %s (%s)", err_msg(&e), e.detail ? e.detail : "");
    json_decref(req);
    assert_true(json_is_object(res));
    return res;
}

/* Runs req (taken) expecting an error of kind with message msg (NULL: any message); returns
 * the first validation's field or "" (static storage, until the next call). */
static inline const char *fails(struct fx *f, json_t *req, enum err_kind kind, const char *msg)
{
    static char field[128];
    assert_non_null(req);
    struct err e = ERR_INIT;
    json_t *res = (json_t *)1;
    assert_int_equal(agent_ops_handle(f->ops, req, &res, &e), -1);
    assert_null(res);
    if (e.kind != kind)
        fail_msg("kind %s, want %s (%s)", err_kind_name(e.kind), err_kind_name(kind), err_msg(&e));
    if (msg)
        assert_string_equal(err_msg(&e), msg);
    str_copy(field, sizeof field, e.nvalidations ? e.validations[0].field : "");
    err_clear(&e);
    json_decref(req);
    return field;
}

static inline const char *sget(const json_t *o, const char *key)
{
    const char *s = jsonx_get_str(o, key, NULL);
    if (!s)
        fail_msg("no string %s", key);
    return s;
}

static inline json_int_t iget(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer %s", key);
    return json_integer_value(v);
}

static inline bool bget(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        fail_msg("no boolean %s", key);
    return json_is_true(v);
}

static inline json_t *exec_req(const char *command)
{
    return json_pack("{s:s, s:s}", "type", "exec", "command", command);
}

static inline int64_t elapsed_ms(int64_t since_us)
{
    return (time_mono_us() - since_us) / 1000;
}

static inline void write_raw(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file (NUL-terminated; caller frees). */
static inline char *read_raw(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Entries of dir whose name contains "berth-tmp" (leftover temporary files). */
static inline int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, "berth-tmp") != NULL;
    closedir(d);
    return n;
}

static inline void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

/* True once no process of group pgid is left (waiting up to 5 s for it to settle). */
static inline bool group_gone(pid_t pgid)
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

static inline json_t *output_req(const char *id, int wait_ms)
{
    return json_pack("{s:s, s:s, s:i}", "type", "process_output", "process_id", id, "wait_ms",
                     wait_ms);
}

static inline json_t *bg_req(const char *command)
{
    return json_pack("{s:s, s:s, s:b}", "type", "exec", "command", command, "background", 1);
}

/* Starts command in the background; returns its id (caller frees). */
static inline char *bg_start(struct fx *f, const char *command)
{
    json_t *r = ok(f, bg_req(command));
    char *id = xstrdup(sget(r, "process_id"));
    assert_int_equal(json_object_size(r), 1);
    json_decref(r);
    return id;
}

static inline json_t *read_req(const char *path, int offset, int limit)
{
    json_t *r = json_pack("{s:s, s:s}", "type", "read_file", "path", path);
    if (offset)
        json_object_set_new(r, "offset", json_integer(offset));
    if (limit)
        json_object_set_new(r, "limit", json_integer(limit));
    return r;
}

static inline json_t *write_req(const char *path, const char *content)
{
    return json_pack("{s:s, s:s, s:s}", "type", "write_file", "path", path, "content", content);
}

#endif
