/*
 * eio_server: Engine.IO v4 sessions over long-polling and WebSocket
 * (see eio_server.h; protocol facts in shared/socketio-protocol.md).
 *
 * Behaviour follows the reference server (engine.io 6.x):
 * - the server pings every ping_interval and closes after ping_timeout
 *   without a pong; the next ping is scheduled from the pong;
 * - one GET at a time: a second concurrent GET gets 400 and closes the
 *   session, and the first GET receives the close packet "1";
 * - upgrade: "2probe" on the new WebSocket is answered "3probe" and the held
 *   GET is completed with a noop "6" (and so is any new GET) until the client
 *   sends "5", which switches the transport and flushes the queue there;
 * - a malformed packet closes the session.
 *
 * Re-entrancy: application callbacks may send or close sessions while eio is
 * in the middle of handling a request. Entry points therefore count their
 * depth; polling flushes are batched in a dirty list and dead sessions wait
 * in a graveyard until the outermost entry point returns.
 */
#include "eio_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/clock.h"

enum { ST_OPEN, ST_CLOSING, ST_CLOSED };
enum { TR_POLLING, TR_WS };
enum { UP_NONE, UP_PROBING, UP_PROBED };
enum { ROLE_NONE, ROLE_GET, ROLE_WS, ROLE_PROBE };
/* How a session ends: after delivering its queue, at once, or because the
 * client asked (a held GET then gets a noop, as in engine.io). */
enum { CLOSE_GRACEFUL, CLOSE_ABORT, CLOSE_CLIENT };

enum {
    EIO_E_TRANSPORT = 0,
    EIO_E_SID,
    EIO_E_METHOD,
    EIO_E_BAD_REQUEST,
    EIO_E_FORBIDDEN,
    EIO_E_VERSION,
};

static const char *const eio__errors[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

static const char *const eio__error_bodies[] = {
    "{\"code\":0,\"message\":\"Transport unknown\"}",
    "{\"code\":1,\"message\":\"Session ID unknown\"}",
    "{\"code\":2,\"message\":\"Bad handshake method\"}",
    "{\"code\":3,\"message\":\"Bad request\"}",
    "{\"code\":4,\"message\":\"Forbidden\"}",
    "{\"code\":5,\"message\":\"Unsupported protocol version\"}",
};

struct eio_buf {
    unsigned refs;
    unsigned char binary;
    size_t len;
    unsigned char *data; /* text packets start with their type digit */
    unsigned char raw[];
};

typedef struct eio_qnode {
    struct eio_qnode *next;
    eio_buf *buf;
} eio_qnode;

struct eio_session {
    struct eio_session *hnext;       /* hash chain */
    struct eio_session *prev, *next; /* all sessions, for ticks */
    struct eio_session *lnext;       /* dirty list */
    struct eio_session *gnext;       /* graveyard */
    eio_server *srv;
    void *data;
    eio_conn *get, *ws, *probe;
    char *get_origin; /* only while a GET is held and CORS is on */
    eio_qnode *qhead, *qtail;
    size_t qbytes;
    uint64_t next_ping, pong_deadline, upgrade_deadline, close_deadline;
    unsigned char state, transport, upgrade, dirty, doomed, closing_mode;
    char sid[21];
};

struct eio_server {
    eio_config cfg;
    char *cors;
    eio_handler h;
    void *app;
    eio_session **buckets;
    size_t nbuckets, count;
    eio_session *all, *dirty, *grave;
    int depth;
    eio_buf *ping, *noop, *close, *pong_probe;
    unsigned char rnd[255];
    size_t rnd_pos;
};

const char *eio_error_message(int code)
{
    return code >= 0 && code <= EIO_E_VERSION ? eio__errors[code] : "Bad request";
}

static uint64_t eio__mono_ms(void *ctx)
{
    (void)ctx;
    return (uint64_t)cs_mono_ms();
}

uint64_t eio_server_now(const eio_server *srv)
{
    return srv->cfg.now_ms(srv->cfg.clock_ctx);
}

/* --- buffers and queues --------------------------------------------------- */

static eio_buf *eio__buf_raw(size_t headroom, size_t len)
{
    eio_buf *b = malloc(sizeof(*b) + headroom + len + 1);
    if (!b)
        return NULL;
    b->refs = 1;
    b->binary = 0;
    b->len = len;
    b->data = b->raw + headroom;
    b->data[len] = '\0';
    return b;
}

static eio_buf *eio__buf_packet(const eio_server *srv, eio_type type, const char *data, size_t len)
{
    eio_buf *b = eio__buf_raw(srv->cfg.ws_headroom, len + 1);
    if (!b)
        return NULL;
    b->data[0] = (unsigned char)('0' + type);
    if (len)
        memcpy(b->data + 1, data, len);
    return b;
}

eio_buf *eio_buf_new(const eio_server *srv, const char *data, size_t len, int binary)
{
    eio_buf *b;
    if (!binary)
        return eio__buf_packet(srv, EIO_MESSAGE, data, len);
    b = eio__buf_raw(srv->cfg.ws_headroom, len);
    if (!b)
        return NULL;
    b->binary = 1;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

void eio_buf_unref(eio_buf *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void eio__queue_free(eio_session *s)
{
    eio_qnode *n = s->qhead, *nx;
    for (; n; n = nx) {
        nx = n->next;
        eio_buf_unref(n->buf);
        free(n);
    }
    s->qhead = s->qtail = NULL;
    s->qbytes = 0;
}

static eio_buf *eio__queue_pop(eio_session *s)
{
    eio_qnode *n = s->qhead;
    eio_buf *b;
    if (!n)
        return NULL;
    s->qhead = n->next;
    if (!s->qhead)
        s->qtail = NULL;
    b = n->buf;
    s->qbytes -= b->len;
    free(n);
    return b;
}

/* --- session table -------------------------------------------------------- */

static size_t eio__hash(const char *sid)
{
    size_t h = 5381;
    for (; *sid; sid++)
        h = h * 33 + (unsigned char)*sid;
    return h;
}

static eio_session *eio__find(const eio_server *srv, const char *sid)
{
    eio_session *s;
    if (!sid || strlen(sid) != 20)
        return NULL;
    for (s = srv->buckets[eio__hash(sid) & (srv->nbuckets - 1)]; s; s = s->hnext)
        if (strcmp(s->sid, sid) == 0)
            return s;
    return NULL;
}

static cs_err eio__table_grow(eio_server *srv)
{
    cs_err err = CS_ERR_INTERNAL;
    size_t nb = srv->nbuckets * 2;
    eio_session **b = calloc(nb, sizeof(*b));
    if (!b)
        goto out;
    for (size_t i = 0; i < srv->nbuckets; i++) {
        eio_session *s = srv->buckets[i], *nx;
        for (; s; s = nx) {
            size_t k = eio__hash(s->sid) & (nb - 1);
            nx = s->hnext;
            s->hnext = b[k];
            b[k] = s;
        }
    }
    free(srv->buckets);
    srv->buckets = b;
    srv->nbuckets = nb;
    err = CS_OK;
out:
    return err;
}

static void eio__table_remove(eio_server *srv, eio_session *s)
{
    eio_session **pp = &srv->buckets[eio__hash(s->sid) & (srv->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            srv->count--;
            break;
        }
    }
}

/* 15 random bytes as 20 base64url characters, like engine.io's base64id. */
static void eio__new_sid(eio_server *srv, char out[21])
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];

    do {
        if (srv->rnd_pos + sizeof(r) > sizeof(srv->rnd)) {
            if (getrandom(srv->rnd, sizeof(srv->rnd), 0) != (ssize_t)sizeof(srv->rnd)) {
                /* Not expected on Linux >= 3.17; fall back to something unique. */
                for (size_t i = 0; i < sizeof(srv->rnd); i++)
                    srv->rnd[i] = (unsigned char)(rand() ^ (int)(eio_server_now(srv) >> (i % 8)));
            }
            srv->rnd_pos = 0;
        }
        memcpy(r, srv->rnd + srv->rnd_pos, sizeof(r));
        srv->rnd_pos += sizeof(r);
        for (int i = 0; i < 5; i++) {
            unsigned v = (unsigned)r[3 * i] << 16 | (unsigned)r[3 * i + 1] << 8 | r[3 * i + 2];
            out[4 * i] = alpha[v >> 18 & 63];
            out[4 * i + 1] = alpha[v >> 12 & 63];
            out[4 * i + 2] = alpha[v >> 6 & 63];
            out[4 * i + 3] = alpha[v & 63];
        }
        out[20] = '\0';
    } while (eio__find(srv, out));
}

/* --- entry depth, batching ------------------------------------------------ */

static void eio__flush_poll(eio_session *s);
static void eio__close(eio_session *s, const char *reason, int mode);

static void eio__enter(eio_server *srv)
{
    srv->depth++;
}

static void eio__leave(eio_server *srv)
{
    if (srv->depth > 1) {
        srv->depth--;
        return;
    }
    /* Still at depth 1 while draining, so that nothing below recurses here. */
    while (srv->dirty) {
        eio_session *s = srv->dirty;
        srv->dirty = s->lnext;
        s->lnext = NULL;
        s->dirty = 0;
        if (s->state == ST_OPEN && s->doomed)
            eio__close(s, "slow client", CLOSE_ABORT);
        else if (s->state != ST_CLOSED)
            eio__flush_poll(s);
    }
    while (srv->grave) {
        eio_session *s = srv->grave;
        srv->grave = s->gnext;
        free(s);
    }
    srv->depth = 0;
}

/* --- HTTP answers --------------------------------------------------------- */

static int eio__origin_allowed(const eio_server *srv, const char *origin)
{
    const char *p;
    size_t n;

    if (!srv->cors || !origin || !*origin)
        return 0;
    if (strcmp(srv->cors, "*") == 0)
        return 1;
    n = strlen(origin);
    for (p = srv->cors; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && *p == ' ')
            p++, l--;
        while (l && p[l - 1] == ' ')
            l--;
        if (l == n && strncmp(p, origin, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static void eio__add_header(eio_http_response *r, const char *name, const char *value)
{
    if (r->nheaders < EIO_MAX_HEADERS) {
        r->headers[r->nheaders].name = name;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
    }
}

static void eio__add_cors(const eio_server *srv, eio_http_response *r, const char *origin)
{
    if (!eio__origin_allowed(srv, origin))
        return;
    eio__add_header(r, "Access-Control-Allow-Origin", origin);
    eio__add_header(r, "Vary", "Origin");
    if (srv->cfg.cors_credentials)
        eio__add_header(r, "Access-Control-Allow-Credentials", "true");
}

static void eio__unlink(eio_conn *c)
{
    c->session = NULL;
    c->role = ROLE_NONE;
}

static void eio__respond(eio_server *srv, eio_conn *c, int status, const char *ctype,
                         const char *body, size_t len, const char *origin)
{
    eio_http_response r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    r.content_type = ctype;
    r.body = body;
    r.len = len;
    if (status == 200)
        eio__add_header(&r, "Cache-Control", "no-store");
    eio__add_cors(srv, &r, origin);
    eio__unlink(c);
    srv->cfg.transport.http_respond(srv->cfg.transport_ctx, c, &r);
}

/* Fills r with the JSON error body for code (static storage). */
static void eio__error_response(eio_http_response *r, int code)
{
    if (code < 0 || code > EIO_E_VERSION)
        code = EIO_E_BAD_REQUEST;
    memset(r, 0, sizeof(*r));
    r->status = code == EIO_E_FORBIDDEN ? 403 : 400;
    r->content_type = "application/json";
    r->body = eio__error_bodies[code];
    r->len = strlen(r->body);
}

static void eio__respond_error(eio_server *srv, eio_conn *c, int code, const char *origin)
{
    eio_http_response r;

    eio__error_response(&r, code);
    eio__respond(srv, c, r.status, r.content_type, r.body, r.len, origin);
}

/* Answers the held GET with everything queued (plus a final packet when
 * the session is closing). */
static void eio__answer_get(eio_session *s, eio_buf *last)
{
    eio_server *srv = s->srv;
    eio_conn *c = s->get;
    char *origin = s->get_origin;
    eio_sb sb = {0};
    eio_buf *b;
    int oom = 0;

    s->get = NULL;
    s->get_origin = NULL;
    while ((b = eio__queue_pop(s)) != NULL) {
        if (b->binary)
            oom |= eio_payload_append(&sb, EIO_MESSAGE, b->data, b->len, 1) != CS_OK;
        else
            oom |= eio_payload_append(&sb, (eio_type)(b->data[0] - '0'), b->data + 1, b->len - 1,
                                      0) != CS_OK;
        eio_buf_unref(b);
    }
    if (last)
        oom |= eio_payload_append(&sb, (eio_type)(last->data[0] - '0'), last->data + 1,
                                  last->len - 1, 0) != CS_OK;
    if (oom)
        eio__respond_error(srv, c, EIO_E_BAD_REQUEST, origin);
    else
        eio__respond(srv, c, 200, "text/plain; charset=UTF-8", sb.p, sb.len, origin);
    eio_sb_free(&sb);
    free(origin);
}

/* --- session lifetime ----------------------------------------------------- */

static void eio__destroy(eio_session *s)
{
    eio_server *srv = s->srv;

    if (s->state == ST_CLOSED)
        return;
    s->state = ST_CLOSED;
    if (s->get)
        eio__unlink(s->get);
    if (s->ws)
        eio__unlink(s->ws);
    if (s->probe)
        eio__unlink(s->probe);
    s->get = s->ws = s->probe = NULL;
    free(s->get_origin);
    s->get_origin = NULL;
    eio__queue_free(s);
    eio__table_remove(srv, s);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    /* Every caller runs inside an entry point (depth > 0): the session may
     * still be on the dirty list, which eio__leave walks (skipping closed
     * sessions) before it empties the graveyard. */
    s->gnext = srv->grave;
    srv->grave = s;
}

static void eio__close(eio_session *s, const char *reason, int mode)
{
    eio_server *srv = s->srv;
    eio_transport *t = &srv->cfg.transport;

    if (s->state != ST_OPEN)
        return;
    s->state = ST_CLOSING;
    s->closing_mode = (unsigned char)mode;
    eio__enter(srv);
    if (srv->h.on_close)
        srv->h.on_close(srv->app, s, reason);
    s->data = NULL;
    if (s->probe) {
        eio_conn *p = s->probe;
        s->probe = NULL;
        eio__unlink(p);
        t->ws_close(srv->cfg.transport_ctx, p);
    }
    if (s->transport == TR_WS) {
        if (mode == CLOSE_GRACEFUL && s->ws && s->qhead) {
            /* eio_ws_writable drains the queue, then closes. */
            t->ws_want_write(srv->cfg.transport_ctx, s->ws);
            goto out;
        }
        if (s->ws) {
            eio_conn *w = s->ws;
            s->ws = NULL;
            eio__unlink(w);
            t->ws_close(srv->cfg.transport_ctx, w);
        }
        eio__destroy(s);
        goto out;
    }
    /* Polling. */
    if (s->get) {
        if (mode == CLOSE_CLIENT) {
            eio__queue_free(s);
            eio__answer_get(s, srv->noop);
        } else {
            if (mode == CLOSE_ABORT)
                eio__queue_free(s);
            eio__answer_get(s, srv->close);
        }
        eio__destroy(s);
    } else if (mode == CLOSE_GRACEFUL) {
        /* Keep the sid known until the next GET collects the close. */
        s->close_deadline = eio_server_now(srv) + srv->cfg.ping_timeout_ms;
    } else {
        eio__destroy(s);
    }
out:
    eio__leave(srv);
}

void eio_session_close(eio_session *s, const char *reason)
{
    eio__close(s, reason ? reason : "server shutting down", CLOSE_GRACEFUL);
}

static void eio__flush_poll(eio_session *s)
{
    if (!s->get)
        return;
    if (s->state == ST_CLOSING) {
        eio__answer_get(s, s->srv->close);
        eio__destroy(s);
    } else if (s->qhead) {
        eio__answer_get(s, NULL);
    }
}

/* Something was queued, or the session is closing: get it moving. */
static void eio__kick(eio_session *s)
{
    eio_server *srv = s->srv;

    if (s->transport == TR_WS) {
        if (s->ws)
            srv->cfg.transport.ws_want_write(srv->cfg.transport_ctx, s->ws);
    } else if (s->get) {
        if (!s->dirty) {
            s->dirty = 1;
            s->lnext = srv->dirty;
            srv->dirty = s;
        }
    }
}

cs_err eio_session_send_buf(eio_session *s, eio_buf *b)
{
    eio_server *srv = s->srv;
    cs_err err = CS_ERR_PRECONDITION;
    eio_qnode *n;

    eio__enter(srv);
    if (s->state != ST_OPEN)
        goto out;
    err = CS_ERR_RESOURCE;
    if (s->doomed)
        goto out;
    if (s->qbytes + b->len > s->srv->cfg.max_buffered) {
        /* Closed when the outermost entry point (or batch) ends, so that a
         * broadcast loop never sees a session vanish under it. */
        s->doomed = 1;
        if (!s->dirty) {
            s->dirty = 1;
            s->lnext = srv->dirty;
            srv->dirty = s;
        }
        goto out;
    }
    err = CS_ERR_INTERNAL;
    n = malloc(sizeof(*n));
    if (!n)
        goto out;
    b->refs++;
    n->buf = b;
    n->next = NULL;
    if (s->qtail)
        s->qtail->next = n;
    else
        s->qhead = n;
    s->qtail = n;
    s->qbytes += b->len;
    eio__kick(s);
    err = CS_OK;
out:
    eio__leave(srv);
    return err;
}

cs_err eio_session_send(eio_session *s, const char *data, size_t len, int binary)
{
    cs_err err = CS_ERR_INTERNAL;
    eio_buf *b = eio_buf_new(s->srv, data, len, binary);
    if (!b)
        goto out;
    err = eio_session_send_buf(s, b);
    eio_buf_unref(b);
out:
    return err;
}

static cs_err eio__send_packet(eio_session *s, eio_type type, const char *data, size_t len)
{
    cs_err err = CS_ERR_INTERNAL;
    eio_buf *b = eio__buf_packet(s->srv, type, data, len);
    if (!b)
        goto out;
    err = eio_session_send_buf(s, b);
    eio_buf_unref(b);
out:
    return err;
}

static eio_session *eio__session_new(eio_server *srv, int transport)
{
    eio_session *s = NULL;
    char open[256];
    int n;
    size_t k;

    if (srv->count + 1 > srv->nbuckets && eio__table_grow(srv) != CS_OK)
        goto out;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->srv = srv;
    s->transport = (unsigned char)transport;
    eio__new_sid(srv, s->sid);
    k = eio__hash(s->sid) & (srv->nbuckets - 1);
    s->hnext = srv->buckets[k];
    srv->buckets[k] = s;
    srv->count++;
    s->next = srv->all;
    if (srv->all)
        srv->all->prev = s;
    srv->all = s;
    s->next_ping = eio_server_now(srv) + srv->cfg.ping_interval_ms;
    n = snprintf(open, sizeof(open),
                 "{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
                 "\"maxPayload\":%zu}",
                 s->sid,
                 transport == TR_POLLING && srv->cfg.allow_upgrades > 0 ? "\"websocket\"" : "",
                 srv->cfg.ping_interval_ms, srv->cfg.ping_timeout_ms, srv->cfg.max_payload);
    if (eio__send_packet(s, EIO_OPEN, open, (size_t)n) != CS_OK) {
        eio__destroy(s);
        s = NULL;
        goto out;
    }
    if (srv->h.on_open)
        srv->h.on_open(srv->app, s);
out:
    return s;
}

/* --- incoming packets ----------------------------------------------------- */

/* Returns 0 to go on with the next packet of a payload, -1 to stop. */
static int eio__on_packet(eio_session *s, const eio_packet *p)
{
    eio_server *srv = s->srv;

    if (s->state != ST_OPEN)
        return -1;
    switch (p->type) {
    case EIO_PONG:
        s->pong_deadline = 0;
        s->next_ping = eio_server_now(srv) + srv->cfg.ping_interval_ms;
        return 0;
    case EIO_MESSAGE:
        if (srv->h.on_message)
            srv->h.on_message(srv->app, s, p->data, p->len, p->binary);
        return s->state == ST_OPEN ? 0 : -1;
    case EIO_CLOSE:
        eio__close(s, "transport close", CLOSE_CLIENT);
        return -1;
    case EIO_PING:
        /* v4: only the server pings ("2probe" is handled on the probe). */
        eio__close(s, "invalid heartbeat direction", CLOSE_ABORT);
        return -1;
    default: /* open, upgrade, noop: ignored, as engine.io does */
        return 0;
    }
}

/* --- polling -------------------------------------------------------------- */

typedef struct eio__query {
    char eio[4];
    char transport[16];
    char sid[32];
} eio__query;

/* Copies the value of key from a query string, %-decoded, into out; an
 * over-long value leaves out as an (invalid) truncation marker "?". */
static void eio__query_get(const char *q, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);

    out[0] = '\0';
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t l = amp ? (size_t)(amp - q) : strlen(q);
        if (l > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
            size_t o = 0;
            for (size_t i = kl + 1; i < l; i++) {
                char c = q[i];
                if (c == '%' && i + 2 < l) {
                    char hex[3] = {q[i + 1], q[i + 2], 0};
                    char *end;
                    long v = strtol(hex, &end, 16);
                    if (*end == '\0' && v > 0) {
                        c = (char)v;
                        i += 2;
                    }
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= cap) {
                    strcpy(out, "?");
                    return;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return;
        }
        q = amp ? amp + 1 : NULL;
    }
}

static void eio__parse_query(const char *q, eio__query *out)
{
    eio__query_get(q, "EIO", out->eio, sizeof(out->eio));
    eio__query_get(q, "transport", out->transport, sizeof(out->transport));
    eio__query_get(q, "sid", out->sid, sizeof(out->sid));
}

static void eio__poll_get(eio_session *s, eio_conn *c, const char *origin)
{
    eio_server *srv = s->srv;

    if (s->get) {
        /* Two GETs at once: the client is broken; engine.io closes. */
        eio__respond_error(srv, c, EIO_E_BAD_REQUEST, origin);
        eio__close(s, "transport error", CLOSE_ABORT);
        return;
    }
    s->get = c;
    c->session = s;
    c->role = ROLE_GET;
    if (origin && srv->cors && eio__origin_allowed(srv, origin))
        s->get_origin = strdup(origin);
    if (s->state == ST_CLOSING || s->qhead)
        eio__flush_poll(s);
    else if (s->upgrade == UP_PROBED)
        eio__answer_get(s, srv->noop);
}

static void eio__poll_post(eio_session *s, eio_conn *c, const eio_http_req *req)
{
    eio_server *srv = s->srv;
    eio_payload_iter it;
    eio_packet p;
    cs_err err;

    if (req->body_len > srv->cfg.max_payload) {
        eio__respond(srv, c, 413, "text/plain; charset=UTF-8", "Payload Too Large", 17,
                     req->origin);
        return;
    }
    eio_payload_iter_init(&it, req->body ? req->body : "", req->body_len);
    while ((err = eio_payload_next(&it, &p)) == CS_OK) {
        int stop = eio__on_packet(s, &p);
        eio_packet_release(&p);
        if (stop)
            break;
    }
    if (err == CS_ERR_INVALID || err == CS_ERR_INTERNAL) {
        eio__respond_error(srv, c, EIO_E_BAD_REQUEST, req->origin);
        eio__close(s, "parse error", CLOSE_ABORT);
        return;
    }
    eio__respond(srv, c, 200, "text/html", "ok", 2, req->origin);
}

void eio_http_request(eio_server *srv, eio_conn *c, const eio_http_req *req)
{
    eio__query q;
    eio_session *s;
    const char *m = req->method ? req->method : "";

    eio__enter(srv);
    eio__unlink(c);
    if (strcmp(m, "OPTIONS") == 0 && srv->cors) {
        eio_http_response r;
        memset(&r, 0, sizeof(r));
        r.status = 204;
        eio__add_cors(srv, &r, req->origin);
        if (r.nheaders) {
            eio__add_header(&r, "Access-Control-Allow-Methods", "GET,POST");
            if (req->acr_headers)
                eio__add_header(&r, "Access-Control-Allow-Headers", req->acr_headers);
        }
        srv->cfg.transport.http_respond(srv->cfg.transport_ctx, c, &r);
        goto out;
    }
    eio__parse_query(req->query, &q);
    if (strcmp(q.transport, "polling") != 0 && strcmp(q.transport, "websocket") != 0) {
        eio__respond_error(srv, c, EIO_E_TRANSPORT, req->origin);
        goto out;
    }
    if (q.sid[0]) {
        s = eio__find(srv, q.sid);
        if (!s) {
            eio__respond_error(srv, c, EIO_E_SID, req->origin);
            goto out;
        }
        if (strcmp(q.transport, "polling") != 0 || s->transport != TR_POLLING) {
            eio__respond_error(srv, c, EIO_E_BAD_REQUEST, req->origin);
            goto out;
        }
        if (strcmp(m, "GET") == 0)
            eio__poll_get(s, c, req->origin);
        else if (strcmp(m, "POST") == 0 && s->state == ST_OPEN)
            eio__poll_post(s, c, req);
        else
            eio__respond_error(srv, c, EIO_E_BAD_REQUEST, req->origin);
        goto out;
    }
    if (strcmp(m, "GET") != 0) {
        eio__respond_error(srv, c, EIO_E_METHOD, req->origin);
        goto out;
    }
    if (strcmp(q.eio, "4") != 0) {
        eio__respond_error(srv, c, EIO_E_VERSION, req->origin);
        goto out;
    }
    if (strcmp(q.transport, "polling") != 0) {
        eio__respond_error(srv, c, EIO_E_BAD_REQUEST, req->origin);
        goto out;
    }
    s = eio__session_new(srv, TR_POLLING);
    if (!s) {
        eio__respond_error(srv, c, EIO_E_BAD_REQUEST, req->origin);
        goto out;
    }
    /* The handshake GET is the first poll: it returns the open packet now. */
    eio__poll_get(s, c, req->origin);
    if (s->get)
        eio__flush_poll(s);
out:
    eio__leave(srv);
}

/* --- WebSocket ------------------------------------------------------------ */

int eio_ws_open(eio_server *srv, eio_conn *c, const char *query, const char *origin,
                eio_http_response *err)
{
    int rc = -1, code = EIO_E_BAD_REQUEST;
    eio__query q;
    eio_session *s;

    eio__enter(srv);
    eio__unlink(c);
    c->probe_pending = 0;
    eio__parse_query(query, &q);
    if (strcmp(q.transport, "websocket") != 0) {
        code = EIO_E_TRANSPORT;
        goto out;
    }
    if (q.sid[0]) {
        s = eio__find(srv, q.sid);
        if (!s) {
            code = EIO_E_SID;
            goto out;
        }
        if (s->state != ST_OPEN || s->transport != TR_POLLING || s->upgrade != UP_NONE ||
            srv->cfg.allow_upgrades <= 0)
            goto out;
        s->probe = c;
        c->session = s;
        c->role = ROLE_PROBE;
        s->upgrade = UP_PROBING;
        s->upgrade_deadline = eio_server_now(srv) + srv->cfg.upgrade_timeout_ms;
        rc = 0;
        goto out;
    }
    if (strcmp(q.eio, "4") != 0) {
        code = EIO_E_VERSION;
        goto out;
    }
    s = eio__session_new(srv, TR_WS);
    if (!s)
        goto out;
    if (s->state == ST_OPEN) {
        s->ws = c;
        c->session = s;
        c->role = ROLE_WS;
        srv->cfg.transport.ws_want_write(srv->cfg.transport_ctx, c);
    }
    rc = 0;
out:
    if (rc != 0 && err)
        eio__error_response(err, code);
    (void)origin;
    eio__leave(srv);
    return rc;
}

static void eio__probe_message(eio_session *s, eio_conn *c, const eio_packet *p)
{
    eio_server *srv = s->srv;

    if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0 &&
        s->upgrade == UP_PROBING) {
        s->upgrade = UP_PROBED;
        c->probe_pending = 1;
        srv->cfg.transport.ws_want_write(srv->cfg.transport_ctx, c);
        if (s->get)
            eio__answer_get(s, srv->noop);
        return;
    }
    if (p->type == EIO_UPGRADE && s->upgrade == UP_PROBED) {
        s->upgrade = UP_NONE;
        s->upgrade_deadline = 0;
        s->probe = NULL;
        s->transport = TR_WS;
        s->ws = c;
        c->role = ROLE_WS;
        if (s->get)
            eio__answer_get(s, srv->noop);
        if (s->qhead || c->probe_pending)
            srv->cfg.transport.ws_want_write(srv->cfg.transport_ctx, c);
        return;
    }
    /* Anything else on a probe: drop the probe, keep the polling session. */
    s->probe = NULL;
    s->upgrade = UP_NONE;
    s->upgrade_deadline = 0;
    eio__unlink(c);
    srv->cfg.transport.ws_close(srv->cfg.transport_ctx, c);
}

void eio_ws_message(eio_server *srv, eio_conn *c, const char *data, size_t len, int binary)
{
    eio_session *s = c->session;
    eio_packet p;

    eio__enter(srv);
    if (!s || s->state != ST_OPEN)
        goto out;
    if (len > srv->cfg.max_payload) {
        eio__close(s, "message too large", CLOSE_ABORT);
        goto out;
    }
    if (eio_packet_decode_frame(data, len, binary, &p) != CS_OK) {
        if (c->role == ROLE_PROBE)
            eio__probe_message(s, c, &(eio_packet){.type = EIO__COUNT});
        else
            eio__close(s, "parse error", CLOSE_ABORT);
        goto out;
    }
    if (c->role == ROLE_PROBE)
        eio__probe_message(s, c, &p);
    else if (c->role == ROLE_WS)
        eio__on_packet(s, &p);
out:
    eio__leave(srv);
}

void eio_ws_writable(eio_server *srv, eio_conn *c)
{
    eio_session *s = c->session;
    eio_transport *t = &srv->cfg.transport;
    eio_buf *b;

    eio__enter(srv);
    if (!s)
        goto out;
    if (c->probe_pending) {
        c->probe_pending = 0;
        if (t->ws_write(srv->cfg.transport_ctx, c, srv->pong_probe->data, srv->pong_probe->len,
                        0) != 0) {
            eio_conn_closed(srv, c);
            goto out;
        }
        if (c->role == ROLE_WS && s->qhead)
            t->ws_want_write(srv->cfg.transport_ctx, c);
        goto out;
    }
    if (c->role != ROLE_WS)
        goto out;
    b = eio__queue_pop(s);
    if (b) {
        int rc = t->ws_write(srv->cfg.transport_ctx, c, b->data, b->len, b->binary);
        eio_buf_unref(b);
        if (rc != 0) {
            eio_conn_closed(srv, c);
            goto out;
        }
    }
    if (s->qhead) {
        t->ws_want_write(srv->cfg.transport_ctx, c);
    } else if (s->state == ST_CLOSING) {
        s->ws = NULL;
        eio__unlink(c);
        t->ws_close(srv->cfg.transport_ctx, c);
        eio__destroy(s);
    }
out:
    eio__leave(srv);
}

void eio_conn_closed(eio_server *srv, eio_conn *c)
{
    eio_session *s = c->session;

    /* Not ours: srv is not touched, it may be gone already (see the header). */
    if (!s)
        return;
    eio__enter(srv);
    switch (c->role) {
    case ROLE_GET:
        /* The client gave up on its poll; the session lives on (it will poll
         * again, or time out on the missing pong). */
        s->get = NULL;
        free(s->get_origin);
        s->get_origin = NULL;
        break;
    case ROLE_PROBE:
        s->probe = NULL;
        s->upgrade = UP_NONE;
        s->upgrade_deadline = 0;
        break;
    case ROLE_WS:
        s->ws = NULL;
        eio__unlink(c);
        if (s->state == ST_OPEN)
            eio__close(s, "transport close", CLOSE_ABORT);
        else
            eio__destroy(s);
        break;
    }
    eio__unlink(c);
    eio__leave(srv);
}

void eio_server_close_all(eio_server *srv, const char *reason)
{
    eio_transport *t = &srv->cfg.transport;
    eio_session *s, *nx;

    eio__enter(srv);
    for (s = srv->all; s; s = nx) {
        nx = s->next;
        if (s->state == ST_OPEN)
            eio__close(s, reason ? reason : "server shutting down", CLOSE_ABORT);
        if (s->state == ST_CLOSED)
            continue;
        /* A graceful close still draining: let go of its conns now. */
        if (s->ws) {
            eio_conn *w = s->ws;
            s->ws = NULL;
            eio__unlink(w);
            t->ws_close(srv->cfg.transport_ctx, w);
        }
        if (s->get) {
            eio__queue_free(s);
            eio__answer_get(s, srv->close);
        }
        eio__destroy(s);
    }
    eio__leave(srv);
}

void eio_server_batch_begin(eio_server *srv)
{
    eio__enter(srv);
}

void eio_server_batch_end(eio_server *srv)
{
    eio__leave(srv);
}

void eio_server_tick(eio_server *srv)
{
    uint64_t now = eio_server_now(srv);
    eio_session *s, *nx;

    eio__enter(srv);
    for (s = srv->all; s; s = nx) {
        nx = s->next;
        if (s->state == ST_CLOSING) {
            if (s->close_deadline && now >= s->close_deadline)
                eio__destroy(s);
            continue;
        }
        if (s->upgrade_deadline && now >= s->upgrade_deadline && s->probe) {
            eio_conn *p = s->probe;
            s->probe = NULL;
            s->upgrade = UP_NONE;
            s->upgrade_deadline = 0;
            eio__unlink(p);
            srv->cfg.transport.ws_close(srv->cfg.transport_ctx, p);
        }
        if (s->pong_deadline && now >= s->pong_deadline) {
            eio__close(s, "ping timeout", CLOSE_ABORT);
        } else if (s->next_ping && now >= s->next_ping) {
            s->next_ping = 0;
            s->pong_deadline = now + srv->cfg.ping_timeout_ms;
            eio_session_send_buf(s, srv->ping);
        }
    }
    eio__leave(srv);
}

/* --- server --------------------------------------------------------------- */

eio_server *eio_server_new(const eio_config *cfg, const eio_handler *h, void *app)
{
    eio_server *srv = calloc(1, sizeof(*srv));
    int ok = 0;

    if (!srv)
        goto out;
    srv->cfg = *cfg;
    if (!srv->cfg.ping_interval_ms)
        srv->cfg.ping_interval_ms = 25000;
    if (!srv->cfg.ping_timeout_ms)
        srv->cfg.ping_timeout_ms = 20000;
    if (!srv->cfg.upgrade_timeout_ms)
        srv->cfg.upgrade_timeout_ms = 10000;
    if (!srv->cfg.max_payload)
        srv->cfg.max_payload = 1000000;
    if (!srv->cfg.max_buffered)
        srv->cfg.max_buffered = 1u << 20;
    if (!srv->cfg.allow_upgrades)
        srv->cfg.allow_upgrades = 1;
    if (!srv->cfg.now_ms)
        srv->cfg.now_ms = eio__mono_ms;
    if (cfg->cors_origins && !(srv->cors = strdup(cfg->cors_origins)))
        goto out;
    srv->cfg.cors_origins = srv->cors;
    if (h)
        srv->h = *h;
    srv->app = app;
    srv->rnd_pos = sizeof(srv->rnd);
    srv->nbuckets = 64;
    srv->buckets = calloc(srv->nbuckets, sizeof(*srv->buckets));
    srv->ping = eio__buf_packet(srv, EIO_PING, NULL, 0);
    srv->noop = eio__buf_packet(srv, EIO_NOOP, NULL, 0);
    srv->close = eio__buf_packet(srv, EIO_CLOSE, NULL, 0);
    srv->pong_probe = eio__buf_packet(srv, EIO_PONG, "probe", 5);
    ok = srv->buckets && srv->ping && srv->noop && srv->close && srv->pong_probe;
out:
    if (!ok && srv) {
        eio_server_free(srv);
        srv = NULL;
    }
    return srv;
}

void eio_server_free(eio_server *srv)
{
    if (!srv)
        return;
    srv->depth = 1;
    while (srv->all) {
        eio_session *s = srv->all;
        if (s->state == ST_OPEN && srv->h.on_close) {
            s->state = ST_CLOSING;
            srv->h.on_close(srv->app, s, "server shutting down");
        }
        /* The transport's conns may be gone already: do not write to them. */
        s->get = s->ws = s->probe = NULL;
        eio__destroy(s);
    }
    srv->depth = 1;
    eio__leave(srv);
    eio_buf_unref(srv->ping);
    eio_buf_unref(srv->noop);
    eio_buf_unref(srv->close);
    eio_buf_unref(srv->pong_probe);
    free(srv->buckets);
    free(srv->cors);
    free(srv);
}

const eio_config *eio_server_config(const eio_server *srv)
{
    return &srv->cfg;
}

size_t eio_server_session_count(const eio_server *srv)
{
    return srv->count;
}

const char *eio_session_sid(const eio_session *s)
{
    return s->sid;
}

void eio_session_set_data(eio_session *s, void *data)
{
    s->data = data;
}

void *eio_session_data(const eio_session *s)
{
    return s->data;
}

int eio_session_is_websocket(const eio_session *s)
{
    return s->transport == TR_WS;
}

size_t eio_session_queued(const eio_session *s)
{
    return s->qbytes;
}
