#include "cert/cert.h"
#include "cert/cert_cli.h"
#include "cert/cert_inspect.h"

#include "common/file.h"
#include "common/log.h"
#include "tls/tls_load.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_SHOW_PASSWORD_MAX 1024

static const char cert_show_help[] =
    "Usage: drawbridge cert show FILE [--password-file FILE]\n"
    "\n"
    "Prints each certificate in FILE: subject, issuer, serial, "
    "subjectAltName,\n"
    "validity, key, signature algorithm, SHA-256 and SHA-1 fingerprints,\n"
    "basic constraints, key usage and extended key usage. FILE is PEM (one or\n"
    "more certificates, or a CSR), DER or PKCS#12. For a CSR it prints the\n"
    "subject, subjectAltName, key and whether its signature verifies.\n"
    "\n"
    "  --password-file FILE  file whose first line is the PKCS#12 password;\n"
    "                        without it an empty password is tried\n";

struct cert_show_options {
    const char *path;
    const char *password_file;
};

/* keyUsage bits with their RFC 5280 names, in the order of the standard. */
static const struct {
    uint32_t bit;
    const char *name;
} cert_show_key_usages[] = {
    {KU_DIGITAL_SIGNATURE, "digitalSignature"},
    {KU_NON_REPUDIATION, "nonRepudiation"},
    {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
    {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
    {KU_KEY_AGREEMENT, "keyAgreement"},
    {KU_KEY_CERT_SIGN, "keyCertSign"},
    {KU_CRL_SIGN, "cRLSign"},
    {KU_ENCIPHER_ONLY, "encipherOnly"},
    {KU_DECIPHER_ONLY, "decipherOnly"},
};

static int cert_show_parse(int argc, char **argv,
                           struct cert_show_options *opts)
{
    static const struct option longopts[] = {
        {"password-file", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    while ((c = cert_getopt("cert show", argc, argv, "p:h", longopts)) != -1) {
        switch (c) {
        case 'p':
            opts->password_file = optarg;
            break;
        case 'h':
            cert_help(cert_show_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        return cert_usage("cert show", "give the FILE to show");
    }
    if (optind + 1 < argc) {
        return cert_usage("cert show", "unexpected argument '%s'",
                          argv[optind + 1]);
    }
    opts->path = argv[optind];
    return 0;
}

/* Prints one "Label: value" line, indented by INDENT spaces, with the
 * values of all lines in one column. */
static void cert_show_field(int indent, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cert_show_field(int indent, const char *label, const char *fmt, ...)
{
    va_list ap;

    printf("%*s%s:%*s", indent, "", label,
           (int)(22 - indent - (int)strlen(label)), "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* Appends ITEM to the comma-separated list in BUF. */
static void cert_show_append(char *buf, size_t size, const char *item)
{
    size_t used = strlen(buf);

    snprintf(buf + used, size - used, "%s%s", used ? ", " : "", item);
}

static void cert_show_serial(const X509 *cert)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

    cert_show_field(2, "Serial", "%s", hex != NULL ? hex : "unreadable");
    OPENSSL_free(hex);
    BN_free(bn);
}

static void cert_show_validity(const X509 *cert)
{
    char from[32];
    char until[32];
    char left[64];
    int days_to_start = 0;
    int days_to_end = 0;

    cert_inspect_time(X509_get0_notBefore(cert), from, sizeof(from));
    cert_inspect_time(X509_get0_notAfter(cert), until, sizeof(until));
    if (cert_inspect_days_until(X509_get0_notBefore(cert), &days_to_start) !=
            0 ||
        cert_inspect_days_until(X509_get0_notAfter(cert), &days_to_end) != 0) {
        snprintf(left, sizeof(left), "dates unreadable");
    } else if (days_to_start > 0) {
        snprintf(left, sizeof(left), "not valid for %d more days",
                 days_to_start);
    } else if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        snprintf(left, sizeof(left), "expired %d days ago", -days_to_end);
    } else {
        snprintf(left, sizeof(left), "%d days left", days_to_end);
    }
    cert_show_field(2, "Validity", "from %s until %s (%s)", from, until, left);
}

static void cert_show_fingerprints(const X509 *cert)
{
    char fingerprint[EVP_MAX_MD_SIZE * 3];

    if (tls_fingerprint(cert, EVP_sha256(), fingerprint, sizeof(fingerprint)) !=
        0) {
        snprintf(fingerprint, sizeof(fingerprint), "unavailable");
    }
    cert_show_field(2, "SHA-256 fingerprint", "%s", fingerprint);
    if (tls_fingerprint(cert, EVP_sha1(), fingerprint, sizeof(fingerprint)) !=
        0) {
        snprintf(fingerprint, sizeof(fingerprint), "unavailable");
    }
    cert_show_field(2, "SHA-1 fingerprint", "%s", fingerprint);
    ERR_clear_error();
}

static void cert_show_basic_constraints(const X509 *cert)
{
    BASIC_CONSTRAINTS *bc =
        X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
    long pathlen;

    if (bc == NULL) {
        cert_show_field(2, "Basic constraints", "none");
    } else if (!bc->ca) {
        cert_show_field(2, "Basic constraints", "CA:FALSE");
    } else if (bc->pathlen == NULL) {
        cert_show_field(2, "Basic constraints",
                        "CA:TRUE, no path length "
                        "limit");
    } else {
        pathlen = ASN1_INTEGER_get(bc->pathlen);
        cert_show_field(2, "Basic constraints", "CA:TRUE, pathlen:%ld",
                        pathlen);
    }
    BASIC_CONSTRAINTS_free(bc);
}

/* CERT is not const because X509_get_key_usage caches the parsed
 * extensions in it (OpenSSL 3.0). */
static void cert_show_key_usage(X509 *cert)
{
    char list[256] = "";
    uint32_t usage = X509_get_key_usage(cert);

    if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE)) {
        cert_show_field(2, "Key usage", "none");
        return;
    }
    for (size_t i = 0;
         i < sizeof(cert_show_key_usages) / sizeof(cert_show_key_usages[0]);
         i++) {
        if (usage & cert_show_key_usages[i].bit) {
            cert_show_append(list, sizeof(list), cert_show_key_usages[i].name);
        }
    }
    cert_show_field(2, "Key usage", "%s", list[0] ? list : "none");
}

static void cert_show_ext_key_usage(const X509 *cert)
{
    char list[512];

    cert_inspect_ext_key_usage(cert, list, sizeof(list));
    cert_show_field(2, "Extended key usage", "%s", list);
}

static void cert_show_key(int indent, const EVP_PKEY *key)
{
    char describe[96];

    if (key == NULL) {
        cert_show_field(indent, "Key", "unreadable or unsupported");
        return;
    }
    tls_key_describe(key, describe, sizeof(describe));
    cert_show_field(indent, "Key", "%s", describe);
}

static void cert_show_cert(X509 *cert, int index, int count)
{
    char text[1024];

    printf("\nCertificate %d of %d\n", index, count);
    tls_name_format(X509_get_subject_name(cert), text, sizeof(text));
    cert_show_field(2, "Subject", "%s", text);
    tls_name_format(X509_get_issuer_name(cert), text, sizeof(text));
    cert_show_field(2, "Issuer", "%s", text);
    cert_show_serial(cert);
    cert_inspect_san(cert, text, sizeof(text));
    cert_show_field(2, "SAN", "%s", text);
    cert_show_validity(cert);
    cert_show_key(2, X509_get0_pubkey(cert));
    cert_show_field(2, "Signature algorithm", "%s",
                    cert_inspect_sig_name(X509_get_signature_nid(cert)));
    cert_show_fingerprints(cert);
    cert_show_basic_constraints(cert);
    cert_show_key_usage(cert);
    cert_show_ext_key_usage(cert);
}

static const char *cert_show_format_name(enum tls_file_format format)
{
    switch (format) {
    case TLS_FORMAT_PEM:
        return "PEM";
    case TLS_FORMAT_DER:
        return "DER";
    case TLS_FORMAT_PKCS12:
        return "PKCS#12";
    }
    return "unknown";
}

/* Prints the file line and, when the file carries one, the private key and
 * whether it belongs to the first certificate. */
static void cert_show_bundle_header(const char *path,
                                    const struct tls_bundle *bundle)
{
    X509 *leaf = sk_X509_value(bundle->certs, 0);
    int count = sk_X509_num(bundle->certs);
    char describe[96];
    const char *match;

    cert_show_field(0, "File", "%s (%s, %d certificate%s)", path,
                    cert_show_format_name(bundle->format), count,
                    count == 1 ? "" : "s");
    if (bundle->key == NULL) {
        if (bundle->format == TLS_FORMAT_PKCS12) {
            cert_show_field(0, "Private key", "none");
        }
    } else {
        tls_key_describe(bundle->key, describe, sizeof(describe));
        match = X509_check_private_key(leaf, bundle->key) == 1
                    ? "matches certificate 1"
                    : "does NOT match certificate 1";
        ERR_clear_error();
        cert_show_field(0, "Private key", "yes, %s, %s", describe, match);
    }
    if (bundle->format == TLS_FORMAT_PKCS12) {
        cert_show_field(0, "Friendly name", "%s",
                        bundle->friendly_name != NULL ? bundle->friendly_name
                                                      : "none");
    }
}

static void cert_show_csr(const char *path, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *names =
        X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr);
    char text[1024];
    bool verified = key != NULL && X509_REQ_verify(csr, key) == 1;

    ERR_clear_error();
    cert_show_field(0, "File", "%s (certificate signing request)", path);
    printf("\nCertificate signing request\n");
    tls_name_format(X509_REQ_get_subject_name(csr), text, sizeof(text));
    cert_show_field(2, "Subject", "%s", text);
    cert_inspect_names(names, text, sizeof(text));
    cert_show_field(2, "SAN", "%s", text);
    cert_show_key(2, key);
    cert_show_field(2, "Signature algorithm", "%s",
                    cert_inspect_sig_name(X509_REQ_get_signature_nid(csr)));
    cert_show_field(2, "Signature", "%s",
                    verified ? "verifies with the request's key"
                             : "does NOT verify: the request was altered or "
                               "damaged");
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

/* Returns 1 when the PEM text DATA contains a CSR and no certificate. */
static int cert_show_pem_is_csr(const char *data)
{
    return strstr(data, "CERTIFICATE REQUEST-----") != NULL &&
           strstr(data, "-----BEGIN CERTIFICATE-----") == NULL;
}

/* Loads PATH as a CSR when it is one. Returns 1 with *CSR set, 0 when PATH
 * contains something other than a CSR, or -1 after logging that the file
 * cannot be read or contains a damaged CSR. */
static int cert_show_load_csr(const char *path, X509_REQ **csr)
{
    char *data = NULL;
    size_t len = 0;
    int rc = 0;

    *csr = NULL;
    if (file_read(path, FILE_READ_MAX, &data, &len) != 0) {
        return -1;
    }
    if (strstr(data, "-----BEGIN ") != NULL) {
        if (cert_show_pem_is_csr(data)) {
            *csr = tls_csr_load(path);
            rc = *csr != NULL ? 1 : -1;
        }
    } else if (len > 0) {
        const unsigned char *p = (const unsigned char *)data;

        *csr = d2i_X509_REQ(NULL, &p, (long)len);
        if (*csr != NULL && p == (const unsigned char *)data + len) {
            rc = 1;
        } else {
            X509_REQ_free(*csr);
            *csr = NULL;
        }
        ERR_clear_error();
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

static int cert_show_bundle(const struct cert_show_options *opts)
{
    struct tls_bundle bundle;
    char password[CERT_SHOW_PASSWORD_MAX];
    int rc;
    int count;

    if (opts->password_file != NULL &&
        file_read_secret(opts->password_file, password, sizeof(password)) !=
            0) {
        return CERT_EXIT_FAIL;
    }
    rc = tls_bundle_load(&bundle, opts->path,
                         opts->password_file != NULL ? password : NULL);
    OPENSSL_cleanse(password, sizeof(password));
    if (rc != 0) {
        return CERT_EXIT_FAIL;
    }
    cert_show_bundle_header(opts->path, &bundle);
    count = sk_X509_num(bundle.certs);
    for (int i = 0; i < count; i++) {
        cert_show_cert(sk_X509_value(bundle.certs, i), i + 1, count);
    }
    tls_bundle_free(&bundle);
    return CERT_EXIT_OK;
}

int cert_show_main(int argc, char **argv)
{
    struct cert_show_options opts = {0};
    X509_REQ *csr = NULL;
    int rc = cert_show_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = cert_show_load_csr(opts.path, &csr);
    if (rc < 0) {
        return CERT_EXIT_FAIL;
    }
    if (rc == 1) {
        cert_show_csr(opts.path, csr);
        X509_REQ_free(csr);
        return CERT_EXIT_OK;
    }
    return cert_show_bundle(&opts);
}
