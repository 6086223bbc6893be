/*
 * drawbridge: one executable with subcommands, like openssl or git.
 */
#include "cert/cert.h"
#include "common/log.h"
#include "doctor/doctor.h"
#include "enabler/enabler.h"
#include "relay/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char main_help[] =
    "Usage: drawbridge [-v LEVEL] COMMAND [OPTIONS]\n"
    "\n"
    "Drawbridge lets clients on the internet reach HTTP servers in a private\n"
    "network that accepts no inbound connections, through a relay server.\n"
    "\n"
    "Commands:\n"
    "  relay    the relay server: client HTTPS in, enabler tunnels out\n"
    "  enabler  beside a backend server: connects out to the relay and\n"
    "           forwards its requests to the backend\n"
    "  cert     certificate toolkit: CA, CSR, signing, PKCS#12, show, verify,\n"
    "           probe a live server, quickstart\n"
    "  doctor   checks a deployment hop by hop (relay, enabler, client)\n"
    "           and names each problem with a code and its fix\n"
    "\n"
    "Options:\n"
    "  -v, --verbosity LEVEL  log level from 0 (errors only) to 4 (trace);\n"
    "                         default 1 (errors and warnings)\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show the version\n"
    "\n"
    "Run 'drawbridge COMMAND --help' for a command's options.\n";

static int main_parse_verbosity(const char *text)
{
    char *end = NULL;
    long level = strtol(text, &end, 10);

    if (end == text || *end != '\0' || level < 0 || level > 5) {
        log_error("invalid verbosity '%s': give a number from 0 (errors "
                  "only) to 5",
                  text);
        return -1;
    }
    log_set_level((int)level);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;

    log_set_level(LOG_WARN);
    while (i < argc && argv[i][0] == '-') {
        const char *arg = argv[i];

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(main_help, stdout);
            return 0;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("drawbridge %s\n", DRAWBRIDGE_VERSION);
            return 0;
        }
        if ((strcmp(arg, "-v") == 0 || strcmp(arg, "--verbosity") == 0) &&
            i + 1 < argc) {
            if (main_parse_verbosity(argv[i + 1]) != 0) {
                return 2;
            }
            i += 2;
            continue;
        }
        log_error("unknown option '%s'; run 'drawbridge --help'", arg);
        return 2;
    }
    if (i == argc) {
        fputs(main_help, stderr);
        return 2;
    }
    if (strcmp(argv[i], "cert") == 0) {
        return cert_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "relay") == 0) {
        return relay_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "enabler") == 0) {
        return enabler_main(argc - i, argv + i);
    }
    if (strcmp(argv[i], "doctor") == 0) {
        return doctor_main(argc - i, argv + i);
    }
    log_error("unknown command '%s'; run 'drawbridge --help' for the list",
              argv[i]);
    return 2;
}
