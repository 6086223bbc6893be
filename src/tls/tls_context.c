#include "tls/tls_context.h"

#include "common/file.h"
#include "common/log.h"
#include "tls/tls_load.h"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#define TLS_PASSWORD_MAX 1024

static int tls_server_use_bundle(SSL_CTX *ctx, struct tls_bundle *bundle,
                                 const char *what)
{
    X509 *leaf = sk_X509_value(bundle->certs, 0);

    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("cannot use the certificate in %s: %s", what, reason);
        return -1;
    }
    for (int i = 1; i < sk_X509_num(bundle->certs); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(bundle->certs, i)) !=
            1) {
            log_error("cannot add chain certificate %d of %s", i + 1, what);
            return -1;
        }
    }
    if (SSL_CTX_use_PrivateKey(ctx, bundle->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        log_error("the private key does not match the certificate in %s; "
                  "configure the key that the certificate was issued for",
                  what);
        return -1;
    }
    return 0;
}

static int tls_server_load_pem(SSL_CTX *ctx,
                               const struct tls_server_files *files)
{
    struct tls_bundle bundle;
    unsigned mode = 0;
    int rc;

    if (tls_bundle_load(&bundle, files->certificate, NULL) != 0) {
        return -1;
    }
    if (file_is_exposed(files->private_key, &mode)) {
        log_warn("the private key %s is readable by other users (mode "
                 "%04o); restrict it with 'chmod 600 %s'",
                 files->private_key, mode, files->private_key);
    }
    EVP_PKEY_free(bundle.key);
    bundle.key = tls_key_load(files->private_key);
    if (bundle.key == NULL) {
        tls_bundle_free(&bundle);
        return -1;
    }
    rc = tls_server_use_bundle(ctx, &bundle, files->certificate);
    tls_bundle_free(&bundle);
    return rc;
}

static int tls_server_load_pkcs12(SSL_CTX *ctx,
                                  const struct tls_server_files *files)
{
    struct tls_bundle bundle;
    char password[TLS_PASSWORD_MAX] = "";
    int rc = -1;

    if (files->pkcs12_password_file != NULL &&
        file_read_secret(files->pkcs12_password_file, password,
                         sizeof(password)) != 0) {
        return -1;
    }
    if (tls_bundle_load(&bundle, files->pkcs12,
                        files->pkcs12_password_file ? password : NULL) != 0) {
        goto out;
    }
    if (bundle.key == NULL) {
        log_error("%s contains no private key; export the bundle together with "
                  "its key",
                  files->pkcs12);
    } else {
        rc = tls_server_use_bundle(ctx, &bundle, files->pkcs12);
    }
    tls_bundle_free(&bundle);

out:
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

SSL_CTX *tls_server_context_new(const struct tls_server_files *files)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int rc;

    if (ctx == NULL) {
        log_error("cannot create a TLS server context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (files->pkcs12 != NULL) {
        rc = tls_server_load_pkcs12(ctx, files);
    } else {
        rc = tls_server_load_pem(ctx, files);
    }
    if (rc != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The ex_data slot of an SSL that keeps the server's leaf certificate,
 * because OpenSSL drops the peer certificate when verification fails, and
 * the explanation of the failure needs its names and issuer. */
static int tls_leaf_index = -1;

static void tls_leaf_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
                          int index, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)index;
    (void)argl;
    (void)argp;
    X509_free(ptr);
}

static int tls_leaf_slot(void)
{
    if (tls_leaf_index < 0) {
        tls_leaf_index =
            SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_leaf_free);
    }
    return tls_leaf_index;
}

static int tls_verify_keep_leaf(int ok, X509_STORE_CTX *store)
{
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *leaf = X509_STORE_CTX_get0_cert(store);

    if (ssl != NULL && leaf != NULL &&
        SSL_get_ex_data(ssl, tls_leaf_slot()) == NULL && X509_up_ref(leaf)) {
        SSL_set_ex_data(ssl, tls_leaf_slot(), leaf);
    }
    return ok;
}

SSL_CTX *tls_client_context_new(const char *ca_file, bool verify)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int ok;

    if (ctx == NULL) {
        log_error("cannot create a TLS client context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    tls_leaf_slot();
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_keep_leaf);
    if (ca_file != NULL) {
        ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
    } else {
        ok = SSL_CTX_set_default_verify_paths(ctx);
    }
    if (ok != 1) {
        char reason[256];

        tls_error_string(reason, sizeof(reason));
        log_error("cannot load trusted certificates from %s: %s; give a PEM "
                  "file with the CA certificate that signed the relay's "
                  "certificate",
                  ca_file ? ca_file : "the system store", reason);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool tls_is_ip(const char *host)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, host, addr) == 1 ||
           inet_pton(AF_INET6, host, addr) == 1;
}

int tls_client_prepare(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

    if (tls_is_ip(host)) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? 0 : -1;
    }
    if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
        SSL_set1_host(ssl, host) != 1) {
        return -1;
    }
    return 0;
}

struct bufferevent *tls_client_bufferevent(struct event_base *base,
                                           SSL_CTX *ctx, const char *host)
{
    int options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL || tls_client_prepare(ssl, host) != 0) {
        SSL_free(ssl);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING, options);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* Appends ", KIND:VALUE" (without the comma at the start) to BUF. */
static void tls_append(char *buf, size_t size, size_t *used, const char *kind,
                       const char *value)
{
    int n;

    if (*used >= size) {
        return;
    }
    n = snprintf(buf + *used, size - *used, "%s%s%s", *used > 0 ? ", " : "",
                 kind, value);
    if (n > 0) {
        *used += (size_t)n;
    }
}

static void tls_append_ip(char *buf, size_t size, size_t *used,
                          const ASN1_OCTET_STRING *ip)
{
    char text[INET6_ADDRSTRLEN] = "?";
    int len = ASN1_STRING_length(ip);
    const unsigned char *data = ASN1_STRING_get0_data(ip);

    if (len == 4) {
        inet_ntop(AF_INET, data, text, sizeof(text));
    } else if (len == 16) {
        inet_ntop(AF_INET6, data, text, sizeof(text));
    }
    tls_append(buf, size, used, "IP:", text);
}

void tls_cert_names(X509 *cert, char *buf, size_t size)
{
    GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    char cn[256];

    buf[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);

        if (name->type == GEN_DNS) {
            tls_append(buf, size, &used, "DNS:",
                       (const char *)ASN1_STRING_get0_data(name->d.dNSName));
        } else if (name->type == GEN_IPADD) {
            tls_append_ip(buf, size, &used, name->d.iPAddress);
        }
    }
    GENERAL_NAMES_free(names);
    if (used == 0 &&
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
                                  cn, sizeof(cn)) > 0) {
        tls_append(buf, size, &used, "CN=", cn);
    }
    if (used == 0) {
        snprintf(buf, size, "no names");
    }
}

static void tls_explain_untrusted(X509 *cert, const char *ca_file, char *buf,
                                  size_t size)
{
    char issuer[512] = "an unknown issuer";

    if (cert != NULL) {
        tls_name_format(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    }
    snprintf(buf, size,
             "the relay's certificate is issued by '%s', which is not in the "
             "trusted CA file %s; add that CA's certificate to %s, or give "
             "the relay a certificate from a CA in it",
             issuer, ca_file ? ca_file : "(system store)",
             ca_file ? ca_file : "the trusted CA file");
}

void tls_explain_verify_failure(SSL *ssl, const char *host, const char *ca_file,
                                char *buf, size_t size)
{
    long result = SSL_get_verify_result(ssl);
    X509 *cert = SSL_get0_peer_certificate(ssl);

    if (cert == NULL && tls_leaf_index >= 0) {
        cert = SSL_get_ex_data(ssl, tls_leaf_index);
    }
    char names[1024] = "unknown names";

    buf[0] = '\0';
    if (result == X509_V_OK) {
        return;
    }
    if (cert != NULL) {
        tls_cert_names(cert, names, sizeof(names));
    }
    switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        snprintf(buf, size,
                 "the relay's certificate is for %s, not for %s; connect to "
                 "a name the certificate covers, or reissue it with "
                 "'drawbridge cert request %s %s'",
                 names, host, tls_is_ip(host) ? "--ip" : "--host", host);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        tls_explain_untrusted(cert, ca_file, buf, size);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        snprintf(buf, size,
                 "the relay's certificate (%s) has expired; install a renewed "
                 "certificate on the relay",
                 names);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(buf, size,
                 "the relay's certificate (%s) is not valid yet; check the "
                 "clocks of the relay and this host",
                 names);
        break;
    default:
        snprintf(buf, size, "the relay's certificate was rejected: %s",
                 X509_verify_cert_error_string(result));
        break;
    }
}
