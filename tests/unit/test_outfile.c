/*
 * Unit tests for src/common/outfile.c: staged output files that appear
 * together at commit, or not at all. Each test works in its own mkdtemp
 * directory, which the teardown removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct outfile_fixture {
    char dir[64];
    struct outfile_set set;
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
};

static int fixture_setup(void **state)
{
    struct outfile_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/drawbridge-test-outfile-XXXXXX");
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
    outfile_set_init(&fx->set, false);
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct outfile_fixture *fx = *state;
    DIR *dir;
    struct dirent *entry;

    outfile_set_free(&fx->set);
    dir = opendir(fx->dir);
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
static const char *logged(struct outfile_fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf;
}

/* Writes the path of NAME in the fixture directory into PATH. */
static void dir_path(struct outfile_fixture *fx, const char *name, char *path,
                     size_t size)
{
    snprintf(path, size, "%s/%s", fx->dir, name);
}

static bool path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* Asserts that PATH holds exactly TEXT. */
static void assert_content(const char *path, const char *text)
{
    char buf[256];
    FILE *fp = fopen(path, "r");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

static unsigned file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

/* Counts the directory's entries, and those with ".tmp." in their name. */
static size_t count_entries(struct outfile_fixture *fx, size_t *temp_count)
{
    DIR *dir = opendir(fx->dir);
    struct dirent *entry;
    size_t count = 0;

    assert_non_null(dir);
    *temp_count = 0;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 ||
            strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        count++;
        if (strstr(entry->d_name, ".tmp.") != NULL) {
            (*temp_count)++;
        }
    }
    closedir(dir);
    return count;
}

static int add_text(struct outfile_set *set, const char *path, mode_t mode,
                    const char *text)
{
    return outfile_add(set, path, mode, text, strlen(text));
}

static void staged_file_invisible_before_commit(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    assert_false(path_exists(path));
}

static void commit_publishes_content(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    size_t temp_count;

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_content(path, "cert");
    assert_int_equal(count_entries(fx, &temp_count), 1);
    assert_int_equal(temp_count, 0);
}

static void commit_sets_private_mode(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.key", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0600, "key"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_int_equal(file_mode(path), 0600);
}

static void commit_sets_public_mode(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_int_equal(file_mode(path), 0644);
}

static void commit_publishes_every_file(void **state)
{
    struct outfile_fixture *fx = *state;
    char key_path[256];
    char cert_path[256];

    dir_path(fx, "ca.key", key_path, sizeof(key_path));
    dir_path(fx, "ca.crt", cert_path, sizeof(cert_path));
    assert_int_equal(add_text(&fx->set, key_path, 0600, "key"), 0);
    assert_int_equal(add_text(&fx->set, cert_path, 0644, "cert"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_content(key_path, "key");
    assert_content(cert_path, "cert");
}

static void free_after_commit_keeps_files(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    outfile_set_free(&fx->set);
    assert_content(path, "cert");
}

static void free_without_commit_removes_staged(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    size_t temp_count;

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    assert_int_equal(count_entries(fx, &temp_count), 1);
    assert_int_equal(temp_count, 1);
    outfile_set_free(&fx->set);
    assert_int_equal(count_entries(fx, &temp_count), 0);
}

static void free_twice_is_safe(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), 0);
    outfile_set_free(&fx->set);
    outfile_set_free(&fx->set);
    assert_int_equal(fx->set.count, 0);
}

static void existing_destination_rejected(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    write_text(path, "old");
    assert_int_equal(outfile_check(&fx->set, path), -1);
    assert_non_null(strstr(logged(fx), "--force"));
}

static void existing_destination_add_fails(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    size_t temp_count;

    dir_path(fx, "ca.crt", path, sizeof(path));
    write_text(path, "old");
    assert_int_equal(add_text(&fx->set, path, 0644, "new"), -1);
    assert_content(path, "old");
    assert_int_equal(count_entries(fx, &temp_count), 1);
    assert_int_equal(temp_count, 0);
}

static void dangling_symlink_rejected(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    char target[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    dir_path(fx, "nowhere", target, sizeof(target));
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(outfile_check(&fx->set, path), -1);
}

static void force_replaces_existing(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "ca.crt", path, sizeof(path));
    write_text(path, "old");
    assert_int_equal(chmod(path, 0666), 0);
    outfile_set_init(&fx->set, true);
    assert_int_equal(outfile_check(&fx->set, path), 0);
    assert_int_equal(add_text(&fx->set, path, 0644, "new"), 0);
    assert_content(path, "old");
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_content(path, "new");
    assert_int_equal(file_mode(path), 0644);
}

static void force_replacement_survives_free(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    size_t temp_count;

    dir_path(fx, "ca.crt", path, sizeof(path));
    write_text(path, "old");
    outfile_set_init(&fx->set, true);
    assert_int_equal(add_text(&fx->set, path, 0644, "new"), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    outfile_set_free(&fx->set);
    assert_content(path, "new");
    assert_int_equal(count_entries(fx, &temp_count), 1);
    assert_int_equal(temp_count, 0);
}

/* Another process creates the second destination between add and commit. */
static void commit_race_fails(void **state)
{
    struct outfile_fixture *fx = *state;
    char key_path[256];
    char cert_path[256];

    dir_path(fx, "ca.key", key_path, sizeof(key_path));
    dir_path(fx, "ca.crt", cert_path, sizeof(cert_path));
    assert_int_equal(add_text(&fx->set, key_path, 0600, "key"), 0);
    assert_int_equal(add_text(&fx->set, cert_path, 0644, "cert"), 0);
    write_text(cert_path, "other");
    assert_int_equal(outfile_commit(&fx->set), -1);
    assert_non_null(strstr(logged(fx), cert_path));
}

static void failed_commit_removes_created(void **state)
{
    struct outfile_fixture *fx = *state;
    char key_path[256];
    char cert_path[256];

    dir_path(fx, "ca.key", key_path, sizeof(key_path));
    dir_path(fx, "ca.crt", cert_path, sizeof(cert_path));
    assert_int_equal(add_text(&fx->set, key_path, 0600, "key"), 0);
    assert_int_equal(add_text(&fx->set, cert_path, 0644, "cert"), 0);
    write_text(cert_path, "other");
    assert_int_equal(outfile_commit(&fx->set), -1);
    assert_false(path_exists(key_path));
}

static void failed_commit_keeps_foreign_file(void **state)
{
    struct outfile_fixture *fx = *state;
    char key_path[256];
    char cert_path[256];

    dir_path(fx, "ca.key", key_path, sizeof(key_path));
    dir_path(fx, "ca.crt", cert_path, sizeof(cert_path));
    assert_int_equal(add_text(&fx->set, key_path, 0600, "key"), 0);
    assert_int_equal(add_text(&fx->set, cert_path, 0644, "cert"), 0);
    write_text(cert_path, "other");
    assert_int_equal(outfile_commit(&fx->set), -1);
    outfile_set_free(&fx->set);
    assert_content(cert_path, "other");
}

static void failed_commit_leaves_no_temp_files(void **state)
{
    struct outfile_fixture *fx = *state;
    char key_path[256];
    char cert_path[256];
    size_t temp_count;

    dir_path(fx, "ca.key", key_path, sizeof(key_path));
    dir_path(fx, "ca.crt", cert_path, sizeof(cert_path));
    assert_int_equal(add_text(&fx->set, key_path, 0600, "key"), 0);
    assert_int_equal(add_text(&fx->set, cert_path, 0644, "cert"), 0);
    write_text(cert_path, "other");
    assert_int_equal(outfile_commit(&fx->set), -1);
    outfile_set_free(&fx->set);
    assert_int_equal(count_entries(fx, &temp_count), 1);
    assert_int_equal(temp_count, 0);
}

static void missing_directory_rejected(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "missing/ca.crt", path, sizeof(path));
    assert_int_equal(outfile_check(&fx->set, path), -1);
    assert_non_null(strstr(logged(fx), "does not exist"));
}

static void missing_directory_add_fails(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    dir_path(fx, "missing/ca.crt", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "cert"), -1);
    assert_int_equal(fx->set.count, 0);
}

static void file_as_directory_rejected(void **state)
{
    struct outfile_fixture *fx = *state;
    char parent[256];
    char path[256];

    dir_path(fx, "plain", parent, sizeof(parent));
    write_text(parent, "x");
    dir_path(fx, "plain/ca.crt", path, sizeof(path));
    assert_int_equal(outfile_check(&fx->set, path), -1);
}

static void too_many_files_rejected(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];

    for (int i = 0; i < OUTFILE_SET_MAX; i++) {
        char name[32];

        snprintf(name, sizeof(name), "file%d", i);
        dir_path(fx, name, path, sizeof(path));
        assert_int_equal(add_text(&fx->set, path, 0644, "x"), 0);
    }
    dir_path(fx, "one-too-many", path, sizeof(path));
    assert_int_equal(add_text(&fx->set, path, 0644, "x"), -1);
}

static void empty_file_committed(void **state)
{
    struct outfile_fixture *fx = *state;
    char path[256];
    struct stat st;

    dir_path(fx, "empty", path, sizeof(path));
    assert_int_equal(outfile_add(&fx->set, path, 0644, "", 0), 0);
    assert_int_equal(outfile_commit(&fx->set), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
}

#define OUTFILE_TEST(name)                                                     \
    cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        OUTFILE_TEST(staged_file_invisible_before_commit),
        OUTFILE_TEST(commit_publishes_content),
        OUTFILE_TEST(commit_sets_private_mode),
        OUTFILE_TEST(commit_sets_public_mode),
        OUTFILE_TEST(commit_publishes_every_file),
        OUTFILE_TEST(free_after_commit_keeps_files),
        OUTFILE_TEST(free_without_commit_removes_staged),
        OUTFILE_TEST(free_twice_is_safe),
        OUTFILE_TEST(existing_destination_rejected),
        OUTFILE_TEST(existing_destination_add_fails),
        OUTFILE_TEST(dangling_symlink_rejected),
        OUTFILE_TEST(force_replaces_existing),
        OUTFILE_TEST(force_replacement_survives_free),
        OUTFILE_TEST(commit_race_fails),
        OUTFILE_TEST(failed_commit_removes_created),
        OUTFILE_TEST(failed_commit_keeps_foreign_file),
        OUTFILE_TEST(failed_commit_leaves_no_temp_files),
        OUTFILE_TEST(missing_directory_rejected),
        OUTFILE_TEST(missing_directory_add_fails),
        OUTFILE_TEST(file_as_directory_rejected),
        OUTFILE_TEST(too_many_files_rejected),
        OUTFILE_TEST(empty_file_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
