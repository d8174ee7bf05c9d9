/* main.c - the berth binary: dispatches to the server, the agent, MCP or a CLI verb. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
