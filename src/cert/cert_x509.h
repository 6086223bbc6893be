/*
 * Building blocks shared by the `cert` subcommands: key generation, subject
 * and date parsing, CA and leaf certificate creation, CSRs, PKCS#12 bundles
 * and PEM encoding. Functions that can fail log the cause with the value
 * involved and return -1 or NULL.
 */
#ifndef DRAWBRIDGE_CERT_X509_H
#define DRAWBRIDGE_CERT_X509_H

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CERT_DEFAULT_KEY_TYPE "rsa:3072"
/* Ten years for a private CA. */
#define CERT_DEFAULT_CA_DAYS 3650
/* 397 days: the longest lifetime that Apple platforms and current browsers
 * accept for a TLS server certificate (398 days, less a day of margin). */
#define CERT_DEFAULT_LEAF_DAYS 397
#define CERT_MAX_DAYS          36500
#define CERT_NAMES_MAX         64

/* When a new certificate is valid. Set either DAYS (from now), or
 * NOT_BEFORE and NOT_AFTER, which the --not-before and --not-after options
 * set to reproduce expired or future certificates. */
struct cert_validity {
    int days;
    time_t not_before; /* 0 = now */
    time_t not_after;  /* 0 = not_before + days */
};

/* Host names and IP addresses for a subjectAltName. */
struct cert_names {
    const char *hosts[CERT_NAMES_MAX];
    size_t host_count;
    const char *ips[CERT_NAMES_MAX];
    size_t ip_count;
};

/* Generates a key of TYPE: "rsa:BITS" (2048 to 8192) or "ec:CURVE" with
 * CURVE one of P-256, P-384, P-521. Returns NULL after logging when TYPE is
 * invalid or generation fails. */
EVP_PKEY *cert_key_generate(const char *type);

/* Parses a distinguished name written "CN=x,O=y" or "/CN=x/O=y". A
 * backslash escapes the next character. Returns a new name, or NULL after
 * logging which part is invalid. */
X509_NAME *cert_subject_parse(const char *text);

/* Parses a UTC date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" into *OUT.
 * Returns 0, or -1 after logging, for OPTION's value TEXT. */
int cert_time_parse(const char *option, const char *text, time_t *out);

/* Parses a day count between 1 and CERT_MAX_DAYS. Returns 0, or -1 after
 * logging. */
int cert_days_parse(const char *text, int *days);

/* Checks that TEXT is an IPv4 or IPv6 address. */
bool cert_ip_valid(const char *text);

/* Checks that TEXT is a DNS name that may appear in a certificate: labels
 * of letters, digits and hyphens, with an optional leading "*." wildcard. */
bool cert_host_valid(const char *text);

/* Creates a self-signed CA certificate for KEY and SUBJECT, signed with
 * SHA-256. Returns a new certificate or NULL after logging. */
X509 *cert_ca_create(EVP_PKEY *key, const X509_NAME *subject,
                     const struct cert_validity *validity);

/* Creates a CSR for KEY. The subject is SUBJECT (may be NULL) with its CN
 * set to the first host, or the first IP when there is no host, and every
 * name goes into a requested subjectAltName. Returns NULL after logging. */
X509_REQ *cert_request_create(EVP_PKEY *key, const X509_NAME *subject,
                              const struct cert_names *names);

/* Signs CSR with CA_CERT and CA_KEY. The result carries a random 128-bit
 * serial, the CSR's subject and subjectAltName, basicConstraints CA:FALSE,
 * the keyUsage that fits the key type, and EKU serverAuth, or clientAuth
 * when CLIENT is true. The CSR's signature must verify. Returns NULL after
 * logging; CSR_PATH names the CSR in messages. */
X509 *cert_sign_request(X509_REQ *csr, const char *csr_path, X509 *ca_cert,
                        EVP_PKEY *ca_key, const struct cert_validity *validity,
                        bool client);

/* Bundles KEY, CERT and CHAIN (may be NULL) as PKCS#12 protected by
 * PASSWORD, with friendly name NAME (may be NULL). LEGACY selects 3DES and
 * SHA-1, which Windows before Server 2016 and Java 8 need, instead of
 * AES-256 and SHA-256. Returns NULL after logging. */
PKCS12 *cert_pkcs12_create(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                           const char *name, const char *password, bool legacy);

/* Encodes an object into a new buffer (*DATA, free with free()) of *LEN
 * bytes. Each returns 0, or -1 after logging. */
int cert_encode_cert_pem(X509 *cert, char **data, size_t *len);
int cert_encode_key_pem(EVP_PKEY *key, char **data, size_t *len);
int cert_encode_csr_pem(X509_REQ *csr, char **data, size_t *len);
int cert_encode_pkcs12(PKCS12 *p12, char **data, size_t *len);

/* Wipes and frees a buffer that held secret material. */
void cert_free_secret(char *data, size_t len);

#endif
