/*
 * sio: the Socket.IO v5 server (namespaces, CONNECT with auth, events, acks,
 * rooms) over eio_server, and the whole seam between callgw's HTTP server
 * and this library.
 *
 * THE SEAM (what gateway/http.c does; everything on the lws service thread)
 * -----------------------------------------------------------------------
 * Setup: fill an eio_config (timings, max_payload, CORS, ws_headroom =
 * LWS_PRE, the eio_transport below, now_ms = NULL for the real clock) and a
 * sio_config, create the server with sio_server_new, register namespaces
 * (sio_server_namespace) or call sio_conformance_install. For the raw
 * Engine.IO echo at /engine.io/, create an eio_server with
 * sio_conformance_echo_handler(). Call sio_server_tick (or eio_server_tick
 * for a bare eio_server) every 100-500 ms (an lws_sul timer).
 *
 * Per connection: embed an eio_conn in the per-session data of each HTTP
 * request / WebSocket under the Engine.IO path; zero it and set .transport
 * to the wsi.
 *
 *  - HTTP request under /socket.io/ (GET, POST, OPTIONS): once the body is
 *    complete (for POST, collect at most max_payload + 1 bytes; stop storing
 *    beyond that), call eio_http_request(sio_server_eio(srv), &conn, &req)
 *    with method, raw query string, Origin, Access-Control-Request-Headers,
 *    body. The answer comes back through transport.http_respond(ctx, conn,
 *    resp), either during that call or later: a long-poll GET is held until
 *    there is something to send (keep the wsi open, no HTTP timeout shorter
 *    than ping_interval + ping_timeout). If the wsi closes while eio still
 *    holds it (conn.session != NULL), call eio_conn_closed.
 *  - WebSocket upgrade under /socket.io/: call eio_ws_open(eio, &conn,
 *    query, origin, &err) when the connection is established; non-zero
 *    means refuse (close it; err holds the HTTP answer if you can still
 *    send one). Each complete message (join fragments; cap at
 *    max_payload + 1 bytes): eio_ws_message. On LWS_CALLBACK_SERVER_WRITEABLE:
 *    eio_ws_writable, which calls transport.ws_write at most once (do the
 *    lws_write there: p has LWS_PRE bytes of headroom) and asks for more
 *    with transport.ws_want_write (lws_callback_on_writable). On close:
 *    eio_conn_closed.
 *  - transport.ws_close(ctx, conn): close that WebSocket (mark it and return
 *    -1 from its next WRITEABLE callback).
 *  - Work from other threads (gRPC completions, events) arrives through the
 *    gateway's queue and lws_cancel_service; the gateway then calls the
 *    sio_* functions below on the lws thread. Keep socket ids (strings),
 *    not pointers, across that hop: sio_server_find_socket returns NULL for
 *    a socket that has gone meanwhile.
 *
 * Ownership: the server owns namespaces, sockets and rooms. A sio_socket
 * pointer is valid from on_connect until on_disconnect returns (or until
 * sio_socket_refuse/sio_socket_disconnect returns). json_t arguments marked
 * "stolen" are released by the callee, even on error; "borrowed" ones stay
 * the caller's.
 */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "eio_server.h"
#include "sio_packet.h"

typedef struct sio_server sio_server;
typedef struct sio_nsp sio_nsp;
typedef struct sio_socket sio_socket;

typedef struct sio_bin {
    const void *data;
    size_t len;
} sio_bin;

typedef struct sio_nsp_handler {
    /* A client asks to join the namespace. auth is the CONNECT payload
     * (borrowed; {} when none). Answer with sio_socket_accept or
     * sio_socket_refuse, now or later; meanwhile events are not dispatched. */
    void (*on_connect)(void *app, sio_socket *s, json_t *auth);
    /* An EVENT: data is the array ["name", args...] (borrowed), ack_id -1
     * when the client wants no acknowledgement. A binary event passes its
     * attachments in bins (placeholders stay in data). */
    void (*on_event)(void *app, sio_socket *s, const char *name, json_t *data, long long ack_id,
                     const sio_bin *bins, unsigned nbins);
    /* The socket is gone (client or server disconnect, transport closed,
     * including while on_connect was pending). Not called after refuse. */
    void (*on_disconnect)(void *app, sio_socket *s, const char *reason);
} sio_nsp_handler;

typedef struct sio_config {
    unsigned connect_timeout_ms; /* no CONNECT within this: close. Default 45000 */
} sio_config;

/* ecfg's eio_handler is sio's own; the rest is as in eio_server_new. */
sio_server *sio_server_new(const eio_config *ecfg, const sio_config *scfg);
void sio_server_free(sio_server *srv);
eio_server *sio_server_eio(sio_server *srv);
void sio_server_tick(sio_server *srv);
/* Ends every connection now (on_disconnect for each socket, then the
 * Engine.IO close), through the transport: afterwards the server holds no
 * eio_conn, so the transport may be torn down after sio_server_free. Call at
 * shutdown while the transport still exists. */
void sio_server_close_all(sio_server *srv, const char *reason);
size_t sio_server_socket_count(const sio_server *srv);

/* Registers a namespace ("/", "/custom", ...). Returns NULL when out of
 * memory or already registered. CONNECT to any other gets CONNECT_ERROR
 * {"message":"Invalid namespace"}. */
sio_nsp *sio_server_namespace(sio_server *srv, const char *name, const sio_nsp_handler *h,
                              void *app);
sio_nsp *sio_server_find_namespace(sio_server *srv, const char *name);
/* A connected or pending socket by its Socket.IO sid, or NULL. */
sio_socket *sio_server_find_socket(sio_server *srv, const char *sid);

const char *sio_socket_id(const sio_socket *s);
const char *sio_socket_nsp_name(const sio_socket *s);
sio_nsp *sio_socket_nsp(const sio_socket *s);
void sio_socket_set_data(sio_socket *s, void *data);
void *sio_socket_data(const sio_socket *s);
int sio_socket_is_connected(const sio_socket *s);
/* Engine.IO session id of the socket's connection, and its transport. */
const char *sio_socket_eio_sid(const sio_socket *s);
int sio_socket_is_websocket(const sio_socket *s);

/* Completes a pending CONNECT: sends {"sid":...}. */
cs_err sio_socket_accept(sio_socket *s);
/* Completes a pending CONNECT with CONNECT_ERROR {"message", "data"} and
 * frees the socket. data (stolen) may be NULL. */
cs_err sio_socket_refuse(sio_socket *s, const char *message, json_t *data);
/* Server-side disconnect: sends DISCONNECT, calls on_disconnect, frees. */
void sio_socket_disconnect(sio_socket *s);
/* Closes the socket's whole Engine.IO connection (all its namespaces). */
void sio_socket_close_connection(sio_socket *s, const char *reason);

/* Sends EVENT [name, args...]. args (stolen) is an array of arguments or
 * NULL; with nbins > 0 it must hold placeholders {"_placeholder":true,
 * "num":i} for i < nbins and a BINARY_EVENT is sent. CS_ERR_RESOURCE: the
 * client does not read and has been disconnected. */
cs_err sio_socket_emit(sio_socket *s, const char *name, json_t *args, const sio_bin *bins,
                       unsigned nbins);
/* Sends ACK <ack_id> with args (stolen; an array, NULL for []). */
cs_err sio_socket_ack(sio_socket *s, long long ack_id, json_t *args, const sio_bin *bins,
                      unsigned nbins);

/* Rooms (per namespace). Joining twice is a no-op. */
cs_err sio_socket_join(sio_socket *s, const char *room);
void sio_socket_leave(sio_socket *s, const char *room);
int sio_socket_in_room(const sio_socket *s, const char *room);
/* Emits to every connected socket of the room (room NULL: the whole
 * namespace) except `except` (may be NULL); the packet is encoded once.
 * Returns the number of sockets it was queued for. args is stolen. */
size_t sio_nsp_emit(sio_nsp *nsp, const char *room, const sio_socket *except, const char *name,
                    json_t *args);

/* Conformance mode (sio_conformance.c): namespaces "/" and "/custom" with
 * the behaviour independent Socket.IO test suites expect, and an Engine.IO
 * handler that echoes every message (for /engine.io/). */
cs_err sio_conformance_install(sio_server *srv);
const eio_handler *sio_conformance_echo_handler(void);

#endif
