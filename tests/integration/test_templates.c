/* Integration: templates and versions, their imports, promotion, policy, and who may do what. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

struct ctx {
    struct server s;
    char member[64], admin[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->member);
    const char *roles[] = {"template-admin", NULL};
    server_create_user(&c->s, "tad", roles, c->admin);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    server_destroy(&c->s);
    free(c);
    return 0;
}

static const char *const FULL_TEMPLATE[] = {
    "berth.yaml",
    "display_name: Full\n"
    "description: Every kind of parameter\n"
    "provision: ./bin/provision\n"
    "provision_timeout: 2m\n"
    "parameters:\n"
    "  - name: region\n"
    "    display_name: Region\n"
    "    type: string\n"
    "    default: eu\n"
    "    options:\n"
    "      - {name: Europe, value: eu}\n"
    "      - {name: America, value: us}\n"
    "  - name: cpus\n"
    "    type: number\n"
    "    default: 2\n"
    "    mutable: false\n"
    "    validation: {min: 1, max: 8, monotonic: increasing}\n"
    "  - name: repo\n"
    "    type: string\n"
    "    validation: {regex: \"^https://\", error: must be an https URL}\n"
    "  - name: debug\n"
    "    type: bool\n"
    "    default: false\n"
    "    ephemeral: true\n"
    "agents:\n"
    "  - name: main\n"
    "    scripts:\n"
    "      - {name: setup, run_on_start: true, start_blocks_login: true, script: echo hi}\n",
    "bin/provision",
    "#!/bin/sh\nexit 0\n",
    "README.md",
    "# Full template\n",
    NULL,
};

/* Creates a template named name from a fresh version of files; returns the template JSON. */
static json_t *create_template(struct ctx *c, const char *name, const char *const *files)
{
    char *dir = make_dir(&c->s, files);
    json_t *v = push_version(&c->s, c->admin, dir, NULL);
    free(dir);
    assert_string_equal(jsonx_get_str(json_object_get(v, "job"), "status", ""), "succeeded");
    char *body =
        fmt("{\"name\":\"%s\",\"template_version_id\":\"%s\"}", name, jsonx_get_str(v, "id", ""));
    json_decref(v);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->admin, body, &r), 201);
    free(body);
    json_t *t = json_incref(r.json);
    resp_free(&r);
    return t;
}

static void test_import_stores_parameters_agents_readme(void **state)
{
    struct ctx *c = *state;
    json_t *t = create_template(c, "full", FULL_TEMPLATE);
    assert_string_equal(jsonx_get_str(t, "display_name", ""), "Full");
    assert_string_equal(jsonx_get_str(t, "description", ""), "Every kind of parameter");
    char *path = fmt("/api/v2/templateversions/%s", jsonx_get_str(t, "active_version_id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", path, c->member, NULL, &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "readme", ""), "# Full template\n");
    assert_string_equal(jsonx_get_str(r.json, "name", ""), "v1");
    assert_string_equal(jsonx_get_str(r.json, "template_id", ""), jsonx_get_str(t, "id", ""));
    resp_free(&r);
    free(path);
    path = fmt("/api/v2/templateversions/%s/rich-parameters",
               jsonx_get_str(t, "active_version_id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->member, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 4);
    json_t *region = json_array_get(r.json, 0);
    assert_string_equal(jsonx_get_str(region, "name", ""), "region");
    assert_string_equal(jsonx_get_str(region, "default_value", ""), "eu");
    assert_false(json_is_true(json_object_get(region, "required")));
    assert_int_equal(json_array_size(json_object_get(region, "options")), 2);
    json_t *cpus = json_array_get(r.json, 1);
    assert_string_equal(jsonx_get_str(cpus, "type", ""), "number");
    assert_false(json_is_true(json_object_get(cpus, "mutable")));
    assert_int_equal(json_integer_value(json_object_get(cpus, "validation_min")), 1);
    assert_int_equal(json_integer_value(json_object_get(cpus, "validation_max")), 8);
    assert_string_equal(jsonx_get_str(cpus, "validation_monotonic", ""), "increasing");
    json_t *repo = json_array_get(r.json, 2);
    assert_true(json_is_true(json_object_get(repo, "required")));
    assert_string_equal(jsonx_get_str(repo, "validation_error", ""), "must be an https URL");
    json_t *debug = json_array_get(r.json, 3);
    assert_true(json_is_true(json_object_get(debug, "ephemeral")));
    resp_free(&r);
    free(path);
    json_decref(t);
}

/* Pushes a version whose manifest is yaml and asserts the import fails with exactly msg. */
static void expect_import_error(struct ctx *c, const char *yaml, const char *msg)
{
    const char *files[] = {"berth.yaml", yaml, "provision", "#!/bin/sh\n", NULL};
    char *dir = make_dir(&c->s, files);
    json_t *v = push_version(&c->s, c->admin, dir, NULL);
    free(dir);
    json_t *job = json_object_get(v, "job");
    assert_string_equal(jsonx_get_str(job, "status", ""), "failed");
    assert_string_equal(jsonx_get_str(job, "error", ""), msg);
    /* The failure is also in the import logs. */
    char *path = fmt("/api/v2/templateversions/%s/logs", jsonx_get_str(v, "id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", path, c->admin, NULL, &r), 200);
    bool found = false;
    size_t i;
    json_t *l;
    json_array_foreach(r.json, i, l)
    {
        if (strcmp(jsonx_get_str(l, "output", ""), msg) == 0) {
            found = true;
            assert_string_equal(jsonx_get_str(l, "log_level", ""), "error");
        }
    }
    assert_true(found);
    resp_free(&r);
    free(path);
    json_decref(v);
}

static void test_manifest_mistakes_fail_the_import_naming_the_field(void **state)
{
    struct ctx *c = *state;
    expect_import_error(c,
                        "provision: ./provision\nparameters:\n"
                        "  - {name: cpus, type: number, default: 2,"
                        " validation: {regex: \"^[0-9]+$\", error: digits}}\n",
                        "parameters[0] (cpus).validation.regex: only string parameters may set a "
                        "regex");
    expect_import_error(c,
                        "provision: ./provision\nparameters:\n"
                        "  - {name: repo, type: string, validation: {regex: \"^https://\"}}\n",
                        "parameters[0] (repo).validation.error: a regex needs error text");
    expect_import_error(c,
                        "provision: ./provision\nparameters:\n"
                        "  - {name: zone, type: string, default: a, validation: {min: 1}}\n",
                        "parameters[0] (zone).validation.min: only number parameters may set min");
    expect_import_error(c,
                        "provision: ./provision\nparameters:\n"
                        "  - {name: region, type: string, default: a}\n"
                        "  - {name: region, type: string, default: b}\n",
                        "parameters[1] (region).name: duplicate parameter name \"region\"");
    expect_import_error(c, "provision: ./provision\nagents:\n  - name: Main_Box\n",
                        "agents[0] (Main_Box).name: \"Main_Box\" is not a valid agent name "
                        "(lower-case letters, digits and single hyphens)");
    expect_import_error(c, "provision: ./nothere\n",
                        "provision: ./nothere is not a file in the archive");
    expect_import_error(c, "display_name: x\n", "provision: is required");
    expect_import_error(c,
                        "provision: ./provision\nparameters:\n"
                        "  - name: size\n    type: string\n    default: huge\n"
                        "    options:\n      - {name: Small, value: small}\n"
                        "      - {name: Large, value: large}\n",
                        "parameters[0] (size).default: \"huge\" is not one of the options");
}

static void test_promote_requires_a_succeeded_import(void **state)
{
    struct ctx *c = *state;
    json_t *t = create_template(c, "promo", FULL_TEMPLATE);
    const char *tid = jsonx_get_str(t, "id", "");
    const char *bad[] = {"berth.yaml", "provision: ./missing\n", NULL};
    char *dir = make_dir(&c->s, bad);
    json_t *v = push_version(&c->s, c->admin, dir, tid);
    free(dir);
    assert_string_equal(jsonx_get_str(json_object_get(v, "job"), "status", ""), "failed");
    assert_string_equal(jsonx_get_str(v, "name", ""), "v2");
    char *path = fmt("/api/v2/templates/%s/versions", tid);
    char *body = fmt("{\"id\":\"%s\"}", jsonx_get_str(v, "id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "PATCH", path, c->admin, body, &r), 403);
    assert_string_equal(resp_message(&r),
                        "Only versions that have been built successfully can be promoted.");
    resp_free(&r);
    free(body);
    /* A good version promotes; the template's active version changes. */
    dir = make_dir(&c->s, FULL_TEMPLATE);
    json_t *v3 = push_version(&c->s, c->admin, dir, tid);
    free(dir);
    body = fmt("{\"id\":\"%s\"}", jsonx_get_str(v3, "id", ""));
    assert_int_equal(http_req(&c->s, "PATCH", path, c->member, body, &r), 403);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "PATCH", path, c->admin, body, &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "active_version_id", ""),
                        jsonx_get_str(v3, "id", ""));
    resp_free(&r);
    free(body);
    /* Versions are listed oldest first. */
    assert_int_equal(http_req(&c->s, "GET", path, c->member, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 3);
    assert_string_equal(jsonx_get_str(json_array_get(r.json, 0), "name", ""), "v1");
    assert_string_equal(jsonx_get_str(json_array_get(r.json, 2), "name", ""), "v3");
    resp_free(&r);
    /* The active version cannot be archived; another can, and then cannot be promoted. */
    char *arch = fmt("/api/v2/templateversions/%s/archive", jsonx_get_str(v3, "id", ""));
    assert_int_equal(http_req(&c->s, "POST", arch, c->admin, NULL, &r), 400);
    resp_free(&r);
    free(arch);
    arch = fmt("/api/v2/templateversions/%s/archive", jsonx_get_str(t, "active_version_id", ""));
    assert_int_equal(http_req(&c->s, "POST", arch, c->member, NULL, &r), 403);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", arch, c->admin, NULL, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "archived")));
    resp_free(&r);
    free(arch);
    body = fmt("{\"id\":\"%s\"}", jsonx_get_str(t, "active_version_id", ""));
    assert_int_equal(http_req(&c->s, "PATCH", path, c->admin, body, &r), 400);
    assert_string_equal(resp_message(&r), "The template version is archived.");
    resp_free(&r);
    free(body);
    free(path);
    json_decref(v);
    json_decref(v3);
    json_decref(t);
}

static void test_policy_is_for_template_admins(void **state)
{
    struct ctx *c = *state;
    json_t *t = create_template(c, "policy", FULL_TEMPLATE);
    char *path = fmt("/api/v2/templates/%s", jsonx_get_str(t, "id", ""));
    struct resp r;
    const char *patch = "{\"require_active_version\":true,\"deprecation_message\":\"use v2\"}";
    assert_int_equal(http_req(&c->s, "PATCH", path, c->member, patch, &r), 403);
    assert_string_equal(resp_message(&r), "Forbidden.");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "PATCH", path, c->admin, patch, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "require_active_version")));
    assert_true(json_is_true(json_object_get(r.json, "deprecated")));
    assert_string_equal(jsonx_get_str(r.json, "deprecation_message", ""), "use v2");
    resp_free(&r);
    /* Wrong types name the field; nothing changes. */
    assert_int_equal(
        http_req(&c->s, "PATCH", path, c->admin, "{\"require_active_version\":\"yes\"}", &r), 400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "require_active_version");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "PATCH", path, NULL, patch, &r), 401);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "GET", path, c->member, NULL, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "require_active_version")));
    resp_free(&r);
    /* Undeprecate with an empty message. */
    assert_int_equal(
        http_req(&c->s, "PATCH", path, c->s.owner_token, "{\"deprecation_message\":\"\"}", &r),
        200);
    assert_false(json_is_true(json_object_get(r.json, "deprecated")));
    resp_free(&r);
    free(path);
    json_decref(t);
}

static void test_member_permissions_on_every_template_endpoint(void **state)
{
    struct ctx *c = *state;
    json_t *t = create_template(c, "perm", FULL_TEMPLATE);
    const char *tid = jsonx_get_str(t, "id", "");
    const char *vid = jsonx_get_str(t, "active_version_id", "");
    struct resp r;
    /* Reads are open to members. */
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/templates", c->member, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 1);
    resp_free(&r);
    char *p = fmt("/api/v2/templates/%s", tid);
    assert_int_equal(http_req(&c->s, "GET", p, c->member, NULL, &r), 200);
    resp_free(&r);
    free(p);
    p = fmt("/api/v2/templates/%s/versions", tid);
    assert_int_equal(http_req(&c->s, "GET", p, c->member, NULL, &r), 200);
    resp_free(&r);
    free(p);
    p = fmt("/api/v2/templateversions/%s/logs", vid);
    assert_int_equal(http_req(&c->s, "GET", p, c->member, NULL, &r), 200);
    resp_free(&r);
    free(p);
    /* Writes are not: uploads, versions, templates. */
    size_t len;
    char *dir = make_dir(&c->s, MINIMAL_TEMPLATE);
    void *tar = pack_dir(dir, &len);
    free(dir);
    assert_int_equal(
        http_raw(&c->s, "POST", "/api/v2/files", c->member, tar, len, "application/x-tar", &r),
        403);
    resp_free(&r);
    assert_int_equal(
        http_raw(&c->s, "POST", "/api/v2/files", c->admin, tar, len, "application/x-tar", &r), 201);
    char hash[80];
    str_copy(hash, sizeof hash, jsonx_get_str(r.json, "hash", ""));
    resp_free(&r);
    /* The same bytes again: 200 and the same hash. */
    assert_int_equal(
        http_raw(&c->s, "POST", "/api/v2/files", c->admin, tar, len, "application/x-tar", &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "hash", ""), hash);
    resp_free(&r);
    free(tar);
    /* Members cannot read files at all: 404. */
    p = fmt("/api/v2/files/%s", hash);
    assert_int_equal(http_req(&c->s, "GET", p, c->member, NULL, &r), 404);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "GET", p, c->admin, NULL, &r), 200);
    assert_int_equal(r.len, len);
    resp_free(&r);
    free(p);
    char *body = fmt("{\"file_id\":\"%s\"}", hash);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templateversions", c->member, body, &r), 403);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templateversions", c->admin, body, &r), 201);
    char *unattached = fmt("/api/v2/templateversions/%s", jsonx_get_str(r.json, "id", ""));
    char *create =
        fmt("{\"name\":\"other\",\"template_version_id\":\"%s\"}", jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    free(body);
    /* A version attached to no template is hidden from members. */
    assert_int_equal(http_req(&c->s, "GET", unattached, c->member, NULL, &r), 404);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->member, create, &r), 403);
    resp_free(&r);
    json_decref(wait_version(&c->s, c->admin, strrchr(unattached, '/') + 1));
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->s.owner_token, create, &r),
                     201);
    resp_free(&r);
    /* Template names are unique (case-insensitively). */
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/templates", c->admin,
                              "{\"name\":\"PERM\",\"template_version_id\":\"x\"}", &r),
                     400);
    resp_free(&r);
    free(unattached);
    free(create);
    /* Unknown ids are 404 for everyone. */
    assert_int_equal(http_req(&c->s, "GET",
                              "/api/v2/templates/01a20abe-0000-7000-8000-000000000000",
                              c->s.owner_token, NULL, &r),
                     404);
    resp_free(&r);
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/templateversions/not-a-uuid", c->s.owner_token, NULL, &r),
        404);
    resp_free(&r);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_stores_parameters_agents_readme, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_manifest_mistakes_fail_the_import_naming_the_field,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_requires_a_succeeded_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_is_for_template_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_permissions_on_every_template_endpoint, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
