/*
 * One request from the relay, forwarded to the backend, and its response.
 *
 * An exchange is created when the relay opens a stream, is assigned a
 * backend connection from the pool, and lives until both its stream and
 * its backend connection are done with it. A backend that fails before the
 * response starts gets the relay a 502 (or 504 on timeout); one that fails
 * after resets the stream, so the relay never sends a truncated response
 * as a complete one.
 */
#ifndef DRAWBRIDGE_ENABLER_EXCHANGE_H
#define DRAWBRIDGE_ENABLER_EXCHANGE_H

#include "enabler/enabler.h"

#define ENABLER_FIELDS_MAX 256

struct enabler_exchange {
    TAILQ_ENTRY(enabler_exchange) link;      /* in tunnel->exchanges */
    TAILQ_ENTRY(enabler_exchange) wait_link; /* in pool.waiting */
    struct enabler *enabler;
    struct enabler_tunnel *tunnel; /* NULL once the stream is gone */
    struct enabler_backend *backend;
    int32_t stream_id;
    struct evbuffer *fields; /* request header fields, "name\0value\0" */
    size_t field_count;
    struct evbuffer *trailers; /* request trailer fields, the same way */
    size_t trailer_count;
    char method[16];
    char *path;
    char *authority;
    int64_t request_length; /* -1 when the request has no Content-Length */
    bool head_done;
    bool request_ended;   /* the relay ended its side of the stream */
    bool request_chunked; /* the body goes to the backend chunked */
    bool request_written; /* the head went to the backend */
    bool waiting;
    bool retried;
    struct evbuffer *pending; /* body bytes before a connection is ready */
    size_t unconsumed;        /* DATA bytes not yet acknowledged */
    struct tunnel_body response_body;
    bool response_submitted;
    bool response_done;
    bool head_request;
    int status;
    uint64_t bytes_in;
    uint64_t bytes_out;
    struct event *timer;
    struct timespec start;
};

struct enabler_backend {
    TAILQ_ENTRY(enabler_backend) link; /* in pool.idle */
    struct enabler *enabler;
    struct bufferevent *bev;
    struct http1_parser *parser;
    struct enabler_exchange *exchange;
    bool connected;
    bool idle;
    bool reused;                /* it served a request before */
    bool response_bytes;        /* bytes of the current response arrived */
    struct event *resume_event; /* parses buffered input after a pause */
    bool complete;              /* the current response is parsed */
    bool paused;                /* the response body buffer is full */
    bool eof;                   /* the backend closed while paused */
    bool keep_alive;            /* the backend keeps the connection open */
};

/* Called by the tunnel. */
struct enabler_exchange *enabler_exchange_new(struct enabler_tunnel *tunnel,
                                              int32_t stream_id);
int enabler_exchange_on_header(struct enabler_exchange *ex, const uint8_t *name,
                               size_t namelen, const uint8_t *value,
                               size_t valuelen);
void enabler_exchange_on_headers_done(struct enabler_exchange *ex,
                                      bool end_stream);
void enabler_exchange_on_data(struct enabler_exchange *ex, const uint8_t *data,
                              size_t len);
void enabler_exchange_on_request_end(struct enabler_exchange *ex);
void enabler_exchange_on_stream_close(struct enabler_exchange *ex,
                                      uint32_t error_code);

/* Called by the backend connection. */
void enabler_exchange_on_backend_ready(struct enabler_exchange *ex);
void enabler_exchange_on_backend_drained(struct enabler_exchange *ex);
int enabler_exchange_on_response_head(struct enabler_exchange *ex,
                                      const struct http1_head *head);
int enabler_exchange_on_response_body(struct enabler_exchange *ex,
                                      const char *data, size_t len);
int enabler_exchange_on_response_trailers(struct enabler_exchange *ex,
                                          const struct http1_field *fields,
                                          size_t count);
void enabler_exchange_on_response_done(struct enabler_exchange *ex);

/* Called when the backend connection failed. STATUS (502 or 504) and
 * REASON answer the relay when no response has started. RETRYABLE is true
 * when the request may be sent again on a new connection. */
void enabler_exchange_on_backend_failed(struct enabler_exchange *ex, int status,
                                        const char *reason, bool retryable);

/* The pool. */

/* Gives EX a backend connection now, or queues it until one is free. */
void enabler_pool_acquire(struct enabler *enabler, struct enabler_exchange *ex);

/* Removes EX from the queue of the pool when it waits there. */
void enabler_pool_forget(struct enabler *enabler, struct enabler_exchange *ex);

/* Ends BACKEND's work for its exchange. With REUSABLE the connection goes
 * back to the pool, otherwise it closes; a waiting exchange then gets a
 * connection. */
void enabler_backend_release(struct enabler_backend *backend, bool reusable);

/* Lets BACKEND read again after its response body buffer drained. */
void enabler_backend_resume(struct enabler_backend *backend);

#endif
