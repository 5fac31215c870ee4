/*
 * rpcc: gRPC C-core client wrapper (see client.h for the contract).
 *
 * Every operation in flight carries a tag whose first member says what kind
 * of operation it is; the one completion-queue thread dispatches on it. Live
 * calls are kept on a locked list only so that rpcc_client_free() can cancel
 * them; the count of calls in flight lets it wait for their completions
 * before the queue is shut down (grpc requires every tag to be drained).
 */
#include "rpc/client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/log.h"

enum rpcc__kind { RPCC_UNARY = 1, RPCC_STREAM_START, RPCC_STREAM_RECV, RPCC_STREAM_STATUS };

/* Linked into the client's live list while the call is in flight. */
typedef struct rpcc__live {
    struct rpcc__live *prev, *next;
    grpc_call *call;
} rpcc__live;

struct rpcc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    pthread_t thread;
    pthread_mutex_t lock; /* guards live, closing */
    pthread_cond_t idle;  /* signalled when in_flight drops to 0 */
    rpcc__live live;      /* list head */
    int closing;
    atomic_long in_flight;
};

/* Metadata is kept with the call until the batch completes. */
typedef struct rpcc__md {
    grpc_metadata md[2];
    size_t n;
} rpcc__md;

typedef struct rpcc__unary {
    int kind; /* RPCC_UNARY: must stay first, it is the tag */
    rpcc__live live;
    rpcc_client *c;
    rpcc__md md;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    rpcc_unary_cb cb;
    void *arg;
} rpcc__unary;

typedef struct rpcc__tag {
    int kind;
    rpcc_stream *s;
} rpcc__tag;

struct rpcc_stream {
    rpcc__tag t_start, t_recv, t_status;
    rpcc__live live;
    rpcc_client *c;
    atomic_int refs; /* the caller's handle + one per batch in flight */
    rpcc__md md;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int status_done, recv_done, done_called; /* completion-queue thread only */
    rpcc_stream_msg_cb on_msg;
    rpcc_stream_done_cb on_done;
    void *arg;
};

static gpr_timespec rpcc__deadline(int timeout_ms)
{
    if (timeout_ms <= 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static void rpcc__md_init(rpcc__md *m, const rpcc_md *md)
{
    m->n = 0;
    if (md && md->authorization && *md->authorization) {
        m->md[m->n].key = grpc_slice_from_static_string("authorization");
        m->md[m->n].value = grpc_slice_from_copied_string(md->authorization);
        m->n++;
    }
    if (md && md->request_id && *md->request_id) {
        m->md[m->n].key = grpc_slice_from_static_string("x-request-id");
        m->md[m->n].value = grpc_slice_from_copied_string(md->request_id);
        m->n++;
    }
}

static void rpcc__md_free(rpcc__md *m)
{
    for (size_t i = 0; i < m->n; i++) {
        grpc_slice_unref(m->md[i].key);
        grpc_slice_unref(m->md[i].value);
    }
    m->n = 0;
}

static grpc_byte_buffer *rpcc__buffer(const uint8_t *bytes, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)bytes, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Flattens a received buffer into a slice the caller unrefs. An answer
 * that arrived in one uncompressed slice is referenced, not copied. */
static grpc_slice rpcc__flatten(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_slice s = grpc_empty_slice();
    if (bb && bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1)
        return grpc_slice_ref(bb->data.raw.slice_buffer.slices[0]);
    if (bb && grpc_byte_buffer_reader_init(&r, bb)) {
        s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    return s;
}

/* Registers a call as live; returns -1 if the client is closing. */
static int rpcc__live_add(rpcc_client *c, rpcc__live *l, grpc_call *call)
{
    int rc = -1;
    pthread_mutex_lock(&c->lock);
    if (c->closing)
        goto out;
    l->call = call;
    l->next = c->live.next;
    l->prev = &c->live;
    c->live.next->prev = l;
    c->live.next = l;
    atomic_fetch_add(&c->in_flight, 1);
    rc = 0;
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static void rpcc__live_remove(rpcc_client *c, rpcc__live *l)
{
    pthread_mutex_lock(&c->lock);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
    if (atomic_fetch_sub(&c->in_flight, 1) == 1)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
}

static grpc_call *rpcc__create_call(rpcc_client *c, grpc_completion_queue *cq, const char *method,
                                    int timeout_ms)
{
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m,
                                               NULL, rpcc__deadline(timeout_ms), NULL);
    grpc_slice_unref(m);
    return call;
}

/* ---- unary ------------------------------------------------------------- */

static void rpcc__unary_free(rpcc__unary *u)
{
    if (u->live.call)
        grpc_call_unref(u->live.call);
    rpcc__md_free(&u->md);
    if (u->send)
        grpc_byte_buffer_destroy(u->send);
    if (u->recv)
        grpc_byte_buffer_destroy(u->recv);
    grpc_metadata_array_destroy(&u->initial_md);
    grpc_metadata_array_destroy(&u->trailing_md);
    grpc_slice_unref(u->details);
    free(u);
}

/* Fills the six ops of a unary call; returns their count. */
static size_t rpcc__unary_ops(rpcc__unary *u, grpc_op *ops)
{
    memset(ops, 0, 6 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = u->md.n;
    ops[0].data.send_initial_metadata.metadata = u->md.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = u->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &u->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &u->trailing_md;
    ops[5].data.recv_status_on_client.status = &u->status;
    ops[5].data.recv_status_on_client.status_details = &u->details;
    return 6;
}

static rpcc__unary *rpcc__unary_new(rpcc_client *c, const uint8_t *req, size_t req_len,
                                    const rpcc_md *md)
{
    rpcc__unary *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->kind = RPCC_UNARY;
    u->c = c;
    u->live.prev = u->live.next = &u->live;
    u->details = grpc_empty_slice();
    grpc_metadata_array_init(&u->initial_md);
    grpc_metadata_array_init(&u->trailing_md);
    rpcc__md_init(&u->md, md);
    u->send = rpcc__buffer(req, req_len);
    return u;
}

/* Runs the callback with the call's outcome. */
static void rpcc__unary_report(rpcc__unary *u, int success)
{
    rpcc_result res = {0};
    char *details = NULL;
    grpc_slice body = grpc_empty_slice();
    res.status = u->status;
    if (!success) {
        res.status = GRPC_STATUS_INTERNAL;
        res.message = "call batch failed";
    } else {
        details = grpc_slice_to_c_string(u->details);
        res.message = details;
        if (res.status == GRPC_STATUS_OK) {
            if (!u->recv) {
                res.status = GRPC_STATUS_INTERNAL;
                res.message = "no response message";
            } else {
                body = rpcc__flatten(u->recv);
                res.resp = GRPC_SLICE_START_PTR(body);
                res.resp_len = GRPC_SLICE_LENGTH(body);
            }
        }
    }
    u->cb(u->arg, &res);
    grpc_slice_unref(body);
    gpr_free(details);
}

void rpcc_unary(rpcc_client *c, const char *method, const uint8_t *req, size_t req_len,
                const rpcc_md *md, int timeout_ms, rpcc_unary_cb cb, void *arg)
{
    grpc_op ops[6];
    rpcc_result fail = {GRPC_STATUS_INTERNAL, "out of memory", NULL, 0};
    rpcc__unary *u = rpcc__unary_new(c, req, req_len, md);
    grpc_call *call = NULL;
    if (!u)
        goto fail;
    u->cb = cb;
    u->arg = arg;
    call = rpcc__create_call(c, c->cq, method, timeout_ms);
    if (!call) {
        fail.message = "cannot create call";
        goto fail;
    }
    if (rpcc__live_add(c, &u->live, call) != 0) {
        grpc_call_unref(call);
        fail.status = GRPC_STATUS_UNAVAILABLE;
        fail.message = "client shutting down";
        goto fail;
    }
    if (grpc_call_start_batch(call, ops, rpcc__unary_ops(u, ops), u, NULL) != GRPC_CALL_OK) {
        rpcc__live_remove(c, &u->live);
        fail.message = "cannot start call";
        goto fail; /* u->live.call is unreffed by rpcc__unary_free */
    }
    return;
fail:
    cb(arg, &fail);
    if (u)
        rpcc__unary_free(u);
}

void rpcc_unary_msg(rpcc_client *c, const char *method, const ProtobufCMessage *msg,
                    const rpcc_md *md, int timeout_ms, rpcc_unary_cb cb, void *arg)
{
    uint8_t stackbuf[1024];
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf) {
        rpcc_result fail = {GRPC_STATUS_INTERNAL, "out of memory", NULL, 0};
        cb(arg, &fail);
        return;
    }
    protobuf_c_message_pack(msg, buf);
    rpcc_unary(c, method, buf, len, md, timeout_ms, cb, arg);
    if (buf != stackbuf)
        free(buf);
}

typedef struct rpcc__sync {
    const ProtobufCMessageDescriptor *desc;
    ProtobufCMessage *resp;
    int status;
    char *msg;
    size_t msglen;
} rpcc__sync;

static void rpcc__sync_cb(void *arg, const rpcc_result *res)
{
    rpcc__sync *s = arg;
    s->status = res->status;
    if (s->msg && s->msglen)
        snprintf(s->msg, s->msglen, "%s", res->message ? res->message : "");
    if (res->status == GRPC_STATUS_OK && s->desc) {
        s->resp = protobuf_c_message_unpack(s->desc, NULL, res->resp_len, res->resp);
        if (!s->resp) {
            s->status = GRPC_STATUS_INTERNAL;
            if (s->msg && s->msglen)
                snprintf(s->msg, s->msglen, "cannot unpack the response");
        }
    }
}

int rpcc_call_sync(rpcc_client *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                   const rpcc_md *md, int timeout_ms, char *msg, size_t msglen)
{
    rpcc__sync s = {resp_desc, NULL, GRPC_STATUS_INTERNAL, msg, msglen};
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    rpcc__unary *u = NULL;
    grpc_op ops[6];
    grpc_event ev;
    if (msg && msglen)
        msg[0] = '\0';
    if (!buf)
        goto out;
    protobuf_c_message_pack(req, buf);
    u = rpcc__unary_new(c, buf, len, md);
    if (!u)
        goto out;
    u->cb = rpcc__sync_cb;
    u->arg = &s;
    u->live.call = rpcc__create_call(c, cq, method, timeout_ms);
    if (!u->live.call || grpc_call_start_batch(u->live.call, ops, rpcc__unary_ops(u, ops), u,
                                               NULL) != GRPC_CALL_OK) {
        if (msg && msglen)
            snprintf(msg, msglen, "cannot start call");
        goto out;
    }
    ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    rpcc__unary_report(u, ev.type == GRPC_OP_COMPLETE && ev.success);
out:
    if (u)
        rpcc__unary_free(u);
    free(buf);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    if (resp)
        *resp = s.resp;
    else if (s.resp)
        protobuf_c_message_free_unpacked(s.resp, NULL);
    return s.status;
}

/* ---- streams ----------------------------------------------------------- */

static void rpcc__stream_unref(rpcc_stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->live.call)
        grpc_call_unref(s->live.call);
    rpcc__md_free(&s->md);
    if (s->send)
        grpc_byte_buffer_destroy(s->send);
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    free(s);
}

static int rpcc__stream_arm_recv(rpcc_stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    atomic_fetch_add(&s->refs, 1);
    if (grpc_call_start_batch(s->live.call, &op, 1, &s->t_recv, NULL) != GRPC_CALL_OK) {
        atomic_fetch_sub(&s->refs, 1);
        return -1;
    }
    return 0;
}

/* on_done once both the status and the end of the messages are known. */
static void rpcc__stream_maybe_done(rpcc_stream *s)
{
    char *details;
    if (!s->status_done || !s->recv_done || s->done_called)
        return;
    s->done_called = 1;
    details = grpc_slice_to_c_string(s->details);
    s->on_done(s->arg, s->status, details);
    gpr_free(details);
    rpcc__live_remove(s->c, &s->live);
}

static void rpcc__stream_event(rpcc__tag *t, int success)
{
    rpcc_stream *s = t->s;
    switch (t->kind) {
    case RPCC_STREAM_START:
        break; /* failures show up in the status */
    case RPCC_STREAM_RECV:
        if (success && s->recv) {
            grpc_slice body = rpcc__flatten(s->recv);
            grpc_byte_buffer_destroy(s->recv);
            s->recv = NULL;
            s->on_msg(s->arg, GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body));
            grpc_slice_unref(body);
            if (rpcc__stream_arm_recv(s) == 0)
                break;
        }
        s->recv_done = 1;
        rpcc__stream_maybe_done(s);
        break;
    case RPCC_STREAM_STATUS:
        s->status_done = 1;
        if (!success)
            s->status = GRPC_STATUS_INTERNAL;
        rpcc__stream_maybe_done(s);
        break;
    default:
        break;
    }
    rpcc__stream_unref(s);
}

rpcc_stream *rpcc_stream_start(rpcc_client *c, const char *method, const ProtobufCMessage *req,
                               const rpcc_md *md, int timeout_ms, rpcc_stream_msg_cb on_msg,
                               rpcc_stream_done_cb on_done, void *arg)
{
    grpc_op ops[4];
    grpc_op st;
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    rpcc_stream *s = calloc(1, sizeof *s);
    rpcc_stream *ret = NULL;
    if (!buf || !s)
        goto out;
    protobuf_c_message_pack(req, buf);
    s->t_start = (rpcc__tag){RPCC_STREAM_START, s};
    s->t_recv = (rpcc__tag){RPCC_STREAM_RECV, s};
    s->t_status = (rpcc__tag){RPCC_STREAM_STATUS, s};
    s->c = c;
    s->live.prev = s->live.next = &s->live;
    s->details = grpc_empty_slice();
    s->on_msg = on_msg;
    s->on_done = on_done;
    s->arg = arg;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    rpcc__md_init(&s->md, md);
    s->send = rpcc__buffer(buf, len);
    atomic_init(&s->refs, 1);
    s->live.call = rpcc__create_call(c, c->cq, method, timeout_ms);
    if (!s->live.call)
        goto out;
    if (rpcc__live_add(c, &s->live, s->live.call) != 0)
        goto out;

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = s->md.n;
    ops[0].data.send_initial_metadata.metadata = s->md.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    memset(&st, 0, sizeof st);
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    st.data.recv_status_on_client.status = &s->status;
    st.data.recv_status_on_client.status_details = &s->details;

    atomic_fetch_add(&s->refs, 1);
    if (grpc_call_start_batch(s->live.call, ops, 4, &s->t_start, NULL) != GRPC_CALL_OK) {
        atomic_fetch_sub(&s->refs, 1);
        rpcc__live_remove(c, &s->live);
        goto out;
    }
    /* From here on the batches complete on the queue thread, which owns the
     * outcome: a refused status batch would leave on_done never called, so
     * cancel the call and let the receive side end it. */
    atomic_fetch_add(&s->refs, 1);
    if (grpc_call_start_batch(s->live.call, &st, 1, &s->t_status, NULL) != GRPC_CALL_OK) {
        atomic_fetch_sub(&s->refs, 1);
        s->status = GRPC_STATUS_INTERNAL;
        s->status_done = 1;
        grpc_call_cancel(s->live.call, NULL);
    }
    if (rpcc__stream_arm_recv(s) != 0) {
        s->recv_done = 1;
        grpc_call_cancel(s->live.call, NULL);
    }
    ret = s;
    s = NULL;
out:
    free(buf);
    if (s)
        rpcc__stream_unref(s);
    return ret;
}

void rpcc_stream_cancel(rpcc_stream *s)
{
    if (s)
        grpc_call_cancel(s->live.call, NULL);
}

void rpcc_stream_release(rpcc_stream *s)
{
    if (!s)
        return;
    grpc_call_cancel(s->live.call, NULL);
    rpcc__stream_unref(s);
}

/* ---- client ------------------------------------------------------------ */

static void *rpcc__thread(void *arg)
{
    rpcc_client *c = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (*(int *)ev.tag == RPCC_UNARY) {
            rpcc__unary *u = ev.tag;
            rpcc__unary_report(u, ev.success);
            rpcc__live_remove(c, &u->live);
            rpcc__unary_free(u);
        } else {
            rpcc__stream_event(ev.tag, ev.success);
        }
    }
    return NULL;
}

rpcc_client *rpcc_client_new(const char *addr)
{
    /* Reconnect fast after callsvc restarts (first retry after 100 ms, at
     * most 1 s apart). Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: in grpc core it
     * is also the minimum *connect timeout* (default 20 s), and 100 ms made
     * connection attempts fail on a loaded machine. */
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 100}},
        {GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 1000}},
        {GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 16 << 20}},
        {GRPC_ARG_INTEGER, (char *)GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
    };
    grpc_channel_args ca = {sizeof args / sizeof *args, args};
    grpc_channel_credentials *cr = NULL;
    rpcc_client *c = calloc(1, sizeof *c);
    rpcc_client *ret = NULL;
    if (!c)
        goto out;
    grpc_init();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle, NULL);
    c->live.prev = c->live.next = &c->live;
    atomic_init(&c->in_flight, 0);
    cr = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(addr, cr, &ca);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    if (!c->channel || !c->cq || pthread_create(&c->thread, NULL, rpcc__thread, c) != 0) {
        log_error("rpcc: cannot create a client for %s", addr);
        if (c->channel)
            grpc_channel_destroy(c->channel);
        if (c->cq) {
            grpc_completion_queue_shutdown(c->cq);
            grpc_completion_queue_destroy(c->cq);
        }
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->idle);
        free(c);
        grpc_shutdown();
        goto out;
    }
    ret = c;
out:
    if (cr)
        grpc_channel_credentials_release(cr);
    return ret;
}

void rpcc_client_free(rpcc_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->closing = 1;
    for (rpcc__live *l = c->live.next; l != &c->live; l = l->next)
        grpc_call_cancel(l->call, NULL);
    while (atomic_load(&c->in_flight) > 0)
        pthread_cond_wait(&c->idle, &c->lock);
    pthread_mutex_unlock(&c->lock);
    grpc_completion_queue_shutdown(c->cq);
    pthread_join(c->thread, NULL);
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->channel);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->idle);
    free(c);
    grpc_shutdown();
}

long rpcc_in_flight(const rpcc_client *c)
{
    return atomic_load(&((rpcc_client *)c)->in_flight);
}
