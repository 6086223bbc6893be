/*
 * The HTTP/1.1 writer: heads, chunks and short error responses appended to
 * evbuffers. Each function builds its output in a private evbuffer and
 * moves it into OUT at the end, so OUT never receives half a head.
 */
#include "http1/http1.h"

#include "common/log.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <strings.h>

struct http1_reason {
    int status;
    const char *phrase;
};

static const struct http1_reason http1_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {511, "Network Authentication Required"},
};

/* RFC 9110 section 7.6.1, plus Proxy-Connection, which old clients send
 * and which has the same meaning. */
static const char *const http1_hop_by_hop_names[] = {
    "Connection",          "Keep-Alive", "Proxy-Connection",
    "Proxy-Authenticate",  "TE",         "Trailer",
    "Proxy-Authorization", "Upgrade",    "Transfer-Encoding",
};

const char *http1_status_reason(int status)
{
    size_t i;

    for (i = 0; i < sizeof(http1_reasons) / sizeof(http1_reasons[0]); i++) {
        if (http1_reasons[i].status == status) {
            return http1_reasons[i].phrase;
        }
    }
    return "";
}

/* Returns 1 when the comma-separated LIST contains NAME, ignoring case. */
static int list_contains(const char *list, const char *name)
{
    size_t name_len = strlen(name);
    size_t len;

    while (*list != '\0') {
        list += strspn(list, " \t,");
        len = strcspn(list, " \t,");
        if (len == name_len && len > 0 && strncasecmp(list, name, len) == 0) {
            return 1;
        }
        list += len;
    }
    return 0;
}

int http1_is_hop_by_hop(const char *name, const char *connection_value)
{
    size_t count =
        sizeof(http1_hop_by_hop_names) / sizeof(http1_hop_by_hop_names[0]);
    size_t i;

    for (i = 0; i < count; i++) {
        if (strcasecmp(name, http1_hop_by_hop_names[i]) == 0) {
            return 1;
        }
    }
    return connection_value != NULL && list_contains(connection_value, name);
}

/* RFC 9110 section 5.6.2: tchar. */
static int is_token_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http1_is_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!is_token_char((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Returns 1 when S contains CR, LF or NUL, any of which could end a line
 * of the head early. */
static int has_line_break(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') {
            return 1;
        }
    }
    return 0;
}

/* Copies at most 64 bytes of a rejected name into BUF for a log line, with
 * every byte that is not printable ASCII replaced by '?'. */
static const char *printable_name(const char *name, size_t len, char *buf,
                                  size_t size)
{
    size_t i;

    if (len > size - 1) {
        len = size - 1;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        buf[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[len] = '\0';
    return buf;
}

static int check_fields(const struct http1_field *fields, size_t count)
{
    char name[65];
    size_t i;

    for (i = 0; i < count; i++) {
        const struct http1_field *f = &fields[i];

        if (!http1_is_token(f->name, f->name_len)) {
            log_warn("http1: cannot write header field \"%s\": the name is "
                     "empty or not a token; drop or rename the field",
                     printable_name(f->name, f->name_len, name, sizeof(name)));
            return -1;
        }
        if (has_line_break(f->value, f->value_len)) {
            log_warn("http1: cannot write header field \"%s\": its value "
                     "contains CR, LF or NUL, which could split the "
                     "message; drop the field",
                     printable_name(f->name, f->name_len, name, sizeof(name)));
            return -1;
        }
    }
    return 0;
}

/* Returns 1 for a reason phrase of HTAB, SP, VCHAR and obs-text only
 * (RFC 9112 section 4). */
static int is_reason_phrase(const char *reason)
{
    const unsigned char *c;

    for (c = (const unsigned char *)reason; *c != '\0'; c++) {
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int check_status_line(int status, const char *reason)
{
    if (status < 100 || status > 999) {
        log_warn("http1: cannot write status %d: a status has three digits, "
                 "100 to 999",
                 status);
        return -1;
    }
    if (!is_reason_phrase(reason)) {
        log_warn("http1: cannot write the reason phrase of status %d: it "
                 "contains control characters",
                 status);
        return -1;
    }
    return 0;
}

static int add_fields(struct evbuffer *buf, const struct http1_field *fields,
                      size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (evbuffer_add(buf, fields[i].name, fields[i].name_len) != 0 ||
            evbuffer_add(buf, ": ", 2) != 0 ||
            evbuffer_add(buf, fields[i].value, fields[i].value_len) != 0 ||
            evbuffer_add(buf, "\r\n", 2) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Moves TMP into OUT and frees TMP. Moving chains allocates nothing. */
static int move_out(struct evbuffer *out, struct evbuffer *tmp)
{
    int ret = evbuffer_add_buffer(out, tmp);

    evbuffer_free(tmp);
    return ret;
}

/* Appends the fields and the empty line to TMP, which contains the start
 * line, then moves TMP into OUT. Frees TMP in every case. */
static int finish_head(struct evbuffer *out, struct evbuffer *tmp,
                       const struct http1_field *fields, size_t count)
{
    if (add_fields(tmp, fields, count) != 0 ||
        evbuffer_add(tmp, "\r\n", 2) != 0) {
        log_error("http1: out of memory while writing a message head");
        evbuffer_free(tmp);
        return -1;
    }
    return move_out(out, tmp);
}

int http1_write_request_head(struct evbuffer *out, const char *method,
                             const char *target,
                             const struct http1_field *fields, size_t count)
{
    struct evbuffer *tmp;
    const unsigned char *c;

    if (!http1_is_token(method, strlen(method))) {
        log_warn("http1: cannot write a request: the method is empty or "
                 "not a token");
        return -1;
    }
    for (c = (const unsigned char *)target; *c != '\0'; c++) {
        if (*c <= 0x20 || *c == 0x7f) {
            log_warn("http1: cannot write a %s request: the target contains "
                     "whitespace or control characters",
                     method);
            return -1;
        }
    }
    if (*target == '\0') {
        log_warn("http1: cannot write a %s request: the target is empty",
                 method);
        return -1;
    }
    if (check_fields(fields, count) != 0) {
        return -1;
    }
    tmp = evbuffer_new();
    if (tmp == NULL ||
        evbuffer_add_printf(tmp, "%s %s HTTP/1.1\r\n", method, target) < 0) {
        log_error("http1: out of memory while writing a request head");
        if (tmp != NULL) {
            evbuffer_free(tmp);
        }
        return -1;
    }
    return finish_head(out, tmp, fields, count);
}

int http1_write_response_head(struct evbuffer *out, int status,
                              const char *reason,
                              const struct http1_field *fields, size_t count)
{
    struct evbuffer *tmp;

    if (reason == NULL) {
        reason = http1_status_reason(status);
    }
    if (check_status_line(status, reason) != 0 ||
        check_fields(fields, count) != 0) {
        return -1;
    }
    tmp = evbuffer_new();
    if (tmp == NULL ||
        evbuffer_add_printf(tmp, "HTTP/1.1 %d %s\r\n", status, reason) < 0) {
        log_error("http1: out of memory while writing a response head");
        if (tmp != NULL) {
            evbuffer_free(tmp);
        }
        return -1;
    }
    return finish_head(out, tmp, fields, count);
}

int http1_write_chunk(struct evbuffer *out, const void *data, size_t len)
{
    struct evbuffer *tmp;

    if (len == 0) {
        return 0;
    }
    tmp = evbuffer_new();
    if (tmp == NULL || evbuffer_add_printf(tmp, "%zx\r\n", len) < 0 ||
        evbuffer_add(tmp, data, len) != 0 ||
        evbuffer_add(tmp, "\r\n", 2) != 0) {
        log_error("http1: out of memory while writing a %zu-byte chunk", len);
        if (tmp != NULL) {
            evbuffer_free(tmp);
        }
        return -1;
    }
    return move_out(out, tmp);
}

int http1_write_chunk_buffer(struct evbuffer *out, struct evbuffer *data)
{
    size_t len = evbuffer_get_length(data);
    struct evbuffer *size_line = NULL;
    struct evbuffer *end_line = NULL;
    int ret = -1;

    if (len == 0) {
        return 0;
    }
    /* Both small buffers exist before DATA moves, so that a failure leaves
     * DATA and OUT unchanged. */
    size_line = evbuffer_new();
    end_line = evbuffer_new();
    if (size_line == NULL || end_line == NULL ||
        evbuffer_add_printf(size_line, "%zx\r\n", len) < 0 ||
        evbuffer_add(end_line, "\r\n", 2) != 0) {
        log_error("http1: out of memory while writing a %zu-byte chunk", len);
        goto out;
    }
    if (evbuffer_add_buffer(out, size_line) != 0 ||
        evbuffer_add_buffer(out, data) != 0 ||
        evbuffer_add_buffer(out, end_line) != 0) {
        log_error("http1: cannot move a %zu-byte chunk into a frozen "
                  "evbuffer",
                  len);
        goto out;
    }
    ret = 0;
out:
    if (end_line != NULL) {
        evbuffer_free(end_line);
    }
    if (size_line != NULL) {
        evbuffer_free(size_line);
    }
    return ret;
}

int http1_write_last_chunk(struct evbuffer *out,
                           const struct http1_field *trailers, size_t count)
{
    struct evbuffer *tmp;

    if (check_fields(trailers, count) != 0) {
        return -1;
    }
    tmp = evbuffer_new();
    if (tmp == NULL || evbuffer_add(tmp, "0\r\n", 3) != 0) {
        log_error("http1: out of memory while writing the last chunk");
        if (tmp != NULL) {
            evbuffer_free(tmp);
        }
        return -1;
    }
    return finish_head(out, tmp, trailers, count);
}

/* Checks that BODY_LINE is one line: no CR, and LF only at its end. */
static int check_body_line(int status, const char *body_line)
{
    const char *lf = strchr(body_line, '\n');

    if (strchr(body_line, '\r') != NULL || (lf != NULL && lf[1] != '\0')) {
        log_warn("http1: cannot write the body of a %d error response: it "
                 "must be one line without CR",
                 status);
        return -1;
    }
    return 0;
}

int http1_write_error(struct evbuffer *out, int status, const char *reason,
                      const char *body_line, int close,
                      const struct http1_field *extra, size_t count)
{
    size_t line_len = strlen(body_line);
    int add_lf = line_len == 0 || body_line[line_len - 1] != '\n';
    struct evbuffer *tmp;

    if (reason == NULL) {
        reason = http1_status_reason(status);
    }
    if (check_status_line(status, reason) != 0 ||
        check_body_line(status, body_line) != 0 ||
        check_fields(extra, count) != 0) {
        return -1;
    }
    tmp = evbuffer_new();
    if (tmp == NULL ||
        evbuffer_add_printf(tmp,
                            "HTTP/1.1 %d %s\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Length: %zu\r\n%s",
                            status, reason, line_len + (add_lf ? 1 : 0),
                            close ? "Connection: close\r\n" : "") < 0 ||
        add_fields(tmp, extra, count) != 0 ||
        evbuffer_add(tmp, "\r\n", 2) != 0 ||
        evbuffer_add(tmp, body_line, line_len) != 0 ||
        (add_lf && evbuffer_add(tmp, "\n", 1) != 0)) {
        log_error("http1: out of memory while writing a %d error response",
                  status);
        if (tmp != NULL) {
            evbuffer_free(tmp);
        }
        return -1;
    }
    return move_out(out, tmp);
}
