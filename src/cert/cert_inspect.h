/*
 * Reading the fields of certificates and CSRs into text, for `cert show`
 * and `cert verify`.
 */
#ifndef DRAWBRIDGE_CERT_INSPECT_H
#define DRAWBRIDGE_CERT_INSPECT_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes TIME as "YYYY-MM-DD HH:MM:SS UTC" into BUF, or "invalid time"
 * when it cannot be read. */
void cert_inspect_time(const ASN1_TIME *time, char *buf, size_t size);

/* Sets *DAYS to the whole days from now until TIME: rounded up when TIME
 * lies ahead, so that a certificate made with --days 10 has 10 days left,
 * and negative, rounded toward zero, when TIME has passed. Returns 0, or -1
 * when TIME cannot be read. */
int cert_inspect_days_until(const ASN1_TIME *time, int *days);

/* Writes the DNS names and IP addresses of NAMES as "DNS:a, IP:192.0.2.1"
 * into BUF, or "none" when NAMES is NULL or has neither. Other name types
 * are left out. */
void cert_inspect_names(const GENERAL_NAMES *names, char *buf, size_t size);

/* Writes the subjectAltName of CERT as cert_inspect_names does. */
void cert_inspect_san(const X509 *cert, char *buf, size_t size);

/* Returns true when CERT's subjectAltName contains at least one DNS name. */
bool cert_inspect_has_dns_san(const X509 *cert);

/* Writes the extendedKeyUsage purposes of CERT by short name
 * ("serverAuth, clientAuth"), with unknown ones as dotted OIDs, into BUF,
 * or "none" when CERT has no such extension. */
void cert_inspect_ext_key_usage(const X509 *cert, char *buf, size_t size);

/* Writes the CN of NAME into BUF, or "" when it has none. */
void cert_inspect_common_name(const X509_NAME *name, char *buf, size_t size);

/* Returns the long name of a signature algorithm NID such as
 * "sha256WithRSAEncryption". */
const char *cert_inspect_sig_name(int sig_nid);

/* Returns the NID of the digest that signature algorithm SIG_NID uses, or
 * NID_undef when it has no separate digest (Ed25519) or is unknown. */
int cert_inspect_sig_digest(int sig_nid);

/* Returns true when DIGEST_NID is SHA-1 or MD5 (or MD2, MD4), which
 * clients no longer accept in certificate signatures. */
bool cert_inspect_digest_weak(int digest_nid);

#endif
