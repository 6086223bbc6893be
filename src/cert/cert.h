/*
 * The `drawbridge cert` subcommands.
 *
 * Each entry point takes the arguments that follow `cert`, with ARGV[0] the
 * subcommand's name, and returns the process exit status: 0 on success,
 * 1 when the work failed or a check found an error, and 2 for a usage error.
 * Every failure is logged with the file involved and the fix.
 */
#ifndef DRAWBRIDGE_CERT_H
#define DRAWBRIDGE_CERT_H

#define CERT_EXIT_OK    0
#define CERT_EXIT_FAIL  1
#define CERT_EXIT_USAGE 2

/* Dispatches `cert SUBCOMMAND ...`; ARGV[0] is "cert". */
int cert_main(int argc, char **argv);

/* Writes DIR/ca.key (mode 0600) and DIR/ca.crt, a self-signed CA. */
int cert_ca_main(int argc, char **argv);

/* Writes a CSR for one or more host names and IP addresses, creating the
 * key when the --key file does not exist. */
int cert_request_main(int argc, char **argv);

/* Signs a CSR with a CA directory's key. */
int cert_sign_main(int argc, char **argv);

/* `pkcs12 export` and `pkcs12 import`. */
int cert_pkcs12_main(int argc, char **argv);

/* Prints each certificate of a PEM, DER or PKCS#12 file readably. */
int cert_show_main(int argc, char **argv);

/* Checks a certificate against a CA and a host name, one line a problem. */
int cert_verify_main(int argc, char **argv);

/* Connects to a TLS server and reports the chain it serves. */
int cert_probe_main(int argc, char **argv);

/* Writes a CA, a server key and certificate, and a PKCS#12 bundle. */
int cert_quickstart_main(int argc, char **argv);

#endif
