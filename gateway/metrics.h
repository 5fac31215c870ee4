/*
 * metrics: the gateway's Prometheus counters, rendered as text for /metrics.
 *
 * Requests are labelled by route (the route table's method and pattern, or
 * one of the fixed names below) and HTTP status; latency is a histogram per
 * route. Everything is touched only from the lws service thread, so nothing
 * here locks. Ownership: a gw_metrics is created and freed by its owner;
 * rendering appends to a caller's pbjson_buf.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "pbjson.h"

/* Labels beyond the route table's rows (route index gw_n_routes + k). */
enum {
    GW_LABEL_HEALTHZ = 0,
    GW_LABEL_READYZ,
    GW_LABEL_METRICS,
    GW_LABEL_OPENAPI,
    GW_LABEL_PREFLIGHT,
    GW_LABEL_STATIC,
    GW_LABEL_SOCKETIO,
    GW_LABEL_UNMATCHED,
    GW_LABEL__COUNT
};

typedef struct gw_metrics gw_metrics;

gw_metrics *gw_metrics_new(void);
void gw_metrics_free(gw_metrics *m);
/* label: a route index (< gw_n_routes) or gw_n_routes + GW_LABEL_*. */
void gw_metrics_request(gw_metrics *m, unsigned label, int status, double seconds);
void gw_metrics_in_flight(gw_metrics *m, int delta);
/* A gRPC call that ended with a non-OK status (grpc_status_code). */
void gw_metrics_grpc_error(gw_metrics *m, int code);
void gw_metrics_render(const gw_metrics *m, pbjson_buf *out);
/* Whether text from another process (callsvc's OpsService.GetMetrics) may be
 * appended to a scrape: not empty, ending with a newline, every line a
 * comment or a sample whose name starts with prefix. A bad line would make
 * Prometheus drop the whole scrape, callgw's part with it. */
int gw_metrics_foreign_ok(const char *text, const char *prefix);

#endif
