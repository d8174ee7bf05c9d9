/* archivex.c - loads libarchive on first use (see archivex.h). */
#define ARCHIVEX_IMPL
#include "template/archivex.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct archivex api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "berth: cannot load libarchive (install the libarchive13 package): %s\n",
                dlerror());
        exit(1);
    }
#define ARCHIVEX_LOAD(f)                                                                           \
    do {                                                                                           \
        void *sym = dlsym(h, #f);                                                                  \
        if (!sym) {                                                                                \
            fprintf(stderr, "berth: libarchive lacks %s\n", #f);                                   \
            exit(1);                                                                               \
        }                                                                                          \
        memcpy(&api.f, &sym, sizeof sym);                                                          \
    } while (0);
    ARCHIVEX_FUNCS(ARCHIVEX_LOAD)
#undef ARCHIVEX_LOAD
}

const struct archivex *archivex(void)
{
    pthread_once(&once, load);
    return &api;
}
