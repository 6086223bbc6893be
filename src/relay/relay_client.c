#include "relay/relay_client.h"

#include "common/log.h"
#include "relay/relay_exchange.h"
#include "relay/relay_status.h"
#include "relay/relay_tunnel.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void relay_client_free(struct relay_client *client);
static void relay_client_process(struct relay_client *client);

static void relay_client_set_timeout(struct relay_client *client, unsigned ms)
{
    struct timeval timeout = {ms / 1000, (ms % 1000) * 1000};

    bufferevent_set_timeouts(client->bev, &timeout, NULL);
}

int relay_client_write_error(struct relay_client *client, int status,
                             const char *line, const struct http1_field *extra,
                             size_t count)
{
    return http1_write_error(bufferevent_get_output(client->bev), status, NULL,
                             line, 1, extra, count);
}

void relay_client_error(struct relay_client *client, int status,
                        const char *line, const struct http1_field *extra,
                        size_t count)
{
    const struct http1_head *head = http1_parser_head(client->parser);
    char path[256] = "-";

    if (head != NULL && head->target != NULL && client->in_message) {
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(head->target, "?"),
                 head->target);
    }
    client->relay->unrouted[status / 100 <= 5 ? status / 100 : 0]++;
    log_info("request client=%s method=%s path=%s status=%d reason=\"%s\"",
             client->peer,
             head != NULL && head->method && client->in_message ? head->method
                                                                : "-",
             path, status, line);
    relay_client_write_error(client, status, line, extra, count);
    client->closing = true;
    client->paused = true;
    bufferevent_disable(client->bev, EV_READ);
}

void relay_client_respond(struct relay_client *client, int status,
                          const struct http1_field *fields, size_t count,
                          struct evbuffer *body, bool head_only)
{
    const struct http1_head *head = http1_parser_head(client->parser);
    struct evbuffer *out = bufferevent_get_output(client->bev);
    struct http1_field all[16];
    char length[24];
    size_t bytes = evbuffer_get_length(body);
    size_t n = 0;

    snprintf(length, sizeof(length), "%zu", bytes);
    for (size_t i = 0; i < count && n < 14; i++) {
        all[n++] = fields[i];
    }
    all[n++] = http1_field_of("Content-Length", length);
    all[n++] = http1_field_of("Connection", "close");
    if (http1_write_response_head(out, status, NULL, all, n) == 0 &&
        !head_only) {
        evbuffer_add_buffer(out, body);
    }
    log_info("request client=%s method=%s path=%.*s status=%d out=%zu",
             client->peer, head ? head->method : "-",
             head ? (int)strcspn(head->target, "?") : 1,
             head ? head->target : "-", status, bytes);
    client->closing = true;
    client->paused = true;
    bufferevent_disable(client->bev, EV_READ);
}

void relay_client_exchange_done(struct relay_client *client, bool keep_alive)
{
    client->exchange = NULL;
    client->in_message = false;
    if (!keep_alive || client->relay->stopping) {
        client->closing = true;
        bufferevent_disable(client->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(client->bev)) == 0) {
            relay_client_free(client);
        }
        return;
    }
    relay_client_set_timeout(
        client, client->relay->config->options.keepalive_timeout_ms);
    http1_parser_resume(client->parser);
    client->paused = false;
    event_active(client->resume_event, EV_TIMEOUT, 0);
}

void relay_client_abort(struct relay_client *client)
{
    client->exchange = NULL;
    relay_client_free(client);
}

void relay_client_resume(struct relay_client *client)
{
    if (client->paused && !client->closing) {
        http1_parser_resume(client->parser);
        client->paused = false;
        event_active(client->resume_event, EV_TIMEOUT, 0);
    }
}

static void relay_client_free(struct relay_client *client)
{
    struct relay *relay = client->relay;

    if (client->exchange != NULL) {
        struct relay_exchange *ex = client->exchange;

        client->exchange = NULL;
        relay_exchange_on_client_gone(ex);
    }
    LIST_REMOVE(client, link);
    relay->client_count--;
    http1_parser_free(client->parser);
    if (client->resume_event != NULL) {
        event_free(client->resume_event);
    }
    if (client->head_timer != NULL) {
        event_free(client->head_timer);
    }
    if (client->bev != NULL) {
        bufferevent_free(client->bev);
    }
    free(client);
}

static void relay_client_start_head_timer(struct relay_client *client)
{
    unsigned ms = client->relay->config->options.header_timeout_ms;
    struct timeval timeout = {ms / 1000, (ms % 1000) * 1000};

    if (!evtimer_pending(client->head_timer, NULL)) {
        evtimer_add(client->head_timer, &timeout);
    }
}

static int relay_client_on_head(struct http1_parser *parser,
                                const struct http1_head *head, void *arg)
{
    struct relay_client *client = arg;
    size_t path_len = strcspn(head->target, "?");

    (void)parser;
    evtimer_del(client->head_timer);
    client->in_head = false;
    client->in_message = true;
    client->requests++;
    if (tunnel_is_server_path(head->target, path_len)) {
        if (head->upgrade && strcmp(head->method, "GET") == 0) {
            client->hello = true;
            return HTTP1_CONTINUE;
        }
        relay_client_error(client, 400,
                           "the server URL takes tunnel upgrade requests "
                           "from enablers only",
                           NULL, 0);
        return HTTP1_PAUSE;
    }
    if (relay_status_requested(client->relay, head)) {
        relay_status_serve(client, head);
        return HTTP1_PAUSE;
    }
    if (strcmp(head->method, "CONNECT") == 0) {
        struct http1_field allow =
            http1_field_of("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS");

        relay_client_error(client, 405, "CONNECT is not supported", &allow, 1);
        return HTTP1_PAUSE;
    }
    if (relay_exchange_start(client, head) != 0) {
        return HTTP1_PAUSE;
    }
    relay_client_set_timeout(
        client, client->relay->config->options.keepalive_timeout_ms);
    return HTTP1_CONTINUE;
}

static int relay_client_on_body(struct http1_parser *parser, const char *data,
                                size_t len, void *arg)
{
    struct relay_client *client = arg;

    (void)parser;
    if (client->exchange == NULL) {
        return HTTP1_CONTINUE;
    }
    return relay_exchange_on_request_body(client->exchange, data, len);
}

static int relay_client_on_trailers(struct http1_parser *parser,
                                    const struct http1_field *fields,
                                    size_t count, void *arg)
{
    struct relay_client *client = arg;

    (void)parser;
    if (client->exchange != NULL &&
        relay_exchange_on_request_trailers(client->exchange, fields, count)) {
        return HTTP1_FAIL;
    }
    return HTTP1_CONTINUE;
}

static int relay_client_on_complete(struct http1_parser *parser, void *arg)
{
    struct relay_client *client = arg;

    (void)parser;
    if (client->hello) {
        return HTTP1_CONTINUE;
    }
    if (client->exchange != NULL) {
        /* No read timeout while the backend works on the response. */
        bufferevent_set_timeouts(client->bev, NULL, NULL);
        relay_exchange_on_request_done(client->exchange);
    }
    return HTTP1_PAUSE;
}

static void relay_client_hello(struct relay_client *client)
{
    const struct http1_head *head = http1_parser_head(client->parser);
    const struct http1_field *upgrade =
        http1_field_find(head->fields, head->field_count, "upgrade");
    const struct http1_field *auth =
        http1_field_find(head->fields, head->field_count, "authorization");
    struct tunnel_hello hello;
    char reason[512];
    int status;

    status = tunnel_hello_parse(head->target, upgrade ? upgrade->value : NULL,
                                auth ? auth->value : NULL, &hello, reason,
                                sizeof(reason));
    if (status == 0) {
        status =
            relay_tunnel_accept(client->relay, client->bev, client->tls,
                                client->peer, &hello, reason, sizeof(reason));
    }
    OPENSSL_cleanse(hello.token, sizeof(hello.token));
    if (status == 0) {
        client->bev = NULL; /* the tunnel owns it now */
        relay_client_free(client);
        return;
    }
    if (status == 200) {
        log_info("tunnel probe: farm=%s server=%s from %s: accepted",
                 hello.farm, hello.id, client->peer);
    } else {
        log_warn("tunnel refused: farm=%s server=%s from %s: %d %s",
                 hello.farm[0] ? hello.farm : "-", hello.id[0] ? hello.id : "-",
                 client->peer, status, reason);
    }
    relay_client_write_error(client, status, reason, NULL, 0);
    client->closing = true;
    bufferevent_disable(client->bev, EV_READ);
}

static void relay_client_parse_error(struct relay_client *client)
{
    int status = http1_parser_error_status(client->parser);
    const char *reason = http1_parser_error_reason(client->parser);

    if (client->exchange != NULL) {
        log_info("request client=%s: invalid request body: %s", client->peer,
                 reason);
        relay_client_free(client);
        return;
    }
    client->in_message = true;
    relay_client_error(client, status, reason, NULL, 0);
}

static void relay_client_process(struct relay_client *client)
{
    struct evbuffer *input = bufferevent_get_input(client->bev);
    /* A parser resumed after a pause may owe callbacks for bytes it took
     * before, such as on_complete after the last body bytes, so it is fed
     * once even when no input waits. */
    bool first = true;

    while (!client->paused && !client->closing &&
           (first || evbuffer_get_length(input) > 0)) {
        struct evbuffer_iovec vec = {NULL, 0};
        size_t consumed = 0;
        enum http1_result rc;

        first = false;
        if (evbuffer_get_length(input) > 0) {
            if (client->exchange == NULL && !client->in_message) {
                relay_client_start_head_timer(client);
                client->in_head = true;
            }
            evbuffer_peek(input, -1, NULL, &vec, 1);
        }
        rc = http1_parser_feed(client->parser, vec.iov_base, vec.iov_len,
                               &consumed);
        evbuffer_drain(input, consumed);
        if (rc == HTTP1_PAUSED) {
            client->paused = true;
        } else if (rc == HTTP1_UPGRADE) {
            relay_client_hello(client);
            return;
        } else if (rc == HTTP1_ERROR) {
            relay_client_parse_error(client);
            return;
        }
    }
}

static void relay_client_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    relay_client_process(arg);
}

static void relay_client_on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    relay_client_process(arg);
}

static void relay_client_on_write(struct bufferevent *bev, void *arg)
{
    struct relay_client *client = arg;

    if (client->exchange != NULL) {
        relay_exchange_on_client_drained(client->exchange);
    }
    if (client->closing &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        relay_client_free(client);
    }
}

static void relay_client_on_head_timeout(evutil_socket_t fd, short what,
                                         void *arg)
{
    struct relay_client *client = arg;
    char line[128];

    (void)fd;
    (void)what;
    if (client->in_message || client->closing) {
        return;
    }
    if (!client->in_head) {
        relay_client_free(client); /* nothing of a request arrived */
        return;
    }
    snprintf(line, sizeof(line), "the request head did not arrive within %u s",
             client->relay->config->options.header_timeout_ms / 1000);
    relay_client_error(client, 408, line, NULL, 0);
}

static void relay_client_on_event(struct bufferevent *bev, short what,
                                  void *arg)
{
    struct relay_client *client = arg;
    unsigned long err;

    if (what & BEV_EVENT_CONNECTED) {
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if (client->exchange != NULL) {
            log_info("request client=%s: no request body bytes for %u s",
                     client->peer,
                     client->relay->config->options.keepalive_timeout_ms /
                         1000);
        }
        relay_client_free(client);
        return;
    }
    if ((what & BEV_EVENT_ERROR) && client->requests == 0 &&
        (err = bufferevent_get_openssl_error(bev)) != 0) {
        const char *reason = ERR_reason_error_string(err);

        log_limited(&client->relay->tls_failures, LOG_INFO,
                    reason ? reason : "?",
                    "client %s: TLS handshake failed: %s", client->peer,
                    reason ? reason : "unknown error");
    }
    relay_client_free(client);
}

static const struct http1_callbacks relay_client_callbacks = {
    .on_head = relay_client_on_head,
    .on_body = relay_client_on_body,
    .on_trailers = relay_client_on_trailers,
    .on_complete = relay_client_on_complete,
};

static void relay_format_peer(const struct sockaddr *addr,
                              struct relay_client *client)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(client->peer, sizeof(client->peer), "[%s]:%u", ip, port);
    } else if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;

        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
        port = ntohs(in4->sin_port);
        snprintf(client->peer, sizeof(client->peer), "%s:%u", ip, port);
    }
    snprintf(client->peer_ip, sizeof(client->peer_ip), "%s", ip);
}

static struct bufferevent *relay_client_bev(struct relay_listener *listener,
                                            int fd)
{
    struct relay *relay = listener->relay;
    int options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl;

    if (!listener->tls) {
        return bufferevent_socket_new(relay->base, fd, options);
    }
    ssl = SSL_new(relay->ssl_ctx);
    if (ssl == NULL) {
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(relay->base, fd, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING, options);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static int relay_client_init(struct relay_client *client,
                             struct relay_listener *listener, int fd)
{
    struct relay *relay = listener->relay;
    const struct config_options *opts = &relay->config->options;
    struct http1_limits limits = {
        .max_head_bytes = opts->max_header_bytes,
        .max_header_fields = opts->max_header_fields,
    };

    client->relay = relay;
    client->tls = listener->tls;
    client->parser = http1_parser_new(HTTP1_REQUEST, &limits,
                                      &relay_client_callbacks, client);
    client->resume_event =
        event_new(relay->base, -1, 0, relay_client_on_resume, client);
    client->head_timer =
        evtimer_new(relay->base, relay_client_on_head_timeout, client);
    client->bev = relay_client_bev(listener, fd);
    if (client->parser == NULL || client->resume_event == NULL ||
        client->head_timer == NULL || client->bev == NULL) {
        return -1;
    }
    bufferevent_setcb(client->bev, relay_client_on_read, relay_client_on_write,
                      relay_client_on_event, client);
    /* Reading stops while the input contains a whole head and then some, so
     * a client that sends faster than the tunnel takes costs no memory. */
    bufferevent_setwatermark(client->bev, EV_READ, 0,
                             opts->max_header_bytes + 16384);
    bufferevent_setwatermark(client->bev, EV_WRITE, RELAY_CLIENT_OUTPUT_LOW, 0);
    relay_client_set_timeout(client, opts->keepalive_timeout_ms);
    relay_client_start_head_timer(client);
    bufferevent_enable(client->bev, EV_READ | EV_WRITE);
    return 0;
}

void relay_client_accept(struct relay_listener *listener, int fd,
                         const struct sockaddr *addr)
{
    struct relay *relay = listener->relay;
    struct relay_client *client;

    if (relay->stopping ||
        relay->client_count >= relay->config->options.max_clients) {
        log_warn("connection refused: %zu client connections are open, the "
                 "limit of max_clients",
                 relay->client_count);
        close(fd);
        return;
    }
    client = calloc(1, sizeof(*client));
    if (client == NULL) {
        close(fd);
        return;
    }
    relay_format_peer(addr, client);
    LIST_INSERT_HEAD(&relay->clients, client, link);
    relay->client_count++;
    if (relay_client_init(client, listener, fd) != 0) {
        log_error("client %s: out of memory", client->peer);
        if (client->bev == NULL) {
            close(fd);
        }
        relay_client_free(client);
    }
}

void relay_clients_drain(struct relay *relay)
{
    struct relay_client *client = LIST_FIRST(&relay->clients);

    while (client != NULL) {
        struct relay_client *next = LIST_NEXT(client, link);

        if (client->exchange == NULL) {
            relay_client_free(client);
        }
        client = next;
    }
}
