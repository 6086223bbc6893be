/*
 * Output files that appear whole or not at all.
 *
 * A command that writes several files (a key and a certificate, say) stages
 * each one in a temporary file beside its destination, then commits them
 * together. Nothing is visible under a destination name until every file has
 * been written and synced. When any step fails, every temporary file is
 * removed, and so is every destination that this set already created, so a
 * failed command leaves no partly written output behind.
 *
 * Without `force`, an existing destination is an error, checked once before
 * anything is written and again, atomically, at commit time with link(2).
 */
#ifndef DRAWBRIDGE_OUTFILE_H
#define DRAWBRIDGE_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OUTFILE_SET_MAX 8

struct outfile {
    char *path;
    char *tmp_path;
    bool created;
};

struct outfile_set {
    struct outfile files[OUTFILE_SET_MAX];
    size_t count;
    bool force;
};

/* Prepares an empty set. With FORCE, existing destinations are replaced. */
void outfile_set_init(struct outfile_set *set, bool force);

/* Checks that PATH may be written: it must not exist unless the set has
 * `force`, and its directory must exist. Logs the problem and the fix, and
 * returns -1 when PATH cannot be written. */
int outfile_check(const struct outfile_set *set, const char *path);

/* Writes LEN bytes of DATA to a temporary file beside PATH, created with
 * permission bits MODE, and adds it to the set. Returns 0, or -1 after
 * logging the cause. */
int outfile_add(struct outfile_set *set, const char *path, mode_t mode,
                const void *data, size_t len);

/* Moves every staged file to its destination. Returns 0, or -1 after
 * logging the cause and undoing what this set created. */
int outfile_commit(struct outfile_set *set);

/* Removes staged temporary files and frees the set. After a failed commit
 * it also removes destinations that the set created. Safe to call twice. */
void outfile_set_free(struct outfile_set *set);

#endif
