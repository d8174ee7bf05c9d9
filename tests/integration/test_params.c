/* Integration: every build parameter rule, with the reference's exact messages, through the
 * REST API of a real server. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

struct ctx {
    struct server s;
    json_t *t;
};

static const char *const PARAM_TEMPLATE[] = {
    "berth.yaml",
    "provision: ./provision\n"
    "parameters:\n"
    "  - name: region\n"
    "    type: string\n"
    "    default: eu\n"
    "    options:\n"
    "      - {name: Europe, value: eu}\n"
    "      - {name: America, value: us}\n"
    "  - name: cpus\n"
    "    display_name: CPU cores\n"
    "    type: number\n"
    "    default: 2\n"
    "    mutable: false\n"
    "    validation: {min: 1, max: 8}\n"
    "  - name: disk\n"
    "    type: number\n"
    "    default: 10\n"
    "    validation: {min: 1, max: 1000, monotonic: increasing}\n"
    "  - name: repo\n"
    "    type: string\n"
    "    default: https://example.com/r.git\n"
    "    validation: {regex: \"^https://\", error: must be an https URL}\n"
    "  - name: debug\n"
    "    type: bool\n"
    "    default: \"false\"\n"
    "  - name: tags\n"
    "    type: list(string)\n"
    "    default: '[\"a\"]'\n"
    "  - name: team\n"
    "    type: string\n"
    "  - name: note\n"
    "    type: string\n"
    "    default: none\n"
    "    ephemeral: true\n",
    "provision",
    "#!/bin/sh\nenv | grep '^BERTH_PARAM_' | sort\n",
    NULL,
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    c->t = make_template(&c->s, "params", PARAM_TEMPLATE);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    json_decref(c->t);
    server_destroy(&c->s);
    free(c);
    return 0;
}

/* POST a workspace with the given parameter JSON array; returns the status. */
static long post_workspace(struct ctx *c, const char *name, const char *params, struct resp *r)
{
    char *body = fmt("{\"name\":\"%s\",\"template_id\":\"%s\",\"rich_parameter_values\":%s}", name,
                     jsonx_get_str(c->t, "id", ""), params);
    long st = http_req(&c->s, "POST", "/api/v2/users/me/workspaces", c->s.owner_token, body, r);
    free(body);
    return st;
}

/* Asserts a 400 parameter failure for name with exactly detail. */
static void expect_param_error(const struct resp *r, const char *name, const char *detail)
{
    assert_int_equal(r->status, 400);
    char *msg = fmt("Unable to validate parameter \"%s\"", name);
    assert_string_equal(resp_message(r), msg);
    free(msg);
    assert_string_equal(jsonx_get_str(r->json, "detail", ""), detail);
    json_t *v = json_object_get(r->json, "validations");
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(jsonx_get_str(json_array_get(v, 0), "field", ""), name);
    assert_string_equal(jsonx_get_str(json_array_get(v, 0), "detail", ""), detail);
}

static const char *TEAM = "{\"name\":\"team\",\"value\":\"core\"}";

static void check(struct ctx *c, const char *extra, const char *name, const char *detail)
{
    char *params = fmt("[%s,%s]", TEAM, extra);
    struct resp r;
    post_workspace(c, "bad", params, &r);
    expect_param_error(&r, name, detail);
    resp_free(&r);
    free(params);
}

static void test_each_rule_on_create(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    post_workspace(c, "bad", "[]", &r);
    expect_param_error(&r, "team", "Parameter \"team\" is required but not provided");
    resp_free(&r);
    check(c, "{\"name\":\"region\",\"value\":\"mars\"}", "region",
          "can't validate build parameter \"region\": parameter value must match one of "
          "options: [eu us]");
    check(c, "{\"name\":\"cpus\",\"value\":\"0\"}", "cpus",
          "can't validate build parameter \"CPU cores\": value 0 is less than the minimum 1");
    check(c, "{\"name\":\"cpus\",\"value\":\"9\"}", "cpus",
          "can't validate build parameter \"CPU cores\": value 9 is more than the maximum 8");
    check(c, "{\"name\":\"cpus\",\"value\":\"two\"}", "cpus",
          "can't validate build parameter \"CPU cores\": value \"two\" is not a number");
    check(c, "{\"name\":\"repo\",\"value\":\"ftp://x\"}", "repo",
          "can't validate build parameter \"repo\": must be an https URL (value \"ftp://x\" "
          "does not match \"^https://\")");
    check(c, "{\"name\":\"debug\",\"value\":\"yes\"}", "debug",
          "can't validate build parameter \"debug\": boolean value can be either \"true\" or "
          "\"false\"");
    check(c, "{\"name\":\"tags\",\"value\":\"a,b\"}", "tags",
          "can't validate build parameter \"tags\": value \"a,b\" is not valid list of strings");
    check(c, "{\"name\":\"team\",\"value\":\"\"}", "team",
          "can't validate build parameter \"team\": parameter value is required");
    /* Wrong JSON types are refused before the builder, naming the field. */
    assert_int_equal(post_workspace(c, "bad", "[{\"name\":\"cpus\",\"value\":4}]", &r), 400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "field", ""),
        "rich_parameter_values");
    resp_free(&r);
    /* None of these created anything. */
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/workspaces", c->s.owner_token, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
    resp_free(&r);
}

static void test_resolution_across_builds(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    /* Unknown names are dropped; every declared parameter is stored. */
    assert_int_equal(post_workspace(c, "w1",
                                    "[{\"name\":\"team\",\"value\":\"core\"},"
                                    "{\"name\":\"cpus\",\"value\":\"4\"},"
                                    "{\"name\":\"disk\",\"value\":\"20\"},"
                                    "{\"name\":\"note\",\"value\":\"first\"},"
                                    "{\"name\":\"nonsense\",\"value\":\"x\"}]",
                                    &r),
                     201);
    char ws_id[64];
    str_copy(ws_id, sizeof ws_id, jsonx_get_str(r.json, "id", ""));
    json_t *b1 = wait_build(&c->s, c->s.owner_token,
                            jsonx_get_str(json_object_get(r.json, "latest_build"), "id", ""));
    resp_free(&r);
    assert_string_equal(jsonx_get_str(b1, "status", ""), "running");
    char *path = fmt("/api/v2/workspacebuilds/%s/parameters", jsonx_get_str(b1, "id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 8);
    resp_free(&r);
    free(path);
    /* The provision program saw them as BERTH_PARAM_* (logs). */
    path = fmt("/api/v2/workspacebuilds/%s/logs", jsonx_get_str(b1, "id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 200);
    assert_non_null(strstr(r.body, "BERTH_PARAM_CPUS=4"));
    assert_non_null(strstr(r.body, "BERTH_PARAM_NOTE=first"));
    resp_free(&r);
    free(path);
    json_decref(b1);

    /* Immutable: a different value is refused; the same value is fine. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, ws_id,
                                "{\"transition\":\"stop\",\"rich_parameter_values\":"
                                "[{\"name\":\"cpus\",\"value\":\"6\"}]}",
                                &r),
                     400);
    expect_param_error(&r, "cpus",
                       "Parameter \"cpus\" is not mutable, so it can't be updated after creating "
                       "a workspace.");
    resp_free(&r);
    /* Monotonic increasing: lower than before is refused. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, ws_id,
                                "{\"transition\":\"stop\",\"rich_parameter_values\":"
                                "[{\"name\":\"disk\",\"value\":\"15\"}]}",
                                &r),
                     400);
    expect_param_error(&r, "disk",
                       "can't validate build parameter \"disk\": parameter value must be equal or "
                       "greater than previous value: 20");
    resp_free(&r);
    /* A stop carries the previous values; the ephemeral one goes back to its default. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, ws_id, "{\"transition\":\"stop\"}", &r),
                     201);
    json_t *b2 = wait_build(&c->s, c->s.owner_token, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    assert_int_equal(json_integer_value(json_object_get(b2, "build_number")), 2);
    path = fmt("/api/v2/workspacebuilds/%s/parameters", jsonx_get_str(b2, "id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 200);
    size_t i;
    json_t *p;
    json_array_foreach(r.json, i, p)
    {
        const char *n = jsonx_get_str(p, "name", ""), *v = jsonx_get_str(p, "value", "");
        if (strcmp(n, "cpus") == 0)
            assert_string_equal(v, "4");
        if (strcmp(n, "disk") == 0)
            assert_string_equal(v, "20");
        if (strcmp(n, "team") == 0)
            assert_string_equal(v, "core");
        if (strcmp(n, "note") == 0)
            assert_string_equal(v, "none");
    }
    resp_free(&r);
    free(path);
    json_decref(b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_rule_on_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution_across_builds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
