/* Unit tests for agent/ops, background processes: output and waits, signals, the list, the limit
 * on live processes, teardown killing what runs, large output, finished processes kept. Real
 * processes via /bin/sh; timing bounds are generous so a loaded machine passes.
 */
#include "ops_fixture.h"

#include <sys/prctl.h>

static void test_background_output(void **state)
{
    struct fx *f = *state;
    int64_t start = time_mono_us();
    char *id = bg_start(f, "echo start; sleep 0.3; echo end");
    assert_true(elapsed_ms(start) < 5000); /* at once, not after the 0.3 s */
    assert_true(id[0] == 'p');

    json_t *r = ok(f, output_req(id, 5000));
    assert_string_equal(sget(r, "process_id"), id);
    assert_false(bget(r, "running"));
    assert_int_equal(iget(r, "exit_code"), 0);
    assert_string_equal(sget(r, "output"), "start\nend\n");
    assert_false(bget(r, "truncated"));
    assert_true(iget(r, "duration_ms") >= 250);
    json_decref(r);

    /* A second id is different. */
    char *id2 = bg_start(f, "exit 7");
    assert_string_not_equal(id, id2);
    r = ok(f, output_req(id2, 5000));
    assert_int_equal(iget(r, "exit_code"), 7);
    assert_string_equal(sget(r, "output"), "");
    json_decref(r);
    free(id2);
    free(id);
}

static void test_background_running_and_signals(void **state)
{
    struct fx *f = *state;
    char *id = bg_start(f, "echo ready; sleep 30");

    /* A snapshot while it runs. */
    json_t *r = ok(f, output_req(id, 0));
    assert_true(bget(r, "running"));
    assert_true(json_is_null(json_object_get(r, "exit_code")));
    json_decref(r);

    /* A bounded wait returns while it still runs, with its output so far. */
    int64_t start = time_mono_us();
    r = ok(f, output_req(id, 300));
    int64_t took = elapsed_ms(start);
    assert_true(took >= 250);
    assert_true(took < 5000);
    assert_true(bget(r, "running"));
    json_decref(r);
    for (int i = 0; i < 100; i++) {
        r = ok(f, output_req(id, 50));
        bool ready = strcmp(sget(r, "output"), "ready\n") == 0;
        json_decref(r);
        if (ready)
            break;
        assert_true(i < 99);
    }

    r = ok(f, json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", id, "signal",
                        "terminate"));
    assert_string_equal(sget(r, "process_id"), id);
    assert_string_equal(sget(r, "signal"), "terminate");
    assert_true(bget(r, "sent"));
    json_decref(r);
    r = ok(f, output_req(id, 10000));
    assert_false(bget(r, "running"));
    assert_int_equal(iget(r, "exit_code"), 128 + SIGTERM);
    json_decref(r);
    char *msg = str_printf("process %s has already exited", id);
    fails(
        f,
        json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", id, "signal", "kill"),
        ERR_BAD_REQUEST, msg);
    free(msg);

    char *id2 = bg_start(f, "sleep 30");
    fails(
        f,
        json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", id2, "signal", "hup"),
        ERR_BAD_REQUEST, "signal must be \"terminate\" or \"kill\"");
    json_decref(ok(f, json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", id2,
                                "signal", "kill")));
    r = ok(f, output_req(id2, 10000));
    assert_false(bget(r, "running"));
    assert_int_equal(iget(r, "exit_code"), 128 + SIGKILL);
    json_decref(r);

    /* The list, in start order, finished ones included. */
    char *id3 = bg_start(f, "sleep 30");
    r = ok(f, json_pack("{s:s}", "type", "process_list"));
    json_t *list = json_object_get(r, "processes");
    assert_int_equal(json_array_size(list), 3);
    json_t *p0 = json_array_get(list, 0), *p2 = json_array_get(list, 2);
    assert_string_equal(sget(p0, "process_id"), id);
    assert_string_equal(sget(p0, "command"), "echo ready; sleep 30");
    assert_false(bget(p0, "running"));
    assert_int_equal(iget(p0, "exit_code"), 143);
    int64_t us;
    assert_int_equal(time_parse(sget(p0, "started_at"), &us), 0);
    assert_true(llabs((long long)(us - time_now_us())) < 600LL * 1000000);
    assert_true(iget(p0, "duration_ms") >= 0);
    assert_string_equal(sget(json_array_get(list, 1), "process_id"), id2);
    assert_string_equal(sget(p2, "process_id"), id3);
    assert_true(bget(p2, "running"));
    assert_true(json_is_null(json_object_get(p2, "exit_code")));
    json_decref(r);

    fails(f, output_req("p999", 0), ERR_NOT_FOUND, "process p999 not found");
    fails(f,
          json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", "p999", "signal",
                    "kill"),
          ERR_NOT_FOUND, "process p999 not found");
    assert_string_equal(fails(f, output_req(id, -1), ERR_BAD_REQUEST, "Validation failed."),
                        "wait_ms");
    free(id);
    free(id2);
    free(id3); /* still running: agent_ops_free kills it */
}

static void test_background_limit_and_free(void **state)
{
    struct fx *f = *state; /* max_background 2 */
    char *a = bg_start(f, "sleep 30");
    char *b = bg_start(f, "echo $$; sleep 30");
    fails(f, bg_req("sleep 30"), ERR_BAD_REQUEST, "too many background processes (2)");
    json_t *r = ok(f, output_req(b, 0));
    for (int i = 0; i < 200 && !strchr(sget(r, "output"), '\n'); i++) {
        json_decref(r);
        r = ok(f, output_req(b, 50));
    }
    int64_t pid;
    char line[32];
    str_copy(line, sizeof line, sget(r, "output"));
    *strchrnul(line, '\n') = '\0';
    assert_int_equal(str_to_int64(line, &pid), 0);
    json_decref(r);

    /* Once one ends, there is room again. */
    json_decref(ok(f, json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", a,
                                "signal", "kill")));
    json_decref(ok(f, output_req(a, 10000)));
    char *c = bg_start(f, "sleep 30");

    /* Freeing kills and reaps what still runs, promptly. */
    int64_t start = time_mono_us();
    agent_ops_free(f->ops);
    assert_true(elapsed_ms(start) < 8000);
    assert_true(group_gone((pid_t)pid));
    struct agent_ops_config cfg = {.directory = f->dir, .base_env = base_env};
    f->ops = agent_ops_new(&cfg);
    free(a);
    free(b);
    free(c);
}

static void test_background_large_output(void **state)
{
    struct fx *f = *state;
    char *id = bg_start(f, "yes '\xC3\xA9t\xC3\xA9 abcdefgh' | head -c 3000000; echo; echo last");
    json_t *r = ok(f, output_req(id, 30000));
    assert_false(bget(r, "running"));
    const char *out = sget(r, "output");
    size_t len = json_string_length(json_object_get(r, "output"));
    assert_true(bget(r, "truncated"));
    assert_true(len <= 32768);
    assert_true(len > 30000);
    assert_true(utf8_valid(out, len));
    assert_true(str_has_suffix(out, "\nlast\n"));
    assert_null(strstr(out, "\xEF\xBF\xBD"));
    json_decref(r);
    free(id);
}

static void test_background_finished_kept(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 260; i++) {
        char *id = bg_start(f, "true");
        json_t *r = ok(f, output_req(id, 10000));
        assert_false(bget(r, "running"));
        json_decref(r);
        free(id);
    }
    json_t *r = ok(f, json_pack("{s:s}", "type", "process_list"));
    json_t *list = json_object_get(r, "processes");
    assert_int_equal(json_array_size(list), 256);
    assert_string_equal(sget(json_array_get(list, 0), "process_id"), "p5");
    assert_string_equal(sget(json_array_get(list, 255), "process_id"), "p260");
    json_decref(r);
    fails(f, output_req("p1", 0), ERR_NOT_FOUND, "process p1 not found");
}

int main(void)
{
    /* Orphans of killed commands are re-parented here, so the tests can see them go. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_background_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_running_and_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_limit_and_free, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_background_large_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_finished_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
