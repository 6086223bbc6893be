/*
 * Declarations shared by the three parts of the configuration loader.
 * config.c reads the file and owns the key tables, config_value.c checks
 * and stores each value, and config_check.c checks what no single line
 * shows. Only these files include this header, and the rest of Drawbridge
 * uses config.h.
 */
#ifndef DRAWBRIDGE_CONFIG_INTERNAL_H
#define DRAWBRIDGE_CONFIG_INTERNAL_H

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Errors logged for one file. The rest are counted, so that loading a file
 * that is not a config at all does not flood the log. */
#define CONFIG_ERRORS_SHOWN 50

/* Upper bound on the number of keys in one section's key table. */
#define CONFIG_KEYS_MAX 48

enum config_section {
    CONFIG_SECTION_NONE, /* before the first section header */
    CONFIG_SECTION_OPTIONS,
    CONFIG_SECTION_RELAY,
    CONFIG_SECTION_FARM,
    CONFIG_SECTION_SERVER,
    CONFIG_SECTION_UNKNOWN,
};

/* The value type of a key, which decides how config_set checks and stores
 * the value. */
enum config_type {
    CONFIG_TYPE_TEXT,        /* char *, NULL when empty */
    CONFIG_TYPE_NAME,        /* char *, an id or host name */
    CONFIG_TYPE_TOKEN,       /* char *, not empty, never logged */
    CONFIG_TYPE_PATH,        /* char *, resolved against the file's directory */
    CONFIG_TYPE_BOOL,        /* bool */
    CONFIG_TYPE_SECURITY,    /* enum config_security */
    CONFIG_TYPE_PORT,        /* int, 0-65535 */
    CONFIG_TYPE_VERBOSITY,   /* int, 0-5 */
    CONFIG_TYPE_SECONDS,     /* unsigned milliseconds, given in seconds */
    CONFIG_TYPE_SIZE,        /* size_t, at least 1 */
    CONFIG_TYPE_COUNT,       /* unsigned, at least 1 */
    CONFIG_TYPE_LISTEN,      /* config_options.listen and listen_count */
    CONFIG_TYPE_NETWORKS,    /* config_options.trusted_proxies and its count */
    CONFIG_TYPE_PREFIX,      /* char *, a URL path prefix */
    CONFIG_TYPE_IGNORED,     /* accepted with a warning */
    CONFIG_TYPE_AFFINITY,    /* char *, a name or NULL; note = default name */
    CONFIG_TYPE_STATUS_PAGE, /* enum config_status_page */
};

struct config_key {
    const char *name;
    enum config_type type;
    size_t offset;    /* of the field in the section's struct */
    const char *note; /* for CONFIG_TYPE_IGNORED: why, and what to do */
};

/* Line numbers of one section: its header and each key of its table, by
 * table index, with 0 for an absent key. INVALID marks keys whose value was
 * rejected, so that later checks do not report them again. */
struct config_lines {
    int section;
    int keys[CONFIG_KEYS_MAX];
    bool invalid[CONFIG_KEYS_MAX];
};

struct config_loader {
    struct config *cfg;
    const char *path;
    char *dir; /* real path of the directory that contains PATH */
    FILE *fp;
    char *buf; /* getline buffer */
    size_t buf_size;
    int read_errno;
    int line; /* number of the line the reader returned last */
    enum config_section section;
    struct config_lines options;
    struct config_lines *relays; /* parallel to cfg->relays */
    struct config_lines *farms;
    struct config_lines *servers;
    int errors;
};

/* The key tables of the four sections, each ended by a NULL name. */
extern const struct config_key config_option_keys[];
extern const struct config_key config_relay_keys[];
extern const struct config_key config_farm_keys[];
extern const struct config_key config_server_keys[];

/* Counts an error and logs it as "PATH:LINE: message", unless
 * CONFIG_ERRORS_SHOWN are logged already. LINE 0 leaves the line number
 * out. */
void config_error(struct config_loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs a warning as "PATH:LINE: message", or "PATH: message" when LINE
 * is 0. Warnings are not counted and never make config_load fail. */
void config_warn(struct config_loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Counts and logs an allocation failure at the current line. */
void config_out_of_memory(struct config_loader *ld);

/* Returns the index of key NAME (case-insensitive) in KEYS, or -1. */
int config_key_index(const struct config_key *keys, const char *name);

/* Grows ARRAY of COUNT items of SIZE bytes by one zeroed item. Returns the
 * new array, or NULL with ARRAY unchanged. */
void *config_append(void *array, size_t count, size_t size);

/* Frees the COUNT strings of LIST and LIST itself. */
void config_free_list(char **list, size_t count);

/* Checks VALUE of KEY on the current line and stores it in the section
 * struct at BASE. An invalid value is counted and logged with config_error,
 * and the field keeps its previous value. */
void config_set(struct config_loader *ld, const struct config_key *key,
                char *base, const char *value);

/* Checks what no single line shows: required keys, references between
 * sections and conflicting options. */
void config_check(struct config_loader *ld);

#endif
