#include "common/admin.h"
#include "common/log.h"
#include "enabler/enabler.h"
#include "enabler/enabler_exchange.h"
#include "tls/tls_context.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int enabler_open_log(const struct enabler_options *opts)
{
    FILE *stream;

    log_set_style(LOG_STYLE_SERVICE);
    log_set_level(opts->verbosity);
    if (opts->log_file[0] == '\0') {
        return 0;
    }
    stream = fopen(opts->log_file, "a");
    if (stream == NULL) {
        log_error("cannot open the log file %s: %s", opts->log_file,
                  strerror(errno));
        return -1;
    }
    setvbuf(stream, NULL, _IOLBF, 0);
    log_set_stream(stream);
    return 0;
}

static int enabler_contexts(struct enabler *enabler)
{
    const struct enabler_options *opts = enabler->opts;

    if (opts->insecure_skip_verify && opts->relay.tls) {
        log_warn("--insecure-skip-verify: the relay's certificate is not "
                 "checked, so anyone on the path can pose as the relay and "
                 "read the token");
    }
    if (opts->relay.tls) {
        enabler->relay_ctx =
            tls_client_context_new(opts->ca_file[0] ? opts->ca_file : NULL,
                                   !opts->insecure_skip_verify);
        if (enabler->relay_ctx == NULL) {
            return -1;
        }
    }
    if (opts->backend.tls) {
        enabler->backend_ctx = tls_client_context_new(
            opts->backend_ca_file[0] ? opts->backend_ca_file : NULL,
            !opts->backend_insecure_skip_verify);
        if (enabler->backend_ctx == NULL) {
            return -1;
        }
    }
    return 0;
}

static bool enabler_busy(const struct enabler *enabler)
{
    const struct enabler_tunnel *tunnel;

    /* A tunnel is busy while it has streams, and also while frames that
     * finished them wait in its output: freeing it would drop them. */
    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        if (!TAILQ_EMPTY(&tunnel->exchanges) || tunnel->lingering ||
            (tunnel->bev != NULL &&
             evbuffer_get_length(bufferevent_get_output(tunnel->bev)) > 0)) {
            return true;
        }
    }
    return false;
}

static void enabler_on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
    struct enabler *enabler = arg;
    struct timespec now;

    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (enabler_busy(enabler) && now.tv_sec < enabler->stop_deadline) {
        return;
    }
    event_base_loopexit(enabler->base, NULL);
}

static void enabler_stop(struct enabler *enabler, const char *signal_name)
{
    struct timeval tick = {0, 100000};
    struct timespec now;

    if (enabler->stopping) {
        log_warn("second %s: stopping at once", signal_name);
        event_base_loopexit(enabler->base, NULL);
        return;
    }
    enabler->stopping = true;
    clock_gettime(CLOCK_MONOTONIC, &now);
    enabler->stop_deadline =
        now.tv_sec + enabler->opts->shutdown_timeout_ms / 1000;
    log_info("stopping on %s: taking no new requests, finishing those in "
             "flight",
             signal_name);
    struct enabler_tunnel *tunnel;

    TAILQ_FOREACH(tunnel, &enabler->tunnels, link)
    {
        enabler_tunnel_drain(tunnel);
    }
    enabler->stop_timer =
        event_new(enabler->base, -1, EV_PERSIST, enabler_on_stop_tick, enabler);
    event_add(enabler->stop_timer, &tick);
}

static void enabler_on_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    enabler_stop(arg, signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int enabler_setup(struct enabler *enabler)
{
    TAILQ_INIT(&enabler->tunnels);
    enabler_format_address(&enabler->opts->backend, enabler->backend_address,
                           sizeof(enabler->backend_address));
    TAILQ_INIT(&enabler->pool.idle);
    TAILQ_INIT(&enabler->pool.waiting);
    if (enabler_contexts(enabler) != 0) {
        return -1;
    }
    enabler->base = event_base_new();
    if (enabler->base == NULL) {
        return -1;
    }
    enabler->signal_term =
        evsignal_new(enabler->base, SIGTERM, enabler_on_signal, enabler);
    enabler->signal_int =
        evsignal_new(enabler->base, SIGINT, enabler_on_signal, enabler);
    if (enabler->signal_term == NULL || enabler->signal_int == NULL ||
        event_add(enabler->signal_term, NULL) != 0 ||
        event_add(enabler->signal_int, NULL) != 0) {
        return -1;
    }
    return 0;
}

static void enabler_teardown(struct enabler *enabler)
{
    if (enabler->base != NULL) {
        enabler->stopping = true;
        admin_free(enabler->admin);
        enabler->admin = NULL;
        enabler_health_stop(enabler);
        while (!TAILQ_EMPTY(&enabler->tunnels)) {
            enabler_tunnel_remove(TAILQ_FIRST(&enabler->tunnels));
        }
        enabler_pool_free(enabler);
    }
    if (enabler->stop_timer != NULL) {
        event_free(enabler->stop_timer);
    }
    if (enabler->signal_term != NULL) {
        event_free(enabler->signal_term);
    }
    if (enabler->signal_int != NULL) {
        event_free(enabler->signal_int);
    }
    SSL_CTX_free(enabler->relay_ctx);
    SSL_CTX_free(enabler->backend_ctx);
    if (enabler->base != NULL) {
        event_base_free(enabler->base);
    }
}

int enabler_main(int argc, char **argv)
{
    struct enabler_options opts;
    struct enabler enabler = {0};
    char relay_address[ENABLER_HOST_MAX + 16];
    int rc = enabler_options_parse(argc, argv, &opts);

    if (rc != 0) {
        enabler_options_clear(&opts);
        return rc == 1 ? ENABLER_EXIT_OK : ENABLER_EXIT_USAGE;
    }
    enabler.opts = &opts;
    enabler.exit_status = ENABLER_EXIT_OK;
    if (enabler_open_log(&opts) != 0 || enabler_setup(&enabler) != 0) {
        enabler_teardown(&enabler);
        enabler_options_clear(&opts);
        log_set_stream(NULL);
        return ENABLER_EXIT_STARTUP;
    }
    signal(SIGPIPE, SIG_IGN);
    enabler_format_address(&opts.relay, relay_address, sizeof(relay_address));
    log_info("enabler started: drawbridge %s, farm=%s server=%s relay=%s "
             "backend=%s",
             DRAWBRIDGE_VERSION, opts.farm, opts.id, relay_address,
             enabler.backend_address);
    if (opts.admin_port != 0) {
        enabler.admin =
            admin_listen(enabler.base, opts.admin_host, opts.admin_port,
                         enabler_metrics_write, &enabler);
    }
    if ((opts.admin_port != 0 && enabler.admin == NULL) ||
        enabler_tunnel_add(&enabler, &opts.relay, false) == NULL ||
        enabler_health_start(&enabler) != 0) {
        enabler_teardown(&enabler);
        enabler_options_clear(&opts);
        return ENABLER_EXIT_STARTUP;
    }
    event_base_dispatch(enabler.base);
    rc = enabler.exit_status;
    log_info("enabler stopped");
    enabler_teardown(&enabler);
    enabler_options_clear(&opts);
    log_set_stream(NULL);
    return rc;
}
