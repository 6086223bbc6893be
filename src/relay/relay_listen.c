#include "common/log.h"
#include "common/net.h"
#include "relay/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t relay_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A new connection whose first bytes are examined for a PROXY protocol
 * header before it becomes a client connection. */
struct relay_pending {
    LIST_ENTRY(relay_pending) link;
    struct relay_listener *listener;
    evutil_socket_t fd;
    struct sockaddr_storage peer;
    bool trusted;
    struct event *read_event;
    struct event *retry_timer;
    int64_t deadline_ms;
};

static void relay_pending_free(struct relay_pending *pending, bool close_fd)
{
    if (close_fd) {
        evutil_closesocket(pending->fd);
    }
    LIST_REMOVE(pending, link);
    if (pending->read_event != NULL) {
        event_free(pending->read_event);
    }
    if (pending->retry_timer != NULL) {
        event_free(pending->retry_timer);
    }
    free(pending);
}

static void relay_format_addr(const struct sockaddr *addr, char *buf,
                              size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, ip,
                  sizeof(ip));
    } else if (addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip,
                  sizeof(ip));
    }
    snprintf(buf, size, "%s", ip);
}

/* Takes a complete header off the socket and hands the connection on,
 * with the client address the header names. */
static void relay_pending_accept(struct relay_pending *pending,
                                 const struct sockaddr_storage *source,
                                 size_t header_len)
{
    uint8_t discard[PROXY_HEADER_MAX];
    const struct sockaddr *addr = (const struct sockaddr *)&pending->peer;

    if (recv(pending->fd, discard, header_len, 0) != (ssize_t)header_len) {
        relay_pending_free(pending, true);
        return;
    }
    if (source->ss_family != AF_UNSPEC) {
        addr = (const struct sockaddr *)source;
    }
    relay_client_accept(pending->listener, pending->fd, addr);
    relay_pending_free(pending, false);
}

static void relay_pending_reject(struct relay_pending *pending, const char *why)
{
    char peer[INET6_ADDRSTRLEN];

    relay_format_addr((const struct sockaddr *)&pending->peer, peer,
                      sizeof(peer));
    log_warn("connection from %s closed: %s", peer, why);
    relay_pending_free(pending, true);
}

static void relay_pending_examine(struct relay_pending *pending)
{
    uint8_t data[PROXY_HEADER_MAX];
    struct sockaddr_storage source;
    size_t header_len = 0;
    ssize_t n = recv(pending->fd, data, sizeof(data), MSG_PEEK);
    enum proxy_result rc;
    struct timeval retry = {0, 20000};

    if (n <= 0) {
        relay_pending_free(pending, true);
        return;
    }
    rc = proxy_parse(data, (size_t)n, &source, &header_len);
    if (rc == PROXY_PARTIAL && (size_t)n < sizeof(data)) {
        if (relay_now_ms() >= pending->deadline_ms) {
            relay_pending_reject(
                pending, pending->trusted ? "its PROXY protocol header did not "
                                            "arrive within header_timeout"
                                          : "its first bytes did not arrive "
                                            "within header_timeout");
            return;
        }
        /* Peeking leaves the bytes readable, so waiting for the rest of
         * the header needs a timer rather than a read event. */
        evtimer_add(pending->retry_timer, &retry);
        return;
    }
    if (rc == PROXY_NONE) {
        relay_client_accept(pending->listener, pending->fd,
                            (const struct sockaddr *)&pending->peer);
        relay_pending_free(pending, false);
    } else if (!pending->trusted) {
        relay_pending_reject(pending, "it sent a PROXY protocol header but "
                                      "its address is not in "
                                      "trusted_proxies");
    } else if (rc == PROXY_COMPLETE) {
        relay_pending_accept(pending, &source, header_len);
    } else {
        relay_pending_reject(pending, "its PROXY protocol header is invalid");
    }
}

static void relay_pending_on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    relay_pending_examine(arg);
}

static void relay_pending_start(struct relay_listener *listener,
                                evutil_socket_t fd, const struct sockaddr *addr,
                                int len)
{
    struct relay *relay = listener->relay;
    struct relay_pending *pending = calloc(1, sizeof(*pending));
    unsigned ms = relay->config->options.header_timeout_ms;
    struct timeval timeout = {ms / 1000, (ms % 1000) * 1000};

    if (pending == NULL) {
        evutil_closesocket(fd);
        return;
    }
    LIST_INSERT_HEAD(&relay->pending, pending, link);
    pending->listener = listener;
    pending->fd = fd;
    memcpy(&pending->peer, addr, (size_t)len);
    pending->trusted = proxy_networks_contain(relay->trusted_proxies,
                                              relay->trusted_proxy_count, addr);
    pending->deadline_ms = relay_now_ms() + ms;
    pending->read_event =
        event_new(relay->base, fd, EV_READ, relay_pending_on_event, pending);
    pending->retry_timer =
        evtimer_new(relay->base, relay_pending_on_event, pending);
    if (pending->read_event == NULL || pending->retry_timer == NULL) {
        relay_pending_free(pending, true);
        return;
    }
    event_add(pending->read_event, &timeout);
}

void relay_pending_close_all(struct relay *relay)
{
    while (!LIST_EMPTY(&relay->pending)) {
        relay_pending_free(LIST_FIRST(&relay->pending), true);
    }
}

static void relay_on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                            struct sockaddr *addr, int len, void *arg)
{
    struct relay_listener *state = arg;

    (void)listener;
    net_set_nodelay(fd);
    if (state->relay->trusted_proxy_count > 0 &&
        (size_t)len <= sizeof(struct sockaddr_storage)) {
        relay_pending_start(state, fd, addr, len);
        return;
    }
    relay_client_accept(state, fd, addr);
}

static void relay_on_accept_error(struct evconnlistener *listener, void *arg)
{
    struct relay_listener *state = arg;
    int err = EVUTIL_SOCKET_ERROR();

    (void)listener;
    /* Running out of descriptors is temporary: connections close again. */
    log_error("accepting on %s failed: %s", state->address,
              evutil_socket_error_to_string(err));
}

static int relay_bind(struct relay *relay, const char *address, int port,
                      bool tls)
{
    struct addrinfo hints = {.ai_flags =
                                 AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *info = NULL;
    struct relay_listener *state;
    char service[8];
    unsigned flags =
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    int rc;

    if (relay->listener_count == RELAY_LISTENERS_MAX) {
        log_error("too many listen addresses (max %d)", RELAY_LISTENERS_MAX);
        return -1;
    }
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(address, service, &hints, &info);
    if (rc != 0) {
        log_error("invalid listen address '%s': %s; give an IPv4 or IPv6 "
                  "address",
                  address, gai_strerror(rc));
        return -1;
    }
    state = &relay->listeners[relay->listener_count];
    state->relay = relay;
    state->tls = tls;
    snprintf(state->address, sizeof(state->address),
             info->ai_family == AF_INET6 ? "[%s]:%d" : "%s:%d", address, port);
    if (info->ai_family == AF_INET6) {
        flags |= LEV_OPT_BIND_IPV6ONLY;
    }
    state->listener =
        evconnlistener_new_bind(relay->base, relay_on_accept, state, flags,
                                1024, info->ai_addr, (int)info->ai_addrlen);
    freeaddrinfo(info);
    if (state->listener == NULL) {
        log_error("cannot listen on %s: %s; stop the process that uses the "
                  "port or choose another port",
                  state->address, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(state->listener, relay_on_accept_error);
    relay->listener_count++;
    log_info("listening on %s (%s)", state->address, tls ? "HTTPS" : "HTTP");
    return 0;
}

static int relay_bind_port(struct relay *relay, int port, bool tls)
{
    const struct config_options *opts = &relay->config->options;

    if (port == 0) {
        return 0;
    }
    if (opts->listen_count == 0) {
        /* All addresses: IPv4 always, IPv6 where the host has it. */
        if (relay_bind(relay, "0.0.0.0", port, tls) != 0) {
            return -1;
        }
        if (relay_bind(relay, "::", port, tls) != 0) {
            log_warn("IPv6 is not available; serving IPv4 only");
        }
        return 0;
    }
    for (size_t i = 0; i < opts->listen_count; i++) {
        if (relay_bind(relay, opts->listen[i], port, tls) != 0) {
            return -1;
        }
    }
    return 0;
}

int relay_listen(struct relay *relay)
{
    if (relay_bind_port(relay, relay->self->https_port, true) != 0 ||
        relay_bind_port(relay, relay->self->http_port, false) != 0) {
        relay_unlisten(relay);
        return -1;
    }
    return 0;
}

void relay_unlisten(struct relay *relay)
{
    for (size_t i = 0; i < relay->listener_count; i++) {
        evconnlistener_free(relay->listeners[i].listener);
        relay->listeners[i].listener = NULL;
    }
    relay->listener_count = 0;
}
