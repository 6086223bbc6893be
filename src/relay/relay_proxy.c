#include "relay/relay_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t proxy_v2_signature[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Returns true when the LEN bytes at DATA could begin PREFIX. */
static bool proxy_starts(const uint8_t *data, size_t len, const void *prefix,
                         size_t prefix_len)
{
    size_t n = len < prefix_len ? len : prefix_len;

    return memcmp(data, prefix, n) == 0;
}

/* Parses a port: decimal digits without sign or leading zero, 0-65535. */
static int proxy_v1_port(const char *text, uint16_t *port)
{
    long value = 0;

    if (text[0] == '\0' || strlen(text) > 5 ||
        (text[0] == '0' && text[1] != '\0')) {
        return -1;
    }
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        value = value * 10 + (*p - '0');
    }
    if (value > 65535) {
        return -1;
    }
    *port = (uint16_t)value;
    return 0;
}

/* Checks the addresses and ports of a TCP4 or TCP6 line and stores the
 * source in SOURCE. */
static int proxy_v1_fields(char *const fields[6],
                           struct sockaddr_storage *source)
{
    int family = strcmp(fields[1], "TCP4") == 0   ? AF_INET
                 : strcmp(fields[1], "TCP6") == 0 ? AF_INET6
                                                  : 0;
    uint8_t scratch[16];
    uint16_t sport;
    uint16_t dport;

    memset(source, 0, sizeof(*source));
    if (family == 0 || inet_pton(family, fields[3], scratch) != 1 ||
        proxy_v1_port(fields[4], &sport) != 0 ||
        proxy_v1_port(fields[5], &dport) != 0) {
        return -1;
    }
    if (family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)source;

        in4->sin_family = AF_INET;
        in4->sin_port = htons(sport);
        return inet_pton(AF_INET, fields[2], &in4->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)source;

    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(sport);
    return inet_pton(AF_INET6, fields[2], &in6->sin6_addr) == 1 ? 0 : -1;
}

/* Splits LINE at single spaces into exactly MAX fields. Returns 0, or -1
 * for another number of fields or an empty one (two spaces in a row, or a
 * space at either end). */
static int proxy_v1_split(char *line, char *fields[], int max)
{
    int count = 0;
    char *p = line;

    for (;;) {
        char *space = strchr(p, ' ');

        if (count == max || *p == '\0' || p == space) {
            return -1;
        }
        fields[count++] = p;
        if (space == NULL) {
            break;
        }
        *space = '\0';
        p = space + 1;
    }
    return count == max ? 0 : -1;
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...", or
 * "PROXY UNKNOWN ...\r\n", at most 107 bytes with the CRLF, with single
 * spaces between fields. */
static enum proxy_result proxy_parse_v1(const uint8_t *data, size_t len,
                                        struct sockaddr_storage *source,
                                        size_t *header_len)
{
    size_t end = 0;
    char line[108];
    char *fields[6];

    /* The CR may stand at index 105 at most, so that CRLF ends the line
     * within 107 bytes. */
    while (end < len && end <= 105 && data[end] != '\r' && data[end] != '\n' &&
           data[end] != '\t' && data[end] != '\0') {
        end++;
    }
    if (end == len) {
        return PROXY_PARTIAL;
    }
    if (end > 105 || data[end] != '\r') {
        return PROXY_INVALID;
    }
    if (end + 1 == len) {
        return PROXY_PARTIAL;
    }
    if (data[end + 1] != '\n') {
        return PROXY_INVALID;
    }
    memcpy(line, data, end);
    line[end] = '\0';
    *header_len = end + 2;
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
        (line[13] == '\0' || line[13] == ' ')) {
        /* The rest of an UNKNOWN line is ignored, as the PROXY protocol
         * specification (HAProxy's proxy-protocol.txt) requires. */
        memset(source, 0, sizeof(*source));
        source->ss_family = AF_UNSPEC;
        return PROXY_COMPLETE;
    }
    if (proxy_v1_split(line, fields, 6) != 0 ||
        strcmp(fields[0], "PROXY") != 0 ||
        proxy_v1_fields(fields, source) != 0) {
        return PROXY_INVALID;
    }
    return PROXY_COMPLETE;
}

static enum proxy_result proxy_v2_address(const uint8_t *body, size_t len,
                                          uint8_t family,
                                          struct sockaddr_storage *source)
{
    unsigned address_family = family >> 4;
    unsigned transport = family & 0x0F;

    memset(source, 0, sizeof(*source));
    if (address_family > 3 || transport > 2) {
        return PROXY_INVALID;
    }
    if (address_family == 1 && len >= 12) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)source;

        in4->sin_family = AF_INET;
        memcpy(&in4->sin_addr, body, 4);
        memcpy(&in4->sin_port, body + 8, 2);
        return PROXY_COMPLETE;
    }
    if (address_family == 2 && len >= 36) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)source;

        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, body, 16);
        memcpy(&in6->sin6_port, body + 32, 2);
        return PROXY_COMPLETE;
    }
    if (address_family == 0 || (address_family == 3 && len >= 216)) {
        /* UNSPEC, or UNIX sockets, which carry no IP address: the
         * connection keeps its own address, as the specification requires
         * of a receiver that does not support a family. */
        source->ss_family = AF_UNSPEC;
        return PROXY_COMPLETE;
    }
    return PROXY_INVALID;
}

static enum proxy_result proxy_parse_v2(const uint8_t *data, size_t len,
                                        struct sockaddr_storage *source,
                                        size_t *header_len)
{
    size_t body_len;
    uint8_t command;

    if (len < 16) {
        return PROXY_PARTIAL;
    }
    if ((data[12] >> 4) != 0x2) {
        return PROXY_INVALID;
    }
    command = data[12] & 0x0F;
    body_len = ((size_t)data[14] << 8) | data[15];
    if (16 + body_len > PROXY_HEADER_MAX) {
        return PROXY_INVALID;
    }
    if (len < 16 + body_len) {
        return PROXY_PARTIAL;
    }
    *header_len = 16 + body_len;
    if (command == 0x0) {
        /* LOCAL: the proxy's own connection, such as a health check. */
        memset(source, 0, sizeof(*source));
        source->ss_family = AF_UNSPEC;
        return PROXY_COMPLETE;
    }
    if (command != 0x1) {
        return PROXY_INVALID;
    }
    return proxy_v2_address(data + 16, body_len, data[13], source);
}

enum proxy_result proxy_parse(const uint8_t *data, size_t len,
                              struct sockaddr_storage *source,
                              size_t *header_len)
{
    if (len == 0) {
        return PROXY_PARTIAL;
    }
    if (proxy_starts(data, len, proxy_v2_signature,
                     sizeof(proxy_v2_signature))) {
        return len < sizeof(proxy_v2_signature)
                   ? PROXY_PARTIAL
                   : proxy_parse_v2(data, len, source, header_len);
    }
    if (proxy_starts(data, len, "PROXY ", 6)) {
        return len < 6 ? PROXY_PARTIAL
                       : proxy_parse_v1(data, len, source, header_len);
    }
    return PROXY_NONE;
}

int proxy_network_parse(const char *text, struct proxy_network *network)
{
    char address[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max;
    char *end = NULL;

    if (len == 0 || len >= sizeof(address)) {
        return -1;
    }
    memcpy(address, text, len);
    address[len] = '\0';
    memset(network, 0, sizeof(*network));
    if (inet_pton(AF_INET, address, network->address) == 1) {
        network->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, address, network->address) == 1) {
        network->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    network->prefix = max;
    if (slash != NULL) {
        long prefix = strtol(slash + 1, &end, 10);

        if (end == slash + 1 || *end != '\0' || prefix < 0 ||
            prefix > (long)max) {
            return -1;
        }
        network->prefix = (unsigned)prefix;
    }
    return 0;
}

static bool proxy_prefix_equal(const uint8_t *a, const uint8_t *b,
                               unsigned bits)
{
    unsigned bytes = bits / 8;
    unsigned rest = bits % 8;

    if (memcmp(a, b, bytes) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));

    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool proxy_networks_contain(const struct proxy_network *networks, size_t count,
                            const struct sockaddr *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xFF, 0xFF};
    const uint8_t *v4 = NULL;
    const uint8_t *v6 = NULL;

    if (addr->sa_family == AF_INET) {
        v4 = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
    } else if (addr->sa_family == AF_INET6) {
        v6 = (const uint8_t *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (memcmp(v6, mapped, sizeof(mapped)) == 0) {
            v4 = v6 + 12; /* matches IPv4 networks as well */
        }
    }
    for (size_t i = 0; i < count; i++) {
        const struct proxy_network *network = &networks[i];

        if (network->family == AF_INET && v4 != NULL &&
            proxy_prefix_equal(network->address, v4, network->prefix)) {
            return true;
        }
        if (network->family == AF_INET6 && v6 != NULL &&
            proxy_prefix_equal(network->address, v6, network->prefix)) {
            return true;
        }
    }
    return false;
}
