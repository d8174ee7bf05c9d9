/* Integration: the CLI as a new user drives it: login, templates push/list/versions/promote/edit,
 * -o json, and failures that exit non-zero with the server's message. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    struct server *s = calloc(1, sizeof *s);
    server_start(s, NULL);
    server_bootstrap_owner(s);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    server_destroy(*state);
    free(*state);
    return 0;
}

static const char *const TEMPLATE_V1[] = {
    "berth.yaml",
    "display_name: Project box\n"
    "provision: ./provision\n"
    "parameters:\n"
    "  - name: project\n"
    "    type: string\n"
    "    default: berth\n"
    "  - name: size\n"
    "    type: string\n"
    "    default: small\n"
    "    options:\n"
    "      - {name: Small, value: small}\n"
    "      - {name: Large, value: large}\n",
    "provision",
    "#!/bin/sh\necho \"provision $1\"\n",
    NULL,
};

/* Asserts `berth args...` exits with want and returns stdout (caller frees); stderr checked to
 * contain err_needle when given. */
static char *cli(struct server *s, const char *token, int want, const char *err_needle,
                 const char *const *args)
{
    char *out, *err;
    int st = run_cli(s, token, NULL, args, &out, &err);
    if (st != want)
        fail_msg("berth %s: exit %d (want %d)\nstdout: %s\nstderr: %s", args[0], st, want, out,
                 err);
    if (err_needle && !strstr(err, err_needle))
        fail_msg("berth %s: stderr lacks \"%s\": %s", args[0], err_needle, err);
    free(err);
    return out;
}

static void test_login_push_promote_edit(void **state)
{
    struct server *s = *state;
    /* Log in with e-mail and password; the token lands in the config file. */
    const char *login[] = {
        "login", s->url, "--email", "owner@example.com", "--password", "owner-password-1", NULL};
    char *out = cli(s, NULL, 0, NULL, login);
    assert_non_null(strstr(out, "Logged in to"));
    assert_non_null(strstr(out, "as owner"));
    free(out);
    const char *whoami[] = {"whoami", NULL};
    out = cli(s, NULL, 0, NULL, whoami);
    assert_non_null(strstr(out, "owner <owner@example.com>"));
    free(out);

    /* push creates the template with v1 active. */
    char *dir = make_dir(s, TEMPLATE_V1);
    const char *push[] = {"templates", "push", "box", "-d", dir, NULL};
    out = cli(s, NULL, 0, NULL, push);
    assert_non_null(strstr(out, "Created template box with version v1 (active)."));
    free(out);
    const char *list_json[] = {"templates", "list", "-o", "json", NULL};
    out = cli(s, NULL, 0, NULL, list_json);
    json_error_t je;
    json_t *arr = json_loads(out, 0, &je);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(jsonx_get_str(json_array_get(arr, 0), "name", ""), "box");
    assert_string_equal(jsonx_get_str(json_array_get(arr, 0), "display_name", ""), "Project box");
    json_decref(arr);
    free(out);

    /* A second push (flags after the positional) is not active until promoted. */
    const char *push2[] = {"templates", "push",      "box",    "--directory",
                           dir,         "--message", "second", NULL};
    out = cli(s, NULL, 0, NULL, push2);
    assert_non_null(strstr(out, "Pushed version v2 of box (not active"));
    free(out);
    const char *versions[] = {"templates", "versions", "box", NULL};
    out = cli(s, NULL, 0, NULL, versions);
    assert_non_null(strstr(out, "v1"));
    assert_non_null(strstr(out, "v2"));
    assert_non_null(strstr(out, "succeeded"));
    free(out);
    const char *promote[] = {"templates", "promote", "box", "v2", NULL};
    out = cli(s, NULL, 0, NULL, promote);
    assert_non_null(strstr(out, "Version v2 of box is now the active version."));
    free(out);
    const char *edit[] = {"templates", "edit", "box", "--require-active-version=true", NULL};
    out = cli(s, NULL, 0, NULL, edit);
    assert_non_null(strstr(out, "require active version: yes"));
    free(out);
    out = cli(s, NULL, 0, NULL, list_json);
    arr = json_loads(out, 0, &je);
    assert_true(json_is_true(json_object_get(json_array_get(arr, 0), "require_active_version")));
    json_decref(arr);
    free(out);
    const char *versions_json[] = {"templates", "versions", "box", "-o", "json", NULL};
    out = cli(s, NULL, 0, NULL, versions_json);
    arr = json_loads(out, 0, &je);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(jsonx_get_str(json_array_get(arr, 1), "message", ""), "second");
    json_decref(arr);
    free(out);

    /* A member cannot do the admin steps; the server's message comes through. */
    const char *mk[] = {"users",           "create",         "--email",
                        "mia@example.com", "--username",     "mia",
                        "--password",      "mia-password-1", NULL};
    out = cli(s, NULL, 0, NULL, mk);
    free(out);
    const char *mlogin[] = {"login",      s->url,           "--email", "mia@example.com",
                            "--password", "mia-password-1", NULL};
    out = cli(s, NULL, 0, NULL, mlogin);
    free(out);
    out = cli(s, NULL, 1, "berth: Forbidden.", push);
    free(out);
    out = cli(s, NULL, 1, "berth: Forbidden.", promote);
    free(out);
    const char *unedit[] = {"templates", "edit", "box", "--require-active-version=false", NULL};
    out = cli(s, NULL, 1, "berth: Forbidden.", unedit);
    free(out);
    /* Reading still works for the member. */
    out = cli(s, NULL, 0, NULL, versions);
    free(out);
    free(dir);
}

static void test_failures_exit_nonzero_with_the_message(void **state)
{
    struct server *s = *state;
    const char *bad_login[] = {"login",      s->url,           "--email", "owner@example.com",
                               "--password", "nope-nope-nope", NULL};
    char *out = cli(s, NULL, 1, "berth: Incorrect email or password.", bad_login);
    free(out);
    /* Not logged in. */
    const char *list[] = {"templates", "list", NULL};
    char *o, *e;
    int st = run_cli(s, NULL, NULL, list, &o, &e);
    assert_int_not_equal(st, 0);
    free(o);
    free(e);
    /* A token on stdin logs in. */
    char *tok = fmt("%s\n", s->owner_token);
    const char *tlogin[] = {"login", s->url, NULL};
    st = run_cli(s, NULL, tok, tlogin, &o, &e);
    assert_int_equal(st, 0);
    free(o);
    free(e);
    free(tok);
    /* A manifest mistake fails the push, naming the field. */
    const char *files[] = {"berth.yaml",
                           "provision: ./provision\nparameters:\n  - {name: X, type: string}\n",
                           "provision", "#!/bin/sh\n", NULL};
    char *dir = make_dir(s, files);
    const char *push[] = {"templates", "push", "bad", "-d", dir, NULL};
    out = cli(s, NULL, 1, "parameters[0]", push);
    free(out);
    free(dir);
    const char *promote[] = {"templates", "promote", "ghost", "v1", NULL};
    out = cli(s, NULL, 1, "berth: template \"ghost\" not found", promote);
    free(out);
    const char *unknown[] = {"frobnicate", NULL};
    out = cli(s, NULL, 2, "unknown command", unknown);
    free(out);
    const char *badflag[] = {"templates", "list", "--bogus", NULL};
    out = cli(s, NULL, 2, "unknown flag --bogus", badflag);
    free(out);
}

static void test_workspace_lifecycle_from_the_cli(void **state)
{
    struct server *s = *state;
    const char *files[] = {
        "berth.yaml",
        "provision: ./provision\nparameters:\n  - {name: project, type: string}\n"
        "  - {name: size, type: string, default: small}\n",
        "provision",
        "#!/bin/sh\necho \"$1 $BERTH_WORKSPACE_NAME project=$BERTH_PARAM_PROJECT "
        "size=$BERTH_PARAM_SIZE\"\n",
        NULL};
    char *dir = make_dir(s, files);
    const char *push[] = {"templates", "push", "proj", "-d", dir, NULL};
    char *out = cli(s, s->owner_token, 0, NULL, push);
    free(out);
    /* Parameters from the command line; the build's logs stream to the terminal (stderr). */
    const char *create[] = {"create",        "dev",         "-t",         "proj", "--parameter",
                            "project=berth", "--parameter", "size=large", NULL};
    char *o, *e;
    assert_int_equal(run_cli(s, s->owner_token, NULL, create, &o, &e), 0);
    assert_non_null(strstr(e, "start dev project=berth size=large"));
    assert_non_null(strstr(o, "Workspace dev is ready."));
    free(o);
    free(e);
    /* A missing required parameter: the server's message, exit 1, nothing created. */
    const char *bad[] = {"create", "dev2", "-t", "proj", NULL};
    out = cli(s, s->owner_token, 1, "Unable to validate parameter \"project\"", bad);
    free(out);
    const char *stop[] = {"stop", "dev", NULL};
    assert_int_equal(run_cli(s, s->owner_token, NULL, stop, &o, &e), 0);
    assert_non_null(strstr(e, "stop dev project=berth size=large"));
    assert_non_null(strstr(o, "Workspace dev is stopped."));
    free(o);
    free(e);
    /* On a template that requires the active version, start moves to it and says so. */
    const char *v2[] = {"templates", "push", "proj", "-d", dir, "--activate", NULL};
    out = cli(s, s->owner_token, 0, NULL, v2);
    free(out);
    const char *rav[] = {"templates", "edit", "proj", "--require-active-version=true", NULL};
    out = cli(s, s->owner_token, 0, NULL, rav);
    free(out);
    const char *start[] = {"start", "dev", NULL};
    assert_int_equal(run_cli(s, s->owner_token, NULL, start, &o, &e), 0);
    assert_non_null(strstr(e, "The template requires the active version: starting dev on it"));
    assert_non_null(strstr(o, "Workspace dev is ready."));
    free(o);
    free(e);
    const char *list[] = {"list", "-o", "json", NULL};
    out = cli(s, s->owner_token, 0, NULL, list);
    json_error_t je;
    json_t *arr = json_loads(out, 0, &je);
    assert_int_equal(json_array_size(arr), 1);
    json_t *lb = json_object_get(json_array_get(arr, 0), "latest_build");
    assert_string_equal(jsonx_get_str(lb, "template_version_name", ""), "v2");
    assert_int_equal(json_integer_value(json_object_get(lb, "build_number")), 3);
    json_decref(arr);
    free(out);
    const char *logs[] = {"logs", "dev", "--build", "1", NULL};
    out = cli(s, s->owner_token, 0, NULL, logs);
    assert_non_null(strstr(out, "start dev project=berth size=large"));
    free(out);
    const char *del[] = {"delete", "dev", "-y", NULL};
    out = cli(s, s->owner_token, 0, NULL, del);
    assert_non_null(strstr(out, "Workspace dev is deleted."));
    free(out);
    const char *list2[] = {"list", NULL};
    out = cli(s, s->owner_token, 0, NULL, list2);
    assert_non_null(strstr(out, "No workspaces yet"));
    free(out);
    const char *show[] = {"show", "dev", NULL};
    out = cli(s, s->owner_token, 1, "workspace \"dev\" not found", show);
    free(out);
    free(dir);
}

/* berth backup: an owner gets a consistent copy of the live database; a member may not. */
static void test_backup_while_serving(void **state)
{
    struct server *s = *state;
    char member[64];
    server_create_user(s, "mia", NULL, member);
    const char *args[] = {"backup", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(run_cli(s, s->owner_token, NULL, args, &out, &err), 0);
    char *prefix = fmt("Backup written on the server to %s/backups/berth-", s->data_dir);
    assert_true(str_has_prefix(out, prefix));
    free(prefix);
    char *path = strdup(out + strlen("Backup written on the server to "));
    *strstr(path, " (") = '\0';
    free(out);
    free(err);
    /* A real SQLite database holding the users, readable while the server runs. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(path);
    assert_int_not_equal(run_cli(s, member, NULL, args, &out, &err), 0);
    assert_non_null(strstr(err, "Only an owner can back up the deployment."));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_push_promote_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_exit_nonzero_with_the_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_workspace_lifecycle_from_the_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_while_serving, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
