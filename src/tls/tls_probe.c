#include "tls/tls_probe.h"

#include "common/log.h"
#include "tls/tls_load.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

bool tls_is_ip_address(const char *text)
{
    unsigned char addr[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, text, addr) == 1 ||
           inet_pton(AF_INET6, text, addr) == 1;
}

void tls_host_port_format(const char *host, const char *port, char *buf,
                          size_t size)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(buf, size, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
                     port);

    /* A name too long for BUF is cut; the check also tells GCC that the
     * cut is expected, which -Wformat-truncation asks for. */
    if (n < 0 || (size_t)n >= size) {
        buf[size - 1] = '\0';
    }
}

/* Checks a DNS name loosely because getaddrinfo makes the final check.
 * Characters such as spaces or '%' point to a mistyped URL. */
static bool tls_host_name_valid(const char *host)
{
    for (const char *p = host; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
            *p != '_') {
            return false;
        }
    }
    return true;
}

static int tls_url_port(const char *text, size_t len, struct tls_url *out,
                        char *why, size_t why_size)
{
    unsigned long port = 0;

    if (len == 0 || len > 5) {
        snprintf(why, why_size, "the port must be a number from 1 to 65535");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i])) {
            snprintf(why, why_size,
                     "the port must be a number from 1 to 65535");
            return -1;
        }
        port = port * 10 + (unsigned long)(text[i] - '0');
    }
    if (port == 0 || port > 65535) {
        snprintf(why, why_size, "the port must be a number from 1 to 65535");
        return -1;
    }
    snprintf(out->port, sizeof(out->port), "%lu", port);
    return 0;
}

/* Copies the LEN bytes of HOST into OUT and checks them: an IPv6 address
 * when BRACKETED, else an IPv4 address or a DNS name. */
static int tls_url_host(struct tls_url *out, const char *host, size_t len,
                        bool bracketed, char *why, size_t why_size)
{
    if (len == 0) {
        snprintf(why, why_size, "the host is missing");
        return -1;
    }
    if (len >= sizeof(out->host)) {
        snprintf(why, why_size, "the host is longer than 253 characters");
        return -1;
    }
    memcpy(out->host, host, len);
    out->host[len] = '\0';
    out->host_is_ip = tls_is_ip_address(out->host);
    if (bracketed && (!out->host_is_ip || strchr(out->host, ':') == NULL)) {
        snprintf(why, why_size, "'%s' in brackets is not an IPv6 address",
                 out->host);
        return -1;
    }
    if (!out->host_is_ip && !tls_host_name_valid(out->host)) {
        snprintf(why, why_size, "the host '%s' is not a valid DNS name",
                 out->host);
        return -1;
    }
    return 0;
}

/* Splits AUTHORITY (LEN bytes, "HOST[:PORT]" or "[V6][:PORT]") into OUT. */
static int tls_url_authority(const char *authority, size_t len,
                             struct tls_url *out, char *why, size_t why_size)
{
    const char *host = authority;
    const char *end = authority + len;
    const char *host_end;
    const char *colon;

    if (memchr(authority, '@', len) != NULL) {
        snprintf(why, why_size, "user names in the URL are not supported");
        return -1;
    }
    if (len > 0 && authority[0] == '[') {
        host = authority + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL) {
            snprintf(why, why_size, "the IPv6 address has no closing ']'");
            return -1;
        }
        colon = host_end + 1 < end ? host_end + 1 : NULL;
        if (colon != NULL && *colon != ':') {
            snprintf(why, why_size, "only ':PORT' may follow ']'");
            return -1;
        }
    } else {
        colon = memchr(authority, ':', len);
        host_end = colon != NULL ? colon : end;
        if (colon != NULL &&
            memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            snprintf(why, why_size,
                     "an IPv6 address must be in brackets, "
                     "as https://[::1]:8443/");
            return -1;
        }
    }
    if (tls_url_host(out, host, (size_t)(host_end - host), authority[0] == '[',
                     why, why_size) != 0) {
        return -1;
    }
    if (colon == NULL) {
        snprintf(out->port, sizeof(out->port), "443");
        return 0;
    }
    return tls_url_port(colon + 1, (size_t)(end - colon - 1), out, why,
                        why_size);
}

int tls_url_parse(const char *url, struct tls_url *out, char *why,
                  size_t why_size)
{
    static const char scheme[] = "https://";
    const char *authority;
    const char *sep = strstr(url, "://");

    memset(out, 0, sizeof(*out));
    if (strncasecmp(url, scheme, strlen(scheme)) != 0) {
        if (sep != NULL) {
            snprintf(why, why_size, "the scheme '%.*s' is not supported",
                     (int)(sep - url), url);
        } else {
            snprintf(why, why_size, "the scheme https:// is missing");
        }
        return -1;
    }
    authority = url + strlen(scheme);
    return tls_url_authority(authority, strcspn(authority, "/?#"), out, why,
                             why_size);
}

static long tls_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits for a non-blocking connect on FD to finish within TIMEOUT_MS.
 * Returns 0 or an errno value, ETIMEDOUT when the time ran out. */
static int tls_connect_wait(int fd, long timeout_ms)
{
    long deadline = tls_now_ms() + timeout_ms;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int error = 0;
    socklen_t len = sizeof(error);

    for (;;) {
        long left = deadline - tls_now_ms();
        int n;

        if (left <= 0) {
            return ETIMEDOUT;
        }
        n = poll(&pfd, 1, (int)left);
        if (n > 0) {
            break;
        }
        if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
        return errno;
    }
    return error;
}

/* Limits each blocking read and write on FD to SECONDS. */
static int tls_socket_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        return errno;
    }
    return 0;
}

/* Connects to AI within TIMEOUT_SECONDS. Returns 0 and sets *FD, or
 * returns an errno value. */
static int tls_connect_one(const struct addrinfo *ai, int timeout_seconds,
                           int *fd)
{
    int s =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    int error = 0;

    if (s < 0) {
        return errno;
    }
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
        error = errno == EINPROGRESS
                    ? tls_connect_wait(s, timeout_seconds * 1000L)
                    : errno;
    }
    if (error == 0) {
        error = tls_socket_timeouts(s, timeout_seconds);
    }
    if (error != 0) {
        close(s);
        return error;
    }
    *fd = s;
    return 0;
}

static void tls_address_format(const struct addrinfo *ai, char *buf,
                               size_t size)
{
    char host[INET6_ADDRSTRLEN];
    char port[8];

    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, size, "?");
        return;
    }
    tls_host_port_format(host, port, buf, size);
}

static const char *tls_connect_hint(int error)
{
    switch (error) {
    case ECONNREFUSED:
        return "nothing listens there: check that the server is running and "
               "that the URL has its port";
    case ETIMEDOUT:
        return "check that the host is up and that no firewall drops the "
               "connection, or raise --timeout";
    case ENETUNREACH:
    case EHOSTUNREACH:
        return "check this machine's network route to the host";
    default:
        return "check the host and port in the URL";
    }
}

/* Appends "ADDRESS: reason" for a failed attempt to TRIED. */
static void tls_connect_note(char *tried, size_t size, const char *address,
                             int error, int timeout_seconds)
{
    size_t used = strlen(tried);
    char reason[64];

    if (error == ETIMEDOUT) {
        snprintf(reason, sizeof(reason), "timed out after %d s",
                 timeout_seconds);
    } else {
        snprintf(reason, sizeof(reason), "%s", strerror(error));
    }
    snprintf(tried + used, size - used, "%s%s: %s", used > 0 ? ", " : "",
             address, reason);
}

static int tls_probe_connect(struct tls_probe *probe, const char *host,
                             const char *port, int timeout_seconds)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    char host_port[TLS_HOST_MAX + 8];
    char tried[1024] = "";
    int error = 0;
    int rc;

    tls_host_port_format(host, port, host_port, sizeof(host_port));
    rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        log_error("cannot resolve the host name of %s: %s; check the host in "
                  "the URL and this machine's DNS settings",
                  host_port,
                  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        tls_address_format(ai, probe->address, sizeof(probe->address));
        error = tls_connect_one(ai, timeout_seconds, &probe->fd);
        if (error == 0) {
            break;
        }
        log_info("connecting to %s for %s failed: %s", probe->address,
                 host_port, strerror(error));
        tls_connect_note(tried, sizeof(tried), probe->address, error,
                         timeout_seconds);
    }
    freeaddrinfo(list);
    if (error != 0) {
        log_error("cannot connect to %s (%s); %s", host_port, tried,
                  tls_connect_hint(error));
        return -1;
    }
    return 0;
}

/* Explains a failed SSL_connect whose SSL_get_error result is ERROR. */
static void tls_handshake_explain(const char *host_port, const char *address,
                                  int error, int timeout_seconds)
{
    char reason[256];

    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        log_error("the TLS handshake with %s (%s) timed out after %d s: the "
                  "server accepted the connection but did not answer; check "
                  "that this port serves TLS, or raise --timeout",
                  host_port, address, timeout_seconds);
        return;
    }
    if (error == SSL_ERROR_SYSCALL || ERR_peek_last_error() == 0) {
        ERR_clear_error();
        log_error("the TLS handshake with %s (%s) failed: the server closed "
                  "the connection (%s); check that this port serves TLS and "
                  "the server's log for the reason",
                  host_port, address,
                  errno != 0 ? strerror(errno) : "no TLS answer");
        return;
    }
    tls_error_string(reason, sizeof(reason));
    if (strstr(reason, "wrong version number") != NULL ||
        strstr(reason, "packet length too long") != NULL) {
        log_error("the TLS handshake with %s (%s) failed: %s; the port "
                  "answers with something other than TLS, such as plain "
                  "HTTP, so check the port and use http:// if it has no TLS",
                  host_port, address, reason);
    } else if (strstr(reason, "protocol version") != NULL ||
               strstr(reason, "unsupported protocol") != NULL) {
        log_error("the TLS handshake with %s (%s) failed: %s; the server "
                  "offers no TLS 1.2 or later, so upgrade its TLS settings",
                  host_port, address, reason);
    } else {
        log_error("the TLS handshake with %s (%s) failed: %s; check that "
                  "the server accepts TLS 1.2 or later without a client "
                  "certificate, and its log for the reason",
                  host_port, address, reason);
    }
}

static int tls_probe_handshake(struct tls_probe *probe, const char *host_port,
                               const char *servername, int timeout_seconds)
{
    char reason[256];
    int ret;

    probe->ctx = SSL_CTX_new(TLS_client_method());
    if (probe->ctx == NULL ||
        !SSL_CTX_set_min_proto_version(probe->ctx, TLS1_2_VERSION)) {
        goto fail;
    }
    /* The caller verifies the chain itself, after showing it. */
    SSL_CTX_set_verify(probe->ctx, SSL_VERIFY_NONE, NULL);
    probe->ssl = SSL_new(probe->ctx);
    if (probe->ssl == NULL || !SSL_set_fd(probe->ssl, probe->fd)) {
        goto fail;
    }
    /* RFC 6066 allows only DNS names in SNI, never IP addresses. */
    if (servername != NULL && !tls_is_ip_address(servername) &&
        !SSL_set_tlsext_host_name(probe->ssl, servername)) {
        goto fail;
    }
    ERR_clear_error();
    errno = 0;
    ret = SSL_connect(probe->ssl);
    if (ret != 1) {
        tls_handshake_explain(host_port, probe->address,
                              SSL_get_error(probe->ssl, ret), timeout_seconds);
        return -1;
    }
    return 0;

fail:
    tls_error_string(reason, sizeof(reason));
    log_error("cannot set up TLS for %s: %s", host_port, reason);
    return -1;
}

int tls_probe_open(struct tls_probe *probe, const char *host, const char *port,
                   const char *servername, int timeout_seconds)
{
    char host_port[TLS_HOST_MAX + 8];

    memset(probe, 0, sizeof(*probe));
    probe->fd = -1;
    tls_host_port_format(host, port, host_port, sizeof(host_port));
    if (tls_probe_connect(probe, host, port, timeout_seconds) != 0) {
        return -1;
    }
    return tls_probe_handshake(probe, host_port, servername, timeout_seconds);
}

void tls_probe_close(struct tls_probe *probe)
{
    if (probe->ssl != NULL && SSL_is_init_finished(probe->ssl)) {
        SSL_shutdown(probe->ssl);
    }
    SSL_free(probe->ssl);
    SSL_CTX_free(probe->ctx);
    if (probe->fd >= 0) {
        close(probe->fd);
    }
    memset(probe, 0, sizeof(*probe));
    probe->fd = -1;
}
