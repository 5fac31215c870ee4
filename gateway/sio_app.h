/*
 * sio_app: callgw's Socket.IO application: authentication of each CONNECT
 * through callsvc, live events out of EventService.WatchEvents, and the
 * client's requests (join_call, leave_call, update_status, typing) turned
 * into gRPC calls with acknowledgements.
 *
 * It plugs into the HTTP server through gw_sio_app (http.h): install()
 * registers namespace "/" on the sio_server, tick() runs its timers (stream
 * re-opens with backoff), free() lets go of everything. All of it runs on
 * the lws service thread; gRPC completions come back through gw_http_post.
 *
 * Fan-out, in one paragraph: sockets are grouped by user (id and role); each
 * user has ONE WatchEvents stream opened with a token of that user, so
 * callsvc alone decides what the user sees, and each event is encoded once
 * and queued to all of that user's sockets as one shared buffer (the
 * library's room "u:<id>"). A socket that connects with auth.lastSeq behind
 * the user's stream gets its own catch-up stream (after_seq = lastSeq) and
 * joins the shared room at the first moment both have delivered the same
 * last event; see sio_app.c for why that gives no gap and no duplicate.
 *
 * Ownership: install() returns *app, freed by free(); the config passed in
 * gw_sio_app.config is copied at install.
 */
#ifndef GW_SIO_APP_H
#define GW_SIO_APP_H

#include "common/err.h"
#include "http.h"

typedef struct sio_app_config {
    int max_sockets_per_user; /* more CONNECTs get CONNECT_ERROR "too many connections" */
    int rate_per_s;           /* client events a second per socket (token bucket refill) */
    int rate_burst;           /* bucket size; this many refusals in a row: disconnected */
    int max_calls_per_socket; /* call rooms one socket may join */
} sio_app_config;

/* gw_sio_app hooks; env->app_config is a const sio_app_config * (NULL: defaults
 * 10 sockets, 20/s, burst 40, 32 calls). */
cs_err sio_app_install(struct sio_server *srv, const gw_app_env *env, void **app);
void sio_app_tick(void *app);
void sio_app_free(void *app);

#endif
