/* template.h - templates and their versions: uploads, imports, promotion and policy.
 *
 * A version is created from an uploaded archive; its import job (run by the provisioner)
 * validates berth.yaml and stores the parameters, agents, scripts and README. Only a version
 * whose import succeeded can become a template's active version. Every function checks the
 * subject's permission (404 when it may not see the thing, 403 when it may see but not act) and
 * answers errors whose messages reach users as they are. Thread-safe.
 *
 * Ownership: `out` rows belong to the caller (release with the store's *_clear).
 */
#ifndef BERTH_TEMPLATE_TEMPLATE_H
#define BERTH_TEMPLATE_TEMPLATE_H

#include "base/err.h"
#include "provision/provision.h"
#include "pubsub/pubsub.h"
#include "rbac/rbac.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEMPLATE_README_MAX   (1024 * 1024)
#define TEMPLATE_MANIFEST_MAX (1024 * 1024)

/* Stores an uploaded template archive after checking it is a safe tar within the caps.
 * hash receives the hex SHA-256 (the file's id); *created is false when the same bytes were
 * uploaded before (nothing is written then). */
int template_file_upload(struct store *st, const struct subject *sub, const void *data, size_t len,
                         char hash[HASH_HEX_LEN + 1], bool *created, struct err *e);

struct template_version_create {
    const char *file_id;     /* required */
    const char *template_id; /* optional: attach to this template */
    const char *name;        /* optional: generated ("v<N>") when NULL or empty */
    const char *message;     /* optional */
};
/* Creates a version and its pending import job, then posts the job. */
int template_version_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                            const struct template_version_create *req, struct template_version *out,
                            struct err *e);
/* The import job's handler (arg unused). */
int template_import_run(struct job_ctx *ctx, void *arg, struct err *e);

struct template_create {
    const char *name;         /* required */
    const char *display_name; /* optional: the manifest's when NULL */
    const char *description;  /* optional: the manifest's when NULL */
    const char *icon;         /* optional */
    const char *version_id;   /* required: an unattached version whose import succeeded */
    bool require_active_version;
    int64_t default_ttl_ms;
};
/* Creates a template whose active version is req->version_id (attached to it). */
int template_create(struct store *st, const struct subject *sub, const struct template_create *req,
                    struct template_row *out, struct err *e);

/* A partial update: only fields whose has_* flag is set change. */
struct template_patch {
    bool has_display_name, has_description, has_icon, has_require_active_version,
        has_deprecation_message, has_default_ttl_ms;
    const char *display_name, *description, *icon, *deprecation_message;
    bool require_active_version;
    int64_t default_ttl_ms;
};
int template_update(struct store *st, const struct subject *sub, const char *template_id,
                    const struct template_patch *patch, struct template_row *out, struct err *e);
/* Makes version_id the active version of template_id. 403 "Only versions that have been built
 * successfully can be promoted." when its import did not succeed; 400 when archived or when the
 * version belongs to another template. */
int template_promote(struct store *st, struct pubsub *ps, const struct subject *sub,
                     const char *template_id, const char *version_id, struct err *e);
/* Archives (or unarchives) a version; the active version cannot be archived. */
int template_version_archive(struct store *st, const struct subject *sub, const char *version_id,
                             bool archive, struct err *e);

/* Reads with permission checks (404 when hidden). */
int template_get(struct store *st, const struct subject *sub, const char *id,
                 struct template_row *out, struct err *e);
int template_version_get(struct store *st, const struct subject *sub, const char *id,
                         struct template_version *out, struct err *e);
/* True when s may read the version (attached versions: anyone who reads templates). */
bool template_version_readable(const struct subject *sub, const struct template_version *v);

/* Names: templates are [a-zA-Z0-9](-?[a-zA-Z0-9])*; versions are letters and digits with single
 * '-', '_' or '.' separators. Both at most 64 characters. */
bool template_name_valid(const char *name);
bool template_version_name_valid(const char *name);

#endif
