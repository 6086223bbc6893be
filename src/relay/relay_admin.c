/*
 * The relay's metrics in the Prometheus text format (version 0.0.4),
 * served by the admin listener on an address that is loopback by default.
 */
#include "common/admin.h"
#include "common/log.h"
#include "relay/relay.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

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

static void relay_admin_metrics(void *owner, struct evbuffer *out)
{
    relay_metrics_write(owner, out);
}

int relay_admin_listen(struct relay *relay)
{
    const struct config_options *opts = &relay->config->options;

    if (opts->admin_port == 0) {
        return 0;
    }
    relay->admin = admin_listen(
        relay->base, opts->admin_address ? opts->admin_address : "127.0.0.1",
        opts->admin_port, relay_admin_metrics, relay);
    return relay->admin != NULL ? 0 : -1;
}

void relay_admin_unlisten(struct relay *relay)
{
    admin_free(relay->admin);
    relay->admin = NULL;
}
