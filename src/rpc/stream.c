/*
 * rpc stream: server-streaming calls (rpc.h's rpc_stream_*).
 *
 * A stream is a grpc_call plus a bounded ring of packed messages. Producers
 * on any thread queue messages; at most one send operation (the initial
 * metadata first, then one SEND_MESSAGE at a time) is outstanding, and its
 * completion, on the rpc poller, starts the next one. The
 * status goes out in its own batch once the ring is empty.
 *
 * Two lifetimes: the grpc_call is unreffed by the server as soon as the call
 * is over (RECV_CLOSE_ON_SERVER completed and no operation outstanding),
 * whatever the producers do, so that server shutdown never waits on a
 * producer; the rpc_stream memory lives until the last rpc_stream_unref.
 *
 * Locks: s->mu guards the stream. on_close runs without it (the producer
 * may take its own locks there and call back into the stream). Lock order
 * srv->mu -> s->mu (shutdown walks the open streams under srv->mu).
 */
#include "rpc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

grpc_byte_buffer *rpc__pack(const ProtobufCMessage *msg);

/* ---- with s->mu held --------------------------------------------------- */

static int stream__start(rpc_stream *s, const grpc_op *ops, size_t n, rpc__tag *tag)
{
    grpc_call_error rc = grpc_call_start_batch(s->call, ops, n, tag, NULL);
    if (rc != GRPC_CALL_OK) {
        log_error("rpc: stream start_batch failed: %d", (int)rc);
        s->broken = 1;
        return -1;
    }
    s->ops++;
    return 0;
}

static void stream__drop_queue(rpc_stream *s)
{
    while (s->q_len) {
        grpc_byte_buffer_destroy(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
}

static void stream__send_status(rpc_stream *s)
{
    grpc_op op;
    grpc_slice details = rpc__status_slice((cs_err)s->fin_err, s->fin_msg);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = (grpc_status_code)cs_err_grpc_status(s->fin_err);
    op.data.send_status_from_server.status_details = &details;
    s->status_started = 1;
    stream__start(s, &op, 1, &s->status_tag);
    grpc_slice_unref(details);
}

/* Starts the next operation if none is outstanding. */
static void stream__pump(rpc_stream *s)
{
    grpc_op op;

    if (s->sending || s->broken || s->closed)
        return;
    if (s->q_len) {
        s->inflight = s->q[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = s->inflight;
        s->sending = 1;
        if (stream__start(s, &op, 1, &s->send_tag) != 0) {
            s->sending = 0;
            grpc_byte_buffer_destroy(s->inflight);
            s->inflight = NULL;
        }
        return;
    }
    if (s->finishing && !s->status_started)
        stream__send_status(s);
}

static int stream__push(rpc_stream *s, grpc_byte_buffer *bb)
{
    if (s->q_len == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 4;
        grpc_byte_buffer **q;
        if (cap > s->max_queued)
            cap = s->max_queued;
        q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < s->q_len; i++)
            q[i] = s->q[(s->q_head + i) % s->q_cap];
        free(s->q);
        s->q = q;
        s->q_cap = cap;
        s->q_head = 0;
    }
    s->q[(s->q_head + s->q_len) % s->q_cap] = bb;
    s->q_len++;
    return 0;
}

/* Records the status to end with; 0 if this call set it. */
static int stream__set_finish(rpc_stream *s, cs_err e, const char *msg)
{
    if (s->finishing || s->closed)
        return -1;
    s->finishing = 1;
    s->fin_err = (int)e;
    s->fin_msg = (msg && *msg) ? strdup(msg) : NULL;
    return 0;
}

/* ---- public API -------------------------------------------------------- */

void rpc_stream_ref(rpc_stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void rpc_stream_unref(rpc_stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    /* Last reference: the server released the call already. */
    stream__drop_queue(s);
    if (s->inflight)
        grpc_byte_buffer_destroy(s->inflight);
    free(s->q);
    free(s->fin_msg);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *msg)
{
    grpc_byte_buffer *bb;
    int rc = -1;

    /* Pack outside the lock: producers do not serialize on one another. */
    bb = rpc__pack(msg);
    pthread_mutex_lock(&s->mu);
    if (s->broken || s->closed || s->finishing)
        goto out;
    if (s->q_len + (s->inflight ? 1 : 0) >= s->max_queued)
        goto out;
    if (stream__push(s, bb) != 0)
        goto out;
    bb = NULL;
    stream__pump(s);
    rc = 0;
out:
    pthread_mutex_unlock(&s->mu);
    if (bb)
        grpc_byte_buffer_destroy(bb);
    return rc;
}

size_t rpc_stream_queued(const rpc_stream *s)
{
    rpc_stream *m = (rpc_stream *)s; /* the lock is not part of the value */
    size_t n;
    pthread_mutex_lock(&m->mu);
    n = m->q_len + (m->inflight ? 1 : 0);
    pthread_mutex_unlock(&m->mu);
    return n;
}

void rpc_stream_finish(rpc_stream *s, cs_err e, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (stream__set_finish(s, e, msg) == 0)
        stream__pump(s);
    pthread_mutex_unlock(&s->mu);
}

static void stream__abort_locked(rpc_stream *s, cs_err e, const char *msg)
{
    if (s->closed || !s->call)
        return;
    stream__drop_queue(s);
    if (!s->finishing)
        stream__set_finish(s, e, msg);
    s->broken = 1;
    /* Trailers with the status go out now, even past a full flow-control
     * window; RECV_CLOSE then completes (cancelled) and runs on_close. */
    grpc_call_cancel_with_status(s->call, (grpc_status_code)cs_err_grpc_status(e),
                                 msg && *msg ? msg : cs_err_name(e), NULL);
}

void rpc_stream_abort(rpc_stream *s, cs_err e, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    stream__abort_locked(s, e, msg);
    pthread_mutex_unlock(&s->mu);
}

void rpc_stream_on_close(rpc_stream *s, void (*on_close)(void *arg), void *arg)
{
    int now = 0;
    pthread_mutex_lock(&s->mu);
    if (s->on_close_done) {
        now = 1; /* already over: keep the "runs once" promise */
    } else {
        s->on_close = on_close;
        s->on_close_arg = arg;
    }
    pthread_mutex_unlock(&s->mu);
    if (now && on_close)
        on_close(arg);
}

const char *rpc_stream_request_id(const rpc_stream *s)
{
    return s->request_id;
}

/* ---- server side (the worker running the handler, then the poller) ----- */

rpc_stream *rpc__stream_new(rpc_server *srv, grpc_call *call, const char *request_id)
{
    rpc_stream *s = calloc(1, sizeof *s);
    grpc_op op;
    int stopping;

    if (!s) {
        grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(call);
        return NULL;
    }
    s->close_tag.kind = RPC__TAG_STREAM_CLOSE;
    s->send_tag.kind = RPC__TAG_STREAM_SEND;
    s->status_tag.kind = RPC__TAG_STREAM_STATUS;
    s->srv = srv;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);
    s->call = call;
    s->max_queued = srv->cfg.stream_max_queued;
    snprintf(s->request_id, sizeof s->request_id, "%s", request_id ? request_id : "");

    pthread_mutex_lock(&srv->mu);
    stopping = srv->stopping;
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    pthread_mutex_unlock(&srv->mu);

    pthread_mutex_lock(&s->mu);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &s->cancelled;
    stream__start(s, &op, 1, &s->close_tag);
    /* Headers wait for the handler (rpc__stream_opened): when a client sees
     * them, the handler has run, so it is subscribed. Until then "sending"
     * holds back the messages producers queue meanwhile. */
    s->sending = 1;
    s->headers_held = 1;
    if (stopping) /* accepted as the server began to stop */
        stream__abort_locked(s, CS_ERR_UNAVAILABLE, "server shutting down");
    pthread_mutex_unlock(&s->mu);
    return s;
}

void rpc__stream_opened(rpc_stream *s)
{
    grpc_op op;

    pthread_mutex_lock(&s->mu);
    if (s->headers_held) {
        s->headers_held = 0;
        s->sending = 0;
        if (s->call && !s->broken && !s->closed) {
            memset(&op, 0, sizeof op);
            op.op = GRPC_OP_SEND_INITIAL_METADATA;
            s->sending = 1;
            if (stream__start(s, &op, 1, &s->send_tag) != 0)
                s->sending = 0;
        }
        if (!s->sending && !s->broken && !s->closed)
            stream__pump(s);
    }
    pthread_mutex_unlock(&s->mu);
}

/* The call is over for the server: unref it and drop the server's reference. */
static void stream__release(rpc_stream *s)
{
    rpc_server *srv = s->srv;
    grpc_call *call;

    pthread_mutex_lock(&s->mu);
    call = s->call;
    s->call = NULL;
    pthread_mutex_unlock(&s->mu);
    grpc_call_unref(call);

    pthread_mutex_lock(&srv->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    pthread_mutex_unlock(&srv->mu);
    rpc_stream_unref(s);
}

void rpc__stream_on_send(rpc_stream *s, int ok)
{
    int release;

    pthread_mutex_lock(&s->mu);
    s->ops--;
    s->sending = 0;
    if (s->inflight)
        grpc_byte_buffer_destroy(s->inflight);
    s->inflight = NULL;
    if (!ok) /* cancelled or the connection died: RECV_CLOSE will say so */
        s->broken = 1;
    if (s->broken || s->closed)
        stream__drop_queue(s);
    else
        stream__pump(s);
    release = s->closed && s->ops == 0;
    pthread_mutex_unlock(&s->mu);
    if (release)
        stream__release(s);
}

void rpc__stream_on_status(rpc_stream *s, int ok)
{
    int release;

    pthread_mutex_lock(&s->mu);
    s->ops--;
    release = s->closed && s->ops == 0;
    pthread_mutex_unlock(&s->mu);
    if (release)
        stream__release(s);
}

void rpc__stream_on_close(rpc_stream *s, int ok)
{
    void (*fn)(void *) = NULL;
    void *arg = NULL;
    int release;

    pthread_mutex_lock(&s->mu);
    s->ops--;
    s->closed = 1;
    s->broken = 1;
    stream__drop_queue(s);
    if (!s->on_close_done) {
        s->on_close_done = 1;
        fn = s->on_close;
        arg = s->on_close_arg;
        s->on_close = NULL;
    }
    release = s->ops == 0;
    pthread_mutex_unlock(&s->mu);
    if (s->cancelled)
        log_debug("rpc: stream %s cancelled", s->request_id);
    if (fn)
        fn(arg);
    if (release)
        stream__release(s);
}

void rpc__stream_abort_locked_list(rpc_server *srv)
{
    for (rpc_stream *s = srv->streams; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        stream__abort_locked(s, CS_ERR_UNAVAILABLE, "server shutting down");
        pthread_mutex_unlock(&s->mu);
    }
}
