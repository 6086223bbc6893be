/*
 * Parsing of http and https URLs given on command lines.
 */
#ifndef DRAWBRIDGE_URL_H
#define DRAWBRIDGE_URL_H

#include <stdbool.h>
#include <stddef.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 1024

struct url {
    bool tls;                /* https */
    char host[URL_HOST_MAX]; /* name or address, without IPv6 brackets */
    char port[6];            /* decimal; 443 or 80 when the URL has none */
    char path[URL_PATH_MAX]; /* "" when the URL has no path */
};

/* Parses TEXT as "http[s]://HOST[:PORT][/PATH]" with HOST a DNS name, an
 * IPv4 address or a bracketed IPv6 address. Returns 0, or -1 with the
 * reason in WHY (nothing is logged). */
int url_parse(const char *text, struct url *out, char *why, size_t size);

#endif
