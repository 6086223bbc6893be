/*
 * The client side of `cert probe`: parsing an https URL, connecting with a
 * timeout, and a TLS handshake that accepts any certificate, so that the
 * caller always gets the served chain and verifies it on its own.
 */
#ifndef DRAWBRIDGE_TLS_PROBE_H
#define DRAWBRIDGE_TLS_PROBE_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest DNS name (253 characters) plus the terminating NUL. */
#define TLS_HOST_MAX 254
/* "[IPv6 address]:65535" plus the terminating NUL. */
#define TLS_ADDRESS_MAX (INET6_ADDRSTRLEN + 8)

/* The parts of an https URL that a connection needs. */
struct tls_url {
    char host[TLS_HOST_MAX]; /* DNS name or IP address, without brackets */
    char port[6];            /* decimal, "443" when the URL has none */
    bool host_is_ip;         /* an IPv4 or IPv6 address literal */
};

/* Parses URL as "https://HOST[:PORT][/PATH]", where HOST is a DNS name, an
 * IPv4 address or an IPv6 address in brackets, and PORT is 1 to 65535. The
 * scheme is matched without regard to case, and the path, query and
 * fragment are ignored. Returns 0, or -1 with the reason in WHY (no
 * logging, so that the caller can report it as a usage error). */
int tls_url_parse(const char *url, struct tls_url *out, char *why,
                  size_t why_size);

/* Returns true when TEXT is an IPv4 or IPv6 address without brackets. */
bool tls_is_ip_address(const char *text);

/* Writes "HOST:PORT" into BUF, with brackets around an IPv6 HOST. */
void tls_host_port_format(const char *host, const char *port, char *buf,
                          size_t size);

/* An open probe connection. */
struct tls_probe {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;                        /* -1 when not connected */
    char address[TLS_ADDRESS_MAX]; /* numeric "ADDR:PORT" connected to */
};

/* Resolves HOST with getaddrinfo and connects to PORT on each address in
 * turn until one accepts, waiting at most TIMEOUT_SECONDS for each. Then
 * completes a TLS 1.2 or later handshake without verifying the server's
 * certificate, with each read and write of the handshake limited to
 * TIMEOUT_SECONDS. SERVERNAME is sent as SNI, or nothing when it is NULL
 * or an IP address. Returns 0, or -1 after logging what failed with
 * HOST:PORT and what to check (name not resolved, connection refused,
 * timed out, handshake failed). The caller calls tls_probe_close in both
 * cases. */
int tls_probe_open(struct tls_probe *probe, const char *host, const char *port,
                   const char *servername, int timeout_seconds);

/* Sends a TLS close_notify when the handshake completed, then frees
 * PROBE's connection. Safe on a probe that tls_probe_open failed to open. */
void tls_probe_close(struct tls_probe *probe);

#endif
