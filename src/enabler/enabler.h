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
struct enabler_health;
struct admin;

/* Counters for /metrics. */
struct enabler_counters {
    uint64_t requests[6]; /* by status / 100; 0 = no status */
    uint64_t bytes_in;    /* request body bytes to the backend */
    uint64_t bytes_out;   /* response body bytes to the relay */
    uint64_t tunnels_opened;
    uint64_t attempts_refused; /* the relay refused the tunnel */
    uint64_t attempts_failed;  /* connection or TLS failures */
};

enum enabler_tunnel_state {
    ENABLER_TUNNEL_WAITING,    /* backing off before the next attempt */
    ENABLER_TUNNEL_CONNECTING, /* TCP and TLS */
    ENABLER_TUNNEL_HELLO,      /* waiting for 101 */
    ENABLER_TUNNEL_OPEN,
};

/* A tunnel to one relay: the one given on the command line, or a peer that
 * a relay named in its 101 response. */
struct enabler_tunnel {
    TAILQ_ENTRY(enabler_tunnel) link;
    struct enabler *enabler;
    struct enabler_endpoint relay;
    char address[ENABLER_HOST_MAX + 16]; /* "host:port" for messages */
    bool learned;   /* a peer from a relay's list, not from the options */
    bool listed;    /* named by the latest peer list */
    bool removing;  /* its removal is scheduled */
    bool lingering; /* sent FIN after draining; waits for the relay's */
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
    TAILQ_HEAD(, enabler_tunnel) tunnels;
    struct enabler_pool pool;
    char backend_address[ENABLER_HOST_MAX + 16];
    bool stopping;
    bool backend_down;   /* --status-url failed: the tunnels stay closed */
    struct admin *admin; /* serves /metrics with --admin, or NULL */
    struct enabler_counters counters;
    struct enabler_health *health;
    int exit_status;
    struct event *signal_term;
    struct event *signal_int;
    struct event *stop_timer;
    time_t stop_deadline;
};

/* Runs `drawbridge enabler` with ARGV after the subcommand. Returns the
 * process exit status. */
int enabler_main(int argc, char **argv);

/* Adds a tunnel to RELAY and starts its first connection attempt.
 * LEARNED marks a peer named by a relay. Returns the tunnel, or NULL when
 * out of memory. */
struct enabler_tunnel *enabler_tunnel_add(struct enabler *enabler,
                                          const struct enabler_endpoint *relay,
                                          bool learned);

/* Closes TUNNEL, removes it from its enabler and frees it. */
void enabler_tunnel_remove(struct enabler_tunnel *tunnel);

/* Writes "HOST:PORT", with brackets around an IPv6 HOST, into BUF. */
void enabler_format_address(const struct enabler_endpoint *endpoint, char *buf,
                            size_t size);

/* Schedules sending what the tunnel's session has queued, from the event
 * loop. A failure then closes the tunnel. */
void enabler_tunnel_flush(struct enabler_tunnel *tunnel);

/* Connects to every relay in LIST, the peer list that TUNNEL's relay sent
 * ("host:port, host:port"), and drops learned peers that LIST no longer
 * names. */
void enabler_tunnel_apply_peers(struct enabler_tunnel *tunnel,
                                const char *list);

/* Asks the relay to send no new streams (GOAWAY); open streams finish. */
void enabler_tunnel_drain(struct enabler_tunnel *tunnel);

/* Closes every tunnel and keeps them closed, because the backend is down. */
void enabler_tunnels_suspend(struct enabler *enabler);

/* Reconnects the tunnels that enabler_tunnels_suspend closed. */
void enabler_tunnels_resume(struct enabler *enabler);

/* Starts polling --status-url, if given. Returns 0 or -1. */
int enabler_health_start(struct enabler *enabler);

/* Stops polling and frees what the poller holds. */
void enabler_health_stop(struct enabler *enabler);

/* Writes the enabler's metrics in the Prometheus text format to OUT. */
void enabler_metrics_write(void *enabler, struct evbuffer *out);

/* Creates an unconnected bufferevent for a backend connection, with TLS
 * when the backend is HTTPS. */
struct bufferevent *enabler_backend_bufferevent(struct enabler *enabler);

/* Frees every backend connection of POOL; waiting exchanges must be gone. */
void enabler_pool_free(struct enabler *enabler);

#endif
