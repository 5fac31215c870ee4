/*
 * events service: WatchEvents, ListCallEvents and PublishTyping, and the
 * presence hook.
 *
 * WatchEvents only authenticates, validates and registers the stream with
 * the hub, then returns: the hub's threads do the replay and the live
 * delivery, so no worker thread stays tied to a stream.
 *
 * PublishTyping is ephemeral: it is not stored, it goes out as a NOTIFY on
 * the ephemeral channel carrying the packed Event and who may see it, and
 * every instance's hub delivers it to its live watchers of that call. Who
 * may publish (and see) it is read from the call's latest event row: its
 * participants; supervisors and admins may too. Someone else's call is
 * NOT_FOUND, as in CallService.
 */
#include "events/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callservice/v1/events.pb-c.h"
#include "events/events.h"
#include "events/internal.h"

int events_service_start(svc_app *app, const events_listen *extra, size_t n_extra)
{
    events_config cfg;
    char err[256];

    if (cfg_load(events_cfg_table, events_cfg_table_len, &cfg, err, sizeof err) != 0) {
        log_error("events configuration: %s", err);
        return -1;
    }
    app->events = events_hub_start(app->cfg.database_url, &cfg, extra, n_extra);
    cfg_free(events_cfg_table, events_cfg_table_len, &cfg);
    if (app->events == NULL)
        return -1;
    app->on_presence = events_presence_hook;
    return 0;
}

void events_service_stop(svc_app *app)
{
    events_hub_stop(app->events);
    app->events = NULL;
    app->on_presence = NULL;
}

cs_err events_rpc_watch(rpc_ctx *ctx, const ProtobufCMessage *req, rpc_stream *stream)
{
    const Callservice__V1__WatchEventsRequest *r = (const Callservice__V1__WatchEventsRequest *)req;
    svc_app *app = svc_app_of(ctx);
    auth_identity id;
    events_filter f;
    char err[160];
    cs_err e;

    e = svc_auth(ctx, &id);
    if (e != CS_OK)
        goto out;
    e = events_filter_init(&f, auth_sees_all(&id) != 0, id.user_id, r, err, sizeof err);
    if (e != CS_OK) {
        e = rpc_fail(ctx, e, "%s", err);
        goto out;
    }
    if (app->events == NULL) {
        e = rpc_fail(ctx, CS_ERR_UNAVAILABLE, "events are not available");
        goto out;
    }
    e = events_hub_subscribe(app->events, stream, &f, r->after_seq, err, sizeof err);
    if (e != CS_OK) {
        e = rpc_fail(ctx, e, "%s", err);
        goto out;
    }
    log_info("events: watching (after_seq %lld%s%s)", (long long)r->after_seq,
             f.call_id[0] ? ", call " : "", f.call_id);
out:
    return e;
}

static const db_stmt events__participants_stmt = {
    "events_typing_participants",
    "SELECT e.visible_to::text, (SELECT u.name FROM users u WHERE u.id = $2::uuid)"
    " FROM call_events e WHERE e.call_id = $1::uuid ORDER BY e.seq DESC LIMIT 1",
    2,
};

static const db_stmt events__notify_stmt = {
    "events_typing_notify",
    "SELECT pg_notify('" EVENTS_EPHEMERAL_CHANNEL "', $1)",
    1,
};

/* The caller's identity, and the request's call id checked and
 * lower-cased into call_id; an error answered on ctx otherwise. */
static cs_err events__auth_call(rpc_ctx *ctx, const char *raw, auth_identity *id,
                                char call_id[EVENTS_UUID_LEN + 1])
{
    cs_err e = svc_auth(ctx, id);
    if (e != CS_OK)
        return e;
    if (!events_is_uuid(raw))
        return rpc_fail(ctx, CS_ERR_INVALID, "call_id must be a uuid");
    events_uuid_lower(call_id, raw);
    return CS_OK;
}

enum { EVENTS_LIST_DEFAULT = 100, EVENTS_LIST_MAX = 500 };

/* $3 NULL: every event of the call (supervisors and admins); else those
 * visible to that user. One more row than asked for says whether there is
 * a next page. The (call_id, seq) index makes either a range scan. */
static const db_stmt events__list_call_stmt = {
    "events_list_call",
    "SELECT " EVENTS_ROW_COLUMNS " FROM call_events WHERE call_id = $1::uuid AND seq > $2::int8"
    " AND ($3::uuid IS NULL OR $3::uuid = ANY (visible_to)) ORDER BY seq LIMIT $4::int4 + 1",
    4,
};

/* A copy of r's Event that owns its memory (the record's points into the
 * record, its payload an unknown field): packed, then unpacked. */
static Callservice__V1__Event *events__own_copy(const events_rec *r)
{
    Callservice__V1__Event *ev = NULL;
    size_t len = protobuf_c_message_get_packed_size(&r->ev.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf != NULL && protobuf_c_message_pack(&r->ev.base, buf) == len)
        ev = callservice__v1__event__unpack(NULL, len, buf);
    free(buf);
    return ev;
}

cs_err events_rpc_list_call_events(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp)
{
    const Callservice__V1__ListCallEventsRequest *r =
        (const Callservice__V1__ListCallEventsRequest *)req;
    Callservice__V1__ListCallEventsResponse *rsp = NULL;
    auth_identity id;
    char call_id[EVENTS_UUID_LEN + 1], user_id[EVENTS_UUID_LEN + 1], after[24], limit[16];
    const char *params[4] = {call_id, after, NULL, limit};
    int n, rows, i;
    PGresult *res = NULL;
    cs_err e;

    e = events__auth_call(ctx, r->call_id, &id, call_id);
    if (e != CS_OK)
        goto out;
    if (r->after_seq < 0 || r->limit < 0 || r->limit > EVENTS_LIST_MAX) {
        e = rpc_fail(ctx, CS_ERR_INVALID, "after_seq must not be negative, limit 0 to %d",
                     EVENTS_LIST_MAX);
        goto out;
    }
    n = r->limit ? r->limit : EVENTS_LIST_DEFAULT;
    snprintf(after, sizeof after, "%lld", (long long)r->after_seq);
    snprintf(limit, sizeof limit, "%d", n);
    if (!auth_sees_all(&id)) {
        events_uuid_lower(user_id, id.user_id);
        params[2] = user_id;
    }
    e = db_exec_stmt(svc_db(ctx), DB_RETRY, &events__list_call_stmt, params, &res);
    if (e != CS_OK) {
        e = svc_db_fail(ctx, e);
        goto out;
    }
    rows = PQntuples(res);
    if (rows == 0 && r->after_seq == 0 && !auth_sees_all(&id)) {
        e = rpc_fail(ctx, CS_ERR_NOT_FOUND, "call %s not found", call_id);
        goto out;
    }
    rsp = malloc(sizeof *rsp);
    if (rsp != NULL) {
        callservice__v1__list_call_events_response__init(rsp);
        rsp->events = calloc((size_t)(rows < n ? rows : n) + 1, sizeof *rsp->events);
    }
    if (rsp == NULL || rsp->events == NULL) {
        e = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (i = 0; i < rows && i < n; i++) {
        events_rec *rec = events_rec_from_row(res, i);
        Callservice__V1__Event *ev = rec ? events__own_copy(rec) : NULL;
        events_rec_free(rec);
        if (ev == NULL) {
            e = rpc_fail(ctx, CS_ERR_INTERNAL, "event %s of call %s could not be read",
                         db_get_str(res, i, 0), call_id);
            goto out;
        }
        rsp->events[rsp->n_events++] = ev;
    }
    if (rows > n)
        rsp->next_after_seq = rsp->events[n - 1]->seq;
    *resp = &rsp->base;
    rsp = NULL;
out:
    if (rsp != NULL)
        protobuf_c_message_free_unpacked(&rsp->base, NULL);
    if (res != NULL)
        PQclear(res);
    return e;
}

cs_err events_rpc_publish_typing(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__PublishTypingRequest *r =
        (const Callservice__V1__PublishTypingRequest *)req;
    db_conn *db = svc_db(ctx);
    auth_identity id;
    char call_id[EVENTS_UUID_LEN + 1], user_id[EVENTS_UUID_LEN + 1];
    const char *params[2] = {call_id, user_id};
    const char *vis[64];
    char *visbuf = NULL, *note = NULL;
    int n_vis, i, allowed;
    PGresult *res = NULL;
    Callservice__V1__Event ev = CALLSERVICE__V1__EVENT__INIT;
    Callservice__V1__Typing ty = CALLSERVICE__V1__TYPING__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Callservice__V1__PublishTypingResponse *rsp = NULL;
    struct timespec now;
    cs_err e;

    e = events__auth_call(ctx, r->call_id, &id, call_id);
    if (e != CS_OK)
        goto out;
    events_uuid_lower(user_id, id.user_id);
    e = db_exec_stmt(db, DB_RETRY, &events__participants_stmt, params, &res);
    if (e != CS_OK) {
        e = svc_db_fail(ctx, e);
        goto out;
    }
    if (PQntuples(res) == 0) {
        e = rpc_fail(ctx, CS_ERR_NOT_FOUND, "call %s not found", call_id);
        goto out;
    }
    visbuf = strdup(db_get_str(res, 0, 0));
    if (visbuf == NULL) {
        e = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    n_vis = events_parse_uuid_array(visbuf, vis, sizeof vis / sizeof vis[0]);
    if (n_vis < 0) {
        e = rpc_fail(ctx, CS_ERR_INTERNAL, "malformed event row");
        goto out;
    }
    allowed = auth_sees_all(&id);
    for (i = 0; !allowed && i < n_vis; i++)
        allowed = strcmp(vis[i], user_id) == 0;
    if (!allowed) {
        e = rpc_fail(ctx, CS_ERR_NOT_FOUND, "call %s not found", call_id);
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    ts.seconds = now.tv_sec;
    ts.nanos = (int32_t)now.tv_nsec;
    ty.call_id = call_id;
    ty.user_id = user_id;
    ty.user_name = (char *)db_get_str(res, 0, 1);
    ty.typing = r->typing;
    ev.seq = 0;
    ev.type = CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_TYPING;
    ev.time = &ts;
    ev.stored = 0;
    ev.call_id = call_id;
    ev.user_id = user_id;
    ev.payload_case = CALLSERVICE__V1__EVENT__PAYLOAD_TYPING;
    ev.typing = &ty;
    note = events_ephemeral_encode(&ev, vis, (size_t)n_vis);
    if (note == NULL || strlen(note) > EVENTS_NOTIFY_MAX) {
        e = rpc_fail(ctx, CS_ERR_INTERNAL, "typing event too large");
        goto out;
    }
    PQclear(res);
    res = NULL;
    params[0] = note;
    e = db_exec_stmt(db, 0, &events__notify_stmt, params, NULL);
    if (e != CS_OK) {
        e = svc_db_fail(ctx, e);
        goto out;
    }
    rsp = malloc(sizeof *rsp);
    if (rsp == NULL) {
        e = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    callservice__v1__publish_typing_response__init(rsp);
    *resp = &rsp->base;
out:
    if (res != NULL)
        PQclear(res);
    free(note);
    free(visbuf);
    return e;
}

cs_err events_presence_hook(svc_app *app, db_conn *db, const Callservice__V1__User *user)
{
    const char *vis[1];

    (void)app;
    if (user == NULL || !events_is_uuid(user->id))
        return CS_ERR_INVALID;
    vis[0] = user->id;
    return events_append(db, CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_USER_STATUS_CHANGED, NULL,
                         user->id, vis, 1, &user->base, NULL);
}
