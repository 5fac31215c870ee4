/*
 * libFuzzer target for the Engine.IO / Socket.IO decoders and the session
 * layer's parsing paths.
 *
 * The first byte picks the path: a polling payload (each packet then fed to
 * the Socket.IO decoder, with a re-encode round trip on success), a single
 * Socket.IO packet, or a WebSocket frame sequence driven through a real
 * sio_server with the conformance handlers and a null transport (frames
 * split on '\n'; a leading '!' makes a frame binary).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio_packet.h"
#include "sio.h"
#include "sio_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz__check_sio(const char *s, size_t n)
{
    sio_packet p, q;
    eio_sb b = {0};

    if (sio_packet_decode(s, n, &p) != CS_OK)
        return;
    if (sio_packet_encode(&b, p.type, p.nsp, p.attachments, p.ack_id, p.data) != CS_OK)
        abort();
    if (sio_packet_decode(b.p, b.len, &q) != CS_OK)
        abort(); /* what we encode, we must accept */
    if (q.type != p.type || q.ack_id != p.ack_id || strcmp(q.nsp, p.nsp) != 0 ||
        q.attachments != p.attachments || (p.data && !json_equal(p.data, q.data)))
        abort();
    sio_packet_clear(&p);
    sio_packet_clear(&q);
    eio_sb_free(&b);
}

static void fz__respond(void *ctx, eio_conn *c, const eio_http_response *r)
{
    (void)ctx;
    (void)c;
    (void)r;
}

static void fz__want(void *ctx, eio_conn *c)
{
    *(int *)ctx = 1;
}

static int fz__write(void *ctx, eio_conn *c, unsigned char *p, size_t len, int binary)
{
    memset(p - 16, 0, 16);
    return 0;
}

static void fz__close(void *ctx, eio_conn *c)
{
    (void)ctx;
    (void)c;
}

static void fz__session(const char *s, size_t n)
{
    int want = 0;
    eio_config cfg = {0};
    sio_server *srv;
    eio_server *eio;
    eio_conn w = {0};
    const char *p = s, *end = s + n;

    cfg.ws_headroom = 16;
    cfg.max_payload = 4096;
    cfg.transport.http_respond = fz__respond;
    cfg.transport.ws_want_write = fz__want;
    cfg.transport.ws_write = fz__write;
    cfg.transport.ws_close = fz__close;
    cfg.transport_ctx = &want;
    srv = sio_server_new(&cfg, NULL);
    if (!srv)
        return;
    eio = sio_server_eio(srv);
    sio_conformance_install(srv);
    if (eio_ws_open(eio, &w, "EIO=4&transport=websocket", NULL, NULL) != 0)
        goto out;
    while (p < end && w.session) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int bin = l > 0 && p[0] == '!';
        eio_ws_message(eio, &w, p + bin, l - (size_t)bin, bin);
        for (int i = 0; i < 64 && want && w.session; i++) {
            want = 0;
            eio_ws_writable(eio, &w);
        }
        p = nl ? nl + 1 : end;
    }
    if (w.session)
        eio_conn_closed(eio, &w);
out:
    sio_server_free(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;
    size_t n = size ? size - 1 : 0;
    eio_payload_iter it;
    eio_packet pk;

    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        eio_payload_iter_init(&it, s, n);
        while (eio_payload_next(&it, &pk) == CS_OK) {
            if (pk.type == EIO_MESSAGE && !pk.binary)
                fz__check_sio(pk.data, pk.len);
            eio_packet_release(&pk);
        }
        break;
    case 1:
        fz__check_sio(s, n);
        break;
    default:
        fz__session(s, n);
        break;
    }
    return 0;
}
