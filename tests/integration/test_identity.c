/* Integration: first user, login, tokens, users and their roles, on a real server. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int setup(void **state)
{
    struct server *s = calloc(1, sizeof *s);
    server_start(s, NULL);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    server_destroy(*state);
    free(*state);
    return 0;
}

static void test_buildinfo_needs_no_auth(void **state)
{
    struct server *s = *state;
    struct resp r;
    assert_int_equal(http_req(s, "GET", "/api/v2/buildinfo", NULL, NULL, &r), 200);
    assert_non_null(json_string_value(json_object_get(r.json, "version")));
    resp_free(&r);
}

static void test_first_user_only_once(void **state)
{
    struct server *s = *state;
    struct resp r;
    assert_int_equal(http_req(s, "GET", "/api/v2/users/first", NULL, NULL, &r), 404);
    resp_free(&r);
    /* Invalid fields are named. */
    assert_int_equal(
        http_req(s, "POST", "/api/v2/users/first", NULL,
                 "{\"email\":\"a@b.c\",\"username\":\"-bad\",\"password\":\"12345678\"}", &r),
        400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "username");
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/first", NULL,
                              "{\"email\":\"a@b.c\",\"username\":\"alice\",\"password\":\"short\"}",
                              &r),
                     400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "detail", ""),
        "must be at least 8 characters");
    resp_free(&r);
    server_bootstrap_owner(s);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/first", NULL,
                              "{\"email\":\"x@example.com\",\"username\":\"second\","
                              "\"password\":\"second-password\"}",
                              &r),
                     409);
    assert_string_equal(resp_message(&r), "The initial user has already been created.");
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/first", NULL, NULL, &r), 200);
    resp_free(&r);
    /* The first user is an owner. */
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", s->owner_token, NULL, &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "username", ""), "owner");
    json_t *roles = json_object_get(r.json, "roles");
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "owner");
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "member");
    resp_free(&r);
}

static void test_login_failures_share_one_message(void **state)
{
    struct server *s = *state;
    server_bootstrap_owner(s);
    struct resp r;
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"owner@example.com\",\"password\":\"wrong-password\"}",
                              &r),
                     401);
    assert_string_equal(resp_message(&r), "Incorrect email or password.");
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"nobody@example.com\",\"password\":\"whatever-1\"}", &r),
                     401);
    assert_string_equal(resp_message(&r), "Incorrect email or password.");
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL, "{\"email\":1}", &r), 400);
    resp_free(&r);
    /* E-mail matching ignores case. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"OWNER@example.com\",\"password\":\"owner-password-1\"}",
                              &r),
                     201);
    resp_free(&r);
}

static void test_login_rate_limited_per_account(void **state)
{
    struct server *s = *state;
    server_bootstrap_owner(s);
    struct resp r;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                                  "{\"email\":\"owner@example.com\",\"password\":\"wrong-pass\"}",
                                  &r),
                         401);
        resp_free(&r);
    }
    /* The eleventh attempt in the minute is refused, even with the right password. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"owner@example.com\",\"password\":\"owner-password-1\"}",
                              &r),
                     429);
    resp_free(&r);
    /* Other accounts are not affected. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/login", NULL,
                              "{\"email\":\"other@example.com\",\"password\":\"whatever-1\"}", &r),
                     401);
    resp_free(&r);
}

static void test_tokens_auth_and_expiry(void **state)
{
    struct server *s = *state;
    server_bootstrap_owner(s);
    struct resp r;
    /* No token, malformed, unknown, wrong secret. */
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", NULL, NULL, &r), 401);
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", "garbage", NULL, &r), 401);
    assert_string_equal(resp_message(&r), "Invalid API key.");
    resp_free(&r);
    assert_int_equal(
        http_req(s, "GET", "/api/v2/users/me", "abcdefghij-abcdefghijklmnopqrstuv", NULL, &r), 401);
    resp_free(&r);
    char forged[64];
    memcpy(forged, s->owner_token, 11);
    memcpy(forged + 11, "AAAAAAAAAAAAAAAAAAAAAA", 23);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", forged, NULL, &r), 401);
    assert_string_equal(jsonx_get_str(r.json, "detail", ""), "API key secret is invalid.");
    resp_free(&r);
    /* Authorization: Bearer works too. */
    char *bearer = fmt("Authorization: Bearer %s", s->owner_token);
    const char *hdrs[] = {bearer, NULL};
    assert_int_equal(http_full(s, "GET", "/api/v2/users/me", NULL, hdrs, NULL, 0, NULL, &r), 200);
    resp_free(&r);
    free(bearer);

    /* A named token with a one-second lifetime works, then expires. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/me/keys/tokens", s->owner_token,
                              "{\"token_name\":\"ci\",\"lifetime_seconds\":1}", &r),
                     201);
    char token[64];
    str_copy(token, sizeof token, jsonx_get_str(r.json, "key", ""));
    resp_free(&r);
    assert_int_equal(strlen(token), 33);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", token, NULL, &r), 200);
    resp_free(&r);
    sleep(2);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", token, NULL, &r), 401);
    assert_string_equal(
        resp_message(&r),
        "You are signed out or your session has expired. Please sign in again to continue.");
    resp_free(&r);
    /* Token names are unique per user. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/me/keys/tokens", s->owner_token,
                              "{\"token_name\":\"ci\"}", &r),
                     409);
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users/me/keys/tokens", s->owner_token,
                              "{\"lifetime_seconds\":-5}", &r),
                     400);
    resp_free(&r);
    /* Logout revokes the session token at once. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users/logout", s->owner_token, NULL, &r), 200);
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", s->owner_token, NULL, &r), 401);
    resp_free(&r);
}

static void test_users_and_roles(void **state)
{
    struct server *s = *state;
    server_bootstrap_owner(s);
    char member[64], admin[64];
    server_create_user(s, "mia", NULL, member);
    const char *roles[] = {"template-admin", NULL};
    server_create_user(s, "tad", roles, admin);
    struct resp r;
    /* Members cannot create users; they cannot see other users either (404). */
    assert_int_equal(http_req(s, "POST", "/api/v2/users", member,
                              "{\"email\":\"z@example.com\",\"username\":\"zed\","
                              "\"password\":\"zed-password\"}",
                              &r),
                     403);
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/owner", member, NULL, &r), 404);
    assert_string_equal(resp_message(&r),
                        "Resource not found or you do not have access to this resource");
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users/mia", member, NULL, &r), 200);
    resp_free(&r);
    /* A template admin reads users. */
    assert_int_equal(http_req(s, "GET", "/api/v2/users/mia", admin, NULL, &r), 200);
    resp_free(&r);
    /* Unknown roles and duplicates are refused, naming the field. */
    assert_int_equal(http_req(s, "POST", "/api/v2/users", s->owner_token,
                              "{\"email\":\"q@example.com\",\"username\":\"quinn\","
                              "\"password\":\"quinn-password\",\"roles\":[\"wizard\"]}",
                              &r),
                     400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "roles");
    resp_free(&r);
    assert_int_equal(http_req(s, "POST", "/api/v2/users", s->owner_token,
                              "{\"email\":\"MIA@example.com\",\"username\":\"mia2\","
                              "\"password\":\"mia2-password\"}",
                              &r),
                     409);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "email");
    resp_free(&r);
    /* Members only list themselves. */
    assert_int_equal(http_req(s, "GET", "/api/v2/users", member, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 1);
    resp_free(&r);
    assert_int_equal(http_req(s, "GET", "/api/v2/users", s->owner_token, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 3);
    resp_free(&r);
}

static void test_restart_keeps_users_and_tokens(void **state)
{
    struct server *s = *state;
    server_bootstrap_owner(s);
    server_stop(s);
    server_restart(s, NULL);
    struct resp r;
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", s->owner_token, NULL, &r), 200);
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buildinfo_needs_no_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_user_only_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_failures_share_one_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_rate_limited_per_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_auth_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_and_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_users_and_tokens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
