/*
 * server: libwebsockets plumbing for ari-sim. See server.h.
 *
 * One protocol serves everything: ARI clients send no WebSocket
 * subprotocol, so lws hands their upgrade to protocols[0]. Each connection
 * has one pss: an HTTP request being read or answered, or an events
 * WebSocket with its queue.
 *
 * Responses are written from LWS_CALLBACK_HTTP_WRITEABLE only (headers
 * first, then the body in chunks), because a write outside it may be
 * partial. Events are serialized once and shared, refcounted, by every
 * session that receives them; a session whose queue overflows is dropped,
 * which keeps memory bounded when a client stops reading.
 */
#include "server.h"
#include "ctl.h"
#include "model.h"
#include "rest.h"

#include "common/log.h"

#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_MAX_ARGS  48
#define SRV_BODY_MAX  (64 * 1024)
#define SRV_CHUNK     (32 * 1024)
#define SRV_WS_APPS   8
#define SRV_APP_MAX   64
#define SRV_USERS_MAX 1024

typedef struct srv_msg {
    int refs;
    size_t len;
    unsigned char data[]; /* LWS_PRE + len */
} srv_msg;

struct srv_req {
    char method[8];
    char *path;
    int nargs;
    char *keys[SRV_MAX_ARGS];
    char *vals[SRV_MAX_ARGS];
    char *body;
    size_t body_len;
    int body_expected;
    int body_too_large;
    json_t *json;
    int auth_ok;
    int handled; /* lws may still report a body completion for Content-Length: 0 */
};

typedef struct pss {
    struct lws *wsi;
    int is_ws;
    /* HTTP */
    struct srv_req req;
    int have_req;
    unsigned char *resp; /* LWS_PRE + resp_len */
    size_t resp_len, resp_off;
    int status;
    int resp_ready, hdr_sent;
    lws_sorted_usec_list_t sul_delay;
    /* WebSocket */
    char apps[SRV_WS_APPS][SRV_APP_MAX];
    int napps;
    srv_msg **q;
    int qhead, qlen;
    int closing;
    struct pss *next, *prev;
} pss;

static struct {
    struct lws_context *ctx;
    srv_config cfg;
    char users[SRV_USERS_MAX];
    volatile sig_atomic_t interrupted;
    pss *sessions;
    int nsessions;
    lws_usec_t refuse_until;
    lws_usec_t ws_refuse_until; /* WebSocket upgrades only (drop_websockets down_ms) */
    int delay_count, delay_ms;
    int fail_count, fail_status;
    unsigned long long rest_requests, ws_connects, ws_dropped, refused;
} S;

/* ---- request ---------------------------------------------------------------- */

static void req_free(struct srv_req *q)
{
    free(q->path);
    for (int i = 0; i < q->nargs; i++) {
        free(q->keys[i]);
        free(q->vals[i]);
    }
    free(q->body);
    json_decref(q->json);
    memset(q, 0, sizeof(*q));
}

const char *srv_arg(const void *req, const char *name)
{
    const struct srv_req *q = req;
    for (int i = 0; i < q->nargs; i++) {
        if (strcmp(q->keys[i], name) == 0)
            return q->vals[i];
    }
    return NULL;
}

const json_t *srv_body(const struct srv_req *req)
{
    return req->json;
}

static int req_add_arg(struct srv_req *q, const char *k, size_t klen, const char *v)
{
    if (q->nargs >= SRV_MAX_ARGS)
        return 0; /* extra parameters are ignored, like unknown ones */
    q->keys[q->nargs] = strndup(k, klen);
    q->vals[q->nargs] = strdup(v);
    if (!q->keys[q->nargs] || !q->vals[q->nargs]) {
        free(q->keys[q->nargs]);
        free(q->vals[q->nargs]);
        return -1;
    }
    q->nargs++;
    return 0;
}

static const char *const srv__methods[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                           "PATCH", "DELETE", "CONNECT", "HEAD"};

/* Copies what the request needs out of lws's header table, so that the
 * request can be answered later (delay fault) without it. */
static int req_parse(struct lws *wsi, const char *path, struct srv_req *q)
{
    char *uri;
    int ulen, m;
    char buf[256];

    memset(q, 0, sizeof(*q));
    m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    snprintf(q->method, sizeof(q->method), "%s",
             m >= 0 && m < (int)(sizeof(srv__methods) / sizeof(srv__methods[0])) ? srv__methods[m]
                                                                                 : "?");
    q->path = strdup(path ? path : "/");
    if (!q->path)
        return -1;
    for (int i = 0;; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        char *frag, *eq;
        if (len <= 0)
            break;
        frag = malloc((size_t)len + 1);
        if (!frag)
            return -1;
        if (lws_hdr_copy_fragment(wsi, frag, len + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) {
            free(frag);
            break;
        }
        eq = strchr(frag, '=');
        if (req_add_arg(q, frag, eq ? (size_t)(eq - frag) : strlen(frag), eq ? eq + 1 : "") != 0) {
            free(frag);
            return -1;
        }
        free(frag);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        q->body_expected = strtoul(buf, NULL, 10) > 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        q->body_expected = 1;
    return 0;
}

/* ARI takes a parameter from the query or, failing that, from a JSON body
 * field of the same name. */
static int req_body_args(struct srv_req *q)
{
    const char *k;
    json_t *v;
    json_error_t err;

    if (!q->body_len)
        return 0;
    q->json = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!q->json)
        return -1;
    if (!json_is_object(q->json))
        return 0;
    json_object_foreach(q->json, k, v)
    {
        char num[32];
        const char *s = NULL;
        if (srv_arg(q, k))
            continue;
        if (json_is_string(v))
            s = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)), s = num;
        else if (json_is_boolean(v))
            s = json_is_true(v) ? "true" : "false";
        if (s && req_add_arg(q, k, strlen(k), s) != 0)
            return -1;
    }
    return 0;
}

/* ---- auth ----------------------------------------------------------------- */

static int srv__user_ok(const char *cred)
{
    char buf[SRV_USERS_MAX];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", S.users);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, cred) == 0)
            return 1;
    }
    return 0;
}

/* Basic auth or api_key=user:pass, as ARI accepts. */
static int srv__auth(struct lws *wsi, const char *api_key)
{
    char hdr[512], dec[384];
    int n;
    if (api_key)
        return srv__user_ok(api_key);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
        lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
        return 0;
    if (strncasecmp(hdr, "Basic ", 6) != 0)
        return 0;
    n = lws_b64_decode_string(hdr + 6, dec, (int)sizeof(dec) - 1);
    if (n <= 0)
        return 0;
    dec[n] = '\0';
    return srv__user_ok(dec);
}

/* ---- responses --------------------------------------------------------------- */

static int srv__respond_raw(pss *p, int status, const char *text, size_t len)
{
    free(p->resp);
    p->resp = malloc(LWS_PRE + len + 1);
    if (!p->resp)
        return -1;
    memcpy(p->resp + LWS_PRE, text, len);
    p->resp_len = len;
    p->resp_off = 0;
    p->status = status;
    p->resp_ready = 1;
    p->hdr_sent = 0;
    lws_callback_on_writable(p->wsi);
    return 0;
}

static int srv__respond(pss *p, sim_reply *r)
{
    int rc;
    char *text = NULL;
    if (r->body) {
        text = json_dumps(r->body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(r->body);
        r->body = NULL;
        if (!text)
            return -1;
    }
    rc = srv__respond_raw(p, r->status, text ? text : "", text ? strlen(text) : 0);
    free(text);
    return rc;
}

static int srv__respond_msg(pss *p, int status, const char *msg)
{
    sim_reply r = {status, json_pack("{s:s}", "message", msg)};
    return srv__respond(p, &r);
}

static int srv__write(pss *p)
{
    unsigned char hbuf[LWS_PRE + 512];
    unsigned char *start = hbuf + LWS_PRE, *hp = start, *end = hbuf + sizeof(hbuf) - 1;

    if (!p->resp_ready)
        return 0;
    if (!p->hdr_sent) {
        if (lws_add_http_common_headers(p->wsi, (unsigned)p->status,
                                        p->resp_len ? "application/json" : NULL, p->resp_len, &hp,
                                        end) ||
            lws_finalize_write_http_header(p->wsi, start, &hp, end))
            return -1;
        p->hdr_sent = 1;
        if (p->resp_len) {
            lws_callback_on_writable(p->wsi);
            return 0;
        }
    } else {
        size_t n = p->resp_len - p->resp_off;
        int final = n <= SRV_CHUNK;
        if (!final)
            n = SRV_CHUNK;
        if (lws_write(p->wsi, p->resp + LWS_PRE + p->resp_off, n,
                      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return -1;
        p->resp_off += n;
        if (!final) {
            lws_callback_on_writable(p->wsi);
            return 0;
        }
    }
    /* done: ready for the next request on this keep-alive connection */
    free(p->resp);
    p->resp = NULL;
    p->resp_ready = 0;
    req_free(&p->req);
    p->have_req = 0;
    return lws_http_transaction_completed(p->wsi) ? -1 : 0;
}

/* ---- dispatch ----------------------------------------------------------------- */

static int srv__refusing(void)
{
    return S.refuse_until && lws_now_usecs() < S.refuse_until;
}

static void srv__dispatch_ari(pss *p)
{
    sim_reply r = {500, NULL};
    rest_handle(p->req.method, p->req.path + 4, &p->req, &r);
    if (srv__respond(p, &r) != 0)
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

static void srv__delay_cb(lws_sorted_usec_list_t *sul)
{
    pss *p = lws_container_of(sul, pss, sul_delay);
    srv__dispatch_ari(p);
}

/* The whole request is in: answer it (or schedule the answer). */
static int srv__handle(pss *p)
{
    struct srv_req *q = &p->req;
    sim_reply r = {500, NULL};

    if (q->handled)
        return 0;
    q->handled = 1;
    if (q->body_too_large)
        return srv__respond_msg(p, 413, "Request body too large");
    if (req_body_args(q) != 0)
        return srv__respond_msg(p, 400, "Failed to parse JSON body");

    if (strcmp(q->path, "/_sim") == 0 || strncmp(q->path, "/_sim/", 6) == 0) {
        ctl_handle(q->method, q->path + 5, q, &r);
        return srv__respond(p, &r);
    }
    if (strcmp(q->path, "/ari") != 0 && strncmp(q->path, "/ari/", 5) != 0)
        return srv__respond_msg(p, 404, "Resource not found");
    if (srv__refusing()) {
        S.refused++;
        return -1;
    }
    S.rest_requests++;
    if (!q->auth_ok)
        return srv__respond_msg(p, 401, "Authentication required");
    if (S.fail_count > 0) {
        S.fail_count--;
        return srv__respond_msg(p, S.fail_status, "Simulated failure");
    }
    if (S.delay_count > 0) {
        S.delay_count--;
        lws_sul_schedule(S.ctx, 0, &p->sul_delay, srv__delay_cb,
                         (lws_usec_t)S.delay_ms * LWS_US_PER_MS);
        return 0;
    }
    srv__dispatch_ari(p);
    return 0;
}

/* ---- WebSocket sessions --------------------------------------------------------- */

static void msg_unref(srv_msg *m)
{
    if (--m->refs == 0)
        free(m);
}

static void ws_unlink(pss *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else if (S.sessions == p)
        S.sessions = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    S.nsessions--;
    for (int i = 0; i < p->napps; i++)
        sim_app_detach(p->apps[i]);
    while (p->qlen > 0) {
        msg_unref(p->q[p->qhead]);
        p->qhead = (p->qhead + 1) % S.cfg.ws_queue_max;
        p->qlen--;
    }
    free(p->q);
    p->q = NULL;
    p->napps = 0;
}

static void ws_close(pss *p)
{
    p->closing = 1;
    lws_callback_on_writable(p->wsi);
}

void srv_emit(const char *app, const char *text, size_t len)
{
    srv_msg *m = NULL;
    for (pss *p = S.sessions; p; p = p->next) {
        int want = 0;
        if (p->closing)
            continue;
        for (int i = 0; i < p->napps && !want; i++)
            want = strcmp(p->apps[i], app) == 0;
        if (!want)
            continue;
        if (!m) {
            m = malloc(sizeof(*m) + LWS_PRE + len);
            if (!m)
                return;
            m->refs = 1; /* ours, dropped at the end */
            m->len = len;
            memcpy(m->data + LWS_PRE, text, len);
        }
        if (p->qlen >= S.cfg.ws_queue_max) {
            log_warn("event queue of a session is full: dropping the session");
            S.ws_dropped++;
            ws_close(p);
            continue;
        }
        p->q[(p->qhead + p->qlen) % S.cfg.ws_queue_max] = m;
        p->qlen++;
        m->refs++;
        lws_callback_on_writable(p->wsi);
    }
    if (m)
        msg_unref(m);
}

static const char srv__html_400[] =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n<title>400 Bad "
    "Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n<p>HTTP request is missing param: "
    "[app]</p>\r\n<hr />\r\n<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n";

/* Refuses an upgrade with a complete HTTP answer written here: lws lets
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE do that and then closes. */
static int srv__reject_upgrade(struct lws *wsi, int status, const char *ctype, const char *body)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    size_t len = strlen(body);

    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
        return -1;
    if ((size_t)(end - p) < len)
        return -1;
    memcpy(p, body, len);
    p += len;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    return 1;
}

static int srv__confirm_upgrade(struct lws *wsi)
{
    char path[256], key[512], app[512];
    const char *k, *a;

    if (srv__refusing() || (S.ws_refuse_until && lws_now_usecs() < S.ws_refuse_until)) {
        S.refused++;
        return -1;
    }
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 ||
        strcmp(path, "/ari/events") != 0)
        return srv__reject_upgrade(wsi, 404, "application/json",
                                   "{\"message\":\"Resource not found\"}");
    k = lws_get_urlarg_by_name(wsi, "api_key=", key, sizeof(key));
    if (!srv__auth(wsi, k))
        return srv__reject_upgrade(wsi, 401, "application/json",
                                   "{\"message\":\"Authentication required\"}");
    a = lws_get_urlarg_by_name(wsi, "app=", app, sizeof(app));
    if (!a || !*a)
        return srv__reject_upgrade(wsi, 400, "text/html", srv__html_400);
    return 0;
}

static int srv__ws_established(pss *p)
{
    char app[SRV_WS_APPS * SRV_APP_MAX];
    const char *a = lws_get_urlarg_by_name(p->wsi, "app=", app, sizeof(app));
    char *save = NULL;
    char buf[sizeof(app)];

    p->is_ws = 1;
    p->q = calloc((size_t)S.cfg.ws_queue_max, sizeof(*p->q));
    if (!p->q)
        return -1;
    p->next = S.sessions;
    if (S.sessions)
        S.sessions->prev = p;
    S.sessions = p;
    S.nsessions++;
    S.ws_connects++;
    snprintf(buf, sizeof(buf), "%s", a ? a : "");
    for (char *t = strtok_r(buf, ",", &save); t && p->napps < SRV_WS_APPS;
         t = strtok_r(NULL, ",", &save)) {
        snprintf(p->apps[p->napps], SRV_APP_MAX, "%s", t);
        sim_app_attach(p->apps[p->napps]);
        p->napps++;
    }
    log_info("events websocket connected (apps: %s)", a ? a : "");
    return 0;
}

static int srv__ws_writeable(pss *p)
{
    srv_msg *m;
    if (p->closing)
        return -1;
    if (p->qlen == 0)
        return 0;
    m = p->q[p->qhead];
    p->qhead = (p->qhead + 1) % S.cfg.ws_queue_max;
    p->qlen--;
    if (lws_write(p->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) {
        msg_unref(m);
        return -1;
    }
    msg_unref(m);
    if (p->qlen > 0)
        lws_callback_on_writable(p->wsi);
    return 0;
}

/* ---- the callback ----------------------------------------------------------- */

static void srv__http_cleanup(pss *p)
{
    lws_sul_cancel(&p->sul_delay);
    if (p->have_req)
        req_free(&p->req);
    p->have_req = 0;
    free(p->resp);
    p->resp = NULL;
    p->resp_ready = 0;
}

static int srv__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    pss *p = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (srv__refusing()) {
            S.refused++;
            return 1;
        }
        return 0;

    case LWS_CALLBACK_HTTP: {
        char api_key[512];
        const char *k;
        p->wsi = wsi;
        srv__http_cleanup(p);
        if (req_parse(wsi, in, &p->req) != 0) {
            req_free(&p->req);
            return -1;
        }
        p->have_req = 1;
        k = lws_get_urlarg_by_name(wsi, "api_key=", api_key, sizeof(api_key));
        p->req.auth_ok = srv__auth(wsi, k);
        if (p->req.body_expected)
            return 0; /* wait for LWS_CALLBACK_HTTP_BODY_COMPLETION */
        return srv__handle(p) < 0 ? -1 : 0;
    }

    case LWS_CALLBACK_HTTP_BODY:
        if (!p->have_req)
            return -1;
        if (!len || !in)
            return 0; /* lws reports an empty chunk for Content-Length: 0 */
        if (p->req.body_len + len > SRV_BODY_MAX) {
            p->req.body_too_large = 1;
            return 0;
        }
        {
            char *nb = realloc(p->req.body, p->req.body_len + len + 1);
            if (!nb)
                return -1;
            memcpy(nb + p->req.body_len, in, len);
            p->req.body_len += len;
            nb[p->req.body_len] = '\0';
            p->req.body = nb;
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->have_req)
            return 0;
        return srv__handle(p) < 0 ? -1 : 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return srv__write(p);

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p && !p->is_ws)
            srv__http_cleanup(p);
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return srv__confirm_upgrade(wsi);

    case LWS_CALLBACK_ESTABLISHED:
        p->wsi = wsi;
        return srv__ws_established(p);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return srv__ws_writeable(p);

    case LWS_CALLBACK_RECEIVE:
        return 0; /* ARI clients send nothing that matters */

    case LWS_CALLBACK_CLOSED:
        if (p && p->is_ws) {
            ws_unlink(p);
            log_info("events websocket closed");
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols srv__protocols[] = {
    {"ari", srv__callback, sizeof(pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- lifecycle and faults ------------------------------------------------------ */

struct lws_context *srv_init(const srv_config *cfg)
{
    struct lws_context_creation_info info;

    memset(&S, 0, sizeof(S));
    S.cfg = *cfg;
    snprintf(S.users, sizeof(S.users), "%s", cfg->users ? cfg->users : "");
    S.cfg.users = S.users;
    if (S.cfg.ws_queue_max <= 0)
        S.cfg.ws_queue_max = 20000;
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = cfg->host;
    info.protocols = srv__protocols;
    info.max_http_header_pool = 1024;
    info.max_http_header_data = 32768; /* long query strings; beyond it lws drops the connection */
    info.timeout_secs = 30;
    info.keepalive_timeout = 15; /* Asterisk's session_keep_alive default */
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (cfg->host && strchr(cfg->host, '.'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    S.ctx = lws_create_context(&info);
    return S.ctx;
}

void srv_run(void)
{
    while (!S.interrupted) {
        if (lws_service(S.ctx, 0) < 0)
            break;
    }
}

void srv_interrupt(void)
{
    S.interrupted = 1;
    if (S.ctx)
        lws_cancel_service(S.ctx);
}

void srv_destroy(void)
{
    if (S.ctx)
        lws_context_destroy(S.ctx);
    S.ctx = NULL;
}

void srv_fault_drop_ws(int down_ms)
{
    S.ws_refuse_until = down_ms ? lws_now_usecs() + (lws_usec_t)down_ms * LWS_US_PER_MS : 0;
    for (pss *p = S.sessions; p; p = p->next) {
        if (!p->closing) {
            S.ws_dropped++;
            ws_close(p);
        }
    }
}

void srv_fault_refuse(int ms)
{
    S.refuse_until = lws_now_usecs() + (lws_usec_t)ms * LWS_US_PER_MS;
}

void srv_fault_delay(int count, int ms)
{
    S.delay_count = count;
    S.delay_ms = ms;
}

void srv_fault_fail(int count, int status)
{
    S.fail_count = count;
    S.fail_status = status;
}

void srv_fault_clear(void)
{
    S.refuse_until = S.ws_refuse_until = 0;
    S.delay_count = S.fail_count = 0;
}

json_t *srv_stats(void)
{
    return json_pack("{s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:b}", "ws_sessions", S.nsessions,
                     "rest_requests", (json_int_t)S.rest_requests, "ws_connects",
                     (json_int_t)S.ws_connects, "ws_dropped", (json_int_t)S.ws_dropped, "refused",
                     (json_int_t)S.refused, "pending_delays", S.delay_count, "pending_failures",
                     S.fail_count, "refusing", srv__refusing());
}
