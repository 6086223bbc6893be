#include "relay/relay_exchange.h"

#include "common/log.h"
#include "relay/relay_client.h"
#include "relay/relay_tunnel.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header fields that the relay sets itself, so the client's are dropped. */
static const char *const relay_replaced_fields[] = {
    "host",
    "expect",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
};

/* Request header list under construction, with lower-case names. */
struct relay_nv_list {
    nghttp2_nv *nv;
    size_t count;
    size_t cap;
    char **strings; /* the lower-case names that nv points to */
    size_t string_count;
};

static int relay_nv_add(struct relay_nv_list *list, const char *name,
                        size_t name_len, const char *value, size_t value_len)
{
    char *copy;

    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 32;
        nghttp2_nv *nv = realloc(list->nv, cap * sizeof(*nv));
        char **strings = realloc(list->strings, cap * sizeof(*strings));

        if (nv != NULL) {
            list->nv = nv;
        }
        if (strings != NULL) {
            list->strings = strings;
        }
        if (nv == NULL || strings == NULL) {
            return -1;
        }
        list->cap = cap;
    }
    copy = malloc(name_len + 1);
    if (copy == NULL) {
        return -1;
    }
    for (size_t i = 0; i < name_len; i++) {
        copy[i] = (char)tolower((unsigned char)name[i]);
    }
    copy[name_len] = '\0';
    list->strings[list->string_count++] = copy;
    list->nv[list->count++] =
        (nghttp2_nv){(uint8_t *)copy, (uint8_t *)value, name_len, value_len,
                     NGHTTP2_NV_FLAG_NONE};
    return 0;
}

static int relay_nv_add_str(struct relay_nv_list *list, const char *name,
                            const char *value)
{
    return relay_nv_add(list, name, strlen(name), value, strlen(value));
}

static void relay_nv_free(struct relay_nv_list *list)
{
    for (size_t i = 0; i < list->string_count; i++) {
        free(list->strings[i]);
    }
    free(list->strings);
    free(list->nv);
    memset(list, 0, sizeof(*list));
}

static bool relay_field_replaced(const struct http1_field *field,
                                 const char *connection)
{
    if (http1_is_hop_by_hop(field->name, connection)) {
        return true;
    }
    /* The prefix is reserved for control messages between relay and
     * enabler, so no client can send one through the tunnel. */
    if (strncasecmp(field->name, TUNNEL_CONTROL_PREFIX,
                    strlen(TUNNEL_CONTROL_PREFIX)) == 0) {
        return true;
    }
    for (size_t i = 0;
         i < sizeof(relay_replaced_fields) / sizeof(relay_replaced_fields[0]);
         i++) {
        if (strcasecmp(field->name, relay_replaced_fields[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Joins the values of every Connection field, as http1_is_hop_by_hop
 * expects. */
static void relay_connection_value(const struct http1_head *head, char *buf,
                                   size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < head->field_count; i++) {
        const struct http1_field *field = &head->fields[i];
        int n;

        if (strcasecmp(field->name, "connection") != 0) {
            continue;
        }
        n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                     field->value);
        if (n < 0 || (size_t)n >= size - used) {
            break;
        }
        used += (size_t)n;
    }
}

/* Values of the fields the relay adds, built before the list points at
 * them. */
struct relay_forwarded {
    char path[8192 + 2];
    char xff[1024];
    char forwarded[1024];
    char prefix[512];
};

static const char *relay_find_value(const struct http1_head *head,
                                    const char *name)
{
    const struct http1_field *field =
        http1_field_find(head->fields, head->field_count, name);

    return field != NULL ? field->value : NULL;
}

static void relay_forwarded_build(struct relay_forwarded *fwd,
                                  const struct relay_client *client,
                                  const struct http1_head *head,
                                  const char *host)
{
    const char *xff = relay_find_value(head, "x-forwarded-for");
    const char *forwarded = relay_find_value(head, "forwarded");
    bool v6 = strchr(client->peer_ip, ':') != NULL;
    char node[RELAY_ADDR_MAX + 4];

    /* Both lists grow by the client's address, as each proxy on the path
     * appends the address it received the request from. */
    snprintf(fwd->xff, sizeof(fwd->xff), "%s%s%s", xff ? xff : "",
             xff ? ", " : "", client->peer_ip);
    snprintf(node, sizeof(node), v6 ? "\"[%s]\"" : "%s", client->peer_ip);
    snprintf(fwd->forwarded, sizeof(fwd->forwarded),
             "%s%sfor=%s;proto=%s;host=\"%s\"", forwarded ? forwarded : "",
             forwarded ? ", " : "", node, client->tls ? "https" : "http", host);
}

/* Writes the path to forward: the part after the farm, which must start
 * with "/", or the whole target when the farm keeps its prefix. */
static int relay_forward_path(struct relay_forwarded *fwd,
                              const struct relay_farm *farm,
                              const struct http1_head *head,
                              const struct relay_target *target)
{
    const char *rest = target->rest;
    int n;

    snprintf(fwd->prefix, sizeof(fwd->prefix), "%.*s", (int)target->prefix_len,
             head->target);
    if (!farm->config->strip_prefix) {
        n = snprintf(fwd->path, sizeof(fwd->path), "%s", head->target);
    } else {
        n = snprintf(fwd->path, sizeof(fwd->path), "%s%s",
                     rest[0] == '/' ? "" : "/", rest);
    }
    return n > 0 && (size_t)n < sizeof(fwd->path) ? 0 : -1;
}

static int relay_build_request(struct relay_nv_list *list,
                               const struct relay_client *client,
                               const struct http1_head *head,
                               const struct relay_forwarded *fwd,
                               const char *host)
{
    char connection[2048];
    int rc = 0;

    rc |= relay_nv_add_str(list, ":method", head->method);
    rc |= relay_nv_add_str(list, ":scheme", client->tls ? "https" : "http");
    rc |= relay_nv_add_str(list, ":authority", host);
    rc |= relay_nv_add_str(list, ":path", fwd->path);
    relay_connection_value(head, connection, sizeof(connection));
    for (size_t i = 0; i < head->field_count && rc == 0; i++) {
        const struct http1_field *field = &head->fields[i];

        if (relay_field_replaced(field, connection[0] ? connection : NULL) ||
            strcasecmp(field->name, "x-forwarded-for") == 0 ||
            strcasecmp(field->name, "forwarded") == 0) {
            continue;
        }
        rc |= relay_nv_add(list, field->name, field->name_len, field->value,
                           field->value_len);
    }
    rc |= relay_nv_add_str(list, "x-forwarded-for", fwd->xff);
    rc |= relay_nv_add_str(list, "forwarded", fwd->forwarded);
    rc |= relay_nv_add_str(list, "x-forwarded-proto",
                           client->tls ? "https" : "http");
    rc |= relay_nv_add_str(list, "x-forwarded-host", host);
    rc |= relay_nv_add_str(list, "x-forwarded-prefix", fwd->prefix);
    return rc == 0 ? 0 : -1;
}

static void relay_exchange_on_body_drain(void *arg)
{
    struct relay_exchange *ex = arg;

    if (ex->client != NULL) {
        relay_client_resume(ex->client);
    }
}

static void relay_exchange_on_timeout(evutil_socket_t fd, short what,
                                      void *arg);

static void relay_exchange_free(struct relay_exchange *ex)
{
    if (ex->timer != NULL) {
        event_free(ex->timer);
    }
    if (ex->fields != NULL) {
        evbuffer_free(ex->fields);
    }
    tunnel_body_free(&ex->request_body);
    free(ex->path);
    free(ex);
}

static struct relay_exchange *relay_exchange_new(struct relay_client *client,
                                                 const struct http1_head *head,
                                                 struct relay_server *server)
{
    struct relay_exchange *ex = calloc(1, sizeof(*ex));
    size_t path_len;

    if (ex == NULL) {
        return NULL;
    }
    ex->relay = client->relay;
    ex->client = client;
    ex->server = server;
    ex->response_length = -1;
    ex->stream_id = -1;
    clock_gettime(CLOCK_MONOTONIC, &ex->start);
    snprintf(ex->method, sizeof(ex->method), "%s", head->method);
    snprintf(ex->farm, sizeof(ex->farm), "%s", server->farm->config->id);
    snprintf(ex->client_addr, sizeof(ex->client_addr), "%s", client->peer);
    path_len = strcspn(head->target, "?");
    ex->path = strndup(head->target, path_len);
    ex->head_only = strcmp(head->method, "HEAD") == 0;
    ex->client_http10 = head->version_minor == 0;
    ex->client_tls = client->tls;
    ex->client_keep_alive = head->keep_alive;
    ex->request_has_body =
        head->chunked || (head->has_content_length && head->content_length);
    ex->request_done = !ex->request_has_body;
    ex->fields = evbuffer_new();
    ex->timer = evtimer_new(client->relay->base, relay_exchange_on_timeout, ex);
    if (ex->path == NULL || ex->fields == NULL || ex->timer == NULL ||
        tunnel_body_init(&ex->request_body, relay_exchange_on_body_drain, ex) !=
            0) {
        relay_exchange_free(ex);
        return NULL;
    }
    return ex;
}

static const char *relay_cause_name(enum relay_exchange_cause cause)
{
    switch (cause) {
    case RELAY_CAUSE_DONE:
        return "done";
    case RELAY_CAUSE_CLIENT_CLOSED:
        return "client-closed";
    case RELAY_CAUSE_STREAM_RESET:
        return "backend-failed";
    case RELAY_CAUSE_TUNNEL_LOST:
        return "tunnel-lost";
    case RELAY_CAUSE_TIMEOUT:
        return "backend-timeout";
    }
    return "unknown";
}

void relay_exchange_log(struct relay_exchange *ex)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - ex->start.tv_sec) * 1000 +
         (now.tv_nsec - ex->start.tv_nsec) / 1000000;
    log_msg(ex->cause == RELAY_CAUSE_DONE ? LOG_INFO : LOG_WARN,
            "request client=%s farm=%s server=%s method=%s path=%s status=%d "
            "in=%llu out=%llu ms=%ld tunnel=%llu result=%s",
            ex->client_addr, ex->farm, ex->server->config->id, ex->method,
            ex->path, ex->status, (unsigned long long)ex->bytes_in,
            (unsigned long long)ex->bytes_out, ms,
            (unsigned long long)ex->tunnel_id, relay_cause_name(ex->cause));
    relay_server_count(ex->server, ex->status, ex->bytes_in, ex->bytes_out, ms);
}

void relay_exchange_release(struct relay_exchange *ex)
{
    if (ex->client == NULL && ex->tunnel == NULL) {
        relay_exchange_free(ex);
    }
}

void relay_exchange_detach_client(struct relay_exchange *ex, bool keep_alive)
{
    struct relay_client *client = ex->client;

    if (client == NULL) {
        return;
    }
    ex->server->in_flight--;
    relay_exchange_log(ex);
    ex->client = NULL;
    evtimer_del(ex->timer);
    /* The client no longer reports its drained output to this exchange,
     * so the bytes still in its output are acknowledged now. */
    relay_exchange_on_client_drained(ex);
    if (keep_alive) {
        relay_client_exchange_done(client, true);
    } else if (ex->response_started && !ex->response_done) {
        relay_client_abort(client);
    } else {
        relay_client_exchange_done(client, false);
    }
}

/* Finds NAME=VALUE among the cookies of every Cookie field of HEAD.
 * Returns the value's length and sets *VALUE, or returns 0. */
static size_t relay_find_cookie(const struct http1_head *head, const char *name,
                                const char **value)
{
    size_t name_len = strlen(name);

    for (size_t i = 0; i < head->field_count; i++) {
        const char *p = head->fields[i].value;

        if (strcasecmp(head->fields[i].name, "cookie") != 0) {
            continue;
        }
        while (*p != '\0') {
            size_t len;

            p += strspn(p, " \t;");
            len = strcspn(p, ";");
            if (len > name_len && strncmp(p, name, name_len) == 0 &&
                p[name_len] == '=') {
                *value = p + name_len + 1;
                return len - name_len - 1;
            }
            p += len;
        }
    }
    return 0;
}

/* Returns the server that the request's affinity cookie or header names
 * in FARM, or NULL. */
static struct relay_server *
relay_exchange_affinity(struct relay_farm *farm, const struct http1_head *head)
{
    const char *value = NULL;
    size_t len = 0;

    if (farm->config->active_header != NULL) {
        value = relay_find_value(head, farm->config->active_header);
        len = value != NULL ? strlen(value) : 0;
    }
    if (len == 0 && farm->config->active_cookie != NULL) {
        len = relay_find_cookie(head, farm->config->active_cookie, &value);
    }
    return len > 0 ? relay_farm_affinity(farm, value, len) : NULL;
}

/* Routes HEAD to a farm and a server, or answers the client with the
 * reason it cannot be routed. Sets *AFFINE when the request's affinity
 * value named the server that was picked. */
static struct relay_server *relay_exchange_route(struct relay_client *client,
                                                 const struct http1_head *head,
                                                 struct relay_target *target,
                                                 bool *affine)
{
    struct relay *relay = client->relay;
    const char *prefix = relay->config->options.client_prefix;
    struct relay_farm *farm;
    struct relay_server *server;
    char line[512];
    int split = relay_target_split(head->target, prefix, target);

    if (split != 0) {
        relay_client_error(client, 404,
                           split < 0 ? "no relay URL: request " RELAY_PREFIX_IIS
                                       "/FARM/..."
                                     : "no farm in the URL: add the farm id "
                                       "after the prefix",
                           NULL, 0);
        return NULL;
    }
    farm = relay_routes_farm(&relay->routes, target->farm, target->farm_len);
    if (farm == NULL) {
        snprintf(line, sizeof(line), "unknown farm '%.*s'",
                 (int)target->farm_len, target->farm);
        relay_client_error(client, 404, line, NULL, 0);
        return NULL;
    }
    if ((farm->config->client_security == CONFIG_SECURITY_ON && !client->tls) ||
        (farm->config->client_security == CONFIG_SECURITY_OFF && client->tls)) {
        snprintf(line, sizeof(line), "farm %s accepts %s only; use %s://",
                 farm->config->id, client->tls ? "HTTP" : "HTTPS",
                 client->tls ? "http" : "https");
        relay_client_error(client, 403, line, NULL, 0);
        return NULL;
    }
    struct relay_server *preferred = relay_exchange_affinity(farm, head);

    server = relay_farm_pick(farm, preferred, relay_server_usable);
    *affine = server != NULL && server == preferred;
    if (server == NULL) {
        struct http1_field retry = http1_field_of("Retry-After", "5");

        snprintf(line, sizeof(line),
                 "no server of farm %s is connected; try again later",
                 farm->config->id);
        relay_client_error(client, 503, line, &retry, 1);
        return NULL;
    }
    return server;
}

static int relay_exchange_submit(struct relay_exchange *ex,
                                 struct relay_tunnel *tunnel,
                                 const struct http1_head *head,
                                 const struct relay_target *target)
{
    struct relay_client *client = ex->client;
    struct relay_forwarded *fwd = calloc(1, sizeof(*fwd));
    struct relay_nv_list list = {0};
    nghttp2_data_provider provider;
    const char *host = relay_find_value(head, "host");
    int32_t stream_id = -1;

    if (host == NULL || *host == '\0') {
        host = client->relay->self->host;
    }
    if (fwd == NULL ||
        relay_forward_path(fwd, ex->server->farm, head, target) != 0) {
        goto out;
    }
    relay_forwarded_build(fwd, client, head, host);
    if (relay_build_request(&list, client, head, fwd, host) != 0) {
        goto out;
    }
    /* nghttp2 copies the provider at submit time, so it is filled in
     * first and the stream id is added to the body afterwards. */
    tunnel_body_attach(&ex->request_body, tunnel->session, -1, &provider);
    stream_id = relay_tunnel_submit(tunnel, ex, list.nv, list.count,
                                    ex->request_has_body ? &provider : NULL);
    ex->request_body.stream_id = stream_id;

out:
    relay_nv_free(&list);
    free(fwd);
    return stream_id > 0 ? 0 : -1;
}

int relay_exchange_start(struct relay_client *client,
                         const struct http1_head *head)
{
    struct relay_target target;
    bool affine = false;
    struct relay_server *server =
        relay_exchange_route(client, head, &target, &affine);
    struct relay_tunnel *tunnel;
    struct relay_exchange *ex;
    struct timeval timeout;
    unsigned ms = client->relay->config->options.backend_timeout_ms;

    if (server == NULL) {
        return -1;
    }
    tunnel = relay_server_tunnel(server);
    ex = tunnel != NULL ? relay_exchange_new(client, head, server) : NULL;
    if (ex == NULL || relay_exchange_submit(ex, tunnel, head, &target) != 0) {
        if (ex != NULL) {
            relay_exchange_free(ex);
        }
        relay_client_error(client, tunnel ? 502 : 503,
                           tunnel ? "the relay could not open a stream to the "
                                    "backend server"
                                  : "every tunnel of the farm is busy; try "
                                    "again later",
                           NULL, 0);
        return -1;
    }
    client->exchange = ex;
    ex->tunnel_id = tunnel->id;
    ex->affine = affine;
    server->in_flight++;
    server->requests++;
    timeout.tv_sec = ms / 1000;
    timeout.tv_usec = (ms % 1000) * 1000;
    evtimer_add(ex->timer, &timeout);
    if (head->expect_continue && ex->request_has_body) {
        evbuffer_add_printf(bufferevent_get_output(client->bev),
                            "HTTP/1.1 100 Continue\r\n\r\n");
    }
    relay_tunnel_flush(tunnel);
    return 0;
}

int relay_exchange_on_request_body(struct relay_exchange *ex, const char *data,
                                   size_t len)
{
    ex->bytes_in += len;
    if (ex->tunnel == NULL) {
        return HTTP1_CONTINUE; /* the stream is gone: discard */
    }
    if (tunnel_body_push(&ex->request_body, data, len) != 0) {
        return HTTP1_FAIL;
    }
    relay_tunnel_flush(ex->tunnel);
    return tunnel_body_full(&ex->request_body) ? HTTP1_PAUSE : HTTP1_CONTINUE;
}

int relay_exchange_on_request_trailers(struct relay_exchange *ex,
                                       const struct http1_field *fields,
                                       size_t count)
{
    struct relay_nv_list list = {0};
    int rc = 0;

    for (size_t i = 0; i < count && rc == 0; i++) {
        if (!http1_is_hop_by_hop(fields[i].name, NULL)) {
            rc = relay_nv_add(&list, fields[i].name, fields[i].name_len,
                              fields[i].value, fields[i].value_len);
        }
    }
    if (rc == 0 && ex->tunnel != NULL) {
        rc = tunnel_body_finish(&ex->request_body, list.nv, list.count);
    }
    relay_nv_free(&list);
    return rc;
}

void relay_exchange_on_request_done(struct relay_exchange *ex)
{
    ex->request_done = true;
    if (ex->tunnel != NULL && ex->request_has_body) {
        if (!ex->request_body.end) {
            tunnel_body_finish(&ex->request_body, NULL, 0);
        }
        relay_tunnel_flush(ex->tunnel);
    }
}

void relay_exchange_on_client_gone(struct relay_exchange *ex)
{
    ex->cause = RELAY_CAUSE_CLIENT_CLOSED;
    if (ex->status == 0) {
        ex->status = 499;
    }
    ex->server->in_flight--;
    relay_exchange_log(ex);
    ex->client = NULL;
    evtimer_del(ex->timer);
    relay_tunnel_cancel(ex);
    relay_exchange_release(ex);
}

static void relay_exchange_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    relay_exchange_on_timeout_fired(arg);
}
