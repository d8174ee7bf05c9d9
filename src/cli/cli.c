/* cli.c - top-level command dispatch. */
#include "cli/cli.h"

#include "agent/agent.h"
#include "base/secure.h"
#include "cli/internal.h"
#include "server/server.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *usage =
    "usage: berth <command> [args] [flags]\n"
    "\n"
    "Server:\n"
    "  server                 run the control plane (berth server --help)\n"
    "  agent                  run inside a workspace (started by the template)\n"
    "\n"
    "Account:\n"
    "  login URL              log in and remember the server and token\n"
    "  logout                 end the session and forget it\n"
    "  whoami                 show the user you are logged in as\n"
    "  users create|list      manage users (owners)\n"
    "  tokens create          create an API token\n"
    "\n"
    "Workspaces:\n"
    "  create NAME -t T       create a workspace from template T\n"
    "  start|stop|restart N   start, stop or restart a workspace\n"
    "  delete NAME            delete a workspace\n"
    "  list                   list your workspaces\n"
    "  show NAME              show a workspace\n"
    "  logs NAME [-f]         print (or follow) the logs of its latest build\n"
    "  exec NAME -- CMD...    run a command in a workspace; exits with its status\n"
    "\n"
    "Templates:\n"
    "  templates push NAME    upload a new version from a directory\n"
    "  templates list         list templates\n"
    "  templates versions N   list a template's versions\n"
    "  templates edit NAME    change a template's settings\n"
    "  templates promote N V  make version V the active version\n"
    "  templates archive N V  archive a version (unarchive to undo)\n"
    "\n"
    "Chats and AI tools:\n"
    "  chat new [-w NAME]     start a chat with the server's model (about a workspace)\n"
    "  chat send CHAT TEXT    send a message; streams the reply and tool activity\n"
    "  chat list|show CHAT    list your chats, or show one with its messages\n"
    "  mcp [--chat ID]        serve berth's chat tools over MCP on stdin/stdout\n"
    "\n"
    "Other:\n"
    "  backup                 copy the server's database while it runs (owners)\n"
    "  version                print the version\n"
    "\n"
    "Every client command takes --url, --token and -o json; run `berth <command> --help`.\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv)
{
    printf("berth %s\n", BERTH_VERSION);
    return 0;
}

static const struct command commands[] = {
    {"server", server_main}, {"agent", agent_main},
    {"login", cmd_login},    {"logout", cmd_logout},
    {"whoami", cmd_whoami},  {"users", cmd_users},
    {"tokens", cmd_tokens},  {"templates", cmd_templates},
    {"create", cmd_create},  {"start", cmd_start},
    {"stop", cmd_stop},      {"restart", cmd_restart},
    {"delete", cmd_delete},  {"list", cmd_list},
    {"show", cmd_show},      {"logs", cmd_logs},
    {"exec", cmd_exec},      {"version", cmd_version},
    {"backup", cmd_backup},  {"mcp", cmd_mcp},
    {"chat", cmd_chat},
};

int cli_main(int argc, char **argv)
{
    if (secure_init() < 0) {
        fprintf(stderr, "berth: cannot initialize libsodium\n");
        return 1;
    }
    json_object_seed(0);
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc, argv);
    fprintf(stderr, "berth: unknown command \"%s\" (run `berth help` for the list)\n", argv[1]);
    return 2;
}
