#include "doctor/doctor.h"

#include "cert/cert_inspect.h"
#include "common/config.h"
#include "common/file.h"
#include "common/log.h"
#include "tls/tls_load.h"
#include "tls/tls_probe.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Smallest key sizes that current TLS clients accept. */
#define DOCTOR_RSA_MIN_BITS 2048
#define DOCTOR_EC_MIN_BITS  256

/* A certificate that ends within this many days gets a warning. */
#define DOCTOR_EXPIRY_WARN_DAYS 30

static const char doctor_relay_help[] =
    "Usage: drawbridge doctor relay -c FILE [--id ID]\n"
    "\n"
    "Checks the relay's configuration FILE, its certificate and key files\n"
    "and their permissions. --id picks the [relay_server] section when the\n"
    "file has more than one.\n";

/* Reports PATH as DB-FILE-PERMS when group or others may read it: an
 * error for others, a warning for the group. WHAT names the secret. */
static void doctor_relay_perms(struct doctor_report *report, const char *path,
                               const char *what)
{
    struct stat st;

    if (path == NULL || stat(path, &st) != 0) {
        return;
    }
    if (st.st_mode & S_IROTH) {
        doctor_error(report, "DB-FILE-PERMS",
                     "%s is readable by every user (mode %03o) and holds %s; "
                     "run 'chmod 600 %s'",
                     path, (unsigned)(st.st_mode & 0777), what, path);
    } else if (st.st_mode & (S_IRGRP | S_IWOTH | S_IWGRP)) {
        doctor_warn(report, "DB-FILE-PERMS",
                    "%s is readable or writable by its group (mode %03o) and "
                    "holds %s; run 'chmod 600 %s' unless the group is meant "
                    "to read it",
                    path, (unsigned)(st.st_mode & 0777), what, path);
    } else {
        doctor_ok(report, "%s is readable by its owner only", path);
    }
}

/* Loads CONFIG_PATH with config_load's log lines captured, and prints
 * each as a DB-CONFIG error or a warning. */
static int doctor_relay_config(struct doctor_report *report,
                               const char *config_path, struct config *cfg)
{
    FILE *capture = tmpfile();
    char line[4200];
    int rc;

    if (capture == NULL) {
        return config_load(config_path, cfg);
    }
    log_set_stream(capture);
    rc = config_load(config_path, cfg);
    log_set_stream(NULL);
    rewind(capture);
    while (fgets(line, sizeof(line), capture) != NULL) {
        const char *text = line;
        bool error = strstr(line, "error: ") != NULL;

        line[strcspn(line, "\n")] = '\0';
        text = strstr(line, error ? "error: " : "warning: ");
        text = text ? strchr(text, ' ') + 1 : line;
        if (error) {
            doctor_error(report, "DB-CONFIG", "%s", text);
        } else {
            doctor_warn(report, NULL, "%s", text);
        }
    }
    fclose(capture);
    if (rc != 0 && report->errors == 0) {
        doctor_error(report, "DB-CONFIG",
                     "%s cannot be loaded; run 'drawbridge relay -c %s' to "
                     "see why",
                     config_path, config_path);
    }
    return rc;
}

/* Checks that the leaf comes first and each certificate is followed by
 * its issuer. Returns true when the leaf is not first. */
static bool doctor_relay_order(struct doctor_report *report, const char *path,
                               STACK_OF(X509) * certs, EVP_PKEY *key)
{
    int count = sk_X509_num(certs);

    if (key != NULL &&
        X509_check_private_key(sk_X509_value(certs, 0), key) != 1) {
        ERR_clear_error();
        for (int i = 1; i < count; i++) {
            if (X509_check_private_key(sk_X509_value(certs, i), key) == 1) {
                doctor_error(report, "DB-TLS-CHAIN-ORDER",
                             "certificate %d of %s matches the private key, "
                             "but the leaf must come first; put the server's "
                             "certificate first and its issuers after it, "
                             "each followed by the CA that signed it",
                             i, path);
                return true;
            }
        }
        ERR_clear_error();
        return false;
    }
    for (int i = 0; i + 1 < count; i++) {
        if (X509_check_issued(sk_X509_value(certs, i + 1),
                              sk_X509_value(certs, i)) != X509_V_OK) {
            doctor_error(report, "DB-TLS-CHAIN-ORDER",
                         "certificate %d of %s did not issue certificate %d "
                         "before it; order the file leaf first, then each "
                         "certificate's issuer",
                         i + 1, path, i);
            return true;
        }
    }
    doctor_ok(report, "%s has %d certificate(s) in order, leaf first", path,
              count);
    return false;
}

static void doctor_relay_key(struct doctor_report *report,
                             const char *cert_path, const char *key_path,
                             X509 *leaf, EVP_PKEY *key)
{
    char text[64];
    int bits = EVP_PKEY_get_bits(key);

    tls_key_describe(key, text, sizeof(text));
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        doctor_error(report, "DB-TLS-KEY-MISMATCH",
                     "the private key in %s does not match the certificate in "
                     "%s; configure the key that the certificate's request "
                     "was made with, or issue a certificate for this key",
                     key_path, cert_path);
        return;
    }
    doctor_ok(report, "the private key in %s matches the certificate (%s)",
              key_path, text);
    if ((EVP_PKEY_is_a(key, "RSA") && bits < DOCTOR_RSA_MIN_BITS) ||
        (EVP_PKEY_is_a(key, "EC") && bits < DOCTOR_EC_MIN_BITS)) {
        doctor_error(report, "DB-TLS-WEAK",
                     "the key in %s is weak (%s): clients reject RSA keys "
                     "below %d bits and EC keys below %d bits; create a new "
                     "key and certificate ('drawbridge cert request "
                     "--key-type ec:P-256')",
                     key_path, text, DOCTOR_RSA_MIN_BITS, DOCTOR_EC_MIN_BITS);
    }
}

static void doctor_relay_dates(struct doctor_report *report, const char *path,
                               int index, X509 *cert)
{
    char subject[512];
    char when[40];
    int days = 0;

    tls_name_format(X509_get_subject_name(cert), subject, sizeof(subject));
    cert_inspect_time(X509_get0_notAfter(cert), when, sizeof(when));
    if (doctor_tls_expired(cert)) {
        doctor_error(report, "DB-TLS-EXPIRED",
                     "certificate %d of %s (%s) expired on %s; renew it "
                     "('drawbridge cert sign') and reload the relay",
                     index, path, subject, when);
        return;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        cert_inspect_time(X509_get0_notBefore(cert), when, sizeof(when));
        doctor_error(report, "DB-TLS-EXPIRED",
                     "certificate %d of %s (%s) is not valid before %s; "
                     "check this machine's clock and the date the CA set",
                     index, path, subject, when);
        return;
    }
    if (cert_inspect_days_until(X509_get0_notAfter(cert), &days) == 0 &&
        days <= DOCTOR_EXPIRY_WARN_DAYS) {
        doctor_warn(report, "DB-TLS-EXPIRED",
                    "certificate %d of %s (%s) expires in %d day(s), on %s; "
                    "renew it soon",
                    index, path, subject, days, when);
    }
}

static void doctor_relay_signature(struct doctor_report *report,
                                   const char *path, int index, X509 *cert)
{
    int sig_nid = X509_get_signature_nid(cert);

    if (X509_check_issued(cert, cert) == X509_V_OK) {
        return; /* a root's self-signature is never checked by clients */
    }
    if (cert_inspect_digest_weak(cert_inspect_sig_digest(sig_nid))) {
        doctor_error(report, "DB-TLS-WEAK",
                     "certificate %d of %s is signed with %s, which clients "
                     "reject; issue it again with SHA-256 ('drawbridge cert "
                     "sign')",
                     index, path, cert_inspect_sig_name(sig_nid));
    }
}

static void doctor_relay_host(struct doctor_report *report, const char *path,
                              X509 *leaf, const struct config_relay *relay)
{
    bool is_ip = tls_is_ip_address(relay->host);
    int match = is_ip ? X509_check_ip_asc(leaf, relay->host, 0)
                      : X509_check_host(leaf, relay->host, 0, 0, NULL);
    char names[1024];

    ERR_clear_error();
    doctor_tls_names(leaf, names, sizeof(names));
    if (match == 1) {
        doctor_ok(report, "the certificate covers the relay's host %s",
                  relay->host);
        return;
    }
    doctor_error(report, "DB-TLS-HOSTNAME",
                 "the certificate in %s covers %s but not %s, the host of "
                 "relay %s; issue a certificate for it ('drawbridge cert "
                 "request %s %s') or correct `host`",
                 path, names, relay->host, relay->id, is_ip ? "--ip" : "--host",
                 relay->host);
}

/* Loads the relay's certificate chain and key as the relay does. */
static int doctor_relay_load(const struct config_options *options,
                             struct tls_bundle *bundle, EVP_PKEY **key)
{
    char password[256] = "";
    int rc;

    if (options->tls_pkcs12 != NULL) {
        if (options->tls_pkcs12_password_file != NULL &&
            file_read_secret(options->tls_pkcs12_password_file, password,
                             sizeof(password)) != 0) {
            return -1;
        }
        rc = tls_bundle_load(bundle, options->tls_pkcs12,
                             options->tls_pkcs12_password_file ? password
                                                               : NULL);
        OPENSSL_cleanse(password, sizeof(password));
        if (rc == 0 && bundle->key != NULL) {
            EVP_PKEY_up_ref(bundle->key);
            *key = bundle->key;
        }
        return rc;
    }
    if (tls_bundle_load(bundle, options->tls_certificate, NULL) != 0) {
        return -1;
    }
    *key = tls_key_load(options->tls_private_key);
    return *key != NULL ? 0 : -1;
}

static void doctor_relay_tls(struct doctor_report *report,
                             const struct config *cfg,
                             const struct config_relay *relay)
{
    const struct config_options *options = &cfg->options;
    const char *cert_path =
        options->tls_pkcs12 ? options->tls_pkcs12 : options->tls_certificate;
    const char *key_path =
        options->tls_pkcs12 ? options->tls_pkcs12 : options->tls_private_key;
    struct tls_bundle bundle = {0};
    EVP_PKEY *key = NULL;
    X509 *leaf;

    if (cert_path == NULL) {
        doctor_ok(report, "no TLS certificate configured; the relay serves "
                          "plain HTTP only");
        return;
    }
    doctor_relay_perms(report, key_path, "the private key");
    doctor_relay_perms(report, options->tls_pkcs12_password_file,
                       "the PKCS#12 password");
    if (doctor_relay_load(options, &bundle, &key) != 0) {
        doctor_error(report, "DB-CONFIG",
                     "cannot load the relay's certificate or key (%s); the "
                     "log line above says why",
                     cert_path);
        goto out;
    }
    if (!doctor_relay_order(report, cert_path, bundle.certs, key)) {
        leaf = sk_X509_value(bundle.certs, 0);
        doctor_relay_key(report, cert_path, key_path, leaf, key);
        if (relay != NULL) {
            doctor_relay_host(report, cert_path, leaf, relay);
        }
    }
    for (int i = 0; i < sk_X509_num(bundle.certs); i++) {
        doctor_relay_dates(report, cert_path, i,
                           sk_X509_value(bundle.certs, i));
        doctor_relay_signature(report, cert_path, i,
                               sk_X509_value(bundle.certs, i));
    }
out:
    EVP_PKEY_free(key);
    tls_bundle_free(&bundle);
}

static int doctor_relay_parse(int argc, char **argv, const char **config_path,
                              const char **id)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(doctor_relay_help, stdout);
            return 1;
        }
        if (i + 1 < argc &&
            (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
            *config_path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--id") == 0) {
            *id = argv[++i];
        } else {
            log_error("doctor relay: unknown option '%s'; run 'drawbridge "
                      "doctor relay --help'",
                      argv[i]);
            return 2;
        }
    }
    if (*config_path == NULL) {
        log_error("doctor relay: the configuration file is missing; give "
                  "-c FILE");
        return 2;
    }
    return 0;
}

int doctor_relay_main(int argc, char **argv)
{
    struct doctor_report report = {0};
    struct config cfg = {0};
    const struct config_relay *relay;
    const char *config_path = NULL;
    const char *id = NULL;
    int rc = doctor_relay_parse(argc, argv, &config_path, &id);

    if (rc != 0) {
        return rc == 1 ? DOCTOR_EXIT_OK : DOCTOR_EXIT_USAGE;
    }
    doctor_relay_perms(&report, config_path, "the enablers' tokens");
    if (doctor_relay_config(&report, config_path, &cfg) != 0) {
        return doctor_exit_status(&report);
    }
    doctor_ok(&report,
              "%s loads: %zu relay(s), %zu farm(s), %zu backend server(s)",
              config_path, cfg.relay_count, cfg.farm_count, cfg.server_count);
    relay = config_find_relay(&cfg, id);
    if (relay == NULL) {
        doctor_error(&report, "DB-CONFIG",
                     "%s has no enabled [relay_server] with id %s; give "
                     "--id with one of the ids in the file",
                     config_path, id ? id : "(one section expected)");
    }
    doctor_relay_tls(&report, &cfg, relay);
    config_free(&cfg);
    return doctor_exit_status(&report);
}
