#include "relay/relay_status.h"

#include "relay/relay_client.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The format and the farm and server filters of a status request. */
struct relay_status_query {
    bool json;
    char farm[128];
    char server[128];
};

bool relay_status_requested(const struct relay *relay,
                            const struct http1_head *head)
{
    struct relay_target target;

    return relay_target_split(head->target,
                              relay->config->options.client_prefix,
                              &target) == 1;
}

/* Copies the value of query parameter NAME from TARGET into BUF, as
 * written: farm and server ids need no percent-decoding. */
static void relay_status_param(const char *target, const char *name, char *buf,
                               size_t size)
{
    const char *query = strchr(target, '?');
    size_t name_len = strlen(name);

    buf[0] = '\0';
    for (const char *p = query; p != NULL && *p != '\0';) {
        p++;
        if (strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t len = strcspn(p + name_len + 1, "&");

            snprintf(buf, size, "%.*s", (int)len, p + name_len + 1);
            return;
        }
        p = strchr(p, '&');
    }
}

static const char *relay_availability(size_t connected, size_t total)
{
    if (total > 0 && connected == total) {
        return "full";
    }
    return connected > 0 ? "partial" : "none";
}

static size_t relay_farm_connected_count(const struct relay_farm *farm)
{
    size_t connected = 0;

    for (size_t i = 0; i < farm->server_count; i++) {
        connected += farm->servers[i]->tunnel_count > 0;
    }
    return connected;
}

/* The relay's availability: full when every farm is, none when no farm
 * has a connected server. */
static const char *relay_overall(const struct relay *relay)
{
    size_t full = 0;
    size_t some = 0;

    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        const struct relay_farm *farm = relay->routes.farms[i];
        size_t connected = relay_farm_connected_count(farm);

        full += connected > 0 && connected == farm->server_count;
        some += connected > 0;
    }
    if (relay->routes.farm_count > 0 && full == relay->routes.farm_count) {
        return "full";
    }
    return some > 0 ? "partial" : "none";
}

static void relay_format_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (t == 0) {
        snprintf(buf, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void relay_json_string(struct evbuffer *out, const char *text)
{
    evbuffer_add(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            evbuffer_add_printf(out, "\\%c", *p);
        } else if (*p < 0x20) {
            evbuffer_add_printf(out, "\\u%04x", *p);
        } else {
            evbuffer_add(out, p, 1);
        }
    }
    evbuffer_add(out, "\"", 1);
}

static void relay_json_refusal(struct evbuffer *out,
                               const struct relay_refusal *refusal)
{
    char at[32];

    if (refusal->at == 0) {
        evbuffer_add_printf(out, "null");
        return;
    }
    relay_format_time(refusal->at, at, sizeof(at));
    evbuffer_add_printf(out, "{\"at\": \"%s\", \"status\": %d, \"peer\": ", at,
                        refusal->status);
    relay_json_string(out, refusal->peer);
    evbuffer_add_printf(out, ", \"reason\": ");
    relay_json_string(out, refusal->reason);
    evbuffer_add(out, "}", 1);
}

static void relay_json_server(struct evbuffer *out,
                              const struct relay_server *server)
{
    const struct relay_tunnel *tunnel;
    const char *separator = "";
    char since[32];

    evbuffer_add_printf(out, "{\"id\": ");
    relay_json_string(out, server->config->id);
    evbuffer_add_printf(out, ", \"description\": ");
    relay_json_string(
        out, server->config->description ? server->config->description : "");
    evbuffer_add_printf(out,
                        ", \"connected\": %s, \"in_flight\": %u, "
                        "\"requests\": %llu, \"tunnels\": [",
                        server->tunnel_count > 0 ? "true" : "false",
                        server->in_flight,
                        (unsigned long long)server->requests);
    TAILQ_FOREACH(tunnel, &server->tunnels, link)
    {
        relay_format_time(tunnel->since, since, sizeof(since));
        evbuffer_add_printf(out, "%s{\"id\": %llu, \"peer\": ", separator,
                            (unsigned long long)tunnel->id);
        relay_json_string(out, tunnel->peer);
        evbuffer_add_printf(out, ", \"since\": \"%s\", \"streams\": %u}", since,
                            tunnel->stream_count);
        separator = ", ";
    }
    evbuffer_add_printf(out, "], \"last_refusal\": ");
    relay_json_refusal(out, &server->refusal);
    evbuffer_add(out, "}", 1);
}

static void relay_json_farm(struct evbuffer *out, const struct relay_farm *farm,
                            const char *only_server)
{
    const char *separator = "";

    evbuffer_add_printf(out, "{\"id\": ");
    relay_json_string(out, farm->config->id);
    evbuffer_add_printf(out, ", \"availability\": \"%s\", \"servers\": [",
                        relay_availability(relay_farm_connected_count(farm),
                                           farm->server_count));
    for (size_t i = 0; i < farm->server_count; i++) {
        if (only_server[0] != '\0' &&
            strcmp(farm->servers[i]->config->id, only_server) != 0) {
            continue;
        }
        evbuffer_add_printf(out, "%s", separator);
        relay_json_server(out, farm->servers[i]);
        separator = ", ";
    }
    evbuffer_add_printf(out, "], \"last_refusal\": ");
    relay_json_refusal(out, &farm->refusal);
    evbuffer_add(out, "}", 1);
}

static void relay_status_json(const struct relay *relay,
                              const struct relay_status_query *query,
                              struct evbuffer *out)
{
    const char *separator = "";
    char started[32];

    relay_format_time(relay->started, started, sizeof(started));
    evbuffer_add_printf(out, "{\"relay\": {\"id\": ");
    relay_json_string(out, relay->self->id);
    evbuffer_add_printf(out, ", \"host\": ");
    relay_json_string(out, relay->self->host);
    evbuffer_add_printf(out,
                        ", \"version\": \"%s\", \"started\": \"%s\", "
                        "\"availability\": \"%s\"}, \"farms\": [",
                        DRAWBRIDGE_VERSION, started, relay_overall(relay));
    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        const struct relay_farm *farm = relay->routes.farms[i];

        if (query->farm[0] != '\0' &&
            strcmp(farm->config->id, query->farm) != 0) {
            continue;
        }
        evbuffer_add_printf(out, "%s", separator);
        relay_json_farm(out, farm, query->server);
        separator = ", ";
    }
    evbuffer_add_printf(out, "], \"last_refusal\": ");
    relay_json_refusal(out, &relay->refusal);
    evbuffer_add_printf(out, "}\n");
}

static void relay_html_text(struct evbuffer *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            evbuffer_add_printf(out, "&amp;");
            break;
        case '<':
            evbuffer_add_printf(out, "&lt;");
            break;
        case '>':
            evbuffer_add_printf(out, "&gt;");
            break;
        case '"':
            evbuffer_add_printf(out, "&quot;");
            break;
        default:
            evbuffer_add(out, p, 1);
        }
    }
}

static void relay_html_refusal(struct evbuffer *out,
                               const struct relay_refusal *refusal)
{
    char at[32];

    if (refusal->at == 0) {
        evbuffer_add_printf(out, "none");
        return;
    }
    relay_format_time(refusal->at, at, sizeof(at));
    evbuffer_add_printf(out, "%s, %d from ", at, refusal->status);
    relay_html_text(out, refusal->peer);
    evbuffer_add_printf(out, ": ");
    relay_html_text(out, refusal->reason);
}

static void relay_html_server(struct evbuffer *out,
                              const struct relay_server *server)
{
    const struct relay_tunnel *tunnel;
    char since[32];

    evbuffer_add_printf(out, "<tr><td>");
    relay_html_text(out, server->config->id);
    evbuffer_add_printf(out, "</td><td>%s</td><td>",
                        server->tunnel_count > 0 ? "connected"
                                                 : "not connected");
    TAILQ_FOREACH(tunnel, &server->tunnels, link)
    {
        relay_format_time(tunnel->since, since, sizeof(since));
        evbuffer_add_printf(out, "tunnel %llu from ",
                            (unsigned long long)tunnel->id);
        relay_html_text(out, tunnel->peer);
        evbuffer_add_printf(out, " since %s<br>", since);
    }
    evbuffer_add_printf(out, "</td><td>%u</td><td>%llu</td><td>",
                        server->in_flight,
                        (unsigned long long)server->requests);
    relay_html_refusal(out, &server->refusal);
    evbuffer_add_printf(out, "</td></tr>\n");
}

static void relay_html_farm(struct evbuffer *out, const struct relay_farm *farm,
                            const char *only_server)
{
    evbuffer_add_printf(out, "<h2>Farm ");
    relay_html_text(out, farm->config->id);
    evbuffer_add_printf(out, "</h2>\n<p>Availability: %s</p>\n",
                        relay_availability(relay_farm_connected_count(farm),
                                           farm->server_count));
    evbuffer_add_printf(out, "<table border=\"1\" cellpadding=\"4\">\n"
                             "<tr><th>server</th><th>state</th>"
                             "<th>tunnels</th><th>in flight</th>"
                             "<th>requests</th><th>last refused tunnel</th>"
                             "</tr>\n");
    for (size_t i = 0; i < farm->server_count; i++) {
        if (only_server[0] == '\0' ||
            strcmp(farm->servers[i]->config->id, only_server) == 0) {
            relay_html_server(out, farm->servers[i]);
        }
    }
    evbuffer_add_printf(out, "</table>\n<p>Last refused tunnel for an "
                             "unknown or disabled server id: ");
    relay_html_refusal(out, &farm->refusal);
    evbuffer_add_printf(out, "</p>\n");
}

static void relay_status_html(const struct relay *relay,
                              const struct relay_status_query *query,
                              struct evbuffer *out)
{
    char started[32];

    relay_format_time(relay->started, started, sizeof(started));
    evbuffer_add_printf(out, "<!DOCTYPE html>\n<html><head><meta "
                             "charset=\"utf-8\"><title>Drawbridge relay ");
    relay_html_text(out, relay->self->id);
    evbuffer_add_printf(out, "</title></head>\n<body>\n<h1>Drawbridge relay ");
    relay_html_text(out, relay->self->id);
    evbuffer_add_printf(out, "</h1>\n<p>Host: ");
    relay_html_text(out, relay->self->host);
    evbuffer_add_printf(out,
                        "<br>Version: %s<br>Started: %s<br>"
                        "Availability: %s</p>\n",
                        DRAWBRIDGE_VERSION, started, relay_overall(relay));
    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        const struct relay_farm *farm = relay->routes.farms[i];

        if (query->farm[0] == '\0' ||
            strcmp(farm->config->id, query->farm) == 0) {
            relay_html_farm(out, farm, query->server);
        }
    }
    evbuffer_add_printf(out, "<p>Last refused tunnel for an unknown farm: ");
    relay_html_refusal(out, &relay->refusal);
    evbuffer_add_printf(out, "</p>\n</body></html>\n");
}

static bool relay_status_allowed(const struct relay_client *client)
{
    switch (client->relay->config->options.status_page) {
    case CONFIG_STATUS_ON:
        return true;
    case CONFIG_STATUS_OFF:
        return false;
    default:
        return strncmp(client->peer_ip, "127.", 4) == 0 ||
               strcmp(client->peer_ip, "::1") == 0;
    }
}

/* Returns the HTTP status for QUERY: 200, or 404 when it names a farm or
 * server that does not exist. */
static int relay_status_check(const struct relay *relay,
                              const struct relay_status_query *query)
{
    struct relay_farm *farm;

    if (query->farm[0] == '\0') {
        return query->server[0] == '\0' ? 200 : 404;
    }
    farm = relay_routes_farm((struct relay_routes *)&relay->routes, query->farm,
                             strlen(query->farm));
    if (farm == NULL) {
        return 404;
    }
    if (query->server[0] != '\0' &&
        relay_farm_server(farm, query->server) == NULL) {
        return 404;
    }
    return 200;
}

void relay_status_serve(struct relay_client *client,
                        const struct http1_head *head)
{
    struct relay *relay = client->relay;
    struct relay_status_query query = {0};
    char format[16];
    struct evbuffer *body;
    struct http1_field fields[2];
    int status;

    if (relay->config->options.status_page == CONFIG_STATUS_OFF) {
        relay_client_error(client, 404,
                           "no farm in the URL: add the farm id after the "
                           "prefix",
                           NULL, 0);
        return;
    }
    if (!relay_status_allowed(client)) {
        relay_client_error(client, 403,
                           "the status page is open to loopback clients "
                           "only (status_page = local)",
                           NULL, 0);
        return;
    }
    if (strcmp(head->method, "GET") != 0 && strcmp(head->method, "HEAD") != 0) {
        struct http1_field allow = http1_field_of("Allow", "GET, HEAD");

        relay_client_error(client, 405, "the status page takes GET and HEAD",
                           &allow, 1);
        return;
    }
    relay_status_param(head->target, "format", format, sizeof(format));
    relay_status_param(head->target, "farm", query.farm, sizeof(query.farm));
    relay_status_param(head->target, "server", query.server,
                       sizeof(query.server));
    query.json = strcmp(format, "json") == 0;
    status = relay_status_check(relay, &query);
    if (status != 200) {
        relay_client_error(client, status,
                           "the status page has no such farm or server", NULL,
                           0);
        return;
    }
    body = evbuffer_new();
    if (body == NULL) {
        return;
    }
    if (query.json) {
        relay_status_json(relay, &query, body);
    } else {
        relay_status_html(relay, &query, body);
    }
    fields[0] =
        http1_field_of("Content-Type", query.json ? "application/json"
                                                  : "text/html; charset=utf-8");
    fields[1] = http1_field_of("Cache-Control", "no-store");
    relay_client_respond(client, 200, fields, 2, body,
                         strcmp(head->method, "HEAD") == 0);
    evbuffer_free(body);
}
