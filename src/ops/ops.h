/*
 * ops: callsvc's state for monitoring (OpsService.GetMetrics), in the
 * Prometheus text format that callgw appends to its own /metrics.
 *
 * What it reports comes from a snapshot the process fills (svc_app's
 * snapshot hook, main.c): the serving status of each health service, the
 * ARI link and its counters, the event hub's last sequence number. This
 * module only renders it, so the rendering is testable on its own.
 *
 * Ownership: ops_render returns a malloc'd string the caller frees; a
 * snapshot's strings are borrowed (static storage and the config in main.c).
 */
#ifndef CS_OPS_H
#define CS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ari/ari.h"
#include "calls/calls.h"
#include "common/err.h"
#include "rpc/rpc.h"

#define OPS_MAX_SERVICES 8

typedef struct ops_snapshot {
    const char *hostname;  /* borrowed */
    const char *grpc_addr; /* borrowed: GRPC_ADDR */
    int64_t start_time;    /* unix seconds the process started */
    size_t n_services;
    struct {
        const char *name; /* "" for the server as a whole */
        int serving;
    } services[OPS_MAX_SERVICES];
    int has_ari; /* an ARI client is configured (ARI_URL) */
    int ari_connected;
    ari_counters ari;
    int has_calls; /* the calls module runs */
    calls_counters calls;
    int has_events; /* the event hub runs */
    int64_t events_seq;
    size_t events_subscribers;
} ops_snapshot;

/* s as Prometheus text (version 0.0.4), every name "callsvc_...". NULL if
 * out of memory. */
char *ops_render(const ops_snapshot *s);

/* OpsService.GetMetrics: no token needed (see proto/callservice/v1/ops.proto).
 * Never blocks (atomics, and the health table's mutex, held only to copy a
 * status), so it runs on the rpc poller (RPC_TRY_INLINE) and never defers;
 * the snapshot hook must keep it so. */
cs_err ops_get_metrics(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);

#endif
