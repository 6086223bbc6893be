/*
 * One client request forwarded over a tunnel, and its response.
 *
 * An exchange lives while its client connection or its HTTP/2 stream
 * needs it. A client that disconnects cancels the stream. A stream that
 * fails before the response starts gets the client an error status, and
 * one that fails later closes the client's connection, so that a client
 * never takes a truncated body for a complete one.
 */
#ifndef DRAWBRIDGE_RELAY_EXCHANGE_H
#define DRAWBRIDGE_RELAY_EXCHANGE_H

#include "http1/http1.h"
#include "relay/relay.h"
#include "tunnel/tunnel.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cause of the end of an exchange, for the request log line. */
enum relay_exchange_cause {
    RELAY_CAUSE_DONE,
    RELAY_CAUSE_CLIENT_CLOSED,
    RELAY_CAUSE_STREAM_RESET,
    RELAY_CAUSE_TUNNEL_LOST,
    RELAY_CAUSE_TIMEOUT,
};

#define RELAY_RESPONSE_HEADERS_MAX 128

struct relay_exchange {
    TAILQ_ENTRY(relay_exchange) link; /* in tunnel->exchanges */
    struct relay *relay;
    struct relay_client *client; /* NULL once the client is gone */
    struct relay_tunnel *tunnel; /* NULL once the stream is gone */
    struct relay_server *server;
    int32_t stream_id;
    uint64_t tunnel_id; /* for the log line */
    struct tunnel_body request_body;
    bool request_has_body;
    bool request_done;     /* the client sent the whole body */
    bool head_only;        /* HEAD: the response has no body */
    bool response_started; /* the head went to the client */
    bool response_done;
    bool chunked_out;        /* the response goes to the client chunked */
    bool close_after;        /* close the client connection when done */
    bool affine;             /* the request's affinity value named the server */
    int status;              /* the status sent to the client */
    int block_status;        /* :status of the HEADERS being received */
    struct evbuffer *fields; /* "name\0value\0" from the current HEADERS */
    size_t field_count;
    int64_t response_length; /* -1 when unknown */
    size_t unconsumed;       /* DATA bytes not yet acknowledged */
    uint64_t bytes_in;       /* request body bytes from the client */
    uint64_t bytes_out;      /* response body bytes to the client */
    struct event *timer;     /* backend timeout until the response head */
    struct timespec start;
    char method[16];
    char farm[TUNNEL_ID_MAX];
    char *path; /* the forwarded path without its query, for the log */
    char client_addr[RELAY_ADDR_MAX];
    bool client_http10;
    bool client_tls;
    bool client_keep_alive;
    enum relay_exchange_cause cause;
};

struct relay_client;

/* Starts forwarding the request HEAD that CLIENT sent: routes it by farm,
 * opens a stream on a tunnel and sets client->exchange. Returns 0, or -1
 * after sending the client an error status (404 unknown farm, 403
 * transport not allowed, 503 no connected server, 502 tunnel failure). */
int relay_exchange_start(struct relay_client *client,
                         const struct http1_head *head);

/* Passes a piece of the request body on. Returns HTTP1_PAUSE when the
 * client must not be read until the exchange calls relay_client_resume,
 * or HTTP1_CONTINUE. */
int relay_exchange_on_request_body(struct relay_exchange *ex, const char *data,
                                   size_t len);

/* Passes the request's trailer fields on. Returns 0 or -1. */
int relay_exchange_on_request_trailers(struct relay_exchange *ex,
                                       const struct http1_field *fields,
                                       size_t count);

/* Called when the whole request has been read. */
void relay_exchange_on_request_done(struct relay_exchange *ex);

/* Called by the tunnel for each response header field of EX's stream. */
int relay_exchange_on_header(struct relay_exchange *ex, const uint8_t *name,
                             size_t namelen, const uint8_t *value,
                             size_t valuelen);

/* Called when a HEADERS frame of EX's stream is complete: the response
 * head, an interim 1xx head, or trailers. */
void relay_exchange_on_headers_done(struct relay_exchange *ex);

/* Called when the enabler ended its side of the stream: the response is
 * complete. */
void relay_exchange_on_end(struct relay_exchange *ex);

/* Called for each piece of response body. */
void relay_exchange_on_data(struct relay_exchange *ex, const uint8_t *data,
                            size_t len);

/* Called when the stream closed, with its HTTP/2 error code (0 when it
 * ended normally). The exchange may be freed inside. */
void relay_exchange_on_close(struct relay_exchange *ex, uint32_t error_code);

/* Called when the tunnel carrying EX is gone. */
void relay_exchange_on_tunnel_lost(struct relay_exchange *ex);

/* Called by the client connection when its output drained, so that EX can
 * acknowledge the body bytes it wrote. */
void relay_exchange_on_client_drained(struct relay_exchange *ex);

/* Called by the client connection when the client went away. */
void relay_exchange_on_client_gone(struct relay_exchange *ex);

/* Shared by relay_exchange.c and relay_response.c. */

/* Writes the one log line of a finished request and counts it for
 * /metrics. */
void relay_exchange_log(struct relay_exchange *ex);

/* Ends EX's part in its client connection: logs the request, then lets the
 * client read its next request when KEEP_ALIVE is true, or closes it. A
 * response that started and did not finish aborts the connection. */
void relay_exchange_detach_client(struct relay_exchange *ex, bool keep_alive);

/* Sends the client 504 when EX has no response head yet. */
void relay_exchange_on_timeout_fired(struct relay_exchange *ex);

/* Frees EX once neither its client nor its stream refers to it. */
void relay_exchange_release(struct relay_exchange *ex);

#endif
