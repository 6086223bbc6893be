#include "common/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int url_scheme(const char *text, struct url *out, const char **rest)
{
    if (strncasecmp(text, "https://", 8) == 0) {
        out->tls = true;
        *rest = text + 8;
        strcpy(out->port, "443");
        return 0;
    }
    if (strncasecmp(text, "http://", 7) == 0) {
        out->tls = false;
        *rest = text + 7;
        strcpy(out->port, "80");
        return 0;
    }
    return -1;
}

/* Copies the host at *CURSOR and advances past it. */
static int url_host(const char **cursor, struct url *out, char *why,
                    size_t size)
{
    const char *p = *cursor;
    size_t len;

    if (*p == '[') {
        const char *close = strchr(p, ']');

        if (close == NULL) {
            snprintf(why, size, "an IPv6 address needs a closing ']'");
            return -1;
        }
        len = (size_t)(close - p - 1);
        p++;
        *cursor = close + 1;
    } else {
        len = strcspn(p, ":/?#");
        *cursor = p + len;
    }
    if (len == 0 || len >= sizeof(out->host)) {
        snprintf(why, size, "the host name is missing or too long");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)p[i]) || iscntrl((unsigned char)p[i]) ||
            p[i] == '@') {
            snprintf(why, size, "the host name contains an invalid character");
            return -1;
        }
    }
    memcpy(out->host, p, len);
    out->host[len] = '\0';
    return 0;
}

static int url_port(const char **cursor, struct url *out, char *why,
                    size_t size)
{
    const char *p = *cursor;
    char *end = NULL;
    long port;

    if (*p != ':') {
        return 0;
    }
    p++;
    port = strtol(p, &end, 10);
    if (end == p || port < 1 || port > 65535 ||
        (*end != '\0' && *end != '/' && *end != '?')) {
        snprintf(why, size, "the port must be a number from 1 to 65535");
        return -1;
    }
    snprintf(out->port, sizeof(out->port), "%ld", port);
    *cursor = end;
    return 0;
}

int url_parse(const char *text, struct url *out, char *why, size_t size)
{
    const char *cursor = NULL;

    memset(out, 0, sizeof(*out));
    if (url_scheme(text, out, &cursor) != 0) {
        snprintf(why, size, "the URL must start with http:// or https://");
        return -1;
    }
    if (url_host(&cursor, out, why, size) != 0 ||
        url_port(&cursor, out, why, size) != 0) {
        return -1;
    }
    if (*cursor != '\0' && *cursor != '/') {
        snprintf(why, size, "unexpected '%c' after the host and port", *cursor);
        return -1;
    }
    if (strlen(cursor) >= sizeof(out->path)) {
        snprintf(why, size, "the path is too long");
        return -1;
    }
    strcpy(out->path, cursor);
    return 0;
}
