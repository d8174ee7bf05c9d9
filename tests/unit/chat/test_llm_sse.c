/* Unit tests for chat/sse.c: SSE framing of the providers' streams (line ends, split feeds,
 * multi-line data, comments, caps). */
#include "testing.h"

#include "base/buf.h"
#include "chat/llm.h"

#include <stdlib.h>
#include <string.h>

/* Events as "event|data" lines. */
struct seen {
    struct buf out;
    int stop_after; /* stop the parser after this many events (0: never) */
    int n;
};

static int on_event(void *arg, const char *event, const char *data)
{
    struct seen *s = arg;
    buf_printf(&s->out, "%s|%s\n", event, data);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* Feeds text in pieces of step bytes (0: all at once); returns the last sse_feed result. */
static int feed(struct sse_parser *p, const char *text, size_t step)
{
    size_t len = strlen(text);
    if (!step)
        return sse_feed(p, text, len);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += step)
        rc = sse_feed(p, text + i, len - i < step ? len - i : step);
    return rc;
}

static void check(const char *text, const char *want)
{
    for (size_t step = 0; step <= 3; step++) {
        struct seen s = {BUF_INIT, 0, 0};
        struct sse_parser p;
        sse_init(&p, on_event, &s);
        assert_int_equal(feed(&p, text, step), 0);
        assert_string_equal(buf_str(&s.out), want);
        sse_free(&p);
        buf_free(&s.out);
    }
}

static void test_lines(void **state)
{
    check("data: {\"a\":1}\n\ndata: [DONE]\n\n", "message|{\"a\":1}\nmessage|[DONE]\n");
    check("data: x\r\n\r\ndata: y\r\n\r\n", "message|x\nmessage|y\n");
    check("data: x\r\rdata: y\r\r", "message|x\nmessage|y\n");
    /* Named events, one space dropped, a value without the space, multi-line data. */
    check("event: message_start\ndata: {}\n\nevent:ping\ndata:  two\n\n",
          "message_start|{}\nping| two\n");
    check("data: a\ndata: b\n\n", "message|a\nb\n");
    check("data\n\n", "message|\n");
}

static void test_ignored(void **state)
{
    /* Comments (keep-alives), id:, retry:, unknown fields, blank lines without data. */
    check(": OPENROUTER PROCESSING\n\n: ping\nid: 3\nretry: 10\nfoo: bar\ndata: x\n\n\n\n",
          "message|x\n");
    /* The event name does not leak into the next event. */
    check("event: a\n\ndata: x\n\n", "message|x\n");
    /* An incomplete event at the end is dropped. */
    check("data: x\n\ndata: cut", "message|x\n");
    check("data: x\n\ndata: cut\n", "message|x\n");
}

static void test_stop(void **state)
{
    struct seen s = {BUF_INIT, 1, 0};
    struct sse_parser p;
    sse_init(&p, on_event, &s);
    assert_int_equal(feed(&p, "data: 1\n\ndata: 2\n\n", 0), -1);
    assert_string_equal(buf_str(&s.out), "message|1\n");
    assert_int_equal(sse_feed(&p, "data: 3\n\n", 9), -1); /* stays stopped */
    assert_int_equal(s.n, 1);
    sse_free(&p);
    buf_free(&s.out);
}

static void test_cap(void **state)
{
    struct seen s = {BUF_INIT, 0, 0};
    struct sse_parser p;
    sse_init(&p, on_event, &s);
    size_t n = LLM_EVENT_MAX / 2 + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    assert_int_equal(sse_feed(&p, "data: ", 6), 0);
    assert_int_equal(sse_feed(&p, big, n), 0);
    assert_int_equal(sse_feed(&p, "\ndata: ", 7), 0);
    /* The second line alone fits; the event's data does not. */
    assert_int_equal(sse_feed(&p, big, n), 0);
    assert_int_equal(sse_feed(&p, "\n", 1), -1);
    assert_int_equal(s.n, 0);
    sse_free(&p);

    /* One line over the cap without an end. */
    sse_init(&p, on_event, &s);
    assert_int_equal(sse_feed(&p, big, n), 0);
    assert_int_equal(sse_feed(&p, big, n), -1);
    sse_free(&p);
    free(big);
    buf_free(&s.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
