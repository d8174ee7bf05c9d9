/* Unit tests of the tool definitions of chat-tools: names, descriptions, and input schemas that
 * are valid JSON objects of the shape models and MCP clients expect, with every property
 * described and every required property declared. */
#include "testing.h"

#include "chat/internal.h"

#include <string.h>

static const struct tool_def *const defs[] = {
    &tool_list_templates, &tool_read_template, &tool_execute,
    &tool_process_output, &tool_process_list,  &tool_process_signal,
    &tool_read_file,      &tool_write_file,    &tool_edit_files,
};

static const char *const names[] = {
    "list_templates", "read_template", "execute",    "process_output", "process_list",
    "process_signal", "read_file",     "write_file", "edit_files",
};

/* Checks an object schema: closed, every property described, required ones declared. */
static void check_object(const char *tool, const char *where, const json_t *schema)
{
    if (!json_is_object(schema) ||
        strcmp(json_string_value(json_object_get(schema, "type")), "object") != 0)
        fail_msg("%s %s: not an object schema", tool, where);
    if (!json_is_false(json_object_get(schema, "additionalProperties")))
        fail_msg("%s %s: additionalProperties is not false", tool, where);
    const json_t *props = json_object_get(schema, "properties");
    if (!json_is_object(props))
        fail_msg("%s %s: no properties", tool, where);
    const char *key;
    json_t *p;
    json_object_foreach((json_t *)(uintptr_t)props, key, p)
    {
        const char *d = json_string_value(json_object_get(p, "description"));
        if (!d || strlen(d) < 10)
            fail_msg("%s %s.%s: no description", tool, where, key);
        if (!json_is_string(json_object_get(p, "type")))
            fail_msg("%s %s.%s: no type", tool, where, key);
        const json_t *items = json_object_get(p, "items");
        if (items && json_is_object(json_object_get(items, "properties")))
            check_object(tool, key, items);
    }
    const json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        if (!json_object_get(props, json_string_value(r)))
            fail_msg("%s %s: required %s is not a property", tool, where, json_string_value(r));
    }
    if (req && (!json_is_array(req) || json_array_size(req) == 0))
        fail_msg("%s %s: required must be a non-empty array", tool, where);
}

static void test_definitions(void **state)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        const struct tool_def *d = defs[i];
        assert_string_equal(d->name, names[i]);
        assert_non_null(d->run);
        if (strlen(d->description) < 80)
            fail_msg("%s: description too short", d->name);
        json_error_t je;
        json_t *schema = json_loads(d->input_schema, JSON_REJECT_DUPLICATES, &je);
        if (!schema)
            fail_msg("%s: schema is not JSON: %s at %d", d->name, je.text, je.position);
        check_object(d->name, "arguments", schema);
        json_decref(schema);
    }
}

static void test_required(void **state)
{
    struct {
        const struct tool_def *def;
        const char *required;
    } want[] = {
        {&tool_read_template, "[\"template_id\"]"},
        {&tool_execute, "[\"command\"]"},
        {&tool_process_output, "[\"process_id\"]"},
        {&tool_process_signal, "[\"process_id\", \"signal\"]"},
        {&tool_read_file, "[\"path\"]"},
        {&tool_write_file, "[\"path\", \"content\"]"},
        {&tool_edit_files, "[\"files\"]"},
        {&tool_list_templates, NULL},
        {&tool_process_list, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *schema = json_loads(want[i].def->input_schema, 0, NULL);
        json_t *w = want[i].required ? json_loads(want[i].required, 0, NULL) : NULL;
        json_t *got = json_object_get(schema, "required");
        if (!(w ? json_equal(got, w) : got == NULL))
            fail_msg("%s: unexpected required list", want[i].def->name);
        json_decref(w);
        json_decref(schema);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definitions),
        cmocka_unit_test(test_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
