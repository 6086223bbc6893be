/*
 * The HTTP/1.1 parser's feed loop on top of llhttp (8.x, default non-strict
 * mode, no lenient flags).
 *
 * Three llhttp callbacks always pause llhttp: the end of a head, the last
 * chunk and the end of a message. At each pause llhttp reports the exact
 * byte where it stopped, so http1_parser_feed finds where every part ends.
 * It uses that to count head and trailer bytes on the wire, to check the
 * line endings of all framing bytes (everything except body data) before
 * telling the owner about them, and to call on_head, on_trailers and
 * on_complete outside llhttp.
 */
#include "http1/http1_internal.h"

#include <stdlib.h>
#include <strings.h>

struct http1_parser *http1_parser_new(enum http1_type type,
                                      const struct http1_limits *limits,
                                      const struct http1_callbacks *callbacks,
                                      void *arg)
{
    struct http1_parser *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    if (limits != NULL) {
        p->limits = *limits;
    }
    if (p->limits.max_head_bytes == 0) {
        p->limits.max_head_bytes = HTTP1_DEFAULT_MAX_HEAD_BYTES;
    }
    if (p->limits.max_header_fields == 0) {
        p->limits.max_header_fields = HTTP1_DEFAULT_MAX_HEADER_FIELDS;
    }
    if (callbacks != NULL) {
        p->callbacks = *callbacks;
    }
    p->type = type;
    p->arg = arg;
    llhttp_init(&p->llhttp,
                type == HTTP1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE,
                &http1_llhttp_settings);
    p->llhttp.data = p;
    return p;
}

void http1_parser_free(struct http1_parser *parser)
{
    if (parser == NULL) {
        return;
    }
    http1_section_free(&parser->head_section);
    http1_section_free(&parser->trailer_section);
    free(parser);
}

/* Enters the error state after a failure recorded by http1_fail. */
static enum http1_result parser_error(struct http1_parser *p)
{
    if (p->error_status == 0) {
        http1_fail(p, 500, "internal error in the HTTP/1.1 parser");
    }
    p->state = HTTP1_STATE_ERROR;
    return HTTP1_ERROR;
}

/* Turns a callback's action into a result. llhttp is still paused at an
 * internal pause, and stays paused when the owner asked for it. */
static enum http1_result owner_action(struct http1_parser *p, int action,
                                      const char *callback)
{
    if (action == HTTP1_PAUSE) {
        p->owner_paused = 1;
        return HTTP1_PAUSED;
    }
    if (action != HTTP1_CONTINUE) {
        http1_fail(p, 500, "the %s callback failed", callback);
        return parser_error(p);
    }
    llhttp_resume(&p->llhttp);
    return HTTP1_OK;
}

static enum http1_result handle_head(struct http1_parser *p)
{
    int action = HTTP1_CONTINUE;

    if (http1_head_validate(p) != 0) {
        return parser_error(p);
    }
    p->state = HTTP1_STATE_BODY;
    p->have_head = 1;
    if (p->callbacks.on_head != NULL) {
        action = p->callbacks.on_head(p, &p->head, p->arg);
    }
    return owner_action(p, action, "on_head");
}

/* Calls on_complete and moves to the next message, or to the end of the
 * connection. An interim response is not complete, because the final
 * response follows. */
static enum http1_result handle_complete(struct http1_parser *p)
{
    int interim = p->type == HTTP1_RESPONSE && p->head.status / 100 == 1 &&
                  !p->head.upgrade;
    int action = HTTP1_CONTINUE;

    p->end_stage = HTTP1_END_NONE;
    p->head_section.wire_bytes = 0;
    if (interim) {
        p->state = HTTP1_STATE_HEAD;
        llhttp_resume(&p->llhttp);
        return HTTP1_OK;
    }
    p->expect_no_body = 0;
    if (p->head.upgrade) {
        p->state = HTTP1_STATE_UPGRADED;
    } else {
        p->state = p->head.keep_alive ? HTTP1_STATE_HEAD : HTTP1_STATE_CLOSED;
    }
    if (p->callbacks.on_complete != NULL) {
        action = p->callbacks.on_complete(p, p->arg);
    }
    if (action != HTTP1_CONTINUE && action != HTTP1_PAUSE) {
        http1_fail(p, 500, "the on_complete callback failed");
        return parser_error(p);
    }
    if (p->state == HTTP1_STATE_UPGRADED) {
        return HTTP1_UPGRADE;
    }
    return owner_action(p, action, "on_complete");
}

/* Runs the owner callbacks due at the end of a message: on_trailers (which
 * may pause before on_complete), then on_complete. */
static enum http1_result handle_message_end(struct http1_parser *p)
{
    struct http1_section *s = &p->trailer_section;
    int action;

    if (p->end_stage == HTTP1_END_TRAILERS) {
        p->end_stage = HTTP1_END_COMPLETE;
        http1_section_publish(s);
        if (s->count > 0 && p->callbacks.on_trailers != NULL) {
            action = p->callbacks.on_trailers(p, s->fields, s->count, p->arg);
            if (action == HTTP1_PAUSE) {
                p->owner_paused = 1;
                return HTTP1_PAUSED;
            }
            if (action != HTTP1_CONTINUE) {
                http1_fail(p, 500, "the on_trailers callback failed");
                return parser_error(p);
            }
        }
    }
    return handle_complete(p);
}

static enum http1_result handle_event(struct http1_parser *p)
{
    enum http1_event event = p->event;

    p->event = HTTP1_EVENT_NONE;
    switch (event) {
    case HTTP1_EVENT_HEAD:
        return handle_head(p);
    case HTTP1_EVENT_LAST_CHUNK:
        p->state = HTTP1_STATE_TRAILERS;
        llhttp_resume(&p->llhttp);
        return HTTP1_OK;
    case HTTP1_EVENT_COMPLETE:
        p->end_stage = HTTP1_END_TRAILERS;
        return handle_message_end(p);
    case HTTP1_EVENT_NONE:
        break;
    }
    /* A pause without an event comes from on_body, which set owner_paused
     * already. */
    return p->owner_paused ? HTTP1_PAUSED : parser_error(p);
}

static const char *llhttp_error_kind(llhttp_errno_t err)
{
    switch (err) {
    case HPE_INVALID_METHOD:
        return "unknown request method";
    case HPE_INVALID_URL:
        return "invalid request target";
    case HPE_INVALID_CONSTANT:
    case HPE_INVALID_VERSION:
        return "invalid start line or HTTP version";
    case HPE_INVALID_STATUS:
        return "invalid status line";
    case HPE_INVALID_HEADER_TOKEN:
        return "invalid header field";
    case HPE_INVALID_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "conflicting Content-Length or Transfer-Encoding";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size line";
    case HPE_CR_EXPECTED:
    case HPE_LF_EXPECTED:
    case HPE_STRICT:
        return "invalid line ending";
    case HPE_PAUSED_H2_UPGRADE:
        return "HTTP/2 connection preface on an HTTP/1.1 connection";
    default:
        return "malformed message";
    }
}

/* Records an error that llhttp found, unless a callback recorded one. */
static enum http1_result llhttp_error(struct http1_parser *p,
                                      llhttp_errno_t err)
{
    const char *detail = llhttp_get_error_reason(&p->llhttp);

    if (p->error_status == 0) {
        http1_fail(p, 400, "%s (llhttp: %s)", llhttp_error_kind(err),
                   detail != NULL ? detail : llhttp_errno_name(err));
    }
    return parser_error(p);
}

/* Returns the wire counter that limits the current state, or NULL. */
static size_t *limited_section_bytes(struct http1_parser *p)
{
    if (p->state == HTTP1_STATE_HEAD) {
        return &p->head_section.wire_bytes;
    }
    if (p->state == HTTP1_STATE_TRAILERS) {
        return &p->trailer_section.wire_bytes;
    }
    return NULL;
}

static enum http1_result section_too_large(struct http1_parser *p)
{
    if (p->in_target) {
        http1_fail(p, 414, "request target exceeds the %zu-byte head limit",
                   p->limits.max_head_bytes);
    } else {
        http1_fail(p, 431, "%s exceeds %zu bytes", http1_section_name(p),
                   p->limits.max_head_bytes);
    }
    return parser_error(p);
}

/* Runs llhttp once from DATA + *OFF, at most up to the section limit in a
 * head or trailer section, and handles where it stopped. */
static enum http1_result feed_step(struct http1_parser *p, const char *data,
                                   size_t len, size_t *off)
{
    const char *start = data + *off;
    size_t n = len - *off;
    size_t *wire = limited_section_bytes(p);
    const char *stop;
    llhttp_errno_t err;

    p->rerun = 0;
    if (wire != NULL && n > 0) {
        if (*wire >= p->limits.max_head_bytes) {
            return section_too_large(p);
        }
        if (n > p->limits.max_head_bytes - *wire) {
            n = p->limits.max_head_bytes - *wire;
        }
    }
    p->scan_from = start;
    err = llhttp_execute(&p->llhttp, start, n);
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        return llhttp_error(p, err);
    }
    stop = err == HPE_OK ? start + n : llhttp_get_error_pos(&p->llhttp);
    if (http1_scan_framing(p, stop) != 0) {
        return parser_error(p);
    }
    if (wire != NULL) {
        *wire += (size_t)(stop - start);
    }
    *off = (size_t)(stop - data);
    if (err == HPE_PAUSED) {
        p->rerun = 1;
        return handle_event(p);
    }
    if (err == HPE_PAUSED_UPGRADE) {
        /* The owner declined a protocol switch that handle_complete
         * reported already, so llhttp's own upgrade pause is skipped. */
        llhttp_resume_after_upgrade(&p->llhttp);
        p->rerun = 1;
    }
    return HTTP1_OK;
}

enum http1_result http1_parser_feed(struct http1_parser *parser,
                                    const char *data, size_t len,
                                    size_t *consumed)
{
    enum http1_result result = HTTP1_OK;
    size_t off = 0;

    *consumed = 0;
    if (data == NULL) {
        data = "";
        len = 0;
    }
    if (parser->state == HTTP1_STATE_ERROR) {
        return HTTP1_ERROR;
    }
    if (parser->state == HTTP1_STATE_UPGRADED) {
        return HTTP1_UPGRADE;
    }
    if (parser->owner_paused) {
        return HTTP1_PAUSED;
    }
    if (parser->end_stage != HTTP1_END_NONE) {
        result = handle_message_end(parser);
    }
    /* llhttp runs at least once, even on no input, because after a pause
     * it may complete a message whose bytes it already has. */
    while (result == HTTP1_OK) {
        if (parser->state == HTTP1_STATE_CLOSED) {
            off = len;
            break;
        }
        result = feed_step(parser, data, len, &off);
        if (off == len && !parser->rerun) {
            break;
        }
    }
    *consumed = off;
    return result;
}

static enum http1_result finish_truncated(struct http1_parser *p)
{
    if (p->state == HTTP1_STATE_HEAD) {
        http1_fail(p, 400, "truncated %s: the connection closed inside it",
                   http1_section_name(p));
    } else if (p->state == HTTP1_STATE_TRAILERS) {
        http1_fail(p, 400,
                   "truncated message: the connection closed inside "
                   "the trailer section");
    } else if (p->head.chunked) {
        http1_fail(p, 400,
                   "truncated body: the connection closed inside a "
                   "chunked body");
    } else {
        http1_fail(p, 400,
                   "truncated body: the connection closed after %llu of "
                   "%llu bytes",
                   (unsigned long long)p->body_bytes,
                   (unsigned long long)p->head.content_length);
    }
    return parser_error(p);
}

enum http1_result http1_parser_finish(struct http1_parser *parser)
{
    enum http1_result result = HTTP1_OK;
    llhttp_errno_t err;

    if (parser->state == HTTP1_STATE_ERROR) {
        return HTTP1_ERROR;
    }
    if (parser->owner_paused) {
        http1_fail(parser, 500, "http1_parser_finish called while paused");
        return parser_error(parser);
    }
    if (parser->end_stage != HTTP1_END_NONE) {
        result = handle_message_end(parser);
    }
    if (result != HTTP1_OK || parser->state == HTTP1_STATE_CLOSED ||
        parser->state == HTTP1_STATE_UPGRADED) {
        return result == HTTP1_ERROR ? HTTP1_ERROR : HTTP1_OK;
    }
    err = llhttp_finish(&parser->llhttp);
    if (err == HPE_INVALID_EOF_STATE) {
        return finish_truncated(parser);
    }
    if (err == HPE_PAUSED && parser->event == HTTP1_EVENT_COMPLETE) {
        result = handle_event(parser);
        parser->owner_paused = 0;
        return result == HTTP1_ERROR ? HTTP1_ERROR : HTTP1_OK;
    }
    if (err != HPE_OK) {
        return llhttp_error(parser, err);
    }
    return HTTP1_OK;
}

void http1_parser_resume(struct http1_parser *parser)
{
    if (parser->owner_paused) {
        parser->owner_paused = 0;
        if (parser->end_stage == HTTP1_END_NONE) {
            llhttp_resume(&parser->llhttp);
        }
        return;
    }
    if (parser->state == HTTP1_STATE_UPGRADED) {
        parser->state = HTTP1_STATE_HEAD;
        llhttp_resume(&parser->llhttp);
    }
}

void http1_parser_expect_no_body(struct http1_parser *parser)
{
    parser->expect_no_body = 1;
}

void http1_parser_set_error(struct http1_parser *parser, int status,
                            const char *reason)
{
    http1_fail(parser, status, "%s", reason);
}

int http1_parser_error_status(const struct http1_parser *parser)
{
    return parser->state == HTTP1_STATE_ERROR ? parser->error_status : 0;
}

const char *http1_parser_error_reason(const struct http1_parser *parser)
{
    return parser->state == HTTP1_STATE_ERROR ? parser->error_reason : "";
}

const struct http1_head *http1_parser_head(const struct http1_parser *parser)
{
    return parser->have_head ? &parser->head : NULL;
}

const struct http1_field *http1_field_find(const struct http1_field *fields,
                                           size_t count, const char *name)
{
    size_t len = strlen(name);
    size_t i;

    for (i = 0; i < count; i++) {
        if (fields[i].name_len == len &&
            strncasecmp(fields[i].name, name, len) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}
