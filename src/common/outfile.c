#include "common/outfile.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void outfile_set_init(struct outfile_set *set, bool force)
{
    memset(set, 0, sizeof(*set));
    set->force = force;
}

static int outfile_check_dir(const char *path)
{
    char *copy = strdup(path);
    struct stat st;
    int rc = 0;

    if (copy == NULL) {
        log_error("out of memory while checking %s", path);
        return -1;
    }
    const char *dir = dirname(copy);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("cannot write %s: directory %s does not exist; create it "
                  "first",
                  path, dir);
        rc = -1;
    }
    free(copy);
    return rc;
}

int outfile_check(const struct outfile_set *set, const char *path)
{
    struct stat st;

    if (!set->force && lstat(path, &st) == 0) {
        log_error("output file %s already exists; remove it or pass --force "
                  "to replace it",
                  path);
        return -1;
    }
    return outfile_check_dir(path);
}

static int outfile_write_all(int fd, const char *path, const void *data,
                             size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            log_error("cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        log_error("cannot sync %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int outfile_add(struct outfile_set *set, const char *path, mode_t mode,
                const void *data, size_t len)
{
    struct outfile *out;
    int fd = -1;

    if (set->count == OUTFILE_SET_MAX) {
        log_error("too many output files in one command (max %d)",
                  OUTFILE_SET_MAX);
        return -1;
    }
    if (outfile_check(set, path) != 0) {
        return -1;
    }

    out = &set->files[set->count];
    out->path = strdup(path);
    if (out->path == NULL ||
        asprintf(&out->tmp_path, "%s.tmp.XXXXXX", path) < 0) {
        free(out->path);
        memset(out, 0, sizeof(*out));
        log_error("out of memory while writing %s", path);
        return -1;
    }
    set->count++;

    fd = mkstemp(out->tmp_path);
    if (fd < 0) {
        log_error("cannot create a temporary file beside %s: %s", path,
                  strerror(errno));
        free(out->tmp_path);
        out->tmp_path = NULL;
        return -1;
    }
    if (fchmod(fd, mode) != 0) {
        log_error("cannot set mode %04o on %s: %s", (unsigned)mode,
                  out->tmp_path, strerror(errno));
        close(fd);
        return -1;
    }
    if (outfile_write_all(fd, out->tmp_path, data, len) != 0) {
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        log_error("cannot close %s: %s", out->tmp_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int outfile_move(const struct outfile_set *set, struct outfile *out)
{
    if (set->force) {
        struct stat st;
        bool existed = lstat(out->path, &st) == 0;

        if (rename(out->tmp_path, out->path) != 0) {
            log_error("cannot rename %s to %s: %s", out->tmp_path, out->path,
                      strerror(errno));
            return -1;
        }
        out->created = !existed;
        free(out->tmp_path);
        out->tmp_path = NULL;
        return 0;
    }

    /* link(2) fails with EEXIST instead of replacing a file that appeared
     * after outfile_check, which rename(2) would silently overwrite. */
    if (link(out->tmp_path, out->path) != 0) {
        if (errno == EEXIST) {
            log_error("output file %s already exists; remove it or pass "
                      "--force to replace it",
                      out->path);
        } else {
            log_error("cannot create %s: %s", out->path, strerror(errno));
        }
        return -1;
    }
    out->created = true;
    unlink(out->tmp_path);
    free(out->tmp_path);
    out->tmp_path = NULL;
    return 0;
}

/* Removes the staged files and the destinations that this set created. */
static void outfile_undo(struct outfile_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        struct outfile *out = &set->files[i];

        if (out->tmp_path != NULL) {
            unlink(out->tmp_path);
            free(out->tmp_path);
            out->tmp_path = NULL;
        }
        if (out->created) {
            unlink(out->path);
            out->created = false;
        }
    }
}

int outfile_commit(struct outfile_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->files[i].tmp_path == NULL) {
            log_error("cannot commit %s: it was not written",
                      set->files[i].path);
            return -1;
        }
    }
    for (size_t i = 0; i < set->count; i++) {
        if (outfile_move(set, &set->files[i]) != 0) {
            outfile_undo(set);
            return -1;
        }
    }
    for (size_t i = 0; i < set->count; i++) {
        set->files[i].created = false;
    }
    return 0;
}

void outfile_set_free(struct outfile_set *set)
{
    outfile_undo(set);
    for (size_t i = 0; i < set->count; i++) {
        free(set->files[i].path);
    }
    memset(set->files, 0, sizeof(set->files));
    set->count = 0;
}
