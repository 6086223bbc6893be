/*
 * The response half of an exchange: HTTP/2 response frames from the
 * tunnel become an HTTP/1.1 response to the client.
 */
#include "common/log.h"
#include "relay/relay_client.h"
#include "relay/relay_exchange.h"
#include "relay/relay_tunnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RELAY_FIELDS_MAX (RELAY_RESPONSE_HEADERS_MAX + 6)

/* Ends EX with an error: a response with STATUS and LINE when none has
 * started, otherwise a broken connection. */
static void relay_exchange_fail(struct relay_exchange *ex,
                                enum relay_exchange_cause cause, int status,
                                const char *line)
{
    if (ex->client == NULL) {
        return;
    }
    ex->cause = cause;
    if (!ex->response_started) {
        ex->status = status;
        relay_client_write_error(ex->client, status, line, NULL, 0);
        ex->response_started = true;
        ex->response_done = true;
    }
    relay_exchange_detach_client(ex, false);
}

int relay_exchange_on_header(struct relay_exchange *ex, const uint8_t *name,
                             size_t namelen, const uint8_t *value,
                             size_t valuelen)
{
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        ex->block_status = 0;
        if (valuelen == 3) {
            ex->block_status = atoi((const char *)value);
        }
        return ex->block_status >= 100 ? 0 : -1;
    }
    if (namelen > 0 && name[0] == ':') {
        return -1;
    }
    if (ex->field_count >= RELAY_RESPONSE_HEADERS_MAX) {
        return -1;
    }
    if (evbuffer_add(ex->fields, name, namelen) != 0 ||
        evbuffer_add(ex->fields, "", 1) != 0 ||
        evbuffer_add(ex->fields, value, valuelen) != 0 ||
        evbuffer_add(ex->fields, "", 1) != 0) {
        return -1;
    }
    ex->field_count++;
    return 0;
}

/* Turns the gathered "name\0value\0" pairs into FIELDS, leaving out
 * hop-by-hop fields. Returns how many it stored. */
static size_t relay_collect_fields(struct relay_exchange *ex,
                                   struct http1_field *fields, size_t max)
{
    size_t len = evbuffer_get_length(ex->fields);
    const char *p = (const char *)evbuffer_pullup(ex->fields, -1);
    const char *end = p + len;
    size_t count = 0;

    while (p != NULL && p < end && count < max) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;

        p = value + strlen(value) + 1;
        if (http1_is_hop_by_hop(name, NULL)) {
            continue;
        }
        fields[count++] = http1_field_of(name, value);
    }
    return count;
}

static void relay_response_framing(struct relay_exchange *ex,
                                   struct http1_field *fields, size_t *count)
{
    bool no_body = ex->head_only || ex->status == 204 || ex->status == 304;
    const struct http1_field *length =
        http1_field_find(fields, *count, "content-length");

    if (length != NULL) {
        ex->response_length = strtoll(length->value, NULL, 10);
    }
    if (!no_body && ex->response_length < 0) {
        if (ex->client_http10) {
            ex->close_after = true;
        } else {
            ex->chunked_out = true;
            fields[(*count)++] = http1_field_of("Transfer-Encoding", "chunked");
        }
    }
    if (no_body) {
        ex->response_length = 0;
    }
    if (!ex->client_keep_alive || !ex->request_done) {
        ex->close_after = true;
    }
    if (ex->close_after) {
        fields[(*count)++] = http1_field_of("Connection", "close");
    }
}

/* Adds the farm's affinity header, and a cookie when the client has none
 * or one that names another server, so that the client's next requests
 * come back to this server through any relay of the relay farm. */
static void relay_response_affinity(struct relay_exchange *ex,
                                    struct http1_field *fields, size_t *count,
                                    char *cookie, size_t cookie_size)
{
    const struct config_farm *farm = ex->server->farm->config;

    if (farm->active_header != NULL) {
        fields[(*count)++] =
            http1_field_of(farm->active_header, ex->server->affinity);
    }
    if (farm->active_cookie != NULL && !ex->affine) {
        snprintf(cookie, cookie_size, "%s=%s; Path=/; HttpOnly%s",
                 farm->active_cookie, ex->server->affinity,
                 ex->client_tls ? "; Secure" : "");
        fields[(*count)++] = http1_field_of("Set-Cookie", cookie);
    }
}

static void relay_response_write_head(struct relay_exchange *ex)
{
    struct http1_field fields[RELAY_FIELDS_MAX];
    size_t count = relay_collect_fields(ex, fields, RELAY_RESPONSE_HEADERS_MAX);
    struct evbuffer *out = bufferevent_get_output(ex->client->bev);
    char cookie[256];

    ex->status = ex->block_status;
    relay_response_affinity(ex, fields, &count, cookie, sizeof(cookie));
    relay_response_framing(ex, fields, &count);
    if (http1_write_response_head(out, ex->status, NULL, fields, count) != 0) {
        log_warn("farm=%s server=%s: the backend's response head cannot be "
                 "sent in HTTP/1.1",
                 ex->farm, ex->server->config->id);
        relay_tunnel_cancel(ex);
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502,
                            "the backend server sent an invalid response "
                            "head");
        return;
    }
    ex->response_started = true;
    evtimer_del(ex->timer);
}

void relay_exchange_on_headers_done(struct relay_exchange *ex)
{
    if (ex->client != NULL && !ex->response_started) {
        /* Interim 1xx responses are not forwarded: the relay answered
         * Expect: 100-continue itself. */
        if (ex->block_status >= 200) {
            relay_response_write_head(ex);
        }
        evbuffer_drain(ex->fields, evbuffer_get_length(ex->fields));
        ex->field_count = 0;
    }
    /* Trailers stay in ex->fields until the stream ends. */
}

void relay_exchange_on_data(struct relay_exchange *ex, const uint8_t *data,
                            size_t len)
{
    struct evbuffer *out;
    int rc;

    if (ex->client == NULL || !ex->response_started || ex->response_done) {
        if (ex->tunnel != NULL) {
            relay_tunnel_consume(ex->tunnel, ex->stream_id, len);
        }
        return;
    }
    if (ex->response_length >= 0 &&
        ex->bytes_out + len > (uint64_t)ex->response_length) {
        log_warn("farm=%s server=%s: the backend sent more than its "
                 "Content-Length of %lld",
                 ex->farm, ex->server->config->id,
                 (long long)ex->response_length);
        relay_tunnel_cancel(ex);
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502, "");
        return;
    }
    out = bufferevent_get_output(ex->client->bev);
    rc = ex->chunked_out ? http1_write_chunk(out, data, len)
                         : evbuffer_add(out, data, len);
    if (rc != 0) {
        relay_tunnel_cancel(ex);
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502, "");
        return;
    }
    ex->bytes_out += len;
    ex->unconsumed += len;
}

void relay_exchange_on_client_drained(struct relay_exchange *ex)
{
    if (ex->unconsumed > 0 && ex->tunnel != NULL) {
        relay_tunnel_consume(ex->tunnel, ex->stream_id, ex->unconsumed);
    }
    ex->unconsumed = 0;
}

static int relay_response_finish_body(struct relay_exchange *ex)
{
    struct http1_field trailers[RELAY_FIELDS_MAX];
    size_t count = 0;

    if (ex->response_length >= 0 &&
        ex->bytes_out != (uint64_t)ex->response_length) {
        return -1;
    }
    if (!ex->chunked_out) {
        return 0;
    }
    count = relay_collect_fields(ex, trailers, RELAY_RESPONSE_HEADERS_MAX);
    return http1_write_last_chunk(bufferevent_get_output(ex->client->bev),
                                  trailers, count);
}

void relay_exchange_on_end(struct relay_exchange *ex)
{
    bool keep_alive;

    if (ex->client == NULL) {
        return;
    }
    if (!ex->response_started) {
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502,
                            "the backend server ended the stream without a "
                            "response");
        return;
    }
    if (relay_response_finish_body(ex) != 0) {
        log_warn("farm=%s server=%s: the response ended after %llu of %lld "
                 "body bytes",
                 ex->farm, ex->server->config->id,
                 (unsigned long long)ex->bytes_out,
                 (long long)ex->response_length);
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502, "");
        return;
    }
    ex->response_done = true;
    ex->cause = RELAY_CAUSE_DONE;
    keep_alive = !ex->close_after && ex->request_done;
    if (!ex->request_done) {
        relay_tunnel_cancel(ex);
    }
    relay_exchange_detach_client(ex, keep_alive);
}

void relay_exchange_on_close(struct relay_exchange *ex, uint32_t error_code)
{
    char line[256];

    if (ex->client != NULL) {
        snprintf(line, sizeof(line),
                 "server %s of farm %s failed before completing the "
                 "response (%s)",
                 ex->server->config->id, ex->farm,
                 nghttp2_http2_strerror(error_code));
        relay_exchange_fail(ex, RELAY_CAUSE_STREAM_RESET, 502, line);
    }
    relay_exchange_release(ex);
}

void relay_exchange_on_tunnel_lost(struct relay_exchange *ex)
{
    char line[256];

    snprintf(line, sizeof(line),
             "the tunnel to server %s of farm %s closed during the request",
             ex->server->config->id, ex->farm);
    relay_exchange_fail(ex, RELAY_CAUSE_TUNNEL_LOST, 502, line);
    relay_exchange_release(ex);
}

void relay_exchange_on_timeout_fired(struct relay_exchange *ex)
{
    char line[256];

    if (ex->response_started) {
        return;
    }
    snprintf(line, sizeof(line),
             "server %s of farm %s did not answer within %u s",
             ex->server->config->id, ex->farm,
             ex->relay->config->options.backend_timeout_ms / 1000);
    relay_tunnel_cancel(ex);
    relay_exchange_fail(ex, RELAY_CAUSE_TIMEOUT, 504, line);
    relay_exchange_release(ex);
}
