/* cmd_users.c - berth users create|list and berth tokens create. */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *users_usage =
    "usage: berth users <create|list>\n"
    "\n"
    "  create --email E --username U --password P [--role R ...]\n"
    "                 create a user (owners only); roles: owner, template-admin, member\n"
    "  list           list users\n";

static int users_create(struct client *c, const struct cli_globals *g, const char *email,
                        const char *username, const char *password, const struct flag_list *roles)
{
    struct err e = ERR_INIT;
    json_t *arr = json_array();
    for (size_t i = 0; i < roles->n; i++)
        json_array_append_new(arr, json_string(roles->items[i]));
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:o}", "email", email ? email : "", "username",
                  username ? username : "", "password", password ? password : "", "roles", arr);
    json_t *u = NULL;
    int r = client_json(c, "POST", "/api/v2/users", body, &u, NULL, &e);
    json_decref(body);
    if (r < 0)
        return cli_fail(&e);
    if (cli_json(g))
        cli_print_json(u);
    else
        printf("Created user %s (%s).\n", jsonx_get_str(u, "username", ""),
               jsonx_get_str(u, "id", ""));
    json_decref(u);
    return 0;
}

static int users_list(struct client *c, const struct cli_globals *g)
{
    struct err e = ERR_INIT;
    json_t *resp;
    if (client_json(c, "GET", "/api/v2/users", NULL, &resp, NULL, &e) < 0)
        return cli_fail(&e);
    json_t *arr = json_object_get(resp, "users");
    if (cli_json(g)) {
        cli_print_json(arr);
    } else {
        const char *headers[] = {"USERNAME", "EMAIL", "ROLES", "STATUS"};
        struct table tb;
        table_init(&tb, 4, headers);
        size_t i;
        json_t *u;
        json_array_foreach(arr, i, u)
        {
            struct buf b;
            buf_init(&b, 0);
            size_t k;
            json_t *role;
            json_array_foreach(json_object_get(u, "roles"), k, role)
                buf_printf(&b, "%s%s", k ? "," : "", json_string_value(role));
            table_add(&tb, jsonx_get_str(u, "username", ""), jsonx_get_str(u, "email", ""),
                      buf_str(&b), jsonx_get_str(u, "status", ""));
            buf_free(&b);
        }
        table_print(&tb);
    }
    json_decref(resp);
    return 0;
}

int cmd_users(int argc, char **argv)
{
    char *email = NULL, *username = NULL, *password = NULL;
    struct flag_list roles = {0};
    const struct flag flags[] = {
        {"email", 0, FLAG_STRING, &email, NULL, "EMAIL", "create: the e-mail"},
        {"username", 0, FLAG_STRING, &username, NULL, "NAME", "create: the username"},
        {"password", 0, FLAG_STRING, &password, NULL, "PASSWORD", "create: the password"},
        {"role", 0, FLAG_LIST, &roles, NULL, "ROLE", "create: a role (repeatable)"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash, status;
    int r = cli_parse(argc, argv, 2, users_usage, flags, 4, &g, &pos, &npos, &ndash);
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    struct client c;
    struct err e = ERR_INIT;
    if (npos != 1 || (strcmp(pos[0], "create") && strcmp(pos[0], "list"))) {
        status = cli_usage_error(users_usage, "users needs create or list");
        goto out;
    }
    if (client_open(&c, &g, true, &e) < 0) {
        status = cli_fail(&e);
        goto out;
    }
    if (strcmp(pos[0], "create") == 0)
        status = users_create(&c, &g, email, username, password, &roles);
    else
        status = users_list(&c, &g);
    client_close(&c);
out:
    free(pos);
    cli_globals_free(&g);
    free(email);
    free(username);
    free(password);
    flag_list_free(&roles);
    return status;
}

static const char *tokens_usage = "usage: berth tokens create [--name NAME] [--lifetime DURATION]\n"
                                  "\n"
                                  "Creates an API token for you and prints it (shown once).\n";

int cmd_tokens(int argc, char **argv)
{
    char *name = NULL, *lifetime = NULL;
    const struct flag flags[] = {
        {"name", 0, FLAG_STRING, &name, NULL, "NAME", "a name for the token"},
        {"lifetime", 0, FLAG_STRING, &lifetime, NULL, "DURATION", "e.g. 720h (default 30 days)"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash, status = 1;
    struct client c;
    memset(&c, 0, sizeof c);
    struct err e = ERR_INIT;
    json_t *resp = NULL, *body = NULL;
    int r = cli_parse(argc, argv, 2, tokens_usage, flags, 2, &g, &pos, &npos, &ndash);
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    if (npos != 1 || strcmp(pos[0], "create") != 0) {
        status = cli_usage_error(tokens_usage, "tokens needs create");
        goto out;
    }
    body = json_object();
    if (name)
        json_object_set_new(body, "token_name", json_string(name));
    if (lifetime) {
        int64_t ms;
        if (duration_parse(lifetime, &ms) < 0) {
            status = cli_usage_error(tokens_usage, "--lifetime wants a duration like 720h");
            goto out;
        }
        json_object_set_new(body, "lifetime_seconds", json_integer(ms / 1000));
    }
    if (client_open(&c, &g, true, &e) < 0 ||
        client_json(&c, "POST", "/api/v2/users/me/keys/tokens", body, &resp, NULL, &e) < 0) {
        status = cli_fail(&e);
        goto out;
    }
    if (cli_json(&g))
        cli_print_json(resp);
    else
        printf("%s\n", jsonx_get_str(resp, "key", ""));
    status = 0;
out:
    json_decref(resp);
    json_decref(body);
    client_close(&c);
    free(pos);
    cli_globals_free(&g);
    free(name);
    free(lifetime);
    return status;
}
