/*
 * The PROXY protocol (versions 1 and 2, as HAProxy specifies them), which a
 * load balancer in front of the relay uses to pass on the address of the
 * client it accepted, and the list of networks trusted to send it.
 */
#ifndef DRAWBRIDGE_RELAY_PROXY_H
#define DRAWBRIDGE_RELAY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest header this parser reads: a version 1 line is at most 107
 * bytes, and a version 2 header with TLVs is capped here. */
#define PROXY_HEADER_MAX 536

enum proxy_result {
    PROXY_NONE,     /* the bytes are not a PROXY header */
    PROXY_PARTIAL,  /* a PROXY header has begun; more bytes are needed */
    PROXY_COMPLETE, /* a whole header: *LEN bytes, source in *SOURCE */
    PROXY_INVALID,  /* a PROXY header that cannot be parsed */
};

/* Examines the LEN bytes at DATA. On PROXY_COMPLETE stores the header's
 * length in *HEADER_LEN and the client's address in *SOURCE, or sets
 * SOURCE's family to AF_UNSPEC for a LOCAL (v2) or UNKNOWN (v1) header,
 * which carries no address. */
enum proxy_result proxy_parse(const uint8_t *data, size_t len,
                              struct sockaddr_storage *source,
                              size_t *header_len);

/* An IPv4 or IPv6 network, such as 10.0.0.0/8. */
struct proxy_network {
    int family;
    uint8_t address[16];
    unsigned prefix;
};

/* Parses TEXT, an address or ADDRESS/PREFIX, into NETWORK. Returns 0, or
 * -1 when TEXT is neither. */
int proxy_network_parse(const char *text, struct proxy_network *network);

/* Returns true when ADDR lies in one of the COUNT NETWORKS. An IPv4 address
 * mapped into IPv6 (::ffff:a.b.c.d) matches IPv4 networks. */
bool proxy_networks_contain(const struct proxy_network *networks, size_t count,
                            const struct sockaddr *addr);

#endif
