#include "common/log.h"
#include "common/net.h"
#include "relay/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static void relay_on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                            struct sockaddr *addr, int len, void *arg)
{
    (void)listener;
    (void)len;
    net_set_nodelay(fd);
    relay_client_accept(arg, fd, addr);
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
