#include "enabler/enabler_exchange.h"

#include "common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void enabler_exchange_on_body_drain(void *arg)
{
    struct enabler_exchange *ex = arg;

    if (ex->backend != NULL) {
        enabler_backend_resume(ex->backend);
    }
}

static void enabler_exchange_on_timeout(evutil_socket_t fd, short what,
                                        void *arg);

static void enabler_exchange_free(struct enabler_exchange *ex)
{
    if (ex->timer != NULL) {
        event_free(ex->timer);
    }
    if (ex->fields != NULL) {
        evbuffer_free(ex->fields);
    }
    if (ex->trailers != NULL) {
        evbuffer_free(ex->trailers);
    }
    if (ex->pending != NULL) {
        evbuffer_free(ex->pending);
    }
    tunnel_body_free(&ex->response_body);
    free(ex->path);
    free(ex->authority);
    free(ex);
}

/* Frees EX once neither its stream nor a backend connection uses it. */
static void enabler_exchange_release(struct enabler_exchange *ex)
{
    if (ex->tunnel == NULL && ex->backend == NULL && !ex->waiting) {
        enabler_exchange_free(ex);
    }
}

struct enabler_exchange *enabler_exchange_new(struct enabler_tunnel *tunnel,
                                              int32_t stream_id)
{
    struct enabler_exchange *ex = calloc(1, sizeof(*ex));

    if (ex == NULL) {
        return NULL;
    }
    ex->enabler = tunnel->enabler;
    ex->tunnel = tunnel;
    ex->stream_id = stream_id;
    ex->request_length = -1;
    clock_gettime(CLOCK_MONOTONIC, &ex->start);
    ex->fields = evbuffer_new();
    ex->trailers = evbuffer_new();
    ex->pending = evbuffer_new();
    ex->timer =
        evtimer_new(tunnel->enabler->base, enabler_exchange_on_timeout, ex);
    if (ex->fields == NULL || ex->trailers == NULL || ex->pending == NULL ||
        ex->timer == NULL ||
        tunnel_body_init(&ex->response_body, enabler_exchange_on_body_drain,
                         ex) != 0) {
        enabler_exchange_free(ex);
        return NULL;
    }
    return ex;
}

static int enabler_store_field(struct evbuffer *buf, size_t *count,
                               const uint8_t *name, size_t namelen,
                               const uint8_t *value, size_t valuelen)
{
    if (*count >= ENABLER_FIELDS_MAX) {
        return -1;
    }
    if (evbuffer_add(buf, name, namelen) != 0 || evbuffer_add(buf, "", 1) ||
        evbuffer_add(buf, value, valuelen) != 0 || evbuffer_add(buf, "", 1)) {
        return -1;
    }
    (*count)++;
    return 0;
}

static int enabler_pseudo_header(struct enabler_exchange *ex, const char *name,
                                 const uint8_t *value, size_t valuelen)
{
    if (strcmp(name, ":method") == 0 && valuelen < sizeof(ex->method)) {
        memcpy(ex->method, value, valuelen);
        ex->method[valuelen] = '\0';
    } else if (strcmp(name, ":path") == 0 && ex->path == NULL) {
        ex->path = strndup((const char *)value, valuelen);
    } else if (strcmp(name, ":authority") == 0 && ex->authority == NULL) {
        ex->authority = strndup((const char *)value, valuelen);
    } else if (strcmp(name, ":scheme") != 0) {
        return -1;
    }
    return 0;
}

int enabler_exchange_on_header(struct enabler_exchange *ex, const uint8_t *name,
                               size_t namelen, const uint8_t *value,
                               size_t valuelen)
{
    if (ex->head_done) {
        return enabler_store_field(ex->trailers, &ex->trailer_count, name,
                                   namelen, value, valuelen);
    }
    if (namelen > 0 && name[0] == ':') {
        char pseudo[16];

        if (namelen >= sizeof(pseudo)) {
            return -1;
        }
        memcpy(pseudo, name, namelen);
        pseudo[namelen] = '\0';
        return enabler_pseudo_header(ex, pseudo, value, valuelen);
    }
    if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
        ex->request_length = strtoll((const char *)value, NULL, 10);
    }
    return enabler_store_field(ex->fields, &ex->field_count, name, namelen,
                               value, valuelen);
}

static void enabler_exchange_start_timer(struct enabler_exchange *ex)
{
    unsigned ms = ex->enabler->opts->backend_timeout_ms;
    struct timeval timeout = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(ex->timer, &timeout);
}

/* Returns the value of request field NAME (lower case), or NULL. */
static const char *enabler_field_value(struct enabler_exchange *ex,
                                       const char *name)
{
    const char *p = (const char *)evbuffer_pullup(ex->fields, -1);

    for (size_t i = 0; p != NULL && i < ex->field_count; i++) {
        const char *value = p + strlen(p) + 1;

        if (strcmp(p, name) == 0) {
            return value;
        }
        p = value + strlen(value) + 1;
    }
    return NULL;
}

static int enabler_submit_response(struct enabler_exchange *ex,
                                   const struct http1_head *head,
                                   bool has_body);

/* Handles a control request from the relay instead of forwarding it.
 * Returns true when EX was one. */
static bool enabler_exchange_control(struct enabler_exchange *ex)
{
    const char *control = enabler_field_value(ex, TUNNEL_CONTROL_FIELD);
    const char *peers = enabler_field_value(ex, TUNNEL_PEERS_FIELD);

    if (control == NULL) {
        return false;
    }
    if (strcmp(control, TUNNEL_CONTROL_PEERS) == 0 && peers != NULL &&
        !ex->enabler->stopping) {
        enabler_tunnel_apply_peers(ex->tunnel, peers);
    }
    ex->status = 204;
    ex->response_done = true;
    enabler_submit_response(ex, NULL, false);
    enabler_tunnel_flush(ex->tunnel);
    return true;
}

void enabler_exchange_on_headers_done(struct enabler_exchange *ex,
                                      bool end_stream)
{
    if (ex->head_done) {
        return; /* trailers, sent with the last chunk */
    }
    ex->head_done = true;
    if (ex->method[0] == '\0' || ex->path == NULL || ex->path[0] != '/') {
        log_warn("stream %d: the relay sent a request without :method or "
                 "an origin-form :path",
                 ex->stream_id);
        nghttp2_submit_rst_stream(ex->tunnel->session, NGHTTP2_FLAG_NONE,
                                  ex->stream_id, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    if (enabler_exchange_control(ex)) {
        return;
    }
    ex->head_request = strcmp(ex->method, "HEAD") == 0;
    ex->request_ended = end_stream;
    ex->request_chunked = !end_stream && ex->request_length < 0;
    enabler_exchange_start_timer(ex);
    enabler_pool_acquire(ex->enabler, ex);
}

/* Converts a "name\0value\0" buffer into COUNT fields. */
static size_t enabler_fields(struct evbuffer *buf, size_t count,
                             struct http1_field *fields)
{
    const char *p = (const char *)evbuffer_pullup(buf, -1);

    for (size_t i = 0; i < count; i++) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;

        fields[i] = http1_field_of(name, value);
        p = value + strlen(value) + 1;
    }
    return count;
}

static int enabler_write_request_head(struct enabler_exchange *ex,
                                      struct evbuffer *out)
{
    struct http1_field *fields = calloc(ex->field_count + 2, sizeof(*fields));
    size_t count;
    int rc;

    if (fields == NULL) {
        return -1;
    }
    count = enabler_fields(ex->fields, ex->field_count, fields);
    fields[count++] =
        http1_field_of("Host", ex->authority ? ex->authority
                                             : ex->enabler->opts->backend.host);
    if (ex->request_chunked) {
        fields[count++] = http1_field_of("Transfer-Encoding", "chunked");
    }
    rc = http1_write_request_head(out, ex->method, ex->path, fields, count);
    free(fields);
    return rc;
}

static int enabler_write_last_chunk(struct enabler_exchange *ex,
                                    struct evbuffer *out)
{
    struct http1_field *fields;
    size_t count;
    int rc;

    if (!ex->request_chunked) {
        return 0;
    }
    fields = calloc(ex->trailer_count + 1, sizeof(*fields));
    if (fields == NULL) {
        return -1;
    }
    count = enabler_fields(ex->trailers, ex->trailer_count, fields);
    rc = http1_write_last_chunk(out, fields, count);
    free(fields);
    return rc;
}

static struct evbuffer *enabler_backend_output(struct enabler_exchange *ex)
{
    return bufferevent_get_output(ex->backend->bev);
}

static int enabler_write_body(struct enabler_exchange *ex, const void *data,
                              size_t len)
{
    struct evbuffer *out = enabler_backend_output(ex);

    return ex->request_chunked ? http1_write_chunk(out, data, len)
                               : evbuffer_add(out, data, len);
}

void enabler_exchange_on_backend_ready(struct enabler_exchange *ex)
{
    struct evbuffer *out = enabler_backend_output(ex);
    int rc;

    if (ex->head_request) {
        http1_parser_expect_no_body(ex->backend->parser);
    }
    rc = enabler_write_request_head(ex, out);
    if (rc == 0 && evbuffer_get_length(ex->pending) > 0) {
        rc = ex->request_chunked ? http1_write_chunk_buffer(out, ex->pending)
                                 : evbuffer_add_buffer(out, ex->pending);
    }
    if (rc == 0 && ex->request_ended) {
        rc = enabler_write_last_chunk(ex, out);
    }
    if (rc != 0) {
        enabler_exchange_on_backend_failed(
            ex, 502, "the request cannot be sent in HTTP/1.1", false);
        return;
    }
    ex->request_written = true;
}

static void enabler_exchange_consume(struct enabler_exchange *ex)
{
    if (ex->unconsumed > 0 && ex->tunnel != NULL) {
        nghttp2_session_consume(ex->tunnel->session, ex->stream_id,
                                ex->unconsumed);
        enabler_tunnel_flush(ex->tunnel);
    }
    ex->unconsumed = 0;
}

void enabler_exchange_on_data(struct enabler_exchange *ex, const uint8_t *data,
                              size_t len)
{
    ex->bytes_in += len;
    ex->unconsumed += len;
    if (ex->response_done && ex->backend == NULL) {
        enabler_exchange_consume(ex); /* no backend will read it */
        return;
    }
    if (ex->request_written && ex->backend != NULL) {
        if (enabler_write_body(ex, data, len) != 0) {
            enabler_exchange_on_backend_failed(ex, 502, "out of memory", false);
        }
        return;
    }
    evbuffer_add(ex->pending, data, len);
}

void enabler_exchange_on_backend_drained(struct enabler_exchange *ex)
{
    enabler_exchange_consume(ex);
}

void enabler_exchange_on_request_end(struct enabler_exchange *ex)
{
    bool was_ended = ex->request_ended;

    ex->request_ended = true;
    if (ex->request_written && ex->backend != NULL && !was_ended &&
        enabler_write_last_chunk(ex, enabler_backend_output(ex)) != 0) {
        enabler_exchange_on_backend_failed(ex, 502, "out of memory", false);
    }
}

/* Lower-cases a field name for HTTP/2 into BUF. */
static size_t enabler_lower(const char *name, char *buf, size_t size)
{
    size_t len = strlen(name);

    if (len >= size) {
        len = size - 1;
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)tolower((unsigned char)name[i]);
    }
    buf[len] = '\0';
    return len;
}

static int enabler_submit_response(struct enabler_exchange *ex,
                                   const struct http1_head *head, bool has_body)
{
    size_t count = head ? head->field_count : 0;
    nghttp2_nv *nv = calloc(count + 1, sizeof(*nv));
    char(*names)[128] = calloc(count + 1, sizeof(*names));
    char status[4];
    nghttp2_data_provider provider;
    const struct http1_field *connection =
        head ? http1_field_find(head->fields, count, "connection") : NULL;
    size_t n = 0;
    int rc = -1;

    if (nv == NULL || names == NULL) {
        goto out;
    }
    snprintf(status, sizeof(status), "%03d", ex->status);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3,
                           NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < count; i++) {
        const struct http1_field *field = &head->fields[i];

        if (http1_is_hop_by_hop(field->name,
                                connection ? connection->value : NULL)) {
            continue;
        }
        size_t len = enabler_lower(field->name, names[i], sizeof(names[i]));
        nv[n++] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)field->value,
                               len, field->value_len, NGHTTP2_NV_FLAG_NONE};
    }
    tunnel_body_attach(&ex->response_body, ex->tunnel->session, ex->stream_id,
                       &provider);
    rc = nghttp2_submit_response(ex->tunnel->session, ex->stream_id, nv, n,
                                 has_body ? &provider : NULL);
    ex->response_submitted = rc == 0;

out:
    free(names);
    free(nv);
    return rc == 0 ? 0 : -1;
}

int enabler_exchange_on_response_head(struct enabler_exchange *ex,
                                      const struct http1_head *head)
{
    bool has_body;

    if (head->status < 200) {
        return HTTP1_CONTINUE; /* interim responses stay here */
    }
    evtimer_del(ex->timer);
    if (ex->tunnel == NULL) {
        return HTTP1_FAIL; /* the relay cancelled: drop the connection */
    }
    ex->status = head->status;
    has_body = !head->no_body &&
               !(head->has_content_length && head->content_length == 0);
    if (!has_body) {
        ex->response_body.end = true;
    }
    if (enabler_submit_response(ex, head, has_body) != 0) {
        return HTTP1_FAIL;
    }
    enabler_tunnel_flush(ex->tunnel);
    return HTTP1_CONTINUE;
}

int enabler_exchange_on_response_body(struct enabler_exchange *ex,
                                      const char *data, size_t len)
{
    if (ex->tunnel == NULL) {
        return HTTP1_FAIL;
    }
    ex->bytes_out += len;
    if (tunnel_body_push(&ex->response_body, data, len) != 0) {
        return HTTP1_FAIL;
    }
    enabler_tunnel_flush(ex->tunnel);
    return tunnel_body_full(&ex->response_body) ? HTTP1_PAUSE : HTTP1_CONTINUE;
}

int enabler_exchange_on_response_trailers(struct enabler_exchange *ex,
                                          const struct http1_field *fields,
                                          size_t count)
{
    nghttp2_nv *nv = calloc(count + 1, sizeof(*nv));
    char(*names)[128] = calloc(count + 1, sizeof(*names));
    size_t n = 0;
    int rc = -1;

    if (nv != NULL && names != NULL && ex->tunnel != NULL) {
        for (size_t i = 0; i < count; i++) {
            if (http1_is_hop_by_hop(fields[i].name, NULL)) {
                continue;
            }
            size_t len =
                enabler_lower(fields[i].name, names[i], sizeof(names[i]));
            nv[n++] =
                (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)fields[i].value,
                             len, fields[i].value_len, NGHTTP2_NV_FLAG_NONE};
        }
        rc = tunnel_body_finish(&ex->response_body, nv, n);
    }
    free(names);
    free(nv);
    return rc == 0 ? HTTP1_CONTINUE : HTTP1_FAIL;
}

/* Writes the request's debug log line and counts it for /metrics. */
static void enabler_exchange_log(const struct enabler_exchange *ex,
                                 const char *result)
{
    struct enabler_counters *counters = &ex->enabler->counters;
    int class = ex->status / 100;
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - ex->start.tv_sec) * 1000 +
         (now.tv_nsec - ex->start.tv_nsec) / 1000000;
    log_debug(
        "request stream=%d method=%s path=%.*s status=%d in=%llu "
        "out=%llu ms=%ld result=%s",
        ex->stream_id, ex->method, ex->path ? (int)strcspn(ex->path, "?") : 1,
        ex->path ? ex->path : "-", ex->status, (unsigned long long)ex->bytes_in,
        (unsigned long long)ex->bytes_out, ms, result);
    counters->requests[class >= 1 && class <= 5 ? class : 0]++;
    counters->bytes_in += ex->bytes_in;
    counters->bytes_out += ex->bytes_out;
}

void enabler_exchange_on_response_done(struct enabler_exchange *ex)
{
    ex->response_done = true;
    ex->backend = NULL;
    enabler_exchange_log(ex, "done");
    if (ex->tunnel != NULL) {
        if (!ex->response_body.end) {
            tunnel_body_finish(&ex->response_body, NULL, 0);
        }
        enabler_exchange_consume(ex);
        enabler_tunnel_flush(ex->tunnel);
    }
    enabler_exchange_release(ex);
}

/* Sends the relay a response with STATUS and a one-line text body. */
static void enabler_exchange_error_response(struct enabler_exchange *ex,
                                            int status, const char *line)
{
    char length[24];
    char body[1100];
    struct http1_field fields[2];
    struct http1_head head = {.fields = fields, .field_count = 2};
    int len = snprintf(body, sizeof(body), "%s\n", line);

    snprintf(length, sizeof(length), "%d", len);
    fields[0] = http1_field_of("content-type", "text/plain; charset=utf-8");
    fields[1] = http1_field_of("content-length", length);
    ex->status = status;
    tunnel_body_push(&ex->response_body, body, (size_t)len);
    tunnel_body_finish(&ex->response_body, NULL, 0);
    enabler_submit_response(ex, &head, true);
}

void enabler_exchange_on_backend_failed(struct enabler_exchange *ex, int status,
                                        const char *reason, bool retryable)
{
    char line[1024];

    evtimer_del(ex->timer);
    ex->backend = NULL;
    if (retryable && !ex->retried && ex->tunnel != NULL) {
        /* A reused connection that the backend had closed: the request
         * never reached it, so it goes out again on a new connection. */
        ex->retried = true;
        ex->request_written = false;
        enabler_exchange_start_timer(ex);
        enabler_pool_acquire(ex->enabler, ex);
        return;
    }
    snprintf(line, sizeof(line), "backend %s of server %s in farm %s: %s",
             ex->enabler->backend_address, ex->enabler->opts->id,
             ex->enabler->opts->farm, reason);
    log_warn("stream %d: %s", ex->stream_id, line);
    ex->response_done = true;
    if (ex->tunnel != NULL) {
        if (!ex->response_submitted) {
            enabler_exchange_error_response(ex, status, line);
        } else {
            nghttp2_submit_rst_stream(ex->tunnel->session, NGHTTP2_FLAG_NONE,
                                      ex->stream_id, NGHTTP2_INTERNAL_ERROR);
        }
        enabler_exchange_consume(ex);
        enabler_tunnel_flush(ex->tunnel);
    }
    enabler_exchange_log(ex, "backend-failed");
    enabler_exchange_release(ex);
}

void enabler_exchange_on_stream_close(struct enabler_exchange *ex,
                                      uint32_t error_code)
{
    ex->tunnel = NULL;
    evtimer_del(ex->timer);
    if (ex->waiting) {
        enabler_pool_forget(ex->enabler, ex);
    }
    if (ex->backend != NULL) {
        struct enabler_backend *backend = ex->backend;

        /* The relay cancelled, or the tunnel went away, while the backend
         * was still busy: its connection is in an unknown state. */
        log_debug("stream %d closed (%s) while the backend was busy",
                  ex->stream_id, nghttp2_http2_strerror(error_code));
        ex->backend = NULL;
        backend->exchange = NULL;
        enabler_backend_release(backend, false);
    }
    enabler_exchange_release(ex);
}

static void enabler_exchange_on_timeout(evutil_socket_t fd, short what,
                                        void *arg)
{
    struct enabler_exchange *ex = arg;
    struct enabler_backend *backend = ex->backend;
    char reason[128];

    (void)fd;
    (void)what;
    if (ex->response_submitted) {
        return;
    }
    snprintf(reason, sizeof(reason), "no response within %u s",
             ex->enabler->opts->backend_timeout_ms / 1000);
    if (ex->waiting) {
        enabler_pool_forget(ex->enabler, ex);
        snprintf(reason, sizeof(reason),
                 "no free backend connection within %u s",
                 ex->enabler->opts->backend_timeout_ms / 1000);
    }
    if (backend != NULL) {
        backend->exchange = NULL;
        ex->backend = NULL;
        enabler_backend_release(backend, false);
    }
    enabler_exchange_on_backend_failed(ex, 504, reason, false);
}
