/*
 * Unit tests for src/cert/cert_x509.c and src/cert/cert_build.c: subject,
 * date and name parsing, key generation, CA creation, CSRs, signing and
 * PKCS#12 bundles. The group setup makes one EC P-256 CA and a few keys,
 * so that each test only builds what it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cert/cert_x509.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_CA_SUBJECT "CN=Drawbridge Test CA,O=Drawbridge Tests"

struct cert_fixture {
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    EVP_PKEY *leaf_key;
    EVP_PKEY *other_key;
    EVP_PKEY *rsa_key;
    X509_REQ *csr;     /* leaf_key, hosts a.example and b.example, one IP */
    X509 *server_cert; /* csr signed for a server */
    X509 *client_cert; /* csr signed for a client */
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
};

/* Returns everything logged so far in this test. */
static const char *logged(struct cert_fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf;
}

static X509 *make_ca(EVP_PKEY *key, const char *subject_text, int days)
{
    struct cert_validity validity = {.days = days};
    X509_NAME *subject = cert_subject_parse(subject_text);
    X509 *cert;

    if (subject == NULL) {
        return NULL;
    }
    cert = cert_ca_create(key, subject, &validity);
    X509_NAME_free(subject);
    return cert;
}

static X509_REQ *make_request(EVP_PKEY *key, const char *host, const char *ip)
{
    struct cert_names names = {0};

    if (host != NULL) {
        names.hosts[names.host_count++] = host;
    }
    if (ip != NULL) {
        names.ips[names.ip_count++] = ip;
    }
    return cert_request_create(key, NULL, &names);
}

static X509 *sign_with(X509_REQ *csr, X509 *ca_cert, EVP_PKEY *ca_key, int days,
                       bool client)
{
    struct cert_validity validity = {.days = days};

    return cert_sign_request(csr, "test.csr", ca_cert, ca_key, &validity,
                             client);
}

static int group_setup(void **state)
{
    struct cert_fixture *fx = calloc(1, sizeof(*fx));
    struct cert_names names = {0};

    if (fx == NULL) {
        return -1;
    }
    *state = fx;
    names.hosts[names.host_count++] = "a.example";
    names.hosts[names.host_count++] = "b.example";
    names.ips[names.ip_count++] = "192.0.2.10";

    fx->ca_key = cert_key_generate("ec:P-256");
    fx->leaf_key = cert_key_generate("ec:P-256");
    fx->other_key = cert_key_generate("ec:P-256");
    fx->rsa_key = cert_key_generate("rsa:2048");
    if (fx->ca_key == NULL || fx->leaf_key == NULL || fx->other_key == NULL ||
        fx->rsa_key == NULL) {
        return -1;
    }
    fx->ca_cert = make_ca(fx->ca_key, TEST_CA_SUBJECT, CERT_DEFAULT_CA_DAYS);
    fx->csr = cert_request_create(fx->leaf_key, NULL, &names);
    if (fx->ca_cert == NULL || fx->csr == NULL) {
        return -1;
    }
    fx->server_cert = sign_with(fx->csr, fx->ca_cert, fx->ca_key, 30, false);
    fx->client_cert = sign_with(fx->csr, fx->ca_cert, fx->ca_key, 30, true);
    if (fx->server_cert == NULL || fx->client_cert == NULL) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct cert_fixture *fx = *state;

    if (fx == NULL) {
        return 0;
    }
    X509_free(fx->client_cert);
    X509_free(fx->server_cert);
    X509_REQ_free(fx->csr);
    X509_free(fx->ca_cert);
    EVP_PKEY_free(fx->rsa_key);
    EVP_PKEY_free(fx->other_key);
    EVP_PKEY_free(fx->leaf_key);
    EVP_PKEY_free(fx->ca_key);
    free(fx);
    return 0;
}

static int log_setup(void **state)
{
    struct cert_fixture *fx = *state;

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
    struct cert_fixture *fx = *state;

    log_set_stream(NULL);
    fclose(fx->log_stream);
    free(fx->log_buf);
    fx->log_stream = NULL;
    fx->log_buf = NULL;
    ERR_clear_error();
    return 0;
}

/* Writes the first NID entry of NAME into BUF, or "" when there is none. */
static const char *name_entry(const X509_NAME *name, int nid, char *buf,
                              int size)
{
    if (X509_NAME_get_text_by_NID(name, nid, buf, size) < 0) {
        buf[0] = '\0';
    }
    return buf;
}

static GENERAL_NAMES *request_san(X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *san = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return san;
}

static bool san_has_dns(const GENERAL_NAMES *san, const char *host)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(san, i);

        if (gen->type == GEN_DNS &&
            strcmp((const char *)ASN1_STRING_get0_data(gen->d.dNSName), host) ==
                0) {
            return true;
        }
    }
    return false;
}

static bool san_has_ip(const GENERAL_NAMES *san, const char *ip)
{
    unsigned char addr[16];
    int len = 4;

    if (inet_pton(AF_INET, ip, addr) != 1) {
        len = 16;
        assert_int_equal(inet_pton(AF_INET6, ip, addr), 1);
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(san, i);

        if (gen->type == GEN_IPADD &&
            ASN1_STRING_length(gen->d.iPAddress) == len &&
            memcmp(ASN1_STRING_get0_data(gen->d.iPAddress), addr,
                   (size_t)len) == 0) {
            return true;
        }
    }
    return false;
}

/* Verifies CERT against the fixture CA for PURPOSE with OpenSSL's chain
 * verifier, which also checks extensions and key identifiers. */
static int chain_verify(struct cert_fixture *fx, X509 *cert, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;

    if (store != NULL && ctx != NULL &&
        X509_STORE_add_cert(store, fx->ca_cert) &&
        X509_STORE_CTX_init(ctx, store, cert, NULL) &&
        X509_STORE_CTX_set_purpose(ctx, purpose)) {
        rc = X509_verify_cert(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

/* ---- cert_subject_parse ---- */

static void subject_comma_form(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=a,O=b");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_int_equal(X509_NAME_entry_count(name), 2);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64), "a");
    assert_string_equal(name_entry(name, NID_organizationName, buf, 64), "b");
    X509_NAME_free(name);
}

static void subject_slash_form(void **state)
{
    X509_NAME *name = cert_subject_parse("/CN=a/O=b");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_int_equal(X509_NAME_entry_count(name), 2);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64), "a");
    assert_string_equal(name_entry(name, NID_organizationName, buf, 64), "b");
    X509_NAME_free(name);
}

static void subject_keeps_order(void **state)
{
    X509_NAME *name = cert_subject_parse("O=b,CN=a");
    const ASN1_OBJECT *first;

    (void)state;
    assert_non_null(name);
    first = X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, 0));
    assert_int_equal(OBJ_obj2nid(first), NID_organizationName);
    X509_NAME_free(name);
}

static void subject_escaped_comma(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=a\\,b,O=c");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_int_equal(X509_NAME_entry_count(name), 2);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64), "a,b");
    assert_string_equal(name_entry(name, NID_organizationName, buf, 64), "c");
    X509_NAME_free(name);
}

static void subject_escaped_slash(void **state)
{
    X509_NAME *name = cert_subject_parse("/CN=a\\/b/O=c");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64), "a/b");
    X509_NAME_free(name);
}

static void subject_spaces_inside_value(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=Example Root CA, O=Example Org");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64),
                        "Example Root CA");
    assert_string_equal(name_entry(name, NID_organizationName, buf, 64),
                        "Example Org");
    X509_NAME_free(name);
}

static void subject_spaces_around_equals(void **state)
{
    X509_NAME *name = cert_subject_parse(" CN = a , O = b ");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_string_equal(name_entry(name, NID_commonName, buf, 64), "a");
    assert_string_equal(name_entry(name, NID_organizationName, buf, 64), "b");
    X509_NAME_free(name);
}

static void subject_skips_empty_parts(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=a,,O=b,");

    (void)state;
    assert_non_null(name);
    assert_int_equal(X509_NAME_entry_count(name), 2);
    X509_NAME_free(name);
}

static void subject_utf8_value(void **state)
{
    X509_NAME *name = cert_subject_parse("CN=Z\xc3\xbcrich,C=CH");
    char buf[64];

    (void)state;
    assert_non_null(name);
    assert_string_equal(name_entry(name, NID_countryName, buf, 64), "CH");
    X509_NAME_free(name);
}

static void subject_invalid_forms(void **state)
{
    static const char *const invalid[] = {
        "",          /* no attribute */
        ",",         /* only a separator */
        "/",         /* only a separator */
        "CN",        /* no '=' */
        "CN=a,O",    /* second part has no '=' */
        "=a",        /* empty key */
        " =a",       /* blank key */
        "CN=",       /* empty value */
        "CN= ",      /* blank value */
        "XX=a",      /* unknown attribute */
        "C=USA",     /* country is two letters */
        "CN=a,ZZ=b", /* unknown attribute after a valid one */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        X509_NAME *name = cert_subject_parse(invalid[i]);

        if (name != NULL) {
            X509_NAME_free(name);
            fail_msg("subject '%s' was accepted", invalid[i]);
        }
    }
}

static void subject_invalid_logs_text(void **state)
{
    struct cert_fixture *fx = *state;

    assert_null(cert_subject_parse("CN=a,XX=b"));
    assert_non_null(strstr(logged(fx), "CN=a,XX=b"));
}

/* ---- cert_time_parse and cert_days_parse ---- */

static void time_parses_date(void **state)
{
    time_t value = 0;

    (void)state;
    assert_int_equal(cert_time_parse("--not-after", "2024-03-01", &value), 0);
    assert_int_equal(value, 1709251200);
}

static void time_parses_date_time_utc(void **state)
{
    time_t value = 0;

    (void)state;
    assert_int_equal(
        cert_time_parse("--not-after", "2024-03-01T12:34:56Z", &value), 0);
    assert_int_equal(value, 1709251200 + 12 * 3600 + 34 * 60 + 56);
}

static void time_parses_date_time_without_zone(void **state)
{
    time_t value = 0;

    (void)state;
    assert_int_equal(
        cert_time_parse("--not-after", "2024-03-01T12:34:56", &value), 0);
    assert_int_equal(value, 1709251200 + 12 * 3600 + 34 * 60 + 56);
}

static void time_parses_leap_day(void **state)
{
    time_t value = 0;

    (void)state;
    assert_int_equal(cert_time_parse("--not-after", "2024-02-29", &value), 0);
    assert_int_equal(value, 1709251200 - 86400);
}

static void time_invalid_forms(void **state)
{
    static const char *const invalid[] = {
        "",
        "yesterday",
        "2024-13-01",
        "2024-00-10",
        "2024-02-30",
        "2023-02-29",
        "2024-04-31",
        "2024-03-01T25:00:00Z",
        "2024-03-01T12:60:00Z",
        "2024-03-01 12:00:00",
        "2024-03-01T12:34:56+01:00",
        "2024-03-01Z",
        "2024-03-01T12:34",
        "2024-03-01x",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        time_t value = 0;

        if (cert_time_parse("--not-before", invalid[i], &value) == 0) {
            fail_msg("date '%s' was accepted as %lld", invalid[i],
                     (long long)value);
        }
    }
}

static void time_invalid_logs_option(void **state)
{
    struct cert_fixture *fx = *state;
    time_t value = 0;

    assert_int_equal(cert_time_parse("--not-before", "soon", &value), -1);
    assert_non_null(strstr(logged(fx), "--not-before 'soon'"));
}

static void days_accepts_bounds(void **state)
{
    int days = 0;

    (void)state;
    assert_int_equal(cert_days_parse("1", &days), 0);
    assert_int_equal(days, 1);
    assert_int_equal(cert_days_parse("36500", &days), 0);
    assert_int_equal(days, CERT_MAX_DAYS);
}

static void days_invalid_forms(void **state)
{
    static const char *const invalid[] = {
        "", "0", "-1", "36501", "abc", "10x", "1.5", "99999999999999999999",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        int days = 0;

        if (cert_days_parse(invalid[i], &days) == 0) {
            fail_msg("day count '%s' was accepted as %d", invalid[i], days);
        }
    }
}

/* ---- cert_host_valid and cert_ip_valid ---- */

/* Writes COUNT copies of C into BUF and terminates it. */
static char *repeat(char *buf, char c, size_t count)
{
    memset(buf, c, count);
    buf[count] = '\0';
    return buf;
}

/* Writes a name of exactly LEN characters: 63-letter labels joined by
 * dots, so that every label is valid and only the total length varies. */
static char *long_name(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = i % 64 == 63 ? '.' : 'a';
    }
    if (buf[len - 1] == '.') {
        buf[len - 1] = 'a';
    }
    buf[len] = '\0';
    return buf;
}

static void host_valid_names(void **state)
{
    static const char *const valid[] = {
        "a",           "example.com",  "EXAMPLE.com",
        "a-b.example", "a--b.example", "xn--bcher-kva.example",
        "1.example",   "123",          "*.example.com",
        "*.a",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        if (!cert_host_valid(valid[i])) {
            fail_msg("host '%s' was rejected", valid[i]);
        }
    }
}

static void host_invalid_names(void **state)
{
    static const char *const invalid[] = {
        "",
        ".",
        "example.com.",
        ".example.com",
        "a..example",
        "-a.example",
        "a-.example",
        "a.-b.example",
        "a_b.example",
        "a b.example",
        "a:b",
        "*",
        "*.",
        "**.example",
        "*.*.example",
        "a.*.example",
        "foo*.example",
        "*example.com",
        "*.example.com.",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (cert_host_valid(invalid[i])) {
            fail_msg("host '%s' was accepted", invalid[i]);
        }
    }
}

static void host_label_of_63_valid(void **state)
{
    char label[70];
    char name[80];

    (void)state;
    snprintf(name, sizeof(name), "%s.example", repeat(label, 'a', 63));
    assert_true(cert_host_valid(name));
}

static void host_label_of_64_invalid(void **state)
{
    char label[70];
    char name[80];

    (void)state;
    snprintf(name, sizeof(name), "%s.example", repeat(label, 'a', 64));
    assert_false(cert_host_valid(name));
}

static void host_name_of_253_valid(void **state)
{
    char name[260];

    (void)state;
    assert_true(cert_host_valid(long_name(name, 253)));
}

static void host_name_of_254_invalid(void **state)
{
    char name[260];

    (void)state;
    assert_false(cert_host_valid(long_name(name, 254)));
}

static void ip_valid_addresses(void **state)
{
    static const char *const valid[] = {
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "2001:db8::1",
        "fe80::1",
        "::ffff:192.0.2.1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        if (!cert_ip_valid(valid[i])) {
            fail_msg("IP address '%s' was rejected", valid[i]);
        }
    }
}

static void ip_invalid_addresses(void **state)
{
    static const char *const invalid[] = {
        "",         "256.0.0.1",    "1.2.3",       "1.2.3.4.5",
        "1.2.3.4 ", " 1.2.3.4",     "example.com", "2001:db8::1::2",
        "[::1]",    "fe80::1%eth0", "::1/128",     "1.2.3.4/32",
        "12345::1", "2001:db8:::1",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (cert_ip_valid(invalid[i])) {
            fail_msg("IP address '%s' was accepted", invalid[i]);
        }
    }
}

/* ---- cert_key_generate ---- */

static void key_rsa_2048(void **state)
{
    struct cert_fixture *fx = *state;

    assert_true(EVP_PKEY_is_a(fx->rsa_key, "RSA"));
    assert_int_equal(EVP_PKEY_get_bits(fx->rsa_key), 2048);
}

static void key_ec_p256(void **state)
{
    EVP_PKEY *key = cert_key_generate("ec:P-256");
    char group[64];
    size_t group_len = 0;

    (void)state;
    assert_non_null(key);
    assert_true(EVP_PKEY_is_a(key, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(key), 256);
    assert_int_equal(
        EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len), 1);
    assert_string_equal(group, "prime256v1");
    EVP_PKEY_free(key);
}

static void key_invalid_types(void **state)
{
    static const char *const invalid[] = {
        "",        "rsa",       "rsa:",         "rsa:1024",
        "rsa:abc", "rsa:2048x", "rsa:-2048",    "rsa:16384",
        "ec:",     "ec:P-192",  "ec:secp256k1", "dsa:2048",
        "ed25519", "2048",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        EVP_PKEY *key = cert_key_generate(invalid[i]);

        if (key != NULL) {
            EVP_PKEY_free(key);
            fail_msg("key type '%s' was accepted", invalid[i]);
        }
    }
}

static void key_invalid_logs_type(void **state)
{
    struct cert_fixture *fx = *state;

    assert_null(cert_key_generate("rsa:1024"));
    assert_non_null(strstr(logged(fx), "'rsa:1024'"));
}

/* ---- cert_ca_create ---- */

static void ca_is_ca(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_check_ca(fx->ca_cert), 1);
}

static void ca_basic_constraints_critical(void **state)
{
    struct cert_fixture *fx = *state;
    int index = X509_get_ext_by_NID(fx->ca_cert, NID_basic_constraints, -1);

    assert_true(index >= 0);
    assert_int_equal(
        X509_EXTENSION_get_critical(X509_get_ext(fx->ca_cert, index)), 1);
}

static void ca_key_usage_cert_sign(void **state)
{
    struct cert_fixture *fx = *state;
    uint32_t usage = X509_get_key_usage(fx->ca_cert);

    assert_true(X509_get_extension_flags(fx->ca_cert) & EXFLAG_KUSAGE);
    assert_true(usage & KU_KEY_CERT_SIGN);
    assert_true(usage & KU_CRL_SIGN);
}

static void ca_self_signature_verifies(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_verify(fx->ca_cert, fx->ca_key), 1);
}

static void ca_self_signature_fails_other_key(void **state)
{
    struct cert_fixture *fx = *state;

    assert_true(X509_verify(fx->ca_cert, fx->other_key) <= 0);
    ERR_clear_error();
}

static void ca_issuer_is_subject(void **state)
{
    struct cert_fixture *fx = *state;
    char buf[64];

    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(fx->ca_cert),
                                   X509_get_issuer_name(fx->ca_cert)),
                     0);
    assert_string_equal(
        name_entry(X509_get_subject_name(fx->ca_cert), NID_commonName, buf, 64),
        "Drawbridge Test CA");
}

static void ca_is_version_3(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_get_version(fx->ca_cert), X509_VERSION_3);
}

static void ca_validity_from_days(void **state)
{
    struct cert_fixture *fx = *state;
    X509 *ca = make_ca(fx->ca_key, "CN=Ten Days", 10);
    int days = 0;
    int seconds = 0;

    assert_non_null(ca);
    assert_int_equal(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca),
                                    X509_get0_notAfter(ca)),
                     1);
    assert_int_equal(days, 10);
    /* notBefore is backdated by 300 s; a second may pass between reads. */
    assert_in_range(seconds, 300, 301);
    X509_free(ca);
}

static void ca_validity_explicit_dates(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_validity validity = {
        .days = 1, .not_before = 1704067200, .not_after = 1735689600};
    X509_NAME *subject = cert_subject_parse("CN=Fixed Dates");
    X509 *ca;

    assert_non_null(subject);
    ca = cert_ca_create(fx->ca_key, subject, &validity);
    X509_NAME_free(subject);
    assert_non_null(ca);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(ca), 1704067200),
                     0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca), 1735689600),
                     0);
    X509_free(ca);
}

static void ca_end_before_start_fails(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_validity validity = {
        .days = 1, .not_before = 1735689600, .not_after = 1704067200};
    X509_NAME *subject = cert_subject_parse("CN=Backwards");
    X509 *ca;

    assert_non_null(subject);
    ca = cert_ca_create(fx->ca_key, subject, &validity);
    X509_NAME_free(subject);
    assert_null(ca);
}

/* ---- cert_request_create ---- */

static void request_first_host_is_cn(void **state)
{
    struct cert_fixture *fx = *state;
    char buf[64];

    assert_string_equal(
        name_entry(X509_REQ_get_subject_name(fx->csr), NID_commonName, buf, 64),
        "a.example");
}

static void request_san_lists_all_names(void **state)
{
    struct cert_fixture *fx = *state;
    GENERAL_NAMES *san = request_san(fx->csr);

    assert_non_null(san);
    assert_int_equal(sk_GENERAL_NAME_num(san), 3);
    assert_true(san_has_dns(san, "a.example"));
    assert_true(san_has_dns(san, "b.example"));
    assert_true(san_has_ip(san, "192.0.2.10"));
    GENERAL_NAMES_free(san);
}

static void request_signature_verifies(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_REQ_verify(fx->csr, fx->leaf_key), 1);
}

static void request_ip_only_is_cn(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = make_request(fx->leaf_key, NULL, "2001:db8::7");
    GENERAL_NAMES *san;
    char buf[64];

    assert_non_null(csr);
    assert_string_equal(
        name_entry(X509_REQ_get_subject_name(csr), NID_commonName, buf, 64),
        "2001:db8::7");
    san = request_san(csr);
    assert_non_null(san);
    assert_true(san_has_ip(san, "2001:db8::7"));
    GENERAL_NAMES_free(san);
    X509_REQ_free(csr);
}

static void request_keeps_subject_attributes(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_names names = {.hosts = {"a.example"}, .host_count = 1};
    X509_NAME *subject = cert_subject_parse("O=Example Org,OU=Ops");
    X509_REQ *csr;
    char buf[64];

    assert_non_null(subject);
    csr = cert_request_create(fx->leaf_key, subject, &names);
    X509_NAME_free(subject);
    assert_non_null(csr);
    assert_string_equal(name_entry(X509_REQ_get_subject_name(csr),
                                   NID_organizationName, buf, 64),
                        "Example Org");
    assert_string_equal(
        name_entry(X509_REQ_get_subject_name(csr), NID_commonName, buf, 64),
        "a.example");
    X509_REQ_free(csr);
}

static void request_subject_cn_matching_host(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_names names = {.hosts = {"a.example"}, .host_count = 1};
    X509_NAME *subject = cert_subject_parse("CN=a.example,O=Example Org");
    X509_REQ *csr;

    assert_non_null(subject);
    csr = cert_request_create(fx->leaf_key, subject, &names);
    X509_NAME_free(subject);
    assert_non_null(csr);
    assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(csr)), 2);
    X509_REQ_free(csr);
}

static void request_subject_cn_differing_fails(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_names names = {.hosts = {"a.example"}, .host_count = 1};
    X509_NAME *subject = cert_subject_parse("CN=other.example");
    X509_REQ *csr;

    assert_non_null(subject);
    csr = cert_request_create(fx->leaf_key, subject, &names);
    X509_NAME_free(subject);
    assert_null(csr);
    assert_non_null(strstr(logged(fx), "CN=other.example"));
}

static void request_without_names_fails(void **state)
{
    struct cert_fixture *fx = *state;
    struct cert_names names = {0};

    assert_null(cert_request_create(fx->leaf_key, NULL, &names));
}

/* ---- cert_sign_request ---- */

static void sign_serial_positive(void **state)
{
    struct cert_fixture *fx = *state;
    BIGNUM *serial =
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(fx->server_cert), NULL);

    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_false(BN_is_zero(serial));
    BN_free(serial);
}

/* The top byte is 0x01 to 0x7f: always 16 octets, and the DER INTEGER
 * needs no leading zero, which keeps it within RFC 5280's 20 octets. */
static void sign_serial_is_16_bytes(void **state)
{
    struct cert_fixture *fx = *state;
    BIGNUM *serial =
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(fx->server_cert), NULL);
    unsigned char bytes[20];

    assert_non_null(serial);
    assert_int_equal(BN_num_bytes(serial), 16);
    assert_int_equal(BN_bn2bin(serial, bytes), 16);
    assert_true(bytes[0] & 0x01);
    assert_false(bytes[0] & 0x80);
    BN_free(serial);
}

static void sign_serials_differ(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(fx->server_cert),
                         X509_get0_serialNumber(fx->client_cert)),
        0);
}

static void sign_copies_subject(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(fx->server_cert),
                                   X509_REQ_get_subject_name(fx->csr)),
                     0);
}

static void sign_sets_issuer(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(fx->server_cert),
                                   X509_get_subject_name(fx->ca_cert)),
                     0);
}

static void sign_copies_san(void **state)
{
    struct cert_fixture *fx = *state;
    GENERAL_NAMES *san =
        X509_get_ext_d2i(fx->server_cert, NID_subject_alt_name, NULL, NULL);

    assert_non_null(san);
    assert_int_equal(sk_GENERAL_NAME_num(san), 3);
    assert_true(san_has_dns(san, "a.example"));
    assert_true(san_has_dns(san, "b.example"));
    assert_true(san_has_ip(san, "192.0.2.10"));
    GENERAL_NAMES_free(san);
}

static void sign_server_eku(void **state)
{
    struct cert_fixture *fx = *state;
    uint32_t eku = X509_get_extended_key_usage(fx->server_cert);

    assert_true(eku & XKU_SSL_SERVER);
    assert_false(eku & XKU_SSL_CLIENT);
}

static void sign_client_eku(void **state)
{
    struct cert_fixture *fx = *state;
    uint32_t eku = X509_get_extended_key_usage(fx->client_cert);

    assert_true(eku & XKU_SSL_CLIENT);
    assert_false(eku & XKU_SSL_SERVER);
}

static void sign_not_ca(void **state)
{
    struct cert_fixture *fx = *state;

    assert_true(X509_get_extension_flags(fx->server_cert) & EXFLAG_BCONS);
    assert_int_equal(X509_check_ca(fx->server_cert), 0);
}

static void sign_ec_key_usage(void **state)
{
    struct cert_fixture *fx = *state;
    uint32_t usage = X509_get_key_usage(fx->server_cert);

    assert_true(usage & KU_DIGITAL_SIGNATURE);
    assert_false(usage & KU_KEY_ENCIPHERMENT);
    assert_false(usage & KU_KEY_CERT_SIGN);
}

static void sign_rsa_server_key_usage(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = make_request(fx->rsa_key, "rsa.example", NULL);
    X509 *cert;

    assert_non_null(csr);
    cert = sign_with(csr, fx->ca_cert, fx->ca_key, 30, false);
    X509_REQ_free(csr);
    assert_non_null(cert);
    assert_true(X509_get_key_usage(cert) & KU_KEY_ENCIPHERMENT);
    assert_true(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    X509_free(cert);
}

static void sign_verifies_with_ca_key(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(X509_verify(fx->server_cert, fx->ca_key), 1);
}

static void sign_server_chain_verifies(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(chain_verify(fx, fx->server_cert, X509_PURPOSE_SSL_SERVER),
                     1);
}

static void sign_client_chain_verifies(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_equal(chain_verify(fx, fx->client_cert, X509_PURPOSE_SSL_CLIENT),
                     1);
}

static void sign_client_rejected_for_server(void **state)
{
    struct cert_fixture *fx = *state;

    assert_int_not_equal(
        chain_verify(fx, fx->client_cert, X509_PURPOSE_SSL_SERVER), 1);
    ERR_clear_error();
}

static void sign_validity_days(void **state)
{
    struct cert_fixture *fx = *state;
    int days = 0;
    int seconds = 0;

    assert_int_equal(ASN1_TIME_diff(&days, &seconds,
                                    X509_get0_notBefore(fx->server_cert),
                                    X509_get0_notAfter(fx->server_cert)),
                     1);
    assert_int_equal(days, 30);
    assert_in_range(seconds, 300, 301);
}

static void sign_explicit_dates(void **state)
{
    struct cert_fixture *fx = *state;
    time_t start = time(NULL) / 86400 * 86400 - 86400;
    struct cert_validity validity = {
        .days = 1, .not_before = start, .not_after = start + 7 * 86400};
    X509 *cert = cert_sign_request(fx->csr, "test.csr", fx->ca_cert, fx->ca_key,
                                   &validity, false);

    assert_non_null(cert);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), start), 0);
    assert_int_equal(
        ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), start + 7 * 86400), 0);
    X509_free(cert);
}

static void sign_clamps_to_ca_end(void **state)
{
    struct cert_fixture *fx = *state;
    X509 *short_ca = make_ca(fx->ca_key, "CN=Short CA", 10);
    X509 *cert;

    assert_non_null(short_ca);
    cert =
        sign_with(fx->csr, short_ca, fx->ca_key, CERT_DEFAULT_LEAF_DAYS, false);
    assert_non_null(cert);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(cert),
                                       X509_get0_notAfter(short_ca)),
                     0);
    assert_non_null(strstr(logged(fx), "outlive"));
    X509_free(cert);
    X509_free(short_ca);
}

static void sign_tampered_signature_fails(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *subject = cert_subject_parse("CN=forged.example");

    assert_non_null(csr);
    assert_non_null(subject);
    assert_true(X509_REQ_set_subject_name(csr, subject));
    assert_true(X509_REQ_set_pubkey(csr, fx->leaf_key));
    assert_true(X509_REQ_sign(csr, fx->other_key, EVP_sha256()) > 0);
    assert_null(sign_with(csr, fx->ca_cert, fx->ca_key, 30, false));
    assert_non_null(strstr(logged(fx), "does not verify"));
    X509_NAME_free(subject);
    X509_REQ_free(csr);
}

static void sign_altered_subject_fails(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = make_request(fx->leaf_key, "a.example", NULL);
    X509_NAME *subject = cert_subject_parse("CN=evil.example");

    assert_non_null(csr);
    assert_non_null(subject);
    assert_true(X509_REQ_set_subject_name(csr, subject));
    assert_null(sign_with(csr, fx->ca_cert, fx->ca_key, 30, false));
    X509_NAME_free(subject);
    X509_REQ_free(csr);
}

static void sign_non_ca_issuer_fails(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = make_request(fx->other_key, "c.example", NULL);

    assert_non_null(csr);
    assert_null(sign_with(csr, fx->server_cert, fx->leaf_key, 30, false));
    assert_non_null(strstr(logged(fx), "is not a CA"));
    X509_REQ_free(csr);
}

static void sign_mismatched_ca_key_fails(void **state)
{
    struct cert_fixture *fx = *state;

    assert_null(sign_with(fx->csr, fx->ca_cert, fx->other_key, 30, false));
    assert_non_null(strstr(logged(fx), "does not match"));
}

static void sign_end_before_start_fails(void **state)
{
    struct cert_fixture *fx = *state;
    time_t start = time(NULL);
    struct cert_validity validity = {
        .days = 1, .not_before = start, .not_after = start - 86400};

    assert_null(cert_sign_request(fx->csr, "test.csr", fx->ca_cert, fx->ca_key,
                                  &validity, false));
}

/* A CSR may ask for any extension. Only its subjectAltName is copied, so
 * a requested CA:TRUE must not reach the certificate. */
static void sign_ignores_requested_ca(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *subject = cert_subject_parse("CN=sneaky.example");
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509 *cert;
    int first;

    assert_non_null(csr);
    assert_non_null(subject);
    assert_non_null(exts);
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
                                                     NID_basic_constraints,
                                                     "critical,CA:TRUE"));
    sk_X509_EXTENSION_push(exts,
                           X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                                               "DNS:sneaky.example"));
    assert_true(X509_REQ_set_subject_name(csr, subject));
    assert_true(X509_REQ_set_pubkey(csr, fx->other_key));
    assert_true(X509_REQ_add_extensions(csr, exts));
    assert_true(X509_REQ_sign(csr, fx->other_key, EVP_sha256()) > 0);

    cert = sign_with(csr, fx->ca_cert, fx->ca_key, 30, false);
    assert_non_null(cert);
    assert_int_equal(X509_check_ca(cert), 0);
    first = X509_get_ext_by_NID(cert, NID_basic_constraints, -1);
    assert_true(first >= 0);
    assert_int_equal(X509_get_ext_by_NID(cert, NID_basic_constraints, first),
                     -1);
    X509_free(cert);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    X509_REQ_free(csr);
}

static void sign_without_san_warns(void **state)
{
    struct cert_fixture *fx = *state;
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *subject = cert_subject_parse("CN=bare.example");
    X509 *cert;

    assert_non_null(csr);
    assert_non_null(subject);
    assert_true(X509_REQ_set_subject_name(csr, subject));
    assert_true(X509_REQ_set_pubkey(csr, fx->other_key));
    assert_true(X509_REQ_sign(csr, fx->other_key, EVP_sha256()) > 0);
    cert = sign_with(csr, fx->ca_cert, fx->ca_key, 30, false);
    assert_non_null(cert);
    assert_non_null(strstr(logged(fx), "requests no subjectAltName"));
    X509_free(cert);
    X509_NAME_free(subject);
    X509_REQ_free(csr);
}

/* ---- cert_pkcs12_create ---- */

static PKCS12 *make_pkcs12(struct cert_fixture *fx, bool legacy)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    PKCS12 *p12;

    assert_non_null(chain);
    assert_true(sk_X509_push(chain, fx->ca_cert) > 0);
    p12 = cert_pkcs12_create(fx->leaf_key, fx->server_cert, chain, "server",
                             "correct horse", legacy);
    sk_X509_free(chain);
    return p12;
}

/* Returns the algorithm NID that protects the shrouded key bag of P12,
 * which PKCS12_create puts in an unencrypted safe. */
static int pkcs12_key_bag_nid(PKCS12 *p12)
{
    STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
    int nid = NID_undef;

    for (int i = 0; i < sk_PKCS7_num(safes); i++) {
        PKCS7 *p7 = sk_PKCS7_value(safes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

        if (OBJ_obj2nid(p7->type) == NID_pkcs7_data) {
            bags = PKCS12_unpack_p7data(p7);
        }
        for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
            const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
            const X509_ALGOR *alg = NULL;
            const ASN1_OBJECT *obj = NULL;

            if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
                X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
                X509_ALGOR_get0(&obj, NULL, NULL, alg);
                nid = OBJ_obj2nid(obj);
            }
        }
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return nid;
}

static int pkcs12_mac_nid(PKCS12 *p12)
{
    const X509_ALGOR *mac_alg = NULL;
    const ASN1_OBJECT *obj = NULL;

    PKCS12_get0_mac(NULL, &mac_alg, NULL, NULL, p12);
    if (mac_alg == NULL) {
        return NID_undef;
    }
    X509_ALGOR_get0(&obj, NULL, NULL, mac_alg);
    return OBJ_obj2nid(obj);
}

static void pkcs12_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, false);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;

    assert_non_null(p12);
    assert_int_equal(PKCS12_parse(p12, "correct horse", &key, &cert, &chain),
                     1);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    assert_int_equal(X509_cmp(cert, fx->server_cert), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 0), fx->ca_cert), 0);
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(p12);
}

static void pkcs12_friendly_name(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, false);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    unsigned char *alias;
    int len = 0;

    assert_non_null(p12);
    assert_int_equal(PKCS12_parse(p12, "correct horse", &key, &cert, NULL), 1);
    alias = X509_alias_get0(cert, &len);
    assert_non_null(alias);
    assert_int_equal(len, 6);
    assert_memory_equal(alias, "server", 6);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(p12);
}

static void pkcs12_wrong_password_fails(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, false);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    assert_non_null(p12);
    assert_int_equal(PKCS12_verify_mac(p12, "wrong", -1), 0);
    assert_int_equal(PKCS12_parse(p12, "wrong", &key, &cert, NULL), 0);
    assert_null(key);
    ERR_clear_error();
    PKCS12_free(p12);
}

static void pkcs12_modern_algorithms(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, false);

    assert_non_null(p12);
    assert_int_equal(pkcs12_mac_nid(p12), NID_sha256);
    assert_int_equal(pkcs12_key_bag_nid(p12), NID_pbes2);
    PKCS12_free(p12);
}

static void pkcs12_legacy_algorithms(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, true);

    assert_non_null(p12);
    assert_int_equal(pkcs12_mac_nid(p12), NID_sha1);
    assert_int_equal(pkcs12_key_bag_nid(p12),
                     NID_pbe_WithSHA1And3_Key_TripleDES_CBC);
    PKCS12_free(p12);
}

static void pkcs12_legacy_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, true);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    assert_non_null(p12);
    assert_int_equal(PKCS12_verify_mac(p12, "correct horse", -1), 1);
    assert_int_equal(PKCS12_parse(p12, "correct horse", &key, &cert, NULL), 1);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    assert_int_equal(X509_cmp(cert, fx->server_cert), 0);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(p12);
}

static void pkcs12_mismatched_key_fails(void **state)
{
    struct cert_fixture *fx = *state;

    assert_null(cert_pkcs12_create(fx->other_key, fx->server_cert, NULL, NULL,
                                   "pw", false));
    assert_non_null(strstr(logged(fx), "does not match"));
}

/* ---- encoders ---- */

static void encode_cert_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    char *data = NULL;
    size_t len = 0;
    BIO *bio;
    X509 *cert;

    assert_int_equal(cert_encode_cert_pem(fx->ca_cert, &data, &len), 0);
    assert_int_equal(strlen(data), len);
    assert_memory_equal(data, "-----BEGIN CERTIFICATE-----\n", 28);
    bio = BIO_new_mem_buf(data, (int)len);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(cert);
    assert_int_equal(X509_cmp(cert, fx->ca_cert), 0);
    X509_free(cert);
    BIO_free(bio);
    free(data);
}

static void encode_key_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    char *data = NULL;
    size_t len = 0;
    BIO *bio;
    EVP_PKEY *key;

    assert_int_equal(cert_encode_key_pem(fx->leaf_key, &data, &len), 0);
    assert_memory_equal(data, "-----BEGIN PRIVATE KEY-----\n", 28);
    bio = BIO_new_mem_buf(data, (int)len);
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_eq(key, fx->leaf_key), 1);
    EVP_PKEY_free(key);
    BIO_free(bio);
    cert_free_secret(data, len);
}

static void encode_csr_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    char *data = NULL;
    size_t len = 0;
    BIO *bio;
    X509_REQ *csr;

    assert_int_equal(cert_encode_csr_pem(fx->csr, &data, &len), 0);
    assert_memory_equal(data, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
    bio = BIO_new_mem_buf(data, (int)len);
    csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    assert_non_null(csr);
    assert_int_equal(X509_REQ_verify(csr, fx->leaf_key), 1);
    X509_REQ_free(csr);
    BIO_free(bio);
    free(data);
}

static void encode_pkcs12_round_trip(void **state)
{
    struct cert_fixture *fx = *state;
    PKCS12 *p12 = make_pkcs12(fx, false);
    const unsigned char *p;
    char *data = NULL;
    size_t len = 0;
    PKCS12 *decoded;

    assert_non_null(p12);
    assert_int_equal(cert_encode_pkcs12(p12, &data, &len), 0);
    p = (const unsigned char *)data;
    decoded = d2i_PKCS12(NULL, &p, (long)len);
    assert_non_null(decoded);
    assert_int_equal(PKCS12_verify_mac(decoded, "correct horse", -1), 1);
    PKCS12_free(decoded);
    cert_free_secret(data, len);
    PKCS12_free(p12);
}

static void free_secret_accepts_null(void **state)
{
    (void)state;
    cert_free_secret(NULL, 0);
}

#define CERT_TEST(name)                                                        \
    cmocka_unit_test_setup_teardown(name, log_setup, log_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CERT_TEST(subject_comma_form),
        CERT_TEST(subject_slash_form),
        CERT_TEST(subject_keeps_order),
        CERT_TEST(subject_escaped_comma),
        CERT_TEST(subject_escaped_slash),
        CERT_TEST(subject_spaces_inside_value),
        CERT_TEST(subject_spaces_around_equals),
        CERT_TEST(subject_skips_empty_parts),
        CERT_TEST(subject_utf8_value),
        CERT_TEST(subject_invalid_forms),
        CERT_TEST(subject_invalid_logs_text),
        CERT_TEST(time_parses_date),
        CERT_TEST(time_parses_date_time_utc),
        CERT_TEST(time_parses_date_time_without_zone),
        CERT_TEST(time_parses_leap_day),
        CERT_TEST(time_invalid_forms),
        CERT_TEST(time_invalid_logs_option),
        CERT_TEST(days_accepts_bounds),
        CERT_TEST(days_invalid_forms),
        CERT_TEST(host_valid_names),
        CERT_TEST(host_invalid_names),
        CERT_TEST(host_label_of_63_valid),
        CERT_TEST(host_label_of_64_invalid),
        CERT_TEST(host_name_of_253_valid),
        CERT_TEST(host_name_of_254_invalid),
        CERT_TEST(ip_valid_addresses),
        CERT_TEST(ip_invalid_addresses),
        CERT_TEST(key_rsa_2048),
        CERT_TEST(key_ec_p256),
        CERT_TEST(key_invalid_types),
        CERT_TEST(key_invalid_logs_type),
        CERT_TEST(ca_is_ca),
        CERT_TEST(ca_basic_constraints_critical),
        CERT_TEST(ca_key_usage_cert_sign),
        CERT_TEST(ca_self_signature_verifies),
        CERT_TEST(ca_self_signature_fails_other_key),
        CERT_TEST(ca_issuer_is_subject),
        CERT_TEST(ca_is_version_3),
        CERT_TEST(ca_validity_from_days),
        CERT_TEST(ca_validity_explicit_dates),
        CERT_TEST(ca_end_before_start_fails),
        CERT_TEST(request_first_host_is_cn),
        CERT_TEST(request_san_lists_all_names),
        CERT_TEST(request_signature_verifies),
        CERT_TEST(request_ip_only_is_cn),
        CERT_TEST(request_keeps_subject_attributes),
        CERT_TEST(request_subject_cn_matching_host),
        CERT_TEST(request_subject_cn_differing_fails),
        CERT_TEST(request_without_names_fails),
        CERT_TEST(sign_serial_positive),
        CERT_TEST(sign_serial_is_16_bytes),
        CERT_TEST(sign_serials_differ),
        CERT_TEST(sign_copies_subject),
        CERT_TEST(sign_sets_issuer),
        CERT_TEST(sign_copies_san),
        CERT_TEST(sign_server_eku),
        CERT_TEST(sign_client_eku),
        CERT_TEST(sign_not_ca),
        CERT_TEST(sign_ec_key_usage),
        CERT_TEST(sign_rsa_server_key_usage),
        CERT_TEST(sign_verifies_with_ca_key),
        CERT_TEST(sign_server_chain_verifies),
        CERT_TEST(sign_client_chain_verifies),
        CERT_TEST(sign_client_rejected_for_server),
        CERT_TEST(sign_validity_days),
        CERT_TEST(sign_explicit_dates),
        CERT_TEST(sign_clamps_to_ca_end),
        CERT_TEST(sign_tampered_signature_fails),
        CERT_TEST(sign_altered_subject_fails),
        CERT_TEST(sign_non_ca_issuer_fails),
        CERT_TEST(sign_mismatched_ca_key_fails),
        CERT_TEST(sign_end_before_start_fails),
        CERT_TEST(sign_ignores_requested_ca),
        CERT_TEST(sign_without_san_warns),
        CERT_TEST(pkcs12_round_trip),
        CERT_TEST(pkcs12_friendly_name),
        CERT_TEST(pkcs12_wrong_password_fails),
        CERT_TEST(pkcs12_modern_algorithms),
        CERT_TEST(pkcs12_legacy_algorithms),
        CERT_TEST(pkcs12_legacy_round_trip),
        CERT_TEST(pkcs12_mismatched_key_fails),
        CERT_TEST(encode_cert_round_trip),
        CERT_TEST(encode_key_round_trip),
        CERT_TEST(encode_csr_round_trip),
        CERT_TEST(encode_pkcs12_round_trip),
        CERT_TEST(free_secret_accepts_null),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
