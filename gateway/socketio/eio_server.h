/*
 * eio_server: the Engine.IO v4 session layer, as a state machine that knows
 * nothing of sockets.
 *
 * The HTTP server feeds it requests and WebSocket messages and gives it an
 * eio_transport to answer through; a fake transport and a fake clock drive
 * it in the unit tests. Everything runs on one thread (the lws service
 * thread in callgw): nothing here locks, and no function may be called from
 * another thread.
 *
 * Per session it keeps a queue of outgoing packets (shared, refcounted
 * buffers, so that a broadcast is encoded once) with a byte cap: a client
 * that does not read is closed, never allowed to grow memory. The queue and
 * its nodes exist only while something is waiting.
 *
 * Ownership: the server owns its sessions; a session pointer is valid from
 * on_open until on_close returns, and no longer. eio_conn structs belong to
 * the caller (embed one in your per-connection data); eio only links them to
 * a session while it holds them and unlinks them before it lets go.
 * See sio.h for the whole seam as the gateway sees it.
 */
#ifndef EIO_SERVER_H
#define EIO_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "eio_packet.h"

typedef struct eio_server eio_server;
typedef struct eio_session eio_session;

/* One HTTP request or WebSocket, as the transport sees it. The caller sets
 * `transport` (e.g. its struct lws *) and zeroes the rest before first use. */
typedef struct eio_conn {
    void *transport;
    eio_session *session; /* set while eio holds this conn; read-only outside */
    unsigned char role;   /* eio-private */
    unsigned char probe_pending;
} eio_conn;

typedef struct eio_header {
    const char *name, *value;
} eio_header;

#define EIO_MAX_HEADERS 8

/* A complete HTTP response. Everything it points to lives until
 * http_respond returns: copy what you keep. */
typedef struct eio_http_response {
    int status;
    const char *content_type;
    eio_header headers[EIO_MAX_HEADERS];
    size_t nheaders;
    const char *body;
    size_t len;
} eio_http_response;

/* What the HTTP server implements. ctx is eio_config.transport_ctx. */
typedef struct eio_transport {
    /* Answer request c, now (from inside eio_http_request) or later (a held
     * long-poll GET). c is unlinked before the call. */
    void (*http_respond)(void *ctx, eio_conn *c, const eio_http_response *r);
    /* WebSocket c has something to send: arrange for eio_ws_writable(c). */
    void (*ws_want_write)(void *ctx, eio_conn *c);
    /* Write one WebSocket message; p has eio_config.ws_headroom writable
     * bytes before it (LWS_PRE for lws_write). Returns 0, or -1 if the
     * connection failed (eio then forgets c and closes the session). */
    int (*ws_write)(void *ctx, eio_conn *c, unsigned char *p, size_t len, int binary);
    /* Close WebSocket c. c is unlinked before the call. */
    void (*ws_close)(void *ctx, eio_conn *c);
} eio_transport;

/* What the application (the Socket.IO layer, or the echo) implements. */
typedef struct eio_handler {
    void (*on_open)(void *app, eio_session *s);
    /* data is only valid during the call. */
    void (*on_message)(void *app, eio_session *s, const char *data, size_t len, int binary);
    /* The session is over; it is freed after this returns. Do not send. */
    void (*on_close)(void *app, eio_session *s, const char *reason);
} eio_handler;

typedef struct eio_config {
    unsigned ping_interval_ms;   /* default 25000 */
    unsigned ping_timeout_ms;    /* default 20000 */
    unsigned upgrade_timeout_ms; /* default 10000 */
    size_t max_payload;          /* default 1000000: largest POST body / WS message */
    size_t max_buffered;         /* default 1 MiB: outgoing bytes queued per session */
    int allow_upgrades;          /* default on (1); -1 to turn off */
    /* CORS for polling: NULL none, "*" reflect any Origin, or a comma-separated
     * list of exact origins. */
    const char *cors_origins;
    int cors_credentials;
    size_t ws_headroom; /* bytes the transport may write before a frame */
    eio_transport transport;
    void *transport_ctx;
    /* Monotonic milliseconds; NULL for CLOCK_MONOTONIC. */
    uint64_t (*now_ms)(void *clock_ctx);
    void *clock_ctx;
} eio_config;

/* The pieces of a request eio needs. query is the raw query string (no
 * '?'); origin and acr_headers (Access-Control-Request-Headers) may be NULL.
 * For POST, body is the whole body, at most max_payload + 1 bytes: a longer
 * body is passed cut at max_payload + 1 so that eio answers 413. */
typedef struct eio_http_req {
    const char *method;
    const char *query;
    const char *origin;
    const char *acr_headers;
    const char *body;
    size_t body_len;
} eio_http_req;

/* cfg is copied (cors_origins too); zero fields take the defaults. Returns
 * NULL when out of memory. Free with eio_server_free: it ends every session
 * (calling on_close) without touching the transport or the eio_conns it
 * held, so destroy the transport first (lws_context_destroy, which closes
 * every connection), then the server. */
eio_server *eio_server_new(const eio_config *cfg, const eio_handler *h, void *app);
void eio_server_free(eio_server *srv);
const eio_config *eio_server_config(const eio_server *srv);
size_t eio_server_session_count(const eio_server *srv);
uint64_t eio_server_now(const eio_server *srv);

/* A polling request (GET, POST or OPTIONS) on the Engine.IO path. The answer
 * comes through http_respond, now or (a held GET) later. */
void eio_http_request(eio_server *srv, eio_conn *c, const eio_http_req *req);

/* A WebSocket upgrade on the Engine.IO path. Returns 0 and takes c (a new
 * session, or a probe to upgrade an existing one), or fills *err with the
 * error response to refuse the upgrade with (the caller copies it). */
int eio_ws_open(eio_server *srv, eio_conn *c, const char *query, const char *origin,
                eio_http_response *err);
/* One complete WebSocket message (fragments already joined, at most
 * max_payload + 1 bytes). */
void eio_ws_message(eio_server *srv, eio_conn *c, const char *data, size_t len, int binary);
/* The transport is ready for one more write on c. */
void eio_ws_writable(eio_server *srv, eio_conn *c);
/* Connection c (a held GET or a WebSocket) is gone. A no-op if eio does not
 * hold c (c->session == NULL): srv is then not even looked at, so a
 * transport may report closes after eio_server_close_all and the free. */
void eio_conn_closed(eio_server *srv, eio_conn *c);
/* Ends every session now (on_close is called for each), answering held GETs
 * and closing WebSockets through the transport: afterwards eio holds no
 * eio_conn. For a shutdown while the transport still exists. */
void eio_server_close_all(eio_server *srv, const char *reason);
/* Batch: sends between begin and end flush polling answers once and defer
 * slow-client closes to the end, so that loops over sessions stay safe.
 * Nests. */
void eio_server_batch_begin(eio_server *srv);
void eio_server_batch_end(eio_server *srv);
/* Timers: pings, ping timeouts, upgrade timeouts. Call every 100-500 ms. */
void eio_server_tick(eio_server *srv);

/* Session API (valid between on_open and on_close). */
const char *eio_session_sid(const eio_session *s);
void eio_session_set_data(eio_session *s, void *data);
void *eio_session_data(const eio_session *s);
int eio_session_is_websocket(const eio_session *s);
size_t eio_session_queued(const eio_session *s);
/* Queues one message (copied). Fails with CS_ERR_RESOURCE if it would
 * exceed max_buffered: the session is then closed ("slow client") when the
 * outermost eio call or batch returns (at once if there is none). */
cs_err eio_session_send(eio_session *s, const char *data, size_t len, int binary);
/* Closes the session: queued packets are still delivered when the transport
 * allows, then the close. on_close is called before this returns. */
void eio_session_close(eio_session *s, const char *reason);

/* A shared, refcounted message for sending one encoding to many sessions. */
typedef struct eio_buf eio_buf;
eio_buf *eio_buf_new(const eio_server *srv, const char *data, size_t len, int binary);
void eio_buf_unref(eio_buf *b);
/* Queues b on s (takes its own reference). Same failure as eio_session_send. */
cs_err eio_session_send_buf(eio_session *s, eio_buf *b);

/* Message text of an error code 0-5 ("Transport unknown", ...). */
const char *eio_error_message(int code);

#endif
