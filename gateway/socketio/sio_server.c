/*
 * sio_server: Socket.IO v5 over eio_server (see sio.h for the contract).
 *
 * One sio__client per Engine.IO session holds that connection's sockets
 * (one per namespace) and, while a binary packet is being received, the
 * packet and its attachments so far. Behaviour follows socket.io 4.x:
 * a packet that does not decode closes the whole connection; a CONNECT to
 * an unknown namespace gets CONNECT_ERROR "Invalid namespace"; packets for
 * a namespace the client has not joined are ignored; a connection with no
 * accepted namespace after connect_timeout is closed (a CONNECT whose auth
 * never completes counts as none).
 *
 * Rooms: each room keeps an array of members and each socket an array of
 * its memberships, each side remembering its index in the other, so that
 * join and leave are O(1) and a broadcast walks one array. The namespace's
 * own member list is a room with no name, outside the room table.
 */
#include "sio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- a small string-keyed intrusive hash ---------------------------------- */

typedef struct sio__link {
    struct sio__link *next;
    const char *key;
} sio__link;

typedef struct sio__map {
    sio__link **b;
    size_t nb, n;
} sio__map;

static size_t sio__hash(const char *k)
{
    size_t h = 5381;
    for (; *k; k++)
        h = h * 33 + (unsigned char)*k;
    return h;
}

static sio__link *sio__map_get(const sio__map *m, const char *key)
{
    sio__link *l;
    if (!m->nb)
        return NULL;
    for (l = m->b[sio__hash(key) & (m->nb - 1)]; l; l = l->next)
        if (strcmp(l->key, key) == 0)
            return l;
    return NULL;
}

static cs_err sio__map_put(sio__map *m, sio__link *x)
{
    cs_err err = CS_ERR_INTERNAL;
    size_t k;

    if (m->n + 1 > m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 16;
        sio__link **b = calloc(nb, sizeof(*b));
        if (!b)
            goto out;
        for (size_t i = 0; i < m->nb; i++) {
            sio__link *l = m->b[i], *nx;
            for (; l; l = nx) {
                nx = l->next;
                k = sio__hash(l->key) & (nb - 1);
                l->next = b[k];
                b[k] = l;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    k = sio__hash(x->key) & (m->nb - 1);
    x->next = m->b[k];
    m->b[k] = x;
    m->n++;
    err = CS_OK;
out:
    return err;
}

static void sio__map_del(sio__map *m, sio__link *x)
{
    sio__link **pp;
    if (!m->nb)
        return;
    for (pp = &m->b[sio__hash(x->key) & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            m->n--;
            return;
        }
    }
}

/* --- types ---------------------------------------------------------------- */

typedef struct sio_room sio_room;

typedef struct sio__member {
    sio_socket *s;
    size_t slot; /* index in s->rooms */
} sio__member;

struct sio_room {
    sio__link link;
    sio_nsp *nsp;
    sio__member *m;
    size_t n, cap;
    char name[];
};

typedef struct sio__membership {
    sio_room *room;
    size_t idx; /* index in room->m */
} sio__membership;

struct sio_nsp {
    sio_nsp *next;
    sio_server *srv;
    sio_nsp_handler h;
    void *app;
    sio__map rooms;
    sio_room *all;
    char name[];
};

typedef struct sio__client sio__client;

enum { SOCK_PENDING, SOCK_CONNECTED };

struct sio_socket {
    sio__link link; /* by sid in the server */
    sio_socket *cnext;
    sio__client *client;
    sio_nsp *nsp;
    void *data;
    sio__membership *rooms;
    size_t nrooms, caprooms;
    unsigned char state;
    char sid[21];
};

typedef struct sio__owned_bin {
    char *data;
    size_t len;
} sio__owned_bin;

struct sio__client {
    sio_server *srv;
    eio_session *es;
    sio_socket *sockets;
    sio_packet *bin_pkt; /* a binary packet waiting for its attachments */
    sio__owned_bin *bins;
    unsigned nbins;
    size_t bin_bytes;
    sio__client *wprev, *wnext; /* waiting for a first accepted CONNECT */
    uint64_t connect_deadline;
    unsigned char waiting;
};

struct sio_server {
    eio_server *eio;
    sio_config cfg;
    sio_nsp *nsps;
    sio__map sockets;
    sio__client *waiting;
};

/* --- rooms ---------------------------------------------------------------- */

static sio_room *sio__room_new(sio_nsp *nsp, const char *name)
{
    size_t l = strlen(name);
    sio_room *r = calloc(1, sizeof(*r) + l + 1);
    if (!r)
        return NULL;
    memcpy(r->name, name, l + 1);
    r->link.key = r->name;
    r->nsp = nsp;
    return r;
}

static void sio__room_free(sio_room *r)
{
    if (!r)
        return;
    free(r->m);
    free(r);
}

static cs_err sio__room_add(sio_room *r, sio_socket *s)
{
    cs_err err = CS_ERR_INTERNAL;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        sio__member *m = realloc(r->m, cap * sizeof(*m));
        if (!m)
            goto out;
        r->m = m;
        r->cap = cap;
    }
    if (s->nrooms == s->caprooms) {
        size_t cap = s->caprooms ? s->caprooms * 2 : 2;
        sio__membership *ms = realloc(s->rooms, cap * sizeof(*ms));
        if (!ms)
            goto out;
        s->rooms = ms;
        s->caprooms = cap;
    }
    r->m[r->n].s = s;
    r->m[r->n].slot = s->nrooms;
    s->rooms[s->nrooms].room = r;
    s->rooms[s->nrooms].idx = r->n;
    r->n++;
    s->nrooms++;
    err = CS_OK;
out:
    return err;
}

/* Removes membership `slot` of s (swap-remove on both sides). */
static void sio__room_remove_slot(sio_socket *s, size_t slot)
{
    sio__membership ms = s->rooms[slot];
    sio_room *r = ms.room;
    size_t last;

    last = r->n - 1;
    if (ms.idx != last) {
        r->m[ms.idx] = r->m[last];
        r->m[ms.idx].s->rooms[r->m[ms.idx].slot].idx = ms.idx;
    }
    r->n--;
    last = s->nrooms - 1;
    if (slot != last) {
        s->rooms[slot] = s->rooms[last];
        s->rooms[slot].room->m[s->rooms[slot].idx].slot = slot;
    }
    s->nrooms--;
    if (r->n == 0 && r != r->nsp->all) {
        sio__map_del(&r->nsp->rooms, &r->link);
        sio__room_free(r);
    }
    if (s->nrooms == 0) {
        free(s->rooms);
        s->rooms = NULL;
        s->caprooms = 0;
    }
}

/* --- sending -------------------------------------------------------------- */

static cs_err sio__send(sio__client *c, sio_type type, const char *nsp, long long ack_id,
                        const json_t *data, const sio_bin *bins, unsigned nbins)
{
    cs_err err;
    eio_sb sb = {0};
    eio_server *eio = c->srv->eio;

    eio_server_batch_begin(eio);
    err = sio_packet_encode(&sb, type, nsp, nbins, ack_id, data);
    if (err != CS_OK)
        goto out;
    err = eio_session_send(c->es, sb.p, sb.len, 0);
    for (unsigned i = 0; err == CS_OK && i < nbins; i++)
        err = eio_session_send(c->es, bins[i].data, bins[i].len, 1);
out:
    eio_sb_free(&sb);
    eio_server_batch_end(eio);
    return err;
}

/* Builds [name, args...]; args is stolen. NULL when out of memory. */
static json_t *sio__event_array(const char *name, json_t *args)
{
    json_t *a = json_array();
    if (a && json_array_append_new(a, json_string(name)) == 0 &&
        (!args || json_array_extend(a, args) == 0)) {
        json_decref(args);
        return a;
    }
    json_decref(a);
    json_decref(args);
    return NULL;
}

/* --- sockets -------------------------------------------------------------- */

static void sio__waiting_remove(sio__client *c)
{
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        c->srv->waiting = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = 0;
}

static sio_socket *sio__client_socket(const sio__client *c, const char *nsp)
{
    sio_socket *s;
    for (s = c->sockets; s; s = s->cnext)
        if (strcmp(s->nsp->name, nsp) == 0)
            return s;
    return NULL;
}

/* Unlinks s everywhere and frees it; calls on_disconnect first if asked. */
static void sio__socket_free(sio_socket *s, const char *reason)
{
    sio__client *c = s->client;
    sio_socket **pp;

    if (reason && s->nsp->h.on_disconnect)
        s->nsp->h.on_disconnect(s->nsp->app, s, reason);
    while (s->nrooms)
        sio__room_remove_slot(s, s->nrooms - 1);
    sio__map_del(&c->srv->sockets, &s->link);
    for (pp = &c->sockets; *pp; pp = &(*pp)->cnext) {
        if (*pp == s) {
            *pp = s->cnext;
            break;
        }
    }
    free(s);
}

const char *sio_socket_id(const sio_socket *s)
{
    return s->sid;
}

const char *sio_socket_nsp_name(const sio_socket *s)
{
    return s->nsp->name;
}

sio_nsp *sio_socket_nsp(const sio_socket *s)
{
    return s->nsp;
}

void sio_socket_set_data(sio_socket *s, void *data)
{
    s->data = data;
}

void *sio_socket_data(const sio_socket *s)
{
    return s->data;
}

int sio_socket_is_connected(const sio_socket *s)
{
    return s->state == SOCK_CONNECTED;
}

const char *sio_socket_eio_sid(const sio_socket *s)
{
    return eio_session_sid(s->client->es);
}

int sio_socket_is_websocket(const sio_socket *s)
{
    return eio_session_is_websocket(s->client->es);
}

cs_err sio_socket_accept(sio_socket *s)
{
    cs_err err = CS_ERR_PRECONDITION;
    json_t *d = NULL;

    if (s->state != SOCK_PENDING)
        goto out;
    err = CS_ERR_INTERNAL;
    d = json_pack("{s:s}", "sid", s->sid);
    if (!d || sio__room_add(s->nsp->all, s) != CS_OK)
        goto out;
    s->state = SOCK_CONNECTED;
    sio__waiting_remove(s->client);
    err = sio__send(s->client, SIO_CONNECT, s->nsp->name, -1, d, NULL, 0);
out:
    json_decref(d);
    return err;
}

cs_err sio_socket_refuse(sio_socket *s, const char *message, json_t *data)
{
    cs_err err = CS_ERR_PRECONDITION;
    json_t *d = NULL;
    eio_server *eio = s->client->srv->eio;

    /* The batch keeps s alive if the send dooms the connection. */
    eio_server_batch_begin(eio);
    if (s->state != SOCK_PENDING)
        goto out;
    err = CS_ERR_INTERNAL;
    d = json_pack("{s:s}", "message", message ? message : "Not authorized");
    if (!d)
        goto out;
    if (data && json_object_set(d, "data", data) != 0)
        goto out;
    err = sio__send(s->client, SIO_CONNECT_ERROR, s->nsp->name, -1, d, NULL, 0);
out:
    if (s->state == SOCK_PENDING)
        sio__socket_free(s, NULL);
    json_decref(d);
    json_decref(data);
    eio_server_batch_end(eio);
    return err;
}

void sio_socket_disconnect(sio_socket *s)
{
    sio__client *c = s->client;
    eio_server *eio = c->srv->eio;

    eio_server_batch_begin(eio);
    if (s->state == SOCK_CONNECTED)
        sio__send(c, SIO_DISCONNECT, s->nsp->name, -1, NULL, NULL, 0);
    sio__socket_free(s, "server namespace disconnect");
    eio_server_batch_end(eio);
}

void sio_socket_close_connection(sio_socket *s, const char *reason)
{
    eio_session_close(s->client->es, reason);
}

cs_err sio_socket_emit(sio_socket *s, const char *name, json_t *args, const sio_bin *bins,
                       unsigned nbins)
{
    cs_err err = CS_ERR_PRECONDITION;
    json_t *a = NULL;

    if (s->state != SOCK_CONNECTED || !name) {
        json_decref(args);
        goto out;
    }
    err = CS_ERR_INTERNAL;
    a = sio__event_array(name, args);
    if (!a)
        goto out;
    err = sio__send(s->client, nbins ? SIO_BINARY_EVENT : SIO_EVENT, s->nsp->name, -1, a, bins,
                    nbins);
out:
    json_decref(a);
    return err;
}

cs_err sio_socket_ack(sio_socket *s, long long ack_id, json_t *args, const sio_bin *bins,
                      unsigned nbins)
{
    cs_err err = CS_ERR_PRECONDITION;

    if (!args)
        args = json_array();
    if (s->state != SOCK_CONNECTED || ack_id < 0 || !json_is_array(args))
        goto out;
    err = sio__send(s->client, nbins ? SIO_BINARY_ACK : SIO_ACK, s->nsp->name, ack_id, args, bins,
                    nbins);
out:
    json_decref(args);
    return err;
}

cs_err sio_socket_join(sio_socket *s, const char *room)
{
    cs_err err = CS_ERR_INVALID;
    sio_room *r;
    int fresh = 0;

    if (!room || !*room || s->state != SOCK_CONNECTED)
        goto out;
    err = CS_OK;
    if (sio_socket_in_room(s, room))
        goto out;
    err = CS_ERR_INTERNAL;
    r = (sio_room *)sio__map_get(&s->nsp->rooms, room);
    if (!r) {
        r = sio__room_new(s->nsp, room);
        if (!r)
            goto out;
        if (sio__map_put(&s->nsp->rooms, &r->link) != CS_OK) {
            sio__room_free(r);
            goto out;
        }
        fresh = 1;
    }
    err = sio__room_add(r, s);
    if (err != CS_OK && fresh) {
        sio__map_del(&s->nsp->rooms, &r->link);
        sio__room_free(r);
    }
out:
    return err;
}

void sio_socket_leave(sio_socket *s, const char *room)
{
    for (size_t i = 0; room && i < s->nrooms; i++) {
        if (s->rooms[i].room != s->nsp->all && strcmp(s->rooms[i].room->name, room) == 0) {
            sio__room_remove_slot(s, i);
            return;
        }
    }
}

int sio_socket_in_room(const sio_socket *s, const char *room)
{
    for (size_t i = 0; room && i < s->nrooms; i++)
        if (s->rooms[i].room != s->nsp->all && strcmp(s->rooms[i].room->name, room) == 0)
            return 1;
    return 0;
}

size_t sio_nsp_emit(sio_nsp *nsp, const char *room, const sio_socket *except, const char *name,
                    json_t *args)
{
    size_t sent = 0;
    eio_sb sb = {0};
    json_t *a = NULL;
    eio_buf *b = NULL;
    sio_room *r = room ? (sio_room *)sio__map_get(&nsp->rooms, room) : nsp->all;
    eio_server *eio = nsp->srv->eio;

    if (!r || !r->n || !name) {
        json_decref(args);
        goto out;
    }
    a = sio__event_array(name, args);
    if (!a || sio_packet_encode(&sb, SIO_EVENT, nsp->name, 0, -1, a) != CS_OK)
        goto out;
    b = eio_buf_new(eio, sb.p, sb.len, 0);
    if (!b)
        goto out;
    /* Inside a batch, failing sessions close only after the loop. */
    eio_server_batch_begin(eio);
    for (size_t i = 0; i < r->n; i++) {
        sio_socket *s = r->m[i].s;
        if (s == except || s->state != SOCK_CONNECTED)
            continue;
        if (eio_session_send_buf(s->client->es, b) == CS_OK)
            sent++;
    }
    eio_server_batch_end(eio);
out:
    eio_buf_unref(b);
    json_decref(a);
    eio_sb_free(&sb);
    return sent;
}

/* --- incoming ------------------------------------------------------------- */

static void sio__bins_clear(sio__client *c)
{
    for (unsigned i = 0; i < c->nbins; i++)
        free(c->bins[i].data);
    free(c->bins);
    c->bins = NULL;
    c->nbins = 0;
    c->bin_bytes = 0;
    if (c->bin_pkt) {
        sio_packet_clear(c->bin_pkt);
        free(c->bin_pkt);
        c->bin_pkt = NULL;
    }
}

static void sio__protocol_error(sio__client *c, const char *why)
{
    eio_session_close(c->es, why);
}

static void sio__on_connect_packet(sio__client *c, sio_packet *p)
{
    sio_server *srv = c->srv;
    sio_nsp *nsp = sio_server_find_namespace(srv, p->nsp);
    sio_socket *s = NULL;
    json_t *auth = NULL;

    if (!nsp) {
        json_t *d = json_pack("{s:s}", "message", "Invalid namespace");
        if (d)
            sio__send(c, SIO_CONNECT_ERROR, p->nsp, -1, d, NULL, 0);
        json_decref(d);
        return;
    }
    if (sio__client_socket(c, nsp->name)) {
        sio__protocol_error(c, "duplicate connect");
        return;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    s->client = c;
    s->nsp = nsp;
    s->state = SOCK_PENDING;
    do {
        /* Random like Engine.IO's sids: 20 characters of 6 random bits. */
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        unsigned char r[20];
        if (getentropy(r, sizeof(r)) != 0)
            goto fail;
        for (int i = 0; i < 20; i++)
            s->sid[i] = alpha[r[i] & 63];
        s->sid[20] = '\0';
    } while (sio__map_get(&srv->sockets, s->sid));
    s->link.key = s->sid;
    if (sio__map_put(&srv->sockets, &s->link) != CS_OK)
        goto fail;
    s->cnext = c->sockets;
    c->sockets = s;
    auth = p->data ? json_incref(p->data) : json_object();
    if (nsp->h.on_connect)
        nsp->h.on_connect(nsp->app, s, auth);
    else
        sio_socket_accept(s);
    json_decref(auth);
    return;
fail:
    free(s);
    sio__protocol_error(c, "out of memory");
}

static void sio__dispatch(sio__client *c, sio_packet *p, const sio_bin *bins, unsigned nbins)
{
    sio_socket *s;

    switch (p->type) {
    case SIO_CONNECT:
        sio__on_connect_packet(c, p);
        break;
    case SIO_DISCONNECT:
        s = sio__client_socket(c, p->nsp);
        if (s)
            sio__socket_free(s, "client namespace disconnect");
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        json_t *first = json_array_get(p->data, 0);
        char num[32];
        const char *name;
        s = sio__client_socket(c, p->nsp);
        if (!s || s->state != SOCK_CONNECTED || !s->nsp->h.on_event)
            break;
        if (json_is_string(first)) {
            name = json_string_value(first);
        } else {
            snprintf(num, sizeof(num), "%g", json_number_value(first));
            name = num;
        }
        s->nsp->h.on_event(s->nsp->app, s, name, p->data, p->ack_id, bins, nbins);
        break;
    }
    default:
        /* ACK: the server never asks clients for acknowledgements.
         * CONNECT_ERROR is server-to-client; socket.io ignores it too. */
        break;
    }
}

static void sio__on_open(void *app, eio_session *es)
{
    sio_server *srv = app;
    sio__client *c = calloc(1, sizeof(*c));

    if (!c) {
        eio_session_close(es, "out of memory");
        return;
    }
    c->srv = srv;
    c->es = es;
    c->connect_deadline = eio_server_now(srv->eio) + srv->cfg.connect_timeout_ms;
    c->waiting = 1;
    c->wnext = srv->waiting;
    if (srv->waiting)
        srv->waiting->wprev = c;
    srv->waiting = c;
    eio_session_set_data(es, c);
}

static void sio__on_message(void *app, eio_session *es, const char *data, size_t len, int binary)
{
    sio__client *c = eio_session_data(es);
    sio_packet pkt;

    (void)app;
    if (!c)
        return;
    if (c->bin_pkt) {
        sio__owned_bin *nb;
        if (!binary || c->bin_bytes + len > eio_server_config(c->srv->eio)->max_payload) {
            sio__protocol_error(c, "bad attachment");
            return;
        }
        nb = realloc(c->bins, (c->nbins + 1) * sizeof(*nb));
        if (!nb) {
            sio__protocol_error(c, "out of memory");
            return;
        }
        c->bins = nb;
        c->bins[c->nbins].data = malloc(len ? len : 1);
        if (!c->bins[c->nbins].data) {
            sio__protocol_error(c, "out of memory");
            return;
        }
        memcpy(c->bins[c->nbins].data, data, len);
        c->bins[c->nbins].len = len;
        c->nbins++;
        c->bin_bytes += len;
        if (c->nbins == c->bin_pkt->attachments) {
            sio_bin views[SIO_MAX_ATTACHMENTS];
            sio_packet *p = c->bin_pkt;
            for (unsigned i = 0; i < c->nbins; i++) {
                views[i].data = c->bins[i].data;
                views[i].len = c->bins[i].len;
            }
            eio_server_batch_begin(c->srv->eio);
            sio__dispatch(c, p, views, c->nbins);
            /* dispatch may have closed the session, but inside the batch c
             * is freed only by on_close, which clears the bins itself. */
            if (eio_session_data(es) == c)
                sio__bins_clear(c);
            eio_server_batch_end(c->srv->eio);
        }
        return;
    }
    if (binary) {
        sio__protocol_error(c, "unexpected binary message");
        return;
    }
    if (sio_packet_decode(data, len, &pkt) != CS_OK) {
        sio__protocol_error(c, "parse error");
        return;
    }
    if (pkt.type == SIO_BINARY_EVENT || pkt.type == SIO_BINARY_ACK) {
        if (pkt.attachments > 0) {
            c->bin_pkt = malloc(sizeof(*c->bin_pkt));
            if (!c->bin_pkt) {
                sio_packet_clear(&pkt);
                sio__protocol_error(c, "out of memory");
                return;
            }
            *c->bin_pkt = pkt;
            return;
        }
    }
    sio__dispatch(c, &pkt, NULL, 0);
    sio_packet_clear(&pkt);
}

static void sio__on_close(void *app, eio_session *es, const char *reason)
{
    sio__client *c = eio_session_data(es);

    (void)app;
    if (!c)
        return;
    while (c->sockets) {
        sio_socket *s = c->sockets;
        sio__socket_free(s, reason);
    }
    sio__bins_clear(c);
    sio__waiting_remove(c);
    eio_session_set_data(es, NULL);
    free(c);
}

/* --- server --------------------------------------------------------------- */

sio_server *sio_server_new(const eio_config *ecfg, const sio_config *scfg)
{
    static const eio_handler h = {sio__on_open, sio__on_message, sio__on_close};
    sio_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    if (scfg)
        srv->cfg = *scfg;
    if (!srv->cfg.connect_timeout_ms)
        srv->cfg.connect_timeout_ms = 45000;
    srv->eio = eio_server_new(ecfg, &h, srv);
    if (!srv->eio) {
        free(srv);
        return NULL;
    }
    return srv;
}

void sio_server_free(sio_server *srv)
{
    if (!srv)
        return;
    eio_server_free(srv->eio);
    while (srv->nsps) {
        sio_nsp *n = srv->nsps;
        srv->nsps = n->next;
        for (size_t i = 0; i < n->rooms.nb; i++) {
            sio__link *l = n->rooms.b[i], *nx;
            for (; l; l = nx) {
                nx = l->next;
                sio__room_free((sio_room *)l);
            }
        }
        free(n->rooms.b);
        sio__room_free(n->all);
        free(n);
    }
    free(srv->sockets.b);
    free(srv);
}

eio_server *sio_server_eio(sio_server *srv)
{
    return srv->eio;
}

void sio_server_close_all(sio_server *srv, const char *reason)
{
    eio_server_close_all(srv->eio, reason);
}

size_t sio_server_socket_count(const sio_server *srv)
{
    return srv->sockets.n;
}

void sio_server_tick(sio_server *srv)
{
    uint64_t now = eio_server_now(srv->eio);
    sio__client *c, *nx;

    eio_server_batch_begin(srv->eio);
    for (c = srv->waiting; c; c = nx) {
        nx = c->wnext;
        if (now >= c->connect_deadline) {
            sio__waiting_remove(c);
            eio_session_close(c->es, "connect timeout");
        }
    }
    eio_server_batch_end(srv->eio);
    eio_server_tick(srv->eio);
}

sio_nsp *sio_server_namespace(sio_server *srv, const char *name, const sio_nsp_handler *h,
                              void *app)
{
    sio_nsp *n = NULL;
    size_t l;

    if (!name || name[0] != '/' || strlen(name) > SIO_NSP_MAX ||
        sio_server_find_namespace(srv, name))
        goto out;
    l = strlen(name);
    n = calloc(1, sizeof(*n) + l + 1);
    if (!n)
        goto out;
    memcpy(n->name, name, l + 1);
    n->srv = srv;
    if (h)
        n->h = *h;
    n->app = app;
    n->all = sio__room_new(n, "");
    if (!n->all) {
        free(n);
        n = NULL;
        goto out;
    }
    n->next = srv->nsps;
    srv->nsps = n;
out:
    return n;
}

sio_nsp *sio_server_find_namespace(sio_server *srv, const char *name)
{
    sio_nsp *n;
    for (n = srv->nsps; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

sio_socket *sio_server_find_socket(sio_server *srv, const char *sid)
{
    return sid ? (sio_socket *)sio__map_get(&srv->sockets, sid) : NULL;
}
