/*
 * The relay server: accepts client HTTPS (and HTTP) connections and
 * enabler tunnels on the same ports, and forwards each client request over
 * a tunnel of the backend farm that its URL names.
 *
 * All state hangs off one struct relay and one event loop, so a later
 * multi-core relay can run one per core.
 */
#ifndef DRAWBRIDGE_RELAY_H
#define DRAWBRIDGE_RELAY_H

#include "common/config.h"
#include "common/log.h"
#include "relay/relay_proxy.h"
#include "relay/relay_route.h"
#include "tunnel/tunnel.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

struct relay_client;
struct relay_exchange;
struct relay_pending;
struct admin;

#define RELAY_LISTENERS_MAX 16
#define RELAY_ADDR_MAX      64 /* "[ipv6]:port" and a NUL */

struct relay_listener {
    struct relay *relay;
    struct evconnlistener *listener;
    bool tls;
    char address[RELAY_ADDR_MAX];
};

/* A tunnel from an enabler: the relay is its HTTP/2 client. */
struct relay_tunnel {
    TAILQ_ENTRY(relay_tunnel) link;
    struct relay *relay;
    struct relay_server *server;
    struct bufferevent *bev;
    nghttp2_session *session;
    TAILQ_HEAD(, relay_exchange) exchanges; /* streams on this tunnel */
    unsigned stream_count;
    uint64_t id;
    char peer[RELAY_ADDR_MAX];
    time_t since;
    bool tls;
    struct event *close_event;     /* runs a close scheduled by a callback */
    struct event *flush_event;     /* sends queued frames from the loop */
    struct event *handshake_timer; /* until the enabler's first SETTINGS */
    struct tunnel_liveness liveness;
    const char *close_cause;
};

struct relay {
    struct event_base *base;
    struct config *config; /* owned */
    const struct config_relay *self;
    SSL_CTX *ssl_ctx; /* NULL when there is no HTTPS port */
    struct relay_routes routes;
    struct relay_listener listeners[RELAY_LISTENERS_MAX];
    struct proxy_network *trusted_proxies; /* PROXY headers from these */
    size_t trusted_proxy_count;
    LIST_HEAD(, relay_pending) pending; /* waiting for a PROXY header */
    size_t listener_count;
    struct admin *admin; /* serves /metrics, or NULL */
    LIST_HEAD(, relay_client) clients;
    size_t client_count;
    uint64_t next_tunnel_id;
    struct log_limit tls_failures; /* client TLS handshake failures */
    struct relay_refusal refusal;  /* for farm ids that name no farm */
    uint64_t refusals[200];        /* refused tunnels, by status - 400 */
    uint64_t unrouted[6];          /* client requests answered by the
                                      relay itself, by status / 100 */
    time_t started;
    bool stopping;
    int64_t stop_deadline_ms; /* on the monotonic clock */
    struct event *signal_term;
    struct event *signal_int;
    struct event *signal_hup;
    const char *relay_id;   /* --id, or NULL */
    int verbosity_override; /* -v, or -1 */
    bool pid_file_written;
    struct event *stop_timer;
};

/* Runs `drawbridge relay` with ARGV after the subcommand. Returns the
 * process exit status. */
int relay_main(int argc, char **argv);

/* Binds the relay's listeners. Returns 0, or -1 after logging the address
 * that failed. */
int relay_listen(struct relay *relay);

/* Closes the listeners so that no new connection arrives. */
void relay_unlisten(struct relay *relay);

/* Starts serving a new client connection on FD from ADDR. */
void relay_client_accept(struct relay_listener *listener, int fd,
                         const struct sockaddr *addr);

/* Writes the relay's metrics in the Prometheus text format to OUT. */
void relay_metrics_write(const struct relay *relay, struct evbuffer *out);

/* Opens the admin listener when admin_port is set. Returns 0, or -1 after
 * logging. */
int relay_admin_listen(struct relay *relay);

/* Closes the admin listener. */
void relay_admin_unlisten(struct relay *relay);

/* Re-reads the configuration file and the certificates. A file with
 * errors changes nothing. Otherwise new connections get the new
 * certificate, farms and servers that stay keep their tunnels, and the
 * tunnels of dropped servers are closed. Open connections stay. */
void relay_reload(struct relay *relay);

/* Writes the process id to the configured pid_file, if any. Returns 0 or
 * -1 after logging. */
int relay_pid_file_write(struct relay *relay);

/* Removes the pid file written at start. */
void relay_pid_file_remove(const struct relay *relay);

/* Sends SIGHUP to the relay whose pid_file CFG names. Returns the exit
 * status for `drawbridge relay --reload`. */
int relay_send_reload(const struct config *cfg);

/* Closes the connections that still wait for their PROXY header. */
void relay_pending_close_all(struct relay *relay);

/* Closes every idle client connection and marks busy ones to close after
 * their current response; used on shutdown. */
void relay_clients_drain(struct relay *relay);

/* Closes every client connection and tunnel at once. */
void relay_close_all(struct relay *relay);

#endif
