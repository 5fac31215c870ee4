/*
 * events: the producer side, events_append(). See events.h.
 *
 * Why an advisory lock: bigserial hands out numbers in call order, but
 * transactions commit in any order. If seq 11 could become visible before
 * seq 10, a reader that reads "everything after 9" would see 11, move on,
 * and miss 10 for ever. Taking one transaction-scoped advisory lock before
 * the seq is drawn makes appending transactions commit in seq order (the
 * lock is released only after the commit is visible), so every reader can
 * read by range: a seq missing below a visible one was rolled back. The
 * price is that appending transactions serialize from the append to their
 * commit, which is why producers append last, just before COMMIT, and why
 * an append whose seq nobody asks for waits for that COMMIT and goes out
 * in its round trip (db_exec_stmt_at_commit): then the lock is held only
 * while the server runs the two, never across a round trip to callsvc.
 */
#include "events/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/common.pb-c.h"
#include "events/filter.h"
#include "events/internal.h"
#include "common/log.h"

/* Which Event.payload field each producer message goes into. */
static const struct {
    const ProtobufCMessageDescriptor *desc;
    int field;
} events__payload_kinds[] = {
    {&callservice__v1__call__descriptor, EVENTS_PAYLOAD_CALL},
    {&callservice__v1__user__descriptor, EVENTS_PAYLOAD_USER},
    {&callservice__v1__call_note__descriptor, EVENTS_PAYLOAD_NOTE},
};

int events_payload_kind(const ProtobufCMessageDescriptor *desc)
{
    size_t i;

    for (i = 0; i < sizeof events__payload_kinds / sizeof events__payload_kinds[0]; i++)
        if (events__payload_kinds[i].desc == desc)
            return events__payload_kinds[i].field;
    return 0;
}

/* The lock, the insert and the notification in one round trip. The insert
 * selects from the lock's CTE, so the lock is held before nextval runs.
 * The notification is the whole row when $7 (events_notify_tail) is given,
 * else the seq alone (internal.h); only the seq and created_at are
 * PostgreSQL's to add. */
static const db_stmt events__append_stmt = {
    "events_append",
    "WITH l AS (SELECT pg_advisory_xact_lock(" EVENTS_APPEND_LOCK_SQL ")),"
    " ins AS (INSERT INTO call_events (type, call_id, user_id, visible_to, payload_kind, payload)"
    " SELECT $1::smallint, $2::uuid, $3::uuid, $4::uuid[], $5::smallint, $6::bytea FROM l"
    " RETURNING seq, created_at)"
    " SELECT seq, pg_notify('" EVENTS_CHANNEL "', CASE WHEN $7::text IS NULL THEN seq::text"
    " ELSE seq::text || ';' || (extract(epoch from created_at) * 1000000)::bigint::text || ';'"
    " || $7::text END) FROM ins",
    7,
};

static char *events__hex_bytea(const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *s = malloc(2 * n + 3);
    size_t i;

    if (s == NULL)
        return NULL;
    s[0] = '\\';
    s[1] = 'x';
    for (i = 0; i < n; i++) {
        s[2 + 2 * i] = hex[p[i] >> 4];
        s[3 + 2 * i] = hex[p[i] & 15];
    }
    s[2 + 2 * n] = '\0';
    return s;
}

cs_err events_append(db_conn *db, Callservice__V1__EventType type, const char *call_id,
                     const char *user_id, const char *const *visible_to, size_t n_visible,
                     const ProtobufCMessage *payload, int64_t *seq_out)
{
    cs_err rc = CS_ERR_INVALID;
    char typebuf[8], kindbuf[8];
    char *vis = NULL, *hex = NULL, *tail = NULL;
    uint8_t *packed = NULL;
    size_t i, len;
    int kind;
    PGresult *res = NULL;
    const char *params[7];

    if (db == NULL || payload == NULL)
        goto out;
    if (!events_type_stored((int)type)) {
        log_error("events_append: type %d is not a stored event type", (int)type);
        goto out;
    }
    kind = events_payload_kind(payload->descriptor);
    if (kind == 0) {
        log_error("events_append: payload %s is not a Call, User or CallNote",
                  payload->descriptor->name);
        goto out;
    }
    if ((call_id != NULL && !events_is_uuid(call_id)) ||
        (user_id != NULL && !events_is_uuid(user_id)) || (n_visible > 0 && visible_to == NULL)) {
        log_error("events_append: call_id/user_id/visible_to malformed");
        goto out;
    }
    /* "{uuid,uuid}" */
    vis = malloc(n_visible * (EVENTS_UUID_LEN + 1) + 3);
    if (vis == NULL) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    len = 0;
    vis[len++] = '{';
    for (i = 0; i < n_visible; i++) {
        if (!events_is_uuid(visible_to[i])) {
            log_error("events_append: visible_to[%zu] is not a uuid", i);
            goto out;
        }
        if (i > 0)
            vis[len++] = ',';
        events_uuid_lower(vis + len, visible_to[i]);
        len += EVENTS_UUID_LEN;
    }
    vis[len++] = '}';
    vis[len] = '\0';

    len = protobuf_c_message_get_packed_size(payload);
    packed = malloc(len > 0 ? len : 1);
    if (packed == NULL) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    protobuf_c_message_pack(payload, packed);
    hex = events__hex_bytea(packed, len);
    if (hex == NULL) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    /* NULL (too large for a NOTIFY, or out of memory): the seq alone */
    tail = events_notify_tail(type, call_id, user_id, vis, kind, hex + 2);
    snprintf(typebuf, sizeof typebuf, "%d", (int)type);
    snprintf(kindbuf, sizeof kindbuf, "%d", kind);
    params[0] = typebuf;
    params[1] = call_id;
    params[2] = user_id;
    params[3] = vis;
    params[4] = kindbuf;
    params[5] = hex;
    params[6] = tail;
    if (seq_out == NULL) {
        rc = db_exec_stmt_at_commit(db, &events__append_stmt, params);
        if (rc != CS_OK)
            log_error("events_append: %s", db_errmsg(db));
        goto out;
    }
    rc = db_exec_stmt(db, 0, &events__append_stmt, params, &res);
    if (rc != CS_OK) {
        log_error("events_append: %s", db_errmsg(db));
        goto out;
    }
    if (PQntuples(res) != 1) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    *seq_out = db_get_ll(res, 0, 0);
out:
    if (res != NULL)
        PQclear(res);
    free(tail);
    free(hex);
    free(packed);
    free(vis);
    return rc;
}
