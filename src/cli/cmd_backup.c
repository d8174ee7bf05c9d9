/* cmd_backup.c - berth backup: an online copy of the server's database (owners only). */
#include "base/json.h"
#include "cli/internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *usage =
    "usage: berth backup\n"
    "\n"
    "Asks the server for a consistent copy of its database, written while it keeps serving to\n"
    "<data dir>/backups/berth-<UTC time>.db on the server's host, and prints that path and size.\n"
    "Owners only.\n";

int cmd_backup(int argc, char **argv)
{
    struct cli_globals g;
    char **pos;
    int npos, ndash;
    int r = cli_parse(argc, argv, 2, usage, NULL, 0, &g, &pos, &npos, &ndash);
    if (r != 0)
        return r < 0 ? 2 : 0;
    free(pos);
    struct client c;
    struct err e = ERR_INIT;
    json_t *res = NULL;
    int status = 0;
    if (client_open(&c, &g, true, &e) < 0 ||
        client_json(&c, "POST", "/api/v2/deployment/backups", NULL, &res, NULL, &e) < 0) {
        status = cli_fail(&e);
    } else if (cli_json(&g)) {
        cli_print_json(res);
    } else {
        printf("Backup written on the server to %s (%lld bytes).\n", jsonx_get_str(res, "path", ""),
               (long long)json_integer_value(json_object_get(res, "size_bytes")));
    }
    json_decref(res);
    client_close(&c);
    cli_globals_free(&g);
    return status;
}
