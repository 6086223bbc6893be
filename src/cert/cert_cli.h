/*
 * Option-parsing helpers shared by the `cert` subcommands.
 */
#ifndef DRAWBRIDGE_CERT_CLI_H
#define DRAWBRIDGE_CERT_CLI_H

#include <getopt.h>

/* Parses the next option like getopt_long, with "h" and "--help" added by
 * the caller's tables. Before the first call the caller sets optind to 0 so
 * that glibc starts over for each subcommand. On an unknown option or a
 * missing argument it logs a usage error naming COMMAND and returns '?'. */
int cert_getopt(const char *command, int argc, char **argv,
                const char *shortopts, const struct option *longopts);

/* Prints HELP to stdout and returns CERT_EXIT_OK. */
int cert_help(const char *help);

/* Logs "COMMAND: MESSAGE; see 'drawbridge COMMAND --help'" and returns
 * CERT_EXIT_USAGE. */
int cert_usage(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

#include "cert/cert_x509.h"
#include "common/outfile.h"

/* Long-option values shared by subcommands that issue certificates. */
enum {
    CERT_OPT_NOT_BEFORE = 0x100,
    CERT_OPT_NOT_AFTER,
    CERT_OPT_FORCE,
    CERT_OPT_KEY_TYPE,
    CERT_OPT_FIRST_FREE,
};

/* Applies --days, --not-before or --not-after (option C with value ARG) to
 * VALIDITY. Returns 0, or -1 after logging an invalid value. */
int cert_validity_option(int c, const char *arg,
                         struct cert_validity *validity);

/* Creates directory DIR with mode 0700 unless it exists. Sets *CREATED
 * when this call made it. Returns 0, or -1 after logging. */
int cert_make_dir(const char *dir, int *created);

/* Joins DIR and NAME into BUF. Returns 0, or -1 after logging when the
 * path does not fit. */
int cert_path_join(char *buf, size_t size, const char *dir, const char *name);

/* Stages KEY in PEM at PATH with mode 0600 in SET. */
int cert_stage_key(struct outfile_set *set, const char *path, EVP_PKEY *key);

/* Stages CERT in PEM at PATH with mode 0644 in SET. */
int cert_stage_cert(struct outfile_set *set, const char *path, X509 *cert);

/* Prints one summary line for CERT written to PATH: subject, expiry and
 * SHA-256 fingerprint. */
void cert_print_written(const char *path, X509 *cert);

/* Returned by a subcommand's option parser after it printed --help. */
#define CERT_PARSE_HELP (-1)
