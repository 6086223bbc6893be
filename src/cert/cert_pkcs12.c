#include "cert/cert.h"

#include "common/log.h"

int cert_pkcs12_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    log_error("cert pkcs12 is not built yet");
    return CERT_EXIT_FAIL;
}
