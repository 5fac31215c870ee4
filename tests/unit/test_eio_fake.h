/*
 * fake_eio: a recording eio_transport and a settable clock, shared by the
 * eio_server and sio_server unit tests (header-only, test code).
 */
#ifndef FAKE_EIO_H
#define FAKE_EIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_server.h"

#define FAKE_MAX 256

typedef struct fake_resp {
    eio_conn *c;
    int status;
    char ctype[64];
    char headers[512]; /* "Name: value\n" lines */
    char *body;
    size_t len;
} fake_resp;

typedef struct fake_frame {
    eio_conn *c;
    char *data;
    size_t len;
    int binary;
} fake_frame;

typedef struct fake_net {
    fake_resp resp[FAKE_MAX];
    int nresp;
    fake_frame frames[FAKE_MAX];
    int nframes;
    eio_conn *want[FAKE_MAX];
    int nwant;
    eio_conn *closed[FAKE_MAX];
    int nclosed;
    int fail_writes;
    uint64_t now;
} fake_net;

static inline void fake_http_respond(void *ctx, eio_conn *c, const eio_http_response *r)
{
    fake_net *n = ctx;
    fake_resp *x;
    if (n->nresp >= FAKE_MAX)
        return;
    x = &n->resp[n->nresp++];
    x->c = c;
    x->status = r->status;
    snprintf(x->ctype, sizeof(x->ctype), "%s", r->content_type ? r->content_type : "");
    x->headers[0] = '\0';
    for (size_t i = 0; i < r->nheaders; i++) {
        size_t l = strlen(x->headers);
        snprintf(x->headers + l, sizeof(x->headers) - l, "%s: %s\n", r->headers[i].name,
                 r->headers[i].value);
    }
    x->body = malloc(r->len + 1);
    memcpy(x->body, r->body ? r->body : "", r->len);
    x->body[r->len] = '\0';
    x->len = r->len;
}

static inline void fake_ws_want_write(void *ctx, eio_conn *c)
{
    fake_net *n = ctx;
    if (n->nwant < FAKE_MAX)
        n->want[n->nwant++] = c;
}

static inline int fake_ws_write(void *ctx, eio_conn *c, unsigned char *p, size_t len, int binary)
{
    fake_net *n = ctx;
    fake_frame *f;
    if (n->fail_writes)
        return -1;
    if (n->nframes >= FAKE_MAX)
        return 0;
    /* The headroom must really be writable (lws_write puts its header there). */
    memset(p - 16, 0xAA, 16);
    f = &n->frames[n->nframes++];
    f->c = c;
    f->data = malloc(len + 1);
    memcpy(f->data, p, len);
    f->data[len] = '\0';
    f->len = len;
    f->binary = binary;
    return 0;
}

static inline void fake_ws_close(void *ctx, eio_conn *c)
{
    fake_net *n = ctx;
    if (n->nclosed < FAKE_MAX)
        n->closed[n->nclosed++] = c;
}

static inline uint64_t fake_now(void *ctx)
{
    return ((fake_net *)ctx)->now;
}

static inline void fake_reset(fake_net *n)
{
    for (int i = 0; i < n->nresp; i++)
        free(n->resp[i].body);
    for (int i = 0; i < n->nframes; i++)
        free(n->frames[i].data);
    uint64_t now = n->now;
    memset(n, 0, sizeof(*n));
    n->now = now;
}

static inline void fake_config(eio_config *cfg, fake_net *n)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ping_interval_ms = 300;
    cfg->ping_timeout_ms = 200;
    cfg->upgrade_timeout_ms = 1000;
    cfg->max_payload = 1000;
    cfg->ws_headroom = 16;
    cfg->transport.http_respond = fake_http_respond;
    cfg->transport.ws_want_write = fake_ws_want_write;
    cfg->transport.ws_write = fake_ws_write;
    cfg->transport.ws_close = fake_ws_close;
    cfg->transport_ctx = n;
    cfg->now_ms = fake_now;
    cfg->clock_ctx = n;
}

/* Returns the last response sent on c, or NULL. */
static inline fake_resp *fake_resp_for(fake_net *n, eio_conn *c)
{
    for (int i = n->nresp - 1; i >= 0; i--)
        if (n->resp[i].c == c)
            return &n->resp[i];
    return NULL;
}

/* A conn struct reused for a new request forgets its old answers. */
static inline void fake_forget(eio_server *srv, eio_conn *c)
{
    fake_net *n = eio_server_config(srv)->transport_ctx;
    for (int i = 0; i < n->nresp; i++)
        if (n->resp[i].c == c)
            n->resp[i].c = NULL;
}

static inline void fake_get(eio_server *srv, eio_conn *c, const char *query)
{
    eio_http_req req = {.method = "GET", .query = query};
    fake_forget(srv, c);
    memset(c, 0, sizeof(*c));
    eio_http_request(srv, c, &req);
}

static inline void fake_post(eio_server *srv, eio_conn *c, const char *query, const char *body,
                             size_t len)
{
    eio_http_req req = {.method = "POST", .query = query, .body = body, .body_len = len};
    fake_forget(srv, c);
    memset(c, 0, sizeof(*c));
    eio_http_request(srv, c, &req);
}

/* Serves every pending write request (like lws calling WRITEABLE). */
static inline void fake_pump(eio_server *srv, fake_net *n)
{
    for (int guard = 0; guard < 10000 && n->nwant > 0; guard++) {
        eio_conn *c = n->want[0];
        memmove(n->want, n->want + 1, (size_t)(n->nwant - 1) * sizeof(n->want[0]));
        n->nwant--;
        eio_ws_writable(srv, c);
    }
}

/* Handshake over polling; copies the sid into sid (21 bytes). */
static inline void fake_handshake(eio_server *srv, fake_net *n, char *sid)
{
    eio_conn c;
    fake_resp *r;
    const char *p;
    fake_get(srv, &c, "EIO=4&transport=polling&t=abc");
    r = fake_resp_for(n, &c);
    if (!r || r->status != 200 || r->body[0] != '0' || !(p = strstr(r->body, "\"sid\":\""))) {
        fprintf(stderr, "handshake failed\n");
        abort();
    }
    memcpy(sid, p + 7, 20);
    sid[20] = '\0';
}

#endif
