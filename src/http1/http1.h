/*
 * HTTP/1.1 messages: a parser on top of llhttp and a writer into libevent
 * evbuffers. The relay parses requests from clients and the enabler parses
 * responses from backend servers, and both write the other direction.
 *
 * The parser rejects the framings that a relay's next hop could read
 * differently, so that a client cannot smuggle a request through the relay:
 * Content-Length with Transfer-Encoding, two Content-Length fields, a
 * transfer coding after chunked, obsolete line folding, a CR or LF without
 * its pair, whitespace before a field's colon, and control characters in
 * the start line (RFC 9112 sections 2.2, 3, 5 and 6). It never enables
 * llhttp's lenient flags. It does not log: the owner logs the stored reason
 * with its connection ids. The fuzz target checks that callbacks and error
 * statuses do not depend on how the input is split.
 *
 * NOTE: llhttp 8.1 accepts several spaces between the parts of a request
 * line. The writer puts single spaces, so forwarded heads carry none.
 *
 * Memory is bounded by the limits: a parser holds at most one head and one
 * trailer section, each at most max_head_bytes plus a NUL per element and
 * an array of max_header_fields fields, and body bytes are passed through
 * without being copied.
 */
#ifndef DRAWBRIDGE_HTTP1_H
#define DRAWBRIDGE_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct evbuffer;
struct http1_parser;

#define HTTP1_DEFAULT_MAX_HEAD_BYTES    65536
#define HTTP1_DEFAULT_MAX_HEADER_FIELDS 100

/* A header or trailer field. The writer uses the lengths, so NAME and VALUE
 * need not be NUL-terminated there. Fields from the parser are
 * NUL-terminated, with the name as received and the value without leading
 * or trailing whitespace. */
struct http1_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Builds a field from two NUL-terminated strings. */
static inline struct http1_field http1_field_of(const char *name,
                                                const char *value)
{
    struct http1_field field = {name, strlen(name), value, strlen(value)};

    return field;
}

enum http1_type {
    HTTP1_REQUEST,
    HTTP1_RESPONSE,
};

/* Parser limits. A zero member takes its default. */
struct http1_limits {
    /* Bytes of the start line plus header fields as received, CRLFs
     * included (default 65536). The trailer section has the same limit. */
    size_t max_head_bytes;
    /* Header fields in the head, and separately in the trailer section
     * (default 100). */
    size_t max_header_fields;
    /* Bytes of decoded body (default 0: no limit). A longer Content-Length
     * fails at the head, and a longer chunked or close-delimited body fails
     * after on_body received the bytes up to the limit. */
    uint64_t max_body_bytes;
};

/* A parsed head. Strings are NUL-terminated and belong to the parser. */
struct http1_head {
    const char *method; /* requests: "GET", "POST"...; NULL in responses */
    const char *target; /* requests: the request target as received */
    size_t target_len;
    int version_major;  /* always 1 */
    int version_minor;  /* 0 or 1 */
    int status;         /* responses: 100 to 999; 0 in requests */
    const char *reason; /* responses: the reason phrase, maybe "" */
    const struct http1_field *fields;
    size_t field_count;
    int has_content_length;
    uint64_t content_length; /* valid when has_content_length is 1 */
    int chunked;             /* Transfer-Encoding: chunked */
    int no_body;         /* responses to HEAD, 1xx, 204 and 304 have no body */
    int keep_alive;      /* the connection stays open after this message */
    int upgrade;         /* Upgrade with Connection: upgrade, or CONNECT */
    int expect_continue; /* Expect: 100-continue */
};

/* Callback return values: go on, pause the parser (http1_parser_feed then
 * returns HTTP1_PAUSED), or fail (http1_parser_feed returns HTTP1_ERROR). */
enum http1_action {
    HTTP1_CONTINUE = 0,
    HTTP1_PAUSE = 1,
    HTTP1_FAIL = -1,
};

/* The owner's callbacks, each of which may be NULL. ARG is the pointer
 * given to http1_parser_new. A callback that returns HTTP1_FAIL may call
 * http1_parser_set_error first; otherwise the error is 500.
 *
 * on_head: the whole head is parsed and checked. An interim response
 * (1xx other than a 101 that switches protocols) gets on_head only, and
 * the final response follows with its own on_head.
 * on_body: a piece of decoded body (chunked framing removed). DATA points
 * into the bytes given to http1_parser_feed and is valid during the call.
 * on_trailers: the trailer fields after a chunked body, called only when
 * there is at least one. FIELDS is valid during the call.
 * on_complete: the message is done. For a body delimited by connection
 * close this happens in http1_parser_finish. */
struct http1_callbacks {
    int (*on_head)(struct http1_parser *parser, const struct http1_head *head,
                   void *arg);
    int (*on_body)(struct http1_parser *parser, const char *data, size_t len,
                   void *arg);
    int (*on_trailers)(struct http1_parser *parser,
                       const struct http1_field *fields, size_t count,
                       void *arg);
    int (*on_complete)(struct http1_parser *parser, void *arg);
};

/* Results of http1_parser_feed and http1_parser_finish. */
enum http1_result {
    HTTP1_OK,      /* every byte consumed */
    HTTP1_PAUSED,  /* a callback returned HTTP1_PAUSE */
    HTTP1_UPGRADE, /* the rest belongs to the protocol switched to */
    HTTP1_ERROR,   /* see http1_parser_error_status and _reason */
};

/* Creates a parser for requests or responses on one connection. LIMITS may
 * be NULL for the defaults, and CALLBACKS is copied. Returns the parser,
 * which the caller frees with http1_parser_free, or NULL when out of
 * memory. */
struct http1_parser *http1_parser_new(enum http1_type type,
                                      const struct http1_limits *limits,
                                      const struct http1_callbacks *callbacks,
                                      void *arg);

/* Frees PARSER and everything it stored. NULL is ignored. */
void http1_parser_free(struct http1_parser *parser);

/* Parses LEN bytes of DATA (which may be NULL when LEN is 0), calling the
 * callbacks on the way, and stores in CONSUMED how many bytes it used.
 * Returns:
 * - HTTP1_OK: all LEN bytes were consumed, and the next bytes of the
 *   connection go to the next call. After a message that does not keep the
 *   connection alive, later bytes are consumed and ignored, because RFC 9112
 *   section 9.6 forbids processing them.
 * - HTTP1_PAUSED: a callback asked to pause. The caller calls
 *   http1_parser_resume and later feeds DATA + CONSUMED again, with LEN 0
 *   when nothing is left, because the parser may still have a callback to
 *   make (on_complete of a message without a body). Until the resume, every
 *   call returns HTTP1_PAUSED and consumes nothing.
 * - HTTP1_UPGRADE: a message asking for a protocol switch (Upgrade with
 *   Connection: upgrade, CONNECT, or a 101 response) is complete and
 *   on_complete was called. CONSUMED is the end of that message (its head,
 *   plus its body if it had one), and the bytes after it belong to the new
 *   protocol. To decline the switch and go on with HTTP/1.1, call
 *   http1_parser_resume and feed those bytes.
 * - HTTP1_ERROR: the message is invalid or a callback failed. Every later
 *   call returns HTTP1_ERROR again, and the connection cannot be reused.
 *   The status is 400 for invalid framing and 431 for a head over
 *   max_head_bytes (414 while still inside the request target) or with too
 *   many fields. A body over max_body_bytes gives 413, a transfer coding
 *   other than chunked 501, and an HTTP version other than 1.0 or 1.1 505.
 *   A failed callback gives 500 unless it called http1_parser_set_error.
 *   For a response parser the status only classifies the error, and the
 *   owner usually sends 502 to its client. */
enum http1_result http1_parser_feed(struct http1_parser *parser,
                                    const char *data, size_t len,
                                    size_t *consumed);

/* Tells PARSER that the connection reached EOF. A response delimited by
 * connection close is complete: on_complete is called and HTTP1_OK
 * returned. EOF between messages, or after a message that ended the
 * connection, also returns HTTP1_OK. EOF inside a head, inside a body with
 * a known length or inside a chunked body returns HTTP1_ERROR with status
 * 400 and a reason starting with "truncated". Call it once, after feeding
 * every byte and not while paused. */
enum http1_result http1_parser_finish(struct http1_parser *parser);

/* Lets PARSER go on after HTTP1_PAUSED, or declines a protocol switch
 * after HTTP1_UPGRADE. Does nothing in other states. */
void http1_parser_resume(struct http1_parser *parser);

/* Declares that the next final response is the one to a HEAD request, so
 * it has no body whatever its header fields say. Call it before feeding
 * that response's head. It applies to one final response, and responses
 * with status 1xx, 204 and 304 have no body without it. */
void http1_parser_expect_no_body(struct http1_parser *parser);

/* Records the status and the one-line REASON (copied, cut to 159 bytes)
 * that http1_parser_feed reports when the calling callback returns
 * HTTP1_FAIL, for example 413 from on_head when Content-Length is too
 * large for the owner. */
void http1_parser_set_error(struct http1_parser *parser, int status,
                            const char *reason);

/* Returns the HTTP status of the error after HTTP1_ERROR, or 0. */
int http1_parser_error_status(const struct http1_parser *parser);

/* Returns the one-line reason of the error after HTTP1_ERROR, or "".
 * Reasons that the parser writes contain no byte of the message, so they
 * are safe to log. */
const char *http1_parser_error_reason(const struct http1_parser *parser);

/* Returns the head of the current message, or NULL before the first
 * on_head. It is valid until the first byte of the next message is parsed,
 * so after HTTP1_UPGRADE it stays valid until the parser is freed. */
const struct http1_head *http1_parser_head(const struct http1_parser *parser);

/* Returns the first of COUNT FIELDS whose name equals NAME ignoring case,
 * or NULL. */
const struct http1_field *http1_field_find(const struct http1_field *fields,
                                           size_t count, const char *name);

/* Returns the reason phrase of STATUS from RFC 9110 ("Not Found"), RFC 6585
 * (428, 429, 431, 511), RFC 7725 (451) or RFC 8297 (103), or "" for any
 * other status. */
const char *http1_status_reason(int status);

/* Returns 1 when the LEN bytes of S form a token (RFC 9110 section 5.6.2),
 * the syntax of methods and field names, and 0 otherwise or when LEN is 0. */
int http1_is_token(const char *s, size_t len);

/* Returns 1 when the field NAME must not be forwarded by a proxy (RFC 9110
 * section 7.6.1), and 0 otherwise. These are Connection, Keep-Alive,
 * Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
 * Transfer-Encoding and Upgrade, ignoring case. So is every name listed in
 * CONNECTION_VALUE, the comma-separated value of the Connection field (NULL
 * when absent). When a message has several Connection fields, join their
 * values with ", ". */
int http1_is_hop_by_hop(const char *name, const char *connection_value);

/*
 * The writer. Each function checks its whole input first, and returns -1
 * with OUT unchanged when a name is not a token or a value contains CR, LF
 * or NUL, so that nothing forwarded can split a message. It logs which
 * field was rejected, never the value. Otherwise it appends to OUT and
 * returns 0, or -1 with OUT unchanged when memory runs out.
 */

/* Writes "METHOD TARGET HTTP/1.1", the COUNT FIELDS and the empty line.
 * TARGET must not contain whitespace or control characters. */
int http1_write_request_head(struct evbuffer *out, const char *method,
                             const char *target,
                             const struct http1_field *fields, size_t count);

/* Writes "HTTP/1.1 STATUS REASON", the COUNT FIELDS and the empty line.
 * STATUS must be 100 to 999. REASON NULL takes http1_status_reason. */
int http1_write_response_head(struct evbuffer *out, int status,
                              const char *reason,
                              const struct http1_field *fields, size_t count);

/* Writes LEN bytes of DATA as one chunk. LEN 0 writes nothing, because an
 * empty chunk would end the body. */
int http1_write_chunk(struct evbuffer *out, const void *data, size_t len);

/* Moves all of DATA into OUT as one chunk, without copying. An empty DATA
 * writes nothing. On -1, DATA is left unchanged. */
int http1_write_chunk_buffer(struct evbuffer *out, struct evbuffer *data);

/* Writes the last chunk "0", the COUNT TRAILERS (which may be 0) and the
 * empty line that ends a chunked body. */
int http1_write_last_chunk(struct evbuffer *out,
                           const struct http1_field *trailers, size_t count);

/* Writes a whole short error response: the status line (REASON NULL takes
 * http1_status_reason), Content-Type: text/plain; charset=utf-8,
 * Content-Length, Connection: close when CLOSE is 1, the COUNT EXTRA
 * fields (Retry-After...) and the body, which is the one line BODY_LINE
 * followed by "\n" unless it already ends in "\n". BODY_LINE must contain
 * no other CR or LF. Not for a response to HEAD, which has no body. */
int http1_write_error(struct evbuffer *out, int status, const char *reason,
                      const char *body_line, int close,
                      const struct http1_field *extra, size_t count);

#endif
