#include "doctor/doctor.h"

#include "cert/cert_inspect.h"
#include "tls/tls_load.h"
#include "tls/tls_probe.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* Verification errors kept per chain; a real chain has a handful. */
#define DOCTOR_TLS_MAX_ISSUES 16

struct doctor_tls_issue {
    int error;
    X509 *cert; /* a reference, freed by doctor_tls_issues_free */
};

struct doctor_tls_issues {
    struct doctor_tls_issue items[DOCTOR_TLS_MAX_ISSUES];
    int count;
};

void doctor_tls_names(X509 *cert, char *buf, size_t size)
{
    char cn[256];
    size_t used;

    cert_inspect_san(cert, buf, size);
    if (cert_inspect_has_dns_san(cert)) {
        return;
    }
    cert_inspect_common_name(X509_get_subject_name(cert), cn, sizeof(cn));
    if (cn[0] == '\0') {
        return;
    }
    if (strcmp(buf, "none") == 0) {
        buf[0] = '\0';
    }
    used = strlen(buf);
    snprintf(buf + used, size - used, "%sCN:%s", used > 0 ? ", " : "", cn);
}

bool doctor_tls_expired(X509 *cert)
{
    return X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
}

void doctor_tls_print_chain(struct doctor_report *report,
                            STACK_OF(X509) * served)
{
    char subject[512];
    char issuer[512];
    char until[40];

    for (int i = 0; i < sk_X509_num(served); i++) {
        X509 *cert = sk_X509_value(served, i);

        tls_name_format(X509_get_subject_name(cert), subject, sizeof(subject));
        tls_name_format(X509_get_issuer_name(cert), issuer, sizeof(issuer));
        cert_inspect_time(X509_get0_notAfter(cert), until, sizeof(until));
        doctor_ok(report,
                  "served certificate %d: %s, issued by %s, valid until %s", i,
                  subject, issuer, until);
    }
}

static int doctor_tls_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    struct doctor_tls_issues *issues = X509_STORE_CTX_get_app_data(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);

    if (ok || issues == NULL || issues->count >= DOCTOR_TLS_MAX_ISSUES) {
        return 1;
    }
    issues->items[issues->count].error = X509_STORE_CTX_get_error(ctx);
    issues->items[issues->count].cert = cert;
    if (cert != NULL) {
        X509_up_ref(cert);
    }
    issues->count++;
    return 1;
}

static void doctor_tls_issues_free(struct doctor_tls_issues *issues)
{
    for (int i = 0; i < issues->count; i++) {
        X509_free(issues->items[i].cert);
    }
    issues->count = 0;
}

static bool doctor_tls_served(STACK_OF(X509) * served, const X509_NAME *name)
{
    for (int i = 0; i < sk_X509_num(served); i++) {
        X509 *cert = sk_X509_value(served, i);

        if (X509_NAME_cmp(X509_get_subject_name(cert), name) == 0) {
            return true;
        }
    }
    return false;
}

/* Explains a certificate of the chain whose issuer is not trusted. */
static void doctor_tls_untrusted(struct doctor_report *report,
                                 X509_STORE_CTX *ctx, STACK_OF(X509) * served,
                                 X509 *cert, const char *trust)
{
    const X509_NAME *issuer_name = X509_get_issuer_name(cert);
    STACK_OF(X509) *same_name = X509_STORE_CTX_get1_certs(ctx, issuer_name);
    bool known_name = sk_X509_num(same_name) > 0;
    bool self_signed = X509_check_issued(cert, cert) == X509_V_OK;
    char issuer[512];

    sk_X509_pop_free(same_name, X509_free);
    ERR_clear_error();
    tls_name_format(issuer_name, issuer, sizeof(issuer));
    if (known_name) {
        doctor_error(report, "DB-TLS-UNTRUSTED",
                     "%s has a CA named %s, but not the one that signed the "
                     "relay's certificate (their keys differ, so the CA was "
                     "probably created again under the same name); copy the "
                     "current ca.crt into %s, or issue the relay a new "
                     "certificate from the CA that %s contains",
                     trust, issuer, trust, trust);
    } else if (self_signed || sk_X509_num(served) > 1 ||
               doctor_tls_served(served, issuer_name)) {
        doctor_error(report, "DB-TLS-UNTRUSTED",
                     "the relay's chain ends at the CA %s, which %s does not "
                     "contain; add that CA's certificate to %s if it is your "
                     "CA, or install a relay certificate from a CA that the "
                     "file contains",
                     issuer, trust, trust);
    } else {
        doctor_error(report, "DB-TLS-CHAIN-INCOMPLETE",
                     "the relay sent only its own certificate, and its issuer "
                     "%s is not in %s; if %s is an intermediate CA, append "
                     "its certificate after the leaf in the relay's "
                     "tls_certificate file; if it is a root CA, add it to %s",
                     issuer, trust, issuer, trust);
    }
}

static void doctor_tls_explain(struct doctor_report *report,
                               X509_STORE_CTX *ctx, STACK_OF(X509) * served,
                               const struct doctor_tls_issue *issue,
                               const char *trust)
{
    char subject[512] = "a certificate of the chain";
    char when[40];

    if (issue->cert != NULL) {
        tls_name_format(X509_get_subject_name(issue->cert), subject,
                        sizeof(subject));
    }
    switch (issue->error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        if (issue->cert != NULL) {
            doctor_tls_untrusted(report, ctx, served, issue->cert, trust);
            return;
        }
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        if (issue->cert == NULL) {
            break;
        }
        cert_inspect_time(issue->error == X509_V_ERR_CERT_HAS_EXPIRED
                              ? X509_get0_notAfter(issue->cert)
                              : X509_get0_notBefore(issue->cert),
                          when, sizeof(when));
        doctor_error(report, "DB-TLS-EXPIRED",
                     "the certificate %s %s %s; renew it ('drawbridge cert "
                     "sign') and install the new one where it is used, or "
                     "check this machine's clock",
                     subject,
                     issue->error == X509_V_ERR_CERT_HAS_EXPIRED
                         ? "expired on"
                         : "is not valid before",
                     when);
        return;
    default:
        break;
    }
    doctor_error(report, "DB-TLS-UNTRUSTED",
                 "the certificate %s does not verify: %s (OpenSSL verify "
                 "error %d); inspect the chain with 'drawbridge cert probe'",
                 subject, X509_verify_cert_error_string(issue->error),
                 issue->error);
}

static void doctor_tls_check_host(struct doctor_report *report, X509 *leaf,
                                  const struct doctor_tls_expect *expect)
{
    bool is_ip = tls_is_ip_address(expect->host);
    int match = is_ip ? X509_check_ip_asc(leaf, expect->host, 0)
                      : X509_check_host(leaf, expect->host, 0, 0, NULL);
    char names[1024];

    ERR_clear_error();
    doctor_tls_names(leaf, names, sizeof(names));
    if (match == 1) {
        doctor_ok(report, "the certificate covers %s (%s)", expect->host,
                  names);
        return;
    }
    doctor_error(report, "DB-TLS-HOSTNAME",
                 "the relay's certificate covers %s but not %s, the name "
                 "that was dialed; connect with a name that it covers, or "
                 "issue a certificate for it ('drawbridge cert request %s "
                 "%s')",
                 names, expect->host, is_ip ? "--ip" : "--host", expect->host);
}

static X509_STORE *doctor_tls_store(struct doctor_report *report,
                                    const char *ca_file)
{
    X509_STORE *store = X509_STORE_new();
    char why[256];
    int rc;

    if (store == NULL) {
        return NULL;
    }
    rc = ca_file != NULL ? X509_STORE_load_file(store, ca_file)
                         : X509_STORE_set_default_paths(store);
    if (rc == 1) {
        return store;
    }
    tls_error_string(why, sizeof(why));
    doctor_error(report, "DB-TLS-UNTRUSTED",
                 "cannot read CA certificates from %s: %s; give a PEM file "
                 "with the CA that issued the relay's certificate",
                 ca_file ? ca_file : "the system trust store", why);
    X509_STORE_free(store);
    return NULL;
}

int doctor_tls_check_served(struct doctor_report *report,
                            STACK_OF(X509) * served,
                            const struct doctor_tls_expect *expect)
{
    const char *trust =
        expect->ca_file ? expect->ca_file : "the system trust store";
    struct doctor_tls_issues issues = {0};
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE *store = doctor_tls_store(report, expect->ca_file);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *leaf = sk_X509_value(served, 0);
    int rc = -1;
    int before = report->errors;

    if (store == NULL || ctx == NULL || leaf == NULL) {
        goto out;
    }
    untrusted = sk_X509_dup(served);
    if (untrusted == NULL) {
        goto out;
    }
    (void)sk_X509_shift(untrusted);
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        goto out;
    }
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_STORE_CTX_set_app_data(ctx, &issues);
    X509_STORE_CTX_set_verify_cb(ctx, doctor_tls_verify_cb);
    (void)X509_verify_cert(ctx);
    for (int i = 0; i < issues.count; i++) {
        doctor_tls_explain(report, ctx, served, &issues.items[i], trust);
    }
    if (report->errors == before) {
        doctor_ok(report, "the relay's chain verifies against %s", trust);
    }
    doctor_tls_check_host(report, leaf, expect);
    rc = 0;
out:
    ERR_clear_error();
    doctor_tls_issues_free(&issues);
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}
