#include "cert/cert_inspect.h"
#include "cert/cert_probe.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Verification problems kept per chain; a real chain has a handful. */
#define CERT_PROBE_MAX_ISSUES 16

/* One problem that the verify callback recorded. */
struct cert_probe_issue {
    int error;
    int depth;
    X509 *cert; /* a reference held until cert_probe_issues_free */
};

struct cert_probe_issues {
    struct cert_probe_issue items[CERT_PROBE_MAX_ISSUES];
    int count;
};

void cert_probe_error(struct cert_probe_report *report, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    report->problems++;
}

/* Writes "certificate N (SUBJECT)" for a served certificate, or "the CA
 * certificate SUBJECT" for one that came from the trust store. */
static void cert_probe_cert_name(const struct cert_probe_report *report,
                                 X509 *cert, char *buf, size_t size)
{
    char subject[512];

    tls_name_format(X509_get_subject_name(cert), subject, sizeof(subject));
    for (int i = 0; i < sk_X509_num(report->served); i++) {
        if (X509_cmp(sk_X509_value(report->served, i), cert) == 0) {
            snprintf(buf, size, "certificate %d (%s)", i, subject);
            return;
        }
    }
    snprintf(buf, size, "the CA certificate %s", subject);
}

static bool cert_probe_served_subject(const struct cert_probe_report *report,
                                      const X509_NAME *name)
{
    for (int i = 0; i < sk_X509_num(report->served); i++) {
        X509 *cert = sk_X509_value(report->served, i);

        if (X509_NAME_cmp(X509_get_subject_name(cert), name) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes the first CA Issuers URL of CERT's authorityInfoAccess into BUF.
 * Returns false when there is none. */
static bool cert_probe_ca_issuers_url(X509 *cert, char *buf, size_t size)
{
    AUTHORITY_INFO_ACCESS *info =
        X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
    bool found = false;

    for (int i = 0; !found && i < sk_ACCESS_DESCRIPTION_num(info); i++) {
        ACCESS_DESCRIPTION *desc = sk_ACCESS_DESCRIPTION_value(info, i);

        if (OBJ_obj2nid(desc->method) == NID_ad_ca_issuers &&
            desc->location->type == GEN_URI) {
            const ASN1_IA5STRING *uri =
                desc->location->d.uniformResourceIdentifier;

            snprintf(buf, size, "%.*s", ASN1_STRING_length(uri),
                     (const char *)ASN1_STRING_get0_data(uri));
            found = true;
        }
    }
    AUTHORITY_INFO_ACCESS_free(info);
    return found;
}

/* Explains a leaf whose issuer the server did not send and the trust store
 * does not hold. Without the issuer's certificate nothing distinguishes an
 * intermediate CA that the server should have sent from a root CA missing
 * in --ca, so the message covers both. */
static void cert_probe_explain_incomplete(struct cert_probe_report *report,
                                          X509 *leaf, const char *issuer)
{
    const char *label = report->trust_label;
    int others = sk_X509_num(report->served) - 1;
    char url[512];
    char where[600] = "";

    if (cert_probe_ca_issuers_url(leaf, url, sizeof(url))) {
        snprintf(where, sizeof(where),
                 " (the leaf's authorityInfoAccess points to its issuer's "
                 "certificate at %s)",
                 url);
    }
    if (others == 0) {
        cert_probe_error(report,
                         "the chain is incomplete or its CA is not trusted: "
                         "the server sent only its own certificate, and its "
                         "issuer %s is not in %s%s; if %s is an intermediate "
                         "CA, configure the server to send its certificate "
                         "after the leaf (appended to the certificate file, "
                         "or as the chain file); if it is a root CA, pass "
                         "its certificate with --ca",
                         issuer, label, where, issuer);
        return;
    }
    cert_probe_error(report,
                     "the chain is incomplete or its CA is not trusted: none "
                     "of the %d other certificates that the server sent is "
                     "the leaf's issuer %s, and %s does not contain it "
                     "either%s; if %s is an intermediate CA, configure the "
                     "server to send its certificate after the leaf; if it "
                     "is a root CA, pass its certificate with --ca",
                     others, issuer, label, where, issuer);
}

/* Explains why CERT's issuer is not trusted: the trust store has another
 * CA of the same name, CERT is a self-signed leaf or root, the chain is
 * incomplete, or the issuing CA is simply not in the trust store. */
static void cert_probe_explain_untrusted(struct cert_probe_report *report,
                                         X509_STORE_CTX *ctx, X509 *cert)
{
    const X509_NAME *issuer_name = X509_get_issuer_name(cert);
    STACK_OF(X509) *same_name = X509_STORE_CTX_get1_certs(ctx, issuer_name);
    bool known_name = sk_X509_num(same_name) > 0;
    bool is_leaf = X509_cmp(cert, sk_X509_value(report->served, 0)) == 0;
    const char *label = report->trust_label;
    char issuer[512];
    char what[600];

    sk_X509_pop_free(same_name, X509_free);
    ERR_clear_error();
    tls_name_format(issuer_name, issuer, sizeof(issuer));
    cert_probe_cert_name(report, cert, what, sizeof(what));
    if (known_name) {
        cert_probe_error(report,
                         "%s has a CA named %s, but not the one that signed "
                         "%s: their keys differ, so that CA was probably "
                         "created again under the same name; pass the CA "
                         "certificate that issued it with --ca, or issue "
                         "the server a new certificate from this CA",
                         label, issuer, what);
    } else if (X509_check_issued(cert, cert) == X509_V_OK && is_leaf) {
        cert_probe_error(report,
                         "the server's certificate %s is self-signed and %s "
                         "does not contain it; pass that certificate with "
                         "--ca to trust it, or give the server a certificate "
                         "issued by a CA ('drawbridge cert quickstart')",
                         issuer, label);
    } else if (X509_check_issued(cert, cert) == X509_V_OK) {
        cert_probe_error(report,
                         "untrusted CA: the server sent the root CA as %s, "
                         "but %s does not trust it; pass that CA's "
                         "certificate with --ca if it is your CA",
                         what, label);
    } else if (is_leaf && !cert_probe_served_subject(report, issuer_name)) {
        cert_probe_explain_incomplete(report, cert, issuer);
    } else {
        cert_probe_error(report,
                         "untrusted CA: %s was issued by %s, which %s does "
                         "not contain; pass that CA's certificate with --ca "
                         "if it is your CA, or check that the server has the "
                         "certificate you expect",
                         what, issuer, label);
    }
    ERR_clear_error();
}

static void cert_probe_explain_dates(struct cert_probe_report *report,
                                     const struct cert_probe_issue *issue,
                                     const char *what)
{
    char when[40];

    if (issue->error == X509_V_ERR_CERT_HAS_EXPIRED) {
        cert_inspect_time(X509_get0_notAfter(issue->cert), when, sizeof(when));
        cert_probe_error(report,
                         "%s expired on %s; renew it and install the new "
                         "certificate where it is used (the server, or the "
                         "--ca file for a CA)",
                         what, when);
    } else {
        cert_inspect_time(X509_get0_notBefore(issue->cert), when, sizeof(when));
        cert_probe_error(report,
                         "%s is not valid before %s; check the clock of this "
                         "machine, and the start date that the CA set",
                         what, when);
    }
}

static void cert_probe_explain(struct cert_probe_report *report,
                               X509_STORE_CTX *ctx,
                               const struct cert_probe_issue *issue)
{
    char what[600] = "the server's certificate";

    if (issue->cert != NULL) {
        cert_probe_cert_name(report, issue->cert, what, sizeof(what));
    }
    switch (issue->error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        if (issue->cert != NULL) {
            cert_probe_explain_untrusted(report, ctx, issue->cert);
            return;
        }
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        if (issue->cert != NULL) {
            cert_probe_explain_dates(report, issue, what);
            return;
        }
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        cert_probe_error(report,
                         "%s is not for TLS servers: its extended key usage "
                         "lacks serverAuth; issue it again as a server "
                         "certificate ('drawbridge cert sign' without "
                         "--client)",
                         what);
        return;
    case X509_V_ERR_INVALID_CA:
        cert_probe_error(report,
                         "%s signed another certificate of the chain but is "
                         "not a CA (it lacks basicConstraints CA:TRUE); "
                         "check the order of the server's chain file",
                         what);
        return;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        cert_probe_error(report,
                         "the signature of %s does not verify with its "
                         "issuer's key, so the issuer was replaced by another "
                         "CA with the same name; pass the CA that signed it "
                         "with --ca, or issue the certificate again",
                         what);
        return;
    default:
        break;
    }
    cert_probe_error(report,
                     "%s: %s (OpenSSL verify error %d); inspect the chain "
                     "with 'openssl s_client -connect %s -showcerts'",
                     what, X509_verify_cert_error_string(issue->error),
                     issue->error, report->host_port);
}

static bool cert_probe_is_untrusted(int error)
{
    return error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

/* Records every verification error instead of stopping at the first, so
 * that one run reports each problem of the chain. */
static int cert_probe_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    struct cert_probe_issues *issues = X509_STORE_CTX_get_app_data(ctx);
    int error = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    struct cert_probe_issue *issue;

    if (ok || issues == NULL) {
        return ok;
    }
    for (int i = 0; i < issues->count; i++) {
        if (issues->items[i].error == error &&
            issues->items[i].depth == depth) {
            return 1;
        }
    }
    if (issues->count < CERT_PROBE_MAX_ISSUES) {
        issue = &issues->items[issues->count++];
        issue->error = error;
        issue->depth = depth;
        issue->cert = X509_STORE_CTX_get_current_cert(ctx);
        if (issue->cert != NULL) {
            X509_up_ref(issue->cert);
        }
    }
    return 1;
}

static void cert_probe_issues_report(struct cert_probe_report *report,
                                     X509_STORE_CTX *ctx,
                                     const struct cert_probe_issues *issues)
{
    bool untrusted = false;

    for (int i = 0; i < issues->count; i++) {
        untrusted =
            untrusted || cert_probe_is_untrusted(issues->items[i].error);
    }
    for (int i = 0; i < issues->count; i++) {
        /* After a missing issuer OpenSSL also reports that the top
         * certificate's signature cannot be checked, which adds nothing. */
        if (untrusted && issues->items[i].error ==
                             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
            continue;
        }
        cert_probe_explain(report, ctx, &issues->items[i]);
    }
}

static void cert_probe_issues_free(struct cert_probe_issues *issues)
{
    for (int i = 0; i < issues->count; i++) {
        X509_free(issues->items[i].cert);
    }
    issues->count = 0;
}

int cert_probe_verify_chain(struct cert_probe_report *report, char *anchor,
                            size_t size, int *length)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    struct cert_probe_issues issues = {0};
    STACK_OF(X509) * chain;
    char reason[256];
    int rc = -1;

    if (ctx == NULL || untrusted == NULL) {
        goto out;
    }
    for (int i = 1; i < sk_X509_num(report->served); i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(report->served, i))) {
            goto out;
        }
    }
    if (!X509_STORE_CTX_init(ctx, report->store,
                             sk_X509_value(report->served, 0), untrusted) ||
        !X509_STORE_CTX_set_default(ctx, "ssl_server")) {
        goto out;
    }
    X509_STORE_CTX_set_verify_cb(ctx, cert_probe_verify_cb);
    X509_STORE_CTX_set_app_data(ctx, &issues);
    if (X509_verify_cert(ctx) < 0) {
        goto out;
    }
    if (X509_STORE_CTX_get_error(ctx) != X509_V_OK && issues.count == 0) {
        issues.items[0].error = X509_STORE_CTX_get_error(ctx);
        issues.items[0].depth = X509_STORE_CTX_get_error_depth(ctx);
        issues.count = 1;
    }
    cert_probe_issues_report(report, ctx, &issues);
    chain = X509_STORE_CTX_get0_chain(ctx);
    *length = sk_X509_num(chain);
    tls_name_format(X509_get_subject_name(sk_X509_value(chain, *length - 1)),
                    anchor, size);
    rc = 0;

out:
    if (rc != 0) {
        tls_error_string(reason, sizeof(reason));
        log_error("cannot verify the served chain: %s", reason);
    }
    cert_probe_issues_free(&issues);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return rc;
}
