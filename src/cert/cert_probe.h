/*
 * Chain verification for `cert probe`, kept apart from the command's
 * connection and output code. Problems are printed on stdout as one
 * "error: ..." line each, with the cause and the fix.
 */
#ifndef DRAWBRIDGE_CERT_PROBE_H
#define DRAWBRIDGE_CERT_PROBE_H

#include <openssl/x509.h>
#include <stddef.h>

/* The chain and trust anchors of one probe, and its problem count. */
struct cert_probe_report {
    X509_STORE *store;       /* trust anchors */
    const char *trust_label; /* the --ca path, or "the system trust store" */
    const char *host_port;   /* the URL's HOST:PORT, for messages */
    STACK_OF(X509) * served; /* leaf first; owned by the connection */
    int problems;            /* error lines printed so far */
};

/* Prints "error: MESSAGE" on stdout and counts the problem in REPORT. */
void cert_probe_error(struct cert_probe_report *report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Verifies REPORT's served chain for a TLS server against its store. The
 * leaf comes first and the other served certificates count as untrusted
 * intermediates. Prints an error line for each problem: an untrusted or
 * re-created CA, an incomplete chain, dates, purpose or signatures. Writes
 * the subject of the built chain's last certificate into ANCHOR and the
 * chain's length into *LENGTH. Returns 0, or -1 after logging when the
 * verification could not run at all. */
int cert_probe_verify_chain(struct cert_probe_report *report, char *anchor,
                            size_t size, int *length);

#endif
