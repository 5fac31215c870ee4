/*
 * health: grpc.health.v1.Health over the rpc layer.
 *
 * One mutex guards the service list and the watcher list; changes are rare,
 * so a list walk is fine. Lock order: health.mu -> stream lock (sending to
 * a watcher); on_close runs without the stream lock and takes health.mu.
 */
#include "health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct health__svc {
    struct health__svc *next;
    health_status status;
    char name[];
} health__svc;

typedef struct health__watch {
    struct health__watch *prev, *next;
    rpc_stream *stream;
    health_status last; /* last status sent */
    char name[];
} health__watch;

static struct {
    pthread_mutex_t mu;
    health__svc *svcs;
    health__watch *watches;
} health = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};

static health__svc *health__find(const char *name)
{
    for (health__svc *s = health.svcs; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static health_status health__status_locked(const char *name)
{
    health__svc *s = health__find(name);
    return s ? s->status : HEALTH_SERVICE_UNKNOWN;
}

/* Sends status to a watcher if it changed; a full queue ends the watch. */
static void health__notify(health__watch *w, health_status status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

    if (w->last == status)
        return;
    resp.status = status;
    if (rpc_stream_send(w->stream, &resp.base) != 0) {
        rpc_stream_abort(w->stream, CS_ERR_RESOURCE, "health watcher too slow");
        return;
    }
    w->last = status;
}

static void health__changed_locked(const char *name, health_status status)
{
    for (health__watch *w = health.watches; w; w = w->next)
        if (strcmp(w->name, name) == 0)
            health__notify(w, status);
}

int health_set_status(const char *service, health_status status)
{
    int rc = 0;
    health__svc *s;

    if (!service)
        service = "";
    pthread_mutex_lock(&health.mu);
    s = health__find(service);
    if (!s) {
        size_t n = strlen(service);
        s = malloc(sizeof *s + n + 1);
        if (!s) {
            rc = -1;
            goto out;
        }
        memcpy(s->name, service, n + 1);
        s->next = health.svcs;
        health.svcs = s;
    }
    s->status = status;
    health__changed_locked(service, status);
out:
    pthread_mutex_unlock(&health.mu);
    return rc;
}

void health_set_all(health_status status)
{
    pthread_mutex_lock(&health.mu);
    for (health__svc *s = health.svcs; s; s = s->next) {
        s->status = status;
        health__changed_locked(s->name, status);
    }
    pthread_mutex_unlock(&health.mu);
}

health_status health_get_status(const char *service)
{
    health_status st;
    pthread_mutex_lock(&health.mu);
    st = health__status_locked(service ? service : "");
    pthread_mutex_unlock(&health.mu);
    return st;
}

void health_reset(void)
{
    pthread_mutex_lock(&health.mu);
    while (health.svcs) {
        health__svc *s = health.svcs;
        health.svcs = s->next;
        free(s);
    }
    pthread_mutex_unlock(&health.mu);
}

static cs_err health__check(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse *out;
    health_status st = health_get_status(r->service);

    if (st == HEALTH_SERVICE_UNKNOWN)
        return rpc_fail(ctx, CS_ERR_NOT_FOUND, "unknown service \"%.100s\"", r->service);
    out = malloc(sizeof *out);
    if (!out)
        return rpc_fail(ctx, CS_ERR_RESOURCE, "out of memory");
    grpc__health__v1__health_check_response__init(out);
    out->status = st;
    *resp = &out->base;
    return CS_OK;
}

static void health__watch_closed(void *arg)
{
    health__watch *w = arg;
    pthread_mutex_lock(&health.mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        health.watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&health.mu);
    rpc_stream_unref(w->stream);
    free(w);
}

static cs_err health__watch_start(rpc_ctx *ctx, const ProtobufCMessage *req, rpc_stream *stream)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    size_t n = strlen(r->service);
    health__watch *w = calloc(1, sizeof *w + n + 1);

    if (!w)
        return rpc_fail(ctx, CS_ERR_RESOURCE, "out of memory");
    memcpy(w->name, r->service, n + 1);
    w->stream = stream;
    w->last = (health_status)-1; /* nothing sent yet */
    rpc_stream_ref(stream);
    pthread_mutex_lock(&health.mu);
    w->next = health.watches;
    if (health.watches)
        health.watches->prev = w;
    health.watches = w;
    health__notify(w, health__status_locked(w->name));
    pthread_mutex_unlock(&health.mu);
    rpc_stream_on_close(stream, health__watch_closed, w);
    return CS_OK;
}

const rpc_method health_methods[] = {
    {"/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, health__check, NULL,
     RPC_TRY_INLINE}, /* never blocks: answered on the poller */
    {"/grpc.health.v1.Health/Watch", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, NULL, health__watch_start, 0},
};
const size_t health_methods_count = sizeof health_methods / sizeof health_methods[0];
