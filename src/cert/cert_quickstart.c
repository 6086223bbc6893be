#include "cert/cert.h"

#include "common/log.h"

int cert_quickstart_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    log_error("cert quickstart is not built yet");
    return CERT_EXIT_FAIL;
}
