/*
 * Options of `drawbridge enabler`: long options, and the flags of existing
 * outbound enablers (-f, -id, -t, -cr, -cs, -d, -v, -o) so that their
 * command lines keep working.
 */
#ifndef DRAWBRIDGE_ENABLER_OPTIONS_H
#define DRAWBRIDGE_ENABLER_OPTIONS_H

#include "tunnel/tunnel.h"

#include <stdbool.h>

#define ENABLER_HOST_MAX 256

/* The address of a relay or of the backend server. */
struct enabler_endpoint {
    char host[ENABLER_HOST_MAX];
    char port[8];
    bool tls;
};

struct enabler_options {
    struct enabler_endpoint relay;
    struct enabler_endpoint backend;
    char url_suffix[256];
    char ca_file[1024];            /* trusts the relay; "" = system */
    char backend_ca_file[1024];    /* trusts an HTTPS backend */
    char certificate_name[256];    /* required CN of the relay, or "" */
    char certificate_company[256]; /* required O, or "" */
    char certificate_unit[256];    /* required OU, or "" */
    char farm[TUNNEL_ID_MAX];
    char id[TUNNEL_ID_MAX];
    char token[TUNNEL_TOKEN_MAX];
    char log_file[1024]; /* "" = stderr */
    int verbosity;
    unsigned retry_base_ms;
    unsigned retry_cap_ms;
    int max_retries; /* -1 = retry for ever */
    unsigned backend_timeout_ms;
    unsigned backend_connections_max;
    unsigned max_streams;
    unsigned shutdown_timeout_ms;
    unsigned ping_interval_ms;
    unsigned ping_timeout_ms;
    char status_url[512]; /* path polled on the backend, or "" */
    char admin_host[64];  /* --admin address, or "" */
    int admin_port;       /* 0 = no admin listener */
    unsigned status_interval_ms;
    bool insecure_skip_verify;
    bool insecure_plain_token;
    bool backend_insecure_skip_verify;
};

/* Parses ARGV (after the subcommand) into OPTS. Returns 0, 1 after
 * printing --help, or 2 after logging a usage error. */
int enabler_options_parse(int argc, char **argv, struct enabler_options *opts);

/* Wipes the token in OPTS. */
void enabler_options_clear(struct enabler_options *opts);

#endif
