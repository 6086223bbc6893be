/*
 * The relay's end of enabler tunnels: accepting the hello, the HTTP/2
 * client session, and closing with a logged cause.
 */
#ifndef DRAWBRIDGE_RELAY_TUNNEL_H
#define DRAWBRIDGE_RELAY_TUNNEL_H

#include "relay/relay.h"
#include "tunnel/tunnel.h"

#include <event2/bufferevent.h>

/* Checks HELLO from PEER against the configuration. On success writes the
 * 101 response on BEV, takes BEV over as a new tunnel and returns 0, or
 * for a probe returns 200 with a REASON that says it would be accepted.
 * On refusal returns the HTTP status (401, 403, 404) with a one-line
 * REASON for the enabler, and BEV stays with the caller. */
int relay_tunnel_accept(struct relay *relay, struct bufferevent *bev, bool tls,
                        const char *peer, const struct tunnel_hello *hello,
                        char *reason, size_t size);

/* Returns the tunnel of SERVER with the fewest open streams that can take
 * one more, or NULL. */
struct relay_tunnel *relay_server_tunnel(struct relay_server *server);

/* Returns true when SERVER has a tunnel that takes a new stream: open, not
 * draining after a GOAWAY, and below its stream limit. */
bool relay_server_usable(struct relay_server *server);

/* Opens a stream on TUNNEL for EX with the request head NV (COUNT fields)
 * and, when PROVIDER is not NULL, a body. Returns the stream id, or a
 * negative nghttp2 error. */
int32_t relay_tunnel_submit(struct relay_tunnel *tunnel,
                            struct relay_exchange *ex, const nghttp2_nv *nv,
                            size_t count, nghttp2_data_provider *provider);

/* Detaches EX from its stream and resets the stream with CANCEL. */
void relay_tunnel_cancel(struct relay_exchange *ex);

/* Acknowledges LEN body bytes of STREAM_ID, reopening its window. */
void relay_tunnel_consume(struct relay_tunnel *tunnel, int32_t stream_id,
                          size_t len);

/* Schedules sending what the session has queued, from the event loop. A
 * failure then closes the tunnel. */
void relay_tunnel_flush(struct relay_tunnel *tunnel);

/* Sends the enabler of TUNNEL the current list of the relay farm's other
 * relays, as after a reload, in a control request. */
void relay_tunnel_send_peers(struct relay_tunnel *tunnel);

/* Closes TUNNEL now: fails its streams, logs CAUSE and frees it. */
void relay_tunnel_close(struct relay_tunnel *tunnel, const char *cause);

#endif
