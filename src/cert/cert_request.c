#include "cert/cert.h"
#include "cert/cert_cli.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <stdio.h>
#include <sys/stat.h>

static const char cert_request_help[] =
    "Usage: drawbridge cert request --host FQDN [--host NAME...] [--ip "
    "ADDR...]\n"
    "                               --key FILE --out FILE.csr [OPTIONS]\n"
    "\n"
    "Creates a certificate signing request. The CN is the first --host (or\n"
    "the first --ip when no host is given) and every host and IP address\n"
    "goes into the subjectAltName. When the --key file exists its key is\n"
    "reused, otherwise a new key is written there with mode 0600.\n"
    "\n"
    "  --host NAME       DNS name, repeatable; the first one is the CN\n"
    "  --ip ADDR         IPv4 or IPv6 address, repeatable\n"
    "  --key FILE        private key to reuse or create\n"
    "  --out FILE        where to write the CSR (PEM)\n"
    "  --subject DN      other name attributes, as \"O=Example,C=DE\"\n"
    "  --key-type TYPE   type of a new key: rsa:2048..8192 or\n"
    "                    ec:P-256|P-384|P-521 (default rsa:3072)\n"
    "  --force           replace an existing CSR file\n";

struct cert_request_options {
    struct cert_names names;
    const char *key_path;
    const char *out;
    const char *subject;
    const char *key_type;
    bool force;
};

static int cert_request_add_name(struct cert_request_options *opts, int c,
                                 const char *value)
{
    struct cert_names *names = &opts->names;

    if (names->host_count + names->ip_count >= CERT_NAMES_MAX) {
        return cert_usage("cert request", "too many names (max %d)",
                          CERT_NAMES_MAX);
    }
    if (c == 'H') {
        if (!cert_host_valid(value)) {
            return cert_usage("cert request",
                              "invalid --host '%s': use a DNS name of "
                              "letters, digits, hyphens and dots, and --ip "
                              "for addresses",
                              value);
        }
        names->hosts[names->host_count++] = value;
        return 0;
    }
    if (!cert_ip_valid(value)) {
        return cert_usage("cert request",
                          "invalid --ip '%s': give an IPv4 or IPv6 address",
                          value);
    }
    names->ips[names->ip_count++] = value;
    return 0;
}

static int cert_request_parse(int argc, char **argv,
                              struct cert_request_options *opts)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"ip", required_argument, NULL, 'I'},
        {"key", required_argument, NULL, 'k'},
        {"out", required_argument, NULL, 'o'},
        {"subject", required_argument, NULL, 's'},
        {"key-type", required_argument, NULL, CERT_OPT_KEY_TYPE},
        {"force", no_argument, NULL, CERT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opts->key_type = CERT_DEFAULT_KEY_TYPE;
    optind = 0;
    while ((c = cert_getopt("cert request", argc, argv, "k:o:s:h", longopts)) !=
           -1) {
        switch (c) {
        case 'H':
        case 'I':
            if (cert_request_add_name(opts, c, optarg) != 0) {
                return CERT_EXIT_USAGE;
            }
            break;
        case 'k':
            opts->key_path = optarg;
            break;
        case 'o':
            opts->out = optarg;
            break;
        case 's':
            opts->subject = optarg;
            break;
        case CERT_OPT_KEY_TYPE:
            opts->key_type = optarg;
            break;
        case CERT_OPT_FORCE:
            opts->force = true;
            break;
        case 'h':
            cert_help(cert_request_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return cert_usage("cert request", "unexpected argument '%s'",
                          argv[optind]);
    }
    if (opts->names.host_count + opts->names.ip_count == 0) {
        return cert_usage("cert request", "give at least one --host or --ip");
    }
    if (opts->key_path == NULL || opts->out == NULL) {
        return cert_usage("cert request", "--key and --out are required");
    }
    return 0;
}

/* Loads the key at PATH, or generates one and stages it in SET. */
static EVP_PKEY *cert_request_key(const struct cert_request_options *opts,
                                  struct outfile_set *set, bool *generated)
{
    struct stat st;
    EVP_PKEY *key;
    char describe[64];

    *generated = false;
    if (stat(opts->key_path, &st) == 0) {
        key = tls_key_load(opts->key_path);
        if (key != NULL && EVP_PKEY_is_a(key, "RSA") &&
            EVP_PKEY_get_bits(key) < 2048) {
            tls_key_describe(key, describe, sizeof(describe));
            log_warn("the key in %s is weak (%s); clients reject RSA keys "
                     "below 2048 bits, so create a new key",
                     opts->key_path, describe);
        }
        return key;
    }
    key = cert_key_generate(opts->key_type);
    if (key != NULL && cert_stage_key(set, opts->key_path, key) != 0) {
        EVP_PKEY_free(key);
        return NULL;
    }
    *generated = key != NULL;
    return key;
}

static int cert_request_run(const struct cert_request_options *opts,
                            const X509_NAME *subject)
{
    struct outfile_set set;
    EVP_PKEY *key = NULL;
    X509_REQ *csr = NULL;
    char *pem = NULL;
    size_t len = 0;
    bool generated = false;
    int rc = CERT_EXIT_FAIL;

    outfile_set_init(&set, opts->force);
    if (outfile_check(&set, opts->out) != 0) {
        goto out;
    }
    /* A new key is never allowed to replace an existing file: --force only
     * covers the CSR. cert_request_key only generates when none exists. */
    key = cert_request_key(opts, &set, &generated);
    if (key == NULL) {
        goto out;
    }
    csr = cert_request_create(key, subject, &opts->names);
    if (csr == NULL || cert_encode_csr_pem(csr, &pem, &len) != 0 ||
        outfile_add(&set, opts->out, 0644, pem, len) != 0 ||
        outfile_commit(&set) != 0) {
        goto out;
    }
    printf("%s %s\n", generated ? "wrote new key" : "reused key",
           opts->key_path);
    printf("wrote %s for %s\n", opts->out,
           opts->names.host_count > 0 ? opts->names.hosts[0]
                                      : opts->names.ips[0]);
    rc = CERT_EXIT_OK;

out:
    outfile_set_free(&set);
    free(pem);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    return rc;
}

int cert_request_main(int argc, char **argv)
{
    struct cert_request_options opts = {0};
    X509_NAME *subject = NULL;
    int rc = cert_request_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    if (opts.subject != NULL) {
        subject = cert_subject_parse(opts.subject);
        if (subject == NULL) {
            return CERT_EXIT_USAGE;
        }
    }
    rc = cert_request_run(&opts, subject);
    X509_NAME_free(subject);
    return rc;
}
