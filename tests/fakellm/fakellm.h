/* fakellm.h - starting and stopping fakellm (tests/fakellm/fakellm.c) from a test program.
 *
 * Needs the compile definition BERTH_FAKELLM_PATH (set for unit and integration tests by
 * tests/CMakeLists.txt). Header-only so that any test target can use it without linking a
 * support file. Not thread-safe (one fakellm per struct).
 *
 *   struct fakellm f;
 *   if (fakellm_start(&f, "[{\"text\": \"hello\"}]") < 0) ...
 *   ... point BERTH_LLM_BASE_URL (or llm_config.base_url) at f.url ...
 *   json_t *sent = fakellm_requests(&f); // every request body so far, oldest first
 *   fakellm_stop(&f);                     // 0 when it exited cleanly
 */
#ifndef BERTH_TESTS_FAKELLM_H
#define BERTH_TESTS_FAKELLM_H

#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BERTH_FAKELLM_PATH
#error "BERTH_FAKELLM_PATH is not defined (see tests/CMakeLists.txt)"
#endif

struct fakellm {
    pid_t pid;
    char dir[64];  /* its temporary directory: script.json, url, log */
    char url[128]; /* the base URL, "http://127.0.0.1:PORT/v1" */
};

extern char **environ;

static inline void fakellm_path_(const struct fakellm *f, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", f->dir, name);
}

/* Starts fakellm with script (the script's JSON text) and waits (up to 10 s) until it listens.
 * 0, or -1 with a message on stderr. */
static inline int fakellm_start(struct fakellm *f, const char *script)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/berth-fakellm-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("fakellm: mkdtemp");
        return -1;
    }
    char spath[128], upath[128], lpath[128];
    fakellm_path_(f, "script.json", spath, sizeof spath);
    fakellm_path_(f, "url", upath, sizeof upath);
    fakellm_path_(f, "log", lpath, sizeof lpath);
    FILE *s = fopen(spath, "w");
    if (!s || fputs(script, s) < 0 || fclose(s) != 0) {
        perror("fakellm: writing the script");
        return -1;
    }
    char *argv[] = {(char *)"fakellm",
                    (char *)"--script",
                    spath,
                    (char *)"--url-file",
                    upath,
                    (char *)"--log",
                    lpath,
                    NULL};
    if (posix_spawn(&f->pid, BERTH_FAKELLM_PATH, NULL, NULL, argv, environ) != 0) {
        perror("fakellm: spawn " BERTH_FAKELLM_PATH);
        return -1;
    }
    for (int i = 0; i < 1000; i++) {
        FILE *u = fopen(upath, "r");
        if (u) {
            char *ok = fgets(f->url, sizeof f->url, u);
            fclose(u);
            f->url[strcspn(f->url, "\n")] = '\0';
            if (ok && f->url[0])
                return 0;
        }
        int st;
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            fprintf(stderr, "fakellm: exited before it listened (bad script?)\n");
            f->pid = 0;
            return -1;
        }
        usleep(10 * 1000);
    }
    fprintf(stderr, "fakellm: did not start within 10 s\n");
    return -1;
}

/* Every request body received so far, oldest first (a JSON array; new reference). */
static inline json_t *fakellm_requests(const struct fakellm *f)
{
    char path[128];
    fakellm_path_(f, "log", path, sizeof path);
    json_t *all = json_array();
    FILE *l = fopen(path, "r");
    if (!l)
        return all;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, l) > 0) {
        json_t *v = json_loads(line, JSON_DECODE_ANY, NULL);
        json_array_append_new(all, v ? v : json_null());
    }
    free(line);
    fclose(l);
    return all;
}

/* Stops fakellm (SIGTERM), waits for it and removes its files. Its exit status: 0 when it
 * exited cleanly, -1 otherwise (a crash, a sanitizer report). */
static inline int fakellm_stop(struct fakellm *f)
{
    int rc = -1;
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        int st;
        if (waitpid(f->pid, &st, 0) == f->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            rc = 0;
        f->pid = 0;
    }
    static const char *const files[] = {"script.json", "url", "url.tmp", "log"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        fakellm_path_(f, files[i], path, sizeof path);
        unlink(path);
    }
    rmdir(f->dir);
    return rc;
}

#endif
