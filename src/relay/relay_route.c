#include "relay/relay_route.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void relay_server_affinity(struct relay_server *server,
                                  const char *farm_id)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    server->affinity[0] = '\0';
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(ctx, farm_id, strlen(farm_id)) &&
        EVP_DigestUpdate(ctx, "/", 1) &&
        EVP_DigestUpdate(ctx, server->config->id, strlen(server->config->id)) &&
        EVP_DigestFinal_ex(ctx, digest, &len)) {
        for (int i = 0; i < 8; i++) {
            snprintf(server->affinity + i * 2, 3, "%02x", digest[i]);
        }
    }
    EVP_MD_CTX_free(ctx);
}

static int relay_retire_server(struct relay_retired *retired,
                               struct relay_server *server)
{
    struct relay_server **grown =
        realloc(retired->servers,
                (retired->server_count + 1) * sizeof(*retired->servers));

    if (grown == NULL) {
        return -1;
    }
    retired->servers = grown;
    retired->servers[retired->server_count++] = server;
    return 0;
}

/* Takes the state of server ID out of FARM's old list, or NULL. */
static struct relay_server *relay_take_server(struct relay_farm *farm,
                                              const char *id)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        struct relay_server *server = farm->servers[i];

        if (server != NULL && strcmp(server->config->id, id) == 0) {
            farm->servers[i] = NULL;
            return server;
        }
    }
    return NULL;
}

/* Gives FARM the server list of its section in CFG. Servers it had keep
 * their state; those the section dropped go to RETIRED. */
static int relay_farm_apply(struct relay_farm *farm, const struct config *cfg,
                            struct relay_retired *retired)
{
    struct relay_server **servers =
        calloc(cfg->server_count + 1, sizeof(*servers));
    size_t count = 0;

    if (servers == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cfg->server_count; i++) {
        const struct config_server *config = &cfg->servers[i];
        struct relay_server *server;

        if (!config->enable || strcmp(config->farm, farm->config->id) != 0) {
            continue;
        }
        server = relay_take_server(farm, config->id);
        if (server == NULL && (server = calloc(1, sizeof(*server))) != NULL) {
            TAILQ_INIT(&server->tunnels);
        }
        if (server == NULL) {
            break; /* NOTE: out of memory leaves the server unrouted */
        }
        server->config = config;
        server->farm = farm;
        relay_server_affinity(server, farm->config->id);
        servers[count++] = server;
    }
    for (size_t i = 0; i < farm->server_count; i++) {
        if (farm->servers[i] != NULL) {
            relay_retire_server(retired, farm->servers[i]);
        }
    }
    free(farm->servers);
    farm->servers = servers;
    farm->server_count = count;
    farm->next = 0;
    return 0;
}

/* Takes the farm ID out of ROUTES' old list, or makes a new one. */
static struct relay_farm *relay_take_farm(struct relay_routes *routes,
                                          const char *id)
{
    for (size_t i = 0; i < routes->farm_count; i++) {
        struct relay_farm *farm = routes->farms[i];

        if (farm != NULL && strcmp(farm->config->id, id) == 0) {
            routes->farms[i] = NULL;
            return farm;
        }
    }
    return calloc(1, sizeof(struct relay_farm));
}

static void relay_retire_farm(struct relay_retired *retired,
                              struct relay_farm *farm)
{
    struct relay_farm **grown = realloc(
        retired->farms, (retired->farm_count + 1) * sizeof(*retired->farms));

    for (size_t i = 0; i < farm->server_count; i++) {
        relay_retire_server(retired, farm->servers[i]);
    }
    if (grown != NULL) {
        retired->farms = grown;
        retired->farms[retired->farm_count++] = farm;
    }
}

int relay_routes_apply(struct relay_routes *routes, const struct config *cfg,
                       struct relay_retired *retired)
{
    struct relay_farm **farms = calloc(cfg->farm_count + 1, sizeof(*farms));
    size_t count = 0;

    if (farms == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cfg->farm_count; i++) {
        struct relay_farm *farm;

        if (!cfg->farms[i].enable) {
            continue;
        }
        farm = relay_take_farm(routes, cfg->farms[i].id);
        if (farm == NULL) {
            break;
        }
        farm->config = &cfg->farms[i];
        relay_farm_apply(farm, cfg, retired);
        farms[count++] = farm;
    }
    for (size_t i = 0; i < routes->farm_count; i++) {
        if (routes->farms[i] != NULL) {
            relay_retire_farm(retired, routes->farms[i]);
        }
    }
    free(routes->farms);
    routes->farms = farms;
    routes->farm_count = count;
    return 0;
}

int relay_routes_init(struct relay_routes *routes, const struct config *cfg)
{
    struct relay_retired retired = {0};
    int rc;

    memset(routes, 0, sizeof(*routes));
    rc = relay_routes_apply(routes, cfg, &retired);
    relay_retired_free(&retired);
    return rc;
}

void relay_retired_free(struct relay_retired *retired)
{
    for (size_t i = 0; i < retired->server_count; i++) {
        free(retired->servers[i]);
    }
    for (size_t i = 0; i < retired->farm_count; i++) {
        free(retired->farms[i]->servers);
        free(retired->farms[i]);
    }
    free(retired->servers);
    free(retired->farms);
    memset(retired, 0, sizeof(*retired));
}

void relay_routes_free(struct relay_routes *routes)
{
    struct relay_retired retired = {0};

    for (size_t i = 0; i < routes->farm_count; i++) {
        relay_retire_farm(&retired, routes->farms[i]);
    }
    relay_retired_free(&retired);
    free(routes->farms);
    memset(routes, 0, sizeof(*routes));
}

/* Matches PREFIX at the start of TARGET, case-insensitively as IIS does,
 * followed by "/" or the end of the path. Returns its length or 0. */
static size_t relay_prefix_match(const char *target, const char *prefix)
{
    size_t len = strlen(prefix);

    while (len > 0 && prefix[len - 1] == '/') {
        len--;
    }
    if (len == 0 || strncasecmp(target, prefix, len) != 0) {
        return 0;
    }
    if (target[len] != '/' && target[len] != '\0' && target[len] != '?') {
        return 0;
    }
    return len;
}

int relay_target_split(const char *target, const char *client_prefix,
                       struct relay_target *out)
{
    const char *prefixes[] = {RELAY_PREFIX_IIS, RELAY_PREFIX_APACHE,
                              client_prefix};
    size_t len = 0;

    for (size_t i = 0; i < 3 && len == 0; i++) {
        if (prefixes[i] != NULL) {
            len = relay_prefix_match(target, prefixes[i]);
        }
    }
    if (len == 0) {
        return -1;
    }

    const char *farm = target + len;
    if (*farm == '/') {
        farm++;
    }
    size_t farm_len = strcspn(farm, "/?");
    if (farm_len == 0) {
        return 1;
    }
    out->farm = farm;
    out->farm_len = farm_len;
    out->rest = farm + farm_len;
    out->prefix_len = (size_t)(out->rest - target);
    return 0;
}

struct relay_farm *relay_routes_farm(struct relay_routes *routes,
                                     const char *id, size_t len)
{
    for (size_t i = 0; i < routes->farm_count; i++) {
        const char *farm_id = routes->farms[i]->config->id;

        if (strlen(farm_id) == len && memcmp(farm_id, id, len) == 0) {
            return routes->farms[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_server(struct relay_farm *farm, const char *id)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        if (strcmp(farm->servers[i]->config->id, id) == 0) {
            return farm->servers[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_affinity(struct relay_farm *farm,
                                         const char *value, size_t len)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        const char *affinity = farm->servers[i]->affinity;

        if (len == strlen(affinity) && memcmp(affinity, value, len) == 0) {
            return farm->servers[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_pick(struct relay_farm *farm,
                                     struct relay_server *preferred,
                                     bool (*usable)(struct relay_server *))
{
    struct relay_server *best = NULL;
    size_t best_index = 0;

    if (preferred != NULL && usable(preferred)) {
        return preferred;
    }
    /* Scanning from the round-robin position makes the first of several
     * equally loaded servers a different one each time. */
    for (size_t n = 0; n < farm->server_count; n++) {
        size_t i = (farm->next + n) % farm->server_count;
        struct relay_server *server = farm->servers[i];

        if (!usable(server)) {
            continue;
        }
        if (best == NULL || server->in_flight < best->in_flight) {
            best = server;
            best_index = i;
        }
    }
    if (best != NULL) {
        farm->next = (best_index + 1) % farm->server_count;
    }
    return best;
}

bool relay_farm_connected(const struct relay_farm *farm)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        if (farm->servers[i]->tunnel_count > 0) {
            return true;
        }
    }
    return false;
}

const double relay_duration_bounds[RELAY_DURATION_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void relay_server_count(struct relay_server *server, int status,
                        uint64_t bytes_in, uint64_t bytes_out, long ms)
{
    struct relay_histogram *histogram = &server->farm->durations;
    double seconds = ms / 1000.0;
    int class = status / 100;

    server->counters.by_class[class >= 1 && class <= 5 ? class : 0]++;
    server->counters.bytes_in += bytes_in;
    server->counters.bytes_out += bytes_out;
    for (int i = 0; i < RELAY_DURATION_BUCKETS; i++) {
        if (seconds <= relay_duration_bounds[i]) {
            histogram->buckets[i]++;
        }
    }
    histogram->count++;
    histogram->sum += seconds;
}
