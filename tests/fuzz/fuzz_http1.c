/*
 * libFuzzer target for the HTTP/1.1 parser.
 *
 * Input: byte 0 selects the mode (bit 0: response parser, bit 1:
 * http1_parser_expect_no_body, bit 2: pause at every on_body, bit 3: small
 * limits), byte 1 seeds the split points, and the rest is the connection's
 * bytes. The bytes are parsed twice, once in a single call and once in
 * pieces of pseudo-random sizes. The fuzzer aborts when the two runs
 * report different callbacks or results, because a streaming parser must
 * not depend on how its input was split. Every head the parser accepts is
 * also written back with the writer, which must accept it, and parsed
 * again into the same fields.
 *
 * Build with clang (tests/CMakeLists.txt adds the target) and run, for
 * example: ./fuzz_http1 -max_total_time=60 corpus/
 */
#include "common/log.h"
#include "http1/http1.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_RESPONSE     0x01
#define MODE_NO_BODY      0x02
#define MODE_PAUSE        0x04
#define MODE_SMALL_LIMITS 0x08

struct fuzz_run {
    uint64_t digest; /* FNV-1a over every callback and its arguments */
    unsigned mode;
    enum http1_type type;
};

static void digest_bytes(struct fuzz_run *run, const void *data, size_t len)
{
    const unsigned char *c = data;
    size_t i;

    for (i = 0; i < len; i++) {
        run->digest ^= c[i];
        run->digest *= 0x100000001b3ULL;
    }
}

static void digest_int(struct fuzz_run *run, uint64_t value)
{
    digest_bytes(run, &value, sizeof(value));
}

static void digest_string(struct fuzz_run *run, const char *s)
{
    if (s == NULL) {
        digest_int(run, UINT64_MAX);
        return;
    }
    digest_int(run, strlen(s));
    digest_bytes(run, s, strlen(s));
}

static void digest_fields(struct fuzz_run *run,
                          const struct http1_field *fields, size_t count)
{
    size_t i;

    digest_int(run, count);
    for (i = 0; i < count; i++) {
        digest_int(run, fields[i].name_len);
        digest_bytes(run, fields[i].name, fields[i].name_len);
        digest_int(run, fields[i].value_len);
        digest_bytes(run, fields[i].value, fields[i].value_len);
        if (fields[i].name[fields[i].name_len] != '\0' ||
            fields[i].value[fields[i].value_len] != '\0') {
            abort();
        }
    }
}

static int count_fields(struct http1_parser *parser,
                        const struct http1_head *head, void *arg)
{
    size_t *count = arg;

    (void)parser;
    *count = head->field_count;
    return HTTP1_CONTINUE;
}

/* Writes HEAD with the writer and parses the output again. The writer
 * must accept everything the parser accepted, and the second parse must
 * give the same number of fields. */
static void check_round_trip(const struct http1_head *head,
                             enum http1_type type)
{
    struct http1_callbacks callbacks = {.on_head = count_fields};
    struct evbuffer *out = evbuffer_new();
    struct http1_parser *parser;
    size_t count = SIZE_MAX;
    size_t len, consumed;
    int ret;

    if (out == NULL) {
        abort();
    }
    if (type == HTTP1_REQUEST) {
        ret = http1_write_request_head(out, head->method, head->target,
                                       head->fields, head->field_count);
    } else {
        ret = http1_write_response_head(out, head->status, head->reason,
                                        head->fields, head->field_count);
    }
    if (ret != 0) {
        abort();
    }
    parser = http1_parser_new(type, NULL, &callbacks, &count);
    if (parser == NULL) {
        abort();
    }
    len = evbuffer_get_length(out);
    /* The written head may be rejected for its framing (a Transfer-Encoding
     * the first parse saw with another field), but not split differently. */
    if (http1_parser_feed(parser, (const char *)evbuffer_pullup(out, -1), len,
                          &consumed) != HTTP1_ERROR &&
        count != head->field_count) {
        abort();
    }
    http1_parser_free(parser);
    evbuffer_free(out);
}

static int on_head(struct http1_parser *parser, const struct http1_head *head,
                   void *arg)
{
    struct fuzz_run *run = arg;

    (void)parser;
    digest_int(run, 1);
    digest_string(run, head->method);
    digest_string(run, head->target);
    digest_int(run, (uint64_t)head->status);
    digest_string(run, head->reason);
    digest_fields(run, head->fields, head->field_count);
    digest_int(run, head->content_length);
    digest_int(run,
               (uint64_t)(head->has_content_length | head->chunked << 1 |
                          head->no_body << 2 | head->keep_alive << 3 |
                          head->upgrade << 4 | head->expect_continue << 5));
    check_round_trip(head, run->type);
    return HTTP1_CONTINUE;
}

static int on_body(struct http1_parser *parser, const char *data, size_t len,
                   void *arg)
{
    struct fuzz_run *run = arg;

    (void)parser;
    /* Only the bytes count, not where the pieces start. */
    digest_bytes(run, data, len);
    return (run->mode & MODE_PAUSE) ? HTTP1_PAUSE : HTTP1_CONTINUE;
}

static int on_trailers(struct http1_parser *parser,
                       const struct http1_field *fields, size_t count,
                       void *arg)
{
    struct fuzz_run *run = arg;

    (void)parser;
    digest_int(run, 3);
    digest_fields(run, fields, count);
    return HTTP1_CONTINUE;
}

static int on_complete(struct http1_parser *parser, void *arg)
{
    struct fuzz_run *run = arg;

    (void)parser;
    digest_int(run, 4);
    return HTTP1_CONTINUE;
}

/* Feeds LEN bytes, resuming after every pause, and returns the result. */
static enum http1_result feed_piece(struct http1_parser *parser,
                                    const char *data, size_t len, size_t *total)
{
    enum http1_result result;
    size_t consumed;

    for (;;) {
        result = http1_parser_feed(parser, data, len, &consumed);
        *total += consumed;
        if (result != HTTP1_PAUSED) {
            return result;
        }
        http1_parser_resume(parser);
        data += consumed;
        len -= consumed;
    }
}

/* Parses DATA in pieces whose sizes come from SEED (0 for one piece) and
 * returns the digest of everything the parser reported. */
static uint64_t run_parser(unsigned mode, unsigned seed, const char *data,
                           size_t size)
{
    static const struct http1_callbacks callbacks = {
        .on_head = on_head,
        .on_body = on_body,
        .on_trailers = on_trailers,
        .on_complete = on_complete,
    };
    struct http1_limits small = {
        .max_head_bytes = 128, .max_header_fields = 4, .max_body_bytes = 64};
    struct fuzz_run run = {.digest = 0xcbf29ce484222325ULL, .mode = mode};
    enum http1_result result = HTTP1_OK;
    struct http1_parser *parser;
    uint32_t state = seed * 2654435761u + 1;
    size_t off = 0, piece, total = 0;

    run.type = (mode & MODE_RESPONSE) ? HTTP1_RESPONSE : HTTP1_REQUEST;
    parser = http1_parser_new(
        run.type, (mode & MODE_SMALL_LIMITS) ? &small : NULL, &callbacks, &run);
    if (parser == NULL) {
        abort();
    }
    if (mode & MODE_NO_BODY) {
        http1_parser_expect_no_body(parser);
    }
    while (result == HTTP1_OK && off < size) {
        piece = size - off;
        if (seed != 0) {
            state = state * 1103515245u + 12345u;
            piece = 1 + (state >> 16) % (piece < 17 ? piece : 17);
        }
        result = feed_piece(parser, data + off, piece, &total);
        off += piece;
    }
    if (result == HTTP1_OK) {
        result = http1_parser_finish(parser);
    }
    digest_int(&run, 5);
    digest_int(&run, (uint64_t)result);
    digest_int(&run, (uint64_t)http1_parser_error_status(parser));
    if (result == HTTP1_UPGRADE) {
        digest_int(&run, total);
    }
    http1_parser_free(parser);
    return run.digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned mode, seed;

    if (size < 2) {
        return 0;
    }
    log_set_level(LOG_ERROR);
    mode = data[0];
    seed = data[1] | 1u;
    if (run_parser(mode, 0, (const char *)data + 2, size - 2) !=
        run_parser(mode, seed, (const char *)data + 2, size - 2)) {
        abort();
    }
    return 0;
}
