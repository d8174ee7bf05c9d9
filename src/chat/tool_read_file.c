/* tool_read_file.c - read_file: lines of a text file of the chat's workspace, or a listing when
 * the path is a directory (reference §3.6). */
#include "chat/internal.h"

#include "base/buf.h"
#include "base/json.h"

#define OFFSET_DEFAULT 1
#define LIMIT_DEFAULT  2000
#define LIMIT_MAX      10000 /* the agent's own limit */

/* The answer for a directory from the agent's {entries: [{name, is_dir, size}], total_entries,
 * truncated}: entries offset..offset+limit-1 (1-based, like lines), listed in content as
 * "N\tname" lines with a "/" after directories. */
static json_t *directory_result(const json_t *r, int64_t offset, int64_t limit)
{
    const json_t *entries = json_object_get(r, "entries");
    size_t have = json_array_size(entries);
    json_int_t total = json_integer_value(json_object_get(r, "total_entries"));
    size_t first = offset > 0 && (uint64_t)(offset - 1) < have ? (size_t)(offset - 1) : have;
    size_t count = have - first;
    if (limit >= 0 && (uint64_t)limit < count)
        count = (size_t)limit;

    struct buf content = BUF_INIT;
    json_t *shown = json_array();
    for (size_t i = first; i < first + count; i++) {
        json_t *en = json_array_get(entries, i);
        buf_printf(&content, "%zu\t%s%s\n", i + 1, jsonx_get_str(en, "name", ""),
                   json_is_true(json_object_get(en, "is_dir")) ? "/" : "");
        json_array_append(shown, en);
    }
    bool truncated =
        json_is_true(json_object_get(r, "truncated")) || (json_int_t)(first + count) < total;
    json_t *o = json_pack("{s:b, s:s, s:o, s:I, s:I, s:b}", "is_directory", 1, "content",
                          buf_str(&content), "entries", shown, "entries_read", (json_int_t)count,
                          "total_entries", total, "truncated", (int)truncated);
    buf_free(&content);
    return o;
}

static json_t *file_result(const json_t *r)
{
    json_t *o =
        json_pack("{s:O, s:O, s:O, s:O}", "content", json_object_get(r, "content"), "file_size",
                  json_object_get(r, "file_size"), "total_lines", json_object_get(r, "total_lines"),
                  "lines_read", json_object_get(r, "lines_read"));
    if (o && json_is_true(json_object_get(r, "truncated")))
        json_object_set_new(o, "truncated", json_true());
    return o ? o : json_object();
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *path;
    bool has_offset, has_limit;
    int64_t offset, limit;
    if (tool_arg_string(call->args, "path", &path, out) < 0 ||
        tool_arg_int(call->args, "offset", &has_offset, &offset, out) < 0 ||
        tool_arg_int(call->args, "limit", &has_limit, &limit, out) < 0)
        return;
    if (!path || !path[0]) {
        tool_text_error(out, "path is required");
        return;
    }
    if (!has_offset)
        offset = OFFSET_DEFAULT;
    if (!has_limit)
        limit = LIMIT_DEFAULT;
    if (offset < 1) {
        tool_text_error(out, "offset must be at least 1, got %lld", (long long)offset);
        return;
    }
    if (limit < 1 || limit > LIMIT_MAX) {
        tool_text_error(out, "limit must be between 1 and %d, got %lld", LIMIT_MAX,
                        (long long)limit);
        return;
    }
    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req = json_pack("{s:s, s:s, s:I, s:I}", "type", "read_file", "path", path, "offset",
                            (json_int_t)offset, "limit", (json_int_t)limit);
    json_t *r;
    if (tool_agent_request(env, agent_id, req, TOOL_AGENT_CALL_MS, call->cancel, NULL, &r, out) ==
        0) {
        if (json_is_true(json_object_get(r, "is_directory")))
            tool_result(out, directory_result(r, offset, limit));
        else
            tool_result(out, file_result(r));
        json_decref(r);
    }
    json_decref(req);
}

const struct tool_def tool_read_file = {
    .name = "read_file",
    .description =
        "Read a text file of the chat's workspace, a range of lines at a time: lines offset to "
        "offset+limit-1 (by default the first 2000 lines), each with its newline. Returns "
        "{content, file_size, total_lines, lines_read}; read on with a larger offset while "
        "offset+lines_read <= total_lines. On a directory it lists the entries instead: "
        "{is_directory: true, content (one \"N<TAB>name\" line per entry, directories ending in "
        "/), entries, entries_read, total_entries, truncated}. Prefer this to cat in execute.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"path\":{\"type\":\"string\",\"description\":\"The file or directory, absolute or "
        "relative to the workspace's directory.\"},"
        "\"offset\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"The first line (or "
        "directory entry) to return, counting from 1 (default 1).\"},"
        "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,\"description\":\"How "
        "many lines (or entries) to return at most (default 2000).\"}},"
        "\"required\":[\"path\"],\"additionalProperties\":false}",
    .run = run,
};
