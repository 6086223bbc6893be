#include "enabler/enabler_options.h"

#include "common/file.h"
#include "common/log.h"
#include "common/url.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char enabler_help[] =
    "Usage: drawbridge enabler --relay URL --farm FARM --id SERVER\n"
    "                          --token-file FILE --backend URL [OPTIONS]\n"
    "       drawbridge enabler -f FARM -id SERVER -t @FILE\n"
    "                          -cr \"host=H;port=P;https=1;...\" -cs "
    "\"host=H;port=P\"\n"
    "\n"
    "Connects out to a relay over verified TLS and forwards the requests it\n"
    "sends to the backend server.\n"
    "\n"
    "  --relay URL            the relay, https://HOST[:PORT][/SUFFIX]\n"
    "  --farm, -f FARM        backend farm id (case-sensitive)\n"
    "  --id, -id SERVER       backend server id (case-sensitive)\n"
    "  --token-file FILE      read the token from FILE's first line\n"
    "  --token-env NAME       read the token from environment variable NAME\n"
    "  -t TOKEN | -t @FILE    the token, or @ and a file that holds it\n"
    "  --ca-file FILE         CA certificates that the relay's certificate\n"
    "                         must chain to (default: the system store)\n"
    "  --backend URL          the backend, http[s]://HOST[:PORT]\n"
    "  --backend-ca-file FILE CA certificates for an HTTPS backend\n"
    "  --url-suffix PATH      the relay's server URL suffix (default\n"
    "                         " TUNNEL_SUFFIX_IIS ")\n"
    "  --certificate-name CN  require this common name on the relay's\n"
    "                         certificate; also --certificate-company O and\n"
    "                         --certificate-unit OU\n"
    "  -cr \"KEY=VALUE;...\"    the relay, with keys host, port, https,\n"
    "                         trusted_certificates, url_suffix,\n"
    "                         certificate_name, certificate_company,\n"
    "                         certificate_unit\n"
    "  -cs \"KEY=VALUE;...\"    the backend, with keys host, port, https,\n"
    "                         trusted_certificates\n"
    "  --retry-delay, -d SEC  base of the reconnect delay, which is random\n"
    "                         up to SEC * 2^(failures - 1) (default 1)\n"
    "  --retry-max-delay SEC  cap of that bound (default 60)\n"
    "  --max-retries N        exit after the first attempt and N retries\n"
    "                         fail in a row (default: retry for ever)\n"
    "  --backend-timeout SEC  wait this long for a backend response head\n"
    "                         before answering 504 (default 60)\n"
    "  --backend-connections N  most open backend connections (default 64)\n"
    "  --status-url PATH      poll this path on the backend; while it does\n"
    "                         not answer 2xx, close the tunnels so that the\n"
    "                         relays use the farm's other servers\n"
    "  --status-interval SEC  time between polls (default 5)\n"
    "  --admin ADDRESS:PORT   serve /metrics there (Prometheus text format)\n"
    "  --ping-interval SEC    send an HTTP/2 PING after SEC without a frame\n"
    "                         from the relay (default 15)\n"
    "  --ping-timeout SEC     reconnect after SEC without a frame from the\n"
    "                         relay (default 45)\n"
    "  --verbosity, -v LEVEL  0 (errors only) to 5 (default 2)\n"
    "  --log-file, -o FILE    append the log to FILE (default stderr)\n"
    "  --insecure-skip-verify      do not verify the relay's certificate\n"
    "  --insecure-plain-token      allow sending the token over plain HTTP\n"
    "  --backend-insecure-skip-verify  do not verify an HTTPS backend\n";

enum {
    OPT_RELAY = 0x100,
    OPT_TOKEN_FILE,
    OPT_TOKEN_ENV,
    OPT_CA_FILE,
    OPT_BACKEND,
    OPT_BACKEND_CA_FILE,
    OPT_URL_SUFFIX,
    OPT_CERT_NAME,
    OPT_CERT_COMPANY,
    OPT_CERT_UNIT,
    OPT_CR,
    OPT_CS,
    OPT_RETRY_MAX,
    OPT_MAX_RETRIES,
    OPT_BACKEND_TIMEOUT,
    OPT_BACKEND_CONNECTIONS,
    OPT_INSECURE,
    OPT_PLAIN_TOKEN,
    OPT_BACKEND_INSECURE,
    OPT_ID,
    OPT_PING_INTERVAL,
    OPT_PING_TIMEOUT,
    OPT_STATUS_URL,
    OPT_ADMIN,
    OPT_STATUS_INTERVAL,
};

static const struct option enabler_longopts[] = {
    {"relay", required_argument, NULL, OPT_RELAY},
    {"farm", required_argument, NULL, 'f'},
    {"f", required_argument, NULL, 'f'},
    {"id", required_argument, NULL, OPT_ID},
    {"t", required_argument, NULL, 't'},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"token-env", required_argument, NULL, OPT_TOKEN_ENV},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"backend-ca-file", required_argument, NULL, OPT_BACKEND_CA_FILE},
    {"url-suffix", required_argument, NULL, OPT_URL_SUFFIX},
    {"certificate-name", required_argument, NULL, OPT_CERT_NAME},
    {"certificate-company", required_argument, NULL, OPT_CERT_COMPANY},
    {"certificate-unit", required_argument, NULL, OPT_CERT_UNIT},
    {"cr", required_argument, NULL, OPT_CR},
    {"cs", required_argument, NULL, OPT_CS},
    {"retry-delay", required_argument, NULL, 'd'},
    {"d", required_argument, NULL, 'd'},
    {"retry-max-delay", required_argument, NULL, OPT_RETRY_MAX},
    {"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
    {"backend-timeout", required_argument, NULL, OPT_BACKEND_TIMEOUT},
    {"backend-connections", required_argument, NULL, OPT_BACKEND_CONNECTIONS},
    {"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
    {"ping-timeout", required_argument, NULL, OPT_PING_TIMEOUT},
    {"status-url", required_argument, NULL, OPT_STATUS_URL},
    {"admin", required_argument, NULL, OPT_ADMIN},
    {"status-interval", required_argument, NULL, OPT_STATUS_INTERVAL},
    {"verbosity", required_argument, NULL, 'v'},
    {"v", required_argument, NULL, 'v'},
    {"log-file", required_argument, NULL, 'o'},
    {"o", required_argument, NULL, 'o'},
    {"insecure-skip-verify", no_argument, NULL, OPT_INSECURE},
    {"insecure-plain-token", no_argument, NULL, OPT_PLAIN_TOKEN},
    {"backend-insecure-skip-verify", no_argument, NULL, OPT_BACKEND_INSECURE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int enabler_usage(const char *fmt,
                                                               ...)
{
    va_list ap;

    char message[512];

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_error("enabler: %s; see 'drawbridge enabler --help'", message);
    return 2;
}

static int enabler_copy(char *dst, size_t size, const char *what,
                        const char *value)
{
    if (strlen(value) >= size) {
        return enabler_usage("%s is too long", what);
    }
    strcpy(dst, value);
    return 0;
}

/* Parses SECONDS (may be fractional) into milliseconds. */
static int enabler_seconds(const char *option, const char *text, unsigned *ms)
{
    char *end = NULL;
    double seconds = strtod(text, &end);

    if (end == text || *end != '\0' || seconds < 0 || seconds > 86400) {
        log_error("enabler: invalid %s '%s': give seconds from 0 to 86400",
                  option, text);
        return 2;
    }
    *ms = (unsigned)(seconds * 1000.0 + 0.5);
    return 0;
}

static int enabler_count(const char *option, const char *text, long min,
                         long max, long *value)
{
    char *end = NULL;

    *value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || *value < min || *value > max) {
        log_error("enabler: invalid %s '%s': give a whole number from %ld "
                  "to %ld",
                  option, text, min, max);
        return 2;
    }
    return 0;
}

static int enabler_token_from_file(struct enabler_options *opts,
                                   const char *path)
{
    unsigned mode = 0;

    if (file_read_secret(path, opts->token, sizeof(opts->token)) != 0) {
        return 2;
    }
    if (file_is_exposed(path, &mode)) {
        log_warn("the token file %s is readable by other users (mode %04o); "
                 "restrict it with 'chmod 600 %s'",
                 path, mode, path);
    }
    return 0;
}

static int enabler_token(struct enabler_options *opts, int c, const char *value)
{
    const char *env;

    if (c == OPT_TOKEN_FILE) {
        return enabler_token_from_file(opts, value);
    }
    if (c == OPT_TOKEN_ENV) {
        env = getenv(value);
        if (env == NULL || *env == '\0') {
            return enabler_usage("environment variable %s is not set or "
                                 "empty",
                                 value);
        }
        return enabler_copy(opts->token, sizeof(opts->token), "the token", env);
    }
    if (value[0] == '@') {
        return enabler_token_from_file(opts, value + 1);
    }
    log_warn("a token given with -t is visible to other users in the "
             "process list; use -t @FILE or --token-file FILE");
    return enabler_copy(opts->token, sizeof(opts->token), "the token", value);
}

static int enabler_endpoint_url(struct enabler_endpoint *endpoint,
                                const char *option, const char *text,
                                char *suffix, size_t suffix_size)
{
    struct url url;
    char why[256];

    if (url_parse(text, &url, why, sizeof(why)) != 0) {
        log_error("enabler: invalid %s '%s': %s", option, text, why);
        return 2;
    }
    strcpy(endpoint->host, url.host);
    strcpy(endpoint->port, url.port);
    endpoint->tls = url.tls;
    if (url.path[0] == '\0' || strcmp(url.path, "/") == 0) {
        return 0;
    }
    if (suffix == NULL) {
        log_error("enabler: invalid %s '%s': give the backend without a "
                  "path; the relay sends each request's own path",
                  option, text);
        return 2;
    }
    return enabler_copy(suffix, suffix_size, "the URL suffix", url.path);
}

/* Applies one KEY=VALUE of -cr or -cs. */
static int enabler_pair(struct enabler_options *opts, bool relay,
                        const char *key, const char *value)
{
    struct enabler_endpoint *endpoint = relay ? &opts->relay : &opts->backend;
    long number = 0;

    if (strcasecmp(key, "host") == 0) {
        return enabler_copy(endpoint->host, sizeof(endpoint->host), "host",
                            value);
    }
    if (strcasecmp(key, "port") == 0) {
        if (enabler_count("port", value, 1, 65535, &number) != 0) {
            return 2;
        }
        snprintf(endpoint->port, sizeof(endpoint->port), "%ld", number);
        return 0;
    }
    if (strcasecmp(key, "https") == 0) {
        if (strcmp(value, "1") == 0 || strcasecmp(value, "yes") == 0 ||
            strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0) {
            endpoint->tls = true;
        } else if (strcmp(value, "0") == 0 || strcasecmp(value, "no") == 0 ||
                   strcasecmp(value, "off") == 0 ||
                   strcasecmp(value, "false") == 0) {
            endpoint->tls = false;
        } else {
            return enabler_usage("invalid https value '%s': give 1 or 0",
                                 value);
        }
        return 0;
    }
    if (strcasecmp(key, "trusted_certificates") == 0) {
        if (relay) {
            return enabler_copy(opts->ca_file, sizeof(opts->ca_file),
                                "trusted_certificates", value);
        }
        return enabler_copy(opts->backend_ca_file,
                            sizeof(opts->backend_ca_file),
                            "trusted_certificates", value);
    }
    if (relay && strcasecmp(key, "url_suffix") == 0) {
        return enabler_copy(opts->url_suffix, sizeof(opts->url_suffix),
                            "url_suffix", value);
    }
    if (relay && strcasecmp(key, "certificate_name") == 0) {
        return enabler_copy(opts->certificate_name,
                            sizeof(opts->certificate_name), "certificate_name",
                            value);
    }
    if (relay && strcasecmp(key, "certificate_company") == 0) {
        return enabler_copy(opts->certificate_company,
                            sizeof(opts->certificate_company),
                            "certificate_company", value);
    }
    if (relay && strcasecmp(key, "certificate_unit") == 0) {
        return enabler_copy(opts->certificate_unit,
                            sizeof(opts->certificate_unit), "certificate_unit",
                            value);
    }
    log_warn("enabler: %s key '%s' is not implemented and is ignored",
             relay ? "-cr" : "-cs", key);
    return 0;
}

static int enabler_pairs(struct enabler_options *opts, bool relay,
                         const char *text)
{
    char *copy = strdup(text);
    char *save = NULL;
    int rc = 0;

    if (copy == NULL) {
        return 2;
    }
    for (char *item = strtok_r(copy, ";", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');

        while (*item == ' ') {
            item++;
        }
        if (*item == '\0') {
            continue;
        }
        if (eq == NULL) {
            rc = enabler_usage("'%s' in -cr or -cs is not KEY=VALUE", item);
            break;
        }
        *eq = '\0';
        rc = enabler_pair(opts, relay, item, eq + 1);
    }
    free(copy);
    return rc;
}

/* Parses --admin ADDRESS:PORT, such as 127.0.0.1:9102 or [::1]:9102. */
static int enabler_admin_option(struct enabler_options *opts, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    const char *host = arg;
    size_t len = colon ? (size_t)(colon - arg) : 0;
    long port = 0;

    if (colon != NULL &&
        enabler_count("--admin port", colon + 1, 1, 65535, &port) != 0) {
        return 2;
    }
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (colon == NULL || len == 0 || len >= sizeof(opts->admin_host)) {
        return enabler_usage("invalid --admin '%s': give ADDRESS:PORT, such "
                             "as 127.0.0.1:9102",
                             arg);
    }
    memcpy(opts->admin_host, host, len);
    opts->admin_host[len] = '\0';
    opts->admin_port = (int)port;
    return 0;
}

static void enabler_defaults(struct enabler_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    strcpy(opts->relay.port, "443");
    opts->relay.tls = true;
    strcpy(opts->backend.port, "80");
    strcpy(opts->url_suffix, TUNNEL_SUFFIX_IIS);
    opts->verbosity = 2;
    opts->retry_base_ms = 1000;
    opts->retry_cap_ms = 60000;
    opts->max_retries = -1;
    opts->backend_timeout_ms = 60000;
    opts->backend_connections_max = 64;
    opts->max_streams = 1000;
    opts->shutdown_timeout_ms = 30000;
    opts->ping_interval_ms = 15000;
    opts->status_interval_ms = 5000;
    opts->ping_timeout_ms = 45000;
}

static int enabler_apply_number(struct enabler_options *opts, int c,
                                const char *arg)
{
    long value = 0;
    int rc = 0;

    switch (c) {
    case 'd':
        return enabler_seconds("--retry-delay", arg, &opts->retry_base_ms);
    case OPT_RETRY_MAX:
        return enabler_seconds("--retry-max-delay", arg, &opts->retry_cap_ms);
    case OPT_BACKEND_TIMEOUT:
        return enabler_seconds("--backend-timeout", arg,
                               &opts->backend_timeout_ms);
    case OPT_PING_INTERVAL:
        return enabler_seconds("--ping-interval", arg, &opts->ping_interval_ms);
    case OPT_PING_TIMEOUT:
        return enabler_seconds("--ping-timeout", arg, &opts->ping_timeout_ms);
    case OPT_STATUS_INTERVAL:
        return enabler_seconds("--status-interval", arg,
                               &opts->status_interval_ms);
    case OPT_MAX_RETRIES:
        rc = enabler_count("--max-retries", arg, 0, 1000000, &value);
        opts->max_retries = (int)value;
        return rc;
    case OPT_BACKEND_CONNECTIONS:
        rc = enabler_count("--backend-connections", arg, 1, 10000, &value);
        opts->backend_connections_max = (unsigned)value;
        return rc;
    case 'v':
        rc = enabler_count("--verbosity", arg, 0, 5, &value);
        opts->verbosity = (int)value;
        return rc;
    default:
        return 2;
    }
}

static int enabler_apply(struct enabler_options *opts, int c, const char *arg)
{
    switch (c) {
    case OPT_RELAY:
        return enabler_endpoint_url(&opts->relay, "--relay", arg,
                                    opts->url_suffix, sizeof(opts->url_suffix));
    case OPT_BACKEND:
        return enabler_endpoint_url(&opts->backend, "--backend", arg, NULL, 0);
    case 'f':
        return enabler_copy(opts->farm, sizeof(opts->farm), "the farm", arg);
    case OPT_ID:
        return enabler_copy(opts->id, sizeof(opts->id), "the server id", arg);
    case 't':
    case OPT_TOKEN_FILE:
    case OPT_TOKEN_ENV:
        return enabler_token(opts, c, arg);
    case OPT_CA_FILE:
        return enabler_copy(opts->ca_file, sizeof(opts->ca_file), "--ca-file",
                            arg);
    case OPT_BACKEND_CA_FILE:
        return enabler_copy(opts->backend_ca_file,
                            sizeof(opts->backend_ca_file), "--backend-ca-file",
                            arg);
    case OPT_ADMIN:
        return enabler_admin_option(opts, arg);
    case OPT_STATUS_URL:
        if (arg[0] != '/' || strpbrk(arg, " \t\r\n") != NULL) {
            return enabler_usage("invalid --status-url '%s': give a path on "
                                 "the backend, such as /health",
                                 arg);
        }
        return enabler_copy(opts->status_url, sizeof(opts->status_url),
                            "--status-url", arg);
    case OPT_URL_SUFFIX:
        return enabler_copy(opts->url_suffix, sizeof(opts->url_suffix),
                            "--url-suffix", arg);
    case OPT_CERT_NAME:
        return enabler_pair(opts, true, "certificate_name", arg);
    case OPT_CERT_COMPANY:
        return enabler_pair(opts, true, "certificate_company", arg);
    case OPT_CERT_UNIT:
        return enabler_pair(opts, true, "certificate_unit", arg);
    case OPT_CR:
    case OPT_CS:
        return enabler_pairs(opts, c == OPT_CR, arg);
    case 'o':
        return enabler_copy(opts->log_file, sizeof(opts->log_file),
                            "--log-file", arg);
    case OPT_INSECURE:
        opts->insecure_skip_verify = true;
        return 0;
    case OPT_PLAIN_TOKEN:
        opts->insecure_plain_token = true;
        return 0;
    case OPT_BACKEND_INSECURE:
        opts->backend_insecure_skip_verify = true;
        return 0;
    default:
        return enabler_apply_number(opts, c, arg);
    }
}

static int enabler_validate(const struct enabler_options *opts)
{
    if (opts->relay.host[0] == '\0') {
        return enabler_usage("%s", "the relay is missing: give --relay URL "
                                   "or -cr \"host=...;port=...\"");
    }
    if (opts->backend.host[0] == '\0') {
        return enabler_usage("%s", "the backend is missing: give --backend "
                                   "URL or -cs \"host=...;port=...\"");
    }
    if (opts->farm[0] == '\0' || opts->id[0] == '\0') {
        return enabler_usage("%s", "give the farm (--farm or -f) and the "
                                   "server id (--id or -id)");
    }
    if (opts->token[0] == '\0') {
        return enabler_usage("%s", "the token is missing: give --token-file "
                                   "FILE, --token-env NAME or -t @FILE");
    }
    if (!opts->relay.tls && !opts->insecure_plain_token) {
        log_error("enabler: refusing to send the token to %s:%s over plain "
                  "HTTP; use the relay's HTTPS port (https=1), or pass "
                  "--insecure-plain-token when the link is trusted",
                  opts->relay.host, opts->relay.port);
        return 2;
    }
    if (opts->ping_timeout_ms <= opts->ping_interval_ms) {
        return enabler_usage("%s", "--ping-timeout must be longer than "
                                   "--ping-interval");
    }
    if (opts->retry_cap_ms < opts->retry_base_ms) {
        return enabler_usage("%s", "--retry-max-delay must not be below "
                                   "--retry-delay");
    }
    if (opts->url_suffix[0] != '/') {
        return enabler_usage("invalid URL suffix '%s': it must start with /",
                             opts->url_suffix);
    }
    return 0;
}

int enabler_options_parse(int argc, char **argv, struct enabler_options *opts)
{
    int c;

    enabler_defaults(opts);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "h", enabler_longopts, NULL)) !=
           -1) {
        int rc;

        if (c == 'h') {
            fputs(enabler_help, stdout);
            return 1;
        }
        if (c == '?' || c == ':') {
            return enabler_usage("unknown option or missing value at '%s'",
                                 argv[optind - 1]);
        }
        rc = enabler_apply(opts, c, optarg);
        if (rc != 0) {
            return rc;
        }
    }
    if (optind < argc) {
        return enabler_usage("unexpected argument '%s'", argv[optind]);
    }
    return enabler_validate(opts);
}

void enabler_options_clear(struct enabler_options *opts)
{
    OPENSSL_cleanse(opts->token, sizeof(opts->token));
}
