/*
 * eio_packet: Engine.IO v4 packets, pure encoding and decoding.
 *
 * A packet is a type digit (0 open .. 6 noop) followed by its data. Over
 * WebSocket each frame is one packet; a binary frame is a binary message
 * with no type prefix. Over long-polling a body is a payload: packets joined
 * by the record separator 0x1e, a binary message written as "b<base64>".
 * Nothing here allocates except the base64 decoding of a binary polling
 * packet (eio_packet.owned) and the growable buffer eio_sb.
 */
#ifndef EIO_PACKET_H
#define EIO_PACKET_H

#include <stddef.h>

#include "common/err.h"

typedef enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE,
    EIO_PING,
    EIO_PONG,
    EIO_MESSAGE,
    EIO_UPGRADE,
    EIO_NOOP,
    EIO__COUNT
} eio_type;

#define EIO_RS '\x1e'

/* A decoded packet. data points into the input, or into owned (binary
 * polling packets, base64-decoded); owned is freed by eio_packet_release. */
typedef struct eio_packet {
    eio_type type;
    int binary; /* message data is raw bytes */
    const char *data;
    size_t len;
    char *owned;
} eio_packet;

/* One WebSocket frame. A text frame must be a type digit then data; a binary
 * frame is a binary message. Returns CS_ERR_INVALID on an empty text frame or
 * an unknown type. Never allocates (owned stays NULL). */
cs_err eio_packet_decode_frame(const char *s, size_t len, int binary, eio_packet *out);

/* Iterates over a polling payload: each call decodes the next packet.
 * Returns CS_OK with a packet, CS_ERR_NOT_FOUND at the end, CS_ERR_INVALID on
 * a malformed packet (empty, unknown type, bad base64), CS_ERR_INTERNAL when
 * out of memory. The caller releases each packet (eio_packet_release). */
typedef struct eio_payload_iter {
    const char *p, *end;
} eio_payload_iter;
void eio_payload_iter_init(eio_payload_iter *it, const char *body, size_t len);
cs_err eio_payload_next(eio_payload_iter *it, eio_packet *out);
void eio_packet_release(eio_packet *p);

/* A growable byte buffer (always NUL-terminated when p != NULL).
 * eio_sb_* return CS_ERR_INTERNAL when out of memory; free with eio_sb_free. */
typedef struct eio_sb {
    char *p;
    size_t len, cap;
} eio_sb;
cs_err eio_sb_reserve(eio_sb *b, size_t extra);
cs_err eio_sb_append(eio_sb *b, const void *data, size_t len);
cs_err eio_sb_putc(eio_sb *b, char c);
/* Hands the buffer over (caller frees with free()) and resets b. */
char *eio_sb_take(eio_sb *b, size_t *len);
void eio_sb_free(eio_sb *b);

/* Appends one packet to a polling payload under construction: a separator
 * first unless b is empty, then the type digit and data, or "b<base64>" for a
 * binary message. */
cs_err eio_payload_append(eio_sb *b, eio_type type, const void *data, size_t len, int binary);

/* Standard base64 (RFC 4648 with padding). decode returns the decoded length
 * or -1 on invalid input; out must hold eio_b64_decoded_max(len) bytes. */
size_t eio_b64_encoded_len(size_t len);
void eio_b64_encode(const unsigned char *in, size_t len, char *out);
size_t eio_b64_decoded_max(size_t len);
long eio_b64_decode(const char *in, size_t len, unsigned char *out);

#endif
