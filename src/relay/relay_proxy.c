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

static int proxy_v1_address(const char *text, const char *port, int family,
                            struct sockaddr_storage *source)
{
    char *end = NULL;
    long number = strtol(port, &end, 10);

    if (end == port || *end != '\0' || number < 0 || number > 65535) {
        return -1;
    }
    memset(source, 0, sizeof(*source));
    if (family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)source;

        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)number);
        return inet_pton(AF_INET, text, &in4->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)source;

    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)number);
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? 0 : -1;
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...", or
 * "PROXY UNKNOWN ...\r\n". */
static enum proxy_result proxy_parse_v1(const uint8_t *data, size_t len,
                                        struct sockaddr_storage *source,
                                        size_t *header_len)
{
    const uint8_t *crlf = NULL;
    char line[108];
    char proto[8], src[64], dst[64], sport[8], dport[8];
    int fields;

    for (size_t i = 0; i + 1 < len && i < 107; i++) {
        if (data[i] == '\r' && data[i + 1] == '\n') {
            crlf = data + i;
            break;
        }
    }
    if (crlf == NULL) {
        return len >= 107 ? PROXY_INVALID : PROXY_PARTIAL;
    }
    memcpy(line, data, (size_t)(crlf - data));
    line[crlf - data] = '\0';
    *header_len = (size_t)(crlf - data) + 2;
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0) {
        memset(source, 0, sizeof(*source));
        source->ss_family = AF_UNSPEC;
        return PROXY_COMPLETE;
    }
    fields = sscanf(line, "PROXY %7s %63s %63s %7s %7s", proto, src, dst, sport,
                    dport);
    if (fields != 5 ||
        (strcmp(proto, "TCP4") != 0 && strcmp(proto, "TCP6") != 0)) {
        return PROXY_INVALID;
    }
    if (proxy_v1_address(src, sport,
                         strcmp(proto, "TCP4") == 0 ? AF_INET : AF_INET6,
                         source) != 0) {
        return PROXY_INVALID;
    }
    return PROXY_COMPLETE;
}

static enum proxy_result proxy_v2_address(const uint8_t *body, size_t len,
                                          uint8_t family,
                                          struct sockaddr_storage *source)
{
    memset(source, 0, sizeof(*source));
    if ((family >> 4) == 0x1 && len >= 12) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)source;

        in4->sin_family = AF_INET;
        memcpy(&in4->sin_addr, body, 4);
        memcpy(&in4->sin_port, body + 8, 2);
        return PROXY_COMPLETE;
    }
    if ((family >> 4) == 0x2 && len >= 36) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)source;

        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, body, 16);
        memcpy(&in6->sin6_port, body + 32, 2);
        return PROXY_COMPLETE;
    }
    if ((family >> 4) == 0x0) {
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
    const uint8_t *bytes;
    int family = addr->sa_family;

    if (family == AF_INET) {
        bytes = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
    } else if (family == AF_INET6) {
        bytes =
            (const uint8_t *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (memcmp(bytes, mapped, sizeof(mapped)) == 0) {
            family = AF_INET;
            bytes += 12;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        if (networks[i].family == family &&
            proxy_prefix_equal(networks[i].address, bytes,
                               networks[i].prefix)) {
            return true;
        }
    }
    return false;
}
