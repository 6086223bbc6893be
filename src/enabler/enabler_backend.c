/*
 * Backend connections of the enabler: a bounded pool of keep-alive
 * HTTP/1.1 (or HTTPS) connections to the backend server.
 */
#include "common/log.h"
#include "common/net.h"
#include "enabler/enabler_exchange.h"
#include "tls/tls_context.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The enabler stops reading a backend while the response body waiting
 * for the tunnel is full; this bounds what the socket buffer adds. */
#define ENABLER_BACKEND_READ_HIGH (64 * 1024)
#define ENABLER_BACKEND_WRITE_LOW (64 * 1024)

static void enabler_backend_free(struct enabler_backend *backend)
{
    struct enabler_pool *pool = &backend->enabler->pool;

    if (backend->idle) {
        TAILQ_REMOVE(&pool->idle, backend, link);
    }
    pool->open--;
    http1_parser_free(backend->parser);
    if (backend->resume_event != NULL) {
        event_free(backend->resume_event);
    }
    if (backend->bev != NULL) {
        bufferevent_free(backend->bev);
    }
    free(backend);
}

static bool enabler_backend_process(struct enabler_backend *backend);

/* Hands the next waiting exchange a connection, if a slot is free. */
static void enabler_pool_dispatch(struct enabler *enabler)
{
    struct enabler_exchange *ex = TAILQ_FIRST(&enabler->pool.waiting);

    if (ex == NULL) {
        return;
    }
    if (TAILQ_EMPTY(&enabler->pool.idle) &&
        enabler->pool.open >= enabler->opts->backend_connections_max) {
        return;
    }
    TAILQ_REMOVE(&enabler->pool.waiting, ex, wait_link);
    ex->waiting = false;
    enabler_pool_acquire(enabler, ex);
}

void enabler_backend_release(struct enabler_backend *backend, bool reusable)
{
    struct enabler *enabler = backend->enabler;

    backend->exchange = NULL;
    backend->response_bytes = false;
    if (!reusable || enabler->stopping) {
        enabler_backend_free(backend);
    } else {
        backend->idle = true;
        backend->reused = true;
        TAILQ_INSERT_TAIL(&enabler->pool.idle, backend, link);
        bufferevent_enable(backend->bev, EV_READ);
    }
    enabler_pool_dispatch(enabler);
}

void enabler_backend_resume(struct enabler_backend *backend)
{
    if (!backend->paused) {
        return;
    }
    backend->paused = false;
    http1_parser_resume(backend->parser);
    bufferevent_enable(backend->bev, EV_READ);
    event_active(backend->resume_event, EV_TIMEOUT, 0);
}

static int enabler_backend_on_head(struct http1_parser *parser,
                                   const struct http1_head *head, void *arg)
{
    struct enabler_backend *backend = arg;

    (void)parser;
    if (backend->exchange == NULL) {
        return HTTP1_FAIL;
    }
    return enabler_exchange_on_response_head(backend->exchange, head);
}

static int enabler_backend_on_body(struct http1_parser *parser,
                                   const char *data, size_t len, void *arg)
{
    struct enabler_backend *backend = arg;

    (void)parser;
    if (backend->exchange == NULL) {
        return HTTP1_FAIL;
    }
    return enabler_exchange_on_response_body(backend->exchange, data, len);
}

static int enabler_backend_on_trailers(struct http1_parser *parser,
                                       const struct http1_field *fields,
                                       size_t count, void *arg)
{
    struct enabler_backend *backend = arg;

    (void)parser;
    if (backend->exchange == NULL) {
        return HTTP1_FAIL;
    }
    return enabler_exchange_on_response_trailers(backend->exchange, fields,
                                                 count);
}

static int enabler_backend_on_complete(struct http1_parser *parser, void *arg)
{
    struct enabler_backend *backend = arg;
    const struct http1_head *head = http1_parser_head(parser);

    if (backend->exchange == NULL) {
        return HTTP1_FAIL;
    }
    if (head != NULL && head->status < 200) {
        return HTTP1_CONTINUE;
    }
    /* Finishing the exchange may hand this connection to the next one,
     * so the parser is paused and the release happens after it returns. */
    backend->complete = true;
    backend->keep_alive = head != NULL && head->keep_alive;
    return HTTP1_PAUSE;
}

static const struct http1_callbacks enabler_backend_callbacks = {
    .on_head = enabler_backend_on_head,
    .on_body = enabler_backend_on_body,
    .on_trailers = enabler_backend_on_trailers,
    .on_complete = enabler_backend_on_complete,
};

static void enabler_backend_finish(struct enabler_backend *backend)
{
    struct enabler_exchange *ex = backend->exchange;
    struct evbuffer *input = bufferevent_get_input(backend->bev);
    bool reusable = backend->keep_alive && ex->request_ended &&
                    evbuffer_get_length(input) == 0;

    backend->complete = false;
    backend->exchange = NULL;
    http1_parser_resume(backend->parser);
    enabler_exchange_on_response_done(ex);
    enabler_backend_release(backend, reusable);
}

static void enabler_backend_fail(struct enabler_backend *backend, int status,
                                 const char *reason, bool retryable)
{
    struct enabler_exchange *ex = backend->exchange;
    struct enabler *enabler = backend->enabler;

    backend->exchange = NULL;
    enabler_backend_free(backend);
    if (ex != NULL) {
        ex->backend = NULL;
        enabler_exchange_on_backend_failed(ex, status, reason, retryable);
    }
    enabler_pool_dispatch(enabler);
}

/* Parses what the backend sent. Returns false when BACKEND was freed or
 * handed to another exchange on the way. */
static bool enabler_backend_process(struct enabler_backend *backend)
{
    struct evbuffer *input = bufferevent_get_input(backend->bev);
    /* A parser resumed after a pause may owe callbacks for bytes it took
     * before, so it is fed once even when no input waits. */
    bool first = backend->exchange != NULL;

    while (first || evbuffer_get_length(input) > 0) {
        struct evbuffer_iovec vec = {NULL, 0};
        size_t consumed = 0;
        enum http1_result rc;
        char reason[256];

        if (backend->exchange == NULL) {
            /* Bytes on an idle connection belong to no request. */
            enabler_backend_free(backend);
            return false;
        }
        if (evbuffer_get_length(input) > 0) {
            backend->response_bytes = true;
            evbuffer_peek(input, -1, NULL, &vec, 1);
        }
        first = false;
        rc = http1_parser_feed(backend->parser, vec.iov_base, vec.iov_len,
                               &consumed);
        evbuffer_drain(input, consumed);
        log_trace("backend: stream %d: parsed %zu of %zu bytes: result %d",
                  backend->exchange ? backend->exchange->stream_id : -1,
                  consumed, vec.iov_len, (int)rc);
        if (rc == HTTP1_PAUSED && backend->complete) {
            enabler_backend_finish(backend);
            return false;
        }
        if (rc == HTTP1_PAUSED) {
            backend->paused = true;
            bufferevent_disable(backend->bev, EV_READ);
            return true;
        }
        if (rc == HTTP1_ERROR || rc == HTTP1_UPGRADE) {
            snprintf(reason, sizeof(reason), "invalid response: %s",
                     rc == HTTP1_ERROR
                         ? http1_parser_error_reason(backend->parser)
                         : "a protocol switch is not supported");
            enabler_backend_fail(backend, 502, reason, false);
            return false;
        }
    }
    return true;
}

static void enabler_backend_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    enabler_backend_process(arg);
}

static void enabler_backend_on_write(struct bufferevent *bev, void *arg)
{
    struct enabler_backend *backend = arg;

    (void)bev;
    if (backend->exchange != NULL) {
        enabler_exchange_on_backend_drained(backend->exchange);
    }
}

static void enabler_backend_on_eof(struct enabler_backend *backend)
{
    struct enabler_exchange *ex = backend->exchange;
    bool retryable;

    if (ex == NULL) {
        enabler_backend_free(backend); /* an idle connection timed out */
        return;
    }
    if (!enabler_backend_process(backend)) {
        return;
    }
    if (backend->paused) {
        backend->eof = true; /* handled once the buffered input is parsed */
        return;
    }
    if (http1_parser_finish(backend->parser) == HTTP1_OK && backend->complete) {
        backend->keep_alive = false;
        enabler_backend_finish(backend);
        return;
    }
    retryable =
        backend->reused && !backend->response_bytes && ex->bytes_in == 0;
    enabler_backend_fail(backend, 502,
                         backend->response_bytes
                             ? "the backend closed the connection in the "
                               "middle of the response"
                             : "the backend closed the connection without "
                               "a response",
                         retryable);
}

static void enabler_backend_on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct enabler_backend *backend = arg;

    (void)fd;
    (void)what;
    if (enabler_backend_process(backend) && backend->eof && !backend->paused) {
        enabler_backend_on_eof(backend);
    }
}

static void enabler_backend_on_event(struct bufferevent *bev, short what,
                                     void *arg)
{
    struct enabler_backend *backend = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char reason[256];

    if (what & BEV_EVENT_CONNECTED) {
        net_set_nodelay(bufferevent_getfd(bev));
        backend->connected = true;
        if (backend->exchange != NULL) {
            enabler_exchange_on_backend_ready(backend->exchange);
        }
        return;
    }
    if ((what & BEV_EVENT_EOF) && backend->connected) {
        enabler_backend_on_eof(backend);
        return;
    }
    if (!backend->connected) {
        snprintf(
            reason, sizeof(reason),
            "cannot connect: %s; check that the backend runs and "
            "listens there",
            bufferevent_get_openssl_error(bev)
                ? ERR_reason_error_string(bufferevent_get_openssl_error(bev))
                : evutil_socket_error_to_string(err));
    } else {
        snprintf(reason, sizeof(reason), "connection error: %s",
                 evutil_socket_error_to_string(err));
    }
    enabler_backend_fail(backend, 502, reason,
                         backend->reused && !backend->response_bytes &&
                             backend->exchange != NULL &&
                             backend->exchange->bytes_in == 0);
}

struct bufferevent *enabler_backend_bufferevent(struct enabler *enabler)
{
    if (enabler->backend_ctx == NULL) {
        return bufferevent_socket_new(
            enabler->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    return tls_client_bufferevent(enabler->base, enabler->backend_ctx,
                                  enabler->opts->backend.host);
}

static struct enabler_backend *enabler_backend_new(struct enabler *enabler)
{
    struct enabler_backend *backend = calloc(1, sizeof(*backend));

    if (backend == NULL) {
        return NULL;
    }
    backend->enabler = enabler;
    enabler->pool.open++;
    backend->parser = http1_parser_new(HTTP1_RESPONSE, NULL,
                                       &enabler_backend_callbacks, backend);
    backend->resume_event =
        event_new(enabler->base, -1, 0, enabler_backend_on_resume, backend);
    backend->bev = enabler_backend_bufferevent(enabler);
    if (backend->parser == NULL || backend->resume_event == NULL ||
        backend->bev == NULL) {
        enabler_backend_free(backend);
        return NULL;
    }
    bufferevent_setcb(backend->bev, enabler_backend_on_read,
                      enabler_backend_on_write, enabler_backend_on_event,
                      backend);
    bufferevent_setwatermark(backend->bev, EV_READ, 0,
                             ENABLER_BACKEND_READ_HIGH);
    bufferevent_setwatermark(backend->bev, EV_WRITE, ENABLER_BACKEND_WRITE_LOW,
                             0);
    bufferevent_enable(backend->bev, EV_READ | EV_WRITE);
    return backend;
}

void enabler_pool_acquire(struct enabler *enabler, struct enabler_exchange *ex)
{
    struct enabler_pool *pool = &enabler->pool;
    struct enabler_backend *backend = TAILQ_FIRST(&pool->idle);

    if (backend != NULL) {
        TAILQ_REMOVE(&pool->idle, backend, link);
        backend->idle = false;
        backend->exchange = ex;
        ex->backend = backend;
        enabler_exchange_on_backend_ready(ex);
        return;
    }
    if (pool->open >= enabler->opts->backend_connections_max) {
        ex->waiting = true;
        TAILQ_INSERT_TAIL(&pool->waiting, ex, wait_link);
        return;
    }
    backend = enabler_backend_new(enabler);
    if (backend == NULL) {
        enabler_exchange_on_backend_failed(ex, 502, "out of memory", false);
        return;
    }
    backend->exchange = ex;
    ex->backend = backend;
    if (bufferevent_socket_connect_hostname(
            backend->bev, NULL, AF_UNSPEC, enabler->opts->backend.host,
            atoi(enabler->opts->backend.port)) != 0) {
        enabler_backend_fail(backend, 502,
                             "cannot connect: the address cannot be resolved",
                             false);
    }
}

void enabler_pool_forget(struct enabler *enabler, struct enabler_exchange *ex)
{
    if (ex->waiting) {
        TAILQ_REMOVE(&enabler->pool.waiting, ex, wait_link);
        ex->waiting = false;
    }
}

void enabler_pool_free(struct enabler *enabler)
{
    struct enabler_backend *backend;

    while ((backend = TAILQ_FIRST(&enabler->pool.idle)) != NULL) {
        enabler_backend_free(backend);
    }
}
