/*
 * calls/repo: SQL for calls, parties, notes, transfers and statistics.
 *
 * Times cross the wire as microseconds since the epoch (int8), converted in
 * SQL both ways, so no time zone or text format is involved and the cursor
 * round-trips exactly. Optional filters are NULL parameters: each statement
 * is one fixed text, planned per execution with its actual values.
 */
#include "calls/repo.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/timestamp.pb-c.h"

/* SQL for "the timestamptz of $n microseconds since the epoch". */
#define TS(n)   "(timestamptz 'epoch' + $" #n "::int8 * interval '1 microsecond')"
#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

#define CALLS__COLS                                                                                \
    "c.id, c.status, c.direction, c.caller_user_id, c.caller_name, c.caller_extension,"            \
    " c.caller_number, c.callee_user_id, c.callee_name, c.callee_extension, c.callee_number,"      \
    " c.hangup_cause, " US("c.created_at") ", " US("c.ringing_at") ", " US(                        \
        "c.answered_at") ", " US("c.ended_at") ","                                                 \
                                               " floor(extract(epoch from (coalesce(c.ended_at, "  \
                                               "clock_timestamp()) - c.answered_at)))::int4,"      \
                                               " floor(extract(epoch from "                        \
                                               "(coalesce(c.answered_at, c.ended_at, "             \
                                               "clock_timestamp())"                                \
                                               " - c.created_at)))::int4,"                         \
                                               " c.caller_channel_id, c.callee_channel_id, "       \
                                               "c.bridge_id, c.version, c.request_id,"             \
                                               " c.caller_up, c.callee_up, c.asterisk_id, "        \
                                               "c.pending_channel_id, c.owner_id,"                 \
                                               " c.held_party, " US("c.held_at") ", c.hold_us"

enum {
    COL_ID,
    COL_STATUS,
    COL_DIRECTION,
    COL_CALLER_USER,
    COL_CALLER_NAME,
    COL_CALLER_EXT,
    COL_CALLER_NUMBER,
    COL_CALLEE_USER,
    COL_CALLEE_NAME,
    COL_CALLEE_EXT,
    COL_CALLEE_NUMBER,
    COL_CAUSE,
    COL_CREATED,
    COL_RINGING,
    COL_ANSWERED,
    COL_ENDED,
    COL_DURATION,
    COL_WAIT,
    COL_CALLER_CH,
    COL_CALLEE_CH,
    COL_BRIDGE,
    COL_VERSION,
    COL_REQUEST,
    COL_CALLER_UP,
    COL_CALLEE_UP,
    COL_ASTERISK,
    COL_PENDING,
    COL_OWNER,
    COL_HELD_PARTY,
    COL_HELD_AT,
    COL_HOLD_US,
};

/* CALLS__COLS, then whether the call may have transfers or notes
 * (calls.has_children, 0005_calls_children.sql: set by triggers in the
 * transaction that adds the first one, never cleared; most calls have
 * neither and cost no look-up), then, for the history pages only, the total
 * their count statement would give. */
#define CALLS__COLS_CHILDREN CALLS__COLS ", c.has_children"
enum { COL_HAS_CHILDREN = COL_HOLD_US + 1, COL_LIST_TOTAL };
/* A row read FOR UPDATE: CALLS__COLS_CHILDREN, then the clock at the lock. */
enum { COL_LOCKED_AT = COL_HAS_CHILDREN + 1 };

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

char *calls_strdup(const char *s)
{
    return strdup(s ? s : "");
}

bool calls_is_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    size_t d = 0;
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

Google__Protobuf__Timestamp *calls_timestamp_new(int64_t us)
{
    Google__Protobuf__Timestamp *ts = malloc(sizeof *ts);
    int64_t sec, rem;
    if (!ts)
        return NULL;
    google__protobuf__timestamp__init(ts);
    sec = us / 1000000;
    rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        sec--;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)(rem * 1000);
    return ts;
}

int64_t calls_timestamp_us(const Google__Protobuf__Timestamp *ts)
{
    if (!ts)
        return 0;
    return ts->seconds * 1000000 + ts->nanos / 1000;
}

/* Call.hold_seconds of a total in µs: whole seconds, at most INT32_MAX. */
static int32_t calls__hold_seconds(int64_t us)
{
    return us <= 0 ? 0 : us / 1000000 > INT32_MAX ? INT32_MAX : (int32_t)(us / 1000000);
}

static Google__Protobuf__Timestamp *calls__ts_col(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return calls_timestamp_new(db_get_ll(res, row, col));
}

static Callservice__V1__Party *calls__party_new(const char *user_id, const char *name,
                                                const char *ext, const char *number)
{
    Callservice__V1__Party *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    callservice__v1__party__init(p);
    p->user_id = calls_strdup(user_id);
    p->name = calls_strdup(name);
    p->extension = calls_strdup(ext);
    p->number = calls_strdup(number);
    if (!p->user_id || !p->name || !p->extension || !p->number) {
        protobuf_c_message_free_unpacked(&p->base, NULL);
        return NULL;
    }
    return p;
}

void call_rec_free(call_rec *r)
{
    if (!r)
        return;
    if (r->call)
        protobuf_c_message_free_unpacked(&r->call->base, NULL);
    free(r->asterisk_id);
    free(r->pending_channel_id);
    free(r->owner_id);
    free(r);
}

Callservice__V1__Call *call_rec_take(call_rec *r)
{
    Callservice__V1__Call *c = r->call;
    r->call = NULL;
    return c;
}

void calls_repo_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

void calls_repo_free_calls(Callservice__V1__Call **calls, size_t n)
{
    for (size_t i = 0; calls && i < n; i++)
        if (calls[i])
            protobuf_c_message_free_unpacked(&calls[i]->base, NULL);
    free(calls);
}

void calls_repo_free_recs(call_rec **recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        call_rec_free(recs[i]);
    free(recs);
}

/* Replaces the scalar fields of c from a row (transfers and notes stay). */
static cs_err calls__fill_call(Callservice__V1__Call *c, const PGresult *res, int row)
{
    /* the fields this fills, freed first so that a refresh does not leak */
    char **strs[] = {&c->id,        &c->hangup_cause, &c->caller_channel_id, &c->callee_channel_id,
                     &c->bridge_id, &c->request_id};
    static const int str_cols[] = {COL_ID,        COL_CAUSE,  COL_CALLER_CH,
                                   COL_CALLEE_CH, COL_BRIDGE, COL_REQUEST};
    Google__Protobuf__Timestamp **tss[] = {&c->created_at, &c->ringing_at, &c->answered_at,
                                           &c->ended_at, &c->held_at};
    static const int ts_cols[] = {COL_CREATED, COL_RINGING, COL_ANSWERED, COL_ENDED, COL_HELD_AT};
    const char *held = db_get_str(res, row, COL_HELD_PARTY);
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        if (*strs[i] && *strs[i] != protobuf_c_empty_string)
            free(*strs[i]);
        *strs[i] = calls_strdup(db_get_str(res, row, str_cols[i]));
        if (!*strs[i])
            return CS_ERR_INTERNAL;
    }
    for (size_t i = 0; i < sizeof tss / sizeof *tss; i++) {
        if (*tss[i])
            protobuf_c_message_free_unpacked(&(*tss[i])->base, NULL);
        *tss[i] = calls__ts_col(res, row, ts_cols[i]);
    }
    if (c->caller)
        protobuf_c_message_free_unpacked(&c->caller->base, NULL);
    if (c->callee)
        protobuf_c_message_free_unpacked(&c->callee->base, NULL);
    c->caller =
        calls__party_new(db_get(res, row, COL_CALLER_USER), db_get(res, row, COL_CALLER_NAME),
                         db_get(res, row, COL_CALLER_EXT), db_get(res, row, COL_CALLER_NUMBER));
    c->callee =
        calls__party_new(db_get(res, row, COL_CALLEE_USER), db_get(res, row, COL_CALLEE_NAME),
                         db_get(res, row, COL_CALLEE_EXT), db_get(res, row, COL_CALLEE_NUMBER));
    if (!c->caller || !c->callee)
        return CS_ERR_INTERNAL;
    c->caller->on_hold = held && strcmp(held, "caller") == 0;
    c->callee->on_hold = held && strcmp(held, "callee") == 0;
    c->hold_seconds = calls__hold_seconds(db_get_ll(res, row, COL_HOLD_US));
    c->status = call_status_parse(db_get(res, row, COL_STATUS));
    c->direction = call_direction_parse(db_get(res, row, COL_DIRECTION));
    c->duration_seconds =
        PQgetisnull(res, row, COL_DURATION) ? 0 : (int32_t)db_get_ll(res, row, COL_DURATION);
    c->wait_seconds = (int32_t)db_get_ll(res, row, COL_WAIT);
    c->version = db_get_ll(res, row, COL_VERSION);
    return CS_OK;
}

static Callservice__V1__Call *calls__call_from_row(const PGresult *res, int row)
{
    Callservice__V1__Call *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    callservice__v1__call__init(c);
    if (calls__fill_call(c, res, row) != CS_OK) {
        protobuf_c_message_free_unpacked(&c->base, NULL);
        return NULL;
    }
    return c;
}

static cs_err calls__fill_rec(call_rec *r, const PGresult *res, int row)
{
    char **strs[] = {&r->asterisk_id, &r->pending_channel_id, &r->owner_id};
    static const int cols[] = {COL_ASTERISK, COL_PENDING, COL_OWNER};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        free(*strs[i]);
        *strs[i] = calls_strdup(db_get_str(res, row, cols[i]));
        if (!*strs[i])
            return CS_ERR_INTERNAL;
    }
    r->caller_up = db_get_bool(res, row, COL_CALLER_UP);
    r->callee_up = db_get_bool(res, row, COL_CALLEE_UP);
    r->hold_us = db_get_ll(res, row, COL_HOLD_US);
    return CS_OK;
}

static call_rec *calls__rec_from_row(const PGresult *res, int row)
{
    call_rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->call = calls__call_from_row(res, row);
    if (!r->call || calls__fill_rec(r, res, row) != CS_OK) {
        call_rec_free(r);
        return NULL;
    }
    return r;
}

/* A PostgreSQL array literal of uuids ("{a,b}"), from validated uuids. */
static char *calls__uuid_array(Callservice__V1__Call *const *calls, size_t n)
{
    char *s = malloc(n * 37 + 3);
    size_t len = 0;
    if (!s)
        return NULL;
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[len++] = ',';
        memcpy(s + len, calls[i]->id, 36);
        len += 36;
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

static Callservice__V1__Call *calls__find(Callservice__V1__Call *const *calls, size_t n,
                                          const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(calls[i]->id, id) == 0)
            return calls[i];
    return NULL;
}

static const db_stmt calls__transfers_stmt = {
    "calls_transfers",
    "SELECT t.call_id, coalesce(t.by_user_id::text, ''), t.by_name, t.to_target,"
    " coalesce(t.to_user_id::text, ''), " US(
        "t.at") " FROM call_transfers t"
                " WHERE t.call_id = ANY($1::uuid[]) ORDER BY t.call_id, t.id",
    1,
};

static const db_stmt calls__notes_stmt = {
    "calls_notes",
    "SELECT n.id, n.call_id, coalesce(n.author_id::text, ''), n.author_name, n.text, " US(
        "n.created_at") " FROM call_notes n WHERE n.call_id = ANY($1::uuid[])"
                        " ORDER BY n.call_id, n.created_at, n.id",
    1,
};

static Callservice__V1__CallNote *calls__note_from_row(const PGresult *res, int row)
{
    Callservice__V1__CallNote *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    callservice__v1__call_note__init(n);
    n->id = calls_strdup(db_get_str(res, row, 0));
    n->call_id = calls_strdup(db_get_str(res, row, 1));
    n->author_id = calls_strdup(db_get_str(res, row, 2));
    n->author_name = calls_strdup(db_get_str(res, row, 3));
    n->text = calls_strdup(db_get_str(res, row, 4));
    n->created_at = calls_timestamp_new(db_get_ll(res, row, 5));
    if (!n->id || !n->call_id || !n->author_id || !n->author_name || !n->text || !n->created_at) {
        protobuf_c_message_free_unpacked(&n->base, NULL);
        return NULL;
    }
    return n;
}

static Callservice__V1__Transfer *calls__transfer_from_row(const PGresult *res, int row)
{
    Callservice__V1__Transfer *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    callservice__v1__transfer__init(t);
    t->by_user_id = calls_strdup(db_get_str(res, row, 1));
    t->by_name = calls_strdup(db_get_str(res, row, 2));
    t->to = calls_strdup(db_get_str(res, row, 3));
    t->to_user_id = calls_strdup(db_get_str(res, row, 4));
    t->at = calls_timestamp_new(db_get_ll(res, row, 5));
    if (!t->by_user_id || !t->by_name || !t->to || !t->to_user_id || !t->at) {
        protobuf_c_message_free_unpacked(&t->base, NULL);
        return NULL;
    }
    return t;
}

static void calls__clear_children(Callservice__V1__Call *c)
{
    for (size_t i = 0; i < c->n_transfers; i++)
        protobuf_c_message_free_unpacked(&c->transfers[i]->base, NULL);
    free(c->transfers);
    c->transfers = NULL;
    c->n_transfers = 0;
    for (size_t i = 0; i < c->n_notes; i++)
        protobuf_c_message_free_unpacked(&c->notes[i]->base, NULL);
    free(c->notes);
    c->notes = NULL;
    c->n_notes = 0;
}

/* Loads transfers and notes of every call in one query each. */
static cs_err calls__load_children(db_conn *db, Callservice__V1__Call *const *calls, size_t n)
{
    cs_err rc = CS_OK;
    PGresult *tr = NULL, *nr = NULL;
    char *arr = NULL;
    const char *params[1];
    if (n == 0)
        return CS_OK;
    arr = calls__uuid_array(calls, n);
    if (!arr) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    params[0] = arr;
    rc = db_exec_stmt(db, DB_RETRY, &calls__transfers_stmt, params, &tr);
    if (rc != CS_OK)
        goto out;
    rc = db_exec_stmt(db, DB_RETRY, &calls__notes_stmt, params, &nr);
    if (rc != CS_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        calls__clear_children(calls[i]);
    for (int row = 0; row < PQntuples(tr); row++) {
        Callservice__V1__Call *c = calls__find(calls, n, db_get_str(tr, row, 0));
        Callservice__V1__Transfer **grown;
        if (!c)
            continue;
        grown = realloc(c->transfers, (c->n_transfers + 1) * sizeof *grown);
        if (!grown) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        c->transfers = grown;
        c->transfers[c->n_transfers] = calls__transfer_from_row(tr, row);
        if (!c->transfers[c->n_transfers]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        c->n_transfers++;
    }
    for (int row = 0; row < PQntuples(nr); row++) {
        Callservice__V1__Call *c = calls__find(calls, n, db_get_str(nr, row, 1));
        Callservice__V1__CallNote **grown;
        if (!c)
            continue;
        grown = realloc(c->notes, (c->n_notes + 1) * sizeof *grown);
        if (!grown) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        c->notes = grown;
        c->notes[c->n_notes] = calls__note_from_row(nr, row);
        if (!c->notes[c->n_notes]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        c->n_notes++;
    }
out:
    if (tr)
        PQclear(tr);
    if (nr)
        PQclear(nr);
    free(arr);
    return rc;
}

cs_err calls_repo_load_children(db_conn *db, call_rec *r)
{
    cs_err rc = CS_OK;
    if (r->children_known && !r->has_children)
        calls__clear_children(r->call);
    else
        rc = calls__load_children(db, &r->call, 1);
    if (rc == CS_OK)
        r->children_loaded = true;
    return rc;
}

/* Runs a statement expected to return at most one call row. */
static cs_err calls__one(db_conn *db, int flags, const db_stmt *st, const char *const *params,
                         int rflags, call_rec **out)
{
    PGresult *res = NULL;
    call_rec *r = NULL;
    cs_err rc;
    *out = NULL;
    rc = db_exec_stmt(db, flags, st, params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = CS_ERR_NOT_FOUND;
        goto out;
    }
    r = calls__rec_from_row(res, 0);
    if (!r) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    if (rflags & CALLS_FOR_UPDATE) {
        /* the row is locked from here to the transaction's end, so the
         * flag stays exact (see children_known) */
        r->has_children = db_get_bool(res, 0, COL_HAS_CHILDREN);
        r->children_known = true;
        r->locked_at_us = db_get_ll(res, 0, COL_LOCKED_AT);
    }
    if (rflags & CALLS_WITH_CHILDREN) {
        rc = calls_repo_load_children(db, r);
        if (rc != CS_OK)
            goto out;
    }
    *out = r;
    r = NULL;
out:
    call_rec_free(r);
    if (res)
        PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Single calls                                                         */

static const db_stmt calls__get_stmt = {
    "calls_get", "SELECT " CALLS__COLS " FROM calls c WHERE c.id = $1::uuid", 1};
static const db_stmt calls__get_lock_stmt = {
    "calls_get_lock",
    "SELECT " CALLS__COLS_CHILDREN
    ", " US("clock_timestamp()") " FROM calls c WHERE c.id = $1::uuid FOR UPDATE",
    1};

cs_err calls_repo_get(db_conn *db, const char *id, int flags, call_rec **out)
{
    const char *params[] = {id};
    *out = NULL;
    if (!calls_is_uuid(id))
        return CS_ERR_NOT_FOUND;
    return calls__one(db, (flags & CALLS_FOR_UPDATE) ? 0 : DB_RETRY,
                      (flags & CALLS_FOR_UPDATE) ? &calls__get_lock_stmt : &calls__get_stmt, params,
                      flags, out);
}

static const db_stmt calls__by_request_stmt = {
    "calls_by_request",
    "SELECT " CALLS__COLS " FROM calls c WHERE c.owner_id = $1::uuid AND c.request_id = $2", 2};

cs_err calls_repo_find_by_request(db_conn *db, const char *owner_id, const char *request_id,
                                  call_rec **out)
{
    const char *params[] = {owner_id, request_id};
    *out = NULL;
    if (!calls_is_uuid(owner_id))
        return CS_ERR_NOT_FOUND;
    return calls__one(db, DB_RETRY, &calls__by_request_stmt, params, CALLS_WITH_CHILDREN, out);
}

static const db_stmt calls__insert_stmt = {
    "calls_insert",
    "WITH c AS (INSERT INTO calls (id, direction, status, caller_user_id, caller_name,"
    " caller_extension, caller_number, callee_user_id, callee_name, callee_extension,"
    " callee_number, caller_channel_id, callee_channel_id, asterisk_id, owner_id, request_id,"
    " ringing_at)"
    " VALUES ($1::uuid, $2, $3, $4::uuid, $5, $6, $7, $8::uuid, $9, $10, $11, $12, $13,"
    " coalesce($14, ''), $15::uuid, $16,"
    " CASE WHEN $3 = 'ringing' THEN clock_timestamp() END) RETURNING *),"
    " p AS (INSERT INTO call_parties (call_id, user_id, created_at)"
    " SELECT DISTINCT c.id, u, c.created_at FROM c,"
    " unnest(ARRAY[c.caller_user_id, c.callee_user_id]) AS u WHERE u IS NOT NULL)"
    " SELECT " CALLS__COLS " FROM c",
    16};

static const char *calls__nz(const char *s)
{
    return s && *s ? s : NULL;
}

cs_err calls_repo_insert(db_conn *db, const call_new *n, call_rec **out)
{
    const char *params[] = {
        n->id,
        call_direction_name(n->direction),
        call_status_name(n->status),
        calls__nz(n->caller_user_id),
        n->caller_name ? n->caller_name : "",
        n->caller_extension ? n->caller_extension : "",
        n->caller_number ? n->caller_number : "",
        calls__nz(n->callee_user_id),
        n->callee_name ? n->callee_name : "",
        n->callee_extension ? n->callee_extension : "",
        n->callee_number ? n->callee_number : "",
        calls__nz(n->caller_channel_id),
        calls__nz(n->callee_channel_id),
        n->asterisk_id,
        calls__nz(n->owner_id),
        calls__nz(n->request_id),
    };
    cs_err rc;
    *out = NULL;
    if (!calls_is_uuid(n->id) || !params[1] || !params[2])
        return CS_ERR_INVALID;
    rc = calls__one(db, 0, &calls__insert_stmt, params, 0, out);
    if (rc == CS_OK)
        (*out)->children_known = true; /* a new call: no transfers, no notes */
    return rc;
}

/* (clang-format would break the TS() lines apart) */
// clang-format off
static const db_stmt calls__save_stmt = {
    "calls_save",
    "UPDATE calls c SET status = $2, hangup_cause = $3,"
    " caller_user_id = $4::uuid, caller_name = $5, caller_extension = $6, caller_number = $7,"
    " callee_user_id = $8::uuid, callee_name = $9, callee_extension = $10, callee_number = $11,"
    " caller_channel_id = $12, callee_channel_id = $13, caller_up = $14::bool,"
    " callee_up = $15::bool, bridge_id = $16, pending_channel_id = $17, asterisk_id = $18,"
    " held_party = $19, held_at = " TS(20) ", hold_us = $21::int8,"
    " ringing_at = CASE WHEN $2 = 'ringing' THEN coalesce(c.ringing_at, clock_timestamp())"
    " ELSE c.ringing_at END,"
    " answered_at = CASE WHEN $2 = 'in_progress' THEN coalesce(c.answered_at, clock_timestamp())"
    " ELSE c.answered_at END,"
    " ended_at = CASE WHEN $2 IN ('completed', 'busy', 'no_answer', 'failed', 'canceled')"
    " THEN coalesce(c.ended_at, clock_timestamp()) ELSE c.ended_at END,"
    " version = c.version + 1"
    " WHERE c.id = $1::uuid RETURNING " CALLS__COLS_CHILDREN,
    21};

/* The save of a call this transaction holds FOR UPDATE: every column is
 * known here, so nothing is returned and the statement is queued. */
static const db_stmt calls__save_locked_stmt = {
    "calls_save_locked",
    "UPDATE calls c SET status = $2, hangup_cause = $3,"
    " caller_user_id = $4::uuid, caller_name = $5, caller_extension = $6, caller_number = $7,"
    " callee_user_id = $8::uuid, callee_name = $9, callee_extension = $10, callee_number = $11,"
    " caller_channel_id = $12, callee_channel_id = $13, caller_up = $14::bool,"
    " callee_up = $15::bool, bridge_id = $16, pending_channel_id = $17, asterisk_id = $18,"
    " held_party = $19, held_at = " TS(20) ", hold_us = $21::int8,"
    " ringing_at = " TS(22) ","
    " answered_at = " TS(23) ","
    " ended_at = " TS(24) ","
    " version = $25::int8 WHERE c.id = $1::uuid",
    25};
// clang-format on

/* Whole seconds from a to b, rounded down as SQL's floor(extract(epoch)). */
static int32_t calls__floor_s(int64_t a_us, int64_t b_us)
{
    int64_t d = b_us - a_us;
    return (int32_t)(d >= 0 ? d / 1000000 : -((-d + 999999) / 1000000));
}

/* What calls__save_stmt's SET and RETURNING would make of c, in C, with
 * now the clock at the row's lock: the time of this change is stamped once
 * (coalesce: a time already set stays), duration and wait as CALLS__COLS
 * computes them. */
static cs_err calls__apply_save(Callservice__V1__Call *c, int64_t now)
{
    struct {
        Google__Protobuf__Timestamp **ts;
        bool now_due;
    } stamps[] = {
        {&c->ringing_at, c->status == CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_RINGING},
        {&c->answered_at, c->status == CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_IN_PROGRESS},
        {&c->ended_at, call_status_terminal(c->status)},
    };
    int64_t created = calls_timestamp_us(c->created_at), answered, ended, waited_to;
    for (size_t i = 0; i < sizeof stamps / sizeof *stamps; i++) {
        if (!stamps[i].now_due || *stamps[i].ts)
            continue;
        *stamps[i].ts = calls_timestamp_new(now);
        if (!*stamps[i].ts)
            return CS_ERR_INTERNAL;
    }
    answered = c->answered_at ? calls_timestamp_us(c->answered_at) : 0;
    ended = c->ended_at ? calls_timestamp_us(c->ended_at) : now;
    c->duration_seconds = c->answered_at ? calls__floor_s(answered, ended) : 0;
    waited_to = c->answered_at ? answered : ended;
    c->wait_seconds = calls__floor_s(created, waited_to);
    c->version++;
    return CS_OK;
}

int64_t calls_change_us(const call_rec *r)
{
    struct timespec ts;
    if (r->locked_at_us)
        return r->locked_at_us;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void calls_hold_finish(call_rec *r, int64_t now_us)
{
    Callservice__V1__Call *c = r->call;
    if (c->held_at) {
        int64_t d = now_us - calls_timestamp_us(c->held_at);
        if (d > 0)
            r->hold_us = d > INT64_MAX - r->hold_us ? INT64_MAX : r->hold_us + d;
        protobuf_c_message_free_unpacked(&c->held_at->base, NULL);
        c->held_at = NULL;
    }
    c->hold_seconds = calls__hold_seconds(r->hold_us);
    if (c->caller)
        c->caller->on_hold = false;
    if (c->callee)
        c->callee->on_hold = false;
}

/* *param: ts as µs text in buf, or NULL (SQL NULL) without ts. */
static void calls__us_param(char *buf, size_t len, const Google__Protobuf__Timestamp *ts,
                            const char **param)
{
    *param = NULL;
    if (ts) {
        snprintf(buf, len, "%lld", (long long)calls_timestamp_us(ts));
        *param = buf;
    }
}

cs_err calls_repo_save(db_conn *db, call_rec *r)
{
    Callservice__V1__Call *c = r->call;
    PGresult *res = NULL;
    cs_err rc;
    char held_at[24], hold_us[24], ring[24], ans[24], end[24], ver[24];
    const char *params[25] = {
        c->id,
        call_status_name(c->status),
        c->hangup_cause,
        calls__nz(c->caller->user_id),
        c->caller->name,
        c->caller->extension,
        c->caller->number,
        calls__nz(c->callee->user_id),
        c->callee->name,
        c->callee->extension,
        c->callee->number,
        calls__nz(c->caller_channel_id),
        calls__nz(c->callee_channel_id),
        r->caller_up ? "t" : "f",
        r->callee_up ? "t" : "f",
        calls__nz(c->bridge_id),
        calls__nz(r->pending_channel_id),
        r->asterisk_id,
    };
    if (!params[1]) {
        rc = CS_ERR_INVALID;
        goto out;
    }
    if (call_status_terminal(c->status)) /* an ended call holds no one */
        calls_hold_finish(r, calls_change_us(r));
    params[18] = c->caller->on_hold ? "caller" : c->callee->on_hold ? "callee" : NULL;
    calls__us_param(held_at, sizeof held_at, c->held_at, &params[19]);
    snprintf(hold_us, sizeof hold_us, "%" PRId64, r->hold_us);
    params[20] = hold_us;
    if (r->locked_at_us) {
        /* One round trip less per change: the UPDATE goes with the next
         * statement (the COMMIT, or a batched event's RELEASE) and fails
         * that one. */
        rc = calls__apply_save(c, r->locked_at_us);
        if (rc != CS_OK)
            goto out;
        calls__us_param(ring, sizeof ring, c->ringing_at, &params[21]);
        calls__us_param(ans, sizeof ans, c->answered_at, &params[22]);
        calls__us_param(end, sizeof end, c->ended_at, &params[23]);
        snprintf(ver, sizeof ver, "%lld", (long long)c->version);
        params[24] = ver;
        rc = db_exec_stmt_deferred(db, &calls__save_locked_stmt, params);
        goto out;
    }
    rc = db_exec_stmt(db, 0, &calls__save_stmt, params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = CS_ERR_NOT_FOUND;
        goto out;
    }
    rc = calls__fill_call(c, res, 0);
    if (rc == CS_OK)
        rc = calls__fill_rec(r, res, 0);
    /* the row is locked by this transaction since before the statement
     * began, so no other transaction adds a transfer or note now (both are
     * added under the lock) and the flag covers every earlier one */
    r->has_children = db_get_bool(res, 0, COL_HAS_CHILDREN);
    r->children_known = true;
out:
    if (res)
        PQclear(res);
    return rc;
}

static const db_stmt calls__touch_stmt = {
    "calls_touch", "UPDATE calls SET version = version + 1 WHERE id = $1::uuid RETURNING version",
    1};

cs_err calls_repo_touch(db_conn *db, call_rec *r)
{
    const char *params[] = {r->call->id};
    PGresult *res = NULL;
    cs_err rc = db_exec_stmt(db, 0, &calls__touch_stmt, params, &res);
    if (rc == CS_OK && PQntuples(res) == 1)
        r->call->version = db_get_ll(res, 0, 0);
    else if (rc == CS_OK)
        rc = CS_ERR_NOT_FOUND;
    if (res)
        PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Parties, transfers, notes, users                                     */

static const db_stmt calls__add_party_stmt = {
    "calls_add_party",
    "INSERT INTO call_parties (call_id, user_id, created_at)"
    " SELECT c.id, $2::uuid, c.created_at FROM calls c WHERE c.id = $1::uuid"
    " ON CONFLICT DO NOTHING",
    2};

cs_err calls_repo_add_party(db_conn *db, const char *call_id, const char *user_id)
{
    const char *params[] = {call_id, user_id};
    if (!calls_is_uuid(call_id) || !calls_is_uuid(user_id))
        return CS_ERR_INVALID;
    return db_exec_stmt(db, 0, &calls__add_party_stmt, params, NULL);
}

static const db_stmt calls__parties_stmt = {
    "calls_parties", "SELECT user_id FROM call_parties WHERE call_id = $1::uuid ORDER BY user_id",
    1};

cs_err calls_repo_parties(db_conn *db, const char *call_id, char ***ids, size_t *n)
{
    const char *params[] = {call_id};
    PGresult *res = NULL;
    char **v = NULL;
    size_t k = 0;
    cs_err rc;
    *ids = NULL;
    *n = 0;
    rc = db_exec_stmt(db, DB_RETRY, &calls__parties_stmt, params, &res);
    if (rc != CS_OK)
        goto out;
    v = calloc((size_t)PQntuples(res) + 1, sizeof *v);
    if (!v) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    for (; k < (size_t)PQntuples(res); k++) {
        v[k] = calls_strdup(db_get_str(res, (int)k, 0));
        if (!v[k]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
    }
    *ids = v;
    *n = k;
    v = NULL;
out:
    calls_repo_free_ids(v, k);
    if (res)
        PQclear(res);
    return rc;
}

/* Sorts ids as calls__parties_stmt orders them (canonical uuids, whose
 * text order is PostgreSQL's uuid order). */
static int calls__cmp_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cs_err calls_repo_parties_of(db_conn *db, const call_rec *r, char ***ids, size_t *n)
{
    const char *users[2] = {r->call->caller->user_id, r->call->callee->user_id};
    char **v = NULL;
    size_t k = 0;
    cs_err rc = CS_OK;
    if (!r->children_known || r->has_children)
        return calls_repo_parties(db, r->call->id, ids, n);
    *ids = NULL;
    *n = 0;
    v = calloc(3, sizeof *v);
    if (!v) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        if (!users[i][0] || (k > 0 && strcmp(v[0], users[i]) == 0))
            continue;
        v[k] = calls_strdup(users[i]);
        if (!v[k]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        k++;
    }
    qsort(v, k, sizeof *v, calls__cmp_ids);
    *ids = v;
    *n = k;
    v = NULL;
out:
    calls_repo_free_ids(v, k);
    return rc;
}

static const db_stmt calls__is_party_stmt = {
    "calls_is_party", "SELECT 1 FROM call_parties WHERE call_id = $1::uuid AND user_id = $2::uuid",
    2};

cs_err calls_repo_is_party(db_conn *db, const char *call_id, const char *user_id, bool *yes)
{
    const char *params[] = {call_id, user_id};
    PGresult *res = NULL;
    cs_err rc;
    *yes = false;
    if (!calls_is_uuid(call_id) || !calls_is_uuid(user_id))
        return CS_OK;
    rc = db_exec_stmt(db, DB_RETRY, &calls__is_party_stmt, params, &res);
    if (rc == CS_OK)
        *yes = PQntuples(res) > 0;
    if (res)
        PQclear(res);
    return rc;
}

static const db_stmt calls__add_transfer_stmt = {
    "calls_add_transfer",
    "INSERT INTO call_transfers (call_id, by_user_id, by_name, to_target, to_user_id, channel_id)"
    " VALUES ($1::uuid, $2::uuid, coalesce((SELECT name FROM users WHERE id = $2::uuid), ''),"
    " $3, $4::uuid, $5)",
    5};

cs_err calls_repo_add_transfer(db_conn *db, call_rec *r, const char *by_user_id,
                               const char *to_target, const char *to_user_id,
                               const char *channel_id)
{
    const char *params[] = {r->call->id, calls__nz(by_user_id), to_target, calls__nz(to_user_id),
                            channel_id};
    cs_err rc = db_exec_stmt(db, 0, &calls__add_transfer_stmt, params, NULL);
    if (rc == CS_OK && r->children_known)
        r->has_children = true; /* what the trigger just set on the row */
    return rc;
}

static const db_stmt calls__count_transfers_stmt = {
    "calls_count_transfers", "SELECT count(*) FROM call_transfers WHERE call_id = $1::uuid", 1};

cs_err calls_repo_count_transfers(db_conn *db, const char *call_id, int *n)
{
    const char *params[] = {call_id};
    PGresult *res = NULL;
    cs_err rc = db_exec_stmt(db, DB_RETRY, &calls__count_transfers_stmt, params, &res);
    *n = 0;
    if (rc == CS_OK)
        *n = (int)db_get_ll(res, 0, 0);
    if (res)
        PQclear(res);
    return rc;
}

static const db_stmt calls__add_note_stmt = {
    "calls_add_note",
    "INSERT INTO call_notes (call_id, author_id, author_name, text)"
    " VALUES ($1::uuid, $2::uuid, coalesce((SELECT name FROM users WHERE id = $2::uuid), ''), $3)"
    " RETURNING id, call_id, coalesce(author_id::text, ''), author_name, text, " US("created_at"),
    3};

cs_err calls_repo_add_note(db_conn *db, call_rec *r, const char *author_id, const char *text,
                           Callservice__V1__CallNote **out)
{
    const char *params[] = {r->call->id, author_id, text};
    PGresult *res = NULL;
    cs_err rc = db_exec_stmt(db, 0, &calls__add_note_stmt, params, &res);
    *out = NULL;
    if (rc == CS_OK && r->children_known)
        r->has_children = true; /* what the trigger just set on the row */
    if (rc == CS_OK) {
        *out = calls__note_from_row(res, 0);
        if (!*out)
            rc = CS_ERR_INTERNAL;
    }
    if (res)
        PQclear(res);
    return rc;
}

static const db_stmt calls__user_by_ext_stmt = {
    "calls_user_by_ext",
    "SELECT u.id, u.name, d.extension FROM sip_devices d JOIN users u ON u.id = d.user_id"
    " WHERE d.extension = $1",
    1};

/* A user from three columns of row 0 (id, name, extension) from col on. */
static void calls__user_from(const PGresult *res, int col, calls_user *u)
{
    snprintf(u->id, sizeof u->id, "%s", db_get_str(res, 0, col));
    snprintf(u->name, sizeof u->name, "%s", db_get_str(res, 0, col + 1));
    snprintf(u->extension, sizeof u->extension, "%s", db_get_str(res, 0, col + 2));
}

cs_err calls_repo_user_by_extension(db_conn *db, const char *extension, calls_user *u)
{
    const char *params[] = {extension};
    PGresult *res = NULL;
    cs_err rc = db_exec_stmt(db, DB_RETRY, &calls__user_by_ext_stmt, params, &res);
    memset(u, 0, sizeof *u);
    if (rc == CS_OK && PQntuples(res) == 0)
        rc = CS_ERR_NOT_FOUND;
    if (rc == CS_OK)
        calls__user_from(res, 0, u);
    if (res)
        PQclear(res);
    return rc;
}

/* A user by id and a user by extension in one round trip. */
static const db_stmt calls__user_and_ext_stmt = {
    "calls_user_and_ext",
    "SELECT u.id, u.name, coalesce(d.extension, ''), tu.id, tu.name, td.extension FROM users u"
    " LEFT JOIN sip_devices d ON d.user_id = u.id"
    " LEFT JOIN (sip_devices td JOIN users tu ON tu.id = td.user_id) ON td.extension = $2"
    " WHERE u.id = $1::uuid",
    2,
};

cs_err calls_repo_user_and_extension(db_conn *db, const char *user_id, const char *extension,
                                     calls_user *u, calls_user *ext_user, bool *ext_found)
{
    const char *params[] = {user_id, extension};
    PGresult *res = NULL;
    cs_err rc = CS_ERR_NOT_FOUND;
    memset(u, 0, sizeof *u);
    memset(ext_user, 0, sizeof *ext_user);
    *ext_found = false;
    if (!calls_is_uuid(user_id))
        goto out;
    rc = db_exec_stmt(db, DB_RETRY, &calls__user_and_ext_stmt, params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = CS_ERR_NOT_FOUND;
        goto out;
    }
    calls__user_from(res, 0, u);
    if (!PQgetisnull(res, 0, 3)) {
        *ext_found = true;
        calls__user_from(res, 3, ext_user);
    }
out:
    if (res)
        PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lists                                                                */

/* Filters shared by the history statements: $2 status, $3 direction,
 * $4/$5 created range (inclusive), for the row alias given. */
#define CALLS__FILTERS(at)                                                                         \
    " AND ($2::text IS NULL OR c.status = $2) AND ($3::text IS NULL OR c.direction = $3)"          \
    " AND ($4::int8 IS NULL OR " at " >= " TS(4) ") AND ($5::int8 IS NULL OR " at " <= " TS(5) ")"

/* The list statements return CALLS__COLS_CHILDREN; the history pages also
 * their total (one round trip instead of two; the count statement runs only
 * when the page is empty). */
#define CALLS__COUNT_USER                                                                          \
    "SELECT count(*) FROM call_parties p JOIN calls c ON c.id = p.call_id"                         \
    " WHERE p.user_id = $1::uuid" CALLS__FILTERS("p.created_at")
#define CALLS__COUNT_ALL                                                                           \
    "SELECT count(*) FROM calls c WHERE $1::uuid IS NULL" CALLS__FILTERS("c.created_at")
#define CALLS__COUNT_USER_PLAIN                                                                    \
    "SELECT count(*) FROM call_parties p JOIN calls c ON c.id = p.call_id"                         \
    " WHERE p.user_id = $1::uuid"
#define CALLS__COUNT_ALL_PLAIN "SELECT count(*) FROM calls c"

static const db_stmt calls__hist_user_stmt = {
    "calls_hist_user",
    "SELECT " CALLS__COLS_CHILDREN ", (" CALLS__COUNT_USER ")"
    " FROM call_parties p JOIN calls c ON c.id = p.call_id"
    " WHERE p.user_id = $1::uuid" CALLS__FILTERS("p.created_at") " AND ($6::int8 IS NULL OR "
                                                                 "(p.created_at, p.call_id) < (" TS(
                                                                     6) ", $7::uuid))"
                                                                        " ORDER BY p.created_at "
                                                                        "DESC, p.call_id DESC "
                                                                        "LIMIT $8::int8 OFFSET "
                                                                        "$9::int8",
    9};
static const db_stmt calls__hist_all_stmt = {
    "calls_hist_all",
    "SELECT " CALLS__COLS_CHILDREN ", (" CALLS__COUNT_ALL ") FROM calls c"
    " WHERE $1::uuid IS NULL" CALLS__FILTERS(
        "c.created_at") " AND ($6::int8 IS NULL OR (c.created_at, c.id) < "
                        "(" TS(6) ", $7::uuid))"
                                  " ORDER BY c.created_at DESC, c.id DESC "
                                  "LIMIT $8::int8 OFFSET $9::int8",
    9};
static const db_stmt calls__count_user_stmt = {"calls_count_user", CALLS__COUNT_USER, 5};
static const db_stmt calls__count_all_stmt = {"calls_count_all", CALLS__COUNT_ALL, 5};

/* The same lists without filters, the common case: the filtered statements'
 * "($n IS NULL OR ...)" make PostgreSQL's generic plan (used after five
 * runs of a prepared statement) scan far more than needed (0.9 ms instead of
 * 0.06 ms for one user's page, measured with the gateway benchmark). */
static const db_stmt calls__hist_user_plain_stmt = {
    "calls_hist_user_plain",
    "SELECT " CALLS__COLS_CHILDREN ", (" CALLS__COUNT_USER_PLAIN ")"
    " FROM call_parties p JOIN calls c ON c.id = p.call_id"
    " WHERE p.user_id = $1::uuid ORDER BY p.created_at DESC, p.call_id DESC"
    " LIMIT $2::int8 OFFSET $3::int8",
    3};
static const db_stmt calls__hist_all_plain_stmt = {
    "calls_hist_all_plain",
    "SELECT " CALLS__COLS_CHILDREN ", (" CALLS__COUNT_ALL_PLAIN ") FROM calls c"
    " ORDER BY c.created_at DESC, c.id DESC LIMIT $1::int8 OFFSET $2::int8",
    2};
static const db_stmt calls__count_user_plain_stmt = {"calls_count_user_plain",
                                                     CALLS__COUNT_USER_PLAIN, 1};
static const db_stmt calls__count_all_plain_stmt = {"calls_count_all_plain", CALLS__COUNT_ALL_PLAIN,
                                                    0};

/* [by user][without filters]: the count and the page statements. */
static const struct {
    const db_stmt *count, *page;
} calls__hist_stmts[2][2] = {
    {{&calls__count_all_stmt, &calls__hist_all_stmt},
     {&calls__count_all_plain_stmt, &calls__hist_all_plain_stmt}},
    {{&calls__count_user_stmt, &calls__hist_user_stmt},
     {&calls__count_user_plain_stmt, &calls__hist_user_plain_stmt}},
};

/* Turns every row of a list statement (CALLS__COLS_CHILDREN) into a Call and
 * loads the transfers and notes of those that have any. */
static cs_err calls__rows(db_conn *db, const PGresult *res, int max, Callservice__V1__Call ***out,
                          size_t *n)
{
    int rows = PQntuples(res);
    Callservice__V1__Call **v, **kids = NULL;
    size_t k = 0, n_kids = 0;
    cs_err rc = CS_OK;
    if (max >= 0 && rows > max)
        rows = max;
    v = calloc((size_t)rows + 1, sizeof *v);
    kids = calloc((size_t)rows + 1, sizeof *kids);
    if (!v || !kids) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    for (; k < (size_t)rows; k++) {
        v[k] = calls__call_from_row(res, (int)k);
        if (!v[k]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
        if (db_get_bool(res, (int)k, COL_HAS_CHILDREN))
            kids[n_kids++] = v[k];
    }
    rc = calls__load_children(db, kids, n_kids);
out:
    if (rc != CS_OK) {
        calls_repo_free_calls(v, k);
        v = NULL;
        k = 0;
    }
    free(kids);
    *out = v;
    *n = k;
    return rc;
}

cs_err calls_repo_history(db_conn *db, const calls_history_q *q, Callservice__V1__Call ***calls,
                          size_t *n, int64_t *total, bool *more)
{
    char from[24], to[24], after[24], limit[24], offset[24];
    PGresult *res = NULL, *cnt = NULL;
    cs_err rc;
    bool by_user = q->user_id != NULL;
    bool plain = !q->status && !q->direction && !q->from_us && !q->to_us && !q->after_created_us;
    const char *params[9], *plain_params[3] = {NULL, NULL, NULL};
    const db_stmt *st_count, *st_page;
    *calls = NULL;
    *n = 0;
    *total = 0;
    *more = false;
    if (by_user && !calls_is_uuid(q->user_id))
        return CS_OK; /* nobody: an empty page */
    snprintf(from, sizeof from, "%" PRId64, q->from_us);
    snprintf(to, sizeof to, "%" PRId64, q->to_us);
    snprintf(after, sizeof after, "%" PRId64, q->after_created_us);
    snprintf(limit, sizeof limit, "%d", q->limit + 1); /* one more: is there a next page? */
    snprintf(offset, sizeof offset, "%lld",
             q->after_created_us ? 0LL : (long long)(q->page - 1) * q->limit);
    params[0] = q->user_id;
    params[1] = q->status ? call_status_name(q->status) : NULL;
    params[2] = q->direction ? call_direction_name(q->direction) : NULL;
    params[3] = q->from_us ? from : NULL;
    params[4] = q->to_us ? to : NULL;
    params[5] = q->after_created_us ? after : NULL;
    params[6] = q->after_created_us ? q->after_id : NULL;
    params[7] = limit;
    params[8] = offset;
    if (plain) { /* the user (if any), limit, offset */
        size_t k = 0;
        if (by_user)
            plain_params[k++] = q->user_id;
        plain_params[k++] = limit;
        plain_params[k] = offset;
    }
    st_count = calls__hist_stmts[by_user][plain].count;
    st_page = calls__hist_stmts[by_user][plain].page;
    rc = db_exec_stmt(db, DB_RETRY, st_page, plain ? plain_params : params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) > 0) {
        *total = db_get_ll(res, 0, COL_LIST_TOTAL);
    } else { /* no row to carry the total */
        rc = db_exec_stmt(db, DB_RETRY, st_count, plain ? plain_params : params, &cnt);
        if (rc != CS_OK)
            goto out;
        *total = db_get_ll(cnt, 0, 0);
    }
    *more = PQntuples(res) > q->limit;
    rc = calls__rows(db, res, q->limit, calls, n);
out:
    if (res)
        PQclear(res);
    if (cnt)
        PQclear(cnt);
    return rc;
}

/* Everyone's live calls, or one user's: two statements rather than a
 * "($1 IS NULL OR ...)" that the generic plan cannot use an index for. */
#define CALLS__ACTIVE(cond)                                                                        \
    "SELECT " CALLS__COLS_CHILDREN " FROM calls c WHERE c.ended_at IS NULL" cond                   \
    " ORDER BY c.created_at DESC, c.id DESC LIMIT 1000"
static const db_stmt calls__active_stmt = {"calls_active", CALLS__ACTIVE(""), 0};
static const db_stmt calls__active_user_stmt = {
    "calls_active_user",
    CALLS__ACTIVE(" AND EXISTS (SELECT 1 FROM call_parties p"
                  " WHERE p.call_id = c.id AND p.user_id = $1::uuid)"),
    1};

cs_err calls_repo_active(db_conn *db, const char *user_id, Callservice__V1__Call ***calls,
                         size_t *n)
{
    const char *params[] = {user_id};
    PGresult *res = NULL;
    cs_err rc = db_exec_stmt(db, DB_RETRY, user_id ? &calls__active_user_stmt : &calls__active_stmt,
                             params, &res);
    *calls = NULL;
    *n = 0;
    if (rc == CS_OK)
        rc = calls__rows(db, res, -1, calls, n);
    if (res)
        PQclear(res);
    return rc;
}

static const db_stmt calls__live_stmt = {
    "calls_live",
    "SELECT " CALLS__COLS " FROM calls c WHERE c.ended_at IS NULL ORDER BY c.created_at", 0};

cs_err calls_repo_live(db_conn *db, call_rec ***recs, size_t *n)
{
    PGresult *res = NULL;
    call_rec **v = NULL;
    size_t k = 0;
    cs_err rc = db_exec_stmt(db, DB_RETRY, &calls__live_stmt, NULL, &res);
    *recs = NULL;
    *n = 0;
    if (rc != CS_OK)
        goto out;
    v = calloc((size_t)PQntuples(res) + 1, sizeof *v);
    if (!v) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    for (; k < (size_t)PQntuples(res); k++) {
        v[k] = calls__rec_from_row(res, (int)k);
        if (!v[k]) {
            rc = CS_ERR_INTERNAL;
            goto out;
        }
    }
    *recs = v;
    *n = k;
    v = NULL;
out:
    calls_repo_free_recs(v, k);
    if (res)
        PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                           */

/* All the figures in one statement, rows tagged by kind (STATS_*, the
 * first column), ordered by kind and then by the fourth column (bucket
 * start, or rank for users): columns kind, status or user id, user name,
 * bucket start or rank, total, answered, average duration, longest
 * duration, average wait, calls held, average hold (the last five for the
 * totals only, but the average duration: users too).
 * s holds the calls of the period ($1, $2 inclusive), of one user ($3) or
 * of all: one statement per case, without "($3 IS NULL OR ...)", whose
 * generic plan (used after five runs) scanned every call of the period. */
enum { STATS_TOTALS, STATS_STATUS, STATS_HOUR, STATS_DAY, STATS_USER, STATS_KINDS };

#define CALLS__PERIOD_ALL                                                                          \
    "WITH s AS MATERIALIZED (SELECT c.id, c.status, c.created_at, c.answered_at, c.ended_at,"      \
    " c.hold_us FROM calls c WHERE c.created_at >= " TS(1) " AND c.created_at <= " TS(2) ") "
/* call_parties.created_at is the call's (0002_calls.sql): one index range */
#define CALLS__PERIOD_USER                                                                         \
    "WITH s AS MATERIALIZED (SELECT c.id, c.status, c.created_at, c.answered_at, c.ended_at,"      \
    " c.hold_us FROM call_parties p JOIN calls c ON c.id = p.call_id WHERE p.user_id = "           \
    "$3::uuid"                                                                                     \
    " AND p.created_at >= " TS(1) " AND p.created_at <= " TS(2) ") "
#define CALLS__DUR            "extract(epoch from s.ended_at - s.answered_at)"
#define CALLS__ANSWERED_ENDED "s.answered_at IS NOT NULL AND s.ended_at IS NOT NULL"
#define CALLS__AVG_DUR                                                                             \
    "coalesce(avg(" CALLS__DUR ") FILTER (WHERE " CALLS__ANSWERED_ENDED "), 0)::float8"

#define CALLS__MAX_DUR                                                                             \
    "coalesce(max(floor(" CALLS__DUR ")) FILTER (WHERE " CALLS__ANSWERED_ENDED "), 0)::int8"
#define CALLS__AVG_WAIT                                                                            \
    "coalesce(avg(extract(epoch from s.answered_at - s.created_at))"                               \
    " FILTER (WHERE s.answered_at IS NOT NULL), 0)::float8"
#define CALLS__HELD         "count(*) FILTER (WHERE s.hold_us > 0)"
#define CALLS__AVG_HOLD     "coalesce(avg(s.hold_us) FILTER (WHERE s.hold_us > 0) / 1e6, 0)::float8"
#define CALLS__BUCKET_START US("coalesce(g.h, g.d)")

/* grouping(status, h, d): 3 by status, 5 by hour, 6 by day */
#define CALLS__STATS                                                                               \
    "SELECT 0 AS kind, NULL::text, NULL::text, NULL::int8 AS b, count(*), "                        \
    "count(s.answered_at), " CALLS__AVG_DUR ", " CALLS__MAX_DUR ", " CALLS__AVG_WAIT               \
    ", " CALLS__HELD ", " CALLS__AVG_HOLD " FROM s"                                                \
    " UNION ALL SELECT CASE grouping(g.status, g.h, g.d) WHEN 3 THEN 1 WHEN 5 THEN 2 ELSE 3 END,"  \
    " g.status, NULL, " CALLS__BUCKET_START ", count(*), count(g.answered_at), NULL, NULL, NULL,"  \
    " NULL, NULL"                                                                                  \
    " FROM (SELECT s.status, s.answered_at, date_trunc('hour', s.created_at, 'UTC') AS h,"         \
    " date_trunc('day', s.created_at, 'UTC') AS d FROM s) g"                                       \
    " GROUP BY GROUPING SETS ((g.status), (g.h), (g.d))"
#define CALLS__STATS_USERS(cond)                                                                   \
    " UNION ALL SELECT 4, p.user_id::text, coalesce(u.name, ''),"                                  \
    " row_number() OVER (ORDER BY count(*) DESC, p.user_id), count(*), "                           \
    "count(s.answered_at), " CALLS__AVG_DUR                                                        \
    ", NULL, NULL, NULL, NULL FROM s JOIN call_parties p ON p.call_id = s.id"                      \
    " LEFT JOIN users u ON u.id = p.user_id" cond " GROUP BY p.user_id, u.name"
#define CALLS__STATS_ORDER " ORDER BY 1, 4"

static const db_stmt calls__stats_all_stmt = {"calls_stats_all",
                                              CALLS__PERIOD_ALL CALLS__STATS CALLS__STATS_ORDER, 2};
static const db_stmt calls__stats_all_users_stmt = {
    "calls_stats_all_users",
    CALLS__PERIOD_ALL CALLS__STATS CALLS__STATS_USERS("") CALLS__STATS_ORDER, 2};
static const db_stmt calls__stats_user_stmt = {
    "calls_stats_user", CALLS__PERIOD_USER CALLS__STATS CALLS__STATS_ORDER, 3};
static const db_stmt calls__stats_user_users_stmt = {
    "calls_stats_user_users",
    CALLS__PERIOD_USER CALLS__STATS CALLS__STATS_USERS(" WHERE p.user_id = $3::uuid")
        CALLS__STATS_ORDER,
    3};

/* [of one user][with per-user figures] */
static const db_stmt *const calls__stats_stmts[2][2] = {
    {&calls__stats_all_stmt, &calls__stats_all_users_stmt},
    {&calls__stats_user_stmt, &calls__stats_user_users_stmt},
};

static cs_err calls__stats_totals(Callservice__V1__CallStatistics *st, const PGresult *res, int row)
{
    st->total = db_get_ll(res, row, 4);
    st->answer_rate = st->total ? (double)db_get_ll(res, row, 5) / (double)st->total : 0.0;
    st->average_duration_seconds = strtod(db_get_str(res, row, 6), NULL);
    st->max_duration_seconds = db_get_ll(res, row, 7);
    st->average_wait_seconds = strtod(db_get_str(res, row, 8), NULL);
    st->held = db_get_ll(res, row, 9);
    st->average_hold_seconds = strtod(db_get_str(res, row, 10), NULL);
    return CS_OK;
}

/* by_status holds every status already (zeros included, the enum's order) */
static cs_err calls__stats_status(Callservice__V1__CallStatistics *st, const PGresult *res, int row)
{
    call_status s = call_status_parse(db_get(res, row, 1));
    for (size_t i = 0; i < st->n_by_status; i++)
        if (st->by_status[i]->status == s)
            st->by_status[i]->count = db_get_ll(res, row, 4);
    return CS_OK;
}

static cs_err calls__stats_bucket(Callservice__V1__TimeBucket **v, size_t *n, const PGresult *res,
                                  int row)
{
    Callservice__V1__TimeBucket *b = malloc(sizeof *b);
    if (!b)
        return CS_ERR_INTERNAL;
    callservice__v1__time_bucket__init(b);
    v[(*n)++] = b;
    b->start = calls_timestamp_new(db_get_ll(res, row, 3));
    b->total = db_get_ll(res, row, 4);
    b->answered = db_get_ll(res, row, 5);
    return b->start ? CS_OK : CS_ERR_INTERNAL;
}

static cs_err calls__stats_hour(Callservice__V1__CallStatistics *st, const PGresult *res, int row)
{
    return calls__stats_bucket(st->per_hour, &st->n_per_hour, res, row);
}

static cs_err calls__stats_day(Callservice__V1__CallStatistics *st, const PGresult *res, int row)
{
    return calls__stats_bucket(st->per_day, &st->n_per_day, res, row);
}

static cs_err calls__stats_user(Callservice__V1__CallStatistics *st, const PGresult *res, int row)
{
    Callservice__V1__UserCallStatistics *u = malloc(sizeof *u);
    if (!u)
        return CS_ERR_INTERNAL;
    callservice__v1__user_call_statistics__init(u);
    st->per_user[st->n_per_user++] = u;
    u->user_id = calls_strdup(db_get_str(res, row, 1));
    u->name = calls_strdup(db_get_str(res, row, 2));
    if (!u->user_id || !u->name)
        return CS_ERR_INTERNAL;
    u->total = db_get_ll(res, row, 4);
    u->answered = db_get_ll(res, row, 5);
    u->answer_rate = u->total ? (double)u->answered / (double)u->total : 0.0;
    u->average_duration_seconds = strtod(db_get_str(res, row, 6), NULL);
    return CS_OK;
}

static cs_err (*const calls__stats_row[STATS_KINDS])(Callservice__V1__CallStatistics *,
                                                     const PGresult *, int) = {
    [STATS_TOTALS] = calls__stats_totals, [STATS_STATUS] = calls__stats_status,
    [STATS_HOUR] = calls__stats_hour,     [STATS_DAY] = calls__stats_day,
    [STATS_USER] = calls__stats_user,
};

/* Allocates by_status (every status, count 0) and the arrays the rows of
 * each kind go to. */
static cs_err calls__stats_alloc(Callservice__V1__CallStatistics *st, const PGresult *res,
                                 bool per_user)
{
    size_t rows[STATS_KINDS] = {0};
    for (int row = 0; row < PQntuples(res); row++) {
        long long kind = db_get_ll(res, row, 0);
        if (kind >= 0 && kind < STATS_KINDS)
            rows[kind]++;
    }
    st->by_status = calloc(8, sizeof *st->by_status);
    st->per_hour = calloc(rows[STATS_HOUR] + 1, sizeof *st->per_hour);
    st->per_day = calloc(rows[STATS_DAY] + 1, sizeof *st->per_day);
    if (per_user || rows[STATS_USER])
        st->per_user = calloc(rows[STATS_USER] + 1, sizeof *st->per_user);
    if (!st->by_status || !st->per_hour || !st->per_day ||
        ((per_user || rows[STATS_USER]) && !st->per_user))
        return CS_ERR_INTERNAL;
    for (int s = 1; s <= 8; s++) {
        Callservice__V1__StatusCount *sc = malloc(sizeof *sc);
        if (!sc)
            return CS_ERR_INTERNAL;
        callservice__v1__status_count__init(sc);
        sc->status = (call_status)s;
        st->by_status[st->n_by_status++] = sc;
    }
    return CS_OK;
}

/* On error, what was filled stays in st: the caller frees st as a whole. */
cs_err calls_repo_statistics(db_conn *db, int64_t from_us, int64_t to_us, const char *user_id,
                             bool per_user, Callservice__V1__CallStatistics *st)
{
    char from[24], to[24];
    const char *params[] = {from, to, user_id};
    PGresult *res = NULL;
    cs_err rc;
    snprintf(from, sizeof from, "%" PRId64, from_us);
    snprintf(to, sizeof to, "%" PRId64, to_us);
    rc = db_exec_stmt(db, DB_RETRY, calls__stats_stmts[user_id != NULL][per_user], params, &res);
    if (rc != CS_OK)
        goto out;
    rc = calls__stats_alloc(st, res, per_user);
    for (int row = 0; rc == CS_OK && row < PQntuples(res); row++) {
        long long kind = db_get_ll(res, row, 0);
        if (kind >= 0 && kind < STATS_KINDS)
            rc = calls__stats_row[kind](st, res, row);
    }
out:
    if (res)
        PQclear(res);
    return rc;
}
