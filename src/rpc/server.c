/*
 * rpc server: the gRPC C core (1.51) server loop behind rpc.h.
 *
 * Shape: one grpc_server, every method of the table registered with
 * READ_INITIAL_BYTE_BUFFER (each method here takes exactly one request
 * message, unary or server-streaming alike), one completion queue and the
 * one thread that waits on it (the poller), and N worker threads that run
 * handlers taken from a job queue. The poller keeps RPC__ARMED requests
 * armed per method plus one catch-all grpc_server_request_call, so that an
 * unknown method is answered UNIMPLEMENTED at once instead of hanging until
 * the client's deadline. A request is re-armed before the call it delivered
 * is handled.
 *
 * Why one poller: gRPC polls the connections on the threads that wait on
 * completion queues. With a queue per worker (or several threads on one
 * queue), the thread that read a request off the connection had to wake
 * the one that was to handle it, once or more per call; a cache hit cost
 * callsvc 51-68 us of CPU with four workers and 22-26 us with one thread
 * doing both (docs/BENCHMARKS.md section 4). Here the poller answers
 * RPC_TRY_INLINE methods itself when it can (rpc.h), and hands everything
 * else to the workers, which may block on libpq without holding up the
 * connection.
 *
 * A unary call: RECV_CLOSE_ON_SERVER goes in its own early batch; then the
 * request is unpacked, the handler runs (on the poller or a worker), and
 * one batch sends initial metadata, the message and the status (never
 * together with a receive op). The call struct counts what still needs it
 * (the handler, each batch; atomically, as a worker's handler may still be
 * running when the poller sees RECV_CLOSE complete) and whoever drops the
 * last recycles it into its own thread's free list, so the hot path
 * allocates little besides protobuf messages.
 *
 * Streams are handed to stream.c after the request is unpacked; they do
 * not occupy the worker while open.
 *
 * Shutdown (rpc_server_request_stop, then rpc_server_wait_and_free): open
 * streams are ended with UNAVAILABLE, grpc_server_shutdown_and_notify, a
 * grace period for in-flight unary calls, grpc_server_cancel_all_calls,
 * wait for the notification, stop the workers (they finish the queue
 * first), destroy the server, shut the completion queue down (the poller
 * drains it to GRPC_QUEUE_SHUTDOWN and exits), destroy it, grpc_shutdown.
 */
#include "rpc_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/log.h"
#include "meta.h"

/* Recycled call structs kept by the poller (which alone takes them);
 * beyond this they are freed. */
#define RPC__FREE_MAX 256
/* Requests kept armed per method, so that a burst of calls finds them
 * waiting instead of queueing inside gRPC until the poller re-arms. */
#define RPC__ARMED 4

cs_err rpc_fail(rpc_ctx *ctx, cs_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
    return e;
}

int rpc_defer(rpc_ctx *ctx)
{
    if (!ctx->on_poller)
        return 0;
    ctx->deferred = 1;
    return 1;
}

grpc_slice rpc__status_slice(cs_err e, const char *msg)
{
    if (msg && *msg)
        return grpc_slice_from_copied_string(msg);
    return grpc_slice_from_static_string(cs_err_name(e));
}

/* ---- call structs ------------------------------------------------------ */

static rpc__call *server__call_get(rpc__worker *w)
{
    rpc__call *c = w->free_calls;
    if (c) {
        w->free_calls = c->next_free;
        w->n_free--;
        c->md.count = 0; /* keeps the array's storage for reuse */
    } else {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->req.kind = RPC__TAG_REQUEST;
        c->close.kind = RPC__TAG_CALL_CLOSE;
        c->send.kind = RPC__TAG_CALL_SEND;
        grpc_metadata_array_init(&c->md);
    }
    c->call = NULL;
    c->payload = NULL;
    c->resp = NULL;
    c->cancelled = 0;
    atomic_store_explicit(&c->pending, 1, memory_order_relaxed); /* the handler's */
    c->next_free = NULL;
    return c;
}

static void server__call_put(rpc__worker *w, rpc__call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    c->call = NULL;
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (c->resp)
        grpc_byte_buffer_destroy(c->resp);
    c->resp = NULL;
    if (c->req.kind == RPC__TAG_GENERIC) {
        grpc_call_details_destroy(&c->details);
        c->req.kind = RPC__TAG_REQUEST;
    }
    if (w && w->n_free < RPC__FREE_MAX) {
        c->next_free = w->free_calls;
        w->free_calls = c;
        w->n_free++;
        return;
    }
    grpc_metadata_array_destroy(&c->md);
    free(c);
}

/* ---- arming requests --------------------------------------------------- */

static void server__arm(rpc__worker *w, size_t method)
{
    rpc_server *srv = w->srv;
    rpc__call *c = server__call_get(w);
    grpc_call_error rc;

    if (!c) {
        log_error("rpc: out of memory arming a request");
        return;
    }
    c->method = method;
    rc = grpc_server_request_registered_call(srv->server, srv->handles[method], &c->call,
                                             &c->deadline, &c->md, &c->payload, srv->cq, srv->cq,
                                             &c->req);
    if (rc != GRPC_CALL_OK) {
        log_error("rpc: request_registered_call(%s) failed: %d", srv->cfg.methods[method].path,
                  (int)rc);
        server__call_put(w, c);
    }
}

static void server__arm_generic(rpc__worker *w)
{
    rpc__call *c = server__call_get(w);
    grpc_call_error rc;

    if (!c) {
        log_error("rpc: out of memory arming the catch-all request");
        return;
    }
    c->req.kind = RPC__TAG_GENERIC;
    grpc_call_details_init(&c->details);
    rc = grpc_server_request_call(w->srv->server, &c->call, &c->details, &c->md, w->srv->cq,
                                  w->srv->cq, &c->req);
    if (rc != GRPC_CALL_OK) {
        log_error("rpc: request_call failed: %d", (int)rc);
        server__call_put(w, c);
    }
}

/* ---- answering --------------------------------------------------------- */

/* Counts the batch before starting it: the poller may see it complete
 * before grpc_call_start_batch returns on a worker. */
static int server__start(rpc__call *c, const grpc_op *ops, size_t n, rpc__tag *tag)
{
    grpc_call_error rc;

    atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
    rc = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (rc != GRPC_CALL_OK) {
        atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed);
        log_error("rpc: start_batch failed: %d", (int)rc);
        return -1;
    }
    return 0;
}

/* The early RECV_CLOSE_ON_SERVER batch. */
static void server__recv_close(rpc__call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    server__start(c, &op, 1, &c->close);
}

/* Sends initial metadata, resp (if any; ownership passes to c) and the
 * status. Then the call is released when its batches complete. */
static void server__reply(rpc__call *c, grpc_byte_buffer *resp, cs_err e, const char *msg)
{
    grpc_op ops[3];
    size_t n = 0;
    grpc_slice details;
    int with_details = (e != CS_OK || (msg && *msg));

    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (resp) {
        c->resp = resp;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)cs_err_grpc_status(e);
    if (with_details) {
        details = rpc__status_slice(e, msg);
        ops[n].data.send_status_from_server.status_details = &details;
    }
    n++;
    server__start(c, ops, n, &c->send);
    if (with_details)
        grpc_slice_unref(details); /* the core took its own reference */
}

/* Drops one of c's holders (the handler or a completed batch); the last
 * one recycles c into w, the poller's free list (NULL on a worker, which
 * never takes calls from a free list: c is freed). */
static void server__release(rpc__worker *w, rpc__call *c)
{
    if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_acq_rel) == 1)
        server__call_put(w, c);
}

/* Unpacks the request; NULL with *e set on failure. */
static ProtobufCMessage *server__unpack(const ProtobufCMessageDescriptor *d,
                                        grpc_byte_buffer *payload, cs_err *e, const char **why)
{
    ProtobufCMessage *msg = NULL;
    grpc_byte_buffer_reader r;
    grpc_slice all;
    int reader = 0, owned = 0;

    *e = CS_ERR_INVALID;
    *why = "malformed request";
    if (!payload) {
        *why = "missing request message";
        goto out;
    }
    /* Fast path: one uncompressed slice, unpacked in place. */
    if (payload->type == GRPC_BB_RAW && payload->data.raw.compression == GRPC_COMPRESS_NONE &&
        payload->data.raw.slice_buffer.count == 1) {
        all = payload->data.raw.slice_buffer.slices[0];
    } else {
        if (!grpc_byte_buffer_reader_init(&r, payload))
            goto out;
        reader = 1;
        all = grpc_byte_buffer_reader_readall(&r);
        owned = 1;
    }
    msg = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    if (msg)
        *e = CS_OK;
out:
    if (owned)
        grpc_slice_unref(all);
    if (reader)
        grpc_byte_buffer_reader_destroy(&r);
    return msg;
}

/* Packs msg into a new byte buffer (one slice, no copy afterwards). */
static grpc_byte_buffer *server__pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice sl = grpc_slice_malloc(n);
    grpc_byte_buffer *bb;

    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

/* grpc_byte_buffer for rpc_stream_send (stream.c). */
grpc_byte_buffer *rpc__pack(const ProtobufCMessage *msg);
grpc_byte_buffer *rpc__pack(const ProtobufCMessage *msg)
{
    return server__pack(msg);
}

static int64_t server__deadline_ms(gpr_timespec d)
{
    if (d.tv_sec == INT64_MAX || gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return 0;
    d = gpr_convert_clock_type(d, GPR_CLOCK_REALTIME);
    return (int64_t)d.tv_sec * 1000 + d.tv_nsec / 1000000;
}

static int64_t server__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies a metadata value into buf (NUL-ended) when it fits. */
static const char *server__md_copy(grpc_slice v, char *buf, size_t cap, char **heap)
{
    size_t n = GRPC_SLICE_LENGTH(v);
    char *dst = buf;
    if (n >= cap) {
        dst = *heap = malloc(n + 1);
        if (!dst)
            return NULL;
    }
    memcpy(dst, GRPC_SLICE_START_PTR(v), n);
    dst[n] = '\0';
    return dst;
}

/* Runs c's handler on w's thread and starts the reply; on_poller: the
 * inline run of an RPC_TRY_INLINE method. Returns 1 if the handler
 * deferred (nothing was sent; run it again on a worker), else 0. */
static int server__handle(rpc__worker *w, rpc__call *c, int on_poller)
{
    rpc_server *srv = w->srv;
    const rpc_method *m = &srv->cfg.methods[c->method];
    rpc_ctx ctx;
    char authz[1024], rid[RPC_META_REQUEST_ID_MAX + 1];
    char *authz_heap = NULL, *peer = NULL;
    ProtobufCMessage *req = NULL, *resp = NULL;
    grpc_byte_buffer *bb = NULL;
    const char *why = NULL;
    cs_err e = CS_OK;
    rpc_stream *s = NULL;
    int deferred = 0;

    ctx.method = m->path;
    ctx.request_id = NULL;
    ctx.authorization = NULL;
    ctx.worker = w->state;
    ctx.app = srv->cfg.app;
    ctx.errmsg[0] = '\0';
    ctx.user_id[0] = '\0';
    ctx.deadline_ms = server__deadline_ms(c->deadline);
    ctx.on_poller = on_poller;
    ctx.deferred = 0;

    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *md = &c->md.metadata[i];
        if (!ctx.authorization && grpc_slice_str_cmp(md->key, "authorization") == 0) {
            ctx.authorization = server__md_copy(md->value, authz, sizeof authz, &authz_heap);
        } else if (!ctx.request_id && grpc_slice_str_cmp(md->key, "x-request-id") == 0 &&
                   rpc_meta_request_id_ok((const char *)GRPC_SLICE_START_PTR(md->value),
                                          GRPC_SLICE_LENGTH(md->value))) {
            ctx.request_id = server__md_copy(md->value, rid, sizeof rid, &authz_heap);
        }
    }
    if (!ctx.request_id) {
        rpc_meta_request_id_gen(&w->rng, rid);
        ctx.request_id = rid;
    }
    peer = grpc_call_get_peer(c->call);
    ctx.peer = peer ? peer : "";
    log_set_context(ctx.request_id, NULL);

    if (!m->unary && !m->stream) {
        e = rpc_fail(&ctx, CS_ERR_UNIMPLEMENTED, "method %s is not implemented", m->path);
        goto reply;
    }
    if (ctx.deadline_ms && ctx.deadline_ms <= server__now_ms()) {
        e = rpc_fail(&ctx, CS_ERR_DEADLINE, "deadline exceeded before the call was handled");
        goto reply;
    }
    req = server__unpack(m->request, c->payload, &e, &why);
    if (!req) {
        e = rpc_fail(&ctx, e, "%s", why);
        goto reply;
    }
    if (m->stream) {
        grpc_call *call = c->call;
        c->call = NULL; /* the stream owns it now */
        s = rpc__stream_new(srv, call, ctx.request_id);
        if (!s)
            goto out;
        e = m->stream(&ctx, req, s);
        if (e != CS_OK)
            rpc_stream_finish(s, e, ctx.errmsg);
        rpc__stream_opened(s); /* the headers, then what the handler queued */
        goto out;
    }
    e = m->unary(&ctx, req, &resp);
    if (ctx.deferred) {
        deferred = 1;
        goto out;
    }
    if (e == CS_OK && !resp)
        e = rpc_fail(&ctx, CS_ERR_INTERNAL, "handler returned no response");
    if (e == CS_OK)
        bb = server__pack(resp);
    if (e != CS_OK && !ctx.errmsg[0])
        snprintf(ctx.errmsg, sizeof ctx.errmsg, "%s", cs_err_name(e));
reply:
    server__reply(c, bb, e, ctx.errmsg);
out:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    if (peer)
        gpr_free(peer);
    free(authz_heap);
    log_clear_context();
    return deferred;
}

/* ---- the workers' job queue -------------------------------------------- */

/* Hands c (and the handler's hold on it) to a worker. After the workers
 * have stopped, which only happens once gRPC has shut down, it is answered
 * UNAVAILABLE here instead. */
static void server__enqueue(rpc__worker *poller, rpc__call *c)
{
    rpc_server *srv = poller->srv;
    int stopped;

    c->next_job = NULL;
    pthread_mutex_lock(&srv->jobs_mu);
    stopped = srv->jobs_stop;
    if (!stopped) {
        if (srv->jobs_tail)
            srv->jobs_tail->next_job = c;
        else
            srv->jobs_head = c;
        srv->jobs_tail = c;
        pthread_cond_signal(&srv->jobs_cv);
    }
    pthread_mutex_unlock(&srv->jobs_mu);
    if (stopped) {
        server__reply(c, NULL, CS_ERR_UNAVAILABLE, "server shutting down");
        server__release(poller, c);
    }
}

/* The next job, or NULL when the workers are to stop. */
static rpc__call *server__next_job(rpc_server *srv)
{
    rpc__call *c;

    pthread_mutex_lock(&srv->jobs_mu);
    while (!srv->jobs_head && !srv->jobs_stop)
        pthread_cond_wait(&srv->jobs_cv, &srv->jobs_mu);
    c = srv->jobs_head;
    if (c) {
        srv->jobs_head = c->next_job;
        if (!srv->jobs_head)
            srv->jobs_tail = NULL;
    }
    pthread_mutex_unlock(&srv->jobs_mu);
    return c;
}

/* Stops the workers once the queue is empty and joins them. Idempotent. */
static void server__stop_workers(rpc_server *srv)
{
    pthread_mutex_lock(&srv->jobs_mu);
    srv->jobs_stop = 1;
    pthread_cond_broadcast(&srv->jobs_cv);
    pthread_mutex_unlock(&srv->jobs_mu);
    for (int i = 0; i < srv->n_threads; i++)
        pthread_join(srv->workers[i].thread, NULL);
    srv->n_threads = 0;
}

static void server__free_list(rpc__worker *w)
{
    while (w->free_calls) {
        rpc__call *c = w->free_calls;
        w->free_calls = c->next_free;
        grpc_metadata_array_destroy(&c->md);
        free(c);
    }
    w->n_free = 0;
}

static void *server__worker_main(void *arg)
{
    rpc__worker *w = arg;
    rpc_server *srv = w->srv;
    rpc__call *c;

    w->rng = rpc_meta_seed();
    if (srv->cfg.worker_init)
        w->state = srv->cfg.worker_init(srv->cfg.app, w->index);
    while ((c = server__next_job(srv)) != NULL) {
        server__handle(w, c, 0);
        server__release(NULL, c);
    }
    if (srv->cfg.worker_fini)
        srv->cfg.worker_fini(srv->cfg.app, w->state);
    return NULL;
}

/* ---- the poller -------------------------------------------------------- */

static void server__on_request(rpc__worker *w, rpc__call *c, int ok)
{
    const rpc_method *m = &w->srv->cfg.methods[c->method];

    if (!ok) { /* the server is shutting down: nothing was delivered */
        server__call_put(w, c);
        return;
    }
    server__arm(w, c->method);
    if (!m->stream)
        server__recv_close(c);
    if ((m->flags & RPC_TRY_INLINE) && m->unary && !server__handle(w, c, 1)) {
        server__release(w, c);
        return;
    }
    server__enqueue(w, c);
}

static void server__on_generic(rpc__worker *w, rpc__call *c, int ok)
{
    char msg[256];
    size_t n;

    if (!ok) {
        server__call_put(w, c);
        return;
    }
    server__arm_generic(w);
    server__recv_close(c);
    n = GRPC_SLICE_LENGTH(c->details.method);
    snprintf(msg, sizeof msg, "unknown method %.*s", (int)(n > 200 ? 200 : n),
             (const char *)GRPC_SLICE_START_PTR(c->details.method));
    server__reply(c, NULL, CS_ERR_UNIMPLEMENTED, msg);
    server__release(w, c);
}

static void *server__poller_main(void *arg)
{
    rpc__worker *w = arg;
    rpc_server *srv = w->srv;

    w->rng = rpc_meta_seed();
    for (size_t i = 0; i < srv->cfg.n_methods; i++)
        for (int k = 0; k < RPC__ARMED; k++)
            server__arm(w, i);
    server__arm_generic(w);

    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        rpc__tag *t = ev.tag;
        switch (t->kind) {
        case RPC__TAG_REQUEST:
            server__on_request(w, RPC__OWNER(t, rpc__call, req), ev.success);
            break;
        case RPC__TAG_GENERIC:
            server__on_generic(w, RPC__OWNER(t, rpc__call, req), ev.success);
            break;
        case RPC__TAG_CALL_CLOSE:
            server__release(w, RPC__OWNER(t, rpc__call, close));
            break;
        case RPC__TAG_CALL_SEND:
            server__release(w, RPC__OWNER(t, rpc__call, send));
            break;
        case RPC__TAG_STREAM_CLOSE:
            rpc__stream_on_close(RPC__OWNER(t, rpc_stream, close_tag), ev.success);
            break;
        case RPC__TAG_STREAM_SEND:
            rpc__stream_on_send(RPC__OWNER(t, rpc_stream, send_tag), ev.success);
            break;
        case RPC__TAG_STREAM_STATUS:
            rpc__stream_on_status(RPC__OWNER(t, rpc_stream, status_tag), ev.success);
            break;
        case RPC__TAG_SHUTDOWN:
            pthread_mutex_lock(&srv->mu);
            srv->shutdown_done = 1;
            pthread_cond_broadcast(&srv->cv);
            pthread_mutex_unlock(&srv->mu);
            break;
        }
    }
    server__free_list(w);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static void server__free(rpc_server *srv)
{
    if (srv->cq)
        grpc_completion_queue_destroy(srv->cq);
    free(srv->workers);
    free(srv->handles);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->jobs_mu);
    pthread_cond_destroy(&srv->jobs_cv);
    free(srv);
    grpc_shutdown();
}

rpc_server *rpc_server_start(const rpc_server_config *cfg)
{
    rpc_server *srv = NULL;
    grpc_server_credentials *creds = NULL;
    grpc_arg arg;
    grpc_channel_args args;
    int rc;

    srv = calloc(1, sizeof *srv);
    if (!srv)
        goto fail;
    grpc_init();
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_mutex_init(&srv->jobs_mu, NULL);
    pthread_cond_init(&srv->jobs_cv, NULL);
    srv->cfg = *cfg;
    if (srv->cfg.workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        srv->cfg.workers = (int)(n > 0 ? 2 * n : 4);
    }
    if (srv->cfg.stream_max_queued == 0)
        srv->cfg.stream_max_queued = 1024;
    if (srv->cfg.shutdown_grace_ms <= 0)
        srv->cfg.shutdown_grace_ms = 5000;
    srv->shutdown_tag.kind = RPC__TAG_SHUTDOWN;
    srv->poller.srv = srv;
    srv->poller.index = -1;
    srv->n_workers = srv->cfg.workers;
    srv->workers = calloc((size_t)srv->n_workers, sizeof *srv->workers);
    srv->handles = calloc(cfg->n_methods ? cfg->n_methods : 1, sizeof *srv->handles);
    if (!srv->workers || !srv->handles)
        goto fail;

    /* SO_REUSEPORT is on by default: a second server on a busy port would
     * silently share it. Fail loudly instead. */
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    arg.value.integer = 0;
    args.num_args = 1;
    args.args = &arg;
    srv->server = grpc_server_create(&args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    for (int i = 0; i < srv->n_workers; i++) {
        srv->workers[i].srv = srv;
        srv->workers[i].index = i;
    }
    for (size_t i = 0; i < cfg->n_methods; i++) {
        srv->handles[i] = grpc_server_register_method(srv->server, cfg->methods[i].path, NULL,
                                                      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (!srv->handles[i]) {
            log_error("rpc: cannot register method %s (duplicate?)", cfg->methods[i].path);
            goto fail;
        }
    }
    creds = grpc_insecure_server_credentials_create();
    srv->port = grpc_server_add_http2_port(srv->server, cfg->addr, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        log_error("rpc: cannot listen on %s (address in use or invalid)", cfg->addr);
        goto fail;
    }
    for (int i = 0; i < srv->n_workers; i++) {
        rc = pthread_create(&srv->workers[i].thread, NULL, server__worker_main, &srv->workers[i]);
        if (rc != 0) {
            log_error("rpc: cannot start worker thread: %s", strerror(rc));
            goto fail;
        }
        srv->n_threads = i + 1;
    }
    grpc_server_start(srv->server);
    rc = pthread_create(&srv->poller.thread, NULL, server__poller_main, &srv->poller);
    if (rc != 0) {
        log_error("rpc: cannot start the poller thread: %s", strerror(rc));
        goto fail;
    }
    log_info("rpc: serving on %s (port %d), a poller and %d workers, %zu methods", cfg->addr,
             srv->port, srv->n_workers, cfg->n_methods);
    return srv;

fail:
    if (!srv)
        return NULL;
    server__stop_workers(srv); /* no call has reached them: nothing armed yet */
    if (srv->server) {
        grpc_completion_queue *cq = srv->cq;
        grpc_server_shutdown_and_notify(srv->server, cq, &srv->shutdown_tag);
        for (;;) {
            grpc_event ev =
                grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            if (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag)
                break;
        }
        grpc_server_destroy(srv->server);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
    }
    server__free(srv);
    return NULL;
}

int rpc_server_port(const rpc_server *srv)
{
    return srv->port;
}

void rpc_server_request_stop(rpc_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    srv->stopping = 1;
    pthread_cond_broadcast(&srv->cv);
    rpc__stream_abort_locked_list(srv);
    pthread_mutex_unlock(&srv->mu);
    log_info("rpc: shutting down");
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
}

void rpc_server_wait_and_free(rpc_server *srv)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += srv->cfg.shutdown_grace_ms / 1000;
    until.tv_nsec += (long)(srv->cfg.shutdown_grace_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) /* someone else will call rpc_server_request_stop */
        pthread_cond_wait(&srv->cv, &srv->mu);
    while (!srv->shutdown_done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&srv->cv, &srv->mu, &until);
    pthread_mutex_unlock(&srv->mu);
    if (rc == ETIMEDOUT) {
        log_warn("rpc: calls still running after %d ms, cancelling them",
                 srv->cfg.shutdown_grace_ms);
        grpc_server_cancel_all_calls(srv->server);
    }
    pthread_mutex_lock(&srv->mu);
    while (!srv->shutdown_done)
        pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);

    server__stop_workers(srv);
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    pthread_join(srv->poller.thread, NULL);
    log_info("rpc: stopped");
    server__free(srv);
}
