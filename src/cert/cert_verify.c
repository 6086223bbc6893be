#include "cert/cert.h"

#include "common/log.h"

int cert_verify_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    log_error("cert verify is not built yet");
    return CERT_EXIT_FAIL;
}
