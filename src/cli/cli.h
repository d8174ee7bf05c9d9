/* cli.h - the `berth` command line: dispatches argv to the server, agent, MCP or a client verb.
 */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

/* Runs the command named by argv[1] and returns the process exit status. */
int cli_main(int argc, char **argv);

#endif
