/*
 * model: channels, bridges and Stasis apps of the simulated Asterisk.
 *
 * Event order follows the traces recorded from Asterisk 22.10.1
 * (shared/ari/traces). The rules that are easy to get wrong, and why:
 *  - A channel made with POST /channels (originate) is subscribed to its app
 *    from the start (its Dial events arrive) but enters Stasis only once the
 *    far end answers; POST /channels/create enters Stasis at once, Down.
 *  - A channel that entered Stasis from the dialplan (an inbound call) is
 *    unsubscribed at StasisEnd — no ChannelDestroyed — unless it was in a
 *    bridge, which keeps the app subscribed.
 *  - ARI DELETE shows first as ChannelHangupRequest{cause:32, soft:true}
 *    (32 is Asterisk's "explicit soft hangup" flag); the reason only shows
 *    in ChannelDestroyed. A far end hanging up gives cause 16, not soft.
 *  - A dial that times out ends with ChannelDestroyed cause 19 and no final
 *    Dial event; a busy callee stays in Stasis until the app hangs it up.
 *  - A Local/x@ctx endpoint is two channels; the ";2" half is modelled only
 *    when it matters (it enters Stasis from a stasis-in context); the far
 *    half that merely runs answer/ring dialplan is the far end itself.
 *  - ARI hold emits no event (ChannelHold/Unhold are for a hold the channel
 *    itself asks for); DTMF sent through ARI shows as ChannelDtmfReceived on
 *    the other half of a Local pair (the trace's POST /dtmf on ;1 arrives on
 *    ;2), and on nothing else: the far end of a PJSIP channel is a phone.
 * Not modelled: media (play, record), move, ChannelDialplan/CallerId events
 * of far-end halves, DTMF timing (digits arrive at once).
 */
#include "model.h"
#include "far.h"

#include <libwebsockets.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ID_MAX     64
#define STR_MAX    128
#define ARGS_MAX   256
#define BR_MEMBERS 32
#define BR_APPS    4
#define VARS_MAX   64
#define HASH_SIZE  4096
#define APPS_MAX   64
#define FILTER_MAX 64
#define DTMF_KEEP  256 /* digits kept in dtmf_sent, the latest */

typedef struct sim_var {
    struct sim_var *next;
    char *name;
    char *value;
} sim_var;

typedef enum dial_kind { DK_NONE, DK_ORIGINATE, DK_ARI } dial_kind;
typedef enum far_step {
    STEP_NONE,
    STEP_RING,
    STEP_ANSWER,
    STEP_FINAL,
    STEP_NOANSWER,
    STEP_HANGUP,
    STEP_INVALID
} far_step;
typedef enum ch_state { ST_DOWN, ST_RING, ST_RINGING, ST_UP, ST_BUSY } ch_state;

static const char *const state_names[] = {"Down", "Ring", "Ringing", "Up", "Busy"};

struct bridge;

typedef struct chan {
    struct chan *next, *prev, *hnext;
    char id[ID_MAX];
    char name[STR_MAX + 32];
    char tech[32];
    char resource[STR_MAX];
    ch_state state;
    char caller_name[80], caller_num[80], conn_name[80], conn_num[80];
    char ctx[80], exten[80];
    int prio;
    char app_name[32];
    char app_data[ARGS_MAX + 80];
    char created[40];
    char app[64];   /* app it reports to ("" none) */
    int subscribed; /* the app receives its events */
    int in_stasis;
    int from_dialplan; /* entered Stasis from the dialplan */
    int was_bridged;   /* keeps a dialplan channel subscribed after StasisEnd */
    char stasis_args[ARGS_MAX];
    struct bridge *bridge;
    struct chan *partner; /* other half of a Local pair, if modelled */
    int half;             /* 0 single channel, 1 or 2 Local half */
    int waits_partner;    /* ;1 whose far end is its Stasis ;2 half */
    int created_by_create;
    dial_kind dial;
    int dial_done;
    far_cfg far;
    char orig_app[64], orig_args[ARGS_MAX], orig_ctx[80], orig_exten[80];
    char other_id[ID_MAX];
    far_step step;
    lws_sorted_usec_list_t sul_far, sul_timeout;
    sim_var *vars;
    int nvars;
    int on_hold;                   /* POST /hold sets it, DELETE /hold clears it */
    char dtmf_sent[DTMF_KEEP + 1]; /* digits sent to it through ARI, the latest */
} chan;

typedef struct bridge {
    struct bridge *next, *prev, *hnext;
    char id[ID_MAX];
    char name[STR_MAX];
    char type[64];
    char technology[32];
    char created[40];
    chan *members[BR_MEMBERS];
    int n;
    char apps[BR_APPS][64];
    int napps;
} bridge;

static struct {
    struct lws_context *ctx;
    sim_config cfg;
    char technologies[256];
    char inbound_app[64];
    sim_emit_fn emit;
    char entity_id[32];
    char startup[40];
    unsigned id_seq, local_seq, name_seq;
    chan *chans;
    chan *chash[HASH_SIZE];
    int nchans;
    bridge *bridges;
    bridge *bhash[HASH_SIZE];
    int nbridges;
    struct sim_app {
        char name[64];
        int sessions;
        /* PUT /applications/{app}/eventFilter: event type names */
        char allowed[FILTER_MAX][40], disallowed[FILTER_MAX][40];
        int n_allowed, n_disallowed;
    } apps[APPS_MAX];
    unsigned long long events, chans_created, chans_destroyed, bridges_created;
    unsigned rng;
} M;

/* ---- small helpers -------------------------------------------------------- */

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % HASH_SIZE;
}

static unsigned rnd(void)
{
    /* xorshift: ids need to be unique-looking, not unpredictable */
    M.rng ^= M.rng << 13;
    M.rng ^= M.rng >> 17;
    M.rng ^= M.rng << 5;
    return M.rng;
}

/* Asterisk's timestamp format: 2026-11-25T11:05:12.242+0000 */
static void now_str(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%.20s.%03d+0000", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void new_entity_id(void)
{
    snprintf(M.entity_id, sizeof(M.entity_id), "02:%02x:%02x:%02x:%02x:%02x", rnd() & 0xff,
             rnd() & 0xff, rnd() & 0xff, rnd() & 0xff, rnd() & 0xff);
}

static void reply(sim_reply *r, int status, json_t *body)
{
    r->status = status;
    r->body = body;
}

static void reply_msg(sim_reply *r, int status, const char *msg)
{
    reply(r, status, json_pack("{s:s}", "message", msg));
}

/* Allocation failures are the one ARI error with key "error". */
static void reply_alloc_failed(sim_reply *r)
{
    reply(r, 500, json_pack("{s:s}", "error", "Allocation failed"));
}

static const char *arg(const sim_args *a, const char *name)
{
    const char *v = a ? a->get(a->req, name) : NULL;
    return v;
}

static int empty(const char *s)
{
    return !s || !*s;
}

/* ---- hangup causes ---------------------------------------------------------- */

static const struct {
    const char *reason;
    int cause;
} reasons[] = {
    {"normal", 16},
    {"busy", 17},
    {"congestion", 34},
    {"no_answer", 19},
    {"timeout", 18},
    {"rejected", 21},
    {"unallocated", 1},
    {"normal_unspecified", 31},
    {"number_incomplete", 28},
    {"codec_mismatch", 58},
    {"interworking", 127},
    {"failure", 38},
    {"answered_elsewhere", 26},
};

static const struct {
    int cause;
    const char *text;
} cause_texts[] = {
    {0, "Unknown"},
    {1, "Unallocated (unassigned) number"},
    {16, "Normal Clearing"},
    {17, "User busy"},
    {18, "No user responding"},
    {19, "User alerting, no answer"},
    {20, "Subscriber absent"},
    {21, "Call Rejected"},
    {26, "Answered elsewhere"},
    {28, "Invalid number format (incomplete number)"},
    {31, "Normal, unspecified"},
    {34, "Circuit/channel congestion"},
    {38, "Network out of order"},
    {58, "Bearer capability not available"},
    {127, "Interworking, unspecified"},
};

static const char *cause_text(int cause)
{
    for (size_t i = 0; i < sizeof(cause_texts) / sizeof(cause_texts[0]); i++) {
        if (cause_texts[i].cause == cause)
            return cause_texts[i].text;
    }
    return "Unknown";
}

/* Dial status a failed far end reports, and the cause a failed originate
 * ends with on a non-Local channel. */
static const struct {
    far_mode mode;
    const char *status;
    int cause;
} dial_fail[] = {
    {FAR_BUSY, "BUSY", 17},
    {FAR_NO_ANSWER, "NOANSWER", 19},
    {FAR_UNAVAILABLE, "CHANUNAVAIL", 20},
    {FAR_CONGESTION, "CONGESTION", 34},
    {FAR_INVALID, "CHANUNAVAIL", 0},
};

static int status_cause(const char *status)
{
    for (size_t i = 0; i < sizeof(dial_fail) / sizeof(dial_fail[0]); i++) {
        if (strcmp(dial_fail[i].status, status) == 0)
            return dial_fail[i].cause;
    }
    return 0;
}

static const char *cause_status(int cause)
{
    switch (cause) {
    case 17:
        return "BUSY";
    case 18:
    case 19:
        return "NOANSWER";
    case 34:
        return "CONGESTION";
    default:
        return "CHANUNAVAIL";
    }
}

/* ---- tables: channels and bridges ------------------------------------------ */

static chan *chan_find(const char *id)
{
    if (empty(id))
        return NULL;
    for (chan *c = M.chash[hash_str(id)]; c; c = c->hnext) {
        if (strcmp(c->id, id) == 0)
            return c;
    }
    return NULL;
}

static bridge *bridge_find(const char *id)
{
    if (empty(id))
        return NULL;
    for (bridge *b = M.bhash[hash_str(id)]; b; b = b->hnext) {
        if (strcmp(b->id, id) == 0)
            return b;
    }
    return NULL;
}

static void chan_link(chan *c)
{
    unsigned h = hash_str(c->id);
    c->hnext = M.chash[h];
    M.chash[h] = c;
    /* append, so lists come out in creation order like Asterisk's */
    if (!M.chans) {
        M.chans = c;
        c->prev = c;
    } else {
        chan *last = M.chans->prev;
        last->next = c;
        c->prev = last;
        M.chans->prev = c;
    }
    c->next = NULL;
    M.nchans++;
    M.chans_created++;
}

static void chan_unlink(chan *c)
{
    chan **pp = &M.chash[hash_str(c->id)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    if (c == M.chans) {
        M.chans = c->next;
        if (M.chans)
            M.chans->prev = c->prev;
    } else {
        c->prev->next = c->next;
        if (c->next)
            c->next->prev = c->prev;
        else
            M.chans->prev = c->prev;
    }
    M.nchans--;
    M.chans_destroyed++;
}

static void chan_free(chan *c)
{
    lws_sul_cancel(&c->sul_far);
    lws_sul_cancel(&c->sul_timeout);
    for (sim_var *v = c->vars, *n; v; v = n) {
        n = v->next;
        free(v->name);
        free(v->value);
        free(v);
    }
    free(c);
}

static void bridge_link(bridge *b)
{
    unsigned h = hash_str(b->id);
    b->hnext = M.bhash[h];
    M.bhash[h] = b;
    if (!M.bridges) {
        M.bridges = b;
        b->prev = b;
    } else {
        bridge *last = M.bridges->prev;
        last->next = b;
        b->prev = last;
        M.bridges->prev = b;
    }
    b->next = NULL;
    M.nbridges++;
    M.bridges_created++;
}

static void bridge_unlink(bridge *b)
{
    bridge **pp = &M.bhash[hash_str(b->id)];
    while (*pp && *pp != b)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = b->hnext;
    if (b == M.bridges) {
        M.bridges = b->next;
        if (M.bridges)
            M.bridges->prev = b->prev;
    } else {
        b->prev->next = b->next;
        if (b->next)
            b->next->prev = b->prev;
        else
            M.bridges->prev = b->prev;
    }
    M.nbridges--;
}

static int var_set(chan *c, const char *name, const char *value)
{
    sim_var *v;
    for (v = c->vars; v; v = v->next) {
        if (strcmp(v->name, name) == 0) {
            char *nv = strdup(value ? value : "");
            if (!nv)
                return -1;
            free(v->value);
            v->value = nv;
            return 0;
        }
    }
    if (c->nvars >= VARS_MAX)
        return -1;
    v = calloc(1, sizeof(*v));
    if (!v)
        return -1;
    v->name = strdup(name);
    v->value = strdup(value ? value : "");
    if (!v->name || !v->value) {
        free(v->name);
        free(v->value);
        free(v);
        return -1;
    }
    v->next = c->vars;
    c->vars = v;
    c->nvars++;
    return 0;
}

static const char *var_get(const chan *c, const char *name)
{
    for (const sim_var *v = c->vars; v; v = v->next) {
        if (strcmp(v->name, name) == 0)
            return v->value;
    }
    return NULL;
}

/* ---- JSON snapshots ---------------------------------------------------------- */

static json_t *chan_json(const chan *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s, "
                     "s:{s:s, s:s, s:i, s:s, s:s}, s:s, s:s}",
                     "id", c->id, "name", c->name, "state", state_names[c->state], "protocol_id",
                     "", "caller", "name", c->caller_name, "number", c->caller_num, "connected",
                     "name", c->conn_name, "number", c->conn_num, "accountcode", "", "dialplan",
                     "context", c->ctx, "exten", c->exten, "priority", c->prio, "app_name",
                     c->app_name, "app_data", c->app_data, "creationtime", c->created, "language",
                     "en");
}

static json_t *bridge_json(const bridge *b)
{
    json_t *ids = json_array();
    for (int i = 0; i < b->n; i++)
        json_array_append_new(ids, json_string(b->members[i]->id));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "id", b->id, "technology",
                     b->technology, "bridge_type", b->type, "bridge_class", "stasis", "creator",
                     "Stasis", "name", b->name, "channels", ids, "creationtime", b->created,
                     "video_mode", "talker");
}

static json_t *args_json(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;
    if (empty(csv))
        return a;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        if (!comma)
            break;
        p = comma + 1;
    }
    return a;
}

/* ---- events ---------------------------------------------------------------- */

static struct sim_app *app_find(const char *name)
{
    for (int i = 0; i < APPS_MAX; i++)
        if (M.apps[i].sessions && strcmp(M.apps[i].name, name) == 0)
            return &M.apps[i];
    return NULL;
}

static int filter_has(char list[][40], int n, const char *type)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], type) == 0)
            return 1;
    return 0;
}

/* Asterisk's rules: an empty allowed list allows everything, and
 * disallowed wins over allowed. */
static int app_wants(const char *app, const char *type)
{
    struct sim_app *a = app_find(app);
    if (!a || !type)
        return 1;
    if (filter_has(a->disallowed, a->n_disallowed, type))
        return 0;
    return a->n_allowed == 0 || filter_has(a->allowed, a->n_allowed, type);
}

static void emit_to(const char *app, json_t *ev)
{
    char *text;
    if (empty(app) || !M.emit || !app_wants(app, json_string_value(json_object_get(ev, "type")))) {
        json_decref(ev);
        return;
    }
    json_object_set_new(ev, "asterisk_id", json_string(M.entity_id));
    json_object_set_new(ev, "application", json_string(app));
    text = json_dumps(ev, JSON_COMPACT);
    if (text) {
        M.emit(app, text, strlen(text));
        M.events++;
        free(text);
    }
    json_decref(ev);
}

static json_t *ev_new(const char *type)
{
    char ts[40];
    now_str(ts, sizeof(ts));
    return json_pack("{s:s, s:s}", "type", type, "timestamp", ts);
}

/* Sends ev (stolen) about c to c's app, if the app is subscribed to c. */
static void ev_chan(chan *c, json_t *ev)
{
    if (!c->subscribed || empty(c->app)) {
        json_decref(ev);
        return;
    }
    json_object_set_new(ev, "channel", chan_json(c));
    emit_to(c->app, ev);
}

static void ev_simple(chan *c, const char *type)
{
    ev_chan(c, ev_new(type));
}

static void ev_varset(chan *c, const char *var, const char *value)
{
    json_t *ev = ev_new("ChannelVarset");
    json_object_set_new(ev, "variable", json_string(var));
    json_object_set_new(ev, "value", json_string(value));
    ev_chan(c, ev);
}

static void ev_dialplan(chan *c, const char *app, const char *data)
{
    json_t *ev = ev_new("ChannelDialplan");
    json_object_set_new(ev, "dialplan_app", json_string(app));
    json_object_set_new(ev, "dialplan_app_data", json_string(data));
    ev_chan(c, ev);
}

static void ev_hangup_request(chan *c, int cause, int soft)
{
    json_t *ev = ev_new("ChannelHangupRequest");
    json_object_set_new(ev, "cause", json_integer(cause));
    if (soft)
        json_object_set_new(ev, "soft", json_true());
    ev_chan(c, ev);
}

/* Dial events name the dialled channel as "peer". */
static void ev_dial(chan *c, const char *status, const char *dialstring)
{
    json_t *ev;
    if (!c->subscribed || empty(c->app))
        return;
    ev = ev_new("Dial");
    json_object_set_new(ev, "dialstatus", json_string(status));
    json_object_set_new(ev, "forward", json_string(""));
    json_object_set_new(ev, "dialstring", json_string(dialstring));
    json_object_set_new(ev, "peer", chan_json(c));
    emit_to(c->app, ev);
}

static void ev_bridge(chan *c, const char *type, bridge *b)
{
    json_t *ev = ev_new(type);
    json_object_set_new(ev, "bridge", bridge_json(b));
    ev_chan(c, ev);
}

static void set_state(chan *c, ch_state st)
{
    if (c->state == st)
        return;
    c->state = st;
    ev_simple(c, "ChannelStateChange");
}

/* After the first Dial event of an ARI dial the dial string is empty; an
 * originate keeps repeating it. */
static const char *dialstring(const chan *c)
{
    return c->dial == DK_ORIGINATE ? c->resource : "";
}

/* ---- Stasis ---------------------------------------------------------------- */

enum { DP_NONE, DP_STASIS, DP_NOOP_STASIS };

static void enter_stasis(chan *c, const char *app, const char *args, int from_dialplan,
                         int dp_events)
{
    copy(c->app_name, sizeof(c->app_name), "Stasis");
    if (empty(args))
        copy(c->app_data, sizeof(c->app_data), app);
    else
        snprintf(c->app_data, sizeof(c->app_data), "%s,%s", app, args);
    if (!c->subscribed)
        copy(c->app, sizeof(c->app), app);
    if (dp_events == DP_NOOP_STASIS) {
        char noop[160];
        snprintf(noop, sizeof(noop), "Inbound call for %s -> Stasis", c->exten);
        ev_dialplan(c, "NoOp", noop);
    }
    if (dp_events != DP_NONE)
        ev_dialplan(c, "Stasis", c->app_data);
    ev_varset(c, "STASISSTATUS", "");
    copy(c->app, sizeof(c->app), app);
    copy(c->stasis_args, sizeof(c->stasis_args), args);
    c->from_dialplan = from_dialplan;
    c->in_stasis = 1;
    c->subscribed = 1;
    {
        json_t *ev = ev_new("StasisStart");
        json_object_set_new(ev, "args", args_json(args));
        ev_chan(c, ev);
    }
}

/* varset: 0 when continuing straight into another Stasis() (the trace
 * shows no STASISSTATUS then). */
static void exit_stasis(chan *c, int varset)
{
    ev_simple(c, "StasisEnd");
    c->in_stasis = 0;
    if (c->from_dialplan && !c->was_bridged)
        c->subscribed = 0;
    if (varset)
        ev_varset(c, "STASISSTATUS", "SUCCESS");
}

/* ---- bridges: membership ------------------------------------------------- */

static void bridge_add_app(bridge *b, const char *app)
{
    if (empty(app))
        return;
    for (int i = 0; i < b->napps; i++) {
        if (strcmp(b->apps[i], app) == 0)
            return;
    }
    if (b->napps < BR_APPS)
        copy(b->apps[b->napps++], sizeof(b->apps[0]), app);
}

static void bridge_leave(chan *c)
{
    bridge *b = c->bridge;
    int had_peer;
    if (!b)
        return;
    had_peer = b->n == 2;
    for (int i = 0; i < b->n; i++) {
        if (b->members[i] == c) {
            memmove(&b->members[i], &b->members[i + 1],
                    sizeof(b->members[0]) * (size_t)(b->n - i - 1));
            b->n--;
            break;
        }
    }
    c->bridge = NULL;
    if (had_peer)
        ev_varset(c, "BRIDGEPEER", "");
    ev_bridge(c, "ChannelLeftBridge", b);
}

static int bridge_join(bridge *b, chan *c)
{
    if (c->bridge == b)
        return 0;
    if (b->n >= BR_MEMBERS)
        return -1;
    bridge_leave(c);
    b->members[b->n++] = c;
    c->bridge = b;
    c->was_bridged = 1;
    bridge_add_app(b, c->app);
    ev_bridge(c, "ChannelEnteredBridge", b);
    return 0;
}

/* Two parties talking see each other as BRIDGEPEER and connected line. */
static void bridge_peer_update(bridge *b)
{
    chan *x, *y;
    if (b->n != 2)
        return;
    x = b->members[0];
    y = b->members[1];
    ev_varset(x, "BRIDGEPEER", y->name);
    ev_varset(y, "BRIDGEPEER", x->name);
    copy(y->conn_name, sizeof(y->conn_name), x->caller_name);
    copy(y->conn_num, sizeof(y->conn_num), x->caller_num);
    copy(x->conn_name, sizeof(x->conn_name), y->caller_name);
    copy(x->conn_num, sizeof(x->conn_num), y->caller_num);
    ev_simple(y, "ChannelConnectedLine");
    ev_simple(x, "ChannelConnectedLine");
}

/* ---- channel life ---------------------------------------------------------- */

static void far_gone(chan *p, int cause);

/* Ends c after its ChannelHangupRequest: leaves bridge and Stasis, is
 * destroyed, and its Local partner follows. Frees c. */
static void teardown(chan *c, int cause, int cancel_dial)
{
    chan *p = c->partner;
    json_t *ev;

    lws_sul_cancel(&c->sul_far);
    lws_sul_cancel(&c->sul_timeout);
    if (cancel_dial && c->dial != DK_NONE && !c->dial_done)
        ev_dial(c, "CANCEL", dialstring(c));
    bridge_leave(c);
    if (c->in_stasis)
        exit_stasis(c, 1);
    if (p) {
        p->partner = NULL;
        c->partner = NULL;
        /* the ;2 half sees its ;1 half go away first */
        if (c->half == 2)
            ev_hangup_request(c, 16, 1);
    }
    ev = ev_new("ChannelDestroyed");
    json_object_set_new(ev, "cause", json_integer(cause));
    json_object_set_new(ev, "cause_txt", json_string(cause_text(cause)));
    ev_chan(c, ev);
    chan_unlink(c);
    chan_free(c);
    if (p)
        far_gone(p, cause);
}

/* The far end of c hangs up (not soft). Frees c. */
static void far_hangup(chan *c, int cause)
{
    ev_hangup_request(c, cause, 0);
    teardown(c, cause, 1);
}

static void dial_failed(chan *c, const char *status);

/* c's Local partner went away with cause. */
static void far_gone(chan *p, int cause)
{
    if (p->waits_partner && !p->dial_done) {
        p->waits_partner = 0;
        dial_failed(p, cause_status(cause));
        return;
    }
    far_hangup(p, 16);
}

static void step_cb(lws_sorted_usec_list_t *sul);

static void schedule_step(chan *c, far_step step, int ms)
{
    c->step = step;
    lws_sul_schedule(M.ctx, 0, &c->sul_far, step_cb, (lws_usec_t)ms * LWS_US_PER_MS);
}

static void run_dialplan(chan *c, const char *context, const char *exten, int dp_events);

static void far_answered(chan *c)
{
    lws_sul_cancel(&c->sul_timeout);
    c->dial_done = 1;
    c->waits_partner = 0;
    set_state(c, ST_UP);
    ev_dial(c, "ANSWER", dialstring(c));
    if (c->dial == DK_ORIGINATE) {
        if (!empty(c->orig_app)) {
            enter_stasis(c, c->orig_app, c->orig_args, 0, DP_NONE);
        } else {
            copy(c->app_name, sizeof(c->app_name), "");
            copy(c->app_data, sizeof(c->app_data), "");
            run_dialplan(c, c->orig_ctx, c->orig_exten, DP_NONE);
            return; /* c may be gone */
        }
    }
    if (c->far.hangup_after_ms >= 0)
        schedule_step(c, STEP_HANGUP, c->far.hangup_after_ms);
}

/* The far end refused (busy, no answer, ...). An ARI-dialled channel stays
 * in Stasis; an originated one is destroyed. May free c. */
static void dial_failed(chan *c, const char *status)
{
    lws_sul_cancel(&c->sul_timeout);
    c->dial_done = 1;
    ev_dial(c, status, dialstring(c));
    if (c->dial == DK_ORIGINATE) {
        int cause = strcasecmp(c->tech, "Local") == 0 ? 0 : status_cause(status);
        teardown(c, cause, 0);
    }
}

static chan *chan_new(const char *id, const char *tech, const char *resource, int half);
static chan *inbound_half(chan *one, const char *exten);

static void step_cb(lws_sorted_usec_list_t *sul)
{
    chan *c = lws_container_of(sul, chan, sul_far);
    far_step step = c->step;

    c->step = STEP_NONE;
    switch (step) {
    case STEP_RING:
        set_state(c, ST_RINGING);
        ev_dial(c, "RINGING", dialstring(c));
        if (c->far.mode == FAR_ANSWER)
            schedule_step(c, STEP_ANSWER, c->far.answer_after_ms);
        else if (c->far.mode == FAR_NO_ANSWER)
            schedule_step(c, STEP_NOANSWER, c->far.answer_after_ms);
        break;
    case STEP_ANSWER:
        far_answered(c);
        break;
    case STEP_NOANSWER:
        dial_failed(c, "NOANSWER");
        break;
    case STEP_FINAL:
        for (size_t i = 0; i < sizeof(dial_fail) / sizeof(dial_fail[0]); i++) {
            if (dial_fail[i].mode == c->far.mode) {
                dial_failed(c, dial_fail[i].status);
                return;
            }
        }
        dial_failed(c, "CHANUNAVAIL");
        break;
    case STEP_HANGUP:
        far_hangup(c, 16);
        break;
    case STEP_INVALID:
        /* a Local channel into a context that does not exist */
        teardown(c, 0, 0);
        break;
    case STEP_NONE:
        break;
    }
}

static void timeout_cb(lws_sorted_usec_list_t *sul)
{
    chan *c = lws_container_of(sul, chan, sul_timeout);
    if (c->dial_done)
        return;
    lws_sul_cancel(&c->sul_far);
    if (c->in_stasis)
        ev_hangup_request(c, 32, 1);
    teardown(c, 19, 0);
}

/* How long a device asked to auto-answer rings before it picks up. */
enum { AUTO_ANSWER_MS = 100 };

/* Whether the channel was created with a SIP header asking the device to
 * answer by itself (Call-Info answer-after, or Alert-Info auto-answer). */
static int auto_answer_asked(const chan *c)
{
    const char *ci = var_get(c, "PJSIP_HEADER(add,Call-Info)");
    const char *ai = var_get(c, "PJSIP_HEADER(add,Alert-Info)");
    return (ci && strstr(ci, "answer-after=")) || (ai && strstr(ai, "autoanswer"));
}

static void start_dial(chan *c, dial_kind kind, int timeout_s)
{
    c->dial = kind;
    c->far = far_resolve(c->tech, c->resource);
    if (auto_answer_asked(c)) {
        /* a phone that honours auto-answer picks up at once, unless it
         * cannot take the call at all (busy, unavailable, ...) */
        static const far_mode answers[] = {FAR_ANSWER, FAR_RING_FOREVER, FAR_NO_ANSWER};
        for (size_t i = 0; i < sizeof answers / sizeof *answers; i++)
            if (c->far.mode == answers[i]) {
                c->far.mode = FAR_ANSWER;
                c->far.answer_after_ms = AUTO_ANSWER_MS;
            }
    }
    if (c->far.mode == FAR_INVALID && kind == DK_ORIGINATE) {
        schedule_step(c, STEP_INVALID, 0);
        return;
    }
    ev_dial(c, "", c->resource);
    switch (c->far.mode) {
    case FAR_STASIS: {
        const char *at = strchr(c->resource, '@');
        char exten[80];
        snprintf(exten, sizeof(exten), "%.*s",
                 at ? (int)(at - c->resource) : (int)strlen(c->resource), c->resource);
        c->waits_partner = 1;
        if (!inbound_half(c, exten)) {
            c->waits_partner = 0;
            schedule_step(c, STEP_FINAL, 0);
            c->far.mode = FAR_UNAVAILABLE;
        }
        break;
    }
    case FAR_ANSWER:
        schedule_step(c, c->far.answer_after_ms > 0 ? STEP_RING : STEP_ANSWER, 0);
        break;
    case FAR_RING_FOREVER:
    case FAR_NO_ANSWER:
        schedule_step(c, STEP_RING, 0);
        break;
    default:
        schedule_step(c, STEP_FINAL, 0);
        break;
    }
    if (timeout_s > 0)
        lws_sul_schedule(M.ctx, 0, &c->sul_timeout, timeout_cb,
                         (lws_usec_t)timeout_s * LWS_US_PER_SEC);
}

/* c (out of Stasis) runs context/exten: a Stasis context brings it back into
 * an app, a far-end context keeps it there, anything else hangs it up. */
static void run_dialplan(chan *c, const char *context, const char *exten, int dp_events)
{
    far_cfg f = far_context(context);
    copy(c->ctx, sizeof(c->ctx), context);
    copy(c->exten, sizeof(c->exten), exten);
    c->prio = 1;
    if (f.mode == FAR_STASIS) {
        c->prio = 2;
        enter_stasis(c, M.inbound_app, exten, c->subscribed ? c->from_dialplan : 1, dp_events);
        return;
    }
    if (f.mode == FAR_INVALID)
        far_hangup(c, 16);
}

static int tech_allowed(const char *tech)
{
    char buf[256];
    char *save = NULL;
    copy(buf, sizeof(buf), M.technologies);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcasecmp(t, tech) == 0)
            return 1;
    }
    return 0;
}

static chan *chan_new(const char *id, const char *tech, const char *resource, int half)
{
    chan *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!empty(id))
        copy(c->id, sizeof(c->id), id);
    else
        snprintf(c->id, sizeof(c->id), "%ld.%u", (long)time(NULL), M.id_seq++);
    copy(c->tech, sizeof(c->tech), tech);
    copy(c->resource, sizeof(c->resource), resource);
    c->half = half;
    if (half) {
        if (half == 1)
            M.local_seq++;
        snprintf(c->name, sizeof(c->name), "%s/%s-%08x;%d", tech, resource, M.local_seq - 1, half);
    } else {
        /* PJSIP/3001@trunk is named after the endpoint after '@' */
        const char *at = strchr(resource, '@');
        snprintf(c->name, sizeof(c->name), "%s/%s-%08x", tech, at ? at + 1 : resource,
                 M.name_seq++);
    }
    now_str(c->created, sizeof(c->created));
    c->prio = 1;
    c->state = ST_DOWN;
    chan_link(c);
    return c;
}

/* The ";2" half of a Local channel into a Stasis context: it enters the
 * inbound app from the dialplan, ringing, and its ;1 half waits for it. */
static chan *inbound_half(chan *one, const char *exten)
{
    chan *two;
    if (M.nchans >= M.cfg.max_channels)
        return NULL;
    two = chan_new(one->other_id, one->tech, one->resource, 2);
    if (!two)
        return NULL;
    snprintf(two->name, sizeof(two->name), "%.*s2", (int)strlen(one->name) - 1, one->name);
    two->state = ST_RING;
    copy(two->caller_name, sizeof(two->caller_name), one->caller_name);
    copy(two->caller_num, sizeof(two->caller_num), one->caller_num);
    copy(two->conn_name, sizeof(two->conn_name), one->caller_name);
    copy(two->conn_num, sizeof(two->conn_num), one->caller_num);
    copy(two->ctx, sizeof(two->ctx), one->ctx);
    copy(two->exten, sizeof(two->exten), exten);
    two->prio = 2;
    two->partner = one;
    one->partner = two;
    enter_stasis(two, M.inbound_app, exten, 1, DP_NONE);
    return two;
}

static void parse_callerid(const char *cid, char *name, size_t nn, char *num, size_t numn)
{
    const char *lt, *gt;
    name[0] = num[0] = '\0';
    if (empty(cid))
        return;
    lt = strchr(cid, '<');
    gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt) {
        size_t n = (size_t)(lt - cid);
        while (n > 0 && (cid[n - 1] == ' ' || cid[n - 1] == '"'))
            n--;
        while (n > 0 && *cid == '"') {
            cid++;
            n--;
        }
        snprintf(name, nn, "%.*s", (int)n, cid);
        snprintf(num, numn, "%.*s", (int)(gt - lt - 1), lt + 1);
    } else {
        snprintf(num, numn, "%s", cid);
    }
}

/* ---- init / restart ------------------------------------------------------ */

static void free_all(void)
{
    while (M.chans) {
        chan *c = M.chans;
        chan_unlink(c);
        chan_free(c);
    }
    while (M.bridges) {
        bridge *b = M.bridges;
        bridge_unlink(b);
        free(b);
    }
    memset(M.chash, 0, sizeof(M.chash));
    memset(M.bhash, 0, sizeof(M.bhash));
}

int sim_init(struct lws_context *ctx, const sim_config *cfg, sim_emit_fn emit)
{
    memset(&M, 0, sizeof(M));
    M.ctx = ctx;
    M.cfg = *cfg;
    copy(M.technologies, sizeof(M.technologies), cfg->technologies);
    copy(M.inbound_app, sizeof(M.inbound_app), cfg->inbound_app);
    M.cfg.technologies = M.technologies;
    M.cfg.inbound_app = M.inbound_app;
    M.emit = emit;
    M.rng = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16) ^ 0x9e3779b9u;
    if (!M.rng)
        M.rng = 1;
    far_init();
    new_entity_id();
    now_str(M.startup, sizeof(M.startup));
    return 0;
}

void sim_shutdown(void)
{
    free_all();
    far_free();
}

void sim_restart(void)
{
    free_all();
    M.nchans = M.nbridges = 0;
    new_entity_id();
    now_str(M.startup, sizeof(M.startup));
}

const char *sim_entity_id(void)
{
    return M.entity_id;
}

void sim_app_attach(const char *app)
{
    int freeslot = -1;
    for (int i = 0; i < APPS_MAX; i++) {
        if (M.apps[i].sessions && strcmp(M.apps[i].name, app) == 0) {
            M.apps[i].sessions++;
            return;
        }
        if (!M.apps[i].sessions && freeslot < 0)
            freeslot = i;
    }
    if (freeslot >= 0) {
        copy(M.apps[freeslot].name, sizeof(M.apps[0].name), app);
        M.apps[freeslot].sessions = 1;
    }
}

void sim_app_detach(const char *app)
{
    for (int i = 0; i < APPS_MAX; i++) {
        if (M.apps[i].sessions && strcmp(M.apps[i].name, app) == 0) {
            /* the last session gone unregisters the application, and its
             * filter with it */
            if (--M.apps[i].sessions == 0)
                M.apps[i].n_allowed = M.apps[i].n_disallowed = 0;
            return;
        }
    }
}

/* ---- /asterisk, /applications, /endpoints -------------------------------- */

void sim_asterisk_info(const sim_args *a, sim_reply *r)
{
    const char *only = arg(a, "only");
    json_t *all = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s, s:{s:s, "
                            "s:s}}, s:{s:s, s:s}}",
                            "build", "os", "Linux", "kernel", "ari-sim", "machine", "x86_64",
                            "options", "OPTIONAL_API", "date", M.startup, "user", "ari-sim",
                            "system", "version", "22.10.1", "entity_id", M.entity_id, "config",
                            "name", "", "default_language", "en", "setid", "user", "", "group", "",
                            "status", "startup_time", M.startup, "last_reload_time", M.startup);
    if (!empty(only)) {
        json_t *sel = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(all, key, v)
        {
            const char *hit = strstr(only, key);
            size_t kl = strlen(key);
            if (hit && (hit == only || hit[-1] == ',') && (hit[kl] == '\0' || hit[kl] == ','))
                json_object_set(sel, key, v);
        }
        json_decref(all);
        all = sel;
    }
    reply(r, 200, all);
}

void sim_asterisk_ping(sim_reply *r)
{
    char ts[40];
    now_str(ts, sizeof(ts));
    reply(
        r, 200,
        json_pack("{s:s, s:s, s:s}", "ping", "pong", "timestamp", ts, "asterisk_id", M.entity_id));
}

static json_t *app_json(const char *name)
{
    json_t *chans = json_array(), *bridges = json_array();
    for (chan *c = M.chans; c; c = c->next) {
        if (c->subscribed && strcmp(c->app, name) == 0)
            json_array_append_new(chans, json_string(c->id));
    }
    for (bridge *b = M.bridges; b; b = b->next) {
        for (int i = 0; i < b->napps; i++) {
            if (strcmp(b->apps[i], name) == 0)
                json_array_append_new(bridges, json_string(b->id));
        }
    }
    json_t *allowed = json_array(), *disallowed = json_array();
    struct sim_app *a = app_find(name);
    for (int i = 0; a && i < a->n_allowed; i++)
        json_array_append_new(allowed, json_pack("{s:s}", "type", a->allowed[i]));
    for (int i = 0; a && i < a->n_disallowed; i++)
        json_array_append_new(disallowed, json_pack("{s:s}", "type", a->disallowed[i]));
    return json_pack("{s:s, s:o, s:o, s:[], s:[], s:o, s:o}", "name", name, "channel_ids", chans,
                     "bridge_ids", bridges, "endpoint_ids", "device_names", "events_allowed",
                     allowed, "events_disallowed", disallowed);
}

/* One list of the filter body: [{"type": "Name"}, ...]. -1 if malformed. */
static int filter_parse(const json_t *list, char out[][40], int *n)
{
    size_t i;
    const json_t *item;
    if (!json_is_array(list) || json_array_size(list) > FILTER_MAX)
        return -1;
    json_array_foreach(list, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!json_is_object(item) || !type || !*type || strlen(type) >= 40)
            return -1;
    }
    json_array_foreach(list, i, item)
        copy(out[i], 40, json_string_value(json_object_get(item, "type")));
    *n = (int)json_array_size(list);
    return 0;
}

void sim_app_filter(const char *name, const json_t *body, sim_reply *r)
{
    struct sim_app *a = app_find(name);
    const json_t *allowed = body ? json_object_get(body, "allowed") : NULL;
    const json_t *disallowed = body ? json_object_get(body, "disallowed") : NULL;
    char al[FILTER_MAX][40], dl[FILTER_MAX][40];
    int nal = 0, ndl = 0;
    if (!a) {
        reply_msg(r, 404, "Application not found");
        return;
    }
    if ((body && !json_is_object(body)) || (allowed && filter_parse(allowed, al, &nal) != 0) ||
        (disallowed && filter_parse(disallowed, dl, &ndl) != 0)) {
        reply_msg(r, 400,
                  "Invalid filter: expected {\"allowed\"|\"disallowed\": [{\"type\": "
                  "\"EventName\"}, ...]}");
        return;
    }
    /* an empty body clears both lists; a list not given is left as it is */
    if (!body || json_object_size(body) == 0)
        a->n_allowed = a->n_disallowed = 0;
    if (allowed) {
        memcpy(a->allowed, al, sizeof al);
        a->n_allowed = nal;
    }
    if (disallowed) {
        memcpy(a->disallowed, dl, sizeof dl);
        a->n_disallowed = ndl;
    }
    reply(r, 200, app_json(name));
}

void sim_apps_list(sim_reply *r)
{
    json_t *out = json_array();
    for (int i = 0; i < APPS_MAX; i++) {
        if (M.apps[i].sessions)
            json_array_append_new(out, app_json(M.apps[i].name));
    }
    reply(r, 200, out);
}

void sim_app_get(const char *name, sim_reply *r)
{
    for (int i = 0; i < APPS_MAX; i++) {
        if (M.apps[i].sessions && strcmp(M.apps[i].name, name) == 0) {
            reply(r, 200, app_json(name));
            return;
        }
    }
    reply_msg(r, 404, "Application not found");
}

typedef struct ep_acc {
    json_t *out;
    const char *tech, *resource;
} ep_acc;

static void ep_add(const char *tech, const char *resource, void *arg)
{
    ep_acc *acc = arg;
    json_t *ids;
    size_t i;
    json_t *e;
    char prefix[STR_MAX + 40];

    if (strcasecmp(tech, "Local") == 0 || strchr(resource, '@'))
        return;
    if (acc->tech && strcasecmp(acc->tech, tech) != 0)
        return;
    if (acc->resource && strcmp(acc->resource, resource) != 0)
        return;
    json_array_foreach(acc->out, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "technology")), tech) == 0 &&
            strcmp(json_string_value(json_object_get(e, "resource")), resource) == 0)
            return;
    }
    ids = json_array();
    snprintf(prefix, sizeof(prefix), "%s/%s-", tech, resource);
    for (chan *c = M.chans; c; c = c->next) {
        if (strncmp(c->name, prefix, strlen(prefix)) == 0)
            json_array_append_new(ids, json_string(c->id));
    }
    json_array_append_new(acc->out,
                          json_pack("{s:s, s:s, s:s, s:o}", "technology", tech, "resource",
                                    resource, "state", "online", "channel_ids", ids));
}

void sim_endpoints_list(const char *tech, const char *resource, sim_reply *r)
{
    ep_acc acc = {json_array(), tech, resource};
    far_each_endpoint(ep_add, &acc);
    for (chan *c = M.chans; c; c = c->next) {
        if (!c->half && !c->from_dialplan)
            ep_add(c->tech, c->resource, &acc);
    }
    if (tech && !tech_allowed(tech)) {
        json_decref(acc.out);
        reply_msg(r, 404, "Endpoints not found");
        return;
    }
    if (resource) {
        json_t *one = json_array_size(acc.out) ? json_incref(json_array_get(acc.out, 0)) : NULL;
        json_decref(acc.out);
        if (!one)
            reply_msg(r, 404, "Endpoint not found");
        else
            reply(r, 200, one);
        return;
    }
    reply(r, 200, acc.out);
}

/* ---- /channels ------------------------------------------------------------ */

void sim_channels_list(sim_reply *r)
{
    json_t *out = json_array();
    for (chan *c = M.chans; c; c = c->next)
        json_array_append_new(out, chan_json(c));
    reply(r, 200, out);
}

static int valid_id(const char *id)
{
    return strlen(id) < ID_MAX - 3 && !strpbrk(id, "/?#");
}

void sim_channels_originate(const sim_args *a, int create, const char *id_in_path, sim_reply *r)
{
    const char *endpoint = arg(a, "endpoint");
    const char *app = arg(a, "app");
    const char *exten = arg(a, "extension");
    const char *context = arg(a, "context");
    const char *app_args = arg(a, "appArgs");
    const char *cid = arg(a, "callerId");
    const char *id = id_in_path ? id_in_path : arg(a, "channelId");
    const char *other = arg(a, "otherChannelId");
    const char *timeout = arg(a, "timeout");
    const char *slash;
    char tech[32], resource[STR_MAX];
    int is_local, timeout_s = 30;
    chan *c;
    json_t *vars;

    if (empty(endpoint)) {
        reply_msg(r, 400, "Endpoint must be specified");
        return;
    }
    if (create && empty(app)) {
        reply_msg(r, 400, "Application must be specified");
        return;
    }
    if (!create && empty(app) && empty(exten)) {
        reply_msg(r, 400, "Application or extension must be specified");
        return;
    }
    slash = strchr(endpoint, '/');
    if (!slash || slash == endpoint || (size_t)(slash - endpoint) >= sizeof(tech)) {
        reply_msg(r, 400, "Invalid endpoint specified");
        return;
    }
    snprintf(tech, sizeof(tech), "%.*s", (int)(slash - endpoint), endpoint);
    if (!tech_allowed(tech) || empty(slash + 1) || strlen(slash + 1) >= sizeof(resource)) {
        reply_alloc_failed(r);
        return;
    }
    copy(resource, sizeof(resource), slash + 1);
    if ((!empty(id) && !valid_id(id)) || (!empty(other) && !valid_id(other))) {
        reply_msg(r, 400, "Invalid channel id");
        return;
    }
    if ((!empty(id) && chan_find(id)) || (!empty(other) && chan_find(other)) ||
        (!empty(id) && !empty(other) && strcmp(id, other) == 0)) {
        reply_msg(r, 409, "Channel with given unique ID already exists");
        return;
    }
    if (timeout) {
        char *end;
        long t = strtol(timeout, &end, 10);
        if (*end || t < -1 || t > 86400) {
            reply_msg(r, 400, "Invalid timeout");
            return;
        }
        timeout_s = (int)t;
    }
    if (M.nchans + 2 > M.cfg.max_channels) {
        reply_alloc_failed(r);
        return;
    }
    is_local = strcasecmp(tech, "Local") == 0;
    c = chan_new(id, tech, resource, is_local ? 1 : 0);
    if (!c) {
        reply_alloc_failed(r);
        return;
    }
    if (is_local) {
        /* ids of a Local pair: ";2" gets the next number, or channelId;2 */
        if (!empty(other))
            copy(c->other_id, sizeof(c->other_id), other);
        else if (!empty(id))
            snprintf(c->other_id, sizeof(c->other_id), "%s;2", id);
        else
            snprintf(c->other_id, sizeof(c->other_id), "%ld.%u", (long)time(NULL), M.id_seq++);
        const char *at = strchr(resource, '@');
        snprintf(c->exten, sizeof(c->exten), "%.*s",
                 at ? (int)(at - resource) : (int)strlen(resource), resource);
        copy(c->ctx, sizeof(c->ctx), at ? at + 1 : "default");
    } else {
        copy(c->ctx, sizeof(c->ctx), "default");
        copy(c->exten, sizeof(c->exten), "s");
    }
    parse_callerid(cid, c->caller_name, sizeof(c->caller_name), c->caller_num,
                   sizeof(c->caller_num));
    copy(c->conn_name, sizeof(c->conn_name), c->caller_name);
    copy(c->conn_num, sizeof(c->conn_num), c->caller_num);
    vars = a->body ? json_object_get(a->body, "variables") : NULL;
    if (json_is_object(vars)) {
        const char *k;
        json_t *v;
        json_object_foreach(vars, k, v)
        {
            if (json_is_string(v))
                var_set(c, k, json_string_value(v));
        }
    }
    if (create) {
        c->created_by_create = 1;
        copy(c->app, sizeof(c->app), app);
        c->subscribed = 1;
        reply(r, 200, chan_json(c));
        enter_stasis(c, app, app_args, 0, DP_STASIS);
        return;
    }
    copy(c->app_name, sizeof(c->app_name), "AppDial2");
    copy(c->app_data, sizeof(c->app_data), "(Outgoing Line)");
    if (!empty(app)) {
        copy(c->app, sizeof(c->app), app);
        c->subscribed = 1;
        copy(c->orig_app, sizeof(c->orig_app), app);
        copy(c->orig_args, sizeof(c->orig_args), app_args);
    } else {
        copy(c->orig_ctx, sizeof(c->orig_ctx), empty(context) ? "default" : context);
        copy(c->orig_exten, sizeof(c->orig_exten), exten);
    }
    reply(r, 200, chan_json(c));
    start_dial(c, DK_ORIGINATE, timeout_s);
}

void sim_channel_get(const char *id, sim_reply *r)
{
    chan *c = chan_find(id);
    if (!c)
        reply_msg(r, 404, "Channel not found");
    else
        reply(r, 200, chan_json(c));
}

/* ARI's find_control: the channel must exist (404) and be in Stasis (409). */
static chan *control(const char *id, sim_reply *r)
{
    chan *c = chan_find(id);
    if (!c) {
        reply_msg(r, 404, "Channel not found");
        return NULL;
    }
    if (!c->in_stasis) {
        reply_msg(r, 409, "Channel not in Stasis application");
        return NULL;
    }
    return c;
}

void sim_channel_hangup(const char *id, const sim_args *a, sim_reply *r)
{
    const char *reason = arg(a, "reason");
    const char *code = arg(a, "reason_code");
    int cause = 16;
    chan *c = chan_find(id);

    if (!c) {
        reply_msg(r, 404, "Channel not found");
        return;
    }
    if (!empty(code)) {
        char *end;
        long v = strtol(code, &end, 10);
        if (*end || v < 0 || v > 127) {
            reply_msg(r, 400, "Invalid reason for hangup reason_code provided");
            return;
        }
        cause = (int)v;
    } else if (!empty(reason)) {
        size_t i;
        for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
            if (strcmp(reasons[i].reason, reason) == 0)
                break;
        }
        if (i == sizeof(reasons) / sizeof(reasons[0])) {
            reply_msg(r, 400, "Invalid reason for hangup reason provided");
            return;
        }
        cause = reasons[i].cause;
    }
    reply(r, 204, NULL);
    ev_hangup_request(c, 32, 1);
    teardown(c, cause, 1);
}

void sim_channel_answer(const char *id, sim_reply *r)
{
    chan *c = control(id, r);
    chan *p;
    if (!c)
        return;
    reply(r, 204, NULL);
    /* answering only means something for a call coming in */
    if (c->state == ST_UP || c->dial != DK_NONE || c->created_by_create)
        return;
    set_state(c, ST_UP);
    p = c->partner;
    if (p && p->waits_partner && !p->dial_done)
        far_answered(p);
}

void sim_channel_ring(const char *id, int on, sim_reply *r)
{
    chan *c = control(id, r);
    chan *p;
    if (!c)
        return;
    reply(r, 204, NULL);
    p = c->partner;
    /* the caller of a Local pair hears the ringing: its ;1 half rings */
    if (on && p && p->waits_partner && !p->dial_done && p->state != ST_RINGING) {
        set_state(p, ST_RINGING);
        ev_dial(p, "RINGING", dialstring(p));
    }
}

void sim_channel_dial(const char *id, const sim_args *a, sim_reply *r)
{
    const char *caller_id = arg(a, "caller");
    const char *timeout = arg(a, "timeout");
    chan *c = control(id, r), *caller = NULL;
    long t = 0;

    if (!c)
        return;
    if (!empty(caller_id)) {
        caller = chan_find(caller_id);
        if (!caller) {
            reply_msg(r, 404, "Caller not found");
            return;
        }
    }
    if (timeout) {
        char *end;
        t = strtol(timeout, &end, 10);
        if (*end || t < -1 || t > 86400) {
            reply_msg(r, 400, "Invalid timeout");
            return;
        }
    }
    if (c->state != ST_DOWN || !c->created_by_create || c->dial != DK_NONE) {
        reply_msg(r, 409, "Channel is not in the 'Down' state");
        return;
    }
    reply(r, 204, NULL);
    if (caller) {
        copy(c->conn_name, sizeof(c->conn_name), caller->caller_name);
        copy(c->conn_num, sizeof(c->conn_num), caller->caller_num);
        ev_simple(c, "ChannelConnectedLine");
    }
    start_dial(c, DK_ARI, (int)t);
}

void sim_channel_continue(const char *id, const sim_args *a, sim_reply *r)
{
    const char *context = arg(a, "context");
    const char *exten = arg(a, "extension");
    chan *c = control(id, r);
    if (!c)
        return;
    reply(r, 204, NULL);
    exit_stasis(c, empty(context) || far_context(context).mode != FAR_STASIS);
    if (empty(context)) {
        /* the next priority of where it came from: Hangup() in stasis-in,
         * nothing after AppDial2 */
        far_hangup(c, 16);
        return;
    }
    run_dialplan(c, context, empty(exten) ? c->exten : exten, DP_NOOP_STASIS);
}

void sim_channel_redirect(const char *id, const sim_args *a, sim_reply *r)
{
    const char *endpoint = arg(a, "endpoint");
    chan *c;
    if (empty(endpoint)) {
        reply_msg(r, 400, "Required parameter 'endpoint' not provided.");
        return;
    }
    c = control(id, r);
    if (!c)
        return;
    /* Asterisk accepts it and, for Local channels, does nothing
     * ("Unsupported transfer"): transfers are done with bridges */
    reply(r, 204, NULL);
}

void sim_channel_var_get(const char *id, const sim_args *a, sim_reply *r)
{
    const char *name = arg(a, "variable");
    const char *v;
    chan *c;
    if (empty(name)) {
        reply_msg(r, 400, "Variable name is required");
        return;
    }
    c = chan_find(id);
    if (!c) {
        reply_msg(r, 404, "Channel not found");
        return;
    }
    v = var_get(c, name);
    if (!v && strcmp(name, "CALLERID(num)") == 0)
        v = c->caller_num;
    if (!v && strcmp(name, "CALLERID(name)") == 0)
        v = c->caller_name;
    if (!v) {
        reply_msg(r, 404, "Provided variable was not found");
        return;
    }
    reply(r, 200, json_pack("{s:s}", "value", v));
}

void sim_channel_var_set(const char *id, const sim_args *a, sim_reply *r)
{
    const char *name = arg(a, "variable");
    const char *value = arg(a, "value");
    chan *c;
    if (empty(name)) {
        reply_msg(r, 400, "Variable name is required");
        return;
    }
    c = control(id, r);
    if (!c)
        return;
    if (var_set(c, name, value) != 0) {
        reply_msg(r, 500, "Unable to set variable");
        return;
    }
    reply(r, 204, NULL);
    ev_varset(c, name, value ? value : "");
}

void sim_channel_noop(const char *id, sim_reply *r)
{
    if (control(id, r))
        reply(r, 204, NULL);
}

/* ARI's find_control followed by its channel_state_invalid: an outbound
 * channel not yet answered (Down, or Ringing after a dial) gets 412; an
 * inbound one is Ring until answered and may be held or sent DTMF. */
static chan *control_ready(const char *id, sim_reply *r)
{
    chan *c = control(id, r);
    if (c && (c->state == ST_DOWN || c->state == ST_RINGING)) {
        reply_msg(r, 412, "Channel in invalid state");
        c = NULL;
    }
    return c;
}

void sim_channel_hold(const char *id, int on, sim_reply *r)
{
    chan *c = control_ready(id, r);
    if (c) {
        /* Asterisk only indicates the hold: holding twice, or unholding a
         * channel not held, is no error */
        c->on_hold = on;
        reply(r, 204, NULL);
    }
}

/* What ast_dtmf_stream sends as a digit; 'w'/'W' (pauses), 'f'/'F' (flash)
 * and anything else send none. */
static const char dtmf_digits[] = "0123456789*#ABCDabcd";
enum { DTMF_DEFAULT_MS = 100 };

/* Appends digit to c->dtmf_sent, dropping the oldest when full. */
static void dtmf_keep(chan *c, char digit)
{
    size_t n = strlen(c->dtmf_sent);
    if (n == DTMF_KEEP) {
        memmove(c->dtmf_sent, c->dtmf_sent + 1, n - 1);
        n--;
    }
    c->dtmf_sent[n] = digit;
    c->dtmf_sent[n + 1] = '\0';
}

static void ev_dtmf(chan *c, char digit, long duration_ms)
{
    json_t *ev = ev_new("ChannelDtmfReceived");
    json_object_set_new(ev, "digit", json_stringn(&digit, 1));
    json_object_set_new(ev, "duration_ms", json_integer(duration_ms));
    ev_chan(c, ev);
}

void sim_channel_dtmf(const char *id, const sim_args *a, sim_reply *r)
{
    const char *digits = arg(a, "dtmf");
    const char *duration = arg(a, "duration");
    chan *c = control_ready(id, r);
    /* Asterisk reads the integer parameters with atoi: no 400 for junk */
    long duration_ms = duration ? strtol(duration, NULL, 10) : 0;

    if (duration_ms <= 0 || duration_ms > 86400000)
        duration_ms = DTMF_DEFAULT_MS;
    if (c && empty(digits)) {
        reply_msg(r, 400, "DTMF is required");
    } else if (c) {
        reply(r, 204, NULL);
        for (const char *d = digits; *d; d++) {
            if (!strchr(dtmf_digits, *d))
                continue;
            dtmf_keep(c, *d);
            /* a Local half writes the digit into its other half, which
             * reads it; only a modelled partner (a Stasis ;2 or its ;1)
             * has anyone to tell */
            if (c->partner)
                ev_dtmf(c->partner, *d, duration_ms);
        }
    }
}

/* ---- /bridges --------------------------------------------------------------- */

static const struct {
    const char *type;
    const char *technology;
} bridge_types[] = {
    {"mixing", "simple_bridge"},      {"holding", "holding_bridge"},
    {"dtmf_events", "simple_bridge"}, {"proxy_media", "simple_bridge"},
    {"video_sfu", "softmix"},         {"video_single", "simple_bridge"},
    {"sdp_label", "softmix"},
};

void sim_bridges_list(sim_reply *r)
{
    json_t *out = json_array();
    for (bridge *b = M.bridges; b; b = b->next)
        json_array_append_new(out, bridge_json(b));
    reply(r, 200, out);
}

void sim_bridge_create(const sim_args *a, const char *id_in_path, sim_reply *r)
{
    const char *type = arg(a, "type");
    const char *id = id_in_path ? id_in_path : arg(a, "bridgeId");
    const char *name = arg(a, "name");
    const char *tech = NULL;
    char first[64], msg[160];
    bridge *b;

    if (empty(type))
        type = "mixing";
    /* type is a comma list; the first known one names the bridge */
    for (const char *p = type; *p;) {
        size_t n = strcspn(p, ",");
        int known = 0;
        for (size_t i = 0; i < sizeof(bridge_types) / sizeof(bridge_types[0]); i++) {
            if (strlen(bridge_types[i].type) == n && strncmp(bridge_types[i].type, p, n) == 0) {
                known = 1;
                if (!tech) {
                    tech = bridge_types[i].technology;
                    copy(first, sizeof(first), bridge_types[i].type);
                }
            }
        }
        if (!known) {
            tech = NULL;
            break;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!empty(id) && bridge_find(id)) {
        snprintf(msg, sizeof(msg), "Bridge with id '%.100s' already exists", id);
        reply_msg(r, 409, msg);
        return;
    }
    if (!tech || (!empty(id) && !valid_id(id))) {
        snprintf(msg, sizeof(msg), "Unable to create bridge. Possible duplicate bridge id '%.100s'",
                 empty(id) ? "(null)" : id);
        reply_msg(r, 500, msg);
        return;
    }
    if (M.nbridges >= M.cfg.max_bridges || !(b = calloc(1, sizeof(*b)))) {
        reply_msg(r, 500, "Unable to create bridge. Possible duplicate bridge id '(null)'");
        return;
    }
    if (!empty(id)) {
        copy(b->id, sizeof(b->id), id);
    } else {
        unsigned x[4] = {rnd(), rnd(), rnd(), rnd()};
        snprintf(b->id, sizeof(b->id), "%08x-%04x-4%03x-%04x-%04x%08x", x[0], x[1] >> 16,
                 x[1] & 0xfff, (x[2] & 0x3fff) | 0x8000, x[2] >> 16, x[3]);
    }
    copy(b->name, sizeof(b->name), name);
    copy(b->type, sizeof(b->type), first);
    copy(b->technology, sizeof(b->technology), tech);
    now_str(b->created, sizeof(b->created));
    bridge_link(b);
    /* bridges made through REST emit no BridgeCreated */
    reply(r, 200, bridge_json(b));
}

void sim_bridge_get(const char *id, sim_reply *r)
{
    bridge *b = bridge_find(id);
    if (!b)
        reply_msg(r, 404, "Bridge not found");
    else
        reply(r, 200, bridge_json(b));
}

void sim_bridge_destroy(const char *id, sim_reply *r)
{
    bridge *b = bridge_find(id);
    json_t *snap;
    if (!b) {
        reply_msg(r, 404, "Bridge not found");
        return;
    }
    reply(r, 204, NULL);
    while (b->n > 0)
        bridge_leave(b->members[b->n - 1]);
    snap = bridge_json(b);
    for (int i = 0; i < b->napps; i++) {
        json_t *ev = ev_new("BridgeDestroyed");
        json_object_set(ev, "bridge", snap);
        emit_to(b->apps[i], ev);
    }
    json_decref(snap);
    bridge_unlink(b);
    free(b);
}

/* Splits "a,b,c" into at most max channel pointers; 400/422 like Asterisk. */
static int parse_channels(const char *csv, chan **out, int max, sim_reply *r)
{
    int n = 0;
    char buf[1024];
    char *save = NULL;
    if (empty(csv)) {
        reply_msg(r, 400, "Missing parameter channel");
        return -1;
    }
    copy(buf, sizeof(buf), csv);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        chan *c = chan_find(t);
        if (!c) {
            reply_msg(r, 400, "Channel not found");
            return -1;
        }
        if (n >= max) {
            reply_msg(r, 400, "Too many channels");
            return -1;
        }
        out[n++] = c;
    }
    if (n == 0) {
        reply_msg(r, 400, "Missing parameter channel");
        return -1;
    }
    return n;
}

void sim_bridge_add(const char *id, const sim_args *a, sim_reply *r)
{
    bridge *b = bridge_find(id);
    chan *list[BR_MEMBERS];
    int n, before;

    if (!b) {
        reply_msg(r, 404, "Bridge not found");
        return;
    }
    n = parse_channels(arg(a, "channel"), list, BR_MEMBERS, r);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (!list[i]->in_stasis) {
            reply_msg(r, 422, "Channel not in Stasis application");
            return;
        }
    }
    reply(r, 204, NULL);
    before = b->n;
    for (int i = 0; i < n; i++)
        bridge_join(b, list[i]);
    if (b->n != before)
        bridge_peer_update(b);
}

void sim_bridge_remove(const char *id, const sim_args *a, sim_reply *r)
{
    bridge *b = bridge_find(id);
    chan *list[BR_MEMBERS];
    int n;

    if (!b) {
        reply_msg(r, 404, "Bridge not found");
        return;
    }
    n = parse_channels(arg(a, "channel"), list, BR_MEMBERS, r);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (list[i]->bridge != b) {
            reply_msg(r, 422, "Channel not in this bridge");
            return;
        }
    }
    reply(r, 204, NULL);
    for (int i = 0; i < n; i++)
        bridge_leave(list[i]);
}

/* ---- control API --------------------------------------------------------------- */

void sim_far_set(const char *scope, const char *key, const json_t *body, sim_reply *r)
{
    int s = far_scope_parse(scope);
    far_cfg cfg;
    char err[160];
    if (s < 0 || (s != FAR_SCOPE_DEFAULT && empty(key))) {
        reply_msg(r, 400, "unknown scope or missing key");
        return;
    }
    if (far_parse(body, &cfg, err, sizeof(err)) != 0) {
        reply_msg(r, 400, err);
        return;
    }
    if (far_set((far_scope)s, key, &cfg) != 0) {
        reply_msg(r, 507, "far-end table full");
        return;
    }
    reply(r, 204, NULL);
}

void sim_far_clear(const char *scope, const char *key, sim_reply *r)
{
    int s = far_scope_parse(scope);
    if (s < 0 || far_clear((far_scope)s, key ? key : "") != 0) {
        reply_msg(r, 404, "not configured");
        return;
    }
    reply(r, 204, NULL);
}

void sim_far_list(sim_reply *r)
{
    reply(r, 200, far_list());
}

void sim_inbound(const json_t *body, sim_reply *r)
{
    const char *exten = json_string_value(json_object_get(body, "extension"));
    const char *endpoint = json_string_value(json_object_get(body, "endpoint"));
    const char *app = json_string_value(json_object_get(body, "app"));
    const char *id = json_string_value(json_object_get(body, "channel_id"));
    json_t *caller = json_object_get(body, "caller");
    json_t *hang = json_object_get(body, "hangup_after_ms");
    char tech[32];
    const char *slash;
    chan *c;

    if (empty(exten) || strlen(exten) >= 64) {
        reply_msg(r, 400, "extension is required");
        return;
    }
    if (empty(endpoint))
        endpoint = "PJSIP/trunk";
    slash = strchr(endpoint, '/');
    if (!slash || slash == endpoint || (size_t)(slash - endpoint) >= sizeof(tech) ||
        empty(slash + 1) || strlen(slash + 1) >= STR_MAX) {
        reply_msg(r, 400, "endpoint must be TECH/resource");
        return;
    }
    if (hang && (!json_is_integer(hang) || json_integer_value(hang) < 0 ||
                 json_integer_value(hang) > 86400000)) {
        reply_msg(r, 400, "hangup_after_ms must be an integer 0..86400000");
        return;
    }
    if (!empty(id) && (!valid_id(id) || chan_find(id))) {
        reply_msg(r, 409, "channel_id invalid or already exists");
        return;
    }
    if (M.nchans >= M.cfg.max_channels) {
        reply_alloc_failed(r);
        return;
    }
    snprintf(tech, sizeof(tech), "%.*s", (int)(slash - endpoint), endpoint);
    c = chan_new(id, tech, slash + 1, 0);
    if (!c) {
        reply_alloc_failed(r);
        return;
    }
    copy(c->caller_name, sizeof(c->caller_name),
         json_string_value(json_object_get(caller, "name")));
    copy(c->caller_num, sizeof(c->caller_num),
         json_string_value(json_object_get(caller, "number")));
    copy(c->conn_name, sizeof(c->conn_name), c->caller_name);
    copy(c->conn_num, sizeof(c->conn_num), c->caller_num);
    copy(c->ctx, sizeof(c->ctx), "stasis-in");
    copy(c->exten, sizeof(c->exten), exten);
    c->prio = 2;
    c->state = ST_RING;
    c->far = (far_cfg){FAR_ANSWER, 0, hang ? (int)json_integer_value(hang) : -1};
    enter_stasis(c, empty(app) ? M.inbound_app : app, exten, 1, DP_NONE);
    if (c->far.hangup_after_ms >= 0)
        schedule_step(c, STEP_HANGUP, c->far.hangup_after_ms);
    reply(r, 200, chan_json(c));
}

void sim_far_hangup(const char *id, const json_t *body, sim_reply *r)
{
    chan *c = chan_find(id);
    json_t *cause = json_object_get(body, "cause");
    int v = 16;
    if (!c) {
        reply_msg(r, 404, "Channel not found");
        return;
    }
    if (cause) {
        if (!json_is_integer(cause) || json_integer_value(cause) < 0 ||
            json_integer_value(cause) > 127) {
            reply_msg(r, 400, "cause must be an integer 0..127");
            return;
        }
        v = (int)json_integer_value(cause);
    }
    reply(r, 204, NULL);
    if (c->dial != DK_NONE && !c->dial_done) {
        /* a far end that hangs up before answering refuses the call */
        dial_failed(c, cause_status(v));
        return;
    }
    far_hangup(c, v);
}

json_t *sim_state(void)
{
    json_t *chans = json_array(), *bridges = json_array(), *apps = json_array();
    for (chan *c = M.chans; c; c = c->next) {
        json_t *o = chan_json(c);
        json_object_set_new(o, "app", json_string(c->app));
        json_object_set_new(o, "in_stasis", json_boolean(c->in_stasis));
        json_object_set_new(o, "subscribed", json_boolean(c->subscribed));
        json_object_set_new(o, "bridge", c->bridge ? json_string(c->bridge->id) : json_null());
        json_object_set_new(o, "partner", c->partner ? json_string(c->partner->id) : json_null());
        json_object_set_new(o, "on_hold", json_boolean(c->on_hold));
        json_object_set_new(o, "dtmf_sent", json_string(c->dtmf_sent));
        json_array_append_new(chans, o);
    }
    for (bridge *b = M.bridges; b; b = b->next)
        json_array_append_new(bridges, bridge_json(b));
    for (int i = 0; i < APPS_MAX; i++) {
        if (M.apps[i].sessions)
            json_array_append_new(apps, json_pack("{s:s, s:i}", "name", M.apps[i].name, "sessions",
                                                  M.apps[i].sessions));
    }
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:i, s:i}}", "asterisk_id", M.entity_id,
        "startup_time", M.startup, "channels", chans, "bridges", bridges, "apps", apps, "counters",
        "events", (json_int_t)M.events, "channels_created", (json_int_t)M.chans_created,
        "channels_destroyed", (json_int_t)M.chans_destroyed, "bridges_created",
        (json_int_t)M.bridges_created, "channels_live", M.nchans, "bridges_live", M.nbridges);
}
