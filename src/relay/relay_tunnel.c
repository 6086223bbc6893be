#include "relay/relay_tunnel.h"

#include "common/log.h"
#include "relay/relay_exchange.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct config_farm *relay_find_farm(const struct config *cfg,
                                                 const char *id, char *reason,
                                                 size_t size, int *status)
{
    const struct config_farm *farm = config_find_farm(cfg, id);

    *status = 0;
    if (farm != NULL && farm->enable) {
        return farm;
    }
    if (farm != NULL) {
        *status = 403;
        snprintf(reason, size, "farm %s is disabled on this relay", id);
        return NULL;
    }
    *status = 404;
    for (size_t i = 0; i < cfg->farm_count; i++) {
        if (strcasecmp(cfg->farms[i].id, id) == 0) {
            snprintf(reason, size,
                     "unknown farm '%s'; farm ids are case-sensitive and the "
                     "relay has '%s'",
                     id, cfg->farms[i].id);
            return NULL;
        }
    }
    snprintf(reason, size,
             "unknown farm '%s'; give the enabler a farm id from the relay's "
             "[backend_farm] sections",
             id);
    return NULL;
}

static const struct config_server *
relay_find_server(const struct config *cfg, const struct tunnel_hello *hello,
                  char *reason, size_t size, int *status)
{
    const struct config_server *server =
        config_find_server(cfg, hello->farm, hello->id);

    *status = 0;
    if (server != NULL && server->enable) {
        return server;
    }
    if (server != NULL) {
        *status = 403;
        snprintf(reason, size, "server %s of farm %s is disabled on this relay",
                 hello->id, hello->farm);
        return NULL;
    }
    *status = 404;
    for (size_t i = 0; i < cfg->server_count; i++) {
        const struct config_server *s = &cfg->servers[i];

        if (strcmp(s->farm, hello->farm) == 0 &&
            strcasecmp(s->id, hello->id) == 0) {
            snprintf(reason, size,
                     "unknown server id '%s' in farm %s; server ids are "
                     "case-sensitive and the relay has '%s'",
                     hello->id, hello->farm, s->id);
            return NULL;
        }
    }
    snprintf(reason, size,
             "unknown server id '%s' in farm %s; give the enabler an id from "
             "the relay's [backend_server] sections",
             hello->id, hello->farm);
    return NULL;
}

static int relay_check_transport(const struct config_farm *farm, bool tls,
                                 char *reason, size_t size)
{
    if (farm->backend_security == CONFIG_SECURITY_ON && !tls) {
        snprintf(reason, size,
                 "farm %s accepts enablers over HTTPS only "
                 "(backend_security = on); connect to the relay's HTTPS port",
                 farm->id);
        return 403;
    }
    if (farm->backend_security == CONFIG_SECURITY_OFF && tls) {
        snprintf(reason, size,
                 "farm %s accepts enablers over HTTP only "
                 "(backend_security = off); connect to the relay's HTTP port",
                 farm->id);
        return 403;
    }
    return 0;
}

/* Returns the runtime state of the server that HELLO may connect as, or
 * NULL with *STATUS and REASON set. */
static struct relay_server *relay_tunnel_check(struct relay *relay, bool tls,
                                               const struct tunnel_hello *hello,
                                               char *reason, size_t size,
                                               int *status)
{
    const struct config_farm *farm;
    const struct config_server *server;
    struct relay_farm *farm_state;

    farm = relay_find_farm(relay->config, hello->farm, reason, size, status);
    if (farm == NULL) {
        return NULL;
    }
    server = relay_find_server(relay->config, hello, reason, size, status);
    if (server == NULL) {
        return NULL;
    }
    if (!tunnel_token_equal(server->token, hello->token)) {
        *status = 401;
        snprintf(reason, size,
                 "wrong token for server %s of farm %s; give the enabler the "
                 "token from the relay's configuration",
                 hello->id, hello->farm);
        return NULL;
    }
    *status = relay_check_transport(farm, tls, reason, size);
    if (*status != 0) {
        return NULL;
    }
    farm_state = relay_routes_farm(&relay->routes, farm->id, strlen(farm->id));
    return farm_state ? relay_farm_server(farm_state, server->id) : NULL;
}

static struct relay_exchange *relay_stream_exchange(nghttp2_session *session,
                                                    int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int relay_on_header(nghttp2_session *session, const nghttp2_frame *frame,
                           const uint8_t *name, size_t namelen,
                           const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *user_data)
{
    struct relay_exchange *ex =
        relay_stream_exchange(session, frame->hd.stream_id);

    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || ex == NULL) {
        return 0;
    }
    if (relay_exchange_on_header(ex, name, namelen, value, valuelen) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int relay_on_frame_recv(nghttp2_session *session,
                               const nghttp2_frame *frame, void *user_data)
{
    struct relay_tunnel *tunnel = user_data;
    struct relay_exchange *ex;

    tunnel_liveness_touch(&tunnel->liveness);
    if (frame->hd.type == NGHTTP2_SETTINGS &&
        !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        evtimer_del(tunnel->handshake_timer);
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    ex = relay_stream_exchange(session, frame->hd.stream_id);
    if (ex == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS) {
        relay_exchange_on_headers_done(ex);
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        relay_exchange_on_end(ex);
    }
    return 0;
}

static int relay_on_data(nghttp2_session *session, uint8_t flags,
                         int32_t stream_id, const uint8_t *data, size_t len,
                         void *user_data)
{
    struct relay_exchange *ex = relay_stream_exchange(session, stream_id);

    (void)flags;
    (void)user_data;
    if (ex == NULL) {
        /* No exchange reads this stream any more, so acknowledge at once so the
         * connection window does not shrink. */
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    relay_exchange_on_data(ex, data, len);
    return 0;
}

/* Acknowledges the body bytes of EX that its client has not taken yet.
 * Once the stream is gone nobody would, and each byte left out would
 * shrink the tunnel's connection window for good. */
static void relay_tunnel_release_window(struct relay_tunnel *tunnel,
                                        struct relay_exchange *ex)
{
    if (ex->unconsumed > 0) {
        nghttp2_session_consume(tunnel->session, ex->stream_id, ex->unconsumed);
        ex->unconsumed = 0;
    }
}

static int relay_on_stream_close(nghttp2_session *session, int32_t stream_id,
                                 uint32_t error_code, void *user_data)
{
    struct relay_tunnel *tunnel = user_data;
    struct relay_exchange *ex = relay_stream_exchange(session, stream_id);

    if (ex == NULL) {
        return 0;
    }
    TAILQ_REMOVE(&tunnel->exchanges, ex, link);
    tunnel->stream_count--;
    relay_tunnel_release_window(tunnel, ex);
    ex->tunnel = NULL;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    relay_exchange_on_close(ex, error_code);
    return 0;
}

static int relay_session_new(struct relay_tunnel *tunnel)
{
    nghttp2_session_callbacks *callbacks = NULL;
    nghttp2_option *option = NULL;
    int rc = -1;

    if (nghttp2_session_callbacks_new(&callbacks) != 0 ||
        tunnel_session_options(&option) != 0) {
        goto out;
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks,
                                                     relay_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                         relay_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                              relay_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, relay_on_stream_close);
    if (nghttp2_session_client_new2(&tunnel->session, callbacks, tunnel,
                                    option) != 0) {
        goto out;
    }
    rc = tunnel_session_start(
             tunnel->session,
             tunnel->relay->config->options.max_streams_per_tunnel) == 0
             ? 0
             : -1;

out:
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    return rc;
}

void relay_tunnel_flush(struct relay_tunnel *tunnel)
{
    if (tunnel->close_cause == NULL) {
        event_active(tunnel->flush_event, EV_TIMEOUT, 0);
    }
}

/* Flushes from the event loop, never inside a caller that may hold a
 * pointer to an exchange: sending can close streams, and closing a stream
 * can free its exchange. */
static void relay_tunnel_on_flush_event(evutil_socket_t fd, short what,
                                        void *arg)
{
    struct relay_tunnel *tunnel = arg;
    int rc;

    (void)fd;
    (void)what;
    if (tunnel->close_cause != NULL) {
        return;
    }
    rc = tunnel_session_flush(tunnel->session, tunnel->bev);
    if (rc != 0) {
        tunnel->close_cause = nghttp2_strerror(rc);
        event_active(tunnel->close_event, EV_TIMEOUT, 0);
    } else if (tunnel_session_finished(tunnel->session) &&
               evbuffer_get_length(bufferevent_get_output(tunnel->bev)) == 0) {
        tunnel->close_cause = "the enabler ended the session";
        event_active(tunnel->close_event, EV_TIMEOUT, 0);
    }
}

static void relay_tunnel_on_read(struct bufferevent *bev, void *arg)
{
    struct relay_tunnel *tunnel = arg;
    int rc = tunnel_session_receive(tunnel->session, bev);

    if (rc != 0) {
        log_warn("tunnel %llu: farm=%s server=%s: protocol error from the "
                 "enabler: %s",
                 (unsigned long long)tunnel->id,
                 tunnel->server->farm->config->id, tunnel->server->config->id,
                 nghttp2_strerror(rc));
        relay_tunnel_close(tunnel, "protocol error");
        return;
    }
    relay_tunnel_flush(tunnel);
}

static void relay_tunnel_on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    relay_tunnel_flush(arg);
}

static void relay_tunnel_on_event(struct bufferevent *bev, short what,
                                  void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_EOF) {
        relay_tunnel_close(arg, "the enabler closed the connection");
    } else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        relay_tunnel_close(arg, what & BEV_EVENT_TIMEOUT ? "timed out"
                                                         : "connection error");
    }
}

static void relay_tunnel_on_handshake_timeout(evutil_socket_t fd, short what,
                                              void *arg)
{
    struct relay_tunnel *tunnel = arg;

    (void)fd;
    (void)what;
    relay_tunnel_close(tunnel, "the enabler sent no HTTP/2 settings within "
                               "tunnel_handshake_timeout");
}

static void relay_tunnel_on_ping(void *arg)
{
    relay_tunnel_flush(arg);
}

static void relay_tunnel_on_dead(void *arg)
{
    struct relay_tunnel *tunnel = arg;
    char cause[128];

    snprintf(cause, sizeof(cause),
             "no frame from the enabler within ping_timeout (%u ms)",
             tunnel->relay->config->options.ping_timeout_ms);
    relay_tunnel_close(tunnel, cause);
}

static void relay_tunnel_on_close_event(evutil_socket_t fd, short what,
                                        void *arg)
{
    struct relay_tunnel *tunnel = arg;

    (void)fd;
    (void)what;
    relay_tunnel_close(tunnel, tunnel->close_cause);
}

/* Writes the other relays of the relay farm that an enabler can reach
 * over the same transport, as "host:port, host:port", into BUF. */
static void relay_tunnel_peers(const struct relay_tunnel *tunnel, char *buf,
                               size_t size)
{
    const struct config *cfg = tunnel->relay->config;
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < cfg->relay_count; i++) {
        const struct config_relay *peer = &cfg->relays[i];
        int port = tunnel->tls ? peer->https_port : peer->http_port;
        bool v6 = strchr(peer->host, ':') != NULL;
        int n;

        if (peer == tunnel->relay->self || !peer->enable || port <= 0) {
            continue;
        }
        n = snprintf(buf + used, size - used, v6 ? "%s[%s]:%d" : "%s%s:%d",
                     used > 0 ? ", " : "", peer->host, port);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
}

void relay_tunnel_send_peers(struct relay_tunnel *tunnel)
{
    char peers[4096];
    const char *host = tunnel->relay->self->host;
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)host, 10, strlen(host),
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)"/", 5, 1, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)TUNNEL_CONTROL_FIELD, (uint8_t *)TUNNEL_CONTROL_PEERS,
         strlen(TUNNEL_CONTROL_FIELD), strlen(TUNNEL_CONTROL_PEERS),
         NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)TUNNEL_PEERS_FIELD, (uint8_t *)peers,
         strlen(TUNNEL_PEERS_FIELD), 0, NGHTTP2_NV_FLAG_NONE},
    };

    relay_tunnel_peers(tunnel, peers, sizeof(peers));
    nv[5].valuelen = strlen(peers);
    /* No exchange is attached: the enabler's answer is read and dropped. */
    if (nghttp2_submit_request(tunnel->session, NULL, nv,
                               sizeof(nv) / sizeof(nv[0]), NULL, NULL) > 0) {
        relay_tunnel_flush(tunnel);
    }
}

static int relay_tunnel_write_accept(struct relay_tunnel *tunnel)
{
    struct evbuffer *out = bufferevent_get_output(tunnel->bev);
    char peers[4096];

    relay_tunnel_peers(tunnel, peers, sizeof(peers));
    return evbuffer_add_printf(out,
                               "HTTP/1.1 101 Switching Protocols\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: %s\r\n"
                               "Drawbridge-Tunnel-Id: %llu\r\n"
                               "Drawbridge-Relay: %s\r\n"
                               "Drawbridge-Relay-Peers: %s\r\n"
                               "\r\n",
                               TUNNEL_PROTOCOL, (unsigned long long)tunnel->id,
                               tunnel->relay->self->id, peers) < 0
               ? -1
               : 0;
}

static struct relay_tunnel *relay_tunnel_new(struct relay *relay,
                                             struct relay_server *server,
                                             struct bufferevent *bev, bool tls,
                                             const char *peer)
{
    struct relay_tunnel *tunnel = calloc(1, sizeof(*tunnel));

    if (tunnel == NULL) {
        return NULL;
    }
    tunnel->relay = relay;
    tunnel->server = server;
    tunnel->bev = bev;
    tunnel->tls = tls;
    tunnel->id = ++relay->next_tunnel_id;
    tunnel->since = time(NULL);
    snprintf(tunnel->peer, sizeof(tunnel->peer), "%s", peer);
    TAILQ_INIT(&tunnel->exchanges);
    tunnel->close_event =
        event_new(relay->base, -1, 0, relay_tunnel_on_close_event, tunnel);
    tunnel->flush_event =
        event_new(relay->base, -1, 0, relay_tunnel_on_flush_event, tunnel);
    tunnel->handshake_timer =
        evtimer_new(relay->base, relay_tunnel_on_handshake_timeout, tunnel);
    if (tunnel->close_event == NULL || tunnel->flush_event == NULL ||
        tunnel->handshake_timer == NULL ||
        tunnel_liveness_init(&tunnel->liveness, relay->base,
                             relay->config->options.ping_interval_ms,
                             relay->config->options.ping_timeout_ms,
                             relay_tunnel_on_ping, relay_tunnel_on_dead,
                             tunnel) != 0 ||
        relay_session_new(tunnel) != 0) {
        tunnel_liveness_free(&tunnel->liveness);
        if (tunnel->handshake_timer != NULL) {
            event_free(tunnel->handshake_timer);
        }
        if (tunnel->close_event != NULL) {
            event_free(tunnel->close_event);
        }
        if (tunnel->flush_event != NULL) {
            event_free(tunnel->flush_event);
        }
        nghttp2_session_del(tunnel->session);
        free(tunnel);
        return NULL;
    }
    return tunnel;
}

static void relay_tunnel_start_handshake_timer(struct relay_tunnel *tunnel)
{
    unsigned ms = tunnel->relay->config->options.tunnel_handshake_timeout_ms;
    struct timeval timeout = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(tunnel->handshake_timer, &timeout);
}

/* Records a refusal where the status page shows it: on the server the
 * hello named, else on its farm, else on the relay. */
static void relay_record_refusal(struct relay *relay,
                                 const struct tunnel_hello *hello,
                                 const char *peer, int status,
                                 const char *reason)
{
    struct relay_farm *farm =
        relay_routes_farm(&relay->routes, hello->farm, strlen(hello->farm));
    struct relay_server *server =
        farm != NULL ? relay_farm_server(farm, hello->id) : NULL;
    struct relay_refusal *refusal = server != NULL ? &server->refusal
                                    : farm != NULL ? &farm->refusal
                                                   : &relay->refusal;

    relay->refusals[status >= 400 && status < 600 ? status - 400 : 0]++;
    refusal->at = time(NULL);
    refusal->status = status;
    snprintf(refusal->peer, sizeof(refusal->peer), "%s", peer);
    snprintf(refusal->reason, sizeof(refusal->reason), "%s", reason);
}

int relay_tunnel_accept(struct relay *relay, struct bufferevent *bev, bool tls,
                        const char *peer, const struct tunnel_hello *hello,
                        char *reason, size_t size)
{
    struct relay_server *server;
    struct relay_tunnel *tunnel;
    int status = 0;

    server = relay_tunnel_check(relay, tls, hello, reason, size, &status);
    if (server == NULL) {
        if (status == 0) {
            status = 503;
            snprintf(reason, size, "the relay is reloading; try again");
        }
        relay_record_refusal(relay, hello, peer, status, reason);
        return status;
    }
    if (hello->probe) {
        snprintf(reason, size,
                 "accepted: an enabler with this farm, id and token may "
                 "open tunnels as server %s of farm %s",
                 hello->id, hello->farm);
        return 200;
    }
    tunnel = relay_tunnel_new(relay, server, bev, tls, peer);
    if (tunnel == NULL || relay_tunnel_write_accept(tunnel) != 0) {
        snprintf(reason, size, "the relay is out of memory");
        return 503;
    }
    TAILQ_INSERT_TAIL(&server->tunnels, tunnel, link);
    server->tunnel_count++;
    server->counters.tunnels_accepted++;
    relay_tunnel_start_handshake_timer(tunnel);
    tunnel_liveness_start(&tunnel->liveness, tunnel->session);
    bufferevent_setcb(bev, relay_tunnel_on_read, relay_tunnel_on_write,
                      relay_tunnel_on_event, tunnel);
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, TUNNEL_OUTPUT_HIGH / 2, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    log_info("tunnel %llu up: farm=%s server=%s from %s over %s",
             (unsigned long long)tunnel->id, server->farm->config->id,
             server->config->id, peer, tls ? "TLS" : "plain TCP");

    /* HTTP/2 bytes that arrived with the hello wait in the input. */
    relay_tunnel_on_read(bev, tunnel);
    return 0;
}

struct relay_tunnel *relay_server_tunnel(struct relay_server *server)
{
    struct relay_tunnel *best = NULL;
    struct relay_tunnel *tunnel;
    uint32_t limit;

    TAILQ_FOREACH(tunnel, &server->tunnels, link)
    {
        if (tunnel->close_cause != NULL ||
            !nghttp2_session_check_request_allowed(tunnel->session)) {
            continue;
        }
        limit = nghttp2_session_get_remote_settings(
            tunnel->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (limit > tunnel->relay->config->options.max_streams_per_tunnel) {
            limit = tunnel->relay->config->options.max_streams_per_tunnel;
        }
        if (tunnel->stream_count >= limit) {
            continue;
        }
        if (best == NULL || tunnel->stream_count < best->stream_count) {
            best = tunnel;
        }
    }
    return best;
}

bool relay_server_usable(struct relay_server *server)
{
    return relay_server_tunnel(server) != NULL;
}

int32_t relay_tunnel_submit(struct relay_tunnel *tunnel,
                            struct relay_exchange *ex, const nghttp2_nv *nv,
                            size_t count, nghttp2_data_provider *provider)
{
    int32_t stream_id =
        nghttp2_submit_request(tunnel->session, NULL, nv, count, provider, ex);

    if (stream_id < 0) {
        return stream_id;
    }
    ex->tunnel = tunnel;
    ex->stream_id = stream_id;
    TAILQ_INSERT_TAIL(&tunnel->exchanges, ex, link);
    tunnel->stream_count++;
    return stream_id;
}

void relay_tunnel_cancel(struct relay_exchange *ex)
{
    struct relay_tunnel *tunnel = ex->tunnel;

    if (tunnel == NULL) {
        return;
    }
    relay_tunnel_release_window(tunnel, ex);
    nghttp2_session_set_stream_user_data(tunnel->session, ex->stream_id, NULL);
    nghttp2_submit_rst_stream(tunnel->session, NGHTTP2_FLAG_NONE, ex->stream_id,
                              NGHTTP2_CANCEL);
    TAILQ_REMOVE(&tunnel->exchanges, ex, link);
    tunnel->stream_count--;
    ex->tunnel = NULL;
    relay_tunnel_flush(tunnel);
}

void relay_tunnel_consume(struct relay_tunnel *tunnel, int32_t stream_id,
                          size_t len)
{
    nghttp2_session_consume(tunnel->session, stream_id, len);
    relay_tunnel_flush(tunnel);
}

void relay_tunnel_close(struct relay_tunnel *tunnel, const char *cause)
{
    struct relay_server *server = tunnel->server;
    struct relay_exchange *ex;
    unsigned failed = 0;

    TAILQ_REMOVE(&server->tunnels, tunnel, link);
    server->tunnel_count--;
    while ((ex = TAILQ_FIRST(&tunnel->exchanges)) != NULL) {
        TAILQ_REMOVE(&tunnel->exchanges, ex, link);
        ex->tunnel = NULL;
        failed++;
        relay_exchange_on_tunnel_lost(ex);
    }
    log_info("tunnel %llu down: farm=%s server=%s from %s: %s; %u "
             "request(s) failed",
             (unsigned long long)tunnel->id, server->farm->config->id,
             server->config->id, tunnel->peer, cause ? cause : "closed",
             failed);
    nghttp2_session_del(tunnel->session);
    bufferevent_free(tunnel->bev);
    event_free(tunnel->close_event);
    event_free(tunnel->flush_event);
    event_free(tunnel->handshake_timer);
    tunnel_liveness_free(&tunnel->liveness);
    free(tunnel);
}
