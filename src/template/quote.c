/* quote.c - text for the template module's error messages: quoted untrusted values, errno. */
#include "template/internal.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 200 /* bytes of the value shown before "..." */

char *template_quote(const char *s, size_t len)
{
    if (!s)
        return xstrdup("\"\"");
    size_t n = len;
    if (len > QUOTE_MAX) {
        /* cut before a UTF-8 continuation byte so a character is not split */
        n = QUOTE_MAX;
        for (int i = 0; i < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
            n--;
    }
    size_t clean_len;
    char *clean = utf8_sanitize(s, n, &clean_len);
    json_t *js = json_stringn_nocheck(clean, clean_len);
    char *dumped = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    free(clean);
    if (!dumped)
        mem_oom(); /* the input is valid UTF-8 now: only allocation can fail */
    char *out = n < len ? str_printf("%s...", dumped) : xstrdup(dumped);
    free(dumped);
    return out;
}

const char *template_errno_text(int errnum)
{
    const char *s = strerrordesc_np(errnum);
    return s ? s : "unknown error";
}
