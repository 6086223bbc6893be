/*
 * Routing on the relay: client URL prefixes, and the runtime state of
 * farms, backend servers and their tunnels, with the choice of the server
 * and tunnel that carry each request.
 */
#ifndef DRAWBRIDGE_RELAY_ROUTE_H
#define DRAWBRIDGE_RELAY_ROUTE_H

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

/* The client URL prefixes that existing relay clients use. */
#define RELAY_PREFIX_IIS    "/ias_relay_server/client/rs_client.dll"
#define RELAY_PREFIX_APACHE "/cli/iarelayserver"

struct relay_tunnel;

/* Upper bounds of the request duration histogram, in seconds. */
#define RELAY_DURATION_BUCKETS 11
extern const double relay_duration_bounds[RELAY_DURATION_BUCKETS];

/* Counters of finished requests, for /metrics. */
struct relay_counters {
    uint64_t by_class[6]; /* index status / 100; 0 = no status */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t tunnels_accepted;
};

/* Request durations of a farm, as a cumulative histogram. */
struct relay_histogram {
    uint64_t buckets[RELAY_DURATION_BUCKETS]; /* at most each bound */
    uint64_t count;
    double sum; /* seconds */
};

/* The latest tunnel request that the relay refused, for the status page.
 * The reason never contains the token. */
struct relay_refusal {
    time_t at; /* 0 = none */
    int status;
    char peer[64];
    char reason[256];
};

/* A backend server and the tunnels its enablers hold open. */
struct relay_server {
    const struct config_server *config;
    struct relay_farm *farm;
    TAILQ_HEAD(, relay_tunnel) tunnels;
    size_t tunnel_count;
    unsigned in_flight; /* requests sent and not yet finished */
    /* The affinity value that names this server to clients: 16 hex digits
     * of SHA-256 over "FARM/ID", the same on every relay of a relay farm,
     * which does not reveal the server's id. */
    char affinity[17];
    uint64_t requests; /* requests routed here since start */
    struct relay_counters counters;
    struct relay_refusal refusal;
};

struct relay_farm {
    const struct config_farm *config;
    struct relay_server **servers;
    size_t server_count;
    size_t next; /* round-robin position among equally loaded servers */
    struct relay_histogram durations;
    struct relay_refusal refusal; /* for ids that name no server */
};

struct relay_routes {
    struct relay_farm **farms;
    size_t farm_count;
};

/* Farms and servers that a new configuration dropped, with their tunnels
 * still open until the caller closes them. */
struct relay_retired {
    struct relay_server **servers;
    size_t server_count;
    struct relay_farm **farms;
    size_t farm_count;
};

/* The farm and the rest of a client request's target, split from it. */
struct relay_target {
    const char *farm; /* points into the caller's buffer */
    size_t farm_len;
    const char *rest;  /* path and query after the farm, may be "" */
    size_t prefix_len; /* bytes of prefix and farm, for X-Forwarded-Prefix */
};

/* Builds the runtime state for CFG's enabled farms and servers. Returns
 * 0, or -1 when out of memory. CFG must outlive ROUTES. */
int relay_routes_init(struct relay_routes *routes, const struct config *cfg);

/* Rebuilds ROUTES for CFG, which must outlive them. Farms and servers that
 * CFG keeps enabled, by id, keep their tunnels and counters and point at
 * CFG's sections from now on. Those it dropped move to RETIRED, pointing
 * at the old configuration: the caller closes their tunnels while that
 * configuration is still loaded, then frees RETIRED with
 * relay_retired_free. Returns 0, or -1 when out of memory. */
int relay_routes_apply(struct relay_routes *routes, const struct config *cfg,
                       struct relay_retired *retired);

/* Frees the farms and servers in RETIRED, whose tunnels must be closed. */
void relay_retired_free(struct relay_retired *retired);

/* Frees ROUTES. Tunnels must have been closed first. */
void relay_routes_free(struct relay_routes *routes);

/* Splits TARGET (origin-form, "/prefix/farm/rest?query") by one of the
 * accepted prefixes, or CLIENT_PREFIX when it is not NULL. Returns 0, 1
 * when TARGET starts with a prefix but names no farm, or -1 when it starts
 * with none. */
int relay_target_split(const char *target, const char *client_prefix,
                       struct relay_target *out);

/* Returns the farm whose id equals ID (LEN bytes, case-sensitive), or
 * NULL. */
struct relay_farm *relay_routes_farm(struct relay_routes *routes,
                                     const char *id, size_t len);

/* Returns the server ID of FARM, or NULL. */
struct relay_server *relay_farm_server(struct relay_farm *farm, const char *id);

/* Returns the server of FARM whose affinity value is the LEN bytes at
 * VALUE, or NULL. */
struct relay_server *relay_farm_affinity(struct relay_farm *farm,
                                         const char *value, size_t len);

/* Picks the server for a request among those for which USABLE is true
 * (a tunnel that takes new streams): PREFERRED when it is usable,
 * otherwise the usable server with the fewest requests in flight, round
 * robin among equals. Returns NULL when no server of FARM is usable. */
struct relay_server *relay_farm_pick(struct relay_farm *farm,
                                     struct relay_server *preferred,
                                     bool (*usable)(struct relay_server *));

/* Counts a finished request of SERVER with STATUS, its body bytes each way
 * and its duration in milliseconds. */
void relay_server_count(struct relay_server *server, int status,
                        uint64_t bytes_in, uint64_t bytes_out, long ms);

/* Returns true when a server of FARM has at least one tunnel. */
bool relay_farm_connected(const struct relay_farm *farm);

#endif
