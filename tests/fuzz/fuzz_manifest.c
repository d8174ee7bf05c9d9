/* fuzz_manifest.c - libFuzzer target: berth.yaml parsing and validation on arbitrary bytes. */
#include "template/manifest.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest m;
    struct err e = ERR_INIT;
    if (manifest_parse((const char *)data, size, &m, &e) == 0)
        manifest_free(&m);
    err_clear(&e);
    return 0;
}
