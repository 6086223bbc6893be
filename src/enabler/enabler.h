/*
 * The outbound enabler: keeps a TLS tunnel open to the relay, accepts the
 * requests the relay sends over it as an HTTP/2 server, and forwards each
 * one to the backend server over a bounded pool of keep-alive HTTP/1.1
 * connections.
 */
#ifndef DRAWBRIDGE_ENABLER_H
#define DRAWBRIDGE_ENABLER_H

#include "enabler/enabler_options.h"
#include "http1/http1.h"
#include "tunnel/tunnel.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

/* Exit statuses of `drawbridge enabler`. */
#define ENABLER_EXIT_OK      0 /* stopped by SIGTERM or SIGINT */
#define ENABLER_EXIT_STARTUP 1 /* configuration or certificate error */
#define ENABLER_EXIT_USAGE   2
#define ENABLER_EXIT_REFUSED 3 /* --max-retries reached; the relay refused */
#define ENABLER_EXIT_CONNECT 4 /* --max-retries reached; no connection */

struct enabler_exchange;
struct enabler_backend;

enum enabler_tunnel_state {
    ENABLER_TUNNEL_WAITING,    /* backing off before the next attempt */
    ENABLER_TUNNEL_CONNECTING, /* TCP and TLS */
    ENABLER_TUNNEL_HELLO,      /* waiting for 101 */
    ENABLER_TUNNEL_OPEN,
};

struct enabler_tunnel {
    struct enabler *enabler;
    enum enabler_tunnel_state state;
    struct bufferevent *bev;
    nghttp2_session *session;
    struct http1_parser *hello_parser;
    char refusal[512]; /* the relay's one-line reason */
    struct event *retry_timer;
    struct event *close_event;
    struct event *flush_event;
    struct tunnel_liveness liveness;
    const char *close_cause;
    TAILQ_HEAD(, enabler_exchange) exchanges;
    unsigned failures; /* attempts failed in a row */
    bool last_refused; /* the last attempt reached the relay */
    char relay_tunnel_id[32];
};

/* Backend connections: idle ones are reused, new ones are opened up to
 * the limit, and requests beyond it wait in order. */
struct enabler_pool {
    TAILQ_HEAD(, enabler_backend) idle;
    TAILQ_HEAD(, enabler_exchange) waiting;
    unsigned open;
};

struct enabler {
    struct event_base *base;
    struct enabler_options *opts;
    SSL_CTX *relay_ctx;
    SSL_CTX *backend_ctx; /* NULL for an HTTP backend */
    struct enabler_tunnel tunnel;
    struct enabler_pool pool;
    char relay_address[ENABLER_HOST_MAX + 16];
    char backend_address[ENABLER_HOST_MAX + 16];
    bool stopping;
    int exit_status;
    struct event *signal_term;
    struct event *signal_int;
    struct event *stop_timer;
    time_t stop_deadline;
};

/* Runs `drawbridge enabler` with ARGV after the subcommand. Returns the
 * process exit status. */
int enabler_main(int argc, char **argv);

/* Starts the first connection attempt to the relay. */
void enabler_tunnel_start(struct enabler *enabler);

/* Closes the tunnel and frees what it holds, without reconnecting. */
void enabler_tunnel_stop(struct enabler_tunnel *tunnel);

/* Schedules sending what the tunnel's session has queued, from the event
 * loop. A failure then closes the tunnel. */
void enabler_tunnel_flush(struct enabler_tunnel *tunnel);

/* Asks the relay to send no new streams (GOAWAY); open streams finish. */
void enabler_tunnel_drain(struct enabler_tunnel *tunnel);

/* Frees every backend connection of POOL; waiting exchanges must be gone. */
void enabler_pool_free(struct enabler *enabler);

#endif
