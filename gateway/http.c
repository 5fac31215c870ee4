/*
 * http: callgw's HTTP server (see http.h for the threading contract).
 *
 * A REST request lives in a gw_req from LWS_CALLBACK_HTTP until its answer
 * is written. While its gRPC call is in flight the connection may close:
 * the gw_req is then orphaned (wsi = NULL) and freed when the completion
 * arrives, never before, because the completion still points at it.
 *
 * Responses are written with a single lws_write: the JSON is built after
 * GW_HEADROOM reserved bytes, and the header block is copied in just in
 * front of it (one syscall, no Nagle stall between header and body).
 */
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <libwebsockets.h>

#include "callservice/v1/ops.pb-c.h"
#include "common/config.h"
#include "common/log.h"
#include "grpc/health/v1/health.pb-c.h"
#include "metrics.h"
#include "openapi.h"
#include "pbjson.h"
#include "routes.h"

#ifdef GW_HAVE_SOCKETIO
#include "socketio/sio.h"
#endif

#define GW_HDR_SPACE 2048
#define GW_HEADROOM  (LWS_PRE + GW_HDR_SPACE)
#define GW_RID_MAX   64

enum gw_req_kind { GW_REQ_ROUTE = 1, GW_REQ_READYZ, GW_REQ_METRICS };

typedef struct gw_req gw_req;
struct gw_req {
    gw_http *h;
    struct lws *wsi; /* NULL once the connection is gone */
    gw_req *next;    /* completion queue */
    int kind;
    unsigned label;
    gw_match match;
    char method[8];
    char request_id[GW_RID_MAX + 1];
    char origin[256]; /* set only when CORS allows it */
    char authorization[4096];
    char *query; /* raw fragments "a=1\0b=2\0", n_query of them */
    size_t n_query;
    char *body;
    size_t body_len, body_cap, body_seen;
    struct timespec t0;
    int rpc_pending;
    int answered; /* response built, waiting for WRITEABLE */
    /* gRPC outcome, filled on the completion-queue thread */
    int grpc_status;
    char *grpc_msg;
    uint8_t *resp; /* the raw answer, kept for /readyz and /metrics */
    size_t resp_len;
    int json_ready; /* out holds the answer's JSON, written on that thread */
    /* the answer */
    int status;
    const char *ctype;
    char allow[96];
    char extra_hdrs[512]; /* "name:value\n" lines */
    pbjson_buf out;       /* GW_HEADROOM bytes, then the body */
};

enum gw_conn_kind {
    GW_CONN_NONE = 0,
    GW_CONN_REST,
    GW_CONN_FILE,
    GW_CONN_EIO_HTTP,
    GW_CONN_EIO_WS
};

typedef struct gw_pss {
    int kind;
    gw_req *req;
#ifdef GW_HAVE_SOCKETIO
    eio_conn eio;
    eio_server *eio_srv;
    char *eio_method, *eio_query, *eio_origin, *eio_acr;
    char *eio_body;
    size_t eio_body_len, eio_body_cap;
    pbjson_buf eio_out; /* a pending polling answer */
    int eio_out_ready, ws_close;
#endif
} gw_pss;

typedef struct gw_task {
    struct gw_task *next;
    void (*fn)(void *);
    void *arg;
} gw_task;

struct gw_http {
    gw_http_config cfg;
    char *addr, *cors, *static_dir;
    char host[128];
    int port;
    rpcc_client *rpc;
    struct lws_context *ctx;
    gw_metrics *metrics;
    char *openapi;
    size_t openapi_len;
    pthread_mutex_t lock; /* guards done_head/tail, tasks, closed */
    gw_req *done_head, *done_tail;
    gw_task *tasks_head, *tasks_tail;
    atomic_int stop;
    int closed;
    long in_flight;
    unsigned long rid_counter;
    pbjson_arena arena; /* decoded answers, on rpcc's completion-queue thread */
    struct lws_protocols protocols[2];
#ifdef GW_HAVE_SOCKETIO
    sio_server *sio;
    eio_server *echo;
    const gw_sio_app *sio_app;
    void *sio_app_state;
    gw_app_env env;
    lws_sorted_usec_list_t tick;
#endif
};

static const struct gw__method {
    enum lws_token_indexes tok;
    const char *name;
} gw__methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},     {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_PUT_URI, "PUT"},     {WSI_TOKEN_DELETE_URI, "DELETE"},
    {WSI_TOKEN_PATCH_URI, "PATCH"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},
};

static double gw__elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- requests ---------------------------------------------------------- */

static gw_req *gw__req_new(gw_http *h, struct lws *wsi)
{
    gw_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->h = h;
    r->wsi = wsi;
    r->label = (unsigned)(gw_n_routes + GW_LABEL_UNMATCHED);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    h->in_flight++;
    gw_metrics_in_flight(h->metrics, 1);
    return r;
}

static void gw__req_free(gw_req *r)
{
    if (!r)
        return;
    r->h->in_flight--;
    gw_metrics_in_flight(r->h->metrics, -1);
    free(r->query);
    free(r->body);
    free(r->grpc_msg);
    free(r->resp);
    pbjson_buf_free(&r->out);
    free(r);
}

/* Starts the body buffer with the reserved header space (left as it is:
 * gw__write puts the headers there) and room for body_hint bytes. */
static pbjson_buf *gw__out_sized(gw_req *r, size_t body_hint)
{
    if (r->out.len == 0 && pbjson_buf_reserve(&r->out, GW_HEADROOM + body_hint) == 0) {
        r->out.len = GW_HEADROOM;
        r->out.data[r->out.len] = '\0';
    }
    return &r->out;
}

static pbjson_buf *gw__out(gw_req *r)
{
    return gw__out_sized(r, 256);
}

/* Marks the answer ready and asks for the socket (service thread only). */
static void gw__ready(gw_req *r, int status, const char *ctype)
{
    r->status = status;
    r->ctype = ctype;
    r->answered = 1;
    gw__out(r);
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
}

static void gw__error(gw_req *r, cs_err e, int http_status, const char *message)
{
    pbjson_buf *b = gw__out(r);
    pbjson_buf_puts(b, "{\"error\":{\"code\":");
    pbjson_buf_string(b, cs_err_name(e), strlen(cs_err_name(e)));
    pbjson_buf_puts(b, ",\"message\":");
    pbjson_buf_string(b, message, strlen(message));
    pbjson_buf_puts(b, ",\"details\":[]}}");
    if (http_status >= 500)
        log_warn("%s %s -> %d %s: %s", r->method, r->match.route ? r->match.route->pattern : "",
                 http_status, cs_err_name(e), message);
    gw__ready(r, http_status ? http_status : cs_err_http_status(e), "application/json");
}

/* A JSON error whose code is not a cs_err (404/405/413/431 of the HTTP layer). */
static void gw__http_error(gw_req *r, int status, const char *code, const char *message)
{
    pbjson_buf *b = gw__out(r);
    pbjson_buf_puts(b, "{\"error\":{\"code\":");
    pbjson_buf_string(b, code, strlen(code));
    pbjson_buf_puts(b, ",\"message\":");
    pbjson_buf_string(b, message, strlen(message));
    pbjson_buf_puts(b, ",\"details\":[]}}");
    gw__ready(r, status, "application/json");
}

static void gw__add_hdr(gw_req *r, const char *name, const char *value)
{
    size_t n = strlen(r->extra_hdrs);
    snprintf(r->extra_hdrs + n, sizeof r->extra_hdrs - n, "%s:%s\n", name, value);
}

/* ---- CORS -------------------------------------------------------------- */

static int gw__origin_allowed(const gw_http *h, const char *origin)
{
    const char *p = h->cors;
    size_t n = strlen(origin);
    if (!p || !*p || !*origin)
        return 0;
    if (strcmp(p, "*") == 0)
        return 1;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len == n && strncmp(p, origin, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

static int gw__write(struct lws *wsi, gw_req *r)
{
    unsigned char hdr[GW_HDR_SPACE + LWS_PRE];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    size_t body_len = r->out.len - GW_HEADROOM, hlen;
    unsigned char *body = (unsigned char *)r->out.data + GW_HEADROOM;
    char num[32];
    const char *line;
    int rc = -1;
    double elapsed;
    if (r->out.oom)
        goto out;
    if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end))
        goto out;
    if (r->status != 204) {
        if (lws_add_http_header_by_name(
                wsi, (const unsigned char *)"content-type:", (const unsigned char *)r->ctype,
                (int)strlen(r->ctype), &p, end))
            goto out;
    }
    snprintf(num, sizeof num, "%zu", body_len);
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-length:",
                                    (const unsigned char *)num, (int)strlen(num), &p, end))
        goto out;
    if (r->request_id[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-request-id:",
                                                        (const unsigned char *)r->request_id,
                                                        (int)strlen(r->request_id), &p, end))
        goto out;
    if (r->allow[0] && lws_add_http_header_by_name(
                           wsi, (const unsigned char *)"allow:", (const unsigned char *)r->allow,
                           (int)strlen(r->allow), &p, end))
        goto out;
    if (r->origin[0]) {
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                        (const unsigned char *)r->origin, (int)strlen(r->origin),
                                        &p, end) ||
            lws_add_http_header_by_name(wsi,
                                        (const unsigned char *)"access-control-expose-headers:",
                                        (const unsigned char *)"X-Request-Id", 12, &p, end))
            goto out;
    }
    if (r->h->cors && *r->h->cors &&
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"vary:", (const unsigned char *)"Origin", 6, &p, end))
        goto out;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        goto out;
    for (line = r->extra_hdrs; *line;) {
        const char *colon = strchr(line, ':'), *nl = strchr(line, '\n');
        char name[64];
        size_t nlen;
        if (!colon || !nl || colon > nl)
            break;
        nlen = (size_t)(colon - line) + 1;
        if (nlen >= sizeof name)
            break;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)colon + 1, (int)(nl - colon - 1), &p,
                                        end))
            goto out;
        line = nl + 1;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        goto out;
    hlen = (size_t)(p - start);
    if (hlen > GW_HDR_SPACE)
        goto out;
    memcpy(body - hlen, start, hlen);
    /* One raw write of header + body; lws keeps what the socket does not
     * take and sends it before anything else on this connection. */
    if (lws_write(wsi, body - hlen, hlen + body_len, LWS_WRITE_HTTP_HEADERS) < 0)
        goto out;
    rc = 0;
out:
    elapsed = gw__elapsed(&r->t0);
    if (rc == 0)
        gw_metrics_request(r->h->metrics, r->label, r->status, elapsed);
    if (log_enabled(LOG_DEBUG))
        log_debug("%s %s -> %d (%.2f ms) rid=%s", r->method,
                  r->match.route ? r->match.route->pattern : "-", r->status, elapsed * 1e3,
                  r->request_id);
    return rc;
}

/* ---- gRPC -------------------------------------------------------------- */

/* Completion-queue thread: a route's answer is decoded and written as JSON
 * here, off the service thread, which then only writes it to the socket
 * (the lws loop is callgw's bottleneck: one thread for every connection).
 * Only a success comes from that one thread (rpcc calls back failures on
 * the caller's thread, with no answer), so h->arena has a single user.
 * /readyz and /metrics keep the raw answer for gw__finish. */
static void gw__rpc_done(void *arg, const rpcc_result *res)
{
    gw_req *r = arg;
    gw_http *h = r->h;
    int wake;
    r->grpc_status = res->status;
    r->grpc_msg = strdup(res->message ? res->message : "");
    if (res->status == 0 && r->kind == GW_REQ_ROUTE) {
        ProtobufCMessage *resp =
            pbjson_arena_unpack(&h->arena, r->match.route->response, res->resp_len, res->resp);
        if (resp) {
            /* One allocation for headers and body: the JSON of a list is
             * about twice its protobuf size, so it grows only past 3x. */
            pbjson_write(gw__out_sized(r, res->resp_len * 3 + 256), resp);
            r->json_ready = 1;
        }
        pbjson_arena_reset(&h->arena);
    } else if (res->status == 0 && res->resp_len) {
        r->resp = malloc(res->resp_len);
        if (r->resp) {
            memcpy(r->resp, res->resp, res->resp_len);
            r->resp_len = res->resp_len;
        } else {
            r->grpc_status = 13;
        }
    }
    pthread_mutex_lock(&h->lock);
    r->next = NULL;
    /* One wake-up per batch: if the queue already held something, the loop
     * was woken for it and has not drained yet; it will take this one too. */
    wake = h->done_head == NULL;
    if (h->done_tail)
        h->done_tail->next = r;
    else
        h->done_head = r;
    h->done_tail = r;
    pthread_mutex_unlock(&h->lock);
    if (wake)
        lws_cancel_service(h->ctx);
}

/* The answer to /metrics, with or without callsvc's part: 200 either way,
 * and callgw_callsvc_metrics_up says which. A failed scrape of callsvc is
 * not counted in callgw_grpc_errors_total (the API's errors). */
static void gw__metrics_answer(gw_req *r)
{
    Callservice__V1__GetMetricsResponse *m = NULL;
    pbjson_buf *out = gw__out(r);
    int up = 0;
    if (r->grpc_status == 0) {
        m = callservice__v1__get_metrics_response__unpack(NULL, r->resp_len, r->resp);
        up = m != NULL && gw_metrics_foreign_ok(m->text, "callsvc_");
        if (!up)
            log_warn("/metrics: callsvc's metrics %s; left out",
                     m ? "are not Prometheus text of callsvc_ lines" : "do not decode");
    }
    gw_metrics_render(r->h->metrics, out);
    pbjson_buf_puts(out, "# HELP callgw_callsvc_metrics_up 1 if callsvc's metrics (callsvc_*) "
                         "were fetched for this scrape, 0 if callsvc could not be asked.\n"
                         "# TYPE callgw_callsvc_metrics_up gauge\n");
    pbjson_buf_puts(out, up ? "callgw_callsvc_metrics_up 1\n" : "callgw_callsvc_metrics_up 0\n");
    if (up)
        pbjson_buf_puts(out, m->text);
    gw__ready(r, 200, "text/plain; version=0.0.4; charset=utf-8");
    if (m)
        callservice__v1__get_metrics_response__free_unpacked(m, NULL);
}

/* Service thread: turn a completed call into the HTTP answer. */
static void gw__finish(gw_req *r)
{
    Grpc__Health__V1__HealthCheckResponse *health;
    r->rpc_pending = 0;
    if (!r->wsi) {
        gw__req_free(r);
        return;
    }
    if (r->kind == GW_REQ_METRICS) {
        gw__metrics_answer(r);
        return;
    }
    if (r->grpc_status != 0) {
        cs_err e = cs_err_from_grpc_status(r->grpc_status);
        gw_metrics_grpc_error(r->h->metrics, r->grpc_status);
        if (r->kind == GW_REQ_READYZ) {
            gw__http_error(r, 503, "UNAVAILABLE", "callsvc is not reachable");
            return;
        }
        gw__error(r, e, cs_err_http_status(e),
                  r->grpc_msg && *r->grpc_msg ? r->grpc_msg : cs_err_name(e));
        return;
    }
    if (r->kind == GW_REQ_ROUTE) {
        if (r->json_ready) {
            gw__ready(r, r->match.route->status, "application/json");
        } else {
            gw__error(r, CS_ERR_INTERNAL, 502, "callsvc sent a response that cannot be decoded");
        }
        return;
    }
    health = grpc__health__v1__health_check_response__unpack(NULL, r->resp_len, r->resp);
    if (health &&
        health->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        pbjson_buf_puts(gw__out(r), "{\"status\":\"ready\"}");
        gw__ready(r, 200, "application/json");
    } else {
        gw__http_error(r, 503, "UNAVAILABLE", "callsvc is not serving");
    }
    if (health)
        grpc__health__v1__health_check_response__free_unpacked(health, NULL);
}

static void gw__drain(gw_http *h)
{
    gw_req *list;
    gw_task *tasks;
    pthread_mutex_lock(&h->lock);
    list = h->done_head;
    h->done_head = h->done_tail = NULL;
    tasks = h->tasks_head;
    h->tasks_head = h->tasks_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    while (list) {
        gw_req *n = list->next;
        gw__finish(list);
        list = n;
    }
    while (tasks) {
        gw_task *n = tasks->next;
        tasks->fn(tasks->arg);
        free(tasks);
        tasks = n;
    }
}

int gw_http_post(gw_http *h, void (*fn)(void *arg), void *arg)
{
    gw_task *t = malloc(sizeof *t);
    int rc = -1;
    if (!t)
        return -1;
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (!h->closed) {
        if (h->tasks_tail)
            h->tasks_tail->next = t;
        else
            h->tasks_head = t;
        h->tasks_tail = t;
        rc = 0;
    }
    pthread_mutex_unlock(&h->lock);
    if (rc != 0)
        free(t);
    else
        lws_cancel_service(h->ctx);
    return rc;
}

/* ---- dispatch ---------------------------------------------------------- */

static void gw__dispatch(gw_req *r)
{
    gw_param params[64];
    size_t n = 0;
    char err[320];
    ProtobufCMessage *msg = NULL;
    cs_err e;
    const char *q = r->query;
    rpcc_md md = {r->authorization[0] ? r->authorization : NULL, r->request_id};
    if (r->body_seen > r->h->cfg.max_body) {
        snprintf(err, sizeof err, "request body larger than %zu bytes", r->h->cfg.max_body);
        gw__http_error(r, 413, "PAYLOAD_TOO_LARGE", err);
        return;
    }
    for (size_t i = 0; i < r->n_query; i++) {
        char *eq = strchr(q, '=');
        size_t len = strlen(q);
        if (n == sizeof params / sizeof *params) {
            gw__error(r, CS_ERR_INVALID, 400, "too many query parameters");
            return;
        }
        if (len) {
            if (eq) {
                *eq = '\0';
                params[n].value = eq + 1;
            } else {
                params[n].value = "";
            }
            params[n].name = q;
            n++;
        }
        q += len + 1;
    }
    e = gw_route_build(&r->match, r->body ? r->body : "", r->body_len, params, n, &msg, err,
                       sizeof err);
    if (e != CS_OK) {
        gw__error(r, e, cs_err_http_status(e), err);
        return;
    }
    /* No lws timeout while the call is out: its gRPC deadline always ends
     * it (DEADLINE_EXCEEDED -> 504), and an lws timeout costs a sorted
     * insert into the loop's timeout list twice per request. */
    r->rpc_pending = 1;
    rpcc_unary_msg(r->h->rpc, r->match.route->rpc, msg, &md, r->h->cfg.request_timeout_ms,
                   gw__rpc_done, r);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* An operations request's gRPC call to callsvc (no token, 2 s): its raw
 * answer comes back to gw__finish, which answers by r->kind. */
static void gw__ask_callsvc(gw_req *r, enum gw_req_kind kind, const char *method,
                            const ProtobufCMessage *req)
{
    rpcc_md md = {NULL, r->request_id};
    r->kind = kind;
    r->rpc_pending = 1;
    rpcc_unary_msg(r->h->rpc, method, req, &md, 2000, gw__rpc_done, r);
}

static void gw__readyz(gw_req *r)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    gw__ask_callsvc(r, GW_REQ_READYZ, "/grpc.health.v1.Health/Check", &req.base);
}

/* /metrics: callgw's own counters and, fetched for each scrape, callsvc's
 * (OpsService.GetMetrics), so that one scrape sees the whole service. */
static void gw__metrics(gw_req *r)
{
    Callservice__V1__GetMetricsRequest req = CALLSERVICE__V1__GET_METRICS_REQUEST__INIT;
    gw__ask_callsvc(r, GW_REQ_METRICS, "/callservice.v1.OpsService/GetMetrics", &req.base);
}

/* A request id from the client is kept if it is short and plain. */
static void gw__request_id(gw_http *h, struct lws *wsi, gw_req *r)
{
    char buf[GW_RID_MAX + 2];
    int n = lws_hdr_custom_length(wsi, "x-request-id:", 13);
    int ok = 0;
    if (n > 0 && n <= GW_RID_MAX &&
        lws_hdr_custom_copy(wsi, buf, sizeof buf, "x-request-id:", 13) > 0) {
        ok = 1;
        for (const char *p = buf; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == ':'))
                ok = 0;
    }
    if (ok) {
        memcpy(r->request_id, buf, (size_t)n);
        r->request_id[n] = '\0';
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(r->request_id, sizeof r->request_id, "gw-%llx-%lx-%lx",
                 (unsigned long long)ts.tv_sec, (unsigned long)ts.tv_nsec, ++h->rid_counter);
    }
}

/* Sum of the request's header bytes that lws parsed into known tokens. */
static size_t gw__header_bytes(struct lws *wsi)
{
    size_t total = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (n > 0)
            total += (size_t)n;
    }
    return total;
}

static int gw__copy_query(gw_req *r, struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    size_t used = 0, cap;
    if (total <= 0)
        return 0;
    cap = (size_t)total + 64 * 2 + 2;
    r->query = malloc(cap);
    if (!r->query)
        return -1;
    for (int i = 0; i < 64; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            break;
        if (used + (size_t)len + 1 > cap)
            break;
        if (lws_hdr_copy_fragment(wsi, r->query + used, (int)(cap - used), WSI_TOKEN_HTTP_URI_ARGS,
                                  i) < 0)
            break;
        used += strlen(r->query + used) + 1;
        r->n_query++;
    }
    return 0;
}

static void gw__static(gw_http *h, struct lws *wsi, gw_pss *pss, gw_req *r, const char *path)
{
    static const struct {
        const char *ext, *mime;
    } mimes[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript"},
        {".mjs", "text/javascript"},
        {".css", "text/css"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    char file[1024];
    const char *mime = "application/octet-stream", *dot;
    struct stat st;
    int n;
    if (strstr(path, ".."))
        goto notfound;
    n = snprintf(file, sizeof file, "%s%s", h->static_dir, path);
    if (n < 0 || (size_t)n >= sizeof file)
        goto notfound;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        strncat(file, "/index.html", sizeof file - strlen(file) - 1);
    }
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        /* A single-page app: unknown paths without an extension get index.html. */
        if (strchr(strrchr(path, '/') ? strrchr(path, '/') : path, '.'))
            goto notfound;
        snprintf(file, sizeof file, "%s/index.html", h->static_dir);
        if (stat(file, &st) != 0)
            goto notfound;
    }
    dot = strrchr(file, '.');
    for (size_t i = 0; dot && i < sizeof mimes / sizeof *mimes; i++)
        if (strcmp(dot, mimes[i].ext) == 0)
            mime = mimes[i].mime;
    r->label = (unsigned)(gw_n_routes + GW_LABEL_STATIC);
    gw_metrics_request(h->metrics, r->label, 200, gw__elapsed(&r->t0));
    gw__req_free(r);
    pss->req = NULL;
    pss->kind = GW_CONN_FILE;
    if (lws_serve_http_file(wsi, file, mime, NULL, 0) < 0)
        pss->kind = GW_CONN_NONE;
    return;
notfound:
    gw__http_error(r, 404, "NOT_FOUND", "no such path");
}

#ifdef GW_HAVE_SOCKETIO
static int gw__eio_http_begin(gw_http *h, struct lws *wsi, gw_pss *pss, const char *method,
                              eio_server *srv);
#endif

/* lws 4.1 does not decode a chunked (or any transfer-coded) request body:
 * it would reach no handler, and its bytes would be read as the next
 * request on the connection. Such a request is refused and the connection
 * closed. */
static int gw__chunked(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
}

/* A client that sent "Expect: 100-continue" waits for the interim answer
 * before it sends the body (curl gives up waiting after 1 s, others wait
 * longer); lws 4.1 does not send it. */
static int gw__expects_continue(struct lws *wsi)
{
    char expect[32], version[16];
    /* An HTTP/1.0 client's Expect is ignored (RFC 9110 10.1.1). */
    return lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP) > 0 &&
           strcmp(version, "HTTP/1.1") == 0 &&
           lws_hdr_copy(wsi, expect, sizeof expect, WSI_TOKEN_HTTP_EXPECT) > 0 &&
           strcasecmp(expect, "100-continue") == 0;
}

/* Sends the interim 100 to a client that waits for it (gw__expects_continue).
 * Only a body that will be read gets it: a request refused on its headers
 * is answered at once instead, as RFC 9110 allows. -1 if the socket cannot
 * take it. */
static int gw__continue(struct lws *wsi)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    unsigned char buf[LWS_PRE + sizeof cont];
    int n;
    /* Straight to the socket, ahead of the answer (lws keeps no state for
     * it; an unsent tail is buffered and goes out before anything else). */
    memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
    n = lws_write(wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_HTTP_HEADERS);
    return n == (int)(sizeof cont - 1) ? 0 : -1;
}

/* LWS_CALLBACK_HTTP: a request's headers are in. */
static int gw__on_http(gw_http *h, struct lws *wsi, gw_pss *pss, const char *path)
{
    const char *method = NULL;
    char origin[256] = "";
    gw_req *r;
    gw_match_result mr;
    char clen[32];
    int rc = 0;
    for (size_t i = 0; i < sizeof gw__methods / sizeof *gw__methods; i++)
        if (lws_hdr_total_length(wsi, gw__methods[i].tok) > 0) {
            method = gw__methods[i].name;
            break;
        }
    if (!method)
        return -1;
#ifdef GW_HAVE_SOCKETIO
    if (strncmp(path, "/socket.io", 10) == 0 && (path[10] == '/' || !path[10]))
        return gw__eio_http_begin(h, wsi, pss, method, sio_server_eio(h->sio));
    if (h->echo && strncmp(path, "/engine.io", 10) == 0 && (path[10] == '/' || !path[10]))
        return gw__eio_http_begin(h, wsi, pss, method, h->echo);
#endif
    r = gw__req_new(h, wsi);
    if (!r)
        return -1;
    pss->kind = GW_CONN_REST;
    pss->req = r;
    snprintf(r->method, sizeof r->method, "%s", method);
    gw__request_id(h, wsi, r);
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) > 0 &&
        gw__origin_allowed(h, origin))
        snprintf(r->origin, sizeof r->origin, "%s", origin);
    log_set_context(r->request_id, NULL);

    if (gw__chunked(wsi)) {
        gw__add_hdr(r, "connection", "close");
        gw__http_error(r, 411, "LENGTH_REQUIRED",
                       "chunked transfer coding is not supported: send the body with a "
                       "Content-Length and no Transfer-Encoding");
        goto done;
    }
    if (gw__header_bytes(wsi) > h->cfg.max_header) {
        gw__http_error(r, 431, "HEADERS_TOO_LARGE", "request headers too large");
        goto done;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >= (int)sizeof r->authorization) {
        gw__http_error(r, 431, "HEADERS_TOO_LARGE", "authorization header too large");
        goto done;
    }
    if (lws_hdr_copy(wsi, r->authorization, sizeof r->authorization, WSI_TOKEN_HTTP_AUTHORIZATION) <
        0)
        r->authorization[0] = '\0';

    mr = gw_route_match(method, path, &r->match);
    if (strcmp(method, "OPTIONS") == 0 && mr != GW_MATCH_NOT_FOUND) {
        char acrh[256] = "";
        r->label = (unsigned)(gw_n_routes + GW_LABEL_PREFLIGHT);
        snprintf(r->allow, sizeof r->allow, "%s", r->match.allow);
        if (r->origin[0]) {
            gw__add_hdr(r, "access-control-allow-methods", r->match.allow);
            if (lws_hdr_copy(wsi, acrh, sizeof acrh, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) > 0) {
                for (char *p = acrh; *p; p++)
                    if (*p == '\r' || *p == '\n' || *p == ':')
                        *p = ' ';
                gw__add_hdr(r, "access-control-allow-headers", acrh);
            }
            gw__add_hdr(r, "access-control-max-age", "600");
        }
        gw__ready(r, 204, "text/plain");
        goto done;
    }
    if (mr == GW_MATCH_OK) {
        r->label = (unsigned)(r->match.route - gw_routes);
        r->kind = GW_REQ_ROUTE;
        if (lws_hdr_copy(wsi, clen, sizeof clen, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
            strtoull(clen, NULL, 10) > 0) {
            unsigned long long cl = strtoull(clen, NULL, 10);
            int waits = gw__expects_continue(wsi);
            /* Far too large to swallow, or too large and not sent yet (the
             * client waits for a 100): answer and close. */
            if (cl > 8 * h->cfg.max_body || (cl > h->cfg.max_body && waits)) {
                gw__add_hdr(r, "connection", "close");
                gw__http_error(r, 413, "PAYLOAD_TOO_LARGE", "request body too large");
                r->body_seen = (size_t)-1;
                goto done;
            }
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, h->cfg.client_timeout_s);
            if (gw__copy_query(r, wsi) != 0 || (waits && gw__continue(wsi) != 0))
                rc = -1;
            goto done; /* the body follows */
        }
        if (gw__copy_query(r, wsi) != 0) {
            rc = -1;
            goto done;
        }
        gw__dispatch(r);
        goto done;
    }
    if (mr == GW_MATCH_BAD_METHOD) {
        char msg[160];
        snprintf(r->allow, sizeof r->allow, "%s", r->match.allow);
        snprintf(msg, sizeof msg, "method %s not allowed on %s", method, path);
        gw__http_error(r, 405, "METHOD_NOT_ALLOWED", msg);
        goto done;
    }
    /* Not a route: the fixed endpoints, then static files. */
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0 || strcmp(path, "/api/openapi.json") == 0) {
        if (strcmp(method, "OPTIONS") == 0) {
            r->label = (unsigned)(gw_n_routes + GW_LABEL_PREFLIGHT);
            snprintf(r->allow, sizeof r->allow, "GET, OPTIONS");
            if (r->origin[0])
                gw__add_hdr(r, "access-control-allow-methods", "GET, OPTIONS");
            gw__ready(r, 204, "text/plain");
            goto done;
        }
        if (strcmp(method, "GET") != 0) {
            snprintf(r->allow, sizeof r->allow, "GET, OPTIONS");
            gw__http_error(r, 405, "METHOD_NOT_ALLOWED", "only GET is allowed here");
            goto done;
        }
        if (strcmp(path, "/healthz") == 0) {
            r->label = (unsigned)(gw_n_routes + GW_LABEL_HEALTHZ);
            pbjson_buf_puts(gw__out(r), "{\"status\":\"ok\"}");
            gw__ready(r, 200, "application/json");
        } else if (strcmp(path, "/readyz") == 0) {
            r->label = (unsigned)(gw_n_routes + GW_LABEL_READYZ);
            gw__readyz(r);
        } else if (strcmp(path, "/metrics") == 0) {
            r->label = (unsigned)(gw_n_routes + GW_LABEL_METRICS);
            gw__metrics(r);
        } else {
            r->label = (unsigned)(gw_n_routes + GW_LABEL_OPENAPI);
            pbjson_buf_append(gw__out(r), h->openapi, h->openapi_len);
            gw__ready(r, 200, "application/json");
        }
        goto done;
    }
    if (h->static_dir && strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0 &&
        strcmp(method, "GET") == 0) {
        gw__static(h, wsi, pss, r, path);
        goto done;
    }
    gw__http_error(r, 404, "NOT_FOUND", "no such path");
done:
    log_clear_context();
    return rc;
}

static int gw__on_body(gw_http *h, gw_req *r, const char *in, size_t len)
{
    /* lws re-arms its body timeout on every chunk, which a client sending a
     * byte now and then would defeat: the whole body gets client_timeout_s
     * from the end of the headers, and a chunk after that closes. */
    if (gw__elapsed(&r->t0) > (double)h->cfg.client_timeout_s) {
        log_info("%s %s: body not complete after %d s, closing", r->method,
                 r->match.route ? r->match.route->pattern : "-", h->cfg.client_timeout_s);
        return -1;
    }
    if (!in || len == 0)
        return 0; /* lws may deliver an empty chunk with no buffer */
    r->body_seen += len;
    if (r->body_seen > h->cfg.max_body)
        return 0; /* keep reading to keep the connection usable, store nothing */
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 1024;
        char *p;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        p = realloc(r->body, cap);
        if (!p)
            return -1;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, in, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

/* ---- Socket.IO seam ---------------------------------------------------- */

#ifdef GW_HAVE_SOCKETIO
static char *gw__hdr_dup(struct lws *wsi, enum lws_token_indexes tok)
{
    int n = lws_hdr_total_length(wsi, tok);
    char *s;
    if (n <= 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, tok) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

/* The raw query string (lws splits it at '&'; join it back). */
static char *gw__raw_query(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char *s;
    size_t used = 0, cap;
    if (total <= 0)
        return strdup("");
    cap = (size_t)total + 256;
    s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < 64; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0 || used + (size_t)len + 2 > cap)
            break;
        if (used)
            s[used++] = '&';
        if (lws_hdr_copy_fragment(wsi, s + used, (int)(cap - used), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            break;
        used += strlen(s + used);
    }
    s[used] = '\0';
    return s;
}

static void gw__eio_reset(gw_pss *pss)
{
    free(pss->eio_method);
    free(pss->eio_query);
    free(pss->eio_origin);
    free(pss->eio_acr);
    free(pss->eio_body);
    pss->eio_method = pss->eio_query = pss->eio_origin = pss->eio_acr = pss->eio_body = NULL;
    pss->eio_body_len = pss->eio_body_cap = 0;
}

static void gw__eio_submit(gw_pss *pss)
{
    eio_http_req req = {pss->eio_method, pss->eio_query ? pss->eio_query : "", pss->eio_origin,
                        pss->eio_acr,    pss->eio_body ? pss->eio_body : "",   pss->eio_body_len};
    eio_http_request(pss->eio_srv, &pss->eio, &req);
}

static int gw__eio_http_begin(gw_http *h, struct lws *wsi, gw_pss *pss, const char *method,
                              eio_server *srv)
{
    char clen[32];
    if (gw__chunked(wsi)) {
        log_info("engine.io: %s with a transfer-coded body (not supported): closing", method);
        return -1;
    }
    pss->kind = GW_CONN_EIO_HTTP;
    pss->eio_srv = srv;
    memset(&pss->eio, 0, sizeof pss->eio);
    pss->eio.transport = wsi;
    gw__eio_reset(pss);
    pss->eio_method = strdup(method);
    pss->eio_query = gw__raw_query(wsi);
    pss->eio_origin = gw__hdr_dup(wsi, WSI_TOKEN_ORIGIN);
    pss->eio_acr = gw__hdr_dup(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
    /* A held long-poll may wait for a whole ping period. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 60);
    if (lws_hdr_copy(wsi, clen, sizeof clen, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
        strtoull(clen, NULL, 10) > 0)
        return 0; /* body follows */
    gw__eio_submit(pss);
    return 0;
}

static void gw__eio_respond(void *ctx, eio_conn *c, const eio_http_response *resp)
{
    struct lws *wsi = c->transport;
    gw_pss *pss = lws_wsi_user(wsi);
    static const char zeros[GW_HEADROOM];
    char hdr[GW_HDR_SPACE];
    size_t n = 0;
    (void)ctx;
    pbjson_buf_free(&pss->eio_out);
    pbjson_buf_append(&pss->eio_out, zeros, GW_HEADROOM);
    /* Keep status, type and headers in front of the body area as text. */
    n += (size_t)snprintf(hdr + n, sizeof hdr - n, "%d\n%s\n", resp->status,
                          resp->content_type ? resp->content_type : "text/plain");
    for (size_t i = 0; i < resp->nheaders && n < sizeof hdr; i++)
        n += (size_t)snprintf(hdr + n, sizeof hdr - n, "%s:%s\n", resp->headers[i].name,
                              resp->headers[i].value);
    if (n >= sizeof hdr)
        n = sizeof hdr - 1;
    memcpy(pss->eio_out.data + LWS_PRE, hdr, n);
    pss->eio_out.data[LWS_PRE + n] = '\0';
    pbjson_buf_append(&pss->eio_out, resp->body ? resp->body : "", resp->len);
    pss->eio_out_ready = 1;
    lws_callback_on_writable(wsi);
}

static int gw__eio_write_http(gw_http *h, struct lws *wsi, gw_pss *pss)
{
    unsigned char hb[GW_HDR_SPACE + LWS_PRE];
    unsigned char *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    char *meta = pss->eio_out.data + LWS_PRE, *line, *ctype, num[32];
    unsigned char *body = (unsigned char *)pss->eio_out.data + GW_HEADROOM;
    size_t body_len = pss->eio_out.len - GW_HEADROOM, hlen;
    int status = atoi(meta);
    line = strchr(meta, '\n');
    if (!line || pss->eio_out.oom)
        return -1;
    ctype = line + 1;
    line = strchr(ctype, '\n');
    if (!line)
        return -1;
    *line++ = '\0';
    if (lws_add_http_header_status(wsi, (unsigned)status, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"content-type:",
                                    (const unsigned char *)ctype, (int)strlen(ctype), &p, end))
        return -1;
    snprintf(num, sizeof num, "%zu", body_len);
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-length:",
                                    (const unsigned char *)num, (int)strlen(num), &p, end))
        return -1;
    while (*line) {
        char *colon = strchr(line, ':'), *nl = strchr(line, '\n'), name[96];
        if (!colon || !nl || colon > nl || (size_t)(colon - line) + 2 > sizeof name)
            break;
        memcpy(name, line, (size_t)(colon - line) + 1);
        name[colon - line + 1] = '\0';
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)colon + 1, (int)(nl - colon - 1), &p,
                                        end))
            return -1;
        line = nl + 1;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    hlen = (size_t)(p - start);
    if (hlen > GW_HDR_SPACE)
        return -1;
    memcpy(body - hlen, start, hlen);
    if (lws_write(wsi, body - hlen, hlen + body_len, LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    gw_metrics_request(h->metrics, (unsigned)(gw_n_routes + GW_LABEL_SOCKETIO), status, 0);
    pss->eio_out_ready = 0;
    pbjson_buf_free(&pss->eio_out);
    gw__eio_reset(pss);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void gw__eio_want_write(void *ctx, eio_conn *c)
{
    (void)ctx;
    lws_callback_on_writable(c->transport);
}

static int gw__eio_ws_write(void *ctx, eio_conn *c, unsigned char *p, size_t len, int binary)
{
    (void)ctx;
    if (lws_write(c->transport, p, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)len)
        return -1;
    return 0;
}

static void gw__eio_ws_close(void *ctx, eio_conn *c)
{
    gw_pss *pss = lws_wsi_user(c->transport);
    (void)ctx;
    pss->ws_close = 1;
    lws_callback_on_writable(c->transport);
}

static void gw__tick(lws_sorted_usec_list_t *sul)
{
    gw_http *h = lws_container_of(sul, gw_http, tick);
    sio_server_tick(h->sio);
    if (h->echo)
        eio_server_tick(h->echo);
    if (h->sio_app && h->sio_app->tick && h->sio_app_state)
        h->sio_app->tick(h->sio_app_state);
    lws_sul_schedule(h->ctx, 0, &h->tick, gw__tick, 200 * LWS_US_PER_MS);
}

static int gw__sio_init(gw_http *h)
{
    eio_config ec;
    sio_config sc;
    memset(&ec, 0, sizeof ec);
    memset(&sc, 0, sizeof sc);
    ec.cors_origins = h->cors && *h->cors ? h->cors : NULL;
    ec.ping_interval_ms = h->cfg.sio_ping_interval_ms;
    ec.ping_timeout_ms = h->cfg.sio_ping_timeout_ms;
    ec.max_payload = h->cfg.sio_max_payload;
    sc.connect_timeout_ms = h->cfg.sio_connect_timeout_ms;
    ec.ws_headroom = LWS_PRE;
    ec.transport.http_respond = gw__eio_respond;
    ec.transport.ws_want_write = gw__eio_want_write;
    ec.transport.ws_write = gw__eio_ws_write;
    ec.transport.ws_close = gw__eio_ws_close;
    ec.transport_ctx = h;
    h->sio = sio_server_new(&ec, &sc);
    /* The raw Engine.IO echo only exists in conformance mode (no app). */
    if (!h->sio_app)
        h->echo = eio_server_new(&ec, sio_conformance_echo_handler(), NULL);
    if (!h->sio || (!h->sio_app && !h->echo))
        return -1;
    h->env.http = h;
    h->env.rpc = h->rpc;
    h->env.request_timeout_ms = h->cfg.request_timeout_ms;
    h->env.app_config = h->sio_app ? h->sio_app->config : NULL;
    if (h->sio_app && h->sio_app->install) {
        if (h->sio_app->install(h->sio, &h->env, &h->sio_app_state) != CS_OK)
            return -1;
    } else if (sio_conformance_install(h->sio) != CS_OK) {
        return -1;
    }
    lws_sul_schedule(h->ctx, 0, &h->tick, gw__tick, 200 * LWS_US_PER_MS);
    return 0;
}

static void gw__sio_free(gw_http *h)
{
    lws_sul_cancel(&h->tick);
    if (h->sio_app && h->sio_app->free && h->sio_app_state)
        h->sio_app->free(h->sio_app_state);
    h->sio_app_state = NULL;
    /* Every connection ends while the transport lives (conformance mode has
     * no app to do it): closes lws reports later find no connection. */
    if (h->sio) {
        sio_server_close_all(h->sio, "server shutting down");
        sio_server_free(h->sio);
    }
    if (h->echo) {
        eio_server_close_all(h->echo, "server shutting down");
        eio_server_free(h->echo);
    }
    h->sio = NULL;
    h->echo = NULL;
}

/* A WebSocket upgrade was accepted by lws: hand it to Engine.IO. */
static int gw__ws_open(gw_http *h, struct lws *wsi, gw_pss *pss)
{
    char uri[256] = "", *query, *origin;
    eio_http_response err;
    eio_server *srv;
    int rc;
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        return -1;
    if (strncmp(uri, "/socket.io/", 11) == 0)
        srv = sio_server_eio(h->sio);
    else if (h->echo && strncmp(uri, "/engine.io/", 11) == 0)
        srv = h->echo;
    else
        return -1;
    memset(&pss->eio, 0, sizeof pss->eio);
    pss->kind = GW_CONN_EIO_WS;
    pss->eio_srv = srv;
    pss->eio.transport = wsi;
    query = gw__raw_query(wsi);
    origin = gw__hdr_dup(wsi, WSI_TOKEN_ORIGIN);
    rc = eio_ws_open(srv, &pss->eio, query ? query : "", origin, &err);
    free(query);
    free(origin);
    return rc ? -1 : 0;
}
#endif

/* ---- the lws callback -------------------------------------------------- */

static int gw__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    gw_http *h = lws_context_user(lws_get_context(wsi));
    gw_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        memset(pss, 0, sizeof *pss);
        return gw__on_http(h, wsi, pss, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (pss->kind == GW_CONN_REST && pss->req)
            return gw__on_body(h, pss->req, in, len);
#ifdef GW_HAVE_SOCKETIO
        if (pss->kind == GW_CONN_EIO_HTTP) {
            size_t max = eio_server_config(pss->eio_srv)->max_payload + 1;
            size_t take = pss->eio_body_len >= max        ? 0
                          : len < max - pss->eio_body_len ? len
                                                          : max - pss->eio_body_len;
            if (take) {
                if (pss->eio_body_len + take + 1 > pss->eio_body_cap) {
                    size_t cap = (pss->eio_body_len + take + 1) * 2;
                    char *p = realloc(pss->eio_body, cap);
                    if (!p)
                        return -1;
                    pss->eio_body = p;
                    pss->eio_body_cap = cap;
                }
                memcpy(pss->eio_body + pss->eio_body_len, in, take);
                pss->eio_body_len += take;
                pss->eio_body[pss->eio_body_len] = '\0';
            }
        }
#endif
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss->kind == GW_CONN_REST && pss->req && !pss->req->answered &&
            !pss->req->rpc_pending) {
            lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
            log_set_context(pss->req->request_id, NULL);
            gw__dispatch(pss->req);
            log_clear_context();
        }
#ifdef GW_HAVE_SOCKETIO
        if (pss->kind == GW_CONN_EIO_HTTP)
            gw__eio_submit(pss);
#endif
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
#ifdef GW_HAVE_SOCKETIO
        if (pss->kind == GW_CONN_EIO_HTTP) {
            if (!pss->eio_out_ready)
                return 0;
            return gw__eio_write_http(h, wsi, pss);
        }
#endif
        if (pss->kind == GW_CONN_REST && pss->req && pss->req->answered) {
            gw_req *r = pss->req;
            int close_after = strstr(r->extra_hdrs, "connection:close") != NULL;
            int rc = gw__write(wsi, r);
            pss->req = NULL;
            gw__req_free(r);
            if (rc != 0 || close_after)
                return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        return 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && pss->kind == GW_CONN_REST && pss->req) {
            gw_req *r = pss->req;
            pss->req = NULL;
            r->wsi = NULL;
            if (!r->rpc_pending)
                gw__req_free(r);
        }
#ifdef GW_HAVE_SOCKETIO
        if (pss && pss->kind == GW_CONN_EIO_HTTP) {
            eio_conn_closed(pss->eio_srv, &pss->eio);
            pbjson_buf_free(&pss->eio_out);
            gw__eio_reset(pss);
        }
#endif
        if (pss)
            pss->kind = GW_CONN_NONE;
        return 0;
#ifdef GW_HAVE_SOCKETIO
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        char uri[64] = "";
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        if (strncmp(uri, "/socket.io/", 11) != 0 && strncmp(uri, "/engine.io/", 11) != 0)
            return 1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        memset(pss, 0, sizeof *pss);
        return gw__ws_open(h, wsi, pss);
    case LWS_CALLBACK_RECEIVE: {
        /* Join fragments into one message, capped at max_payload + 1. */
        size_t max = eio_server_config(pss->eio_srv)->max_payload + 1;
        size_t take = pss->eio_body_len >= max        ? 0
                      : len < max - pss->eio_body_len ? len
                                                      : max - pss->eio_body_len;
        if (pss->kind != GW_CONN_EIO_WS)
            return -1;
        if (take) {
            if (pss->eio_body_len + take + 1 > pss->eio_body_cap) {
                size_t cap = (pss->eio_body_len + take + 1) * 2;
                char *p = realloc(pss->eio_body, cap);
                if (!p)
                    return -1;
                pss->eio_body = p;
                pss->eio_body_cap = cap;
            }
            memcpy(pss->eio_body + pss->eio_body_len, in, take);
            pss->eio_body_len += take;
            pss->eio_body[pss->eio_body_len] = '\0';
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            eio_ws_message(pss->eio_srv, &pss->eio, pss->eio_body ? pss->eio_body : "",
                           pss->eio_body_len, lws_frame_is_binary(wsi));
            pss->eio_body_len = 0;
        }
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->kind != GW_CONN_EIO_WS || pss->ws_close)
            return -1;
        eio_ws_writable(pss->eio_srv, &pss->eio);
        return pss->ws_close ? -1 : 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->kind == GW_CONN_EIO_WS) {
            eio_conn_closed(pss->eio_srv, &pss->eio);
            gw__eio_reset(pss);
            pss->kind = GW_CONN_NONE;
        }
        return 0;
#endif
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (h)
            gw__drain(h);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifecycle --------------------------------------------------------- */

gw_http *gw_http_new(const gw_http_config *cfg, rpcc_client *rpc, const gw_sio_app *sio_app)
{
    struct lws_context_creation_info info;
    gw_http *h = calloc(1, sizeof *h);
    gw_http *ret = NULL;
    if (!h)
        goto out;
    pthread_mutex_init(&h->lock, NULL);
    h->cfg = *cfg;
    if (h->cfg.client_timeout_s <= 0)
        h->cfg.client_timeout_s = 10;
    if (h->cfg.keepalive_timeout_s <= 0)
        h->cfg.keepalive_timeout_s = 30;
    h->addr = strdup(cfg->addr);
    h->cors = cfg->cors_origins ? strdup(cfg->cors_origins) : NULL;
    h->static_dir = cfg->static_dir && *cfg->static_dir ? strdup(cfg->static_dir) : NULL;
    h->rpc = rpc;
#ifdef GW_HAVE_SOCKETIO
    h->sio_app = sio_app;
#else
    (void)sio_app;
#endif
    h->metrics = gw_metrics_new();
    h->openapi = gw_openapi_build("0.1.0");
    if (!h->addr || !h->metrics || !h->openapi)
        goto out;
    h->openapi_len = strlen(h->openapi);
    if (cfg_split_hostport(cfg->addr, h->host, sizeof h->host, &h->port) != 0) {
        log_error("HTTP_ADDR: cannot parse '%s'", cfg->addr);
        goto out;
    }
    h->protocols[0].name = "http";
    h->protocols[0].callback = gw__callback;
    h->protocols[0].per_session_data_size = sizeof(gw_pss);
    /* WebSocket receive buffer per connection: lws allocates it for every
     * socket (0 would mean pt_serv_buf_size, 64 KiB: ~8 KB resident each).
     * Larger messages arrive in pieces that gw__callback joins. Sends are
     * not limited by it (tx_packet_size). */
    h->protocols[0].rx_buffer_size = 1024;
    h->protocols[0].tx_packet_size = 64 * 1024;

    memset(&info, 0, sizeof info);
    info.port = h->port;
    info.iface = h->host;
    info.protocols = h->protocols;
    info.user = h;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(h->host, ':') == NULL) |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* Headers up to max_header plus the request line must fit; the
     * request is then measured and answered 431 above max_header. */
    info.max_http_header_data2 = (unsigned)(cfg->max_header + 4096);
    info.max_http_header_pool2 = 256;
    /* A client has client_timeout_s to send its headers (while it holds a
     * header table), then again for its body (PENDING_TIMEOUT_HTTP_CONTENT). */
    info.timeout_secs = (unsigned)h->cfg.client_timeout_s;
    info.timeout_secs_ah_idle = (unsigned)h->cfg.client_timeout_s;
    info.keepalive_timeout = h->cfg.keepalive_timeout_s;
    info.pt_serv_buf_size = 64 * 1024;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        log_error("cannot listen on %s", cfg->addr);
        goto out;
    }
#ifdef GW_HAVE_SOCKETIO
    if (gw__sio_init(h) != 0) {
        log_error("cannot start the Socket.IO server");
        goto out;
    }
#endif
    log_info("callgw listening on http://%s", cfg->addr);
    ret = h;
    h = NULL;
out:
    gw_http_free(h);
    return ret;
}

int gw_http_run(gw_http *h)
{
    struct timespec deadline = {0};
    int draining = 0;
    while (1) {
        if (atomic_load(&h->stop) && !draining) {
            draining = 1;
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += h->cfg.drain_timeout_ms / 1000;
            deadline.tv_nsec += (long)(h->cfg.drain_timeout_ms % 1000) * 1000000L;
            log_info("shutting down: %ld request(s) in flight", h->in_flight);
        }
        if (draining) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (h->in_flight <= 0 || now.tv_sec > deadline.tv_sec ||
                (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
                break;
        }
        if (lws_service(h->ctx, 0) < 0)
            break;
    }
#ifdef GW_HAVE_SOCKETIO
    /* On the service thread, while the gRPC client still lives: the app
     * releases its streams here. */
    gw__sio_free(h);
#endif
    return 0;
}

void gw_http_stop(gw_http *h)
{
    atomic_store(&h->stop, 1);
    if (h->ctx)
        lws_cancel_service(h->ctx);
}

void gw_http_free(gw_http *h)
{
    gw_task *t;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->closed = 1;
    pthread_mutex_unlock(&h->lock);
#ifdef GW_HAVE_SOCKETIO
    gw__sio_free(h);
#endif
    if (h->ctx)
        lws_context_destroy(h->ctx); /* closes connections: orphans in-flight requests */
    h->ctx = NULL;
    /* Completions may still arrive until the rpc client is freed; the
     * caller frees it next, and rpcc_client_free waits for them all. What
     * already arrived is freed here. */
    pthread_mutex_lock(&h->lock);
    while (h->done_head) {
        gw_req *r = h->done_head;
        h->done_head = r->next;
        gw__req_free(r);
    }
    h->done_tail = NULL;
    t = h->tasks_head;
    h->tasks_head = h->tasks_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    /* Run what is left (after the app's free): each task releases what it
     * carries (see http.h). */
    while (t) {
        gw_task *n = t->next;
        t->fn(t->arg);
        free(t);
        t = n;
    }
    gw_metrics_free(h->metrics);
    pbjson_arena_free(&h->arena);
    free(h->openapi);
    free(h->addr);
    free(h->cors);
    free(h->static_dir);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
