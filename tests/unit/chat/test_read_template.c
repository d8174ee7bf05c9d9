/* Unit tests for read_template (reference §3.2): the errors in order, and the template and
 * active-version parameter fields. */
#include "testing.h"

#include "fake.h"

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    *state = fake_new();
    return 0;
}

static int teardown(void **state)
{
    fake_free(*state);
    return 0;
}

static json_t *read_ok(struct fake *f, const char *id)
{
    char args[128];
    snprintf(args, sizeof args, "{\"template_id\": \"%s\"}", id);
    return fake_ok(f, &tool_read_template, args);
}

static const char *read_error(struct fake *f, const char *id)
{
    char args[128];
    snprintf(args, sizeof args, "{\"template_id\": \"%s\"}", id);
    return fake_error(f, &tool_read_template, args);
}

static void test_input_errors(void **state)
{
    struct fake *f = *state;
    assert_string_equal(fake_error(f, &tool_read_template, NULL), "template_id is required");
    assert_string_equal(read_error(f, ""), "template_id is required");
    assert_string_equal(read_error(f, "  "), "template_id is required");
    assert_string_equal(fake_error(f, &tool_read_template, "{\"template_id\": 5}"),
                        "invalid parameters: \"template_id\" must be a string");
    assert_string_equal(read_error(f, "abc"), "invalid template_id: invalid UUID length: 3");
    assert_string_equal(read_error(f, "0190a0a0-0000-7000-8000-00000000000z"),
                        "invalid template_id: invalid UUID format");
    assert_string_equal(read_error(f, "0190a0a0x0000-7000-8000-000000000000"),
                        "invalid template_id: invalid UUID format");
    assert_int_equal(f->calls[FAKE_TEMPLATE_GET], 0);
}

static void test_not_found(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    struct template_row *other = fake_template(f, "other");

    assert_string_equal(read_error(f, "0190a0a0-0000-7000-8000-000000000000"),
                        "template not found");

    /* Not in the allowlist: refused before any lookup. */
    fake_allow(f, other->id);
    int gets = f->calls[FAKE_TEMPLATE_GET];
    assert_string_equal(read_error(f, t->id), "template not found");
    assert_int_equal(f->calls[FAKE_TEMPLATE_GET], gets);
    read_ok(f, other->id);

    /* A failed lookup and a deleted template read the same. */
    fake_fail(f, FAKE_TEMPLATE_GET, ERR_INTERNAL, "database is locked");
    assert_string_equal(read_error(f, other->id), "template not found");
    f->fail[FAKE_TEMPLATE_GET].on = false;
    other->deleted = true;
    assert_string_equal(read_error(f, other->id), "template not found");
}

static void test_parameters_error(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    fake_fail(f, FAKE_VERSION_PARAMS, ERR_INTERNAL, "no such table: parameters");
    assert_string_equal(read_error(f, t->id),
                        "failed to get template parameters: no such table: parameters");
}

static void test_template_fields(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    json_t *r = read_ok(f, t->id);
    fake_keys(r, "template", "parameters", NULL);
    json_t *info = json_object_get(r, "template");
    fake_keys(info, "id", "name", "active_version_id", NULL);
    assert_string_equal(fake_str(info, "id"), t->id);
    assert_string_equal(fake_str(info, "name"), "docker");
    assert_string_equal(fake_str(info, "active_version_id"), t->active_version_id);
    assert_true(json_is_array(json_object_get(r, "parameters")));
    assert_int_equal(json_array_size(json_object_get(r, "parameters")), 0);

    /* Trimmed display name and description (the description is not cut here); the id may come
     * in upper case and with spaces around it. */
    str_copy(t->display_name, sizeof t->display_name, " Docker ");
    free(t->description);
    struct buf b = BUF_INIT;
    for (int i = 0; i < 500; i++)
        buf_putc(&b, 'x');
    t->description = buf_take(&b);
    char *upper = str_upper(str_printf("  %s ", t->id));
    r = read_ok(f, upper);
    free(upper);
    info = json_object_get(r, "template");
    fake_keys(info, "id", "name", "active_version_id", "display_name", "description", NULL);
    assert_string_equal(fake_str(info, "display_name"), "Docker");
    assert_int_equal(strlen(fake_str(info, "description")), 500);
}

static void test_parameter_fields(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    const char *v = t->active_version_id;

    struct version_param *full = fake_param(f, v, "region");
    str_copy(full->display_name, sizeof full->display_name, " Region ");
    struct buf b = BUF_INIT;
    for (int i = 0; i < 310; i++)
        buf_puts(&b, "\xe2\x82\xac"); /* €: 3 bytes, 1 rune */
    full->description = buf_take(&b);
    full->default_value = xstrdup("eu");
    full->required = true;
    full->mutable_ = true;
    full->ephemeral = true;
    full->options = xstrdup("[{\"name\":\"Europe\",\"value\":\"eu\"},{\"name\":\"US\",\"value\":"
                            "\"us\"}]");
    full->validation_regex = xstrdup("^[a-z]+$");
    full->has_min = full->has_max = true;
    full->validation_min = 1;
    full->validation_max = 9;

    struct version_param *bare = fake_param(f, v, "size");
    str_copy(bare->type, sizeof bare->type, "number");
    bare->description = xstrdup("   ");
    bare->default_value = xstrdup("");
    bare->options = xstrdup("[]");
    bare->validation_regex = xstrdup("");
    bare->has_min = true;
    bare->validation_min = 0;

    fake_param(f, v, "null_options")->options = xstrdup("null");
    fake_param(f, v, "bad_options")->options = xstrdup("[oops");
    fake_param(f, v, "scalar_options")->options = xstrdup("[1, 2]");
    fake_param(f, "0190a0a0-0000-7000-8000-000000000000", "other_version");

    json_t *r = read_ok(f, t->id);
    json_t *params = json_object_get(r, "parameters");
    assert_int_equal(json_array_size(params), 5);

    json_t *p = json_array_get(params, 0);
    fake_keys(p, "name", "type", "required", "display_name", "description", "default", "mutable",
              "ephemeral", "options", "validation_regex", "validation_min", "validation_max", NULL);
    assert_string_equal(fake_str(p, "name"), "region");
    assert_string_equal(fake_str(p, "type"), "string");
    assert_true(fake_bool(p, "required"));
    assert_string_equal(fake_str(p, "display_name"), "Region");
    assert_int_equal(utf8_count(fake_str(p, "description")), 300);
    assert_int_equal(strlen(fake_str(p, "description")), 900);
    assert_string_equal(fake_str(p, "default"), "eu");
    assert_true(fake_bool(p, "mutable"));
    assert_true(fake_bool(p, "ephemeral"));
    json_t *want = json_loads("[{\"name\":\"Europe\",\"value\":\"eu\"},{\"name\":\"US\","
                              "\"value\":\"us\"}]",
                              0, NULL);
    assert_true(json_equal(json_object_get(p, "options"), want));
    json_decref(want);
    assert_string_equal(fake_str(p, "validation_regex"), "^[a-z]+$");
    assert_int_equal(fake_int(p, "validation_min"), 1);
    assert_int_equal(fake_int(p, "validation_max"), 9);

    /* Empty strings, false flags and "[]" are left out; a set minimum of 0 is kept. */
    p = json_array_get(params, 1);
    fake_keys(p, "name", "type", "required", "validation_min", NULL);
    assert_string_equal(fake_str(p, "type"), "number");
    assert_false(fake_bool(p, "required"));
    assert_int_equal(fake_int(p, "validation_min"), 0);
    for (size_t i = 2; i < 5; i++)
        fake_keys(json_array_get(params, i), "name", "type", "required", NULL);
    assert_int_equal(f->calls[FAKE_VERSION_PARAMS], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_input_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameter_fields, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
