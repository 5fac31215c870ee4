/*
 * sio_conformance: the behaviour independent Socket.IO / Engine.IO test
 * suites expect of a server under test (callgw's conformance mode):
 * namespaces "/" and "/custom", no authentication; on connect emit "auth"
 * with the auth payload; "message" is echoed as "message-back" with the same
 * arguments (binary included); "message-with-ack" is acknowledged with the
 * same arguments. The Engine.IO handler echoes every message, text or binary.
 */
#include "sio.h"

#include <string.h>

static void conf__on_connect(void *app, sio_socket *s, json_t *auth)
{
    (void)app;
    if (sio_socket_accept(s) != CS_OK)
        return;
    sio_socket_emit(s, "auth", json_pack("[O]", auth), NULL, 0);
}

/* The arguments after the event name, as a fresh array. */
static json_t *conf__args(const json_t *data)
{
    json_t *a = json_array();
    for (size_t i = 1; a && i < json_array_size(data); i++)
        json_array_append(a, json_array_get(data, i));
    return a;
}

static void conf__on_event(void *app, sio_socket *s, const char *name, json_t *data,
                           long long ack_id, const sio_bin *bins, unsigned nbins)
{
    (void)app;
    if (strcmp(name, "message") == 0)
        sio_socket_emit(s, "message-back", conf__args(data), bins, nbins);
    else if (strcmp(name, "message-with-ack") == 0 && ack_id >= 0)
        sio_socket_ack(s, ack_id, conf__args(data), bins, nbins);
}

cs_err sio_conformance_install(sio_server *srv)
{
    static const sio_nsp_handler h = {conf__on_connect, conf__on_event, NULL};
    cs_err err = CS_ERR_INTERNAL;

    if (!sio_server_namespace(srv, "/", &h, NULL) ||
        !sio_server_namespace(srv, "/custom", &h, NULL))
        goto out;
    err = CS_OK;
out:
    return err;
}

static void echo__on_message(void *app, eio_session *s, const char *data, size_t len, int binary)
{
    (void)app;
    eio_session_send(s, data, len, binary);
}

const eio_handler *sio_conformance_echo_handler(void)
{
    static const eio_handler h = {NULL, echo__on_message, NULL};
    return &h;
}
