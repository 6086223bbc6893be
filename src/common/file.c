#include "common/file.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int file_read(const char *path, size_t max, char **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t used = 0;
    size_t cap = 0;
    int rc = -1;

    if (fp == NULL) {
        log_error("cannot open %s: %s; check the path and its permissions",
                  path, strerror(errno));
        return -1;
    }

    for (;;) {
        if (used == cap) {
            size_t next = cap == 0 ? 8192 : cap * 2;
            char *grown;

            if (cap >= max + 1) {
                log_error("%s is larger than %zu bytes; check that it is the "
                          "intended file",
                          path, max);
                goto out;
            }
            grown = realloc(buf, next + 1);
            if (grown == NULL) {
                log_error("out of memory while reading %s", path);
                goto out;
            }
            buf = grown;
            cap = next;
        }
        size_t n = fread(buf + used, 1, cap - used, fp);
        used += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        log_error("cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (used > max) {
        log_error("%s is larger than %zu bytes; check that it is the "
                  "intended file",
                  path, max);
        goto out;
    }

    buf[used] = '\0';
    *data = buf;
    *len = used;
    buf = NULL;
    rc = 0;

out:
    free(buf);
    fclose(fp);
    return rc;
}

int file_read_secret(const char *path, char *buf, size_t size)
{
    char *data = NULL;
    size_t len = 0;
    size_t line = 0;
    int rc = -1;

    if (file_read(path, 64 * 1024, &data, &len) != 0) {
        return -1;
    }
    while (line < len && data[line] != '\n' && data[line] != '\r') {
        line++;
    }
    if (line == 0) {
        log_error("%s is empty; write the secret on its first line", path);
        goto out;
    }
    if (line >= size) {
        log_error("the first line of %s is longer than %zu bytes; shorten "
                  "the secret",
                  path, size - 1);
        goto out;
    }
    memcpy(buf, data, line);
    buf[line] = '\0';
    rc = 0;

out:
    explicit_bzero(data, len);
    free(data);
    return rc;
}

bool file_is_exposed(const char *path, unsigned *mode)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        return false;
    }
    if (mode != NULL) {
        *mode = (unsigned)(st.st_mode & 07777);
    }
    return (st.st_mode & 077) != 0;
}
