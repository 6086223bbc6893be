#include "cert/cert_cli.h"

#include "cert/cert.h"
#include "common/log.h"

#include "tls/tls_load.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char cert_help_text[] =
    "Usage: drawbridge cert COMMAND [OPTIONS]\n"
    "\n"
    "Certificate steps of a relay deployment, on the OpenSSL 3 library.\n"
    "\n"
    "Commands:\n"
    "  ca          create a CA: DIR/ca.key and DIR/ca.crt\n"
    "  request     create a key (unless it exists) and a CSR for host names\n"
    "  sign        sign a CSR with a CA, as a server or client certificate\n"
    "  pkcs12      export or import a PKCS#12 (.pfx) bundle\n"
    "  show        print the certificates in a PEM, DER or PKCS#12 file\n"
    "  verify      check a certificate against a CA, host name and dates\n"
    "  probe       connect to a TLS server and check the chain it serves\n"
    "  quickstart  CA, server key, certificate and PKCS#12 bundle in one step\n"
    "\n"
    "Run 'drawbridge cert COMMAND --help' for a command's options.\n";

struct cert_command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct cert_command cert_commands[] = {
    {"ca", cert_ca_main},       {"request", cert_request_main},
    {"sign", cert_sign_main},   {"pkcs12", cert_pkcs12_main},
    {"show", cert_show_main},   {"verify", cert_verify_main},
    {"probe", cert_probe_main}, {"quickstart", cert_quickstart_main},
};

int cert_help(const char *help)
{
    fputs(help, stdout);
    return CERT_EXIT_OK;
}

int cert_usage(const char *command, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_error("%s: %s; see 'drawbridge %s --help'", command, message, command);
    return CERT_EXIT_USAGE;
}

int cert_getopt(const char *command, int argc, char **argv,
                const char *shortopts, const struct option *longopts)
{
    int saved = opterr;
    int c;

    opterr = 0;
    c = getopt_long(argc, argv, shortopts, longopts, NULL);
    opterr = saved;
    if (c != '?' && c != ':') {
        return c;
    }

    const char *arg = argv[optind - 1];
    if (c == ':' || (optopt != 0 && strchr(shortopts, optopt) != NULL)) {
        cert_usage(command, "option %s needs a value", arg);
    } else {
        cert_usage(command, "unknown option %s", arg);
    }
    return '?';
}

int cert_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(cert_help_text, stderr);
        return CERT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        return cert_help(cert_help_text);
    }
    for (size_t i = 0; i < sizeof(cert_commands) / sizeof(cert_commands[0]);
         i++) {
        if (strcmp(argv[1], cert_commands[i].name) == 0) {
            return cert_commands[i].run(argc - 1, argv + 1);
        }
    }
    log_error("unknown cert command '%s'; run 'drawbridge cert --help' for "
              "the list",
              argv[1]);
    return CERT_EXIT_USAGE;
}

int cert_validity_option(int c, const char *arg, struct cert_validity *validity)
{
    switch (c) {
    case 'd':
        return cert_days_parse(arg, &validity->days);
    case CERT_OPT_NOT_BEFORE:
        return cert_time_parse("--not-before", arg, &validity->not_before);
    case CERT_OPT_NOT_AFTER:
        return cert_time_parse("--not-after", arg, &validity->not_after);
    default:
        return -1;
    }
}

int cert_make_dir(const char *dir, int *created)
{
    struct stat st;

    *created = 0;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            log_error("%s exists and is not a directory; choose another "
                      "--out",
                      dir);
            return -1;
        }
        return 0;
    }
    if (mkdir(dir, 0700) != 0) {
        log_error("cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    *created = 1;
    return 0;
}

int cert_path_join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= size) {
        log_error("the path %s/%s is too long", dir, name);
        return -1;
    }
    return 0;
}

int cert_stage_key(struct outfile_set *set, const char *path, EVP_PKEY *key)
{
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (cert_encode_key_pem(key, &data, &len) != 0) {
        return -1;
    }
    rc = outfile_add(set, path, 0600, data, len);
    cert_free_secret(data, len);
    return rc;
}

int cert_stage_cert(struct outfile_set *set, const char *path, X509 *cert)
{
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (cert_encode_cert_pem(cert, &data, &len) != 0) {
        return -1;
    }
    rc = outfile_add(set, path, 0644, data, len);
    free(data);
    return rc;
}

void cert_print_written(const char *path, X509 *cert)
{
    char subject[512];
    char fingerprint[EVP_MAX_MD_SIZE * 3];
    struct tm tm;
    char until[32] = "?";

    tls_name_format(X509_get_subject_name(cert), subject, sizeof(subject));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) {
        strftime(until, sizeof(until), "%Y-%m-%d", &tm);
    }
    if (tls_fingerprint(cert, EVP_sha256(), fingerprint, sizeof(fingerprint)) !=
        0) {
        snprintf(fingerprint, sizeof(fingerprint), "?");
    }
    printf("wrote %s: %s, valid until %s, SHA-256 %s\n", path, subject, until,
           fingerprint);
}
