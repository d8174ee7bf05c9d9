/* Unit tests for list_templates (reference §3.1): filters, popularity order, paging and the
 * fields of each template. */
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

/* The names of the listed templates, comma-separated (caller frees). */
static char *names(const json_t *r)
{
    struct buf b = BUF_INIT;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(r, "templates"), i, t)
    {
        buf_printf(&b, "%s%s", i ? "," : "", fake_str(t, "name"));
    }
    return buf_take(&b);
}

static void assert_names(const json_t *r, const char *want)
{
    char *got = names(r);
    assert_string_equal(got, want);
    free(got);
}

static void test_fields(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "docker");
    str_copy(t->display_name, sizeof t->display_name, "  Docker containers ");
    free(t->description);
    t->description = xstrdup("\n Develop in a container.  ");
    fake_template_entry(f, t->id)->owners = 3;
    struct template_row *bare = fake_template(f, "bare");
    str_copy(bare->display_name, sizeof bare->display_name, "   ");

    json_t *r = fake_ok(f, &tool_list_templates, NULL);
    fake_keys(r, "templates", "count", "page", "total_pages", "total_count", NULL);
    assert_int_equal(fake_int(r, "count"), 2);
    assert_int_equal(fake_int(r, "page"), 1);
    assert_int_equal(fake_int(r, "total_pages"), 1);
    assert_int_equal(fake_int(r, "total_count"), 2);
    json_t *list = json_object_get(r, "templates");
    json_t *d = json_array_get(list, 0);
    fake_keys(d, "id", "name", "display_name", "description", "active_developers", NULL);
    assert_string_equal(fake_str(d, "id"), t->id);
    assert_string_equal(fake_str(d, "name"), "docker");
    assert_string_equal(fake_str(d, "display_name"), "Docker containers");
    assert_string_equal(fake_str(d, "description"), "Develop in a container.");
    assert_int_equal(fake_int(d, "active_developers"), 3);
    /* Blank display name and description, nobody using it: only id and name. */
    json_t *b = json_array_get(list, 1);
    fake_keys(b, "id", "name", NULL);
    assert_string_equal(fake_str(b, "name"), "bare");
}

static void test_description_cut_by_runes(void **state)
{
    struct fake *f = *state;
    struct template_row *t = fake_template(f, "long");
    struct buf b = BUF_INIT;
    for (int i = 0; i < 250; i++)
        buf_puts(&b, "\xc3\xa9"); /* é: 2 bytes, 1 rune */
    free(t->description);
    t->description = buf_take(&b);

    json_t *r = fake_ok(f, &tool_list_templates, NULL);
    const char *d = fake_str(json_array_get(json_object_get(r, "templates"), 0), "description");
    assert_int_equal(strlen(d), 400);
    assert_int_equal(utf8_count(d), 200);
}

static void test_sorted_by_active_developers(void **state)
{
    struct fake *f = *state;
    const char *order[] = {"a", "b", "c", "d", "e"};
    int64_t owners[] = {0, 5, 2, 5, 0};
    for (size_t i = 0; i < 5; i++)
        fake_template_entry(f, fake_template(f, order[i])->id)->owners = owners[i];
    /* Most used first; ties keep the name order (a stable sort). */
    json_t *r = fake_ok(f, &tool_list_templates, NULL);
    assert_names(r, "b,d,c,a,e");
    assert_int_equal(f->calls[FAKE_TEMPLATE_OWNERS], 5);

    /* A failing count only costs the order. */
    fake_fail(f, FAKE_TEMPLATE_OWNERS, ERR_INTERNAL, "boom");
    r = fake_ok(f, &tool_list_templates, NULL);
    assert_names(r, "a,b,c,d,e");
    assert_null(
        json_object_get(json_array_get(json_object_get(r, "templates"), 1), "active_developers"));
}

static void test_filters(void **state)
{
    struct fake *f = *state;
    fake_template(f, "python");
    struct template_row *old = fake_template(f, "python-old");
    free(old->deprecated);
    old->deprecated = xstrdup("Use python instead.");
    fake_template(f, "gone")->deleted = true;
    struct template_row *go = fake_template(f, "golang");
    str_copy(go->display_name, sizeof go->display_name, "Go Toolchain");
    fake_template(f, "rust");

    json_t *r = fake_ok(f, &tool_list_templates, NULL);
    assert_names(r, "golang,python,rust");
    assert_int_equal(fake_int(r, "total_count"), 3);

    /* The query is trimmed and matched in the name or display name, ignoring case. */
    assert_names(fake_ok(f, &tool_list_templates, "{\"query\": \"  PYTH \"}"), "python");
    assert_names(fake_ok(f, &tool_list_templates, "{\"query\": \"toolchain\"}"), "golang");
    assert_names(fake_ok(f, &tool_list_templates, "{\"query\": \"   \"}"), "golang,python,rust");
    r = fake_ok(f, &tool_list_templates, "{\"query\": \"java\"}");
    assert_names(r, "");
    assert_int_equal(fake_int(r, "count"), 0);
    assert_int_equal(fake_int(r, "total_pages"), 1);
    assert_int_equal(fake_int(r, "total_count"), 0);

    /* An allowlist restricts the list. */
    fake_allow(f, go->id);
    fake_allow(f, old->id);
    assert_names(fake_ok(f, &tool_list_templates, NULL), "golang");
}

static void test_paging(void **state)
{
    struct fake *f = *state;
    char name[16];
    for (int i = 0; i < 13; i++) {
        snprintf(name, sizeof name, "t%02d", i);
        fake_template(f, name);
    }
    json_t *r = fake_ok(f, &tool_list_templates, NULL);
    assert_int_equal(fake_int(r, "count"), 10);
    assert_int_equal(fake_int(r, "page"), 1);
    assert_int_equal(fake_int(r, "total_pages"), 2);
    assert_int_equal(fake_int(r, "total_count"), 13);
    assert_names(r, "t00,t01,t02,t03,t04,t05,t06,t07,t08,t09");

    r = fake_ok(f, &tool_list_templates, "{\"page\": 2}");
    assert_int_equal(fake_int(r, "count"), 3);
    assert_int_equal(fake_int(r, "page"), 2);
    assert_names(r, "t10,t11,t12");

    /* page < 1 is the first page; a page past the end is empty. */
    r = fake_ok(f, &tool_list_templates, "{\"page\": 0}");
    assert_int_equal(fake_int(r, "page"), 1);
    assert_int_equal(fake_int(r, "count"), 10);
    r = fake_ok(f, &tool_list_templates, "{\"page\": -4}");
    assert_int_equal(fake_int(r, "page"), 1);
    r = fake_ok(f, &tool_list_templates, "{\"page\": 3}");
    assert_int_equal(fake_int(r, "page"), 3);
    assert_int_equal(fake_int(r, "count"), 0);
    assert_int_equal(json_array_size(json_object_get(r, "templates")), 0);
    assert_int_equal(fake_int(r, "total_pages"), 2);
    r = fake_ok(f, &tool_list_templates, "{\"page\": 9223372036854775807}");
    assert_int_equal(fake_int(r, "count"), 0);
    r = fake_ok(f, &tool_list_templates, "{\"page\": 2.0}");
    assert_int_equal(fake_int(r, "page"), 2);

    /* Exactly ten: one page. */
    for (int i = 0; i < 3; i++)
        f->templates[i].row.deleted = true;
    r = fake_ok(f, &tool_list_templates, NULL);
    assert_int_equal(fake_int(r, "total_pages"), 1);
    assert_int_equal(fake_int(r, "count"), 10);
}

static void test_errors(void **state)
{
    struct fake *f = *state;
    assert_string_equal(fake_error(f, &tool_list_templates, "{\"page\": \"two\"}"),
                        "invalid parameters: \"page\" must be an integer");
    assert_string_equal(fake_error(f, &tool_list_templates, "{\"page\": 1.5}"),
                        "invalid parameters: \"page\" must be an integer");
    assert_string_equal(fake_error(f, &tool_list_templates, "{\"query\": 7}"),
                        "invalid parameters: \"query\" must be a string");
    assert_int_equal(f->calls[FAKE_TEMPLATES], 0);

    fake_fail(f, FAKE_TEMPLATES, ERR_INTERNAL, "database disk image is malformed");
    assert_string_equal(fake_error(f, &tool_list_templates, NULL),
                        "database disk image is malformed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_description_cut_by_runes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_by_active_developers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
