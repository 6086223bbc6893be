/*
 * Checks of a loaded configuration that no single line shows: required
 * keys, references between sections, duplicate ids and conflicting TLS
 * options. They run after the whole file is read and report each problem
 * at the line of the key or section header that it concerns.
 */
#include "common/config_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Returns the line of key NAME in LINES, or 0 when the key is absent. */
static int config_key_line(const struct config_lines *lines,
                           const struct config_key *keys, const char *name)
{
    int index = config_key_index(keys, name);

    return index < 0 ? 0 : lines->keys[index];
}

/* Returns true when key NAME in LINES has a value that was rejected. */
static bool config_key_invalid(const struct config_lines *lines,
                               const struct config_key *keys, const char *name)
{
    int index = config_key_index(keys, name);

    return index >= 0 && lines->invalid[index];
}

/* Returns true when [options] names a certificate and key, or a PKCS#12
 * file. A key counts when it is present, even with a rejected value, so
 * that one bad path is not reported again as missing TLS. */
static bool config_has_tls(const struct config_loader *ld)
{
    const struct config_lines *lines = &ld->options;
    const struct config_key *keys = config_option_keys;

    return (config_key_line(lines, keys, "tls_certificate") != 0 &&
            config_key_line(lines, keys, "tls_private_key") != 0) ||
           config_key_line(lines, keys, "tls_pkcs12") != 0;
}

static void config_check_ping(struct config_loader *ld)
{
    const struct config_options *options = &ld->cfg->options;
    int line =
        config_key_line(&ld->options, config_option_keys, "ping_timeout");

    if (options->ping_timeout_ms <= options->ping_interval_ms) {
        config_error(ld, line ? line : ld->options.section,
                     "ping_timeout (%u ms) must be longer than ping_interval "
                     "(%u ms), so that a PING can be answered in time",
                     options->ping_timeout_ms, options->ping_interval_ms);
    }
}

static void config_check_options(struct config_loader *ld)
{
    const struct config_lines *lines = &ld->options;
    const struct config_key *keys = config_option_keys;
    int certificate = config_key_line(lines, keys, "tls_certificate");
    int key = config_key_line(lines, keys, "tls_private_key");
    int pkcs12 = config_key_line(lines, keys, "tls_pkcs12");
    int password = config_key_line(lines, keys, "tls_pkcs12_password_file");

    if (certificate != 0 && key == 0) {
        config_error(ld, certificate,
                     "tls_certificate is set but tls_private_key is not; "
                     "add tls_private_key = the PEM file of its key");
    }
    if (key != 0 && certificate == 0) {
        config_error(ld, key,
                     "tls_private_key is set but tls_certificate is not; "
                     "add tls_certificate = the PEM file of the certificate");
    }
    if (pkcs12 != 0 && certificate != 0) {
        config_error(ld, pkcs12,
                     "tls_pkcs12 and tls_certificate (line %d) are both set; "
                     "keep one of them",
                     certificate);
    }
    if (password != 0 && pkcs12 == 0) {
        config_warn(ld, password,
                    "tls_pkcs12_password_file is set but tls_pkcs12 is not, "
                    "so it is not used");
    }
    config_check_ping(ld);
}

/* Applies the rs.config defaults to ports the section does not set: 80
 * for HTTP, and 443 for HTTPS when a certificate is configured. Without a
 * certificate an unset https_port means no HTTPS, which the relay's
 * "listening on" log lines show. */
static void config_relay_ports(const struct config_loader *ld,
                               struct config_relay *relay)
{
    if (relay->http_port < 0) {
        relay->http_port = 80;
    }
    if (relay->https_port >= 0) {
        return;
    }
    if (config_has_tls(ld)) {
        relay->https_port = 443;
        return;
    }
    relay->https_port = 0;
}

static void config_check_relay(struct config_loader *ld, size_t index)
{
    struct config_relay *relay = &ld->cfg->relays[index];
    const struct config_lines *lines = &ld->relays[index];

    if (relay->host == NULL) {
        config_error(ld, lines->section,
                     "[relay_server] has no host; add host = the name that "
                     "clients and enablers connect to");
    } else if (relay->id == NULL) {
        relay->id = strdup(relay->host);
        if (relay->id == NULL) {
            config_out_of_memory(ld);
        }
    }
    config_relay_ports(ld, relay);
    if (relay->http_port == 0 && relay->https_port == 0 &&
        !config_key_invalid(lines, config_relay_keys, "http_port") &&
        !config_key_invalid(lines, config_relay_keys, "https_port")) {
        config_error(ld, lines->section,
                     "[relay_server] has neither http_port nor https_port; "
                     "set at least one to a port from 1 to 65535");
    }
    if (relay->http_port != 0 && relay->http_port == relay->https_port) {
        config_error(ld,
                     config_key_line(lines, config_relay_keys, "https_port"),
                     "http_port and https_port are both %d; one port "
                     "cannot serve HTTP and HTTPS, so give each its own",
                     relay->http_port);
    }
    int admin = ld->cfg->options.admin_port;

    if (admin != 0 &&
        (admin == relay->http_port || admin == relay->https_port)) {
        config_error(ld, lines->section,
                     "admin_port %d is also a port of this [relay_server]; "
                     "give the admin listener its own port",
                     admin);
    }
    if (relay->https_port != 0 && !config_has_tls(ld)) {
        config_error(ld,
                     config_key_line(lines, config_relay_keys, "https_port"),
                     "https_port is set but [options] has no TLS "
                     "certificate; set tls_certificate and tls_private_key, "
                     "or tls_pkcs12");
    }
    for (size_t i = 0; i < index && relay->id != NULL; i++) {
        const struct config_relay *other = &ld->cfg->relays[i];

        if (other->id != NULL && strcmp(other->id, relay->id) == 0) {
            config_error(ld, lines->section,
                         "relay id '%s' is also used by the [relay_server] at "
                         "line %d; give each relay its own id or host",
                         relay->id, ld->relays[i].section);
            break;
        }
    }
}

static void config_check_farm(struct config_loader *ld, size_t index)
{
    const struct config_farm *farm = &ld->cfg->farms[index];
    const struct config_lines *lines = &ld->farms[index];
    int line = config_key_line(lines, config_farm_keys, "id");

    if (farm->id == NULL) {
        if (line == 0) {
            config_error(ld, lines->section,
                         "[backend_farm] has no id; add id = the farm name "
                         "that clients use in URLs");
        }
        return;
    }
    for (size_t i = 0; i < index; i++) {
        const char *other = ld->cfg->farms[i].id;
        int other_line = config_key_line(&ld->farms[i], config_farm_keys, "id");

        if (other == NULL) {
            continue;
        }
        if (strcmp(other, farm->id) == 0) {
            config_error(ld, line,
                         "duplicate farm id '%s' (first at line %d); give "
                         "each [backend_farm] its own id",
                         farm->id, other_line);
            return;
        }
        if (strcasecmp(other, farm->id) == 0) {
            config_warn(ld, line,
                        "farm id '%s' differs only in case from '%s' at line "
                        "%d; ids are case-sensitive, so these are two farms",
                        farm->id, other, other_line);
        }
    }
}

/* Checks that the farm named by server INDEX exists. */
static void config_check_server_farm(struct config_loader *ld, size_t index)
{
    const struct config *cfg = ld->cfg;
    const struct config_server *server = &cfg->servers[index];
    int line = config_key_line(&ld->servers[index], config_server_keys, "farm");

    if (config_find_farm(cfg, server->farm) != NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->farm_count; i++) {
        const char *id = cfg->farms[i].id;

        if (id != NULL && strcasecmp(id, server->farm) == 0) {
            config_error(ld, line,
                         "farm '%s' does not exist; farm ids are "
                         "case-sensitive, and the farm at line %d is '%s'",
                         server->farm, ld->farms[i].section, id);
            return;
        }
    }
    config_error(ld, line,
                 "farm '%s' does not exist; add a [backend_farm] with id = %s "
                 "or correct the name",
                 server->farm, server->farm);
}

/* Reports a server that repeats the id of an earlier server of its farm. */
static void config_check_server_id(struct config_loader *ld, size_t index)
{
    const struct config_server *server = &ld->cfg->servers[index];
    int line = config_key_line(&ld->servers[index], config_server_keys, "id");

    for (size_t i = 0; i < index; i++) {
        const struct config_server *other = &ld->cfg->servers[i];
        int other_line =
            config_key_line(&ld->servers[i], config_server_keys, "id");

        if (other->id == NULL || other->farm == NULL ||
            strcmp(other->farm, server->farm) != 0) {
            continue;
        }
        if (strcmp(other->id, server->id) == 0) {
            config_error(ld, line,
                         "duplicate server id '%s' in farm '%s' (first at "
                         "line %d); give each server of a farm its own id",
                         server->id, server->farm, other_line);
            return;
        }
        if (strcasecmp(other->id, server->id) == 0) {
            config_warn(ld, line,
                        "server id '%s' differs only in case from '%s' at "
                        "line %d; ids are case-sensitive, so these are two "
                        "servers of farm '%s'",
                        server->id, other->id, other_line, server->farm);
        }
    }
}

static void config_check_server(struct config_loader *ld, size_t index)
{
    const struct config_server *server = &ld->cfg->servers[index];
    const struct config_lines *lines = &ld->servers[index];
    const struct config_key *keys = config_server_keys;

    if (server->id == NULL && config_key_line(lines, keys, "id") == 0) {
        config_error(ld, lines->section,
                     "[backend_server] has no id; add id = the name that its "
                     "enabler sends");
    }
    if (server->token == NULL && config_key_line(lines, keys, "token") == 0) {
        config_error(ld, lines->section,
                     "[backend_server] has no token; add token = the secret "
                     "that its enabler sends");
    }
    if (server->farm == NULL) {
        if (config_key_line(lines, keys, "farm") == 0) {
            config_error(ld, lines->section,
                         "[backend_server] has no farm; add farm = the id of "
                         "a [backend_farm]");
        }
        return;
    }
    config_check_server_farm(ld, index);
    if (server->id != NULL) {
        config_check_server_id(ld, index);
    }
}

void config_check(struct config_loader *ld)
{
    const struct config *cfg = ld->cfg;

    config_check_options(ld);
    if (cfg->relay_count == 0) {
        config_error(ld, 0,
                     "no [relay_server] section; add one with host and "
                     "http_port or https_port");
    }
    for (size_t i = 0; i < cfg->relay_count; i++) {
        config_check_relay(ld, i);
    }
    for (size_t i = 0; i < cfg->farm_count; i++) {
        config_check_farm(ld, i);
    }
    for (size_t i = 0; i < cfg->server_count; i++) {
        config_check_server(ld, i);
    }
}
