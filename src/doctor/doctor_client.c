#include "doctor/doctor.h"

#include "common/log.h"
#include "tls/tls_probe.h"

#include <stdio.h>
#include <string.h>

/* The default client URL prefix of a relay. */
#define DOCTOR_CLIENT_PREFIX "/ias_relay_server/client/rs_client.dll"

static const char doctor_client_help[] =
    "Usage: drawbridge doctor client https://HOST[:PORT]/PREFIX/FARM[/PATH]\n"
    "                                [--ca FILE]\n"
    "\n"
    "Checks the relay as a device sees it: the TLS chain and host name, the\n"
    "farm's availability on the relay's status page, and a GET of the URL.\n"
    "\n"
    "  --ca FILE  CA certificates to trust (default: the system store)\n";

/* The parts of a client URL. */
struct doctor_client_url {
    struct tls_url url;
    char path[1024];   /* the URL's path and query, "/" when it has none */
    char prefix[1024]; /* the client prefix, without the farm */
    char farm[256];
};

/* Splits URL into its parts: the farm is the segment after the default
 * client prefix, or the last segment when the prefix is another one. */
static int doctor_client_url_parse(const char *text,
                                   struct doctor_client_url *out)
{
    char why[256];
    const char *path = strstr(text, "://");
    const char *farm;
    const char *end;

    if (tls_url_parse(text, &out->url, why, sizeof(why)) != 0) {
        log_error("doctor client: invalid URL '%s': %s", text, why);
        return -1;
    }
    path = path != NULL ? strchr(path + 3, '/') : NULL;
    snprintf(out->path, sizeof(out->path), "%s", path ? path : "/");
    farm = strstr(out->path, DOCTOR_CLIENT_PREFIX "/");
    if (farm != NULL) {
        farm += strlen(DOCTOR_CLIENT_PREFIX) + 1;
    } else {
        farm = strrchr(out->path, '/') + 1;
    }
    end = farm + strcspn(farm, "/?#");
    if (end == farm || farm == out->path + 1) {
        log_error("doctor client: the URL '%s' names no farm; give "
                  "https://HOST/PREFIX/FARM",
                  text);
        return -1;
    }
    snprintf(out->farm, sizeof(out->farm), "%.*s", (int)(end - farm), farm);
    snprintf(out->prefix, sizeof(out->prefix), "%.*s",
             (int)(farm - 1 - out->path), out->path);
    return 0;
}

/* Sends GET PATH to the relay over a new verified-or-not TLS connection.
 * Returns 0, or -1 with the cause in WHY. */
static int doctor_client_get(const struct doctor_client_url *url,
                             const char *path, struct doctor_response *response,
                             char *why, size_t size)
{
    struct tls_probe probe = {.fd = -1};
    struct doctor_conn conn;
    char host_port[TLS_ADDRESS_MAX + TLS_HOST_MAX];
    char request[2048];
    int rc = -1;

    tls_host_port_format(url->url.host, url->url.port, host_port,
                         sizeof(host_port));
    if (tls_probe_open(&probe, url->url.host, url->url.port, url->url.host,
                       DOCTOR_TIMEOUT_SECONDS) != 0) {
        /* A host name of up to 200 bytes fits any caller's buffer. */
        snprintf(why, size, "cannot connect to %.200s", host_port);
        goto out;
    }
    conn.fd = probe.fd;
    conn.ssl = probe.ssl;
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
             host_port);
    rc = doctor_http_exchange(&conn, request, strlen(request), response, why,
                              size);
out:
    tls_probe_close(&probe);
    return rc;
}

static void doctor_client_status(struct doctor_report *report,
                                 const struct doctor_client_url *url)
{
    struct doctor_response response;
    char path[1100];
    char needle[400];
    char availability[32] = "";
    char why[256];
    const char *found;

    snprintf(path, sizeof(path), "%s?format=json", url->prefix);
    if (doctor_client_get(url, path, &response, why, sizeof(why)) != 0 ||
        response.status != 200) {
        doctor_warn(report, NULL,
                    "the relay's status page %s could not be read (%s), so "
                    "the farm's availability is unknown; it is open to "
                    "loopback clients only unless status_page = on",
                    path, response.status ? response.body : why);
        return;
    }
    snprintf(needle, sizeof(needle), "{\"id\": \"%s\", \"availability\": \"",
             url->farm);
    found = strstr(response.body, needle);
    if (found == NULL ||
        sscanf(found + strlen(needle), "%31[a-z]", availability) != 1) {
        doctor_warn(report, NULL,
                    "the relay's status page does not list farm '%s' in its "
                    "first %zu bytes; check the farm id (case-sensitive)",
                    url->farm, sizeof(response.body) - 1);
    } else if (strcmp(availability, "none") == 0) {
        doctor_error(report, "DB-FARM-UNAVAILABLE",
                     "farm '%s' has no enabler connected to the relay, so "
                     "client requests get 503; run 'drawbridge doctor "
                     "enabler' with the enabler's options on its host",
                     url->farm);
    } else {
        doctor_ok(report,
                  "the status page shows farm '%s' with availability "
                  "%s",
                  url->farm, availability);
    }
}

static void doctor_client_request(struct doctor_report *report,
                                  const struct doctor_client_url *url)
{
    struct doctor_response response;
    char why[256];

    if (doctor_client_get(url, url->path, &response, why, sizeof(why)) != 0) {
        doctor_error(report, "DB-RELAY-UNREACHABLE",
                     "GET %s got no response: %s; check the relay's log",
                     url->path, why);
    } else if (response.status >= 500) {
        doctor_error(report, "DB-FARM-UNAVAILABLE",
                     "GET %s returned %d (%.200s); the relay reaches no "
                     "backend server of farm '%s': check its enablers with "
                     "'drawbridge doctor enabler'",
                     url->path, response.status, response.body, url->farm);
    } else if (response.status >= 400) {
        doctor_warn(report, NULL, "GET %s returned %d (%.200s)", url->path,
                    response.status, response.body);
    } else {
        doctor_ok(report, "GET %s returned %d", url->path, response.status);
    }
}

int doctor_client_main(int argc, char **argv)
{
    struct doctor_report report = {0};
    struct doctor_client_url url = {0};
    struct tls_probe probe = {.fd = -1};
    struct doctor_tls_expect expect = {0};
    char host_port[TLS_ADDRESS_MAX + TLS_HOST_MAX];
    const char *text = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(doctor_client_help, stdout);
            return DOCTOR_EXIT_OK;
        }
        if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            expect.ca_file = argv[++i];
        } else if (argv[i][0] != '-' && text == NULL) {
            text = argv[i];
        } else {
            log_error("doctor client: unexpected argument '%s'; run "
                      "'drawbridge doctor client --help'",
                      argv[i]);
            return DOCTOR_EXIT_USAGE;
        }
    }
    if (text == NULL || doctor_client_url_parse(text, &url) != 0) {
        if (text == NULL) {
            log_error("doctor client: the URL is missing; give "
                      "https://HOST/PREFIX/FARM");
        }
        return DOCTOR_EXIT_USAGE;
    }
    tls_host_port_format(url.url.host, url.url.port, host_port,
                         sizeof(host_port));
    if (tls_probe_open(&probe, url.url.host, url.url.port, url.url.host,
                       DOCTOR_TIMEOUT_SECONDS) != 0) {
        doctor_error(&report, "DB-RELAY-UNREACHABLE",
                     "cannot open TLS to %s (the log line above says why); "
                     "check the URL's host and port and that the relay runs",
                     host_port);
        tls_probe_close(&probe);
        return doctor_exit_status(&report);
    }
    doctor_ok(&report, "connected to %s (%s) over %s", host_port, probe.address,
              SSL_get_version(probe.ssl));
    expect.host = url.url.host;
    expect.host_port = host_port;
    doctor_tls_print_chain(&report, SSL_get_peer_cert_chain(probe.ssl));
    (void)doctor_tls_check_served(&report, SSL_get_peer_cert_chain(probe.ssl),
                                  &expect);
    tls_probe_close(&probe);
    doctor_client_status(&report, &url);
    doctor_client_request(&report, &url);
    return doctor_exit_status(&report);
}
