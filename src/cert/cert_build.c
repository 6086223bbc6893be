#include "cert/cert_x509.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <string.h>

/* New certificates start this many seconds in the past, so that a client
 * whose clock is a little behind the signer's still accepts them. */
#define CERT_BACKDATE_SECONDS 300

static int cert_set_serial(X509 *cert)
{
    unsigned char bytes[16];
    BIGNUM *bn = NULL;
    int rc = -1;

    /* 128 random bits with the top bit clear, so the DER INTEGER stays
     * positive and within the 20 octets that RFC 5280 allows. */
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        log_error("the random number generator failed while making a "
                  "serial number");
        return -1;
    }
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
        rc = 0;
    }
    BN_free(bn);
    return rc;
}

static int cert_set_validity(X509 *cert, const struct cert_validity *validity)
{
    time_t not_before = validity->not_before;
    time_t not_after = validity->not_after;

    if (not_before == 0) {
        not_before = time(NULL) - CERT_BACKDATE_SECONDS;
        if (not_after == 0) {
            not_after = time(NULL) + (time_t)validity->days * 86400;
        }
    }
    if (not_after == 0) {
        not_after = not_before + (time_t)validity->days * 86400;
    }
    if (not_after <= not_before) {
        log_error("the certificate would end before it starts; set "
                  "--not-after later than --not-before");
        return -1;
    }
    if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == NULL) {
        log_error("cannot set the certificate's validity dates");
        return -1;
    }
    return 0;
}

static int cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1)) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("cannot add the %s extension '%s': %s", OBJ_nid2sn(nid),
                  value, reason);
        X509_EXTENSION_free(ext);
        return -1;
    }
    X509_EXTENSION_free(ext);
    return 0;
}

static int cert_sign_with(X509 *cert, EVP_PKEY *key)
{
    if (X509_sign(cert, key, EVP_sha256()) <= 0) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("signing the certificate failed: %s", reason);
        return -1;
    }
    return 0;
}

X509 *cert_ca_create(EVP_PKEY *key, const X509_NAME *subject,
                     const struct cert_validity *validity)
{
    X509 *cert = X509_new();

    if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) ||
        cert_set_serial(cert) != 0 || cert_set_validity(cert, validity) != 0 ||
        !X509_set_subject_name(cert, subject) ||
        !X509_set_issuer_name(cert, subject) || !X509_set_pubkey(cert, key)) {
        goto fail;
    }
    if (cert_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") ||
        cert_add_ext(cert, cert, NID_key_usage,
                     "critical,keyCertSign,cRLSign,digitalSignature") ||
        cert_add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
        cert_add_ext(cert, cert, NID_authority_key_identifier,
                     "keyid:always")) {
        goto fail;
    }
    if (cert_sign_with(cert, key) != 0) {
        goto fail;
    }
    return cert;

fail:
    X509_free(cert);
    return NULL;
}

/* Writes "DNS:a,DNS:b,IP:c" for NAMES into BUF. */
static int cert_san_format(const struct cert_names *names, char *buf,
                           size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < names->host_count + names->ip_count; i++) {
        bool is_host = i < names->host_count;
        const char *value =
            is_host ? names->hosts[i] : names->ips[i - names->host_count];
        int n = snprintf(buf + used, size - used, "%s%s:%s",
                         used > 0 ? "," : "", is_host ? "DNS" : "IP", value);

        if (n < 0 || (size_t)n >= size - used) {
            log_error("the subjectAltName is too long; list fewer names");
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

static X509_NAME *cert_request_subject(const X509_NAME *subject,
                                       const char *common_name)
{
    X509_NAME *name = subject ? X509_NAME_dup(subject) : X509_NAME_new();
    int index;

    if (name == NULL) {
        return NULL;
    }
    index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index >= 0) {
        X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, index);
        ASN1_STRING *data = X509_NAME_ENTRY_get_data(entry);

        if (strcmp((const char *)ASN1_STRING_get0_data(data), common_name) !=
            0) {
            log_error("--subject sets CN=%s but the first name is %s; drop "
                      "CN from --subject, because the CN is always the first "
                      "--host",
                      (const char *)ASN1_STRING_get0_data(data), common_name);
            X509_NAME_free(name);
            return NULL;
        }
        return name;
    }
    if (!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)common_name, -1, -1,
                                    0)) {
        log_error("cannot use '%s' as the common name", common_name);
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

static int cert_request_add_san(X509_REQ *csr, const struct cert_names *names)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext;
    char san[16384];
    int rc = -1;

    if (exts == NULL || cert_san_format(names, san, sizeof(san)) != 0) {
        goto out;
    }
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (ext == NULL) {
        log_error("invalid subjectAltName '%s'", san);
        goto out;
    }
    sk_X509_EXTENSION_push(exts, ext);
    if (X509_REQ_add_extensions(csr, exts)) {
        rc = 0;
    }

out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

X509_REQ *cert_request_create(EVP_PKEY *key, const X509_NAME *subject,
                              const struct cert_names *names)
{
    const char *common_name;
    X509_REQ *csr = NULL;
    X509_NAME *name = NULL;

    if (names->host_count + names->ip_count == 0) {
        log_error("a certificate signing request needs at least one host "
                  "name or IP address; pass --host or --ip");
        return NULL;
    }
    common_name = names->host_count > 0 ? names->hosts[0] : names->ips[0];
    csr = X509_REQ_new();
    if (csr == NULL || !X509_REQ_set_version(csr, X509_REQ_VERSION_1) ||
        !X509_REQ_set_pubkey(csr, key)) {
        goto fail;
    }
    name = cert_request_subject(subject, common_name);
    if (name == NULL || !X509_REQ_set_subject_name(csr, name)) {
        goto fail;
    }
    if (cert_request_add_san(csr, names) != 0) {
        goto fail;
    }
    if (X509_REQ_sign(csr, key, EVP_sha256()) <= 0) {
        log_error("signing the certificate signing request failed");
        goto fail;
    }
    X509_NAME_free(name);
    return csr;

fail:
    X509_NAME_free(name);
    X509_REQ_free(csr);
    return NULL;
}

static int cert_check_issuer(X509 *ca_cert, EVP_PKEY *ca_key)
{
    char subject[512];

    tls_name_format(X509_get_subject_name(ca_cert), subject, sizeof(subject));
    if (X509_check_ca(ca_cert) == 0) {
        log_error("the CA certificate (%s) is not a CA: it lacks "
                  "basicConstraints CA:TRUE; create a CA with 'drawbridge "
                  "cert ca'",
                  subject);
        return -1;
    }
    if (X509_check_private_key(ca_cert, ca_key) != 1) {
        ERR_clear_error();
        log_error("the CA key does not match the CA certificate (%s); put "
                  "the ca.key that belongs to this ca.crt in the CA "
                  "directory",
                  subject);
        return -1;
    }
    return 0;
}

static int cert_check_request(X509_REQ *csr, const char *csr_path)
{
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr);

    if (key == NULL || X509_REQ_verify(csr, key) != 1) {
        ERR_clear_error();
        log_error("the signature of the certificate signing request %s does "
                  "not verify, so it was altered or damaged; create the "
                  "request again with 'drawbridge cert request'",
                  csr_path);
        return -1;
    }
    return 0;
}

/* Copies the subjectAltName that CSR requests into CERT. Only that
 * extension is copied: a request must not be able to ask for CA:TRUE. */
static int cert_copy_san(X509 *cert, X509_REQ *csr, const char *csr_path,
                         bool client)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    int rc = 0;
    int found = 0;

    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);

        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) ==
            NID_subject_alt_name) {
            rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
            found = 1;
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!found && !client) {
        log_warn("%s requests no subjectAltName, so clients will match host "
                 "names against the CN alone, which browsers reject; create "
                 "the request with 'drawbridge cert request --host NAME'",
                 csr_path);
    }
    return rc;
}

/* Ends the certificate no later than its CA, which would otherwise make
 * the chain fail to verify from the CA's expiry on. */
static void cert_clamp_to_issuer(X509 *cert, X509 *ca_cert)
{
    const ASN1_TIME *ca_end = X509_get0_notAfter(ca_cert);

    if (ASN1_TIME_compare(X509_get0_notAfter(cert), ca_end) > 0) {
        X509_set1_notAfter(cert, ca_end);
        log_warn("the certificate would outlive its CA, so it ends when the "
                 "CA does; renew the CA to issue longer certificates");
    }
}

static int cert_add_leaf_exts(X509 *cert, X509 *ca_cert, bool client)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    const char *usage = "critical,digitalSignature";

    if (key != NULL && EVP_PKEY_is_a(key, "RSA") && !client) {
        usage = "critical,digitalSignature,keyEncipherment";
    }
    if (cert_add_ext(cert, ca_cert, NID_basic_constraints,
                     "critical,CA:FALSE") ||
        cert_add_ext(cert, ca_cert, NID_key_usage, usage) ||
        cert_add_ext(cert, ca_cert, NID_ext_key_usage,
                     client ? "clientAuth" : "serverAuth") ||
        cert_add_ext(cert, ca_cert, NID_subject_key_identifier, "hash") ||
        cert_add_ext(cert, ca_cert, NID_authority_key_identifier,
                     "keyid:always")) {
        return -1;
    }
    return 0;
}

X509 *cert_sign_request(X509_REQ *csr, const char *csr_path, X509 *ca_cert,
                        EVP_PKEY *ca_key, const struct cert_validity *validity,
                        bool client)
{
    X509 *cert = NULL;

    if (cert_check_issuer(ca_cert, ca_key) != 0 ||
        cert_check_request(csr, csr_path) != 0) {
        return NULL;
    }
    cert = X509_new();
    if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) ||
        cert_set_serial(cert) != 0 || cert_set_validity(cert, validity) != 0 ||
        !X509_set_subject_name(cert, X509_REQ_get_subject_name(csr)) ||
        !X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)) ||
        !X509_set_pubkey(cert, X509_REQ_get0_pubkey(csr))) {
        goto fail;
    }
    cert_clamp_to_issuer(cert, ca_cert);
    if (cert_copy_san(cert, csr, csr_path, client) != 0 ||
        cert_add_leaf_exts(cert, ca_cert, client) != 0) {
        goto fail;
    }
    if (cert_sign_with(cert, ca_key) != 0) {
        goto fail;
    }
    return cert;

fail:
    X509_free(cert);
    return NULL;
}

PKCS12 *cert_pkcs12_create(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                           const char *name, const char *password, bool legacy)
{
    int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : 0;
    PKCS12 *p12;

    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        log_error("the private key does not match the certificate; pass the "
                  "key that the certificate was issued for");
        return NULL;
    }

    /* With nid 0 OpenSSL 3 uses AES-256-CBC with PBKDF2 and a SHA-256 MAC.
     * The legacy MAC is set separately because PKCS12_create has no
     * digest parameter. */
    p12 = PKCS12_create(password, name, key, cert, chain, nid, nid, 0,
                        legacy ? -1 : 0, 0);
    if (p12 != NULL && legacy &&
        !PKCS12_set_mac(p12, password, -1, NULL, 0, PKCS12_DEFAULT_ITER,
                        EVP_sha1())) {
        PKCS12_free(p12);
        p12 = NULL;
    }
    if (p12 == NULL) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("creating the PKCS#12 bundle failed: %s", reason);
    }
    return p12;
}
