/*
 * Client connections on the relay: TLS or plain TCP, HTTP/1.1 requests
 * parsed one at a time, keep-alive, limits and timeouts. A request for the
 * server URL suffix with an upgrade becomes an enabler tunnel; any other
 * request becomes an exchange.
 */
#ifndef DRAWBRIDGE_RELAY_CLIENT_H
#define DRAWBRIDGE_RELAY_CLIENT_H

#include "http1/http1.h"
#include "relay/relay.h"

#include <event2/bufferevent.h>
#include <stdbool.h>

/* Response body bytes are acknowledged to the tunnel once the client's
 * output has drained to this many bytes, which bounds what a slow client
 * makes the relay buffer. */
#define RELAY_CLIENT_OUTPUT_LOW (64 * 1024)

struct relay_client {
    LIST_ENTRY(relay_client) link;
    struct relay *relay;
    struct bufferevent *bev;
    struct http1_parser *parser;
    struct relay_exchange *exchange; /* the request in progress, or NULL */
    struct event *resume_event;      /* parses input after an exchange */
    struct event *head_timer;        /* limits the time to read a head */
    bool tls;
    bool closing;                 /* close once the output has drained */
    bool paused;                  /* parsing waits for the exchange */
    bool in_head;                 /* bytes of a request head have arrived */
    bool in_message;              /* a request head was parsed */
    bool hello;                   /* the current request is a tunnel hello */
    char peer[RELAY_ADDR_MAX];    /* "ADDR:PORT", "[ADDR]:PORT" for IPv6 */
    char peer_ip[RELAY_ADDR_MAX]; /* the address alone */
    unsigned requests;
};

/* Writes a complete error response with STATUS and the one-line LINE,
 * logs the request with it, and closes the connection once the response
 * is sent. EXTRA (COUNT fields) go into the response head. */
void relay_client_error(struct relay_client *client, int status,
                        const char *line, const struct http1_field *extra,
                        size_t count);

/* Writes a complete error response like relay_client_error, without the
 * log line and without closing: for exchanges, which log on their own. */
int relay_client_write_error(struct relay_client *client, int status,
                             const char *line, const struct http1_field *extra,
                             size_t count);

/* Writes a complete response with STATUS, the COUNT FIELDS, a
 * Content-Length and Connection: close, then BODY unless HEAD_ONLY, logs
 * the request, and closes the connection once the response is sent. */
void relay_client_respond(struct relay_client *client, int status,
                          const struct http1_field *fields, size_t count,
                          struct evbuffer *body, bool head_only);

/* Ends the current exchange. With KEEP_ALIVE the next request is read,
 * otherwise the connection closes once its output has drained. */
void relay_client_exchange_done(struct relay_client *client, bool keep_alive);

/* Closes CLIENT at once, dropping unsent output, so that a client whose
 * response cannot be completed sees a broken connection. */
void relay_client_abort(struct relay_client *client);

/* Resumes reading a request body after its buffer drained. */
void relay_client_resume(struct relay_client *client);

#endif
