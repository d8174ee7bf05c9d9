/* Unit tests for the store-backed tool data (chat/tool_db.c): the latest build's agents, an
 * agent's build, the templates and their owners, the chat binding, and plain reads. */
#include "testing.h"

#include "base/mem.h"
#include "base/secure.h"
#include "chat/service.h"
#include "unit/store_fixture.h"

struct fixture {
    struct fx_store s;
    struct tool_db db;
    char alice[UUID_STR_LEN], bob[UUID_STR_LEN];
    char tid[UUID_STR_LEN], vid[UUID_STR_LEN];
    char ws[UUID_STR_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    fx_user(&f->s, "bob", f->bob);
    fx_template(&f->s, "tpl", f->tid, f->vid);
    fx_workspace(&f->s, f->alice, f->tid, "dev", f->ws);
    chat_tool_db_init(&f->db, f->s.st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static void test_agents_latest_are_the_latest_builds(void **state)
{
    struct fixture *f = *state;
    struct tool_db *db = &f->db;
    struct agent_list l;
    struct err e = ERR_INIT;
    /* No build yet: no agents. */
    fx_check(db->agents_latest(db->arg, f->ws, &l, &e), &e);
    assert_int_equal(l.n, 0);
    agent_list_free(&l);

    char b1[UUID_STR_LEN], j1[UUID_STR_LEN], a_main[UUID_STR_LEN], a_chat[UUID_STR_LEN];
    char a_first[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->vid, f->alice, 1, TRANSITION_START, b1, j1);
    fx_agent(&f->s, j1, "main", 2, a_main);
    fx_agent(&f->s, j1, "dev-berth-chat", 1, a_chat);
    fx_agent(&f->s, j1, "aux", 1, a_first);
    fx_check(db->agents_latest(db->arg, f->ws, &l, &e), &e);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].id, a_first); /* display order, then name */
    assert_string_equal(l.items[1].id, a_chat);
    assert_string_equal(l.items[2].id, a_main);
    agent_list_free(&l);

    /* A stop build has no agents of its own: the workspace has none now. */
    char b2[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->vid, f->alice, 2, TRANSITION_STOP, b2, NULL);
    fx_check(db->agents_latest(db->arg, f->ws, &l, &e), &e);
    assert_int_equal(l.n, 0);
    agent_list_free(&l);
    /* Another start build brings its own agents, not the first build's. */
    char b3[UUID_STR_LEN], j3[UUID_STR_LEN], a3[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->vid, f->alice, 3, TRANSITION_START, b3, j3);
    fx_agent(&f->s, j3, "main", 0, a3);
    fx_check(db->agents_latest(db->arg, f->ws, &l, &e), &e);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, a3);
    agent_list_free(&l);

    /* Each agent knows its build. */
    char build[UUID_STR_LEN];
    fx_check(db->agent_build(db->arg, a_main, build, &e), &e);
    assert_string_equal(build, b1);
    fx_check(db->agent_build(db->arg, a3, build, &e), &e);
    assert_string_equal(build, b3);
    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(db->agent_build(db->arg, missing, build, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    struct workspace_agent a;
    fx_check(db->agent_get(db->arg, a_chat, &a, &e), &e);
    assert_string_equal(a.name, "dev-berth-chat");
    workspace_agent_clear(&a);
    struct workspace_build b;
    fx_check(db->build_latest(db->arg, f->ws, &b, &e), &e);
    assert_string_equal(b.id, b3);
    struct job j;
    fx_check(db->job_get(db->arg, b.job_id, &j, &e), &e);
    assert_string_equal(j.id, j3);
    assert_int_equal(j.type, JOB_WORKSPACE_BUILD);
    job_clear(&j);
    workspace_build_clear(&b);
    fx_check(db->build_get(db->arg, b2, &b, &e), &e);
    assert_int_equal(b.transition, TRANSITION_STOP);
    workspace_build_clear(&b);
}

static void test_templates_and_owners(void **state)
{
    struct fixture *f = *state;
    struct tool_db *db = &f->db;
    struct err e = ERR_INIT;
    char t_old[UUID_STR_LEN], v_old[UUID_STR_LEN], t_dep[UUID_STR_LEN], v_dep[UUID_STR_LEN];
    fx_template(&f->s, "alpha", t_old, v_old);
    fx_template(&f->s, "beta", t_dep, v_dep);
    fx_check(store_template_delete(f->s.st, t_old, time_now_us(), &e), &e);
    struct template_row t;
    fx_check(store_template_get(f->s.st, t_dep, &t, &e), &e);
    free(t.deprecated);
    t.deprecated = xstrdup("use tpl");
    fx_check(store_template_update(f->s.st, &t, &e), &e);
    template_row_clear(&t);

    struct template_list l;
    fx_check(db->templates(db->arg, &l, &e), &e);
    assert_int_equal(l.n, 2); /* deleted left out, deprecated kept */
    assert_string_equal(l.items[0].name, "beta");
    assert_string_equal(l.items[1].name, "tpl");
    template_list_free(&l);
    fx_check(db->template_get(db->arg, t_dep, &t, &e), &e);
    assert_string_equal(t.deprecated, "use tpl");
    template_row_clear(&t);

    int64_t n = -1;
    fx_check(db->template_owners(db->arg, f->tid, &n, &e), &e);
    assert_int_equal(n, 1);
    char w[UUID_STR_LEN];
    fx_workspace(&f->s, f->alice, f->tid, "two", w);
    fx_workspace(&f->s, f->bob, f->tid, "three", w);
    fx_check(db->template_owners(db->arg, f->tid, &n, &e), &e);
    assert_int_equal(n, 2);
    fx_check(db->template_owners(db->arg, t_dep, &n, &e), &e);
    assert_int_equal(n, 0);

    struct version_param p = {0};
    str_copy(p.name, sizeof p.name, "region");
    str_copy(p.type, sizeof p.type, "string");
    p.display_order = 1;
    fx_check(store_version_param_insert(f->s.st, f->vid, &p, &e), &e);
    struct version_param_list pl;
    fx_check(db->version_params(db->arg, f->vid, &pl, &e), &e);
    assert_int_equal(pl.n, 1);
    assert_string_equal(pl.items[0].name, "region");
    version_param_list_free(&pl);
}

static void test_chat_binding_and_reads(void **state)
{
    struct fixture *f = *state;
    struct tool_db *db = &f->db;
    struct err e = ERR_INIT;
    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, f->alice);
    c.title = xstrdup("t");
    c.created_at = c.updated_at = 1;
    fx_check(store_chat_insert(f->s.st, &c, &e), &e);

    char b1[UUID_STR_LEN], j1[UUID_STR_LEN], a1[UUID_STR_LEN];
    fx_build(&f->s, f->ws, f->vid, f->alice, 1, TRANSITION_START, b1, j1);
    fx_agent(&f->s, j1, "main", 0, a1);
    struct chat got;
    int64_t before = time_now_us();
    fx_check(db->chat_bind(db->arg, c.id, f->ws, b1, NULL, &got, &e), &e);
    assert_string_equal(got.workspace_id, f->ws);
    assert_string_equal(got.build_id, b1);
    assert_string_equal(got.agent_id, "");
    assert_true(got.updated_at >= before); /* stamped with the current time */
    int64_t bound_at = got.updated_at;
    chat_clear(&got);
    fx_check(db->chat_bind_agent(db->arg, c.id, b1, a1, &e), &e);
    fx_check(db->chat_get(db->arg, c.id, &got, &e), &e);
    assert_string_equal(got.agent_id, a1);
    assert_int_equal(got.updated_at, bound_at);
    chat_clear(&got);
    chat_clear(&c);

    struct workspace w;
    fx_check(db->workspace_get(db->arg, f->ws, &w, &e), &e);
    assert_string_equal(w.name, "dev");
    workspace_clear(&w);
    struct user u;
    fx_check(db->user_get(db->arg, f->bob, &u, &e), &e);
    assert_string_equal(u.username, "bob");
    user_clear(&u);
    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(db->chat_get(db->arg, missing, &got, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    assert_int_equal(db->workspace_get(db->arg, missing, &w, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    struct workspace_build b;
    assert_int_equal(db->build_latest(db->arg, missing, &b, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agents_latest_are_the_latest_builds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_and_owners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_binding_and_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
