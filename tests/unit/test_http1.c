/*
 * Unit tests for src/http1/: the parser (framing, limits, errors, pauses,
 * upgrades, splits of the input) and the writer (exact bytes, rejected
 * fields, hop-by-hop names). Each parser test records the callbacks in a
 * struct capture; the log goes to an open_memstream buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "http1/http1.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The callbacks' records, and the actions they return. */
struct capture {
    struct http1_parser *parser;
    int head_count;
    int complete_count;
    int trailers_count;
    int body_calls;
    struct http1_head head; /* scalar members of the last head */
    char method[16];
    char target[256];
    char reason[64];
    char fields[1024];   /* "name: value\n" for each field of the last head */
    char trailers[1024]; /* the same for the last trailers */
    char body[8192];     /* decoded body of every message, concatenated */
    size_t body_len;
    int statuses[8]; /* status of each head, in order */
    int head_action;
    int body_action;
    int trailers_action;
    int complete_action;
};

struct fixture {
    struct capture cap;
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
};

static void append_fields(char *out, size_t size,
                          const struct http1_field *fields, size_t count)
{
    size_t i, used;

    out[0] = '\0';
    for (i = 0; i < count; i++) {
        used = strlen(out);
        snprintf(out + used, size - used, "%s: %s\n", fields[i].name,
                 fields[i].value);
    }
}

static int record_head(struct http1_parser *parser,
                       const struct http1_head *head, void *arg)
{
    struct capture *cap = arg;

    assert_ptr_equal(parser, cap->parser);
    assert_ptr_equal(http1_parser_head(parser), head);
    if (cap->head_count < 8) {
        cap->statuses[cap->head_count] = head->status;
    }
    cap->head_count++;
    cap->head = *head;
    cap->head.fields = NULL;
    snprintf(cap->method, sizeof(cap->method), "%s",
             head->method != NULL ? head->method : "");
    snprintf(cap->target, sizeof(cap->target), "%s",
             head->target != NULL ? head->target : "");
    snprintf(cap->reason, sizeof(cap->reason), "%s",
             head->reason != NULL ? head->reason : "");
    append_fields(cap->fields, sizeof(cap->fields), head->fields,
                  head->field_count);
    return cap->head_action;
}

static int record_body(struct http1_parser *parser, const char *data,
                       size_t len, void *arg)
{
    struct capture *cap = arg;

    (void)parser;
    assert_true(cap->body_len + len <= sizeof(cap->body));
    memcpy(cap->body + cap->body_len, data, len);
    cap->body_len += len;
    cap->body_calls++;
    return cap->body_action;
}

static int record_trailers(struct http1_parser *parser,
                           const struct http1_field *fields, size_t count,
                           void *arg)
{
    struct capture *cap = arg;

    (void)parser;
    cap->trailers_count++;
    append_fields(cap->trailers, sizeof(cap->trailers), fields, count);
    return cap->trailers_action;
}

static int record_complete(struct http1_parser *parser, void *arg)
{
    struct capture *cap = arg;

    (void)parser;
    cap->complete_count++;
    return cap->complete_action;
}

static const struct http1_callbacks record_callbacks = {
    .on_head = record_head,
    .on_body = record_body,
    .on_trailers = record_trailers,
    .on_complete = record_complete,
};

/* Replaces the parser of CAP with a new one of TYPE and LIMITS. */
static void capture_start(struct capture *cap, enum http1_type type,
                          const struct http1_limits *limits)
{
    http1_parser_free(cap->parser);
    memset(cap, 0, sizeof(*cap));
    cap->parser = http1_parser_new(type, limits, &record_callbacks, cap);
    assert_non_null(cap->parser);
}

static int fixture_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    fx->log_stream = open_memstream(&fx->log_buf, &fx->log_size);
    if (fx->log_stream == NULL) {
        free(fx);
        return -1;
    }
    log_set_stream(fx->log_stream);
    capture_start(&fx->cap, HTTP1_REQUEST, NULL);
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fx = *state;

    http1_parser_free(fx->cap.parser);
    log_set_stream(NULL);
    fclose(fx->log_stream);
    free(fx->log_buf);
    free(fx);
    return 0;
}

static const char *logged(struct fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf;
}

/* Feeds TEXT at once and returns the result; CONSUMED may be NULL. */
static enum http1_result feed(struct capture *cap, const char *text,
                              size_t *consumed)
{
    size_t used = 0;
    enum http1_result result;

    result = http1_parser_feed(cap->parser, text, strlen(text), &used);
    if (consumed != NULL) {
        *consumed = used;
    }
    return result;
}

/* Feeds TEXT at once and asserts that all of it was consumed. */
static void feed_ok(struct capture *cap, const char *text)
{
    size_t consumed = 0;

    assert_int_equal(feed(cap, text, &consumed), HTTP1_OK);
    assert_int_equal(consumed, strlen(text));
}

/* Feeds TEXT one byte at a time, asserting HTTP1_OK for every byte. */
static void feed_bytewise(struct capture *cap, const char *text)
{
    size_t i, consumed;

    for (i = 0; text[i] != '\0'; i++) {
        assert_int_equal(http1_parser_feed(cap->parser, text + i, 1, &consumed),
                         HTTP1_OK);
        assert_int_equal(consumed, 1);
    }
}

/* Feeds TEXT at once and asserts an error with STATUS. */
static void feed_error(struct capture *cap, const char *text, int status)
{
    assert_int_equal(feed(cap, text, NULL), HTTP1_ERROR);
    assert_int_equal(http1_parser_error_status(cap->parser), status);
    assert_true(strlen(http1_parser_error_reason(cap->parser)) > 0);
}

/* Asserts that TEXT is rejected with STATUS by a new request parser, both
 * at once and one byte at a time, and returns the number of heads the
 * owner saw before the error in both runs. */
static int assert_request_rejected(struct capture *cap, const char *text,
                                   int status)
{
    size_t i, consumed;
    enum http1_result result = HTTP1_OK;
    int heads;

    capture_start(cap, HTTP1_REQUEST, NULL);
    feed_error(cap, text, status);
    heads = cap->head_count;

    capture_start(cap, HTTP1_REQUEST, NULL);
    for (i = 0; text[i] != '\0' && result == HTTP1_OK; i++) {
        result = http1_parser_feed(cap->parser, text + i, 1, &consumed);
    }
    assert_int_equal(result, HTTP1_ERROR);
    assert_int_equal(http1_parser_error_status(cap->parser), status);
    assert_int_equal(cap->head_count, heads);
    assert_int_equal(cap->complete_count, 0);
    return heads;
}

/* Asserts a rejection of TEXT before the owner saw its head. */
static void assert_head_rejected(struct capture *cap, const char *text,
                                 int status)
{
    assert_int_equal(assert_request_rejected(cap, text, status), 0);
}

/* Asserts a rejection of TEXT in its body, after its head. */
static void assert_body_rejected(struct capture *cap, const char *text,
                                 int status)
{
    assert_int_equal(assert_request_rejected(cap, text, status), 1);
}

static void assert_body(const struct capture *cap, const char *expected)
{
    assert_int_equal(cap->body_len, strlen(expected));
    assert_memory_equal(cap->body, expected, cap->body_len);
}

/*
 * Requests.
 */

static void test_parse_simple_get(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const struct http1_head *head;

    feed_ok(cap, "GET /index.html?q=1 HTTP/1.1\r\n"
                 "Host: example.test\r\n"
                 "User-Agent: test/1.0  \r\n"
                 "X-Empty:\r\n"
                 "\r\n");
    assert_int_equal(cap->head_count, 1);
    assert_int_equal(cap->complete_count, 1);
    assert_string_equal(cap->method, "GET");
    assert_string_equal(cap->target, "/index.html?q=1");
    assert_int_equal(cap->head.target_len, strlen("/index.html?q=1"));
    assert_int_equal(cap->head.version_major, 1);
    assert_int_equal(cap->head.version_minor, 1);
    assert_int_equal(cap->head.status, 0);
    assert_string_equal(cap->fields, "Host: example.test\n"
                                     "User-Agent: test/1.0\n"
                                     "X-Empty: \n");
    assert_int_equal(cap->head.field_count, 3);
    assert_false(cap->head.has_content_length);
    assert_false(cap->head.chunked);
    assert_true(cap->head.keep_alive);
    assert_false(cap->head.upgrade);
    assert_false(cap->head.expect_continue);
    assert_int_equal(cap->body_len, 0);

    /* The head stays readable after on_complete. */
    head = http1_parser_head(cap->parser);
    assert_non_null(head);
    assert_non_null(
        http1_field_find(head->fields, head->field_count, "user-agent"));
    assert_string_equal(
        http1_field_find(head->fields, head->field_count, "HOST")->value,
        "example.test");
    assert_null(http1_field_find(head->fields, head->field_count, "Accept"));
}

static void test_parse_post_bytewise(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    feed_bytewise(cap, "POST /submit HTTP/1.1\r\n"
                       "Host: a\r\n"
                       "Content-Length: 11\r\n"
                       "Expect: 100-Continue\r\n"
                       "\r\n"
                       "hello world");
    assert_int_equal(cap->head_count, 1);
    assert_int_equal(cap->complete_count, 1);
    assert_string_equal(cap->method, "POST");
    assert_true(cap->head.has_content_length);
    assert_int_equal(cap->head.content_length, 11);
    assert_true(cap->head.expect_continue);
    assert_body(cap, "hello world");
    assert_int_equal(cap->body_calls, 11);
}

static void test_parse_chunked_trailers(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    feed_ok(cap, "POST /upload HTTP/1.1\r\n"
                 "Host: a\r\n"
                 "Transfer-Encoding: chunked\r\n"
                 "\r\n"
                 "5;ext=1\r\nhello\r\n"
                 "6\r\n world\r\n"
                 "0\r\n"
                 "Checksum: abc\r\n"
                 "X-Count:  2 \r\n"
                 "\r\n");
    assert_true(cap->head.chunked);
    assert_false(cap->head.has_content_length);
    assert_body(cap, "hello world");
    assert_int_equal(cap->trailers_count, 1);
    assert_string_equal(cap->trailers, "Checksum: abc\nX-Count: 2\n");
    assert_int_equal(cap->complete_count, 1);
    /* The head's fields survive the trailer section. */
    assert_string_equal(http1_parser_head(cap->parser)->fields[1].value,
                        "chunked");
}

static void test_parse_chunked_no_trailers(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    feed_ok(cap, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n");
    assert_body(cap, "abc");
    assert_int_equal(cap->trailers_count, 0);
    assert_int_equal(cap->complete_count, 1);
}

static void test_parse_pipelined(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *text = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                       "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                       "\r\n"
                       "GET /three HTTP/1.1\r\nHost: c\r\n\r\n";

    feed_ok(cap, text);
    assert_int_equal(cap->head_count, 3);
    assert_int_equal(cap->complete_count, 3);
    assert_string_equal(cap->target, "/three");
    assert_string_equal(cap->fields, "Host: c\n");
    assert_body(cap, "abc");

    capture_start(cap, HTTP1_REQUEST, NULL);
    feed_bytewise(cap, text);
    assert_int_equal(cap->head_count, 3);
    assert_int_equal(cap->complete_count, 3);
    assert_body(cap, "abc");
}

static void test_parse_connection_close(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    /* RFC 9112 section 9.6: nothing after a "close" request is processed,
     * and the bytes are consumed. */
    feed_ok(cap, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
                 "GET /ignored HTTP/1.1\r\n\r\n");
    assert_int_equal(cap->head_count, 1);
    assert_false(cap->head.keep_alive);
    feed_ok(cap, "more bytes");
    assert_int_equal(cap->head_count, 1);
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_OK);

    capture_start(cap, HTTP1_REQUEST, NULL);
    feed_ok(cap, "GET / HTTP/1.0\r\n\r\n");
    assert_false(cap->head.keep_alive);
    assert_int_equal(cap->head.version_minor, 0);

    capture_start(cap, HTTP1_REQUEST, NULL);
    feed_ok(cap, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                 "GET /2 HTTP/1.0\r\n\r\n");
    assert_int_equal(cap->head_count, 2);
}

static void test_parse_upgrade_leftover(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *head = "GET /chat HTTP/1.1\r\n"
                       "Host: a\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "\r\n";
    char text[256];
    size_t consumed = 0;

    snprintf(text, sizeof(text), "%s%s", head, "\x81\x05hello");
    assert_int_equal(feed(cap, text, &consumed), HTTP1_UPGRADE);
    assert_int_equal(consumed, strlen(head));
    assert_true(cap->head.upgrade);
    assert_int_equal(cap->complete_count, 1);
    /* Later calls stay in the upgraded state and consume nothing. */
    assert_int_equal(feed(cap, "more", &consumed), HTTP1_UPGRADE);
    assert_int_equal(consumed, 0);
    assert_string_equal(http1_parser_head(cap->parser)->target, "/chat");

    capture_start(cap, HTTP1_REQUEST, NULL);
    assert_int_equal(
        feed(cap, "CONNECT a.test:443 HTTP/1.1\r\n\r\ntls..", &consumed),
        HTTP1_UPGRADE);
    assert_int_equal(consumed, strlen("CONNECT a.test:443 HTTP/1.1\r\n\r\n"));
    assert_string_equal(cap->target, "a.test:443");
}

static void test_parse_upgrade_declined(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *text = "GET / HTTP/1.1\r\n"
                       "Upgrade: h2c\r\n"
                       "Connection: Upgrade, HTTP2-Settings\r\n"
                       "\r\n"
                       "GET /next HTTP/1.1\r\n\r\n";
    size_t consumed = 0;
    size_t rest;

    assert_int_equal(feed(cap, text, &consumed), HTTP1_UPGRADE);
    http1_parser_resume(cap->parser);
    rest = strlen(text) - consumed;
    assert_int_equal(
        http1_parser_feed(cap->parser, text + consumed, rest, &consumed),
        HTTP1_OK);
    assert_int_equal(consumed, rest);
    assert_int_equal(cap->head_count, 2);
    assert_string_equal(cap->target, "/next");
}

static void test_parse_upgrade_without_connection(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    /* Upgrade is a request only together with Connection: upgrade. */
    feed_ok(cap, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    assert_false(cap->head.upgrade);
}

/*
 * Rejected requests.
 */

static void test_reject_content_length_conflicts(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Content-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Content-Length: 5\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Content-Length: 5\r\n"
                         "Content-Length: 6\r\n\r\nhello!",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Content-Length: 5, 6\r\n\r\nhello!",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Content-Length: -1\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Content-Length: 99999999999999999999999\r\n\r\n",
                         400);
}

static void test_reject_obs_fold(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap,
                         "GET / HTTP/1.1\r\n"
                         "X-Folded: one\r\n"
                         "  two\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "GET / HTTP/1.1\r\n"
                         "X-Folded: one\r\n"
                         "\ttwo\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "GET / HTTP/1.1\r\n"
                         " Host: a\r\n\r\n",
                         400);
    assert_body_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "1\r\na\r\n0\r\nX: y\r\n z\r\n\r\n",
                         400);
    assert_int_equal(cap->trailers_count, 0);
    assert_int_equal(cap->complete_count, 0);
}

static void test_reject_bare_lf(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap, "GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    /* HTTP/0.9 request line: the bare LF wins over the version check,
     * whatever the split. */
    assert_head_rejected(cap, "GET /\nHost: a\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    assert_body_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "5\nhello\r\n0\r\n\r\n",
                         400);
    /* llhttp's default mode accepts this one, the check in http1 does not:
     * the chunk data ends in a bare LF. */
    assert_body_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\n0\r\n\r\n",
                         400);
    assert_int_equal(cap->complete_count, 0);
    assert_body_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "0\r\nX: y\n\r\n",
                         400);
}

static void test_reject_malformed_request_line(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap, "GET /a b HTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1 \r\n\r\n", 400);
    assert_head_rejected(cap, "GET /\x7f HTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "GET /a\x0c HTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "GET /a\tb HTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.2\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / XTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "G@T / HTTP/1.1\r\n\r\n", 400);
    assert_head_rejected(cap, "\x16\x03\x01\x02\x00\x01\x00", 400);
    assert_head_rejected(cap, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/2.0\r\n\r\n", 505);
    assert_head_rejected(cap, "GET / HTTP/0.9\r\n\r\n", 505);
}

static void test_reject_malformed_header(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\n: a\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nX(y): a\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400);
    assert_head_rejected(cap, "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n", 400);
}

static void test_reject_nul_in_value(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    static const char text[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    size_t consumed;

    assert_int_equal(
        http1_parser_feed(cap->parser, text, sizeof(text) - 1, &consumed),
        HTTP1_ERROR);
    assert_int_equal(http1_parser_error_status(cap->parser), 400);
    assert_int_equal(cap->head_count, 0);
}

static void test_reject_transfer_encoding(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: gzip\r\n\r\n",
                         501);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: gzip, chunked\r\n\r\n",
                         501);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked, gzip\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n",
                         400);
    assert_head_rejected(cap,
                         "POST / HTTP/1.0\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n",
                         400);
    assert_body_rejected(cap,
                         "POST / HTTP/1.1\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "zz\r\n",
                         400);
}

static void test_error_is_sticky(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    size_t consumed = 1;

    feed_error(cap, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    assert_int_equal(feed(cap, "GET / HTTP/1.1\r\n\r\n", &consumed),
                     HTTP1_ERROR);
    assert_int_equal(consumed, 0);
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_ERROR);
    assert_int_equal(cap->head_count, 0);
}

/*
 * Limits.
 */

/* Builds a request whose head is exactly SIZE bytes. */
static char *request_of_size(size_t size)
{
    const char *start = "GET / HTTP/1.1\r\nX-Pad: ";
    char *text = malloc(size + 1);
    size_t pad = size - strlen(start) - 4;

    assert_non_null(text);
    strcpy(text, start);
    memset(text + strlen(start), 'a', pad);
    strcpy(text + strlen(start) + pad, "\r\n\r\n");
    assert_int_equal(strlen(text), size);
    return text;
}

static void test_limit_head_bytes(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct http1_limits limits = {.max_head_bytes = 200};
    char *text = request_of_size(200);

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_ok(cap, text);
    assert_int_equal(cap->head_count, 1);
    free(text);

    text = request_of_size(201);
    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_error(cap, text, 431);
    assert_int_equal(cap->head_count, 0);
    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_bytewise(cap, "GET / HTTP/1.1\r\n");
    feed_error(cap, text + strlen("GET / HTTP/1.1\r\n"), 431);
    free(text);

    /* The default applies with NULL limits. */
    text = request_of_size(HTTP1_DEFAULT_MAX_HEAD_BYTES + 1);
    capture_start(cap, HTTP1_REQUEST, NULL);
    feed_error(cap, text, 431);
    free(text);

    /* Each message of a connection gets the whole limit. */
    text = request_of_size(200);
    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_ok(cap, text);
    feed_ok(cap, text);
    feed_ok(cap, text);
    assert_int_equal(cap->head_count, 3);
    free(text);
}

static void test_limit_target_414(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct http1_limits limits = {.max_head_bytes = 100};
    char text[400];

    snprintf(text, sizeof(text), "GET /%0300d HTTP/1.1\r\n\r\n", 0);
    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_error(cap, text, 414);
    assert_non_null(strstr(http1_parser_error_reason(cap->parser), "target"));
}

static void test_limit_header_fields(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct http1_limits limits = {.max_header_fields = 3};
    const char *three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    char text[8192];
    size_t used;
    int i;

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_ok(cap, three);
    assert_int_equal(cap->head.field_count, 3);

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_error(cap, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
               431);
    assert_non_null(strstr(http1_parser_error_reason(cap->parser), "fields"));

    /* The default is 100 fields. */
    capture_start(cap, HTTP1_REQUEST, NULL);
    used = (size_t)snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n");
    for (i = 0; i < 101; i++) {
        used +=
            (size_t)snprintf(text + used, sizeof(text) - used, "F%d: v\r\n", i);
    }
    snprintf(text + used, sizeof(text) - used, "\r\n");
    feed_error(cap, text, 431);
}

static void test_limit_trailers(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct http1_limits limits = {.max_head_bytes = 64, .max_header_fields = 2};
    const char *head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    char text[512];

    capture_start(cap, HTTP1_REQUEST, &limits);
    snprintf(text, sizeof(text), "%s0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", head);
    feed_error(cap, text, 431);
    assert_int_equal(cap->complete_count, 0);

    capture_start(cap, HTTP1_REQUEST, &limits);
    snprintf(text, sizeof(text), "%s0\r\nA: %080d\r\n\r\n", head, 0);
    feed_error(cap, text, 431);
    assert_int_equal(cap->trailers_count, 0);
}

static void test_limit_body_413(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct http1_limits limits = {.max_body_bytes = 4};

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_ok(cap, "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd");
    assert_body(cap, "abcd");

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_error(cap, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 413);
    assert_int_equal(cap->head_count, 0);

    capture_start(cap, HTTP1_REQUEST, &limits);
    feed_error(cap,
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
               413);
    assert_int_equal(cap->head_count, 1);
    /* The bytes up to the limit are delivered, however the input is
     * split. */
    assert_body(cap, "abcd");
    assert_int_equal(cap->complete_count, 0);
}

/*
 * Responses.
 */

static void test_response_head_request(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    http1_parser_expect_no_body(cap->parser);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
                 "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(cap->head_count, 2);
    assert_int_equal(cap->complete_count, 2);
    assert_int_equal(cap->statuses[0], 200);
    assert_int_equal(cap->statuses[1], 404);
    assert_string_equal(cap->reason, "Not Found");
    assert_false(cap->head.no_body);
    /* Only the second response had a body: expect_no_body held for one. */
    assert_body(cap, "abc");
}

static void test_response_no_body_statuses(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
    assert_int_equal(cap->complete_count, 1);
    assert_true(cap->head.no_body);
    assert_true(cap->head.has_content_length);
    assert_true(cap->head.keep_alive);

    feed_ok(cap, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n"
                 "ETag: \"x\"\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_int_equal(cap->complete_count, 3);
    assert_int_equal(cap->statuses[1], 304);
    assert_body(cap, "ok");

    /* Without a length a 304 is still complete at its head. */
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 304 Not Modified\r\n\r\n");
    assert_int_equal(cap->complete_count, 1);
}

static void test_response_close_delimited(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ");
    feed_ok(cap, "body\r\n\n bytes");
    assert_int_equal(cap->complete_count, 0);
    assert_false(cap->head.keep_alive);
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_OK);
    assert_int_equal(cap->complete_count, 1);
    assert_body(cap, "some body\r\n\n bytes");
}

static void test_response_truncated(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_ERROR);
    assert_int_equal(http1_parser_error_status(cap->parser), 400);
    assert_non_null(
        strstr(http1_parser_error_reason(cap->parser), "truncated"));
    assert_non_null(strstr(http1_parser_error_reason(cap->parser), "3 of 10"));
    assert_int_equal(cap->complete_count, 0);

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhel");
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_ERROR);
    assert_non_null(strstr(http1_parser_error_reason(cap->parser), "chunked"));

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nContent-Le");
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_ERROR);
    assert_non_null(
        strstr(http1_parser_error_reason(cap->parser), "truncated"));

    /* EOF between messages is a clean end. */
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_OK);
    assert_int_equal(cap->complete_count, 1);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    assert_int_equal(http1_parser_finish(cap->parser), HTTP1_OK);
}

static void test_response_chunked_every_split(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *text = "HTTP/1.1 200 OK\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "\r\n"
                       "4\r\nWiki\r\n"
                       "6;name=\"v\"\r\npedia \r\n"
                       "E\r\nin \r\n\r\nchunks.\r\n"
                       "0\r\n"
                       "Expires: never\r\n"
                       "\r\n";
    size_t len = strlen(text);
    size_t split, consumed;

    for (split = 0; split <= len; split++) {
        capture_start(cap, HTTP1_RESPONSE, NULL);
        assert_int_equal(http1_parser_feed(cap->parser, text, split, &consumed),
                         HTTP1_OK);
        assert_int_equal(consumed, split);
        assert_int_equal(http1_parser_feed(cap->parser, text + split,
                                           len - split, &consumed),
                         HTTP1_OK);
        assert_int_equal(consumed, len - split);
        assert_int_equal(cap->head_count, 1);
        assert_int_equal(cap->complete_count, 1);
        assert_body(cap, "Wikipedia in \r\n\r\nchunks.");
        assert_string_equal(cap->trailers, "Expires: never\n");
    }
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_bytewise(cap, text);
    assert_int_equal(cap->complete_count, 1);
    assert_body(cap, "Wikipedia in \r\n\r\nchunks.");
}

static void test_response_continue_then_ok(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_int_equal(cap->head_count, 3);
    assert_int_equal(cap->statuses[0], 100);
    assert_int_equal(cap->statuses[1], 103);
    assert_int_equal(cap->statuses[2], 200);
    /* Interim responses are not complete messages. */
    assert_int_equal(cap->complete_count, 1);
    assert_body(cap, "ok");

    /* expect_no_body skips the interim response and applies to the
     * final one. */
    capture_start(cap, HTTP1_RESPONSE, NULL);
    http1_parser_expect_no_body(cap->parser);
    feed_ok(cap, "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(cap->complete_count, 1);
    assert_true(cap->head.no_body);
}

static void test_response_switching_protocols(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *head = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n";
    char text[256];
    size_t consumed;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    snprintf(text, sizeof(text), "%sframes", head);
    assert_int_equal(feed(cap, text, &consumed), HTTP1_UPGRADE);
    assert_int_equal(consumed, strlen(head));
    assert_int_equal(cap->complete_count, 1);
}

static void test_response_malformed(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;

    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 2000 OK\r\n\r\n", 400);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 000 OK\r\n\r\n", 400);
    assert_int_equal(cap->head_count, 0);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 099 Low\r\n\r\n", 400);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 200 O\x0cK\r\n\r\n", 400);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200 Fine\tand \xe2\x9c\x93\r\n"
                 "Content-Length: 0\r\n\r\n");
    assert_string_equal(cap->reason, "Fine\tand \xe2\x9c\x93");
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 400);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_error(cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    capture_start(cap, HTTP1_RESPONSE, NULL);
    feed_ok(cap, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
    assert_string_equal(cap->reason, "");
}

/*
 * Pauses and callback failures.
 */

static void test_pause_resume_body(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *text = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
                       "0123456789"
                       "GET /next HTTP/1.1\r\n\r\n";
    size_t len = strlen(text);
    size_t head_len = strlen("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
    size_t consumed, off;

    /* The first 4 body bytes arrive alone, then the owner is full. */
    cap->body_action = HTTP1_PAUSE;
    assert_int_equal(
        http1_parser_feed(cap->parser, text, head_len + 4, &consumed),
        HTTP1_PAUSED);
    assert_int_equal(consumed, head_len + 4);
    assert_body(cap, "0123");
    off = consumed;

    /* Feeding while paused does nothing. */
    assert_int_equal(
        http1_parser_feed(cap->parser, text + off, len - off, &consumed),
        HTTP1_PAUSED);
    assert_int_equal(consumed, 0);

    http1_parser_resume(cap->parser);
    assert_int_equal(
        http1_parser_feed(cap->parser, text + off, len - off, &consumed),
        HTTP1_PAUSED);
    assert_int_equal(consumed, 6);
    assert_body(cap, "0123456789");
    assert_int_equal(cap->complete_count, 0);
    off += consumed;

    cap->body_action = HTTP1_CONTINUE;
    http1_parser_resume(cap->parser);
    assert_int_equal(
        http1_parser_feed(cap->parser, text + off, len - off, &consumed),
        HTTP1_OK);
    assert_int_equal(consumed, len - off);
    assert_int_equal(cap->complete_count, 2);
    assert_string_equal(cap->target, "/next");
}

static void test_pause_no_empty_body(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    size_t consumed;

    cap->body_action = HTTP1_PAUSE;
    assert_int_equal(feed(cap,
                          "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                          "\r\n5\r\nhel",
                          &consumed),
                     HTTP1_PAUSED);
    assert_int_equal(cap->body_calls, 1);

    /* An empty feed after resume delivers no empty piece, so it cannot
     * pause again. */
    http1_parser_resume(cap->parser);
    assert_int_equal(http1_parser_feed(cap->parser, "", 0, &consumed),
                     HTTP1_OK);
    assert_int_equal(cap->body_calls, 1);
    assert_int_equal(feed(cap, "lo\r\n0\r\n\r\n", &consumed), HTTP1_PAUSED);
    http1_parser_resume(cap->parser);
    assert_int_equal(feed(cap, "lo\r\n0\r\n\r\n" + consumed, &consumed),
                     HTTP1_OK);
    assert_body(cap, "hello");
    assert_int_equal(cap->complete_count, 1);
}

static void test_pause_in_head_and_complete(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *first = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n";
    const char *text = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
                       "GET /2 HTTP/1.1\r\n\r\n";
    size_t len = strlen(text);
    size_t consumed, off;

    cap->head_action = HTTP1_PAUSE;
    assert_int_equal(feed(cap, text, &consumed), HTTP1_PAUSED);
    assert_int_equal(consumed, strlen(first));
    assert_int_equal(cap->body_len, 0);
    off = consumed;

    cap->head_action = HTTP1_CONTINUE;
    cap->complete_action = HTTP1_PAUSE;
    http1_parser_resume(cap->parser);
    assert_int_equal(
        http1_parser_feed(cap->parser, text + off, len - off, &consumed),
        HTTP1_PAUSED);
    assert_int_equal(consumed, 2);
    assert_int_equal(cap->complete_count, 1);
    assert_int_equal(cap->head_count, 1);
    off += consumed;

    cap->complete_action = HTTP1_CONTINUE;
    http1_parser_resume(cap->parser);
    assert_int_equal(
        http1_parser_feed(cap->parser, text + off, len - off, &consumed),
        HTTP1_OK);
    assert_int_equal(cap->head_count, 2);
    assert_int_equal(cap->complete_count, 2);
}

static void test_pause_head_empty_feed(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    size_t consumed;

    /* The whole GET is consumed while the owner is paused in on_head, so
     * only a feed of no bytes after the resume can deliver on_complete. */
    cap->head_action = HTTP1_PAUSE;
    assert_int_equal(feed(cap, "GET / HTTP/1.1\r\n\r\n", &consumed),
                     HTTP1_PAUSED);
    assert_int_equal(consumed, strlen("GET / HTTP/1.1\r\n\r\n"));
    assert_int_equal(cap->complete_count, 0);

    http1_parser_resume(cap->parser);
    assert_int_equal(http1_parser_feed(cap->parser, NULL, 0, &consumed),
                     HTTP1_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(cap->complete_count, 1);
}

static void test_pause_in_trailers(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const char *text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\nX: 1\r\n\r\n";
    size_t consumed;

    cap->trailers_action = HTTP1_PAUSE;
    assert_int_equal(feed(cap, text, &consumed), HTTP1_PAUSED);
    assert_int_equal(consumed, strlen(text));
    assert_int_equal(cap->trailers_count, 1);
    assert_int_equal(cap->complete_count, 0);

    /* on_complete follows on the next call, even without new bytes. */
    http1_parser_resume(cap->parser);
    assert_int_equal(http1_parser_feed(cap->parser, "", 0, &consumed),
                     HTTP1_OK);
    assert_int_equal(cap->trailers_count, 1);
    assert_int_equal(cap->complete_count, 1);
}

static int reject_large_upload(struct http1_parser *parser,
                               const struct http1_head *head, void *arg)
{
    (void)arg;
    if (head->content_length > 100) {
        http1_parser_set_error(parser, 413, "upload larger than 100 bytes");
        return HTTP1_FAIL;
    }
    return HTTP1_CONTINUE;
}

static void test_callback_failure(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    const struct http1_callbacks callbacks = {.on_head = reject_large_upload};
    struct http1_parser *parser;
    const char *text = "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    size_t consumed;

    parser = http1_parser_new(HTTP1_REQUEST, NULL, &callbacks, NULL);
    assert_non_null(parser);
    assert_int_equal(http1_parser_feed(parser, text, strlen(text), &consumed),
                     HTTP1_ERROR);
    assert_int_equal(http1_parser_error_status(parser), 413);
    assert_string_equal(http1_parser_error_reason(parser),
                        "upload larger than 100 bytes");
    http1_parser_free(parser);

    /* Without set_error a failure is a 500. */
    cap->body_action = HTTP1_FAIL;
    feed_error(cap, "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 500);
    assert_non_null(strstr(http1_parser_error_reason(cap->parser), "on_body"));
}

static void test_no_callbacks(void **state)
{
    struct http1_parser *parser;
    const char *text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1\r\nx\r\n0\r\nT: 1\r\n\r\n";
    size_t consumed;

    (void)state;
    parser = http1_parser_new(HTTP1_REQUEST, NULL, NULL, NULL);
    assert_non_null(parser);
    assert_null(http1_parser_head(parser));
    assert_int_equal(http1_parser_feed(parser, text, strlen(text), &consumed),
                     HTTP1_OK);
    assert_string_equal(http1_parser_head(parser)->method, "POST");
    assert_int_equal(http1_parser_error_status(parser), 0);
    assert_string_equal(http1_parser_error_reason(parser), "");
    http1_parser_free(parser);
    http1_parser_free(NULL);
}

/*
 * Writer.
 */

/* Returns the contents of BUF as a string owned by BUF. */
static const char *buffer_text(struct evbuffer *buf)
{
    evbuffer_add(buf, "", 1);
    return (const char *)evbuffer_pullup(buf, -1);
}

static void test_write_heads(void **state)
{
    struct evbuffer *out = evbuffer_new();
    const struct http1_field fields[] = {
        http1_field_of("Host", "example.test"),
        http1_field_of("X-Empty", ""),
    };

    (void)state;
    assert_int_equal(http1_write_request_head(out, "GET", "/a?b=c", fields, 2),
                     0);
    assert_string_equal(buffer_text(out), "GET /a?b=c HTTP/1.1\r\n"
                                          "Host: example.test\r\n"
                                          "X-Empty: \r\n"
                                          "\r\n");
    evbuffer_drain(out, evbuffer_get_length(out));

    assert_int_equal(http1_write_response_head(out, 404, NULL, fields, 1), 0);
    assert_string_equal(buffer_text(out), "HTTP/1.1 404 Not Found\r\n"
                                          "Host: example.test\r\n"
                                          "\r\n");
    evbuffer_drain(out, evbuffer_get_length(out));

    assert_int_equal(http1_write_response_head(out, 200, "Fine", NULL, 0), 0);
    assert_string_equal(buffer_text(out), "HTTP/1.1 200 Fine\r\n\r\n");
    evbuffer_drain(out, evbuffer_get_length(out));

    assert_int_equal(http1_write_response_head(out, 599, NULL, NULL, 0), 0);
    assert_string_equal(buffer_text(out), "HTTP/1.1 599 \r\n\r\n");
    evbuffer_free(out);
}

static void test_write_chunks(void **state)
{
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *data = evbuffer_new();
    const struct http1_field trailers[] = {
        http1_field_of("Checksum", "abc"),
    };
    char big[300];

    (void)state;
    memset(big, 'x', sizeof(big));
    assert_int_equal(http1_write_chunk(out, "hello", 5), 0);
    assert_int_equal(http1_write_chunk(out, "", 0), 0);
    assert_int_equal(http1_write_chunk(out, big, sizeof(big)), 0);
    assert_int_equal(evbuffer_get_length(out), 10 + 3 + 2 + 300 + 2);
    assert_memory_equal(evbuffer_pullup(out, 15), "5\r\nhello\r\n12c\r\n", 15);
    evbuffer_drain(out, evbuffer_get_length(out));

    evbuffer_add(data, "0123456789abcdefg", 17);
    assert_int_equal(http1_write_chunk_buffer(out, data), 0);
    assert_int_equal(evbuffer_get_length(data), 0);
    assert_int_equal(http1_write_chunk_buffer(out, data), 0);
    assert_int_equal(http1_write_last_chunk(out, trailers, 1), 0);
    assert_string_equal(buffer_text(out), "11\r\n0123456789abcdefg\r\n"
                                          "0\r\n"
                                          "Checksum: abc\r\n"
                                          "\r\n");
    evbuffer_drain(out, evbuffer_get_length(out));

    assert_int_equal(http1_write_last_chunk(out, NULL, 0), 0);
    assert_string_equal(buffer_text(out), "0\r\n\r\n");
    evbuffer_free(data);
    evbuffer_free(out);
}

static void test_write_error_response(void **state)
{
    struct evbuffer *out = evbuffer_new();
    const struct http1_field extra[] = {
        http1_field_of("Retry-After", "5"),
    };

    (void)state;
    assert_int_equal(http1_write_error(out, 503, NULL,
                                       "no backend server is connected", 1,
                                       extra, 1),
                     0);
    assert_string_equal(buffer_text(out),
                        "HTTP/1.1 503 Service Unavailable\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: 31\r\n"
                        "Connection: close\r\n"
                        "Retry-After: 5\r\n"
                        "\r\n"
                        "no backend server is connected\n");
    evbuffer_drain(out, evbuffer_get_length(out));

    assert_int_equal(
        http1_write_error(out, 400, "Bad Request", "bad\n", 0, NULL, 0), 0);
    assert_string_equal(buffer_text(out),
                        "HTTP/1.1 400 Bad Request\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: 4\r\n"
                        "\r\n"
                        "bad\n");
    evbuffer_free(out);
}

/* The writer's output parses back into the same message. */
static void test_write_parse_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct capture *cap = &fx->cap;
    struct evbuffer *out = evbuffer_new();
    const struct http1_field fields[] = {
        http1_field_of("Host", "a"),
        http1_field_of("Transfer-Encoding", "chunked"),
    };
    const struct http1_field trailers[] = {
        http1_field_of("T", "1"),
    };

    assert_int_equal(http1_write_request_head(out, "PUT", "/f", fields, 2), 0);
    assert_int_equal(http1_write_chunk(out, "abc", 3), 0);
    assert_int_equal(http1_write_last_chunk(out, trailers, 1), 0);
    feed_ok(cap, buffer_text(out));
    assert_string_equal(cap->method, "PUT");
    assert_body(cap, "abc");
    assert_string_equal(cap->trailers, "T: 1\n");
    assert_int_equal(cap->complete_count, 1);
    evbuffer_free(out);
}

static void test_write_rejects_line_breaks(void **state)
{
    struct fixture *fx = *state;
    struct evbuffer *out = evbuffer_new();
    const struct http1_field bad_value[] = {
        http1_field_of("Host", "a"),
        http1_field_of("X-Token", "secret\r\nInjected: 1"),
    };
    const struct http1_field lf_value[] = {
        http1_field_of("X", "a\nb"),
    };
    const struct http1_field nul_value[] = {
        {"X", 1, "a\0b", 3},
    };
    const struct http1_field bad_names[] = {
        http1_field_of("Bad\r\nName", "v"),
        http1_field_of("Bad Name", "v"),
        http1_field_of("Bad:", "v"),
        http1_field_of("", "v"),
        {"X\0Y", 3, "v", 1},
    };
    size_t i;

    assert_int_equal(http1_write_request_head(out, "GET", "/", bad_value, 2),
                     -1);
    assert_int_equal(evbuffer_get_length(out), 0);
    assert_non_null(strstr(logged(fx), "X-Token"));
    assert_null(strstr(logged(fx), "secret"));

    assert_int_equal(http1_write_response_head(out, 200, NULL, lf_value, 1),
                     -1);
    assert_int_equal(http1_write_response_head(out, 200, NULL, nul_value, 1),
                     -1);
    assert_int_equal(http1_write_last_chunk(out, lf_value, 1), -1);
    assert_int_equal(http1_write_error(out, 500, NULL, "x", 1, nul_value, 1),
                     -1);
    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        assert_int_equal(
            http1_write_response_head(out, 200, NULL, &bad_names[i], 1), -1);
    }
    assert_int_equal(http1_write_response_head(out, 200, "OK\r\nX: y", NULL, 0),
                     -1);
    assert_int_equal(http1_write_response_head(out, 99, NULL, NULL, 0), -1);
    assert_int_equal(http1_write_response_head(out, 1000, NULL, NULL, 0), -1);
    assert_int_equal(
        http1_write_request_head(out, "GET", "/a\r\nX: y", NULL, 0), -1);
    assert_int_equal(http1_write_request_head(out, "GET", "/a b", NULL, 0), -1);
    assert_int_equal(http1_write_request_head(out, "GET", "", NULL, 0), -1);
    assert_int_equal(http1_write_request_head(out, "G T", "/", NULL, 0), -1);
    assert_int_equal(
        http1_write_error(out, 400, NULL, "two\nlines", 1, NULL, 0), -1);
    assert_int_equal(http1_write_error(out, 400, NULL, "cr\r", 1, NULL, 0), -1);
    assert_int_equal(evbuffer_get_length(out), 0);
    evbuffer_free(out);
}

static void test_hop_by_hop(void **state)
{
    static const char *const always[] = {
        "Connection",
        "keep-alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "proxy-authorization",
        "TE",
        "Trailer",
        "TRANSFER-ENCODING",
        "Upgrade",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
        assert_true(http1_is_hop_by_hop(always[i], NULL));
    }
    assert_false(http1_is_hop_by_hop("Host", NULL));
    assert_false(http1_is_hop_by_hop("Content-Length", NULL));
    assert_false(http1_is_hop_by_hop("Trailers", NULL));
    assert_false(http1_is_hop_by_hop("X-Foo", "close"));

    assert_true(http1_is_hop_by_hop("X-Foo", "close, x-foo"));
    assert_true(http1_is_hop_by_hop("x-foo", "X-Foo"));
    assert_true(http1_is_hop_by_hop("X-Bar", "x-foo ,\tX-Bar , keep-alive"));
    assert_true(http1_is_hop_by_hop("X-Foo", ",,X-FOO,,"));
    assert_false(http1_is_hop_by_hop("X-Foo", "X-Foobar, X-Fo"));
    assert_false(http1_is_hop_by_hop("X-Foo", ""));
}

static void test_status_reason(void **state)
{
    (void)state;
    assert_string_equal(http1_status_reason(200), "OK");
    assert_string_equal(http1_status_reason(413), "Content Too Large");
    assert_string_equal(http1_status_reason(431),
                        "Request Header Fields Too Large");
    assert_string_equal(http1_status_reason(502), "Bad Gateway");
    assert_string_equal(http1_status_reason(299), "");
}

#define FIXTURE_TEST(name)                                                     \
    cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_parse_simple_get),
        FIXTURE_TEST(test_parse_post_bytewise),
        FIXTURE_TEST(test_parse_chunked_trailers),
        FIXTURE_TEST(test_parse_chunked_no_trailers),
        FIXTURE_TEST(test_parse_pipelined),
        FIXTURE_TEST(test_parse_connection_close),
        FIXTURE_TEST(test_parse_upgrade_leftover),
        FIXTURE_TEST(test_parse_upgrade_declined),
        FIXTURE_TEST(test_parse_upgrade_without_connection),
        FIXTURE_TEST(test_reject_content_length_conflicts),
        FIXTURE_TEST(test_reject_obs_fold),
        FIXTURE_TEST(test_reject_bare_lf),
        FIXTURE_TEST(test_reject_malformed_request_line),
        FIXTURE_TEST(test_reject_malformed_header),
        FIXTURE_TEST(test_reject_nul_in_value),
        FIXTURE_TEST(test_reject_transfer_encoding),
        FIXTURE_TEST(test_error_is_sticky),
        FIXTURE_TEST(test_limit_head_bytes),
        FIXTURE_TEST(test_limit_target_414),
        FIXTURE_TEST(test_limit_header_fields),
        FIXTURE_TEST(test_limit_trailers),
        FIXTURE_TEST(test_limit_body_413),
        FIXTURE_TEST(test_response_head_request),
        FIXTURE_TEST(test_response_no_body_statuses),
        FIXTURE_TEST(test_response_close_delimited),
        FIXTURE_TEST(test_response_truncated),
        FIXTURE_TEST(test_response_chunked_every_split),
        FIXTURE_TEST(test_response_continue_then_ok),
        FIXTURE_TEST(test_response_switching_protocols),
        FIXTURE_TEST(test_response_malformed),
        FIXTURE_TEST(test_pause_resume_body),
        FIXTURE_TEST(test_pause_no_empty_body),
        FIXTURE_TEST(test_pause_in_head_and_complete),
        FIXTURE_TEST(test_pause_head_empty_feed),
        FIXTURE_TEST(test_pause_in_trailers),
        FIXTURE_TEST(test_callback_failure),
        cmocka_unit_test(test_no_callbacks),
        cmocka_unit_test(test_write_heads),
        cmocka_unit_test(test_write_chunks),
        cmocka_unit_test(test_write_error_response),
        FIXTURE_TEST(test_write_parse_round_trip),
        FIXTURE_TEST(test_write_rejects_line_breaks),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_status_reason),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
