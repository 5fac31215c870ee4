/*
 * http: callgw's HTTP server on libwebsockets 4.1.
 *
 * One lws service thread does all HTTP and WebSocket work. A REST request is
 * matched against the route table, decoded into its request message and
 * sent to callsvc with rpcc_unary(); the completion arrives on the gRPC
 * client's thread, which only copies the bytes into a locked queue and wakes
 * the loop with lws_cancel_service() (the one thread-safe lws call). The
 * loop drains the queue in LWS_CALLBACK_EVENT_WAIT_CANCELLED, builds the
 * JSON answer and writes it when the socket is writable. No lws call is
 * ever made from another thread.
 *
 * The Socket.IO seam: requests and WebSocket upgrades under /socket.io/ go
 * to the Engine.IO/Socket.IO library (gateway/socketio/sio.h) through its
 * eio_transport, on the service thread; /engine.io/ gets the bare Engine.IO
 * echo used by conformance suites. The Socket.IO application (namespaces,
 * auth over gRPC, event streaming) plugs in through gw_sio_app below; other
 * threads reach the loop through gw_http_post().
 *
 * Ownership: gw_http_new() copies the config strings; the rpcc_client is
 * borrowed and must outlive the server. gw_http_free() after gw_http_run()
 * has returned.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include "common/err.h"
#include "rpc/client.h"

typedef struct gw_http gw_http;

typedef struct gw_http_config {
    const char *addr;         /* "127.0.0.1:8080" */
    const char *cors_origins; /* NULL/"" none, "*" any, or "https://a,https://b" */
    const char *static_dir;   /* NULL: no static files at / */
    int request_timeout_ms;   /* gRPC deadline per request */
    size_t max_body;          /* bytes; larger bodies get 413 */
    size_t max_header;        /* bytes of request headers; more gets 431 */
    int drain_timeout_ms;     /* graceful shutdown: wait at most this for requests in flight */
    int client_timeout_s;     /* a request's headers, then its body, must arrive within this */
    int keepalive_timeout_s;  /* an idle keep-alive connection is closed after this */
    /* Engine.IO / Socket.IO timings and limits; 0 takes the library default. */
    unsigned sio_ping_interval_ms, sio_ping_timeout_ms, sio_connect_timeout_ms;
    size_t sio_max_payload;
} gw_http_config;

/* What a Socket.IO application gets: the loop to post work to, the gRPC
 * client, and the request timeout. Valid until the app's free runs. */
struct sio_server;
typedef struct gw_app_env {
    gw_http *http;
    rpcc_client *rpc;
    int request_timeout_ms;
    const void *app_config; /* gw_sio_app.config */
} gw_app_env;

/* The Socket.IO application hook. install runs once on the service thread
 * after the sio_server is created (register namespaces there); tick (may be
 * NULL) runs with the library's timers, every 200 ms; *app is passed back to
 * free at shutdown (before the sio_server is freed). When no application is
 * given (conformance mode), the conformance namespaces and the raw Engine.IO
 * echo at /engine.io/ are installed instead.
 *
 * Tasks posted with gw_http_post that have not run when the loop stops are
 * run by gw_http_free (after the app's free), so that they can release what
 * they carry: a task must check that its app still exists. */
typedef struct gw_sio_app {
    cs_err (*install)(struct sio_server *srv, const gw_app_env *env, void **app);
    void (*tick)(void *app);
    void (*free)(void *app);
    const void *config; /* passed to install as env->app_config */
} gw_sio_app;

/* Binds the listening socket. NULL on failure (logged). sio_app may be NULL. */
gw_http *gw_http_new(const gw_http_config *cfg, rpcc_client *rpc, const gw_sio_app *sio_app);
/* Serves until gw_http_stop(), then drains the requests in flight (at most
 * drain_timeout_ms) and returns. Call on the thread that will be the
 * service thread. */
int gw_http_run(gw_http *h);
/* Thread-safe, async-signal-unsafe: asks gw_http_run to finish. */
void gw_http_stop(gw_http *h);
void gw_http_free(gw_http *h);

/* Runs fn(arg) on the service thread soon. Thread-safe. Returns 0, or -1
 * when out of memory or stopped (fn is then not called; the caller still
 * owns arg). */
int gw_http_post(gw_http *h, void (*fn)(void *arg), void *arg);

#endif
