/* Unit tests for template/tarball.h: archives built here with libarchive's writer (safe and
 * unsafe), deterministic packing, reading one file and extraction into temporary directories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"
#include "template/tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* One entry of an archive built by a test. */
struct spec {
    const char *path;
    unsigned type; /* AE_IFREG (0 means AE_IFREG), AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO */
    const char *data;
    unsigned perm; /* 0 means 0644 */
    const char *hardlink;
};

static la_ssize_t buf_write_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
    (void)a;
    return buf_append(ctx, p, n) == 0 ? (la_ssize_t)n : -1;
}

/* Writes the entries as a tar in the given libarchive format (e.g. ARCHIVE_FORMAT_TAR_USTAR). */
static void build_tar(struct buf *out, const struct spec *s, size_t n, int format)
{
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format(a, format), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(a, out, NULL, buf_write_cb, NULL, NULL), ARCHIVE_OK);
    struct archive_entry *ae = archive_entry_new();
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(ae);
        archive_entry_copy_pathname(ae, s[i].path);
        unsigned type = s[i].type ? s[i].type : AE_IFREG;
        archive_entry_set_filetype(ae, type);
        archive_entry_set_perm(ae, s[i].perm ? s[i].perm : 0644);
        if (type == AE_IFLNK)
            archive_entry_copy_symlink(ae, "/etc/passwd");
        if (type == AE_IFCHR)
            archive_entry_set_rdev(ae, makedev(1, 3));
        if (s[i].hardlink)
            archive_entry_copy_hardlink(ae, s[i].hardlink);
        size_t len = s[i].data ? strlen(s[i].data) : 0;
        archive_entry_set_size(ae, (la_int64_t)len);
        assert_true(archive_write_header(a, ae) >= ARCHIVE_WARN);
        if (len)
            assert_int_equal(archive_write_data(a, s[i].data, len), (la_ssize_t)len);
    }
    archive_entry_free(ae);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* tarball_index must fail on the archive with exactly kind and msg. */
static void expect_index_error(const struct spec *s, size_t n, enum err_kind kind, const char *msg)
{
    struct buf b = BUF_INIT;
    build_tar(&b, s, n, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    struct tar_index ix;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_index(b.data, b.len, &ix, &e), -1);
    assert_int_equal(e.kind, kind);
    assert_string_equal(e.message, msg);
    assert_null(ix.entries);
    assert_int_equal(ix.n, 0);
    err_clear(&e);
    buf_free(&b);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static char *make_temp_dir(void)
{
    char *dir = str_printf("%s/berth-tarball-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *dir, const char *rel, const char *data, mode_t mode)
{
    char *path = str_printf("%s/%s", dir, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    free(path);
}

static void make_dir(const char *dir, const char *rel)
{
    char *path = str_printf("%s/%s", dir, rel);
    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
}

/* The content of dir/rel (caller frees) and its mode in *mode. */
static char *read_back(const char *dir, const char *rel, mode_t *mode)
{
    char *path = str_printf("%s/%s", dir, rel);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    *mode = st.st_mode;
    char *data = calloc(1, (size_t)st.st_size + 1);
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
        close(fd);
    }
    free(path);
    return data;
}

static void test_index_lists_normalized_entries(void **state)
{
    (void)state;
    static const struct spec s[] = {
        {.path = "./", .type = AE_IFDIR, .perm = 0755},
        {.path = "./berth.yaml", .data = "provision: ./run\n"},
        {.path = "./run", .data = "#!/bin/sh\n", .perm = 0750},
        {.path = "sub/", .type = AE_IFDIR, .perm = 0700},
        {.path = "sub//./deep/file.txt", .data = "hello"},
    };
    static const int formats[] = {ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                                  ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, ARCHIVE_FORMAT_TAR_GNUTAR};
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++) {
        struct buf b = BUF_INIT;
        build_tar(&b, s, 5, formats[f]);
        struct tar_index ix;
        struct err e = ERR_INIT;
        assert_int_equal(tarball_index(b.data, b.len, &ix, &e), 0);
        assert_int_equal(ix.n, 4); /* the root "./" is not listed */
        assert_string_equal(ix.entries[0].path, "berth.yaml");
        assert_false(ix.entries[0].is_dir);
        assert_int_equal(ix.entries[0].size, 17);
        assert_int_equal(ix.entries[0].mode, 0644);
        assert_string_equal(ix.entries[1].path, "run");
        assert_int_equal(ix.entries[1].mode, 0750);
        assert_string_equal(ix.entries[2].path, "sub");
        assert_true(ix.entries[2].is_dir);
        assert_string_equal(ix.entries[3].path, "sub/deep/file.txt");
        assert_true(tarball_has_file(&ix, "berth.yaml"));
        assert_true(tarball_has_file(&ix, "./berth.yaml"));
        assert_true(tarball_has_file(&ix, "sub/deep/file.txt"));
        assert_false(tarball_has_file(&ix, "sub"));
        assert_false(tarball_has_file(&ix, "nothere"));
        assert_false(tarball_has_file(&ix, "../berth.yaml"));
        assert_false(tarball_has_file(NULL, "run"));
        tarball_index_free(&ix);
        assert_int_equal(ix.n, 0);
        buf_free(&b);
    }
}

static void test_index_rejects_unsafe_entries(void **state)
{
    (void)state;
    struct spec s[2] = {{.path = "ok.txt", .data = "fine"}};
    s[1] = (struct spec){.path = "../evil", .data = "x"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"../evil\" is unsafe: it contains a \"..\" path segment");
    s[1] = (struct spec){.path = "a/../../x"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"a/../../x\" is unsafe: it contains a \"..\" path segment");
    s[1] = (struct spec){.path = "/etc/passwd", .data = "root"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"/etc/passwd\" is unsafe: it is an absolute path");
    s[1] = (struct spec){.path = "link", .type = AE_IFLNK};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"link\" is unsafe: it is a symbolic link");
    s[1] = (struct spec){.path = "hard", .hardlink = "ok.txt"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"hard\" is unsafe: it is a hard link");
    s[1] = (struct spec){.path = "fifo", .type = AE_IFIFO};
    expect_index_error(s, 2, ERR_BAD_REQUEST, "Archive entry \"fifo\" is unsafe: it is a FIFO");
    s[1] = (struct spec){.path = "null", .type = AE_IFCHR};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"null\" is unsafe: it is a character device");
    s[1] = (struct spec){.path = "./ok.txt", .data = "again"};
    expect_index_error(s, 2, ERR_BAD_REQUEST, "Archive entry \"./ok.txt\" appears more than once");
    s[1] = (struct spec){.path = "ok.txt/inner", .data = "x"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"ok.txt/inner\" is unsafe: it is inside an entry that is "
                       "a file");
    s[0] = (struct spec){.path = "d/inner", .data = "x"};
    s[1] = (struct spec){.path = "d", .data = "x"};
    expect_index_error(s, 2, ERR_BAD_REQUEST,
                       "Archive entry \"d\" is unsafe: it is a file but other entries are inside "
                       "it");
    s[1] = (struct spec){.path = "d/", .type = AE_IFDIR}; /* an implied directory listed later */
    struct buf b = BUF_INIT;
    build_tar(&b, s, 2, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    struct tar_index ix;
    assert_int_equal(tarball_index(b.data, b.len, &ix, NULL), 0);
    assert_int_equal(ix.n, 2);
    tarball_index_free(&ix);
    buf_free(&b);
    s[0] = (struct spec){.path = "d/", .type = AE_IFDIR};
    expect_index_error(s, 2, ERR_BAD_REQUEST, "Archive entry \"d/\" appears more than once");
    /* names are quoted safely in messages */
    s[0] = (struct spec){.path = "../a\"b\n", .data = "x"};
    expect_index_error(s, 1, ERR_BAD_REQUEST,
                       "Archive entry \"../a\\\"b\\n\" is unsafe: it contains a \"..\" path "
                       "segment");
}

static void test_index_limits(void **state)
{
    (void)state;
    size_t n = TARBALL_MAX_ENTRIES + 1;
    struct spec *s = calloc(n, sizeof *s);
    char **names = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        names[i] = str_printf("f%05zu", i);
        s[i].path = names[i];
    }
    expect_index_error(s, n, ERR_BAD_REQUEST, "Archive has more than 10000 entries");
    /* exactly the limit is fine */
    struct buf b = BUF_INIT;
    build_tar(&b, s, n - 1, ARCHIVE_FORMAT_TAR_USTAR);
    struct tar_index ix;
    assert_int_equal(tarball_index(b.data, b.len, &ix, NULL), 0);
    assert_int_equal(ix.n, TARBALL_MAX_ENTRIES);
    tarball_index_free(&ix);
    buf_free(&b);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(s);

    /* an archive over 64 MiB is refused before reading it */
    struct err e = ERR_INIT;
    char *big = calloc(1, (size_t)TARBALL_MAX_BYTES + 1);
    assert_int_equal(tarball_index(big, (size_t)TARBALL_MAX_BYTES + 1, &ix, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_LARGE);
    assert_string_equal(e.message, "Archive is larger than 64 MiB");
    free(big);

    /* a header claiming 64 MiB + 1 bytes of content (ustar: octal size at 124, checksum at 148) */
    static const struct spec one[] = {{.path = "huge", .data = "x"}};
    build_tar(&b, one, 1, ARCHIVE_FORMAT_TAR_USTAR);
    unsigned char *h = (unsigned char *)b.data;
    memcpy(h + 124, "00400000001", 12);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    char chk[8];
    assert_int_equal(str_fmt(chk, sizeof chk, "%06o", sum), 0);
    memcpy(h + 148, chk, 7);
    assert_int_equal(tarball_index(b.data, b.len, &ix, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_LARGE);
    assert_string_equal(e.message, "Archive content is larger than 64 MiB");
    err_clear(&e);
    buf_free(&b);
}

static void test_index_rejects_garbage(void **state)
{
    (void)state;
    struct tar_index ix;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_index("{\"a\":1}", 7, &ix, &e), -1);
    assert_int_equal(e.kind, ERR_BAD_REQUEST);
    assert_string_equal(e.message, "File is not a valid tar archive: Unrecognized archive format");
    assert_int_equal(tarball_index("", 0, &ix, &e), -1);
    assert_string_equal(e.message, "File is not a valid tar archive: the file is empty");
    char junk[2048];
    memset(junk, 'A', sizeof junk);
    assert_int_equal(tarball_index(junk, sizeof junk, &ix, &e), -1);
    assert_string_equal(e.message, "File is not a valid tar archive: Unrecognized archive format");
    /* a truncated archive */
    static const struct spec s[] = {{.path = "a", .data = "0123456789"}, {.path = "b"}};
    struct buf b = BUF_INIT;
    build_tar(&b, s, 2, ARCHIVE_FORMAT_TAR_USTAR);
    assert_int_equal(tarball_index(b.data, 700, &ix, &e), -1);
    assert_int_equal(e.kind, ERR_BAD_REQUEST);
    assert_true(str_has_prefix(e.message, "File is not a valid tar archive: "));
    /* an empty archive (only the end blocks) is valid and empty */
    char zeros[1024] = {0};
    assert_int_equal(tarball_index(zeros, sizeof zeros, &ix, &e), 0);
    assert_int_equal(ix.n, 0);
    tarball_index_free(&ix);
    buf_free(&b);
    err_clear(&e);
}

static void test_read_one_file(void **state)
{
    (void)state;
    static const struct spec s[] = {
        {.path = "d", .type = AE_IFDIR},
        {.path = "./berth.yaml", .data = "provision: run\n"},
        {.path = "empty"},
    };
    struct buf b = BUF_INIT;
    build_tar(&b, s, 3, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    char *data;
    size_t len;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_read(b.data, b.len, "berth.yaml", 1024, &data, &len, &e), 0);
    assert_string_equal(data, "provision: run\n");
    assert_int_equal(len, 15);
    free(data);
    assert_int_equal(tarball_read(b.data, b.len, "./empty", 1024, &data, NULL, &e), 0);
    assert_string_equal(data, "");
    free(data);
    assert_int_equal(tarball_read(b.data, b.len, "berth.yaml", 15, &data, &len, &e), 0);
    free(data);
    assert_int_equal(tarball_read(b.data, b.len, "berth.yaml", 14, &data, &len, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_LARGE);
    assert_string_equal(e.message, "File \"berth.yaml\" is larger than 14 bytes");
    assert_null(data);
    assert_int_equal(tarball_read(b.data, b.len, "README.md", 1024, &data, &len, &e), -1);
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    assert_string_equal(e.message, "Archive has no file \"README.md\"");
    assert_int_equal(tarball_read(b.data, b.len, "d", 1024, &data, &len, &e), -1);
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    assert_int_equal(tarball_read(b.data, b.len, "../berth.yaml", 1024, &data, &len, &e), -1);
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    assert_int_equal(tarball_read("junk", 4, "berth.yaml", 1024, &data, &len, &e), -1);
    assert_int_equal(e.kind, ERR_BAD_REQUEST);
    err_clear(&e);
    buf_free(&b);
}

#define LONG_NAME                                                                                  \
    "a-file-name-well-over-one-hundred-bytes-long-so-that-ustar-cannot-hold-it-and-pax-must-"      \
    "write-an-extended-header.txt"

/* A small template tree with a .git directory that packing skips. */
static char *make_source_tree(void)
{
    char *src = make_temp_dir();
    write_file(src, "berth.yaml", "provision: ./provision\n", 0600);
    write_file(src, "provision", "#!/bin/sh\necho hi\n", 0700);
    make_dir(src, "sub");
    make_dir(src, "sub/deep");
    write_file(src, "sub/deep/notes.txt", "notes\n", 0640);
    write_file(src, "sub/run.sh", "exit 0\n", 0710);
    write_file(src, "sub-file", "dash sorts before slash\n", 0644);
    write_file(src, LONG_NAME, "long\n", 0644);
    make_dir(src, "empty");
    make_dir(src, ".git");
    write_file(src, ".git/config", "[core]\n", 0644);
    make_dir(src, "sub/.git");
    return src;
}

static void test_pack_is_deterministic(void **state)
{
    (void)state;
    char *src = make_source_tree();
    struct buf one = BUF_INIT, two = BUF_INIT;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_pack_dir(src, &one, 0, &e), 0);
    /* new mtimes and another order of creation give the same bytes */
    char *p = str_printf("%s/provision", src);
    struct timespec ts[2] = {{.tv_sec = 1000000}, {.tv_sec = 2000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
    write_file(src, "sub-file", "dash sorts before slash\n", 0644);
    assert_int_equal(tarball_pack_dir(src, &two, 0, &e), 0);
    assert_int_equal(one.len, two.len);
    assert_memory_equal(one.data, two.data, one.len);

    struct tar_index ix;
    assert_int_equal(tarball_index(one.data, one.len, &ix, &e), 0);
    static const char *const want[] = {LONG_NAME,   "berth.yaml", "empty",    "provision",
                                       "sub",       "sub-file",   "sub/deep", "sub/deep/notes.txt",
                                       "sub/run.sh"};
    assert_int_equal(ix.n, 9);
    for (size_t i = 0; i < ix.n; i++)
        assert_string_equal(ix.entries[i].path, want[i]);
    assert_int_equal(ix.entries[1].mode, 0644);
    assert_int_equal(ix.entries[2].mode, 0755);
    assert_int_equal(ix.entries[3].mode, 0755);
    assert_int_equal(ix.entries[7].mode, 0644);
    assert_int_equal(ix.entries[8].mode, 0755);
    assert_true(tarball_has_file(&ix, "./provision"));
    assert_false(tarball_has_file(&ix, ".git/config"));
    tarball_index_free(&ix);

    /* uid/gid 0, no names, mtime 0 */
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, one.data, one.len), ARCHIVE_OK);
    struct archive_entry *ae;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        assert_int_equal(archive_entry_mtime(ae), 0);
        assert_int_equal(archive_entry_uid(ae), 0);
        assert_int_equal(archive_entry_gid(ae), 0);
        assert_true(!archive_entry_uname(ae) || !*archive_entry_uname(ae));
        assert_true(!archive_entry_gname(ae) || !*archive_entry_gname(ae));
    }
    archive_read_free(a);

    char *data;
    assert_int_equal(tarball_read(one.data, one.len, "sub/deep/notes.txt", 100, &data, NULL, &e),
                     0);
    assert_string_equal(data, "notes\n");
    free(data);
    rm_tree(src);
    free(src);
    buf_free(&one);
    buf_free(&two);
}

static void test_pack_errors(void **state)
{
    (void)state;
    char *src = make_source_tree();
    struct buf b = BUF_INIT;
    buf_puts(&b, "keep");
    struct err e = ERR_INIT;
    assert_int_equal(tarball_pack_dir(src, &b, 1000, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_LARGE);
    assert_string_equal(e.message, "Archive would be larger than 1000 bytes");
    assert_string_equal(buf_str(&b), "keep"); /* the buffer keeps what it held */

    char *link = str_printf("%s/sub/link", src);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(tarball_pack_dir(src, &b, 0, &e), -1);
    assert_int_equal(e.kind, ERR_BAD_REQUEST);
    assert_string_equal(e.message, "Cannot pack \"sub/link\": it is a symbolic link");
    assert_int_equal(unlink(link), 0);
    free(link);

    char *fifo = str_printf("%s/fifo", src);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(tarball_pack_dir(src, &b, 0, &e), -1);
    assert_string_equal(e.message, "Cannot pack \"fifo\": it is a FIFO");
    assert_int_equal(unlink(fifo), 0);
    free(fifo);
    assert_string_equal(buf_str(&b), "keep");

    char *missing = str_printf("%s/missing", src);
    assert_int_equal(tarball_pack_dir(missing, &b, 0, &e), -1);
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    free(missing);
    rm_tree(src);
    free(src);
    buf_free(&b);
    err_clear(&e);
}

static void test_pack_entry_limit(void **state)
{
    (void)state;
    char *src = make_temp_dir();
    for (int i = 0; i <= TARBALL_MAX_ENTRIES; i++) {
        char name[32];
        assert_int_equal(str_fmt(name, sizeof name, "f%05d", i), 0);
        write_file(src, name, "", 0644);
    }
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_pack_dir(src, &b, 0, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_LARGE);
    assert_string_equal(e.message, "Directory has more than 10000 entries");
    rm_tree(src);
    free(src);
    buf_free(&b);
    err_clear(&e);
}

static void test_extract_round_trip(void **state)
{
    (void)state;
    char *src = make_source_tree();
    struct buf b = BUF_INIT;
    struct err e = ERR_INIT;
    assert_int_equal(tarball_pack_dir(src, &b, 0, &e), 0);
    char *dst = make_temp_dir();
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), 0);
    static const struct {
        const char *path;
        mode_t mode;
    } want[] = {
        {"berth.yaml", S_IFREG | 0644}, {"provision", S_IFREG | 0755},
        {"sub", S_IFDIR | 0755},        {"sub/deep", S_IFDIR | 0755},
        {"sub/run.sh", S_IFREG | 0755}, {"sub/deep/notes.txt", S_IFREG | 0644},
        {"sub-file", S_IFREG | 0644},   {LONG_NAME, S_IFREG | 0644},
        {"empty", S_IFDIR | 0755},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        mode_t mode_src, mode_dst;
        char *a = read_back(src, want[i].path, &mode_src);
        char *c = read_back(dst, want[i].path, &mode_dst);
        assert_string_equal(a, c);
        assert_int_equal(mode_dst, want[i].mode);
        free(a);
        free(c);
    }
    char *git = str_printf("%s/.git", dst);
    assert_int_equal(access(git, F_OK), -1);
    free(git);

    /* packing the extracted tree gives the same archive */
    struct buf again = BUF_INIT;
    assert_int_equal(tarball_pack_dir(dst, &again, 0, &e), 0);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    buf_free(&again);

    /* extracting over an existing tree overwrites regular files */
    write_file(dst, "berth.yaml", "changed", 0600);
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), 0);
    mode_t mode;
    char *c = read_back(dst, "berth.yaml", &mode);
    assert_string_equal(c, "provision: ./provision\n");
    assert_int_equal(mode, S_IFREG | 0644);
    free(c);
    rm_tree(src);
    rm_tree(dst);
    free(src);
    free(dst);
    buf_free(&b);
}

static void test_extract_creates_parents_and_modes(void **state)
{
    (void)state;
    static const struct spec s[] = {
        {.path = "./a/b/c.sh", .data = "x", .perm = 0100},
        {.path = "a/plain", .data = "y", .perm = 0600},
        {.path = "./d/", .type = AE_IFDIR, .perm = 0700},
    };
    struct buf b = BUF_INIT;
    build_tar(&b, s, 3, ARCHIVE_FORMAT_TAR_GNUTAR);
    char *dst = make_temp_dir();
    struct err e = ERR_INIT;
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), 0);
    mode_t mode;
    char *c = read_back(dst, "a/b/c.sh", &mode);
    assert_string_equal(c, "x");
    assert_int_equal(mode, S_IFREG | 0755);
    free(c);
    free(read_back(dst, "a/plain", &mode));
    assert_int_equal(mode, S_IFREG | 0644);
    free(read_back(dst, "a/b", &mode));
    assert_int_equal(mode, S_IFDIR | 0755);
    free(read_back(dst, "d", &mode));
    assert_int_equal(mode, S_IFDIR | 0755);
    rm_tree(dst);
    free(dst);
    buf_free(&b);
}

static void test_extract_is_safe(void **state)
{
    (void)state;
    char *dst = make_temp_dir();
    char *outside = make_temp_dir();
    struct err e = ERR_INIT;

    /* an unsafe archive writes nothing, even entries before the bad one */
    static const struct spec bad[] = {{.path = "first", .data = "1"},
                                      {.path = "../escape", .data = "2"}};
    struct buf b = BUF_INIT;
    build_tar(&b, bad, 2, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), -1);
    assert_string_equal(e.message,
                        "Archive entry \"../escape\" is unsafe: it contains a \"..\" path segment");
    char *first = str_printf("%s/first", dst);
    assert_int_equal(access(first, F_OK), -1);
    free(first);
    buf_reset(&b);

    /* a symbolic link already in the target is never followed, as a parent or as the file */
    char *link = str_printf("%s/sub", dst);
    assert_int_equal(symlink(outside, link), 0);
    free(link);
    static const struct spec through[] = {{.path = "sub/x", .data = "owned"}};
    build_tar(&b, through, 1, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), -1);
    assert_int_equal(e.kind, ERR_INTERNAL);
    assert_true(str_has_prefix(e.message, "Cannot extract \"sub/x\": "));
    buf_reset(&b);
    char *target = str_printf("%s/target", outside);
    write_file(outside, "target", "original", 0644);
    link = str_printf("%s/file", dst);
    assert_int_equal(symlink(target, link), 0);
    free(link);
    static const struct spec onto[] = {{.path = "file", .data = "owned"}};
    build_tar(&b, onto, 1, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    assert_int_equal(tarball_extract(b.data, b.len, dst, &e), -1);
    assert_true(str_has_prefix(e.message, "Cannot extract \"file\": "));
    mode_t mode;
    char *c = read_back(outside, "target", &mode);
    assert_string_equal(c, "original");
    free(c);
    char *x = str_printf("%s/x", outside);
    assert_int_equal(access(x, F_OK), -1);
    free(x);
    free(target);

    char *missing = str_printf("%s/missing", dst);
    assert_int_equal(tarball_extract(b.data, b.len, missing, &e), -1);
    assert_int_equal(e.kind, ERR_INTERNAL);
    free(missing);
    rm_tree(dst);
    rm_tree(outside);
    free(dst);
    free(outside);
    buf_free(&b);
    err_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_lists_normalized_entries),
        cmocka_unit_test(test_index_rejects_unsafe_entries),
        cmocka_unit_test(test_index_limits),
        cmocka_unit_test(test_index_rejects_garbage),
        cmocka_unit_test(test_read_one_file),
        cmocka_unit_test(test_pack_is_deterministic),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_pack_entry_limit),
        cmocka_unit_test(test_extract_round_trip),
        cmocka_unit_test(test_extract_creates_parents_and_modes),
        cmocka_unit_test(test_extract_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
