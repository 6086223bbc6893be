/*
 * Unit tests for src/tls/tls_load.c: loading certificates, keys and CSRs
 * from PEM, DER and PKCS#12 files, including damaged and mistaken inputs,
 * and the description helpers. The group setup writes every input file
 * into one mkdtemp directory, which the group teardown removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cert/cert_x509.h"
#include "common/log.h"
#include "tls/tls_load.h"

#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_PASSWORD "correct horse"

struct tls_fixture {
    char dir[64];
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    EVP_PKEY *leaf_key;
    X509 *leaf_cert;
    X509_REQ *csr;
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
};

/* Writes the path of NAME in the fixture directory into PATH. */
static const char *dir_path(struct tls_fixture *fx, const char *name,
                            char *path, size_t size)
{
    snprintf(path, size, "%s/%s", fx->dir, name);
    return path;
}

static int write_file(struct tls_fixture *fx, const char *name,
                      const void *data, size_t len)
{
    char path[256];
    FILE *fp = fopen(dir_path(fx, name, path, sizeof(path)), "wb");
    int rc = 0;

    if (fp == NULL) {
        return -1;
    }
    if (fwrite(data, 1, len, fp) != len) {
        rc = -1;
    }
    if (fclose(fp) != 0) {
        rc = -1;
    }
    return rc;
}

/* Writes the contents of BIO to NAME and frees BIO. */
static int write_bio(struct tls_fixture *fx, const char *name, BIO *bio)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    int rc = write_file(fx, name, data, (size_t)len);

    BIO_free(bio);
    return rc;
}

static int write_pem_files(struct tls_fixture *fx)
{
    BIO *chain = BIO_new(BIO_s_mem());
    BIO *with_key = BIO_new(BIO_s_mem());
    BIO *key = BIO_new(BIO_s_mem());
    BIO *encrypted = BIO_new(BIO_s_mem());
    BIO *csr = BIO_new(BIO_s_mem());

    if (chain == NULL || with_key == NULL || key == NULL || encrypted == NULL ||
        csr == NULL || !PEM_write_bio_X509(chain, fx->leaf_cert) ||
        !PEM_write_bio_X509(chain, fx->ca_cert) ||
        !PEM_write_bio_X509(with_key, fx->leaf_cert) ||
        !PEM_write_bio_PrivateKey(with_key, fx->leaf_key, NULL, NULL, 0, NULL,
                                  NULL) ||
        !PEM_write_bio_PrivateKey(key, fx->leaf_key, NULL, NULL, 0, NULL,
                                  NULL) ||
        !PEM_write_bio_PrivateKey(encrypted, fx->leaf_key, EVP_aes_256_cbc(),
                                  NULL, 0, NULL, (void *)TEST_PASSWORD) ||
        !PEM_write_bio_X509_REQ(csr, fx->csr)) {
        BIO_free(chain);
        BIO_free(with_key);
        BIO_free(key);
        BIO_free(encrypted);
        BIO_free(csr);
        return -1;
    }
    return write_bio(fx, "chain.pem", chain) ||
           write_bio(fx, "with-key.pem", with_key) ||
           write_bio(fx, "leaf.key", key) ||
           write_bio(fx, "encrypted.key", encrypted) ||
           write_bio(fx, "leaf.csr", csr);
}

/* Writes the leaf certificate's PEM cut in half, alone and after a whole
 * certificate. */
static int write_truncated_files(struct tls_fixture *fx)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long len;
    char *chain;
    int rc = -1;

    if (bio == NULL || !PEM_write_bio_X509(bio, fx->leaf_cert)) {
        BIO_free(bio);
        return -1;
    }
    len = BIO_get_mem_data(bio, &pem);
    chain = malloc((size_t)len * 2);
    if (chain != NULL) {
        memcpy(chain, pem, (size_t)len);
        memcpy(chain + len, pem, (size_t)len / 2);
        rc = write_file(fx, "truncated.pem", pem, (size_t)len / 2) ||
             write_file(fx, "truncated-chain.pem", chain,
                        (size_t)len + (size_t)len / 2);
    }
    free(chain);
    BIO_free(bio);
    return rc;
}

static int write_der_files(struct tls_fixture *fx)
{
    BIO *cert = BIO_new(BIO_s_mem());
    BIO *key = BIO_new(BIO_s_mem());
    BIO *csr = BIO_new(BIO_s_mem());
    static const unsigned char garbage[] = {0x00, 0x01, 0x02, 0xff, 0xfe};

    if (cert == NULL || key == NULL || csr == NULL ||
        !i2d_X509_bio(cert, fx->leaf_cert) ||
        !i2d_PrivateKey_bio(key, fx->leaf_key) ||
        !i2d_X509_REQ_bio(csr, fx->csr)) {
        BIO_free(cert);
        BIO_free(key);
        BIO_free(csr);
        return -1;
    }
    return write_bio(fx, "leaf.der", cert) ||
           write_bio(fx, "leaf-key.der", key) ||
           write_bio(fx, "leaf-csr.der", csr) ||
           write_file(fx, "garbage.bin", garbage, sizeof(garbage)) ||
           write_file(fx, "empty.pem", "", 0);
}

static int write_pkcs12_file(struct tls_fixture *fx, const char *name,
                             const char *password)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    if (chain == NULL || !sk_X509_push(chain, fx->ca_cert)) {
        goto out;
    }
    p12 = cert_pkcs12_create(fx->leaf_key, fx->leaf_cert, chain, "server",
                             password, false);
    if (p12 == NULL || cert_encode_pkcs12(p12, &data, &len) != 0) {
        goto out;
    }
    rc = write_file(fx, name, data, len);

out:
    cert_free_secret(data, len);
    PKCS12_free(p12);
    sk_X509_free(chain);
    return rc;
}

static int make_certificates(struct tls_fixture *fx)
{
    struct cert_validity validity = {.days = 30};
    struct cert_names names = {.hosts = {"leaf.example"}, .host_count = 1};
    X509_NAME *subject = cert_subject_parse("CN=Load Test CA,O=Drawbridge");

    fx->ca_key = cert_key_generate("ec:P-256");
    fx->leaf_key = cert_key_generate("ec:P-256");
    if (subject == NULL || fx->ca_key == NULL || fx->leaf_key == NULL) {
        X509_NAME_free(subject);
        return -1;
    }
    fx->ca_cert = cert_ca_create(fx->ca_key, subject, &validity);
    X509_NAME_free(subject);
    fx->csr = cert_request_create(fx->leaf_key, NULL, &names);
    if (fx->ca_cert == NULL || fx->csr == NULL) {
        return -1;
    }
    fx->leaf_cert = cert_sign_request(fx->csr, "leaf.csr", fx->ca_cert,
                                      fx->ca_key, &validity, false);
    return fx->leaf_cert != NULL ? 0 : -1;
}

static int group_setup(void **state)
{
    struct tls_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    *state = fx;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/drawbridge-test-tls-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        fx->dir[0] = '\0';
        return -1;
    }
    if (make_certificates(fx) != 0 || write_pem_files(fx) != 0 ||
        write_truncated_files(fx) != 0 || write_der_files(fx) != 0 ||
        write_pkcs12_file(fx, "bundle.p12", TEST_PASSWORD) != 0 ||
        write_pkcs12_file(fx, "no-password.p12", "") != 0) {
        return -1;
    }
    return 0;
}

static void remove_dir(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;

    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        char file[512];

        if (strcmp(entry->d_name, ".") == 0 ||
            strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", path, entry->d_name);
        if (remove(file) != 0) {
            fprintf(stderr, "cannot remove %s\n", file);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    rmdir(path);
}

static int group_teardown(void **state)
{
    struct tls_fixture *fx = *state;

    if (fx == NULL) {
        return 0;
    }
    if (fx->dir[0] != '\0') {
        remove_dir(fx->dir);
    }
    X509_free(fx->leaf_cert);
    X509_REQ_free(fx->csr);
    X509_free(fx->ca_cert);
    EVP_PKEY_free(fx->leaf_key);
    EVP_PKEY_free(fx->ca_key);
    free(fx);
    return 0;
}

static int log_setup(void **state)
{
    struct tls_fixture *fx = *state;

    fx->log_buf = NULL;
    fx->log_size = 0;
    fx->log_stream = open_memstream(&fx->log_buf, &fx->log_size);
    if (fx->log_stream == NULL) {
        return -1;
    }
    log_set_stream(fx->log_stream);
    return 0;
}

static int log_teardown(void **state)
{
    struct tls_fixture *fx = *state;

    log_set_stream(NULL);
    fclose(fx->log_stream);
    free(fx->log_buf);
    fx->log_stream = NULL;
    fx->log_buf = NULL;
    ERR_clear_error();
    return 0;
}

/* Returns everything logged so far in this test. */
static const char *logged(struct tls_fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf;
}

/* Loads NAME from the fixture directory into BUNDLE. */
static int load(struct tls_fixture *fx, struct tls_bundle *bundle,
                const char *name, const char *password)
{
    char path[256];

    return tls_bundle_load(bundle, dir_path(fx, name, path, sizeof(path)),
                           password);
}

/* ---- tls_bundle_load ---- */

static void bundle_pem_chain(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "chain.pem", NULL), 0);
    assert_int_equal(bundle.format, TLS_FORMAT_PEM);
    assert_int_equal(sk_X509_num(bundle.certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(bundle.certs, 0), fx->leaf_cert),
                     0);
    assert_int_equal(X509_cmp(sk_X509_value(bundle.certs, 1), fx->ca_cert), 0);
    assert_null(bundle.key);
    tls_bundle_free(&bundle);
}

static void bundle_pem_with_key(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "with-key.pem", NULL), 0);
    assert_int_equal(sk_X509_num(bundle.certs), 1);
    assert_non_null(bundle.key);
    assert_int_equal(EVP_PKEY_eq(bundle.key, fx->leaf_key), 1);
    tls_bundle_free(&bundle);
}

static void bundle_der(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "leaf.der", NULL), 0);
    assert_int_equal(bundle.format, TLS_FORMAT_DER);
    assert_int_equal(sk_X509_num(bundle.certs), 1);
    assert_int_equal(X509_cmp(sk_X509_value(bundle.certs, 0), fx->leaf_cert),
                     0);
    tls_bundle_free(&bundle);
}

static void bundle_pkcs12_right_password(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "bundle.p12", TEST_PASSWORD), 0);
    assert_int_equal(bundle.format, TLS_FORMAT_PKCS12);
    assert_int_equal(sk_X509_num(bundle.certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(bundle.certs, 0), fx->leaf_cert),
                     0);
    assert_int_equal(X509_cmp(sk_X509_value(bundle.certs, 1), fx->ca_cert), 0);
    assert_non_null(bundle.key);
    assert_int_equal(EVP_PKEY_eq(bundle.key, fx->leaf_key), 1);
    assert_non_null(bundle.friendly_name);
    assert_string_equal(bundle.friendly_name, "server");
    tls_bundle_free(&bundle);
}

static void bundle_pkcs12_wrong_password(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "bundle.p12", "wrong"), -1);
    assert_non_null(strstr(logged(fx), "wrong password"));
    assert_null(bundle.certs);
    assert_null(bundle.key);
}

static void bundle_pkcs12_missing_password(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "bundle.p12", NULL), -1);
    assert_non_null(strstr(logged(fx), "wrong password"));
}

static void bundle_pkcs12_empty_password(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "no-password.p12", NULL), 0);
    assert_non_null(bundle.key);
    assert_int_equal(sk_X509_num(bundle.certs), 2);
    tls_bundle_free(&bundle);
}

static void bundle_truncated_pem(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "truncated.pem", NULL), -1);
    assert_non_null(strstr(logged(fx), "truncated"));
    assert_null(bundle.certs);
}

static void bundle_truncated_second_cert(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "truncated-chain.pem", NULL), -1);
    assert_non_null(strstr(logged(fx), "after certificate 1"));
    assert_null(bundle.certs);
}

static void bundle_csr_as_cert(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "leaf.csr", NULL), -1);
    assert_non_null(strstr(logged(fx), "certificate signing request"));
}

static void bundle_key_as_cert(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "leaf.key", NULL), -1);
    assert_non_null(strstr(logged(fx), "is a private key"));
}

static void bundle_empty_file(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "empty.pem", NULL), -1);
    assert_non_null(strstr(logged(fx), "is empty"));
}

static void bundle_missing_file(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "missing.pem", NULL), -1);
    assert_non_null(strstr(logged(fx), "missing.pem"));
}

static void bundle_garbage(void **state)
{
    struct tls_fixture *fx = *state;
    struct tls_bundle bundle;

    assert_int_equal(load(fx, &bundle, "garbage.bin", NULL), -1);
    assert_non_null(strstr(logged(fx), "PEM, DER or PKCS#12"));
}

static void bundle_free_zeroed(void **state)
{
    struct tls_bundle bundle;

    (void)state;
    memset(&bundle, 0, sizeof(bundle));
    tls_bundle_free(&bundle);
    tls_bundle_free(&bundle);
    assert_null(bundle.certs);
}

/* ---- tls_cert_load, tls_key_load, tls_csr_load ---- */

static void cert_load_takes_first(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];
    X509 *cert = tls_cert_load(dir_path(fx, "chain.pem", path, sizeof(path)));

    assert_non_null(cert);
    assert_int_equal(X509_cmp(cert, fx->leaf_cert), 0);
    X509_free(cert);
}

static void cert_load_csr_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];

    assert_null(tls_cert_load(dir_path(fx, "leaf.csr", path, sizeof(path))));
}

static void key_load_pem(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];
    EVP_PKEY *key = tls_key_load(dir_path(fx, "leaf.key", path, sizeof(path)));

    assert_non_null(key);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    EVP_PKEY_free(key);
}

static void key_load_der(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];
    EVP_PKEY *key =
        tls_key_load(dir_path(fx, "leaf-key.der", path, sizeof(path)));

    assert_non_null(key);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    EVP_PKEY_free(key);
}

static void key_load_encrypted_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];

    assert_null(
        tls_key_load(dir_path(fx, "encrypted.key", path, sizeof(path))));
    assert_non_null(strstr(logged(fx), "is encrypted"));
}

static void key_load_cert_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];

    assert_null(tls_key_load(dir_path(fx, "chain.pem", path, sizeof(path))));
    assert_non_null(strstr(logged(fx), "not a private key"));
}

static void key_load_empty_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];

    assert_null(tls_key_load(dir_path(fx, "empty.pem", path, sizeof(path))));
}

static void csr_load_pem(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];
    X509_REQ *csr = tls_csr_load(dir_path(fx, "leaf.csr", path, sizeof(path)));

    assert_non_null(csr);
    assert_int_equal(X509_REQ_verify(csr, fx->leaf_key), 1);
    X509_REQ_free(csr);
}

static void csr_load_der(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];
    X509_REQ *csr =
        tls_csr_load(dir_path(fx, "leaf-csr.der", path, sizeof(path)));

    assert_non_null(csr);
    assert_int_equal(X509_REQ_verify(csr, fx->leaf_key), 1);
    X509_REQ_free(csr);
}

static void csr_load_cert_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char path[256];

    assert_null(tls_csr_load(dir_path(fx, "chain.pem", path, sizeof(path))));
    assert_non_null(strstr(logged(fx), "not a certificate signing request"));
}

/* ---- tls_key_describe ---- */

static void describe_rsa(void **state)
{
    EVP_PKEY *key = cert_key_generate("rsa:2048");
    char text[64];

    (void)state;
    assert_non_null(key);
    tls_key_describe(key, text, sizeof(text));
    assert_string_equal(text, "RSA 2048 bits");
    EVP_PKEY_free(key);
}

static void describe_ec_p256(void **state)
{
    struct tls_fixture *fx = *state;
    char text[64];

    tls_key_describe(fx->leaf_key, text, sizeof(text));
    assert_string_equal(text, "EC P-256 (256 bits)");
}

static void describe_ec_p384(void **state)
{
    EVP_PKEY *key = cert_key_generate("ec:P-384");
    char text[64];

    (void)state;
    assert_non_null(key);
    tls_key_describe(key, text, sizeof(text));
    assert_string_equal(text, "EC P-384 (384 bits)");
    EVP_PKEY_free(key);
}

static void describe_ec_without_nist_name(void **state)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    char text[64];

    (void)state;
    assert_non_null(key);
    tls_key_describe(key, text, sizeof(text));
    assert_string_equal(text, "EC secp256k1 (256 bits)");
    EVP_PKEY_free(key);
}

static void describe_ed25519(void **state)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char text[64];

    (void)state;
    assert_non_null(key);
    tls_key_describe(key, text, sizeof(text));
    assert_string_equal(text, "ED25519 256 bits");
    EVP_PKEY_free(key);
}

/* ---- tls_fingerprint, tls_name_format, tls_error_string ---- */

static void fingerprint_sha256_format(void **state)
{
    struct tls_fixture *fx = *state;
    char text[96];
    regex_t pattern;
    int rc;

    assert_int_equal(
        tls_fingerprint(fx->leaf_cert, EVP_sha256(), text, sizeof(text)), 0);
    assert_int_equal(strlen(text), 95);
    rc = regcomp(&pattern, "^[0-9A-F]{2}(:[0-9A-F]{2}){31}$",
                 REG_EXTENDED | REG_NOSUB);
    assert_int_equal(rc, 0);
    rc = regexec(&pattern, text, 0, NULL, 0);
    regfree(&pattern);
    assert_int_equal(rc, 0);
}

static void fingerprint_matches_digest(void **state)
{
    struct tls_fixture *fx = *state;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char expected[96];
    char text[96];

    assert_int_equal(X509_digest(fx->leaf_cert, EVP_sha256(), digest, &len), 1);
    for (unsigned int i = 0; i < len; i++) {
        snprintf(expected + i * 3, sizeof(expected) - i * 3, "%02X%s",
                 digest[i], i + 1 < len ? ":" : "");
    }
    assert_int_equal(
        tls_fingerprint(fx->leaf_cert, EVP_sha256(), text, sizeof(text)), 0);
    assert_string_equal(text, expected);
}

static void fingerprint_sha1_length(void **state)
{
    struct tls_fixture *fx = *state;
    char text[60];

    assert_int_equal(
        tls_fingerprint(fx->leaf_cert, EVP_sha1(), text, sizeof(text)), 0);
    assert_int_equal(strlen(text), 59);
}

static void fingerprint_small_buffer_fails(void **state)
{
    struct tls_fixture *fx = *state;
    char text[95];

    assert_int_equal(
        tls_fingerprint(fx->leaf_cert, EVP_sha256(), text, sizeof(text)), -1);
}

static void name_format_one_line(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=a,O=b");
    char text[64];

    (void)state;
    assert_non_null(name);
    tls_name_format(name, text, sizeof(text));
    assert_string_equal(text, "CN=a, O=b");
    X509_NAME_free(name);
}

static void name_format_cuts_to_buffer(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=abcdefgh");
    char text[6];

    (void)state;
    assert_non_null(name);
    tls_name_format(name, text, sizeof(text));
    assert_string_equal(text, "CN=ab");
    X509_NAME_free(name);
}

static void error_string_empty_queue(void **state)
{
    char text[64];

    (void)state;
    ERR_clear_error();
    tls_error_string(text, sizeof(text));
    assert_string_equal(text, "unknown error");
}

static void error_string_clears_queue(void **state)
{
    const unsigned char bad[] = {0x30, 0x03, 0x02};
    const unsigned char *p = bad;
    char text[128];

    (void)state;
    assert_null(d2i_X509(NULL, &p, sizeof(bad)));
    assert_int_not_equal(ERR_peek_error(), 0);
    tls_error_string(text, sizeof(text));
    assert_string_not_equal(text, "unknown error");
    assert_int_equal(ERR_peek_error(), 0);
}

#define TLS_TEST(name)                                                         \
    cmocka_unit_test_setup_teardown(name, log_setup, log_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TLS_TEST(bundle_pem_chain),
        TLS_TEST(bundle_pem_with_key),
        TLS_TEST(bundle_der),
        TLS_TEST(bundle_pkcs12_right_password),
        TLS_TEST(bundle_pkcs12_wrong_password),
        TLS_TEST(bundle_pkcs12_missing_password),
        TLS_TEST(bundle_pkcs12_empty_password),
        TLS_TEST(bundle_truncated_pem),
        TLS_TEST(bundle_truncated_second_cert),
        TLS_TEST(bundle_csr_as_cert),
        TLS_TEST(bundle_key_as_cert),
        TLS_TEST(bundle_empty_file),
        TLS_TEST(bundle_missing_file),
        TLS_TEST(bundle_garbage),
        TLS_TEST(bundle_free_zeroed),
        TLS_TEST(cert_load_takes_first),
        TLS_TEST(cert_load_csr_fails),
        TLS_TEST(key_load_pem),
        TLS_TEST(key_load_der),
        TLS_TEST(key_load_encrypted_fails),
        TLS_TEST(key_load_cert_fails),
        TLS_TEST(key_load_empty_fails),
        TLS_TEST(csr_load_pem),
        TLS_TEST(csr_load_der),
        TLS_TEST(csr_load_cert_fails),
        TLS_TEST(describe_rsa),
        TLS_TEST(describe_ec_p256),
        TLS_TEST(describe_ec_p384),
        TLS_TEST(describe_ec_without_nist_name),
        TLS_TEST(describe_ed25519),
        TLS_TEST(fingerprint_sha256_format),
        TLS_TEST(fingerprint_matches_digest),
        TLS_TEST(fingerprint_sha1_length),
        TLS_TEST(fingerprint_small_buffer_fails),
        TLS_TEST(name_format_one_line),
        TLS_TEST(name_format_cuts_to_buffer),
        TLS_TEST(error_string_empty_queue),
        TLS_TEST(error_string_clears_queue),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
