/*
 * Unit tests for src/common/file.c: whole-file reads with a size limit,
 * first-line secrets and permission checks. Each test works in its own
 * mkdtemp directory, which the teardown removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/file.h"
#include "common/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_fixture {
    char dir[64];
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
};

static int fixture_setup(void **state)
{
    struct file_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/drawbridge-test-file-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    fx->log_stream = open_memstream(&fx->log_buf, &fx->log_size);
    if (fx->log_stream == NULL) {
        rmdir(fx->dir);
        free(fx);
        return -1;
    }
    log_set_stream(fx->log_stream);
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct file_fixture *fx = *state;
    DIR *dir = opendir(fx->dir);
    struct dirent *entry;

    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        char path[512];

        if (strcmp(entry->d_name, ".") == 0 ||
            strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", fx->dir, entry->d_name);
        if (remove(path) != 0) {
            fprintf(stderr, "cannot remove %s\n", path);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    rmdir(fx->dir);
    log_set_stream(NULL);
    fclose(fx->log_stream);
    free(fx->log_buf);
    free(fx);
    return 0;
}

/* Returns everything logged so far in this test. */
static const char *logged(struct file_fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf;
}

/* Creates NAME in the fixture directory with LEN bytes of DATA and MODE,
 * and writes its path into PATH. */
static void make_file(struct file_fixture *fx, const char *name,
                      const void *data, size_t len, mode_t mode, char *path,
                      size_t path_size)
{
    FILE *fp;

    snprintf(path, path_size, "%s/%s", fx->dir, name);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void make_text_file(struct file_fixture *fx, const char *name,
                           const char *text, char *path, size_t path_size)
{
    make_file(fx, name, text, strlen(text), 0600, path, path_size);
}

static void read_missing_file_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char *data = NULL;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/missing.pem", fx->dir);
    assert_int_equal(file_read(path, FILE_READ_MAX, &data, &len), -1);
    assert_null(data);
    assert_non_null(strstr(logged(fx), path));
}

static void read_empty_file(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char *data = NULL;
    size_t len = 99;

    make_text_file(fx, "empty", "", path, sizeof(path));
    assert_int_equal(file_read(path, FILE_READ_MAX, &data, &len), 0);
    assert_non_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(data[0], '\0');
    free(data);
}

static void read_normal_file(void **state)
{
    struct file_fixture *fx = *state;
    const char text[] = "-----BEGIN CERTIFICATE-----\nMIIB\n";
    char path[256];
    char *data = NULL;
    size_t len = 0;

    make_text_file(fx, "cert.pem", text, path, sizeof(path));
    assert_int_equal(file_read(path, FILE_READ_MAX, &data, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_string_equal(data, text);
    free(data);
}

static void read_keeps_embedded_nul(void **state)
{
    struct file_fixture *fx = *state;
    const unsigned char der[] = {0x30, 0x00, 0x02, 0x01, 0x00};
    char path[256];
    char *data = NULL;
    size_t len = 0;

    make_file(fx, "cert.der", der, sizeof(der), 0600, path, sizeof(path));
    assert_int_equal(file_read(path, FILE_READ_MAX, &data, &len), 0);
    assert_int_equal(len, sizeof(der));
    assert_memory_equal(data, der, sizeof(der));
    assert_int_equal(data[len], '\0');
    free(data);
}

static void read_file_of_max_size(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char *data = NULL;
    size_t len = 0;

    make_text_file(fx, "ten", "0123456789", path, sizeof(path));
    assert_int_equal(file_read(path, 10, &data, &len), 0);
    assert_int_equal(len, 10);
    free(data);
}

static void read_file_over_max_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char *data = NULL;
    size_t len = 0;

    make_text_file(fx, "eleven", "0123456789A", path, sizeof(path));
    assert_int_equal(file_read(path, 10, &data, &len), -1);
    assert_null(data);
    assert_non_null(strstr(logged(fx), "larger than 10 bytes"));
}

/* Larger than the first 8 KiB buffer, so the buffer has to grow. */
static void read_large_file(void **state)
{
    struct file_fixture *fx = *state;
    size_t size = 100000;
    char *content = malloc(size);
    char path[256];
    char *data = NULL;
    size_t len = 0;

    assert_non_null(content);
    for (size_t i = 0; i < size; i++) {
        content[i] = (char)('a' + i % 26);
    }
    make_file(fx, "large", content, size, 0600, path, sizeof(path));
    assert_int_equal(file_read(path, size, &data, &len), 0);
    assert_int_equal(len, size);
    assert_memory_equal(data, content, size);
    free(data);
    free(content);
}

static void read_large_file_over_max_fails(void **state)
{
    struct file_fixture *fx = *state;
    size_t size = 100000;
    char *content = calloc(1, size);
    char path[256];
    char *data = NULL;
    size_t len = 0;

    assert_non_null(content);
    make_file(fx, "large", content, size, 0600, path, sizeof(path));
    free(content);
    assert_int_equal(file_read(path, 20000, &data, &len), -1);
    assert_null(data);
}

static void read_directory_fails(void **state)
{
    struct file_fixture *fx = *state;
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(file_read(fx->dir, FILE_READ_MAX, &data, &len), -1);
    assert_null(data);
}

static void secret_strips_newline(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "hunter2\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, "hunter2");
}

static void secret_strips_crlf(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "hunter2\r\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, "hunter2");
}

static void secret_without_newline(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "hunter2", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, "hunter2");
}

static void secret_reads_first_line_only(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "first\nsecond\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, "first");
}

static void secret_keeps_inner_spaces(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", " two words \n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, " two words ");
}

static void secret_empty_file_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), -1);
    assert_non_null(strstr(logged(fx), "is empty"));
}

static void secret_empty_first_line_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    make_text_file(fx, "pass", "\nhunter2\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), -1);
}

static void secret_line_filling_buffer(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[8];

    make_text_file(fx, "pass", "1234567\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), 0);
    assert_string_equal(secret, "1234567");
}

static void secret_line_too_long_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[8];

    make_text_file(fx, "pass", "12345678\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), -1);
    assert_non_null(strstr(logged(fx), "longer than 7 bytes"));
}

static void secret_missing_file_fails(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[64];

    snprintf(path, sizeof(path), "%s/missing", fx->dir);
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), -1);
}

static void secret_is_not_logged(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    char secret[4];

    make_text_file(fx, "pass", "topsecretvalue\n", path, sizeof(path));
    assert_int_equal(file_read_secret(path, secret, sizeof(secret)), -1);
    assert_null(strstr(logged(fx), "topsecret"));
}

static void private_mode_not_exposed(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    unsigned mode = 0;

    make_file(fx, "key", "k", 1, 0600, path, sizeof(path));
    assert_false(file_is_exposed(path, &mode));
    assert_int_equal(mode, 0600);
}

static void world_readable_is_exposed(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    unsigned mode = 0;

    make_file(fx, "key", "k", 1, 0644, path, sizeof(path));
    assert_true(file_is_exposed(path, &mode));
    assert_int_equal(mode, 0644);
}

static void group_readable_is_exposed(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];

    make_file(fx, "key", "k", 1, 0640, path, sizeof(path));
    assert_true(file_is_exposed(path, NULL));
}

static void missing_file_not_exposed(void **state)
{
    struct file_fixture *fx = *state;
    char path[256];
    unsigned mode = 0777;

    snprintf(path, sizeof(path), "%s/missing", fx->dir);
    assert_false(file_is_exposed(path, &mode));
    assert_int_equal(mode, 0777);
}

#define FILE_TEST(name)                                                        \
    cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST(read_missing_file_fails),
        FILE_TEST(read_empty_file),
        FILE_TEST(read_normal_file),
        FILE_TEST(read_keeps_embedded_nul),
        FILE_TEST(read_file_of_max_size),
        FILE_TEST(read_file_over_max_fails),
        FILE_TEST(read_large_file),
        FILE_TEST(read_large_file_over_max_fails),
        FILE_TEST(read_directory_fails),
        FILE_TEST(secret_strips_newline),
        FILE_TEST(secret_strips_crlf),
        FILE_TEST(secret_without_newline),
        FILE_TEST(secret_reads_first_line_only),
        FILE_TEST(secret_keeps_inner_spaces),
        FILE_TEST(secret_empty_file_fails),
        FILE_TEST(secret_empty_first_line_fails),
        FILE_TEST(secret_line_filling_buffer),
        FILE_TEST(secret_line_too_long_fails),
        FILE_TEST(secret_missing_file_fails),
        FILE_TEST(secret_is_not_logged),
        FILE_TEST(private_mode_not_exposed),
        FILE_TEST(world_readable_is_exposed),
        FILE_TEST(group_readable_is_exposed),
        FILE_TEST(missing_file_not_exposed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
