#include "common/log.h"

#include <string.h>
#include <time.h>

#define LOG_LINE_MAX 4096

static enum log_level log_level = LOG_WARN;
static enum log_style log_style = LOG_STYLE_TOOL;
static FILE *log_stream;

void log_set_level(int verbosity)
{
    if (verbosity < LOG_ERROR) {
        verbosity = LOG_ERROR;
    }
    if (verbosity > LOG_TRACE) {
        verbosity = LOG_TRACE;
    }
    log_level = (enum log_level)verbosity;
}

enum log_level log_get_level(void)
{
    return log_level;
}

void log_set_style(enum log_style style)
{
    log_style = style;
}

void log_set_stream(FILE *stream)
{
    log_stream = stream;
}

const char *log_level_name(enum log_level level)
{
    static const char *const names[] = {"error", "warning", "info", "debug",
                                        "trace"};

    if ((unsigned)level > LOG_TRACE) {
        return "unknown";
    }
    return names[level];
}

int log_enabled(enum log_level level)
{
    return level <= log_level;
}

static size_t log_format_prefix(char *buf, size_t size, enum log_level level)
{
    struct timespec now;
    struct tm tm;
    char stamp[32];
    int n;

    if (log_style == LOG_STYLE_TOOL) {
        n = snprintf(buf, size, "drawbridge: %s: ", log_level_name(level));
        return (size_t)n;
    }

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(buf, size, "%s.%03ldZ %-7s ", stamp, now.tv_nsec / 1000000,
                 log_level_name(level));
    return (size_t)n;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t used;
    int n;

    if (!log_enabled(level)) {
        return;
    }

    used = log_format_prefix(line, sizeof(line), level);
    n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    if (n < 0) {
        return;
    }
    used += (size_t)n;

    /* Leave room for "...\n" and the terminator when the message is cut. */
    if (used > sizeof(line) - 5) {
        used = sizeof(line) - 5;
        memcpy(line + used, "...", 3);
        used += 3;
    }
    while (used > 0 && line[used - 1] == '\n') {
        used--;
    }
    line[used++] = '\n';
    line[used] = '\0';

    fputs(line, log_stream ? log_stream : stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_limited(struct log_limit *limit, enum log_level level, const char *key,
                 const char *fmt, ...)
{
    time_t now = time(NULL);
    va_list ap;

    if (!log_enabled(level)) {
        return;
    }
    if (strncmp(limit->key, key, sizeof(limit->key) - 1) == 0 &&
        now - limit->window < LOG_LIMIT_WINDOW_S) {
        limit->skipped++;
        return;
    }
    if (limit->skipped > 0) {
        log_msg(level, "the previous message repeated %u more time(s)",
                limit->skipped);
    }
    snprintf(limit->key, sizeof(limit->key), "%s", key);
    limit->window = now;
    limit->skipped = 0;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
