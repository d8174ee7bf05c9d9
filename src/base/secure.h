/* secure.h - randomness, hashing, constant-time comparison and password hashing (libsodium).
 *
 * secure_init() must run once before any other call (main does it); everything else is
 * thread-safe. Password hashes are Argon2id (t=2, m=19 MiB, p=1: OWASP's minimum), encoded as
 * libsodium's "$argon2id$..." strings.
 */
#ifndef BERTH_BASE_SECURE_H
#define BERTH_BASE_SECURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECURE_SHA256_LEN        32
#define SECURE_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

/* Initializes libsodium. 0 on success, -1 when the library cannot start. */
int secure_init(void);
/* Fills p with n cryptographically random bytes. */
void secure_random(void *p, size_t n);
/* A uniformly random integer in [0, upper). upper > 0. */
uint32_t secure_uniform(uint32_t upper);
/* Writes n random characters of [A-Za-z0-9] and a NUL to out (out has n + 1 bytes). */
void secure_token(char *out, size_t n);
/* Writes n random lower-case hex characters and a NUL to out. */
void secure_hex(char *out, size_t n);
/* SHA-256 of p[0..n). */
void secure_sha256(const void *p, size_t n, unsigned char out[SECURE_SHA256_LEN]);
/* SHA-256 of p[0..n) as 64 lower-case hex characters plus NUL. */
void secure_sha256_hex(const void *p, size_t n, char out[65]);
/* Constant-time equality of two n-byte buffers. */
bool secure_equal(const void *a, const void *b, size_t n);
/* Hashes a password with Argon2id into out (NUL-terminated). 0, or -1 on failure. Costly (tens of
 * milliseconds and 19 MiB): callers bound how many run at once. */
int secure_password_hash(const char *password, char out[SECURE_PASSWORD_HASH_MAX]);
/* True when password matches the encoded hash. Same cost as hashing. */
bool secure_password_verify(const char *hash, const char *password);
/* Lower-case hex of p[0..n) into out (2n + 1 bytes). */
void secure_bin2hex(const void *p, size_t n, char *out);

#endif
