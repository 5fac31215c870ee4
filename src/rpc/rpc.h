/*
 * rpc: the project's one wrapper over gRPC's C core (grpc 1.51), server side.
 *
 * Handlers are plain functions over protobuf-c messages:
 *
 *     cs_err fn(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
 *
 * The server owns the request (unpacked before the call, freed after it).
 * A unary handler that returns CS_OK must set *resp to a message that is
 * allocated entirely on the heap with malloc (the message, its strings, its
 * sub-messages and repeated arrays), because the server frees it with
 * protobuf_c_message_free_unpacked(*resp, NULL) after packing it. On an
 * error it returns the cs_err and leaves *resp NULL; rpc_fail() sets the
 * message that goes out with the status.
 *
 * Threads: one poller thread drives gRPC (it alone waits on the completion
 * queue: reads requests, re-arms them, sees sends complete), and a pool of
 * workers runs the handlers, each worker with its own state (worker_init's
 * result, e.g. a database connection, seen by handlers as ctx->worker). A
 * handler on a worker may block (libpq).
 *
 * Inline first: a method marked RPC_TRY_INLINE has its handler run on the
 * poller first, with ctx->worker NULL, so that an answer from memory (a
 * cache hit) costs no hand-off between threads. Such a handler calls
 * rpc_defer() before the first thing that could block; on the poller that
 * returns true, the handler returns at once having changed nothing, and the
 * server runs it again from the start on a worker, where rpc_defer()
 * returns false.
 *
 * Streams: a stream handler runs on a worker thread once the request has
 * arrived. It either returns an error (the stream ends at once with that
 * status) or returns CS_OK having taken a reference to the rpc_stream, which
 * it hands to whoever produces the messages (the event hub). From any
 * thread, rpc_stream_send() queues one message (packed at once, the caller
 * keeps ownership of msg); the server keeps at most one SEND_MESSAGE in
 * flight per stream. rpc_stream_finish() ends the stream with a status after
 * the queued messages are sent. When the client cancels or the server shuts
 * down, on_close runs once (on a server thread); after on_close the producer
 * must not send, and must drop its reference with rpc_stream_unref().
 */
#ifndef CS_RPC_H
#define CS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

typedef struct rpc_ctx {
    const char *method;        /* "/callservice.v1.UserService/Login" */
    const char *request_id;    /* "x-request-id" metadata, or generated; never NULL */
    const char *authorization; /* "authorization" metadata or NULL */
    const char *peer;          /* "ipv4:127.0.0.1:5555" or "" */
    void *worker;              /* what worker_init returned for this thread */
    void *app;                 /* rpc_server_config.app */
    int64_t deadline_ms;       /* absolute, CLOCK_REALTIME milliseconds; 0: none */
    char errmsg[256];          /* message sent with a non-OK status */
    char user_id[40];          /* set by auth when known, for logs */
    int on_poller;             /* running inline on the poller (RPC_TRY_INLINE) */
    int deferred;              /* rpc_defer() said so: run again on a worker */
} rpc_ctx;

/* Sets ctx->errmsg (printf-style) and returns e, so handlers can write
 * `return rpc_fail(ctx, CS_ERR_NOT_FOUND, "user %s not found", id);`. */
cs_err rpc_fail(rpc_ctx *ctx, cs_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For handlers of RPC_TRY_INLINE methods, before anything that may block:
 * true on the poller (the handler must return at once, changing nothing;
 * its result is ignored and it runs again on a worker), false on a worker. */
int rpc_defer(rpc_ctx *ctx);

typedef struct rpc_stream rpc_stream;

typedef cs_err (*rpc_unary_fn)(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
typedef cs_err (*rpc_stream_fn)(rpc_ctx *ctx, const ProtobufCMessage *req, rpc_stream *stream);

/* rpc_method.flags */
enum {
    RPC_TRY_INLINE = 1u << 0, /* unary: run on the poller first (see rpc_defer) */
};

/* One row of the method table. Exactly one of unary / stream is set; a row
 * with neither answers UNIMPLEMENTED. */
typedef struct rpc_method {
    const char *path; /* "/package.Service/Method" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    rpc_unary_fn unary;
    rpc_stream_fn stream;
    unsigned flags; /* RPC_TRY_INLINE */
} rpc_method;

/* Streams. All thread-safe. */
void rpc_stream_ref(rpc_stream *s);
void rpc_stream_unref(rpc_stream *s);
/* Queues msg (packed now; caller keeps msg). Returns 0, or -1 if the stream
 * is closed or its queue holds max_queued messages already. */
int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *msg);
/* Messages queued and not yet sent. */
size_t rpc_stream_queued(const rpc_stream *s);
/* Ends the stream after the queued messages with status e and message msg
 * (msg may be NULL: the status name is sent). Later calls are ignored. */
void rpc_stream_finish(rpc_stream *s, cs_err e, const char *msg);
/* Ends the stream now: queued messages are dropped and the client gets
 * status e with msg at once, even if it is not reading (a slow subscriber
 * dropped with CS_ERR_RESOURCE). on_close follows on a server thread. */
void rpc_stream_abort(rpc_stream *s, cs_err e, const char *msg);
/* on_close(arg) runs once when the stream ends for any reason. Set it in the
 * stream handler before returning. */
void rpc_stream_on_close(rpc_stream *s, void (*on_close)(void *arg), void *arg);
/* The authenticated user id / request id of the stream (for logs); may be "". */
const char *rpc_stream_request_id(const rpc_stream *s);

typedef struct rpc_server_config {
    const char *addr;         /* "127.0.0.1:50051" */
    int workers;              /* worker threads (besides the poller); <= 0: 2 x cores */
    size_t stream_max_queued; /* per-stream queue bound for rpc_stream_send; 0: 1024 */
    const rpc_method *methods;
    size_t n_methods;
    void *app;
    /* Per-worker state: called on each worker thread before serving; may
     * return NULL. worker_fini is called on the same thread at the end.
     * The poller has none (ctx->worker is NULL there). */
    void *(*worker_init)(void *app, int worker_index);
    void (*worker_fini)(void *app, void *worker);
    /* How long rpc_server_wait_and_free lets in-flight unary calls finish
     * before cancelling them; 0: 5000 ms. */
    int shutdown_grace_ms;
} rpc_server_config;

typedef struct rpc_server rpc_server;

/* Binds and starts serving on the workers. NULL on failure (logged), e.g.
 * the address is in use. */
rpc_server *rpc_server_start(const rpc_server_config *cfg);
/* The TCP port bound (useful with "127.0.0.1:0"). */
int rpc_server_port(const rpc_server *srv);
/* Asks the server to stop (safe from a signal-watching thread, not from a
 * signal handler). */
void rpc_server_request_stop(rpc_server *srv);
/* Blocks until stopped: in-flight unary calls finish, streams are ended
 * with UNAVAILABLE "server shutting down", workers joined. Frees srv. */
void rpc_server_wait_and_free(rpc_server *srv);

#endif
