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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/* An SSE parser: calls on_event(name, data, arg) for each complete event (data may be ""). */
struct sse {
    struct buf line, data;
    char event[64];
    void (*on_event)(const char *name, const char *data, void *arg);
    void *arg;
};

static void sse_init(struct sse *s, void (*on_event)(const char *, const char *, void *), void *arg)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->line, 0);
    buf_init(&s->data, 0);
    s->on_event = on_event;
    s->arg = arg;
}

static void sse_free(struct sse *s)
{
    buf_free(&s->line);
    buf_free(&s->data);
}

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
            if (s->event[0] || s->data.len)
                s->on_event(s->event, buf_str(&s->data), s->arg);
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

/* Appends the parsed data of a "data" event to events (the text itself when it is not JSON). */
static void append_data(json_t *events, const char *name, const char *data)
{
    if (strcmp(name, "data") != 0 || !*data)
        return;
    json_error_t je;
    json_t *v = json_loads(data, JSON_DECODE_ANY, &je);
    json_array_append_new(events, v ? v : json_string(data));
}

static void collect_event(const char *name, const char *data, void *arg)
{
    append_data(arg, name, data);
}

/* An easy handle for GET path with the session token (the header list is returned in *h). */
static CURL *sse_handle(struct server *s, const char *path, const char *token,
                        struct curl_slist **h, struct sse *st)
{
    CURL *c = curl_easy_init();
    char *url = fmt("%s%s", s->url, path);
    char *hdr = fmt("Berth-Session-Token: %s", token);
    *h = curl_slist_append(NULL, hdr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    free(url); /* libcurl copies string options */
    free(hdr); /* the list holds its own copy */
    return c;
}

json_t *sse_collect(struct server *s, const char *path, const char *token, long timeout_ms)
{
    json_t *events = json_array();
    struct sse st;
    sse_init(&st, collect_event, events);
    struct curl_slist *h;
    CURL *c = sse_handle(s, path, token, &h, &st);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    sse_free(&st);
    return events;
}

struct sse_watch {
    pthread_t thread;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    struct sse parser;
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t changed;
    json_t *events;
    bool opened, ended, stop;
    bool all; /* record every event but pings as {event, data} */
};

static void watch_event(const char *name, const char *data, void *arg)
{
    struct sse_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    w->opened = true;
    if (!w->all) {
        append_data(w->events, name, data);
    } else if (strcmp(name, "ping") != 0) {
        json_t *v = json_loads(data, JSON_DECODE_ANY, NULL);
        json_array_append_new(
            w->events, json_pack("{s:s, s:o}", "event", name, "data", v ? v : json_string(data)));
    }
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

static void *watch_main(void *arg)
{
    struct sse_watch *w = arg;
    for (;;) {
        int running = 0;
        curl_multi_perform(w->multi, &running);
        pthread_mutex_lock(&w->lock);
        bool stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop || running == 0)
            break;
        curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    pthread_mutex_lock(&w->lock);
    w->ended = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Waits on the watch's condition until pred holds or timeout_ms passed (lock held). */
static void watch_wait_locked(struct sse_watch *w, bool (*pred)(struct sse_watch *, size_t),
                              size_t n, long timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!pred(w, n) && !w->ended)
        if (pthread_cond_timedwait(&w->changed, &w->lock, &until) == ETIMEDOUT)
            break;
}

static bool watch_opened(struct sse_watch *w, size_t n)
{
    (void)n;
    return w->opened;
}

static bool watch_has(struct sse_watch *w, size_t n)
{
    return json_array_size(w->events) >= n;
}

static struct sse_watch *watch_start(struct server *s, const char *path, const char *token,
                                     bool all)
{
    struct sse_watch *w = calloc(1, sizeof *w);
    w->all = all;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->events = json_array();
    sse_init(&w->parser, watch_event, w);
    w->easy = sse_handle(s, path, token, &w->headers, &w->parser);
    w->multi = curl_multi_init();
    curl_multi_add_handle(w->multi, w->easy);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        fail_msg("watch %s: pthread_create failed", path);
    pthread_mutex_lock(&w->lock);
    watch_wait_locked(w, watch_opened, 0, 10000);
    bool opened = w->opened;
    pthread_mutex_unlock(&w->lock);
    if (!opened) {
        json_decref(sse_watch_stop(w));
        fail_msg("watch %s: no first event within 10 s", path);
    }
    return w;
}

struct sse_watch *sse_watch_start(struct server *s, const char *path, const char *token)
{
    return watch_start(s, path, token, false);
}

struct sse_watch *sse_watch_start_all(struct server *s, const char *path, const char *token)
{
    return watch_start(s, path, token, true);
}

size_t sse_watch_wait(struct sse_watch *w, size_t n, long timeout_ms)
{
    pthread_mutex_lock(&w->lock);
    watch_wait_locked(w, watch_has, n, timeout_ms);
    size_t have = json_array_size(w->events);
    pthread_mutex_unlock(&w->lock);
    return have;
}

json_t *sse_watch_events(struct sse_watch *w)
{
    pthread_mutex_lock(&w->lock);
    json_t *copy = json_deep_copy(w->events);
    pthread_mutex_unlock(&w->lock);
    return copy;
}

json_t *sse_watch_stop(struct sse_watch *w)
{
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    curl_multi_remove_handle(w->multi, w->easy);
    curl_easy_cleanup(w->easy);
    curl_multi_cleanup(w->multi);
    curl_slist_free_all(w->headers);
    sse_free(&w->parser);
    json_t *events = w->events;
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return events;
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

/* ---- workspaces of the `local` template ---- */

char *local_provision_with(const char *prelude)
{
    char *program = local_provision();
    const char *body = strchr(program, '\n'); /* after the "#!/bin/sh" line */
    char *with = fmt("#!/bin/sh\n%s\n%s", prelude, body ? body + 1 : program);
    free(program);
    return with;
}

char *local_manifest(const char *top_yaml, const char *agent_yaml)
{
    return fmt("provision: ./provision\nprovision_timeout: 1m\n%sagents:\n"
               "  - name: main\n    connection_timeout: 30s\n%s",
               top_yaml, agent_yaml);
}

char *local_template_with(struct server *s, const char *name, const char *top_yaml,
                          const char *agent_yaml, const char *provision)
{
    char *yaml = local_manifest(top_yaml, agent_yaml);
    char *own = provision ? NULL : local_provision();
    const char *files[] = {"berth.yaml", yaml, "provision", provision ? provision : own, NULL};
    json_t *t = make_template(s, name, files);
    char *id = strdup(jsonx_get_str(t, "id", ""));
    json_decref(t);
    free(own);
    free(yaml);
    return id;
}

char *local_template(struct server *s, const char *name, const char *agent_yaml)
{
    return local_template_with(s, name, "", agent_yaml, NULL);
}

json_t *chat_create(struct server *s, const char *token, const char *workspace_id)
{
    char *body = workspace_id ? fmt("{\"workspace_id\": \"%s\"}", workspace_id) : fmt("{}");
    struct resp r;
    if (http_req(s, "POST", "/api/experimental/chats", token, body, &r) != 201)
        fail_msg("create chat: %ld %s", r.status, r.body);
    json_t *chat = json_incref(r.json);
    resp_free(&r);
    free(body);
    return chat;
}

json_t *chat_fetch(struct server *s, const char *token, const char *chat_id)
{
    char *path = fmt("/api/experimental/chats/%s", chat_id);
    struct resp r;
    if (http_req(s, "GET", path, token, NULL, &r) != 200)
        fail_msg("get chat: %ld %s", r.status, r.body);
    json_t *chat = json_incref(r.json);
    resp_free(&r);
    free(path);
    return chat;
}

json_t *create_ws(struct server *s, const char *token, const char *tid, const char *name)
{
    char *body = fmt("{\"name\":\"%s\",\"template_id\":\"%s\"}", name, tid);
    struct resp r;
    long st = http_req(s, "POST", "/api/v2/users/me/workspaces", token, body, &r);
    free(body);
    if (st != 201)
        fail_msg("create workspace %s: %ld %s", name, st, r.body);
    json_t *b =
        wait_build(s, token, jsonx_get_str(json_object_get(r.json, "latest_build"), "id", ""));
    const char *job = jsonx_get_str(json_object_get(b, "job"), "status", "");
    if (strcmp(job, "succeeded") != 0)
        fail_msg("first build of %s: %s", name, job);
    json_decref(b);
    json_t *ws = json_incref(r.json);
    resp_free(&r);
    return ws;
}

void run_build(struct server *s, const char *token, const char *ws_id, const char *transition)
{
    char *body = fmt("{\"transition\":\"%s\"}", transition);
    struct resp r;
    long st = post_build(s, token, ws_id, body, &r);
    free(body);
    if (st != 201)
        fail_msg("%s build: %ld %s", transition, st, r.body);
    json_t *b = wait_build(s, token, jsonx_get_str(r.json, "id", ""));
    const char *job = jsonx_get_str(json_object_get(b, "job"), "status", "");
    if (strcmp(job, "succeeded") != 0)
        fail_msg("%s build: %s", transition, job);
    json_decref(b);
    resp_free(&r);
}

char *build_agent_id(const json_t *build)
{
    const json_t *res = json_array_get(json_object_get(build, "resources"), 0);
    const json_t *agent = json_array_get(json_object_get(res, "agents"), 0);
    if (!agent)
        fail_msg("the build has no agent");
    return strdup(jsonx_get_str(agent, "id", ""));
}

char *ws_agent_id(struct server *s, const char *token, const char *ws_id)
{
    char *path = fmt("/api/v2/workspaces/%s", ws_id);
    struct resp r;
    if (http_req(s, "GET", path, token, NULL, &r) != 200)
        fail_msg("get workspace: %s", r.body);
    char *id = build_agent_id(json_object_get(r.json, "latest_build"));
    resp_free(&r);
    free(path);
    return id;
}

json_t *get_agent(struct server *s, const char *token, const char *agent_id)
{
    char *path = fmt("/api/v2/workspaceagents/%s", agent_id);
    struct resp r;
    if (http_req(s, "GET", path, token, NULL, &r) != 200)
        fail_msg("get agent: %s", r.body);
    json_t *a = json_incref(r.json);
    resp_free(&r);
    free(path);
    return a;
}

json_t *wait_agent_field(struct server *s, const char *token, const char *agent_id,
                         const char *field, const char *want)
{
    int64_t deadline = time_mono_us() + 60 * 1000000LL;
    for (;;) {
        json_t *a = get_agent(s, token, agent_id);
        if (strcmp(jsonx_get_str(a, field, ""), want) == 0)
            return a;
        if (time_mono_us() > deadline)
            fail_msg("agent %s: %s is %s, waited for %s", agent_id, field,
                     jsonx_get_str(a, field, ""), want);
        json_decref(a);
        usleep(20000);
    }
}

/* ---- processes ---- */

/* Reads /proc/<pid>/<what> (NUL-separated fields) into buf; returns its length (0 if none). */
static size_t proc_read(const char *pid, const char *what, char *buf, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/%s", pid, what);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, size - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    return (size_t)len;
}

/* The n-th NUL-separated field of buf (len bytes), or NULL. */
static const char *field_at(const char *buf, size_t len, int n)
{
    const char *p = buf;
    for (int i = 0; i < n && p < buf + len; i++)
        p += strlen(p) + 1;
    return p < buf + len ? p : NULL;
}

int agent_pids(const char *dir, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    char *home = fmt("HOME=%s", dir);
    size_t hl = strlen(home);
    while (d && (de = readdir(d)) != NULL) {
        char buf[16384];
        size_t len = proc_read(de->d_name, "cmdline", buf, sizeof buf);
        const char *arg1 = field_at(buf, len, 1);
        if (!arg1 || strcmp(arg1, "agent") != 0 || !strstr(buf, "berth"))
            continue;
        len = proc_read(de->d_name, "environ", buf, sizeof buf);
        for (const char *p = buf; len && p < buf + len; p += strlen(p) + 1) {
            if (strncmp(p, home, hl) == 0 && (p[hl] == '\0' || p[hl] == '/') && n < max) {
                pids[n++] = (pid_t)strtol(de->d_name, NULL, 10);
                break;
            }
        }
    }
    if (d)
        closedir(d);
    free(home);
    return n;
}

int wait_no_agent(const char *dir)
{
    pid_t pids[4];
    int n = 0;
    for (int i = 0; i < 500; i++) {
        n = agent_pids(dir, pids, 4);
        if (n == 0)
            break;
        usleep(20000);
    }
    return n;
}

bool sleep_alive(const char *arg)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    bool found = false;
    while (!found && d && (de = readdir(d)) != NULL) {
        char buf[256];
        size_t len = proc_read(de->d_name, "cmdline", buf, sizeof buf);
        const char *a1 = field_at(buf, len, 1);
        if (!len || strcmp(buf, "sleep") != 0 || !a1 || strcmp(a1, arg) != 0)
            continue;
        len = proc_read(de->d_name, "stat", buf, sizeof buf);
        const char *rp = len ? strrchr(buf, ')') : NULL;
        found = rp && rp[1] && rp[2] != 'Z'; /* a zombie is already dead */
    }
    if (d)
        closedir(d);
    return found;
}
