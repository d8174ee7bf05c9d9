/* archivex.h - libarchive, loaded on first use (internal to the template module).
 *
 * libarchive pulls in libxml2, ICU, libstdc++ and OpenSSL; the workspace agent (the same
 * binary) never needs it. Files of this module include this header instead of <archive.h>;
 * calls go through a table filled by dlopen("libarchive.so.13") the first time one is made.
 * If the library cannot be loaded the process exits with a message naming the package.
 * Thread-safe.
 */
#ifndef BERTH_TEMPLATE_ARCHIVEX_H
#define BERTH_TEMPLATE_ARCHIVEX_H

#include <archive.h>
#include <archive_entry.h>

#define ARCHIVEX_FUNCS(X)                                                                          \
    X(archive_entry_clear)                                                                         \
    X(archive_entry_copy_pathname)                                                                 \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_free)                                                                          \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_new)                                                                           \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_pathname_utf8)                                                                 \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_set_filetype)                                                                  \
    X(archive_entry_set_gid)                                                                       \
    X(archive_entry_set_mtime)                                                                     \
    X(archive_entry_set_perm)                                                                      \
    X(archive_entry_set_size)                                                                      \
    X(archive_entry_set_uid)                                                                       \
    X(archive_entry_size)                                                                          \
    X(archive_entry_symlink)                                                                       \
    X(archive_error_string)                                                                        \
    X(archive_read_data)                                                                           \
    X(archive_read_free)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open_memory)                                                                    \
    X(archive_read_support_format_tar)                                                             \
    X(archive_set_error)                                                                           \
    X(archive_write_close)                                                                         \
    X(archive_write_data)                                                                          \
    X(archive_write_free)                                                                          \
    X(archive_write_header)                                                                        \
    X(archive_write_new)                                                                           \
    X(archive_write_open2)                                                                         \
    X(archive_write_set_format_pax_restricted)

struct archivex {
#define ARCHIVEX_MEMBER(f) __typeof__(&f) f;
    ARCHIVEX_FUNCS(ARCHIVEX_MEMBER)
#undef ARCHIVEX_MEMBER
};

/* The loaded table (loads on the first call). */
const struct archivex *archivex(void);

#ifndef ARCHIVEX_IMPL
#define archive_entry_clear             (archivex()->archive_entry_clear)
#define archive_entry_copy_pathname     (archivex()->archive_entry_copy_pathname)
#define archive_entry_filetype          (archivex()->archive_entry_filetype)
#define archive_entry_free              (archivex()->archive_entry_free)
#define archive_entry_hardlink          (archivex()->archive_entry_hardlink)
#define archive_entry_new               (archivex()->archive_entry_new)
#define archive_entry_pathname          (archivex()->archive_entry_pathname)
#define archive_entry_pathname_utf8     (archivex()->archive_entry_pathname_utf8)
#define archive_entry_perm              (archivex()->archive_entry_perm)
#define archive_entry_set_filetype      (archivex()->archive_entry_set_filetype)
#define archive_entry_set_gid           (archivex()->archive_entry_set_gid)
#define archive_entry_set_mtime         (archivex()->archive_entry_set_mtime)
#define archive_entry_set_perm          (archivex()->archive_entry_set_perm)
#define archive_entry_set_size          (archivex()->archive_entry_set_size)
#define archive_entry_set_uid           (archivex()->archive_entry_set_uid)
#define archive_entry_size              (archivex()->archive_entry_size)
#define archive_entry_symlink           (archivex()->archive_entry_symlink)
#define archive_error_string            (archivex()->archive_error_string)
#define archive_read_data               (archivex()->archive_read_data)
#define archive_read_free               (archivex()->archive_read_free)
#define archive_read_new                (archivex()->archive_read_new)
#define archive_read_next_header        (archivex()->archive_read_next_header)
#define archive_read_open_memory        (archivex()->archive_read_open_memory)
#define archive_read_support_format_tar (archivex()->archive_read_support_format_tar)
#define archive_set_error               (archivex()->archive_set_error)
#define archive_write_close             (archivex()->archive_write_close)
#define archive_write_data              (archivex()->archive_write_data)
#define archive_write_free              (archivex()->archive_write_free)
#define archive_write_header            (archivex()->archive_write_header)
#define archive_write_new               (archivex()->archive_write_new)
#define archive_write_open2             (archivex()->archive_write_open2)
#define archive_write_set_format_pax_restricted                                                    \
    (archivex()->archive_write_set_format_pax_restricted)
#endif

#endif
