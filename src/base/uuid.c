/* uuid.c - UUIDv7 generation and validation (see uuid.h). */
#include "base/uuid.h"

#include "base/secure.h"
#include "base/times.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint16_t counter; /* 12 bits used */

void uuid_v7(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    secure_random(b, sizeof b);
    uint64_t ms = (uint64_t)(time_now_us() / 1000);
    pthread_mutex_lock(&lock);
    if (ms <= last_ms) {
        ms = last_ms;
        counter++;
        if (counter > 0x0FFF) {
            ms = ++last_ms;
            counter = 0;
        }
    } else {
        last_ms = ms;
        counter = (uint16_t)(b[6] & 0x03) << 8 | b[7]; /* random start, room to count */
    }
    uint16_t c = counter;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | ((c >> 8) & 0x0F));
    b[7] = (unsigned char)(c & 0xFF);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

bool uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

void uuid_invalid_reason(const char *s, char *out, size_t n)
{
    size_t len = s ? strlen(s) : 0;
    if (len != 36)
        snprintf(out, n, "invalid UUID length: %zu", len);
    else
        snprintf(out, n, "invalid UUID format");
}
