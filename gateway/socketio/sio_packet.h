/*
 * sio_packet: Socket.IO v5 packets, pure encoding and decoding.
 *
 * Text form, carried in an Engine.IO message:
 *   <type>[<attachments>-][<nsp>,][<ackId>][JSON]
 * Types 0 CONNECT .. 6 BINARY_ACK. Validation follows the reference parser
 * (socket.io-parser 4.x) and is strict: unknown type, bad attachment count,
 * unparsable JSON, or a payload of the wrong shape for the type (CONNECT: an
 * object; DISCONNECT: none; EVENT: a non-empty array whose first element is a
 * non-reserved name or a number; ACK: an array with an id; CONNECT_ERROR: a
 * string or an object) is CS_ERR_INVALID. JSON nesting is limited to
 * SIO_MAX_DEPTH so that a hostile payload cannot exhaust the stack.
 *
 * Binary packets carry {"_placeholder":true,"num":i} in their JSON and the
 * attachments follow as separate binary Engine.IO messages; placeholders are
 * left in place here (the session layer collects the attachments).
 */
#ifndef SIO_PACKET_H
#define SIO_PACKET_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "eio_packet.h"

typedef enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT,
    SIO_EVENT,
    SIO_ACK,
    SIO_CONNECT_ERROR,
    SIO_BINARY_EVENT,
    SIO_BINARY_ACK,
    SIO__COUNT
} sio_type;

#define SIO_NSP_MAX         127
#define SIO_MAX_DEPTH       32
#define SIO_MAX_ATTACHMENTS 16
#define SIO_ACK_ID_MAX      999999999999999LL /* 15 digits: a safe JS integer */

typedef struct sio_packet {
    sio_type type;
    unsigned attachments;      /* binary types only */
    char nsp[SIO_NSP_MAX + 1]; /* "/" when absent */
    long long ack_id;          /* -1 when absent */
    json_t *data;              /* owned; NULL when absent */
} sio_packet;

/* Decodes s (len bytes, need not be NUL-terminated). On success the caller
 * owns out->data (sio_packet_clear). On error out holds nothing to free. */
cs_err sio_packet_decode(const char *s, size_t len, sio_packet *out);
void sio_packet_clear(sio_packet *p);

/* Checks that every placeholder in data is well-formed and refers to an
 * attachment below n, and that data holds no other "_placeholder" object. */
cs_err sio_packet_check_placeholders(const json_t *data, unsigned n);

/* Appends the text form to b. nsp NULL or "/" means the main namespace;
 * ack_id < 0 means none; data may be NULL; attachments only for binary types.
 * Fails with CS_ERR_INVALID on a bad type or when data cannot be encoded. */
cs_err sio_packet_encode(eio_sb *b, sio_type type, const char *nsp, unsigned attachments,
                         long long ack_id, const json_t *data);

/* Human-readable name of a type ("EVENT"), for logs. */
const char *sio_type_name(sio_type t);

#endif
