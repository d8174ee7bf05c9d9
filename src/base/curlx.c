/* curlx.c - loads libcurl on first use (see curlx.h). */
#define CURLX_IMPL
#include "base/curlx.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct curlx api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "berth: cannot load libcurl (install the libcurl4 package): %s\n",
                dlerror());
        exit(1);
    }
#define CURLX_LOAD(f)                                                                              \
    do {                                                                                           \
        void *sym = dlsym(h, #f);                                                                  \
        if (!sym) {                                                                                \
            fprintf(stderr, "berth: libcurl lacks %s\n", #f);                                      \
            exit(1);                                                                               \
        }                                                                                          \
        memcpy(&api.f, &sym, sizeof sym);                                                          \
    } while (0);
    CURLX_FUNCS(CURLX_LOAD)
#undef CURLX_LOAD
}

const struct curlx *curlx(void)
{
    pthread_once(&once, load);
    return &api;
}
