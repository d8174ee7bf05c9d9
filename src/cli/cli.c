/* cli.c - top-level command dispatch. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("berth %s\n", BERTH_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: berth <command> [args]\n");
    return 2;
}
