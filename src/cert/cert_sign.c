#include "cert/cert.h"
#include "cert/cert_cli.h"

#include "common/file.h"
#include "common/log.h"
#include "tls/tls_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cert_sign_help[] =
    "Usage: drawbridge cert sign --ca DIR --csr FILE --out FILE.crt [OPTIONS]\n"
    "\n"
    "Signs a CSR with the CA in DIR (DIR/ca.crt and DIR/ca.key). The\n"
    "certificate gets SHA-256, a random 128-bit serial, the CSR's subject and\n"
    "subjectAltName, EKU serverAuth and the keyUsage that fits its key. The\n"
    "CSR's signature must verify.\n"
    "\n"
    "  --ca DIR            CA directory made by 'drawbridge cert ca'\n"
    "  --csr FILE          certificate signing request (PEM or DER)\n"
    "  --out FILE          where to write the certificate (PEM)\n"
    "  --days N            validity in days from now (default 397)\n"
    "  --not-before DATE   start of validity, YYYY-MM-DD (UTC)\n"
    "  --not-after DATE    end of validity, YYYY-MM-DD (UTC)\n"
    "  --client            issue a client certificate (EKU clientAuth)\n"
    "  --chain             append ca.crt after the certificate in --out\n"
    "  --force             replace an existing --out file\n";

struct cert_sign_options {
    const char *ca_dir;
    const char *csr_path;
    const char *out;
    struct cert_validity validity;
    bool client;
    bool chain;
    bool force;
};

enum {
    CERT_SIGN_OPT_CLIENT = CERT_OPT_FIRST_FREE,
    CERT_SIGN_OPT_CHAIN,
};

static int cert_sign_parse(int argc, char **argv,
                           struct cert_sign_options *opts)
{
    static const struct option longopts[] = {
        {"ca", required_argument, NULL, 'c'},
        {"csr", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"days", required_argument, NULL, 'd'},
        {"not-before", required_argument, NULL, CERT_OPT_NOT_BEFORE},
        {"not-after", required_argument, NULL, CERT_OPT_NOT_AFTER},
        {"client", no_argument, NULL, CERT_SIGN_OPT_CLIENT},
        {"chain", no_argument, NULL, CERT_SIGN_OPT_CHAIN},
        {"force", no_argument, NULL, CERT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opts->validity.days = CERT_DEFAULT_LEAF_DAYS;
    optind = 0;
    while ((c = cert_getopt("cert sign", argc, argv, "c:r:o:d:h", longopts)) !=
           -1) {
        switch (c) {
        case 'c':
            opts->ca_dir = optarg;
            break;
        case 'r':
            opts->csr_path = optarg;
            break;
        case 'o':
            opts->out = optarg;
            break;
        case 'd':
        case CERT_OPT_NOT_BEFORE:
        case CERT_OPT_NOT_AFTER:
            if (cert_validity_option(c, optarg, &opts->validity) != 0) {
                return CERT_EXIT_USAGE;
            }
            break;
        case CERT_SIGN_OPT_CLIENT:
            opts->client = true;
            break;
        case CERT_SIGN_OPT_CHAIN:
            opts->chain = true;
            break;
        case CERT_OPT_FORCE:
            opts->force = true;
            break;
        case 'h':
            cert_help(cert_sign_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return cert_usage("cert sign", "unexpected argument '%s'",
                          argv[optind]);
    }
    if (opts->ca_dir == NULL || opts->csr_path == NULL || opts->out == NULL) {
        return cert_usage("cert sign", "--ca, --csr and --out are required");
    }
    return 0;
}

/* Loads DIR/ca.crt and DIR/ca.key, warning when others can read the key. */
static int cert_sign_load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
    char cert_path[4096];
    char key_path[4096];
    unsigned mode = 0;

    if (cert_path_join(cert_path, sizeof(cert_path), dir, "ca.crt") != 0 ||
        cert_path_join(key_path, sizeof(key_path), dir, "ca.key") != 0) {
        return -1;
    }
    *cert = tls_cert_load(cert_path);
    if (*cert == NULL) {
        return -1;
    }
    if (file_is_exposed(key_path, &mode)) {
        log_warn("the CA key %s is readable by other users (mode %04o); "
                 "restrict it with 'chmod 600 %s'",
                 key_path, mode, key_path);
    }
    *key = tls_key_load(key_path);
    return *key != NULL ? 0 : -1;
}

static int cert_sign_write(const struct cert_sign_options *opts, X509 *cert,
                           X509 *ca_cert)
{
    struct outfile_set set;
    char *leaf = NULL;
    char *ca = NULL;
    char *both = NULL;
    size_t leaf_len = 0;
    size_t ca_len = 0;
    int rc = -1;

    outfile_set_init(&set, opts->force);
    if (cert_encode_cert_pem(cert, &leaf, &leaf_len) != 0) {
        goto out;
    }
    if (opts->chain) {
        if (cert_encode_cert_pem(ca_cert, &ca, &ca_len) != 0 ||
            (both = malloc(leaf_len + ca_len)) == NULL) {
            goto out;
        }
        memcpy(both, leaf, leaf_len);
        memcpy(both + leaf_len, ca, ca_len);
    }
    if (outfile_add(&set, opts->out, 0644, both ? both : leaf,
                    both ? leaf_len + ca_len : leaf_len) != 0 ||
        outfile_commit(&set) != 0) {
        goto out;
    }
    cert_print_written(opts->out, cert);
    rc = 0;

out:
    outfile_set_free(&set);
    free(both);
    free(ca);
    free(leaf);
    return rc;
}

int cert_sign_main(int argc, char **argv)
{
    struct cert_sign_options opts = {0};
    X509 *ca_cert = NULL;
    EVP_PKEY *ca_key = NULL;
    X509_REQ *csr = NULL;
    X509 *cert = NULL;
    int rc = cert_sign_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = CERT_EXIT_FAIL;

    struct outfile_set check;
    outfile_set_init(&check, opts.force);
    if (outfile_check(&check, opts.out) != 0) {
        goto out;
    }
    if (cert_sign_load_ca(opts.ca_dir, &ca_cert, &ca_key) != 0) {
        goto out;
    }
    csr = tls_csr_load(opts.csr_path);
    if (csr == NULL) {
        goto out;
    }
    cert = cert_sign_request(csr, opts.csr_path, ca_cert, ca_key,
                             &opts.validity, opts.client);
    if (cert == NULL || cert_sign_write(&opts, cert, ca_cert) != 0) {
        goto out;
    }
    rc = CERT_EXIT_OK;

out:
    X509_free(cert);
    X509_REQ_free(csr);
    EVP_PKEY_free(ca_key);
    X509_free(ca_cert);
    return rc;
}
