#include "cert/cert_inspect.h"

#include <arpa/inet.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CERT_SECONDS_PER_DAY 86400L

void cert_inspect_time(const ASN1_TIME *time, char *buf, size_t size)
{
    struct tm tm;

    if (time == NULL || !ASN1_TIME_to_tm(time, &tm) ||
        strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(buf, size, "invalid time");
    }
}

int cert_inspect_days_until(const ASN1_TIME *time, int *days)
{
    int day = 0;
    int sec = 0;
    long total;

    if (time == NULL || !ASN1_TIME_diff(&day, &sec, NULL, time)) {
        return -1;
    }
    total = (long)day * CERT_SECONDS_PER_DAY + sec;
    if (total > 0) {
        *days =
            (int)((total + CERT_SECONDS_PER_DAY - 1) / CERT_SECONDS_PER_DAY);
    } else {
        *days = (int)(total / CERT_SECONDS_PER_DAY);
    }
    return 0;
}

/* Writes one DNS name or IP address of NAME into BUF. Returns 0, or -1 for
 * other name types. */
static int cert_inspect_name(const GENERAL_NAME *name, char *buf, size_t size)
{
    char addr[INET6_ADDRSTRLEN];
    const ASN1_OCTET_STRING *ip;

    if (name->type == GEN_DNS) {
        snprintf(buf, size, "DNS:%.*s", ASN1_STRING_length(name->d.dNSName),
                 (const char *)ASN1_STRING_get0_data(name->d.dNSName));
        return 0;
    }
    if (name->type != GEN_IPADD) {
        return -1;
    }
    ip = name->d.iPAddress;
    if (ASN1_STRING_length(ip) == 4) {
        inet_ntop(AF_INET, ASN1_STRING_get0_data(ip), addr, sizeof(addr));
    } else if (ASN1_STRING_length(ip) == 16) {
        inet_ntop(AF_INET6, ASN1_STRING_get0_data(ip), addr, sizeof(addr));
    } else {
        snprintf(addr, sizeof(addr), "(invalid length %d)",
                 ASN1_STRING_length(ip));
    }
    snprintf(buf, size, "IP:%s", addr);
    return 0;
}

void cert_inspect_names(const GENERAL_NAMES *names, char *buf, size_t size)
{
    char entry[300];
    size_t used = 0;
    int n;

    buf[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        if (cert_inspect_name(sk_GENERAL_NAME_value(names, i), entry,
                              sizeof(entry)) != 0) {
            continue;
        }
        n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", entry);
        if (n < 0 || (size_t)n >= size - used) {
            break;
        }
        used += (size_t)n;
    }
    if (used == 0) {
        snprintf(buf, size, "none");
    }
}

void cert_inspect_san(const X509 *cert, char *buf, size_t size)
{
    GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

    cert_inspect_names(names, buf, size);
    GENERAL_NAMES_free(names);
}

bool cert_inspect_has_dns_san(const X509 *cert)
{
    GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;

    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        if (sk_GENERAL_NAME_value(names, i)->type == GEN_DNS) {
            found = true;
        }
    }
    GENERAL_NAMES_free(names);
    return found;
}

void cert_inspect_ext_key_usage(const X509 *cert, char *buf, size_t size)
{
    EXTENDED_KEY_USAGE *eku =
        X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    char oid[128];
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);

        if (nid != NID_undef) {
            snprintf(oid, sizeof(oid), "%s", OBJ_nid2sn(nid));
        } else {
            OBJ_obj2txt(oid, sizeof(oid), obj, 1);
        }
        snprintf(buf + used, size - used, "%s%s", used ? ", " : "", oid);
        used = strlen(buf);
    }
    if (used == 0) {
        snprintf(buf, size, "none");
    }
    EXTENDED_KEY_USAGE_free(eku);
}

void cert_inspect_common_name(const X509_NAME *name, char *buf, size_t size)
{
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    const ASN1_STRING *value;

    buf[0] = '\0';
    if (i < 0) {
        return;
    }
    value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    snprintf(buf, size, "%.*s", ASN1_STRING_length(value),
             (const char *)ASN1_STRING_get0_data(value));
}

const char *cert_inspect_sig_name(int sig_nid)
{
    const char *name = OBJ_nid2ln(sig_nid);

    return name != NULL ? name : "unknown";
}

int cert_inspect_sig_digest(int sig_nid)
{
    int digest = NID_undef;
    int pkey = NID_undef;

    if (!OBJ_find_sigid_algs(sig_nid, &digest, &pkey)) {
        return NID_undef;
    }
    return digest;
}

bool cert_inspect_digest_weak(int digest_nid)
{
    return digest_nid == NID_sha1 || digest_nid == NID_md5 ||
           digest_nid == NID_md4 || digest_nid == NID_md2 ||
           digest_nid == NID_md5_sha1;
}
