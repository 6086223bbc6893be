#include "doctor/doctor.h"

#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char doctor_help[] =
    "Usage: drawbridge doctor relay -c FILE [--id ID]\n"
    "       drawbridge doctor enabler ENABLER-OPTIONS\n"
    "       drawbridge doctor client URL [--ca FILE]\n"
    "\n"
    "Checks a deployment hop by hop and prints one line per check:\n"
    "\"ok: ...\", \"warning: ...\" or \"error: DB-CODE: cause and fix\".\n"
    "docs/troubleshooting.md explains each code. Exits 1 when a check\n"
    "found an error, 0 otherwise, and 2 for a usage error.\n"
    "\n"
    "  relay    the relay's configuration file, certificate, key and file\n"
    "           permissions, without contacting anything\n"
    "  enabler  takes the options of 'drawbridge enabler': connects to the\n"
    "           relay, checks its certificate, sends a probe tunnel request\n"
    "           that opens no tunnel, and checks the backend\n"
    "  client   the relay as a device sees it: URL is the client URL of a\n"
    "           farm, https://HOST[:PORT]/PREFIX/FARM; --ca FILE gives the\n"
    "           CA certificates to trust (default: the system store)\n";

static void doctor_vprint(const char *level, const char *code, const char *fmt,
                          va_list ap)
{
    fputs(level, stdout);
    fputs(": ", stdout);
    if (code != NULL) {
        fputs(code, stdout);
        fputs(": ", stdout);
    }
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void doctor_ok(struct doctor_report *report, const char *fmt, ...)
{
    va_list ap;

    (void)report;
    va_start(ap, fmt);
    doctor_vprint("ok", NULL, fmt, ap);
    va_end(ap);
}

void doctor_warn(struct doctor_report *report, const char *code,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    doctor_vprint("warning", code, fmt, ap);
    va_end(ap);
    report->warnings++;
}

void doctor_error(struct doctor_report *report, const char *code,
                  const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    doctor_vprint("error", code, fmt, ap);
    va_end(ap);
    report->errors++;
}

int doctor_exit_status(const struct doctor_report *report)
{
    return report->errors > 0 ? DOCTOR_EXIT_FAIL : DOCTOR_EXIT_OK;
}

int doctor_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        fputs(doctor_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? DOCTOR_EXIT_USAGE : DOCTOR_EXIT_OK;
    }
    if (strcmp(argv[1], "relay") == 0) {
        return doctor_relay_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "enabler") == 0) {
        return doctor_enabler_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "client") == 0) {
        return doctor_client_main(argc - 1, argv + 1);
    }
    log_error("unknown doctor command '%s'; give relay, enabler or client",
              argv[1]);
    return DOCTOR_EXIT_USAGE;
}
