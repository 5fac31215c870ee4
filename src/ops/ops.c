/*
 * ops: renders the process snapshot as Prometheus text, and serves it.
 */
#define _POSIX_C_SOURCE 200809L
#include "ops/ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callservice/v1/ops.pb-c.h"
#include "svc.h"

/* One metric's HELP and TYPE lines. */
static void ops__head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the text format wants. */
static void ops__label(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* A metric read from a uint64_t field of a counters struct. */
typedef struct ops__u64 {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    size_t offset;
} ops__u64;

static const ops__u64 ops__ari[] = {
    {"callsvc_ari_events_total", "counter", "ARI events received and decoded (known or not).",
     offsetof(ari_counters, events_received)},
    {"callsvc_ari_events_unknown_total", "counter",
     "ARI events of a type callsvc does not use (dropped).",
     offsetof(ari_counters, events_unknown)},
    {"callsvc_ari_events_invalid_total", "counter", "ARI WebSocket messages that did not decode.",
     offsetof(ari_counters, events_invalid)},
    {"callsvc_ari_connects_total", "counter", "Successful ARI WebSocket connects.",
     offsetof(ari_counters, connects)},
    {"callsvc_ari_reconnects_total", "counter",
     "Successful ARI WebSocket connects after the first.", offsetof(ari_counters, reconnects)},
    {"callsvc_ari_requests_total", "counter", "ARI REST requests sent.",
     offsetof(ari_counters, rest_requests)},
    {"callsvc_ari_request_failures_total", "counter",
     "ARI REST requests that failed (refused, timed out or answered with an error).",
     offsetof(ari_counters, rest_failures)},
};

static const ops__u64 ops__calls[] = {
    {"callsvc_calls_lost_total", "counter",
     "Live calls a reconciliation (after an ARI reconnect or a database outage) ended as "
     "failed, lost: Asterisk no longer had a leg.",
     offsetof(calls_counters, calls_lost)},
    {"callsvc_calls_caught_up_total", "counter",
     "Live calls a reconciliation applied a leg's unseen answer or ringing to.",
     offsetof(calls_counters, calls_caught_up)},
    {"callsvc_calls_flow_queued", "gauge",
     "ARI events and call commands waiting for a flow worker.",
     offsetof(calls_counters, flow_queued)},
};

static void ops__u64s(FILE *f, const void *counters, const ops__u64 *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)counters + t[i].offset, sizeof v);
        ops__head(f, t[i].name, t[i].type, t[i].help);
        fprintf(f, "%s %" PRIu64 "\n", t[i].name, v);
    }
}

/* A label's value in quotes ("" for NULL). */
static void ops__quoted(FILE *f, const char *v)
{
    fputc('"', f);
    ops__label(f, v ? v : "");
    fputc('"', f);
}

char *ops_render(const ops_snapshot *s)
{
    char *text = NULL;
    size_t len = 0;
    int ok = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        goto out;
    ops__head(f, "callsvc_info", "gauge",
              "Which callsvc answered (1): with several behind one callgw, callgw asks one of "
              "them; ask each one directly to see them all.");
    fputs("callsvc_info{hostname=", f);
    ops__quoted(f, s->hostname);
    fputs(",grpc_addr=", f);
    ops__quoted(f, s->grpc_addr);
    fputs("} 1\n", f);
    ops__head(f, "callsvc_start_time_seconds", "gauge", "When callsvc started (unix seconds).");
    fprintf(f, "callsvc_start_time_seconds %" PRId64 "\n", s->start_time);
    /* The health service "" (the server as a whole) is callsvc_ready: an
     * empty label value would read as no label at all. */
    ops__head(f, "callsvc_ready", "gauge",
              "1 while callsvc as a whole is SERVING (its database and, if configured, ARI "
              "reachable), 0 while not.");
    for (size_t i = 0; i < s->n_services && i < OPS_MAX_SERVICES; i++)
        if (!s->services[i].name || !*s->services[i].name)
            fprintf(f, "callsvc_ready %d\n", s->services[i].serving ? 1 : 0);
    ops__head(f, "callsvc_serving", "gauge",
              "1 while a gRPC service is SERVING as grpc.health.v1 reports it, 0 while not.");
    for (size_t i = 0; i < s->n_services && i < OPS_MAX_SERVICES; i++) {
        if (!s->services[i].name || !*s->services[i].name)
            continue;
        fputs("callsvc_serving{service=", f);
        ops__quoted(f, s->services[i].name);
        fprintf(f, "} %d\n", s->services[i].serving ? 1 : 0);
    }
    if (s->has_ari) {
        ops__head(f, "callsvc_ari_connected", "gauge",
                  "1 while the ARI events WebSocket is up, 0 while not.");
        fprintf(f, "callsvc_ari_connected %d\n", s->ari_connected ? 1 : 0);
        ops__u64s(f, &s->ari, ops__ari, sizeof ops__ari / sizeof *ops__ari);
    }
    if (s->has_calls)
        ops__u64s(f, &s->calls, ops__calls, sizeof ops__calls / sizeof *ops__calls);
    if (s->has_events) {
        ops__head(f, "callsvc_events_last_seq", "gauge",
                  "Sequence number of the last stored event the hub has seen.");
        fprintf(f, "callsvc_events_last_seq %" PRId64 "\n", s->events_seq);
        ops__head(f, "callsvc_events_subscribers", "gauge", "WatchEvents streams open.");
        fprintf(f, "callsvc_events_subscribers %zu\n", s->events_subscribers);
    }
    ok = !ferror(f);
    if (fclose(f) != 0)
        ok = 0;
out:
    if (!ok) {
        free(text);
        text = NULL;
    }
    return text;
}

cs_err ops_get_metrics(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    svc_app *app = svc_app_of(ctx);
    Callservice__V1__GetMetricsResponse *r = NULL;
    ops_snapshot s;
    cs_err e = CS_ERR_RESOURCE;
    (void)req;

    memset(&s, 0, sizeof s);
    if (app->snapshot)
        app->snapshot(app, &s);
    r = malloc(sizeof *r);
    if (!r)
        goto out;
    callservice__v1__get_metrics_response__init(r);
    r->text = ops_render(&s);
    if (!r->text)
        goto out;
    *resp = &r->base;
    r = NULL;
    e = CS_OK;
out:
    free(r);
    return e == CS_OK ? CS_OK : rpc_fail(ctx, e, "out of memory");
}
