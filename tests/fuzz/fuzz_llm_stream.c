/* Fuzz target: LLM provider streams through the SSE parser and both decoders, fed in two pieces
 * split where the first byte says, then the reply assembled. */
#include "base/secure.h"
#include "chat/llm.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct llm_decoder dec;
    struct err err;
    bool anthropic;
};

static int on_event(void *arg, const char *event, const char *data)
{
    struct run *r = arg;
    int rc = r->anthropic ? llm_anthropic_event(&r->dec, event, data, &r->err)
                          : llm_openai_event(&r->dec, event, data, &r->err);
    return rc < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready)
        ready = secure_init() == 0; /* made-up call ids are random */
    if (size < 1)
        return 0;
    size_t split = size > 1 ? data[0] % size : 0;
    const char *text = (const char *)data + 1;
    size--;
    if (split > size)
        split = size;
    for (int anthropic = 0; anthropic < 2; anthropic++) {
        struct llm_reply reply;
        llm_reply_init(&reply);
        struct run r = {.err = ERR_INIT, .anthropic = anthropic};
        llm_decoder_init(&r.dec, &reply, NULL);
        struct sse_parser p;
        sse_init(&p, on_event, &r);
        if (sse_feed(&p, text, split) == 0)
            sse_feed(&p, text + split, size - split);
        sse_free(&p);
        llm_decoder_end(&r.dec, anthropic, true);
        llm_decoder_free(&r.dec);
        llm_reply_clear(&reply);
        err_clear(&r.err);
    }
    return 0;
}
