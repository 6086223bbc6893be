#include "cert/cert.h"
#include "cert/cert_cli.h"

#include "common/file.h"
#include "common/log.h"
#include "tls/tls_load.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_PASSWORD_MAX 1024

static const char cert_pkcs12_help[] =
    "Usage: drawbridge cert pkcs12 export --cert FILE --key FILE --out "
    "FILE.pfx\n"
    "                                     [OPTIONS]\n"
    "       drawbridge cert pkcs12 import FILE.pfx --out-cert FILE\n"
    "                                     --out-key FILE [OPTIONS]\n"
    "\n"
    "export bundles a key, its certificate and the chain as PKCS#12 for web\n"
    "servers and Windows. import writes a bundle's key (mode 0600) and its\n"
    "certificates as PEM.\n"
    "\n"
    "export options:\n"
    "  --cert FILE           the certificate; any further certificates in\n"
    "                        the file go into the bundle as its chain\n"
    "  --key FILE            the certificate's private key\n"
    "  --chain FILE          intermediate and CA certificates to include\n"
    "  --out FILE            where to write the bundle (DER, mode 0600)\n"
    "  --password-file FILE  protect the bundle with this file's first line\n"
    "  --no-password         write a bundle with an empty password\n"
    "  --name NAME           friendly name (default: the certificate's CN)\n"
    "  --legacy              3DES and a SHA-1 MAC, for Windows before Server\n"
    "                        2016 and Java 8 (default AES-256, SHA-256 MAC)\n"
    "\n"
    "import options:\n"
    "  --out-cert FILE       the certificate, followed by the chain unless\n"
    "                        --out-chain is given\n"
    "  --out-key FILE        the private key (PEM, mode 0600)\n"
    "  --out-chain FILE      the chain certificates, in a file of their own\n"
    "  --password-file FILE  the bundle's password (default: empty)\n"
    "\n"
    "  --force               replace existing output files\n";

enum {
    CERT_P12_OPT_CERT = CERT_OPT_FIRST_FREE,
    CERT_P12_OPT_KEY,
    CERT_P12_OPT_CHAIN,
    CERT_P12_OPT_PASSWORD_FILE,
    CERT_P12_OPT_NO_PASSWORD,
    CERT_P12_OPT_NAME,
    CERT_P12_OPT_LEGACY,
    CERT_P12_OPT_OUT_CERT,
    CERT_P12_OPT_OUT_KEY,
    CERT_P12_OPT_OUT_CHAIN,
};

struct cert_pkcs12_options {
    const char *cert;
    const char *key;
    const char *chain;
    const char *out;
    const char *password_file;
    const char *name;
    const char *bundle;
    const char *out_cert;
    const char *out_key;
    const char *out_chain;
    bool no_password;
    bool legacy;
    bool force;
};

static void cert_pkcs12_store(struct cert_pkcs12_options *opts, int c,
                              const char *arg)
{
    switch (c) {
    case CERT_P12_OPT_CERT:
        opts->cert = arg;
        break;
    case CERT_P12_OPT_KEY:
        opts->key = arg;
        break;
    case CERT_P12_OPT_CHAIN:
        opts->chain = arg;
        break;
    case 'o':
        opts->out = arg;
        break;
    case CERT_P12_OPT_PASSWORD_FILE:
        opts->password_file = arg;
        break;
    case CERT_P12_OPT_NO_PASSWORD:
        opts->no_password = true;
        break;
    case CERT_P12_OPT_NAME:
        opts->name = arg;
        break;
    case CERT_P12_OPT_LEGACY:
        opts->legacy = true;
        break;
    case CERT_P12_OPT_OUT_CERT:
        opts->out_cert = arg;
        break;
    case CERT_P12_OPT_OUT_KEY:
        opts->out_key = arg;
        break;
    case CERT_P12_OPT_OUT_CHAIN:
        opts->out_chain = arg;
        break;
    case CERT_OPT_FORCE:
        opts->force = true;
        break;
    }
}

static int cert_pkcs12_parse(const char *command, int argc, char **argv,
                             struct cert_pkcs12_options *opts)
{
    static const struct option longopts[] = {
        {"cert", required_argument, NULL, CERT_P12_OPT_CERT},
        {"key", required_argument, NULL, CERT_P12_OPT_KEY},
        {"chain", required_argument, NULL, CERT_P12_OPT_CHAIN},
        {"out", required_argument, NULL, 'o'},
        {"password-file", required_argument, NULL, CERT_P12_OPT_PASSWORD_FILE},
        {"no-password", no_argument, NULL, CERT_P12_OPT_NO_PASSWORD},
        {"name", required_argument, NULL, CERT_P12_OPT_NAME},
        {"legacy", no_argument, NULL, CERT_P12_OPT_LEGACY},
        {"out-cert", required_argument, NULL, CERT_P12_OPT_OUT_CERT},
        {"out-key", required_argument, NULL, CERT_P12_OPT_OUT_KEY},
        {"out-chain", required_argument, NULL, CERT_P12_OPT_OUT_CHAIN},
        {"force", no_argument, NULL, CERT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    while ((c = cert_getopt(command, argc, argv, "o:h", longopts)) != -1) {
        if (c == 'h') {
            cert_help(cert_pkcs12_help);
            return CERT_PARSE_HELP;
        }
        if (c == '?') {
            return CERT_EXIT_USAGE;
        }
        cert_pkcs12_store(opts, c, optarg);
    }
    if (optind < argc) {
        opts->bundle = argv[optind++];
    }
    if (optind < argc) {
        return cert_usage(command, "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/* Reads the password for OPTS into BUF; an empty string with no file. */
static int cert_pkcs12_password(const struct cert_pkcs12_options *opts,
                                char *buf, size_t size)
{
    buf[0] = '\0';
    if (opts->password_file == NULL) {
        return 0;
    }
    return file_read_secret(opts->password_file, buf, size);
}

/* Copies the CN of CERT into BUF, or leaves BUF empty. */
static void cert_common_name(X509 *cert, char *buf, size_t size)
{
    buf[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                              (int)size);
}

/* Loads the leaf and the chain: certificates after the leaf in --cert,
 * then those in --chain. */
static int cert_pkcs12_load_certs(const struct cert_pkcs12_options *opts,
                                  struct tls_bundle *certs,
                                  STACK_OF(X509) * *chain)
{
    struct tls_bundle extra;

    if (tls_bundle_load(certs, opts->cert, NULL) != 0) {
        return -1;
    }
    *chain = sk_X509_new_null();
    while (sk_X509_num(certs->certs) > 1) {
        sk_X509_push(*chain, sk_X509_delete(certs->certs, 1));
    }
    if (opts->chain == NULL) {
        return 0;
    }
    if (tls_bundle_load(&extra, opts->chain, NULL) != 0) {
        return -1;
    }
    while (sk_X509_num(extra.certs) > 0) {
        sk_X509_push(*chain, sk_X509_shift(extra.certs));
    }
    tls_bundle_free(&extra);
    return 0;
}

static int cert_pkcs12_check_export(const char *command,
                                    const struct cert_pkcs12_options *opts)
{
    if (opts->cert == NULL || opts->key == NULL || opts->out == NULL) {
        return cert_usage(command, "--cert, --key and --out are required");
    }
    if (opts->bundle != NULL) {
        return cert_usage(command, "unexpected argument '%s'", opts->bundle);
    }
    if (opts->password_file == NULL && !opts->no_password) {
        return cert_usage(command,
                          "give --password-file FILE to protect the bundle's "
                          "key, or --no-password to write it with an empty "
                          "password");
    }
    if (opts->password_file != NULL && opts->no_password) {
        return cert_usage(command,
                          "--password-file and --no-password exclude each "
                          "other");
    }
    return 0;
}

static int cert_pkcs12_write(const struct cert_pkcs12_options *opts,
                             PKCS12 *p12)
{
    struct outfile_set set;
    char *der = NULL;
    size_t len = 0;
    int rc = -1;

    outfile_set_init(&set, opts->force);
    if (cert_encode_pkcs12(p12, &der, &len) == 0 &&
        outfile_add(&set, opts->out, 0600, der, len) == 0 &&
        outfile_commit(&set) == 0) {
        rc = 0;
    }
    outfile_set_free(&set);
    cert_free_secret(der, len);
    return rc;
}

static int cert_pkcs12_export(const char *command,
                              const struct cert_pkcs12_options *opts)
{
    struct tls_bundle certs = {0};
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    PKCS12 *p12 = NULL;
    char password[CERT_PASSWORD_MAX];
    char name[256];
    struct outfile_set check;
    int rc = cert_pkcs12_check_export(command, opts);

    if (rc != 0) {
        return rc;
    }
    rc = CERT_EXIT_FAIL;
    outfile_set_init(&check, opts->force);
    if (outfile_check(&check, opts->out) != 0 ||
        cert_pkcs12_password(opts, password, sizeof(password)) != 0 ||
        cert_pkcs12_load_certs(opts, &certs, &chain) != 0 ||
        (key = tls_key_load(opts->key)) == NULL) {
        goto out;
    }
    X509 *leaf = sk_X509_value(certs.certs, 0);
    if (X509_check_private_key(leaf, key) != 1) {
        log_error("the key in %s does not match the certificate in %s; pass "
                  "the key that the certificate was issued for",
                  opts->key, opts->cert);
        goto out;
    }
    cert_common_name(leaf, name, sizeof(name));
    p12 = cert_pkcs12_create(key, leaf, chain, opts->name ? opts->name : name,
                             password, opts->legacy);
    if (p12 == NULL || cert_pkcs12_write(opts, p12) != 0) {
        goto out;
    }
    printf("wrote %s: %s with %d chain certificate(s), friendly name "
           "\"%s\", %s\n",
           opts->out, name, sk_X509_num(chain), opts->name ? opts->name : name,
           opts->legacy ? "3DES and SHA-1 MAC" : "AES-256 and SHA-256 MAC");
    rc = CERT_EXIT_OK;

out:
    OPENSSL_cleanse(password, sizeof(password));
    PKCS12_free(p12);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    tls_bundle_free(&certs);
    return rc;
}

static int cert_pkcs12_check_import(const char *command,
                                    const struct cert_pkcs12_options *opts)
{
    if (opts->bundle == NULL) {
        return cert_usage(command, "name the PKCS#12 file to import");
    }
    if (opts->out_cert == NULL || opts->out_key == NULL) {
        return cert_usage(command, "--out-cert and --out-key are required");
    }
    if (opts->no_password || opts->cert || opts->key || opts->out) {
        return cert_usage(command,
                          "import takes --out-cert, --out-key, --out-chain "
                          "and --password-file only");
    }
    return 0;
}

/* Stages CERTS from index FIRST on as one PEM file at PATH. */
static int cert_stage_certs(struct outfile_set *set, const char *path,
                            STACK_OF(X509) * certs, int first, int last)
{
    char *all = NULL;
    size_t all_len = 0;
    int rc = -1;

    for (int i = first; i < last; i++) {
        char *pem = NULL;
        size_t len = 0;
        char *grown;

        if (cert_encode_cert_pem(sk_X509_value(certs, i), &pem, &len) != 0) {
            goto out;
        }
        grown = realloc(all, all_len + len + 1);
        if (grown == NULL) {
            free(pem);
            goto out;
        }
        all = grown;
        memcpy(all + all_len, pem, len);
        all_len += len;
        free(pem);
    }
    rc = outfile_add(set, path, 0644, all ? all : "", all_len);

out:
    free(all);
    return rc;
}

static int cert_pkcs12_import_write(const struct cert_pkcs12_options *opts,
                                    const struct tls_bundle *bundle)
{
    struct outfile_set set;
    int count = sk_X509_num(bundle->certs);
    int leaf_end = opts->out_chain != NULL ? 1 : count;
    int rc = -1;

    outfile_set_init(&set, opts->force);
    if (cert_stage_key(&set, opts->out_key, bundle->key) != 0 ||
        cert_stage_certs(&set, opts->out_cert, bundle->certs, 0, leaf_end)) {
        goto out;
    }
    if (opts->out_chain != NULL &&
        cert_stage_certs(&set, opts->out_chain, bundle->certs, 1, count)) {
        goto out;
    }
    if (outfile_commit(&set) != 0) {
        goto out;
    }
    printf("wrote %s (mode 0600)\n", opts->out_key);
    cert_print_written(opts->out_cert, sk_X509_value(bundle->certs, 0));
    if (opts->out_chain != NULL) {
        printf("wrote %s: %d chain certificate(s)\n", opts->out_chain,
               count - 1);
    }
    rc = 0;

out:
    outfile_set_free(&set);
    return rc;
}

static int cert_pkcs12_import(const char *command,
                              const struct cert_pkcs12_options *opts)
{
    struct tls_bundle bundle = {0};
    char password[CERT_PASSWORD_MAX];
    int rc = cert_pkcs12_check_import(command, opts);

    if (rc != 0) {
        return rc;
    }
    rc = CERT_EXIT_FAIL;
    if (cert_pkcs12_password(opts, password, sizeof(password)) != 0 ||
        tls_bundle_load(&bundle, opts->bundle,
                        opts->password_file ? password : NULL) != 0) {
        goto out;
    }
    if (bundle.format != TLS_FORMAT_PKCS12) {
        log_error("%s is a %s certificate file, not a PKCS#12 bundle; use it "
                  "as it is or run 'drawbridge cert show' on it",
                  opts->bundle,
                  bundle.format == TLS_FORMAT_PEM ? "PEM" : "DER");
        goto out;
    }
    if (bundle.key == NULL) {
        log_error("the PKCS#12 file %s holds no private key; export it again "
                  "together with its key",
                  opts->bundle);
        goto out;
    }
    if (cert_pkcs12_import_write(opts, &bundle) != 0) {
        goto out;
    }
    rc = CERT_EXIT_OK;

out:
    OPENSSL_cleanse(password, sizeof(password));
    tls_bundle_free(&bundle);
    return rc;
}

int cert_pkcs12_main(int argc, char **argv)
{
    struct cert_pkcs12_options opts = {0};
    const char *action = argc > 1 ? argv[1] : "";
    int rc;

    if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0) {
        return cert_help(cert_pkcs12_help);
    }
    if (strcmp(action, "export") != 0 && strcmp(action, "import") != 0) {
        return cert_usage("cert pkcs12", "give 'export' or 'import'");
    }
    rc = cert_pkcs12_parse(strcmp(action, "export") == 0 ? "cert pkcs12 export"
                                                         : "cert pkcs12 import",
                           argc - 1, argv + 1, &opts);
    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    if (strcmp(action, "export") == 0) {
        return cert_pkcs12_export("cert pkcs12 export", &opts);
    }
    return cert_pkcs12_import("cert pkcs12 import", &opts);
}
