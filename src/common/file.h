/*
 * Reading small files: certificates, keys, password and token files.
 */
#ifndef DRAWBRIDGE_FILE_H
#define DRAWBRIDGE_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest file that file_read accepts: 16 MiB, far above any certificate
 * bundle, so a wrong path such as a disk image fails fast. */
#define FILE_READ_MAX (16u * 1024 * 1024)

/* Reads all of PATH into a new buffer, NUL-terminated for convenience.
 * Returns 0 and sets *DATA (free with free()) and *LEN, or logs what failed
 * on PATH and returns -1. A file larger than MAX bytes is an error. */
int file_read(const char *path, size_t max, char **data, size_t *len);

/* Reads the first line of PATH, without its line ending, into BUF of SIZE
 * bytes. Used for password and token files. Returns 0, or logs the cause
 * and returns -1 when the file cannot be read, is empty or has a line that
 * does not fit. The caller should wipe BUF with OPENSSL_cleanse after use. */
int file_read_secret(const char *path, char *buf, size_t size);

/* Returns true when PATH grants any permission to group or others. Sets
 * *MODE to the permission bits when MODE is not NULL. Returns false when
 * PATH cannot be examined. */
bool file_is_exposed(const char *path, unsigned *mode);

#endif
