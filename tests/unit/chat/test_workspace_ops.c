/* Unit tests for chat/workspace_ops.c over a real store and the real builder: a start on a
 * template that requires the active version is pinned to it; when that version needs a parameter
 * the workspace lacks, the start fails with the retry text and the builder's detail and builds
 * nothing; with the parameter it builds the active version. The owner is a plain member (not a
 * template administrator), as a chat's owner usually is. Also the unpinned start, stop, create
 * and the owner checks. */
#include "testing.h"

#include "base/secure.h"
#include "chat/internal.h"
#include "pubsub/pubsub.h"
#include "unit/store_fixture.h"

#define TEAM_DETAIL "Parameter \"team\" is required but not provided"

struct fixture {
    struct fx_store s;
    struct pubsub *ps;
    struct chat_ws_ctx ctx;
    struct tool_workspace_ops ops;
    char alice[UUID_STR_LEN];
    char tid[UUID_STR_LEN], v1[UUID_STR_LEN], v2[UUID_STR_LEN];
    char ws[UUID_STR_LEN], build1[UUID_STR_LEN], build2[UUID_STR_LEN];
};

static void complete(struct fixture *f, const char *job_id)
{
    struct err e = ERR_INIT;
    fx_check(store_job_complete(f->s.st, job_id, NULL, time_now_us(), "", NULL, &e), &e);
}

/* Completes a version's import job (builds refuse versions still importing). */
static void import_done(struct fixture *f, const char *version_id)
{
    struct template_version v;
    struct err e = ERR_INIT;
    fx_check(store_version_get(f->s.st, version_id, &v, &e), &e);
    complete(f, v.job_id);
    template_version_clear(&v);
}

/* A second version of the template, imported, with a required string parameter "team" that has
 * no default. */
static void second_version(struct fixture *f)
{
    struct err e = ERR_INIT;
    struct template_version v = {0};
    uuid_v7(v.id);
    str_copy(v.template_id, sizeof v.template_id, f->tid);
    str_copy(v.name, sizeof v.name, "v2");
    str_copy(v.file_id, sizeof v.file_id, f->s.file_id);
    fx_job(&f->s, JOB_TEMPLATE_VERSION_IMPORT, f->s.admin_id, v.job_id);
    str_copy(v.created_by, sizeof v.created_by, f->s.admin_id);
    v.created_at = v.updated_at = time_now_us();
    fx_check(store_version_insert(f->s.st, &v, &e), &e);
    complete(f, v.job_id);
    struct version_param p = {0};
    str_copy(p.name, sizeof p.name, "team");
    str_copy(p.type, sizeof p.type, "string");
    p.required = true;
    p.mutable_ = true;
    fx_check(store_version_param_insert(f->s.st, v.id, &p, &e), &e);
    str_copy(f->v2, sizeof f->v2, v.id);
}

static void require_active(struct fixture *f, bool on)
{
    struct err e = ERR_INIT;
    struct template_row t;
    fx_check(store_template_get(f->s.st, f->tid, &t, &e), &e);
    t.require_active_version = on;
    fx_check(store_template_update(f->s.st, &t, &e), &e);
    template_row_clear(&t);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice); /* a member */
    fx_template(&f->s, "tpl", f->tid, f->v1);
    import_done(f, f->v1);
    /* alice's workspace, started then stopped on v1. */
    fx_workspace(&f->s, f->alice, f->tid, "dev", f->ws);
    char job[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->v1, f->alice, 1, TRANSITION_START, f->build1, job);
    complete(f, job);
    fx_build(&f->s, f->ws, f->v1, f->alice, 2, TRANSITION_STOP, f->build2, job);
    complete(f, job);
    /* v2 becomes active and the template requires it. */
    second_version(f);
    struct err e = ERR_INIT;
    fx_check(store_template_set_active_version(f->s.st, f->tid, f->v2, time_now_us(), &e), &e);
    require_active(f, true);

    f->ps = pubsub_new();
    f->ctx = (struct chat_ws_ctx){.st = f->s.st, .ps = f->ps};
    chat_workspace_ops(&f->ops, &f->ctx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pubsub_free(f->ps);
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static void assert_latest(struct fixture *f, const char *build_id)
{
    struct workspace_build b;
    struct err e = ERR_INIT;
    fx_check(store_build_latest(f->s.st, f->ws, &b, &e), &e);
    assert_string_equal(b.id, build_id);
    workspace_build_clear(&b);
}

/* ManualUpdateRequired against the real builder, then the retry with the parameter. */
static void test_pinned_start_needs_parameter(void **state)
{
    struct fixture *f = *state;
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    assert_int_equal(f->ops.start(f->ops.arg, f->alice, f->ws, NULL, 0, &b, &e), -1);
    assert_true(err_is(&e, ERR_PARAM_VALIDATION));
    assert_string_equal(err_msg(&e), TOOL_MANUAL_UPDATE_TEXT "\n\n" TEAM_DETAIL);
    /* The builder's own detail is kept beside it. */
    assert_string_equal(e.detail, TEAM_DETAIL);
    err_clear(&e);
    assert_latest(f, f->build2); /* no build was created */

    /* Other parameters do not help. */
    struct build_param_value other[] = {{"region", "eu"}};
    assert_int_equal(f->ops.start(f->ops.arg, f->alice, f->ws, other, 1, &b, &e), -1);
    assert_string_equal(err_msg(&e), TOOL_MANUAL_UPDATE_TEXT "\n\n" TEAM_DETAIL);
    err_clear(&e);
    assert_latest(f, f->build2);

    struct build_param_value team[] = {{"team", "x"}};
    if (f->ops.start(f->ops.arg, f->alice, f->ws, team, 1, &b, &e) < 0)
        fail_msg("start: %s", err_msg(&e));
    assert_string_equal(b.template_version_id, f->v2);
    assert_int_equal(b.transition, TRANSITION_START);
    assert_int_equal(b.build_number, 3);
    assert_string_equal(b.initiator_id, f->alice);
    assert_latest(f, b.id);
    struct build_param_list params = {0};
    fx_check(store_build_params(f->s.st, b.id, &params, &e), &e);
    assert_int_equal(params.n, 1);
    assert_string_equal(params.items[0].name, "team");
    assert_string_equal(params.items[0].value, "x");
    build_param_list_free(&params);
    struct job j;
    fx_check(store_job_get(f->s.st, b.job_id, &j, &e), &e);
    assert_int_equal(j.status, JOB_PENDING);
    assert_string_equal(j.initiator_id, f->alice);
    job_clear(&j);

    /* Stopping it: the stop keeps the version. */
    complete(f, b.job_id);
    workspace_build_clear(&b);
    if (f->ops.stop(f->ops.arg, f->alice, f->ws, &b, &e) < 0)
        fail_msg("stop: %s", err_msg(&e));
    assert_int_equal(b.transition, TRANSITION_STOP);
    assert_int_equal(b.build_number, 4);
    assert_string_equal(b.template_version_id, f->v2);
    complete(f, b.job_id);
    workspace_build_clear(&b);

    /* Started again on the same (active) version: the previous value carries over. */
    if (f->ops.start(f->ops.arg, f->alice, f->ws, NULL, 0, &b, &e) < 0)
        fail_msg("start: %s", err_msg(&e));
    assert_string_equal(b.template_version_id, f->v2);
    fx_check(store_build_params(f->s.st, b.id, &params, &e), &e);
    assert_int_equal(params.n, 1);
    assert_string_equal(params.items[0].value, "x");
    build_param_list_free(&params);
    workspace_build_clear(&b);
}

/* Without require_active_version the start stays on the previous build's version. */
static void test_unpinned_start_keeps_version(void **state)
{
    struct fixture *f = *state;
    require_active(f, false);
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    if (f->ops.start(f->ops.arg, f->alice, f->ws, NULL, 0, &b, &e) < 0)
        fail_msg("start: %s", err_msg(&e));
    assert_string_equal(b.template_version_id, f->v1);
    assert_int_equal(b.build_number, 3);
    workspace_build_clear(&b);
}

/* A parameter failure that the pin did not cause (the workspace is already on the version) is
 * the builder's message with its detail, not the retry text. */
static void test_parameter_failure_without_version_change(void **state)
{
    struct fixture *f = *state;
    char job[UUID_STR_LEN], b3[UUID_STR_LEN];
    /* A stopped build on v2 that recorded no value for "team". */
    fx_build(&f->s, f->ws, f->v2, f->alice, 3, TRANSITION_STOP, b3, job);
    complete(f, job);
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    assert_int_equal(f->ops.start(f->ops.arg, f->alice, f->ws, NULL, 0, &b, &e), -1);
    assert_true(err_is(&e, ERR_PARAM_VALIDATION));
    assert_string_equal(err_msg(&e), "Unable to validate parameter \"team\": " TEAM_DETAIL);
    err_clear(&e);
    assert_latest(f, b3);
}

/* Other builder failures pass through with their kind and message. */
static void test_other_failures_pass_through(void **state)
{
    struct fixture *f = *state;
    char job[UUID_STR_LEN], b3[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->v2, f->alice, 3, TRANSITION_START, b3, job); /* still pending */
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    struct build_param_value team[] = {{"team", "x"}};
    assert_int_equal(f->ops.start(f->ops.arg, f->alice, f->ws, team, 1, &b, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    assert_string_equal(err_msg(&e), "A workspace build is already active.");
    err_clear(&e);

    /* Another member's workspace is hidden. */
    char bob[UUID_STR_LEN];
    fx_user(&f->s, "bob", bob);
    complete(f, job);
    assert_int_equal(f->ops.start(f->ops.arg, bob, f->ws, team, 1, &b, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    assert_int_equal(f->ops.stop(f->ops.arg, bob, f->ws, &b, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    assert_latest(f, b3);
}

/* The owner must exist and be active. */
static void test_owner_checks(void **state)
{
    struct fixture *f = *state;
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    const char *ghost = "0190a0a0-0000-7000-8000-0000000000dd";
    assert_int_equal(f->ops.start(f->ops.arg, ghost, f->ws, NULL, 0, &b, &e), -1);
    assert_true(err_is(&e, ERR_INTERNAL));
    assert_true(strncmp(err_msg(&e), "load user authorization: ", 25) == 0);
    err_clear(&e);

    struct user u = {0};
    uuid_v7(u.id);
    str_copy(u.username, sizeof u.username, "carol");
    str_copy(u.email, sizeof u.email, "carol@example.com");
    str_copy(u.hashed_password, sizeof u.hashed_password, "x");
    u.status = USER_SUSPENDED;
    u.created_at = u.updated_at = time_now_us();
    fx_check(store_user_insert(f->s.st, &u, &e), &e);
    char *want = str_printf("chat owner %s is not active", u.id);
    assert_int_equal(f->ops.stop(f->ops.arg, u.id, f->ws, &b, &e), -1);
    assert_true(err_is(&e, ERR_INTERNAL));
    assert_string_equal(err_msg(&e), want);
    err_clear(&e);
    assert_int_equal(f->ops.start(f->ops.arg, u.id, f->ws, NULL, 0, &b, &e), -1);
    assert_string_equal(err_msg(&e), want);
    err_clear(&e);
    free(want);
    assert_latest(f, f->build2);
}

/* Create: the owner's new workspace on the active version, with the parameters given. */
static void test_create(void **state)
{
    struct fixture *f = *state;
    struct workspace ws;
    struct workspace_build b;
    memset(&ws, 0, sizeof ws);
    memset(&b, 0, sizeof b);
    struct err e = ERR_INIT;
    struct workspace_create req = {.name = "box", .template_id = f->tid};
    assert_int_equal(f->ops.create(f->ops.arg, f->alice, &req, &ws, &b, &e), -1);
    assert_true(err_is(&e, ERR_PARAM_VALIDATION));
    assert_string_equal(err_msg(&e), "Unable to validate parameter \"team\"");
    assert_string_equal(e.detail, TEAM_DETAIL);
    err_clear(&e);

    struct build_param_value team[] = {{"team", "y"}};
    req.params = team;
    req.nparams = 1;
    if (f->ops.create(f->ops.arg, f->alice, &req, &ws, &b, &e) < 0)
        fail_msg("create: %s", err_msg(&e));
    assert_string_equal(ws.owner_id, f->alice);
    assert_string_equal(ws.name, "box");
    assert_string_equal(b.workspace_id, ws.id);
    assert_string_equal(b.template_version_id, f->v2);
    assert_int_equal(b.build_number, 1);
    workspace_clear(&ws);
    workspace_build_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pinned_start_needs_parameter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpinned_start_keeps_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameter_failure_without_version_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_failures_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
