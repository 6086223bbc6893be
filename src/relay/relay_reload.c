/*
 * Reloading the relay's configuration and certificates without dropping
 * connections, and the pid file that `drawbridge relay --reload` uses to
 * find the running relay.
 */
#include "common/log.h"
#include "relay/relay.h"
#include "relay/relay_tunnel.h"
#include "tls/tls_context.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The parts of a new configuration that must all be built before it
 * replaces the running one, so that a failed reload changes nothing. */
struct relay_next {
    struct config *config;
    const struct config_relay *self;
    SSL_CTX *ssl_ctx;
    struct proxy_network *trusted;
};

static void relay_next_free(struct relay_next *next)
{
    SSL_CTX_free(next->ssl_ctx);
    free(next->trusted);
    if (next->config != NULL) {
        config_free(next->config);
        free(next->config);
    }
}

static int relay_next_tls(const struct relay *relay, struct relay_next *next)
{
    const struct config_options *opts = &next->config->options;
    struct tls_server_files files = {
        .certificate = opts->tls_certificate,
        .private_key = opts->tls_private_key,
        .pkcs12 = opts->tls_pkcs12,
        .pkcs12_password_file = opts->tls_pkcs12_password_file,
    };

    if (relay->ssl_ctx == NULL) {
        return 0; /* no HTTPS listener to serve it on */
    }
    next->ssl_ctx = tls_server_context_new(&files);
    return next->ssl_ctx != NULL ? 0 : -1;
}

static int relay_next_trusted(struct relay_next *next)
{
    const struct config_options *opts = &next->config->options;

    next->trusted =
        calloc(opts->trusted_proxy_count + 1, sizeof(*next->trusted));
    if (next->trusted == NULL) {
        return -1;
    }
    for (size_t i = 0; i < opts->trusted_proxy_count; i++) {
        if (proxy_network_parse(opts->trusted_proxies[i], &next->trusted[i]) !=
            0) {
            return -1;
        }
    }
    return 0;
}

static void relay_next_warn_listeners(const struct relay *relay,
                                      const struct relay_next *next)
{
    const struct config_relay *old = relay->self;

    if (old->http_port != next->self->http_port ||
        old->https_port != next->self->https_port ||
        relay->config->options.listen_count !=
            next->config->options.listen_count) {
        log_warn("reload: ports and listen addresses change only when the "
                 "relay restarts; it keeps listening as before");
    }
}

static int relay_next_build(const struct relay *relay, struct relay_next *next)
{
    next->config = calloc(1, sizeof(*next->config));
    if (next->config == NULL ||
        config_load(relay->config->path, next->config) != 0) {
        return -1;
    }
    next->self = config_find_relay(next->config, relay->relay_id);
    if (next->self == NULL) {
        log_error("reload: %s has no enabled [relay_server] section %s",
                  relay->config->path,
                  relay->relay_id ? relay->relay_id : "that can be chosen");
        return -1;
    }
    if (relay_next_tls(relay, next) != 0 || relay_next_trusted(next) != 0) {
        return -1;
    }
    relay_next_warn_listeners(relay, next);
    return 0;
}

/* Closes the tunnels of servers that the new configuration dropped. */
static void relay_close_retired(struct relay_retired *retired)
{
    for (size_t i = 0; i < retired->server_count; i++) {
        struct relay_tunnel *tunnel;

        while ((tunnel = TAILQ_FIRST(&retired->servers[i]->tunnels)) != NULL) {
            relay_tunnel_close(tunnel, "the server was removed from the "
                                       "configuration or disabled");
        }
    }
}

/* Sends every connected enabler the relay farm as the new file has it. */
static void relay_reload_tell_peers(struct relay *relay)
{
    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        struct relay_farm *farm = relay->routes.farms[i];

        for (size_t j = 0; j < farm->server_count; j++) {
            struct relay_tunnel *tunnel;

            TAILQ_FOREACH(tunnel, &farm->servers[j]->tunnels, link)
            {
                relay_tunnel_send_peers(tunnel);
            }
        }
    }
}

void relay_reload(struct relay *relay)
{
    struct relay_next next = {0};
    struct relay_retired retired = {0};
    struct config *old = relay->config;

    log_info("reloading %s", old->path);
    if (relay_next_build(relay, &next) != 0 ||
        relay_routes_apply(&relay->routes, next.config, &retired) != 0) {
        log_error("reload rejected: the running configuration stays; fix "
                  "the errors above and reload again");
        relay_next_free(&next);
        return;
    }
    relay_close_retired(&retired);
    relay_retired_free(&retired);

    if (next.ssl_ctx != NULL) {
        /* Open connections keep a reference to the old context. */
        SSL_CTX_free(relay->ssl_ctx);
        relay->ssl_ctx = next.ssl_ctx;
    }
    free(relay->trusted_proxies);
    relay->trusted_proxies = next.trusted;
    relay->trusted_proxy_count = next.config->options.trusted_proxy_count;
    relay->config = next.config;
    relay->self = next.self;
    if (relay->verbosity_override < 0) {
        log_set_level(relay->config->options.verbosity);
    }
    config_free(old);
    free(old);
    relay_reload_tell_peers(relay);
    log_info("reloaded %s: %zu farm(s)", relay->config->path,
             relay->routes.farm_count);
}

int relay_pid_file_write(struct relay *relay)
{
    const char *path = relay->config->options.pid_file;
    FILE *fp;

    if (path == NULL) {
        return 0;
    }
    fp = fopen(path, "w");
    if (fp == NULL) {
        log_error("cannot write the pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(fp, "%ld\n", (long)getpid());
    fclose(fp);
    relay->pid_file_written = true;
    return 0;
}

void relay_pid_file_remove(const struct relay *relay)
{
    if (relay->pid_file_written && relay->config->options.pid_file != NULL) {
        unlink(relay->config->options.pid_file);
    }
}

int relay_send_reload(const struct config *cfg)
{
    const char *path = cfg->options.pid_file;
    FILE *fp;
    long pid = 0;

    if (path == NULL) {
        log_error("%s sets no pid_file, so the running relay cannot be "
                  "found; add pid_file = PATH to [options] and restart the "
                  "relay, or send it SIGHUP",
                  cfg->path);
        return 1;
    }
    fp = fopen(path, "r");
    if (fp == NULL || fscanf(fp, "%ld", &pid) != 1 || pid <= 1) {
        log_error("cannot read a process id from %s; check that the relay "
                  "runs",
                  path);
        if (fp != NULL) {
            fclose(fp);
        }
        return 1;
    }
    fclose(fp);
    if (kill((pid_t)pid, SIGHUP) != 0) {
        log_error("cannot signal relay process %ld from %s: %s", pid, path,
                  strerror(errno));
        return 1;
    }
    printf("sent SIGHUP to relay process %ld; its log shows the result\n", pid);
    return 0;
}
