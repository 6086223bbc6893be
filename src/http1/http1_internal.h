/*
 * Internals of the HTTP/1.1 parser, shared by http1_parse.c (the feed loop
 * and the owner callbacks) and http1_head.c (the llhttp callbacks that
 * collect heads and trailers). Not for other modules.
 */
#ifndef DRAWBRIDGE_HTTP1_INTERNAL_H
#define DRAWBRIDGE_HTTP1_INTERNAL_H

#include "http1/http1.h"

#include <llhttp.h>

#define HTTP1_REASON_MAX 160

/* Offsets of one field into its section's storage, which moves when it
 * grows, so pointers are only made when the section is complete. */
struct http1_span {
    size_t name_off;
    size_t name_len;
    size_t value_off;
    size_t value_len;
};

/* The part of a field that the last llhttp span callback appended to. */
enum http1_element {
    HTTP1_ELEMENT_NONE,
    HTTP1_ELEMENT_NAME,
    HTTP1_ELEMENT_NAME_DONE,
    HTTP1_ELEMENT_VALUE,
};

/* Storage of a head or a trailer section: strings, each NUL-terminated. */
struct http1_section {
    char *buf;
    size_t len;
    size_t cap;
    struct http1_span *spans;
    struct http1_field *fields;
    size_t count;
    size_t fields_cap;
    size_t wire_bytes; /* bytes of the section received so far */
    enum http1_element element;
    int too_many; /* a field beyond max_header_fields started */
};

enum http1_state {
    HTTP1_STATE_HEAD, /* between messages or inside a head */
    HTTP1_STATE_BODY,
    HTTP1_STATE_TRAILERS,
    HTTP1_STATE_CLOSED, /* the last message of the connection is complete */
    HTTP1_STATE_UPGRADED,
    HTTP1_STATE_ERROR,
};

/* The internal pause at which llhttp stopped. */
enum http1_event {
    HTTP1_EVENT_NONE,
    HTTP1_EVENT_HEAD,
    HTTP1_EVENT_LAST_CHUNK,
    HTTP1_EVENT_COMPLETE,
};

/* The owner callbacks still due at the end of a message. */
enum http1_end_stage {
    HTTP1_END_NONE,
    HTTP1_END_TRAILERS,
    HTTP1_END_COMPLETE,
};

struct http1_parser {
    llhttp_t llhttp;
    enum http1_type type;
    struct http1_limits limits;
    struct http1_callbacks callbacks;
    void *arg;
    enum http1_state state;
    enum http1_event event;
    enum http1_end_stage end_stage;
    int owner_paused; /* llhttp stays paused until http1_parser_resume */
    int rerun;        /* llhttp was resumed and may go on without more input */
    int expect_no_body;
    int have_head;
    struct http1_section head_section;
    struct http1_section trailer_section;
    struct http1_head head;
    size_t target_off;
    int target_seen;
    int in_target;
    size_t reason_off;
    int reason_seen;
    uint64_t body_bytes;
    const char *scan_from;   /* first unchecked byte of the current input */
    unsigned char scan_prev; /* last framing byte checked */
    int error_status;
    char error_reason[HTTP1_REASON_MAX];
};

/* The llhttp callbacks of every parser. */
extern const llhttp_settings_t http1_llhttp_settings;

/* Records the first error of a message (status and reason) and returns -1,
 * which every llhttp callback may return to stop llhttp. */
int http1_fail(struct http1_parser *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names the part of the message being parsed, for error reasons. */
const char *http1_section_name(const struct http1_parser *p);

/* Frees the storage of S and zeroes it. */
void http1_section_free(struct http1_section *s);

/* Makes the public field array of a complete section. */
void http1_section_publish(struct http1_section *s);

/* Checks what llhttp leaves to its user in a complete head: the version,
 * the status code, Transfer-Encoding and max_body_bytes. Returns 0, or -1
 * after http1_fail. */
int http1_head_validate(struct http1_parser *p);

/* Checks the framing bytes from p->scan_from to END and moves scan_from to
 * END. Returns 0, or -1 after http1_fail. */
int http1_scan_framing(struct http1_parser *p, const char *end);

#endif
