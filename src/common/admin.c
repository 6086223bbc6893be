#include "common/admin.h"

#include "common/log.h"

#include <event2/bufferevent.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request head larger than this is not a metrics scrape. */
#define ADMIN_HEAD_MAX 8192

struct admin {
    struct evconnlistener *listener;
    struct event_base *base;
    admin_metrics_fn write;
    void *owner;
};

static void admin_close(struct bufferevent *bev)
{
    bufferevent_free(bev);
}

static void admin_on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        admin_close(bev);
    }
}

static void admin_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    admin_close(bev);
}

static void admin_respond(struct bufferevent *bev, int status, const char *type,
                          struct evbuffer *body)
{
    struct evbuffer *out = bufferevent_get_output(bev);

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        status, status == 200 ? "OK" : "Not Found", type,
                        evbuffer_get_length(body));
    evbuffer_add_buffer(out, body);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, admin_on_write, admin_on_event, NULL);
}

static void admin_on_read(struct bufferevent *bev, void *arg)
{
    struct admin *admin = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(input, "\r\n\r\n", 4, NULL);
    struct evbuffer *body;
    char line[64];
    size_t len;

    if (end.pos < 0) {
        if (evbuffer_get_length(input) > ADMIN_HEAD_MAX) {
            admin_close(bev);
        }
        return;
    }
    len = evbuffer_copyout(input, line, sizeof(line) - 1);
    line[len] = '\0';
    body = evbuffer_new();
    if (body == NULL) {
        admin_close(bev);
        return;
    }
    if (strncmp(line, "GET /metrics ", 13) == 0 ||
        strncmp(line, "GET /metrics? ", 13) == 0) {
        admin->write(admin->owner, body);
        admin_respond(bev, 200, "text/plain; version=0.0.4", body);
    } else {
        evbuffer_add_printf(body, "the admin listener serves GET /metrics\n");
        admin_respond(bev, 404, "text/plain; charset=utf-8", body);
    }
    evbuffer_free(body);
}

static void admin_on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                            struct sockaddr *addr, int len, void *arg)
{
    struct admin *admin = arg;
    struct timeval timeout = {5, 0};
    struct bufferevent *bev = bufferevent_socket_new(
        admin->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);

    (void)listener;
    (void)addr;
    (void)len;
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, admin_on_read, NULL, admin_on_event, admin);
    bufferevent_set_timeouts(bev, &timeout, &timeout);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct admin *admin_listen(struct event_base *base, const char *address,
                           int port, admin_metrics_fn write, void *owner)
{
    struct addrinfo hints = {.ai_flags =
                                 AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *info = NULL;
    struct admin *admin;
    char service[8];
    int rc;

    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(address, service, &hints, &info);
    if (rc != 0) {
        log_error("invalid admin address '%s': %s; give an IP address", address,
                  gai_strerror(rc));
        return NULL;
    }
    admin = calloc(1, sizeof(*admin));
    if (admin == NULL) {
        freeaddrinfo(info);
        return NULL;
    }
    admin->base = base;
    admin->write = write;
    admin->owner = owner;
    admin->listener = evconnlistener_new_bind(
        base, admin_on_accept, admin,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
        info->ai_addr, (int)info->ai_addrlen);
    freeaddrinfo(info);
    if (admin->listener == NULL) {
        log_error("cannot listen on the admin address %s port %d; choose "
                  "another port",
                  address, port);
        free(admin);
        return NULL;
    }
    log_info("admin listener on %s port %d serves /metrics", address, port);
    return admin;
}

void admin_free(struct admin *admin)
{
    if (admin != NULL) {
        evconnlistener_free(admin->listener);
        free(admin);
    }
}
