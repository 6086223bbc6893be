/*
 * The relay's admin listener: /metrics in the Prometheus text format
 * (version 0.0.4), on an address of its own that is loopback by default.
 */
#include "common/log.h"
#include "relay/relay.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request head larger than this is not a metrics scrape. */
#define RELAY_ADMIN_HEAD_MAX 8192

/* Writes a label value, escaped as the text format requires. */
static void relay_metric_label(struct evbuffer *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            evbuffer_add_printf(out, "\\%c", *p);
        } else if (*p == '\n') {
            evbuffer_add_printf(out, "\\n");
        } else {
            evbuffer_add(out, p, 1);
        }
    }
}

static void relay_metric_ids(struct evbuffer *out,
                             const struct relay_server *server)
{
    evbuffer_add_printf(out, "farm=\"");
    relay_metric_label(out, server->farm->config->id);
    evbuffer_add_printf(out, "\",server=\"");
    relay_metric_label(out, server->config->id);
    evbuffer_add_printf(out, "\"");
}

/* The per-server metric families, written family by family because the
 * text format wants each family's lines together. */
enum relay_server_metric {
    RELAY_METRIC_REQUESTS,
    RELAY_METRIC_BYTES,
    RELAY_METRIC_TUNNELS,
    RELAY_METRIC_ACCEPTED,
    RELAY_METRIC_IN_FLIGHT,
    RELAY_METRIC_COUNT,
};

static const char *const relay_metric_headers[RELAY_METRIC_COUNT] = {
    "# HELP drawbridge_requests_total Requests forwarded, by status class.\n"
    "# TYPE drawbridge_requests_total counter\n",
    "# HELP drawbridge_body_bytes_total Body bytes of forwarded requests.\n"
    "# TYPE drawbridge_body_bytes_total counter\n",
    "# HELP drawbridge_tunnels Open tunnels.\n"
    "# TYPE drawbridge_tunnels gauge\n",
    "# HELP drawbridge_tunnels_accepted_total Tunnels accepted since start; "
    "growth beyond the enablers' number counts reconnects.\n"
    "# TYPE drawbridge_tunnels_accepted_total counter\n",
    "# HELP drawbridge_requests_in_flight Requests not finished yet.\n"
    "# TYPE drawbridge_requests_in_flight gauge\n",
};

static void relay_metrics_server(struct evbuffer *out,
                                 const struct relay_server *server,
                                 enum relay_server_metric metric)
{
    static const char *const classes[] = {"none", "1xx", "2xx",
                                          "3xx",  "4xx", "5xx"};
    static const char *const names[RELAY_METRIC_COUNT] = {
        "drawbridge_requests_total", "drawbridge_body_bytes_total",
        "drawbridge_tunnels", "drawbridge_tunnels_accepted_total",
        "drawbridge_requests_in_flight"};
    const struct relay_counters *counters = &server->counters;
    int lines = metric == RELAY_METRIC_REQUESTS ? 6
                : metric == RELAY_METRIC_BYTES  ? 2
                                                : 1;

    for (int i = 0; i < lines; i++) {
        unsigned long long value =
            metric == RELAY_METRIC_REQUESTS ? counters->by_class[i]
            : metric == RELAY_METRIC_BYTES
                ? (i == 0 ? counters->bytes_in : counters->bytes_out)
            : metric == RELAY_METRIC_TUNNELS  ? server->tunnel_count
            : metric == RELAY_METRIC_ACCEPTED ? counters->tunnels_accepted
                                              : server->in_flight;

        evbuffer_add_printf(out, "%s{", names[metric]);
        relay_metric_ids(out, server);
        if (metric == RELAY_METRIC_REQUESTS) {
            evbuffer_add_printf(out, ",class=\"%s\"", classes[i]);
        } else if (metric == RELAY_METRIC_BYTES) {
            evbuffer_add_printf(out, ",direction=\"%s\"",
                                i == 0 ? "in" : "out");
        }
        evbuffer_add_printf(out, "} %llu\n", value);
    }
}

static void relay_metrics_histogram(struct evbuffer *out,
                                    const struct relay_farm *farm)
{
    const struct relay_histogram *h = &farm->durations;

    for (int i = 0; i < RELAY_DURATION_BUCKETS; i++) {
        evbuffer_add_printf(out, "drawbridge_request_duration_seconds_bucket{"
                                 "farm=\"");
        relay_metric_label(out, farm->config->id);
        evbuffer_add_printf(out, "\",le=\"%g\"} %llu\n",
                            relay_duration_bounds[i],
                            (unsigned long long)h->buckets[i]);
    }
    evbuffer_add_printf(out,
                        "drawbridge_request_duration_seconds_bucket{farm=\"");
    relay_metric_label(out, farm->config->id);
    evbuffer_add_printf(out, "\",le=\"+Inf\"} %llu\n",
                        (unsigned long long)h->count);
    evbuffer_add_printf(out, "drawbridge_request_duration_seconds_sum{farm=\"");
    relay_metric_label(out, farm->config->id);
    evbuffer_add_printf(out, "\"} %.6f\n", h->sum);
    evbuffer_add_printf(out,
                        "drawbridge_request_duration_seconds_count{farm=\"");
    relay_metric_label(out, farm->config->id);
    evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)h->count);
}

static void relay_metrics_relay(struct evbuffer *out, const struct relay *relay)
{
    static const char *const classes[] = {"none", "1xx", "2xx",
                                          "3xx",  "4xx", "5xx"};

    evbuffer_add_printf(out,
                        "# TYPE drawbridge_client_connections gauge\n"
                        "drawbridge_client_connections %zu\n",
                        relay->client_count);
    evbuffer_add_printf(out, "# TYPE drawbridge_relay_answered_requests_total "
                             "counter\n");
    for (int c = 0; c < 6; c++) {
        evbuffer_add_printf(out,
                            "drawbridge_relay_answered_requests_total{class="
                            "\"%s\"} %llu\n",
                            classes[c], (unsigned long long)relay->unrouted[c]);
    }
    evbuffer_add_printf(out,
                        "# TYPE drawbridge_tunnel_refusals_total counter\n");
    for (int i = 0; i < 200; i++) {
        if (relay->refusals[i] > 0) {
            evbuffer_add_printf(out,
                                "drawbridge_tunnel_refusals_total{status="
                                "\"%d\"} %llu\n",
                                400 + i,
                                (unsigned long long)relay->refusals[i]);
        }
    }
}

void relay_metrics_write(const struct relay *relay, struct evbuffer *out)
{
    relay_metrics_relay(out, relay);
    for (int metric = 0; metric < RELAY_METRIC_COUNT; metric++) {
        evbuffer_add_printf(out, "%s", relay_metric_headers[metric]);
        for (size_t i = 0; i < relay->routes.farm_count; i++) {
            const struct relay_farm *farm = relay->routes.farms[i];

            for (size_t j = 0; j < farm->server_count; j++) {
                relay_metrics_server(out, farm->servers[j],
                                     (enum relay_server_metric)metric);
            }
        }
    }
    evbuffer_add_printf(out, "# HELP drawbridge_request_duration_seconds "
                             "Time from request head to response end.\n"
                             "# TYPE drawbridge_request_duration_seconds "
                             "histogram\n");
    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        relay_metrics_histogram(out, relay->routes.farms[i]);
    }
}

static void relay_admin_close(struct bufferevent *bev)
{
    bufferevent_free(bev);
}

static void relay_admin_on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        relay_admin_close(bev);
    }
}

static void relay_admin_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    relay_admin_close(bev);
}

static void relay_admin_respond(struct bufferevent *bev, int status,
                                const char *type, struct evbuffer *body)
{
    struct evbuffer *out = bufferevent_get_output(bev);

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        status, status == 200 ? "OK" : "Not Found", type,
                        evbuffer_get_length(body));
    evbuffer_add_buffer(out, body);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, relay_admin_on_write, relay_admin_on_event,
                      NULL);
}

static void relay_admin_on_read(struct bufferevent *bev, void *arg)
{
    struct relay *relay = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(input, "\r\n\r\n", 4, NULL);
    struct evbuffer *body;
    char line[64];
    size_t len;

    if (end.pos < 0) {
        if (evbuffer_get_length(input) > RELAY_ADMIN_HEAD_MAX) {
            relay_admin_close(bev);
        }
        return;
    }
    len = evbuffer_copyout(input, line, sizeof(line) - 1);
    line[len] = '\0';
    body = evbuffer_new();
    if (body == NULL) {
        relay_admin_close(bev);
        return;
    }
    if (strncmp(line, "GET /metrics ", 13) == 0 ||
        strncmp(line, "GET /metrics? ", 13) == 0) {
        relay_metrics_write(relay, body);
        relay_admin_respond(bev, 200, "text/plain; version=0.0.4", body);
    } else {
        evbuffer_add_printf(body, "the admin listener serves GET /metrics\n");
        relay_admin_respond(bev, 404, "text/plain; charset=utf-8", body);
    }
    evbuffer_free(body);
}

static void relay_admin_on_accept(struct evconnlistener *listener,
                                  evutil_socket_t fd, struct sockaddr *addr,
                                  int len, void *arg)
{
    struct relay *relay = arg;
    struct timeval timeout = {5, 0};
    struct bufferevent *bev = bufferevent_socket_new(
        relay->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);

    (void)listener;
    (void)addr;
    (void)len;
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, relay_admin_on_read, NULL, relay_admin_on_event,
                      relay);
    bufferevent_set_timeouts(bev, &timeout, &timeout);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int relay_admin_listen(struct relay *relay)
{
    const struct config_options *opts = &relay->config->options;
    struct addrinfo hints = {.ai_flags =
                                 AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *info = NULL;
    char port[8];
    int rc;

    if (opts->admin_port == 0) {
        return 0;
    }
    snprintf(port, sizeof(port), "%d", opts->admin_port);
    rc = getaddrinfo(opts->admin_address ? opts->admin_address : "127.0.0.1",
                     port, &hints, &info);
    if (rc != 0) {
        log_error("invalid admin_address: %s", gai_strerror(rc));
        return -1;
    }
    relay->admin = evconnlistener_new_bind(
        relay->base, relay_admin_on_accept, relay,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
        info->ai_addr, (int)info->ai_addrlen);
    freeaddrinfo(info);
    if (relay->admin == NULL) {
        log_error("cannot listen on the admin port %d; choose another "
                  "admin_port",
                  opts->admin_port);
        return -1;
    }
    log_info("admin listener on %s:%d serves /metrics",
             opts->admin_address ? opts->admin_address : "127.0.0.1",
             opts->admin_port);
    return 0;
}

void relay_admin_unlisten(struct relay *relay)
{
    if (relay->admin != NULL) {
        evconnlistener_free(relay->admin);
        relay->admin = NULL;
    }
}
