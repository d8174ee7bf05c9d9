/* secure.c - libsodium-backed randomness, hashing and passwords (see secure.h). */
#include "base/secure.h"

#include <sodium.h>
#include <string.h>

#define PW_OPSLIMIT 2ULL
#define PW_MEMLIMIT (19ULL * 1024 * 1024)

int secure_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void secure_random(void *p, size_t n)
{
    randombytes_buf(p, n);
}

uint32_t secure_uniform(uint32_t upper)
{
    return randombytes_uniform(upper);
}

static void from_alphabet(char *out, size_t n, const char *alphabet)
{
    uint32_t k = (uint32_t)strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[randombytes_uniform(k)];
    out[n] = '\0';
}

void secure_token(char *out, size_t n)
{
    from_alphabet(out, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
}

void secure_hex(char *out, size_t n)
{
    from_alphabet(out, n, "0123456789abcdef");
}

void secure_sha256(const void *p, size_t n, unsigned char out[SECURE_SHA256_LEN])
{
    crypto_hash_sha256(out, p, n);
}

void secure_bin2hex(const void *p, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, p, n);
}

void secure_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[SECURE_SHA256_LEN];
    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(out, 65, h, sizeof h);
}

bool secure_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

int secure_password_hash(const char *password, char out[SECURE_PASSWORD_HASH_MAX])
{
    _Static_assert(SECURE_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");
    return crypto_pwhash_str_alg(out, password, strlen(password), PW_OPSLIMIT, PW_MEMLIMIT,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

bool secure_password_verify(const char *hash, const char *password)
{
    if (!hash || !password || strnlen(hash, SECURE_PASSWORD_HASH_MAX) >= SECURE_PASSWORD_HASH_MAX)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
