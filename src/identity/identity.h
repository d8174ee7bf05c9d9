/* identity.h - users, passwords, login and API tokens.
 *
 * Passwords are hashed with Argon2id; at most `hash_concurrency` hashes run at once (the rest
 * wait), and failed logins are limited per account (10 a minute) and per client address (60 a
 * minute). Tokens look like "<10-char id>-<22-char secret>"; only the SHA-256 of the secret is
 * stored, compared in constant time. Verified tokens are cached (id -> secret hash and user) for
 * a few seconds so the hot read path does no database work, and last_used is written at most
 * once an hour. Thread-safe.
 */
#ifndef BERTH_IDENTITY_IDENTITY_H
#define BERTH_IDENTITY_IDENTITY_H

#include "base/err.h"
#include "rbac/rbac.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define TOKEN_STR_LEN              (API_KEY_ID_LEN + 1 + API_KEY_SECRET_LEN + 1)
#define SESSION_LIFETIME_SECONDS   (24 * 3600)
#define TOKEN_MAX_LIFETIME_SECONDS (365LL * 24 * 3600)

struct identity;

struct identity_config {
    int hash_concurrency;        /* concurrent Argon2id hashes (default 2) */
    int login_failures_per_min;  /* per account (default 10) */
    int login_attempts_per_addr; /* per client address per minute (default 60) */
    int64_t token_cache_ms;      /* how long a verified token stays cached (default 10 s) */
};

/* Borrows st (must outlive the identity). Never NULL. */
struct identity *identity_new(struct store *st, const struct identity_config *cfg);
void identity_free(struct identity *id);

/* Validates and normalizes the fields of a new user (ERR_BAD_REQUEST with a validation naming
 * the field): username [a-zA-Z0-9](-?[a-zA-Z0-9])* up to 32 characters, a plausible e-mail up
 * to 254 bytes, a password of 8 to 256 bytes. */
int identity_check_new_user(const char *email, const char *username, const char *password,
                            struct err *e);
/* Creates the first user, an owner. ERR_CONFLICT "The initial user has already been created."
 * once any user exists. */
int identity_create_first_user(struct identity *id, const char *email, const char *username,
                               const char *password, struct user *out, struct err *e);
/* Creates a user with the given role bits. ERR_CONFLICT naming the field when the e-mail or the
 * username is taken. Authorization is the caller's. */
int identity_create_user(struct identity *id, const char *email, const char *username,
                         const char *password, unsigned roles, struct user *out, struct err *e);
/* Checks e-mail and password and issues a session token (24 h). ERR_UNAUTHORIZED "Incorrect
 * email or password." for either mistake; ERR_RATE_LIMITED once the limits are reached. */
int identity_login(struct identity *id, const char *email, const char *password, const char *peer,
                   char token[TOKEN_STR_LEN], struct err *e);
/* Issues a token for a user. lifetime_seconds 0 = the default (24 h for sessions, 30 days for
 * named tokens); ERR_BAD_REQUEST when over a year or negative; ERR_CONFLICT when the user
 * already has a token with that name. */
int identity_issue_token(struct identity *id, const char *user_id, enum login_type type,
                         const char *name, int64_t lifetime_seconds, char token[TOKEN_STR_LEN],
                         struct err *e);
/* Resolves a token to a subject. ERR_UNAUTHORIZED with a message saying what is wrong
 * (malformed, unknown, bad secret, expired, user suspended). */
int identity_authenticate(struct identity *id, const char *token, struct subject *out,
                          struct err *e);
/* Deletes a token and drops it from the cache. */
int identity_revoke_token(struct identity *id, const char *key_id, struct err *e);

#endif
