/* dev.c - `berth server --dev`: a ready-to-use owner on an empty data dir. */
#include "base/secure.h"
#include "base/str.h"
#include "server/internal.h"

#include <stdio.h>

#define DEV_EMAIL    "admin@berth.local"
#define DEV_USERNAME "admin"

int server_dev_bootstrap(struct store *st, struct identity *id, const char *access_url,
                         struct err *e)
{
    int64_t users;
    if (store_user_count(st, &users, e) < 0)
        return -1;
    if (users > 0) {
        printf("berth: development mode (the data dir already has users; log in with yours)\n");
        return 0;
    }
    char password[21];
    secure_token(password, 20);
    struct user u;
    if (identity_create_first_user(id, DEV_EMAIL, DEV_USERNAME, password, &u, e) < 0)
        return -1;
    char token[TOKEN_STR_LEN];
    if (identity_issue_token(id, u.id, LOGIN_TOKEN, "dev", 0, token, e) < 0)
        return -1;
    printf("berth: development mode: created the owner (shown once, keep it)\n"
           "  email:    %s\n"
           "  username: %s\n"
           "  password: %s\n"
           "  token:    %s\n"
           "Use it with:\n"
           "  berth login %s --token %s\n",
           DEV_EMAIL, DEV_USERNAME, password, token, access_url, token);
    fflush(stdout);
    return 0;
}
