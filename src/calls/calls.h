/*
 * calls: the CallService (handlers for the method table) and the call
 * flows over ARI, as one module.
 *
 * Threads. Handlers run on the rpc workers. Everything that changes a call
 * (MakeCall, AnswerCall, HangupCall, TransferCall, HoldCall, ResumeCall,
 * SendDtmf, ARI events, reconciliation) runs on the module's own flow
 * workers: a call's id picks
 * its worker, so the changes of one call happen one at a time and in order,
 * while different calls proceed in parallel. Each flow worker has its own
 * database connection. The ARI WebSocket thread only routes events into the
 * workers' queues (no database, no blocking); an RPC that changes a call
 * queues a command and waits for its answer. Reads (GetCall, history,
 * active, statistics) and AddCallNote run on the rpc worker itself.
 *
 * Channel and bridge ids are chosen by callsvc: "<call id>.a" (the
 * caller's leg it makes), ".b" (the callee's), ".t<n>" (transfer targets),
 * and the bridge is the call id, so every event names its call. Inbound
 * callers' channels are named by Asterisk; their call is found through a
 * routing table filled when their StasisStart arrives (and from the
 * database after a reconnect).
 *
 * Authorization: agents see and act on the calls they are a party to;
 * another user's call answers NOT_FOUND (its existence is not disclosed).
 * Supervisors and admins see and act on every call.
 *
 * Ownership: calls_module_new copies the options; the ari client is
 * borrowed (it must outlive the module, or be stopped first).
 */
#ifndef CS_CALLS_H
#define CS_CALLS_H

#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "ari/ari.h"
#include "common/err.h"
#include "rpc/rpc.h"

typedef struct calls_module calls_module;

typedef struct calls_options {
    const char *database_url;
    const char *ari_app;           /* Stasis app name (appArgs of created channels) */
    const char *device_template;   /* "PJSIP/{ext}" */
    const char *outbound_template; /* "PJSIP/{number}@trunk" */
    int ring_timeout_s;            /* dial timeout of every leg; <= 0: 30 */
    int flow_workers;              /* <= 0: 4 */
} calls_options;

/* Reads RING_TIMEOUT_S (1..600, default 30) and CALLS_FLOW_WORKERS (1..64,
 * default 4) from the environment into o. -1 with a message on a bad value. */
int calls_options_from_env(calls_options *o, char *err, size_t errlen);
/* Lists the variables calls_options_from_env reads (callsvc help). */
void calls_options_print_help(FILE *out);

cs_err calls_module_new(const calls_options *o, calls_module **out)
    __attribute__((warn_unused_result));
/* The calls cache (calls/listcache.h) that this module's committed changes
 * bump (borrowed; NULL: none). Set before the module runs flows. */
struct lcache;
void calls_module_set_cache(calls_module *m, struct lcache *cache);
/* The ARI client to drive (NULL: every call-changing RPC answers UNAVAILABLE). */
void calls_module_set_ari(calls_module *m, ari_client *ari);
/* From now on the module owns the client: calls_module_free stops it
 * (before the workers) and frees it. */
void calls_module_own_ari(calls_module *m);
ari_client *calls_module_ari(calls_module *m);
/* For metrics; lock-free (atomics). */
typedef struct calls_counters {
    uint64_t calls_lost;      /* live calls a reconciliation ended (failed, lost): a leg gone */
    uint64_t calls_caught_up; /* live calls it applied a leg's unseen answer or ringing to */
    uint64_t flow_queued;     /* ARI events and commands waiting for a flow worker now */
} calls_counters;
void calls_module_counters(calls_module *m, calls_counters *out);
/* Stops the owned ARI client if any, then the flow workers, and frees. An
 * ARI client not owned must be stopped by its owner first. */
void calls_module_free(calls_module *m);

/* ari_callbacks for the ARI client, ud = the calls_module. */
void calls_on_ari_event(ari_event *ev, void *ud);
/* The ARI event types calls_on_ari_event acts on (every other type is
 * dropped): the event filter for ari_config.events. */
extern const ari_event_type calls_ari_events[];
extern const size_t calls_ari_events_len;
void calls_on_ari_connected(void *ud);

/* CallService handlers (rpc_unary_fn); rpc_ctx->app is an svc_app whose
 * `calls` is the calls_module. */
cs_err calls_make(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_answer(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_hangup(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_transfer(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_history(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_active(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_statistics(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_add_note(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_hold(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_resume(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err calls_send_dtmf(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);

#endif

/* For callsvc's main: everything calls need in one start/stop pair. Reads
 * RING_TIMEOUT_S / CALLS_FLOW_WORKERS, makes the module and the ARI client
 * from the svc_app's configuration (ARI_URL, ARI_USER, ARI_PASSWORD,
 * ARI_APP, the endpoint templates), starts the events WebSocket and sets
 * app->calls. An empty ARI_URL runs without Asterisk (call-changing RPCs
 * answer UNAVAILABLE). calls_svc_stop stops the WebSocket, the workers,
 * and frees both. `app` is a struct svc_app (svc.h). */
struct svc_app;
cs_err calls_svc_start(struct svc_app *app) __attribute__((warn_unused_result));
void calls_svc_stop(struct svc_app *app);
/* Whether the ARI WebSocket is up (for readiness). */
int calls_svc_ari_connected(const struct svc_app *app);
