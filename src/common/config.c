/*
 * Loading rs.config files with inih.
 *
 * inih calls the handler with the same section name for two
 * [backend_server] sections and passes no line numbers, so a line reader
 * sits between the file and inih. It numbers the lines, opens a new entry
 * at each section header, and rejects the lines that inih would misread
 * (too long, no closing `]`, no `=`), so that every bad line is reported
 * with PATH:LINE. inih handles a line before it reads the next one, so the
 * reader's line number is also the line of each handler call.
 *
 * config_value.c checks and stores each value, and config_check.c runs the
 * checks across sections once the whole file is read.
 */
#include "common/config.h"
#include "common/config_internal.h"

#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define OPTION(field) offsetof(struct config_options, field)
#define RELAY(field)  offsetof(struct config_relay, field)
#define FARM(field)   offsetof(struct config_farm, field)
#define SERVER(field) offsetof(struct config_server, field)

const struct config_key config_option_keys[] = {
    {"verbosity", CONFIG_TYPE_VERBOSITY, OPTION(verbosity), NULL},
    {"start", CONFIG_TYPE_IGNORED, 0,
     "has no effect in Drawbridge; remove it to silence this warning"},
    {"shared_mem", CONFIG_TYPE_IGNORED, 0,
     "has no effect in Drawbridge; remove it to silence this warning"},
    {"tls_certificate", CONFIG_TYPE_PATH, OPTION(tls_certificate), NULL},
    {"tls_private_key", CONFIG_TYPE_PATH, OPTION(tls_private_key), NULL},
    {"tls_pkcs12", CONFIG_TYPE_PATH, OPTION(tls_pkcs12), NULL},
    {"tls_pkcs12_password_file", CONFIG_TYPE_PATH,
     OPTION(tls_pkcs12_password_file), NULL},
    {"listen", CONFIG_TYPE_LISTEN, OPTION(listen), NULL},
    {"pid_file", CONFIG_TYPE_PATH, OPTION(pid_file), NULL},
    {"status_page", CONFIG_TYPE_STATUS_PAGE, OPTION(status_page), NULL},
    {"admin_port", CONFIG_TYPE_PORT, OPTION(admin_port), NULL},
    {"admin_address", CONFIG_TYPE_TEXT, OPTION(admin_address), NULL},
    {"trusted_proxies", CONFIG_TYPE_NETWORKS, OPTION(trusted_proxies), NULL},
    {"client_prefix", CONFIG_TYPE_PREFIX, OPTION(client_prefix), NULL},
    {"log_file", CONFIG_TYPE_PATH, OPTION(log_file), NULL},
    {"max_header_bytes", CONFIG_TYPE_SIZE, OPTION(max_header_bytes), NULL},
    {"max_header_fields", CONFIG_TYPE_SIZE, OPTION(max_header_fields), NULL},
    {"header_timeout", CONFIG_TYPE_SECONDS, OPTION(header_timeout_ms), NULL},
    {"keepalive_timeout", CONFIG_TYPE_SECONDS, OPTION(keepalive_timeout_ms),
     NULL},
    {"backend_timeout", CONFIG_TYPE_SECONDS, OPTION(backend_timeout_ms), NULL},
    {"shutdown_timeout", CONFIG_TYPE_SECONDS, OPTION(shutdown_timeout_ms),
     NULL},
    {"ping_interval", CONFIG_TYPE_SECONDS, OPTION(ping_interval_ms), NULL},
    {"ping_timeout", CONFIG_TYPE_SECONDS, OPTION(ping_timeout_ms), NULL},
    {"tunnel_handshake_timeout", CONFIG_TYPE_SECONDS,
     OPTION(tunnel_handshake_timeout_ms), NULL},
    {"max_streams_per_tunnel", CONFIG_TYPE_COUNT,
     OPTION(max_streams_per_tunnel), NULL},
    {"max_clients", CONFIG_TYPE_COUNT, OPTION(max_clients), NULL},
    {NULL, CONFIG_TYPE_TEXT, 0, NULL},
};

const struct config_key config_relay_keys[] = {
    {"enable", CONFIG_TYPE_BOOL, RELAY(enable), NULL},
    {"id", CONFIG_TYPE_NAME, RELAY(id), NULL},
    {"host", CONFIG_TYPE_NAME, RELAY(host), NULL},
    {"http_port", CONFIG_TYPE_PORT, RELAY(http_port), NULL},
    {"https_port", CONFIG_TYPE_PORT, RELAY(https_port), NULL},
    {"description", CONFIG_TYPE_TEXT, RELAY(description), NULL},
    {NULL, CONFIG_TYPE_TEXT, 0, NULL},
};

const struct config_key config_farm_keys[] = {
    {"enable", CONFIG_TYPE_BOOL, FARM(enable), NULL},
    {"id", CONFIG_TYPE_NAME, FARM(id), NULL},
    {"client_security", CONFIG_TYPE_SECURITY, FARM(client_security), NULL},
    {"backend_security", CONFIG_TYPE_SECURITY, FARM(backend_security), NULL},
    {"active_cookie", CONFIG_TYPE_AFFINITY, FARM(active_cookie),
     CONFIG_AFFINITY_COOKIE},
    {"active_header", CONFIG_TYPE_AFFINITY, FARM(active_header),
     CONFIG_AFFINITY_HEADER},
    {"strip_prefix", CONFIG_TYPE_BOOL, FARM(strip_prefix), NULL},
    {"description", CONFIG_TYPE_TEXT, FARM(description), NULL},
    {"verbosity", CONFIG_TYPE_IGNORED, 0,
     "is not implemented per farm, so the [options] verbosity applies"},
    {NULL, CONFIG_TYPE_TEXT, 0, NULL},
};

const struct config_key config_server_keys[] = {
    {"enable", CONFIG_TYPE_BOOL, SERVER(enable), NULL},
    {"farm", CONFIG_TYPE_NAME, SERVER(farm), NULL},
    {"id", CONFIG_TYPE_NAME, SERVER(id), NULL},
    {"token", CONFIG_TYPE_TOKEN, SERVER(token), NULL},
    {"description", CONFIG_TYPE_TEXT, SERVER(description), NULL},
    {"mac", CONFIG_TYPE_IGNORED, 0,
     "is ignored because Drawbridge does not check MAC addresses; the token "
     "alone authenticates the enabler"},
    {"verbosity", CONFIG_TYPE_IGNORED, 0,
     "is not implemented per server, so the [options] verbosity applies"},
    {NULL, CONFIG_TYPE_TEXT, 0, NULL},
};

_Static_assert(sizeof(config_option_keys) / sizeof(config_option_keys[0]) <=
                   CONFIG_KEYS_MAX + 1,
               "raise CONFIG_KEYS_MAX");

/* Section names as written in the file, and their key tables. */
static const struct {
    const char *name;
    const struct config_key *keys;
} config_sections[] = {
    [CONFIG_SECTION_NONE] = {"", NULL},
    [CONFIG_SECTION_OPTIONS] = {"options", config_option_keys},
    [CONFIG_SECTION_RELAY] = {"relay_server", config_relay_keys},
    [CONFIG_SECTION_FARM] = {"backend_farm", config_farm_keys},
    [CONFIG_SECTION_SERVER] = {"backend_server", config_server_keys},
    [CONFIG_SECTION_UNKNOWN] = {"", NULL},
};

static void config_report(struct config_loader *ld, enum log_level level,
                          int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void config_report(struct config_loader *ld, enum log_level level,
                          int line, const char *fmt, va_list ap)
{
    char message[1024];

    vsnprintf(message, sizeof(message), fmt, ap);
    if (line > 0) {
        log_msg(level, "%s:%d: %s", ld->path, line, message);
    } else {
        log_msg(level, "%s: %s", ld->path, message);
    }
}

void config_error(struct config_loader *ld, int line, const char *fmt, ...)
{
    va_list ap;

    ld->errors++;
    if (ld->errors > CONFIG_ERRORS_SHOWN) {
        return;
    }
    va_start(ap, fmt);
    config_report(ld, LOG_ERROR, line, fmt, ap);
    va_end(ap);
}

void config_warn(struct config_loader *ld, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    config_report(ld, LOG_WARN, line, fmt, ap);
    va_end(ap);
}

void config_out_of_memory(struct config_loader *ld)
{
    config_error(ld, ld->line, "out of memory while loading the file");
}

int config_key_index(const struct config_key *keys, const char *name)
{
    for (int i = 0; keys[i].name != NULL; i++) {
        if (strcasecmp(keys[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

void *config_append(void *array, size_t count, size_t size)
{
    char *grown = realloc(array, (count + 1) * size);

    if (grown == NULL) {
        return NULL;
    }
    memset(grown + count * size, 0, size);
    return grown;
}

static int config_add_relay(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_relay *relays;
    struct config_lines *lines;

    relays = config_append(cfg->relays, cfg->relay_count, sizeof(*relays));
    if (relays == NULL) {
        return -1;
    }
    cfg->relays = relays;
    lines = config_append(ld->relays, cfg->relay_count, sizeof(*lines));
    if (lines == NULL) {
        return -1;
    }
    ld->relays = lines;
    relays[cfg->relay_count].enable = true;
    /* Unset until config_check_relay applies the rs.config defaults. */
    relays[cfg->relay_count].http_port = -1;
    relays[cfg->relay_count].https_port = -1;
    lines[cfg->relay_count].section = ld->line;
    cfg->relay_count++;
    return 0;
}

static int config_add_farm(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_farm *farms;
    struct config_lines *lines;

    farms = config_append(cfg->farms, cfg->farm_count, sizeof(*farms));
    if (farms == NULL) {
        return -1;
    }
    cfg->farms = farms;
    lines = config_append(ld->farms, cfg->farm_count, sizeof(*lines));
    if (lines == NULL) {
        return -1;
    }
    ld->farms = lines;
    farms[cfg->farm_count].enable = true;
    farms[cfg->farm_count].strip_prefix = true;
    farms[cfg->farm_count].client_security = CONFIG_SECURITY_ANY;
    farms[cfg->farm_count].backend_security = CONFIG_SECURITY_ANY;
    lines[cfg->farm_count].section = ld->line;
    cfg->farm_count++;
    return 0;
}

static int config_add_server(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_server *servers;
    struct config_lines *lines;

    servers = config_append(cfg->servers, cfg->server_count, sizeof(*servers));
    if (servers == NULL) {
        return -1;
    }
    cfg->servers = servers;
    lines = config_append(ld->servers, cfg->server_count, sizeof(*lines));
    if (lines == NULL) {
        return -1;
    }
    ld->servers = lines;
    servers[cfg->server_count].enable = true;
    lines[cfg->server_count].section = ld->line;
    cfg->server_count++;
    return 0;
}

/* Starts section NAME at the current line: adds an entry for a repeatable
 * section, or warns about an unknown one. */
static void config_begin_section(struct config_loader *ld, const char *name)
{
    enum config_section section = CONFIG_SECTION_UNKNOWN;
    int rc = 0;

    for (int i = CONFIG_SECTION_OPTIONS; i < CONFIG_SECTION_UNKNOWN; i++) {
        if (strcasecmp(name, config_sections[i].name) == 0) {
            section = (enum config_section)i;
        }
    }
    switch (section) {
    case CONFIG_SECTION_OPTIONS:
        if (ld->options.section != 0) {
            config_error(ld, ld->line,
                         "second [options] section (the first is at line "
                         "%d); merge the two",
                         ld->options.section);
        }
        ld->options.section = ld->line;
        break;
    case CONFIG_SECTION_RELAY:
        rc = config_add_relay(ld);
        break;
    case CONFIG_SECTION_FARM:
        rc = config_add_farm(ld);
        break;
    case CONFIG_SECTION_SERVER:
        rc = config_add_server(ld);
        break;
    default:
        config_warn(ld, ld->line,
                    "unknown section [%s]; Drawbridge ignores it and its keys",
                    name);
        break;
    }
    if (rc != 0) {
        config_out_of_memory(ld);
        section = CONFIG_SECTION_UNKNOWN;
    }
    ld->section = section;
}

/* Returns the first of CHARS in S, stopping like inih at an inline `;`
 * comment (a `;` after whitespace). Returns NULL when none comes first. */
static const char *config_find_before_comment(const char *s, const char *chars)
{
    bool after_space = false;

    for (; *s != '\0'; s++) {
        if (strchr(chars, *s) != NULL) {
            return s;
        }
        if (after_space && *s == ';') {
            return NULL;
        }
        after_space = isspace((unsigned char)*s) != 0;
    }
    return NULL;
}

/* Checks a section header line START and begins its section. Returns 0,
 * or -1 after logging when the line has no closing `]`. */
static int config_read_header(struct config_loader *ld, const char *start)
{
    const char *end = config_find_before_comment(start + 1, "]");
    char name[128];
    size_t len;

    if (end == NULL) {
        config_error(ld, ld->line,
                     "section header has no closing ']'; write it as "
                     "[section_name]");
        return -1;
    }
    start++;
    while (start < end && isspace((unsigned char)*start)) {
        start++;
    }
    len = (size_t)(end - start);
    while (len > 0 && isspace((unsigned char)start[len - 1])) {
        len--;
    }
    if (len >= sizeof(name)) {
        len = sizeof(name) - 1;
    }
    memcpy(name, start, len);
    name[len] = '\0';
    config_begin_section(ld, name);
    return 0;
}

/* Classifies line START and reports what inih would reject. Returns 0 when
 * inih may parse it, or -1 after logging. */
static int config_check_line(struct config_loader *ld, const char *start)
{
    const char *separator;

    if (*start == '\0' || *start == '#' || *start == ';') {
        return 0;
    }
    if (*start == '[') {
        return config_read_header(ld, start);
    }
    separator = config_find_before_comment(start, "=:");
    if (separator == NULL) {
        config_error(ld, ld->line,
                     "expected 'key = value', a [section] header or a "
                     "comment; fix or remove the line");
        return -1;
    }
    if (separator == start) {
        config_error(ld, ld->line,
                     "no key name before '%c'; write the line as 'key = "
                     "value'",
                     *separator);
        return -1;
    }
    return 0;
}

/* The ini_reader for ini_parse_stream: an fgets replacement that returns
 * each line without leading whitespace, so that inih never takes an
 * indented key for the continuation of the previous value. A line that is
 * invalid or longer than NUM - 3 bytes (room for "\r\n" and the NUL, as
 * ini.h requires) is logged and passed on as an empty line. */
static char *config_read_line(char *str, int num, void *stream)
{
    struct config_loader *ld = stream;
    const char *start;
    ssize_t len;
    size_t max = num > 3 ? (size_t)num - 3 : 0;

    errno = 0;
    len = getline(&ld->buf, &ld->buf_size, ld->fp);
    if (len < 0) {
        ld->read_errno = errno;
        return NULL;
    }
    ld->line++;
    start = ld->buf;
    if (strlen(ld->buf) != (size_t)len) {
        config_error(ld, ld->line, "line contains a NUL byte; remove it");
        start = "";
    }
    while (len > 0 && (ld->buf[len - 1] == '\n' || ld->buf[len - 1] == '\r')) {
        ld->buf[--len] = '\0';
    }
    if (*start != '\0' && (size_t)len > max) {
        config_error(ld, ld->line,
                     "line is longer than %zu characters; shorten it", max);
        start = "";
    }
    if (ld->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3; /* UTF-8 byte order mark */
    }
    while (isspace((unsigned char)*start)) {
        start++;
    }
    if (config_check_line(ld, start) != 0) {
        start = "";
    }
    snprintf(str, (size_t)num, "%s\n", start);
    return str;
}

/* Returns the struct that the current section fills, and its lines. */
static char *config_current(struct config_loader *ld,
                            struct config_lines **lines)
{
    struct config *cfg = ld->cfg;

    switch (ld->section) {
    case CONFIG_SECTION_OPTIONS:
        *lines = &ld->options;
        return (char *)&cfg->options;
    case CONFIG_SECTION_RELAY:
        *lines = &ld->relays[cfg->relay_count - 1];
        return (char *)&cfg->relays[cfg->relay_count - 1];
    case CONFIG_SECTION_FARM:
        *lines = &ld->farms[cfg->farm_count - 1];
        return (char *)&cfg->farms[cfg->farm_count - 1];
    case CONFIG_SECTION_SERVER:
        *lines = &ld->servers[cfg->server_count - 1];
        return (char *)&cfg->servers[cfg->server_count - 1];
    default:
        return NULL;
    }
}

/* The ini_handler. It always returns 1 because errors are counted in the
 * loader, and the section comes from the reader because inih's SECTION
 * cannot tell two sections of the same name apart. */
static int config_handle_key(void *user, const char *section, const char *name,
                             const char *value)
{
    struct config_loader *ld = user;
    const struct config_key *keys = config_sections[ld->section].keys;
    struct config_lines *lines = NULL;
    char *base;
    int index;
    int errors;

    (void)section;
    if (ld->section == CONFIG_SECTION_NONE) {
        config_error(ld, ld->line,
                     "%s is outside any section; move it under [options] or "
                     "the section it belongs to",
                     name);
        return 1;
    }
    if (keys == NULL) {
        return 1; /* an unknown section, already reported */
    }
    index = config_key_index(keys, name);
    if (index < 0) {
        config_warn(ld, ld->line,
                    "unknown key %s in [%s]; Drawbridge ignores it", name,
                    config_sections[ld->section].name);
        return 1;
    }
    base = config_current(ld, &lines);
    if (lines->keys[index] != 0) {
        config_warn(ld, ld->line,
                    "%s is also set at line %d; the value on this line "
                    "replaces it",
                    keys[index].name, lines->keys[index]);
    }
    lines->keys[index] = ld->line;
    errors = ld->errors;
    config_set(ld, &keys[index], base, value);
    lines->invalid[index] = ld->errors != errors;
    return 1;
}

/* Sets LD->dir to the real path of the directory part of LD->path. */
static int config_find_dir(struct config_loader *ld)
{
    char *dir = strdup(ld->path);
    char *slash;
    int rc = -1;

    if (dir == NULL) {
        log_error("out of memory while loading %s", ld->path);
        return -1;
    }
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    ld->dir = realpath(dir, NULL);
    if (ld->dir == NULL) {
        log_error("cannot resolve the directory %s of %s: %s", dir, ld->path,
                  strerror(errno));
        goto out;
    }
    rc = 0;

out:
    free(dir);
    return rc;
}

static void config_set_defaults(struct config_options *options)
{
    options->verbosity = LOG_WARN;
    options->max_header_bytes = 65536;
    options->max_header_fields = 100;
    options->header_timeout_ms = 10000;
    options->keepalive_timeout_ms = 60000;
    options->backend_timeout_ms = 60000;
    options->shutdown_timeout_ms = 30000;
    options->tunnel_handshake_timeout_ms = 10000;
    options->ping_interval_ms = 15000;
    options->ping_timeout_ms = 45000;
    options->max_streams_per_tunnel = 1000;
    options->max_clients = 10000;
}

/* Runs inih over the open file and reports what it and the reader found. */
static void config_parse(struct config_loader *ld)
{
    int rc = ini_parse_stream(config_read_line, ld, config_handle_key, ld);

    if (ferror(ld->fp)) {
        config_error(ld, 0, "cannot read the file: %s",
                     strerror(ld->read_errno));
        return;
    }
    if (rc == -2) {
        config_out_of_memory(ld);
    } else if (rc != 0) {
        /* The reader passes inih only lines that it accepts, so this is
         * inih disagreeing with the reader. */
        config_error(ld, rc,
                     "inih cannot parse this line; rewrite it as "
                     "'key = value' or [section]");
    }
}

int config_load(const char *path, struct config *cfg)
{
    struct config_loader ld = {.cfg = cfg, .path = path};
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    config_set_defaults(&cfg->options);
    ld.fp = fopen(path, "r");
    if (ld.fp == NULL) {
        log_error("cannot open the configuration file %s: %s; check the path "
                  "and its permissions",
                  path, strerror(errno));
        goto out;
    }
    if (config_find_dir(&ld) != 0) {
        goto out;
    }
    cfg->path = strdup(path);
    if (cfg->path == NULL) {
        log_error("out of memory while loading %s", path);
        goto out;
    }
    config_parse(&ld);
    config_check(&ld);
    if (ld.errors > CONFIG_ERRORS_SHOWN) {
        log_error("%s: %d more errors are not shown; fix the ones above "
                  "first",
                  path, ld.errors - CONFIG_ERRORS_SHOWN);
    }
    if (ld.errors == 0) {
        rc = 0;
    }

out:
    if (rc != 0) {
        config_free(cfg);
    }
    if (ld.fp != NULL) {
        fclose(ld.fp);
    }
    free(ld.buf);
    free(ld.dir);
    free(ld.relays);
    free(ld.farms);
    free(ld.servers);
    return rc;
}

void config_free(struct config *cfg)
{
    struct config_options *options = &cfg->options;

    for (size_t i = 0; i < cfg->relay_count; i++) {
        free(cfg->relays[i].id);
        free(cfg->relays[i].host);
        free(cfg->relays[i].description);
    }
    for (size_t i = 0; i < cfg->farm_count; i++) {
        free(cfg->farms[i].active_cookie);
        free(cfg->farms[i].active_header);
        free(cfg->farms[i].id);
        free(cfg->farms[i].description);
    }
    for (size_t i = 0; i < cfg->server_count; i++) {
        struct config_server *server = &cfg->servers[i];

        if (server->token != NULL) {
            explicit_bzero(server->token, strlen(server->token));
        }
        free(server->id);
        free(server->farm);
        free(server->token);
        free(server->description);
    }
    free(cfg->relays);
    free(cfg->farms);
    free(cfg->servers);
    free(options->tls_certificate);
    free(options->tls_private_key);
    free(options->tls_pkcs12);
    free(options->tls_pkcs12_password_file);
    config_free_list(options->listen, options->listen_count);
    config_free_list(options->trusted_proxies, options->trusted_proxy_count);
    free(options->client_prefix);
    free(options->log_file);
    free(options->pid_file);
    free(options->admin_address);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

const struct config_relay *config_find_relay(const struct config *cfg,
                                             const char *id)
{
    if (id == NULL) {
        const struct config_relay *only = NULL;

        for (size_t i = 0; i < cfg->relay_count; i++) {
            if (cfg->relays[i].enable) {
                if (only != NULL) {
                    return NULL;
                }
                only = &cfg->relays[i];
            }
        }
        return only;
    }
    for (size_t i = 0; i < cfg->relay_count; i++) {
        if (cfg->relays[i].enable && cfg->relays[i].id != NULL &&
            strcmp(cfg->relays[i].id, id) == 0) {
            return &cfg->relays[i];
        }
    }
    return NULL;
}

const struct config_farm *config_find_farm(const struct config *cfg,
                                           const char *id)
{
    for (size_t i = 0; i < cfg->farm_count; i++) {
        if (cfg->farms[i].id != NULL && strcmp(cfg->farms[i].id, id) == 0) {
            return &cfg->farms[i];
        }
    }
    return NULL;
}

const struct config_server *config_find_server(const struct config *cfg,
                                               const char *farm, const char *id)
{
    for (size_t i = 0; i < cfg->server_count; i++) {
        const struct config_server *server = &cfg->servers[i];

        if (server->farm != NULL && server->id != NULL &&
            strcmp(server->farm, farm) == 0 && strcmp(server->id, id) == 0) {
            return server;
        }
    }
    return NULL;
}

const char *config_security_name(enum config_security security)
{
    switch (security) {
    case CONFIG_SECURITY_ON:
        return "on";
    case CONFIG_SECURITY_OFF:
        return "off";
    default:
        return "unset";
    }
}
