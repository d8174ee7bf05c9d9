/* Integration: bad input gets a clear 4xx naming the problem; the server keeps serving and
 * nothing stored is damaged. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct server s;
    json_t *tmpl; /* a template created before the abuse */
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    char *dir = make_dir(&c->s, MINIMAL_TEMPLATE);
    json_t *v = push_version(&c->s, c->s.owner_token, dir, NULL);
    free(dir);
    char *body =
        fmt("{\"name\":\"keep\",\"template_version_id\":\"%s\"}", jsonx_get_str(v, "id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->s.owner_token, body, &r), 201);
    c->tmpl = json_incref(r.json);
    resp_free(&r);
    free(body);
    json_decref(v);
    *state = c;
    return 0;
}

/* The server still answers and the template created in setup is intact. */
static void assert_healthy(struct ctx *c)
{
    struct resp r;
    char *path = fmt("/api/v2/templates/%s", jsonx_get_str(c->tmpl, "id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "name", ""), "keep");
    assert_string_equal(jsonx_get_str(r.json, "active_version_id", ""),
                        jsonx_get_str(c->tmpl, "active_version_id", ""));
    resp_free(&r);
    free(path);
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    assert_healthy(c);
    json_decref(c->tmpl);
    server_destroy(&c->s);
    free(c);
    return 0;
}

static void test_malformed_json_and_wrong_types(void **state)
{
    struct ctx *c = *state;
    const char *tok = c->s.owner_token;
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok, "{\"name\": ", &r), 400);
    assert_string_equal(resp_message(&r), "Request body must be valid JSON.");
    assert_true(strlen(jsonx_get_str(r.json, "detail", "")) > 0);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok, "[1,2]", &r), 400);
    assert_string_equal(resp_message(&r), "Request body must be a JSON object.");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok, "", &r), 400);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok,
                              "{\"name\":42,\"template_version_id\":1}", &r),
                     400);
    assert_string_equal(resp_message(&r), "Validation failed.");
    json_t *v0 = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v0, "field", ""), "name");
    assert_string_equal(jsonx_get_str(v0, "detail", ""), "must be a string");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok, "{\"name\":\"ok\"}", &r),
                     400);
    v0 = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v0, "field", ""), "template_version_id");
    assert_string_equal(jsonx_get_str(v0, "detail", ""), "is required");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", tok,
                              "{\"name\":\"bad name!\",\"template_version_id\":\"x\"}", &r),
                     400);
    v0 = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v0, "field", ""), "name");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/users/me/keys/tokens", tok,
                              "{\"lifetime_seconds\":\"soon\"}", &r),
                     400);
    v0 = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v0, "field", ""), "lifetime_seconds");
    resp_free(&r);
    /* Duplicate keys are refused rather than silently picking one. */
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templateversions", tok,
                              "{\"file_id\":1,\"file_id\":2}", &r),
                     400);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templateversions", tok,
                              "{\"file_id\":\"0000000000000000000000000000000000000000000000000000"
                              "000000000000\"}",
                              &r),
                     400);
    v0 = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v0, "field", ""), "file_id");
    resp_free(&r);
}

static void test_oversized_bodies_get_413(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    size_t n = 1024 * 1024 + 10;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->s.owner_token, big, &r), 413);
    assert_string_equal(resp_message(&r), "Request body too large.");
    resp_free(&r);
    free(big);
    /* Uploads allow 64 MiB; one byte more is refused. */
    n = 64u * 1024 * 1024 + 1;
    big = calloc(1, n);
    long st =
        http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, big, n, "application/x-tar", &r);
    assert_int_equal(st, 413);
    resp_free(&r);
    free(big);
}

static void test_non_tar_uploads_are_refused(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    const char *junk = "{\"this\": \"is json, not a tar archive\"}";
    assert_int_equal(http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, junk, strlen(junk),
                              "application/x-tar", &r),
                     400);
    assert_true(str_has_prefix(resp_message(&r), "File is not a valid tar archive"));
    resp_free(&r);
    assert_int_equal(
        http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, "", 0, "application/x-tar", &r),
        400);
    resp_free(&r);
    assert_int_equal(
        http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, "x", 1, "text/plain", &r), 400);
    assert_string_equal(resp_message(&r), "Unsupported content type \"text/plain\".");
    resp_free(&r);
}

struct tar_spec {
    const char *path;
    int type; /* AE_IFREG, AE_IFLNK, AE_IFCHR... */
    const char *content_or_target;
};

static void *make_tar(const struct tar_spec *entries, size_t n, size_t *len)
{
    size_t cap = 1 << 20;
    char *out = calloc(1, cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_memory(a, out, cap, len);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, entries[i].path);
        archive_entry_set_filetype(e, (unsigned)entries[i].type);
        archive_entry_set_perm(e, 0644);
        size_t clen = 0;
        if (entries[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, entries[i].content_or_target);
        else if (entries[i].type == AE_IFREG)
            clen = strlen(entries[i].content_or_target);
        archive_entry_set_size(e, (la_int64_t)clen);
        archive_write_header(a, e);
        if (clen)
            archive_write_data(a, entries[i].content_or_target, clen);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

static void expect_unsafe(struct ctx *c, const struct tar_spec *spec, const char *needle)
{
    struct tar_spec entries[2] = {{"berth.yaml", AE_IFREG, "provision: ./p\n"}, *spec};
    size_t len;
    void *tar = make_tar(entries, 2, &len);
    struct resp r;
    assert_int_equal(http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, tar, len,
                              "application/x-tar", &r),
                     400);
    const char *msg = resp_message(&r);
    if (!strstr(msg, needle))
        fail_msg("message \"%s\" does not name \"%s\"", msg, needle);
    resp_free(&r);
    free(tar);
}

static void test_unsafe_tar_entries_are_refused(void **state)
{
    struct ctx *c = *state;
    struct tar_spec dotdot = {"../evil", AE_IFREG, "x"};
    expect_unsafe(c, &dotdot, "../evil");
    struct tar_spec inner = {"a/../../evil", AE_IFREG, "x"};
    expect_unsafe(c, &inner, "a/../../evil");
    struct tar_spec absolute = {"/etc/passwd", AE_IFREG, "x"};
    expect_unsafe(c, &absolute, "/etc/passwd");
    struct tar_spec link = {"link", AE_IFLNK, "/etc/passwd"};
    expect_unsafe(c, &link, "link");
    struct tar_spec dev = {"dev", AE_IFCHR, ""};
    expect_unsafe(c, &dev, "dev");
    /* A safe archive built the same way is accepted. */
    struct tar_spec ok[2] = {{"berth.yaml", AE_IFREG, "provision: ./p\n"},
                             {"./p", AE_IFREG, "#!/bin/sh\n"}};
    size_t len;
    void *tar = make_tar(ok, 2, &len);
    struct resp r;
    assert_int_equal(http_raw(&c->s, "POST", "/api/v2/files", c->s.owner_token, tar, len,
                              "application/x-tar", &r),
                     201);
    resp_free(&r);
    free(tar);
}

static void test_unknown_routes_methods_and_ids(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/nope", c->s.owner_token, NULL, &r), 404);
    assert_true(str_has_prefix(resp_message(&r), "Route not found"));
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "DELETE", "/api/v2/buildinfo", NULL, NULL, &r), 405);
    resp_free(&r);
    const char *ids[] = {"/api/v2/templates/00000000-0000-0000-0000-000000000000",
                         "/api/v2/templates/%2e%2e%2fetc",
                         "/api/v2/templateversions/01a20abe-0000-7000-8000-000000000000",
                         "/api/v2/templateversions/x/rich-parameters",
                         "/api/v2/users/ghost",
                         "/api/v2/files/abc",
                         NULL};
    for (int i = 0; ids[i]; i++) {
        assert_int_equal(http_req(&c->s, "GET", ids[i], c->s.owner_token, NULL, &r), 404);
        resp_free(&r);
    }
    assert_int_equal(http_req(&c->s, "GET",
                              "/api/v2/templateversions/01a20abe-0000-7000-8000-000000000000/"
                              "logs?after=-3",
                              c->s.owner_token, NULL, &r),
                     404);
    resp_free(&r);
    char *path = fmt("/api/v2/templateversions/%s/logs?after=abc",
                     jsonx_get_str(c->tmpl, "active_version_id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "after");
    resp_free(&r);
    free(path);
}

static void test_huge_headers_are_refused(void **state)
{
    struct ctx *c = *state;
    size_t n = 64 * 1024;
    char *h = malloc(n + 16);
    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'a', n);
    h[7 + n] = '\0';
    const char *hdrs[] = {h, NULL};
    struct resp r;
    long st = http_full(&c->s, "GET", "/api/v2/buildinfo", NULL, hdrs, NULL, 0, NULL, &r);
    assert_true(st >= 400 && st < 500);
    resp_free(&r);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malformed_json_and_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_bodies_get_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_tar_uploads_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_tar_entries_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_routes_methods_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_headers_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
