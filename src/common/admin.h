/*
 * A minimal admin HTTP listener that serves GET /metrics and nothing else,
 * for the relay and the enabler. Each scrape gets a fresh text from the
 * owner's callback, and the connection closes after the response.
 */
#ifndef DRAWBRIDGE_ADMIN_H
#define DRAWBRIDGE_ADMIN_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

/* Writes the owner's metrics in the Prometheus text format to OUT. */
typedef void (*admin_metrics_fn)(void *owner, struct evbuffer *out);

struct admin;

/* Binds ADDRESS (an IP address) and PORT on BASE and serves /metrics from
 * WRITE. Returns the listener, which the caller frees with admin_free, or
 * NULL after logging what failed. */
struct admin *admin_listen(struct event_base *base, const char *address,
                           int port, admin_metrics_fn write, void *owner);

/* Closes the listener. Connections in progress finish on their own. */
void admin_free(struct admin *admin);

#endif
