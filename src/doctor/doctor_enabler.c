#include "doctor/doctor.h"

#include "common/log.h"
#include "enabler/enabler_options.h"
#include "tls/tls_probe.h"
#include "tunnel/tunnel.h"

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Words of the relay's 404 reason when ids differ only in case. */
#define DOCTOR_CASE_HINT "case-sensitive"

/* Opens CONN to the relay: TCP first, so that an unreachable relay is told
 * apart from a failed handshake, then TLS without verification. */
static int doctor_enabler_connect(struct doctor_report *report,
                                  const struct enabler_endpoint *relay,
                                  struct tls_probe *probe,
                                  struct doctor_conn *conn)
{
    char why[512];
    int fd;

    if (doctor_tcp_connect(relay->host, relay->port, &fd, why, sizeof(why)) !=
        0) {
        doctor_error(report, "DB-RELAY-UNREACHABLE",
                     "%s; check the relay's host name and port in --relay, "
                     "that the relay runs, and any firewall on the way",
                     why);
        return -1;
    }
    if (!relay->tls) {
        conn->fd = fd;
        doctor_ok(report, "connected to the relay at %s:%s over plain TCP",
                  relay->host, relay->port);
        return 0;
    }
    close(fd);
    if (tls_probe_open(probe, relay->host, relay->port, relay->host,
                       DOCTOR_TIMEOUT_SECONDS) != 0) {
        doctor_error(report, "DB-RELAY-UNREACHABLE",
                     "the TLS handshake with %s:%s failed (the log line above "
                     "says why); check that the port is the relay's HTTPS "
                     "port",
                     relay->host, relay->port);
        return -1;
    }
    conn->fd = probe->fd;
    conn->ssl = probe->ssl;
    doctor_ok(report, "connected to the relay at %s (%s) over %s",
              probe->address, relay->host, SSL_get_version(probe->ssl));
    return 0;
}

static void doctor_enabler_subject(struct doctor_report *report, X509 *leaf,
                                   int nid, const char *expected,
                                   const char *option)
{
    char actual[256] = "";

    if (expected[0] == '\0') {
        return;
    }
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), nid, actual,
                              sizeof(actual));
    ERR_clear_error();
    if (strcmp(actual, expected) == 0) {
        doctor_ok(report, "the relay's certificate has %s '%s' as %s requires",
                  OBJ_nid2sn(nid), actual, option);
        return;
    }
    doctor_error(report, "DB-TLS-SUBJECT",
                 "the relay's certificate has %s '%s', but %s requires '%s'; "
                 "correct %s or the relay's certificate",
                 OBJ_nid2sn(nid), actual, option, expected, option);
}

static void doctor_enabler_tls(struct doctor_report *report,
                               const struct enabler_options *opts,
                               const struct tls_probe *probe)
{
    STACK_OF(X509) *served = SSL_get_peer_cert_chain(probe->ssl);
    struct doctor_tls_expect expect = {
        .ca_file = opts->ca_file[0] ? opts->ca_file : NULL,
        .host = opts->relay.host,
        .host_port = probe->address,
    };
    X509 *leaf = sk_X509_value(served, 0);

    if (leaf == NULL) {
        doctor_error(report, "DB-TLS-UNTRUSTED",
                     "the relay at %s sent no certificate; check that the "
                     "port is the relay's HTTPS port",
                     probe->address);
        return;
    }
    doctor_tls_print_chain(report, served);
    if (opts->insecure_skip_verify) {
        doctor_warn(report, NULL,
                    "--insecure-skip-verify is set, so the enabler trusts "
                    "any certificate; the checks below show what it skips");
    }
    (void)doctor_tls_check_served(report, served, &expect);
    doctor_enabler_subject(report, leaf, NID_commonName, opts->certificate_name,
                           "certificate_name");
    doctor_enabler_subject(report, leaf, NID_organizationName,
                           opts->certificate_company, "certificate_company");
    doctor_enabler_subject(report, leaf, NID_organizationalUnitName,
                           opts->certificate_unit, "certificate_unit");
}

/* Reports a 404: the relay's tunnel code names the unknown id, while its
 * client side answers a path that is no server URL suffix. */
static void doctor_enabler_not_found(struct doctor_report *report,
                                     const struct enabler_options *opts,
                                     const char *reason)
{
    bool tunnel_side = strstr(reason, "give the enabler") != NULL ||
                       strstr(reason, DOCTOR_CASE_HINT) != NULL;

    if (!tunnel_side) {
        doctor_error(report, "DB-URL-SUFFIX",
                     "the relay answered the tunnel request as a client "
                     "request (404 %s), so %s is not its server URL suffix; "
                     "give --url-suffix %s (or %s on an Apache-style relay)",
                     reason, opts->url_suffix, TUNNEL_SUFFIX_IIS,
                     TUNNEL_SUFFIX_APACHE);
    } else if (strstr(reason, DOCTOR_CASE_HINT) != NULL) {
        doctor_error(report, "DB-ID-UNKNOWN",
                     "the relay does not know farm '%s' server '%s', and the "
                     "ids differ from the relay's only in case (%s); ids are "
                     "case-sensitive, so copy them exactly",
                     opts->farm, opts->id, reason);
    } else {
        doctor_error(report, "DB-ID-UNKNOWN",
                     "the relay does not know farm '%s' server '%s' (%s); "
                     "give the enabler the --farm and --id of a "
                     "[backend_server] section of the relay's configuration",
                     opts->farm, opts->id, reason);
    }
}

static void doctor_enabler_answer(struct doctor_report *report,
                                  const struct enabler_options *opts,
                                  const struct doctor_response *response)
{
    const char *reason = response->body[0] ? response->body : "no reason";

    switch (response->status) {
    case 200:
        doctor_ok(report, "the relay accepts the tunnel request: %s", reason);
        return;
    case 101:
        doctor_warn(report, NULL,
                    "the relay opened a tunnel instead of answering the "
                    "probe, so it predates probe requests; farm, id and "
                    "token are accepted");
        return;
    case 401:
        doctor_error(report, "DB-TOKEN",
                     "the relay rejected the token of server '%s' in farm "
                     "'%s' (401 %s); put the token of that [backend_server] "
                     "section into the enabler's token file",
                     opts->id, opts->farm, reason);
        return;
    case 404:
        doctor_enabler_not_found(report, opts, reason);
        return;
    case 403:
        if (strstr(reason, "accepts enablers over") != NULL) {
            doctor_error(report, "DB-TRANSPORT",
                         "the relay does not accept this transport for farm "
                         "'%s' (403 %s); give --relay the scheme and port "
                         "that the farm's backend_security allows",
                         opts->farm, reason);
        } else {
            doctor_error(report, "DB-ID-DISABLED",
                         "%s (403); set enable = yes in the relay's "
                         "configuration or use another server",
                         reason);
        }
        return;
    default:
        doctor_error(report, "DB-TUNNEL-REFUSED",
                     "the relay refused the tunnel request: %d %s; see the "
                     "relay's log for the cause",
                     response->status, reason);
    }
}

static void doctor_enabler_probe(struct doctor_report *report,
                                 const struct enabler_options *opts,
                                 struct doctor_conn *conn)
{
    struct tunnel_hello hello = {.version = 1, .probe = true};
    struct evbuffer *out = evbuffer_new();
    struct doctor_response response;
    char host_port[TLS_ADDRESS_MAX + TLS_HOST_MAX];
    char why[256];
    int rc = -1;

    snprintf(hello.farm, sizeof(hello.farm), "%s", opts->farm);
    snprintf(hello.id, sizeof(hello.id), "%s", opts->id);
    snprintf(hello.token, sizeof(hello.token), "%s", opts->token);
    tls_host_port_format(opts->relay.host, opts->relay.port, host_port,
                         sizeof(host_port));
    if (out != NULL) {
        rc = tunnel_hello_write(out, host_port, opts->url_suffix, &hello);
    }
    OPENSSL_cleanse(hello.token, sizeof(hello.token));
    if (rc == 0) {
        rc = doctor_http_exchange(conn, (const char *)evbuffer_pullup(out, -1),
                                  evbuffer_get_length(out), &response, why,
                                  sizeof(why));
    } else {
        snprintf(why, sizeof(why), "the request cannot be built");
    }
    if (out != NULL) {
        /* The request carries the token. */
        OPENSSL_cleanse(evbuffer_pullup(out, -1), evbuffer_get_length(out));
        evbuffer_free(out);
    }
    if (rc != 0) {
        doctor_error(report, "DB-URL-SUFFIX",
                     "the relay answered no tunnel request at %s: %s; check "
                     "--url-suffix and that --relay names a Drawbridge relay",
                     opts->url_suffix, why);
        return;
    }
    doctor_enabler_answer(report, opts, &response);
}

/* Sends GET PATH to the backend at ENDPOINT and returns its status in
 * RESPONSE. Returns 0, or -1 after printing DB-BACKEND-DOWN. */
static int doctor_backend_get(struct doctor_report *report,
                              const struct enabler_endpoint *endpoint,
                              const char *path,
                              struct doctor_response *response)
{
    struct tls_probe probe = {.fd = -1};
    struct doctor_conn conn = {.fd = -1};
    char request[1024];
    char why[512];
    int fd = -1;
    int rc = -1;

    if (doctor_tcp_connect(endpoint->host, endpoint->port, &fd, why,
                           sizeof(why)) != 0) {
        doctor_error(report, "DB-BACKEND-DOWN",
                     "the backend does not answer: %s; start the backend "
                     "server, or correct --backend",
                     why);
        return -1;
    }
    conn.fd = fd;
    if (endpoint->tls) {
        close(fd);
        conn.fd = -1;
        if (tls_probe_open(&probe, endpoint->host, endpoint->port,
                           endpoint->host, DOCTOR_TIMEOUT_SECONDS) != 0) {
            doctor_error(report, "DB-BACKEND-DOWN",
                         "the TLS handshake with the backend %s:%s failed; "
                         "check that --backend names its HTTPS port",
                         endpoint->host, endpoint->port);
            goto out;
        }
        conn.fd = probe.fd;
        conn.ssl = probe.ssl;
    }
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n",
             path, endpoint->host, endpoint->port);
    if (doctor_http_exchange(&conn, request, strlen(request), response, why,
                             sizeof(why)) != 0) {
        doctor_error(report, "DB-BACKEND-DOWN",
                     "the backend at %s:%s accepted a connection but gave no "
                     "HTTP response to GET %s: %s; check that --backend "
                     "names its HTTP%s port",
                     endpoint->host, endpoint->port, path, why,
                     endpoint->tls ? "S" : "");
        goto out;
    }
    rc = 0;
out:
    if (endpoint->tls) {
        tls_probe_close(&probe);
    } else if (conn.fd >= 0) {
        close(conn.fd);
    }
    return rc;
}

static void doctor_enabler_backend(struct doctor_report *report,
                                   const struct enabler_options *opts)
{
    struct doctor_response response;
    const char *path = opts->status_url[0] ? opts->status_url : "/";

    if (doctor_backend_get(report, &opts->backend, path, &response) != 0) {
        return;
    }
    if (opts->status_url[0] == '\0') {
        doctor_ok(report, "the backend at %s:%s answers: GET / returned %d",
                  opts->backend.host, opts->backend.port, response.status);
    } else if (response.status >= 200 && response.status < 300) {
        doctor_ok(report, "the backend's status URL %s returned %d",
                  opts->status_url, response.status);
    } else {
        doctor_error(report, "DB-BACKEND-STATUS",
                     "the backend's status URL %s returned %d, so the "
                     "enabler keeps its tunnels closed; fix the backend, or "
                     "correct --status-url",
                     opts->status_url, response.status);
    }
}

int doctor_enabler_main(int argc, char **argv)
{
    struct doctor_report report = {0};
    struct enabler_options opts;
    struct tls_probe probe = {.fd = -1};
    struct doctor_conn conn = {.fd = -1};
    int rc = enabler_options_parse(argc, argv, &opts);

    if (rc != 0) {
        enabler_options_clear(&opts);
        return rc == 1 ? DOCTOR_EXIT_OK : DOCTOR_EXIT_USAGE;
    }
    if (doctor_enabler_connect(&report, &opts.relay, &probe, &conn) == 0) {
        if (opts.relay.tls) {
            doctor_enabler_tls(&report, &opts, &probe);
        } else {
            doctor_warn(&report, NULL,
                        "the enabler reaches the relay over plain HTTP, so "
                        "its token crosses the network unencrypted");
        }
        doctor_enabler_probe(&report, &opts, &conn);
    }
    if (opts.relay.tls) {
        tls_probe_close(&probe);
    } else if (conn.fd >= 0) {
        close(conn.fd);
    }
    doctor_enabler_backend(&report, &opts);
    enabler_options_clear(&opts);
    return doctor_exit_status(&report);
}
