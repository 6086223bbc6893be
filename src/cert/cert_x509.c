#include "cert/cert_x509.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define CERT_RSA_MIN_BITS 2048
#define CERT_RSA_MAX_BITS 8192

static EVP_PKEY *cert_key_generate_rsa(const char *type, const char *bits_text)
{
    char *end = NULL;
    long bits = strtol(bits_text, &end, 10);
    EVP_PKEY *key;

    if (end == bits_text || *end != '\0' || bits < CERT_RSA_MIN_BITS ||
        bits > CERT_RSA_MAX_BITS) {
        log_error("invalid key type '%s': RSA needs %d to %d bits, for "
                  "example rsa:3072",
                  type, CERT_RSA_MIN_BITS, CERT_RSA_MAX_BITS);
        return NULL;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (key == NULL) {
        log_error("RSA key generation (%ld bits) failed", bits);
    }
    return key;
}

static EVP_PKEY *cert_key_generate_ec(const char *type, const char *curve)
{
    static const char *const curves[] = {"P-256", "P-384", "P-521"};
    EVP_PKEY *key;

    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcasecmp(curve, curves[i]) == 0) {
            key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
            if (key == NULL) {
                log_error("EC key generation on %s failed", curves[i]);
            }
            return key;
        }
    }
    log_error("invalid key type '%s': the EC curve must be P-256, P-384 or "
              "P-521, for example ec:P-256",
              type);
    return NULL;
}

EVP_PKEY *cert_key_generate(const char *type)
{
    if (strncasecmp(type, "rsa:", 4) == 0) {
        return cert_key_generate_rsa(type, type + 4);
    }
    if (strncasecmp(type, "ec:", 3) == 0) {
        return cert_key_generate_ec(type, type + 3);
    }
    log_error("invalid key type '%s': use rsa:BITS (such as rsa:3072) or "
              "ec:CURVE (such as ec:P-256)",
              type);
    return NULL;
}

/* Copies the next SEP-separated part of *CURSOR into PART, undoing
 * backslash escapes and trimming spaces. Returns false at the end. */
static bool cert_subject_next(const char **cursor, char sep, char *part,
                              size_t size)
{
    const char *p = *cursor;
    size_t used = 0;

    if (*p == '\0') {
        return false;
    }
    while (*p != '\0' && *p != sep) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
        }
        if (used + 1 < size) {
            part[used++] = *p;
        }
        p++;
    }
    while (used > 0 && isspace((unsigned char)part[used - 1])) {
        used--;
    }
    part[used] = '\0';
    *cursor = *p == sep ? p + 1 : p;
    return true;
}

static int cert_subject_add(X509_NAME *name, const char *text, char *part)
{
    char *value = strchr(part, '=');
    char *key = part;

    while (isspace((unsigned char)*key)) {
        key++;
    }
    if (value == NULL || value == key) {
        log_error("invalid subject '%s': '%s' is not KEY=VALUE; write it "
                  "like \"CN=Example Root CA,O=Example\"",
                  text, part);
        return -1;
    }
    *value = '\0';
    for (char *end = value; end > key && isspace((unsigned char)end[-1]);) {
        *--end = '\0';
    }
    value++;
    while (isspace((unsigned char)*value)) {
        value++;
    }
    if (*value == '\0') {
        log_error("invalid subject '%s': %s has an empty value", text, key);
        return -1;
    }
    if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8,
                                    (const unsigned char *)value, -1, -1, 0)) {
        ERR_clear_error();
        log_error("invalid subject '%s': '%s=%s' is not accepted; use known "
                  "attributes such as CN, O, OU, L, ST and a two-letter C",
                  text, key, value);
        return -1;
    }
    return 0;
}

X509_NAME *cert_subject_parse(const char *text)
{
    X509_NAME *name = X509_NAME_new();
    const char *cursor = text;
    char sep = ',';
    char part[1024];

    if (name == NULL) {
        return NULL;
    }
    if (*cursor == '/') {
        sep = '/';
        cursor++;
    }
    while (cert_subject_next(&cursor, sep, part, sizeof(part))) {
        if (part[0] == '\0') {
            continue;
        }
        if (cert_subject_add(name, text, part) != 0) {
            X509_NAME_free(name);
            return NULL;
        }
    }
    if (X509_NAME_entry_count(name) == 0) {
        log_error("invalid subject '%s': it names no attribute; write it like "
                  "\"CN=Example Root CA,O=Example\"",
                  text);
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

/* Converts TM to *OUT, failing for dates that do not exist such as
 * February 30, which strptime accepts and timegm would move into March. */
static int cert_tm_to_time(const struct tm *tm, time_t *out)
{
    struct tm copy = *tm;
    struct tm check;
    time_t value = timegm(&copy);

    if (gmtime_r(&value, &check) == NULL || check.tm_year != tm->tm_year ||
        check.tm_mon != tm->tm_mon || check.tm_mday != tm->tm_mday ||
        check.tm_hour != tm->tm_hour || check.tm_min != tm->tm_min ||
        check.tm_sec != tm->tm_sec) {
        return -1;
    }
    *out = value;
    return 0;
}

int cert_time_parse(const char *option, const char *text, time_t *out)
{
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ",
                                          "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"};
    struct tm tm;

    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        const char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(text, formats[i], &tm);
        if (end != NULL && *end == '\0' && cert_tm_to_time(&tm, out) == 0) {
            return 0;
        }
    }
    log_error("invalid %s '%s': write a UTC date as YYYY-MM-DD or "
              "YYYY-MM-DDTHH:MM:SSZ",
              option, text);
    return -1;
}

int cert_days_parse(const char *text, int *days)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);

    if (end == text || *end != '\0' || value < 1 || value > CERT_MAX_DAYS) {
        log_error("invalid --days '%s': give a whole number of days from 1 "
                  "to %d",
                  text, CERT_MAX_DAYS);
        return -1;
    }
    *days = (int)value;
    return 0;
}

bool cert_ip_valid(const char *text)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, text, addr) == 1 ||
           inet_pton(AF_INET6, text, addr) == 1;
}

static bool cert_label_valid(const char *label, size_t len)
{
    if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)label[i]) && label[i] != '-') {
            return false;
        }
    }
    return true;
}

bool cert_host_valid(const char *text)
{
    const char *p = text;
    size_t total = strlen(text);

    if (strncmp(p, "*.", 2) == 0) {
        p += 2;
    }
    if (total == 0 || total > 253 || *p == '\0') {
        return false;
    }
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (!cert_label_valid(p, len)) {
            return false;
        }
        p += len;
        if (*p == '.') {
            p++;
            if (*p == '\0') {
                return false;
            }
        }
    }
    return true;
}

static int cert_encode_bio(BIO *bio, int ok, const char *what, char **data,
                           size_t *len)
{
    char *mem = NULL;
    long n;

    if (!ok) {
        log_error("encoding the %s failed", what);
        BIO_free(bio);
        return -1;
    }
    n = BIO_get_mem_data(bio, &mem);
    *data = malloc((size_t)n + 1);
    if (*data == NULL) {
        BIO_free(bio);
        return -1;
    }
    memcpy(*data, mem, (size_t)n);
    (*data)[n] = '\0';
    *len = (size_t)n;
    OPENSSL_cleanse(mem, (size_t)n);
    BIO_free(bio);
    return 0;
}

int cert_encode_cert_pem(X509 *cert, char **data, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());

    return cert_encode_bio(bio, bio && PEM_write_bio_X509(bio, cert),
                           "certificate", data, len);
}

int cert_encode_key_pem(EVP_PKEY *key, char **data, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok =
        bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);

    return cert_encode_bio(bio, ok, "private key", data, len);
}

int cert_encode_csr_pem(X509_REQ *csr, char **data, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());

    return cert_encode_bio(bio, bio && PEM_write_bio_X509_REQ(bio, csr),
                           "certificate signing request", data, len);
}

int cert_encode_pkcs12(PKCS12 *p12, char **data, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());

    return cert_encode_bio(bio, bio && i2d_PKCS12_bio(bio, p12),
                           "PKCS#12 bundle", data, len);
}

void cert_free_secret(char *data, size_t len)
{
    if (data != NULL) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
}
