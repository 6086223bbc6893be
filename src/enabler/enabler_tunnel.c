#include "common/log.h"
#include "common/net.h"
#include "enabler/enabler.h"
#include "enabler/enabler_exchange.h"
#include "tls/tls_context.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void enabler_tunnel_reconnect(struct enabler_tunnel *tunnel,
                                     const char *cause);

/* Returns the next delay before reconnecting: full jitter, a random time
 * between 0 and min(cap, base * 2^failures), so that enablers that lost
 * the same relay do not come back all at once. */
static unsigned enabler_backoff_ms(const struct enabler_options *opts,
                                   unsigned failures)
{
    uint64_t ceiling = opts->retry_base_ms;
    uint32_t random = 0;

    for (unsigned i = 1; i < failures && ceiling < opts->retry_cap_ms; i++) {
        ceiling *= 2;
    }
    if (ceiling > opts->retry_cap_ms) {
        ceiling = opts->retry_cap_ms;
    }
    if (ceiling == 0) {
        return 0;
    }
    RAND_bytes((unsigned char *)&random, sizeof(random));
    return (unsigned)(random % (ceiling + 1));
}

static void enabler_tunnel_free_connection(struct enabler_tunnel *tunnel)
{
    struct enabler_exchange *ex;

    while ((ex = TAILQ_FIRST(&tunnel->exchanges)) != NULL) {
        TAILQ_REMOVE(&tunnel->exchanges, ex, link);
        ex->tunnel = NULL;
        enabler_exchange_on_stream_close(ex, NGHTTP2_CANCEL);
    }
    tunnel->lingering = false;
    tunnel_liveness_stop(&tunnel->liveness);
    if (tunnel->session != NULL) {
        nghttp2_session_del(tunnel->session);
        tunnel->session = NULL;
    }
    http1_parser_free(tunnel->hello_parser);
    tunnel->hello_parser = NULL;
    if (tunnel->bev != NULL) {
        bufferevent_free(tunnel->bev);
        tunnel->bev = NULL;
    }
    tunnel->close_cause = NULL;
}

void enabler_tunnel_flush(struct enabler_tunnel *tunnel)
{
    if (tunnel->session != NULL && tunnel->close_cause == NULL) {
        event_active(tunnel->flush_event, EV_TIMEOUT, 0);
    }
}

/* Flushes from the event loop, never inside a caller that may hold a
 * pointer to a stream's exchange: sending can close streams, and closing
 * a stream frees its exchange. */
static void enabler_linger_on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *input = bufferevent_get_input(bev);

    (void)arg;
    evbuffer_drain(input, evbuffer_get_length(input));
}

static void enabler_linger_on_event(struct bufferevent *bev, short what,
                                    void *arg)
{
    struct enabler_tunnel *tunnel = arg;

    (void)bev;
    (void)what;
    tunnel->lingering = false;
    tunnel->close_cause = "the enabler stopped and its streams are done";
    event_active(tunnel->close_event, EV_TIMEOUT, 0);
}

/* Ends a drained tunnel gently: sends FIN, then reads and drops what the
 * relay still sends until it closes too (or 2 s pass). Closing with unread
 * bytes, such as the relay's last WINDOW_UPDATE, would make the kernel
 * send a reset, and a reset makes the relay's kernel drop response bytes
 * it has received but the relay has not read yet. */
static void enabler_tunnel_linger(struct enabler_tunnel *tunnel)
{
    struct timeval timeout = {2, 0};

    if (tunnel->lingering) {
        return;
    }
    tunnel->lingering = true;
    shutdown(bufferevent_getfd(tunnel->bev), SHUT_WR);
    bufferevent_setcb(tunnel->bev, enabler_linger_on_read, NULL,
                      enabler_linger_on_event, tunnel);
    bufferevent_set_timeouts(tunnel->bev, &timeout, NULL);
    bufferevent_enable(tunnel->bev, EV_READ);
}

static void enabler_on_flush_event(evutil_socket_t fd, short what, void *arg)
{
    struct enabler_tunnel *tunnel = arg;
    int rc;

    (void)fd;
    (void)what;
    if (tunnel->session == NULL || tunnel->close_cause != NULL) {
        return;
    }
    rc = tunnel_session_flush(tunnel->session, tunnel->bev);
    if (rc != 0) {
        tunnel->close_cause = nghttp2_strerror(rc);
    } else if (tunnel_session_finished(tunnel->session) &&
               evbuffer_get_length(bufferevent_get_output(tunnel->bev)) == 0) {
        if (tunnel->enabler->stopping) {
            enabler_tunnel_linger(tunnel);
            return;
        }
        tunnel->close_cause = "the relay ended the session";
    } else {
        return;
    }
    event_active(tunnel->close_event, EV_TIMEOUT, 0);
}

static void enabler_on_close_event(evutil_socket_t fd, short what, void *arg)
{
    struct enabler_tunnel *tunnel = arg;

    (void)fd;
    (void)what;
    enabler_tunnel_reconnect(tunnel, tunnel->close_cause);
}

static struct enabler_exchange *enabler_stream(nghttp2_session *session,
                                               int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int enabler_on_begin_headers(nghttp2_session *session,
                                    const nghttp2_frame *frame, void *user_data)
{
    struct enabler_tunnel *tunnel = user_data;
    struct enabler_exchange *ex;

    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    ex = enabler_exchange_new(tunnel, frame->hd.stream_id);
    if (ex == NULL) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE,
                                  frame->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    TAILQ_INSERT_TAIL(&tunnel->exchanges, ex, link);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, ex);
    return 0;
}

static int enabler_on_header(nghttp2_session *session,
                             const nghttp2_frame *frame, const uint8_t *name,
                             size_t namelen, const uint8_t *value,
                             size_t valuelen, uint8_t flags, void *user_data)
{
    struct enabler_exchange *ex = enabler_stream(session, frame->hd.stream_id);

    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || ex == NULL) {
        return 0;
    }
    if (enabler_exchange_on_header(ex, name, namelen, value, valuelen) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int enabler_on_frame_recv(nghttp2_session *session,
                                 const nghttp2_frame *frame, void *user_data)
{
    struct enabler_tunnel *tunnel = user_data;
    struct enabler_exchange *ex;

    tunnel_liveness_touch(&tunnel->liveness);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    ex = enabler_stream(session, frame->hd.stream_id);
    if (ex == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS) {
        enabler_exchange_on_headers_done(
            ex, (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
    }
    ex = enabler_stream(session, frame->hd.stream_id);
    if (ex != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        enabler_exchange_on_request_end(ex);
    }
    return 0;
}

static int enabler_on_data(nghttp2_session *session, uint8_t flags,
                           int32_t stream_id, const uint8_t *data, size_t len,
                           void *user_data)
{
    struct enabler_exchange *ex = enabler_stream(session, stream_id);

    (void)flags;
    (void)user_data;
    if (ex == NULL) {
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    enabler_exchange_on_data(ex, data, len);
    return 0;
}

static int enabler_on_stream_close(nghttp2_session *session, int32_t stream_id,
                                   uint32_t error_code, void *user_data)
{
    struct enabler_tunnel *tunnel = user_data;
    struct enabler_exchange *ex = enabler_stream(session, stream_id);

    if (ex == NULL) {
        return 0;
    }
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    TAILQ_REMOVE(&tunnel->exchanges, ex, link);
    if (ex->unconsumed > 0) {
        /* The stream is gone, but its bytes still count against the
         * connection window until they are acknowledged. */
        nghttp2_session_consume(session, stream_id, ex->unconsumed);
        ex->unconsumed = 0;
    }
    ex->tunnel = NULL;
    enabler_exchange_on_stream_close(ex, error_code);
    return 0;
}

static int enabler_session_new(struct enabler_tunnel *tunnel)
{
    nghttp2_session_callbacks *callbacks = NULL;
    nghttp2_option *option = NULL;
    int rc = -1;

    if (nghttp2_session_callbacks_new(&callbacks) != 0 ||
        tunnel_session_options(&option) != 0) {
        goto out;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        callbacks, enabler_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks,
                                                     enabler_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                         enabler_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                              enabler_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, enabler_on_stream_close);
    if (nghttp2_session_server_new2(&tunnel->session, callbacks, tunnel,
                                    option) != 0) {
        goto out;
    }
    rc = tunnel_session_start(tunnel->session,
                              tunnel->enabler->opts->max_streams) == 0
             ? 0
             : -1;

out:
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    return rc;
}

static void enabler_tunnel_on_read(struct bufferevent *bev, void *arg)
{
    struct enabler_tunnel *tunnel = arg;
    int rc = tunnel_session_receive(tunnel->session, bev);

    if (rc != 0) {
        log_warn("tunnel to %s: protocol error from the relay: %s",
                 tunnel->address, nghttp2_strerror(rc));
        enabler_tunnel_reconnect(tunnel, "protocol error");
        return;
    }
    enabler_tunnel_flush(tunnel);
}

static void enabler_tunnel_on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    enabler_tunnel_flush(arg);
}

static void enabler_tunnel_on_event(struct bufferevent *bev, short what,
                                    void *arg);

static bool enabler_peer_parse(const char *text, size_t len, bool tls,
                               struct enabler_endpoint *peer)
{
    const char *colon;
    const char *host = text;
    size_t host_len;

    memset(peer, 0, sizeof(*peer));
    peer->tls = tls;
    if (len == 0 || len >= ENABLER_HOST_MAX) {
        return false;
    }
    colon = memrchr(text, ':', len);
    if (colon == NULL || colon == text + len - 1 ||
        (size_t)(text + len - colon - 1) >= sizeof(peer->port)) {
        return false;
    }
    host_len = (size_t)(colon - text);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    memcpy(peer->host, host, host_len);
    memcpy(peer->port, colon + 1, (size_t)(text + len - colon - 1));
    return host_len > 0 && atoi(peer->port) > 0;
}

static struct enabler_tunnel *
enabler_find_tunnel(struct enabler *enabler,
                    const struct enabler_endpoint *relay)
{
    struct enabler_tunnel *tunnel;

    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        if (strcasecmp(tunnel->relay.host, relay->host) == 0 &&
            strcmp(tunnel->relay.port, relay->port) == 0) {
            return tunnel;
        }
    }
    return NULL;
}

static void enabler_on_remove(evutil_socket_t fd, short what, void *arg);

void enabler_tunnel_apply_peers(struct enabler_tunnel *tunnel, const char *list)
{
    struct enabler *enabler = tunnel->enabler;
    struct enabler_tunnel *other;
    struct enabler_endpoint peer;
    const char *p = list;

    TAILQ_FOREACH(other, &enabler->tunnels, link)
    {
        other->listed = other == tunnel || !other->learned;
    }
    while (*p != '\0') {
        size_t len;

        p += strspn(p, " ,");
        len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (enabler_peer_parse(p, len, tunnel->relay.tls, &peer)) {
            other = enabler_find_tunnel(enabler, &peer);
            if (other == NULL) {
                other = enabler_tunnel_add(enabler, &peer, true);
            }
            if (other != NULL) {
                other->listed = true;
            }
        }
        p += strcspn(p, ",");
    }
    TAILQ_FOREACH(other, &enabler->tunnels, link)
    {
        if (!other->listed && !other->removing) {
            other->removing = true;
            log_info("tunnel to %s: the relay farm no longer lists this "
                     "relay; closing its tunnel",
                     other->address);
            event_base_once(enabler->base, -1, EV_TIMEOUT, enabler_on_remove,
                            other, NULL);
        }
    }
}

static int enabler_tunnel_open(struct enabler_tunnel *tunnel)
{
    const struct http1_head *head = http1_parser_head(tunnel->hello_parser);
    const struct http1_field *id = http1_field_find(
        head->fields, head->field_count, "drawbridge-tunnel-id");

    const struct http1_field *peers = http1_field_find(
        head->fields, head->field_count, "drawbridge-relay-peers");

    snprintf(tunnel->relay_tunnel_id, sizeof(tunnel->relay_tunnel_id), "%s",
             id ? id->value : "?");
    if (peers != NULL && !tunnel->enabler->stopping) {
        enabler_tunnel_apply_peers(tunnel, peers->value);
    }
    http1_parser_free(tunnel->hello_parser);
    tunnel->hello_parser = NULL;
    if (enabler_session_new(tunnel) != 0) {
        return -1;
    }
    tunnel->state = ENABLER_TUNNEL_OPEN;
    tunnel->failures = 0;
    tunnel->enabler->counters.tunnels_opened++;
    tunnel_liveness_start(&tunnel->liveness, tunnel->session);
    bufferevent_setcb(tunnel->bev, enabler_tunnel_on_read,
                      enabler_tunnel_on_write, enabler_tunnel_on_event, tunnel);
    bufferevent_set_timeouts(tunnel->bev, NULL, NULL);
    log_info("tunnel %s up: relay=%s farm=%s server=%s",
             tunnel->relay_tunnel_id, tunnel->address,
             tunnel->enabler->opts->farm, tunnel->enabler->opts->id);
    enabler_tunnel_on_read(tunnel->bev, tunnel);
    return 0;
}

static int enabler_hello_on_head(struct http1_parser *parser,
                                 const struct http1_head *head, void *arg)
{
    (void)parser;
    (void)head;
    (void)arg;
    return HTTP1_CONTINUE;
}

static int enabler_hello_on_body(struct http1_parser *parser, const char *data,
                                 size_t len, void *arg)
{
    struct enabler_tunnel *tunnel = arg;
    size_t used = strlen(tunnel->refusal);

    (void)parser;
    for (size_t i = 0; i < len && used + 1 < sizeof(tunnel->refusal); i++) {
        if (data[i] != '\n' && data[i] != '\r') {
            tunnel->refusal[used++] = data[i];
        }
    }
    tunnel->refusal[used] = '\0';
    return HTTP1_CONTINUE;
}

static void enabler_hello_refused(struct enabler_tunnel *tunnel)
{
    const struct http1_head *head = http1_parser_head(tunnel->hello_parser);
    char cause[700];

    snprintf(cause, sizeof(cause), "the relay refused the tunnel: %d %s",
             head ? head->status : 0,
             tunnel->refusal[0] ? tunnel->refusal : "(no reason given)");
    log_error("tunnel to %s: %s", tunnel->address, cause);
    enabler_tunnel_reconnect(tunnel, NULL);
}

static void enabler_hello_on_read(struct bufferevent *bev, void *arg)
{
    struct enabler_tunnel *tunnel = arg;
    struct evbuffer *input = bufferevent_get_input(bev);

    while (evbuffer_get_length(input) > 0) {
        struct evbuffer_iovec vec;
        size_t consumed = 0;
        enum http1_result rc;

        evbuffer_peek(input, -1, NULL, &vec, 1);
        rc = http1_parser_feed(tunnel->hello_parser, vec.iov_base, vec.iov_len,
                               &consumed);
        evbuffer_drain(input, consumed);
        if (rc == HTTP1_UPGRADE) {
            if (enabler_tunnel_open(tunnel) != 0) {
                enabler_tunnel_reconnect(tunnel, "out of memory");
            }
            return;
        }
        if (rc == HTTP1_PAUSED && tunnel->last_refused) {
            enabler_hello_refused(tunnel);
            return;
        }
        if (rc == HTTP1_ERROR) {
            enabler_tunnel_reconnect(tunnel, "the relay's answer to the "
                                             "tunnel request is not HTTP");
            return;
        }
    }
}

static int enabler_hello_on_complete(struct http1_parser *parser, void *arg)
{
    struct enabler_tunnel *tunnel = arg;
    const struct http1_head *head = http1_parser_head(parser);

    if (head->status == 101) {
        return HTTP1_CONTINUE; /* the parser returns HTTP1_UPGRADE */
    }
    /* The refusal is handled once the parser has returned, because it
     * frees the parser. */
    tunnel->last_refused = true;
    return HTTP1_PAUSE;
}

static const struct http1_callbacks enabler_hello_callbacks = {
    .on_head = enabler_hello_on_head,
    .on_body = enabler_hello_on_body,
    .on_complete = enabler_hello_on_complete,
};

/* Compares one attribute of the relay's certificate subject with the
 * value that -cr certificate_name, _company or _unit requires. */
static int enabler_check_subject(X509 *cert, int nid, const char *expected,
                                 const char *option, char *why, size_t size)
{
    char actual[256] = "";

    if (expected[0] == '\0') {
        return 0;
    }
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, actual,
                              sizeof(actual));
    if (strcmp(actual, expected) == 0) {
        return 0;
    }
    snprintf(why, size,
             "the relay's certificate has %s '%s', but %s requires '%s'; "
             "correct %s or the relay's certificate",
             OBJ_nid2sn(nid), actual, option, expected, option);
    return -1;
}

static int enabler_check_identity(struct enabler_tunnel *tunnel, char *why,
                                  size_t size)
{
    const struct enabler_options *opts = tunnel->enabler->opts;
    SSL *ssl = bufferevent_openssl_get_ssl(tunnel->bev);
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

    if (cert == NULL) {
        return 0;
    }
    if (enabler_check_subject(cert, NID_commonName, opts->certificate_name,
                              "certificate_name", why, size) ||
        enabler_check_subject(cert, NID_organizationName,
                              opts->certificate_company, "certificate_company",
                              why, size) ||
        enabler_check_subject(cert, NID_organizationalUnitName,
                              opts->certificate_unit, "certificate_unit", why,
                              size)) {
        return -1;
    }
    return 0;
}

static void enabler_tunnel_send_hello(struct enabler_tunnel *tunnel)
{
    const struct enabler_options *opts = tunnel->enabler->opts;
    struct tunnel_hello hello = {.version = 1};
    char why[512];
    int rc;

    if (enabler_check_identity(tunnel, why, sizeof(why)) != 0) {
        log_error("tunnel to %s: %s", tunnel->address, why);
        enabler_tunnel_reconnect(tunnel, NULL);
        return;
    }
    snprintf(hello.farm, sizeof(hello.farm), "%s", opts->farm);
    snprintf(hello.id, sizeof(hello.id), "%s", opts->id);
    snprintf(hello.token, sizeof(hello.token), "%s", opts->token);
    rc = tunnel_hello_write(bufferevent_get_output(tunnel->bev),
                            tunnel->address, opts->url_suffix, &hello);
    OPENSSL_cleanse(hello.token, sizeof(hello.token));
    tunnel->hello_parser = http1_parser_new(HTTP1_RESPONSE, NULL,
                                            &enabler_hello_callbacks, tunnel);
    if (rc != 0 || tunnel->hello_parser == NULL) {
        enabler_tunnel_reconnect(tunnel, "cannot write the tunnel request");
        return;
    }
    tunnel->state = ENABLER_TUNNEL_HELLO;
    tunnel->refusal[0] = '\0';
    tunnel->last_refused = false;
    bufferevent_setcb(tunnel->bev, enabler_hello_on_read, NULL,
                      enabler_tunnel_on_event, tunnel);
    bufferevent_enable(tunnel->bev, EV_READ | EV_WRITE);
}

static void enabler_connect_failed(struct enabler_tunnel *tunnel, short what)
{
    struct enabler *enabler = tunnel->enabler;
    SSL *ssl = bufferevent_openssl_get_ssl(tunnel->bev);
    int dns_error = bufferevent_socket_get_dns_error(tunnel->bev);
    int socket_error = EVUTIL_SOCKET_ERROR();
    unsigned long ssl_error =
        ssl != NULL ? bufferevent_get_openssl_error(tunnel->bev) : 0;
    const char *tls_error =
        ssl_error ? ERR_reason_error_string(ssl_error) : NULL;
    char why[1024] = "";

    if (ssl != NULL) {
        tls_explain_verify_failure(
            ssl, tunnel->relay.host,
            enabler->opts->ca_file[0] ? enabler->opts->ca_file : NULL, why,
            sizeof(why));
    }
    if (why[0] != '\0') {
        tunnel->last_refused = true;
        log_error("tunnel to %s: %s", tunnel->address, why);
    } else if (dns_error != 0) {
        log_error("tunnel to %s: cannot resolve %s: %s; check the relay's "
                  "host name",
                  tunnel->address, tunnel->relay.host,
                  evutil_gai_strerror(dns_error));
    } else if (what & BEV_EVENT_TIMEOUT) {
        log_error(
            "tunnel to %s: connecting timed out after %u s; check the address "
            "and any firewall on the way",
            tunnel->address, 10u);
    } else if (tls_error != NULL) {
        log_error("tunnel to %s: TLS handshake failed: %s; check that the "
                  "port is the relay's HTTPS port",
                  tunnel->address, tls_error);
    } else {
        log_error("tunnel to %s: cannot connect: %s; check that the relay "
                  "runs and listens there",
                  tunnel->address,
                  socket_error ? evutil_socket_error_to_string(socket_error)
                               : "connection closed");
    }
    enabler_tunnel_reconnect(tunnel, NULL);
}

static void enabler_tunnel_on_event(struct bufferevent *bev, short what,
                                    void *arg)
{
    struct enabler_tunnel *tunnel = arg;

    if (what & BEV_EVENT_CONNECTED) {
        net_set_nodelay(bufferevent_getfd(bev));
        enabler_tunnel_send_hello(tunnel);
        return;
    }
    if (tunnel->state == ENABLER_TUNNEL_CONNECTING) {
        enabler_connect_failed(tunnel, what);
        return;
    }
    if (tunnel->state == ENABLER_TUNNEL_HELLO) {
        log_error("tunnel to %s: the relay closed the connection without "
                  "answering the tunnel request; check --url-suffix and that "
                  "the address is a Drawbridge relay",
                  tunnel->address);
        enabler_tunnel_reconnect(tunnel, NULL);
        return;
    }
    enabler_tunnel_reconnect(tunnel, what & BEV_EVENT_EOF
                                         ? "the relay closed the connection"
                                         : "connection error");
}

static struct bufferevent *enabler_tunnel_bev(struct enabler_tunnel *tunnel)
{
    struct enabler *enabler = tunnel->enabler;

    if (!tunnel->relay.tls) {
        return bufferevent_socket_new(
            enabler->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    return tls_client_bufferevent(enabler->base, enabler->relay_ctx,
                                  tunnel->relay.host);
}

static void enabler_tunnel_connect(struct enabler_tunnel *tunnel)
{
    struct timeval timeout = {10, 0};

    tunnel->state = ENABLER_TUNNEL_CONNECTING;
    tunnel->last_refused = false;
    tunnel->bev = enabler_tunnel_bev(tunnel);
    if (tunnel->bev == NULL) {
        enabler_tunnel_reconnect(tunnel, "out of memory");
        return;
    }
    bufferevent_setcb(tunnel->bev, NULL, NULL, enabler_tunnel_on_event, tunnel);
    bufferevent_set_timeouts(tunnel->bev, &timeout, &timeout);
    log_debug("tunnel to %s: connecting", tunnel->address);
    if (bufferevent_socket_connect_hostname(tunnel->bev, NULL, AF_UNSPEC,
                                            tunnel->relay.host,
                                            atoi(tunnel->relay.port)) != 0) {
        enabler_connect_failed(tunnel, BEV_EVENT_ERROR);
    }
}

static void enabler_on_ping(void *arg)
{
    enabler_tunnel_flush(arg);
}

static void enabler_on_dead(void *arg)
{
    enabler_tunnel_reconnect(arg, "no frame from the relay within the ping "
                                  "timeout");
}

static void enabler_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    enabler_tunnel_connect(arg);
}

static void enabler_on_remove(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    enabler_tunnel_remove(arg);
}

static void enabler_give_up(struct enabler_tunnel *tunnel)
{
    struct enabler *enabler = tunnel->enabler;

    if (tunnel->learned) {
        /* A peer that stays unreachable is dropped; the relay given on the
         * command line decides when the enabler exits. */
        if (tunnel->removing) {
            return;
        }
        tunnel->removing = true;
        log_warn("tunnel to %s: dropping this peer relay after %u failed "
                 "attempt(s) in a row",
                 tunnel->address, tunnel->failures);
        event_base_once(enabler->base, -1, EV_TIMEOUT, enabler_on_remove,
                        tunnel, NULL);
        return;
    }
    enabler->exit_status =
        tunnel->last_refused ? ENABLER_EXIT_REFUSED : ENABLER_EXIT_CONNECT;
    log_error("tunnel to %s: giving up after %u failed attempt(s) in a row "
              "(--max-retries %d); exit status %d",
              tunnel->address, tunnel->failures, enabler->opts->max_retries,
              enabler->exit_status);
    event_base_loopexit(enabler->base, NULL);
}

static void enabler_tunnel_reconnect(struct enabler_tunnel *tunnel,
                                     const char *cause)
{
    struct enabler *enabler = tunnel->enabler;
    bool was_open = tunnel->state == ENABLER_TUNNEL_OPEN;
    unsigned delay;
    struct timeval timeout;

    if (was_open) {
        log_warn("tunnel %s down: relay=%s: %s", tunnel->relay_tunnel_id,
                 tunnel->address, cause ? cause : "closed");
    } else if (cause != NULL) {
        log_error("tunnel to %s: %s", tunnel->address, cause);
    }
    enabler_tunnel_free_connection(tunnel);
    tunnel->state = ENABLER_TUNNEL_WAITING;
    if (enabler->stopping || enabler->backend_down) {
        return;
    }
    tunnel->failures = was_open ? 0 : tunnel->failures + 1;
    if (!was_open) {
        if (tunnel->last_refused) {
            enabler->counters.attempts_refused++;
        } else {
            enabler->counters.attempts_failed++;
        }
    }
    if (enabler->opts->max_retries >= 0 &&
        tunnel->failures > (unsigned)enabler->opts->max_retries) {
        enabler_give_up(tunnel);
        return;
    }
    delay = enabler_backoff_ms(enabler->opts, tunnel->failures);
    log_info("tunnel to %s: reconnecting in %u.%03u s", tunnel->address,
             delay / 1000, delay % 1000);
    timeout.tv_sec = delay / 1000;
    timeout.tv_usec = (delay % 1000) * 1000;
    evtimer_add(tunnel->retry_timer, &timeout);
}

void enabler_format_address(const struct enabler_endpoint *endpoint, char *buf,
                            size_t size)
{
    bool v6 = strchr(endpoint->host, ':') != NULL;

    snprintf(buf, size, v6 ? "[%s]:%s" : "%s:%s", endpoint->host,
             endpoint->port);
}

static void enabler_tunnel_free(struct enabler_tunnel *tunnel)
{
    enabler_tunnel_free_connection(tunnel);
    if (tunnel->retry_timer != NULL) {
        event_free(tunnel->retry_timer);
    }
    if (tunnel->close_event != NULL) {
        event_free(tunnel->close_event);
    }
    if (tunnel->flush_event != NULL) {
        event_free(tunnel->flush_event);
    }
    tunnel_liveness_free(&tunnel->liveness);
    free(tunnel);
}

struct enabler_tunnel *enabler_tunnel_add(struct enabler *enabler,
                                          const struct enabler_endpoint *relay,
                                          bool learned)
{
    struct enabler_tunnel *tunnel = calloc(1, sizeof(*tunnel));

    if (tunnel == NULL) {
        return NULL;
    }
    tunnel->enabler = enabler;
    tunnel->relay = *relay;
    tunnel->learned = learned;
    enabler_format_address(relay, tunnel->address, sizeof(tunnel->address));
    TAILQ_INIT(&tunnel->exchanges);
    tunnel->retry_timer = evtimer_new(enabler->base, enabler_on_retry, tunnel);
    tunnel->close_event =
        event_new(enabler->base, -1, 0, enabler_on_close_event, tunnel);
    tunnel->flush_event =
        event_new(enabler->base, -1, 0, enabler_on_flush_event, tunnel);
    if (tunnel->retry_timer == NULL || tunnel->close_event == NULL ||
        tunnel->flush_event == NULL ||
        tunnel_liveness_init(&tunnel->liveness, enabler->base,
                             enabler->opts->ping_interval_ms,
                             enabler->opts->ping_timeout_ms, enabler_on_ping,
                             enabler_on_dead, tunnel) != 0) {
        enabler_tunnel_free(tunnel);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&enabler->tunnels, tunnel, link);
    if (learned) {
        log_info("tunnel to %s: connecting to this peer relay as well",
                 tunnel->address);
    }
    enabler_tunnel_connect(tunnel);
    return tunnel;
}

void enabler_tunnel_remove(struct enabler_tunnel *tunnel)
{
    TAILQ_REMOVE(&tunnel->enabler->tunnels, tunnel, link);
    enabler_tunnel_free(tunnel);
}

void enabler_tunnel_drain(struct enabler_tunnel *tunnel)
{
    if (tunnel->state != ENABLER_TUNNEL_OPEN) {
        evtimer_del(tunnel->retry_timer);
        return;
    }
    nghttp2_submit_goaway(
        tunnel->session, NGHTTP2_FLAG_NONE,
        nghttp2_session_get_last_proc_stream_id(tunnel->session),
        NGHTTP2_NO_ERROR, NULL, 0);
    enabler_tunnel_flush(tunnel);
}

void enabler_tunnels_suspend(struct enabler *enabler)
{
    struct enabler_tunnel *tunnel;

    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        evtimer_del(tunnel->retry_timer);
        if (tunnel->state != ENABLER_TUNNEL_WAITING) {
            enabler_tunnel_reconnect(tunnel, "the backend is down");
        }
    }
}

void enabler_tunnels_resume(struct enabler *enabler)
{
    struct enabler_tunnel *tunnel;

    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        if (tunnel->state == ENABLER_TUNNEL_WAITING) {
            evtimer_del(tunnel->retry_timer);
            tunnel->failures = 0;
            enabler_tunnel_connect(tunnel);
        }
    }
}

void enabler_metrics_write(void *arg, struct evbuffer *out)
{
    static const char *const classes[] = {"none", "1xx", "2xx",
                                          "3xx",  "4xx", "5xx"};
    const struct enabler *enabler = arg;
    const struct enabler_counters *counters = &enabler->counters;
    const struct enabler_tunnel *tunnel;
    size_t open = 0;

    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        open += tunnel->state == ENABLER_TUNNEL_OPEN;
    }
    evbuffer_add_printf(out, "# TYPE drawbridge_enabler_requests_total "
                             "counter\n");
    for (int c = 0; c < 6; c++) {
        evbuffer_add_printf(out,
                            "drawbridge_enabler_requests_total{class=\"%s\"} "
                            "%llu\n",
                            classes[c],
                            (unsigned long long)counters->requests[c]);
    }
    evbuffer_add_printf(
        out,
        "# TYPE drawbridge_enabler_body_bytes_total counter\n"
        "drawbridge_enabler_body_bytes_total{direction=\"in\"} %llu\n"
        "drawbridge_enabler_body_bytes_total{direction=\"out\"} %llu\n"
        "# TYPE drawbridge_enabler_tunnels gauge\n"
        "drawbridge_enabler_tunnels %zu\n"
        "# TYPE drawbridge_enabler_tunnels_opened_total counter\n"
        "drawbridge_enabler_tunnels_opened_total %llu\n"
        "# TYPE drawbridge_enabler_failed_attempts_total counter\n"
        "drawbridge_enabler_failed_attempts_total{cause=\"refused\"} %llu\n"
        "drawbridge_enabler_failed_attempts_total{cause=\"connect\"} %llu\n"
        "# TYPE drawbridge_enabler_backend_connections gauge\n"
        "drawbridge_enabler_backend_connections %u\n"
        "# TYPE drawbridge_enabler_backend_up gauge\n"
        "drawbridge_enabler_backend_up %d\n",
        (unsigned long long)counters->bytes_in,
        (unsigned long long)counters->bytes_out, open,
        (unsigned long long)counters->tunnels_opened,
        (unsigned long long)counters->attempts_refused,
        (unsigned long long)counters->attempts_failed, enabler->pool.open,
        enabler->backend_down ? 0 : 1);
}
