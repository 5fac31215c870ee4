/*
 * ari: the Asterisk REST Interface client used by callsvc.
 *
 * Three parts, one contract (this header):
 *  - REST (rest.c): blocking calls over libcurl, safe from any number of
 *    threads at once. Easy handles are pooled so that connections are kept
 *    alive and reused. Every call returns a cs_err; when it is not CS_OK and
 *    an ari_error is passed, it holds the HTTP status and Asterisk's message.
 *  - Events (event.c): one event's JSON text decoded into an ari_event.
 *  - The events WebSocket (ws.c): a libwebsockets client on its own thread
 *    that connects to /ari/events?app=<app>, decodes every message and hands
 *    each event to the owner's callback. It reconnects by itself with
 *    jittered exponential backoff and tells the owner when the link goes up
 *    (on_connected: run reconciliation there) and down.
 *
 * Ownership, once for the whole module:
 *  - Strings passed in (config, ids, parameters) are only read during the
 *    call; ari_client_new copies the config.
 *  - Decoded objects hold no jansson or lws state: every string and array in
 *    them lives in an arena owned by the top-level object, freed with that
 *    object's _free function (ari_event_free, ari_channel_free,
 *    ari_bridge_free, ari_channel_list_free, ari_bridge_list_free). An
 *    ari_channel or ari_bridge embedded in another object belongs to it and
 *    is never freed on its own. So a decoded object may be handed to, and
 *    freed on, any thread.
 *  - Absent or wrongly typed fields decode as NULL strings / zero numbers;
 *    the fields an event type requires (see ari_event) are guaranteed.
 *
 * Typical use (the calls module):
 *
 *   ari_config cfg = {.url = env.ari_url, .user = env.ari_user,
 *                     .password = env.ari_password, .app = env.ari_app};
 *   ari_callbacks cb = {.on_event = calls_on_ari_event,      // takes ownership of ev
 *                       .on_connected = calls_reconcile,     // list channels/bridges
 *                       .on_state = calls_on_ari_state,      // health: NOT_SERVING while down
 *                       .ud = calls};
 *   ari_client *ari;
 *   if (ari_client_new(&cfg, &cb, &ari) != CS_OK || ari_client_start(ari) != CS_OK) ...
 *
 *   char ep[128];
 *   if (ari_endpoint_format(env.device_tmpl, "ext", "3001", ep, sizeof ep) != CS_OK) ...
 *   ari_originate o = {.endpoint = ep, .app = env.ari_app, .app_args = "dialed,<caller>",
 *                      .originator = caller_id};
 *   ari_channel *callee = NULL;
 *   ari_error err;
 *   cs_err rc = ari_channel_create(ari, &o, &callee, &err);   // then ari_channel_dial()
 *   ...
 *   ari_channel_free(callee);
 *   ari_client_stop(ari);          // joins the WebSocket thread
 *   ari_client_free(ari);
 *
 * Every call is warn_unused_result: for a best-effort call (hang up during
 * cleanup) test the result and log it rather than cast it away.
 */
#ifndef CS_ARI_H
#define CS_ARI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* ------------------------------------------------------------------ */
/* Decoded objects                                                      */

typedef enum ari_channel_state {
    ARI_CH_UNKNOWN = 0,
    ARI_CH_DOWN,
    ARI_CH_RSRVD,
    ARI_CH_OFFHOOK,
    ARI_CH_DIALING,
    ARI_CH_RING,    /* inbound, not answered yet */
    ARI_CH_RINGING, /* far end is ringing */
    ARI_CH_UP,
    ARI_CH_BUSY,
    ARI_CH_DIALING_OFFHOOK,
    ARI_CH_PRERING,
} ari_channel_state;

struct ari__arena;

typedef struct ari_channel {
    const char *id; /* never NULL in a decoded channel */
    const char *name;
    const char *state_name; /* as Asterisk sent it ("Ring", "Up", ...) */
    ari_channel_state state;
    const char *caller_name, *caller_number;
    const char *connected_name, *connected_number;
    const char *context, *exten; /* dialplan location */
    long priority;
    const char *app_name, *app_data;
    const char *creationtime;
    const char *language;
    struct ari__arena *_arena; /* set only when this channel is a top-level object */
} ari_channel;

typedef struct ari_bridge {
    const char *id; /* never NULL in a decoded bridge */
    const char *name;
    const char *technology;
    const char *bridge_type; /* "mixing", "holding" */
    const char *bridge_class;
    const char *creator;
    const char *creationtime;
    size_t n_channels;
    const char **channels; /* channel ids */
    struct ari__arena *_arena;
} ari_bridge;

typedef struct ari_channel_list {
    size_t n;
    ari_channel *items;
    struct ari__arena *_arena;
} ari_channel_list;

typedef struct ari_bridge_list {
    size_t n;
    ari_bridge *items;
    struct ari__arena *_arena;
} ari_bridge_list;

typedef struct ari_system_info {
    char entity_id[64]; /* the asterisk_id of events; changes when Asterisk restarts */
    char version[64];   /* empty for ping */
} ari_system_info;

/* Free a top-level object (NULL is fine). */
void ari_channel_free(ari_channel *ch);
void ari_bridge_free(ari_bridge *br);
void ari_channel_list_free(ari_channel_list *l);
void ari_bridge_list_free(ari_bridge_list *l);

/* "Up" -> ARI_CH_UP; anything unknown (or NULL) -> ARI_CH_UNKNOWN. */
ari_channel_state ari_channel_state_parse(const char *s);
const char *ari_channel_state_name(ari_channel_state s);

/* ------------------------------------------------------------------ */
/* Events                                                               */

/* Adding an event type means adding an enum value and a row in event.c. */
typedef enum ari_event_type {
    ARI_EV_UNKNOWN = 0, /* a type this client does not know: counted, ignored */
    ARI_EV_STASIS_START,
    ARI_EV_STASIS_END,
    ARI_EV_CHANNEL_CREATED,
    ARI_EV_CHANNEL_STATE_CHANGE,
    ARI_EV_CHANNEL_DESTROYED,
    ARI_EV_CHANNEL_HANGUP_REQUEST,
    ARI_EV_DIAL,
    ARI_EV_CHANNEL_ENTERED_BRIDGE,
    ARI_EV_CHANNEL_LEFT_BRIDGE,
    ARI_EV_BRIDGE_CREATED,
    ARI_EV_BRIDGE_DESTROYED,
    ARI_EV_CHANNEL_VARSET,
    ARI_EV_CHANNEL_DTMF_RECEIVED,
    ARI_EV_CHANNEL_DIALPLAN,
    ARI_EV_CHANNEL_CALLERID,
    ARI_EV_CHANNEL_CONNECTED_LINE,
    ARI_EV_CHANNEL_HOLD,
    ARI_EV_CHANNEL_UNHOLD,
    ARI_EV_APPLICATION_MOVE_FAILED,
    ARI_EV_APPLICATION_REPLACED,
    ARI_EV_PLAYBACK_STARTED,
    ARI_EV_PLAYBACK_FINISHED,
    ARI_EV_RECORDING_STARTED,
    ARI_EV_RECORDING_FINISHED,
    ARI_EV_RECORDING_FAILED,
    ARI_EV__COUNT
} ari_event_type;

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

typedef struct ari_config {
    const char *url;        /* ARI_URL, "http://127.0.0.1:8088" ("/ari/..." is appended) */
    const char *user;       /* ARI_USER */
    const char *password;   /* ARI_PASSWORD */
    const char *app;        /* ARI_APP, the Stasis application ("call-service") */
    int connect_timeout_ms; /* ARI_CONNECT_TIMEOUT_MS; <= 0: 2000 */
    int request_timeout_ms; /* ARI_REQUEST_TIMEOUT_MS; <= 0: 5000 */
    int pool_max;           /* idle curl handles kept; <= 0: 16 */
    int backoff_min_ms;     /* WebSocket reconnect backoff; <= 0: 500 */
    int backoff_max_ms;     /* <= 0: 30000 */
    /* The event types the application acts on (n_events of them; none:
     * every type). After every WebSocket connect, before on_connected,
     * the client asks Asterisk to send only these (PUT
     * /applications/{app}/eventFilter); if that fails, events come
     * unfiltered and the client drops the others itself. Not copied: a
     * static table. */
    const ari_event_type *events;
    size_t n_events;
} ari_config;

/*
 * One decoded event. Which fields are filled depends on the type; these are
 * guaranteed (the decoder refuses the event otherwise):
 *  - every type: type_name;
 *  - StasisStart/End, ChannelCreated/StateChange/Destroyed/HangupRequest,
 *    ChannelDtmfReceived/Dialplan/CallerId/ConnectedLine/Hold/Unhold,
 *    ChannelLeftBridge, ApplicationMoveFailed: has_channel;
 *  - Dial: has_peer and dialstatus ("" while in progress, then "RINGING",
 *    "ANSWER", "BUSY", "NOANSWER", "CHANUNAVAIL", "CANCEL", ...);
 *  - Channel{Entered,Left}Bridge, Bridge{Created,Destroyed}: has_bridge;
 *  - ChannelVarset: variable (the channel is optional: global variables).
 * Real Asterisk facts the owner must know (shared/ari/README.md): a dial that
 * times out ends with ChannelDestroyed cause 19 and no final Dial; a channel
 * that entered Stasis from the dialplan gets no ChannelDestroyed after
 * StasisEnd; an ARI DELETE shows as ChannelHangupRequest cause 32 soft.
 */
typedef struct ari_event {
    ari_event_type type;
    const char *type_name; /* as received, also for ARI_EV_UNKNOWN */
    const char *application;
    const char *asterisk_id;
    const char *timestamp; /* "2026-11-25T11:05:12.242+0000" */
    int64_t timestamp_ms;  /* the same in ms since the epoch (UTC); 0 if absent or bad */

    bool has_channel;
    ari_channel channel;
    bool has_peer; /* Dial: the channel being dialled */
    ari_channel peer;
    bool has_caller; /* Dial: the calling channel, when there is one */
    ari_channel caller;
    bool has_bridge;
    ari_bridge bridge;

    const char *dialstatus, *dialstring, *forward; /* Dial */
    bool has_cause;                                /* ChannelDestroyed, ChannelHangupRequest */
    int cause;                                     /* Q.850: 16 normal, 17 busy, 19 no answer */
    const char *cause_txt;                         /* ChannelDestroyed */
    bool soft;                                     /* ChannelHangupRequest */
    size_t n_args;                                 /* StasisStart, ApplicationMoveFailed */
    const char **args;
    const char *variable, *value; /* ChannelVarset */
    const char *digit;            /* ChannelDtmfReceived */
    int duration_ms;
    const char *dialplan_app, *dialplan_app_data;                      /* ChannelDialplan */
    const char *destination;                                           /* ApplicationMoveFailed */
    const char *playback_id, *playback_state, *media_uri, *target_uri; /* Playback* */
    const char *recording_name, *recording_state;                      /* Recording* */

    struct ari__arena *_arena;
} ari_event;

/*
 * Decode one event's JSON text (len bytes, need not be NUL-terminated).
 * CS_OK: *out is a new event (type ARI_EV_UNKNOWN for a type not in the
 * table), free it with ari_event_free. CS_ERR_INVALID: not JSON, not an
 * object, no "type", or a required field missing (*out is NULL).
 * CS_ERR_INTERNAL: out of memory. Never crashes on any input.
 */
cs_err ari_event_decode(const char *text, size_t len, ari_event **out)
    __attribute__((warn_unused_result));
void ari_event_free(ari_event *ev);
/* "StasisStart" for ARI_EV_STASIS_START; "Unknown" for ARI_EV_UNKNOWN. */
const char *ari_event_type_name(ari_event_type t);
/* Table lookup; ARI_EV_UNKNOWN for a name not in it. */
ari_event_type ari_event_type_from_name(const char *name);

/* ------------------------------------------------------------------ */
/* The client                                                           */

typedef struct ari_client ari_client;

/*
 * All callbacks run on the WebSocket thread, one at a time, in the order
 * events arrived. They must not call ari_client_stop/free. They may make
 * REST calls (REST does not touch the lws loop), but while a callback runs
 * no further events are read, so long work belongs on the owner's threads.
 */
typedef struct ari_callbacks {
    /* Ownership of ev passes to the callee: it must ari_event_free(ev),
     * here or later on any thread. Unknown event types are not delivered. */
    void (*on_event)(ari_event *ev, void *ud);
    /* After every successful (re)connect, before any event of that
     * connection is delivered: reconcile state here (list channels and
     * bridges, end what Asterisk no longer has). */
    void (*on_connected)(void *ud);
    /* Every change of the link state (true: up, false: down). The first
     * failed attempt after start also reports false. */
    void (*on_state)(bool connected, void *ud);
    void *ud;
} ari_callbacks;

typedef struct ari_counters {
    uint64_t events_received; /* every decoded event, known or not */
    uint64_t events_unknown;  /* ARI_EV_UNKNOWN: counted and dropped */
    uint64_t events_invalid;  /* messages that did not decode */
    uint64_t connects;        /* successful WebSocket connects */
    uint64_t reconnects;      /* successful connects after the first */
    uint64_t rest_requests;
    uint64_t rest_failures; /* requests that did not return CS_OK */
} ari_counters;

/* The detail of a failed request, for logs and callers. */
typedef struct ari_error {
    int http_status;   /* 0 when no HTTP answer came (refused, timeout) */
    char message[256]; /* Asterisk's {"message"} or {"error"}, or curl's reason */
} ari_error;

/* Copies cfg (and cb, which may be NULL when only REST is used).
 * CS_ERR_INVALID for a missing or unusable url/user/password/app. */
cs_err ari_client_new(const ari_config *cfg, const ari_callbacks *cb, ari_client **out)
    __attribute__((warn_unused_result));
/* Starts the WebSocket thread (REST works without it). */
cs_err ari_client_start(ari_client *c) __attribute__((warn_unused_result));
/* Closes the WebSocket and joins its thread; from any thread but the
 * WebSocket's own. Idempotent. No callback runs after it returns. */
void ari_client_stop(ari_client *c);
/* Stops if needed, then frees. No REST call may be in flight. NULL is fine. */
void ari_client_free(ari_client *c);

bool ari_client_connected(const ari_client *c);
void ari_client_counters(const ari_client *c, ari_counters *out);

/* ------------------------------------------------------------------ */
/* REST. Every call: CS_OK, or an error with err (may be NULL) filled.  */
/*   404 -> CS_ERR_NOT_FOUND; 409, 412, 422 -> CS_ERR_PRECONDITION;     */
/*   400 -> CS_ERR_INVALID, except 400 "Channel not found" (addChannel,  */
/*   removeChannel of a gone channel) -> CS_ERR_NOT_FOUND;               */
/*   401, 403, 405 -> CS_ERR_INTERNAL (misconfiguration, logged);        */
/*   5xx, refused connection, timeouts -> CS_ERR_UNAVAILABLE.            */

/* Parameters of POST /channels (originate) and POST /channels/create.
 * NULL / 0 fields are not sent. */
typedef struct ari_originate {
    const char *endpoint;            /* required: "PJSIP/3001", "Local/3001@ctx" */
    const char *app;                 /* Stasis app; required for create */
    const char *app_args;            /* comma-separated */
    const char *context, *extension; /* originate only: dialplan target instead of app */
    const char *caller_id;           /* originate only: "Name <number>" */
    int timeout_s;                   /* originate only */
    const char *channel_id;
    const char *other_channel_id;
    const char *originator;
    const char *formats;
    const char *const *variables; /* NULL-terminated name, value, name, value, ... */
} ari_originate;

/* *out (may be NULL if not wanted): the new channel, free with ari_channel_free. */
cs_err ari_channel_originate(ari_client *c, const ari_originate *o, ari_channel **out,
                             ari_error *err) __attribute__((warn_unused_result));
cs_err ari_channel_create(ari_client *c, const ari_originate *o, ari_channel **out, ari_error *err)
    __attribute__((warn_unused_result));
/* caller may be NULL; timeout_s <= 0 is not sent. */
cs_err ari_channel_dial(ari_client *c, const char *id, const char *caller, int timeout_s,
                        ari_error *err) __attribute__((warn_unused_result));
cs_err ari_channel_answer(ari_client *c, const char *id, ari_error *err)
    __attribute__((warn_unused_result));
cs_err ari_channel_ring(ari_client *c, const char *id, ari_error *err)
    __attribute__((warn_unused_result));
cs_err ari_channel_ring_stop(ari_client *c, const char *id, ari_error *err)
    __attribute__((warn_unused_result));
/* POST (on) or DELETE (off) /channels/{id}/hold: the channel is told it is
 * held (a PJSIP channel then hears music on hold). */
cs_err ari_channel_hold(ari_client *c, const char *id, bool on, ari_error *err)
    __attribute__((warn_unused_result));
/* POST /channels/{id}/dtmf: digits (not empty) played to the channel, each
 * duration_ms long (<= 0: Asterisk's default). */
cs_err ari_channel_dtmf(ari_client *c, const char *id, const char *digits, int duration_ms,
                        ari_error *err) __attribute__((warn_unused_result));
/* reason: "normal", "busy", "congestion", "no_answer", ... or NULL. */
cs_err ari_channel_hangup(ari_client *c, const char *id, const char *reason, ari_error *err)
    __attribute__((warn_unused_result));
cs_err ari_channel_redirect(ari_client *c, const char *id, const char *endpoint, ari_error *err)
    __attribute__((warn_unused_result));
/* context/extension may be NULL; priority <= 0 is not sent. */
cs_err ari_channel_continue(ari_client *c, const char *id, const char *context,
                            const char *extension, int priority, ari_error *err)
    __attribute__((warn_unused_result));
/* *value: malloc'd, caller frees. */
cs_err ari_channel_var_get(ari_client *c, const char *id, const char *name, char **value,
                           ari_error *err) __attribute__((warn_unused_result));
cs_err ari_channel_var_set(ari_client *c, const char *id, const char *name, const char *value,
                           ari_error *err) __attribute__((warn_unused_result));
cs_err ari_channel_get(ari_client *c, const char *id, ari_channel **out, ari_error *err)
    __attribute__((warn_unused_result));
cs_err ari_channel_list_all(ari_client *c, ari_channel_list **out, ari_error *err)
    __attribute__((warn_unused_result));

/* type: "mixing" (NULL means mixing); id, name may be NULL. */
cs_err ari_bridge_create(ari_client *c, const char *type, const char *id, const char *name,
                         ari_bridge **out, ari_error *err) __attribute__((warn_unused_result));
/* channel_id: one id, or several separated by commas (ARI's allowMultiple:
 * all join in one request, or none when one of them cannot). */
cs_err ari_bridge_add_channel(ari_client *c, const char *bridge_id, const char *channel_id,
                              ari_error *err) __attribute__((warn_unused_result));
cs_err ari_bridge_remove_channel(ari_client *c, const char *bridge_id, const char *channel_id,
                                 ari_error *err) __attribute__((warn_unused_result));
cs_err ari_bridge_destroy(ari_client *c, const char *bridge_id, ari_error *err)
    __attribute__((warn_unused_result));
/* PUT /applications/{app}/eventFilter {"allowed": [{"type": ...}, ...]}:
 * Asterisk sends the application only these event types (n == 0: all). */
cs_err ari_application_filter(ari_client *c, const ari_event_type *allowed, size_t n,
                              ari_error *err) __attribute__((warn_unused_result));
cs_err ari_bridge_get(ari_client *c, const char *bridge_id, ari_bridge **out, ari_error *err)
    __attribute__((warn_unused_result));
cs_err ari_bridge_list_all(ari_client *c, ari_bridge_list **out, ari_error *err)
    __attribute__((warn_unused_result));

cs_err ari_asterisk_info(ari_client *c, ari_system_info *out, ari_error *err)
    __attribute__((warn_unused_result));
/* GET /asterisk/ping; out (may be NULL) gets the entity id. */
cs_err ari_asterisk_ping(ari_client *c, ari_system_info *out, ari_error *err)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------------ */
/* Endpoint templates                                                   */

/*
 * Expands every "{key}" in tmpl with value, e.g.
 *   ari_endpoint_format("PJSIP/{ext}", "ext", "3001", buf, sizeof buf)
 *   ari_endpoint_format("PJSIP/{number}@trunk", "number", "+15551234", ...)
 * The value must be 1..64 characters of a safe set so that a destination
 * cannot inject endpoint syntax ('/', '@', '&', ',', ';', ...): for
 * "number": digits, '+', '*', '#'; for any other key (extensions,
 * usernames): also letters, '_', '-' and '.'.
 * CS_ERR_INVALID: unsafe value, a template without {key}, any other
 * "{...}" placeholder, or out too small.
 */
cs_err ari_endpoint_format(const char *tmpl, const char *key, const char *value, char *out,
                           size_t outlen) __attribute__((warn_unused_result));

#endif
