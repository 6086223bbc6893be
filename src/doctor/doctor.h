/*
 * `drawbridge doctor`: checks a deployment hop by hop and prints one line
 * per check on stdout, "ok: ...", "warning: ..." or "error: DB-CODE:
 * sentence with the cause and the fix". The codes are stable and
 * docs/troubleshooting.md explains each with the log lines that go with it.
 */
#ifndef DRAWBRIDGE_DOCTOR_H
#define DRAWBRIDGE_DOCTOR_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define DOCTOR_EXIT_OK    0
#define DOCTOR_EXIT_FAIL  1
#define DOCTOR_EXIT_USAGE 2

/* Seconds that each connect, read and write of a check may take. */
#define DOCTOR_TIMEOUT_SECONDS 10

/* The counts of one doctor run. */
struct doctor_report {
    int errors;
    int warnings;
};

/* Prints "ok: MESSAGE". */
void doctor_ok(struct doctor_report *report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "warning: CODE: MESSAGE" ("warning: MESSAGE" when CODE is NULL)
 * and counts it. */
void doctor_warn(struct doctor_report *report, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "error: CODE: MESSAGE" and counts it. */
void doctor_error(struct doctor_report *report, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Returns the exit status for REPORT: 1 after any error, otherwise 0. */
int doctor_exit_status(const struct doctor_report *report);

/* Dispatches `doctor SUBCOMMAND ...`; ARGV[0] is "doctor". Returns the
 * exit status: 0, 1 when a check found an error, 2 for a usage error. */
int doctor_main(int argc, char **argv);

/* `doctor relay -c FILE [--id ID]`: the configuration, the certificate
 * and key files and their permissions. ARGV[0] is "relay". */
int doctor_relay_main(int argc, char **argv);

/* `doctor enabler OPTIONS`: with the options of `drawbridge enabler`,
 * the relay's address, its certificate, a probe tunnel request and the
 * backend. ARGV[0] is "enabler". */
int doctor_enabler_main(int argc, char **argv);

/* `doctor client URL [--ca FILE]`: the relay as a device sees it. ARGV[0]
 * is "client". */
int doctor_client_main(int argc, char **argv);

/* The CA file and host name that a served chain must match. */
struct doctor_tls_expect {
    const char *ca_file;   /* trust anchors, or NULL for the system store */
    const char *host;      /* the name or address that was dialed */
    const char *host_port; /* "HOST:PORT", for messages */
};

/* Verifies SERVED (leaf first, the rest as untrusted intermediates)
 * against EXPECT and prints one line per finding: DB-TLS-UNTRUSTED,
 * DB-TLS-CHAIN-INCOMPLETE, DB-TLS-EXPIRED, DB-TLS-HOSTNAME, or ok lines.
 * Returns 0, or -1 after printing an error when the CA file cannot be
 * read. */
int doctor_tls_check_served(struct doctor_report *report,
                            STACK_OF(X509) * served,
                            const struct doctor_tls_expect *expect);

/* Prints each certificate of SERVED as "ok: served certificate N:
 * SUBJECT, issued by ISSUER, valid until DATE". */
void doctor_tls_print_chain(struct doctor_report *report,
                            STACK_OF(X509) * served);

/* Writes the DNS and IP names that CERT covers into BUF. */
void doctor_tls_names(X509 *cert, char *buf, size_t size);

/* Returns true when CERT's notAfter has passed. */
bool doctor_tls_expired(X509 *cert);

/* A blocking connection to a relay or backend, over TLS when SSL is set. */
struct doctor_conn {
    int fd;
    SSL *ssl; /* NULL for plain TCP */
};

/* Connects to HOST:PORT over plain TCP with a timeout of
 * DOCTOR_TIMEOUT_SECONDS. Returns 0, or -1 with the cause (not resolved,
 * refused, timed out) in WHY. */
int doctor_tcp_connect(const char *host, const char *port, int *fd, char *why,
                       size_t size);

/* An HTTP/1.1 response, read until its body ends or the peer closes. */
struct doctor_response {
    int status;       /* 0 when no status line arrived */
    char body[16384]; /* the start of the body, NUL-terminated */
    char head[2048];
};

/* Sends REQUEST (a complete HTTP/1.1 request) on CONN and reads the
 * response into RESPONSE. Returns 0, or -1 with the cause in WHY. */
int doctor_http_exchange(struct doctor_conn *conn, const char *request,
                         size_t len, struct doctor_response *response,
                         char *why, size_t size);

#endif
