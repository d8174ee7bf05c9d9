/* Unit tests for the provisioner's queue and reaper over a real SQLite store: claiming, posting
 * wakes a runner, hung jobs are failed with log lines, restart recovery. */
#include "testing.h"

#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "provision/provision.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    struct store *st;
    struct pubsub *ps;
    char user_id[UUID_STR_LEN];
    char file_id[HASH_HEX_LEN + 1];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    str_copy(f->dir, sizeof f->dir, "/tmp/berth-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *url = str_printf("sqlite:%s/t.db", f->dir);
    struct err e = ERR_INIT;
    f->st = store_open(url, &e);
    free(url);
    assert_non_null(f->st);
    f->ps = pubsub_new();
    struct user u = {0};
    uuid_v7(u.id);
    str_copy(u.username, sizeof u.username, "u");
    str_copy(u.email, sizeof u.email, "u@example.com");
    str_copy(u.hashed_password, sizeof u.hashed_password, "x");
    u.created_at = u.updated_at = time_now_us();
    assert_int_equal(store_user_insert(f->st, &u, &e), 0);
    str_copy(f->user_id, sizeof f->user_id, u.id);
    struct file_row file = {0};
    memset(f->file_id, 'a', HASH_HEX_LEN);
    str_copy(file.id, sizeof file.id, f->file_id);
    str_copy(file.mimetype, sizeof file.mimetype, "application/x-tar");
    str_copy(file.created_by, sizeof file.created_by, u.id);
    file.data = "x";
    file.size = 1;
    assert_int_equal(store_file_insert(f->st, &file, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    pubsub_free(f->ps);
    char *cmd = str_printf("rm -rf %s", f->dir);
    int r = system(cmd);
    (void)r;
    free(cmd);
    free(f);
    return 0;
}

static void insert_job(struct fixture *f, char id[UUID_STR_LEN], int64_t created)
{
    struct job j = {0};
    uuid_v7(j.id);
    j.type = JOB_TEMPLATE_VERSION_IMPORT;
    j.created_at = created;
    str_copy(j.initiator_id, sizeof j.initiator_id, f->user_id);
    str_copy(j.file_id, sizeof j.file_id, f->file_id);
    struct err e = ERR_INIT;
    assert_int_equal(store_job_insert(f->st, &j, &e), 0);
    str_copy(id, UUID_STR_LEN, j.id);
}

static enum job_status status_of(struct fixture *f, const char *id, char *error, size_t size)
{
    struct job j;
    struct err e = ERR_INIT;
    assert_int_equal(store_job_get(f->st, id, &j, &e), 0);
    enum job_status s = j.status;
    if (error)
        str_copy(error, size, j.error);
    job_clear(&j);
    return s;
}

static void test_claim_is_once_and_status_is_derived(void **state)
{
    struct fixture *f = *state;
    char id[UUID_STR_LEN];
    insert_job(f, id, time_now_us());
    assert_int_equal(status_of(f, id, NULL, 0), JOB_PENDING);
    struct job j;
    struct err e = ERR_INIT;
    assert_int_equal(store_job_claim(f->st, "w1", time_now_us(), &j, &e), 1);
    assert_string_equal(j.id, id);
    assert_int_equal(j.status, JOB_RUNNING);
    job_clear(&j);
    assert_int_equal(store_job_claim(f->st, "w2", time_now_us(), &j, &e), 0);
    /* A heartbeat on a job nobody canceled says so (SQLite 3.40 gets "RETURNING x IS NOT
     * NULL" wrong; the store must not rely on it). */
    bool not_canceled = true;
    assert_int_equal(store_job_heartbeat(f->st, id, "w1", time_now_us(), &not_canceled, &e), 0);
    assert_false(not_canceled);
    /* Only the owner heartbeats; a cancel shows as canceling, then canceled on completion. */
    bool canceled;
    assert_int_equal(store_job_heartbeat(f->st, id, "w2", time_now_us(), &canceled, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    assert_int_equal(store_job_cancel(f->st, id, time_now_us(), &e), 0);
    assert_int_equal(status_of(f, id, NULL, 0), JOB_CANCELING);
    assert_int_equal(store_job_heartbeat(f->st, id, "w1", time_now_us(), &canceled, &e), 0);
    assert_true(canceled);
    assert_int_equal(store_job_complete(f->st, id, "w1", time_now_us(), "", "", &e), 0);
    assert_int_equal(status_of(f, id, NULL, 0), JOB_CANCELED);
    /* Completing twice is refused. */
    assert_int_equal(store_job_complete(f->st, id, "w1", time_now_us(), "x", "", &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    /* Error beats cancel. */
    char id2[UUID_STR_LEN];
    insert_job(f, id2, time_now_us());
    assert_int_equal(store_job_claim(f->st, "w1", time_now_us(), &j, &e), 1);
    job_clear(&j);
    assert_int_equal(store_job_cancel(f->st, id2, time_now_us(), &e), 0);
    assert_int_equal(store_job_complete(f->st, id2, "w1", time_now_us(), "it broke", "", &e), 0);
    assert_int_equal(status_of(f, id2, NULL, 0), JOB_FAILED);
    /* A pending job canceled before any claim ends canceled at once and is never claimed. */
    char id3[UUID_STR_LEN];
    insert_job(f, id3, time_now_us());
    assert_int_equal(store_job_cancel(f->st, id3, time_now_us(), &e), 0);
    assert_int_equal(status_of(f, id3, NULL, 0), JOB_CANCELED);
    assert_int_equal(store_job_claim(f->st, "w1", time_now_us(), &j, &e), 0);
    err_clear(&e);
}

static int succeed(struct job_ctx *ctx, void *arg, struct err *e)
{
    job_log(ctx, JOB_LOG_INFO, NULL, "ran");
    return 0;
}

static void test_a_posted_job_runs_without_waiting_for_the_poll(void **state)
{
    struct fixture *f = *state;
    struct provisioner_config cfg = {.runners = 2, .worker_id = "me", .poll_ms = 600000};
    cfg.handlers[JOB_TEMPLATE_VERSION_IMPORT].run = succeed;
    struct err e = ERR_INIT;
    struct provisioner *p = provisioner_start(f->st, f->ps, &cfg, &e);
    assert_non_null(p);
    usleep(100000); /* the runners are idle, waiting */
    char id[UUID_STR_LEN];
    insert_job(f, id, time_now_us());
    provision_post(f->ps, id);
    /* With a 10-minute poll, only the wake-up can run it within seconds. */
    for (int i = 0; i < 500 && status_of(f, id, NULL, 0) != JOB_SUCCEEDED; i++)
        usleep(10000);
    assert_int_equal(status_of(f, id, NULL, 0), JOB_SUCCEEDED);
    provisioner_stop(p);
}

static int slow(struct job_ctx *ctx, void *arg, struct err *e)
{
    usleep(400000);
    return job_ctx_canceled(ctx) ? err_set(e, ERR_CANCELED, "canceled") : 0;
}

static void test_jobs_outlive_many_heartbeats(void **state)
{
    struct fixture *f = *state;
    struct provisioner_config cfg = {.runners = 1, .worker_id = "me", .heartbeat_ms = 20};
    cfg.handlers[JOB_TEMPLATE_VERSION_IMPORT].run = slow;
    struct err e = ERR_INIT;
    struct provisioner *p = provisioner_start(f->st, f->ps, &cfg, &e);
    assert_non_null(p);
    char id[UUID_STR_LEN];
    insert_job(f, id, time_now_us());
    provision_post(f->ps, id);
    for (int i = 0; i < 500 && !job_status_terminal(status_of(f, id, NULL, 0)); i++)
        usleep(10000);
    provisioner_stop(p);
    struct job j;
    assert_int_equal(store_job_get(f->st, id, &j, &e), 0);
    assert_int_equal(j.status, JOB_SUCCEEDED);
    assert_int_equal(j.canceled_at, 0);
    job_clear(&j);
}

static void test_reaper_fails_hung_jobs_with_log_lines(void **state)
{
    struct fixture *f = *state;
    char running[UUID_STR_LEN];
    int64_t long_ago = time_now_us() - 3600LL * 1000000;
    insert_job(f, running, long_ago);
    struct job j;
    struct err e = ERR_INIT;
    /* Claimed by another replica that died: it never heartbeats again. */
    assert_int_equal(store_job_claim(f->st, "dead-replica", long_ago, &j, &e), 1);
    job_clear(&j);
    struct provisioner_config cfg = {.runners = 1,
                                     .worker_id = "me",
                                     .reap_every_ms = 50,
                                     .hung_running_ms = 60000,
                                     .poll_ms = 600000};
    struct provisioner *p = provisioner_start(f->st, f->ps, &cfg, &e);
    assert_non_null(p);
    char error[512];
    for (int i = 0; i < 300 && status_of(f, running, NULL, 0) == JOB_RUNNING; i++)
        usleep(10000);
    provisioner_stop(p);
    assert_int_equal(status_of(f, running, error, sizeof error), JOB_FAILED);
    assert_string_equal(error, "Template import has been detected as hung for 1 minutes and has "
                               "been "
                               "terminated by the reaper.");
    struct job_log_list logs;
    assert_int_equal(store_job_logs_after(f->st, running, 0, 0, &logs, &e), 0);
    assert_int_equal(logs.n, 5);
    assert_string_equal(logs.items[2].output,
                        "berth: Template import has been detected as hung for 1 minutes and "
                        "will be terminated.");
    assert_int_equal(logs.items[2].level, JOB_LOG_ERROR);
    job_log_list_free(&logs);
}

static void test_restart_fails_what_this_replica_had_claimed(void **state)
{
    struct fixture *f = *state;
    char id[UUID_STR_LEN];
    insert_job(f, id, time_now_us());
    struct job j;
    struct err e = ERR_INIT;
    assert_int_equal(store_job_claim(f->st, "me", time_now_us(), &j, &e), 1);
    job_clear(&j);
    struct provisioner_config cfg = {.runners = 1, .worker_id = "me"};
    struct provisioner *p = provisioner_start(f->st, f->ps, &cfg, &e);
    assert_non_null(p);
    char error[512];
    assert_int_equal(status_of(f, id, error, sizeof error), JOB_FAILED);
    assert_string_equal(error, "The server restarted while this job was running; the job was "
                               "interrupted.");
    provisioner_stop(p);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_is_once_and_status_is_derived, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_posted_job_runs_without_waiting_for_the_poll, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jobs_outlive_many_heartbeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reaper_fails_hung_jobs_with_log_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_fails_what_this_replica_had_claimed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
