/* metrics: Prometheus text exposition of the gateway's counters. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "routes.h"

static const double gw__buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5};
#define GW_NB         (sizeof gw__buckets / sizeof gw__buckets[0])
#define GW_STATUS_MAX 600

static const char *const gw__extra[GW_LABEL__COUNT][2] = {
    [GW_LABEL_HEALTHZ] = {"GET", "/healthz"},
    [GW_LABEL_READYZ] = {"GET", "/readyz"},
    [GW_LABEL_METRICS] = {"GET", "/metrics"},
    [GW_LABEL_OPENAPI] = {"GET", "/api/openapi.json"},
    [GW_LABEL_PREFLIGHT] = {"OPTIONS", "preflight"},
    [GW_LABEL_STATIC] = {"GET", "static"},
    [GW_LABEL_SOCKETIO] = {"ANY", "/socket.io/"},
    [GW_LABEL_UNMATCHED] = {"ANY", "unmatched"},
};

typedef struct gw__series {
    uint64_t by_status[GW_STATUS_MAX];
    uint64_t buckets[GW_NB];
    uint64_t count;
    double sum;
} gw__series;

struct gw_metrics {
    size_t n;
    gw__series *series;
    long in_flight;
    uint64_t grpc_errors[17];
};

gw_metrics *gw_metrics_new(void)
{
    gw_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n = gw_n_routes + GW_LABEL__COUNT;
    m->series = calloc(m->n, sizeof *m->series);
    if (!m->series) {
        free(m);
        return NULL;
    }
    return m;
}

void gw_metrics_free(gw_metrics *m)
{
    if (!m)
        return;
    free(m->series);
    free(m);
}

void gw_metrics_request(gw_metrics *m, unsigned label, int status, double seconds)
{
    gw__series *s;
    if (!m || label >= m->n)
        return;
    s = &m->series[label];
    if (status > 0 && status < GW_STATUS_MAX)
        s->by_status[status]++;
    for (size_t i = 0; i < GW_NB; i++)
        if (seconds <= gw__buckets[i])
            s->buckets[i]++;
    s->count++;
    s->sum += seconds;
}

void gw_metrics_in_flight(gw_metrics *m, int delta)
{
    if (m)
        m->in_flight += delta;
}

void gw_metrics_grpc_error(gw_metrics *m, int code)
{
    if (m && code > 0 && code < 17)
        m->grpc_errors[code]++;
}

static void gw__label(size_t i, const char **method, const char **route)
{
    if (i < gw_n_routes) {
        *method = gw_routes[i].method;
        *route = gw_routes[i].pattern;
    } else {
        *method = gw__extra[i - gw_n_routes][0];
        *route = gw__extra[i - gw_n_routes][1];
    }
}

void gw_metrics_render(const gw_metrics *m, pbjson_buf *out)
{
    char line[256];
    const char *method, *route;
    pbjson_buf_puts(out, "# HELP callgw_http_requests_total HTTP requests by route and status.\n"
                         "# TYPE callgw_http_requests_total counter\n");
    for (size_t i = 0; i < m->n; i++) {
        gw__label(i, &method, &route);
        for (int st = 0; st < GW_STATUS_MAX; st++) {
            if (!m->series[i].by_status[st])
                continue;
            snprintf(line, sizeof line,
                     "callgw_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                     method, route, st, (unsigned long long)m->series[i].by_status[st]);
            pbjson_buf_puts(out, line);
        }
    }
    pbjson_buf_puts(out, "# HELP callgw_http_request_duration_seconds Time from the request to "
                         "the response, by route.\n"
                         "# TYPE callgw_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n; i++) {
        const gw__series *s = &m->series[i];
        if (!s->count)
            continue;
        gw__label(i, &method, &route);
        for (size_t b = 0; b < GW_NB; b++) {
            snprintf(line, sizeof line,
                     "callgw_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                     "le=\"%g\"} %llu\n",
                     method, route, gw__buckets[b], (unsigned long long)s->buckets[b]);
            pbjson_buf_puts(out, line);
        }
        snprintf(line, sizeof line,
                 "callgw_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                 "le=\"+Inf\"} %llu\n",
                 method, route, (unsigned long long)s->count);
        pbjson_buf_puts(out, line);
        snprintf(line, sizeof line,
                 "callgw_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
                 method, route, s->sum);
        pbjson_buf_puts(out, line);
        snprintf(line, sizeof line,
                 "callgw_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
                 method, route, (unsigned long long)s->count);
        pbjson_buf_puts(out, line);
    }
    snprintf(line, sizeof line,
             "# HELP callgw_http_in_flight Requests received and not yet answered.\n"
             "# TYPE callgw_http_in_flight gauge\ncallgw_http_in_flight %ld\n",
             m->in_flight);
    pbjson_buf_puts(out, line);
    pbjson_buf_puts(out, "# HELP callgw_grpc_errors_total gRPC calls to callsvc that ended with a "
                         "non-OK status, by code.\n# TYPE callgw_grpc_errors_total counter\n");
    for (int c = 1; c < 17; c++) {
        const char *name;
        if (!m->grpc_errors[c])
            continue;
        name = c == 2    ? "UNKNOWN"
               : c == 11 ? "OUT_OF_RANGE"
               : c == 15 ? "DATA_LOSS"
                         : cs_err_name(cs_err_from_grpc_status(c));
        snprintf(line, sizeof line, "callgw_grpc_errors_total{code=\"%s\"} %llu\n", name,
                 (unsigned long long)m->grpc_errors[c]);
        pbjson_buf_puts(out, line);
    }
}

int gw_metrics_foreign_ok(const char *text, const char *prefix)
{
    size_t plen = strlen(prefix);
    int ok = text != NULL && *text != '\0' && text[strlen(text) - 1] == '\n';
    /* Every line ends with '\n' (the last one does), so strchr finds one. */
    for (const char *p = text; ok && *p; p = strchr(p, '\n') + 1)
        ok = *p == '#' || (strncmp(p, prefix, plen) == 0 && p[plen] != '\n');
    return ok;
}
