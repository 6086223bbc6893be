#include "tunnel/tunnel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int tunnel_session_options(nghttp2_option **option)
{
    if (nghttp2_option_new(option) != 0) {
        return -1;
    }
    nghttp2_option_set_no_auto_window_update(*option, 1);
    /* A forwarded head may reach the relay's 64 KiB client limit plus the
     * Forwarded headers it adds, above nghttp2's 64 KiB default. */
    nghttp2_option_set_max_send_header_block_length(*option, 256 * 1024);
    return 0;
}

int tunnel_session_start(nghttp2_session *session, uint32_t max_streams)
{
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, TUNNEL_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 256 * 1024},
    };
    int rc;

    rc = nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings,
                                 sizeof(settings) / sizeof(settings[0]));
    if (rc != 0) {
        return rc;
    }
    return nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                                 TUNNEL_CONNECTION_WINDOW);
}

int tunnel_session_receive(nghttp2_session *session, struct bufferevent *bev)
{
    struct evbuffer *input = bufferevent_get_input(bev);

    while (evbuffer_get_length(input) > 0) {
        struct evbuffer_iovec vec;
        ssize_t n;

        if (evbuffer_peek(input, -1, NULL, &vec, 1) < 1) {
            break;
        }
        n = nghttp2_session_mem_recv(session, vec.iov_base, vec.iov_len);
        if (n < 0) {
            return (int)n;
        }
        evbuffer_drain(input, (size_t)n);
    }
    return 0;
}

int tunnel_session_flush(nghttp2_session *session, struct bufferevent *bev)
{
    struct evbuffer *output = bufferevent_get_output(bev);

    while (evbuffer_get_length(output) < TUNNEL_OUTPUT_HIGH) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(session, &data);

        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            break;
        }
        if (evbuffer_add(output, data, (size_t)n) != 0) {
            return NGHTTP2_ERR_NOMEM;
        }
    }
    return 0;
}

bool tunnel_session_finished(nghttp2_session *session)
{
    return !nghttp2_session_want_read(session) &&
           !nghttp2_session_want_write(session);
}

int tunnel_body_init(struct tunnel_body *body, void (*on_drain)(void *),
                     void *owner)
{
    memset(body, 0, sizeof(*body));
    body->buf = evbuffer_new();
    body->on_drain = on_drain;
    body->owner = owner;
    body->stream_id = -1;
    return body->buf != NULL ? 0 : -1;
}

static void tunnel_nv_free(nghttp2_nv *nv, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(nv[i].name);
        free(nv[i].value);
    }
    free(nv);
}

void tunnel_body_free(struct tunnel_body *body)
{
    if (body->buf != NULL) {
        evbuffer_free(body->buf);
    }
    tunnel_nv_free(body->trailers, body->trailer_count);
    memset(body, 0, sizeof(*body));
    body->stream_id = -1;
}

static int tunnel_body_submit_trailers(struct tunnel_body *body)
{
    return nghttp2_submit_trailer(body->session, body->stream_id,
                                  body->trailers, body->trailer_count);
}

static ssize_t tunnel_body_read(nghttp2_session *session, int32_t stream_id,
                                uint8_t *out, size_t length,
                                uint32_t *data_flags,
                                nghttp2_data_source *source, void *user_data)
{
    struct tunnel_body *body = source->ptr;
    size_t before = evbuffer_get_length(body->buf);
    int n;

    (void)session;
    (void)stream_id;
    (void)user_data;
    if (before == 0 && !body->end) {
        body->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    n = evbuffer_remove(body->buf, out, length);
    if (n < 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    body->sent += (uint64_t)n;
    if (body->end && evbuffer_get_length(body->buf) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (body->trailer_count > 0) {
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (tunnel_body_submit_trailers(body) != 0) {
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
        }
    }
    if (before >= TUNNEL_BODY_LOW &&
        evbuffer_get_length(body->buf) < TUNNEL_BODY_LOW &&
        body->on_drain != NULL) {
        body->on_drain(body->owner);
    }
    return n;
}

void tunnel_body_attach(struct tunnel_body *body, nghttp2_session *session,
                        int32_t stream_id, nghttp2_data_provider *provider)
{
    body->session = session;
    body->stream_id = stream_id;
    provider->source.ptr = body;
    provider->read_callback = tunnel_body_read;
}

static void tunnel_body_wake(struct tunnel_body *body)
{
    if (body->deferred && body->session != NULL && body->stream_id > 0) {
        body->deferred = false;
        nghttp2_session_resume_data(body->session, body->stream_id);
    }
}

int tunnel_body_push(struct tunnel_body *body, const void *data, size_t len)
{
    if (evbuffer_add(body->buf, data, len) != 0) {
        return -1;
    }
    tunnel_body_wake(body);
    return 0;
}

static int tunnel_nv_copy(const nghttp2_nv *src, size_t count, nghttp2_nv **dst)
{
    *dst = calloc(count, sizeof(**dst));
    if (*dst == NULL) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        nghttp2_nv *nv = &(*dst)[i];

        nv->name = malloc(src[i].namelen + 1);
        nv->value = malloc(src[i].valuelen + 1);
        if (nv->name == NULL || nv->value == NULL) {
            tunnel_nv_free(*dst, i + 1);
            *dst = NULL;
            return -1;
        }
        memcpy(nv->name, src[i].name, src[i].namelen);
        memcpy(nv->value, src[i].value, src[i].valuelen);
        nv->namelen = src[i].namelen;
        nv->valuelen = src[i].valuelen;
        nv->flags = NGHTTP2_NV_FLAG_NONE;
    }
    return 0;
}

int tunnel_body_finish(struct tunnel_body *body, const nghttp2_nv *trailers,
                       size_t count)
{
    if (count > 0 && tunnel_nv_copy(trailers, count, &body->trailers) != 0) {
        return -1;
    }
    body->trailer_count = count;
    body->end = true;
    tunnel_body_wake(body);
    return 0;
}

bool tunnel_body_full(const struct tunnel_body *body)
{
    return evbuffer_get_length(body->buf) >= TUNNEL_BODY_HIGH;
}

static int64_t tunnel_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void tunnel_liveness_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct tunnel_liveness *liveness = arg;
    int64_t now = tunnel_now_ms();
    int64_t silent = now - liveness->last_frame_ms;

    (void)fd;
    (void)what;
    if (liveness->session == NULL) {
        return;
    }
    if (silent >= liveness->timeout_ms) {
        tunnel_liveness_stop(liveness);
        liveness->on_dead(liveness->owner);
        return;
    }
    if (silent >= liveness->interval_ms &&
        now - liveness->last_ping_ms >= liveness->interval_ms &&
        nghttp2_submit_ping(liveness->session, NGHTTP2_FLAG_NONE, NULL) == 0) {
        liveness->last_ping_ms = now;
        liveness->on_ping(liveness->owner);
    }
}

int tunnel_liveness_init(struct tunnel_liveness *liveness,
                         struct event_base *base, unsigned interval_ms,
                         unsigned timeout_ms, void (*on_ping)(void *),
                         void (*on_dead)(void *), void *owner)
{
    memset(liveness, 0, sizeof(*liveness));
    liveness->interval_ms = interval_ms;
    liveness->timeout_ms = timeout_ms;
    liveness->on_ping = on_ping;
    liveness->on_dead = on_dead;
    liveness->owner = owner;
    liveness->timer =
        event_new(base, -1, EV_PERSIST, tunnel_liveness_on_timer, liveness);
    return liveness->timer != NULL ? 0 : -1;
}

void tunnel_liveness_start(struct tunnel_liveness *liveness,
                           nghttp2_session *session)
{
    /* Checking four times per interval keeps the detection within a
     * quarter interval of the timeout. */
    unsigned tick =
        liveness->interval_ms / 4 > 0 ? liveness->interval_ms / 4 : 1;
    struct timeval period = {tick / 1000, (tick % 1000) * 1000};

    liveness->session = session;
    liveness->last_frame_ms = tunnel_now_ms();
    liveness->last_ping_ms = 0;
    event_add(liveness->timer, &period);
}

void tunnel_liveness_touch(struct tunnel_liveness *liveness)
{
    liveness->last_frame_ms = tunnel_now_ms();
}

void tunnel_liveness_stop(struct tunnel_liveness *liveness)
{
    liveness->session = NULL;
    if (liveness->timer != NULL) {
        event_del(liveness->timer);
    }
}

void tunnel_liveness_free(struct tunnel_liveness *liveness)
{
    if (liveness->timer != NULL) {
        event_free(liveness->timer);
        liveness->timer = NULL;
    }
}
