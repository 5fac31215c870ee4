/*
 * events service: WatchEvents and PublishTyping, and the presence hook.
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

    e = svc_auth(ctx, &id);
    if (e != CS_OK)
        goto out;
    if (!events_is_uuid(r->call_id)) {
        e = rpc_fail(ctx, CS_ERR_INVALID, "call_id must be a uuid");
        goto out;
    }
    events_uuid_lower(call_id, r->call_id);
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
