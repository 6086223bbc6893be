/*
 * The relay's configuration file, in rs.config syntax.
 *
 * The file has INI sections [options], [relay_server], [backend_farm] and
 * [backend_server], each holding `key = value` lines. Section and key names
 * are case-insensitive, and ids and tokens are case-sensitive values. `#`
 * and `;` start a comment line, and `;` after whitespace starts a comment at
 * the end of a line. Leading whitespace is ignored, so values cannot
 * continue on the next line. A line may have 197 characters: INI_MAX_LINE
 * of Debian's libinih 55 is 200 bytes, including the line ending and NUL.
 *
 * [options] appears at most once; the other sections may repeat. Booleans
 * are yes/no, on/off, true/false or 1/0, in any case. Times are given in
 * seconds with up to 3 decimals (0.5) and stored in milliseconds. Relative
 * paths are resolved against the directory of the file.
 *
 * Keys and sections that Drawbridge does not know, and rs.config keys that it
 * accepts but does not implement (start, shared_mem, mac, per-farm and
 * per-server verbosity), produce one warning each with PATH:LINE, never an
 * error, so that an existing rs.config loads. Values are checked when
 * loaded: ids and host names must not be empty or contain '/' or control
 * characters. Every error is counted and the first 50 are logged, so one
 * run shows more than the first mistake.
 */
#ifndef DRAWBRIDGE_CONFIG_H
#define DRAWBRIDGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Default names for active_cookie = yes and active_header = yes. */
#define CONFIG_AFFINITY_COOKIE "DrawbridgeAffinity"
#define CONFIG_AFFINITY_HEADER "Drawbridge-Affinity"

/* client_security and backend_security: on = HTTPS only, off = HTTP
 * only, unset (key absent) = either. */
enum config_security {
    CONFIG_SECURITY_ANY,
    CONFIG_SECURITY_ON,
    CONFIG_SECURITY_OFF,
};

/* A [relay_server] section: one relay of the relay farm. After
 * config_load, ID and HOST are set, ID is unique among relays, and at least
 * one port is on. DESCRIPTION is NULL when absent or empty. */
struct config_relay {
    char *id;       /* `id`, or `host` when the section has no id */
    char *host;     /* the name that clients and enablers dial */
    int http_port;  /* 0 = off */
    int https_port; /* 0 = off; needs a TLS certificate in [options] */
    char *description;
    bool enable; /* default true */
};

/* A [backend_farm] section. Text fields are NULL when absent or empty. */
struct config_farm {
    char *id; /* unique among farms, never NULL after config_load */
    char *description;
    /* Affinity: the cookie or header that names the backend server a
     * client's requests go to, or NULL when the farm does not use one. */
    char *active_cookie;
    char *active_header;
    enum config_security client_security;
    enum config_security backend_security;
    bool strip_prefix; /* default true */
    bool enable;       /* default true */
};

/* A [backend_server] section: one backend server whose enablers may
 * connect with TOKEN. After config_load, ID, FARM and TOKEN are set, FARM
 * names an existing farm, and ID is unique within that farm. */
struct config_server {
    char *id;
    char *farm;
    char *token; /* never log it; config_free wipes it */
    char *description;
    bool enable; /* default true */
};

/* status_page: who may see the relay's status page. */
enum config_status_page {
    CONFIG_STATUS_LOCAL, /* loopback clients only, the default */
    CONFIG_STATUS_OFF,
    CONFIG_STATUS_ON,
};

/* [options], with Drawbridge's own keys and their defaults. Times are in
 * milliseconds and sizes in bytes; the file gives times in seconds. Paths
 * are NULL when absent, and absolute when set. Times and limits are at
 * least 1. */
struct config_options {
    int verbosity;         /* 0-5, default 1 (LOG_WARN) */
    char *tls_certificate; /* PEM; set together with tls_private_key */
    char *tls_private_key;
    char *tls_pkcs12; /* never set together with tls_certificate */
    char *tls_pkcs12_password_file;
    char **listen; /* IPv4 or IPv6 addresses to bind; NULL = all */
    size_t listen_count;
    /* Addresses or networks (ADDRESS/PREFIX) whose PROXY protocol headers
     * are believed; NULL = none. */
    char **trusted_proxies;
    size_t trusted_proxy_count;
    /* An extra client URL prefix such as "/relay/client", without a
     * trailing "/", or NULL. */
    char *client_prefix;
    enum config_status_page status_page;
    int admin_port;      /* /metrics listener; 0 = off */
    char *admin_address; /* NULL = 127.0.0.1 */
    char *log_file;      /* NULL = stderr */
    char *pid_file;      /* where the relay writes its process id, or NULL */
    size_t max_header_bytes;              /* 65536 */
    size_t max_header_fields;             /* 100 */
    unsigned header_timeout_ms;           /* 10 s */
    unsigned keepalive_timeout_ms;        /* 60 s */
    unsigned backend_timeout_ms;          /* 60 s */
    unsigned shutdown_timeout_ms;         /* 30 s */
    unsigned tunnel_handshake_timeout_ms; /* 10 s */
    unsigned ping_interval_ms;            /* 15 s */
    unsigned ping_timeout_ms;             /* 45 s */
    unsigned max_streams_per_tunnel;      /* 1000 */
    unsigned max_clients;                 /* 10000 */
};

struct config {
    char *path;
    struct config_options options;
    struct config_relay *relays;
    size_t relay_count;
    struct config_farm *farms;
    size_t farm_count;
    struct config_server *servers;
    size_t server_count;
};

/* Reads PATH into CFG. Returns 0, or -1 after logging every error found
 * as "PATH:LINE: message" with the fix ("PATH: message" for an error of
 * the whole file, such as no [relay_server] section). Warnings do not make
 * it fail. Token values are never logged. On failure CFG contains nothing that
 * needs freeing; on success the caller frees it with config_free. The
 * caller applies options.verbosity; this function does not. */
int config_load(const char *path, struct config *cfg);

/* Frees what config_load stored in CFG, wipes the tokens and zeroes CFG.
 * Safe on a zeroed struct. */
void config_free(struct config *cfg);

/* Returns the enabled [relay_server] section whose id is ID
 * (case-sensitive), or the only enabled one when ID is NULL and there is
 * exactly one; NULL otherwise. */
const struct config_relay *config_find_relay(const struct config *cfg,
                                             const char *id);

/* Returns the farm with id ID (case-sensitive), or NULL. */
const struct config_farm *config_find_farm(const struct config *cfg,
                                           const char *id);

/* Returns the server ID of farm FARM (both case-sensitive), or NULL. */
const struct config_server *
config_find_server(const struct config *cfg, const char *farm, const char *id);

/* Returns the name of SECURITY as written in the file ("on", "off" or
 * "unset"). */
const char *config_security_name(enum config_security security);

#endif
