/* Unit tests for agent/ops, exec in the foreground: exit codes, the environment, time-out and
 * group kill, truncated UTF-8 output, workdir; invalid requests; concurrent requests. Real
 * processes via /bin/sh; timing bounds are generous so a loaded machine passes.
 */
#include "ops_fixture.h"

#include <pthread.h>
#include <sys/prctl.h>

static void test_exec_exit_code(void **state)
{
    struct fx *f = *state;
    json_t *r = ok(f, exec_req("printf hi; exit 3"));
    assert_int_equal(iget(r, "exit_code"), 3);
    assert_string_equal(sget(r, "output"), "hi");
    assert_false(bget(r, "truncated"));
    assert_false(bget(r, "timed_out"));
    assert_true(iget(r, "duration_ms") >= 0);
    json_decref(r);

    r = ok(f, exec_req("echo out; echo err >&2"));
    assert_int_equal(iget(r, "exit_code"), 0);
    assert_string_equal(sget(r, "output"), "out\nerr\n");
    json_decref(r);

    /* Killed by a signal: 128 + the signal. */
    r = ok(f, exec_req("kill -TERM $$"));
    assert_int_equal(iget(r, "exit_code"), 128 + SIGTERM);
    json_decref(r);
}

static void test_exec_environment(void **state)
{
    struct fx *f = *state;
    setenv("BERTH_OPS_TEST_ONLY_HERE", "leaked", 1);
    json_t *r = ok(f, json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "exec", "command", "env", "env",
                                "MY_VAR", "mine", "PAGER", "less"));
    const char *out = sget(r, "output");
    assert_int_equal(iget(r, "exit_code"), 0);
    const char *want[] = {"GIT_EDITOR=true\n",
                          "GIT_SEQUENCE_EDITOR=true\n",
                          "NO_COLOR=1\n",
                          "BERTH_AGENT=true\n",
                          "EDITOR=true\n",
                          "VISUAL=true\n",
                          "GIT_TERMINAL_PROMPT=0\n",
                          "TERM=dumb\n",
                          "GIT_PAGER=cat\n",
                          "MY_VAR=mine\n",
                          "PAGER=less\n",
                          "PATH=/usr/local/bin:/usr/bin:/bin\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fail_msg("%s missing from:\n%s", want[i], out);
    }
    /* The request's PAGER replaced the agent's. */
    assert_null(strstr(out, "\nPAGER=cat\n"));
    assert_false(str_has_prefix(out, "PAGER=cat\n"));
    assert_null(strstr(out, "BERTH_OPS_TEST_ONLY_HERE"));
    assert_null(strstr(out, "leaked"));
    json_decref(r);
    unsetenv("BERTH_OPS_TEST_ONLY_HERE");

    fails(f, json_pack("{s:s, s:s, s:{s:i}}", "type", "exec", "command", "env", "env", "X", 1),
          ERR_BAD_REQUEST, "Validation failed.");
    fails(f, json_pack("{s:s, s:s, s:{s:s}}", "type", "exec", "command", "env", "env", "A=B", "c"),
          ERR_BAD_REQUEST, "Validation failed.");
}

/* Reaps orphans re-parented to this process (a subreaper), without blocking. */
static void test_exec_timeout(void **state)
{
    struct fx *f = *state;
    int64_t start = time_mono_us();
    json_t *r = ok(f, json_pack("{s:s, s:s, s:i}", "type", "exec", "command",
                                "echo $$; sleep 30 & sleep 30; wait", "timeout_ms", 200));
    int64_t took = elapsed_ms(start);
    assert_true(took >= 150);
    assert_true(took < 8000);
    assert_true(bget(r, "timed_out"));
    assert_int_equal(iget(r, "exit_code"), -1);
    int64_t pid;
    char line[32];
    str_copy(line, sizeof line, sget(r, "output"));
    *strchrnul(line, '\n') = '\0';
    assert_int_equal(str_to_int64(line, &pid), 0);
    assert_true(pid > 1);
    assert_true(group_gone((pid_t)pid));
    json_decref(r);

    fails(f, json_pack("{s:s, s:s, s:i}", "type", "exec", "command", "true", "timeout_ms", 0),
          ERR_BAD_REQUEST, "Validation failed.");
    fails(f,
          json_pack("{s:s, s:s, s:I}", "type", "exec", "command", "true", "timeout_ms",
                    (json_int_t)3600001),
          ERR_BAD_REQUEST, "Validation failed.");
}

static void test_exec_truncated_utf8(void **state)
{
    struct fx *f = *state;
    json_t *r = ok(f, exec_req("yes 'h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC' | head -c 100000"));
    const char *out = sget(r, "output");
    size_t len = json_string_length(json_object_get(r, "output"));
    assert_true(bget(r, "truncated"));
    assert_true(len <= 32768);
    assert_true(len > 32000);
    assert_true(utf8_valid(out, len));
    json_decref(r);

    /* Invalid bytes are replaced, never passed through. */
    r = ok(f, exec_req("printf 'a\\377b'"));
    assert_string_equal(sget(r, "output"), "a\xEF\xBF\xBD"
                                           "b");
    json_decref(r);
}

static void test_exec_workdir(void **state)
{
    struct fx *f = *state;
    char *sub = str_printf("%s/sub", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char *want = str_printf("%s\n", sub);
    json_t *r =
        ok(f, json_pack("{s:s, s:s, s:s}", "type", "exec", "command", "pwd", "workdir", "sub"));
    assert_string_equal(sget(r, "output"), want);
    json_decref(r);
    free(want);

    want = str_printf("%s\n", f->dir);
    r = ok(f, exec_req("pwd"));
    assert_string_equal(sget(r, "output"), want);
    json_decref(r);
    free(want);

    r = ok(f, json_pack("{s:s, s:s, s:s}", "type", "exec", "command", "pwd", "workdir", sub));
    assert_true(str_has_prefix(sget(r, "output"), sub));
    json_decref(r);

    fails(f, json_pack("{s:s, s:s, s:s}", "type", "exec", "command", "pwd", "workdir", "missing"),
          ERR_BAD_REQUEST, NULL);
    free(sub);
}

static void test_requests_invalid(void **state)
{
    struct fx *f = *state;
    assert_string_equal(
        fails(f, json_pack("{s:s}", "type", "exec"), ERR_BAD_REQUEST, "Validation failed."),
        "command");
    assert_string_equal(fails(f, json_pack("{s:s, s:s}", "type", "exec", "command", ""),
                              ERR_BAD_REQUEST, "Validation failed."),
                        "command");
    assert_string_equal(fails(f, json_pack("{s:s, s:i}", "type", "exec", "command", 5),
                              ERR_BAD_REQUEST, "Validation failed."),
                        "command");
    assert_string_equal(
        fails(f,
              json_pack("{s:s, s:s, s:s}", "type", "exec", "command", "true", "background", "yes"),
              ERR_BAD_REQUEST, "Validation failed."),
        "background");
    fails(f, json_pack("{s:s}", "type", "nope"), ERR_BAD_REQUEST, "unknown request type \"nope\"");
    assert_string_equal(
        fails(f, json_pack("{s:s}", "command", "true"), ERR_BAD_REQUEST, "Validation failed."),
        "type");
    fails(f, json_pack("[]"), ERR_BAD_REQUEST, NULL);
    assert_string_equal(
        fails(f, json_pack("{s:s}", "type", "read_file"), ERR_BAD_REQUEST, "Validation failed."),
        "path");
    assert_string_equal(
        fails(f, json_pack("{s:s, s:s, s:i}", "type", "read_file", "path", "x", "limit", 10001),
              ERR_BAD_REQUEST, "Validation failed."),
        "limit");
    assert_string_equal(fails(f, json_pack("{s:s, s:s}", "type", "write_file", "path", "x"),
                              ERR_BAD_REQUEST, "Validation failed."),
                        "content");
    assert_string_equal(fails(f,
                              json_pack("{s:s, s:[{s:s, s:[{s:s}]}]}", "type", "edit_files",
                                        "files", "path", "x", "edits", "search", "a"),
                              ERR_BAD_REQUEST, "Validation failed."),
                        "files[0].edits[0].replace");
    assert_string_equal(fails(f, json_pack("{s:s, s:[]}", "type", "edit_files", "files"),
                              ERR_BAD_REQUEST, "Validation failed."),
                        "files");
}

struct worker {
    struct fx *f;
    int t;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 20; i++) {
        char val[32], want[40];
        str_fmt(val, sizeof val, "t%d-i%d", w->t, i);
        str_fmt(want, sizeof want, "%s\n", val);
        json_t *req =
            json_pack("{s:s, s:s, s:{s:s}}", "type", "exec", "command", "echo $N", "env", "N", val);
        json_t *res = NULL;
        struct err e = ERR_INIT;
        if (agent_ops_handle(w->f->ops, req, &res, &e) < 0 ||
            strcmp(jsonx_get_str(res, "output", ""), want) != 0)
            w->failures++;
        err_clear(&e);
        json_decref(res);
        json_decref(req);
    }
    return NULL;
}

static void test_concurrent_execs(void **state)
{
    struct fx *f = *state;
    struct worker w[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.f = f, .t = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

/* ---- cancel ---- */

struct canceled_exec {
    struct fx *f;
    const char *id;
    json_t *res; /* the exec's result */
    int64_t ms;  /* how long it ran */
};

static void *canceled_exec_main(void *arg)
{
    struct canceled_exec *x = arg;
    json_t *req = json_pack("{s:s, s:s, s:s, s:i}", "type", "exec", "id", x->id, "command",
                            "sleep 30", "timeout_ms", 60000);
    struct err e = ERR_INIT;
    int64_t t0 = time_mono_us();
    if (agent_ops_handle(x->f->ops, req, &x->res, &e) < 0)
        x->res = NULL;
    x->ms = (time_mono_us() - t0) / 1000;
    err_clear(&e);
    json_decref(req);
    return NULL;
}

/* A cancel stops the foreground exec of the request it names (its process group gets SIGTERM),
 * whether it arrives while the command runs or just before the exec starts; other ids stop
 * nothing. */
static void test_cancel_stops_a_foreground_exec(void **state)
{
    struct fx *f = *state;
    json_t *res = ok(f, json_pack("{s:s, s:s}", "type", "cancel", "call_id", "c-unknown"));
    assert_false(json_is_true(json_object_get(res, "canceled")));
    json_decref(res);

    struct canceled_exec x = {.f = f, .id = "c-run"};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, canceled_exec_main, &x), 0);
    usleep(300000); /* the command is running */
    res = ok(f, json_pack("{s:s, s:s}", "type", "cancel", "call_id", "c-run"));
    assert_true(json_is_true(json_object_get(res, "canceled")));
    assert_string_equal(sget(res, "call_id"), "c-run");
    json_decref(res);
    pthread_join(th, NULL);
    assert_non_null(x.res);
    assert_true(x.ms < 20000); /* stopped, not run for its 30 s */
    assert_int_equal(json_integer_value(json_object_get(x.res, "exit_code")), 143); /* SIGTERM */
    json_decref(x.res);

    /* The cancel came first (the answer says it found nothing): the exec stops as it starts. */
    res = ok(f, json_pack("{s:s, s:s}", "type", "cancel", "call_id", "c-early"));
    assert_false(json_is_true(json_object_get(res, "canceled")));
    json_decref(res);
    struct canceled_exec y = {.f = f, .id = "c-early"};
    canceled_exec_main(&y);
    assert_non_null(y.res);
    assert_true(y.ms < 20000);
    json_decref(y.res);

    fails(f, json_pack("{s:s}", "type", "cancel"), ERR_BAD_REQUEST, NULL);
    fails(f, json_pack("{s:s, s:s}", "type", "cancel", "call_id", ""), ERR_BAD_REQUEST, NULL);
}

int main(void)
{
    /* Orphans of killed commands are re-parented here, so the tests can see them go. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_truncated_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_workdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_execs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_stops_a_foreground_exec, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
