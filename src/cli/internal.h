/* internal.h - shared pieces of the CLI commands (not for use outside src/cli/). */
#ifndef BERTH_CLI_INTERNAL_H
#define BERTH_CLI_INTERNAL_H

#include "base/err.h"
#include "base/flags.h"
#include "cli/client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Parses the command's flags plus the global ones (--url, --token, -o/--output, -h/--help).
 * Returns 0, 1 when help was printed (usage first), or -1 after printing the error. */
int cli_parse(int argc, char **argv, int first, const char *usage, const struct flag *flags,
              size_t nflags, struct cli_globals *g, char ***pos, int *npos, int *ndash);
void cli_globals_free(struct cli_globals *g);
/* Prints "berth: <message>" with detail and validations to stderr; returns 1. Clears e. */
int cli_fail(struct err *e);
/* Prints a usage error and returns 2. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when the globals ask for JSON output. */
bool cli_json(const struct cli_globals *g);
/* Prints v as indented JSON on stdout. */
void cli_print_json(const json_t *v);

/* A simple aligned table on stdout. */
struct table {
    size_t ncols;
    const char **headers;
    char ***rows;
    size_t nrows;
};
void table_init(struct table *t, size_t ncols, const char **headers);
/* Adds a row of ncols strings (copied). */
void table_add(struct table *t, ...);
void table_print(struct table *t);

/* Looks up a template by name; ERR_NOT_FOUND "template \"X\" not found". *out new reference. */
int cli_template_by_name(struct client *c, const char *name, json_t **out, struct err *e);
/* "3 minutes ago"-style age of an RFC 3339 time, into buf. */
void cli_age(const char *rfc3339, char *buf, size_t size);

/* Follows a build's logs to its end (progress on a terminal, plain lines otherwise), then
 * fetches the build (*build, new reference). */
int cli_follow_build(struct client *c, const char *build_id, const char *label, json_t **build,
                     struct err *e);
/* Waits until every agent of the workspace's latest build finished starting (printing their
 * startup output); an error says why one is not ready (script failed, never connected). */
int cli_wait_agents(struct client *c, const char *workspace_id, struct err *e);
/* 0 when the build succeeded, else an error saying how it ended. */
int cli_build_outcome(const json_t *build, struct err *e);

/* Commands. Each returns the process exit status. */
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_templates(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_tokens(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_mcp(int argc, char **argv);
int cmd_chat(int argc, char **argv);

#endif
