/* Unit tests: which agent a chat works with (the reference's TestFindChatAgent and
 * TestIsChatAgent cases, with berth's "-berth-chat" suffix). */
#include "testing.h"

#include "chat/tool.h"

#include <stdlib.h>
#include <string.h>

#define REF(id, name, order)                                                                       \
    {                                                                                              \
        id, name, order, false                                                                     \
    }
#define CHILD(id, name, order)                                                                     \
    {                                                                                              \
        id, name, order, true                                                                      \
    }

static const char *pick(const struct tool_agent_ref *a, size_t n, char **msg)
{
    *msg = NULL;
    int i = tool_find_chat_agent(a, n, msg);
    return i < 0 ? NULL : a[i].name;
}

static void test_single_suffix_match(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "dev", 0), REF("2", "dev-berth-chat", 0),
                                 REF("3", "tools", 0)};
    char *msg;
    assert_string_equal(pick(a, 3, &msg), "dev-berth-chat");
    assert_null(msg);
}

static void test_suffix_match_case_insensitive(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "dev", 0), REF("2", "Dev-Berth-CHAT", 0)};
    char *msg;
    assert_string_equal(pick(a, 2, &msg), "Dev-Berth-CHAT");
}

static void test_no_suffix_match_fallback_deterministic(void **state)
{
    (void)state;
    /* Display order first. */
    struct tool_agent_ref a[] = {REF("1", "alpha", 2), REF("2", "zeta", 1), REF("3", "mid", 3)};
    char *msg;
    assert_string_equal(pick(a, 3, &msg), "zeta");
}

static void test_no_suffix_match_fallback_by_name(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "zeta", 0), REF("2", "Beta", 0), REF("3", "alpha", 0)};
    char *msg;
    assert_string_equal(pick(a, 3, &msg), "alpha");
}

static void test_case_only_name_tie_fallback_deterministic(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "dev", 0), REF("2", "Dev", 0)};
    char *msg;
    assert_string_equal(pick(a, 2, &msg), "Dev"); /* "Dev" sorts before "dev" */
    struct tool_agent_ref b[] = {REF("2", "Dev", 0), REF("1", "dev", 0)};
    assert_string_equal(pick(b, 2, &msg), "Dev");
}

static void test_exact_name_tie_fallback_by_id(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("0192f000-0000-7000-8000-000000000002", "dev", 0),
                                 REF("0192f000-0000-7000-8000-000000000001", "dev", 0)};
    char *msg;
    int i = tool_find_chat_agent(a, 2, &msg);
    assert_int_equal(i, 1); /* the lower id wins */
}

static void test_multiple_suffix_matches_error(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "b-berth-chat", 0), REF("2", "dev", 0),
                                 REF("3", "a-berth-chat", 0)};
    char *msg;
    assert_null(pick(a, 3, &msg));
    assert_string_equal(msg, "multiple agents match the chat suffix \"-berth-chat\": a-berth-chat, "
                             "b-berth-chat; only one agent should use this suffix");
    free(msg);
}

static void test_child_agent_suffix_ignored(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "dev", 0), CHILD("2", "sub-berth-chat", 0)};
    char *msg;
    assert_string_equal(pick(a, 2, &msg), "dev");
}

static void test_child_agent_suffix_ignored_with_root_match(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {CHILD("1", "sub-berth-chat", 0), REF("2", "dev", 0),
                                 REF("3", "main-berth-chat", 1)};
    char *msg;
    assert_string_equal(pick(a, 3, &msg), "main-berth-chat");
    assert_null(msg);
}

static void test_empty_and_only_children(void **state)
{
    (void)state;
    char *msg;
    assert_null(pick(NULL, 0, &msg));
    assert_string_equal(msg, "no eligible workspace agents found");
    free(msg);
    struct tool_agent_ref a[] = {CHILD("1", "sub", 0), CHILD("2", "sub-berth-chat", 0)};
    assert_null(pick(a, 2, &msg));
    assert_string_equal(msg, "no eligible workspace agents found");
    free(msg);
}

static void test_single_root_agent(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "main", 5)};
    char *msg;
    assert_string_equal(pick(a, 1, &msg), "main");
}

static void test_suffix_agent_wins_regardless_of_order(void **state)
{
    (void)state;
    struct tool_agent_ref a[] = {REF("1", "aaa", 0), REF("2", "zzz-berth-chat", 9)};
    struct tool_agent_ref b[] = {REF("2", "zzz-berth-chat", 9), REF("1", "aaa", 0)};
    char *msg;
    assert_string_equal(pick(a, 2, &msg), "zzz-berth-chat");
    assert_string_equal(pick(b, 2, &msg), "zzz-berth-chat");
}

static void test_is_chat_agent(void **state)
{
    (void)state;
    assert_true(tool_is_chat_agent("dev-berth-chat"));    /* ExactSuffix */
    assert_true(tool_is_chat_agent("DEV-BERTH-CHAT"));    /* UppercaseSuffix */
    assert_true(tool_is_chat_agent("dev-Berth-Chat"));    /* MixedCaseSuffix */
    assert_true(tool_is_chat_agent("-berth-chat"));       /* SuffixOnly */
    assert_false(tool_is_chat_agent("dev"));              /* NoSuffix */
    assert_false(tool_is_chat_agent("dev-berth"));        /* PartialSuffix */
    assert_false(tool_is_chat_agent("berth-chat"));       /* PartialSuffix */
    assert_false(tool_is_chat_agent("dev-berth-chat-x")); /* not at the end */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_suffix_match),
        cmocka_unit_test(test_suffix_match_case_insensitive),
        cmocka_unit_test(test_no_suffix_match_fallback_deterministic),
        cmocka_unit_test(test_no_suffix_match_fallback_by_name),
        cmocka_unit_test(test_case_only_name_tie_fallback_deterministic),
        cmocka_unit_test(test_exact_name_tie_fallback_by_id),
        cmocka_unit_test(test_multiple_suffix_matches_error),
        cmocka_unit_test(test_child_agent_suffix_ignored),
        cmocka_unit_test(test_child_agent_suffix_ignored_with_root_match),
        cmocka_unit_test(test_empty_and_only_children),
        cmocka_unit_test(test_single_root_agent),
        cmocka_unit_test(test_suffix_agent_wins_regardless_of_order),
        cmocka_unit_test(test_is_chat_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
