/*
 * Unit tests for src/relay/relay_proxy.c: the PROXY protocol parser
 * (versions 1 and 2 as HAProxy's proxy-protocol.txt specifies them: whole
 * headers, every split, invalid headers, bytes that are not a header) and
 * the networks of trusted_proxies. Each parse gets a heap buffer of exactly
 * the bytes under test, so that the sanitizer build catches a read past
 * them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/relay_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* The addresses that the headers of these tests carry. */
#define SOURCE_V4   "203.0.113.7"
#define DEST_V4     "192.0.2.1"
#define SOURCE_V6   "2001:db8::7"
#define DEST_V6     "2001:db8::1"
#define SOURCE_PORT 51234
#define DEST_PORT   443

/* Calls proxy_parse on a copy of the LEN bytes at DATA in a buffer of
 * exactly LEN bytes. *SOURCE is filled with 0xAA first, so that fields
 * the parser leaves unset are visible. */
static enum proxy_result parse_exact(const void *data, size_t len,
                                     struct sockaddr_storage *source,
                                     size_t *header_len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    enum proxy_result rc;

    assert_non_null(copy);
    memcpy(copy, data, len);
    memset(source, 0xAA, sizeof(*source));
    *header_len = 0;
    rc = proxy_parse(copy, len, source, header_len);
    free(copy);
    return rc;
}

static enum proxy_result parse_text(const char *text,
                                    struct sockaddr_storage *source,
                                    size_t *header_len)
{
    return parse_exact(text, strlen(text), source, header_len);
}

static const char *result_name(enum proxy_result rc)
{
    switch (rc) {
    case PROXY_NONE:
        return "PROXY_NONE";
    case PROXY_PARTIAL:
        return "PROXY_PARTIAL";
    case PROXY_COMPLETE:
        return "PROXY_COMPLETE";
    case PROXY_INVALID:
        return "PROXY_INVALID";
    }
    return "?";
}

static void assert_ipv4(const struct sockaddr_storage *source,
                        const char *address, unsigned port)
{
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)source;
    struct in_addr expected;

    assert_int_equal(source->ss_family, AF_INET);
    assert_int_equal(inet_pton(AF_INET, address, &expected), 1);
    assert_memory_equal(&in4->sin_addr, &expected, sizeof(expected));
    assert_int_equal(ntohs(in4->sin_port), port);
}

static void assert_ipv6(const struct sockaddr_storage *source,
                        const char *address, unsigned port)
{
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)source;
    struct in6_addr expected;

    assert_int_equal(source->ss_family, AF_INET6);
    assert_int_equal(inet_pton(AF_INET6, address, &expected), 1);
    assert_memory_equal(&in6->sin6_addr, &expected, sizeof(expected));
    assert_int_equal(ntohs(in6->sin6_port), port);
}

/* Checks that every proper prefix of the LEN bytes at HEADER is
 * PROXY_PARTIAL, and that the whole header is PROXY_COMPLETE with
 * header_len LEN, alone and followed by request bytes. */
static void assert_partial_until_complete(const uint8_t *header, size_t len)
{
    static const char request[] = "GET / HTTP/1.1\r\n";
    struct sockaddr_storage source;
    size_t header_len;
    uint8_t *longer = malloc(len + sizeof(request));
    enum proxy_result rc;

    assert_non_null(longer);
    for (size_t n = 1; n < len; n++) {
        rc = parse_exact(header, n, &source, &header_len);
        if (rc != PROXY_PARTIAL) {
            print_error("prefix of %zu of %zu bytes: %s\n", n, len,
                        result_name(rc));
        }
        assert_int_equal(rc, PROXY_PARTIAL);
    }
    assert_int_equal(parse_exact(header, len, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, len);

    memcpy(longer, header, len);
    memcpy(longer + len, request, sizeof(request) - 1);
    assert_int_equal(
        parse_exact(longer, len + sizeof(request) - 1, &source, &header_len),
        PROXY_COMPLETE);
    assert_int_equal(header_len, len);
    free(longer);
}

/* Prints TEXT with CR and LF written as \r and \n. */
static void print_text(const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '\r') {
            print_error("\\r");
        } else if (*c == '\n') {
            print_error("\\n");
        } else if (*c == '\t') {
            print_error("\\t");
        } else {
            print_error("%c", *c);
        }
    }
}

/* Parses each of the COUNT texts and checks that each is EXPECTED. Every
 * text with another result is printed before the test fails. */
static void assert_all_texts(const char *const *texts, size_t count,
                             enum proxy_result expected)
{
    struct sockaddr_storage source;
    size_t header_len;
    int wrong = 0;

    for (size_t i = 0; i < count; i++) {
        enum proxy_result rc = parse_text(texts[i], &source, &header_len);

        if (rc != expected) {
            print_error("\"");
            print_text(texts[i]);
            print_error("\": %s, expected %s\n", result_name(rc),
                        result_name(expected));
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

/* Version 1 */

static void test_v1_tcp4_complete(void **state)
{
    const char *text = "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n"
                       "GET / HTTP/1.1\r\n";
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(parse_text(text, &source, &header_len), PROXY_COMPLETE);
    assert_int_equal(header_len, strcspn(text, "\n") + 1);
    assert_ipv4(&source, SOURCE_V4, SOURCE_PORT);
}

static void test_v1_tcp4_longest(void **state)
{
    const char *text =
        "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(strlen(text), 56);
    assert_int_equal(parse_text(text, &source, &header_len), PROXY_COMPLETE);
    assert_int_equal(header_len, 56);
    assert_ipv4(&source, "255.255.255.255", 65535);
}

static void test_v1_tcp6_complete(void **state)
{
    const char *text = "PROXY TCP6 " SOURCE_V6 " " DEST_V6 " 51234 443\r\n"
                       "GET / HTTP/1.1\r\n";
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(parse_text(text, &source, &header_len), PROXY_COMPLETE);
    assert_int_equal(header_len, strcspn(text, "\n") + 1);
    assert_ipv6(&source, SOURCE_V6, SOURCE_PORT);
}

static void test_v1_tcp6_longest(void **state)
{
    const char *text = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0 65535\r\n";
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(parse_text(text, &source, &header_len), PROXY_COMPLETE);
    assert_int_equal(header_len, strlen(text));
    assert_ipv6(&source, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0);
}

static void test_v1_unknown(void **state)
{
    /* The short form, and the longest line the specification allows:
     * 107 bytes with the CRLF. */
    const char *texts[] = {
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    };
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(strlen(texts[1]), 107);
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        assert_int_equal(parse_text(texts[i], &source, &header_len),
                         PROXY_COMPLETE);
        assert_int_equal(header_len, strlen(texts[i]));
        assert_int_equal(source.ss_family, AF_UNSPEC);
    }
}

static void test_v1_every_split(void **state)
{
    const char *texts[] = {
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP6 " SOURCE_V6 " " DEST_V6 " 51234 443\r\n",
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        assert_partial_until_complete((const uint8_t *)texts[i],
                                      strlen(texts[i]));
    }
}

static void test_v1_no_crlf_within_107(void **state)
{
    char line[200];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    memset(line, 'f', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    assert_int_equal(parse_exact(line, 106, &source, &header_len),
                     PROXY_PARTIAL);
    assert_int_equal(parse_exact(line, 107, &source, &header_len),
                     PROXY_INVALID);
    assert_int_equal(parse_exact(line, sizeof(line), &source, &header_len),
                     PROXY_INVALID);

    /* A CRLF that ends a 108-byte line is not within the first 107 bytes,
     * so the line is as invalid as one that was cut at 107. */
    line[106] = '\r';
    line[107] = '\n';
    assert_int_equal(parse_exact(line, 107, &source, &header_len),
                     PROXY_INVALID);
    assert_int_equal(parse_exact(line, 108, &source, &header_len),
                     PROXY_INVALID);
}

static void test_v1_bare_cr_or_lf(void **state)
{
    /* A line must end with CRLF. A lone LF or CR must not end it, nor let
     * the header run on into the request line. */
    static const char *const texts[] = {
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\n"
        "GET / HTTP/1.1\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\r"
        "GET / HTTP/1.1\r\n",
        "PROXY UNKNOWN\n\r\n",
    };

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_INVALID);
}

static void test_v1_bad_ports(void **state)
{
    static const char *const texts[] = {
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 65536 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 99999999 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " -1 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " http 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 80x 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 0x50 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " +80 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 080 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 65536\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 https\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 -443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234\r\n",
        "PROXY TCP6 " SOURCE_V6 " " DEST_V6 " 70000 443\r\n",
        "PROXY TCP6 " SOURCE_V6 " " DEST_V6 " 51234 70000\r\n",
    };

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_INVALID);
}

static void test_v1_bad_addresses(void **state)
{
    static const char *const texts[] = {
        "PROXY TCP4 203.0.113 " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 203.0.113.256 " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 203.0.113.07 " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 localhost " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V6 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP6 " SOURCE_V4 " " DEST_V6 " 51234 443\r\n",
        "PROXY TCP6 2001:db8:::7 " DEST_V6 " 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " 192.0.2 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " 192.0.2.300 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V6 " 51234 443\r\n",
        "PROXY TCP6 " SOURCE_V6 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP6 " SOURCE_V6 " 2001:db8::g 51234 443\r\n",
    };

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_INVALID);
}

static void test_v1_garbage(void **state)
{
    static const char *const texts[] = {
        "PROXY X\r\n",
        "PROXY \r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 " SOURCE_V4 "\r\n",
        "PROXY TCP5 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "PROXY tcp4 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443 extra\r\n",
        "PROXY  TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 "  " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4\t" SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "PROXY TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443 \r\n",
    };

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_INVALID);
}

static void test_v1_garbage_without_crlf(void **state)
{
    /* "PROXY X" followed by more bytes but no CRLF: never complete. */
    char line[120];
    struct sockaddr_storage source;
    size_t header_len;
    enum proxy_result rc = PROXY_NONE;

    (void)state;
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY X", 7);
    for (size_t n = 1; n <= sizeof(line); n++) {
        rc = parse_exact(line, n, &source, &header_len);
        assert_true(rc == PROXY_PARTIAL || rc == PROXY_INVALID);
    }
    assert_int_equal(rc, PROXY_INVALID);
}

/* Bytes that are not a PROXY header */

static void test_not_proxy_data(void **state)
{
    static const uint8_t client_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00,
                                           0x01, 0x00, 0x01, 0xFC, 0x03};
    static const uint8_t almost_v2[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B,
                                        0x21, 0x11, 0x00, 0x0C};
    static const char *const texts[] = {
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /",
        "POST",
        "POST / HTTP/1.1\r\n",
        "PUT / HTTP/1.1\r\n",
        "PROXX",
        "proxy TCP4 " SOURCE_V4 " " DEST_V4 " 51234 443\r\n",
        "\r\n\r\nGET / HTTP/1.1\r\n",
    };
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_NONE);
    assert_int_equal(
        parse_exact(client_hello, sizeof(client_hello), &source, &header_len),
        PROXY_NONE);
    assert_int_equal(parse_exact(client_hello, 1, &source, &header_len),
                     PROXY_NONE);
    assert_int_equal(parse_exact(client_hello, 2, &source, &header_len),
                     PROXY_NONE);
    assert_int_equal(
        parse_exact(almost_v2, sizeof(almost_v2), &source, &header_len),
        PROXY_NONE);
}

static void test_prefix_is_partial(void **state)
{
    static const char *const texts[] = {
        "P", "PR", "PRO", "PROX", "PROXY", "PROXY ", "PROXY T", "PROXY TCP4 ",
    };
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_all_texts(texts, ARRAY_LEN(texts), PROXY_PARTIAL);
    for (size_t n = 1; n <= sizeof(v2_signature); n++) {
        assert_int_equal(parse_exact(v2_signature, n, &source, &header_len),
                         PROXY_PARTIAL);
    }
}

/* Version 2 */

/* Writes the 16 bytes that start a version 2 header to OUT. */
static void v2_start(uint8_t *out, uint8_t version_command, uint8_t family,
                     uint16_t length)
{
    memcpy(out, v2_signature, sizeof(v2_signature));
    out[12] = version_command;
    out[13] = family;
    out[14] = (uint8_t)(length >> 8);
    out[15] = (uint8_t)(length & 0xFF);
}

/* Writes a PROXY-command header for TCP over IPv4 from SOURCE_V4 to
 * DEST_V4, followed by the TLV_LEN bytes at TLVS, to OUT. Returns its
 * length. */
static size_t v2_ipv4(uint8_t *out, uint8_t version_command, uint8_t family,
                      const uint8_t *tlvs, size_t tlv_len)
{
    uint16_t sport = htons(SOURCE_PORT), dport = htons(DEST_PORT);

    v2_start(out, version_command, family, (uint16_t)(12 + tlv_len));
    assert_int_equal(inet_pton(AF_INET, SOURCE_V4, out + 16), 1);
    assert_int_equal(inet_pton(AF_INET, DEST_V4, out + 20), 1);
    memcpy(out + 24, &sport, 2);
    memcpy(out + 26, &dport, 2);
    if (tlv_len > 0) {
        memcpy(out + 28, tlvs, tlv_len);
    }
    return 28 + tlv_len;
}

/* The same for TCP over IPv6, from SOURCE_V6 to DEST_V6. */
static size_t v2_ipv6(uint8_t *out, const uint8_t *tlvs, size_t tlv_len)
{
    uint16_t sport = htons(SOURCE_PORT), dport = htons(DEST_PORT);

    v2_start(out, 0x21, 0x21, (uint16_t)(36 + tlv_len));
    assert_int_equal(inet_pton(AF_INET6, SOURCE_V6, out + 16), 1);
    assert_int_equal(inet_pton(AF_INET6, DEST_V6, out + 32), 1);
    memcpy(out + 48, &sport, 2);
    memcpy(out + 50, &dport, 2);
    if (tlv_len > 0) {
        memcpy(out + 52, tlvs, tlv_len);
    }
    return 52 + tlv_len;
}

/* PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "localhost" and a 3-byte
 * PP2_TYPE_NOOP. */
static const uint8_t sample_tlvs[] = {
    0x01, 0x00, 0x02, 'h', '2', 0x02, 0x00, 0x09, 'l', 'o', 'c', 'a',
    'l',  'h',  'o',  's', 't', 0x04, 0x00, 0x03, 0,   0,   0,
};

static void test_v2_proxy_ipv4(void **state)
{
    uint8_t header[64];
    size_t len = v2_ipv4(header, 0x21, 0x11, NULL, 0);
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(len, 28);
    assert_int_equal(parse_exact(header, len, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 28);
    assert_ipv4(&source, SOURCE_V4, SOURCE_PORT);
}

static void test_v2_proxy_ipv6(void **state)
{
    uint8_t header[64];
    size_t len = v2_ipv6(header, NULL, 0);
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    assert_int_equal(len, 52);
    assert_int_equal(parse_exact(header, len, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 52);
    assert_ipv6(&source, SOURCE_V6, SOURCE_PORT);
}

static void test_v2_local(void **state)
{
    uint8_t header[64];
    size_t len;
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    v2_start(header, 0x20, 0x00, 0);
    assert_int_equal(parse_exact(header, 16, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 16);
    assert_int_equal(source.ss_family, AF_UNSPEC);

    /* A LOCAL header may still carry an address block, which is skipped
     * and ignored. */
    len = v2_ipv4(header, 0x20, 0x11, NULL, 0);
    assert_int_equal(parse_exact(header, len, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 28);
    assert_int_equal(source.ss_family, AF_UNSPEC);
}

static void test_v2_unspec_family(void **state)
{
    uint8_t header[16];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    v2_start(header, 0x21, 0x00, 0);
    assert_int_equal(parse_exact(header, 16, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 16);
    assert_int_equal(source.ss_family, AF_UNSPEC);
}

static void test_v2_unix_family(void **state)
{
    /* A receiver that does not support AF_UNIX (0x31, 0x32) must treat it
     * as UNSPEC: accept the header and keep the connection's address. */
    uint8_t header[16 + 216];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    memset(header, 0, sizeof(header));
    for (uint8_t family = 0x31; family <= 0x32; family++) {
        v2_start(header, 0x21, family, 216);
        memcpy(header + 16, "/run/client.sock", 16);
        memcpy(header + 16 + 108, "/run/relay.sock", 15);
        assert_int_equal(
            parse_exact(header, sizeof(header), &source, &header_len),
            PROXY_COMPLETE);
        assert_int_equal(header_len, sizeof(header));
        assert_int_equal(source.ss_family, AF_UNSPEC);
    }
}

static void test_v2_tlvs(void **state)
{
    static const char request[] = "GET / HTTP/1.1\r\n";
    uint8_t header[256];
    size_t len = v2_ipv4(header, 0x21, 0x11, sample_tlvs, sizeof(sample_tlvs));
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    memcpy(header + len, request, sizeof(request) - 1);
    assert_int_equal(
        parse_exact(header, len + sizeof(request) - 1, &source, &header_len),
        PROXY_COMPLETE);
    assert_int_equal(header_len, 28 + sizeof(sample_tlvs));
    assert_ipv4(&source, SOURCE_V4, SOURCE_PORT);

    len = v2_ipv6(header, sample_tlvs, sizeof(sample_tlvs));
    assert_int_equal(parse_exact(header, len, &source, &header_len),
                     PROXY_COMPLETE);
    assert_int_equal(header_len, 52 + sizeof(sample_tlvs));
    assert_ipv6(&source, SOURCE_V6, SOURCE_PORT);
}

static void test_v2_bad_version(void **state)
{
    static const uint8_t versions[] = {0x01, 0x11, 0x31, 0xF1};
    uint8_t header[64];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    for (size_t i = 0; i < sizeof(versions); i++) {
        size_t len = v2_ipv4(header, versions[i], 0x11, NULL, 0);

        assert_int_equal(parse_exact(header, len, &source, &header_len),
                         PROXY_INVALID);
        /* The version byte decides before the address block arrives. */
        assert_int_equal(parse_exact(header, 16, &source, &header_len),
                         PROXY_INVALID);
    }
}

static void test_v2_bad_command(void **state)
{
    static const uint8_t commands[] = {0x22, 0x23, 0x2F};
    uint8_t header[64];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    for (size_t i = 0; i < sizeof(commands); i++) {
        size_t len = v2_ipv4(header, commands[i], 0x11, NULL, 0);

        assert_int_equal(parse_exact(header, len, &source, &header_len),
                         PROXY_INVALID);
    }
}

static void test_v2_bad_family(void **state)
{
    /* Address families above 3 and transport protocols above 2 are
     * unassigned, and proxy-protocol.txt requires receivers to reject them. */
    static const uint8_t families[] = {0x41, 0xF1, 0x13, 0x14, 0x1F};
    uint8_t header[64];
    struct sockaddr_storage source;
    size_t header_len;
    int wrong = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(families); i++) {
        size_t len = v2_ipv4(header, 0x21, families[i], NULL, 0);
        enum proxy_result rc = parse_exact(header, len, &source, &header_len);

        if (rc != PROXY_INVALID) {
            print_error("family byte 0x%02X: %s\n", families[i],
                        result_name(rc));
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

static void test_v2_short_address_block(void **state)
{
    uint8_t header[64];
    struct sockaddr_storage source;
    size_t header_len;

    (void)state;
    v2_ipv4(header, 0x21, 0x11, NULL, 0);
    header[15] = 8; /* the 12-byte IPv4 block cut to 8 */
    assert_int_equal(parse_exact(header, 24, &source, &header_len),
                     PROXY_INVALID);

    v2_ipv6(header, NULL, 0);
    header[15] = 12; /* the 36-byte IPv6 block cut to 12 */
    assert_int_equal(parse_exact(header, 28, &source, &header_len),
                     PROXY_INVALID);
}

static void test_v2_length_over_max(void **state)
{
    uint8_t header[PROXY_HEADER_MAX + 1];
    struct sockaddr_storage source;
    size_t header_len;
    size_t tlv_len;

    (void)state;
    /* Invalid as soon as the length field arrives. */
    v2_start(header, 0x21, 0x11, (uint16_t)(PROXY_HEADER_MAX - 16 + 1));
    assert_int_equal(parse_exact(header, 16, &source, &header_len),
                     PROXY_INVALID);
    v2_start(header, 0x21, 0x11, 0xFFFF);
    assert_int_equal(parse_exact(header, 16, &source, &header_len),
                     PROXY_INVALID);

    /* A header of exactly PROXY_HEADER_MAX bytes, padded with a NOOP TLV,
     * is accepted. */
    tlv_len = PROXY_HEADER_MAX - 28;
    memset(header, 0, sizeof(header));
    v2_ipv4(header, 0x21, 0x11, NULL, 0);
    v2_start(header, 0x21, 0x11, (uint16_t)(12 + tlv_len));
    header[28] = 0x04;
    header[29] = (uint8_t)((tlv_len - 3) >> 8);
    header[30] = (uint8_t)((tlv_len - 3) & 0xFF);
    assert_int_equal(
        parse_exact(header, PROXY_HEADER_MAX, &source, &header_len),
        PROXY_COMPLETE);
    assert_int_equal(header_len, PROXY_HEADER_MAX);
    assert_ipv4(&source, SOURCE_V4, SOURCE_PORT);
    assert_partial_until_complete(header, PROXY_HEADER_MAX);
}

static void test_v2_every_split(void **state)
{
    uint8_t header[256];
    size_t len;

    (void)state;
    len = v2_ipv4(header, 0x21, 0x11, NULL, 0);
    assert_partial_until_complete(header, len);
    len = v2_ipv4(header, 0x21, 0x11, sample_tlvs, sizeof(sample_tlvs));
    assert_partial_until_complete(header, len);
    len = v2_ipv6(header, sample_tlvs, sizeof(sample_tlvs));
    assert_partial_until_complete(header, len);
    v2_start(header, 0x20, 0x00, 0);
    assert_partial_until_complete(header, 16);
}

/* Networks */

static void test_network_parse_addresses(void **state)
{
    struct proxy_network network;
    uint8_t expected[16];

    (void)state;
    assert_int_equal(proxy_network_parse("127.0.0.2", &network), 0);
    assert_int_equal(network.family, AF_INET);
    assert_int_equal(network.prefix, 32);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.2", expected), 1);
    assert_memory_equal(network.address, expected, 4);

    assert_int_equal(proxy_network_parse("fd00::1", &network), 0);
    assert_int_equal(network.family, AF_INET6);
    assert_int_equal(network.prefix, 128);
    assert_int_equal(inet_pton(AF_INET6, "fd00::1", expected), 1);
    assert_memory_equal(network.address, expected, 16);
}

static void test_network_parse_prefixes(void **state)
{
    static const struct {
        const char *text;
        int family;
        unsigned prefix;
    } cases[] = {
        {"0.0.0.0/0", AF_INET, 0},
        {"10.0.0.0/8", AF_INET, 8},
        {"10.1.0.0/15", AF_INET, 15},
        {"192.0.2.1/32", AF_INET, 32},
        {"::/0", AF_INET6, 0},
        {"fd00::/8", AF_INET6, 8},
        {"2001:db8::/33", AF_INET6, 33},
        {"2001:db8::1/128", AF_INET6, 128},
        {"::ffff:10.0.0.0/104", AF_INET6, 104},
    };
    struct proxy_network network;

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        if (proxy_network_parse(cases[i].text, &network) != 0) {
            print_error("\"%s\" rejected\n", cases[i].text);
        }
        assert_int_equal(proxy_network_parse(cases[i].text, &network), 0);
        assert_int_equal(network.family, cases[i].family);
        assert_int_equal(network.prefix, cases[i].prefix);
    }
}

static void test_network_parse_invalid(void **state)
{
    static const char *const texts[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/x",
        "10.0.0.0/8x",
        "10.0.0.0/-1",
        "10.0.0.0/33",
        "10.0.0.0/8/8",
        "::/129",
        "fd00::/x",
        "fd00::/",
        "10.0.0/8",
        "256.0.0.0/8",
        "localhost",
        "fd00:::/8",
    };
    struct proxy_network network;
    int wrong = 0;

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        if (proxy_network_parse(texts[i], &network) != -1) {
            print_error("\"%s\" accepted\n", texts[i]);
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

/* Parses TEXT, an IPv4 or IPv6 address, into *ADDR. */
static const struct sockaddr *make_addr(const char *text,
                                        struct sockaddr_storage *addr)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(40000);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(40000);
    }
    return (const struct sockaddr *)addr;
}

struct contain_case {
    const char *address;
    bool contained;
};

/* Parses the COUNT network texts and checks each address of CASES
 * against them. Every address with the wrong answer is printed before the
 * test fails. */
static void assert_contain(const char *const *texts, size_t count,
                           const struct contain_case *cases, size_t case_count)
{
    struct proxy_network networks[8];
    struct sockaddr_storage addr;
    int wrong = 0;

    assert_true(count <= ARRAY_LEN(networks));
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(proxy_network_parse(texts[i], &networks[i]), 0);
    }
    for (size_t i = 0; i < case_count; i++) {
        bool contained = proxy_networks_contain(
            networks, count, make_addr(cases[i].address, &addr));

        if (contained != cases[i].contained) {
            print_error("%s: %s, expected %s\n", cases[i].address,
                        contained ? "contained" : "not contained",
                        cases[i].contained ? "contained" : "not contained");
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

static void test_contain_ipv4(void **state)
{
    static const char *const networks[] = {"127.0.0.2", "10.0.0.0/8"};
    static const struct contain_case cases[] = {
        {"127.0.0.2", true},      {"127.0.0.1", false},
        {"127.0.0.3", false},     {"10.0.0.0", true},
        {"10.255.255.255", true}, {"11.0.0.0", false},
        {"9.255.255.255", false}, {"2001:db8::1", false},
    };

    (void)state;
    assert_contain(networks, ARRAY_LEN(networks), cases, ARRAY_LEN(cases));
}

static void test_contain_ipv6(void **state)
{
    static const char *const networks[] = {"fd00::/8", "2001:db8::1"};
    static const struct contain_case cases[] = {
        {"fd00::", true},       {"fd12:3456::1", true}, {"fdff::1", true},
        {"fe00::1", false},     {"fc00::1", false},     {"2001:db8::1", true},
        {"2001:db8::2", false}, {"::1", false},         {"127.0.0.1", false},
    };

    (void)state;
    assert_contain(networks, ARRAY_LEN(networks), cases, ARRAY_LEN(cases));
}

static void test_contain_mapped_ipv4(void **state)
{
    static const char *const networks[] = {"127.0.0.2", "10.0.0.0/8"};
    static const struct contain_case cases[] = {
        {"::ffff:127.0.0.2", true},
        {"::ffff:127.0.0.1", false},
        {"::ffff:10.1.2.3", true},
        {"::ffff:11.0.0.1", false},
        /* IPv4-compatible (::a.b.c.d) is not IPv4-mapped. */
        {"::10.1.2.3", false},
        {"::127.0.0.2", false},
        {"::fffe:10.1.2.3", false},
    };

    (void)state;
    assert_contain(networks, ARRAY_LEN(networks), cases, ARRAY_LEN(cases));
}

static void test_contain_odd_prefixes(void **state)
{
    static const char *const networks[] = {"10.1.0.0/15", "192.0.2.128/25",
                                           "fd80::/9", "2001:db8::/33"};
    static const struct contain_case cases[] = {
        {"10.0.0.0", true},          {"10.0.255.255", true},
        {"10.1.0.0", true},          {"10.1.255.255", true},
        {"10.2.0.0", false},         {"10.3.0.1", false},
        {"9.255.255.255", false},    {"11.1.0.0", false},
        {"192.0.2.128", true},       {"192.0.2.255", true},
        {"192.0.2.127", false},      {"192.0.3.128", false},
        {"fd80::1", true},           {"fdff:ffff::1", true},
        {"fd7f::1", false},          {"fe80::1", false},
        {"2001:db8::1", true},       {"2001:db8:7fff::1", true},
        {"2001:db8:8000::1", false}, {"2001:db9::1", false},
        {"::ffff:10.0.0.1", true},   {"::ffff:10.2.0.1", false},
    };

    (void)state;
    assert_contain(networks, ARRAY_LEN(networks), cases, ARRAY_LEN(cases));
}

static void test_contain_whole_and_exact(void **state)
{
    static const char *const v4_all[] = {"0.0.0.0/0"};
    static const struct contain_case v4_cases[] = {
        {"0.0.0.0", true},      {"255.255.255.255", true},
        {"203.0.113.7", true},  {"::ffff:203.0.113.7", true},
        {"2001:db8::7", false},
    };
    static const char *const v6_all[] = {"::/0"};
    static const struct contain_case v6_cases[] = {
        {"::1", true},
        {"2001:db8::7", true},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
        {"203.0.113.7", false},
    };
    static const char *const exact[] = {"192.0.2.1/32", "2001:db8::1/128"};
    static const struct contain_case exact_cases[] = {
        {"192.0.2.1", true},   {"192.0.2.0", false},  {"192.0.2.2", false},
        {"2001:db8::1", true}, {"2001:db8::", false}, {"2001:db8::3", false},
    };

    (void)state;
    assert_contain(v4_all, 1, v4_cases, ARRAY_LEN(v4_cases));
    assert_contain(v6_all, 1, v6_cases, ARRAY_LEN(v6_cases));
    assert_contain(exact, 2, exact_cases, ARRAY_LEN(exact_cases));
}

static void test_contain_no_networks(void **state)
{
    struct proxy_network network;
    struct sockaddr_storage addr;
    struct sockaddr_un un;

    (void)state;
    assert_int_equal(proxy_network_parse("0.0.0.0/0", &network), 0);
    assert_false(
        proxy_networks_contain(&network, 0, make_addr("127.0.0.1", &addr)));

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    assert_false(
        proxy_networks_contain(&network, 1, (const struct sockaddr *)&un));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4_complete),
        cmocka_unit_test(test_v1_tcp4_longest),
        cmocka_unit_test(test_v1_tcp6_complete),
        cmocka_unit_test(test_v1_tcp6_longest),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_every_split),
        cmocka_unit_test(test_v1_no_crlf_within_107),
        cmocka_unit_test(test_v1_bare_cr_or_lf),
        cmocka_unit_test(test_v1_bad_ports),
        cmocka_unit_test(test_v1_bad_addresses),
        cmocka_unit_test(test_v1_garbage),
        cmocka_unit_test(test_v1_garbage_without_crlf),
        cmocka_unit_test(test_not_proxy_data),
        cmocka_unit_test(test_prefix_is_partial),
        cmocka_unit_test(test_v2_proxy_ipv4),
        cmocka_unit_test(test_v2_proxy_ipv6),
        cmocka_unit_test(test_v2_local),
        cmocka_unit_test(test_v2_unspec_family),
        cmocka_unit_test(test_v2_unix_family),
        cmocka_unit_test(test_v2_tlvs),
        cmocka_unit_test(test_v2_bad_version),
        cmocka_unit_test(test_v2_bad_command),
        cmocka_unit_test(test_v2_bad_family),
        cmocka_unit_test(test_v2_short_address_block),
        cmocka_unit_test(test_v2_length_over_max),
        cmocka_unit_test(test_v2_every_split),
        cmocka_unit_test(test_network_parse_addresses),
        cmocka_unit_test(test_network_parse_prefixes),
        cmocka_unit_test(test_network_parse_invalid),
        cmocka_unit_test(test_contain_ipv4),
        cmocka_unit_test(test_contain_ipv6),
        cmocka_unit_test(test_contain_mapped_ipv4),
        cmocka_unit_test(test_contain_odd_prefixes),
        cmocka_unit_test(test_contain_whole_and_exact),
        cmocka_unit_test(test_contain_no_networks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
