/*
 * events service: the EventService handlers (rpc.h signatures) and the
 * presence hook the users module calls (svc.h's svc_presence_hook).
 *
 * They find the hub in svc_app.events (an events_hub *, set by main.c).
 * Ownership: as rpc.h says for handlers; the hook borrows everything.
 */
#ifndef CS_EVENTS_SERVICE_H
#define CS_EVENTS_SERVICE_H

#include "callservice/v1/common.pb-c.h"
#include "db/db.h"
#include "events/events.h"
#include "rpc/rpc.h"
#include "svc.h"

/* For callsvc serve (main.c): loads the EVENTS_* configuration, starts the
 * hub into app->events (its listener also LISTENs on the n_extra channels
 * of extra, borrowed until events_service_stop; events.h) and points
 * app->on_presence at events_presence_hook. Call it before
 * rpc_server_start. 0, or -1 (logged). */
int events_service_start(svc_app *app, const events_listen *extra, size_t n_extra);
/* Stops the hub; call it after rpc_server_wait_and_free. */
void events_service_stop(svc_app *app);

/* EventService.WatchEvents (server streaming). */
cs_err events_rpc_watch(rpc_ctx *ctx, const ProtobufCMessage *req, rpc_stream *stream);
/* EventService.PublishTyping (unary). */
/* ListCallEvents: unary, on a worker (reads the event log). */
cs_err events_rpc_list_call_events(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp);
cs_err events_rpc_publish_typing(rpc_ctx *ctx, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp);

/* svc_presence_hook: appends USER_STATUS_CHANGED for user (visible to the
 * user and to supervisors/admins) inside the caller's transaction. */
cs_err events_presence_hook(svc_app *app, db_conn *db, const Callservice__V1__User *user);

#endif
