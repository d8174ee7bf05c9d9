/* harness.c - see harness.h. */
#include "harness.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "template/tarball.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *const MINIMAL_TEMPLATE[] = {
    "berth.yaml", "provision: ./provision\n", "provision", "#!/bin/sh\necho \"provision $1\"\n",
    NULL,
};

char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = str_vprintf(f, ap);
    va_end(ap);
    return s;
}

static const char *berth_bin(void)
{
    const char *b = getenv("BERTH_BIN");
    if (!b || !*b)
        fail_msg("BERTH_BIN is not set (run the tests through ctest)");
    return b;
}

static void spawn_server(struct server *s, const char *const *extra)
{
    char *url_file = fmt("%s/server.url", s->data_dir);
    unlink(url_file);
    const char *argv[32];
    int n = 0;
    argv[n++] = berth_bin();
    argv[n++] = "server";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data-dir";
    argv[n++] = s->data_dir;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    char *log = fmt("%s/server.log", s->dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setenv("BERTH_LOG_LEVEL", "debug", 0);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    s->pid = pid;
    /* Wait for the URL file the server writes once it listens. */
    int64_t deadline = time_mono_us() + 30 * 1000000LL;
    for (;;) {
        FILE *f = fopen(url_file, "r");
        if (f) {
            /* The access URL, then the address it listens on: the tests talk to the latter. */
            char access[256] = "", addr[96] = "";
            if (fgets(access, sizeof access, f) && fgets(addr, sizeof addr, f) &&
                strchr(addr, '\n')) {
                str_trim(addr);
                snprintf(s->url, sizeof s->url, "http://%s", addr);
                fclose(f);
                break;
            }
            fclose(f);
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("berth server exited early (status %d); see %s", status, log);
        }
        if (time_mono_us() > deadline)
            fail_msg("berth server did not start within 30 s; see %s", log);
        usleep(5000);
    }
    free(log);
    free(url_file);
}

void server_start(struct server *s, const char *const *extra_args)
{
    memset(s, 0, sizeof *s);
    char tmpl[] = "/tmp/berth-test-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp: %s", strerror(errno));
    str_copy(s->dir, sizeof s->dir, tmpl);
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", s->dir);
    spawn_server(s, extra_args);
}

void server_restart(struct server *s, const char *const *extra_args)
{
    spawn_server(s, extra_args);
}

void server_stop(struct server *s)
{
    if (!s->pid)
        return;
    kill(s->pid, SIGTERM);
    int status = 0;
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("berth server did not exit cleanly (status %d); see %s/server.log", status,
                 s->dir);
}

void server_kill(struct server *s)
{
    if (!s->pid)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* SIGKILLs every process whose environment has BERTH_URL=<the server's URL>: agents (and their
 * sandboxes) a test left running would otherwise retry a server that is gone, forever. */
static void kill_leftover_agents(const struct server *s)
{
    if (!s->url[0])
        return;
    char *want = fmt("BERTH_URL=%s", s->url);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        char path[64], env[16384];
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, env, sizeof env - 1);
        close(fd);
        for (ssize_t i = 0; i < len; i += (ssize_t)strnlen(env + i, (size_t)(len - i)) + 1) {
            if (strncmp(env + i, want, (size_t)(len - i)) == 0) {
                kill((pid_t)pid, SIGKILL);
                break;
            }
        }
    }
    if (d)
        closedir(d);
    free(want);
}

void server_destroy(struct server *s)
{
    server_stop(s);
    kill_leftover_agents(s);
    if (s->dir[0] && !getenv("BERTH_KEEP_TEST_DIRS"))
        rmrf(s->dir);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf_append(arg, ptr, size * nmemb);
    return size * nmemb;
}

long http_raw(struct server *s, const char *method, const char *path, const char *token,
              const void *body, size_t len, const char *content_type, struct resp *out)
{
    return http_full(s, method, path, token, NULL, body, len, content_type, out);
}

long http_full(struct server *s, const char *method, const char *path, const char *token,
               const char *const *headers, const void *body, size_t len, const char *content_type,
               struct resp *out)
{
    CURL *c = curl_easy_init();
    char *url = fmt("%s%s", s->url, path);
    struct buf b;
    buf_init(&b, 0);
    struct curl_slist *h = NULL;
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    char *hdr = NULL;
    if (token) {
        hdr = fmt("Berth-Session-Token: %s", token);
        h = curl_slist_append(h, hdr);
    }
    char *ct = NULL;
    if (content_type) {
        ct = fmt("Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    free(hdr);
    free(ct);
    if (rc != CURLE_OK && status == 0)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    if (out) {
        out->status = status;
        out->len = b.len;
        out->body = buf_take(&b);
        json_error_t je;
        out->json = out->len ? json_loadb(out->body, out->len, JSON_DECODE_ANY, &je) : NULL;
    }
    buf_free(&b);
    return status;
}

long http_req(struct server *s, const char *method, const char *path, const char *token,
              const char *json_body, struct resp *out)
{
    return http_raw(s, method, path, token, json_body, json_body ? strlen(json_body) : 0,
                    json_body ? "application/json" : NULL, out);
}

void resp_free(struct resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *resp_message(const struct resp *r)
{
    return jsonx_get_str(r->json, "message", "");
}

void server_bootstrap_owner(struct server *s)
{
    struct resp r;
    assert_int_equal(http_req(s, "POST", "/api/v2/users/first", NULL,
                              "{\"email\":\"owner@example.com\",\"username\":\"owner\","
                              "\"password\":\"owner-password-1\"}",
                              &r),
                     201);
    str_copy(s->owner_id, sizeof s->owner_id, jsonx_get_str(r.json, "user_id", ""));
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"owner@example.com\",\"password\":\"owner-password-1\"}",
                              &r),
                     201);
    str_copy(s->owner_token, sizeof s->owner_token, jsonx_get_str(r.json, "session_token", ""));
    resp_free(&r);
}

void server_create_user(struct server *s, const char *username, const char *const *roles,
                        char *token)
{
    json_t *arr = json_array();
    for (int i = 0; roles && roles[i]; i++)
        json_array_append_new(arr, json_string(roles[i]));
    char *email = fmt("%s@example.com", username);
    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "email", email, "username", username,
                             "password", "user-password-1", "roles", arr);
    char *b = jsonx_dump(body);
    struct resp r;
    assert_int_equal(http_req(s, "POST", "/api/v2/users", s->owner_token, b, &r), 201);
    resp_free(&r);
    free(b);
    json_decref(body);
    body = json_pack("{s:s, s:s}", "email", email, "password", "user-password-1");
    b = jsonx_dump(body);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL, b, &r), 201);
    str_copy(token, 64, jsonx_get_str(r.json, "session_token", ""));
    resp_free(&r);
    free(b);
    json_decref(body);
    free(email);
}

struct sse {
    struct buf line, data;
    char event[64];
    json_t *events;
};

static size_t sse_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sse *s = arg;
    for (size_t i = 0; i < size * nmemb; i++) {
        if (ptr[i] != '\n') {
            buf_putc(&s->line, ptr[i]);
            continue;
        }
        const char *l = buf_str(&s->line);
        if (!*l) {
            if (strcmp(s->event, "data") == 0 && s->data.len) {
                json_error_t je;
                json_t *v = json_loads(buf_str(&s->data), JSON_DECODE_ANY, &je);
                json_array_append_new(s->events, v ? v : json_string(buf_str(&s->data)));
            }
            buf_reset(&s->data);
            s->event[0] = '\0';
        } else if (str_has_prefix(l, "event: ")) {
            str_copy(s->event, sizeof s->event, l + 7);
        } else if (str_has_prefix(l, "data: ")) {
            buf_puts(&s->data, l + 6);
        }
        buf_reset(&s->line);
    }
    return size * nmemb;
}

json_t *sse_collect(struct server *s, const char *path, const char *token, long timeout_ms)
{
    struct sse st;
    memset(&st, 0, sizeof st);
    buf_init(&st.line, 0);
    buf_init(&st.data, 0);
    st.events = json_array();
    CURL *c = curl_easy_init();
    char *url = fmt("%s%s", s->url, path);
    char *hdr = fmt("Berth-Session-Token: %s", token);
    struct curl_slist *h = curl_slist_append(NULL, hdr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    free(hdr);
    buf_free(&st.line);
    buf_free(&st.data);
    return st.events;
}

/* Reads fd to EOF into a heap string. */
static char *slurp_fd(int fd)
{
    struct buf b;
    buf_init(&b, 0);
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        buf_append(&b, tmp, (size_t)n);
    return buf_take(&b);
}

int run_cli(struct server *s, const char *token, const char *stdin_text, const char *const *args,
            char **out, char **err)
{
    char *outf = fmt("%s/cli.out", s->dir), *errf = fmt("%s/cli.err", s->dir);
    char *inf = fmt("%s/cli.in", s->dir);
    FILE *f = fopen(inf, "w");
    if (f) {
        fputs(stdin_text ? stdin_text : "", f);
        fclose(f);
    }
    const char *argv[64];
    int n = 0;
    argv[n++] = berth_bin();
    for (int i = 0; args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int in = open(inf, O_RDONLY);
        int o = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        char *cfg = fmt("%s/config", s->dir);
        setenv("XDG_CONFIG_HOME", cfg, 1);
        setenv("BERTH_URL", s->url, 1);
        if (token)
            setenv("BERTH_SESSION_TOKEN", token, 1);
        else
            unsetenv("BERTH_SESSION_TOKEN");
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int fd = open(outf, O_RDONLY);
    char *o = slurp_fd(fd);
    close(fd);
    fd = open(errf, O_RDONLY);
    char *e = slurp_fd(fd);
    close(fd);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    free(outf);
    free(errf);
    free(inf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *make_dir(struct server *s, const char *const *files)
{
    static int counter;
    char *dir = fmt("%s/tpl-%d", s->dir, ++counter);
    mkdir(dir, 0755);
    for (int i = 0; files[i]; i += 2) {
        char *path = fmt("%s/%s", dir, files[i]);
        for (char *p = path + strlen(dir) + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
            }
        }
        FILE *f = fopen(path, "w");
        if (!f)
            fail_msg("write %s: %s", path, strerror(errno));
        fputs(files[i + 1], f);
        fclose(f);
        if (str_has_prefix(files[i + 1], "#!"))
            chmod(path, 0755);
        free(path);
    }
    return dir;
}

void *pack_dir(const char *dir, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    struct err e = ERR_INIT;
    if (tarball_pack_dir(dir, &b, TARBALL_MAX_BYTES, &e) < 0)
        fail_msg("pack %s: %s", dir, err_msg(&e));
    *len = b.len;
    return buf_take(&b);
}

json_t *wait_version(struct server *s, const char *token, const char *version_id)
{
    char *path = fmt("/api/v2/templateversions/%s", version_id);
    int64_t deadline = time_mono_us() + 30 * 1000000LL;
    for (;;) {
        struct resp r;
        assert_int_equal(http_req(s, "GET", path, token, NULL, &r), 200);
        const char *st = jsonx_get_str(json_object_get(r.json, "job"), "status", "");
        if (strcmp(st, "pending") != 0 && strcmp(st, "running") != 0) {
            json_t *v = json_incref(r.json);
            resp_free(&r);
            free(path);
            return v;
        }
        resp_free(&r);
        if (time_mono_us() > deadline)
            fail_msg("import of %s did not finish", version_id);
        usleep(10000);
    }
}

json_t *push_version(struct server *s, const char *token, const char *dir, const char *template_id)
{
    size_t len;
    void *tar = pack_dir(dir, &len);
    struct resp r;
    long st = http_raw(s, "POST", "/api/v2/files", token, tar, len, "application/x-tar", &r);
    free(tar);
    if (st != 201 && st != 200)
        fail_msg("upload: %ld %s", st, r.body);
    char *body = template_id ? fmt("{\"file_id\":\"%s\",\"template_id\":\"%s\"}",
                                   jsonx_get_str(r.json, "hash", ""), template_id)
                             : fmt("{\"file_id\":\"%s\"}", jsonx_get_str(r.json, "hash", ""));
    resp_free(&r);
    st = http_req(s, "POST", "/api/v2/templateversions", token, body, &r);
    free(body);
    if (st != 201)
        fail_msg("create version: %ld %s", st, r.body);
    json_t *v = wait_version(s, token, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    return v;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

json_t *make_template(struct server *s, const char *name, const char *const *files)
{
    char *dir = make_dir(s, files);
    json_t *v = push_version(s, s->owner_token, dir, NULL);
    free(dir);
    const char *st = jsonx_get_str(json_object_get(v, "job"), "status", "");
    if (strcmp(st, "succeeded") != 0)
        fail_msg("import of %s: %s %s", name, st,
                 jsonx_get_str(json_object_get(v, "job"), "error", ""));
    char *body =
        fmt("{\"name\":\"%s\",\"template_version_id\":\"%s\"}", name, jsonx_get_str(v, "id", ""));
    json_decref(v);
    struct resp r;
    if (http_req(s, "POST", "/api/v2/templates", s->owner_token, body, &r) != 201)
        fail_msg("create template %s: %s", name, r.body);
    free(body);
    json_t *t = json_incref(r.json);
    resp_free(&r);
    return t;
}

json_t *add_version(struct server *s, const char *template_id, const char *const *files)
{
    char *dir = make_dir(s, files);
    json_t *v = push_version(s, s->owner_token, dir, template_id);
    free(dir);
    return v;
}

void promote(struct server *s, const char *template_id, const char *version_id)
{
    char *path = fmt("/api/v2/templates/%s/versions", template_id);
    char *body = fmt("{\"id\":\"%s\"}", version_id);
    struct resp r;
    if (http_req(s, "PATCH", path, s->owner_token, body, &r) != 200)
        fail_msg("promote: %s", r.body);
    resp_free(&r);
    free(path);
    free(body);
}

json_t *wait_build(struct server *s, const char *token, const char *build_id)
{
    char *path = fmt("/api/v2/workspacebuilds/%s", build_id);
    int64_t deadline = time_mono_us() + 60 * 1000000LL;
    for (;;) {
        struct resp r;
        if (http_req(s, "GET", path, token, NULL, &r) != 200)
            fail_msg("get build: %s", r.body);
        const char *st = jsonx_get_str(json_object_get(r.json, "job"), "status", "");
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
            strcmp(st, "canceled") == 0) {
            json_t *b = json_incref(r.json);
            resp_free(&r);
            free(path);
            return b;
        }
        resp_free(&r);
        if (time_mono_us() > deadline)
            fail_msg("build %s did not finish", build_id);
        usleep(10000);
    }
}

long post_build(struct server *s, const char *token, const char *workspace_id, const char *body,
                struct resp *out)
{
    char *path = fmt("/api/v2/workspaces/%s/builds", workspace_id);
    long st = http_req(s, "POST", path, token, body, out);
    free(path);
    return st;
}

char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    char *text = slurp_fd(fd);
    close(fd);
    return text;
}

char *local_provision(void)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    if (!src)
        fail_msg("BERTH_SOURCE_DIR is not set (run the tests through ctest)");
    char *path = fmt("%s/examples/templates/local/provision", src);
    char *text = read_text(path);
    if (!text)
        fail_msg("cannot read %s", path);
    free(path);
    return text;
}
