/* env.c - building a child's environment from scratch ("NAME=value" arrays). */
#include "base/mem.h"
#include "base/str.h"
#include "proc/internal.h"

#include <stdlib.h>
#include <string.h>

char **proc_env_build(const char *const *pairs)
{
    size_t n = 0;
    while (pairs && pairs[n])
        n++;
    char **env = xcalloc(n + 1, sizeof *env);
    for (size_t i = 0; i < n; i++)
        env[i] = xstrdup(pairs[i]);
    return env;
}

size_t proc_env_count(char *const *env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    return n;
}

void proc_env_add(char ***env, size_t *n, const char *name, const char *value)
{
    char **v = *env;
    size_t count = !v ? 0 : n ? *n : proc_env_count(v);
    size_t name_len = strlen(name);
    char *entry = str_printf("%s=%s", name, value ? value : "");
    for (size_t i = 0; i < count; i++) {
        if (strncmp(v[i], name, name_len) == 0 && v[i][name_len] == '=') {
            free(v[i]);
            v[i] = entry;
            return;
        }
    }
    v = xreallocarray(v, count + 2, sizeof *v);
    v[count] = entry;
    v[count + 1] = NULL;
    *env = v;
    if (n)
        *n = count + 1;
}

void proc_env_free(char **env)
{
    if (!env)
        return;
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}
