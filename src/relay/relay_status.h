/*
 * The relay's status page, at a client prefix with no farm: an HTML page,
 * or the same data as JSON with ?format=json. It shows each farm's
 * availability and each server's tunnels, load and last refused tunnel
 * request, and never a token. `status_page` in [options] decides who may
 * see it.
 */
#ifndef DRAWBRIDGE_RELAY_STATUS_H
#define DRAWBRIDGE_RELAY_STATUS_H

#include "http1/http1.h"
#include "relay/relay.h"

#include <stdbool.h>

struct relay_client;

/* Returns true when HEAD asks for the status page: its target is a client
 * prefix with no farm after it. */
bool relay_status_requested(const struct relay *relay,
                            const struct http1_head *head);

/* Responds to HEAD on CLIENT with the status page, narrowed by ?farm=F and
 * ?farm=F&server=S, or with 403 (not allowed for the client's address),
 * 404 (status_page = off, or an unknown farm or server) or 405 (a method
 * other than GET and HEAD). */
void relay_status_serve(struct relay_client *client,
                        const struct http1_head *head);

#endif
