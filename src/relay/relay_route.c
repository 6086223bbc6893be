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

static int relay_farm_init(struct relay_farm *farm,
                           const struct config_farm *config,
                           const struct config *cfg)
{
    size_t count = 0;

    farm->config = config;
    for (size_t i = 0; i < cfg->server_count; i++) {
        const struct config_server *server = &cfg->servers[i];

        count += server->enable && strcmp(server->farm, config->id) == 0;
    }
    farm->servers = calloc(count > 0 ? count : 1, sizeof(*farm->servers));
    if (farm->servers == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cfg->server_count; i++) {
        const struct config_server *server = &cfg->servers[i];
        struct relay_server *state;

        if (!server->enable || strcmp(server->farm, config->id) != 0) {
            continue;
        }
        state = &farm->servers[farm->server_count++];
        state->config = server;
        state->farm = farm;
        TAILQ_INIT(&state->tunnels);
        relay_server_affinity(state, config->id);
    }
    return 0;
}

int relay_routes_init(struct relay_routes *routes, const struct config *cfg)
{
    memset(routes, 0, sizeof(*routes));
    routes->farms = calloc(cfg->farm_count > 0 ? cfg->farm_count : 1,
                           sizeof(*routes->farms));
    if (routes->farms == NULL) {
        return -1;
    }
    for (size_t i = 0; i < cfg->farm_count; i++) {
        if (!cfg->farms[i].enable) {
            continue;
        }
        if (relay_farm_init(&routes->farms[routes->farm_count], &cfg->farms[i],
                            cfg) != 0) {
            relay_routes_free(routes);
            return -1;
        }
        routes->farm_count++;
    }
    return 0;
}

void relay_routes_free(struct relay_routes *routes)
{
    for (size_t i = 0; i < routes->farm_count; i++) {
        free(routes->farms[i].servers);
    }
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
        const char *farm_id = routes->farms[i].config->id;

        if (strlen(farm_id) == len && memcmp(farm_id, id, len) == 0) {
            return &routes->farms[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_server(struct relay_farm *farm, const char *id)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        if (strcmp(farm->servers[i].config->id, id) == 0) {
            return &farm->servers[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_affinity(struct relay_farm *farm,
                                         const char *value, size_t len)
{
    for (size_t i = 0; i < farm->server_count; i++) {
        const char *affinity = farm->servers[i].affinity;

        if (len == strlen(affinity) && memcmp(affinity, value, len) == 0) {
            return &farm->servers[i];
        }
    }
    return NULL;
}

struct relay_server *relay_farm_pick(struct relay_farm *farm,
                                     struct relay_server *preferred)
{
    struct relay_server *best = NULL;
    size_t best_index = 0;

    if (preferred != NULL && preferred->tunnel_count > 0) {
        return preferred;
    }
    /* Scanning from the round-robin position makes the first of several
     * equally loaded servers a different one each time. */
    for (size_t n = 0; n < farm->server_count; n++) {
        size_t i = (farm->next + n) % farm->server_count;
        struct relay_server *server = &farm->servers[i];

        if (server->tunnel_count == 0) {
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
        if (farm->servers[i].tunnel_count > 0) {
            return true;
        }
    }
    return false;
}
