/*
 * ctl: control API routes (/_sim/...). No authentication: ari-sim is a test
 * fixture that listens on loopback. See README.md for the contract.
 */
#include "ctl.h"
#include "far.h"
#include "route.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

static void reply_msg(sim_reply *r, int status, const char *msg)
{
    r->status = status;
    r->body = json_pack("{s:s}", "message", msg);
}

/* Reads an optional integer field in [lo, hi]; -1 (with r filled) if bad. */
static int int_field(const struct srv_req *q, const char *name, long lo, long hi, long def,
                     long *out, sim_reply *r)
{
    json_t *v = json_object_get(srv_body(q), name);
    char msg[128];
    *out = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(msg, sizeof(msg), "%s must be an integer %ld..%ld", name, lo, hi);
        reply_msg(r, 400, msg);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static void state(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    json_t *s = sim_state();
    json_object_set_new(s, "server", srv_stats());
    r->status = 200;
    r->body = s;
}

static void far_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_list(r);
}

static void endpoint_set(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", p[0], p[1]);
    sim_far_set("endpoint", key, srv_body(q), r);
}

static void endpoint_clear(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", p[0], p[1]);
    sim_far_clear("endpoint", key, r);
}

static void tech_set(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_set("tech", p[0], srv_body(q), r);
}

static void tech_clear(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_clear("tech", p[0], r);
}

static void context_set(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_set("context", p[0], srv_body(q), r);
}

static void context_clear(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_clear("context", p[0], r);
}

static void default_set(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_set("default", "", srv_body(q), r);
}

static void default_clear(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_clear("default", "", r);
}

static void inbound(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    if (!json_is_object(srv_body(q))) {
        reply_msg(r, 400, "JSON object body required");
        return;
    }
    sim_inbound(srv_body(q), r);
}

static void far_hangup(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_far_hangup(p[0], srv_body(q), r);
}

static void fault_drop(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    long down;
    if (int_field(q, "down_ms", 0, 3600000, 0, &down, r))
        return;
    srv_fault_drop_ws((int)down);
    r->status = 204;
}

static void fault_refuse(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    long ms;
    if (int_field(q, "ms", 0, 3600000, 1000, &ms, r))
        return;
    srv_fault_refuse((int)ms);
    r->status = 204;
}

static void fault_delay(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    long count, ms;
    if (int_field(q, "count", 0, 1000000, 1, &count, r) ||
        int_field(q, "ms", 0, 3600000, 1000, &ms, r))
        return;
    srv_fault_delay((int)count, (int)ms);
    r->status = 204;
}

static void fault_fail(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    long count, status;
    if (int_field(q, "count", 0, 1000000, 1, &count, r) ||
        int_field(q, "status", 400, 599, 500, &status, r))
        return;
    srv_fault_fail((int)count, (int)status);
    r->status = 204;
}

static void fault_clear(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    srv_fault_clear();
    r->status = 204;
}

/* Asterisk restarting: calls vanish without a word, event sockets drop,
 * and (down_ms) nothing answers for a while. */
static void restart(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    long down;
    if (int_field(q, "down_ms", 0, 3600000, 0, &down, r))
        return;
    srv_fault_drop_ws(0);
    sim_restart();
    if (down > 0)
        srv_fault_refuse((int)down);
    r->status = 200;
    r->body = json_pack("{s:s}", "asterisk_id", sim_entity_id());
}

static void reset(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    far_init();
    srv_fault_clear();
    r->status = 204;
}

static const route ctl_routes[] = {
    {"GET", "state", state},
    {"GET", "far", far_get},
    {"POST", "endpoints/*/*", endpoint_set},
    {"DELETE", "endpoints/*/*", endpoint_clear},
    {"POST", "endpoints/*", tech_set},
    {"DELETE", "endpoints/*", tech_clear},
    {"POST", "contexts/*", context_set},
    {"DELETE", "contexts/*", context_clear},
    {"POST", "default", default_set},
    {"DELETE", "default", default_clear},
    {"POST", "inbound", inbound},
    {"POST", "channels/*/hangup", far_hangup},
    {"POST", "faults/drop_websockets", fault_drop},
    {"POST", "faults/refuse", fault_refuse},
    {"POST", "faults/delay", fault_delay},
    {"POST", "faults/fail", fault_fail},
    {"DELETE", "faults", fault_clear},
    {"POST", "restart", restart},
    {"POST", "reset", reset},
};

void ctl_handle(const char *method, const char *path, const struct srv_req *req, sim_reply *r)
{
    route_dispatch(ctl_routes, sizeof(ctl_routes) / sizeof(ctl_routes[0]), method, path, req, r);
}
