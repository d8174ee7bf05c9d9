/* manifest.h - parsing and validating a template version's berth.yaml.
 *
 * The manifest (spec/templates.md, "A template version") names the provision program, its
 * time-out, the build parameters and the agents with their scripts. YAML is read with libyaml's
 * event parser into a JSON tree, then every key is checked; any mistake is reported as
 * "<key path>: <what is wrong>" naming the offending value, e.g.
 * `parameters[2] (cpus).validation.regex: only string parameters may set a regex`.
 *
 * YAML rules: one document, at most MANIFEST_MAX_BYTES, nesting at most 32 levels, no anchors
 * or aliases, no tags other than !!str, no duplicate keys. Plain scalars `true`/`false` are
 * booleans, `null`, `~` and empty are null (the same as an absent key), `-?[0-9]+` are
 * integers, everything else (and every quoted scalar) is a string. Unknown keys are errors.
 *
 * Validation regexes are POSIX extended (regcomp REG_EXTENDED|REG_NOSUB), at most 1024 bytes,
 * without back-references, and small once glibc expands their repetitions (about 1000 items:
 * "x{n,m}" counts x m times, "x+" twice), since regcomp copies repeated expressions and a
 * nested repetition could otherwise take gigabytes.
 *
 * Thread-safe: no shared state.
 */
#ifndef BERTH_TEMPLATE_MANIFEST_H
#define BERTH_TEMPLATE_MANIFEST_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX_BYTES (1024 * 1024)

struct manifest_option {
    char *name;
    char *value; /* suits the parameter's type (for list(string): one element) */
    char *description;
    char *icon; /* "" when unset */
};

struct manifest_param {
    char *name; /* [a-z][a-z0-9_]*, at most 64 characters, unique */
    char *display_name;
    char *description;   /* "" when unset */
    char *type;          /* "string" | "number" | "bool" | "list(string)" */
    char *default_value; /* NULL = no default (the parameter is required); "" is a valid default.
                            number: an integer; bool: "true"/"false"; list(string): a compact
                            JSON array of strings such as ["a","b"] */
    bool required;       /* default_value == NULL */
    bool mutable_;       /* default true */
    bool ephemeral;      /* default false; an ephemeral parameter has a default */
    struct manifest_option *options;
    size_t noptions;
    char *validation_regex; /* POSIX extended; "" when unset (string parameters only) */
    char *validation_error; /* "" when unset; non-empty when there is a regex */
    bool has_min, has_max;  /* number parameters only */
    int64_t min, max;
    char *monotonic; /* "" | "increasing" | "decreasing" (number parameters only) */
};

struct manifest_script {
    char *name;
    char *script; /* at most 64 KiB */
    bool run_on_start, run_on_stop, start_blocks_login;
    int64_t timeout_ms; /* 0 = none */
};

struct manifest_agent {
    char *name;                    /* [a-z0-9](-?[a-z0-9])*, at most 64 characters, unique */
    char *directory;               /* "" = the workspace's default */
    int64_t connection_timeout_ms; /* default 120000, 0 = never */
    struct manifest_script *scripts;
    size_t nscripts;
};

struct manifest {
    char *display_name, *description, *icon; /* "" when unset */
    char *provision;                         /* normalized relative path, leading "./" removed */
    int64_t provision_timeout_ms;            /* default 600000 (10m), at most 24h */
    struct manifest_param *params;           /* in file order */
    size_t nparams;
    struct manifest_agent *agents; /* in file order */
    size_t nagents;
};

/* Parses and validates yaml[0..len) (borrowed; need not be NUL-terminated) into *out, whose
 * strings are then owned by the caller (release with manifest_free). On failure returns -1 with
 * ERR_BAD_REQUEST and a message "<key path>: <what is wrong>" (YAML problems:
 * "berth.yaml: line L column C: <problem>"); *out is left empty. */
int manifest_parse(const char *yaml, size_t len, struct manifest *out, struct err *e);

/* Frees everything m owns and empties it. m may be NULL; freeing an empty manifest is a no-op. */
void manifest_free(struct manifest *m);

#endif
