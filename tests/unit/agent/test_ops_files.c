/* Unit tests for agent/ops, files: write_file and read_file round trips (new directories, modes,
 * symlinks, line selection), limits, non-text files, directory listings, and edit_files (all or
 * nothing across files, replace_all, ambiguous or missing search text).
 */
#include "ops_fixture.h"

#include "base/buf.h"

static void test_write_read_round_trip(void **state)
{
    struct fx *f = *state;
    char *abs = str_printf("%s/a/b/c.txt", f->dir);
    json_t *r = ok(f, write_req("a/b/c.txt", "one\ntwo\nthree\n"));
    assert_string_equal(sget(r, "path"), abs);
    assert_int_equal(iget(r, "bytes_written"), 14);
    json_decref(r);
    struct stat st;
    assert_int_equal(stat(abs, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    r = ok(f, read_req("a/b/c.txt", 0, 0));
    assert_string_equal(sget(r, "path"), abs);
    assert_string_equal(sget(r, "content"), "one\ntwo\nthree\n"); /* exact bytes */
    assert_int_equal(iget(r, "file_size"), 14);
    assert_int_equal(iget(r, "total_lines"), 3);
    assert_int_equal(iget(r, "lines_read"), 3);
    assert_false(bget(r, "truncated"));
    json_decref(r);

    /* Overwrite keeps the mode; an absolute path works too. */
    assert_int_equal(chmod(abs, 0600), 0);
    json_decref(ok(f, write_req(abs, "l1\nl2\nl3\nl4\nl5")));
    assert_int_equal(stat(abs, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_tmp(f->dir), 0);

    r = ok(f, read_req("./a/../a/b/c.txt", 2, 2));
    assert_string_equal(sget(r, "path"), abs);
    assert_string_equal(sget(r, "content"), "l2\nl3\n");
    assert_int_equal(iget(r, "total_lines"), 5);
    assert_int_equal(iget(r, "lines_read"), 2);
    json_decref(r);
    r = ok(f, read_req(abs, 4, 10));
    assert_string_equal(sget(r, "content"), "l4\nl5");
    assert_int_equal(iget(r, "lines_read"), 2);
    json_decref(r);
    r = ok(f, read_req(abs, 6, 0));
    assert_string_equal(sget(r, "content"), "");
    assert_int_equal(iget(r, "lines_read"), 0);
    assert_int_equal(iget(r, "total_lines"), 5);
    json_decref(r);

    /* Writing through a symlink replaces the file it points to, not the link. */
    char *link = str_printf("%s/link.txt", f->dir);
    assert_int_equal(symlink(abs, link), 0);
    json_decref(ok(f, write_req("link.txt", "via link\n")));
    struct stat lst;
    assert_int_equal(lstat(link, &lst), 0);
    assert_true(S_ISLNK(lst.st_mode));
    char *got = read_raw(abs);
    assert_string_equal(got, "via link\n");
    free(got);
    free(link);

    /* Empty files and content. */
    json_decref(ok(f, write_req("empty", "")));
    r = ok(f, read_req("empty", 0, 0));
    assert_string_equal(sget(r, "content"), "");
    assert_int_equal(iget(r, "total_lines"), 0);
    assert_int_equal(iget(r, "lines_read"), 0);
    json_decref(r);

    /* Errors. */
    char *msg = str_printf("%s/nope.txt: no such file or directory", f->dir);
    fails(f, read_req("nope.txt", 0, 0), ERR_NOT_FOUND, msg);
    free(msg);
    msg = str_printf("%s/a is a directory", f->dir);
    fails(f, write_req("a", "x"), ERR_BAD_REQUEST, msg);
    free(msg);
    msg = str_printf("%s/a/b/c.txt is not a directory", f->dir);
    fails(f, write_req("a/b/c.txt/d", "x"), ERR_BAD_REQUEST, msg);
    free(msg);
    free(abs);
}

static void test_read_limits(void **state)
{
    struct fx *f = *state;
    char *path = str_printf("%s/bin.dat", f->dir);
    write_raw(path, "ok\n\xFF\xFE\n", 6);
    char *msg = str_printf("%s is not a text file", path);
    fails(f, read_req("bin.dat", 0, 0), ERR_BAD_REQUEST, msg);
    free(msg);
    free(path);

    /* 300 KiB of lines: content is cut at 256 KiB on a character boundary. */
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; b.len < 300 * 1024; i++)
        buf_printf(&b,
                   "line %d \xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC and some more text to make it "
                   "long\n",
                   i);
    path = str_printf("%s/big.txt", f->dir);
    write_raw(path, b.data, b.len);
    json_t *r = ok(f, read_req("big.txt", 1, 10000));
    const char *content = sget(r, "content");
    size_t len = json_string_length(json_object_get(r, "content"));
    assert_true(bget(r, "truncated"));
    assert_true(len <= 256 * 1024);
    assert_true(len > 256 * 1024 - 4);
    assert_true(utf8_valid(content, len));
    assert_int_equal(iget(r, "file_size"), (json_int_t)b.len);
    json_decref(r);
    buf_free(&b);
    free(path);
}

static void test_read_directory(void **state)
{
    struct fx *f = *state;
    json_decref(ok(f, write_req("d/zeta.txt", "12345")));
    json_decref(ok(f, write_req("d/alpha.txt", "")));
    json_decref(ok(f, write_req("d/mid/inner.txt", "x")));
    json_t *r = ok(f, read_req("d", 0, 0));
    char *abs = str_printf("%s/d", f->dir);
    assert_string_equal(sget(r, "path"), abs);
    assert_true(bget(r, "is_directory"));
    assert_int_equal(iget(r, "total_entries"), 3);
    json_t *entries = json_object_get(r, "entries");
    assert_int_equal(json_array_size(entries), 3);
    const char *names[] = {"alpha.txt", "mid", "zeta.txt"};
    const bool dirs[] = {false, true, false};
    const int sizes[] = {0, 0, 5};
    for (size_t i = 0; i < 3; i++) {
        json_t *en = json_array_get(entries, i);
        assert_string_equal(sget(en, "name"), names[i]);
        assert_int_equal(bget(en, "is_dir"), dirs[i]);
        assert_int_equal(iget(en, "size"), sizes[i]);
    }
    json_decref(r);
    free(abs);
}

static json_t *edit(const char *search, const char *replace, bool all)
{
    return json_pack("{s:s, s:s, s:b}", "search", search, "replace", replace, "replace_all",
                     (int)all);
}

static void test_edit_files(void **state)
{
    struct fx *f = *state;
    char *p1 = str_printf("%s/one.txt", f->dir), *p2 = str_printf("%s/sub/two.txt", f->dir);
    json_decref(ok(f, write_req("one.txt", "alpha beta gamma\nbeta\n")));
    json_decref(ok(f, write_req("sub/two.txt", "x = 1;\ny = 2;\n")));

    /* Success across two files, edits applied in order, replace_all. */
    json_t *r = ok(f, json_pack("{s:s, s:[{s:s, s:[o, o]}, {s:s, s:[o]}]}", "type", "edit_files",
                                "files", "path", "one.txt", "edits", edit("beta", "BETA", true),
                                edit("BETA gamma", "delta", false), "path", p2, "edits",
                                edit("y = 2", "y = 3", false)));
    json_t *files = json_object_get(r, "files");
    assert_int_equal(json_array_size(files), 2);
    assert_string_equal(sget(json_array_get(files, 0), "path"), p1);
    assert_int_equal(iget(json_array_get(files, 0), "edits_applied"), 2);
    assert_string_equal(sget(json_array_get(files, 1), "path"), p2);
    assert_int_equal(iget(json_array_get(files, 1), "edits_applied"), 1);
    json_decref(r);
    char *c1 = read_raw(p1), *c2 = read_raw(p2);
    assert_string_equal(c1, "alpha delta\nBETA\n");
    assert_string_equal(c2, "x = 1;\ny = 3;\n");

    /* A failing second edit of the second file leaves BOTH files unchanged. */
    char *msg = str_printf("%s: edit 2: search text not found", p2);
    fails(f,
          json_pack("{s:s, s:[{s:s, s:[o]}, {s:s, s:[o, o]}]}", "type", "edit_files", "files",
                    "path", "one.txt", "edits", edit("alpha", "ALPHA", false), "path",
                    "sub/two.txt", "edits", edit("x = 1", "x = 9", false),
                    edit("absent", "z", false)),
          ERR_BAD_REQUEST, msg);
    free(msg);
    char *n1 = read_raw(p1), *n2 = read_raw(p2);
    assert_string_equal(n1, c1);
    assert_string_equal(n2, c2);
    free(n1);
    free(n2);
    assert_int_equal(count_tmp(f->dir), 0);

    /* Ambiguous search text. */
    json_decref(ok(f, write_req("amb.txt", "foo foo foo\n")));
    char *pa = str_printf("%s/amb.txt", f->dir);
    msg = str_printf("%s: edit 1: search text occurs 3 times; set replace_all or give more context",
                     pa);
    fails(f,
          json_pack("{s:s, s:[{s:s, s:[o]}]}", "type", "edit_files", "files", "path", "amb.txt",
                    "edits", edit("foo", "bar", false)),
          ERR_BAD_REQUEST, msg);
    free(msg);
    json_decref(ok(f, json_pack("{s:s, s:[{s:s, s:[o]}]}", "type", "edit_files", "files", "path",
                                "amb.txt", "edits", edit("foo", "bar", true))));
    n1 = read_raw(pa);
    assert_string_equal(n1, "bar bar bar\n");
    free(n1);

    /* Empty search text, a missing file. */
    msg = str_printf("%s: edit 1: search text is empty", pa);
    fails(f,
          json_pack("{s:s, s:[{s:s, s:[o]}]}", "type", "edit_files", "files", "path", "amb.txt",
                    "edits", edit("", "x", false)),
          ERR_BAD_REQUEST, msg);
    free(msg);
    msg = str_printf("%s/missing.txt: no such file or directory", f->dir);
    fails(f,
          json_pack("{s:s, s:[{s:s, s:[o]}]}", "type", "edit_files", "files", "path", "missing.txt",
                    "edits", edit("a", "b", false)),
          ERR_NOT_FOUND, msg);
    free(msg);
    free(pa);
    free(c1);
    free(c2);
    free(p1);
    free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
