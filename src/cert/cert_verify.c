#include "cert/cert.h"
#include "cert/cert_cli.h"
#include "cert/cert_inspect.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A certificate that expires within this many days gets a warning. */
#define CERT_VERIFY_EXPIRY_WARN_DAYS 30
#define CERT_VERIFY_RSA_MIN_BITS     2048
#define CERT_VERIFY_EC_MIN_BITS      256
#define CERT_VERIFY_PROBLEMS_MAX     32

static const char cert_verify_help[] =
    "Usage: drawbridge cert verify --ca FILE [--host NAME] FILE\n"
    "\n"
    "Checks a certificate the way a TLS client would, and prints one line\n"
    "per check, starting with ok:, note:, warning: or error:, each error\n"
    "with its fix. FILE holds the certificate, optionally followed by its\n"
    "intermediate CAs, in PEM or DER. Checks: the chain to a CA in --ca,\n"
    "the host name, the validity dates (a warning within 30 days of\n"
    "expiry), extendedKeyUsage serverAuth, the key size, and the signature\n"
    "algorithms. Exits 1 when any check reports an error.\n"
    "\n"
    "  --ca FILE     trusted CA certificates (PEM or DER), such as the\n"
    "                ca.crt written by 'drawbridge cert ca'\n"
    "  --host NAME   DNS name or IP address that clients connect to\n";

struct cert_verify_options {
    const char *ca_path;
    const char *host;
    const char *path;
};

enum cert_verify_level {
    CERT_VERIFY_OK,
    CERT_VERIFY_NOTE,
    CERT_VERIFY_WARNING,
    CERT_VERIFY_ERROR,
};

/* One error that X509_verify_cert reported through the verify callback. */
struct cert_verify_problem {
    int code;
    int depth;
    X509 *cert; /* the certificate at DEPTH, a new reference, or NULL */
};

struct cert_verify_report {
    const struct cert_verify_options *opts;
    char ca_names[1024]; /* subjects in the --ca file, quoted */
    struct cert_verify_problem problems[CERT_VERIFY_PROBLEMS_MAX];
    size_t problem_count;
    int errors;
    int warnings;
};

static int cert_verify_parse(int argc, char **argv,
                             struct cert_verify_options *opts)
{
    static const struct option longopts[] = {
        {"ca", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    while ((c = cert_getopt("cert verify", argc, argv, "c:H:h", longopts)) !=
           -1) {
        switch (c) {
        case 'c':
            opts->ca_path = optarg;
            break;
        case 'H':
            opts->host = optarg;
            break;
        case 'h':
            cert_help(cert_verify_help);
            return CERT_PARSE_HELP;
        default:
            return CERT_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        return cert_usage("cert verify", "give the certificate FILE");
    }
    if (optind + 1 < argc) {
        return cert_usage("cert verify", "unexpected argument '%s'",
                          argv[optind + 1]);
    }
    if (opts->ca_path == NULL) {
        return cert_usage("cert verify", "--ca is required");
    }
    opts->path = argv[optind];
    return 0;
}

/* Prints "LEVEL: CHECK: MESSAGE" on stdout and counts errors and
 * warnings. */
static void cert_verify_line(struct cert_verify_report *report,
                             enum cert_verify_level level, const char *check,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cert_verify_line(struct cert_verify_report *report,
                             enum cert_verify_level level, const char *check,
                             const char *fmt, ...)
{
    static const char *const prefixes[] = {"ok", "note", "warning", "error"};
    va_list ap;

    if (level == CERT_VERIFY_ERROR) {
        report->errors++;
    } else if (level == CERT_VERIFY_WARNING) {
        report->warnings++;
    }
    printf("%s: %s: ", prefixes[level], check);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void cert_verify_subject(const X509 *cert, char *buf, size_t size)
{
    if (cert == NULL) {
        snprintf(buf, size, "(unknown certificate)");
        return;
    }
    tls_name_format(X509_get_subject_name(cert), buf, size);
}

static void cert_verify_issuer(const X509 *cert, char *buf, size_t size)
{
    if (cert == NULL) {
        snprintf(buf, size, "(unknown issuer)");
        return;
    }
    tls_name_format(X509_get_issuer_name(cert), buf, size);
}

/* Adds each certificate of the --ca file to STORE and lists their subjects
 * in REPORT. A certificate without CA:TRUE gets a note, because it can only
 * be trusted for itself. */
static int cert_verify_add_cas(struct cert_verify_report *report,
                               X509_STORE *store, STACK_OF(X509) * cas)
{
    char subject[512];
    size_t used = 0;

    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);

        if (!X509_STORE_add_cert(store, ca)) {
            log_error("cannot add certificate %d of %s to the trust store; "
                      "check the file",
                      i + 1, report->opts->ca_path);
            return -1;
        }
        cert_verify_subject(ca, subject, sizeof(subject));
        snprintf(report->ca_names + used, sizeof(report->ca_names) - used,
                 "%s'%s'", used ? ", " : "", subject);
        used = strlen(report->ca_names);
        if (X509_check_ca(ca) == 0) {
            cert_verify_line(report, CERT_VERIFY_NOTE, "ca",
                             "%s holds '%s', which is not a CA certificate "
                             "(no basicConstraints CA:TRUE), so it can only "
                             "vouch for itself",
                             report->opts->ca_path, subject);
        }
    }
    return 0;
}

static bool cert_verify_is_time_error(int code)
{
    return code == X509_V_ERR_CERT_NOT_YET_VALID ||
           code == X509_V_ERR_CERT_HAS_EXPIRED ||
           code == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD ||
           code == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
}

/* Records each chain error and returns 1 so that X509_verify_cert goes on
 * and every problem can be listed, not only the first. */
static int cert_verify_callback(int ok, X509_STORE_CTX *ctx)
{
    struct cert_verify_report *report = X509_STORE_CTX_get_app_data(ctx);
    int code = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    struct cert_verify_problem *problem;

    if (ok) {
        return 1;
    }
    for (size_t i = 0; i < report->problem_count; i++) {
        if (report->problems[i].code == code &&
            report->problems[i].depth == depth) {
            return 1;
        }
    }
    if (report->problem_count == CERT_VERIFY_PROBLEMS_MAX) {
        return 1;
    }
    problem = &report->problems[report->problem_count++];
    problem->code = code;
    problem->depth = depth;
    problem->cert = X509_STORE_CTX_get_current_cert(ctx);
    if (problem->cert != NULL) {
        X509_up_ref(problem->cert);
    }
    return 1;
}

/* Explains a certificate whose issuer is in neither the --ca file nor
 * FILE. An issuer with the name of a trusted CA means that CA was made
 * again with a new key. */
static void cert_verify_explain_no_issuer(struct cert_verify_report *report,
                                          const char *subject,
                                          const char *issuer)
{
    const char *ca_path = report->opts->ca_path;
    char quoted[520];

    snprintf(quoted, sizeof(quoted), "'%s'", issuer);
    if (strstr(report->ca_names, quoted) != NULL) {
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "'%s' is signed by another CA that is also named "
                         "'%s', not by the one in %s (its key differs, so "
                         "the CA was probably created again); reissue the "
                         "certificate with 'drawbridge cert sign' from the "
                         "CA in %s, or pass the CA that signed it with --ca",
                         subject, issuer, ca_path, ca_path);
        return;
    }
    cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                     "'%s' is signed by '%s', which is neither in the CA "
                     "file %s (which holds %s) nor in %s. If '%s' is an "
                     "intermediate CA, append its certificate to %s. If it "
                     "is another CA, pass that CA with --ca or reissue the "
                     "certificate from the CA in %s",
                     subject, issuer, ca_path, report->ca_names,
                     report->opts->path, issuer, report->opts->path, ca_path);
}

/* Explains errors about how the chain is built. Returns false for codes
 * it does not handle. */
static bool cert_verify_explain_path(struct cert_verify_report *report,
                                     const struct cert_verify_problem *problem,
                                     const char *subject, const char *issuer)
{
    const char *ca_path = report->opts->ca_path;

    switch (problem->code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        cert_verify_explain_no_issuer(report, subject, issuer);
        return true;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "'%s' in the CA file %s is signed by '%s', which "
                         "is not in that file; add the certificate of '%s' "
                         "to %s",
                         subject, ca_path, issuer, issuer, ca_path);
        return true;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "'%s' is self-signed, so no CA in %s vouches for "
                         "it; issue it from the CA with 'drawbridge cert "
                         "request' and 'drawbridge cert sign', or pass this "
                         "certificate itself with --ca to trust it alone",
                         subject, ca_path);
        return true;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "the chain ends at the root CA '%s', which is not "
                         "in the CA file %s (which holds %s); pass the file "
                         "of '%s' with --ca if you trust it, or reissue the "
                         "certificate from the CA in %s",
                         subject, ca_path, report->ca_names, subject, ca_path);
        return true;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "the signature on '%s' does not verify with the key "
                         "of its issuer '%s', so the certificate was altered "
                         "or signed by another CA of the same name; reissue "
                         "it from the CA in %s",
                         subject, issuer, ca_path);
        return true;
    default:
        return false;
    }
}

/* Explains errors about a CA certificate in the chain. Returns false for
 * codes it does not handle. */
static bool cert_verify_explain_ca(struct cert_verify_report *report,
                                   const struct cert_verify_problem *problem,
                                   const char *subject)
{
    switch (problem->code) {
    case X509_V_ERR_INVALID_CA:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "'%s' signs other certificates in this chain but "
                         "is not a valid CA certificate (it lacks "
                         "basicConstraints CA:TRUE); create the CA with "
                         "'drawbridge cert ca', and give an intermediate CA "
                         "CA:TRUE when issuing it",
                         subject);
        return true;
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "the CA certificate '%s' has a keyUsage without "
                         "keyCertSign, so it may not sign certificates; "
                         "reissue the CA certificate with keyCertSign",
                         subject);
        return true;
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "the chain has more intermediate CAs above '%s' "
                         "than the pathlen constraint of a CA allows; issue "
                         "the certificate from a CA nearer the root, or "
                         "reissue that CA with a larger pathlen",
                         subject);
        return true;
    default:
        return false;
    }
}

/* Explains an expired or not yet valid CA. The leaf's own dates are
 * reported by cert_verify_dates instead. */
static void cert_verify_explain_ca_time(struct cert_verify_report *report,
                                        const struct cert_verify_problem *p,
                                        const char *subject)
{
    char date[32];

    if (p->code == X509_V_ERR_CERT_NOT_YET_VALID) {
        cert_inspect_time(X509_get0_notBefore(p->cert), date, sizeof(date));
        cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                         "the CA certificate '%s' is not valid until %s; "
                         "check this machine's clock, or reissue the CA "
                         "without a future --not-before",
                         subject, date);
        return;
    }
    cert_inspect_time(X509_get0_notAfter(p->cert), date, sizeof(date));
    cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                     "the CA certificate '%s' expired on %s; create a new CA "
                     "with 'drawbridge cert ca' and reissue the certificates "
                     "it signed",
                     subject, date);
}

static void cert_verify_explain(struct cert_verify_report *report,
                                const struct cert_verify_problem *problem)
{
    char subject[512];
    char issuer[512];

    cert_verify_subject(problem->cert, subject, sizeof(subject));
    cert_verify_issuer(problem->cert, issuer, sizeof(issuer));
    if (cert_verify_explain_path(report, problem, subject, issuer) ||
        cert_verify_explain_ca(report, problem, subject)) {
        return;
    }
    if ((problem->code == X509_V_ERR_CERT_NOT_YET_VALID ||
         problem->code == X509_V_ERR_CERT_HAS_EXPIRED) &&
        problem->cert != NULL) {
        cert_verify_explain_ca_time(report, problem, subject);
        return;
    }
    cert_verify_line(report, CERT_VERIFY_ERROR, "chain",
                     "'%s' (depth %d) fails verification: %s (OpenSSL "
                     "verify error %d); reissue it from the CA in %s",
                     subject, problem->depth,
                     X509_verify_cert_error_string(problem->code),
                     problem->code, report->opts->ca_path);
}

/* Returns true for a problem that another line already covers: the leaf's
 * own dates, which cert_verify_dates checks, and OpenSSL's follow-up
 * "unable to verify the first certificate" after a missing issuer. */
static bool cert_verify_is_repeat(const struct cert_verify_report *report,
                                  const struct cert_verify_problem *problem)
{
    if (problem->depth == 0 && cert_verify_is_time_error(problem->code)) {
        return true;
    }
    if (problem->code != X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
        return false;
    }
    for (size_t i = 0; i < report->problem_count; i++) {
        int code = report->problems[i].code;

        if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
            code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
            return true;
        }
    }
    return false;
}

/* Prints "ok" with the verified chain, leaf first. */
static void cert_verify_chain_ok(struct cert_verify_report *report,
                                 STACK_OF(X509) * chain)
{
    char path[2048] = "";
    char subject[512];
    size_t used = 0;

    for (int i = 0; i < sk_X509_num(chain); i++) {
        cert_verify_subject(sk_X509_value(chain, i), subject, sizeof(subject));
        snprintf(path + used, sizeof(path) - used, "%s'%s'",
                 i == 0 ? "" : ", signed by ", subject);
        used = strlen(path);
    }
    cert_verify_line(report, CERT_VERIFY_OK, "chain", "%s (trusted, in %s)",
                     path, report->opts->ca_path);
}

/* Builds and verifies the chain from LEAF and UNTRUSTED to a CA in STORE,
 * then reports every problem found. Sets *CHAIN to the chain as far as it
 * could be built, and *UNTRUSTED_COUNT to the number of its certificates
 * that did not come from the --ca file. Returns 0, or -1 when OpenSSL
 * could not run the check. */
static int cert_verify_chain(struct cert_verify_report *report,
                             X509_STORE *store, X509 *leaf,
                             STACK_OF(X509) * untrusted,
                             STACK_OF(X509) * *chain, int *untrusted_count)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int reported = 0;
    int rc = -1;

    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        log_error("cannot set up the chain check of %s: out of memory",
                  report->opts->path);
        goto out;
    }
    X509_STORE_CTX_set_verify_cb(ctx, cert_verify_callback);
    X509_STORE_CTX_set_app_data(ctx, report);
    if (X509_verify_cert(ctx) < 0) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("the chain check of %s failed to run: %s", report->opts->path,
                  reason);
        goto out;
    }
    ERR_clear_error();
    *chain = X509_STORE_CTX_get1_chain(ctx);
    *untrusted_count = X509_STORE_CTX_get_num_untrusted(ctx);
    for (size_t i = 0; i < report->problem_count; i++) {
        const struct cert_verify_problem *problem = &report->problems[i];

        if (cert_verify_is_repeat(report, problem)) {
            continue;
        }
        cert_verify_explain(report, problem);
        reported++;
    }
    if (reported == 0) {
        cert_verify_chain_ok(report, *chain);
    }
    rc = 0;

out:
    X509_STORE_CTX_free(ctx);
    return rc;
}

/* Lists the names that X509_check_host or X509_check_ip_asc compare: the
 * subjectAltName, and for a DNS host the CN when there is no DNS name in
 * the subjectAltName. */
static void cert_verify_covered_names(const X509 *leaf, bool is_ip, char *buf,
                                      size_t size)
{
    char cn[256];
    size_t used;

    cert_inspect_san(leaf, buf, size);
    cert_inspect_common_name(X509_get_subject_name(leaf), cn, sizeof(cn));
    if (is_ip || cert_inspect_has_dns_san(leaf) || cn[0] == '\0') {
        return;
    }
    if (strcmp(buf, "none") == 0) {
        buf[0] = '\0';
    }
    used = strlen(buf);
    snprintf(buf + used, size - used, "%sCN:%s", used ? ", " : "", cn);
}

static void cert_verify_host(struct cert_verify_report *report, X509 *leaf)
{
    const char *host = report->opts->host;
    unsigned char addr[16];
    char names[1024];
    bool is_ip;
    int match;

    if (host == NULL) {
        cert_verify_line(report, CERT_VERIFY_NOTE, "host",
                         "the host name was not checked; pass --host NAME "
                         "to check it");
        return;
    }
    is_ip = inet_pton(AF_INET, host, addr) == 1 ||
            inet_pton(AF_INET6, host, addr) == 1;
    match = is_ip ? X509_check_ip_asc(leaf, host, 0)
                  : X509_check_host(leaf, host, 0, 0, NULL);
    ERR_clear_error();
    if (match == 1) {
        cert_verify_line(report, CERT_VERIFY_OK, "host",
                         "the certificate covers %s", host);
        return;
    }
    cert_verify_covered_names(leaf, is_ip, names, sizeof(names));
    cert_verify_line(report, CERT_VERIFY_ERROR, "host",
                     "the certificate does not cover %s: it covers %s; "
                     "reissue it with 'drawbridge cert request %s %s' and "
                     "'drawbridge cert sign'",
                     host, names, is_ip ? "--ip" : "--host", host);
}

/* Reports an expired certificate, or one that expires soon. STARTED is
 * false for a certificate that is not valid yet, which gets no "ok" line. */
static void cert_verify_expiry(struct cert_verify_report *report,
                               const X509 *leaf, bool started)
{
    const ASN1_TIME *not_after = X509_get0_notAfter(leaf);
    char until[32];
    int days = 0;

    cert_inspect_time(not_after, until, sizeof(until));
    cert_inspect_days_until(not_after, &days);
    if (X509_cmp_current_time(not_after) < 0) {
        cert_verify_line(report, CERT_VERIFY_ERROR, "dates",
                         "the certificate expired on %s (%d days ago); "
                         "issue a new one with 'drawbridge cert sign'",
                         until, -days);
    } else if (days <= CERT_VERIFY_EXPIRY_WARN_DAYS) {
        cert_verify_line(report, CERT_VERIFY_WARNING, "dates",
                         "the certificate expires on %s, in %d days; renew "
                         "it before then with 'drawbridge cert sign'",
                         until, days);
    } else if (started) {
        cert_verify_line(report, CERT_VERIFY_OK, "dates",
                         "valid until %s (%d days left)", until, days);
    }
}

static void cert_verify_dates(struct cert_verify_report *report,
                              const X509 *leaf)
{
    const ASN1_TIME *not_before = X509_get0_notBefore(leaf);
    char from[32];
    int days = 0;
    bool started;

    if (X509_cmp_current_time(not_before) == 0 ||
        X509_cmp_current_time(X509_get0_notAfter(leaf)) == 0) {
        cert_verify_line(report, CERT_VERIFY_ERROR, "dates",
                         "the validity dates of the certificate cannot be "
                         "read; reissue it with 'drawbridge cert sign'");
        return;
    }
    started = X509_cmp_current_time(not_before) < 0;
    if (!started) {
        cert_inspect_time(not_before, from, sizeof(from));
        cert_inspect_days_until(not_before, &days);
        cert_verify_line(report, CERT_VERIFY_ERROR, "dates",
                         "the certificate is not valid until %s (in %d "
                         "days); check this machine's clock, or reissue it "
                         "with 'drawbridge cert sign' without a future "
                         "--not-before",
                         from, days);
    }
    cert_verify_expiry(report, leaf, started);
}

static void cert_verify_eku(struct cert_verify_report *report, X509 *leaf)
{
    uint32_t flags = X509_get_extension_flags(leaf);
    char list[512];

    if (!(flags & EXFLAG_XKUSAGE)) {
        cert_verify_line(report, CERT_VERIFY_OK, "extended key usage",
                         "none, so TLS server use is allowed");
        return;
    }
    cert_inspect_ext_key_usage(leaf, list, sizeof(list));
    if (X509_get_extended_key_usage(leaf) & (XKU_SSL_SERVER | XKU_ANYEKU)) {
        cert_verify_line(report, CERT_VERIFY_OK, "extended key usage", "%s",
                         list);
        return;
    }
    cert_verify_line(report, CERT_VERIFY_ERROR, "extended key usage",
                     "the certificate allows only %s, without serverAuth, so "
                     "TLS clients reject it as a server certificate; issue a "
                     "server certificate with 'drawbridge cert sign' without "
                     "--client",
                     list);
}

static void cert_verify_key(struct cert_verify_report *report, const X509 *cert)
{
    const EVP_PKEY *key = X509_get0_pubkey(cert);
    char subject[512];
    char describe[96];
    int bits;

    cert_verify_subject(cert, subject, sizeof(subject));
    if (key == NULL) {
        ERR_clear_error();
        cert_verify_line(report, CERT_VERIFY_ERROR, "key",
                         "the public key of '%s' cannot be read; reissue it "
                         "with an RSA or EC key",
                         subject);
        return;
    }
    tls_key_describe(key, describe, sizeof(describe));
    bits = EVP_PKEY_get_bits(key);
    if ((EVP_PKEY_is_a(key, "RSA") && bits < CERT_VERIFY_RSA_MIN_BITS) ||
        (EVP_PKEY_is_a(key, "EC") && bits < CERT_VERIFY_EC_MIN_BITS)) {
        cert_verify_line(report, CERT_VERIFY_ERROR, "key",
                         "'%s' has a weak key (%s): clients reject RSA keys "
                         "below %d bits and EC keys below %d bits; create a "
                         "new key with 'drawbridge cert request --key NEW.key' "
                         "and have it signed",
                         subject, describe, CERT_VERIFY_RSA_MIN_BITS,
                         CERT_VERIFY_EC_MIN_BITS);
        return;
    }
    cert_verify_line(report, CERT_VERIFY_OK, "key", "'%s' has %s", subject,
                     describe);
}

static bool cert_verify_digest_sha2(int digest)
{
    return digest == NID_sha224 || digest == NID_sha256 ||
           digest == NID_sha384 || digest == NID_sha512;
}

/* Checks the signature algorithm of CERT. Returns true when it uses a
 * SHA-2 digest. */
static bool cert_verify_signature(struct cert_verify_report *report,
                                  const X509 *cert)
{
    int sig_nid = X509_get_signature_nid(cert);
    int digest = cert_inspect_sig_digest(sig_nid);
    const char *name = cert_inspect_sig_name(sig_nid);
    char subject[512];

    cert_verify_subject(cert, subject, sizeof(subject));
    if (cert_inspect_digest_weak(digest)) {
        cert_verify_line(report, CERT_VERIFY_ERROR, "signature",
                         "'%s' is signed with %s, which clients reject "
                         "because %s collisions can be forged; reissue it "
                         "with SHA-256 ('drawbridge cert sign' uses SHA-256)",
                         subject, name,
                         digest == NID_sha1 ? "SHA-1" : OBJ_nid2sn(digest));
        return false;
    }
    cert_verify_line(report, CERT_VERIFY_OK, "signature",
                     "'%s' is signed with %s", subject, name);
    return cert_verify_digest_sha2(digest);
}

/* Checks the key and the signature algorithm of the leaf and of each
 * intermediate: the first COUNT certificates of CHAIN, which did not come
 * from the --ca file. */
static void cert_verify_issued(struct cert_verify_report *report,
                               STACK_OF(X509) * chain, int count)
{
    bool sha2 = false;

    for (int i = 0; i < count && i < sk_X509_num(chain); i++) {
        cert_verify_key(report, sk_X509_value(chain, i));
    }
    for (int i = 0; i < count && i < sk_X509_num(chain); i++) {
        if (cert_verify_signature(report, sk_X509_value(chain, i))) {
            sha2 = true;
        }
    }
    if (sha2) {
        cert_verify_line(report, CERT_VERIFY_NOTE, "signature",
                         "TLS stacks that predate SHA-2 support (Windows XP "
                         "before SP3, for one) cannot verify SHA-2 "
                         "signatures such as SHA-256, so such clients reject "
                         "this certificate");
    }
}

static void cert_verify_summary(const struct cert_verify_report *report)
{
    printf("result: %d error%s, %d warning%s\n", report->errors,
           report->errors == 1 ? "" : "s", report->warnings,
           report->warnings == 1 ? "" : "s");
}

/* Runs every check on the loaded certificates. Returns 0, or -1 when a
 * check could not run. */
static int cert_verify_run(struct cert_verify_report *report,
                           struct tls_bundle *cas, struct tls_bundle *file)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    STACK_OF(X509) *chain = NULL;
    X509 *leaf = sk_X509_value(file->certs, 0);
    int count = 0;
    int rc = -1;

    if (store == NULL || untrusted == NULL ||
        cert_verify_add_cas(report, store, cas->certs) != 0) {
        goto out;
    }
    for (int i = 1; i < sk_X509_num(file->certs); i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(file->certs, i))) {
            goto out;
        }
    }
    if (cert_verify_chain(report, store, leaf, untrusted, &chain, &count) !=
        0) {
        goto out;
    }
    cert_verify_host(report, leaf);
    cert_verify_dates(report, leaf);
    cert_verify_eku(report, leaf);
    /* OpenSSL 3.0 counts no certificate as untrusted when the leaf itself
     * is in the --ca file, so check at least the leaf. */
    cert_verify_issued(report, chain, count > 0 ? count : 1);
    cert_verify_summary(report);
    rc = 0;

out:
    sk_X509_pop_free(chain, X509_free);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return rc;
}

int cert_verify_main(int argc, char **argv)
{
    struct cert_verify_options opts = {0};
    struct cert_verify_report report = {0};
    struct tls_bundle cas = {0};
    struct tls_bundle file = {0};
    int rc = cert_verify_parse(argc, argv, &opts);

    if (rc != 0) {
        return rc == CERT_PARSE_HELP ? CERT_EXIT_OK : rc;
    }
    rc = CERT_EXIT_FAIL;
    report.opts = &opts;
    if (tls_bundle_load(&cas, opts.ca_path, NULL) != 0 ||
        tls_bundle_load(&file, opts.path, NULL) != 0) {
        goto out;
    }
    if (cert_verify_run(&report, &cas, &file) == 0 && report.errors == 0) {
        rc = CERT_EXIT_OK;
    }

out:
    for (size_t i = 0; i < report.problem_count; i++) {
        X509_free(report.problems[i].cert);
    }
    tls_bundle_free(&file);
    tls_bundle_free(&cas);
    return rc;
}
