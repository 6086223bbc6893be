/*
 * Collecting heads and trailer sections: the llhttp callbacks, the storage
 * they fill, and the checks that llhttp 8.1 in its default mode leaves to
 * its user. Span callbacks may run several times for one element when it
 * arrives in pieces, so they only append, and the *_complete callbacks
 * close the element.
 */
#include "http1/http1_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

int http1_fail(struct http1_parser *p, int status, const char *fmt, ...)
{
    va_list ap;

    if (p->error_status == 0) {
        p->error_status = status;
        va_start(ap, fmt);
        vsnprintf(p->error_reason, sizeof(p->error_reason), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static struct http1_parser *parser_of(llhttp_t *llhttp)
{
    return llhttp->data;
}

static struct http1_section *current_section(struct http1_parser *p)
{
    if (p->state == HTTP1_STATE_TRAILERS) {
        return &p->trailer_section;
    }
    return &p->head_section;
}

const char *http1_section_name(const struct http1_parser *p)
{
    if (p->state == HTTP1_STATE_TRAILERS) {
        return "trailer section";
    }
    if (p->state == HTTP1_STATE_BODY) {
        return "chunk framing";
    }
    return p->type == HTTP1_REQUEST ? "request head" : "response head";
}

static void section_reset(struct http1_section *s)
{
    s->len = 0;
    s->count = 0;
    s->wire_bytes = 0;
    s->element = HTTP1_ELEMENT_NONE;
    s->too_many = 0;
}

void http1_section_free(struct http1_section *s)
{
    free(s->buf);
    free(s->spans);
    free(s->fields);
    memset(s, 0, sizeof(*s));
}

/* Appends LEN bytes to the current section. Every stored byte was received
 * within the section's wire limit, plus one NUL per element, so the bound
 * below only guards against a mistake in that reasoning. */
static int section_append(struct http1_parser *p, const char *data, size_t len)
{
    struct http1_section *s = current_section(p);
    size_t bound =
        p->limits.max_head_bytes + 2 * p->limits.max_header_fields + 16;
    size_t cap = s->cap == 0 ? 1024 : s->cap;
    char *buf;

    if (len > bound - s->len) {
        return http1_fail(p, 431, "%s exceeds %zu bytes", http1_section_name(p),
                          p->limits.max_head_bytes);
    }
    while (cap < s->len + len) {
        cap *= 2;
    }
    if (cap > bound) {
        cap = bound;
    }
    if (cap != s->cap) {
        buf = realloc(s->buf, cap);
        if (buf == NULL) {
            return http1_fail(p, 500, "out of memory for the %s",
                              http1_section_name(p));
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

static int section_terminate(struct http1_parser *p)
{
    return section_append(p, "", 1);
}

/* Starts a new field in the current section. A field beyond the limit is
 * not stored, and on_header_field_complete fails on it once llhttp has
 * checked its name, so that the error does not depend on where the input
 * was split. */
static int section_add_field(struct http1_parser *p)
{
    struct http1_section *s = current_section(p);
    size_t max = p->limits.max_header_fields;
    size_t cap = s->fields_cap == 0 ? 16 : s->fields_cap * 2;
    struct http1_span *spans;
    struct http1_field *fields;

    s->element = HTTP1_ELEMENT_NAME;
    if (s->count >= max) {
        s->too_many = 1;
        return 0;
    }
    if (s->count == s->fields_cap) {
        cap = cap > max ? max : cap;
        spans = realloc(s->spans, cap * sizeof(*spans));
        if (spans == NULL) {
            return http1_fail(p, 500, "out of memory for header fields");
        }
        s->spans = spans;
        fields = realloc(s->fields, cap * sizeof(*fields));
        if (fields == NULL) {
            return http1_fail(p, 500, "out of memory for header fields");
        }
        s->fields = fields;
        s->fields_cap = cap;
    }
    memset(&s->spans[s->count], 0, sizeof(s->spans[0]));
    s->spans[s->count].name_off = s->len;
    s->count++;
    return 0;
}

void http1_section_publish(struct http1_section *s)
{
    size_t i;

    for (i = 0; i < s->count; i++) {
        s->fields[i].name = s->buf + s->spans[i].name_off;
        s->fields[i].name_len = s->spans[i].name_len;
        s->fields[i].value = s->buf + s->spans[i].value_off;
        s->fields[i].value_len = s->spans[i].value_len;
        if (s->fields[i].value_len == 0) {
            /* llhttp may skip the value callbacks of an empty value. */
            s->fields[i].value = "";
        }
    }
}

/*
 * llhttp callbacks. Span callbacks may run several times for one element
 * when it arrives in pieces, so they only append, and the *_complete
 * callbacks close the element. Each span callback first checks the framing
 * bytes up to the end of its span, so that errors come in the order of the
 * bytes however the input was split.
 */

static int on_message_begin(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);
    size_t wire = p->head_section.wire_bytes;

    section_reset(&p->head_section);
    p->head_section.wire_bytes = wire;
    section_reset(&p->trailer_section);
    memset(&p->head, 0, sizeof(p->head));
    p->have_head = 0;
    p->target_seen = 0;
    p->in_target = 0;
    p->reason_seen = 0;
    p->body_bytes = 0;
    return 0;
}

static int on_url(llhttp_t *llhttp, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(llhttp);

    if (http1_scan_framing(p, at + len) != 0) {
        return -1;
    }
    if (!p->target_seen) {
        p->target_seen = 1;
        p->in_target = 1;
        p->target_off = p->head_section.len;
    }
    return section_append(p, at, len);
}

static int on_url_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);
    const struct http1_section *s = &p->head_section;
    size_t i;

    if (!p->target_seen) {
        p->target_seen = 1;
        p->target_off = s->len;
    }
    p->in_target = 0;
    p->head.target_len = s->len - p->target_off;
    /* llhttp 8.1 accepts HTAB and form feed in a target. */
    for (i = p->target_off; i < s->len; i++) {
        if ((unsigned char)s->buf[i] <= 0x20 || s->buf[i] == 0x7f) {
            return http1_fail(p, 400,
                              "control character in the request target");
        }
    }
    return section_terminate(p);
}

static int on_status(llhttp_t *llhttp, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(llhttp);

    if (http1_scan_framing(p, at + len) != 0) {
        return -1;
    }
    if (!p->reason_seen) {
        p->reason_seen = 1;
        p->reason_off = p->head_section.len;
    }
    return section_append(p, at, len);
}

static int on_status_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);
    const struct http1_section *s = &p->head_section;
    size_t i;

    if (!p->reason_seen) {
        p->reason_seen = 1;
        p->reason_off = s->len;
    }
    /* RFC 9112 section 4: HTAB, SP, VCHAR and obs-text. llhttp 8.1 also
     * accepts the other control characters, NUL included. */
    for (i = p->reason_off; i < s->len; i++) {
        unsigned char c = (unsigned char)s->buf[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return http1_fail(p, 400, "control character in the reason phrase");
        }
    }
    return section_terminate(p);
}

static int on_header_field(llhttp_t *llhttp, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(llhttp);
    struct http1_section *s = current_section(p);

    if (http1_scan_framing(p, at + len) != 0) {
        return -1;
    }
    if (s->element != HTTP1_ELEMENT_NAME && section_add_field(p) != 0) {
        return -1;
    }
    return s->too_many ? 0 : section_append(p, at, len);
}

static int on_header_field_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);
    struct http1_section *s = current_section(p);
    struct http1_span *span;

    if (s->element != HTTP1_ELEMENT_NAME && section_add_field(p) != 0) {
        return -1;
    }
    if (s->too_many) {
        return http1_fail(p, 431, "%s has more than %zu fields",
                          http1_section_name(p), p->limits.max_header_fields);
    }
    span = &s->spans[s->count - 1];
    span->name_len = s->len - span->name_off;
    s->element = HTTP1_ELEMENT_NAME_DONE;
    /* llhttp's default mode keeps whitespace before the colon in the name,
     * which RFC 9112 section 5.1 requires a server to reject. */
    if (!http1_is_token(s->buf + span->name_off, span->name_len)) {
        return http1_fail(p, 400,
                          "invalid field name in the %s (empty, not a "
                          "token, or whitespace before the colon)",
                          http1_section_name(p));
    }
    return section_terminate(p);
}

static int on_header_value(llhttp_t *llhttp, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(llhttp);
    struct http1_section *s = current_section(p);

    if (http1_scan_framing(p, at + len) != 0) {
        return -1;
    }
    if (s->count == 0) {
        return http1_fail(p, 400, "field value without a name");
    }
    if (s->element != HTTP1_ELEMENT_VALUE) {
        s->spans[s->count - 1].value_off = s->len;
        s->element = HTTP1_ELEMENT_VALUE;
    }
    return section_append(p, at, len);
}

static int on_header_value_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);
    struct http1_section *s = current_section(p);
    struct http1_span *span;

    if (s->count == 0) {
        return http1_fail(p, 400, "field value without a name");
    }
    span = &s->spans[s->count - 1];
    if (s->element != HTTP1_ELEMENT_VALUE) {
        span->value_off = s->len;
    }
    /* llhttp drops leading whitespace but keeps trailing whitespace. */
    while (s->len > span->value_off &&
           (s->buf[s->len - 1] == ' ' || s->buf[s->len - 1] == '\t')) {
        s->len--;
    }
    span->value_len = s->len - span->value_off;
    s->element = HTTP1_ELEMENT_NONE;
    return section_terminate(p);
}

/* Checks Transfer-Encoding. The relay implements no transfer coding but
 * chunked, and RFC 9112 section 6.1 calls for 501 on any other. llhttp
 * itself rejects chunked followed by another coding, a repeated chunked,
 * and Transfer-Encoding together with Content-Length. */
static int check_transfer_encoding(struct http1_parser *p)
{
    const struct http1_section *s = &p->head_section;
    const char *c;
    const char *end;
    size_t i, len, codings = 0;
    int present = 0;

    for (i = 0; i < s->count; i++) {
        if (strcasecmp(s->fields[i].name, "Transfer-Encoding") != 0) {
            continue;
        }
        present = 1;
        c = s->fields[i].value;
        end = c + s->fields[i].value_len;
        while (c < end) {
            c += strspn(c, " \t,");
            len = strcspn(c, " \t,");
            if (len == 0) {
                break;
            }
            codings++;
            if (len != 7 || strncasecmp(c, "chunked", 7) != 0) {
                return http1_fail(p, 501,
                                  "unsupported transfer coding: only "
                                  "chunked is implemented");
            }
            c += len;
        }
    }
    if (present && p->head.version_minor == 0) {
        return http1_fail(p, 400, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if (present && codings == 0) {
        return http1_fail(p, 400, "empty Transfer-Encoding");
    }
    return 0;
}

/* Fills the start line and the field list of p->head. */
static void head_fill_basics(struct http1_parser *p)
{
    struct http1_section *s = &p->head_section;
    llhttp_t *llhttp = &p->llhttp;

    http1_section_publish(s);
    p->head.fields = s->fields;
    p->head.field_count = s->count;
    p->head.version_major = llhttp->http_major;
    p->head.version_minor = llhttp->http_minor;
    if (p->type == HTTP1_REQUEST) {
        p->head.method = llhttp_method_name(llhttp->method);
        p->head.target = p->target_seen ? s->buf + p->target_off : "";
    } else {
        p->head.status = llhttp->status_code;
        p->head.reason = p->reason_seen ? s->buf + p->reason_off : "";
    }
}

/* Decides whether the message has a body and fills the derived facts. */
static void head_fill_framing(struct http1_parser *p)
{
    llhttp_t *llhttp = &p->llhttp;
    const struct http1_field *expect;
    int status = p->head.status;

    if (p->type == HTTP1_RESPONSE && (status / 100 == 1 || status == 204 ||
                                      status == 304 || p->expect_no_body)) {
        /* RFC 9112 section 6.3 rule 1. llhttp's pause path ignores the
         * "no body" return value of on_headers_complete, so the flag it
         * would set is set here. */
        llhttp->flags |= F_SKIPBODY;
        p->head.no_body = 1;
    }
    p->head.has_content_length = (llhttp->flags & F_CONTENT_LENGTH) != 0;
    p->head.content_length =
        p->head.has_content_length ? llhttp->content_length : 0;
    p->head.chunked = (llhttp->flags & F_CHUNKED) != 0;
    p->head.keep_alive = llhttp_should_keep_alive(llhttp);
    p->head.upgrade = llhttp->upgrade;
    expect = http1_field_find(p->head.fields, p->head.field_count, "Expect");
    p->head.expect_continue =
        expect != NULL && strcasecmp(expect->value, "100-continue") == 0;
}

/* Runs at the head's pause, after the framing check of the whole head, so
 * that the error does not depend on where the input was split. */
int http1_head_validate(struct http1_parser *p)
{
    uint64_t max_body = p->limits.max_body_bytes;

    if (p->head.version_major != 1 || p->head.version_minor > 1) {
        return http1_fail(p, 505, "HTTP/%d.%d is not supported",
                          p->head.version_major, p->head.version_minor);
    }
    if (p->type == HTTP1_RESPONSE && p->head.status < 100) {
        /* llhttp accepts any three digits, 000 included. */
        return http1_fail(p, 400, "invalid status code %d, below 100",
                          p->head.status);
    }
    if (check_transfer_encoding(p) != 0) {
        return -1;
    }
    if (!p->head.no_body && p->head.has_content_length && max_body != 0 &&
        p->head.content_length > max_body) {
        return http1_fail(p, 413,
                          "Content-Length %llu exceeds the limit of %llu "
                          "bytes",
                          (unsigned long long)p->head.content_length,
                          (unsigned long long)max_body);
    }
    return 0;
}

/* Fills the head and pauses, so that http1_parser_feed checks it and calls
 * on_head knowing where the head ends. */
static int on_headers_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);

    if (p->state == HTTP1_STATE_TRAILERS) {
        return 0;
    }
    head_fill_basics(p);
    head_fill_framing(p);
    p->event = HTTP1_EVENT_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *llhttp, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(llhttp);
    uint64_t max = p->limits.max_body_bytes;
    int over = 0;
    int action = HTTP1_CONTINUE;

    /* llhttp flushes an open span at the end of every input, even an
     * empty one, and the owner must not see (or pause on) empty pieces. */
    if (len == 0) {
        return 0;
    }
    if (http1_scan_framing(p, at) != 0) {
        return -1;
    }
    p->scan_from = at + len;
    if (max != 0 && len > max - p->body_bytes) {
        /* The owner gets the bytes up to the limit whatever the split. */
        over = 1;
        len = (size_t)(max - p->body_bytes);
    }
    p->body_bytes += len;
    if (p->callbacks.on_body != NULL && len > 0) {
        action = p->callbacks.on_body(p, at, len, p->arg);
    }
    if (action != HTTP1_CONTINUE && action != HTTP1_PAUSE) {
        return http1_fail(p, 500, "the on_body callback failed");
    }
    if (over) {
        return http1_fail(p, 413, "body exceeds the limit of %llu bytes",
                          (unsigned long long)max);
    }
    if (action == HTTP1_PAUSE) {
        p->owner_paused = 1;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);

    if (llhttp->content_length != 0) {
        return 0;
    }
    p->event = HTTP1_EVENT_LAST_CHUNK;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *llhttp)
{
    struct http1_parser *p = parser_of(llhttp);

    p->event = HTTP1_EVENT_COMPLETE;
    return HPE_PAUSED;
}

const llhttp_settings_t http1_llhttp_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_status_complete = on_status_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_chunk_header = on_chunk_header,
};

/* Checks the framing bytes from p->scan_from to END: each LF must follow a
 * CR, each CR must precede an LF, and no line may start with whitespace.
 * llhttp 8.1 in its default mode accepts a bare LF after the start line,
 * after the last field and after chunk data, and it accepts obsolete line
 * folding. RFC 9112 sections 2.2 and 5.2 let a recipient reject all of
 * them, and a relay must, because the next hop may read them differently. */
int http1_scan_framing(struct http1_parser *p, const char *end)
{
    const unsigned char *c = (const unsigned char *)p->scan_from;
    unsigned char prev = p->scan_prev;

    for (; c < (const unsigned char *)end; c++) {
        if (*c == '\n' && prev != '\r') {
            return http1_fail(p, 400, "bare LF without CR in the %s",
                              http1_section_name(p));
        }
        if (prev == '\r' && *c != '\n') {
            return http1_fail(p, 400, "CR without LF in the %s",
                              http1_section_name(p));
        }
        if (prev == '\n' && (*c == ' ' || *c == '\t')) {
            return http1_fail(p, 400,
                              "line starting with whitespace (obsolete line "
                              "folding) in the %s",
                              http1_section_name(p));
        }
        prev = *c;
    }
    p->scan_prev = prev;
    p->scan_from = end;
    return 0;
}
