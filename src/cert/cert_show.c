#include "cert/cert.h"

#include "common/log.h"

int cert_show_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    log_error("cert show is not built yet");
    return CERT_EXIT_FAIL;
}
