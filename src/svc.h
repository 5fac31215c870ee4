/*
 * svc: what every callsvc handler module sees of the process: the app
 * (configuration, token key, hooks; rpc_ctx->app) and the per-worker state
 * (rpc_ctx->worker: the worker's own database connection).
 *
 * Ownership: main.c creates and frees both; handlers only borrow them. The
 * app is read-only once serving starts.
 */
#ifndef CS_SVC_H
#define CS_SVC_H

#include <assert.h>
#include <stdio.h>
#include <time.h>

#include "auth/auth.h"
#include "auth/tokcache.h"
#include "callservice/v1/common.pb-c.h"
#include "db/db.h"
#include "rpc/rpc.h"
#include "common/log.h"
#include "svc_config.h"

typedef struct svc_app svc_app;

/* Called by users inside the open transaction that changed a user's
 * presence, with the user as it is after the change; a non-OK return rolls
 * the change back. main.c points it at the events module (call_events row
 * of type USER_STATUS_CHANGED); NULL: no event is written. */
typedef cs_err (*svc_presence_hook)(svc_app *app, db_conn *db, const Callservice__V1__User *user);

/* Fills what OpsService.GetMetrics reports of the process (ops/ops.h), from
 * any rpc thread; main.c's. NULL: the metrics hold nothing but defaults. */
struct ops_snapshot;
typedef void (*svc_snapshot_hook)(const svc_app *app, struct ops_snapshot *out);

struct svc_app {
    svc_config cfg;
    auth_key jwt;
    svc_presence_hook on_presence;
    svc_snapshot_hook snapshot;
    void *calls;                /* the calls module's state, if any */
    void *events;               /* the event hub, if any */
    struct ucache *users_cache; /* users/cache.h; NULL: off */
    kvcache *tokens;            /* verified tokens (auth/tokcache.h); NULL: off */
    struct lcache *calls_cache; /* call lists (calls/listcache.h); NULL: off */
};

typedef struct svc_worker {
    int index;
    db_conn *db;
} svc_worker;

/* The method table of the whole contract (methods.c): UserService,
 * CallService, EventService and grpc.health.v1.Health. Static storage. */
const rpc_method *svc_methods(size_t *n);

static inline svc_app *svc_app_of(const rpc_ctx *ctx)
{
    return (svc_app *)ctx->app;
}

/* The worker's connection. Not on the poller (RPC_TRY_INLINE handlers call
 * rpc_defer first): there ctx->worker is NULL. */
static inline db_conn *svc_db(const rpc_ctx *ctx)
{
    assert(ctx->worker && "svc_db on the poller: call rpc_defer first");
    return ((svc_worker *)ctx->worker)->db;
}

/* Authenticates the caller from its bearer token. On CS_OK fills id and
 * records the user in ctx and the log context; otherwise sets the status
 * message (UNAUTHENTICATED, "token expired", ...) and returns the error. */
static inline cs_err svc_auth(rpc_ctx *ctx, auth_identity *id)
{
    char msg[160];
    svc_app *app = svc_app_of(ctx);
    cs_err e = tokcache_identify(app->tokens, &app->jwt, ctx->authorization, (int64_t)time(NULL),
                                 id, msg, sizeof msg);
    if (e != CS_OK)
        return rpc_fail(ctx, e, "%s", msg);
    snprintf(ctx->user_id, sizeof ctx->user_id, "%s", id->user_id);
    log_set_context(ctx->request_id, id->user_id);
    return CS_OK;
}

/* Authenticates and requires one of the roles in allowed
 * (AUTH_ROLE_BIT(...) | ...): PERMISSION_DENIED otherwise. */
static inline cs_err svc_auth_role(rpc_ctx *ctx, auth_identity *id, unsigned allowed)
{
    char msg[160];
    cs_err e = svc_auth(ctx, id);
    if (e == CS_OK && (e = auth_require(id, allowed, msg, sizeof msg)) != CS_OK)
        return rpc_fail(ctx, e, "%s", msg);
    return e;
}

/* A database error as the client sees it ("database unavailable", ...). */
static inline cs_err svc_db_fail(rpc_ctx *ctx, cs_err e)
{
    return rpc_fail(ctx, e, "%s", db_public_error(e));
}

#endif
