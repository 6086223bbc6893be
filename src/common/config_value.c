/*
 * Checking and storing one value of the configuration file by the type of
 * its key: text, ids, tokens, paths, booleans, numbers, times, addresses
 * and URL prefixes. A rejected value is logged with its line and leaves
 * the field as it was.
 */
#include "common/config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void config_replace(char **field, char *value)
{
    free(*field);
    *field = value;
}

static void config_set_copy(struct config_loader *ld, char **field,
                            const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL) {
        config_out_of_memory(ld);
        return;
    }
    config_replace(field, copy);
}

static void config_set_name(struct config_loader *ld,
                            const struct config_key *key, char **field,
                            const char *value)
{
    if (*value == '\0') {
        config_error(ld, ld->line, "%s is empty; give it a value", key->name);
        return;
    }
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '/' || iscntrl((unsigned char)*p)) {
            config_error(ld, ld->line,
                         "%s '%s' contains '/' or a control character; ids "
                         "and host names appear in URLs, so remove it",
                         key->name, value);
            return;
        }
    }
    config_set_copy(ld, field, value);
}

static void config_set_token(struct config_loader *ld, char **field,
                             const char *value)
{
    char *copy;

    if (*value == '\0') {
        config_error(ld, ld->line,
                     "token is empty; set it to the secret that the "
                     "enabler of this server sends");
        return;
    }
    copy = strdup(value);
    if (copy == NULL) {
        config_out_of_memory(ld);
        return;
    }
    if (*field != NULL) {
        explicit_bzero(*field, strlen(*field));
    }
    config_replace(field, copy);
}

static void config_set_path(struct config_loader *ld,
                            const struct config_key *key, char **field,
                            const char *value)
{
    char *path = NULL;

    if (*value == '\0') {
        config_error(ld, ld->line,
                     "%s is empty; give a file path or remove the line",
                     key->name);
        return;
    }
    if (value[0] == '/') {
        path = strdup(value);
    } else if (asprintf(&path, "%s%s%s", ld->dir,
                        strcmp(ld->dir, "/") == 0 ? "" : "/", value) < 0) {
        path = NULL;
    }
    if (path == NULL) {
        config_out_of_memory(ld);
        return;
    }
    config_replace(field, path);
}

static void config_set_bool(struct config_loader *ld,
                            const struct config_key *key, bool *field,
                            const char *value)
{
    static const char *const truths[] = {"yes", "on", "true", "1"};
    static const char *const falsehoods[] = {"no", "off", "false", "0"};

    for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++) {
        if (strcasecmp(value, truths[i]) == 0) {
            *field = true;
            return;
        }
        if (strcasecmp(value, falsehoods[i]) == 0) {
            *field = false;
            return;
        }
    }
    config_error(ld, ld->line,
                 "%s = '%s' is not a boolean; use yes or no (also on/off, "
                 "true/false, 1/0)",
                 key->name, value);
}

/* Sets an affinity key: yes for the default NAME, no for none, or a token
 * that is a cookie or header name of its own. */
static void config_set_affinity(struct config_loader *ld,
                                const struct config_key *key, char **field,
                                const char *value, const char *name)
{
    bool on = false;
    bool is_bool = true;
    char *copy;

    for (const char *p = value; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("-_.", *p) == NULL) {
            config_error(ld, ld->line,
                         "%s = '%s' is neither yes, no nor a name of letters, "
                         "digits, '-', '_' and '.'",
                         key->name, value);
            return;
        }
    }
    if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0 ||
        strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0) {
        on = true;
    } else if (strcasecmp(value, "no") != 0 && strcasecmp(value, "off") &&
               strcasecmp(value, "false") != 0 && strcmp(value, "0") != 0) {
        is_bool = false;
    }
    if (!is_bool) {
        copy = strdup(value); /* a name of the farm's own */
    } else if (on) {
        copy = strdup(name);
    } else {
        copy = NULL;
    }
    if ((on || !is_bool) && copy == NULL) {
        config_out_of_memory(ld);
        return;
    }
    free(*field);
    *field = copy;
}

static void config_set_security(struct config_loader *ld,
                                const struct config_key *key,
                                enum config_security *field, const char *value)
{
    if (strcasecmp(value, "on") == 0) {
        *field = CONFIG_SECURITY_ON;
    } else if (strcasecmp(value, "off") == 0) {
        *field = CONFIG_SECURITY_OFF;
    } else {
        config_error(ld, ld->line,
                     "%s = '%s' is invalid; use on (HTTPS only) or off (HTTP "
                     "only), or remove the line to allow both",
                     key->name, value);
    }
}

/* Parses TEXT as decimal digits, with no sign or spaces, into *NUMBER.
 * Values past ULLONG_MAX saturate there. Returns 0, or -1 when TEXT is not
 * a number. */
static int config_parse_number(const char *text, unsigned long long *number)
{
    unsigned long long n = 0;

    if (*text == '\0') {
        return -1;
    }
    for (; *text != '\0'; text++) {
        unsigned digit = (unsigned)(*text - '0');

        if (!isdigit((unsigned char)*text)) {
            return -1;
        }
        n = n > (ULLONG_MAX - digit) / 10 ? ULLONG_MAX : n * 10 + digit;
    }
    *number = n;
    return 0;
}

/* Parses VALUE of KEY as a whole number from MIN to MAX into *NUMBER.
 * Returns 0, or -1 after logging. */
static int config_get_number(struct config_loader *ld,
                             const struct config_key *key, const char *value,
                             unsigned long long min, unsigned long long max,
                             unsigned long long *number)
{
    char range[64];

    if (key->type == CONFIG_TYPE_PORT) {
        snprintf(range, sizeof(range), "1 to 65535, or 0 to turn it off");
    } else {
        snprintf(range, sizeof(range), "%llu to %llu", min, max);
    }
    if (config_parse_number(value, number) != 0) {
        config_error(ld, ld->line,
                     "%s = '%s' is not a valid number; use digits only, "
                     "from %s",
                     key->name, value, range);
        return -1;
    }
    if (*number < min || *number > max) {
        config_error(ld, ld->line, "%s = %s is out of range; use %s", key->name,
                     value, range);
        return -1;
    }
    return 0;
}

/* Parses seconds with up to 3 decimals, such as "10" or "0.5", into
 * milliseconds. Returns 0, or -1 when TEXT is not such a number. */
static int config_parse_ms(const char *text, unsigned long long *ms)
{
    unsigned long long whole = 0;
    unsigned fraction = 0;
    int places = 0;

    if (!isdigit((unsigned char)*text)) {
        return -1;
    }
    for (; isdigit((unsigned char)*text); text++) {
        if (whole <= UINT_MAX) { /* larger values are out of range anyway */
            whole = whole * 10 + (unsigned)(*text - '0');
        }
    }
    if (*text == '.') {
        text++;
        if (!isdigit((unsigned char)*text)) {
            return -1;
        }
        for (; isdigit((unsigned char)*text); text++) {
            if (places == 3) {
                return -1;
            }
            fraction = fraction * 10 + (unsigned)(*text - '0');
            places++;
        }
    }
    for (; places < 3; places++) {
        fraction *= 10;
    }
    if (*text != '\0') {
        return -1;
    }
    *ms = whole * 1000 + fraction;
    return 0;
}

static void config_set_seconds(struct config_loader *ld,
                               const struct config_key *key, unsigned *field,
                               const char *value)
{
    unsigned long long ms;

    if (config_parse_ms(value, &ms) != 0 || ms == 0 || ms > UINT_MAX) {
        config_error(ld, ld->line,
                     "%s = '%s' is not a valid time; give seconds above 0 "
                     "and up to %u, with at most 3 decimals, such as 10 or "
                     "0.5",
                     key->name, value, UINT_MAX / 1000);
        return;
    }
    *field = (unsigned)ms;
}

static bool config_address_valid(const char *address)
{
    unsigned char binary[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, address, binary) == 1 ||
           inet_pton(AF_INET6, address, binary) == 1;
}

void config_free_list(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i]);
    }
    free(list);
}

/* Returns true when TEXT is an IP address followed by "/" and a prefix
 * length that fits the address family. */
static bool config_network_valid(const char *text)
{
    const char *slash = strchr(text, '/');
    char address[64];
    char *end = NULL;
    long prefix;
    bool v4;

    if (slash == NULL) {
        return config_address_valid(text);
    }
    if ((size_t)(slash - text) >= sizeof(address)) {
        return false;
    }
    memcpy(address, text, (size_t)(slash - text));
    address[slash - text] = '\0';
    if (!config_address_valid(address)) {
        return false;
    }
    v4 = strchr(address, ':') == NULL;
    prefix = strtol(slash + 1, &end, 10);
    return end != slash + 1 && *end == '\0' && prefix >= 0 &&
           prefix <= (v4 ? 32 : 128);
}

/* Splits VALUE at commas into a new list of trimmed items, each of which
 * must pass VALID. Returns the list and sets *COUNT, or returns NULL after
 * reporting every invalid item with HINT. */
static char **config_split_list(struct config_loader *ld, const char *key,
                                const char *value, bool (*valid)(const char *),
                                const char *hint, size_t *count)
{
    char **list = NULL;
    const char *item = value;
    bool ok = true;

    *count = 0;
    for (;;) {
        size_t len = strcspn(item, ",");
        char **grown = config_append(list, *count, sizeof(*list));
        char *copy;

        if (grown == NULL) {
            config_out_of_memory(ld);
            ok = false;
            break;
        }
        list = grown;
        while (len > 0 && isspace((unsigned char)*item)) {
            item++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)item[len - 1])) {
            len--;
        }
        copy = strndup(item, len);
        if (copy == NULL) {
            config_out_of_memory(ld);
            ok = false;
            break;
        }
        list[(*count)++] = copy;
        if (!valid(copy)) {
            config_error(ld, ld->line, "%s entry '%s' is invalid; %s", key,
                         copy, hint);
            ok = false;
        }
        item += strcspn(item, ",");
        if (*item == '\0') {
            break;
        }
        item++;
    }
    if (!ok) {
        config_free_list(list, *count);
        return NULL;
    }
    return list;
}

static void config_set_list(struct config_loader *ld,
                            const struct config_key *key,
                            struct config_options *options, const char *value)
{
    bool networks = key->type == CONFIG_TYPE_NETWORKS;
    char ***field = networks ? &options->trusted_proxies : &options->listen;
    size_t *field_count =
        networks ? &options->trusted_proxy_count : &options->listen_count;
    size_t count = 0;
    char **list = config_split_list(
        ld, key->name, value,
        networks ? config_network_valid : config_address_valid,
        networks ? "write addresses or networks such as 10.0.0.5, "
                   "192.0.2.0/24, fd00::/8 separated by commas"
                 : "write IPv4 or IPv6 addresses such as 127.0.0.1, ::1 "
                   "separated by commas, or remove the line to listen on "
                   "all",
        &count);

    if (list == NULL) {
        return;
    }
    config_free_list(*field, *field_count);
    *field = list;
    *field_count = count;
}

/* Returns true when PREFIX is "/" followed by one or more path segments of
 * URL path characters (RFC 3986 pchar without percent-encoding), none of
 * them empty, "." or "..". */
static bool config_prefix_valid(const char *prefix)
{
    const char *p = prefix;

    if (*p != '/') {
        return false;
    }
    while (*p == '/') {
        const char *segment = p + 1;
        size_t len = strcspn(segment, "/");

        if (len == 0 || strncmp(segment, ".", len) == 0 ||
            strncmp(segment, "..", len) == 0) {
            return false;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)segment[i];

            if (!isalnum(c) && strchr("-._~!$&'()*+,;=:@", c) == NULL) {
                return false;
            }
        }
        p = segment + len;
    }
    return true;
}

static void config_set_prefix(struct config_loader *ld, char **field,
                              const char *value)
{
    if (!config_prefix_valid(value)) {
        config_error(ld, ld->line,
                     "client_prefix '%s' is invalid; write a URL path such as "
                     "/relay/client that starts with '/', has no trailing "
                     "'/' and no empty, '.' or '..' segment",
                     value);
        return;
    }
    config_set_copy(ld, field, value);
}

static void config_set_number(struct config_loader *ld,
                              const struct config_key *key, void *field,
                              const char *value)
{
    unsigned long long number;

    switch (key->type) {
    case CONFIG_TYPE_PORT:
        if (strcasecmp(value, "off") == 0) {
            *(int *)field = 0;
        } else if (config_get_number(ld, key, value, 0, 65535, &number) == 0) {
            *(int *)field = (int)number;
        }
        break;
    case CONFIG_TYPE_VERBOSITY:
        if (config_get_number(ld, key, value, 0, 5, &number) == 0) {
            *(int *)field = (int)number;
        }
        break;
    case CONFIG_TYPE_SIZE:
        if (config_get_number(ld, key, value, 1, SIZE_MAX, &number) == 0) {
            *(size_t *)field = (size_t)number;
        }
        break;
    default:
        if (config_get_number(ld, key, value, 1, UINT_MAX, &number) == 0) {
            *(unsigned *)field = (unsigned)number;
        }
        break;
    }
}

void config_set(struct config_loader *ld, const struct config_key *key,
                char *base, const char *value)
{
    void *field = base + key->offset;

    switch (key->type) {
    case CONFIG_TYPE_TEXT:
        if (*value == '\0') {
            config_replace(field, NULL);
        } else {
            config_set_copy(ld, field, value);
        }
        break;
    case CONFIG_TYPE_NAME:
        config_set_name(ld, key, field, value);
        break;
    case CONFIG_TYPE_TOKEN:
        config_set_token(ld, field, value);
        break;
    case CONFIG_TYPE_PATH:
        config_set_path(ld, key, field, value);
        break;
    case CONFIG_TYPE_BOOL:
        config_set_bool(ld, key, field, value);
        break;
    case CONFIG_TYPE_STATUS_PAGE:
        if (strcasecmp(value, "off") == 0) {
            *(enum config_status_page *)field = CONFIG_STATUS_OFF;
        } else if (strcasecmp(value, "on") == 0) {
            *(enum config_status_page *)field = CONFIG_STATUS_ON;
        } else if (strcasecmp(value, "local") == 0) {
            *(enum config_status_page *)field = CONFIG_STATUS_LOCAL;
        } else {
            config_error(ld, ld->line,
                         "status_page = '%s' is invalid; use off, local "
                         "(loopback clients only) or on",
                         value);
        }
        break;
    case CONFIG_TYPE_AFFINITY:
        config_set_affinity(ld, key, field, value, key->note);
        break;
    case CONFIG_TYPE_SECURITY:
        config_set_security(ld, key, field, value);
        break;
    case CONFIG_TYPE_SECONDS:
        config_set_seconds(ld, key, field, value);
        break;
    case CONFIG_TYPE_LISTEN:
    case CONFIG_TYPE_NETWORKS:
        config_set_list(ld, key, (struct config_options *)base, value);
        break;
    case CONFIG_TYPE_PREFIX:
        config_set_prefix(ld, field, value);
        break;
    case CONFIG_TYPE_IGNORED:
        config_warn(ld, ld->line, "%s %s", key->name, key->note);
        break;
    default:
        config_set_number(ld, key, field, value);
        break;
    }
}
