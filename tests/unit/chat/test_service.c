/* Unit tests for the chat service over a real store and pubsub: creation (title rules, binding
 * to a workspace the subject may read), owner-only reads, the Chat JSON, the status_change
 * event, the per-chat workspace locks, and the errors of chat_run_tool. */
#include "testing.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/secure.h"
#include "chat/service.h"
#include "unit/store_fixture.h"

struct fixture {
    struct fx_store s;
    struct pubsub *ps;
    struct agentconn *ac;
    struct chat_service *svc;
    char alice[UUID_STR_LEN], bob[UUID_STR_LEN], root[UUID_STR_LEN];
    char tid[UUID_STR_LEN], vid[UUID_STR_LEN];
    char ws[UUID_STR_LEN], build1[UUID_STR_LEN], build2[UUID_STR_LEN];
};

static struct subject user_subject(const char *id, unsigned roles)
{
    struct subject s = {0};
    s.kind = SUBJECT_USER;
    str_copy(s.user_id, sizeof s.user_id, id);
    s.roles = roles;
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    fx_user(&f->s, "alice", f->alice);
    fx_user(&f->s, "bob", f->bob);
    fx_user(&f->s, "root", f->root);
    fx_template(&f->s, "tpl", f->tid, f->vid);
    fx_workspace(&f->s, f->alice, f->tid, "dev", f->ws);
    fx_build(&f->s, f->ws, f->vid, f->alice, 1, TRANSITION_START, f->build1, NULL);
    fx_build(&f->s, f->ws, f->vid, f->alice, 2, TRANSITION_STOP, f->build2, NULL);
    f->ps = pubsub_new();
    struct agentconn_config acc = {.replica_id = "test"};
    f->ac = agentconn_new(f->s.st, f->ps, &acc);
    struct chat_service_config cfg = {.st = f->s.st, .ps = f->ps, .ac = f->ac};
    f->svc = chat_service_new(&cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    chat_service_free(f->svc);
    agentconn_free(f->ac);
    pubsub_free(f->ps);
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static void create_ok(struct fixture *f, const struct subject *sub, const char *title,
                      const char *ws, struct chat *out)
{
    struct err e = ERR_INIT;
    if (chat_create(f->svc, sub, title, ws, out, &e) < 0)
        fail_msg("chat_create: %s", err_msg(&e));
}

static void test_create_defaults(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct chat c;
    int64_t before = time_now_us();
    create_ok(f, &alice, NULL, NULL, &c);
    assert_true(uuid_valid(c.id));
    assert_string_equal(c.owner_id, f->alice);
    assert_string_equal(c.title, "New chat");
    assert_int_equal(c.status, CHAT_WAITING);
    assert_string_equal(c.workspace_id, "");
    assert_string_equal(c.build_id, "");
    assert_string_equal(c.agent_id, "");
    assert_true(c.created_at >= before && c.created_at <= time_now_us());
    assert_int_equal(c.updated_at, c.created_at);

    struct chat got;
    struct err e = ERR_INIT;
    assert_int_equal(chat_get(f->svc, &alice, c.id, &got, &e), 0);
    assert_string_equal(got.id, c.id);
    assert_string_equal(got.title, "New chat");
    assert_int_equal(got.created_at, c.created_at);
    chat_clear(&got);
    chat_clear(&c);

    /* An empty title is no title. */
    create_ok(f, &alice, "", NULL, &c);
    assert_string_equal(c.title, "New chat");
    chat_clear(&c);
    create_ok(f, &alice, "Fix the tests", NULL, NULL); /* out may be NULL */
    struct chat_list l;
    assert_int_equal(chat_list(f->svc, &alice, &l, &e), 0);
    assert_int_equal(l.n, 3);
    chat_list_free(&l);
}

static void assert_title_invalid(struct fixture *f, const char *title, const char *detail)
{
    struct subject alice = user_subject(f->alice, 0);
    struct chat c;
    struct err e = ERR_INIT;
    assert_int_equal(chat_create(f->svc, &alice, title, NULL, &c, &e), -1);
    assert_true(err_is(&e, ERR_BAD_REQUEST));
    assert_int_equal(e.nvalidations, 1);
    assert_string_equal(e.validations[0].field, "title");
    assert_string_equal(e.validations[0].detail, detail);
    err_clear(&e);
}

static void test_create_title_is_at_most_256_characters(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    /* 256 two-byte characters (512 bytes) fit: the limit counts characters. */
    char title[600];
    size_t len = 0;
    for (int i = 0; i < 256; i++) {
        memcpy(title + len, "é", 2);
        len += 2;
    }
    title[len] = '\0';
    struct chat c;
    create_ok(f, &alice, title, NULL, &c);
    assert_string_equal(c.title, title);
    chat_clear(&c);
    title[len] = 'x';
    title[len + 1] = '\0';
    assert_title_invalid(f, title, "must be at most 256 characters");
    assert_title_invalid(f, "bad \xff byte", "must be valid UTF-8");
    struct chat_list l;
    struct err e = ERR_INIT;
    assert_int_equal(chat_list(f->svc, &alice, &l, &e), 0);
    assert_int_equal(l.n, 1); /* nothing was stored for the refused ones */
    chat_list_free(&l);
}

static void test_create_binds_a_readable_workspace(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct chat c;
    create_ok(f, &alice, "t", f->ws, &c);
    assert_string_equal(c.workspace_id, f->ws);
    assert_string_equal(c.build_id, f->build2); /* the latest build */
    assert_string_equal(c.agent_id, "");
    assert_int_equal(c.status, CHAT_WAITING);
    struct chat got;
    struct err e = ERR_INIT;
    assert_int_equal(chat_get(f->svc, &alice, c.id, &got, &e), 0);
    assert_string_equal(got.workspace_id, f->ws);
    assert_string_equal(got.build_id, f->build2);
    chat_clear(&got);
    chat_clear(&c);

    /* A workspace without builds binds with no build. */
    char empty[UUID_STR_LEN];
    fx_workspace(&f->s, f->alice, f->tid, "empty", empty);
    create_ok(f, &alice, "t", empty, &c);
    assert_string_equal(c.workspace_id, empty);
    assert_string_equal(c.build_id, "");
    chat_clear(&c);

    /* A site owner may read alice's workspace, so may bind a chat of its own to it. */
    struct subject root = user_subject(f->root, ROLE_OWNER);
    create_ok(f, &root, "t", f->ws, &c);
    assert_string_equal(c.owner_id, f->root);
    assert_string_equal(c.workspace_id, f->ws);
    chat_clear(&c);
}

static void assert_create_not_found(struct fixture *f, const struct subject *sub, const char *ws)
{
    struct chat c;
    struct err e = ERR_INIT;
    assert_int_equal(chat_create(f->svc, sub, "t", ws, &c, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    assert_string_equal(err_msg(&e),
                        "Resource not found or you do not have access to this resource");
    err_clear(&e);
}

static void test_create_refuses_other_workspaces(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct subject bob = user_subject(f->bob, 0);
    assert_create_not_found(f, &bob, f->ws); /* alice's */
    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_create_not_found(f, &alice, missing);
    assert_create_not_found(f, &alice, "not-a-uuid");
    char gone[UUID_STR_LEN];
    fx_workspace(&f->s, f->alice, f->tid, "gone", gone);
    struct err e = ERR_INIT;
    fx_check(store_workspace_set_deleted(f->s.st, gone, time_now_us(), &e), &e);
    assert_create_not_found(f, &alice, gone);
    struct chat_list l;
    assert_int_equal(chat_list(f->svc, &bob, &l, &e), 0);
    assert_int_equal(l.n, 0);
    chat_list_free(&l);
    assert_int_equal(chat_list(f->svc, &alice, &l, &e), 0);
    assert_int_equal(l.n, 0);
    chat_list_free(&l);

    /* Only users own chats. */
    struct chat c;
    assert_int_equal(chat_create(f->svc, &RBAC_SYSTEM_SUBJECT, "t", NULL, &c, &e), -1);
    assert_true(err_is(&e, ERR_FORBIDDEN));
    err_clear(&e);
}

static void test_get_and_list_are_for_the_owner_only(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct subject bob = user_subject(f->bob, 0);
    struct subject root = user_subject(f->root, ROLE_OWNER);
    struct chat a1, a2, b1;
    create_ok(f, &alice, "a1", NULL, &a1);
    create_ok(f, &alice, "a2", NULL, &a2);
    create_ok(f, &bob, "b1", NULL, &b1);

    struct chat got;
    struct err e = ERR_INIT;
    const struct subject *others[] = {&bob, &root};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(chat_get(f->svc, others[i], a1.id, &got, &e), -1);
        assert_true(err_is(&e, ERR_NOT_FOUND));
        err_clear(&e);
    }
    assert_int_equal(chat_get(f->svc, &RBAC_SYSTEM_SUBJECT, a1.id, &got, &e), 0);
    chat_clear(&got);
    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_int_equal(chat_get(f->svc, &alice, missing, &got, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);
    assert_int_equal(chat_get(f->svc, &alice, "watch", &got, &e), -1);
    assert_true(err_is(&e, ERR_NOT_FOUND));
    err_clear(&e);

    struct chat_list l;
    assert_int_equal(chat_list(f->svc, &alice, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, a2.id); /* newest first */
    assert_string_equal(l.items[1].id, a1.id);
    chat_list_free(&l);
    assert_int_equal(chat_list(f->svc, &root, &l, &e), 0);
    assert_int_equal(l.n, 0);
    chat_list_free(&l);
    chat_clear(&a1);
    chat_clear(&a2);
    chat_clear(&b1);
}

static void test_to_json(void **state)
{
    struct fixture *f = *state;
    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, f->alice);
    c.title = xstrdup("Hello");
    c.status = CHAT_RUNNING;
    c.created_at = 1764000000000000;
    c.updated_at = 1764000000123456;
    json_t *j = chat_to_json(&c);
    const char *keys[] = {"id",       "owner_id", "title",      "status",     "workspace_id",
                          "build_id", "agent_id", "created_at", "updated_at", "last_error"};
    assert_int_equal(json_object_size(j), 10);
    for (size_t i = 0; i < 10; i++)
        assert_non_null(json_object_get(j, keys[i]));
    assert_string_equal(jsonx_get_str(j, "id", ""), c.id);
    assert_string_equal(jsonx_get_str(j, "owner_id", ""), f->alice);
    assert_string_equal(jsonx_get_str(j, "title", ""), "Hello");
    assert_string_equal(jsonx_get_str(j, "status", ""), "running");
    assert_true(json_is_null(json_object_get(j, "workspace_id")));
    assert_true(json_is_null(json_object_get(j, "build_id")));
    assert_true(json_is_null(json_object_get(j, "agent_id")));
    assert_string_equal(jsonx_get_str(j, "created_at", ""), "2025-11-24T16:00:00.000000Z");
    assert_string_equal(jsonx_get_str(j, "updated_at", ""), "2025-11-24T16:00:00.123456Z");
    json_decref(j);

    str_copy(c.workspace_id, sizeof c.workspace_id, f->ws);
    str_copy(c.build_id, sizeof c.build_id, f->build1);
    uuid_v7(c.agent_id);
    j = chat_to_json(&c);
    assert_string_equal(jsonx_get_str(j, "workspace_id", ""), f->ws);
    assert_string_equal(jsonx_get_str(j, "build_id", ""), f->build1);
    assert_string_equal(jsonx_get_str(j, "agent_id", ""), c.agent_id);
    json_decref(j);
    chat_clear(&c);
}

/* ---- events ---- */

struct captured {
    char *channel;
    char *payload;
    int n;
};

static void capture(const char *channel, const char *payload, void *arg)
{
    struct captured *cap = arg;
    free(cap->channel);
    free(cap->payload);
    cap->channel = xstrdup(channel);
    cap->payload = xstrdup(payload);
    cap->n++;
}

static void captured_free(struct captured *cap)
{
    free(cap->channel);
    free(cap->payload);
    memset(cap, 0, sizeof *cap);
}

/* The payload is {"kind": "status_change", "chat": <the Chat JSON>}. */
static void assert_event_for(const struct captured *cap, const struct chat *c)
{
    struct err e = ERR_INIT;
    json_t *ev = jsonx_parse(cap->payload, strlen(cap->payload), &e);
    assert_non_null(ev);
    assert_int_equal(json_object_size(ev), 2);
    assert_string_equal(jsonx_get_str(ev, "kind", ""), "status_change");
    json_t *want = chat_to_json(c);
    assert_true(json_equal(json_object_get(ev, "chat"), want));
    json_decref(want);
    json_decref(ev);
}

static void test_publish_status_change(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct chat c;
    create_ok(f, &alice, "t", f->ws, &c);
    char *channel = str_printf("chat:owner:%s", f->alice);
    char *other = str_printf("chat:owner:%s", f->bob);
    struct captured mine = {0}, theirs = {0};
    struct pubsub_sub *s1 = pubsub_subscribe(f->ps, channel, capture, &mine);
    struct pubsub_sub *s2 = pubsub_subscribe(f->ps, other, capture, &theirs);

    chat_publish(f->svc, &c);
    assert_int_equal(mine.n, 1);
    assert_string_equal(mine.channel, channel);
    assert_event_for(&mine, &c);
    assert_int_equal(theirs.n, 0);

    /* The tools' on_chat_updated is the same publication. */
    const struct tool_env *env = chat_tool_env(f->svc);
    assert_non_null(env->on_chat_updated);
    struct chat bound;
    struct err e = ERR_INIT;
    fx_check(env->db.chat_bind(env->db.arg, c.id, f->ws, f->build1, NULL, &bound, &e), &e);
    env->on_chat_updated(env->on_chat_updated_arg, &bound);
    assert_int_equal(mine.n, 2);
    assert_event_for(&mine, &bound);
    assert_string_equal(bound.build_id, f->build1);
    assert_int_equal(theirs.n, 0);

    pubsub_unsubscribe(s1);
    pubsub_unsubscribe(s2);
    captured_free(&mine);
    captured_free(&theirs);
    free(channel);
    free(other);
    chat_clear(&bound);
    chat_clear(&c);
}

/* ---- workspace locks and tools ---- */

static void test_workspace_locks_are_per_chat_and_freed_when_unused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(chat_workspace_mu_count(f->svc), 0);
    pthread_mutex_t *a1 = chat_workspace_mu_get(f->svc, "chat-a");
    pthread_mutex_t *a2 = chat_workspace_mu_get(f->svc, "chat-a");
    pthread_mutex_t *b = chat_workspace_mu_get(f->svc, "chat-b");
    assert_ptr_equal(a1, a2);
    assert_ptr_not_equal(a1, b);
    assert_int_equal(chat_workspace_mu_count(f->svc), 2);
    /* One chat's lock does not hold another's. */
    pthread_mutex_lock(a1);
    assert_int_equal(pthread_mutex_trylock(b), 0);
    assert_int_not_equal(pthread_mutex_trylock(a2), 0);
    pthread_mutex_unlock(b);
    pthread_mutex_unlock(a1);
    chat_workspace_mu_put(f->svc, "chat-a");
    assert_int_equal(chat_workspace_mu_count(f->svc), 2); /* a second reference remains */
    chat_workspace_mu_put(f->svc, "chat-a");
    assert_int_equal(chat_workspace_mu_count(f->svc), 1);
    chat_workspace_mu_put(f->svc, "chat-b");
    assert_int_equal(chat_workspace_mu_count(f->svc), 0);
    /* Many chats come and go without leaving locks behind. */
    for (int i = 0; i < 500; i++) {
        char id[32];
        snprintf(id, sizeof id, "chat-%d", i);
        chat_workspace_mu_get(f->svc, id);
        chat_workspace_mu_put(f->svc, id);
    }
    assert_int_equal(chat_workspace_mu_count(f->svc), 0);
}

static void assert_run_fails(struct fixture *f, const struct subject *sub, const char *chat_id,
                             const char *name, const json_t *args, enum err_kind kind,
                             const char *message)
{
    struct tool_answer a = {0};
    struct err e = ERR_INIT;
    assert_int_equal(chat_run_tool(f->svc, sub, chat_id, name, args, NULL, NULL, NULL, &a, &e), -1);
    assert_true(err_is(&e, kind));
    assert_string_equal(err_msg(&e), message);
    assert_false(a.is_error);
    assert_null(a.text);
    assert_null(a.result);
    err_clear(&e);
}

static void test_run_tool_errors(void **state)
{
    struct fixture *f = *state;
    struct subject alice = user_subject(f->alice, 0);
    struct subject bob = user_subject(f->bob, 0);
    struct chat c;
    create_ok(f, &alice, "t", NULL, &c);
    const char *hidden = "Resource not found or you do not have access to this resource";
    assert_run_fails(f, &alice, c.id, "no_such_tool", NULL, ERR_NOT_FOUND,
                     "Tool \"no_such_tool\" not found.");
    assert_run_fails(f, &bob, c.id, "list_templates", NULL, ERR_NOT_FOUND, hidden);
    char missing[UUID_STR_LEN];
    uuid_v7(missing);
    assert_run_fails(f, &alice, missing, "list_templates", NULL, ERR_NOT_FOUND, hidden);
    json_t *arr = json_array();
    assert_run_fails(f, &alice, c.id, "list_templates", arr, ERR_BAD_REQUEST,
                     "Tool arguments must be a JSON object.");
    json_decref(arr);
    assert_int_equal(chat_workspace_mu_count(f->svc), 0);

    chat_service_shutdown(f->svc);
    json_t *obj = json_object();
    assert_run_fails(f, &alice, c.id, "list_templates", obj, ERR_UNAVAILABLE,
                     "The server is shutting down.");
    json_decref(obj);
    chat_clear(&c);
}

/* Runs with the real tool registry once the tools are linked in (skipped without them). */
static void test_run_tool_runs_as_the_owner(void **state)
{
    struct fixture *f = *state;
    if (!tool_find("list_templates"))
        skip();
    struct subject alice = user_subject(f->alice, 0);
    struct chat c;
    create_ok(f, &alice, "t", NULL, &c);
    struct tool_answer a = {0};
    struct err e = ERR_INIT;
    assert_int_equal(
        chat_run_tool(f->svc, &alice, c.id, "list_templates", NULL, NULL, NULL, NULL, &a, &e), 0);
    assert_false(a.is_error);
    assert_true(json_is_object(a.result));
    tool_answer_clear(&a);
    assert_int_equal(chat_workspace_mu_count(f->svc), 0);
    chat_clear(&c);
}

int main(void)
{
    secure_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_title_is_at_most_256_characters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_binds_a_readable_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_other_workspaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_and_list_are_for_the_owner_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_status_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workspace_locks_are_per_chat_and_freed_when_unused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_tool_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_tool_runs_as_the_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
