#include "cert/cert_probe.h"
#include "cert/cert.h"
#include "cert/cert_cli.h"
#include "cert/cert_inspect.h"

#include "common/log.h"
#include "tls/tls_load.h"
#include "tls/tls_probe.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_PROBE_DEFAULT_TIMEOUT 10
#define CERT_PROBE_MAX_TIMEOUT     3600

static const char cert_probe_help[] =
    "Usage: drawbridge cert probe https://HOST[:PORT][/PATH] [OPTIONS]\n"
    "\n"
    "Connects to a TLS server and prints the connection and each certificate\n"
    "it serves. Then it verifies the chain against --ca (or the system's\n"
    "trust store) and the host name, one line a problem. The handshake\n"
    "itself does not verify, so the chain is shown even when it is wrong.\n"
    "HOST is a DNS name, an IPv4 address or an IPv6 address in brackets\n"
    "(https://[::1]:8443/); PORT defaults to 443 and the path is ignored.\n"
    "Exits 0 when every check passed, 1 when one failed or the connection\n"
    "failed, and 2 on a usage error.\n"
    "\n"
    "  --ca FILE            CA certificates to trust (PEM, DER or PKCS#12);\n"
    "                       default: the system's trust store\n"
    "  --servername NAME    name sent as SNI and matched against the\n"
    "                       certificate (default: the URL's host; no SNI is\n"
    "                       sent for an IP address)\n"
    "  --expect FILE        certificate that the server must serve as its\n"
    "                       leaf (PEM or DER; the first one is compared)\n"
    "  --timeout SECONDS    limit for connecting and for each read or write\n"
    "                       of the handshake, 1 to 3600 (default 10)\n";

struct cert_probe_options {
    struct tls_url url;
    const char *ca_path;
    const char *servername;
    const char *expect_path;
    int timeout;
};

/* Trust anchors for verification, and how messages name them. */
struct cert_probe_trust {
    X509_STORE *store;
    char label[512];   /* the --ca path, or "the system trust store" */
    char source[1024]; /* the text of the "trust:" line */
};

enum {
    CERT_PROBE_OPT_SERVERNAME = CERT_OPT_FIRST_FREE,
    CERT_PROBE_OPT_EXPECT,
    CERT_PROBE_OPT_TIMEOUT,
};

static int cert_probe_timeout_parse(const char *text, int *timeout)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);

    if (end == text || *end != '\0' || value < 1 ||
        value > CERT_PROBE_MAX_TIMEOUT) {
        return cert_usage("cert probe",
                          "invalid --timeout '%s': give whole seconds from 1 "
                          "to %d",
                          text, CERT_PROBE_MAX_TIMEOUT);
    }
    *timeout = (int)value;
    return 0;
}

/* Checks the positional URL argument and parses it into OPTS. */
static int cert_probe_url_arg(int argc, char **argv,
                              struct cert_probe_options *opts)
{
    char why[256];

    if (optind >= argc) {
        return cert_usage("cert probe", "the https:// URL is missing");
    }
    if (optind + 1 < argc) {
        return cert_usage("cert probe", "unexpected argument '%s'",
                          argv[optind + 1]);
    }
    if (tls_url_parse(argv[optind], &opts->url, why, sizeof(why)) != 0) {
        return cert_usage("cert probe",
                          "invalid URL '%s': %s; write it as "
                          "https://HOST[:PORT]/",
                          argv[optind], why);
    }
    return 0;
}

static int cert_probe_parse(int argc, char **argv,
                            struct cert_probe_options *opts)
{
    static const struct option longopts[] = {
        {"ca", required_argument, NULL, 'c'},
        {"servername", required_argument, NULL, CERT_PROBE_OPT_SERVERNAME},
        {"expect", required_argument, NULL, CERT_PROBE_OPT_EXPECT},
        {"timeout", required_argument, NULL, CERT_PROBE_OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opts->timeout = CERT_PROBE_DEFAULT_TIMEOUT;
    optind = 0;
    while ((c = cert_getopt("cert probe", argc, argv, "c:h", longopts)) != -1) {
        switch (c) {
        case 'c':
            opts->ca_path = optarg;
            break;
        case CERT_PROBE_OPT_SERVERNAME:
            if (optarg[0] == '\0') {
                return cert_usage("cert probe", "--servername is empty");
            }
            opts->servername = optarg;
            break;
        case CERT_PROBE_OPT_EXPECT:
            opts->expect_path = optarg;
            break;
        case CERT_PROBE_OPT_TIMEOUT:
            if (cert_probe_timeout_parse(optarg, &opts->timeout) != 0) {
                return CERT_EXIT_USAGE;
            }
            break;
        case 'h':
            cert_help(cert_probe_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    return cert_probe_url_arg(argc, argv, opts);
}

/* Loads the --ca certificates into a new store, or the system's default
 * trust paths, which OpenSSL takes from SSL_CERT_FILE and SSL_CERT_DIR
 * when they are set. */
static int cert_probe_trust_load(const struct cert_probe_options *opts,
                                 struct cert_probe_trust *trust)
{
    struct tls_bundle bundle;
    const char *file = getenv(X509_get_default_cert_file_env());
    const char *dir = getenv(X509_get_default_cert_dir_env());

    trust->store = X509_STORE_new();
    if (trust->store == NULL) {
        log_error("cannot create a certificate store: out of memory");
        return -1;
    }
    if (opts->ca_path == NULL) {
        X509_STORE_set_default_paths(trust->store);
        ERR_clear_error();
        snprintf(trust->label, sizeof(trust->label), "the system trust store");
        snprintf(trust->source, sizeof(trust->source),
                 "no --ca given, so the system trust store is used (file %s, "
                 "directory %s)",
                 file != NULL ? file : X509_get_default_cert_file(),
                 dir != NULL ? dir : X509_get_default_cert_dir());
        return 0;
    }
    if (tls_bundle_load(&bundle, opts->ca_path, NULL) != 0) {
        return -1;
    }
    for (int i = 0; i < sk_X509_num(bundle.certs); i++) {
        /* Adding a certificate twice is harmless, so errors are ignored. */
        X509_STORE_add_cert(trust->store, sk_X509_value(bundle.certs, i));
    }
    ERR_clear_error();
    snprintf(trust->label, sizeof(trust->label), "%s", opts->ca_path);
    snprintf(trust->source, sizeof(trust->source),
             "%d CA certificate%s from %s", sk_X509_num(bundle.certs),
             sk_X509_num(bundle.certs) == 1 ? "" : "s", opts->ca_path);
    tls_bundle_free(&bundle);
    return 0;
}

static void cert_probe_print_cert(int index, X509 *cert)
{
    char text[1024];
    char until[40];

    printf("certificate %d\n", index);
    tls_name_format(X509_get_subject_name(cert), text, sizeof(text));
    printf("  subject: %s\n", text);
    tls_name_format(X509_get_issuer_name(cert), text, sizeof(text));
    printf("  issuer:  %s\n", text);
    cert_inspect_time(X509_get0_notBefore(cert), text, sizeof(text));
    cert_inspect_time(X509_get0_notAfter(cert), until, sizeof(until));
    printf("  valid:   %s to %s\n", text, until);
    cert_inspect_san(cert, text, sizeof(text));
    printf("  names:   %s\n", text);
    if (tls_fingerprint(cert, EVP_sha256(), text, sizeof(text)) != 0) {
        snprintf(text, sizeof(text), "?");
    }
    printf("  SHA-256: %s\n", text);
}

static void cert_probe_print_connection(const struct tls_probe *probe,
                                        const char *host_port,
                                        const char *servername)
{
    printf("connected: %s for %s, %s, cipher %s, ", probe->address, host_port,
           SSL_get_version(probe->ssl), SSL_get_cipher_name(probe->ssl));
    if (tls_is_ip_address(servername)) {
        printf("no SNI (an IP address is never sent as SNI)\n");
    } else {
        printf("SNI %s\n", servername);
    }
}

/* Matches NAME, a DNS name or an IP address, against the leaf as curl and
 * `cert verify` do: the subjectAltName, or for a DNS name the subject CN
 * when the subjectAltName has no DNS name. Browsers never use the CN, so
 * a match by the CN alone gets a warning. */
static void cert_probe_check_host(struct cert_probe_report *report, X509 *leaf,
                                  const char *name)
{
    bool is_ip = tls_is_ip_address(name);
    bool by_cn = !is_ip && !cert_inspect_has_dns_san(leaf);
    char names[1024];
    char cn[256];
    size_t used;
    int match = is_ip ? X509_check_ip_asc(leaf, name, 0)
                      : X509_check_host(leaf, name, 0, 0, NULL);

    ERR_clear_error();
    cert_inspect_san(leaf, names, sizeof(names));
    cert_inspect_common_name(X509_get_subject_name(leaf), cn, sizeof(cn));
    if (match == 1 && by_cn) {
        printf("warning: the certificate matches %s only by its subject CN, "
               "which browsers ignore; issue one with 'drawbridge cert "
               "request --host %s'\n",
               name, name);
    }
    if (match == 1) {
        return;
    }
    if (by_cn && cn[0] != '\0') {
        if (strcmp(names, "none") == 0) {
            names[0] = '\0';
        }
        used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%sCN:%s",
                 used > 0 ? ", " : "", cn);
    }
    cert_probe_error(report,
                     "host mismatch: the certificate covers %s but not %s; "
                     "connect with a name that it covers, or issue a "
                     "certificate that includes %s ('drawbridge cert request "
                     "%s %s')",
                     names, name, name, is_ip ? "--ip" : "--host", name);
}

/* Compares the served leaf with EXPECTED from PATH. Returns 0 on a match
 * and -1 on a mismatch, after printing an "expect:" line either way. */
static int cert_probe_expect(const char *path, X509 *expected, X509 *leaf)
{
    char served_sha[EVP_MAX_MD_SIZE * 3];
    char expected_sha[EVP_MAX_MD_SIZE * 3];
    char subject[512];

    if (tls_fingerprint(leaf, EVP_sha256(), served_sha, sizeof(served_sha)) !=
            0 ||
        tls_fingerprint(expected, EVP_sha256(), expected_sha,
                        sizeof(expected_sha)) != 0) {
        log_error("cannot compute the SHA-256 fingerprints to compare with "
                  "%s",
                  path);
        return -1;
    }
    if (strcmp(served_sha, expected_sha) == 0) {
        printf("expect: match: served leaf is %s's certificate (SHA-256 %s)\n",
               path, served_sha);
        return 0;
    }
    tls_name_format(X509_get_subject_name(expected), subject, sizeof(subject));
    printf("expect: mismatch: served leaf SHA-256 %s, %s has %s (subject "
           "%s)\n",
           served_sha, path, expected_sha, subject);
    return -1;
}

static void cert_probe_print_chain(STACK_OF(X509) * served)
{
    int count = sk_X509_num(served);

    printf("chain: the server sent %d certificate%s\n", count,
           count == 1 ? "" : "s");
    for (int i = 0; i < count; i++) {
        cert_probe_print_cert(i, sk_X509_value(served, i));
    }
}

/* Prints what the connection PROBE serves and checks it. Returns the exit
 * status. */
static int cert_probe_run(const struct cert_probe_options *opts,
                          const struct cert_probe_trust *trust,
                          const struct tls_probe *probe, X509 *expected)
{
    struct cert_probe_report report = {
        .store = trust->store,
        .trust_label = trust->label,
        .served = SSL_get_peer_cert_chain(probe->ssl),
    };
    const char *name = opts->servername ? opts->servername : opts->url.host;
    char host_port[TLS_HOST_MAX + 8];
    char anchor[512];
    int length = 0;
    int rc = CERT_EXIT_OK;

    tls_host_port_format(opts->url.host, opts->url.port, host_port,
                         sizeof(host_port));
    report.host_port = host_port;
    cert_probe_print_connection(probe, host_port, name);
    if (sk_X509_num(report.served) <= 0) {
        log_error("the server at %s sent no certificate; check its TLS "
                  "configuration",
                  probe->address);
        return CERT_EXIT_FAIL;
    }
    cert_probe_print_chain(report.served);
    printf("trust: %s\n", trust->source);
    if (cert_probe_verify_chain(&report, anchor, sizeof(anchor), &length) !=
        0) {
        return CERT_EXIT_FAIL;
    }
    cert_probe_check_host(&report, sk_X509_value(report.served, 0), name);
    if (report.problems == 0) {
        printf("verify: ok: chain of %d certificate%s up to %s, which %s "
               "trusts; the certificate covers %s\n",
               length, length == 1 ? "" : "s", anchor, trust->label, name);
    } else {
        rc = CERT_EXIT_FAIL;
    }
    if (expected != NULL &&
        cert_probe_expect(opts->expect_path, expected,
                          sk_X509_value(report.served, 0)) != 0) {
        rc = CERT_EXIT_FAIL;
    }
    return rc;
}

int cert_probe_main(int argc, char **argv)
{
    struct cert_probe_options opts = {0};
    struct cert_probe_trust trust = {0};
    struct tls_probe probe = {.fd = -1};
    X509 *expected = NULL;
    const char *servername;
    int rc = cert_probe_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = CERT_EXIT_FAIL;
    /* A server that closes the connection while the handshake writes must
     * fail the probe with EPIPE, not end the process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (opts.expect_path != NULL) {
        expected = tls_cert_load(opts.expect_path);
        if (expected == NULL) {
            goto out;
        }
    }
    servername = opts.servername ? opts.servername : opts.url.host;
    if (cert_probe_trust_load(&opts, &trust) != 0 ||
        tls_probe_open(&probe, opts.url.host, opts.url.port, servername,
                       opts.timeout) != 0) {
        goto out;
    }
    rc = cert_probe_run(&opts, &trust, &probe, expected);

out:
    tls_probe_close(&probe);
    X509_STORE_free(trust.store);
    X509_free(expected);
    return rc;
}
