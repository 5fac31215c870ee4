/*
 * model: what the simulated Asterisk knows — channels, bridges, Stasis
 * applications, endpoints and the far end of every call — and the ARI events
 * each change produces, in the order a real Asterisk 22 sends them
 * (shared/ari/traces are the reference).
 *
 * Single-threaded: every function runs on the libwebsockets service thread;
 * far-end progress (ringing, answer, busy, hang up) and dial timeouts are
 * lws_sul timers on that same loop.
 *
 * Ownership: every sim_reply body is a fresh json_t owned by the caller
 * (json_decref it). Strings passed in are copied. Events leave the model as
 * serialized text through the emit callback given to sim_init; the callback
 * must copy what it keeps.
 */
#ifndef ARI_SIM_MODEL_H
#define ARI_SIM_MODEL_H

#include <jansson.h>
#include <stddef.h>

struct lws_context;

/* An HTTP answer: status and JSON body (NULL for 204). */
typedef struct sim_reply {
    int status;
    json_t *body;
} sim_reply;

/* Delivers one serialized event to every session subscribed to app. */
typedef void (*sim_emit_fn)(const char *app, const char *text, size_t len);

typedef struct sim_config {
    const char *technologies; /* "PJSIP,SIP,IAX2,Local": others fail allocation */
    const char *inbound_app;  /* Stasis app of the stasis-in context and /_sim/inbound */
    int max_channels;
    int max_bridges;
} sim_config;

/* Copies cfg. Returns 0, -1 on allocation failure. */
int sim_init(struct lws_context *ctx, const sim_config *cfg, sim_emit_fn emit);
/* Frees every channel and bridge and cancels their timers. */
void sim_shutdown(void);
/* The "Asterisk restarted" fault: everything gone without events, new entity id. */
void sim_restart(void);
const char *sim_entity_id(void);

/* Sessions attach/detach the apps they subscribe to (GET /applications lists
 * apps with at least one session). */
void sim_app_attach(const char *app);
void sim_app_detach(const char *app);

/* ---- ARI REST: each fills r (status + body) ---------------------------- */

/* A lookup for query parameters and the optional JSON body of a request. */
typedef struct sim_args {
    const char *(*get)(const void *req, const char *name); /* NULL when absent */
    const void *req;
    const json_t *body; /* may be NULL */
} sim_args;

void sim_asterisk_info(const sim_args *a, sim_reply *r);
void sim_asterisk_ping(sim_reply *r);
void sim_channels_list(sim_reply *r);
/* kind: 0 POST /channels, 1 POST /channels/create; id_in_path: POST /channels/{id} */
void sim_channels_originate(const sim_args *a, int create, const char *id_in_path, sim_reply *r);
void sim_channel_get(const char *id, sim_reply *r);
void sim_channel_hangup(const char *id, const sim_args *a, sim_reply *r);
void sim_channel_answer(const char *id, sim_reply *r);
void sim_channel_ring(const char *id, int on, sim_reply *r);
void sim_channel_dial(const char *id, const sim_args *a, sim_reply *r);
void sim_channel_continue(const char *id, const sim_args *a, sim_reply *r);
void sim_channel_redirect(const char *id, const sim_args *a, sim_reply *r);
void sim_channel_var_get(const char *id, const sim_args *a, sim_reply *r);
void sim_channel_var_set(const char *id, const sim_args *a, sim_reply *r);
/* Stasis-only operations the simulator accepts without modelling media
 * (mute, moh, silence, progress): 204, no event. */
void sim_channel_noop(const char *id, sim_reply *r);
/* POST (on = 1) / DELETE (on = 0) /channels/{id}/hold: sets or clears the
 * channel's on_hold (shown by sim_state); no event, as for an ARI hold in
 * Asterisk. 404/409, and 412 while the channel is Down or Ringing. */
void sim_channel_hold(const char *id, int on, sim_reply *r);
/* POST /channels/{id}/dtmf?dtmf=&duration=: the digits go to the channel's
 * far end (appended to its dtmf_sent, the latest 256 kept); on a Local half
 * whose other half is modelled, that half gets ChannelDtmfReceived per digit
 * (duration_ms: duration, default 100). 404/409/412 as for hold, then 400
 * "DTMF is required". before/between/after are accepted and ignored. */
void sim_channel_dtmf(const char *id, const sim_args *a, sim_reply *r);

void sim_bridges_list(sim_reply *r);
void sim_bridge_create(const sim_args *a, const char *id_in_path, sim_reply *r);
void sim_bridge_get(const char *id, sim_reply *r);
void sim_bridge_destroy(const char *id, sim_reply *r);
void sim_bridge_add(const char *id, const sim_args *a, sim_reply *r);
void sim_bridge_remove(const char *id, const sim_args *a, sim_reply *r);

void sim_apps_list(sim_reply *r);
void sim_app_get(const char *name, sim_reply *r);
/* PUT /applications/{name}/eventFilter: body {"allowed": [{"type"}...],
 * "disallowed": [...]} (either, both, or empty: both cleared). */
void sim_app_filter(const char *name, const json_t *body, sim_reply *r);
/* tech and/or resource may be NULL. */
void sim_endpoints_list(const char *tech, const char *resource, sim_reply *r);

/* ---- control API (outside /ari/) ----------------------------------------- */

/* Far-end behaviour. scope: "default", "tech" (key = technology),
 * "endpoint" (key = "TECH/resource"), "context" (key = Local context).
 * body: {"mode", "answer_after_ms", "hangup_after_ms"}. */
void sim_far_set(const char *scope, const char *key, const json_t *body, sim_reply *r);
void sim_far_clear(const char *scope, const char *key, sim_reply *r);
void sim_far_list(sim_reply *r);
/* body: {"extension", "caller":{"name","number"}, "endpoint", "app",
 * "hangup_after_ms", "channel_id"} */
void sim_inbound(const json_t *body, sim_reply *r);
/* The far end of channel id hangs up (body: {"cause": N}, default 16). */
void sim_far_hangup(const char *id, const json_t *body, sim_reply *r);
/* Channels, bridges and counters, for tests. */
json_t *sim_state(void);

#endif
