/*
 * Unit tests for src/common/log.c: level filtering, both prefix styles,
 * cutting of long messages and line endings. Each test sends the log to an
 * open_memstream buffer and restores stderr and the defaults afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct log_capture {
    FILE *stream;
    char *buf;
    size_t size;
};

static int capture_setup(void **state)
{
    struct log_capture *capture = calloc(1, sizeof(*capture));

    if (capture == NULL) {
        return -1;
    }
    capture->stream = open_memstream(&capture->buf, &capture->size);
    if (capture->stream == NULL) {
        free(capture);
        return -1;
    }
    log_set_stream(capture->stream);
    log_set_style(LOG_STYLE_TOOL);
    log_set_level(LOG_WARN);
    *state = capture;
    return 0;
}

static int capture_teardown(void **state)
{
    struct log_capture *capture = *state;

    log_set_stream(NULL);
    log_set_style(LOG_STYLE_TOOL);
    log_set_level(LOG_WARN);
    fclose(capture->stream);
    free(capture->buf);
    free(capture);
    return 0;
}

/* Returns everything logged so far in this test. */
static const char *captured(struct log_capture *capture)
{
    fflush(capture->stream);
    return capture->buf;
}

static size_t count_char(const char *text, char c)
{
    size_t count = 0;

    for (; *text != '\0'; text++) {
        count += *text == c;
    }
    return count;
}

static void call_vmsg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void call_vmsg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

static void level_clamps_above_trace(void **state)
{
    (void)state;
    log_set_level(99);
    assert_int_equal(log_get_level(), LOG_TRACE);
}

static void level_clamps_negative_to_error(void **state)
{
    (void)state;
    log_set_level(-5);
    assert_int_equal(log_get_level(), LOG_ERROR);
}

static void level_keeps_value_in_range(void **state)
{
    (void)state;
    log_set_level(LOG_DEBUG);
    assert_int_equal(log_get_level(), LOG_DEBUG);
}

static void level_names(void **state)
{
    (void)state;
    assert_string_equal(log_level_name(LOG_ERROR), "error");
    assert_string_equal(log_level_name(LOG_WARN), "warning");
    assert_string_equal(log_level_name(LOG_INFO), "info");
    assert_string_equal(log_level_name(LOG_DEBUG), "debug");
    assert_string_equal(log_level_name(LOG_TRACE), "trace");
    assert_string_equal(log_level_name((enum log_level)7), "unknown");
}

static void verbosity_zero_writes_errors_only(void **state)
{
    struct log_capture *capture = *state;

    log_set_level(0);
    log_error("first");
    log_warn("second");
    log_info("third");
    log_debug("fourth");
    log_trace("fifth");
    assert_string_equal(captured(capture), "drawbridge: error: first\n");
}

static void verbosity_zero_enables_errors_only(void **state)
{
    (void)state;
    log_set_level(0);
    assert_true(log_enabled(LOG_ERROR));
    assert_false(log_enabled(LOG_WARN));
    assert_false(log_enabled(LOG_TRACE));
}

static void verbosity_info_skips_debug(void **state)
{
    struct log_capture *capture = *state;

    log_set_level(LOG_INFO);
    log_info("shown");
    log_debug("hidden");
    assert_string_equal(captured(capture), "drawbridge: info: shown\n");
}

static void verbosity_clamped_writes_trace(void **state)
{
    struct log_capture *capture = *state;

    log_set_level(10);
    log_trace("deep");
    assert_string_equal(captured(capture), "drawbridge: trace: deep\n");
}

static void tool_style_prefix(void **state)
{
    struct log_capture *capture = *state;

    log_error("cannot open %s: %s", "ca.key", "No such file");
    assert_string_equal(
        captured(capture),
        "drawbridge: error: cannot open ca.key: No such file\n");
}

static void tool_style_warning_prefix(void **state)
{
    struct log_capture *capture = *state;

    log_warn("careful");
    assert_string_equal(captured(capture), "drawbridge: warning: careful\n");
}

static void service_style_prefix(void **state)
{
    struct log_capture *capture = *state;
    regex_t pattern;
    int rc;

    log_set_style(LOG_STYLE_SERVICE);
    log_error("listener failed");

    rc = regcomp(&pattern,
                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                 "\\.[0-9]{3}Z error   listener failed\n$",
                 REG_EXTENDED | REG_NOSUB);
    assert_int_equal(rc, 0);
    rc = regexec(&pattern, captured(capture), 0, NULL, 0);
    regfree(&pattern);
    assert_int_equal(rc, 0);
}

/* Reads the clock that log.c stamps lines with. time() may read a coarser
 * clock that lags it by a few milliseconds at a second boundary. */
static time_t realtime_seconds(void)
{
    struct timespec now;

    assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
    return now.tv_sec;
}

static void service_style_timestamp_is_utc_now(void **state)
{
    struct log_capture *capture = *state;
    time_t before = realtime_seconds();
    time_t after;
    time_t stamp;
    struct tm tm;
    const char *end;

    log_set_style(LOG_STYLE_SERVICE);
    log_warn("tick");
    after = realtime_seconds();

    memset(&tm, 0, sizeof(tm));
    end = strptime(captured(capture), "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    stamp = timegm(&tm);
    assert_true(stamp >= before);
    assert_true(stamp <= after);
}

static void service_style_pads_level(void **state)
{
    struct log_capture *capture = *state;
    const char *line;

    log_set_style(LOG_STYLE_SERVICE);
    log_warn("padded");
    line = captured(capture);
    assert_non_null(strstr(line, "Z warning padded\n"));
}

static void trailing_newline_not_doubled(void **state)
{
    struct log_capture *capture = *state;

    log_error("done\n");
    assert_string_equal(captured(capture), "drawbridge: error: done\n");
}

static void trailing_newlines_collapse(void **state)
{
    struct log_capture *capture = *state;

    log_error("done\n\n\n");
    assert_string_equal(captured(capture), "drawbridge: error: done\n");
}

static void one_line_per_message(void **state)
{
    struct log_capture *capture = *state;

    log_error("one");
    log_warn("two");
    assert_string_equal(captured(capture), "drawbridge: error: one\n"
                                           "drawbridge: warning: two\n");
}

static void vmsg_formats_arguments(void **state)
{
    struct log_capture *capture = *state;

    call_vmsg(LOG_ERROR, "%d of %s", 3, "4");
    assert_string_equal(captured(capture), "drawbridge: error: 3 of 4\n");
}

static void vmsg_filters_level(void **state)
{
    struct log_capture *capture = *state;

    call_vmsg(LOG_DEBUG, "%s", "hidden");
    assert_string_equal(captured(capture), "");
}

static void long_message_is_cut(void **state)
{
    struct log_capture *capture = *state;
    size_t long_len = 5000;
    char *message = malloc(long_len + 1);
    const char *line;
    size_t len;

    assert_non_null(message);
    memset(message, 'a', long_len);
    message[long_len] = '\0';
    log_error("%s", message);
    free(message);

    line = captured(capture);
    len = strlen(line);
    assert_true(len <= 4096);
    assert_true(len > 4000);
    assert_string_equal(line + len - 4, "...\n");
    assert_int_equal(count_char(line, '\n'), 1);
    assert_memory_equal(line, "drawbridge: error: aaa", 22);
}

static void long_message_with_newline_is_cut(void **state)
{
    struct log_capture *capture = *state;
    size_t long_len = 6000;
    char *message = malloc(long_len + 1);
    const char *line;
    size_t len;

    assert_non_null(message);
    memset(message, 'b', long_len);
    message[long_len - 1] = '\n';
    message[long_len] = '\0';
    log_error("%s", message);
    free(message);

    line = captured(capture);
    len = strlen(line);
    assert_string_equal(line + len - 4, "...\n");
    assert_int_equal(count_char(line, '\n'), 1);
}

static void message_under_limit_is_whole(void **state)
{
    struct log_capture *capture = *state;
    size_t message_len = 4000;
    char *message = malloc(message_len + 1);
    const char *line;
    size_t prefix_len = strlen("drawbridge: error: ");

    assert_non_null(message);
    memset(message, 'c', message_len);
    message[message_len] = '\0';
    log_error("%s", message);
    free(message);

    line = captured(capture);
    assert_int_equal(strlen(line), prefix_len + message_len + 1);
    assert_null(strstr(line, "..."));
}

static void long_service_message_is_cut(void **state)
{
    struct log_capture *capture = *state;
    size_t long_len = 8192;
    char *message = malloc(long_len + 1);
    const char *line;
    size_t len;

    assert_non_null(message);
    memset(message, 'd', long_len);
    message[long_len] = '\0';
    log_set_style(LOG_STYLE_SERVICE);
    log_error("%s", message);
    free(message);

    line = captured(capture);
    len = strlen(line);
    assert_true(len <= 4096);
    assert_string_equal(line + len - 4, "...\n");
    assert_int_equal(count_char(line, '\n'), 1);
}

static void limited_repeats_are_counted(void **state)
{
    struct log_capture *capture = *state;
    struct log_limit limit = {0};

    log_limited(&limit, LOG_ERROR, "unknown ca", "client %d failed", 1);
    log_limited(&limit, LOG_ERROR, "unknown ca", "client %d failed", 2);
    log_limited(&limit, LOG_ERROR, "unknown ca", "client %d failed", 3);
    log_limited(&limit, LOG_ERROR, "bad record", "client %d failed", 4);
    assert_string_equal(captured(capture),
                        "drawbridge: error: client 1 failed\n"
                        "drawbridge: error: the previous message repeated 2 "
                        "more time(s)\n"
                        "drawbridge: error: client 4 failed\n");
}

static void limited_window_ends(void **state)
{
    struct log_capture *capture = *state;
    struct log_limit limit = {0};

    log_limited(&limit, LOG_ERROR, "k", "first");
    limit.window -= LOG_LIMIT_WINDOW_S;
    log_limited(&limit, LOG_ERROR, "k", "second");
    assert_string_equal(captured(capture), "drawbridge: error: first\n"
                                           "drawbridge: error: second\n");
}

static void limited_respects_level(void **state)
{
    struct log_capture *capture = *state;
    struct log_limit limit = {0};

    log_set_level(LOG_ERROR);
    log_limited(&limit, LOG_INFO, "k", "hidden");
    assert_string_equal(captured(capture), "");
    assert_int_equal(limit.skipped, 0);
}

#define LOG_TEST(name)                                                         \
    cmocka_unit_test_setup_teardown(name, capture_setup, capture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOG_TEST(level_clamps_above_trace),
        LOG_TEST(level_clamps_negative_to_error),
        LOG_TEST(level_keeps_value_in_range),
        LOG_TEST(level_names),
        LOG_TEST(verbosity_zero_writes_errors_only),
        LOG_TEST(verbosity_zero_enables_errors_only),
        LOG_TEST(verbosity_info_skips_debug),
        LOG_TEST(verbosity_clamped_writes_trace),
        LOG_TEST(tool_style_prefix),
        LOG_TEST(tool_style_warning_prefix),
        LOG_TEST(service_style_prefix),
        LOG_TEST(service_style_timestamp_is_utc_now),
        LOG_TEST(service_style_pads_level),
        LOG_TEST(trailing_newline_not_doubled),
        LOG_TEST(trailing_newlines_collapse),
        LOG_TEST(one_line_per_message),
        LOG_TEST(vmsg_formats_arguments),
        LOG_TEST(vmsg_filters_level),
        LOG_TEST(long_message_is_cut),
        LOG_TEST(long_message_with_newline_is_cut),
        LOG_TEST(message_under_limit_is_whole),
        LOG_TEST(long_service_message_is_cut),
        LOG_TEST(limited_repeats_are_counted),
        LOG_TEST(limited_window_ends),
        LOG_TEST(limited_respects_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
