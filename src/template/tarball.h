/* tarball.h - template version archives: validate, list, read, extract and pack tar files.
 *
 * A template version is an uncompressed tar archive (ustar, pax or GNU tar; read and written
 * with libarchive) holding regular files and directories only. Every function that reads an
 * archive applies the same safety rules (no links, devices, fifos, sockets, absolute paths,
 * ".." segments or repeated paths; at most TARBALL_MAX_ENTRIES entries and TARBALL_MAX_BYTES of
 * content), so an archive that passes tarball_index() can be extracted without surprises.
 *
 * Paths are normalized: no leading "./", no trailing "/", no empty or "." segments. Archive
 * data is always borrowed and never modified. All functions are thread-safe (no shared state).
 */
#ifndef BERTH_TEMPLATE_TARBALL_H
#define BERTH_TEMPLATE_TARBALL_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

#define TARBALL_MAX_BYTES   (64u * 1024 * 1024) /* archive size and total content */
#define TARBALL_MAX_ENTRIES 10000

struct tar_entry {
    char *path; /* normalized, owned by the index */
    bool is_dir;
    size_t size;   /* content bytes; 0 for directories */
    unsigned mode; /* permission bits as stored in the archive (mode & 07777) */
};

struct tar_index {
    struct tar_entry *entries; /* in archive order; a root entry ("./") is not listed */
    size_t n;
};

/* Validates the archive data[0..len) — every header, and every file's data read through — and
 * lists its entries into *out (owned by the caller: release with tarball_index_free; left empty
 * on failure).
 * Errors, all ERR_BAD_REQUEST except sizes (ERR_TOO_LARGE):
 *   "File is not a valid tar archive: <libarchive's message>" (also for empty input);
 *   `Archive entry "<name>" is unsafe: it is a symbolic link` (hard link, character device,
 *   block device, FIFO, socket), `... it is an absolute path`, `... it contains a ".." path
 *   segment`, `... it has an empty path`;
 *   `Archive entry "<name>" appears more than once`;
 *   "Archive has more than 10000 entries";
 *   "Archive is larger than 64 MiB" / "Archive content is larger than 64 MiB" (ERR_TOO_LARGE). */
int tarball_index(const void *data, size_t len, struct tar_index *out, struct err *e);

/* Frees the entries; ix is empty afterwards. ix may be NULL. */
void tarball_index_free(struct tar_index *ix);

/* True when the index has a regular file at path (borrowed; "./x" and "x" are the same).
 * False for directories, unsafe paths and NULL. */
bool tarball_has_file(const struct tar_index *ix, const char *path);

/* Reads one regular file's content into a new NUL-terminated heap buffer *out (owned by the
 * caller) and its length into *out_len (may be NULL). Entries before the file are checked as
 * tarball_index does (call tarball_index first to validate the whole archive).
 * Errors: ERR_NOT_FOUND `Archive has no file "<path>"` when absent or a directory;
 * ERR_TOO_LARGE `File "<path>" is larger than <max> bytes`; ERR_BAD_REQUEST as tarball_index. */
int tarball_read(const void *data, size_t len, const char *path, size_t max, char **out,
                 size_t *out_len, struct err *e);

/* Extracts the archive under the existing directory dir (borrowed path). The whole archive is
 * validated first (tarball_index), so nothing is written for an unsafe archive; every entry is
 * checked again while extracting. Missing parent directories are created. Symbolic links are
 * never followed below dir: each path segment is opened relative to its parent with O_NOFOLLOW.
 * Regular files get mode 0755 when the archive sets any execute bit, else 0644; directories get
 * 0755. Existing regular files are overwritten.
 * Errors: as tarball_index; ERR_INTERNAL `Cannot extract "<path>": <strerror>` on file system
 * failures (then dir may hold part of the archive: callers extract into a scratch directory). */
int tarball_extract(const void *data, size_t len, const char *dir, struct err *e);

/* Packs the directory dir (borrowed path) into a deterministic uncompressed tar appended to out
 * (see base/buf.h; on failure out keeps its previous length). Entries are sorted by path
 * (strcmp), paths are relative to dir, mtime 0, uid/gid 0, no user or group names, modes 0755
 * (directories and files with an execute bit) or 0644, pax format (restricted: extended headers
 * only for long or non-ASCII names). The same tree always gives the same bytes. Directories
 * named ".git" are skipped. max_bytes caps the archive size (0 or more than TARBALL_MAX_BYTES
 * mean TARBALL_MAX_BYTES).
 * Errors: ERR_BAD_REQUEST `Cannot pack "<path>": it is a symbolic link` (or another special
 * file type); ERR_TOO_LARGE "Directory has more than 10000 entries" or
 * "Archive would be larger than <max> bytes"; ERR_INTERNAL `Cannot pack "<path>": <strerror>`
 * on file system failures, ERR_NOT_FOUND when dir does not exist. */
int tarball_pack_dir(const char *dir, struct buf *out, size_t max_bytes, struct err *e);

#endif
