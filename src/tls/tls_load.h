/*
 * Loading certificates, keys and CSRs from files in any format that
 * administrators meet: PEM, DER and PKCS#12. Each loader logs what failed,
 * on which file, and what to do, so callers only pass the -1 or NULL up.
 */
#ifndef DRAWBRIDGE_TLS_LOAD_H
#define DRAWBRIDGE_TLS_LOAD_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

enum tls_file_format {
    TLS_FORMAT_PEM,
    TLS_FORMAT_DER,
    TLS_FORMAT_PKCS12,
};

/* Certificates, and a private key when the file carries one. */
struct tls_bundle {
    STACK_OF(X509) * certs; /* leaf first, in file order otherwise */
    EVP_PKEY *key;          /* NULL when the file has no key */
    char *friendly_name;    /* PKCS#12 friendly name of the leaf, or NULL */
    enum tls_file_format format;
};

/* Loads every certificate in PATH and, for PKCS#12 or a PEM file that also
 * holds a key, the private key. PASSWORD unlocks a PKCS#12 file and may be
 * NULL, in which case an empty password is tried. For PKCS#12 the leaf (the
 * certificate matching the key) is moved to index 0. Returns 0, or logs the
 * cause (not a certificate, truncated, wrong password) and returns -1. On
 * success the caller frees BUNDLE with tls_bundle_free. */
int tls_bundle_load(struct tls_bundle *bundle, const char *path,
                    const char *password);

/* Frees what tls_bundle_load stored in BUNDLE. Safe on a zeroed bundle. */
void tls_bundle_free(struct tls_bundle *bundle);

/* Loads the first certificate of PATH (PEM or DER). Returns a new
 * reference, or NULL after logging the cause. */
X509 *tls_cert_load(const char *path);

/* Loads an unencrypted private key from PATH (PEM or DER). Returns a new
 * reference, or NULL after logging the cause. */
EVP_PKEY *tls_key_load(const char *path);

/* Loads a certificate signing request from PATH (PEM or DER). Returns a new
 * reference, or NULL after logging the cause. */
X509_REQ *tls_csr_load(const char *path);

/* Writes a description of KEY such as "RSA 3072 bits" or "EC P-256
 * (256 bits)" into BUF. */
void tls_key_describe(const EVP_PKEY *key, char *buf, size_t size);

/* Writes the colon-separated upper-case hex digest of CERT's DER encoding
 * with MD (EVP_sha256() or EVP_sha1()) into BUF, which needs 3 bytes per
 * digest byte. Returns 0, or -1 when hashing fails. */
int tls_fingerprint(const X509 *cert, const EVP_MD *md, char *buf, size_t size);

/* Writes the reason of the most recent OpenSSL error into BUF, or
 * "unknown error" when the queue is empty, and clears the queue. */
void tls_error_string(char *buf, size_t size);

/* Writes NAME as one line of comma-separated RDNs ("CN=x, O=y"). */
void tls_name_format(const X509_NAME *name, char *buf, size_t size);

#endif
