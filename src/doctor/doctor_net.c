#include "doctor/doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connects FD to AI within DOCTOR_TIMEOUT_SECONDS, then makes it blocking
 * with read and write timeouts. Returns 0 or an errno value. */
static int doctor_connect_one(int fd, const struct addrinfo *ai)
{
    struct timeval tv = {DOCTOR_TIMEOUT_SECONDS, 0};
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    socklen_t len = sizeof(int);
    int flags = fcntl(fd, F_GETFL);
    int error = 0;

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return errno;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            return errno;
        }
        if (poll(&pfd, 1, DOCTOR_TIMEOUT_SECONDS * 1000) != 1) {
            return ETIMEDOUT;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
            return errno;
        }
        if (error != 0) {
            return error;
        }
    }
    if (fcntl(fd, F_SETFL, flags) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        return errno;
    }
    return 0;
}

int doctor_tcp_connect(const char *host, const char *port, int *fd, char *why,
                       size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int error = ECONNREFUSED;
    int rc = getaddrinfo(host, port, &hints, &list);

    *fd = -1;
    if (rc != 0) {
        snprintf(why, size, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        *fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (*fd < 0) {
            error = errno;
            continue;
        }
        error = doctor_connect_one(*fd, ai);
        if (error == 0) {
            break;
        }
        close(*fd);
        *fd = -1;
    }
    freeaddrinfo(list);
    if (*fd < 0) {
        snprintf(why, size, "cannot connect to %s port %s: %s", host, port,
                 strerror(error));
        return -1;
    }
    return 0;
}

static int doctor_conn_write(struct doctor_conn *conn, const char *data,
                             size_t len)
{
    while (len > 0) {
        ssize_t n = conn->ssl ? SSL_write(conn->ssl, data, (int)len)
                              : write(conn->fd, data, len);

        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t doctor_conn_read(struct doctor_conn *conn, char *buf,
                                size_t size)
{
    ssize_t n;

    if (conn->ssl == NULL) {
        return read(conn->fd, buf, size);
    }
    n = SSL_read(conn->ssl, buf, (int)size);
    ERR_clear_error();
    return n;
}

/* Fills RESPONSE's status and body from the LEN bytes of RAW. Returns true
 * when the response is complete by its Content-Length. */
static bool doctor_response_parse(const char *raw, size_t len,
                                  struct doctor_response *response)
{
    const char *end = memmem(raw, len, "\r\n\r\n", 4);
    const char *field;
    size_t head_len;
    size_t body_len;
    long expected = -1;

    if (end == NULL) {
        return false;
    }
    head_len = (size_t)(end - raw);
    snprintf(response->head, sizeof(response->head), "%.*s", (int)head_len,
             raw);
    if (sscanf(raw, "HTTP/1.%*d %d", &response->status) != 1) {
        response->status = 0;
    }
    field = strcasestr(response->head, "\r\ncontent-length:");
    if (field != NULL) {
        expected = strtol(field + 17, NULL, 10);
    }
    body_len = len - head_len - 4;
    snprintf(response->body, sizeof(response->body), "%.*s", (int)body_len,
             end + 4);
    body_len = strlen(response->body);
    while (body_len > 0 && strchr("\r\n ", response->body[body_len - 1])) {
        response->body[--body_len] = '\0';
    }
    body_len = len - head_len - 4;
    return expected >= 0 && body_len >= (size_t)expected;
}

int doctor_http_exchange(struct doctor_conn *conn, const char *request,
                         size_t len, struct doctor_response *response,
                         char *why, size_t size)
{
    char raw[32768];
    size_t used = 0;
    bool complete = false;

    memset(response, 0, sizeof(*response));
    if (doctor_conn_write(conn, request, len) != 0) {
        snprintf(why, size, "sending the request failed: %s", strerror(errno));
        return -1;
    }
    while (!complete && used + 1 < sizeof(raw)) {
        ssize_t n = doctor_conn_read(conn, raw + used, sizeof(raw) - 1 - used);

        if (n <= 0) {
            break;
        }
        used += (size_t)n;
        complete = doctor_response_parse(raw, used, response);
    }
    if (!complete) {
        (void)doctor_response_parse(raw, used, response);
    }
    if (response->status == 0) {
        snprintf(why, size, "%s",
                 used == 0 ? "the connection closed without a response"
                           : "the response has no HTTP status line");
        return -1;
    }
    return 0;
}
