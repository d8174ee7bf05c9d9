/* flags.h - command-line flags: --name value, --name=value, -x value, booleans as --name or
 * --name=true|false, repeatable list flags; flags may come before or after positional
 * arguments; "--" ends flag parsing. Environment variables can supply defaults.
 *
 * Targets are written in place: strings are heap copies (any previous value is freed), lists
 * append heap copies. The caller owns and frees them. Not thread-safe (run at start-up).
 */
#ifndef BERTH_BASE_FLAGS_H
#define BERTH_BASE_FLAGS_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum flag_type { FLAG_STRING, FLAG_BOOL, FLAG_INT, FLAG_LIST };

struct flag_list {
    char **items;
    size_t n;
};

struct flag {
    const char *name; /* long name, without the dashes */
    char short_name;  /* 0 when none */
    enum flag_type type;
    void *target;    /* char **, bool *, int * or struct flag_list * */
    const char *env; /* environment variable supplying a default, or NULL */
    const char *arg; /* value placeholder for help, e.g. "URL" */
    const char *help;
};

/* Applies environment defaults, then parses argv[first..argc). Positional arguments are
 * collected (borrowed from argv) into pos (caller frees the array only); *ndash receives how
 * many positionals came before "--" (-1 when there was no "--"). ERR_BAD_REQUEST naming the
 * flag on an unknown flag, a missing value or a bad number/boolean. */
int flags_parse(const struct flag *flags, size_t nflags, int argc, char **argv, int first,
                char ***pos, int *npos, int *ndash, struct err *e);
/* Prints one line per flag. */
void flags_usage(FILE *out, const struct flag *flags, size_t nflags);
/* Frees the strings a list holds. */
void flag_list_free(struct flag_list *l);

#endif
