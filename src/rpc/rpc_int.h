/*
 * rpc internals shared by server.c and stream.c. Not part of the contract.
 *
 * Every operation outstanding on a completion queue carries its own typed
 * tag (an rpc__tag embedded in the struct it belongs to); the poller's loop
 * switches on the tag's kind and finds the owner with RPC__OWNER. Only the
 * poller takes completions; a call handed to a worker is written by that
 * worker until its reply batch starts, while the poller may see its
 * RECV_CLOSE complete meanwhile: so a unary call's struct counts its holders
 * atomically (`pending`) and whoever drops the last one recycles it. Streams
 * are also touched by producer threads and have a mutex.
 */
#ifndef CS_RPC_INT_H
#define CS_RPC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "rpc.h"

typedef enum rpc__tag_kind {
    RPC__TAG_REQUEST,       /* an armed request for a registered method */
    RPC__TAG_GENERIC,       /* the armed catch-all request (unknown methods) */
    RPC__TAG_CALL_CLOSE,    /* RECV_CLOSE_ON_SERVER of a unary call */
    RPC__TAG_CALL_SEND,     /* metadata + message + status of a unary call */
    RPC__TAG_STREAM_CLOSE,  /* RECV_CLOSE_ON_SERVER of a stream */
    RPC__TAG_STREAM_SEND,   /* initial metadata or one message of a stream */
    RPC__TAG_STREAM_STATUS, /* the final status of a stream */
    RPC__TAG_SHUTDOWN,      /* grpc_server_shutdown_and_notify */
} rpc__tag_kind;

typedef struct rpc__tag {
    rpc__tag_kind kind;
} rpc__tag;

#define RPC__OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

typedef struct rpc__worker rpc__worker;

/* An armed request, then the unary call it became. Recycled per worker. */
typedef struct rpc__call {
    rpc__tag req;   /* RPC__TAG_REQUEST or RPC__TAG_GENERIC */
    rpc__tag close; /* RPC__TAG_CALL_CLOSE */
    rpc__tag send;  /* RPC__TAG_CALL_SEND */
    size_t method;  /* index in the method table (registered requests) */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* generic requests only */
    grpc_byte_buffer *resp;
    int cancelled;
    atomic_int pending; /* holders: the handler until it returns, each batch until it completes */
    struct rpc__call *next_free; /* in the poller's free list */
    struct rpc__call *next_job;  /* in the workers' job queue */
} rpc__call;

struct rpc__worker {
    rpc_server *srv;
    int index;
    pthread_t thread;
    void *state; /* worker_init's result */
    uint64_t rng;
    rpc__call *free_calls; /* the poller only: workers free what they release last */
    size_t n_free;
};

struct rpc_server {
    rpc_server_config cfg;
    grpc_server *server;
    void **handles;            /* grpc_server_register_method results, by method index */
    grpc_completion_queue *cq; /* the poller's */
    rpc__worker poller;        /* its thread, rng and free list; no state */
    rpc__worker *workers;
    int n_workers;           /* worker threads to start */
    int n_threads;           /* worker threads started */
    pthread_mutex_t jobs_mu; /* guards the job queue and jobs_stop */
    pthread_cond_t jobs_cv;
    rpc__call *jobs_head, *jobs_tail; /* calls for the workers, in arrival order */
    int jobs_stop;                    /* workers exit once the queue is empty */
    int port;
    rpc__tag shutdown_tag;
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    int stopping;
    int shutdown_done;
    rpc_stream *streams; /* open streams, to end them on shutdown */
};

struct rpc_stream {
    rpc__tag close_tag;
    rpc__tag send_tag;
    rpc__tag status_tag;
    rpc_server *srv;
    atomic_int refs;      /* producers' references + 1 held by the server until released */
    pthread_mutex_t mu;   /* guards everything below */
    grpc_call *call;      /* NULL once released */
    grpc_byte_buffer **q; /* ring of packed messages waiting to be sent */
    size_t q_head, q_len, q_cap, max_queued;
    grpc_byte_buffer *inflight;
    int sending;      /* a SEND_INITIAL_METADATA or SEND_MESSAGE is outstanding */
    int headers_held; /* the handler has not returned yet: nothing is sent */
    int finishing;    /* rpc_stream_finish called: status after the queue */
    int status_started;
    int broken;    /* aborted, a send failed, or closed: send no more */
    int closed;    /* RECV_CLOSE_ON_SERVER completed */
    int cancelled; /* its out-argument */
    int ops;       /* operations outstanding on the call */
    int fin_err;
    char *fin_msg;
    void (*on_close)(void *arg);
    void *on_close_arg;
    int on_close_done;
    char request_id[64];
    rpc_stream *prev, *next; /* in srv->streams */
};

/* stream.c, called by server.c: _new and _opened on the worker running the
 * stream's handler, the _on_* completions on the poller. */
/* Takes over call (the caller's reference), starts RECV_CLOSE and the
 * initial metadata; returns NULL if out of memory (call is then cancelled
 * and unreffed). The returned stream holds the server's reference. */
rpc_stream *rpc__stream_new(rpc_server *srv, grpc_call *call, const char *request_id);
/* The handler has returned: sends the headers, then whatever was queued. */
void rpc__stream_opened(rpc_stream *s);
void rpc__stream_on_send(rpc_stream *s, int ok);
void rpc__stream_on_status(rpc_stream *s, int ok);
void rpc__stream_on_close(rpc_stream *s, int ok);
/* Ends every open stream with UNAVAILABLE; srv->mu is held by the caller. */
void rpc__stream_abort_locked_list(rpc_server *srv);

/* server.c helpers used by stream.c */
grpc_slice rpc__status_slice(cs_err e, const char *msg);

#endif
