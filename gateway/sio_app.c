/*
 * sio_app: the Socket.IO application of callgw (see sio_app.h).
 *
 * Threads. Everything here runs on the lws service thread except the gRPC
 * callbacks (sa__*_cb), which run on rpcc's completion-queue thread: they
 * only copy bytes into a task and gw_http_post it. A task still queued when
 * the app is freed runs later from gw_http_free, so tasks reach the app
 * through sa_core, a small refcounted block whose `app` is NULL once the app
 * is gone. Across the hop a socket is named by its sid, never a pointer.
 *
 * Streams. Each user (id + role) has one WatchEvents stream (user->st) with
 * `seq` = the last stored seq it delivered to the user's room "u:<id>", or
 * -1 while it has delivered nothing. It is re-opened from `seq` when callsvc
 * ends it (restart, RESOURCE_EXHAUSTED for a slow reader, ...), with backoff
 * (200 ms doubling to 5 s; back to 200 ms after a stream lived 5 s), so the
 * sockets lose nothing. A stream that never delivered anything re-opens from
 * `floor`: the highest seq this gateway had seen from any stream when it was
 * first opened (seqs are global), or live-only when the gateway had seen
 * none, the one case where a drop can lose events (documented).
 *
 * Catch-up. A socket connecting with lastSeq L when its user's room is not
 * exactly at L (seq != L) is not put in the room: it gets its own stream
 * with after_seq = L and its own cursor p (= L, then each seq it delivers).
 * Both streams carry the same events (same token, same filter) in seq order,
 * so at any moment p == seq means "this socket has seen exactly what the
 * room has seen": the socket then joins the room and its own stream is
 * dropped. The check runs after each event of either stream; from then on
 * the room delivers only seqs above both, so no gap and no duplicate.
 * Ephemeral TYPING events come from the user stream only (to every socket
 * of the user in the call's room, never to sockets of the typing user).
 *
 * Requests: join_call (CallService.GetCall with the socket's token, then
 * room "call:<id>"), leave_call, update_status (UserService.SetStatus),
 * typing (EventService.PublishTyping), each acknowledged with {ok:true,...}
 * or {ok:false,error:{code,message}}, code a cs_err name. A token bucket per
 * socket limits them; `burst` refusals in a row disconnect the socket.
 */
#include "sio_app.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "common/clock.h"
#include "common/log.h"
#include "pbjson.h"
#include "socketio/sio.h"

#define SA_TOKEN_MAX    4096
#define SA_ID_MAX       64
#define SA_BACKOFF_MIN  200
#define SA_BACKOFF_MAX  5000
#define SA_STABLE_MS    5000
#define SA_MAX_INFLIGHT 16

enum {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_DEADLINE = 4,
    GRPC_UNAUTHENTICATED = 16,
    GRPC_PERMISSION = 7,
    GRPC_UNAVAILABLE = 14
};

typedef struct sa_app sa_app;
typedef struct sa_user sa_user;
typedef struct sa_sock sa_sock;

/* Shared with tasks that may outlive the app. refs: the app's own, one per
 * gRPC call or stream in flight. */
typedef struct sa_core {
    atomic_int refs;
    sa_app *app; /* NULL once the app is freed */
    gw_http *http;
} sa_core;

enum { SA_ST_USER = 1, SA_ST_CATCHUP };

/* One WatchEvents stream. Lives until its done-task has run: the
 * callbacks are ordered, so every message task of it has run by then.
 * owner is NULL once nobody wants it (its messages are then dropped). */
typedef struct sa_stream {
    sa_core *core;
    rpcc_stream *h;
    int kind;
    void *owner;       /* sa_user * or sa_sock * */
    atomic_int broken; /* a message was lost on the way: re-open */
    uint64_t opened_ms;
} sa_stream;

/* A message or the end of a stream, on its way to the loop. */
typedef struct sa_item {
    sa_stream *st;
    int done, status;
    char *msg;
    size_t len;
    uint8_t data[];
} sa_item;

struct sa_user {
    sa_user *next; /* hash chain */
    sa_app *app;
    char key[SA_ID_MAX + 8]; /* "<id>|<role>" */
    char id[SA_ID_MAX + 1];
    char room[SA_ID_MAX + 3]; /* "u:<id>" */
    char *token;              /* the newest accepted token: for re-opens */
    sa_sock *socks;
    size_t nsocks;
    sa_stream *st;
    int64_t seq, floor;
    unsigned backoff_ms;
    uint64_t reopen_at; /* 0: nothing scheduled */
};

struct sa_sock {
    sa_app *app;
    sio_socket *s;
    sa_user *user; /* NULL while authenticating */
    sa_sock *unext, *uprev;
    char *token; /* "Bearer ..." */
    int64_t last_seq;
    /* catch-up */
    int catching_up;
    int64_t p;
    sa_stream *cu;
    unsigned backoff_ms;
    uint64_t reopen_at;
    /* limits */
    double tokens;
    uint64_t refill_ms;
    unsigned refused, inflight, ncalls;
};

struct sa_app {
    sa_core *core;
    sio_server *srv;
    sio_nsp *nsp;
    rpcc_client *rpc;
    int timeout_ms;
    sio_app_config cfg;
    sa_user **users;
    size_t nbuckets, nusers;
    int64_t max_seq; /* highest stored seq seen on any stream */
    uint64_t due_ms; /* earliest reopen_at of any user or socket; 0: none */
};

static uint64_t sa__now_ms(void)
{
    return (uint64_t)cs_mono_ms();
}

/* Sets *at to now + delay_ms and tells the tick to look then. */
static void sa__schedule(sa_app *a, uint64_t *at, unsigned delay_ms)
{
    *at = sa__now_ms() + delay_ms;
    if (!a->due_ms || *at < a->due_ms)
        a->due_ms = *at;
}

static void sa__core_unref(sa_core *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

/* ---- acks ---------------------------------------------------------------- */

static void sa__ack_err(sio_socket *s, long long ack_id, cs_err e, const char *msg)
{
    if (ack_id < 0)
        return;
    sio_socket_ack(s, ack_id,
                   json_pack("[{s:b,s:{s:s,s:s}}]", "ok", 0, "error", "code", cs_err_name(e),
                             "message", msg ? msg : cs_err_name(e)),
                   NULL, 0);
}

/* {ok:true} plus key: val (val stolen; key NULL for none). */
static void sa__ack_ok(sio_socket *s, long long ack_id, const char *key, json_t *val)
{
    json_t *o = json_pack("{s:b}", "ok", 1);
    if (o && key && val)
        json_object_set_new(o, key, val);
    else
        json_decref(val);
    if (ack_id < 0 || !o) {
        json_decref(o);
        return;
    }
    sio_socket_ack(s, ack_id, json_pack("[o]", o), NULL, 0);
}

/* ---- users --------------------------------------------------------------- */

static size_t sa__hash(const char *k)
{
    size_t h = 5381;
    for (; *k; k++)
        h = h * 33 + (unsigned char)*k;
    return h;
}

static sa_user *sa__user_find(sa_app *a, const char *key)
{
    if (!a->nbuckets)
        return NULL;
    for (sa_user *u = a->users[sa__hash(key) & (a->nbuckets - 1)]; u; u = u->next)
        if (strcmp(u->key, key) == 0)
            return u;
    return NULL;
}

static cs_err sa__user_put(sa_app *a, sa_user *u)
{
    cs_err err = CS_ERR_INTERNAL;
    size_t k;
    if (a->nusers + 1 > a->nbuckets) {
        size_t nb = a->nbuckets ? a->nbuckets * 2 : 64;
        sa_user **b = calloc(nb, sizeof *b);
        if (!b)
            goto out;
        for (size_t i = 0; i < a->nbuckets; i++) {
            sa_user *x = a->users[i], *nx;
            for (; x; x = nx) {
                nx = x->next;
                k = sa__hash(x->key) & (nb - 1);
                x->next = b[k];
                b[k] = x;
            }
        }
        free(a->users);
        a->users = b;
        a->nbuckets = nb;
    }
    k = sa__hash(u->key) & (a->nbuckets - 1);
    u->next = a->users[k];
    a->users[k] = u;
    a->nusers++;
    err = CS_OK;
out:
    return err;
}

static void sa__user_del(sa_app *a, sa_user *u)
{
    sa_user **pp = &a->users[sa__hash(u->key) & (a->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            a->nusers--;
            return;
        }
}

/* ---- streams ------------------------------------------------------------- */

static void sa__task_item(void *arg);

/* Completion-queue thread. */
static void sa__stream_msg_cb(void *arg, const uint8_t *msg, size_t len)
{
    sa_stream *st = arg;
    sa_item *it;
    if (atomic_load(&st->broken))
        return;
    it = malloc(sizeof *it + len);
    if (it) {
        memset(it, 0, sizeof *it);
        it->st = st;
        it->len = len;
        memcpy(it->data, msg, len);
        if (gw_http_post(st->core->http, sa__task_item, it) == 0)
            return;
        free(it);
    }
    /* A lost message would be a gap: end the stream, it re-opens from the
     * last seq delivered. */
    atomic_store(&st->broken, 1);
    rpcc_stream_cancel(st->h);
}

/* Completion-queue thread. */
static void sa__stream_done_cb(void *arg, int status, const char *message)
{
    sa_stream *st = arg;
    sa_item *it = calloc(1, sizeof *it);
    if (it) {
        it->st = st;
        it->done = 1;
        it->status = status;
        it->msg = strdup(message ? message : "");
        if (gw_http_post(st->core->http, sa__task_item, it) == 0)
            return;
        free(it->msg);
        free(it);
    }
    /* Only when out of memory: the stream is leaked rather than freed
     * under message tasks that may still point at it. */
    log_error("socket.io: cannot queue the end of an event stream");
}

/* Opens WatchEvents after `after` for owner; NULL on failure. */
static sa_stream *sa__stream_open(sa_app *a, int kind, void *owner, const char *token,
                                  int64_t after)
{
    Callservice__V1__WatchEventsRequest req = CALLSERVICE__V1__WATCH_EVENTS_REQUEST__INIT;
    rpcc_md md = {token, NULL};
    sa_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->core = a->core;
    st->kind = kind;
    st->owner = owner;
    st->opened_ms = sa__now_ms();
    atomic_init(&st->broken, 0);
    req.after_seq = after > 0 ? after : 0;
    atomic_fetch_add(&a->core->refs, 1);
    st->h = rpcc_stream_start(a->rpc, "/callservice.v1.EventService/WatchEvents", &req.base, &md, 0,
                              sa__stream_msg_cb, sa__stream_done_cb, st);
    if (!st->h) {
        sa__core_unref(a->core);
        free(st);
        return NULL;
    }
    log_debug("socket.io: %s stream opened after seq %lld",
              kind == SA_ST_USER ? "user" : "catch-up", (long long)req.after_seq);
    return st;
}

/* The owner lets go: cancel; the wrapper is freed by its done-task. */
static void sa__stream_drop(sa_stream *st)
{
    if (!st)
        return;
    st->owner = NULL;
    rpcc_stream_cancel(st->h);
}

static void sa__user_open(sa_user *u)
{
    sa_app *a = u->app;
    int64_t after = u->seq >= 0 ? u->seq : u->floor;
    u->reopen_at = 0;
    u->st = sa__stream_open(a, SA_ST_USER, u, u->token, after);
    if (!u->st) {
        sa__schedule(a, &u->reopen_at, u->backoff_ms);
        log_warn("socket.io: cannot open the event stream of user %s; retrying", u->id);
    }
}

static void sa__sock_open_cu(sa_sock *k)
{
    k->reopen_at = 0;
    k->cu = sa__stream_open(k->app, SA_ST_CATCHUP, k, k->token, k->p);
    if (!k->cu)
        sa__schedule(k->app, &k->reopen_at, k->backoff_ms);
}

/* The socket has seen exactly what its user's room has: join it. */
static void sa__merge(sa_sock *k)
{
    k->catching_up = 0;
    sa__stream_drop(k->cu);
    k->cu = NULL;
    k->reopen_at = 0;
    if (sio_socket_join(k->s, k->user->room) != CS_OK)
        sio_socket_close_connection(k->s, "out of memory");
}

static void sa__maybe_merge(sa_sock *k)
{
    if (k->catching_up && k->user && k->user->seq >= 0 && k->p == k->user->seq)
        sa__merge(k);
}

/* Sends the typing event (as JSON) to the user's sockets in the call's
 * room, except when the user is the one typing. */
static void sa__typing(sa_user *u, const Callservice__V1__Event *ev)
{
    char room[SA_ID_MAX + 6];
    json_t *j;
    if (ev->payload_case != CALLSERVICE__V1__EVENT__PAYLOAD_TYPING || !ev->typing ||
        strcmp(ev->typing->user_id, u->id) == 0)
        return;
    snprintf(room, sizeof room, "call:%s", ev->call_id);
    j = pbjson_encode_json(&ev->base);
    for (sa_sock *k = u->socks; j && k; k = k->unext)
        if (sio_socket_in_room(k->s, room))
            sio_socket_emit(k->s, "typing", json_pack("[O]", j), NULL, 0);
    json_decref(j);
}

static void sa__event_name(const Callservice__V1__Event *ev, char *name, size_t n)
{
    if (!pbjson_enum_short_name(&callservice__v1__event_type__descriptor, (int)ev->type, name, n))
        snprintf(name, n, "event");
}

/* An event of a user stream. */
static void sa__user_event(sa_user *u, const Callservice__V1__Event *ev)
{
    char name[64];
    sa_sock *k, *next;
    if (ev->type == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_TYPING) {
        sa__typing(u, ev);
        return;
    }
    if (ev->seq > 0 && u->seq >= 0 && ev->seq <= u->seq)
        return; /* already delivered (cannot happen with a correct server) */
    sa__event_name(ev, name, sizeof name);
    sio_nsp_emit(u->app->nsp, u->room, NULL, name, json_pack("[o]", pbjson_encode_json(&ev->base)));
    if (ev->seq > 0) {
        u->seq = ev->seq;
        if (ev->seq > u->app->max_seq)
            u->app->max_seq = ev->seq;
    }
    for (k = u->socks; k; k = next) {
        next = k->unext;
        sa__maybe_merge(k);
    }
}

/* An event of a socket's catch-up stream. */
static void sa__cu_event(sa_sock *k, const Callservice__V1__Event *ev)
{
    char name[64];
    if (ev->type == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_TYPING)
        return; /* the user stream delivers those */
    if (ev->seq > 0 && ev->seq <= k->p)
        return;
    sa__event_name(ev, name, sizeof name);
    sio_socket_emit(k->s, name, json_pack("[o]", pbjson_encode_json(&ev->base)), NULL, 0);
    if (ev->seq > 0) {
        k->p = ev->seq;
        if (ev->seq > k->app->max_seq)
            k->app->max_seq = ev->seq;
    }
    sa__maybe_merge(k);
}

/* Closes the Engine.IO connection of every socket of u (their clients
 * reconnect and authenticate again). u may be freed meanwhile. */
static void sa__user_kick(sa_user *u, const char *why)
{
    size_t n = u->nsocks, i = 0;
    sio_socket **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return;
    for (sa_sock *k = u->socks; k && i < n; k = k->unext)
        v[i++] = k->s;
    log_warn("socket.io: closing %zu socket(s) of user %s: %s", i, u->id, why);
    for (size_t j = 0; j < i; j++)
        sio_socket_close_connection(v[j], why);
    free(v);
}

static unsigned sa__backoff_next(unsigned b, uint64_t opened_ms)
{
    if (sa__now_ms() - opened_ms >= SA_STABLE_MS)
        return SA_BACKOFF_MIN;
    b = b ? b * 2 : SA_BACKOFF_MIN;
    return b > SA_BACKOFF_MAX ? SA_BACKOFF_MAX : b;
}

static void sa__stream_ended(sa_stream *st, int status, const char *msg)
{
    int auth = status == GRPC_UNAUTHENTICATED || status == GRPC_PERMISSION;
    if (st->kind == SA_ST_USER) {
        sa_user *u = st->owner;
        u->st = NULL;
        if (auth) {
            sa__user_kick(u, "token no longer valid");
            return;
        }
        u->backoff_ms = sa__backoff_next(u->backoff_ms, st->opened_ms);
        sa__schedule(u->app, &u->reopen_at, u->backoff_ms);
        log_info("socket.io: event stream of user %s ended (%d %s); re-open after seq %lld in "
                 "%u ms",
                 u->id, status, msg, (long long)(u->seq >= 0 ? u->seq : u->floor), u->backoff_ms);
    } else {
        sa_sock *k = st->owner;
        k->cu = NULL;
        if (auth) {
            sio_socket_close_connection(k->s, "token no longer valid");
            return;
        }
        k->backoff_ms = sa__backoff_next(k->backoff_ms, st->opened_ms);
        sa__schedule(k->app, &k->reopen_at, k->backoff_ms);
    }
}

/* Loop thread (or gw_http_free): one message or the end of a stream. */
static void sa__task_item(void *arg)
{
    sa_item *it = arg;
    sa_stream *st = it->st;
    sa_core *core = st->core;
    Callservice__V1__Event *ev = NULL;

    if (it->done) {
        rpcc_stream_release(st->h);
        if (core->app && st->owner)
            sa__stream_ended(st, it->status, it->msg);
        free(st);
        sa__core_unref(core);
        goto out;
    }
    if (!core->app || !st->owner || atomic_load(&st->broken))
        goto out;
    ev = (Callservice__V1__Event *)protobuf_c_message_unpack(&callservice__v1__event__descriptor,
                                                             NULL, it->len, it->data);
    if (!ev) {
        log_warn("socket.io: undecodable event from callsvc; re-opening the stream");
        atomic_store(&st->broken, 1);
        rpcc_stream_cancel(st->h);
        goto out;
    }
    if (st->kind == SA_ST_USER)
        sa__user_event(st->owner, ev);
    else
        sa__cu_event(st->owner, ev);
out:
    if (ev)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
    free(it->msg);
    free(it);
}

/* ---- unary calls --------------------------------------------------------- */

enum sa_op_kind { SA_OP_AUTH = 1, SA_OP_JOIN, SA_OP_STATUS, SA_OP_TYPING };

typedef struct sa_op {
    sa_core *core;
    int kind;
    char sid[32];
    long long ack_id;
    char call_id[SA_ID_MAX + 1];
    int status;
    char *msg;
    uint8_t *resp;
    size_t resp_len;
} sa_op;

static void sa__task_op(void *arg);

static void sa__op_free(sa_op *op)
{
    sa__core_unref(op->core);
    free(op->msg);
    free(op->resp);
    free(op);
}

/* Completion-queue thread (or at once when the call cannot start). */
static void sa__op_cb(void *arg, const rpcc_result *res)
{
    sa_op *op = arg;
    op->status = res->status;
    op->msg = strdup(res->message ? res->message : "");
    if (res->status == GRPC_OK && res->resp_len) {
        op->resp = malloc(res->resp_len);
        if (op->resp) {
            memcpy(op->resp, res->resp, res->resp_len);
            op->resp_len = res->resp_len;
        } else {
            op->status = 13;
        }
    }
    if (gw_http_post(op->core->http, sa__task_op, op) != 0)
        sa__op_free(op);
}

static cs_err sa__op_start(sa_app *a, sa_sock *k, int kind, long long ack_id, const char *call_id,
                           const char *method, const ProtobufCMessage *req)
{
    rpcc_md md = {k->token, NULL};
    sa_op *op = calloc(1, sizeof *op);
    if (!op)
        return CS_ERR_INTERNAL;
    op->core = a->core;
    op->kind = kind;
    op->ack_id = ack_id;
    snprintf(op->sid, sizeof op->sid, "%s", sio_socket_id(k->s));
    if (call_id)
        snprintf(op->call_id, sizeof op->call_id, "%s", call_id);
    atomic_fetch_add(&a->core->refs, 1);
    k->inflight++;
    rpcc_unary_msg(a->rpc, method, req, &md, a->timeout_ms, sa__op_cb, op);
    return CS_OK;
}

static void sa__sock_unlink(sa_sock *k)
{
    sa_user *u = k->user;
    if (!u)
        return;
    if (k->uprev)
        k->uprev->unext = k->unext;
    else
        u->socks = k->unext;
    if (k->unext)
        k->unext->uprev = k->uprev;
    k->user = NULL;
    k->unext = k->uprev = NULL;
    if (--u->nsocks == 0) {
        sa__stream_drop(u->st);
        sa__user_del(u->app, u);
        free(u->token);
        free(u);
    }
}

/* GetProfile answered: accept or refuse the pending CONNECT. */
static void sa__auth_done(sa_app *a, sio_socket *s, sa_sock *k, sa_op *op)
{
    Callservice__V1__User *usr = NULL;
    sa_user *u;
    char key[SA_ID_MAX + 8];
    const char *code = NULL;
    char msg[320];

    if (op->status != GRPC_OK) {
        cs_err e = cs_err_from_grpc_status(op->status);
        code = cs_err_name(e);
        if (op->status == GRPC_UNAUTHENTICATED)
            snprintf(msg, sizeof msg, "invalid token: %s", *op->msg ? op->msg : "rejected");
        else if (op->status == GRPC_UNAVAILABLE || op->status == GRPC_DEADLINE ||
                 op->status == GRPC_CANCELLED)
            snprintf(msg, sizeof msg, "service unavailable");
        else
            snprintf(msg, sizeof msg, "authentication failed: %s", *op->msg ? op->msg : code);
        goto refuse;
    }
    usr = (Callservice__V1__User *)protobuf_c_message_unpack(&callservice__v1__user__descriptor,
                                                             NULL, op->resp_len,
                                                             op->resp ? op->resp : (uint8_t *)"");
    if (!usr || !usr->id || !*usr->id || strlen(usr->id) > SA_ID_MAX) {
        code = cs_err_name(CS_ERR_INTERNAL);
        snprintf(msg, sizeof msg, "authentication failed: bad profile from callsvc");
        goto refuse;
    }
    snprintf(key, sizeof key, "%s|%d", usr->id, (int)usr->role);
    u = sa__user_find(a, key);
    if (u && u->nsocks >= (size_t)a->cfg.max_sockets_per_user) {
        code = cs_err_name(CS_ERR_RESOURCE);
        snprintf(msg, sizeof msg, "too many connections");
        goto refuse;
    }
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u || sa__user_put(a, (snprintf(u->key, sizeof u->key, "%s", key), u)) != CS_OK) {
            free(u);
            code = cs_err_name(CS_ERR_INTERNAL);
            snprintf(msg, sizeof msg, "out of memory");
            goto refuse;
        }
        u->app = a;
        snprintf(u->id, sizeof u->id, "%s", usr->id);
        snprintf(u->room, sizeof u->room, "u:%s", usr->id);
        u->seq = k->last_seq > 0 ? k->last_seq : -1;
        u->floor = a->max_seq;
    }
    /* the newest token is the one most likely to still be valid at a re-open */
    free(u->token);
    u->token = strdup(k->token);
    k->user = u;
    k->unext = u->socks;
    if (u->socks)
        u->socks->uprev = k;
    u->socks = k;
    u->nsocks++;
    if (!u->token || sio_socket_accept(s) != CS_OK) {
        sio_socket_close_connection(s, "cannot accept");
        goto out;
    }
    if (k->last_seq <= 0 || k->last_seq == u->seq) {
        if (sio_socket_join(s, u->room) != CS_OK) {
            sio_socket_close_connection(s, "out of memory");
            goto out;
        }
    } else {
        k->catching_up = 1;
        k->p = k->last_seq;
        sa__sock_open_cu(k);
    }
    if (!u->st && !u->reopen_at)
        sa__user_open(u);
    log_debug("socket.io: %s connected as user %s (%zu socket(s))", sio_socket_id(s), u->id,
              u->nsocks);
    goto out;
refuse:
    /* refuse frees the socket without on_disconnect: release k here */
    sio_socket_set_data(s, NULL);
    free(k->token);
    free(k);
    sio_socket_refuse(s, msg, json_pack("{s:s}", "code", code));
out:
    if (usr)
        protobuf_c_message_free_unpacked(&usr->base, NULL);
}

/* Loop thread (or gw_http_free). */
static void sa__task_op(void *arg)
{
    sa_op *op = arg;
    sa_app *a = op->core->app;
    sio_socket *s;
    sa_sock *k;
    ProtobufCMessage *m = NULL;
    cs_err e;

    if (!a || !(s = sio_server_find_socket(a->srv, op->sid)) || !(k = sio_socket_data(s)))
        goto out;
    if (k->inflight)
        k->inflight--;
    if (op->kind == SA_OP_AUTH) {
        sa__auth_done(a, s, k, op);
        goto out;
    }
    if (op->status != GRPC_OK) {
        e = cs_err_from_grpc_status(op->status);
        sa__ack_err(s, op->ack_id, e, *op->msg ? op->msg : cs_err_name(e));
        goto out;
    }
    switch (op->kind) {
    case SA_OP_JOIN: {
        char room[SA_ID_MAX + 6];
        m = protobuf_c_message_unpack(&callservice__v1__call__descriptor, NULL, op->resp_len,
                                      op->resp ? op->resp : (uint8_t *)"");
        if (!m) {
            sa__ack_err(s, op->ack_id, CS_ERR_INTERNAL, "bad answer from callsvc");
            goto out;
        }
        snprintf(room, sizeof room, "call:%s", op->call_id);
        if (!sio_socket_in_room(s, room)) {
            if (k->ncalls >= (unsigned)a->cfg.max_calls_per_socket) {
                sa__ack_err(s, op->ack_id, CS_ERR_RESOURCE, "too many calls joined");
                goto out;
            }
            if (sio_socket_join(s, room) != CS_OK) {
                sa__ack_err(s, op->ack_id, CS_ERR_INTERNAL, "out of memory");
                goto out;
            }
            k->ncalls++;
        }
        sa__ack_ok(s, op->ack_id, "call", pbjson_encode_json(m));
        break;
    }
    case SA_OP_STATUS:
        m = protobuf_c_message_unpack(&callservice__v1__user__descriptor, NULL, op->resp_len,
                                      op->resp ? op->resp : (uint8_t *)"");
        if (!m) {
            sa__ack_err(s, op->ack_id, CS_ERR_INTERNAL, "bad answer from callsvc");
            goto out;
        }
        sa__ack_ok(s, op->ack_id, "user", pbjson_encode_json(m));
        break;
    default:
        sa__ack_ok(s, op->ack_id, NULL, NULL);
        break;
    }
out:
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    sa__op_free(op);
}

/* ---- client events ------------------------------------------------------- */

/* A call id as the service writes them: a uuid, lower-cased into out. */
static int sa__call_id(const json_t *arg, char *out, size_t n)
{
    const char *v = json_string_value(json_object_get(arg, "callId"));
    size_t len;
    if (!v)
        v = json_string_value(json_object_get(arg, "call_id"));
    if (!v || (len = strlen(v)) != 36 || len >= n)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v[i] != '-' : !isxdigit((unsigned char)v[i]))
            return -1;
        out[i] = (char)tolower((unsigned char)v[i]);
    }
    out[len] = '\0';
    return 0;
}

typedef cs_err (*sa_handler)(sa_app *a, sa_sock *k, const json_t *arg, long long ack_id, char *err,
                             size_t errlen);

static cs_err sa__on_join(sa_app *a, sa_sock *k, const json_t *arg, long long ack_id, char *err,
                          size_t errlen)
{
    Callservice__V1__GetCallRequest req = CALLSERVICE__V1__GET_CALL_REQUEST__INIT;
    char id[SA_ID_MAX + 1];
    if (sa__call_id(arg, id, sizeof id) != 0) {
        snprintf(err, errlen, "callId: expected a call id (uuid)");
        return CS_ERR_INVALID;
    }
    req.call_id = id;
    return sa__op_start(a, k, SA_OP_JOIN, ack_id, id, "/callservice.v1.CallService/GetCall",
                        &req.base);
}

static cs_err sa__on_leave(sa_app *a, sa_sock *k, const json_t *arg, long long ack_id, char *err,
                           size_t errlen)
{
    char id[SA_ID_MAX + 1], room[SA_ID_MAX + 6];
    (void)a;
    if (sa__call_id(arg, id, sizeof id) != 0) {
        snprintf(err, errlen, "callId: expected a call id (uuid)");
        return CS_ERR_INVALID;
    }
    snprintf(room, sizeof room, "call:%s", id);
    if (sio_socket_in_room(k->s, room)) {
        sio_socket_leave(k->s, room);
        k->ncalls--;
    }
    sa__ack_ok(k->s, ack_id, NULL, NULL);
    return CS_OK;
}

static cs_err sa__on_status(sa_app *a, sa_sock *k, const json_t *arg, long long ack_id, char *err,
                            size_t errlen)
{
    ProtobufCMessage *req = NULL;
    json_t *body = json_pack("{s:O?}", "status", json_object_get(arg, "status"));
    cs_err e = CS_ERR_INTERNAL;
    if (!body)
        goto out;
    if (!json_is_string(json_object_get(body, "status"))) {
        snprintf(err, errlen, "status: expected a string (available, busy, away, offline)");
        e = CS_ERR_INVALID;
        goto out;
    }
    e = pbjson_decode_json(body, &callservice__v1__set_status_request__descriptor, 0, &req, err,
                           errlen);
    if (e != CS_OK)
        goto out;
    e = sa__op_start(a, k, SA_OP_STATUS, ack_id, NULL, "/callservice.v1.UserService/SetStatus",
                     req);
out:
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    json_decref(body);
    return e;
}

static cs_err sa__on_typing(sa_app *a, sa_sock *k, const json_t *arg, long long ack_id, char *err,
                            size_t errlen)
{
    Callservice__V1__PublishTypingRequest req = CALLSERVICE__V1__PUBLISH_TYPING_REQUEST__INIT;
    char id[SA_ID_MAX + 1];
    const json_t *t = json_object_get(arg, "typing");
    if (sa__call_id(arg, id, sizeof id) != 0) {
        snprintf(err, errlen, "callId: expected a call id (uuid)");
        return CS_ERR_INVALID;
    }
    if (t && !json_is_boolean(t)) {
        snprintf(err, errlen, "typing: expected a boolean");
        return CS_ERR_INVALID;
    }
    req.call_id = id;
    req.typing = t ? json_is_true(t) : 1;
    return sa__op_start(a, k, SA_OP_TYPING, ack_id, id,
                        "/callservice.v1.EventService/PublishTyping", &req.base);
}

static const struct {
    const char *name;
    sa_handler fn;
} sa__handlers[] = {
    {"join_call", sa__on_join},
    {"leave_call", sa__on_leave},
    {"update_status", sa__on_status},
    {"typing", sa__on_typing},
};

/* Token bucket: 1 if the event may go on. */
static int sa__rate_ok(sa_app *a, sa_sock *k)
{
    uint64_t now = sa__now_ms();
    k->tokens += (double)(now - k->refill_ms) * a->cfg.rate_per_s / 1000.0;
    if (k->tokens > a->cfg.rate_burst)
        k->tokens = a->cfg.rate_burst;
    k->refill_ms = now;
    if (k->tokens < 1.0)
        return 0;
    k->tokens -= 1.0;
    return 1;
}

static void sa__on_event(void *app, sio_socket *s, const char *name, json_t *data, long long ack_id,
                         const sio_bin *bins, unsigned nbins)
{
    sa_app *a = app;
    sa_sock *k = sio_socket_data(s);
    const json_t *arg = json_array_get(data, 1);
    char err[256] = "";
    cs_err e = CS_ERR_UNIMPLEMENTED;
    (void)bins;

    if (!k)
        return;
    if (!sa__rate_ok(a, k)) {
        if (++k->refused >= (unsigned)a->cfg.rate_burst) {
            log_warn("socket.io: %s (user %s) keeps flooding: disconnected", sio_socket_id(s),
                     k->user ? k->user->id : "-");
            sio_socket_disconnect(s); /* frees k */
            return;
        }
        sa__ack_err(s, ack_id, CS_ERR_RESOURCE, "rate limit exceeded");
        return;
    }
    k->refused = 0;
    if (nbins) {
        sa__ack_err(s, ack_id, CS_ERR_INVALID, "binary payloads are not supported");
        return;
    }
    if (k->inflight >= SA_MAX_INFLIGHT) {
        sa__ack_err(s, ack_id, CS_ERR_RESOURCE, "too many requests in flight");
        return;
    }
    snprintf(err, sizeof err, "unknown event '%.64s'", name);
    for (size_t i = 0; i < sizeof sa__handlers / sizeof *sa__handlers; i++) {
        if (strcmp(name, sa__handlers[i].name) != 0)
            continue;
        if (!json_is_object(arg)) {
            e = CS_ERR_INVALID;
            snprintf(err, sizeof err, "%s: expected an object argument", name);
            break;
        }
        err[0] = '\0';
        e = sa__handlers[i].fn(a, k, arg, ack_id, err, sizeof err);
        break;
    }
    if (e != CS_OK)
        sa__ack_err(s, ack_id, e, *err ? err : cs_err_name(e));
}

/* ---- connect / disconnect ------------------------------------------------ */

/* auth.lastSeq: a non-negative integer, as a number or a decimal string. */
static int sa__last_seq(const json_t *v, int64_t *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 9e15 &&
        json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        *out = (int64_t)json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *p = json_string_value(v);
        char *end;
        long long n;
        if (!*p || strlen(p) > 19)
            return -1;
        for (const char *q = p; *q; q++)
            if (*q < '0' || *q > '9')
                return -1;
        n = strtoll(p, &end, 10);
        *out = n;
        return 0;
    }
    return -1;
}

static void sa__on_connect(void *app, sio_socket *s, json_t *auth)
{
    sa_app *a = app;
    Callservice__V1__GetProfileRequest req = CALLSERVICE__V1__GET_PROFILE_REQUEST__INIT;
    const char *tok = json_string_value(json_object_get(auth, "token"));
    sa_sock *k = NULL;
    int64_t last = 0;
    size_t tl;

    if (!tok || !(tl = strlen(tok)) || tl > SA_TOKEN_MAX) {
        sio_socket_refuse(s, "invalid token: auth.token is required",
                          json_pack("{s:s}", "code", cs_err_name(CS_ERR_UNAUTHENTICATED)));
        return;
    }
    if (sa__last_seq(json_object_get(auth, "lastSeq"), &last) != 0) {
        sio_socket_refuse(s, "invalid lastSeq: expected a non-negative integer",
                          json_pack("{s:s}", "code", cs_err_name(CS_ERR_INVALID)));
        return;
    }
    k = calloc(1, sizeof *k);
    if (k)
        k->token = malloc(tl + 8);
    if (!k || !k->token) {
        if (k)
            free(k);
        sio_socket_refuse(s, "out of memory", NULL);
        return;
    }
    if (strncmp(tok, "Bearer ", 7) == 0)
        memcpy(k->token, tok, tl + 1);
    else
        snprintf(k->token, tl + 8, "Bearer %s", tok);
    k->app = a;
    k->s = s;
    k->last_seq = last;
    k->tokens = a->cfg.rate_burst;
    k->refill_ms = sa__now_ms();
    sio_socket_set_data(s, k);
    if (sa__op_start(a, k, SA_OP_AUTH, -1, NULL, "/callservice.v1.UserService/GetProfile",
                     &req.base) != CS_OK) {
        sio_socket_set_data(s, NULL);
        free(k->token);
        free(k);
        sio_socket_refuse(s, "out of memory", NULL);
    }
}

static void sa__on_disconnect(void *app, sio_socket *s, const char *reason)
{
    sa_sock *k = sio_socket_data(s);
    (void)app;
    (void)reason;
    if (!k)
        return;
    sio_socket_set_data(s, NULL);
    sa__stream_drop(k->cu);
    sa__sock_unlink(k);
    free(k->token);
    free(k);
}

/* ---- lifecycle ----------------------------------------------------------- */

cs_err sio_app_install(struct sio_server *srv, const gw_app_env *env, void **out)
{
    static const sio_nsp_handler h = {sa__on_connect, sa__on_event, sa__on_disconnect};
    const sio_app_config *cfg = env->app_config;
    sa_app *a = calloc(1, sizeof *a);
    cs_err err = CS_ERR_INTERNAL;

    if (!a)
        goto out;
    a->core = calloc(1, sizeof *a->core);
    if (!a->core)
        goto out;
    atomic_init(&a->core->refs, 1);
    a->core->app = a;
    a->core->http = env->http;
    a->srv = srv;
    a->rpc = env->rpc;
    a->timeout_ms = env->request_timeout_ms;
    a->cfg.max_sockets_per_user = 10;
    a->cfg.rate_per_s = 20;
    a->cfg.rate_burst = 40;
    a->cfg.max_calls_per_socket = 32;
    if (cfg) {
        if (cfg->max_sockets_per_user > 0)
            a->cfg.max_sockets_per_user = cfg->max_sockets_per_user;
        if (cfg->rate_per_s > 0)
            a->cfg.rate_per_s = cfg->rate_per_s;
        if (cfg->rate_burst > 0)
            a->cfg.rate_burst = cfg->rate_burst;
        if (cfg->max_calls_per_socket > 0)
            a->cfg.max_calls_per_socket = cfg->max_calls_per_socket;
    }
    a->nsp = sio_server_namespace(srv, "/", &h, a);
    if (!a->nsp)
        goto out;
    *out = a;
    a = NULL;
    err = CS_OK;
out:
    if (a) {
        free(a->core);
        free(a);
    }
    return err;
}

void sio_app_tick(void *app)
{
    sa_app *a = app;
    uint64_t now = sa__now_ms();
    /* Re-opens are rare (a stream ended): walk the users only when one is
     * due, so that an idle tick costs nothing with thousands of sockets. */
    if (!a->due_ms || now < a->due_ms)
        return;
    a->due_ms = 0;
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (sa_user *u = a->users[i]; u; u = u->next) {
            if (!u->st && u->reopen_at) {
                if (now >= u->reopen_at)
                    sa__user_open(u);
                else if (!a->due_ms || u->reopen_at < a->due_ms)
                    a->due_ms = u->reopen_at;
            }
            for (sa_sock *k = u->socks; k; k = k->unext) {
                if (!k->catching_up || k->cu || !k->reopen_at)
                    continue;
                if (now >= k->reopen_at)
                    sa__sock_open_cu(k);
                else if (!a->due_ms || k->reopen_at < a->due_ms)
                    a->due_ms = k->reopen_at;
            }
        }
    }
}

void sio_app_free(void *app)
{
    sa_app *a = app;
    if (!a)
        return;
    /* End every connection now, while the app exists (each on_disconnect
     * frees its socket's data, users and streams) and while the transport
     * does: afterwards the library holds no connection, so the HTTP server
     * may tear its connections down after freeing it. From here on, tasks
     * only release what they carry. */
    sio_server_close_all(a->srv, "server shutting down");
    if (a->nusers)
        log_warn("socket.io: %zu user(s) left at shutdown", a->nusers);
    a->core->app = NULL;
    sa__core_unref(a->core);
    free(a->users);
    free(a);
}
