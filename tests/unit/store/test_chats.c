/* Unit tests for chats in a real SQLite store: insert and read back, the owner's list and its
 * order, the workspace binding (all three ids, or build and agent alone), foreign keys, and the
 * count of a template's owners. */
#include "testing.h"

#include "base/mem.h"
#include "base/secure.h"
#include "unit/store_fixture.h"

struct fixture {
    struct fx_store s;
    char alice[UUID_STR_LEN], bob[UUID_STR_LEN];
    char tid[UUID_STR_LEN], vid[UUID_STR_LEN];
    char ws[UUID_STR_LEN], build[UUID_STR_LEN], job[UUID_STR_LEN], agent[UUID_STR_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    fx_user(&f->s, "bob", f->bob);
    fx_template(&f->s, "tpl", f->tid, f->vid);
    fx_workspace(&f->s, f->alice, f->tid, "dev", f->ws);
    fx_build(&f->s, f->ws, f->vid, f->alice, 1, TRANSITION_START, f->build, f->job);
    fx_agent(&f->s, f->job, "main", 0, f->agent);
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

/* Inserts a chat of owner updated at `updated`; id receives its id. */
static void insert_chat(struct fixture *f, const char *owner, const char *title, int64_t updated,
                        char id[UUID_STR_LEN])
{
    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, owner);
    c.title = xstrdup(title);
    c.status = CHAT_WAITING;
    c.created_at = 1000;
    c.updated_at = updated;
    struct err e = ERR_INIT;
    fx_check(store_chat_insert(f->s.st, &c, &e), &e);
    str_copy(id, UUID_STR_LEN, c.id);
    chat_clear(&c);
}

static void test_schema_version(void **state)
{
    struct fixture *f = *state;
    assert_true(store_schema_version(f->s.st) >= 2);
}

static void test_status_names(void **state)
{
    (void)state;
    const char *names[] = {"waiting", "pending", "running", "error"};
    enum chat_status all[] = {CHAT_WAITING, CHAT_PENDING, CHAT_RUNNING, CHAT_ERROR};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(chat_status_name(all[i]), names[i]);
        enum chat_status s = CHAT_ERROR;
        assert_int_equal(chat_status_parse(names[i], &s), 0);
        assert_int_equal(s, all[i]);
    }
    enum chat_status s = CHAT_RUNNING;
    assert_int_equal(chat_status_parse("Waiting", &s), -1);
    assert_int_equal(chat_status_parse("", &s), -1);
    assert_int_equal(chat_status_parse(NULL, &s), -1);
    assert_int_equal(s, CHAT_RUNNING);
}

static void test_insert_and_get(void **state)
{
    struct fixture *f = *state;
    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, f->alice);
    c.title = "Fix the \"build\" ✓";
    c.status = CHAT_RUNNING;
    str_copy(c.workspace_id, sizeof c.workspace_id, f->ws);
    str_copy(c.build_id, sizeof c.build_id, f->build);
    c.created_at = 111;
    c.updated_at = 222;
    struct err e = ERR_INIT;
    fx_check(store_chat_insert(f->s.st, &c, &e), &e);

    struct chat got;
    fx_check(store_chat_get(f->s.st, c.id, &got, &e), &e);
    assert_string_equal(got.id, c.id);
    assert_string_equal(got.owner_id, f->alice);
    assert_string_equal(got.title, "Fix the \"build\" ✓");
    assert_int_equal(got.status, CHAT_RUNNING);
    assert_string_equal(got.workspace_id, f->ws);
    assert_string_equal(got.build_id, f->build);
    assert_string_equal(got.agent_id, "");
    assert_int_equal(got.created_at, 111);
    assert_int_equal(got.updated_at, 222);
    chat_clear(&got);
    assert_null(got.title);

    /* The same id twice is a conflict. */
    assert_int_equal(store_chat_insert(f->s.st, &c, &e), -1);
    assert_true(err_is(&e, ERR_CONFLICT));
    err_clear(&e);

    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(store_chat_get(f->s.st, missing, &got, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

static void test_insert_checks_foreign_keys(void **state)
{
    struct fixture *f = *state;
    struct chat c = {0};
    uuid_v7(c.id);
    uuid_v7(c.owner_id); /* no such user */
    c.title = "x";
    struct err e = ERR_INIT;
    assert_int_equal(store_chat_insert(f->s.st, &c, &e), -1);
    err_clear(&e);
    str_copy(c.owner_id, sizeof c.owner_id, f->alice);
    uuid_v7(c.workspace_id); /* no such workspace */
    assert_int_equal(store_chat_insert(f->s.st, &c, &e), -1);
    err_clear(&e);
    c.workspace_id[0] = '\0';
    fx_check(store_chat_insert(f->s.st, &c, &e), &e);
}

static void test_list_is_the_owners_newest_first(void **state)
{
    struct fixture *f = *state;
    struct chat_list l;
    struct err e = ERR_INIT;
    fx_check(store_chat_list(f->s.st, f->alice, &l, &e), &e);
    assert_int_equal(l.n, 0);
    chat_list_free(&l);

    char a1[UUID_STR_LEN], a2[UUID_STR_LEN], a3[UUID_STR_LEN], b1[UUID_STR_LEN];
    insert_chat(f, f->alice, "one", 10, a1);
    insert_chat(f, f->alice, "two", 30, a2);
    insert_chat(f, f->alice, "three", 20, a3);
    insert_chat(f, f->bob, "bob's", 40, b1);
    fx_check(store_chat_list(f->s.st, f->alice, &l, &e), &e);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].id, a2);
    assert_string_equal(l.items[1].id, a3);
    assert_string_equal(l.items[2].id, a1);
    assert_string_equal(l.items[0].title, "two");
    chat_list_free(&l);
    assert_null(l.items);
    assert_int_equal(l.n, 0);

    /* Binding touches updated_at and so moves the chat to the front. */
    fx_check(store_chat_bind(f->s.st, a1, f->ws, NULL, NULL, 50, NULL, &e), &e);
    fx_check(store_chat_list(f->s.st, f->alice, &l, &e), &e);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].id, a1);
    chat_list_free(&l);

    fx_check(store_chat_list(f->s.st, f->bob, &l, &e), &e);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, b1);
    chat_list_free(&l);
}

static void test_bind_overwrites_all_three(void **state)
{
    struct fixture *f = *state;
    char id[UUID_STR_LEN];
    insert_chat(f, f->alice, "t", 10, id);
    struct chat c;
    struct err e = ERR_INIT;
    fx_check(store_chat_bind(f->s.st, id, f->ws, f->build, f->agent, 77, &c, &e), &e);
    assert_string_equal(c.id, id);
    assert_string_equal(c.workspace_id, f->ws);
    assert_string_equal(c.build_id, f->build);
    assert_string_equal(c.agent_id, f->agent);
    assert_int_equal(c.updated_at, 77);
    assert_int_equal(c.created_at, 1000);
    assert_string_equal(c.title, "t");
    chat_clear(&c);

    /* NULL and "" both mean none, and every one of the three is overwritten. */
    fx_check(store_chat_bind(f->s.st, id, f->ws, "", NULL, 88, &c, &e), &e);
    assert_string_equal(c.workspace_id, f->ws);
    assert_string_equal(c.build_id, "");
    assert_string_equal(c.agent_id, "");
    assert_int_equal(c.updated_at, 88);
    chat_clear(&c);
    fx_check(store_chat_bind(f->s.st, id, NULL, NULL, NULL, 99, NULL, &e), &e);
    fx_check(store_chat_get(f->s.st, id, &c, &e), &e);
    assert_string_equal(c.workspace_id, "");
    assert_int_equal(c.updated_at, 99);
    chat_clear(&c);

    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(store_chat_bind(f->s.st, missing, f->ws, NULL, NULL, 1, &c, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    /* A workspace that does not exist is refused and the chat is left as it was. */
    assert_int_equal(store_chat_bind(f->s.st, id, missing, NULL, NULL, 5, NULL, &e), -1);
    err_clear(&e);
    fx_check(store_chat_get(f->s.st, id, &c, &e), &e);
    assert_string_equal(c.workspace_id, "");
    assert_int_equal(c.updated_at, 99);
    chat_clear(&c);
}

static void test_bind_agent_leaves_workspace_and_updated_at(void **state)
{
    struct fixture *f = *state;
    char id[UUID_STR_LEN];
    insert_chat(f, f->alice, "t", 10, id);
    struct err e = ERR_INIT;
    fx_check(store_chat_bind(f->s.st, id, f->ws, NULL, NULL, 20, NULL, &e), &e);
    fx_check(store_chat_bind_agent(f->s.st, id, f->build, f->agent, &e), &e);
    struct chat c;
    fx_check(store_chat_get(f->s.st, id, &c, &e), &e);
    assert_string_equal(c.workspace_id, f->ws);
    assert_string_equal(c.build_id, f->build);
    assert_string_equal(c.agent_id, f->agent);
    assert_int_equal(c.updated_at, 20);
    chat_clear(&c);

    fx_check(store_chat_bind_agent(f->s.st, id, NULL, "", &e), &e);
    fx_check(store_chat_get(f->s.st, id, &c, &e), &e);
    assert_string_equal(c.workspace_id, f->ws);
    assert_string_equal(c.build_id, "");
    assert_string_equal(c.agent_id, "");
    chat_clear(&c);

    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(store_chat_bind_agent(f->s.st, missing, f->build, f->agent, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
}

static void test_template_owner_count(void **state)
{
    struct fixture *f = *state;
    struct err e = ERR_INIT;
    int64_t n = -1;
    fx_check(store_template_owner_count(f->s.st, f->tid, &n, &e), &e);
    assert_int_equal(n, 1); /* alice's "dev" */
    char w2[UUID_STR_LEN], w3[UUID_STR_LEN];
    fx_workspace(&f->s, f->alice, f->tid, "second", w2);
    fx_workspace(&f->s, f->bob, f->tid, "bobs", w3);
    fx_check(store_template_owner_count(f->s.st, f->tid, &n, &e), &e);
    assert_int_equal(n, 2);
    /* Deleted workspaces do not count. */
    fx_check(store_workspace_set_deleted(f->s.st, w3, time_now_us(), &e), &e);
    fx_check(store_template_owner_count(f->s.st, f->tid, &n, &e), &e);
    assert_int_equal(n, 1);
    char other_t[UUID_STR_LEN], other_v[UUID_STR_LEN];
    fx_template(&f->s, "other", other_t, other_v);
    fx_check(store_template_owner_count(f->s.st, other_t, &n, &e), &e);
    assert_int_equal(n, 0);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test_setup_teardown(test_insert_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_checks_foreign_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_is_the_owners_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_overwrites_all_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_agent_leaves_workspace_and_updated_at, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_template_owner_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
