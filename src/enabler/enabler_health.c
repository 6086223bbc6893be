/*
 * Polling the backend's --status-url. While the backend does not respond
 * to it with a 2xx status, the enabler keeps its tunnels closed, so that the
 * relays send the farm's requests to its other servers, or answer 503,
 * instead of routing them to a backend that can only fail.
 */
#include "common/log.h"
#include "enabler/enabler.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A poll that takes longer than this counts as a failure. */
#define ENABLER_HEALTH_TIMEOUT_S 5

struct enabler_health {
    struct enabler *enabler;
    struct event *timer;
    struct bufferevent *bev;
    struct http1_parser *parser;
    int status; /* of the poll in progress, 0 until its head arrives */
};

static void enabler_health_finish(struct enabler_health *health,
                                  const char *failure)
{
    struct enabler *enabler = health->enabler;
    bool up = failure == NULL && health->status >= 200 && health->status < 300;
    char why[160];

    if (health->bev != NULL) {
        bufferevent_free(health->bev);
        health->bev = NULL;
    }
    http1_parser_free(health->parser);
    health->parser = NULL;
    if (up && enabler->backend_down) {
        enabler->backend_down = false;
        log_info("backend %s responds to %s with %d again; reopening the "
                 "tunnels",
                 enabler->backend_address, enabler->opts->status_url,
                 health->status);
        enabler_tunnels_resume(enabler);
    } else if (!up && !enabler->backend_down && !enabler->stopping) {
        snprintf(why, sizeof(why), "%s",
                 failure ? failure : "it answered with another status");
        enabler->backend_down = true;
        log_warn("backend %s is down: %s %s (status %d); closing the tunnels "
                 "until it recovers",
                 enabler->backend_address, enabler->opts->status_url, why,
                 health->status);
        enabler_tunnels_suspend(enabler);
    }
}

static int enabler_health_on_head(struct http1_parser *parser,
                                  const struct http1_head *head, void *arg)
{
    struct enabler_health *health = arg;

    (void)parser;
    if (head->status >= 200) {
        health->status = head->status;
        return HTTP1_PAUSE; /* the status is all the poll needs */
    }
    return HTTP1_CONTINUE;
}

static const struct http1_callbacks enabler_health_callbacks = {
    .on_head = enabler_health_on_head,
};

static void enabler_health_on_read(struct bufferevent *bev, void *arg)
{
    struct enabler_health *health = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    struct evbuffer_iovec vec;
    size_t consumed = 0;
    enum http1_result rc;

    if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1) {
        return;
    }
    rc =
        http1_parser_feed(health->parser, vec.iov_base, vec.iov_len, &consumed);
    evbuffer_drain(input, consumed);
    if (health->status != 0) {
        enabler_health_finish(health, NULL);
    } else if (rc == HTTP1_ERROR) {
        enabler_health_finish(health, "gave an invalid response");
    }
}

static void enabler_health_on_event(struct bufferevent *bev, short what,
                                    void *arg)
{
    struct enabler_health *health = arg;
    struct enabler *enabler = health->enabler;

    if (what & BEV_EVENT_CONNECTED) {
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "GET %s HTTP/1.1\r\nHost: %s\r\n"
                            "Connection: close\r\n"
                            "User-Agent: drawbridge-enabler/%s\r\n\r\n",
                            enabler->opts->status_url,
                            enabler->opts->backend.host, DRAWBRIDGE_VERSION);
        return;
    }
    enabler_health_finish(
        health, what & BEV_EVENT_TIMEOUT ? "did not answer in time"
                : what & BEV_EVENT_EOF   ? "closed the connection without a "
                                           "response"
                                         : "could not be reached");
}

static void enabler_health_poll(evutil_socket_t fd, short what, void *arg)
{
    struct enabler_health *health = arg;
    struct enabler *enabler = health->enabler;
    struct timeval timeout = {ENABLER_HEALTH_TIMEOUT_S, 0};

    (void)fd;
    (void)what;
    if (health->bev != NULL) {
        return; /* the previous poll is still running */
    }
    health->status = 0;
    health->parser = http1_parser_new(HTTP1_RESPONSE, NULL,
                                      &enabler_health_callbacks, health);
    health->bev = enabler_backend_bufferevent(enabler);
    if (health->parser == NULL || health->bev == NULL) {
        enabler_health_finish(health, "could not be polled (out of memory)");
        return;
    }
    bufferevent_setcb(health->bev, enabler_health_on_read, NULL,
                      enabler_health_on_event, health);
    bufferevent_set_timeouts(health->bev, &timeout, &timeout);
    bufferevent_enable(health->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(
            health->bev, NULL, AF_UNSPEC, enabler->opts->backend.host,
            atoi(enabler->opts->backend.port)) != 0) {
        enabler_health_finish(health, "could not be reached");
    }
}

int enabler_health_start(struct enabler *enabler)
{
    unsigned ms = enabler->opts->status_interval_ms;
    struct timeval interval = {ms / 1000, (ms % 1000) * 1000};
    struct enabler_health *health;

    if (enabler->opts->status_url[0] == '\0') {
        return 0;
    }
    health = calloc(1, sizeof(*health));
    if (health == NULL) {
        return -1;
    }
    health->enabler = enabler;
    health->timer =
        event_new(enabler->base, -1, EV_PERSIST, enabler_health_poll, health);
    if (health->timer == NULL) {
        free(health);
        return -1;
    }
    enabler->health = health;
    event_add(health->timer, &interval);
    enabler_health_poll(-1, 0, health);
    return 0;
}

void enabler_health_stop(struct enabler *enabler)
{
    struct enabler_health *health = enabler->health;

    if (health == NULL) {
        return;
    }
    if (health->bev != NULL) {
        bufferevent_free(health->bev);
    }
    http1_parser_free(health->parser);
    event_free(health->timer);
    free(health);
    enabler->health = NULL;
}
