/*
 * ws: the ARI events WebSocket, a libwebsockets 4.1 client on its own
 * thread.
 *
 * lws is single-threaded and built here without external poll, so this
 * module owns a private lws context and the one thread that services it;
 * every lws call but lws_cancel_service() happens on that thread. Stopping
 * sets a flag and wakes the loop with lws_cancel_service() (which arrives
 * as LWS_CALLBACK_EVENT_WAIT_CANCELLED); the thread then destroys its
 * context itself. A mutex makes sure the stopper never calls
 * lws_cancel_service() on a context that is being destroyed.
 *
 * Reconnection: after any failure or close, the next attempt is scheduled
 * on the loop (lws_sul) after a jittered exponential backoff, "equal
 * jitter": the nominal delay doubles from backoff_min_ms up to
 * backoff_max_ms and the wait is uniformly in [delay/2, delay], so that
 * many instances do not reconnect in lockstep after an Asterisk restart.
 * A successful upgrade resets the backoff. An idle link is checked with
 * WebSocket pings (lws retry policy), so a peer that vanished without a
 * FIN is noticed too.
 */
#include "ari/ari_internal.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define RX_MAX (4u << 20) /* a bigger event is dropped, not buffered */

struct ari__ws {
    ari_client *c;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t ctx_lock; /* guards ctx against cancel-while-destroying */
    struct lws_context *ctx;
    struct lws *wsi;
    lws_sorted_usec_list_t sul; /* the reconnect timer */
    bool retry_pending;
    int attempt;
    int reported; /* -1 nothing reported yet, 0 down, 1 up */
    uint64_t rng;
    char host[256]; /* without [] for IPv6 */
    char host_hdr[300];
    char *path;
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_drop; /* the current message is over RX_MAX */
};

static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 20,
    .secs_since_valid_hangup = 30,
};

static uint64_t next_rand(struct ari__ws *ws)
{
    /* xorshift64: jitter needs spread, not cryptographic quality. */
    uint64_t x = ws->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ws->rng = x;
    return x;
}

static void report_state(struct ari__ws *ws, bool up)
{
    ari_client *c = ws->c;
    atomic_store(&c->connected, up);
    if (ws->reported == (int)up || atomic_load(&ws->stop))
        return;
    ws->reported = up;
    if (up)
        log_info("ari: events connected to %s:%d", ws->host, c->port);
    else
        log_warn("ari: events disconnected from %s:%d", ws->host, c->port);
    if (c->cb.on_state)
        c->cb.on_state(up, c->cb.ud);
}

static void connect_now(lws_sorted_usec_list_t *sul);

static void schedule_retry(struct ari__ws *ws)
{
    ari_client *c = ws->c;
    if (ws->retry_pending || atomic_load(&ws->stop))
        return;
    int64_t delay = c->backoff_min_ms;
    for (int i = 0; i < ws->attempt && delay < c->backoff_max_ms; i++)
        delay *= 2;
    if (delay > c->backoff_max_ms)
        delay = c->backoff_max_ms;
    int64_t half = delay / 2;
    int64_t wait = half + (int64_t)(next_rand(ws) % (uint64_t)(delay - half + 1));
    if (ws->attempt < 30)
        ws->attempt++;
    ws->retry_pending = true;
    log_debug("ari: events reconnect in %lld ms", (long long)wait);
    lws_sul_schedule(ws->ctx, 0, &ws->sul, connect_now, wait * LWS_US_PER_MS);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
    struct ari__ws *ws = lws_container_of(sul, struct ari__ws, sul);
    ari_client *c = ws->c;
    struct lws_client_connect_info ci;
    ws->retry_pending = false;
    if (atomic_load(&ws->stop))
        return;
    memset(&ci, 0, sizeof ci);
    ci.context = ws->ctx;
    ci.address = ws->host;
    ci.port = c->port;
    ci.path = ws->path;
    ci.host = ws->host_hdr;
    ci.origin = ws->host_hdr;
    ci.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
    ci.retry_and_idle_policy = &idle_policy;
    ci.pwsi = &ws->wsi;
    ci.userdata = ws;
    if (!lws_client_connect_via_info(&ci)) {
        /* Failed at once; CONNECTION_ERROR may or may not have run, and
         * schedule_retry is idempotent while a retry is pending. */
        ws->wsi = NULL;
        report_state(ws, false);
        schedule_retry(ws);
    }
}

static void deliver(struct ari__ws *ws)
{
    ari_client *c = ws->c;
    ari_event *ev = NULL;
    cs_err rc = ari_event_decode(ws->rx, ws->rx_len, &ev);
    if (rc != CS_OK) {
        atomic_fetch_add(&c->n_invalid, 1);
        log_warn("ari: undecodable event (%s): %.200s", cs_err_name(rc), ws->rx);
        return;
    }
    atomic_fetch_add(&c->n_events, 1);
    if (ev->type == ARI_EV_UNKNOWN) {
        atomic_fetch_add(&c->n_unknown, 1);
        log_debug("ari: ignoring event type %s", ev->type_name);
        ari_event_free(ev);
    } else if (c->cb.on_event) {
        c->cb.on_event(ev, c->cb.ud); /* ownership passes */
    } else {
        ari_event_free(ev);
    }
}

/* Messages may arrive in several fragments and several callbacks each;
 * collect them until the last byte of the final fragment. */
static void receive(struct ari__ws *ws, struct lws *wsi, const char *in, size_t len)
{
    if (!ws->rx_drop) {
        if (ws->rx_len + len > RX_MAX) {
            ws->rx_drop = true;
        } else if (ws->rx_len + len + 1 > ws->rx_cap) {
            size_t cap = ws->rx_cap ? ws->rx_cap : 16384;
            while (cap < ws->rx_len + len + 1)
                cap *= 2;
            char *n = realloc(ws->rx, cap);
            if (!n) {
                ws->rx_drop = true;
            } else {
                ws->rx = n;
                ws->rx_cap = cap;
            }
        }
        if (!ws->rx_drop) {
            memcpy(ws->rx + ws->rx_len, in, len);
            ws->rx_len += len;
            ws->rx[ws->rx_len] = '\0';
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return;
    if (ws->rx_drop) {
        atomic_fetch_add(&ws->c->n_invalid, 1);
        log_warn("ari: dropped an event over %u bytes", RX_MAX);
    } else if (ws->rx_len > 0) {
        deliver(ws);
    }
    ws->rx_len = 0;
    ws->rx_drop = false;
    if (ws->rx_cap > (256u << 10)) { /* do not keep a huge event's buffer */
        free(ws->rx);
        ws->rx = NULL;
        ws->rx_cap = 0;
    }
}

/* Asks Asterisk for the configured event types only: the application
 * exists once its WebSocket is up, and a restarted Asterisk forgot the
 * filter, so this runs after every connect. Events that arrive before it
 * takes effect, or when it fails (an Asterisk older than 13.26/16.3), are
 * filtered by the owner as before. */
static void apply_filter(ari_client *c)
{
    ari_error err;
    if (c->n_filter == 0)
        return;
    if (ari_application_filter(c, c->filter, c->n_filter, &err) != CS_OK)
        log_warn("ari: event filter not set (%d %s): every event type comes", err.http_status,
                 err.message);
}

static int on_lws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct ari__ws *ws = lws_context_user(lws_get_context(wsi));
    ari_client *c = ws ? ws->c : NULL;
    if (!ws)
        goto out;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        ws->attempt = 0;
        ws->rx_len = 0;
        ws->rx_drop = false;
        if (atomic_fetch_add(&c->n_connects, 1) > 0)
            atomic_fetch_add(&c->n_reconnects, 1);
        report_state(ws, true);
        apply_filter(c);
        if (c->cb.on_connected && !atomic_load(&ws->stop))
            c->cb.on_connected(c->cb.ud);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        receive(ws, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        /* Logged every time: at most one line per backoff step (<= 30 s),
         * and the reason (refused, 401 on a wrong api_key) is what an
         * operator needs. */
        log_warn("ari: events connect to %s:%d failed: %s", ws->host, c->port,
                 in ? (const char *)in : "?");
        ws->wsi = NULL;
        report_state(ws, false);
        schedule_retry(ws);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        ws->wsi = NULL;
        report_state(ws, false);
        schedule_retry(ws);
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* A wake-up from ari__ws_stop: the loop checks the flag. */
        break;
    default:
        break;
    }
out:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"ari", on_lws, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_error("ari: lws: %.*s", (int)n, line);
    else
        log_warn("ari: lws: %.*s", (int)n, line);
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_setup(void)
{
    lws_set_log_level(LLL_ERR, lws_log_emit);
}

static void *ws_thread(void *arg)
{
    struct ari__ws *ws = arg;
    /* The first attempt goes through the same path as every retry. */
    lws_sul_schedule(ws->ctx, 0, &ws->sul, connect_now, 1);
    ws->retry_pending = true;
    while (!atomic_load(&ws->stop))
        if (lws_service(ws->ctx, 0) < 0)
            break;
    pthread_mutex_lock(&ws->ctx_lock);
    struct lws_context *ctx = ws->ctx;
    ws->ctx = NULL;
    pthread_mutex_unlock(&ws->ctx_lock);
    atomic_store(&ws->stop, true); /* also when lws_service failed */
    lws_sul_cancel(&ws->sul);
    lws_context_destroy(ctx);
    atomic_store(&ws->c->connected, false);
    return NULL;
}

static void ws_free(struct ari__ws *ws)
{
    if (!ws)
        return;
    pthread_mutex_destroy(&ws->ctx_lock);
    free(ws->path);
    free(ws->rx);
    free(ws);
}

/* prefix/ari/events?app=<app>&api_key=<user>:<password> */
static char *events_path(const ari_client *c)
{
    const char *parts[] = {c->app, c->user, c->password};
    char *esc[3] = {NULL, NULL, NULL};
    char *path = NULL;
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]) * 3 + 1;
        esc[i] = malloc(n);
        if (!esc[i] || ari__url_escape(parts[i], esc[i], n) < 0)
            goto out;
    }
    size_t n = strlen(c->prefix) + strlen(esc[0]) + strlen(esc[1]) + strlen(esc[2]) + 64;
    path = malloc(n);
    if (path)
        snprintf(path, n, "%s/ari/events?app=%s&api_key=%s:%s", c->prefix, esc[0], esc[1], esc[2]);
out:
    for (int i = 0; i < 3; i++)
        free(esc[i]);
    return path;
}

cs_err ari__ws_start(ari_client *c)
{
    cs_err rc = CS_ERR_INTERNAL;
    struct lws_context_creation_info info;
    struct ari__ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        goto out;
    pthread_mutex_init(&ws->ctx_lock, NULL);
    ws->c = c;
    ws->reported = -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ws->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)ws;
    if (!ws->rng)
        ws->rng = 0x9e3779b97f4a7c15ull;
    /* lws wants the bare address; the Host header keeps the brackets. */
    const char *h = c->host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl >= 2) {
        h++;
        hl -= 2;
    }
    snprintf(ws->host, sizeof ws->host, "%.*s", (int)hl, h);
    snprintf(ws->host_hdr, sizeof ws->host_hdr, "%s:%d", c->host, c->port);
    ws->path = events_path(c);
    if (!ws->path)
        goto out;

    pthread_once(&lws_log_once, lws_log_setup);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.user = ws;
    /* lws sizes its fd tables from the fd limit; one link needs few. */
    info.fd_limit_per_thread = 16;
    if (c->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        log_error("ari: cannot create the lws context");
        goto out;
    }
    if (pthread_create(&ws->thread, NULL, ws_thread, ws) != 0) {
        lws_context_destroy(ws->ctx);
        goto out;
    }
    c->ws = ws;
    rc = CS_OK;
out:
    if (rc != CS_OK)
        ws_free(ws);
    return rc;
}

void ari__ws_stop(ari_client *c)
{
    struct ari__ws *ws = c->ws;
    if (!ws)
        return;
    if (pthread_equal(pthread_self(), ws->thread)) {
        /* From a callback: joining ourselves would deadlock. */
        log_error("ari: ari_client_stop called on the WebSocket thread; ignored");
        return;
    }
    pthread_mutex_lock(&ws->ctx_lock);
    atomic_store(&ws->stop, true);
    if (ws->ctx)
        lws_cancel_service(ws->ctx);
    pthread_mutex_unlock(&ws->ctx_lock);
    pthread_join(ws->thread, NULL);
    ws_free(ws);
    c->ws = NULL;
    atomic_store(&c->connected, false);
}
