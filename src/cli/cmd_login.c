/* cmd_login.c - berth login, logout, whoami. */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char *login_usage =
    "usage: berth login URL [--email E --password P | --token T]\n"
    "\n"
    "Logs in to the berth server at URL and remembers the server and the session token in\n"
    "$XDG_CONFIG_HOME/berth/config.json. With --email and no --password the password is\n"
    "asked for on a terminal (or read from stdin); with neither, a token is read from stdin.\n";

/* Reads one line from stdin; hides it when stdin is a terminal and hide is set. Caller frees. */
static char *read_line(const char *prompt, bool hide)
{
    bool tty = isatty(0);
    struct termios old, noecho;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        if (hide && tcgetattr(0, &old) == 0) {
            noecho = old;
            noecho.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(0, TCSAFLUSH, &noecho);
        } else {
            hide = false;
        }
    }
    char buf[1024];
    char *r = fgets(buf, sizeof buf, stdin);
    if (tty && hide) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!r)
        return NULL;
    return xstrdup(str_trim(buf));
}

int cmd_login(int argc, char **argv)
{
    char *email = NULL, *password = NULL, *token = NULL;
    const struct flag flags[] = {
        {"email", 0, FLAG_STRING, &email, NULL, "EMAIL", "log in with this e-mail"},
        {"password", 0, FLAG_STRING, &password, NULL, "PASSWORD", "and this password"},
    };
    struct cli_globals g;
    char **pos;
    int npos, ndash, status = 1;
    int r = cli_parse(argc, argv, 2, login_usage, flags, 2, &g, &pos, &npos, &ndash);
    struct err e = ERR_INIT;
    struct client c;
    memset(&c, 0, sizeof c);
    json_t *me = NULL;
    if (r != 0) {
        status = r < 0 ? 2 : 0;
        goto out;
    }
    /* --token (a global flag) is the token to log in with. */
    if (g.token && !token)
        token = xstrdup(g.token);
    if (npos != 1) {
        status = cli_usage_error(login_usage, "login takes exactly one URL");
        goto out;
    }
    struct cli_globals cg = {.url = pos[0]};
    if (client_open(&c, &cg, false, &e) < 0)
        goto fail;
    if (!token && !email) {
        if (isatty(0)) {
            email = read_line("Email: ", false);
        } else {
            token = read_line("", false);
            if (!token || !*token) {
                err_set(&e, ERR_BAD_REQUEST, "no token on stdin");
                goto fail;
            }
        }
    }
    if (!token) {
        if (!password)
            password = read_line("Password: ", true);
        json_t *body = json_pack("{s:s, s:s}", "email", email ? email : "", "password",
                                 password ? password : "");
        json_t *resp = NULL;
        r = client_json(&c, "POST", "/api/v2/users/login", body, &resp, NULL, &e);
        json_decref(body);
        if (r < 0)
            goto fail;
        token = xstrdup(jsonx_get_str(resp, "session_token", ""));
        json_decref(resp);
    }
    free(c.token);
    c.token = xstrdup(token);
    if (client_json(&c, "GET", "/api/v2/users/me", NULL, &me, NULL, &e) < 0)
        goto fail;
    if (cli_config_write(c.url, token, &e) < 0)
        goto fail;
    if (cli_json(&g))
        cli_print_json(me);
    else
        printf("Logged in to %s as %s.\n", c.url, jsonx_get_str(me, "username", "?"));
    status = 0;
    goto out;
fail:
    status = cli_fail(&e);
out:
    json_decref(me);
    client_close(&c);
    free(pos);
    cli_globals_free(&g);
    free(email);
    free(password);
    free(token);
    return status;
}

static const char *logout_usage = "usage: berth logout\n\nEnds the session and forgets it.\n";

int cmd_logout(int argc, char **argv)
{
    struct cli_globals g;
    char **pos;
    int npos, ndash;
    int r = cli_parse(argc, argv, 2, logout_usage, NULL, 0, &g, &pos, &npos, &ndash);
    if (r != 0)
        return r < 0 ? 2 : 0;
    free(pos);
    struct client c;
    struct err e = ERR_INIT;
    int status = 0;
    if (client_open(&c, &g, true, &e) < 0 ||
        client_json(&c, "POST", "/api/v2/users/logout", NULL, NULL, NULL, &e) < 0) {
        status = cli_fail(&e);
    } else {
        /* Forget the saved session only when it is the one that was just ended. */
        if (c.token_saved) {
            char *path = cli_config_path();
            unlink(path);
            free(path);
        }
        printf("Logged out of %s.\n", c.url);
    }
    client_close(&c);
    cli_globals_free(&g);
    return status;
}

static const char *whoami_usage = "usage: berth whoami\n\nShows the user you are logged in as.\n";

int cmd_whoami(int argc, char **argv)
{
    struct cli_globals g;
    char **pos;
    int npos, ndash;
    int r = cli_parse(argc, argv, 2, whoami_usage, NULL, 0, &g, &pos, &npos, &ndash);
    if (r != 0)
        return r < 0 ? 2 : 0;
    free(pos);
    struct client c;
    struct err e = ERR_INIT;
    json_t *me = NULL;
    int status = 0;
    if (client_open(&c, &g, true, &e) < 0 ||
        client_json(&c, "GET", "/api/v2/users/me", NULL, &me, NULL, &e) < 0) {
        status = cli_fail(&e);
    } else if (cli_json(&g)) {
        cli_print_json(me);
    } else {
        json_t *roles = json_object_get(me, "roles");
        struct buf b;
        buf_init(&b, 0);
        size_t i;
        json_t *role;
        json_array_foreach(roles, i, role)
            buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(role));
        printf("%s <%s> on %s (roles: %s)\n", jsonx_get_str(me, "username", ""),
               jsonx_get_str(me, "email", ""), c.url, buf_str(&b));
        buf_free(&b);
    }
    json_decref(me);
    client_close(&c);
    cli_globals_free(&g);
    return status;
}
