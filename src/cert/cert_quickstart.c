#include "cert/cert.h"
#include "cert/cert_cli.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char cert_quickstart_help[] =
    "Usage: drawbridge cert quickstart --host FQDN [--host NAME...]\n"
    "                                  [--ip ADDR...] --out DIR [OPTIONS]\n"
    "\n"
    "Creates a whole relay PKI in one step, for demos and tests:\n"
    "  DIR/ca.key, DIR/ca.crt              a new CA\n"
    "  DIR/server.key, DIR/server.crt      a server certificate signed by it\n"
    "  DIR/server.p12                      the key and certificate as PKCS#12\n"
    "  DIR/server.p12.password             the bundle's random password\n"
    "Keys, the bundle and its password get mode 0600. Clients trust ca.crt.\n"
    "\n"
    "  --host NAME         DNS name, repeatable; the first one is the CN\n"
    "  --ip ADDR           IPv4 or IPv6 address, repeatable\n"
    "  --out DIR           output directory, created with mode 0700\n"
    "  --ca-subject DN     the CA's name (default \"CN=Drawbridge CA for\n"
    "                      FQDN\")\n"
    "  --days N            server certificate validity (default 397)\n"
    "  --key-type TYPE     rsa:2048..8192 or ec:P-256|P-384|P-521\n"
    "                      (default rsa:3072)\n"
    "  --force             replace existing files\n";

static const char *const cert_quickstart_files[] = {
    "ca.key",     "ca.crt",     "server.key",
    "server.crt", "server.p12", "server.p12.password",
};

enum {
    CERT_QS_OPT_CA_SUBJECT = CERT_OPT_FIRST_FREE,
};

struct cert_quickstart_options {
    struct cert_names names;
    const char *out;
    const char *ca_subject;
    const char *key_type;
    struct cert_validity validity;
    bool force;
};

/* Everything quickstart creates, freed by cert_quickstart_free. */
struct cert_quickstart_pki {
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    EVP_PKEY *server_key;
    X509 *server_cert;
    PKCS12 *p12;
    char password[33];
};

static int cert_quickstart_add_name(struct cert_quickstart_options *opts, int c,
                                    const char *value)
{
    struct cert_names *names = &opts->names;

    if (names->host_count + names->ip_count >= CERT_NAMES_MAX) {
        return cert_usage("cert quickstart", "too many names (max %d)",
                          CERT_NAMES_MAX);
    }
    if (c == 'H' && cert_host_valid(value)) {
        names->hosts[names->host_count++] = value;
        return 0;
    }
    if (c == 'I' && cert_ip_valid(value)) {
        names->ips[names->ip_count++] = value;
        return 0;
    }
    return cert_usage("cert quickstart", "invalid %s '%s': give a %s",
                      c == 'H' ? "--host" : "--ip", value,
                      c == 'H' ? "DNS name" : "IPv4 or IPv6 address");
}

static int cert_quickstart_parse(int argc, char **argv,
                                 struct cert_quickstart_options *opts)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"ip", required_argument, NULL, 'I'},
        {"out", required_argument, NULL, 'o'},
        {"ca-subject", required_argument, NULL, CERT_QS_OPT_CA_SUBJECT},
        {"days", required_argument, NULL, 'd'},
        {"key-type", required_argument, NULL, CERT_OPT_KEY_TYPE},
        {"force", no_argument, NULL, CERT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opts->key_type = CERT_DEFAULT_KEY_TYPE;
    opts->validity.days = CERT_DEFAULT_LEAF_DAYS;
    optind = 0;
    while ((c = cert_getopt("cert quickstart", argc, argv, "o:d:h",
                            longopts)) != -1) {
        switch (c) {
        case 'H':
        case 'I':
            if (cert_quickstart_add_name(opts, c, optarg) != 0) {
                return CERT_EXIT_USAGE;
            }
            break;
        case 'd':
            if (cert_days_parse(optarg, &opts->validity.days) != 0) {
                return CERT_EXIT_USAGE;
            }
            break;
        case 'o':
            opts->out = optarg;
            break;
        case CERT_QS_OPT_CA_SUBJECT:
            opts->ca_subject = optarg;
            break;
        case CERT_OPT_KEY_TYPE:
            opts->key_type = optarg;
            break;
        case CERT_OPT_FORCE:
            opts->force = true;
            break;
        case 'h':
            cert_help(cert_quickstart_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return cert_usage("cert quickstart", "unexpected argument '%s'",
                          argv[optind]);
    }
    if (opts->names.host_count == 0 || opts->out == NULL) {
        return cert_usage("cert quickstart", "--host and --out are required");
    }
    return 0;
}

static int cert_quickstart_password(char *buf, size_t size)
{
    unsigned char bytes[18];

    /* 18 random bytes are 24 base64 characters, 144 bits of entropy. */
    if (size < 25 || RAND_bytes(bytes, sizeof(bytes)) != 1) {
        log_error("the random number generator failed while making the "
                  "bundle's password");
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)buf, bytes, sizeof(bytes));
    OPENSSL_cleanse(bytes, sizeof(bytes));
    return 0;
}

static X509_NAME *
cert_quickstart_ca_name(const struct cert_quickstart_options *opts)
{
    char subject[512];

    if (opts->ca_subject != NULL) {
        return cert_subject_parse(opts->ca_subject);
    }
    snprintf(subject, sizeof(subject), "CN=Drawbridge CA for %s",
             opts->names.hosts[0]);
    return cert_subject_parse(subject);
}

static int cert_quickstart_build(const struct cert_quickstart_options *opts,
                                 struct cert_quickstart_pki *pki)
{
    struct cert_validity ca_validity = {.days = CERT_DEFAULT_CA_DAYS};
    X509_NAME *ca_name = cert_quickstart_ca_name(opts);
    X509_REQ *csr = NULL;
    int rc = -1;

    if (ca_name == NULL) {
        return -1;
    }
    pki->ca_key = cert_key_generate(opts->key_type);
    pki->server_key = cert_key_generate(opts->key_type);
    if (pki->ca_key == NULL || pki->server_key == NULL) {
        goto out;
    }
    pki->ca_cert = cert_ca_create(pki->ca_key, ca_name, &ca_validity);
    if (pki->ca_cert == NULL) {
        goto out;
    }
    csr = cert_request_create(pki->server_key, NULL, &opts->names);
    if (csr == NULL) {
        goto out;
    }
    pki->server_cert =
        cert_sign_request(csr, "the quickstart request", pki->ca_cert,
                          pki->ca_key, &opts->validity, false);
    if (pki->server_cert == NULL ||
        cert_quickstart_password(pki->password, sizeof(pki->password))) {
        goto out;
    }
    pki->p12 = cert_pkcs12_create(pki->server_key, pki->server_cert, NULL,
                                  opts->names.hosts[0], pki->password, false);
    rc = pki->p12 != NULL ? 0 : -1;

out:
    X509_REQ_free(csr);
    X509_NAME_free(ca_name);
    return rc;
}

static void cert_quickstart_free(struct cert_quickstart_pki *pki)
{
    PKCS12_free(pki->p12);
    X509_free(pki->server_cert);
    EVP_PKEY_free(pki->server_key);
    X509_free(pki->ca_cert);
    EVP_PKEY_free(pki->ca_key);
    OPENSSL_cleanse(pki->password, sizeof(pki->password));
}

static int cert_quickstart_stage(struct outfile_set *set, const char *dir,
                                 const struct cert_quickstart_pki *pki)
{
    char paths[6][4096];
    char *der = NULL;
    size_t len = 0;
    char line[sizeof(pki->password) + 1];
    int rc = -1;

    for (size_t i = 0; i < 6; i++) {
        if (cert_path_join(paths[i], sizeof(paths[i]), dir,
                           cert_quickstart_files[i]) != 0) {
            return -1;
        }
    }
    snprintf(line, sizeof(line), "%s\n", pki->password);
    if (cert_stage_key(set, paths[0], pki->ca_key) == 0 &&
        cert_stage_cert(set, paths[1], pki->ca_cert) == 0 &&
        cert_stage_key(set, paths[2], pki->server_key) == 0 &&
        cert_stage_cert(set, paths[3], pki->server_cert) == 0 &&
        cert_encode_pkcs12(pki->p12, &der, &len) == 0 &&
        outfile_add(set, paths[4], 0600, der, len) == 0 &&
        outfile_add(set, paths[5], 0600, line, strlen(line)) == 0) {
        rc = 0;
    }
    OPENSSL_cleanse(line, sizeof(line));
    cert_free_secret(der, len);
    return rc;
}

static int cert_quickstart_check(const struct cert_quickstart_options *opts)
{
    struct outfile_set set;
    char path[4096];
    int rc = 0;

    outfile_set_init(&set, opts->force);
    for (size_t i = 0; i < 6; i++) {
        if (cert_path_join(path, sizeof(path), opts->out,
                           cert_quickstart_files[i]) != 0 ||
            outfile_check(&set, path) != 0) {
            rc = -1;
        }
    }
    return rc;
}

static void cert_quickstart_report(const char *dir,
                                   const struct cert_quickstart_pki *pki)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    cert_print_written(path, pki->ca_cert);
    snprintf(path, sizeof(path), "%s/server.crt", dir);
    cert_print_written(path, pki->server_cert);
    printf("wrote %s/ca.key, server.key, server.p12 and server.p12.password "
           "(mode 0600)\n",
           dir);
    printf("clients trust %s/ca.crt; servers use server.crt and server.key, "
           "or server.p12\n",
           dir);
}

int cert_quickstart_main(int argc, char **argv)
{
    struct cert_quickstart_options opts = {0};
    struct cert_quickstart_pki pki = {0};
    struct outfile_set set;
    int created = 0;
    int rc = cert_quickstart_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = CERT_EXIT_FAIL;
    outfile_set_init(&set, opts.force);
    if (cert_make_dir(opts.out, &created) != 0 ||
        cert_quickstart_check(&opts) != 0 ||
        cert_quickstart_build(&opts, &pki) != 0 ||
        cert_quickstart_stage(&set, opts.out, &pki) != 0 ||
        outfile_commit(&set) != 0) {
        goto out;
    }
    cert_quickstart_report(opts.out, &pki);
    rc = CERT_EXIT_OK;

out:
    outfile_set_free(&set);
    if (rc != CERT_EXIT_OK && created) {
        rmdir(opts.out);
    }
    cert_quickstart_free(&pki);
    return rc;
}
