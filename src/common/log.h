/*
 * Logging with levels, shared by every subcommand.
 *
 * Levels follow the rs.config verbosity scale: a message is written when its
 * level is at or below the configured verbosity, so verbosity 0 shows errors
 * only. The sink is one FILE stream, stderr by default. It is the only
 * process-wide mutable state in Drawbridge, and callers on one event loop
 * need no locking because each message is written with one fputs call.
 *
 * Never pass a token, password or private key to these functions.
 */
#ifndef DRAWBRIDGE_LOG_H
#define DRAWBRIDGE_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
    LOG_TRACE = 4,
};

/* Line prefixes: "drawbridge: error: ..." for command-line tools, or an
 * ISO 8601 UTC timestamp and the level for long-running services. */
enum log_style {
    LOG_STYLE_TOOL,
    LOG_STYLE_SERVICE,
};

/* Sets the verbosity. Values above LOG_TRACE are clamped to LOG_TRACE and
 * negative values to LOG_ERROR. */
void log_set_level(int verbosity);

/* Returns the current verbosity. */
enum log_level log_get_level(void);

/* Sets the prefix style of later lines. */
void log_set_style(enum log_style style);

/* Sends later lines to STREAM, which the caller keeps open, or to stderr
 * when STREAM is NULL. */
void log_set_stream(FILE *stream);

/* Returns the lower-case name of LEVEL ("error", "warning", ...). */
const char *log_level_name(enum log_level level);

/* Returns 1 when a message at LEVEL would be written, so that callers can
 * skip building expensive arguments. */
int log_enabled(enum log_level level);

/* Writes one line at LEVEL. A trailing newline in FMT is not needed, and
 * a message longer than 4 KiB is cut and ends with "...". */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* State for logging one kind of repeated event without flooding the log:
 * the owner keeps one per kind. */
struct log_limit {
    char key[128];    /* what the last logged message was about */
    time_t window;    /* when that message was logged */
    unsigned skipped; /* equal messages since, not logged */
};

#define LOG_LIMIT_WINDOW_S 10

/* Writes one line at LEVEL unless its KEY equals that of the line LIMIT
 * last logged, less than LOG_LIMIT_WINDOW_S seconds ago; such repeats are
 * counted, and the count is logged before the next line that is written. */
void log_limited(struct log_limit *limit, enum log_level level, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_TRACE, __VA_ARGS__)

#endif
