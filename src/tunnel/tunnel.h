/*
 * The tunnel between an enabler and a relay.
 *
 * The enabler opens TLS to the relay and sends one HTTP/1.1 upgrade
 * request (the "hello") that names its farm and server id and carries its
 * token as a bearer credential. The relay answers 101 Switching Protocols,
 * or refuses with a plain status and a one-line reason. After the 101 both
 * sides speak HTTP/2 on the same connection with the roles reversed: the
 * relay is the HTTP/2 client and sends requests, the enabler is the server.
 *
 * This module holds what both ends share: the hello, the HTTP/2 session
 * settings, moving frames between a session and a bufferevent, and the
 * body buffer that feeds an HTTP/2 stream from an HTTP/1.1 peer with
 * bounded memory.
 */
#ifndef DRAWBRIDGE_TUNNEL_H
#define DRAWBRIDGE_TUNNEL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUNNEL_PROTOCOL        "drawbridge-tunnel/1"
#define TUNNEL_PROTOCOL_PREFIX "drawbridge-tunnel/"

/* The server URL suffixes that relays accept, IIS layout first. */
#define TUNNEL_SUFFIX_IIS    "/ias_relay_server/server/rs_server.dll"
#define TUNNEL_SUFFIX_APACHE "/srv/iarelayserver"

/* Header fields whose names start with this are control messages between
 * relay and enabler; the relay drops them from client requests. A request
 * with TUNNEL_CONTROL_FIELD set to TUNNEL_CONTROL_PEERS carries a new peer
 * list in TUNNEL_PEERS_FIELD, which is also a header of the 101 response. */
#define TUNNEL_CONTROL_PREFIX "drawbridge-"
#define TUNNEL_CONTROL_FIELD  "drawbridge-control"
#define TUNNEL_CONTROL_PEERS  "relay-peers"
#define TUNNEL_PEERS_FIELD    "drawbridge-relay-peers"

#define TUNNEL_ID_MAX    128
#define TUNNEL_TOKEN_MAX 512

/* HTTP/2 windows. The stream window bounds what one slow peer can make
 * the other side buffer; the connection window bounds a whole tunnel. */
#define TUNNEL_STREAM_WINDOW     (256 * 1024)
#define TUNNEL_CONNECTION_WINDOW (16 * 1024 * 1024)

/* Frames are written to the socket's buffer until it contains this many
 * bytes, and the rest waits for the buffer to drain. */
#define TUNNEL_OUTPUT_HIGH (128 * 1024)

/* A body buffer makes its producer pause above HIGH bytes and resume below
 * LOW bytes. */
#define TUNNEL_BODY_HIGH (128 * 1024)
#define TUNNEL_BODY_LOW  (32 * 1024)

/* The farm, server id and token that an enabler presents in its hello. */
struct tunnel_hello {
    char farm[TUNNEL_ID_MAX];
    char id[TUNNEL_ID_MAX];
    char token[TUNNEL_TOKEN_MAX];
    int version; /* from "drawbridge-tunnel/N" */
    bool probe;  /* check only: the relay answers 200 and opens no tunnel */
};

/* Writes the hello request for HELLO to OUT: a GET of SUFFIX with the farm
 * and id in the query (and probe=1 for a check that opens no tunnel), for
 * the relay named HOST_HEADER. Returns 0, or -1
 * when a value contains a byte that cannot be sent. */
int tunnel_hello_write(struct evbuffer *out, const char *host_header,
                       const char *suffix, const struct tunnel_hello *hello);

/* Reads a hello from a request's TARGET (path and query) and its Upgrade
 * and Authorization header values (either may be NULL). Returns 0 with
 * HELLO filled in, or the HTTP status to refuse with (400 malformed, 401
 * no bearer token, 426 unsupported tunnel version) and a one-line REASON.
 * Never copies the token into REASON. */
int tunnel_hello_parse(const char *target, const char *upgrade,
                       const char *authorization, struct tunnel_hello *hello,
                       char *reason, size_t size);

/* Returns true when PATH (without query) is a server URL suffix the relay
 * accepts. */
bool tunnel_is_server_path(const char *path, size_t len);

/* Compares two tokens in time that does not depend on where they differ. */
bool tunnel_token_equal(const char *expected, const char *given);

/* Sends the initial SETTINGS on SESSION: MAX_STREAMS concurrent streams
 * and the stream window, and raises the connection window. Returns 0 or a
 * negative nghttp2 error. */
int tunnel_session_start(nghttp2_session *session, uint32_t max_streams);

/* Sets nghttp2 options shared by both ends: manual window updates, so
 * that data is acknowledged only once its consumer has taken it. The
 * caller frees OPTION. Returns 0 or -1. */
int tunnel_session_options(nghttp2_option **option);

/* Feeds the bytes waiting in BEV's input to SESSION. Returns 0, or a
 * negative nghttp2 error after which the tunnel must close. */
int tunnel_session_receive(nghttp2_session *session, struct bufferevent *bev);

/* Writes frames that SESSION wants to send into BEV's output until it
 * holds TUNNEL_OUTPUT_HIGH bytes. Call again from the write callback.
 * Returns 0, or a negative nghttp2 error. */
int tunnel_session_flush(nghttp2_session *session, struct bufferevent *bev);

/* Returns true when SESSION neither wants to read nor to write: the peer
 * sent GOAWAY and every stream is done, or a fatal error occurred. */
bool tunnel_session_finished(nghttp2_session *session);

/* Liveness of a tunnel: every INTERVAL_MS without a received frame the
 * session sends a PING, which the peer must answer, and a tunnel that
 * receives nothing for TIMEOUT_MS is declared dead. This notices a peer
 * that stopped (a NAT that dropped the mapping, a frozen process) in
 * seconds instead of after the kernel's retransmission limit. */
struct tunnel_liveness {
    struct event *timer;
    nghttp2_session *session;
    int64_t last_frame_ms; /* monotonic time of the last received frame */
    int64_t last_ping_ms;  /* monotonic time of the last PING sent */
    unsigned interval_ms;
    unsigned timeout_ms;
    void (*on_ping)(void *owner); /* flush the session */
    void (*on_dead)(void *owner);
    void *owner;
};

/* Prepares LIVENESS on BASE. Returns 0, or -1 when out of memory. */
int tunnel_liveness_init(struct tunnel_liveness *liveness,
                         struct event_base *base, unsigned interval_ms,
                         unsigned timeout_ms, void (*on_ping)(void *),
                         void (*on_dead)(void *), void *owner);

/* Starts watching SESSION, counting from now. */
void tunnel_liveness_start(struct tunnel_liveness *liveness,
                           nghttp2_session *session);

/* Records that a frame arrived. */
void tunnel_liveness_touch(struct tunnel_liveness *liveness);

/* Stops watching, keeping LIVENESS reusable. */
void tunnel_liveness_stop(struct tunnel_liveness *liveness);

/* Frees the timer. */
void tunnel_liveness_free(struct tunnel_liveness *liveness);

/* A body travelling from an HTTP/1.1 peer into an HTTP/2 stream. The
 * producer pushes decoded body bytes; the stream's data provider takes
 * them. Memory is bounded because the producer stops reading its peer
 * while tunnel_body_full() is true and resumes from ON_DRAIN. */
struct tunnel_body {
    struct evbuffer *buf;
    nghttp2_session *session;
    int32_t stream_id;
    bool end;      /* the producer has pushed everything */
    bool deferred; /* the data provider is waiting for bytes */
    nghttp2_nv *trailers;
    size_t trailer_count;
    uint64_t sent;                 /* bytes handed to nghttp2 */
    void (*on_drain)(void *owner); /* called when it drops below LOW */
    void *owner;
};

/* Prepares BODY. Returns 0, or -1 when out of memory. */
int tunnel_body_init(struct tunnel_body *body, void (*on_drain)(void *),
                     void *owner);

/* Frees BODY's buffer and trailers. */
void tunnel_body_free(struct tunnel_body *body);

/* Attaches BODY to STREAM_ID of SESSION and fills PROVIDER for
 * nghttp2_submit_request or nghttp2_submit_response. */
void tunnel_body_attach(struct tunnel_body *body, nghttp2_session *session,
                        int32_t stream_id, nghttp2_data_provider *provider);

/* Appends LEN bytes and wakes the data provider; the caller then flushes
 * the session. Returns 0 or -1. */
int tunnel_body_push(struct tunnel_body *body, const void *data, size_t len);

/* Marks the end of the body, with TRAILERS (COUNT fields, copied; may be
 * 0) to send after it, and wakes the data provider. Returns 0 or -1. */
int tunnel_body_finish(struct tunnel_body *body, const nghttp2_nv *trailers,
                       size_t count);

/* Returns true while the producer should stop reading its peer. */
bool tunnel_body_full(const struct tunnel_body *body);

#endif
