/* fuzz_tarball.c - libFuzzer target: tar validation and reading berth.yaml on arbitrary bytes. */
#include "template/tarball.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tar_index ix;
    struct err e = ERR_INIT;
    if (tarball_index(data, size, &ix, &e) == 0) {
        bool has = tarball_has_file(&ix, "berth.yaml");
        char *text = NULL;
        size_t len = 0;
        int rc = tarball_read(data, size, "./berth.yaml", 1024 * 1024, &text, &len, &e);
        if ((rc == 0) != has && !err_is(&e, ERR_TOO_LARGE))
            abort(); /* the index and the reader disagree */
        free(text);
        tarball_index_free(&ix);
    }
    err_clear(&e);
    return 0;
}
