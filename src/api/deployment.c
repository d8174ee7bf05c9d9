/* deployment.c - the deployment as a whole: online backups of the database (owners only). */
#include "api/internal.h"

#include "base/str.h"
#include "base/times.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* POST /api/v2/deployment/backups: a consistent copy of the database, written while the server
 * keeps serving, to <data dir>/backups/berth-<UTC time>.db. The server picks the path. */
static void create_backup(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    if (!(sub.roles & ROLE_OWNER)) {
        err_set(&e, ERR_FORBIDDEN, "Only an owner can back up the deployment.");
        api_fail(req, &e);
        return;
    }
    char *dir = str_printf("%s/backups", api->data_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        err_set(&e, ERR_INTERNAL, "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        api_fail(req, &e);
        return;
    }
    int64_t now = time_now_us();
    time_t secs = (time_t)(now / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    char *path = str_printf("%s/berth-%s.db", dir, stamp);
    struct stat st;
    if (store_backup(api->st, path, &e) < 0 || stat(path, &st) < 0) {
        if (!e.kind)
            err_set(&e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        api_fail(req, &e);
    } else {
        char created[TIME_STR_LEN];
        time_format(now, created);
        http_reply_json(req, 201,
                        json_pack("{s:s, s:I, s:s}", "path", path, "size_bytes",
                                  (json_int_t)st.st_size, "created_at", created));
    }
    free(path);
    free(dir);
}

void api_deployment_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/v2/deployment/backups", HTTP_ROUTE_WORKER, 0,
                      create_backup, api);
}
