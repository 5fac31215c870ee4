/*
 * events internals shared by the files of the module (events.c, hub.c,
 * service.c, record.c). Not for other modules.
 */
#ifndef CS_EVENTS_INTERNAL_H
#define CS_EVENTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>

#include "callservice/v1/events.pb-c.h"
#include "common/err.h"
#include "events/filter.h"

/* NOTIFY channels: stored events carry themselves when they fit, else
 * their seq alone (see events_notify_tail); ephemeral ones carry the event
 * itself (see events_ephemeral_encode). */
#define EVENTS_CHANNEL           "cs_events"
#define EVENTS_EPHEMERAL_CHANNEL "cs_events_ephemeral"
/* pg_advisory_xact_lock key serializing appends (see events.c). */
#define EVENTS_APPEND_LOCK_SQL "7236134370497"

/* Event.payload field numbers, also stored in call_events.payload_kind. */
enum { EVENTS_PAYLOAD_CALL = 10, EVENTS_PAYLOAD_USER = 11, EVENTS_PAYLOAD_NOTE = 12 };

/* The payload field for a producer message's descriptor, 0 if none. */
int events_payload_kind(const ProtobufCMessageDescriptor *desc);

/* The columns every reader selects, in the order events_rec_from_row reads. */
#define EVENTS_ROW_COLUMNS                                                                         \
    "seq, type, call_id::text, user_id::text, visible_to::text, payload_kind, payload,"            \
    " (extract(epoch from created_at) * 1000000)::bigint"

/*
 * One stored event as read from call_events, ready to send. The payload is
 * not unpacked: the row's bytes become an unknown field of the Event with
 * the payload's field number, which protobuf-c packs verbatim, so an event
 * fanned out to many subscribers costs a copy, not a re-encoding of the
 * call. Receivers see an ordinary Event with its oneof set.
 *
 * Ownership: everything lives in the record's one allocation; free with
 * events_rec_free.
 */
typedef struct events_rec {
    int64_t seq;
    Callservice__V1__EventType type;
    int64_t time_us;
    char call_id[EVENTS_UUID_LEN + 1]; /* "" when none */
    char user_id[EVENTS_UUID_LEN + 1];
    const char **visible_to; /* n_visible canonical uuids */
    size_t n_visible;
    int payload_kind;
    uint8_t *field; /* varint length + payload bytes */
    size_t field_len;
    /* The message to send, pointing into the record. */
    Callservice__V1__Event ev;
    Google__Protobuf__Timestamp ts;
    ProtobufCMessageUnknownField uf;
} events_rec;

/* Parses row `row` of a result selected with EVENTS_ROW_COLUMNS (text
 * format). NULL if the row is malformed (logged) or out of memory. */
events_rec *events_rec_from_row(const PGresult *res, int row);
void events_rec_free(events_rec *r);
events_meta events_rec_meta(const events_rec *r);

/*
 * A stored event's notification on EVENTS_CHANNEL, built by events_append's
 * statement at insert time, is either the whole row
 *   "<seq>;<created_at us>;<type>;<call_id>;<user_id>;{<visible_to>};<payload_kind>;<hex>"
 * (call_id and user_id lower-case or empty, visible_to as PostgreSQL prints
 * a uuid[], hex the packed payload without the bytea "\x"), or "<seq>" alone
 * when that would not fit a NOTIFY payload (EVENTS_NOTIFY_MAX bytes).
 * The statement prepends "<seq>;<created_at us>;" (at most
 * EVENTS_NOTIFY_PREFIX_MAX bytes: two int64s and their separators) to the
 * tail that events_notify_tail makes of the rest in C, so that PostgreSQL,
 * the busier side, only concatenates.
 *
 * events_notify_tail returns a malloc'd tail, or NULL when the whole
 * notification might not fit (or out of memory): then the seq alone is
 * sent. vis is the "{a,b}" text form, hex the payload's plain hex.
 * events_rec_from_notify decodes a notification: the record (then *seq is
 * its seq), or NULL with *seq the seq alone, or NULL with *seq 0 when the
 * payload is malformed (or out of memory). The payload is not modified.
 */
/* The longest NOTIFY payload PostgreSQL takes (it refuses 8000 bytes). */
enum { EVENTS_NOTIFY_MAX = 7999, EVENTS_NOTIFY_PREFIX_MAX = 2 * 20 + 2 };
char *events_notify_tail(Callservice__V1__EventType type, const char *call_id, const char *user_id,
                         const char *vis, int kind, const char *hex);
events_rec *events_rec_from_notify(const char *payload, int64_t *seq);

/*
 * Ephemeral events cross instances as a NOTIFY payload:
 *   "<call_id>;<visible,uuids>;<hex of the packed Event>"
 * (PostgreSQL's NOTIFY payload limit is 8000 bytes: a typing event is a
 * few hundred.) encode returns a malloc'd string or NULL; decode returns
 * the unpacked Event (free with protobuf_c_message_free_unpacked) and fills
 * the visibility list into vis (pointers into buf, which it modifies).
 */
char *events_ephemeral_encode(const Callservice__V1__Event *ev, const char *const *visible_to,
                              size_t n_visible);
Callservice__V1__Event *events_ephemeral_decode(char *buf, const char **vis, size_t max_vis,
                                                size_t *n_vis);

/*
 * Subscribing (hub.c). Registers stream with the hub: takes its own
 * reference to the stream and sets its on_close. From after_seq on (0:
 * live only) the subscriber gets every event its filter passes. CS_OK, or
 * CS_ERR_RESOURCE (too many subscribers) / CS_ERR_UNAVAILABLE (hub not
 * connected yet) with a message in err; then the stream is untouched.
 */
struct events_hub;
struct rpc_stream;
cs_err events_hub_subscribe(struct events_hub *hub, struct rpc_stream *stream,
                            const events_filter *f, int64_t after_seq, char *err, size_t errlen);

/* Hex helpers ("\x..." bytea text form and plain hex). */
int events_hex_decode(const char *hex, size_t hexlen, uint8_t *out);

#endif
