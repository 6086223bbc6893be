#include "tunnel/tunnel.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool tunnel_value_sendable(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Appends VALUE percent-encoded, leaving RFC 3986 unreserved characters. */
static int tunnel_add_encoded(struct evbuffer *out, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int rc;

        if (isalnum(*p) || strchr("-._~", *p) != NULL) {
            rc = evbuffer_add(out, p, 1);
        } else {
            rc = evbuffer_add_printf(out, "%%%02X", *p) < 0 ? -1 : 0;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

int tunnel_hello_write(struct evbuffer *out, const char *host_header,
                       const char *suffix, const struct tunnel_hello *hello)
{
    if (!tunnel_value_sendable(host_header) || !tunnel_value_sendable(suffix) ||
        !tunnel_value_sendable(hello->token)) {
        return -1;
    }
    if (evbuffer_add_printf(out, "GET %s?farm=", suffix) < 0 ||
        tunnel_add_encoded(out, hello->farm) != 0 ||
        evbuffer_add_printf(out, "&id=") < 0 ||
        tunnel_add_encoded(out, hello->id) != 0 ||
        (hello->probe && evbuffer_add_printf(out, "&probe=1") < 0)) {
        return -1;
    }
    if (evbuffer_add_printf(out,
                            " HTTP/1.1\r\n"
                            "Host: %s\r\n"
                            "Connection: Upgrade\r\n"
                            "Upgrade: %s\r\n"
                            "Authorization: Bearer %s\r\n"
                            "User-Agent: drawbridge-enabler/%s\r\n"
                            "\r\n",
                            host_header, TUNNEL_PROTOCOL, hello->token,
                            DRAWBRIDGE_VERSION) < 0) {
        return -1;
    }
    return 0;
}

static int tunnel_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes the percent-encoded LEN bytes at SRC into DST of SIZE bytes.
 * Returns 0, or -1 for a bad escape, a control character or overflow. */
static int tunnel_decode(const char *src, size_t len, char *dst, size_t size)
{
    size_t used = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];

        if (c == '%') {
            int hi = i + 2 < len ? tunnel_hex(src[i + 1]) : -1;
            int lo = i + 2 < len ? tunnel_hex(src[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f || used + 1 >= size) {
            return -1;
        }
        dst[used++] = (char)c;
    }
    dst[used] = '\0';
    return 0;
}

/* Finds NAME=value in QUERY and decodes the value into DST. Returns 0,
 * 1 when NAME is absent, or -1 when its value is invalid. */
static int tunnel_query_get(const char *query, const char *name, char *dst,
                            size_t size)
{
    size_t name_len = strlen(name);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > name_len && strncmp(p, name, name_len) == 0 &&
            p[name_len] == '=') {
            return tunnel_decode(p + name_len + 1, len - name_len - 1, dst,
                                 size);
        }
        p = end ? end + 1 : NULL;
    }
    return 1;
}

bool tunnel_is_server_path(const char *path, size_t len)
{
    static const char *const suffixes[] = {TUNNEL_SUFFIX_IIS,
                                           TUNNEL_SUFFIX_APACHE};

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(suffixes[i]);

        if (len == n && strncasecmp(path, suffixes[i], n) == 0) {
            return true;
        }
    }
    return false;
}

bool tunnel_token_equal(const char *expected, const char *given)
{
    size_t expected_len = strlen(expected);
    size_t given_len = strlen(given);
    unsigned char diff = expected_len != given_len;

    /* Every byte of GIVEN is compared, whatever the lengths, so the time
     * taken reveals neither the position of a difference nor the length of
     * the expected token. */
    for (size_t i = 0; i < given_len; i++) {
        unsigned char e = (unsigned char)expected[i % (expected_len + 1)];

        diff |= e ^ (unsigned char)given[i];
    }
    return diff == 0 && expected_len > 0;
}

static int tunnel_hello_version(const char *upgrade, struct tunnel_hello *hello,
                                char *reason, size_t size)
{
    size_t prefix = strlen(TUNNEL_PROTOCOL_PREFIX);
    char *end = NULL;

    if (upgrade == NULL ||
        strncasecmp(upgrade, TUNNEL_PROTOCOL_PREFIX, prefix) != 0) {
        snprintf(reason, size,
                 "the request does not ask for an upgrade to %s; upgrade the "
                 "enabler",
                 TUNNEL_PROTOCOL);
        return 426;
    }
    hello->version = (int)strtol(upgrade + prefix, &end, 10);
    if (end == upgrade + prefix || *end != '\0' || hello->version != 1) {
        snprintf(reason, size,
                 "unsupported tunnel version '%s'; this relay speaks %s",
                 upgrade, TUNNEL_PROTOCOL);
        return 426;
    }
    return 0;
}

static int tunnel_hello_ids(const char *query, struct tunnel_hello *hello,
                            char *reason, size_t size)
{
    if (query == NULL ||
        tunnel_query_get(query, "farm", hello->farm, sizeof(hello->farm)) ||
        hello->farm[0] == '\0') {
        snprintf(reason, size,
                 "missing or invalid farm in the server URL; give the "
                 "enabler its farm id");
        return 400;
    }
    char probe[8];

    if (tunnel_query_get(query, "probe", probe, sizeof(probe)) == 0) {
        hello->probe = strcmp(probe, "1") == 0;
    }
    if (tunnel_query_get(query, "id", hello->id, sizeof(hello->id)) ||
        hello->id[0] == '\0') {
        snprintf(reason, size,
                 "missing or invalid server id in the server URL; give the "
                 "enabler its server id");
        return 400;
    }
    return 0;
}

static int tunnel_hello_token(const char *authorization,
                              struct tunnel_hello *hello, char *reason,
                              size_t size)
{
    const char *token;

    if (authorization == NULL ||
        strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(reason, size,
                 "no bearer token for server %s of farm %s; give the enabler "
                 "its token",
                 hello->id, hello->farm);
        return 401;
    }
    token = authorization + 7;
    while (*token == ' ') {
        token++;
    }
    if (*token == '\0' || strlen(token) >= sizeof(hello->token)) {
        snprintf(reason, size,
                 "empty or overlong token for server %s of farm %s", hello->id,
                 hello->farm);
        return 401;
    }
    strcpy(hello->token, token);
    return 0;
}

int tunnel_hello_parse(const char *target, const char *upgrade,
                       const char *authorization, struct tunnel_hello *hello,
                       char *reason, size_t size)
{
    const char *query = strchr(target, '?');
    int status;

    memset(hello, 0, sizeof(*hello));
    reason[0] = '\0';
    status = tunnel_hello_version(upgrade, hello, reason, size);
    if (status == 0) {
        status =
            tunnel_hello_ids(query ? query + 1 : NULL, hello, reason, size);
    }
    if (status == 0) {
        status = tunnel_hello_token(authorization, hello, reason, size);
    }
    return status;
}
