#include "common/config.h"
#include "common/log.h"
#include "relay/relay.h"
#include "relay/relay_client.h"
#include "relay/relay_tunnel.h"
#include "tls/tls_context.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char relay_help[] =
    "Usage: drawbridge relay -c FILE [--id ID] [-v LEVEL] [--check]\n"
    "\n"
    "Runs the relay server described by FILE, in rs.config syntax: it\n"
    "accepts client HTTPS and HTTP requests and enabler tunnels on the\n"
    "ports of its [relay_server] section.\n"
    "\n"
    "  -c, --config FILE    the configuration file\n"
    "  --id ID              the [relay_server] section to run (default: the\n"
    "                       only one)\n"
    "  -v, --verbosity N    log level 0 (errors) to 4 (trace); overrides the\n"
    "                       file's verbosity\n"
    "  --check              check the configuration and certificates, then\n"
    "                       exit\n"
    "  --reload             make the running relay re-read FILE and its\n"
    "                       certificates: sends SIGHUP to the process in\n"
    "                       the file's pid_file\n"
    "\n"
    "SIGTERM or SIGINT stops accepting, lets requests in flight finish\n"
    "within shutdown_timeout, and exits 0. SIGHUP reloads the file and the\n"
    "certificates without dropping connections; a file with errors is\n"
    "rejected as a whole and the running configuration stays.\n";

struct relay_args {
    const char *config;
    const char *id;
    int verbosity; /* -1 = from the file */
    bool check;
    bool reload;
};

static int relay_parse_args(int argc, char **argv, struct relay_args *args)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"verbosity", required_argument, NULL, 'v'},
        {"check", no_argument, NULL, 'k'},
        {"reload", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    args->verbosity = -1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:v:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            args->config = optarg;
            break;
        case 'i':
            args->id = optarg;
            break;
        case 'v':
            if (optarg[0] < '0' || optarg[0] > '5' || optarg[1] != '\0') {
                log_error("relay: invalid verbosity '%s'; give a number from "
                          "0 (errors only) to 5",
                          optarg);
                return 2;
            }
            args->verbosity = optarg[0] - '0';
            break;
        case 'k':
            args->check = true;
            break;
        case 'r':
            args->reload = true;
            break;
        case 'h':
            fputs(relay_help, stdout);
            return 1;
        default:
            log_error("relay: unknown option or missing value at '%s'; see "
                      "'drawbridge relay --help'",
                      argv[optind - 1]);
            return 2;
        }
    }
    if (args->config == NULL || optind < argc) {
        log_error("relay: give the configuration file with -c FILE; see "
                  "'drawbridge relay --help'");
        return 2;
    }
    return 0;
}

static int relay_open_log(const struct config *cfg,
                          const struct relay_args *args)
{
    FILE *stream;

    log_set_style(LOG_STYLE_SERVICE);
    log_set_level(args->verbosity >= 0 ? args->verbosity
                                       : cfg->options.verbosity);
    if (cfg->options.log_file == NULL) {
        return 0;
    }
    stream = fopen(cfg->options.log_file, "a");
    if (stream == NULL) {
        log_error("cannot open the log file %s: %s", cfg->options.log_file,
                  strerror(errno));
        return -1;
    }
    setvbuf(stream, NULL, _IOLBF, 0);
    log_set_stream(stream);
    return 0;
}

static SSL_CTX *relay_tls_context(const struct config *cfg)
{
    struct tls_server_files files = {
        .certificate = cfg->options.tls_certificate,
        .private_key = cfg->options.tls_private_key,
        .pkcs12 = cfg->options.tls_pkcs12,
        .pkcs12_password_file = cfg->options.tls_pkcs12_password_file,
    };

    return tls_server_context_new(&files);
}

void relay_close_all(struct relay *relay)
{
    struct relay_client *client;

    while ((client = LIST_FIRST(&relay->clients)) != NULL) {
        relay_client_abort(client);
    }
    for (size_t i = 0; i < relay->routes.farm_count; i++) {
        struct relay_farm *farm = relay->routes.farms[i];

        for (size_t j = 0; j < farm->server_count; j++) {
            struct relay_tunnel *tunnel;

            while ((tunnel = TAILQ_FIRST(&farm->servers[j]->tunnels)) != NULL) {
                relay_tunnel_close(tunnel, "the relay is stopping");
            }
        }
    }
}

static void relay_on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
    struct relay *relay = arg;
    struct timespec now;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (relay->client_count > 0 &&
        now.tv_sec * 1000 + now.tv_nsec / 1000000 < relay->stop_deadline_ms) {
        return;
    }
    if (relay->client_count > 0) {
        log_warn("stopping: %zu client connection(s) still open after %u s; "
                 "closing them",
                 relay->client_count,
                 (relay->config->options.shutdown_timeout_ms + 999) / 1000);
    }
    relay_close_all(relay);
    event_base_loopexit(relay->base, NULL);
}

static void relay_stop(struct relay *relay, const char *signal_name)
{
    struct timeval tick = {0, 100000};
    struct timespec now;

    if (relay->stopping) {
        log_warn("second %s: stopping at once", signal_name);
        relay_close_all(relay);
        event_base_loopexit(relay->base, NULL);
        return;
    }
    relay->stopping = true;
    clock_gettime(CLOCK_MONOTONIC, &now);
    relay->stop_deadline_ms = now.tv_sec * 1000 + now.tv_nsec / 1000000 +
                              relay->config->options.shutdown_timeout_ms;
    log_info("stopping on %s: no new connections, waiting for %zu client "
             "connection(s)",
             signal_name, relay->client_count);
    relay_unlisten(relay);
    relay_clients_drain(relay);
    relay->stop_timer =
        event_new(relay->base, -1, EV_PERSIST, relay_on_stop_tick, relay);
    event_add(relay->stop_timer, &tick);
}

static void relay_on_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    if (signo == SIGHUP) {
        relay_reload(arg);
        return;
    }
    relay_stop(arg, signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int relay_trusted_proxies(struct relay *relay)
{
    const struct config_options *opts = &relay->config->options;

    if (opts->trusted_proxy_count == 0) {
        return 0;
    }
    relay->trusted_proxies =
        calloc(opts->trusted_proxy_count, sizeof(*relay->trusted_proxies));
    if (relay->trusted_proxies == NULL) {
        return -1;
    }
    for (size_t i = 0; i < opts->trusted_proxy_count; i++) {
        if (proxy_network_parse(opts->trusted_proxies[i],
                                &relay->trusted_proxies[i]) != 0) {
            log_error("invalid trusted_proxies entry '%s'",
                      opts->trusted_proxies[i]);
            return -1;
        }
    }
    relay->trusted_proxy_count = opts->trusted_proxy_count;
    return 0;
}

static int relay_setup(struct relay *relay, const struct relay_args *args)
{
    relay->self = config_find_relay(relay->config, args->id);
    if (relay->self == NULL) {
        log_error("%s has no [relay_server] section %s%s; give --id with "
                  "the id or host of one section",
                  args->config, args->id ? "with id " : "",
                  args->id ? args->id : "that can be chosen alone");
        return -1;
    }
    if (relay->self->https_port != 0) {
        relay->ssl_ctx = relay_tls_context(relay->config);
        if (relay->ssl_ctx == NULL) {
            return -1;
        }
    }
    if (relay_trusted_proxies(relay) != 0 ||
        relay_routes_init(&relay->routes, relay->config) != 0) {
        return -1;
    }
    relay->base = event_base_new();
    if (relay->base == NULL) {
        return -1;
    }
    LIST_INIT(&relay->clients);
    LIST_INIT(&relay->pending);
    relay->signal_term =
        evsignal_new(relay->base, SIGTERM, relay_on_signal, relay);
    relay->signal_int =
        evsignal_new(relay->base, SIGINT, relay_on_signal, relay);
    relay->signal_hup =
        evsignal_new(relay->base, SIGHUP, relay_on_signal, relay);
    if (relay->signal_term == NULL || relay->signal_int == NULL ||
        event_add(relay->signal_term, NULL) != 0 ||
        event_add(relay->signal_int, NULL) != 0 || relay->signal_hup == NULL ||
        event_add(relay->signal_hup, NULL) != 0) {
        return -1;
    }
    return 0;
}

static void relay_teardown(struct relay *relay)
{
    if (relay->base != NULL) {
        relay_close_all(relay);
    }
    relay_unlisten(relay);
    relay_admin_unlisten(relay);
    if (relay->stop_timer != NULL) {
        event_free(relay->stop_timer);
    }
    if (relay->signal_term != NULL) {
        event_free(relay->signal_term);
    }
    if (relay->signal_int != NULL) {
        event_free(relay->signal_int);
    }
    if (relay->signal_hup != NULL) {
        event_free(relay->signal_hup);
    }
    relay_routes_free(&relay->routes);
    relay_pending_close_all(relay);
    free(relay->trusted_proxies);
    SSL_CTX_free(relay->ssl_ctx);
    if (relay->base != NULL) {
        event_base_free(relay->base);
    }
}

int relay_main(int argc, char **argv)
{
    struct relay_args args = {0};
    struct config *config = calloc(1, sizeof(*config));
    struct relay relay = {0};
    int rc = relay_parse_args(argc, argv, &args);

    if (rc == 1) {
        free(config); /* --help was printed */
        return 0;
    }
    if (rc != 0 || config == NULL) {
        free(config);
        return rc != 0 ? rc : 1;
    }
    if (config_load(args.config, config) != 0) {
        free(config);
        return 1;
    }
    if (args.reload) {
        /* The certificates are checked too, so that a file the relay
         * would reject is reported here and the relay is not signalled. */
        SSL_CTX *check = NULL;

        if (config->options.tls_certificate != NULL ||
            config->options.tls_pkcs12 != NULL) {
            check = relay_tls_context(config);
        }
        rc = check == NULL && (config->options.tls_certificate != NULL ||
                               config->options.tls_pkcs12 != NULL)
                 ? 1
                 : relay_send_reload(config);
        SSL_CTX_free(check);
        config_free(config);
        free(config);
        return rc;
    }
    relay.config = config;
    relay.relay_id = args.id;
    relay.verbosity_override = args.verbosity;
    rc = 1;
    if (relay_open_log(config, &args) != 0 || relay_setup(&relay, &args)) {
        goto out;
    }
    if (args.check) {
        printf("%s: the configuration and certificates are valid\n",
               args.config);
        rc = 0;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (relay_listen(&relay) != 0 || relay_admin_listen(&relay) != 0 ||
        relay_pid_file_write(&relay) != 0) {
        goto out;
    }
    relay.started = time(NULL);
    log_info("relay %s started: drawbridge %s, %zu farm(s)", relay.self->id,
             DRAWBRIDGE_VERSION, relay.routes.farm_count);
    event_base_dispatch(relay.base);
    log_info("relay %s stopped", relay.self->id);
    rc = 0;

out:
    relay_teardown(&relay);
    relay_pid_file_remove(&relay);
    config_free(relay.config);
    free(relay.config);
    log_set_stream(NULL);
    return rc;
}
