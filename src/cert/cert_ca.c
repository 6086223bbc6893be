#include "cert/cert.h"
#include "cert/cert_cli.h"

#include "common/log.h"

#include <stdio.h>
#include <unistd.h>

static const char cert_ca_help[] =
    "Usage: drawbridge cert ca --subject DN --out DIR [OPTIONS]\n"
    "\n"
    "Creates a CA: DIR/ca.key (mode 0600) and DIR/ca.crt, self-signed with\n"
    "SHA-256, with basicConstraints CA:TRUE and keyUsage keyCertSign.\n"
    "\n"
    "  --subject DN        the CA's name, as \"CN=Example Root CA,O=Example\"\n"
    "  --out DIR           directory for ca.key and ca.crt; created with\n"
    "                      mode 0700 when missing\n"
    "  --days N            validity in days from now (default 3650)\n"
    "  --not-before DATE   start of validity, YYYY-MM-DD (UTC)\n"
    "  --not-after DATE    end of validity, YYYY-MM-DD (UTC)\n"
    "  --key-type TYPE     rsa:2048..8192 or ec:P-256|P-384|P-521\n"
    "                      (default rsa:3072)\n"
    "  --force             replace existing files\n";

struct cert_ca_options {
    const char *subject;
    const char *out;
    const char *key_type;
    struct cert_validity validity;
    bool force;
};

static int cert_ca_parse(int argc, char **argv, struct cert_ca_options *opts)
{
    static const struct option longopts[] = {
        {"subject", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"days", required_argument, NULL, 'd'},
        {"not-before", required_argument, NULL, CERT_OPT_NOT_BEFORE},
        {"not-after", required_argument, NULL, CERT_OPT_NOT_AFTER},
        {"key-type", required_argument, NULL, CERT_OPT_KEY_TYPE},
        {"force", no_argument, NULL, CERT_OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opts->key_type = CERT_DEFAULT_KEY_TYPE;
    opts->validity.days = CERT_DEFAULT_CA_DAYS;
    optind = 0;
    while ((c = cert_getopt("cert ca", argc, argv, "s:o:d:h", longopts)) !=
           -1) {
        switch (c) {
        case 's':
            opts->subject = optarg;
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
        case CERT_OPT_KEY_TYPE:
            opts->key_type = optarg;
            break;
        case CERT_OPT_FORCE:
            opts->force = true;
            break;
        case 'h':
            cert_help(cert_ca_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        return cert_usage("cert ca", "unexpected argument '%s'", argv[optind]);
    }
    if (opts->subject == NULL || opts->out == NULL) {
        return cert_usage("cert ca", "--subject and --out are required");
    }
    return 0;
}

static int cert_ca_write(const struct cert_ca_options *opts, EVP_PKEY *key,
                         X509 *cert)
{
    struct outfile_set set;
    char key_path[4096];
    char cert_path[4096];
    int rc = -1;

    outfile_set_init(&set, opts->force);
    if (cert_path_join(key_path, sizeof(key_path), opts->out, "ca.key") ||
        cert_path_join(cert_path, sizeof(cert_path), opts->out, "ca.crt")) {
        goto out;
    }
    if (cert_stage_key(&set, key_path, key) != 0 ||
        cert_stage_cert(&set, cert_path, cert) != 0 ||
        outfile_commit(&set) != 0) {
        goto out;
    }
    printf("wrote %s (mode 0600)\n", key_path);
    cert_print_written(cert_path, cert);
    rc = 0;

out:
    outfile_set_free(&set);
    return rc;
}

static int cert_ca_check_outputs(const struct cert_ca_options *opts)
{
    struct outfile_set set;
    char path[4096];
    int rc = 0;

    /* Checked before the slow key generation, so a clash fails fast. */
    outfile_set_init(&set, opts->force);
    if (cert_path_join(path, sizeof(path), opts->out, "ca.key") != 0 ||
        outfile_check(&set, path) != 0) {
        rc = -1;
    }
    if (cert_path_join(path, sizeof(path), opts->out, "ca.crt") != 0 ||
        outfile_check(&set, path) != 0) {
        rc = -1;
    }
    return rc;
}

int cert_ca_main(int argc, char **argv)
{
    struct cert_ca_options opts = {0};
    X509_NAME *subject = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int created = 0;
    int rc = cert_ca_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = CERT_EXIT_FAIL;
    subject = cert_subject_parse(opts.subject);
    if (subject == NULL) {
        return CERT_EXIT_USAGE;
    }
    if (cert_make_dir(opts.out, &created) != 0 ||
        cert_ca_check_outputs(&opts) != 0) {
        goto out;
    }
    key = cert_key_generate(opts.key_type);
    if (key == NULL) {
        goto out;
    }
    cert = cert_ca_create(key, subject, &opts.validity);
    if (cert == NULL || cert_ca_write(&opts, key, cert) != 0) {
        goto out;
    }
    rc = CERT_EXIT_OK;

out:
    if (rc != CERT_EXIT_OK && created) {
        rmdir(opts.out);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_NAME_free(subject);
    return rc;
}
