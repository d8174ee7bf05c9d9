/* tool_list_templates.c - list_templates: the templates a chat may build a workspace from, most
 * used first, ten to a page (reference §3.1). */
#include "chat/internal.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE       10
#define DESCRIPTION_MAX 200 /* runes */

/* A template that passed the filters, with its active developer count. */
struct entry {
    const struct template_row *t;
    int64_t owners;
    size_t index; /* position in the name order, so the sort is stable */
};

/* The reference's fuzzy name filter: the trimmed query in the name or display name, ignoring
 * case. */
static bool matches(const struct template_row *t, const char *query)
{
    return !query[0] || strcasestr(t->name, query) || strcasestr(t->display_name, query);
}

static int by_owners_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->owners != y->owners)
        return x->owners > y->owners ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static json_t *template_json(const struct entry *en)
{
    json_t *o = json_pack("{s:s, s:s}", "id", en->t->id, "name", en->t->name);
    tool_set_trimmed(o, "display_name", en->t->display_name, 0);
    tool_set_trimmed(o, "description", en->t->description, DESCRIPTION_MAX);
    if (en->owners > 0)
        json_object_set_new(o, "active_developers", json_integer(en->owners));
    return o;
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *query_arg;
    int64_t page = 1;
    bool has_page;
    if (tool_arg_string(call->args, "query", &query_arg, out) < 0 ||
        tool_arg_int(call->args, "page", &has_page, &page, out) < 0)
        return;
    if (!has_page || page < 1)
        page = 1;

    struct template_list all = {0};
    struct err e = ERR_INIT;
    if (env->db.templates(env->db.arg, &all, &e) < 0) {
        tool_text_error(out, "%s", err_msg(&e));
        err_clear(&e);
        return;
    }
    char *query = str_trim(xstrdup(query_arg ? query_arg : ""));
    struct entry *list = xcalloc(all.n ? all.n : 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < all.n; i++) {
        const struct template_row *t = &all.items[i];
        if (t->deleted || (t->deprecated && t->deprecated[0]) ||
            !tool_template_allowed(env, t->id) || !matches(t, query))
            continue;
        /* A failing count only costs the ordering, as in the reference. */
        int64_t owners = 0;
        if (env->db.template_owners(env->db.arg, t->id, &owners, &e) < 0) {
            owners = 0;
            err_clear(&e);
        }
        list[n] = (struct entry){t, owners, n};
        n++;
    }
    qsort(list, n, sizeof *list, by_owners_desc);

    int64_t total_pages = n == 0 ? 1 : (int64_t)((n + PAGE_SIZE - 1) / PAGE_SIZE);
    size_t start = page - 1 >= total_pages ? n : (size_t)(page - 1) * PAGE_SIZE;
    size_t end = start + PAGE_SIZE < n ? start + PAGE_SIZE : n;
    json_t *items = json_array();
    for (size_t i = start; i < end; i++)
        json_array_append_new(items, template_json(&list[i]));
    tool_result(out, json_pack("{s:o, s:I, s:I, s:I, s:I}", "templates", items, "count",
                               (json_int_t)(end - start), "page", (json_int_t)page, "total_pages",
                               (json_int_t)total_pages, "total_count", (json_int_t)n));
    free(list);
    free(query);
    template_list_free(&all);
}

const struct tool_def tool_list_templates = {
    .name = "list_templates",
    .description =
        "List the workspace templates you can create a workspace from. Use this first when the "
        "user needs a workspace and you do not know which template to use; then call "
        "read_template with a template's id to see its parameters, and create_workspace to build "
        "it. Templates are ordered by how many developers use them (most used first) and come 10 "
        "per page. Returns {templates: [{id, name, display_name?, description?, "
        "active_developers?}], count, page, total_pages, total_count}; ask for the next page "
        "with page while page < total_pages.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"query\":{\"type\":\"string\",\"description\":\"Only templates whose name or display "
        "name contains this text (case-insensitive). Omit to list all.\"},"
        "\"page\":{\"type\":\"integer\",\"description\":\"The page to return, starting at 1 (the "
        "default).\"}},"
        "\"additionalProperties\":false}",
    .run = run,
};
