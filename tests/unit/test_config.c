/*
 * Unit tests for src/common/config.c: loading rs.config files. Each test
 * writes its files into its own mkdtemp directory, which the teardown
 * removes, and reads the log through an open_memstream stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The sample from the rs.config documentation, unchanged. */
static const char sample_config[] =
    "# comment\n"
    "[options]\n"
    "verbosity = 1\n"
    "\n"
    "[relay_server]\n"
    "enable = yes\n"
    "host = relay1.example.com\n"
    "http_port = 80\n"
    "https_port = 443\n"
    "description = first relay\n"
    "\n"
    "[backend_farm]\n"
    "enable = yes\n"
    "id = sync_farm\n"
    "client_security = on\n"
    "backend_security = on\n"
    "description = Replication farm\n"
    "\n"
    "[backend_server]\n"
    "enable = yes\n"
    "farm = sync_farm\n"
    "id = sync_server1\n"
    "mac = 00-0C-29-5C-A9-4D\n"
    "token = 7b2493b0-d0d4-464f-b0de-24643e1e0feb\n";

#define SAMPLE_TOKEN "7b2493b0-d0d4-464f-b0de-24643e1e0feb"

/* Lines 1-3 of many configs: a relay that needs no TLS. */
#define RELAY_LINES "[relay_server]\nhost = relay1\nhttp_port = 80\n"

/* A token that tests search the log for, to prove it is never written. */
#define TEST_TOKEN "secret-token-value"

struct config_fixture {
    char dir[64];
    char path[128]; /* DIR/rs.config */
    FILE *log_stream;
    char *log_buf;
    size_t log_size;
    struct config cfg;
};

static int fixture_setup(void **state)
{
    struct config_fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/drawbridge-test-config-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/rs.config", fx->dir);
    fx->log_stream = open_memstream(&fx->log_buf, &fx->log_size);
    if (fx->log_stream == NULL) {
        rmdir(fx->dir);
        free(fx);
        return -1;
    }
    log_set_stream(fx->log_stream);
    log_set_level(LOG_WARN);
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct config_fixture *fx = *state;
    DIR *dir = opendir(fx->dir);
    struct dirent *entry;

    config_free(&fx->cfg);
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        char path[512];

        if (strcmp(entry->d_name, ".") == 0 ||
            strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", fx->dir, entry->d_name);
        if (remove(path) != 0) {
            fprintf(stderr, "cannot remove %s\n", path);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    rmdir(fx->dir);
    log_set_stream(NULL);
    fclose(fx->log_stream);
    free(fx->log_buf);
    free(fx);
    return 0;
}

/* Returns everything logged so far in this test. */
static const char *logged(struct config_fixture *fx)
{
    fflush(fx->log_stream);
    return fx->log_buf != NULL ? fx->log_buf : "";
}

/* Returns how many times NEEDLE occurs in HAYSTACK. */
static int count_of(const char *haystack, const char *needle)
{
    int count = 0;

    for (const char *p = strstr(haystack, needle); p != NULL;
         p = strstr(p + 1, needle)) {
        count++;
    }
    return count;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

/* Writes TEXT to the fixture's rs.config and loads it. */
static int load_text(struct config_fixture *fx, const char *text)
{
    write_text(fx->path, text);
    return config_load(fx->path, &fx->cfg);
}

/* Asserts that NEEDLE occurs in the log since OFFSET, and prints the log
 * with CONTEXT when it does not. */
static void expect_logged(struct config_fixture *fx, size_t offset,
                          const char *needle, const char *context)
{
    const char *text = logged(fx) + offset;

    if (strstr(text, needle) == NULL) {
        print_error("%s: expected \"%s\" in the log:\n%s\n", context, needle,
                    text);
        fail();
    }
}

/* Asserts that the log since OFFSET has a message starting "PATH:LINE: "
 * (or "PATH: " for LINE 0) that contains FRAGMENT. */
static void expect_message(struct config_fixture *fx, size_t offset, int line,
                           const char *fragment, const char *context)
{
    const char *text = logged(fx) + offset;
    char where[256];
    const char *hit;
    const char *end;

    if (line > 0) {
        snprintf(where, sizeof(where), "%s:%d: ", fx->path, line);
    } else {
        snprintf(where, sizeof(where), "%s: ", fx->path);
    }
    for (hit = strstr(text, where); hit != NULL; hit = strstr(hit + 1, where)) {
        end = strchr(hit, '\n');
        if (end == NULL) {
            end = hit + strlen(hit);
        }
        const char *found = strstr(hit, fragment);
        if (found != NULL && found < end) {
            return;
        }
    }
    print_error("%s: expected a message \"%s...%s\" in the log:\n%s\n", context,
                where, fragment, text);
    fail();
}

static void sample_with_tls_loads(void **state)
{
    struct config_fixture *fx = *state;
    const char *tls = "tls_certificate = relay.pem\n"
                      "tls_private_key = relay.key\n";
    char text[2048];
    const char *options_end = strstr(sample_config, "verbosity = 1\n");
    const struct config_relay *relay;
    const struct config_farm *farm;
    const struct config_server *server;

    /* The sample plus two TLS lines after line 3, so mac is on line 25. */
    options_end += strlen("verbosity = 1\n");
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(options_end - sample_config),
             sample_config, tls, options_end);
    assert_int_equal(load_text(fx, text), 0);

    assert_string_equal(fx->cfg.path, fx->path);
    assert_int_equal(fx->cfg.options.verbosity, 1);
    assert_int_equal(fx->cfg.relay_count, 1);
    relay = &fx->cfg.relays[0];
    assert_true(relay->enable);
    assert_string_equal(relay->host, "relay1.example.com");
    assert_string_equal(relay->id, "relay1.example.com");
    assert_int_equal(relay->http_port, 80);
    assert_int_equal(relay->https_port, 443);
    assert_string_equal(relay->description, "first relay");

    assert_int_equal(fx->cfg.farm_count, 1);
    farm = &fx->cfg.farms[0];
    assert_true(farm->enable);
    assert_string_equal(farm->id, "sync_farm");
    assert_int_equal(farm->client_security, CONFIG_SECURITY_ON);
    assert_int_equal(farm->backend_security, CONFIG_SECURITY_ON);
    assert_string_equal(farm->description, "Replication farm");
    assert_true(farm->strip_prefix);

    assert_int_equal(fx->cfg.server_count, 1);
    server = &fx->cfg.servers[0];
    assert_true(server->enable);
    assert_string_equal(server->farm, "sync_farm");
    assert_string_equal(server->id, "sync_server1");
    assert_string_equal(server->token, SAMPLE_TOKEN);
    assert_null(server->description);

    expect_message(fx, 0, 25, "mac is ignored", "sample");
    assert_int_equal(count_of(logged(fx), ": warning: "), 1);
    assert_null(strstr(logged(fx), SAMPLE_TOKEN));
}

static void sample_without_tls_fails_on_https(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, sample_config), -1);
    expect_message(fx, 0, 9, "https_port is set but [options] has no TLS",
                   "sample");
    expect_message(fx, 0, 23, "mac is ignored", "sample");
    assert_int_equal(count_of(logged(fx), ": error: "), 1);
    assert_null(strstr(logged(fx), SAMPLE_TOKEN));
    assert_null(fx->cfg.path);
    assert_null(fx->cfg.relays);
    assert_int_equal(fx->cfg.relay_count, 0);
    assert_null(fx->cfg.servers);
}

static void defaults_apply(void **state)
{
    struct config_fixture *fx = *state;
    const struct config_options *options = &fx->cfg.options;

    assert_int_equal(load_text(fx, RELAY_LINES), 0);
    assert_int_equal(options->verbosity, 1);
    assert_null(options->tls_certificate);
    assert_null(options->tls_private_key);
    assert_null(options->tls_pkcs12);
    assert_null(options->tls_pkcs12_password_file);
    assert_null(options->listen);
    assert_int_equal(options->listen_count, 0);
    assert_null(options->client_prefix);
    assert_null(options->log_file);
    assert_int_equal(options->max_header_bytes, 65536);
    assert_int_equal(options->max_header_fields, 100);
    assert_int_equal(options->header_timeout_ms, 10000);
    assert_int_equal(options->keepalive_timeout_ms, 60000);
    assert_int_equal(options->backend_timeout_ms, 60000);
    assert_int_equal(options->shutdown_timeout_ms, 30000);
    assert_int_equal(options->tunnel_handshake_timeout_ms, 10000);
    assert_int_equal(options->max_streams_per_tunnel, 1000);
    assert_int_equal(options->max_clients, 10000);

    assert_int_equal(fx->cfg.relay_count, 1);
    assert_true(fx->cfg.relays[0].enable);
    assert_string_equal(fx->cfg.relays[0].id, "relay1");
    assert_int_equal(fx->cfg.relays[0].https_port, 0);
    assert_null(fx->cfg.relays[0].description);
    assert_int_equal(fx->cfg.farm_count, 0);
    assert_int_equal(fx->cfg.server_count, 0);
    assert_string_equal(logged(fx), "");
}

static void ports_follow_rs_config_defaults(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, "[relay_server]\nhost = r\n"), 0);
    assert_int_equal(fx->cfg.relays[0].http_port, 80);
    assert_int_equal(fx->cfg.relays[0].https_port, 0);
    config_free(&fx->cfg);

    assert_int_equal(load_text(fx, "[options]\n"
                                   "tls_pkcs12 = relay.p12\n"
                                   "[relay_server]\nhost = r\n"),
                     0);
    assert_int_equal(fx->cfg.relays[0].https_port, 443);
    config_free(&fx->cfg);

    assert_int_equal(load_text(fx, "[relay_server]\nhost = r\n"
                                   "http_port = off\nhttps_port = OFF\n"),
                     -1);
    expect_message(fx, 0, 1, "has neither http_port nor https_port", "off");
}

static void trusted_proxies_parse(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, "[options]\n"
                                   "trusted_proxies = 10.0.0.5, 192.0.2.0/24,"
                                   " fd00::/8\n" RELAY_LINES),
                     0);
    assert_int_equal(fx->cfg.options.trusted_proxy_count, 3);
    assert_string_equal(fx->cfg.options.trusted_proxies[0], "10.0.0.5");
    assert_string_equal(fx->cfg.options.trusted_proxies[1], "192.0.2.0/24");
    assert_string_equal(fx->cfg.options.trusted_proxies[2], "fd00::/8");
}

static void affinity_keys_parse(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, "[relay_server]\nhost = r\n"
                                   "[backend_farm]\nid = a\n"
                                   "active_cookie = yes\n"
                                   "active_header = no\n"
                                   "[backend_farm]\nid = b\n"
                                   "active_cookie = off\n"
                                   "active_header = X-Sticky\n"),
                     0);
    assert_string_equal(fx->cfg.farms[0].active_cookie, CONFIG_AFFINITY_COOKIE);
    assert_null(fx->cfg.farms[0].active_header);
    assert_null(fx->cfg.farms[1].active_cookie);
    assert_string_equal(fx->cfg.farms[1].active_header, "X-Sticky");
    assert_string_equal(logged(fx), "");
}

static void affinity_name_invalid(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, "[relay_server]\nhost = r\n"
                                   "[backend_farm]\nid = a\n"
                                   "active_cookie = a;b\n"),
                     -1);
    expect_message(fx, 0, 5, "active_cookie = 'a;b' is neither yes, no nor",
                   "name");
}

static void disabled_relay_is_not_found(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, "[relay_server]\nhost = a\nenable = no\n"
                                   "[relay_server]\nhost = b\n"),
                     0);
    assert_null(config_find_relay(&fx->cfg, "a"));
    assert_non_null(config_find_relay(&fx->cfg, "b"));
    assert_string_equal(config_find_relay(&fx->cfg, NULL)->id, "b");
}

static void farm_defaults_apply(void **state)
{
    struct config_fixture *fx = *state;
    const struct config_farm *farm;

    assert_int_equal(load_text(fx, RELAY_LINES "[backend_farm]\nid = f\n"), 0);
    farm = config_find_farm(&fx->cfg, "f");
    assert_non_null(farm);
    assert_true(farm->enable);
    assert_true(farm->strip_prefix);
    assert_int_equal(farm->client_security, CONFIG_SECURITY_ANY);
    assert_int_equal(farm->backend_security, CONFIG_SECURITY_ANY);
    assert_string_equal(config_security_name(farm->client_security), "unset");
    assert_string_equal(config_security_name(CONFIG_SECURITY_ON), "on");
    assert_string_equal(config_security_name(CONFIG_SECURITY_OFF), "off");
}

static void names_are_case_insensitive(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[OPTIONS]\n"
                       "Verbosity = 3\n"
                       "MAX_CLIENTS = 7\n"
                       "[Relay_Server]\n"
                       "HOST = Relay1.Example.com\n"
                       "Http_Port = 8080\n"
                       "[BACKEND_FARM]\n"
                       "ID = Farm_A\n"
                       "Strip_Prefix = NO\n"
                       "Client_Security = OFF\n"
                       "[backend_SERVER]\n"
                       "Farm = Farm_A\n"
                       "Id = Server_A\n"
                       "TOKEN = Token_A\n";

    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(fx->cfg.options.verbosity, 3);
    assert_int_equal(fx->cfg.options.max_clients, 7);
    assert_string_equal(fx->cfg.relays[0].host, "Relay1.Example.com");
    assert_int_equal(fx->cfg.relays[0].http_port, 8080);
    assert_string_equal(fx->cfg.farms[0].id, "Farm_A");
    assert_false(fx->cfg.farms[0].strip_prefix);
    assert_int_equal(fx->cfg.farms[0].client_security, CONFIG_SECURITY_OFF);
    assert_string_equal(fx->cfg.servers[0].id, "Server_A");
    assert_string_equal(fx->cfg.servers[0].token, "Token_A");
    assert_string_equal(logged(fx), "");
}

static void booleans_accept_all_spellings(void **state)
{
    struct config_fixture *fx = *state;
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"yes", true},    {"YES", true},  {"on", true},   {"On", true},
        {"true", true},   {"TRUE", true}, {"1", true},    {"no", false},
        {"No", false},    {"off", false}, {"OFF", false}, {"false", false},
        {"False", false}, {"0", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];

        snprintf(text, sizeof(text), RELAY_LINES "enable = %s\n",
                 cases[i].text);
        if (load_text(fx, text) != 0) {
            print_error("enable = %s was rejected:\n%s\n", cases[i].text,
                        logged(fx));
            fail();
        }
        if (fx->cfg.relays[0].enable != cases[i].value) {
            print_error("enable = %s gave %d\n", cases[i].text,
                        fx->cfg.relays[0].enable);
            fail();
        }
        config_free(&fx->cfg);
    }
}

static void repeated_sections_each_count(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[relay_server]\n"
                       "host = relay1\n"
                       "http_port = 80\n"
                       "[relay_server]\n"
                       "id = second\n"
                       "host = relay2\n"
                       "http_port = 81\n"
                       "enable = no\n"
                       "[backend_farm]\n"
                       "id = farm1\n"
                       "description = first\n"
                       "[backend_server]\n"
                       "farm = farm1\n"
                       "id = server1\n"
                       "token = token1\n"
                       "[backend_server]\n"
                       "farm = farm1\n"
                       "id = server2\n"
                       "token = token2\n"
                       "[backend_farm]\n"
                       "id = farm2\n"
                       "description = second\n"
                       "[backend_server]\n"
                       "farm = farm2\n"
                       "id = server1\n"
                       "token = token3\n";
    const struct config_server *server;

    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(fx->cfg.relay_count, 2);
    assert_string_equal(fx->cfg.relays[0].id, "relay1");
    assert_true(fx->cfg.relays[0].enable);
    assert_string_equal(fx->cfg.relays[1].id, "second");
    assert_string_equal(fx->cfg.relays[1].host, "relay2");
    assert_int_equal(fx->cfg.relays[1].http_port, 81);
    assert_false(fx->cfg.relays[1].enable);

    assert_int_equal(fx->cfg.farm_count, 2);
    assert_string_equal(fx->cfg.farms[0].id, "farm1");
    assert_string_equal(fx->cfg.farms[0].description, "first");
    assert_string_equal(fx->cfg.farms[1].id, "farm2");
    assert_string_equal(fx->cfg.farms[1].description, "second");

    assert_int_equal(fx->cfg.server_count, 3);
    server = config_find_server(&fx->cfg, "farm1", "server1");
    assert_non_null(server);
    assert_string_equal(server->token, "token1");
    server = config_find_server(&fx->cfg, "farm1", "server2");
    assert_non_null(server);
    assert_string_equal(server->token, "token2");
    server = config_find_server(&fx->cfg, "farm2", "server1");
    assert_non_null(server);
    assert_string_equal(server->token, "token3");
    assert_string_equal(logged(fx), "");
}

static void find_is_case_sensitive(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[relay_server]\n"
                       "id = Relay_A\n"
                       "host = a.example.com\n"
                       "http_port = 80\n"
                       "[relay_server]\n"
                       "host = b.example.com\n"
                       "http_port = 80\n"
                       "[backend_farm]\n"
                       "id = Sync\n"
                       "[backend_server]\n"
                       "farm = Sync\n"
                       "id = Srv1\n"
                       "token = " TEST_TOKEN "\n";

    assert_int_equal(load_text(fx, text), 0);
    assert_null(config_find_relay(&fx->cfg, NULL));
    assert_ptr_equal(config_find_relay(&fx->cfg, "Relay_A"),
                     &fx->cfg.relays[0]);
    assert_null(config_find_relay(&fx->cfg, "relay_a"));
    assert_null(config_find_relay(&fx->cfg, "a.example.com"));
    assert_ptr_equal(config_find_relay(&fx->cfg, "b.example.com"),
                     &fx->cfg.relays[1]);
    assert_ptr_equal(config_find_farm(&fx->cfg, "Sync"), &fx->cfg.farms[0]);
    assert_null(config_find_farm(&fx->cfg, "sync"));
    assert_null(config_find_farm(&fx->cfg, "SYNC"));
    assert_ptr_equal(config_find_server(&fx->cfg, "Sync", "Srv1"),
                     &fx->cfg.servers[0]);
    assert_null(config_find_server(&fx->cfg, "Sync", "srv1"));
    assert_null(config_find_server(&fx->cfg, "sync", "Srv1"));
    assert_null(config_find_server(&fx->cfg, "Sync", "Srv2"));
}

static void find_only_relay_without_id(void **state)
{
    struct config_fixture *fx = *state;

    assert_int_equal(load_text(fx, RELAY_LINES), 0);
    assert_ptr_equal(config_find_relay(&fx->cfg, NULL), &fx->cfg.relays[0]);
    assert_ptr_equal(config_find_relay(&fx->cfg, "relay1"), &fx->cfg.relays[0]);
    assert_null(config_find_relay(&fx->cfg, "relay2"));
}

static void relative_paths_use_config_dir(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "tls_certificate = relay.pem\n"
                       "tls_private_key = keys/relay.key\n"
                       "log_file = /var/log/drawbridge.log\n" RELAY_LINES;
    char real_dir[PATH_MAX];
    char expected[PATH_MAX + 32];

    assert_non_null(realpath(fx->dir, real_dir));
    assert_int_equal(load_text(fx, text), 0);
    snprintf(expected, sizeof(expected), "%s/relay.pem", real_dir);
    assert_string_equal(fx->cfg.options.tls_certificate, expected);
    snprintf(expected, sizeof(expected), "%s/keys/relay.key", real_dir);
    assert_string_equal(fx->cfg.options.tls_private_key, expected);
    assert_string_equal(fx->cfg.options.log_file, "/var/log/drawbridge.log");
}

static void relative_paths_with_relative_config(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "tls_pkcs12 = relay.p12\n"
                       "tls_pkcs12_password_file = relay.pass\n"
                       "[relay_server]\n"
                       "host = relay1\n"
                       "https_port = 443\n";
    char real_dir[PATH_MAX];
    char expected[PATH_MAX + 32];
    char cwd[PATH_MAX];

    assert_non_null(realpath(fx->dir, real_dir));
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    write_text(fx->path, text);
    assert_int_equal(chdir(fx->dir), 0);
    assert_int_equal(config_load("rs.config", &fx->cfg), 0);
    assert_int_equal(chdir(cwd), 0);
    snprintf(expected, sizeof(expected), "%s/relay.p12", real_dir);
    assert_string_equal(fx->cfg.options.tls_pkcs12, expected);
    snprintf(expected, sizeof(expected), "%s/relay.pass", real_dir);
    assert_string_equal(fx->cfg.options.tls_pkcs12_password_file, expected);
    assert_int_equal(fx->cfg.relays[0].https_port, 443);
}

static void fractional_seconds_in_ms(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "header_timeout = 0.5\n"
                       "keepalive_timeout = 2.25\n"
                       "backend_timeout = 1.001\n"
                       "shutdown_timeout = 3\n"
                       "tunnel_handshake_timeout = 0.010\n" RELAY_LINES;

    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(fx->cfg.options.header_timeout_ms, 500);
    assert_int_equal(fx->cfg.options.keepalive_timeout_ms, 2250);
    assert_int_equal(fx->cfg.options.backend_timeout_ms, 1001);
    assert_int_equal(fx->cfg.options.shutdown_timeout_ms, 3000);
    assert_int_equal(fx->cfg.options.tunnel_handshake_timeout_ms, 10);
}

static void limits_listen_and_prefix(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "max_header_bytes = 1024\n"
                       "max_header_fields = 50\n"
                       "max_streams_per_tunnel = 10\n"
                       "max_clients = 5\n"
                       "listen = 127.0.0.1, ::1 ,10.0.0.1\n"
                       "client_prefix = /relay/client\n" RELAY_LINES;

    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(fx->cfg.options.max_header_bytes, 1024);
    assert_int_equal(fx->cfg.options.max_header_fields, 50);
    assert_int_equal(fx->cfg.options.max_streams_per_tunnel, 10);
    assert_int_equal(fx->cfg.options.max_clients, 5);
    assert_int_equal(fx->cfg.options.listen_count, 3);
    assert_string_equal(fx->cfg.options.listen[0], "127.0.0.1");
    assert_string_equal(fx->cfg.options.listen[1], "::1");
    assert_string_equal(fx->cfg.options.listen[2], "10.0.0.1");
    assert_string_equal(fx->cfg.options.client_prefix, "/relay/client");
}

static void lexical_forms_accepted(void **state)
{
    struct config_fixture *fx = *state;
    /* A byte order mark, CRLF endings, both comment styles, indentation,
     * an inline comment, a `:` separator and spaces in a section name. */
    const char *text = "\xEF\xBB\xBF# comment\r\n"
                       "; another comment\r\n"
                       "[ relay_server ]\r\n"
                       "   host = relay1 ; the public name\r\n"
                       "\thttp_port: 80\r\n"
                       "    description = Farm #2 relay\r\n";

    assert_int_equal(load_text(fx, text), 0);
    assert_string_equal(fx->cfg.relays[0].host, "relay1");
    assert_int_equal(fx->cfg.relays[0].http_port, 80);
    assert_string_equal(fx->cfg.relays[0].description, "Farm #2 relay");
    assert_string_equal(logged(fx), "");
}

static void unknown_names_only_warn(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = RELAY_LINES "color = blue\n"
                                   "[extra_section]\n"
                                   "foo = bar\n"
                                   "baz = 1\n"
                                   "[options]\n"
                                   "frobnicate = yes\n";

    assert_int_equal(load_text(fx, text), 0);
    expect_message(fx, 0, 4, "unknown key color in [relay_server]", "key");
    expect_message(fx, 0, 5, "unknown section [extra_section]", "section");
    expect_message(fx, 0, 9, "unknown key frobnicate in [options]", "key");
    assert_int_equal(count_of(logged(fx), ": warning: "), 3);
    assert_null(strstr(logged(fx), "foo"));
    assert_null(strstr(logged(fx), ": error: "));
}

static void unimplemented_keys_warn(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "start = auto\n"
                       "shared_mem = 64\n" RELAY_LINES "[backend_farm]\n"
                       "id = f\n"
                       "verbosity = 4\n"
                       "[backend_server]\n"
                       "farm = f\n"
                       "id = s\n"
                       "token = " TEST_TOKEN "\n"
                       "mac = 00-0C-29-5C-A9-4D\n"
                       "verbosity = 4\n";

    assert_int_equal(load_text(fx, text), 0);
    expect_message(fx, 0, 2, "start has no effect", "start");
    expect_message(fx, 0, 3, "shared_mem has no effect", "shared_mem");
    expect_message(fx, 0, 9, "verbosity is not implemented per farm", "farm");
    expect_message(fx, 0, 14, "mac is ignored", "mac");
    expect_message(fx, 0, 15, "verbosity is not implemented per server",
                   "server");
    assert_int_equal(count_of(logged(fx), ": warning: "), 5);
    assert_null(strstr(logged(fx), TEST_TOKEN));
}

static void repeated_key_warns_last_wins(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = RELAY_LINES "host = relay2\n"
                                   "[backend_farm]\n"
                                   "id = f\n"
                                   "[backend_server]\n"
                                   "farm = f\n"
                                   "id = s\n"
                                   "token = first-" TEST_TOKEN "\n"
                                   "token = " TEST_TOKEN "\n";

    assert_int_equal(load_text(fx, text), 0);
    assert_string_equal(fx->cfg.relays[0].host, "relay2");
    assert_string_equal(fx->cfg.servers[0].token, TEST_TOKEN);
    expect_message(fx, 0, 4, "host is also set at line 2", "host");
    expect_message(fx, 0, 11, "token is also set at line 10", "token");
    assert_null(strstr(logged(fx), TEST_TOKEN));
}

static void ids_differing_in_case_warn(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = RELAY_LINES "[backend_farm]\n"
                                   "id = Farm\n"
                                   "[backend_farm]\n"
                                   "id = farm\n"
                                   "[backend_server]\n"
                                   "farm = farm\n"
                                   "id = S1\n"
                                   "token = t1\n"
                                   "[backend_server]\n"
                                   "farm = farm\n"
                                   "id = s1\n"
                                   "token = t2\n"
                                   "[backend_server]\n"
                                   "farm = Farm\n"
                                   "id = s1\n"
                                   "token = t3\n";

    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(fx->cfg.farm_count, 2);
    assert_int_equal(fx->cfg.server_count, 3);
    expect_message(fx, 0, 7, "farm id 'farm' differs only in case", "farm");
    expect_message(fx, 0, 14, "server id 's1' differs only in case", "srv");
    /* s1 in farm Farm shares no farm with S1 or s1, so it gets no warning. */
    assert_int_equal(count_of(logged(fx), ": warning: "), 2);
    assert_ptr_equal(config_find_server(&fx->cfg, "Farm", "s1"),
                     &fx->cfg.servers[2]);
    assert_ptr_equal(config_find_server(&fx->cfg, "farm", "S1"),
                     &fx->cfg.servers[0]);
}

/* A config with one error, the line of the error and a fragment of its
 * message. */
struct error_case {
    const char *name;
    const char *text;
    int line; /* 0 for a message about the whole file */
    const char *fragment;
};

static const struct error_case error_cases[] = {
    {"invalid number", "[relay_server]\nhost = r\nhttp_port = eighty\n", 3,
     "http_port = 'eighty' is not a valid number"},
    {"negative number", "[relay_server]\nhost = r\nhttp_port = -1\n", 3,
     "http_port = '-1' is not a valid number"},
    {"port out of range", "[relay_server]\nhost = r\nhttp_port = 70000\n", 3,
     "http_port = 70000 is out of range; use 1 to 65535, or 0 to turn it off"},
    {"huge port",
     "[relay_server]\nhost = r\nhttp_port = 99999999999999999999999\n", 3,
     "is out of range"},
    {"invalid boolean", RELAY_LINES "enable = maybe\n", 4,
     "enable = 'maybe' is not a boolean"},
    {"invalid security",
     RELAY_LINES "[backend_farm]\nid = f\n"
                 "client_security = yes\n",
     6, "client_security = 'yes' is invalid"},
    {"verbosity out of range", "[options]\nverbosity = 6\n" RELAY_LINES, 2,
     "verbosity = 6 is out of range; use 0 to 5"},
    {"zero limit", "[options]\nmax_header_fields = 0\n" RELAY_LINES, 2,
     "max_header_fields = 0 is out of range"},
    {"zero time", "[options]\nheader_timeout = 0\n" RELAY_LINES, 2,
     "header_timeout = '0' is not a valid time"},
    {"time with 4 decimals", "[options]\nheader_timeout = 1.2345\n" RELAY_LINES,
     2, "header_timeout = '1.2345' is not a valid time"},
    {"time with unit", "[options]\nbackend_timeout = 5s\n" RELAY_LINES, 2,
     "backend_timeout = '5s' is not a valid time"},
    {"time too large", "[options]\nbackend_timeout = 9999999\n" RELAY_LINES, 2,
     "is not a valid time"},
    {"key outside section", "verbosity = 2\n" RELAY_LINES, 1,
     "verbosity is outside any section"},
    {"duplicate options", "[options]\n" RELAY_LINES "[options]\n", 5,
     "second [options] section (the first is at line 1)"},
    {"duplicate farm id",
     RELAY_LINES "[backend_farm]\nid = f\n[backend_farm]\nid = f\n", 7,
     "duplicate farm id 'f' (first at line 5)"},
    {"duplicate server id",
     RELAY_LINES "[backend_farm]\nid = f\n"
                 "[backend_server]\nfarm = f\nid = s\ntoken = t1\n"
                 "[backend_server]\nfarm = f\nid = s\ntoken = t2\n",
     12, "duplicate server id 's' in farm 'f' (first at line 8)"},
    {"missing farm",
     RELAY_LINES "[backend_server]\nfarm = nofarm\nid = s\ntoken = t\n", 5,
     "farm 'nofarm' does not exist"},
    {"farm differing in case",
     RELAY_LINES "[backend_farm]\nid = sync\n"
                 "[backend_server]\nfarm = Sync\nid = s\ntoken = t\n",
     7, "farm ids are case-sensitive, and the farm at line 4 is 'sync'"},
    {"server without token",
     RELAY_LINES "[backend_farm]\nid = f\n[backend_server]\nfarm = f\n"
                 "id = s\n",
     6, "[backend_server] has no token"},
    {"server with empty token",
     RELAY_LINES "[backend_farm]\nid = f\n[backend_server]\nfarm = f\n"
                 "id = s\ntoken =\n",
     9, "token is empty"},
    {"server without id",
     RELAY_LINES "[backend_farm]\nid = f\n[backend_server]\nfarm = f\n"
                 "token = " TEST_TOKEN "\n",
     6, "[backend_server] has no id"},
    {"server without farm",
     RELAY_LINES "[backend_server]\nid = s\ntoken = " TEST_TOKEN "\n", 4,
     "[backend_server] has no farm"},
    {"farm without id", RELAY_LINES "[backend_farm]\ndescription = x\n", 4,
     "[backend_farm] has no id"},
    {"empty id", RELAY_LINES "[backend_farm]\nid =\n", 5, "id is empty"},
    {"id with slash", RELAY_LINES "[backend_farm]\nid = a/b\n", 5,
     "id 'a/b' contains '/'"},
    {"no relay section", "[options]\nverbosity = 1\n", 0,
     "no [relay_server] section"},
    {"ports that clash",
     "[relay_server]\nhost = r\nhttp_port = 8080\nhttps_port = 8080\n"
     "[options]\ntls_pkcs12 = r.p12\n",
     4, "http_port and https_port are both 8080"},
    {"relay with ports off",
     "[relay_server]\nhost = r\nhttp_port = 0\nhttps_port = 0\n", 1,
     "has neither http_port nor https_port"},
    {"relay without host", "[relay_server]\nhttp_port = 80\n", 1,
     "[relay_server] has no host"},
    {"duplicate relay id",
     RELAY_LINES "[relay_server]\nid = relay1\n"
                 "host = other\nhttp_port = 80\n",
     4, "relay id 'relay1' is also used by the [relay_server] at line 1"},
    {"https without tls", "[relay_server]\nhost = r\nhttps_port = 443\n", 3,
     "https_port is set but [options] has no TLS certificate"},
    {"certificate without key",
     "[options]\ntls_certificate = a.pem\n"
     "[relay_server]\nhost = r\nhttp_port = 80\n",
     2, "tls_certificate is set but tls_private_key is not"},
    {"key without certificate",
     "[options]\ntls_private_key = a.key\n" RELAY_LINES, 2,
     "tls_private_key is set but tls_certificate is not"},
    {"pkcs12 with certificate",
     "[options]\ntls_certificate = a.pem\ntls_private_key = a.key\n"
     "tls_pkcs12 = a.p12\n" RELAY_LINES,
     4, "tls_pkcs12 and tls_certificate (line 2) are both set"},
    {"empty path", "[options]\nlog_file =\n" RELAY_LINES, 2,
     "log_file is empty"},
    {"prefix without slash", "[options]\nclient_prefix = relay\n" RELAY_LINES,
     2, "client_prefix 'relay' is invalid"},
    {"prefix with trailing slash",
     "[options]\nclient_prefix = /relay/\n" RELAY_LINES, 2,
     "client_prefix '/relay/' is invalid"},
    {"prefix of slash only", "[options]\nclient_prefix = /\n" RELAY_LINES, 2,
     "client_prefix '/' is invalid"},
    {"prefix with dot segment",
     "[options]\nclient_prefix = /a/../b\n" RELAY_LINES, 2,
     "client_prefix '/a/../b' is invalid"},
    {"prefix with space", "[options]\nclient_prefix = /a b\n" RELAY_LINES, 2,
     "client_prefix '/a b' is invalid"},
    {"listen host name",
     "[options]\nlisten = 127.0.0.1, localhost\n" RELAY_LINES, 2,
     "listen entry 'localhost' is invalid; write IPv4 or IPv6 addresses"},
    {"trusted proxy not a network",
     "[options]\ntrusted_proxies = 10.0.0.0/33\n" RELAY_LINES, 2,
     "trusted_proxies entry '10.0.0.0/33' is invalid"},
    {"listen empty item", "[options]\nlisten = 127.0.0.1,,::1\n" RELAY_LINES, 2,
     "listen entry '' is invalid"},
    {"header without bracket", RELAY_LINES "[backend_farm\nid = f\n", 4,
     "section header has no closing ']'"},
    {"line without equals", RELAY_LINES "enable\n", 4,
     "expected 'key = value'"},
    {"key name missing", RELAY_LINES "= yes\n", 4, "no key name before '='"},
    {"comment hides equals", RELAY_LINES "enable ; = yes\n", 4,
     "expected 'key = value'"},
};

static void each_error_names_its_line(void **state)
{
    struct config_fixture *fx = *state;

    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        size_t offset = strlen(logged(fx));

        if (load_text(fx, c->text) != -1) {
            print_error("%s: config_load succeeded\n", c->name);
            fail();
        }
        expect_message(fx, offset, c->line, c->fragment, c->name);
        assert_null(fx->cfg.path);
        assert_int_equal(fx->cfg.relay_count, 0);
        assert_int_equal(fx->cfg.farm_count, 0);
        assert_int_equal(fx->cfg.server_count, 0);
    }
    assert_null(strstr(logged(fx), TEST_TOKEN));
}

static void two_errors_both_reported(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[relay_server]\n"
                       "host = relay1\n"
                       "http_port = 80\n"
                       "enable = maybe\n"
                       "[backend_farm]\n"
                       "id = f\n"
                       "[backend_server]\n"
                       "farm = f\n"
                       "id = s\n";

    assert_int_equal(load_text(fx, text), -1);
    expect_message(fx, 0, 4, "enable = 'maybe' is not a boolean", "bool");
    expect_message(fx, 0, 7, "[backend_server] has no token", "token");
    assert_int_equal(count_of(logged(fx), ": error: "), 2);
}

static void invalid_value_not_reported_twice(void **state)
{
    struct config_fixture *fx = *state;
    const char *text = "[options]\n"
                       "tls_certificate =\n"
                       "tls_private_key = relay.key\n"
                       "[relay_server]\n"
                       "host = relay1\n"
                       "https_port = 4x3\n"
                       "[backend_server]\n"
                       "farm =\n"
                       "id = s\n"
                       "token = t\n";

    assert_int_equal(load_text(fx, text), -1);
    expect_message(fx, 0, 2, "tls_certificate is empty", "certificate");
    expect_message(fx, 0, 6, "https_port = '4x3' is not a valid number",
                   "port");
    expect_message(fx, 0, 8, "farm is empty", "farm");
    assert_int_equal(count_of(logged(fx), ": error: "), 3);
}

/* Builds a [relay_server] config whose description line has LENGTH
 * characters, into TEXT. */
static void make_long_line_config(char *text, size_t size, size_t length)
{
    const char *key = "description = ";
    size_t used;

    used = (size_t)snprintf(text, size, RELAY_LINES "%s", key);
    for (size_t i = strlen(key); i < length && used + 2 < size; i++) {
        text[used++] = 'x';
    }
    text[used++] = '\n';
    text[used] = '\0';
}

static void line_at_limit_loads(void **state)
{
    struct config_fixture *fx = *state;
    char text[1024];

    make_long_line_config(text, sizeof(text), 197);
    assert_int_equal(load_text(fx, text), 0);
    assert_int_equal(strlen(fx->cfg.relays[0].description),
                     197 - strlen("description = "));
}

static void line_over_limit_fails(void **state)
{
    struct config_fixture *fx = *state;
    char text[1024];

    make_long_line_config(text, sizeof(text), 198);
    assert_int_equal(load_text(fx, text), -1);
    expect_message(fx, 0, 4, "line is longer than 197 characters", "198");

    make_long_line_config(text, sizeof(text), 600);
    assert_int_equal(load_text(fx, text), -1);
    expect_message(fx, 0, 4, "line is longer than 197 characters", "600");
    /* The rest of the long line must not be read as more lines. */
    assert_int_equal(count_of(logged(fx), ": error: "), 2);
}

static void nul_byte_fails(void **state)
{
    struct config_fixture *fx = *state;
    static const char text[] = RELAY_LINES "description = a\0b\n";
    FILE *fp = fopen(fx->path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp), sizeof(text) - 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(config_load(fx->path, &fx->cfg), -1);
    expect_message(fx, 0, 4, "line contains a NUL byte", "nul");
}

static void many_errors_are_capped(void **state)
{
    struct config_fixture *fx = *state;
    char text[4096];
    size_t used = 0;

    used += (size_t)snprintf(text, sizeof(text), RELAY_LINES);
    for (int i = 0; i < 60; i++) {
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "enable = maybe\n");
    }
    assert_int_equal(load_text(fx, text), -1);
    expect_message(fx, 0, 4, "enable = 'maybe' is not a boolean", "first");
    expect_message(fx, 0, 53, "enable = 'maybe' is not a boolean", "50th");
    assert_null(strstr(logged(fx), ":54: enable = 'maybe'"));
    expect_message(fx, 0, 0, "10 more errors are not shown", "summary");
    assert_int_equal(count_of(logged(fx), ": error: "), 51);
}

static void missing_file_fails(void **state)
{
    struct config_fixture *fx = *state;
    char path[256];

    snprintf(path, sizeof(path), "%s/missing.config", fx->dir);
    assert_int_equal(config_load(path, &fx->cfg), -1);
    expect_logged(fx, 0, "cannot open the configuration file", "missing");
    expect_logged(fx, 0, path, "missing");
    assert_null(fx->cfg.path);
}

static void unreadable_file_fails(void **state)
{
    struct config_fixture *fx = *state;
    char path[256];

    /* A directory opens but cannot be read, even by root. */
    snprintf(path, sizeof(path), "%s/dir.config", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(config_load(path, &fx->cfg), -1);
    expect_logged(fx, 0, path, "directory");
    expect_logged(fx, 0, "cannot read the file", "directory");
    assert_null(fx->cfg.path);
}

static void free_zeroes_and_reloads(void **state)
{
    struct config_fixture *fx = *state;
    struct config zero;

    memset(&zero, 0, sizeof(zero));
    assert_int_equal(load_text(fx, sample_config), -1);
    config_free(&fx->cfg);
    assert_memory_equal(&fx->cfg, &zero, sizeof(zero));
    assert_int_equal(load_text(fx, RELAY_LINES), 0);
    config_free(&fx->cfg);
    assert_memory_equal(&fx->cfg, &zero, sizeof(zero));
    config_free(&fx->cfg);
}

#define CONFIG_TEST(name)                                                      \
    cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CONFIG_TEST(sample_with_tls_loads),
        CONFIG_TEST(sample_without_tls_fails_on_https),
        CONFIG_TEST(defaults_apply),
        CONFIG_TEST(farm_defaults_apply),
        CONFIG_TEST(names_are_case_insensitive),
        CONFIG_TEST(booleans_accept_all_spellings),
        CONFIG_TEST(repeated_sections_each_count),
        CONFIG_TEST(find_is_case_sensitive),
        CONFIG_TEST(find_only_relay_without_id),
        CONFIG_TEST(relative_paths_use_config_dir),
        CONFIG_TEST(relative_paths_with_relative_config),
        CONFIG_TEST(fractional_seconds_in_ms),
        CONFIG_TEST(limits_listen_and_prefix),
        CONFIG_TEST(lexical_forms_accepted),
        CONFIG_TEST(unknown_names_only_warn),
        CONFIG_TEST(unimplemented_keys_warn),
        CONFIG_TEST(repeated_key_warns_last_wins),
        CONFIG_TEST(ids_differing_in_case_warn),
        CONFIG_TEST(each_error_names_its_line),
        CONFIG_TEST(two_errors_both_reported),
        CONFIG_TEST(ports_follow_rs_config_defaults),
        CONFIG_TEST(disabled_relay_is_not_found),
        CONFIG_TEST(affinity_keys_parse),
        CONFIG_TEST(affinity_name_invalid),
        CONFIG_TEST(trusted_proxies_parse),
        CONFIG_TEST(invalid_value_not_reported_twice),
        CONFIG_TEST(line_at_limit_loads),
        CONFIG_TEST(line_over_limit_fails),
        CONFIG_TEST(nul_byte_fails),
        CONFIG_TEST(many_errors_are_capped),
        CONFIG_TEST(missing_file_fails),
        CONFIG_TEST(unreadable_file_fails),
        CONFIG_TEST(free_zeroes_and_reloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
