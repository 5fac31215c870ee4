/*
 * calls/flow: the call flows over ARI, on the module's flow workers.
 *
 * Why workers of our own: ARI events arrive on the WebSocket thread, which
 * must not wait on the database, and the changes of one call must happen
 * in order. Each call id hashes to one worker; that worker's queue holds
 * the call's ARI events, the RPC commands that change it and the
 * reconciliation pass, so they never race. Each step is one transaction:
 * the call row locked FOR UPDATE, the ARI requests the step needs, the row
 * saved (version + 1) and its call_events row appended, commit. Steps
 * queued back to back (ARI events, commands but MakeCall) share one, a
 * savepoint each (calls__steps), so that they share its commit: the WAL
 * flush and the events append lock.
 *
 * What Asterisk does (shared/ari/README.md) decides the shape:
 *  - Legs are made with POST /channels/create then /dial, never originate:
 *    a created channel is in Stasis while it rings, so it can be answered,
 *    rung or bridged at any time. Ids are ours: "<call>.a", ".b", ".t<n>"
 *    (the ";2" halves of Local channels: the same with "o" appended, and
 *    their events are dropped).
 *  - A dial that times out ends with ChannelDestroyed cause 19 and no final
 *    Dial event, so a leg's fate is taken from the Dial status when there
 *    is one and from ChannelDestroyed / ChannelHangupRequest causes
 *    otherwise. A busy leg stays in Stasis: it is hung up by us.
 *  - A leg answers once: "Up" can be reported by both ChannelStateChange
 *    and Dial ANSWER; the caller_up / callee_up flags in the row make the
 *    second a no-op, so a destination is never dialled twice.
 *  - An inbound channel (from the dialplan) gets no ChannelDestroyed after
 *    StasisEnd, so its ChannelHangupRequest or StasisEnd ends its leg.
 *  - Blind transfer: the transferring leg is hung up, the target is made
 *    with create + dial and added to the call's bridge when it answers
 *    (redirect does nothing on Local channels).
 *  - ARI's own DELETE shows as ChannelHangupRequest soft: ignored; the call
 *    is already ended by whoever asked.
 *  - Hold is ARI's POST /channels/{id}/hold on the held party's leg (a PJSIP
 *    channel then hears music on hold); no event confirms it, so the 204 is
 *    what the call records. A hold ends with ResumeCall, a transfer (the
 *    remaining party is taken off hold before it hears ringing) or the end
 *    of the call (calls_repo_save).
 */
#include "calls/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "calls/listcache.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "events/events.h"

#define EV(x) CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_##x

typedef enum calls_job_kind { JOB_EVENT, JOB_CMD, JOB_RECONCILE } calls_job_kind;

typedef struct calls_job {
    struct calls_job *next;
    calls_job_kind kind;
    char key[40];     /* the call's id */
    bool inbound_new; /* EVENT: an inbound StasisStart; key is the new call's id */
    ari_event *ev;    /* EVENT: owned by the job */
    calls_cmd *cmd;   /* CMD: owned by the waiting rpc thread */
    pthread_mutex_t *done_lock;
    pthread_cond_t *done_cond;
    bool *done;
} calls_job;

/* The last ids a worker noted, oldest overwritten first. */
#define CALLS_RING    256
#define CALLS_RING_ID 64
typedef struct calls_ring {
    char ids[CALLS_RING][CALLS_RING_ID];
    unsigned n;
} calls_ring;

/* The ARI clean-up of a call ended in the worker's open transaction: its
 * legs to hang up, its bridge to destroy, the inbound route to forget. It
 * runs once the transaction is over (calls__commit / calls__rollback), so
 * that neither the events append lock nor the rows of a batch's other
 * calls are held across these requests. Strings owned. */
typedef struct calls_cleanup {
    char *legs[3];
    char *bridge;
    char *route; /* an inbound caller's channel */
} calls_cleanup;

enum { CALLS_TOUCHED = 32 };
/* steps (ARI events, commands) a worker runs in one transaction, at most;
 * each appends one event at most, and they wait for the COMMIT together */
enum { CALLS_BATCH = 8 };
/* how often a worker that owes a reconciliation tries it, at most */
enum { CALLS_RECOVER_MS = 2000 };
_Static_assert((int)CALLS_BATCH <= (int)DB_MAX_AT_COMMIT,
               "a batch's appends must wait for its COMMIT");

typedef struct calls_worker {
    calls_module *m;
    int index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    calls_job *head, *tail;
    bool stop;
    db_conn *db;
    /* what this worker committed lately, so that the ARI events that can
     * change nothing more need no transaction (see calls__event_settled) */
    calls_ring ended;                   /* calls it ended */
    calls_ring up;                      /* legs whose answer it handled, on calls still live */
    calls_cleanup cleanup[CALLS_BATCH]; /* a step ends one call at most */
    size_t n_cleanup;
    /* the users the open transaction's events are visible to: their call
     * lists are bumped in the calls cache once it is over (calls__commit) */
    char touched[CALLS_TOUCHED][40];
    size_t n_touched; /* > CALLS_TOUCHED: more than recorded (bump everyone) */
    /* a reconciliation is owed (ARI events were lost to an unreachable
     * database, or a pass did not complete): run once the queue is empty,
     * not before recover_at (cs_mono_ms), by calls__recover */
    bool reconcile_due;
    int64_t recover_at;
} calls_worker;

/* Inbound callers' channels (named by Asterisk) -> their call's id. A
 * routing cache only: rebuilt from the database by reconciliation. */
#define ROUTE_BUCKETS 1024
typedef struct calls_route {
    struct calls_route *next;
    char *channel;
    char call_id[40];
} calls_route;

struct calls_module {
    char *database_url, *app, *device_tmpl, *outbound_tmpl;
    int ring_timeout_s;
    int n_workers;
    calls_worker *workers;
    ari_client *ari;
    bool owns_ari;
    lcache *cache; /* borrowed; NULL: none */
    pthread_mutex_t route_lock;
    calls_route *routes[ROUTE_BUCKETS];
    /* for calls_module_counters (metrics) */
    _Atomic uint64_t n_lost, n_caught;
    _Atomic int64_t n_queued; /* jobs in every worker's queue */
};

typedef enum calls_leg { LEG_NONE, LEG_CALLER, LEG_CALLEE, LEG_PENDING } calls_leg;

/* ------------------------------------------------------------------ */
/* Options                                                              */

static const cfg_entry calls__env[] = {
    {"RING_TIMEOUT_S", CFG_INT, offsetof(calls_options, ring_timeout_s), "30", 1, 600,
     "seconds a leg rings before it counts as no answer"},
    {"CALLS_FLOW_WORKERS", CFG_INT, offsetof(calls_options, flow_workers), "4", 1, 64,
     "threads running call flows (a call always runs on the same one)"},
};

void calls_options_print_help(FILE *out)
{
    cfg_print_help(calls__env, sizeof calls__env / sizeof *calls__env, out);
}

int calls_options_from_env(calls_options *o, char *err, size_t errlen)
{
    return cfg_load(calls__env, sizeof calls__env / sizeof *calls__env, o, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static unsigned calls__hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static calls_worker *calls__worker_of(calls_module *m, const char *call_id)
{
    return &m->workers[calls__hash(call_id) % (unsigned)m->n_workers];
}

/* "<uuid>.<suffix>": one of ours. key gets the uuid, *suffix the rest. */
static bool calls__own_id(const char *id, char key[40], const char **suffix)
{
    if (!id || strlen(id) < 38 || id[36] != '.')
        return false;
    memcpy(key, id, 36);
    key[36] = '\0';
    if (!calls_is_uuid(key))
        return false;
    *suffix = id + 37;
    return true;
}

static void calls__route_put(calls_module *m, const char *channel, const char *call_id)
{
    unsigned b = calls__hash(channel) % ROUTE_BUCKETS;
    calls_route *r;
    pthread_mutex_lock(&m->route_lock);
    for (r = m->routes[b]; r; r = r->next)
        if (strcmp(r->channel, channel) == 0)
            break;
    if (!r && (r = calloc(1, sizeof *r)) != NULL) {
        r->channel = strdup(channel);
        if (!r->channel) {
            free(r);
            r = NULL;
        } else {
            r->next = m->routes[b];
            m->routes[b] = r;
        }
    }
    if (r)
        snprintf(r->call_id, sizeof r->call_id, "%s", call_id);
    pthread_mutex_unlock(&m->route_lock);
}

static bool calls__route_get(calls_module *m, const char *channel, char call_id[40])
{
    unsigned b = calls__hash(channel) % ROUTE_BUCKETS;
    bool found = false;
    pthread_mutex_lock(&m->route_lock);
    for (calls_route *r = m->routes[b]; r; r = r->next)
        if (strcmp(r->channel, channel) == 0) {
            memcpy(call_id, r->call_id, 40);
            found = true;
            break;
        }
    pthread_mutex_unlock(&m->route_lock);
    return found;
}

static void calls__route_del(calls_module *m, const char *channel)
{
    unsigned b = calls__hash(channel) % ROUTE_BUCKETS;
    pthread_mutex_lock(&m->route_lock);
    for (calls_route **p = &m->routes[b]; *p; p = &(*p)->next)
        if (strcmp((*p)->channel, channel) == 0) {
            calls_route *r = *p;
            *p = r->next;
            free(r->channel);
            free(r);
            break;
        }
    pthread_mutex_unlock(&m->route_lock);
}

static void calls__set_str(char **field, const char *v)
{
    char *copy = calls_strdup(v);
    if (!copy)
        return; /* out of memory: keep the old value */
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = copy;
}

static calls_leg calls__leg_of(const call_rec *r, const char *channel)
{
    if (!channel || !*channel)
        return LEG_NONE;
    if (strcmp(r->call->caller_channel_id, channel) == 0)
        return LEG_CALLER;
    if (strcmp(r->call->callee_channel_id, channel) == 0)
        return LEG_CALLEE;
    if (strcmp(r->pending_channel_id, channel) == 0)
        return LEG_PENDING;
    return LEG_NONE;
}

static void calls__hangup_quiet(calls_module *m, const char *channel, const char *reason)
{
    ari_error err;
    cs_err rc;
    if (!channel || !*channel)
        return;
    rc = ari_channel_hangup(m->ari, channel, reason, &err);
    if (rc != CS_OK && rc != CS_ERR_NOT_FOUND)
        log_warn("calls: hangup %s: %s (%d %s)", channel, cs_err_name(rc), err.http_status,
                 err.message);
}

/* The endpoint of a destination: a user's device, or an outside number. */
static cs_err calls__endpoint(calls_module *m, const char *extension, const char *number, char *out,
                              size_t outlen)
{
    if (extension && *extension)
        return ari_endpoint_format(m->device_tmpl, "ext", extension, out, outlen);
    return ari_endpoint_format(m->outbound_tmpl, "number", number, out, outlen);
}

/* create + dial of a leg named "<call>.<leg>"; the leg then rings. */
static cs_err calls__dial_leg_vars(calls_module *m, const char *call_id, const char *leg,
                                   const char *endpoint, const char *caller_channel,
                                   const char *const *vars, char *id_out, size_t idlen,
                                   ari_error *err)
{
    char other[96], args[96];
    ari_originate o = {0};
    cs_err rc;
    snprintf(id_out, idlen, "%s.%s", call_id, leg);
    snprintf(other, sizeof other, "%s.%so", call_id, leg);
    snprintf(args, sizeof args, "%s,%s", call_id, leg);
    o.endpoint = endpoint;
    o.app = m->app;
    o.app_args = args;
    o.channel_id = id_out;
    o.other_channel_id = other;
    o.originator = caller_channel && *caller_channel ? caller_channel : NULL;
    o.variables = vars;
    rc = ari_channel_create(m->ari, &o, NULL, err);
    if (rc != CS_OK)
        return rc;
    rc = ari_channel_dial(m->ari, id_out, o.originator, m->ring_timeout_s, err);
    if (rc != CS_OK)
        calls__hangup_quiet(m, id_out, NULL);
    return rc;
}

static cs_err calls__dial_leg(calls_module *m, const char *call_id, const char *leg,
                              const char *endpoint, const char *caller_channel, char *id_out,
                              size_t idlen, ari_error *err)
{
    return calls__dial_leg_vars(m, call_id, leg, endpoint, caller_channel, NULL, id_out, idlen,
                                err);
}

/* Channel variables that ask a SIP phone to answer by itself: the headers
 * the common desk phones and softphones honour (RFC 5373-style Call-Info
 * answer-after, and Alert-Info auto-answer). */
static const char *const calls__auto_answer_vars[] = {
    "PJSIP_HEADER(add,Call-Info)",
    "<sip:callservice>;answer-after=0",
    "PJSIP_HEADER(add,Alert-Info)",
    "<sip:callservice>;info=alert-autoanswer;delay=0",
    NULL,
};

/* AnswerCall while the user's device still rings: the ringing leg is
 * replaced by one that asks the device to answer by itself. The old leg's
 * events name a channel the call no longer knows, so they are ignored. */
static cs_err calls__redial_auto_answer(calls_worker *w, call_rec *r, ari_error *err)
{
    calls_module *m = w->m;
    Callservice__V1__Call *c = r->call;
    char endpoint[256], old[96], id[96];
    cs_err rc = calls__endpoint(m, c->callee->extension, NULL, endpoint, sizeof endpoint);
    if (rc != CS_OK)
        return rc;
    snprintf(old, sizeof old, "%s", c->callee_channel_id);
    rc = calls__dial_leg_vars(m, c->id, "ba", endpoint, c->caller_channel_id,
                              calls__auto_answer_vars, id, sizeof id, err);
    if (rc != CS_OK)
        return rc;
    calls__set_str(&c->callee_channel_id, id);
    calls__hangup_quiet(m, old, "normal");
    return CS_OK;
}

/* Appends the call's event (the Call after the change, with children),
 * visible to the call's parties. r comes from calls_repo_insert or
 * calls_repo_save in this transaction: a call without transfers or notes
 * needs no read for either (see children_known). */
/* Records users whose call lists the open transaction changes. */
static void calls__touch(calls_worker *w, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++, w->n_touched++)
        if (w->n_touched < CALLS_TOUCHED)
            snprintf(w->touched[w->n_touched], sizeof w->touched[0], "%s", ids[i]);
}

static cs_err calls__emit(calls_worker *w, call_rec *r, Callservice__V1__EventType type,
                          const char *actor)
{
    db_conn *db = w->db;
    char **parties = NULL;
    size_t n = 0;
    cs_err rc = calls_repo_load_children(db, r);
    if (rc == CS_OK)
        rc = calls_repo_parties_of(db, r, &parties, &n);
    if (rc == CS_OK)
        rc = events_append(db, type, r->call->id, actor && *actor ? actor : NULL,
                           (const char *const *)parties, n, &r->call->base, NULL);
    if (rc == CS_OK)
        calls__touch(w, (const char *const *)parties, n);
    calls_repo_free_ids(parties, n);
    return rc;
}

/* After the worker's transaction (committed or not: a bump costs at most a
 * miss): this instance's call lists of the users its events named are read
 * again, so a client sees its own change at once. */
static void calls__bump_touched(calls_worker *w)
{
    if (w->n_touched > CALLS_TOUCHED) {
        lcache_bump_every(w->m->cache);
    } else {
        for (size_t i = 0; i < w->n_touched; i++)
            lcache_bump_user(w->m->cache, w->touched[i]);
        if (w->n_touched == 0)
            return;
    }
    w->n_touched = 0;
}

static cs_err calls__save_emit(calls_worker *w, call_rec *r, Callservice__V1__EventType type,
                               const char *actor)
{
    cs_err rc = calls_repo_save(w->db, r);
    char **parties = NULL;
    size_t n = 0;
    if (rc == CS_OK && type != EV(UNSPECIFIED))
        return calls__emit(w, r, type, actor);
    /* A save without an event still changes what the lists show (version,
     * bridge, channel ids): this instance's cached lists of the parties go
     * (other instances see it with the call's next event). */
    if (rc == CS_OK)
        rc = calls_repo_parties_of(w->db, r, &parties, &n);
    if (rc == CS_OK)
        calls__touch(w, (const char *const *)parties, n);
    calls_repo_free_ids(parties, n);
    return rc;
}

/* Moves r by `in` (RING or ANSWER) and saves it with the matching event;
 * a refused or unchanged move just saves. */
static cs_err calls__advance(calls_worker *w, call_rec *r, call_input in, const char *actor)
{
    call_status to;
    Callservice__V1__EventType type = EV(UNSPECIFIED);
    if (call_state_next(r->call->status, in, &to) == CALL_STEP_CHANGED) {
        r->call->status = to;
        type = in == CALL_IN_ANSWER ? EV(CALL_ANSWERED) : EV(CALL_RINGING);
    }
    return calls__save_emit(w, r, type, actor);
}

/* A database failure that may have lost ARI events (unreachable, timed
 * out): the worker owes a reconciliation (calls__recover). */
static void calls__owe_reconcile(calls_worker *w, cs_err rc)
{
    if (rc == CS_ERR_UNAVAILABLE || rc == CS_ERR_DEADLINE)
        w->reconcile_due = true;
}

/* Runs and clears the worker's pending clean-ups (calls_cleanup). A
 * strdup that failed left a NULL: that leg is left to its own hang-up. */
static void calls__cleanup_run(calls_worker *w)
{
    calls_module *m = w->m;
    for (size_t j = 0; j < w->n_cleanup; j++) {
        calls_cleanup *k = &w->cleanup[j];
        for (int i = 0; i < 3; i++)
            calls__hangup_quiet(m, k->legs[i], NULL);
        if (k->bridge) {
            ari_error err;
            cs_err e = ari_bridge_destroy(m->ari, k->bridge, &err);
            if (e != CS_OK && e != CS_ERR_NOT_FOUND)
                log_warn("calls: destroy bridge %s: %s", k->bridge, err.message);
        }
        if (k->route)
            calls__route_del(m, k->route);
        for (int i = 0; i < 3; i++)
            free(k->legs[i]);
        free(k->bridge);
        free(k->route);
        memset(k, 0, sizeof *k);
    }
    w->n_cleanup = 0;
}

/* The end of a worker's transaction: commit (or roll back), then the
 * clean-up of a call it ended. The clean-up runs either way: a call whose
 * end did not commit sees its legs go and ends again from their
 * ChannelDestroyed events, as when the hang-ups ran inside. */
static cs_err calls__commit(calls_worker *w)
{
    cs_err rc = db_commit(w->db);
    calls__bump_touched(w);
    calls__cleanup_run(w);
    return rc;
}

static void calls__rollback(calls_worker *w)
{
    db_rollback(w->db);
    w->n_touched = 0; /* nothing changed */
    calls__cleanup_run(w);
}

/* Ends the call: status by `in` (a refused input falls back to a hangup,
 * then a failure), cause, event; every leg still there is hung up and the
 * bridge destroyed once the transaction is over (calls_cleanup). gone: a
 * channel known to be gone already (or NULL). */
static cs_err calls__end(calls_worker *w, call_rec *r, call_input in, const char *cause,
                         const char *actor, const char *gone)
{
    Callservice__V1__Call *c = r->call;
    const char *legs[3];
    calls_cleanup *k;
    call_status to;
    cs_err rc;
    if (call_status_terminal(c->status))
        return CS_OK;
    if (call_state_next(c->status, in, &to) != CALL_STEP_CHANGED &&
        call_state_next(c->status, CALL_IN_HANGUP, &to) != CALL_STEP_CHANGED &&
        call_state_next(c->status, CALL_IN_FAIL, &to) != CALL_STEP_CHANGED)
        return CS_OK;
    c->status = to;
    calls__set_str(&c->hangup_cause,
                   cause && *cause ? cause : call_input_default_cause(c->status, in));
    rc = calls__save_emit(w, r, EV(CALL_ENDED), actor);
    if (rc != CS_OK)
        return rc;
    legs[0] = c->caller_channel_id;
    legs[1] = c->callee_channel_id;
    legs[2] = r->pending_channel_id;
    if (w->n_cleanup == CALLS_BATCH)
        calls__cleanup_run(w); /* never lose one */
    k = &w->cleanup[w->n_cleanup++];
    for (int i = 0; i < 3; i++)
        if (legs[i][0] && !(gone && strcmp(gone, legs[i]) == 0))
            k->legs[i] = strdup(legs[i]);
    if (c->bridge_id[0])
        k->bridge = strdup(c->bridge_id);
    if (c->direction == CALL_DIR(INBOUND))
        k->route = strdup(c->caller_channel_id);
    log_info("calls: call %s ended %s (%s)", c->id, call_status_name(c->status), c->hangup_cause);
    return CS_OK;
}

/* The bridge of the call (id = call id), made on first use. */
static cs_err calls__bridge(calls_module *m, call_rec *r, ari_error *err)
{
    cs_err rc;
    if (r->call->bridge_id[0])
        return CS_OK;
    rc = ari_bridge_create(m->ari, "mixing", r->call->id, NULL, NULL, err);
    if (rc == CS_ERR_PRECONDITION) /* exists already (409): ours */
        rc = CS_OK;
    if (rc == CS_OK)
        calls__set_str(&r->call->bridge_id, r->call->id);
    return rc;
}

/* ------------------------------------------------------------------ */
/* What legs do                                                         */

static cs_err calls__on_ring(calls_worker *w, call_rec *r, calls_leg leg)
{
    if (leg == LEG_PENDING || r->call->status != CALL_ST(INITIATED))
        return CS_OK;
    return calls__advance(w, r, CALL_IN_RING, NULL);
}

/* The destination (channel id) is being dialled: the caller hears ringing
 * while it rings, and the call rings. */
static cs_err calls__destination_dialled(calls_worker *w, call_rec *r, const char *id)
{
    Callservice__V1__Call *c = r->call;
    ari_error err = {0};
    calls__set_str(&c->callee_channel_id, id);
    if (ari_channel_ring(w->m->ari, c->caller_channel_id, &err) != CS_OK)
        log_debug("calls: ring %s: %s", c->caller_channel_id, err.message);
    return calls__advance(w, r, CALL_IN_RING, NULL);
}

/* The caller's own device picked up (click-to-call): dial the destination. */
static cs_err calls__dial_destination(calls_worker *w, call_rec *r)
{
    calls_module *m = w->m;
    Callservice__V1__Call *c = r->call;
    char endpoint[256], id[96];
    ari_error err = {0};
    cs_err rc;
    r->caller_up = true;
    rc = calls__endpoint(m, c->callee->extension, c->callee->number, endpoint, sizeof endpoint);
    if (rc == CS_OK)
        rc = calls__dial_leg(m, c->id, "b", endpoint, c->caller_channel_id, id, sizeof id, &err);
    if (rc != CS_OK) {
        log_warn("calls: call %s: dialling %s failed: %s %s", c->id, endpoint, cs_err_name(rc),
                 err.message);
        return calls__end(w, r, CALL_IN_FAIL, "unavailable", NULL, NULL);
    }
    return calls__destination_dialled(w, r, id);
}

/* Both parties there: answer the inbound caller if needed, bridge both. */
static cs_err calls__connect(calls_worker *w, call_rec *r, const char *actor)
{
    calls_module *m = w->m;
    Callservice__V1__Call *c = r->call;
    char legs[512];
    ari_error err = {0};
    cs_err rc = CS_OK;
    if (c->direction == CALL_DIR(INBOUND) && !r->caller_up) {
        rc = ari_channel_answer(m->ari, c->caller_channel_id, &err);
        if (rc == CS_OK)
            r->caller_up = true;
    } else if (ari_channel_ring_stop(m->ari, c->caller_channel_id, &err) != CS_OK) {
        log_debug("calls: ring stop %s: %s", c->caller_channel_id, err.message);
    }
    if (rc == CS_OK)
        rc = calls__bridge(m, r, &err);
    /* both legs in one request when the callee is up (ARI's channel list) */
    if (rc == CS_OK &&
        snprintf(legs, sizeof legs, "%s%s%s", c->caller_channel_id, r->callee_up ? "," : "",
                 r->callee_up ? c->callee_channel_id : "") >= (int)sizeof legs)
        rc = CS_ERR_INTERNAL;
    if (rc == CS_OK)
        rc = ari_bridge_add_channel(m->ari, c->bridge_id, legs, &err);
    if (rc != CS_OK) {
        log_warn("calls: call %s: connecting failed: %s %s", c->id, cs_err_name(rc), err.message);
        return calls__end(w, r, CALL_IN_FAIL, rc == CS_ERR_NOT_FOUND ? "lost" : "unavailable",
                          actor, NULL);
    }
    return calls__advance(w, r, CALL_IN_ANSWER, actor);
}

static cs_err calls__on_answer(calls_worker *w, call_rec *r, calls_leg leg, const char *channel)
{
    calls_module *m = w->m;
    Callservice__V1__Call *c = r->call;
    ari_error err = {0};
    switch (leg) {
    case LEG_CALLER:
        if (r->caller_up || c->direction == CALL_DIR(INBOUND))
            return CS_OK;
        return calls__dial_destination(w, r);
    case LEG_CALLEE:
        if (r->callee_up)
            return CS_OK;
        r->callee_up = true;
        if (c->status == CALL_ST(IN_PROGRESS)) {
            /* answered through AnswerCall already: the device joins */
            if (calls__bridge(m, r, &err) != CS_OK ||
                ari_bridge_add_channel(m->ari, c->bridge_id, channel, &err) != CS_OK)
                return calls__end(w, r, CALL_IN_FAIL, "unavailable", NULL, NULL);
            return calls__save_emit(w, r, EV(UNSPECIFIED), NULL);
        }
        return calls__connect(w, r, NULL);
    case LEG_PENDING: {
        /* the transfer target answered: it joins the remaining party */
        if (calls__bridge(m, r, &err) != CS_OK ||
            ari_bridge_add_channel(m->ari, c->bridge_id, channel, &err) != CS_OK)
            return calls__end(w, r, CALL_IN_HANGUP, "transfer_failed", NULL, channel);
        if (!c->callee_channel_id[0]) {
            calls__set_str(&c->callee_channel_id, channel);
            r->callee_up = true;
            if (ari_channel_ring_stop(m->ari, c->caller_channel_id, &err) != CS_OK)
                log_debug("calls: ring stop: %s", err.message);
        } else {
            calls__set_str(&c->caller_channel_id, channel);
            r->caller_up = true;
            if (ari_channel_ring_stop(m->ari, c->callee_channel_id, &err) != CS_OK)
                log_debug("calls: ring stop: %s", err.message);
        }
        calls__set_str(&r->pending_channel_id, "");
        return calls__save_emit(w, r, EV(CALL_ANSWERED), NULL);
    }
    default:
        return CS_OK;
    }
}

/* "caller_busy", "transfer_no_answer": cause names with where it happened. */
static const char *calls__cause(char *buf, size_t len, const char *prefix, const char *name)
{
    snprintf(buf, len, "%s%s", prefix, name);
    return buf;
}

/* Dial ended without an answer (BUSY, NOANSWER, CHANUNAVAIL, ...). */
static cs_err calls__on_dial_failed(calls_worker *w, call_rec *r, calls_leg leg, call_input in,
                                    const char *name)
{
    char buf[64];
    switch (leg) {
    case LEG_PENDING:
        return calls__end(w, r, CALL_IN_HANGUP, calls__cause(buf, sizeof buf, "transfer_", name),
                          NULL, NULL);
    case LEG_CALLER:
        if (r->caller_up)
            return CS_OK;
        return calls__end(w, r, in, calls__cause(buf, sizeof buf, "caller_", name), NULL, NULL);
    case LEG_CALLEE:
        if (r->callee_up)
            return CS_OK;
        return calls__end(w, r, in, name, NULL, NULL);
    default:
        return CS_OK;
    }
}

/* A leg hung up or was destroyed, with its Q.850 cause. */
static cs_err calls__on_leg_gone(calls_worker *w, call_rec *r, calls_leg leg, int q850,
                                 const char *channel)
{
    Callservice__V1__Call *c = r->call;
    call_input in = call_input_from_q850(q850);
    const char *name = call_q850_name(q850);
    char buf[64];
    switch (leg) {
    case LEG_PENDING:
        return calls__end(w, r, CALL_IN_HANGUP, calls__cause(buf, sizeof buf, "transfer_", name),
                          NULL, channel);
    case LEG_CALLER:
    case LEG_CALLEE:
        break;
    default:
        return CS_OK;
    }
    if (c->status == CALL_ST(IN_PROGRESS))
        return calls__end(w, r, CALL_IN_HANGUP, "normal", NULL, channel);
    if (leg == LEG_CALLER) {
        /* the user's own device did not pick up, or the caller gave up */
        if (r->caller_up || c->direction == CALL_DIR(INBOUND) || in == CALL_IN_HANGUP)
            return calls__end(w, r, CALL_IN_HANGUP, "canceled", NULL, channel);
        return calls__end(w, r, in, calls__cause(buf, sizeof buf, "caller_", name), NULL, channel);
    }
    /* the destination hung up before answering: declined */
    if (in == CALL_IN_HANGUP)
        return calls__end(w, r, CALL_IN_BUSY, "rejected", NULL, channel);
    return calls__end(w, r, in, name, NULL, channel);
}

/* Dial.dialstatus -> a short cause name. */
static const char *calls__dialstatus_cause(const char *ds)
{
    static const struct {
        const char *ds, *cause;
    } rows[] = {
        {"BUSY", "busy"},
        {"NOANSWER", "no_answer"},
        {"CHANUNAVAIL", "unavailable"},
        {"CONGESTION", "congestion"},
        {"CANCEL", "canceled"},
        {"DONTCALL", "rejected"},
        {"TORTURE", "rejected"},
        {"INVALIDARGS", "failed"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        if (strcmp(ds, rows[i].ds) == 0)
            return rows[i].cause;
    return "failed";
}

/* ------------------------------------------------------------------ */
/* Events                                                               */

static const char *calls__event_channel(const ari_event *ev)
{
    if (ev->type == ARI_EV_DIAL)
        return ev->has_peer ? ev->peer.id : NULL;
    return ev->has_channel ? ev->channel.id : NULL;
}

/* A leg answers once, but ARI says so twice (ChannelStateChange Up and
 * Dial ANSWER). */
static bool calls__is_up_event(const ari_event *ev)
{
    return (ev->type == ARI_EV_DIAL && strcmp(ev->dialstatus, "ANSWER") == 0) ||
           (ev->type == ARI_EV_CHANNEL_STATE_CHANGE && ev->channel.state == ARI_CH_UP);
}

/* An event for an ended call, or for a channel the call no longer knows:
 * a leg of ours still alive is gone with it; nothing else happens. While
 * the worker owes a reconciliation the leg is left to the pass: its row
 * may have lost the step that made it (a destination dialled before a
 * COMMIT that failed), which the pass takes over; it hangs up what no
 * call owns. */
static void calls__stale_event(calls_worker *w, const ari_event *ev, const char *channel)
{
    char key[40];
    const char *suffix;
    if (!calls__is_up_event(ev) || !calls__own_id(channel, key, &suffix))
        return;
    if (w->reconcile_due)
        log_info("calls: %s is up and no call knows it; left to the reconciliation owed", channel);
    else
        calls__hangup_quiet(w->m, channel, NULL);
}

static cs_err calls__apply_event(calls_worker *w, call_rec *r, const ari_event *ev,
                                 const char *channel)
{
    calls_leg leg = calls__leg_of(r, channel);
    int in;
    if (call_status_terminal(r->call->status) || leg == LEG_NONE) {
        calls__stale_event(w, ev, channel);
        return CS_OK;
    }
    switch (ev->type) {
    case ARI_EV_DIAL:
        in = call_input_from_dialstatus(ev->dialstatus);
        if (in < 0)
            return CS_OK;
        if (in == CALL_IN_RING)
            return calls__on_ring(w, r, leg);
        if (in == CALL_IN_ANSWER)
            return calls__on_answer(w, r, leg, channel);
        return calls__on_dial_failed(w, r, leg, (call_input)in,
                                     calls__dialstatus_cause(ev->dialstatus));
    case ARI_EV_CHANNEL_STATE_CHANGE:
        if (ev->channel.state == ARI_CH_UP)
            return calls__on_answer(w, r, leg, channel);
        if (ev->channel.state == ARI_CH_RINGING)
            return calls__on_ring(w, r, leg);
        return CS_OK;
    case ARI_EV_CHANNEL_HANGUP_REQUEST:
        if (ev->soft)
            return CS_OK;
        return calls__on_leg_gone(w, r, leg, ev->has_cause ? ev->cause : 16, channel);
    case ARI_EV_CHANNEL_DESTROYED:
        return calls__on_leg_gone(w, r, leg, ev->has_cause ? ev->cause : 0, channel);
    case ARI_EV_STASIS_END:
        /* a channel from the dialplan gets no ChannelDestroyed after this */
        if (leg == LEG_CALLER && r->call->direction == CALL_DIR(INBOUND))
            return calls__on_leg_gone(w, r, leg, 16, channel);
        return CS_OK;
    default:
        return CS_OK;
    }
}

/* A channel entered the app from the dialplan with an extension: a new
 * inbound call for that extension's user. */
static void calls__inbound(calls_worker *w, const char *call_id, const ari_event *ev)
{
    calls_module *m = w->m;
    const ari_channel *ch = &ev->channel;
    calls_user u;
    call_new n = {0};
    call_rec *r = NULL;
    char endpoint[256] = "", id[96];
    ari_error err = {0};
    cs_err rc, dialled;

    rc = calls_repo_user_by_extension(w->db, ev->args[0], &u);
    if (rc != CS_OK) {
        log_info("calls: inbound channel %s for unknown extension %s: hung up", ch->id,
                 ev->args[0]);
        calls__route_del(m, ch->id);
        calls__hangup_quiet(m, ch->id, "normal");
        goto out;
    }
    n.id = call_id;
    n.direction = CALL_DIR(INBOUND);
    n.status = CALL_ST(INITIATED);
    n.caller_name = ch->caller_name;
    n.caller_number = ch->caller_number;
    n.callee_user_id = u.id;
    n.callee_name = u.name;
    n.callee_extension = u.extension;
    n.caller_channel_id = ch->id;
    n.asterisk_id = ev->asterisk_id;
    rc = db_begin(w->db);
    if (rc == CS_OK)
        rc = calls_repo_insert(w->db, &n, &r);
    if (rc == CS_OK)
        rc = calls__emit(w, r, EV(CALL_INITIATED), NULL);
    if (rc == CS_OK)
        rc = calls__commit(w);
    if (rc != CS_OK) {
        calls__rollback(w);
        if (rc == CS_ERR_EXISTS) /* another instance has it */
            goto out;
        /* a call that cannot be recorded is not taken: the caller is hung up */
        log_error("calls: inbound call for %s not recorded: %s", ev->args[0], cs_err_name(rc));
        calls__route_del(m, ch->id);
        calls__hangup_quiet(m, ch->id, "normal");
        goto out;
    }
    /* the caller hears ringing; the user's device is dialled */
    if (ari_channel_ring(m->ari, ch->id, &err) != CS_OK)
        log_debug("calls: ring %s: %s", ch->id, err.message);
    dialled = calls__endpoint(m, u.extension, NULL, endpoint, sizeof endpoint);
    if (dialled == CS_OK)
        dialled = calls__dial_leg(m, call_id, "b", endpoint, ch->id, id, sizeof id, &err);
    if (dialled != CS_OK)
        log_warn("calls: inbound call %s: dialling %s failed: %s %s", call_id, endpoint,
                 cs_err_name(dialled), err.message);
    call_rec_free(r);
    r = NULL;
    rc = db_begin(w->db);
    if (rc == CS_OK)
        rc = calls_repo_get(w->db, call_id, CALLS_FOR_UPDATE, &r);
    if (rc == CS_OK && dialled == CS_OK) {
        calls__set_str(&r->call->callee_channel_id, id);
        rc = calls__advance(w, r, CALL_IN_RING, NULL);
    } else if (rc == CS_OK) {
        rc = calls__end(w, r, CALL_IN_FAIL, "unavailable", NULL, NULL);
    }
    if (rc == CS_OK)
        rc = calls__commit(w);
    if (rc != CS_OK) {
        calls__rollback(w);
        /* the call is recorded, its ringing is not: it is given up (its
         * legs hung up; their events, or a reconciliation, end it) */
        log_error("calls: inbound call %s: %s", call_id, cs_err_name(rc));
        if (dialled == CS_OK)
            calls__hangup_quiet(m, id, NULL);
        calls__hangup_quiet(m, ch->id, "normal");
        calls__owe_reconcile(w, rc);
    }
out:
    call_rec_free(r);
}

static bool calls__ring_has(const calls_ring *g, const char *id)
{
    unsigned n = g->n < CALLS_RING ? g->n : CALLS_RING;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(g->ids[i], id) == 0)
            return true;
    return false;
}

static void calls__ring_put(calls_ring *g, const char *id)
{
    if (strlen(id) >= CALLS_RING_ID || calls__ring_has(g, id))
        return;
    snprintf(g->ids[g->n++ % CALLS_RING], CALLS_RING_ID, "%s", id);
}

/* After an event's or a command's transaction committed. Ended is final,
 * and all changes of a call run on its worker, so a call noted here stays
 * ended: its late events (the legs' ChannelDestroyed after HangupCall) are
 * stale without reading the row. A leg of a live call whose answer was
 * handled is up for good (caller_up/callee_up), so the second report of
 * that answer is a no-op too. */
static void calls__note(calls_worker *w, const call_rec *r, const ari_event *ev, calls_leg leg,
                        const char *channel)
{
    if (!r)
        return;
    if (call_status_terminal(r->call->status))
        calls__ring_put(&w->ended, r->call->id);
    else if (ev && leg != LEG_NONE && channel && calls__is_up_event(ev))
        calls__ring_put(&w->up, channel);
}

/* Whether the job's event needs no transaction: its call ended here, or
 * it reports again the answer of a leg that is up (see calls__note). */
static bool calls__event_settled(calls_worker *w, const calls_job *job)
{
    const char *channel = calls__event_channel(job->ev);
    if (calls__ring_has(&w->ended, job->key)) {
        calls__stale_event(w, job->ev, channel);
        return true;
    }
    return channel && calls__is_up_event(job->ev) && calls__ring_has(&w->up, channel);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static cs_err calls__cmd_fail(calls_cmd *cmd, cs_err e, const char *msg)
{
    cmd->rc = e;
    snprintf(cmd->errmsg, sizeof cmd->errmsg, "%s", msg);
    return e;
}

/* Whether the requester is the caller or callee of the locked row: then a
 * party for sure (whoever the row names was recorded as a party in the same
 * transaction, and party rows go only with the user, whose deletion also
 * clears the row's reference and must wait for our lock). */
static bool calls__is_current_party(const call_rec *r, const char *user_id)
{
    return user_id && user_id[0] &&
           (strcmp(r->call->caller->user_id, user_id) == 0 ||
            strcmp(r->call->callee->user_id, user_id) == 0);
}

/* Loads the call for a command: locked, visible to the caller, live, and
 * the caller one of its current parties (or a supervisor or admin): a user
 * who left it (a transferrer) still sees it but no longer changes it. */
static cs_err calls__cmd_load(calls_worker *w, calls_cmd *cmd, call_rec **r)
{
    bool party = false;
    cs_err rc = calls_repo_get(w->db, cmd->call_id, CALLS_FOR_UPDATE, r);
    if (rc != CS_OK || auth_sees_all(&cmd->who) || calls__is_current_party(*r, cmd->who.user_id))
        goto loaded;
    rc = calls_repo_is_party(w->db, cmd->call_id, cmd->who.user_id, &party);
    if (rc == CS_OK && !party)
        rc = CS_ERR_NOT_FOUND;
    if (rc == CS_OK)
        return calls__cmd_fail(cmd, CS_ERR_PERMISSION, "you are no longer in this call");
loaded:
    if (rc == CS_ERR_NOT_FOUND)
        return calls__cmd_fail(cmd, rc, "call not found");
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, rc, db_public_error(rc));
    if (call_status_terminal((*r)->call->status))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "the call has ended");
    return CS_OK;
}

static cs_err calls__ari_fail(calls_cmd *cmd, cs_err e, const ari_error *err)
{
    char msg[200];
    if (e == CS_ERR_UNAVAILABLE || e == CS_ERR_INTERNAL)
        e = CS_ERR_UNAVAILABLE;
    snprintf(msg, sizeof msg, "Asterisk: %.180s", err->message[0] ? err->message : cs_err_name(e));
    return calls__cmd_fail(cmd, e, msg);
}

static cs_err calls__cmd_make(calls_worker *w, calls_cmd *cmd, call_rec **out)
{
    calls_module *m = w->m;
    calls_user me, dest;
    call_new n = {0};
    call_rec *r = NULL;
    char endpoint[256], chan[96], other[96], args[96];
    ari_originate o = {0};
    ari_error err = {0};
    bool internal;
    cs_err rc;

    if (cmd->request_id) {
        rc = calls_repo_find_by_request(w->db, cmd->who.user_id, cmd->request_id, out);
        if (rc != CS_ERR_NOT_FOUND)
            return rc == CS_OK ? CS_OK : calls__cmd_fail(cmd, rc, db_public_error(rc));
    }
    rc = calls_repo_user_and_extension(w->db, cmd->who.user_id, cmd->to, &me, &dest, &internal);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, rc == CS_ERR_NOT_FOUND ? CS_ERR_PRECONDITION : rc,
                               rc == CS_ERR_NOT_FOUND ? "your user no longer exists"
                                                      : db_public_error(rc));
    if (!me.extension[0])
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "you have no SIP device");
    if (internal && strcmp(dest.id, me.id) == 0)
        return calls__cmd_fail(cmd, CS_ERR_INVALID, "you cannot call your own extension");
    rc = calls__endpoint(m, internal ? dest.extension : NULL, cmd->to, endpoint, sizeof endpoint);
    if (rc == CS_OK)
        rc = calls__endpoint(m, me.extension, NULL, endpoint, sizeof endpoint);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, CS_ERR_INVALID, "destination not usable in an endpoint");

    /* the first ARI step: the user's own device; nothing is written before it works */
    snprintf(chan, sizeof chan, "%s.a", cmd->call_id);
    snprintf(other, sizeof other, "%s.ao", cmd->call_id);
    snprintf(args, sizeof args, "%s,a", cmd->call_id);
    o.endpoint = endpoint;
    o.app = m->app;
    o.app_args = args;
    o.channel_id = chan;
    o.other_channel_id = other;
    rc = ari_channel_create(m->ari, &o, NULL, &err);
    if (rc != CS_OK)
        return calls__ari_fail(cmd, rc, &err);

    n.id = cmd->call_id;
    n.direction = internal ? CALL_DIR(INTERNAL) : CALL_DIR(OUTBOUND);
    n.status = CALL_ST(INITIATED);
    n.caller_user_id = me.id;
    n.caller_name = me.name;
    n.caller_extension = me.extension;
    n.callee_user_id = internal ? dest.id : NULL;
    n.callee_name = internal ? dest.name : "";
    n.callee_extension = internal ? dest.extension : "";
    n.callee_number = internal ? "" : cmd->to;
    n.caller_channel_id = chan;
    n.asterisk_id = "";
    n.owner_id = me.id;
    n.request_id = cmd->request_id;
    rc = db_begin(w->db);
    if (rc == CS_OK)
        rc = calls_repo_insert(w->db, &n, &r);
    if (rc == CS_OK)
        rc = calls__emit(w, r, EV(CALL_INITIATED), me.id);
    if (rc == CS_OK)
        rc = calls__commit(w);
    if (rc != CS_OK) {
        calls__rollback(w);
        calls__hangup_quiet(m, chan, NULL);
        call_rec_free(r);
        if (rc == CS_ERR_EXISTS && cmd->request_id) /* a concurrent retry won */
            rc = calls_repo_find_by_request(w->db, cmd->who.user_id, cmd->request_id, out);
        return rc == CS_OK ? CS_OK : calls__cmd_fail(cmd, rc, db_public_error(rc));
    }

    rc = ari_channel_dial(m->ari, chan, NULL, m->ring_timeout_s, &err);
    if (rc != CS_OK) {
        /* roll the call to failed in this same request */
        cs_err e = calls__ari_fail(cmd, rc, &err);
        call_rec_free(r);
        r = NULL;
        rc = db_begin(w->db);
        if (rc == CS_OK)
            rc = calls_repo_get(w->db, cmd->call_id, CALLS_FOR_UPDATE, &r);
        if (rc == CS_OK)
            rc = calls__end(w, r, CALL_IN_FAIL, "unavailable", me.id, NULL);
        if (rc == CS_OK)
            rc = calls__commit(w);
        if (rc != CS_OK)
            calls__rollback(w);
        call_rec_free(r);
        return e;
    }
    *out = r;
    return CS_OK;
}

static cs_err calls__cmd_answer(calls_worker *w, calls_cmd *cmd, call_rec *r)
{
    Callservice__V1__Call *c = r->call;
    if (c->direction == CALL_DIR(OUTBOUND))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION,
                               "an outbound call is answered by the far end");
    if (c->status == CALL_ST(IN_PROGRESS))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "the call is answered already");
    if (!auth_sees_all(&cmd->who) && strcmp(c->callee->user_id, cmd->who.user_id) != 0)
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "only the called user answers a call");
    if (c->direction == CALL_DIR(INTERNAL) && !r->caller_up)
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION,
                               "the caller's device has not picked up yet");
    if (!r->callee_up && c->callee_channel_id[0] && c->callee->extension[0]) {
        ari_error err = {0};
        cs_err rc = calls__redial_auto_answer(w, r, &err);
        if (rc != CS_OK)
            return calls__ari_fail(cmd, rc, &err);
    }
    return calls__connect(w, r, cmd->who.user_id);
}

static cs_err calls__cmd_hangup(calls_worker *w, calls_cmd *cmd, call_rec *r)
{
    const char *cause = r->call->status == CALL_ST(IN_PROGRESS) ? "normal" : "canceled";
    return calls__end(w, r, CALL_IN_HANGUP, cause, cmd->who.user_id, NULL);
}

/* Whether the requester's side of c is the callee's: the callee asks, or
 * (neither party asks: a supervisor or admin) the callee is a user. The
 * other side is the one a transfer leaves in the call and the one a hold
 * or DTMF is for (HoldCallRequest in calls.proto). */
static bool calls__requester_is_callee(const Callservice__V1__Call *c, const char *user_id)
{
    if (strcmp(c->callee->user_id, user_id) == 0)
        return true;
    if (strcmp(c->caller->user_id, user_id) == 0)
        return false;
    return c->callee->user_id[0] != '\0';
}

/* HoldCall and ResumeCall: the ARI hold of the party's channel, then the
 * call saved with the hold's start or its time added. The save is queued
 * to go with the COMMIT, so a failure shows later: cmd->undo_chan lets
 * calls__step_failed put Asterisk back as the database still has it. */
static cs_err calls__cmd_hold(calls_worker *w, calls_cmd *cmd, call_rec *r)
{
    Callservice__V1__Call *c = r->call;
    bool hold = cmd->kind == CALLS_CMD_HOLD, caller_side;
    const char *chan;
    ari_error err = {0};
    cs_err rc;

    if (c->status != CALL_ST(IN_PROGRESS))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION,
                               hold ? "only a call in progress can be put on hold"
                                    : "the call is not on hold");
    if (hold && r->pending_channel_id[0])
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "a transfer of this call is under way");
    if (hold && (c->caller->on_hold || c->callee->on_hold))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "the call is on hold already");
    if (!hold && !c->caller->on_hold && !c->callee->on_hold)
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "the call is not on hold");
    caller_side = hold ? calls__requester_is_callee(c, cmd->who.user_id) : c->caller->on_hold;
    chan = caller_side ? c->caller_channel_id : c->callee_channel_id;
    if (!chan[0])
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "that party has no channel");
    rc = ari_channel_hold(w->m->ari, chan, hold, &err);
    if (rc != CS_OK)
        return calls__ari_fail(cmd, rc, &err);
    snprintf(cmd->undo_chan, sizeof cmd->undo_chan, "%s", chan);
    cmd->undo_hold = !hold;
    if (hold) {
        c->held_at = calls_timestamp_new(calls_change_us(r));
        (caller_side ? c->caller : c->callee)->on_hold = true;
        rc = c->held_at ? CS_OK : CS_ERR_INTERNAL;
    } else {
        calls_hold_finish(r, calls_change_us(r));
    }
    if (rc == CS_OK)
        rc = calls__save_emit(w, r, hold ? EV(CALL_HELD) : EV(CALL_RESUMED), cmd->who.user_id);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, rc, db_public_error(rc));
    return CS_OK;
}

/* SendDtmf: the digits played to the requester's other party; the call
 * itself does not change. */
static cs_err calls__cmd_dtmf(calls_worker *w, calls_cmd *cmd, call_rec *r)
{
    Callservice__V1__Call *c = r->call;
    const char *chan;
    ari_error err = {0};
    cs_err rc;
    if (c->status != CALL_ST(IN_PROGRESS))
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "DTMF needs a call in progress");
    chan = calls__requester_is_callee(c, cmd->who.user_id) ? c->caller_channel_id
                                                           : c->callee_channel_id;
    if (!chan[0])
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "the other party has no channel");
    rc = ari_channel_dtmf(w->m->ari, chan, cmd->to, 0, &err);
    if (rc != CS_OK)
        return calls__ari_fail(cmd, rc, &err);
    return CS_OK;
}

static cs_err calls__cmd_transfer(calls_worker *w, calls_cmd *cmd, call_rec *r)
{
    calls_module *m = w->m;
    Callservice__V1__Call *c = r->call;
    calls_user dest;
    bool to_user, callee_leaves;
    const char *remaining;
    char endpoint[256], leg[16], id[96];
    ari_error err = {0};
    int n = 0;
    cs_err rc;
    call_status to;

    if (call_state_next(c->status, CALL_IN_TRANSFER, &to) == CALL_STEP_REFUSED)
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION,
                               "only a call in progress can be transferred");
    if (r->pending_channel_id[0])
        return calls__cmd_fail(cmd, CS_ERR_PRECONDITION, "a transfer of this call is under way");
    /* whose leg leaves: the requester's; a supervisor moves the user's side */
    callee_leaves = calls__requester_is_callee(c, cmd->who.user_id);
    remaining = callee_leaves ? c->caller_channel_id : c->callee_channel_id;

    rc = calls_repo_user_by_extension(w->db, cmd->to, &dest);
    if (rc != CS_OK && rc != CS_ERR_NOT_FOUND)
        return calls__cmd_fail(cmd, rc, db_public_error(rc));
    to_user = rc == CS_OK;
    if (to_user && (strcmp(dest.id, callee_leaves ? c->caller->user_id : c->callee->user_id) == 0 ||
                    strcmp(dest.id, callee_leaves ? c->callee->user_id : c->caller->user_id) == 0))
        return calls__cmd_fail(cmd, CS_ERR_INVALID, "the target is already in the call");
    rc = calls__endpoint(m, to_user ? dest.extension : NULL, cmd->to, endpoint, sizeof endpoint);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, CS_ERR_INVALID, "destination not usable in an endpoint");
    rc = calls_repo_count_transfers(w->db, c->id, &n);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, rc, db_public_error(rc));
    snprintf(leg, sizeof leg, "t%d", n + 1);
    rc = calls__dial_leg(m, c->id, leg, endpoint, remaining, id, sizeof id, &err);
    if (rc != CS_OK)
        return calls__ari_fail(cmd, rc, &err);

    /* the transferring leg leaves; the remaining party hears ringing (off
     * hold first: a hold ends with a transfer, whoever was held) */
    calls__hangup_quiet(m, callee_leaves ? c->callee_channel_id : c->caller_channel_id, NULL);
    if ((callee_leaves ? c->caller : c->callee)->on_hold &&
        ari_channel_hold(m->ari, remaining, false, &err) != CS_OK)
        log_warn("calls: unhold %s before its transfer: %s", remaining, err.message);
    calls_hold_finish(r, calls_change_us(r));
    if (ari_channel_ring(m->ari, remaining, &err) != CS_OK)
        log_debug("calls: ring %s: %s", remaining, err.message);
    {
        Callservice__V1__Party *p = callee_leaves ? c->callee : c->caller;
        calls__set_str(callee_leaves ? &c->callee_channel_id : &c->caller_channel_id, "");
        if (callee_leaves)
            r->callee_up = false;
        else
            r->caller_up = false;
        calls__set_str(&r->pending_channel_id, id);
        calls__set_str(&p->user_id, to_user ? dest.id : "");
        calls__set_str(&p->name, to_user ? dest.name : "");
        calls__set_str(&p->extension, to_user ? dest.extension : "");
        calls__set_str(&p->number, to_user ? "" : cmd->to);
    }
    if (to_user)
        rc = calls_repo_add_party(w->db, c->id, dest.id);
    if (rc == CS_OK)
        rc = calls_repo_add_transfer(w->db, r, cmd->who.user_id, cmd->to, to_user ? dest.id : NULL,
                                     id);
    if (rc == CS_OK)
        rc = calls__save_emit(w, r, EV(CALL_TRANSFERRED), cmd->who.user_id);
    if (rc != CS_OK)
        return calls__cmd_fail(cmd, rc, db_public_error(rc));
    return CS_OK;
}

/* A command's answer once its step is over: the call as it is now. */
static void calls__command_finish(calls_worker *w, calls_cmd *cmd, call_rec *r, cs_err rc)
{
    /* the event appended in the transaction loaded the children already */
    if (rc == CS_OK && r && (r->children_loaded || calls_repo_load_children(w->db, r) == CS_OK)) {
        cmd->call = call_rec_take(r);
    } else if (cmd->rc == CS_OK) {
        calls__cmd_fail(cmd, rc == CS_OK ? CS_ERR_INTERNAL : rc, "the call could not be loaded");
    }
}

/* MakeCall: its own steps (calls__cmd_make); the other commands are steps
 * like ARI events (calls__steps). */
static void calls__make(calls_worker *w, calls_cmd *cmd)
{
    call_rec *r = NULL;
    cs_err rc;
    cmd->rc = CS_OK;
    rc = calls__cmd_make(w, cmd, &r);
    calls__command_finish(w, cmd, r, rc);
    call_rec_free(r);
}

/* AnswerCall, HangupCall, TransferCall, HoldCall, ResumeCall, SendDtmf
 * inside the worker's transaction. */
static cs_err calls__command_apply(calls_worker *w, calls_cmd *cmd, call_rec **r)
{
    cs_err rc;
    cmd->rc = CS_OK;
    rc = calls__cmd_load(w, cmd, r);
    if (rc != CS_OK)
        return rc;
    switch (cmd->kind) {
    case CALLS_CMD_ANSWER:
        return calls__cmd_answer(w, cmd, *r);
    case CALLS_CMD_HANGUP:
        return calls__cmd_hangup(w, cmd, *r);
    case CALLS_CMD_TRANSFER:
        return calls__cmd_transfer(w, cmd, *r);
    case CALLS_CMD_HOLD:
    case CALLS_CMD_RESUME:
        return calls__cmd_hold(w, cmd, *r);
    case CALLS_CMD_DTMF:
        return calls__cmd_dtmf(w, cmd, *r);
    default:
        return calls__cmd_fail(cmd, CS_ERR_INTERNAL, "unknown command");
    }
}

/* ------------------------------------------------------------------ */
/* Steps in batches                                                     */

/* One step of a batch (an ARI event or a command): its row locked, its
 * change made, what it needs after the commit kept here. */
typedef struct calls_done {
    call_rec *r;
    calls_leg leg;
    bool ok;       /* its change made (committed if the batch is) */
    bool by_batch; /* an event settled by an earlier step of the batch */
} calls_done;

static cs_err calls__event_apply(calls_worker *w, const calls_job *job, calls_done *d)
{
    const char *channel = calls__event_channel(job->ev);
    cs_err rc = calls_repo_get(w->db, job->key, CALLS_FOR_UPDATE, &d->r);
    if (rc == CS_OK) {
        d->leg = calls__leg_of(d->r, channel);
        rc = calls__apply_event(w, d->r, job->ev, channel);
    }
    return rc;
}

/* A step that failed, or whose transaction did: an event is logged (and
 * lost: an unreachable database asks for a reconciliation once it is back,
 * calls__recover), a command answers with the error (unless it has one). */
static void calls__step_failed(calls_worker *w, const calls_job *job, cs_err rc)
{
    const char *channel;
    calls_cmd *cmd = job->cmd;
    if (job->kind == JOB_CMD) {
        ari_error err = {0};
        if (cmd->rc == CS_OK)
            calls__cmd_fail(cmd, rc, db_public_error(rc));
        if (cmd->undo_chan[0] &&
            ari_channel_hold(w->m->ari, cmd->undo_chan, cmd->undo_hold, &err) != CS_OK)
            log_warn("calls: %s of %s not undone: %s", cmd->undo_hold ? "unhold" : "hold",
                     cmd->undo_chan, err.message);
        cmd->undo_chan[0] = '\0';
        return;
    }
    calls__owe_reconcile(w, rc);
    channel = calls__event_channel(job->ev);
    if (rc != CS_ERR_NOT_FOUND)
        log_error("calls: %s on %s for call %s: %s", job->ev->type_name, channel ? channel : "-",
                  job->key, cs_err_name(rc));
}

/* calls__event_settled for event i of a batch by what the batch's earlier
 * steps did (not committed yet, so not in the rings). */
static bool calls__event_settled_by(calls_worker *w, calls_job **jobs, const calls_done *done,
                                    size_t i)
{
    const ari_event *ev = jobs[i]->ev;
    const char *channel = calls__event_channel(ev);
    for (size_t j = 0; j < i; j++) {
        const char *cj = jobs[j]->ev ? calls__event_channel(jobs[j]->ev) : NULL;
        if (!done[j].ok || strcmp(jobs[j]->key, jobs[i]->key) != 0)
            continue;
        if (call_status_terminal(done[j].r->call->status)) {
            calls__stale_event(w, ev, channel);
            return true;
        }
        if (channel && cj && calls__is_up_event(ev) && calls__is_up_event(jobs[j]->ev) &&
            strcmp(cj, channel) == 0 && done[j].leg != LEG_NONE)
            return true;
    }
    return false;
}

/* Up to CALLS_BATCH steps of the worker's calls (ARI events, and the
 * commands but MakeCall) in one transaction, so that they share one
 * commit: one WAL flush and one turn of the events append lock (events.c)
 * instead of one each. Each step but a lone one runs after a savepoint and
 * releases it at its end, so that one that fails is rolled back alone;
 * their appends wait for the COMMIT (db_exec_stmt_at_commit), so the lock
 * is not held across the later steps' work. A command is answered once
 * the batch is over (calls__worker_main). If the transaction itself fails
 * (the COMMIT, or a rollback to a savepoint: the connection is gone), what
 * its steps did in the database is gone with it, as a lone step's is when
 * its COMMIT fails, while their ARI requests were made: its commands
 * answer with the error, its events are lost; the steps it did not reach,
 * and the events it found settled by an earlier step, did nothing and run
 * again in a transaction of their own. */
static void calls__steps(calls_worker *w, calls_job **jobs, size_t n)
{
    calls_done done[CALLS_BATCH] = {{0}};
    calls_job *again[CALLS_BATCH];
    size_t i, n_ok = 0, n_again = 0;
    cs_err rc = db_begin(w->db);
    for (i = 0; i < n && rc == CS_OK; i++) {
        bool cmd = jobs[i]->kind == JOB_CMD;
        cs_err e;
        if (!cmd && calls__event_settled(w, jobs[i]))
            continue;
        if (!cmd && calls__event_settled_by(w, jobs, done, i)) {
            done[i].by_batch = true;
            continue;
        }
        if (n > 1 && (rc = db_savepoint(w->db)) != CS_OK)
            break;
        e = cmd ? calls__command_apply(w, jobs[i]->cmd, &done[i].r)
                : calls__event_apply(w, jobs[i], &done[i]);
        if (e == CS_OK && n > 1)
            e = db_release_savepoint(w->db);
        if (e == CS_OK) {
            done[i].ok = true;
            n_ok++;
            continue;
        }
        calls__step_failed(w, jobs[i], e);
        if (n == 1)
            rc = e;
        else if (done[i].r || e != CS_ERR_NOT_FOUND)
            /* a row not found needs nothing undone; anything else may have
             * changed something */
            rc = db_rollback_to_savepoint(w->db);
        call_rec_free(done[i].r);
        done[i].r = NULL;
    }
    if (rc == CS_OK)
        rc = calls__commit(w);
    else
        calls__rollback(w);
    /* The steps whose change is lost: latest first, so that what they did
     * in ARI (a hold, then a resume of the same channel) is undone in the
     * reverse order. A COMMIT whose connection broke may have committed
     * all the same; this cannot tell, and undoes. */
    for (size_t j = n; rc != CS_OK && j-- > 0;)
        if (done[j].ok)
            calls__step_failed(w, jobs[j], rc);
    for (size_t j = 0; j < n; j++) {
        const calls_job *job = jobs[j];
        if (done[j].ok && rc == CS_OK) {
            calls__note(w, done[j].r, job->ev, done[j].leg,
                        job->ev ? calls__event_channel(job->ev) : NULL);
            if (job->kind == JOB_CMD)
                calls__command_finish(w, job->cmd, done[j].r, CS_OK);
        }
        if (rc != CS_OK && (j >= i || done[j].by_batch))
            again[n_again++] = jobs[j];
        call_rec_free(done[j].r);
    }
    if (n_again == n) {
        /* it could not even begin: no use trying again now */
        for (size_t j = 0; j < n; j++)
            calls__step_failed(w, jobs[j], rc);
    } else if (n_again > 0) {
        log_warn("calls: a transaction of %zu steps failed (%s): %zu rolled back, %zu to run "
                 "again",
                 n, cs_err_name(rc), n_ok, n_again);
        calls__steps(w, again, n_again);
    }
}

/* ------------------------------------------------------------------ */
/* Reconciliation: after every (re)connect, per worker for its calls    */

/* Channel id of Asterisk's list, or NULL. */
static const ari_channel *calls__listed(const ari_channel_list *l, const char *id)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->items[i].id, id) == 0)
            return &l->items[i];
    return NULL;
}

/* Whether a leg r names is not among Asterisk's channels. */
static bool calls__lost_a_leg(const call_rec *r, const ari_channel_list *chans)
{
    const char *legs[] = {r->call->caller_channel_id, r->call->callee_channel_id,
                          r->pending_channel_id};
    for (size_t k = 0; k < 3; k++)
        if (legs[k][0] && !calls__listed(chans, legs[k]))
            return true;
    return false;
}

/* A leg of r whose state, as Asterisk lists it, r has not seen, or NULL:
 * first one Up while r has not seen it answer (its ChannelStateChange and
 * Dial ANSWER were lost; an inbound caller is Up because we answered it:
 * nothing to catch up on), else, while the call is still initiated, one
 * Ringing (its ChannelStateChange Ringing was lost). */
static const ari_channel *calls__unseen(const call_rec *r, const ari_channel_list *chans)
{
    const Callservice__V1__Call *c = r->call;
    const struct {
        const char *id;
        bool seen;
    } legs[] = {
        {c->caller_channel_id, r->caller_up || c->direction == CALL_DIR(INBOUND)},
        {c->callee_channel_id, r->callee_up},
        {r->pending_channel_id, false},
    };
    for (size_t k = 0; k < sizeof legs / sizeof *legs; k++) {
        const ari_channel *ch =
            legs[k].id[0] && !legs[k].seen ? calls__listed(chans, legs[k].id) : NULL;
        if (ch && ch->state == ARI_CH_UP)
            return ch;
    }
    for (size_t k = 0; c->status == CALL_ST(INITIATED) && k < 2; k++) {
        const ari_channel *ch = legs[k].id[0] ? calls__listed(chans, legs[k].id) : NULL;
        if (ch && ch->state == ARI_CH_RINGING)
            return ch;
    }
    return NULL;
}

/* Applies one state of a leg the call did not see (calls__unseen): the
 * flow's own step for a ChannelStateChange to ch's state. A MakeCall caller whose answer dialled
 * the destination in a step whose COMMIT was then lost has its destination
 * (<call>.b) listed but not in the row: that leg, ringing or up, is taken
 * over, not dialled again (its id is ours, so a second create would be
 * refused). One created and never dialled is not (nothing would ever ring
 * it): the dial is tried again, refused, and the call fails, its leftover
 * hung up. */
static cs_err calls__catch_up_leg(calls_worker *w, call_rec *r, const ari_channel *ch,
                                  const ari_channel_list *chans)
{
    Callservice__V1__Call *c = r->call;
    const ari_channel *b;
    char dest[96];
    ari_event ev = {.type = ARI_EV_CHANNEL_STATE_CHANGE,
                    .type_name = "ChannelStateChange",
                    .has_channel = true,
                    .channel = *ch};
    log_info("calls: call %s: %s %s unseen; applying it", c->id, ch->id,
             ch->state == ARI_CH_UP ? "answered" : "rang");
    snprintf(dest, sizeof dest, "%s.b", c->id);
    if (ch->state == ARI_CH_UP && calls__leg_of(r, ch->id) == LEG_CALLER &&
        c->direction != CALL_DIR(INBOUND) && !c->callee_channel_id[0] &&
        (b = calls__listed(chans, dest)) != NULL &&
        (b->state == ARI_CH_RINGING || b->state == ARI_CH_UP)) {
        log_info("calls: call %s: %s was dialled already; taking it over", c->id, dest);
        r->caller_up = true;
        return calls__destination_dialled(w, r, dest);
    }
    return calls__apply_event(w, r, &ev, ch->id);
}

/* Reconciles one call on its row locked FOR UPDATE, deciding again on it
 * (a step may have moved the call since the pass listed it): a call with a
 * leg Asterisk no longer lists ends (failed, lost); otherwise the states of
 * its legs that Asterisk lists and the call never saw (calls__unseen:
 * answers, and a ringing the initiated call missed) are applied one at a
 * time as the flow would have: a caller's answer dials the destination,
 * which may be Up too. After a catch-up *snap (the pass's copy of the row)
 * becomes the row as committed, so that the pass's look for leftover
 * channels sees the legs it now has. *lost, *caught: what was done. */
static cs_err calls__reconcile_call(calls_worker *w, call_rec **snap, const ari_channel_list *chans,
                                    bool *lost, bool *caught)
{
    call_rec *locked = NULL;
    const ari_channel *ch;
    cs_err rc = db_begin(w->db);
    *lost = *caught = false;
    if (rc == CS_OK)
        rc = calls_repo_get(w->db, (*snap)->call->id, CALLS_FOR_UPDATE, &locked);
    if (rc == CS_OK && !call_status_terminal(locked->call->status) &&
        calls__lost_a_leg(locked, chans)) {
        rc = calls__end(w, locked, CALL_IN_FAIL, "lost", NULL, NULL);
        *lost = rc == CS_OK;
    }
    /* each step marks its leg seen, moves the call on from initiated or
     * ends it: an answer for each of three legs and one ringing at most */
    for (int k = 0; rc == CS_OK && k < 4 && !call_status_terminal(locked->call->status) &&
                    (ch = calls__unseen(locked, chans)) != NULL;
         k++) {
        rc = calls__catch_up_leg(w, locked, ch, chans);
        *caught = rc == CS_OK;
    }
    if (rc == CS_OK)
        rc = calls__commit(w);
    if (rc != CS_OK) {
        calls__rollback(w);
        *lost = *caught = false;
    }
    if (*caught) {
        call_rec_free(*snap);
        *snap = locked;
        locked = NULL;
    }
    call_rec_free(locked);
    return rc;
}

/* CS_OK unless the database kept the pass from completing (a call that
 * lost a leg may still be up); a pass that cannot list Asterisk's channels
 * is skipped (logged): the reconnect that ends that brings the next. Calls
 * that lost a leg end (failed, lost); the answers (and a ringing) of legs
 * the call did not see are applied. */
static cs_err calls__reconcile(calls_worker *w)
{
    calls_module *m = w->m;
    ari_channel_list *chans = NULL;
    ari_bridge_list *bridges = NULL;
    call_rec **live = NULL;
    size_t n_live = 0, lost = 0, caught = 0;
    ari_error err = {0};
    cs_err rc, result = CS_OK;

    if ((rc = ari_channel_list_all(m->ari, &chans, &err)) != CS_OK ||
        (rc = ari_bridge_list_all(m->ari, &bridges, &err)) != CS_OK) {
        /* Asterisk's side: its reconnect brings the next pass */
        log_warn("calls: reconciliation skipped: %s %s", cs_err_name(rc), err.message);
        goto out;
    }
    rc = calls_repo_live(w->db, &live, &n_live);
    if (rc != CS_OK) {
        log_warn("calls: reconciliation skipped: database %s", cs_err_name(rc));
        result = rc;
        goto out;
    }
    for (size_t i = 0; i < n_live; i++) {
        const Callservice__V1__Call *c = live[i]->call;
        bool was_lost, was_caught;
        if (calls__worker_of(m, c->id) != w)
            continue;
        if (c->direction == CALL_DIR(INBOUND) && c->caller_channel_id[0])
            calls__route_put(m, c->caller_channel_id, c->id);
        if (!calls__lost_a_leg(live[i], chans) && !calls__unseen(live[i], chans))
            continue; /* nothing to do: no transaction */
        rc = calls__reconcile_call(w, &live[i], chans, &was_lost, &was_caught);
        lost += was_lost;
        caught += was_caught;
        if (rc != CS_OK && rc != CS_ERR_NOT_FOUND && result == CS_OK)
            result = rc;
    }
    /* channels and bridges of ours that no live call owns: leftovers */
    for (size_t i = 0; i < chans->n; i++) {
        const char *id = chans->items[i].id, *suffix;
        char key[40];
        bool owned = false;
        if (!calls__own_id(id, key, &suffix) || calls__worker_of(m, key) != w ||
            suffix[strlen(suffix) - 1] == 'o')
            continue;
        for (size_t k = 0; k < n_live && !owned; k++)
            owned = strcmp(live[k]->call->id, key) == 0 &&
                    !call_status_terminal(live[k]->call->status) &&
                    calls__leg_of(live[k], id) != LEG_NONE;
        if (!owned)
            calls__hangup_quiet(m, id, NULL);
    }
    for (size_t i = 0; i < bridges->n; i++) {
        const char *id = bridges->items[i].id;
        bool owned = false;
        if (!calls_is_uuid(id) || calls__worker_of(m, id) != w)
            continue;
        for (size_t k = 0; k < n_live && !owned; k++)
            owned = strcmp(live[k]->call->id, id) == 0;
        if (!owned && ari_bridge_destroy(m->ari, id, &err) != CS_OK)
            log_debug("calls: destroy leftover bridge %s: %s", id, err.message);
    }
    atomic_fetch_add_explicit(&m->n_lost, lost, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->n_caught, caught, memory_order_relaxed);
    if (lost)
        log_warn("calls: reconciliation: %zu call(s) lost their channels", lost);
    if (caught)
        log_warn("calls: reconciliation: %zu call(s) had a leg's state unseen", caught);
out:
    calls_repo_free_recs(live, n_live);
    ari_channel_list_free(chans);
    ari_bridge_list_free(bridges);
    return result;
}

/* ------------------------------------------------------------------ */
/* Workers and queues                                                   */

static void calls__push(calls_worker *w, calls_job *job)
{
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    atomic_fetch_add_explicit(&w->m->n_queued, 1, memory_order_relaxed);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* An ARI event about a call that exists, or a command but MakeCall (with
 * Asterisk configured): a step that may share a transaction. */
static bool calls__batchable(const calls_worker *w, const calls_job *job)
{
    if (!job)
        return false;
    if (job->kind == JOB_CMD)
        return job->cmd->kind != CALLS_CMD_MAKE && w->m->ari;
    return job->kind == JOB_EVENT && !job->inbound_new;
}

/* Takes the next job off w's queue, and with it the batchable jobs right
 * behind it when it is one too (up to CALLS_BATCH in all). Returns how
 * many; 0 when the queue is empty and a reconciliation owed is due
 * (calls__recover); -1 when stopping and drained. */
static int calls__take(calls_worker *w, calls_job **jobs)
{
    int n = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stop) {
        int64_t left = w->recover_at - cs_mono_ms();
        struct timespec until;
        if (!w->reconcile_due) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        if (left <= 0)
            break;
        until = cs_deadline_in(CLOCK_MONOTONIC, left);
        pthread_cond_timedwait(&w->cond, &w->lock, &until);
    }
    if (!w->head) {
        pthread_mutex_unlock(&w->lock);
        return w->stop ? -1 : 0;
    }
    do {
        jobs[n++] = w->head;
        w->head = w->head->next;
    } while (n < CALLS_BATCH && calls__batchable(w, jobs[0]) && calls__batchable(w, w->head));
    if (!w->head)
        w->tail = NULL;
    atomic_fetch_sub_explicit(&w->m->n_queued, n, memory_order_relaxed);
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* A reconciliation owed (w->reconcile_due: ARI events lost to an
 * unreachable database, or a pass that did not complete), run with the
 * queue empty, so that the events that came meanwhile have been applied
 * and a call that ended normally is not taken for lost: once the database
 * answers, the worker's calls are reconciled as after an ARI reconnect,
 * so a call whose leg went meanwhile ends (failed, lost) instead of
 * staying up in the database. Tried again CALLS_RECOVER_MS later while
 * the database keeps a pass from completing. */
static void calls__recover(calls_worker *w)
{
    cs_err rc = db_ping(w->db);
    if (rc == CS_OK) {
        log_info("calls: reconciling the calls of worker %d (owed since the database failed)",
                 w->index);
        rc = calls__reconcile(w);
    }
    w->reconcile_due = false;
    calls__owe_reconcile(w, rc);
    w->recover_at = cs_mono_ms() + CALLS_RECOVER_MS;
}

static void calls__run(calls_worker *w, calls_job *job)
{
    switch (job->kind) {
    case JOB_EVENT:
        calls__inbound(w, job->key, job->ev); /* the others go by calls__steps */
        break;
    case JOB_CMD: /* MakeCall, or no Asterisk; the others go by calls__steps */
        if (w->m->ari)
            calls__make(w, job->cmd);
        else
            calls__cmd_fail(job->cmd, CS_ERR_UNAVAILABLE, "Asterisk is not configured");
        break;
    case JOB_RECONCILE:
        calls__owe_reconcile(w, calls__reconcile(w)); /* again when the queue is empty */
        break;
    }
}

static void *calls__worker_main(void *arg)
{
    calls_worker *w = arg;
    calls_job *jobs[CALLS_BATCH];
    int n;
    for (;;) {
        if ((n = calls__take(w, jobs)) < 0)
            break;
        if (n == 0) {
            calls__recover(w);
            continue;
        }
        if (calls__batchable(w, jobs[0]))
            calls__steps(w, jobs, (size_t)n);
        else
            calls__run(w, jobs[0]);
        for (int i = 0; i < n; i++) {
            calls_job *job = jobs[i];
            if (job->kind == JOB_EVENT)
                ari_event_free(job->ev);
            if (job->kind == JOB_CMD) { /* the rpc thread waits for its answer */
                pthread_mutex_lock(job->done_lock);
                *job->done = true;
                pthread_cond_signal(job->done_cond);
                pthread_mutex_unlock(job->done_lock);
            }
            free(job);
        }
        log_clear_context();
    }
    return NULL;
}

cs_err calls__submit(calls_module *m, calls_cmd *cmd)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool done = false;
    calls_job *job = calloc(1, sizeof *job);
    if (!job)
        return calls__cmd_fail(cmd, CS_ERR_INTERNAL, "out of memory");
    job->kind = JOB_CMD;
    job->cmd = cmd;
    job->done_lock = &lock;
    job->done_cond = &cond;
    job->done = &done;
    snprintf(job->key, sizeof job->key, "%s", cmd->call_id);
    calls__push(calls__worker_of(m, cmd->call_id), job);
    pthread_mutex_lock(&lock);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&lock);
    return cmd->rc;
}

bool calls__has_ari(calls_module *m)
{
    return m->ari != NULL;
}

/* Events calls__apply_event ignores whatever the call's state (a Dial
 * still in progress, ARI's own soft hangup request, a channel state other
 * than Ringing or Up): dropped here rather than read under a row lock. */
static bool calls__event_changes_nothing(const ari_event *ev)
{
    switch (ev->type) {
    case ARI_EV_DIAL:
        return call_input_from_dialstatus(ev->dialstatus) < 0;
    case ARI_EV_CHANNEL_HANGUP_REQUEST:
        return ev->soft;
    case ARI_EV_CHANNEL_STATE_CHANGE:
        return ev->channel.state != ARI_CH_UP && ev->channel.state != ARI_CH_RINGING;
    default:
        return false;
    }
}

const ari_event_type calls_ari_events[] = {
    ARI_EV_STASIS_START,           ARI_EV_STASIS_END,
    ARI_EV_CHANNEL_STATE_CHANGE,   ARI_EV_CHANNEL_DESTROYED,
    ARI_EV_CHANNEL_HANGUP_REQUEST, ARI_EV_DIAL,
};
const size_t calls_ari_events_len = sizeof calls_ari_events / sizeof calls_ari_events[0];

static bool calls__wanted(ari_event_type t)
{
    for (size_t i = 0; i < calls_ari_events_len; i++)
        if (calls_ari_events[i] == t)
            return true;
    return false;
}

/* On the WebSocket thread: route, never block. */
void calls_on_ari_event(ari_event *ev, void *ud)
{
    calls_module *m = ud;
    const char *channel = calls__event_channel(ev), *suffix;
    calls_job *job = NULL;
    char key[40];
    bool inbound = false;

    if (!calls__wanted(ev->type) || !channel || calls__event_changes_nothing(ev))
        goto drop;
    if (calls__own_id(channel, key, &suffix)) {
        /* our legs' StasisStart/End say nothing new; ";2" halves nothing at all */
        if (!*suffix || suffix[strlen(suffix) - 1] == 'o' || ev->type == ARI_EV_STASIS_START ||
            ev->type == ARI_EV_STASIS_END)
            goto drop;
    } else if (!calls__route_get(m, channel, key)) {
        char id[40];
        if (ev->type != ARI_EV_STASIS_START || ev->n_args < 1 ||
            !calls_destination_valid(ev->args[0]))
            goto drop;
        {
            unsigned char b[16];
            if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
                goto drop;
            b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
            b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
            snprintf(id, sizeof id,
                     "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
        }
        memcpy(key, id, sizeof id);
        calls__route_put(m, channel, key);
        inbound = true;
    } else if (ev->type == ARI_EV_STASIS_START) {
        goto drop; /* a second StasisStart of a known inbound channel */
    }
    job = calloc(1, sizeof *job);
    if (!job)
        goto drop;
    job->kind = JOB_EVENT;
    job->ev = ev;
    job->inbound_new = inbound;
    memcpy(job->key, key, sizeof job->key);
    calls__push(calls__worker_of(m, key), job);
    return;
drop:
    ari_event_free(ev);
}

/* On the WebSocket thread, before the new connection's events: every
 * worker reconciles its own calls, ahead of those events in its queue. */
void calls_on_ari_connected(void *ud)
{
    calls_module *m = ud;
    for (int i = 0; i < m->n_workers; i++) {
        calls_job *job = calloc(1, sizeof *job);
        if (!job)
            continue;
        job->kind = JOB_RECONCILE;
        calls__push(&m->workers[i], job);
    }
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */

cs_err calls_module_new(const calls_options *o, calls_module **out)
{
    calls_module *m = calloc(1, sizeof *m);
    cs_err rc = CS_ERR_INTERNAL;
    int started = 0;
    *out = NULL;
    if (!m)
        return CS_ERR_INTERNAL;
    pthread_mutex_init(&m->route_lock, NULL);
    m->database_url = strdup(o->database_url ? o->database_url : "");
    m->app = strdup(o->ari_app ? o->ari_app : "call-service");
    m->device_tmpl = strdup(o->device_template ? o->device_template : "PJSIP/{ext}");
    m->outbound_tmpl = strdup(o->outbound_template ? o->outbound_template : "PJSIP/{number}@trunk");
    m->ring_timeout_s = o->ring_timeout_s > 0 ? o->ring_timeout_s : 30;
    m->n_workers = o->flow_workers > 0 ? o->flow_workers : 4;
    m->workers = calloc((size_t)m->n_workers, sizeof *m->workers);
    if (!m->database_url || !m->app || !m->device_tmpl || !m->outbound_tmpl || !m->workers)
        goto out;
    for (; started < m->n_workers; started++) {
        calls_worker *w = &m->workers[started];
        pthread_condattr_t ca;
        w->m = m;
        w->index = started;
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* calls__take's timed wait */
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        w->db = db_open(m->database_url);
        if (!w->db || pthread_create(&w->thread, NULL, calls__worker_main, w) != 0) {
            db_close(w->db);
            w->db = NULL;
            pthread_mutex_destroy(&w->lock);
            pthread_cond_destroy(&w->cond);
            goto out;
        }
    }
    rc = CS_OK;
out:
    if (rc != CS_OK) {
        m->n_workers = started;
        calls_module_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

void calls_module_set_cache(calls_module *m, struct lcache *cache)
{
    m->cache = cache;
}

void calls_module_set_ari(calls_module *m, ari_client *ari)
{
    m->ari = ari;
}

void calls_module_own_ari(calls_module *m)
{
    m->owns_ari = true;
}

ari_client *calls_module_ari(calls_module *m)
{
    return m->ari;
}

void calls_module_counters(calls_module *m, calls_counters *out)
{
    int64_t q = atomic_load_explicit(&m->n_queued, memory_order_relaxed);
    out->calls_lost = atomic_load_explicit(&m->n_lost, memory_order_relaxed);
    out->calls_caught_up = atomic_load_explicit(&m->n_caught, memory_order_relaxed);
    out->flow_queued = q > 0 ? (uint64_t)q : 0;
}

void calls_module_free(calls_module *m)
{
    if (!m)
        return;
    if (m->owns_ari)
        ari_client_stop(m->ari); /* no event is queued after this */
    for (int i = 0; m->workers && i < m->n_workers; i++) {
        calls_worker *w = &m->workers[i];
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        db_close(w->db);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
    }
    for (int b = 0; b < ROUTE_BUCKETS; b++)
        while (m->routes[b]) {
            calls_route *r = m->routes[b];
            m->routes[b] = r->next;
            free(r->channel);
            free(r);
        }
    pthread_mutex_destroy(&m->route_lock);
    if (m->owns_ari)
        ari_client_free(m->ari);
    free(m->workers);
    free(m->database_url);
    free(m->app);
    free(m->device_tmpl);
    free(m->outbound_tmpl);
    free(m);
}
