#include "tls/tls_load.h"

#include "common/file.h"
#include "common/log.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <string.h>

void tls_error_string(char *buf, size_t size)
{
    unsigned long err = ERR_peek_last_error();
    const char *reason;

    if (err == 0) {
        snprintf(buf, size, "unknown error");
        return;
    }
    reason = ERR_reason_error_string(err);
    if (reason != NULL) {
        snprintf(buf, size, "%s", reason);
    } else {
        ERR_error_string_n(err, buf, size);
    }
    ERR_clear_error();
}

void tls_name_format(const X509_NAME *name, char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n;

    buf[0] = '\0';
    if (bio == NULL) {
        return;
    }
    X509_NAME_print_ex(bio, name, 0,
                       XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB &
                           ~XN_FLAG_SPC_EQ);
    n = BIO_read(bio, buf, (int)size - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(bio);
}

/* Passphrase callback that supplies none. With a NULL callback OpenSSL
 * prompts on the terminal for an encrypted key, which would block a
 * service, so encrypted keys fail instead and the caller explains why. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *data)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)data;
    return -1;
}

/* Finds the PEM label of the first block in DATA, or NULL. */
static const char *tls_pem_label(const char *data, char *label, size_t size)
{
    const char *begin = strstr(data, "-----BEGIN ");
    const char *end;
    size_t len;

    if (begin == NULL) {
        return NULL;
    }
    begin += strlen("-----BEGIN ");
    end = strstr(begin, "-----");
    if (end == NULL || (size_t)(end - begin) >= size) {
        return NULL;
    }
    len = (size_t)(end - begin);
    memcpy(label, begin, len);
    label[len] = '\0';
    return label;
}

/* Explains why a PEM file held no certificate: it holds something else, or
 * a block is cut off. */
static void tls_explain_pem(const char *path, const char *data)
{
    char label[64];
    char end_line[96];

    if (tls_pem_label(data, label, sizeof(label)) == NULL) {
        log_error("%s has a PEM header that cannot be read; copy the whole "
                  "file again",
                  path);
        return;
    }
    snprintf(end_line, sizeof(end_line), "-----END %s-----", label);
    if (strstr(data, end_line) == NULL) {
        log_error("%s is truncated: it has a BEGIN %s line but no END line; "
                  "copy the whole file again",
                  path, label);
    } else if (strstr(label, "CERTIFICATE REQUEST") != NULL) {
        log_error("%s is a certificate signing request, not a certificate; "
                  "sign it first with 'drawbridge cert sign'",
                  path);
    } else if (strstr(label, "PRIVATE KEY") != NULL) {
        log_error("%s is a private key, not a certificate; pass the "
                  "certificate file instead",
                  path);
    } else {
        log_error(
            "%s contains a PEM block of type '%s' that cannot be parsed as "
            "a certificate; check that the file is complete and is a "
            "certificate",
            path, label);
    }
}

static int tls_load_pem(struct tls_bundle *bundle, const char *path,
                        const char *data, size_t len)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509 *cert;
    unsigned long err;

    if (bio == NULL) {
        return -1;
    }
    while ((cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(bundle->certs, cert)) {
            X509_free(cert);
            BIO_free(bio);
            return -1;
        }
    }
    err = ERR_peek_last_error();
    ERR_clear_error();
    BIO_free(bio);

    if (sk_X509_num(bundle->certs) == 0) {
        tls_explain_pem(path, data);
        return -1;
    }
    /* Reading stops at the end of the data with "no start line". Any other
     * error means that a block after the certificates read so far is cut
     * off or damaged, and a chain missing a certificate must not load. */
    if (ERR_GET_LIB(err) != ERR_LIB_PEM ||
        ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
        log_error("%s: the PEM block after certificate %d is truncated or "
                  "damaged; copy the whole file again",
                  path, sk_X509_num(bundle->certs));
        return -1;
    }

    /* A PEM file may carry the key too, as many servers expect. */
    if (strstr(data, "PRIVATE KEY-----") != NULL) {
        bio = BIO_new_mem_buf(data, (int)len);
        bundle->key =
            PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
        BIO_free(bio);
        ERR_clear_error();
    }
    bundle->format = TLS_FORMAT_PEM;
    return 0;
}

/* Moves the certificate that matches KEY to the front of CERTS. */
static void tls_put_leaf_first(STACK_OF(X509) * certs, EVP_PKEY *key)
{
    for (int i = 0; key != NULL && i < sk_X509_num(certs); i++) {
        X509 *cert = sk_X509_value(certs, i);

        if (X509_check_private_key(cert, key) == 1) {
            sk_X509_delete(certs, i);
            sk_X509_unshift(certs, cert);
            break;
        }
    }
    ERR_clear_error();
}

static int tls_load_pkcs12(struct tls_bundle *bundle, const char *path,
                           PKCS12 *p12, const char *password)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *ca = NULL;
    const char *pass = password != NULL ? password : "";
    int len = 0;
    unsigned char *alias;

    if (!PKCS12_verify_mac(p12, pass, -1)) {
        /* Some tools write an unprotected bundle with no password at all. */
        if (password == NULL && PKCS12_verify_mac(p12, NULL, 0)) {
            pass = NULL;
        } else {
            ERR_clear_error();
            log_error("wrong password for the PKCS#12 file %s (its integrity "
                      "check failed); pass the right one with "
                      "--password-file",
                      path);
            return -1;
        }
    }
    if (!PKCS12_parse(p12, pass, &bundle->key, &leaf, &ca)) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("cannot read the PKCS#12 file %s: %s; re-export the bundle "
                  "with AES-256 or 3DES encryption",
                  path, reason);
        return -1;
    }
    if (leaf != NULL) {
        alias = X509_alias_get0(leaf, &len);
        if (alias != NULL && len > 0) {
            bundle->friendly_name = strndup((const char *)alias, (size_t)len);
        }
        sk_X509_push(bundle->certs, leaf);
    }
    while (ca != NULL && sk_X509_num(ca) > 0) {
        sk_X509_push(bundle->certs, sk_X509_shift(ca));
    }
    sk_X509_free(ca);
    tls_put_leaf_first(bundle->certs, bundle->key);

    if (sk_X509_num(bundle->certs) == 0) {
        log_error(
            "the PKCS#12 file %s contains no certificate; export it again "
            "with its certificate",
            path);
        return -1;
    }
    bundle->format = TLS_FORMAT_PKCS12;
    return 0;
}

static int tls_load_der(struct tls_bundle *bundle, const char *path,
                        const char *data, size_t len, const char *password)
{
    const unsigned char *p = (const unsigned char *)data;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    PKCS12 *p12;
    int rc;

    if (cert != NULL) {
        sk_X509_push(bundle->certs, cert);
        bundle->format = TLS_FORMAT_DER;
        return 0;
    }
    p = (const unsigned char *)data;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    ERR_clear_error();
    if (p12 == NULL) {
        log_error("%s is not a certificate in PEM, DER or PKCS#12 format, or "
                  "it is truncated; check the path and copy the file again",
                  path);
        return -1;
    }
    rc = tls_load_pkcs12(bundle, path, p12, password);
    PKCS12_free(p12);
    return rc;
}

int tls_bundle_load(struct tls_bundle *bundle, const char *path,
                    const char *password)
{
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    memset(bundle, 0, sizeof(*bundle));
    if (file_read(path, FILE_READ_MAX, &data, &len) != 0) {
        return -1;
    }
    if (len == 0) {
        log_error("%s is empty; check the path", path);
        goto out;
    }
    bundle->certs = sk_X509_new_null();
    if (bundle->certs == NULL) {
        goto out;
    }
    if (strstr(data, "-----BEGIN ") != NULL) {
        rc = tls_load_pem(bundle, path, data, len);
    } else {
        rc = tls_load_der(bundle, path, data, len, password);
    }

out:
    OPENSSL_cleanse(data, len);
    free(data);
    if (rc != 0) {
        tls_bundle_free(bundle);
    }
    return rc;
}

void tls_bundle_free(struct tls_bundle *bundle)
{
    sk_X509_pop_free(bundle->certs, X509_free);
    EVP_PKEY_free(bundle->key);
    free(bundle->friendly_name);
    memset(bundle, 0, sizeof(*bundle));
}

X509 *tls_cert_load(const char *path)
{
    struct tls_bundle bundle;
    X509 *cert;

    if (tls_bundle_load(&bundle, path, NULL) != 0) {
        return NULL;
    }
    cert = sk_X509_value(bundle.certs, 0);
    X509_up_ref(cert);
    tls_bundle_free(&bundle);
    return cert;
}

EVP_PKEY *tls_key_load(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;
    BIO *bio;

    if (file_read(path, FILE_READ_MAX, &data, &len) != 0) {
        return NULL;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (strstr(data, "-----BEGIN ") != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
    } else {
        key = d2i_PrivateKey_bio(bio, NULL);
    }
    BIO_free(bio);

    if (key == NULL) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        if (strstr(data, "ENCRYPTED") != NULL) {
            log_error("the private key in %s is encrypted; decrypt it with "
                      "'openssl pkey -in %s -out FILE'",
                      path, path);
        } else {
            log_error("%s is not a private key in PEM or DER format, or it is "
                      "truncated (%s); check the path",
                      path, reason);
        }
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return key;
}

X509_REQ *tls_csr_load(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    X509_REQ *csr;
    BIO *bio;

    if (file_read(path, FILE_READ_MAX, &data, &len) != 0) {
        return NULL;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (strstr(data, "-----BEGIN ") != NULL) {
        csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    } else {
        csr = d2i_X509_REQ_bio(bio, NULL);
    }
    BIO_free(bio);
    ERR_clear_error();

    if (csr == NULL) {
        log_error("%s is not a certificate signing request in PEM or DER "
                  "format, or it is truncated; create one with 'drawbridge "
                  "cert request'",
                  path);
    }
    free(data);
    return csr;
}

void tls_key_describe(const EVP_PKEY *key, char *buf, size_t size)
{
    char group[64];
    size_t group_len = 0;
    int bits = EVP_PKEY_get_bits(key);

    if (EVP_PKEY_is_a(key, "RSA")) {
        snprintf(buf, size, "RSA %d bits", bits);
    } else if (EVP_PKEY_is_a(key, "EC") &&
               EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) ==
                   1) {
        /* OpenSSL returns the X9.62 name "prime256v1" for P-256. Print the
         * NIST name that administrators know, where the curve has one. */
        const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));

        snprintf(buf, size, "EC %s (%d bits)", nist != NULL ? nist : group,
                 bits);
    } else {
        snprintf(buf, size, "%s %d bits", EVP_PKEY_get0_type_name(key), bits);
    }
}

int tls_fingerprint(const X509 *cert, const EVP_MD *md, char *buf, size_t size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t used = 0;

    if (!X509_digest(cert, md, digest, &len) || size < (size_t)len * 3) {
        return -1;
    }
    for (unsigned int i = 0; i < len; i++) {
        snprintf(buf + used, size - used, i == 0 ? "%02X" : ":%02X", digest[i]);
        used += i == 0 ? 2 : 3;
    }
    return 0;
}
