/*
 * rest: ARI REST routes. Adding an endpoint means adding a row below and,
 * if it changes state, a function in model.c. Paths Asterisk has but the
 * simulator does not model (play, record, snoop, move, ...) answer 501 so a
 * test sees at once what is missing instead of a misleading 404.
 */
#include "rest.h"
#include "route.h"
#include "server.h"

#include <stddef.h>

#define ARGS(req) (&(sim_args){srv_arg, (req), srv_body(req)})

static void asterisk_info(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_asterisk_info(ARGS(q), r);
}

static void asterisk_ping(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_asterisk_ping(r);
}

static void channels_list(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channels_list(r);
}

static void channels_originate(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channels_originate(ARGS(q), 0, NULL, r);
}

static void channels_originate_id(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channels_originate(ARGS(q), 0, p[0], r);
}

static void channels_create(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channels_originate(ARGS(q), 1, NULL, r);
}

static void channel_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_get(p[0], r);
}

static void channel_hangup(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_hangup(p[0], ARGS(q), r);
}

static void channel_answer(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_answer(p[0], r);
}

static void channel_ring(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_ring(p[0], 1, r);
}

static void channel_ring_stop(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_ring(p[0], 0, r);
}

static void channel_dial(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_dial(p[0], ARGS(q), r);
}

static void channel_continue(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_continue(p[0], ARGS(q), r);
}

static void channel_redirect(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_redirect(p[0], ARGS(q), r);
}

static void channel_var_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_var_get(p[0], ARGS(q), r);
}

static void channel_var_set(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_var_set(p[0], ARGS(q), r);
}

static void channel_noop(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_noop(p[0], r);
}

static void channel_hold(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_hold(p[0], 1, r);
}

static void channel_unhold(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_hold(p[0], 0, r);
}

static void channel_dtmf(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_channel_dtmf(p[0], ARGS(q), r);
}

static void bridges_list(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridges_list(r);
}

static void bridges_create(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_create(ARGS(q), NULL, r);
}

static void bridges_create_id(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_create(ARGS(q), p[0], r);
}

static void bridge_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_get(p[0], r);
}

static void bridge_destroy(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_destroy(p[0], r);
}

static void bridge_add(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_add(p[0], ARGS(q), r);
}

static void bridge_remove(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_bridge_remove(p[0], ARGS(q), r);
}

static void apps_list(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_apps_list(r);
}

static void app_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_app_get(p[0], r);
}

static void app_filter(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_app_filter(p[0], srv_body(q), r);
}

static void endpoints_list(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_endpoints_list(NULL, NULL, r);
}

static void endpoints_tech(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_endpoints_list(p[0], NULL, r);
}

static void endpoint_get(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    sim_endpoints_list(p[0], p[1], r);
}

static void not_modelled(const struct srv_req *q, const char *const *p, sim_reply *r)
{
    r->status = 501;
    r->body = json_pack("{s:s}", "message", "Not implemented by ari-sim");
}

static const route rest_routes[] = {
    {"GET", "asterisk/info", asterisk_info},
    {"GET", "asterisk/ping", asterisk_ping},

    {"GET", "channels", channels_list},
    {"POST", "channels", channels_originate},
    {"POST", "channels/create", channels_create},
    {"GET", "channels/*", channel_get},
    {"POST", "channels/*", channels_originate_id},
    {"DELETE", "channels/*", channel_hangup},
    {"POST", "channels/*/answer", channel_answer},
    {"POST", "channels/*/ring", channel_ring},
    {"DELETE", "channels/*/ring", channel_ring_stop},
    {"POST", "channels/*/dial", channel_dial},
    {"POST", "channels/*/continue", channel_continue},
    {"POST", "channels/*/redirect", channel_redirect},
    {"GET", "channels/*/variable", channel_var_get},
    {"POST", "channels/*/variable", channel_var_set},
    {"POST", "channels/*/hold", channel_hold},
    {"DELETE", "channels/*/hold", channel_unhold},
    {"POST", "channels/*/mute", channel_noop},
    {"DELETE", "channels/*/mute", channel_noop},
    {"POST", "channels/*/moh", channel_noop},
    {"DELETE", "channels/*/moh", channel_noop},
    {"POST", "channels/*/silence", channel_noop},
    {"DELETE", "channels/*/silence", channel_noop},
    {"POST", "channels/*/progress", channel_noop},
    {"POST", "channels/*/play", not_modelled},
    {"POST", "channels/*/play/*", not_modelled},
    {"POST", "channels/*/record", not_modelled},
    {"POST", "channels/*/dtmf", channel_dtmf},
    {"POST", "channels/*/move", not_modelled},
    {"POST", "channels/*/snoop", not_modelled},
    {"POST", "channels/externalMedia", not_modelled},

    {"GET", "bridges", bridges_list},
    {"POST", "bridges", bridges_create},
    {"GET", "bridges/*", bridge_get},
    {"POST", "bridges/*", bridges_create_id},
    {"DELETE", "bridges/*", bridge_destroy},
    {"POST", "bridges/*/addChannel", bridge_add},
    {"POST", "bridges/*/removeChannel", bridge_remove},
    {"POST", "bridges/*/play", not_modelled},
    {"POST", "bridges/*/record", not_modelled},
    {"POST", "bridges/*/moh", not_modelled},

    {"GET", "applications", apps_list},
    {"GET", "applications/*", app_get},
    {"PUT", "applications/*/eventFilter", app_filter},

    {"GET", "endpoints", endpoints_list},
    {"GET", "endpoints/*", endpoints_tech},
    {"GET", "endpoints/*/*", endpoint_get},
};

void rest_handle(const char *method, const char *path, const struct srv_req *req, sim_reply *r)
{
    route_dispatch(rest_routes, sizeof(rest_routes) / sizeof(rest_routes[0]), method, path, req, r);
}
