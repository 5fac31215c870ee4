/*
 * server: the libwebsockets side of ari-sim — one port for ARI REST
 * (/ari/...), the ARI events WebSocket (/ari/events) and the control API
 * (/_sim/...); authentication; the faults tests ask for (drop WebSockets,
 * refuse connections, delay or fail REST requests).
 *
 * Single-threaded: everything runs in srv_run's service loop; the model's
 * timers are lws_sul on the same loop.
 *
 * Ownership: srv_req and everything it points to belong to the server and
 * live until the handler returns. srv_emit copies the text it is given.
 */
#ifndef ARI_SIM_SERVER_H
#define ARI_SIM_SERVER_H

#include <jansson.h>
#include <stddef.h>

struct lws_context;
struct srv_req;

typedef struct srv_config {
    const char *host; /* "127.0.0.1" */
    int port;
    const char *users; /* "user:pass[,user:pass...]" */
    int ws_queue_max;  /* events queued per WebSocket before it is dropped */
} srv_config;

/* Creates the lws context; NULL on failure. */
struct lws_context *srv_init(const srv_config *cfg);
/* Serves until srv_interrupt(). */
void srv_run(void);
/* Async-signal-safe. */
void srv_interrupt(void);
void srv_destroy(void);

/* sim_emit_fn: queue an event for every session subscribed to app. */
void srv_emit(const char *app, const char *text, size_t len);

/* Faults. */
void srv_fault_drop_ws(int down_ms);
void srv_fault_refuse(int ms);
void srv_fault_delay(int count, int ms);
void srv_fault_fail(int count, int status);
void srv_fault_clear(void);
json_t *srv_stats(void);

/* Request accessors for handlers: query parameter (then JSON body field)
 * by name, NULL if absent; the parsed JSON body or NULL. */
const char *srv_arg(const void *req, const char *name);
const json_t *srv_body(const struct srv_req *req);

#endif
