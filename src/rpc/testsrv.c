/*
 * rpc_testsrv: a small server over the rpc layer, for the rpc integration
 * test and the unary benchmark's ceiling. Not part of callsvc.
 *
 *   rpc_testsrv [addr] [workers]     (default 127.0.0.1:0, 2 workers)
 *
 * Prints "PORT <n>" on stdout once serving; SIGTERM/SIGINT stop it cleanly.
 *
 * Methods (existing messages, test semantics):
 *  - UserService/GetUser: echoes user_id into id, the authorization
 *    metadata into name, the request id into email. Special user_ids:
 *    "sleep:<ms>" sleeps first; "fail:<STATUS_NAME>" fails with that status;
 *    "stats" answers name = "unary=<n> closes=<n> worker_ok=<0|1>";
 *    "health:<STATUS>" sets the health of "callservice.v1.UserService".
 *  - UserService/GetProfile (RPC_TRY_INLINE): needs "authorization: Bearer
 *    <token>", answers a user shaped like callsvc's (for the benchmark),
 *    on the poller; with the token "defer" it defers to a worker. Its name
 *    says where it was answered: "on poller" or "on worker".
 *  - EventService/WatchEvents: sends after_seq events (seq 1..n, call_id
 *    "c-<seq>") from a producer thread, then ends OK; with call_id "hold"
 *    it stays open after them until the client cancels.
 *  - EventService/PublishTyping: a row without a handler (UNIMPLEMENTED).
 *  - grpc.health.v1.Health: "" and callservice.v1.UserService SERVING.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "common/log.h"
#include "health.h"
#include "meta.h"
#include "rpc.h"

typedef struct tsrv_worker {
    pthread_t thread;
    int index;
} tsrv_worker;

typedef struct tsrv_sub {
    struct tsrv_sub *next;
    rpc_stream *stream;
    int64_t remaining, seq;
    int hold, finished, closed;
} tsrv_sub;

static struct {
    atomic_ulong unary;
    atomic_ulong closes;
    atomic_int worker_bad;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tsrv_sub *subs;
    int stop;
} tsrv = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *tsrv_worker_init(void *app, int index)
{
    tsrv_worker *w = malloc(sizeof *w);
    if (w) {
        w->thread = pthread_self();
        w->index = index;
    }
    return w;
}

static void tsrv_worker_fini(void *app, void *worker)
{
    tsrv_worker *w = worker;
    if (w && !pthread_equal(w->thread, pthread_self()))
        atomic_store(&tsrv.worker_bad, 1);
    free(w);
}

static void tsrv_check_worker(const rpc_ctx *ctx)
{
    const tsrv_worker *w = ctx->worker;
    if (!w || !pthread_equal(w->thread, pthread_self()))
        atomic_store(&tsrv.worker_bad, 1);
}

static Callservice__V1__User *tsrv_user(const char *id, const char *name, const char *email)
{
    Callservice__V1__User *u = malloc(sizeof *u);
    if (!u)
        return NULL;
    callservice__v1__user__init(u);
    u->id = strdup(id);
    u->name = strdup(name);
    u->email = strdup(email);
    if (!u->id || !u->name || !u->email) {
        protobuf_c_message_free_unpacked(&u->base, NULL);
        return NULL;
    }
    return u;
}

static cs_err tsrv_get_user(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__GetUserRequest *r = (const void *)req;
    char stats[128];
    const char *name = ctx->authorization ? ctx->authorization : "";
    Callservice__V1__User *u;

    tsrv_check_worker(ctx);
    atomic_fetch_add(&tsrv.unary, 1);
    if (strncmp(r->user_id, "sleep:", 6) == 0) {
        long ms = strtol(r->user_id + 6, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else if (strncmp(r->user_id, "fail:", 5) == 0) {
        return rpc_fail(ctx, cs_err_from_name(r->user_id + 5), "asked to fail with %s",
                        r->user_id + 5);
    } else if (strcmp(r->user_id, "stats") == 0) {
        snprintf(stats, sizeof stats, "unary=%lu closes=%lu worker_ok=%d", atomic_load(&tsrv.unary),
                 atomic_load(&tsrv.closes), !atomic_load(&tsrv.worker_bad));
        name = stats;
    } else if (strncmp(r->user_id, "health:", 7) == 0) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
            &grpc__health__v1__health_check_response__serving_status__descriptor, r->user_id + 7);
        if (!v)
            return rpc_fail(ctx, CS_ERR_INVALID, "no such serving status");
        health_set_status("callservice.v1.UserService", (health_status)v->value);
    }
    u = tsrv_user(r->user_id, name, ctx->request_id);
    if (!u)
        return rpc_fail(ctx, CS_ERR_RESOURCE, "out of memory");
    *resp = &u->base;
    return CS_OK;
}

static cs_err tsrv_get_profile(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    size_t n;
    const char *tok = rpc_meta_bearer(ctx->authorization, &n);
    Callservice__V1__User *u;
    Callservice__V1__SipDevice *d;

    if (!tok)
        return rpc_fail(ctx, CS_ERR_UNAUTHENTICATED, "missing bearer token");
    if (n == 5 && memcmp(tok, "defer", 5) == 0 && rpc_defer(ctx))
        return CS_OK;
    if (ctx->worker)
        tsrv_check_worker(ctx);
    atomic_fetch_add(&tsrv.unary, 1);
    u = tsrv_user("6f1c2d3e-0000-4000-8000-000000000001", ctx->worker ? "on worker" : "on poller",
                  "bench@example.com");
    d = malloc(sizeof *d);
    if (!u || !d) {
        free(d);
        if (u)
            protobuf_c_message_free_unpacked(&u->base, NULL);
        return rpc_fail(ctx, CS_ERR_RESOURCE, "out of memory");
    }
    callservice__v1__sip_device__init(d);
    d->extension = strdup("3001");
    d->username = strdup("3001");
    d->secret = strdup("s3cr3t-s3cr3t");
    d->context = strdup("from-internal");
    d->endpoint = strdup("PJSIP/3001");
    u->sip_device = d;
    u->role = CALLSERVICE__V1__ROLE__ROLE_AGENT;
    u->status = CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_AVAILABLE;
    *resp = &u->base;
    return CS_OK;
}

/* ---- streams: one producer thread feeds every subscriber --------------- */

static void tsrv_sub_closed(void *arg)
{
    tsrv_sub *sub = arg;
    atomic_fetch_add(&tsrv.closes, 1);
    pthread_mutex_lock(&tsrv.mu);
    sub->closed = 1;
    pthread_cond_signal(&tsrv.cv);
    pthread_mutex_unlock(&tsrv.mu);
}

static cs_err tsrv_watch(rpc_ctx *ctx, const ProtobufCMessage *req, rpc_stream *stream)
{
    const Callservice__V1__WatchEventsRequest *r = (const void *)req;
    tsrv_sub *sub;

    if (r->after_seq < 0 || r->after_seq > 1000000)
        return rpc_fail(ctx, CS_ERR_INVALID, "after_seq out of range");
    sub = calloc(1, sizeof *sub);
    if (!sub)
        return rpc_fail(ctx, CS_ERR_RESOURCE, "out of memory");
    sub->stream = stream;
    sub->remaining = r->after_seq;
    sub->hold = strcmp(r->call_id, "hold") == 0;
    rpc_stream_ref(stream);
    rpc_stream_on_close(stream, tsrv_sub_closed, sub);
    pthread_mutex_lock(&tsrv.mu);
    sub->next = tsrv.subs;
    tsrv.subs = sub;
    pthread_cond_signal(&tsrv.cv);
    pthread_mutex_unlock(&tsrv.mu);
    return CS_OK;
}

/* Sends what it can to sub; 1 if it still has work. Called with tsrv.mu. */
static int tsrv_feed(tsrv_sub *sub)
{
    Callservice__V1__Event ev = CALLSERVICE__V1__EVENT__INIT;
    char call_id[32];

    while (sub->remaining > 0) {
        ev.seq = sub->seq + 1;
        ev.type = CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_RINGING;
        ev.stored = 1;
        snprintf(call_id, sizeof call_id, "c-%lld", (long long)ev.seq);
        ev.call_id = call_id;
        if (rpc_stream_send(sub->stream, &ev.base) != 0)
            return 1; /* queue full (retry soon) or closed (on_close follows) */
        sub->seq++;
        sub->remaining--;
    }
    if (!sub->hold && !sub->finished) {
        rpc_stream_finish(sub->stream, CS_OK, NULL);
        sub->finished = 1;
    }
    return 0;
}

static void *tsrv_producer(void *arg)
{
    pthread_mutex_lock(&tsrv.mu);
    for (;;) {
        int busy = 0;
        for (tsrv_sub **pp = &tsrv.subs; *pp;) {
            tsrv_sub *sub = *pp;
            if (sub->closed) {
                *pp = sub->next;
                rpc_stream_unref(sub->stream);
                free(sub);
                continue;
            }
            busy |= tsrv_feed(sub);
            pp = &sub->next;
        }
        if (tsrv.stop && !tsrv.subs)
            break;
        if (busy) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 1000000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&tsrv.cv, &tsrv.mu, &ts);
        } else {
            pthread_cond_wait(&tsrv.cv, &tsrv.mu);
        }
    }
    pthread_mutex_unlock(&tsrv.mu);
    return NULL;
}

static const rpc_method tsrv_methods[] = {
    {"/callservice.v1.UserService/GetUser", &callservice__v1__get_user_request__descriptor,
     &callservice__v1__user__descriptor, tsrv_get_user, NULL, 0},
    {"/callservice.v1.UserService/GetProfile", &callservice__v1__get_profile_request__descriptor,
     &callservice__v1__user__descriptor, tsrv_get_profile, NULL, RPC_TRY_INLINE},
    {"/callservice.v1.EventService/WatchEvents", &callservice__v1__watch_events_request__descriptor,
     &callservice__v1__event__descriptor, NULL, tsrv_watch, 0},
    {"/callservice.v1.EventService/PublishTyping",
     &callservice__v1__publish_typing_request__descriptor,
     &callservice__v1__publish_typing_response__descriptor, NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    rpc_method methods[16];
    size_t n = 0;
    rpc_server_config cfg = {0};
    rpc_server *srv = NULL;
    pthread_t producer;
    sigset_t sigs;
    int sig = 0, rc = 1;

    log_init("rpc_testsrv", LOG_INFO, NULL);
    /* Block the stop signals in every thread; main waits for them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    for (size_t i = 0; i < health_methods_count; i++)
        methods[n++] = health_methods[i];
    for (size_t i = 0; i < sizeof tsrv_methods / sizeof tsrv_methods[0]; i++)
        methods[n++] = tsrv_methods[i];
    cfg.addr = argc > 1 ? argv[1] : "127.0.0.1:0";
    cfg.workers = argc > 2 ? atoi(argv[2]) : 2;
    cfg.stream_max_queued = 64;
    cfg.methods = methods;
    cfg.n_methods = n;
    cfg.worker_init = tsrv_worker_init;
    cfg.worker_fini = tsrv_worker_fini;
    cfg.shutdown_grace_ms = 2000;

    health_set_status("", HEALTH_SERVING);
    health_set_status("callservice.v1.UserService", HEALTH_SERVING);
    if (pthread_create(&producer, NULL, tsrv_producer, NULL) != 0)
        goto out;
    srv = rpc_server_start(&cfg);
    if (srv) {
        printf("PORT %d\n", rpc_server_port(srv));
        fflush(stdout);
        sigwait(&sigs, &sig);
        log_info("signal %d: stopping", sig);
        health_set_all(HEALTH_NOT_SERVING);
        rpc_server_request_stop(srv);
        rpc_server_wait_and_free(srv);
        rc = 0;
    }
    pthread_mutex_lock(&tsrv.mu);
    tsrv.stop = 1;
    pthread_cond_signal(&tsrv.cv);
    pthread_mutex_unlock(&tsrv.mu);
    pthread_join(producer, NULL);
    log_info("stopped: unary=%lu closes=%lu worker_ok=%d", atomic_load(&tsrv.unary),
             atomic_load(&tsrv.closes), !atomic_load(&tsrv.worker_bad));
    if (atomic_load(&tsrv.worker_bad))
        rc = 2;
out:
    health_reset();
    log_shutdown();
    return rc;
}
