/*
 * TLS contexts for the relay (server side) and the enabler (client side),
 * with verification on by default. Both require TLS 1.2 at least.
 */
#ifndef DRAWBRIDGE_TLS_CONTEXT_H
#define DRAWBRIDGE_TLS_CONTEXT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* The files of a server's certificate and key: PEM files (the
 * certificate file may carry the chain after the leaf), or a PKCS#12
 * bundle with its password in the first line of a file. */
struct tls_server_files {
    const char *certificate;
    const char *private_key;
    const char *pkcs12;
    const char *pkcs12_password_file;
};

/* Creates a server context from FILES. Checks that the key matches the
 * certificate and warns when the key file is readable by others. Returns a
 * new context, or NULL after logging which file is wrong and how to fix
 * it. */
SSL_CTX *tls_server_context_new(const struct tls_server_files *files);

/* Creates a client context that verifies servers against the certificates
 * in CA_FILE, or against the system's trust store when CA_FILE is NULL.
 * With VERIFY false nothing is verified (only for an option whose name
 * says it is unsafe). Returns NULL after logging. */
SSL_CTX *tls_client_context_new(const char *ca_file, bool verify);

/* Sets up SSL for a connection to HOST: SNI when HOST is a name, and the
 * host name or IP address that the certificate must match. Returns 0, or
 * -1 when OpenSSL rejects HOST. */
int tls_client_prepare(SSL *ssl, const char *host);

struct event_base;
struct bufferevent;

/* Creates an unconnected bufferevent for a TLS client connection to HOST
 * with CTX, set up by tls_client_prepare, that frees its socket and SSL
 * when freed and runs its callbacks deferred. A peer that closes without
 * close_notify is taken as EOF. Returns NULL when out of memory or when
 * OpenSSL rejects HOST. */
struct bufferevent *tls_client_bufferevent(struct event_base *base,
                                           SSL_CTX *ctx, const char *host);

/* Writes into BUF why the server's certificate was rejected on SSL after a
 * failed handshake, with the fix: an untrusted CA names the issuer and
 * CA_FILE, a host name mismatch names HOST and the names the certificate
 * covers. Writes an empty string when verification did not fail. */
void tls_explain_verify_failure(SSL *ssl, const char *host, const char *ca_file,
                                char *buf, size_t size);

/* Writes the certificate's DNS and IP subjectAltName entries, or its CN
 * when there are none, into BUF as "DNS:a, IP:b". */
void tls_cert_names(X509 *cert, char *buf, size_t size);

#endif
