/*
 * events hub: live fan-out of call_events to WatchEvents subscribers.
 *
 * Listener thread: its own libpq connection, LISTEN on both channels,
 * poll() on the socket and a wake-up pipe. The table is the source of
 * truth: the listener can always read every row after the last seq it
 * handled, in order, by range (events.c's advisory lock guarantees that a
 * missing seq below a visible one is gone for good, and that appends
 * commit, hence notify, in seq order). A notification usually carries its
 * whole row (internal.h), and the listener dispatches it without reading
 * only when its seq is exactly the hub's seq + 1: the next event, nothing
 * skipped. Anything else falls back to the range read: a seq further on (a
 * rolled-back append's gap, a lost notification), a notification carrying
 * only the seq (the event did not fit) or a malformed one; a seq already
 * dispatched is dropped. So a lost or coalesced notification, a reconnect
 * or another instance's writes cost nothing but a read. After a reconnect
 * it reads from where it stopped. It also re-reads once a second in case a
 * notification was missed.
 *
 * Replay thread: its own connection (db.h). A subscriber that resumes
 * (after_seq) starts in REPLAY state: the replay thread sends it the rows
 * after after_seq up to the hub's current seq, paced by the stream's queue,
 * then switches it to LIVE under the hub mutex at the moment its cursor
 * equals the hub's seq. The listener dispatches and advances the hub's seq
 * under that same mutex, so the switch leaves no gap and no duplicate (the
 * cursor drops anything already sent). The same thread builds RESYNC
 * snapshots and prunes the table.
 *
 * Lifetime: a subscriber is referenced by the hub's list and, while it
 * works on it, by the replay thread. on_close (a server thread, possibly
 * holding the stream's own lock) only flags it and queues it for the
 * listener to unlink, so the hub never takes its mutex under a stream lock.
 */
#include "events/events.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callservice/v1/calls.pb-c.h"
#include "common/clock.h"
#include "common/log.h"
#include "events/internal.h"
#include "rpc/rpc.h"

const cfg_entry events_cfg_table[] = {
    {"EVENTS_RETENTION", CFG_INT, offsetof(events_config, retention_s), "604800", 1, 315360000,
     "seconds events stay in call_events; older ones are pruned and a subscriber resuming from "
     "before them gets a RESYNC snapshot"},
    {"EVENTS_PRUNE_INTERVAL", CFG_INT, offsetof(events_config, prune_interval_s), "60", 1, 86400,
     "seconds between prunes of call_events"},
    {"EVENTS_SUBSCRIBER_QUEUE", CFG_INT, offsetof(events_config, queue_max), "1000", 4, 1000000,
     "events a subscriber may have unsent before it is cut off with RESOURCE_EXHAUSTED"},
    {"EVENTS_MAX_SUBSCRIBERS", CFG_INT, offsetof(events_config, max_subscribers), "20000", 1,
     10000000, "WatchEvents streams one instance serves at once"},
    {"EVENTS_CUTOFF_GRACE", CFG_INT, offsetof(events_config, cutoff_grace_s), "10", 1, 3600,
     "seconds a cut-off subscriber gets to read its last events and the status before its "
     "stream is dropped"},
    {"EVENTS_REPLAY_STALL", CFG_INT, offsetof(events_config, stall_s), "30", 1, 3600,
     "seconds a resuming subscriber may make no progress before it is cut off"},
};
const size_t events_cfg_table_len = sizeof events_cfg_table / sizeof events_cfg_table[0];

enum { EVENTS_PAGE = 256, EVENTS_MAX_VISIBLE = 64 };

typedef enum sub_state { SUB_REPLAY, SUB_LIVE, SUB_DONE } sub_state;

typedef struct events_sub events_sub;
struct events_sub {
    struct events_hub *hub;
    rpc_stream *stream;
    events_filter filter;
    int64_t after_seq;
    int64_t through; /* served through this seq (sent or filtered out) */
    int64_t cut_ms;  /* when it was cut off (SUB_DONE), 0 if not */
    sub_state state; /* hub->mu */
    int planned;     /* replay thread only */
    int64_t progress_ms;
    atomic_int closed;
    atomic_int refs;
    events_sub *next;       /* hub->subs, hub->mu */
    events_sub *close_next; /* hub->closing, hub->close_mu */
};

struct events_hub {
    events_config cfg;
    char *db_url;
    pthread_mutex_t mu; /* subs, n_subs, seq, sub states and cursors */
    pthread_cond_t replay_cv;
    events_sub *subs;
    /* n_subs and seq are written under mu and also read without it, by the
     * metrics (events_hub_seq, events_hub_subscribers): the listener holds mu
     * while it dispatches to every subscriber, and the metrics are answered
     * on the rpc poller, which must not wait for that. */
    _Atomic size_t n_subs;
    _Atomic int64_t seq; /* everything through seq has been dispatched */
    int replay_kick;
    size_t replay_rr; /* round-robin start among replaying subscribers */
    pthread_mutex_t close_mu;
    events_sub *closing;
    int wake[2];
    PGconn *pg;
    int linked; /* pg LISTENs on every channel: extra[] told on_link(1) */
    const events_listen *extra;
    size_t n_extra;
    pthread_t listener, replayer;
    atomic_int stop;
};

static void hub__wake(events_hub *hub)
{
    char c = 1;
    ssize_t n = write(hub->wake[1], &c, 1);
    (void)n; /* a full pipe is already a wake-up */
}

/* --- subscribers ------------------------------------------------------- */

static void sub__unref(events_sub *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    rpc_stream_unref(s->stream);
    free(s);
}

static void sub__on_close(void *arg)
{
    events_sub *s = arg;
    events_hub *hub = s->hub;

    atomic_store(&s->closed, 1);
    pthread_mutex_lock(&hub->close_mu);
    s->close_next = hub->closing;
    hub->closing = s;
    pthread_mutex_unlock(&hub->close_mu);
    hub__wake(hub);
}

/* Unlinks and drops the subscribers whose streams have closed. */
static void hub__reap(events_hub *hub)
{
    events_sub *list, *s, **pp;

    pthread_mutex_lock(&hub->close_mu);
    list = hub->closing;
    hub->closing = NULL;
    pthread_mutex_unlock(&hub->close_mu);
    while ((s = list) != NULL) {
        list = s->close_next;
        pthread_mutex_lock(&hub->mu);
        for (pp = &hub->subs; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == s) {
                *pp = s->next;
                hub->n_subs--;
                break;
            }
        }
        pthread_mutex_unlock(&hub->mu);
        sub__unref(s);
    }
}

/* Ends a subscriber that cannot keep up (hub->mu held, or the replay
 * thread's own subscriber in REPLAY state).
 *
 * Why finish and not abort: what the stream has queued is everything
 * through s->through, so the client gets exactly that, then the status, and
 * "resume from seq N" is exact: nothing lost, nothing repeated. Aborting
 * would drop queued messages and whatever gRPC has buffered, so no N the
 * server could name would be right. A client that does not read at all
 * would hold its (bounded) queue for ever: the listener aborts those after
 * EVENTS_CUTOFF_GRACE (hub__abort_stuck). */
static void sub__cut(events_sub *s, cs_err e, const char *why)
{
    char msg[160];

    s->state = SUB_DONE;
    s->cut_ms = cs_mono_ms();
    if (atomic_load(&s->closed))
        return;
    if (e == CS_ERR_RESOURCE)
        snprintf(msg, sizeof msg, "subscriber too slow, resume from seq %lld",
                 (long long)s->through);
    else
        snprintf(msg, sizeof msg, "%s, resume from seq %lld", why, (long long)s->through);
    log_warn("events: ending subscriber %s: %s", rpc_stream_request_id(s->stream), msg);
    rpc_stream_finish(s->stream, e, msg);
}

/* Cut-off subscribers that have not read their last events and status
 * within the grace period: dropped at once (hub->mu held). */
static void hub__abort_stuck(events_hub *hub)
{
    int64_t now = cs_mono_ms();
    events_sub *s;

    for (s = hub->subs; s != NULL; s = s->next) {
        if (s->state != SUB_DONE || s->cut_ms == 0 || atomic_load(&s->closed) ||
            now - s->cut_ms < (int64_t)hub->cfg.cutoff_grace_s * 1000)
            continue;
        s->cut_ms = 0;
        rpc_stream_abort(s->stream, CS_ERR_RESOURCE,
                         "subscriber too slow and not reading; resume from your last seq");
    }
}

/* Queues one event for a subscriber. 0, or -1 if its queue is full. */
static int sub__send(events_sub *s, const Callservice__V1__Event *ev)
{
    size_t queued = rpc_stream_queued(s->stream);

    if (queued >= (size_t)s->hub->cfg.queue_max)
        return -1;
    if (rpc_stream_send(s->stream, &ev->base) != 0)
        return -1;
    return 0;
}

/* A stored event to one live subscriber (hub->mu held). */
static void hub__deliver(events_sub *s, const events_rec *r)
{
    events_meta m = events_rec_meta(r);
    int64_t through = s->through;

    if (s->state != SUB_LIVE || atomic_load(&s->closed))
        return;
    if (!events_cursor_accept(&through, r->seq))
        return; /* replayed already */
    if (events_filter_match(&s->filter, &m) && sub__send(s, &r->ev) != 0) {
        sub__cut(s, CS_ERR_RESOURCE, NULL);
        return;
    }
    s->through = through;
}

cs_err events_hub_subscribe(struct events_hub *hub, struct rpc_stream *stream,
                            const events_filter *f, int64_t after_seq, char *err, size_t errlen)
{
    events_sub *s = NULL;
    cs_err rc = CS_ERR_RESOURCE;

    pthread_mutex_lock(&hub->mu);
    if (hub->n_subs >= (size_t)hub->cfg.max_subscribers) {
        snprintf(err, errlen, "too many event subscribers on this instance");
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rc = CS_ERR_INTERNAL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->hub = hub;
    s->stream = stream;
    s->filter = *f;
    s->after_seq = after_seq;
    s->progress_ms = cs_mono_ms();
    atomic_init(&s->refs, 1);
    atomic_init(&s->closed, 0);
    if (after_seq == 0) {
        /* live only: from what the hub has dispatched, no table read */
        s->through = hub->seq;
        s->state = SUB_LIVE;
    } else {
        s->state = SUB_REPLAY;
        hub->replay_kick = 1;
        pthread_cond_signal(&hub->replay_cv);
    }
    rpc_stream_ref(stream);
    rpc_stream_on_close(stream, sub__on_close, s);
    s->next = hub->subs;
    hub->subs = s;
    hub->n_subs++;
    rc = CS_OK;
out:
    pthread_mutex_unlock(&hub->mu);
    return rc;
}

int64_t events_hub_seq(events_hub *hub)
{
    return atomic_load_explicit(&hub->seq, memory_order_relaxed);
}

size_t events_hub_subscribers(events_hub *hub)
{
    return atomic_load_explicit(&hub->n_subs, memory_order_relaxed);
}

/* --- listener ------------------------------------------------------------ */

/* Tells the other modules' channels whether notifications flow. */
static void hub__link(events_hub *hub, int up)
{
    if (hub->linked == up)
        return;
    hub->linked = up;
    for (size_t i = 0; i < hub->n_extra; i++)
        if (hub->extra[i].on_link != NULL)
            hub->extra[i].on_link(hub->extra[i].arg, up);
}

static void hub__pg_close(events_hub *hub)
{
    hub__link(hub, 0);
    if (hub->pg != NULL)
        PQfinish(hub->pg);
    hub->pg = NULL;
}

static PGresult *hub__query(events_hub *hub, const char *sql, int n, const char *const *params)
{
    PGresult *res =
        n == 0 ? PQexec(hub->pg, sql) : PQexecParams(hub->pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        log_warn("events: listener query failed: %s", PQerrorMessage(hub->pg));
        PQclear(res);
        res = NULL;
        if (PQstatus(hub->pg) != CONNECTION_OK)
            hub__pg_close(hub);
    }
    return res;
}

/* LISTENs on the hub's channels and the extra ones, in one round trip. */
static PGresult *hub__listen(events_hub *hub)
{
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof sql, "LISTEN %s; LISTEN %s", EVENTS_CHANNEL,
                                  EVENTS_EPHEMERAL_CHANNEL);

    for (size_t i = 0; i < hub->n_extra && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "; LISTEN %s", hub->extra[i].channel);
    if (len >= sizeof sql) {
        log_error("events: too many channels to LISTEN on");
        return NULL;
    }
    return hub__query(hub, sql, 0, NULL);
}

/* Connects and LISTENs; on the very first connection learns the current
 * seq (the hub serves live events from there). 0 or -1. */
static int hub__connect(events_hub *hub, int first)
{
    PGresult *res = NULL;
    int rc = -1;

    hub->pg = PQconnectdb(hub->db_url);
    if (PQstatus(hub->pg) != CONNECTION_OK) {
        log_warn("events: listener cannot connect: %s", PQerrorMessage(hub->pg));
        hub__pg_close(hub);
        goto out;
    }
    res = hub__listen(hub);
    if (res == NULL)
        goto out;
    PQclear(res);
    res = NULL;
    if (first) {
        res = hub__query(hub, "SELECT coalesce(max(seq), 0) FROM call_events", 0, NULL);
        if (res == NULL)
            goto out;
        pthread_mutex_lock(&hub->mu);
        hub->seq = db_get_ll(res, 0, 0);
        pthread_mutex_unlock(&hub->mu);
    }
    log_info("events: listener connected, from seq %lld", (long long)events_hub_seq(hub));
    hub__link(hub, 1);
    rc = 0;
out:
    if (res != NULL)
        PQclear(res);
    if (rc != 0)
        hub__pg_close(hub);
    return rc;
}

/* Tells the other modules that watch stored events about r. */
static void hub__observe(events_hub *hub, const events_rec *r)
{
    events_meta m = events_rec_meta(r);

    for (size_t i = 0; i < hub->n_extra; i++)
        if (hub->extra[i].on_event != NULL)
            hub->extra[i].on_event(hub->extra[i].arg, &m);
}

/* Hands one stored event (NULL: a malformed row, skipped, never retried
 * for ever) to the modules that watch them and to the live subscribers,
 * and moves the hub's seq to it. Listener thread only. */
static void hub__dispatch(events_hub *hub, const events_rec *r, int64_t seq)
{
    events_sub *s;

    if (r != NULL)
        hub__observe(hub, r);
    pthread_mutex_lock(&hub->mu);
    if (r != NULL)
        for (s = hub->subs; s != NULL; s = s->next)
            hub__deliver(s, r);
    hub->seq = seq;
    pthread_mutex_unlock(&hub->mu);
}

/* Lets the replay thread see that the hub's seq moved. */
static void hub__kick_replay(events_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    hub->replay_kick = 1;
    pthread_cond_signal(&hub->replay_cv);
    pthread_mutex_unlock(&hub->mu);
}

/* Reads and dispatches every row after hub->seq. -1 if the connection
 * failed (it is closed; the caller reconnects). */
static int hub__catch_up(events_hub *hub)
{
    static const char sql[] = "SELECT " EVENTS_ROW_COLUMNS " FROM call_events"
                              " WHERE seq > $1 ORDER BY seq LIMIT 256";
    char from[24];
    const char *params[1] = {from};
    PGresult *res;
    int n, i, dispatched = 0;

    for (;;) {
        snprintf(from, sizeof from, "%lld", (long long)events_hub_seq(hub));
        res = hub__query(hub, sql, 1, params);
        if (res == NULL)
            return -1;
        n = PQntuples(res);
        for (i = 0; i < n; i++) {
            events_rec *r = events_rec_from_row(res, i);
            hub__dispatch(hub, r, db_get_ll(res, i, 0));
            events_rec_free(r);
            dispatched++;
        }
        PQclear(res);
        if (n < EVENTS_PAGE)
            break;
    }
    if (dispatched > 0)
        hub__kick_replay(hub);
    return 0;
}

/* A stored event's notification: dispatched at once if it carries the
 * event right after the hub's seq; *need set if the table must be read;
 * *dispatched set if the hub's seq moved. */
static void hub__stored(events_hub *hub, const char *payload, int *need, int *dispatched)
{
    int64_t seq, cur = events_hub_seq(hub); /* only this thread moves it */
    events_rec *r = events_rec_from_notify(payload, &seq);

    if (seq == 0) {
        log_warn("events: malformed notification, reading the table instead");
        *need = 1;
    } else if (seq <= cur) {
        /* dispatched already (read by range before its notification came) */
    } else if (r != NULL && seq == cur + 1) {
        hub__dispatch(hub, r, seq);
        *dispatched = 1;
    } else {
        *need = 1; /* a gap before it, or only its seq */
    }
    events_rec_free(r);
}

/* An ephemeral event from the other channel: to live subscribers only. */
static void hub__ephemeral(events_hub *hub, char *payload)
{
    const char *vis[EVENTS_MAX_VISIBLE];
    size_t n_vis = 0;
    Callservice__V1__Event *ev = events_ephemeral_decode(payload, vis, EVENTS_MAX_VISIBLE, &n_vis);
    events_meta m;
    events_sub *s;

    if (ev == NULL) {
        log_warn("events: malformed ephemeral notification ignored");
        return;
    }
    m.type = ev->type;
    m.call_id = ev->call_id;
    m.visible_to = vis;
    m.n_visible = n_vis;
    pthread_mutex_lock(&hub->mu);
    for (s = hub->subs; s != NULL; s = s->next) {
        if (s->state != SUB_LIVE || atomic_load(&s->closed) || !events_filter_match(&s->filter, &m))
            continue;
        if (sub__send(s, ev) != 0)
            sub__cut(s, CS_ERR_RESOURCE, NULL);
    }
    pthread_mutex_unlock(&hub->mu);
    protobuf_c_message_free_unpacked(&ev->base, NULL);
}

/* One notification: ours, or an extra channel's. */
static void hub__notified(events_hub *hub, PGnotify *nt, int *need, int *dispatched)
{
    if (strcmp(nt->relname, EVENTS_CHANNEL) == 0) {
        hub__stored(hub, nt->extra, need, dispatched);
        return;
    }
    if (strcmp(nt->relname, EVENTS_EPHEMERAL_CHANNEL) == 0) {
        hub__ephemeral(hub, nt->extra);
        return;
    }
    for (size_t i = 0; i < hub->n_extra; i++)
        if (strcmp(nt->relname, hub->extra[i].channel) == 0 && hub->extra[i].on_notify != NULL)
            hub->extra[i].on_notify(hub->extra[i].arg, nt->extra);
}

static void *hub__listener_main(void *arg)
{
    events_hub *hub = arg;
    int backoff_ms = 100;
    int64_t next_poll = 0;

    while (!atomic_load(&hub->stop)) {
        struct pollfd pfd[2];
        PGnotify *nt;
        int need = 0, dispatched = 0, rc;
        char drain[64];

        hub__reap(hub);
        if (hub->pg == NULL) {
            if (hub__connect(hub, 0) != 0) {
                pfd[0].fd = hub->wake[0];
                pfd[0].events = POLLIN;
                (void)poll(pfd, 1, backoff_ms);
                while (read(hub->wake[0], drain, sizeof drain) > 0)
                    ;
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                continue;
            }
            backoff_ms = 100;
            need = 1; /* whatever was committed while we were away */
        }
        if (!need) {
            pfd[0].fd = PQsocket(hub->pg);
            pfd[0].events = POLLIN;
            pfd[1].fd = hub->wake[0];
            pfd[1].events = POLLIN;
            rc = poll(pfd, 2, 1000);
            if (rc < 0 && errno != EINTR)
                log_warn("events: poll: %s", strerror(errno));
            if (pfd[1].revents & POLLIN)
                while (read(hub->wake[0], drain, sizeof drain) > 0)
                    ;
            if (rc > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP))) {
                if (!PQconsumeInput(hub->pg)) {
                    log_warn("events: listener connection lost: %s", PQerrorMessage(hub->pg));
                    hub__pg_close(hub);
                    continue;
                }
            }
            while ((nt = PQnotifies(hub->pg)) != NULL) {
                hub__notified(hub, nt, &need, &dispatched);
                PQfreemem(nt);
            }
            if (dispatched)
                hub__kick_replay(hub);
            if (cs_mono_ms() >= next_poll)
                need = 1;
        }
        if (need) {
            next_poll = cs_mono_ms() + 1000;
            pthread_mutex_lock(&hub->mu);
            hub__abort_stuck(hub);
            pthread_mutex_unlock(&hub->mu);
            if (hub__catch_up(hub) != 0)
                continue;
        }
    }
    hub__pg_close(hub);
    return NULL;
}

/* --- replay ------------------------------------------------------------ */

static const db_stmt hub__page_stmt = {
    "events_replay_page",
    "SELECT " EVENTS_ROW_COLUMNS " FROM call_events"
    " WHERE seq > $1 AND seq <= $2"
    " AND ($3::uuid IS NULL OR visible_to @> ARRAY[$3::uuid])"
    " AND ($4::uuid IS NULL OR call_id = $4::uuid)"
    " AND ($5::smallint[] IS NULL OR type = ANY($5::smallint[]))"
    " ORDER BY seq LIMIT 256",
    5,
};

/* The latest Call state of every call not ended, as of seq $1. Prune keeps
 * exactly these rows, so they survive the retention. */
#define EVENTS_LIVE_ROW_SQL                                                                        \
    "e.payload_kind = 10 AND e.type <> 4 AND NOT EXISTS (SELECT 1 FROM call_events x"              \
    " WHERE x.call_id = e.call_id AND x.payload_kind = 10 AND x.seq > e.seq AND x.seq <= $1)"

static const db_stmt hub__snapshot_stmt = {
    "events_snapshot",
    "SELECT e.payload FROM call_events e WHERE e.seq <= $1 AND " EVENTS_LIVE_ROW_SQL
    " AND ($2::uuid IS NULL OR e.visible_to @> ARRAY[$2::uuid])"
    " AND ($3::uuid IS NULL OR e.call_id = $3::uuid)"
    " ORDER BY e.seq",
    3,
};

static const db_stmt hub__horizon_stmt = {
    "events_horizon",
    "SELECT pruned_through, (SELECT coalesce(max(seq), 0) FROM call_events)"
    " FROM call_events_horizon",
    0,
};

/* Deletes rows older than the retention except the live calls' latest
 * state, and moves the horizon. $1 (the cut) stands in for the snapshot's
 * seq in EVENTS_LIVE_ROW_SQL: rows after the cut count as newer state. */
static const db_stmt hub__prune_stmt = {
    "events_prune",
    "WITH del AS (DELETE FROM call_events e WHERE e.seq <= $1 AND NOT (" EVENTS_LIVE_ROW_SQL
    ")) UPDATE call_events_horizon SET pruned_through = greatest(pruned_through, $1)",
    1,
};

static const db_stmt hub__cut_stmt = {
    "events_prune_cut",
    "SELECT seq FROM call_events WHERE created_at < clock_timestamp() - make_interval(secs => $1)"
    " ORDER BY created_at DESC LIMIT 1",
    1,
};

static void hub__prune(events_hub *hub, db_conn *db)
{
    char secs[16], cut[24];
    const char *p1[1] = {secs}, *p2[1] = {cut};
    PGresult *res = NULL;

    snprintf(secs, sizeof secs, "%d", hub->cfg.retention_s);
    if (db_exec_stmt(db, DB_RETRY, &hub__cut_stmt, p1, &res) != CS_OK)
        goto out;
    if (PQntuples(res) == 0)
        goto out;
    snprintf(cut, sizeof cut, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    res = NULL;
    /* With the cut as EVENTS_LIVE_ROW_SQL's $1, a live-looking row whose
     * call has newer state after the cut is kept one prune longer than
     * needed; harmless. */
    if (db_exec_stmt(db, 0, &hub__prune_stmt, p2, NULL) != CS_OK)
        goto out;
    log_debug("events: pruned through seq %s", cut);
out:
    if (res != NULL)
        PQclear(res);
}

static void hub__uuid_param(const char *v, char *buf, const char **param)
{
    if (v[0] == '\0') {
        *param = NULL;
    } else {
        memcpy(buf, v, EVENTS_UUID_LEN + 1);
        *param = buf;
    }
}

/* "{1,2,...}" of the filter's types, or NULL for every type. */
static const char *hub__types_param(const events_filter *f, char *buf, size_t len)
{
    size_t pos = 0;
    int t;

    if (f->types == 0)
        return NULL;
    buf[pos++] = '{';
    for (t = 1; t < 32 && pos + 4 < len; t++)
        if (f->types & (1u << t))
            pos += (size_t)snprintf(buf + pos, len - pos, "%s%d", pos > 1 ? "," : "", t);
    buf[pos++] = '}';
    buf[pos] = '\0';
    return buf;
}

/* The RESYNC marker with the snapshot of live calls as of seq `as_of`. */
static cs_err hub__send_resync(events_hub *hub, db_conn *db, events_sub *s, int64_t as_of)
{
    char seqb[24], ub[EVENTS_UUID_LEN + 1], cb[EVENTS_UUID_LEN + 1];
    const char *params[3] = {seqb, NULL, NULL};
    Callservice__V1__Event ev = CALLSERVICE__V1__EVENT__INIT;
    Callservice__V1__Snapshot snap = CALLSERVICE__V1__SNAPSHOT__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    struct timespec now;
    PGresult *res = NULL;
    Callservice__V1__Call **calls = NULL;
    size_t n = 0, i;
    int rows;
    cs_err rc;

    snprintf(seqb, sizeof seqb, "%lld", (long long)as_of);
    if (!s->filter.sees_all)
        hub__uuid_param(s->filter.user_id, ub, &params[1]);
    hub__uuid_param(s->filter.call_id, cb, &params[2]);
    rc = db_exec_stmt(db, DB_RETRY, &hub__snapshot_stmt, params, &res);
    if (rc != CS_OK)
        goto out;
    rows = PQntuples(res);
    calls = calloc((size_t)rows + 1, sizeof *calls);
    if (calls == NULL) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    for (i = 0; i < (size_t)rows; i++) {
        const char *hex = db_get_str(res, (int)i, 0);
        size_t hl = strlen(hex);
        uint8_t *b = malloc(hl / 2 + 1);
        Callservice__V1__Call *c = NULL;
        if (b != NULL && hl >= 2 && events_hex_decode(hex + 2, hl - 2, b) == 0)
            c = callservice__v1__call__unpack(NULL, (hl - 2) / 2, b);
        free(b);
        if (c == NULL)
            continue;
        /* belt and braces: a terminal status is not live whatever the type */
        if (c->status >= CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED) {
            protobuf_c_message_free_unpacked(&c->base, NULL);
            continue;
        }
        calls[n++] = c;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    ts.seconds = now.tv_sec;
    ts.nanos = (int32_t)now.tv_nsec;
    snap.n_calls = n;
    snap.calls = calls;
    ev.seq = as_of;
    ev.type = CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_RESYNC;
    ev.time = &ts;
    ev.stored = 0;
    ev.payload_case = CALLSERVICE__V1__EVENT__PAYLOAD_SNAPSHOT;
    ev.snapshot = &snap;
    if (rpc_stream_send(s->stream, &ev.base) != 0)
        rc = CS_ERR_RESOURCE;
out:
    for (i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&calls[i]->base, NULL);
    free(calls);
    if (res != NULL)
        PQclear(res);
    return rc;
}

/* Decides where a resuming subscriber starts; sends RESYNC if needed. */
static cs_err hub__plan(events_hub *hub, db_conn *db, events_sub *s)
{
    PGresult *res = NULL;
    int64_t horizon, max_seq, hub_seq;
    events_resume_plan p;
    cs_err rc;

    rc = db_exec_stmt(db, DB_RETRY, &hub__horizon_stmt, NULL, &res);
    if (rc != CS_OK)
        goto out;
    horizon = db_get_ll(res, 0, 0);
    max_seq = db_get_ll(res, 0, 1);
    hub_seq = events_hub_seq(hub);
    if (s->after_seq > max_seq && s->after_seq > hub_seq) {
        char msg[128];
        snprintf(msg, sizeof msg, "after_seq %lld is beyond the last event (%lld)",
                 (long long)s->after_seq, (long long)(max_seq > hub_seq ? max_seq : hub_seq));
        pthread_mutex_lock(&hub->mu);
        s->state = SUB_DONE;
        pthread_mutex_unlock(&hub->mu);
        rpc_stream_finish(s->stream, CS_ERR_INVALID, msg);
        rc = CS_ERR_INVALID;
        goto out;
    }
    p = events_resume_decide(s->after_seq, horizon, hub_seq);
    if (p.mode == EVENTS_RESUME_RESYNC) {
        rc = hub__send_resync(hub, db, s, p.start);
        if (rc != CS_OK)
            goto out;
    }
    s->through = p.start;
    s->planned = 1;
out:
    if (res != NULL)
        PQclear(res);
    return rc;
}

typedef enum step_result { STEP_DONE, STEP_MORE, STEP_BLOCKED, STEP_FAILED } step_result;

/* One round of replay for one subscriber (a reference held). */
static step_result hub__replay_step(events_hub *hub, db_conn *db, events_sub *s)
{
    char from[24], to[24], ub[EVENTS_UUID_LEN + 1], cb[EVENTS_UUID_LEN + 1], types[200];
    const char *params[5] = {from, to, NULL, NULL, NULL};
    PGresult *res = NULL;
    int64_t target;
    int n, i, pages;
    step_result out = STEP_MORE;

    if (atomic_load(&s->closed))
        return STEP_DONE;
    if (!s->planned) {
        cs_err rc = hub__plan(hub, db, s);
        if (rc == CS_ERR_INVALID)
            return STEP_DONE;
        if (rc == CS_ERR_RESOURCE)
            return STEP_BLOCKED;
        if (rc != CS_OK)
            return STEP_FAILED;
        s->progress_ms = cs_mono_ms();
    }
    if (!s->filter.sees_all)
        hub__uuid_param(s->filter.user_id, ub, &params[2]);
    hub__uuid_param(s->filter.call_id, cb, &params[3]);
    params[4] = hub__types_param(&s->filter, types, sizeof types);
    for (pages = 0; pages < 4; pages++) {
        if (rpc_stream_queued(s->stream) > (size_t)hub->cfg.queue_max / 2)
            return STEP_BLOCKED;
        pthread_mutex_lock(&hub->mu);
        target = hub->seq;
        if (s->through >= target) {
            /* caught up: from here the listener delivers, under this lock */
            if (s->state == SUB_REPLAY)
                s->state = SUB_LIVE;
            pthread_mutex_unlock(&hub->mu);
            return STEP_DONE;
        }
        pthread_mutex_unlock(&hub->mu);
        snprintf(from, sizeof from, "%lld", (long long)s->through);
        snprintf(to, sizeof to, "%lld", (long long)target);
        if (db_exec_stmt(db, DB_RETRY, &hub__page_stmt, params, &res) != CS_OK)
            return STEP_FAILED;
        n = PQntuples(res);
        for (i = 0; i < n; i++) {
            events_rec *r = events_rec_from_row(res, i);
            int64_t seq = db_get_ll(res, i, 0);
            if (r != NULL) {
                int sent = sub__send(s, &r->ev);
                events_rec_free(r);
                if (sent != 0) {
                    out = STEP_BLOCKED;
                    break;
                }
            }
            s->through = seq;
            s->progress_ms = cs_mono_ms();
        }
        PQclear(res);
        res = NULL;
        if (out == STEP_BLOCKED)
            break;
        if (n < EVENTS_PAGE) {
            s->through = target;
            s->progress_ms = cs_mono_ms();
        }
    }
    return out;
}

static void *hub__replayer_main(void *arg)
{
    events_hub *hub = arg;
    db_conn *db = db_open(hub->db_url);
    int64_t next_prune = cs_mono_ms() + 1000;

    while (!atomic_load(&hub->stop)) {
        events_sub *work[64];
        size_t n = 0, i;
        int busy = 0, failed = 0;
        events_sub *s;

        if (cs_mono_ms() >= next_prune) {
            hub__prune(hub, db);
            next_prune = cs_mono_ms() + (int64_t)hub->cfg.prune_interval_s * 1000;
        }
        pthread_mutex_lock(&hub->mu);
        hub->replay_kick = 0;
        /* At most a batch per round, starting further along each round, so
         * that blocked subscribers at the head of the list cannot starve
         * the others. */
        {
            size_t k = 0, skip;
            for (s = hub->subs; s != NULL; s = s->next)
                k += s->state == SUB_REPLAY && !atomic_load(&s->closed);
            skip = k > sizeof work / sizeof work[0] ? hub->replay_rr++ % k : 0;
            for (i = 0; i < 2 && n < sizeof work / sizeof work[0]; i++) {
                size_t idx = 0;
                for (s = hub->subs; s != NULL && n < sizeof work / sizeof work[0]; s = s->next) {
                    if (s->state != SUB_REPLAY || atomic_load(&s->closed))
                        continue;
                    /* first pass from `skip` to the end, second from 0 to `skip` */
                    if ((i == 0 && idx >= skip) || (i == 1 && idx < skip)) {
                        atomic_fetch_add(&s->refs, 1);
                        work[n++] = s;
                    }
                    idx++;
                }
            }
        }
        pthread_mutex_unlock(&hub->mu);

        for (i = 0; i < n; i++) {
            step_result r = hub__replay_step(hub, db, work[i]);
            if (r == STEP_MORE)
                busy = 1;
            if (r == STEP_FAILED)
                failed = 1;
            if ((r == STEP_BLOCKED || r == STEP_FAILED) &&
                cs_mono_ms() - work[i]->progress_ms > (int64_t)hub->cfg.stall_s * 1000) {
                pthread_mutex_lock(&hub->mu);
                if (work[i]->state == SUB_REPLAY)
                    sub__cut(work[i], r == STEP_FAILED ? CS_ERR_UNAVAILABLE : CS_ERR_RESOURCE,
                             "database unavailable");
                pthread_mutex_unlock(&hub->mu);
            }
            sub__unref(work[i]);
        }
        if (busy)
            continue;
        pthread_mutex_lock(&hub->mu);
        if (!hub->replay_kick && !atomic_load(&hub->stop)) {
            /* blocked or failing subscribers are retried soon; otherwise
             * sleep until kicked or the next prune */
            int64_t wait_ms = n > 0 ? (failed ? 200 : 5) : 1000;
            struct timespec dl = cs_deadline_in(CLOCK_REALTIME, wait_ms);
            pthread_cond_timedwait(&hub->replay_cv, &hub->mu, &dl);
        }
        pthread_mutex_unlock(&hub->mu);
    }
    db_close(db);
    return NULL;
}

/* --- start / stop ------------------------------------------------------ */

events_hub *events_hub_start(const char *db_url, const events_config *cfg,
                             const events_listen *extra, size_t n_extra)
{
    events_hub *hub = calloc(1, sizeof *hub);
    int started = 0;

    if (hub == NULL)
        return NULL;
    hub->cfg = *cfg;
    hub->extra = extra;
    hub->n_extra = n_extra;
    hub->db_url = strdup(db_url);
    hub->wake[0] = hub->wake[1] = -1;
    pthread_mutex_init(&hub->mu, NULL);
    pthread_mutex_init(&hub->close_mu, NULL);
    pthread_cond_init(&hub->replay_cv, NULL);
    atomic_init(&hub->stop, 0);
    if (hub->db_url == NULL || pipe(hub->wake) != 0)
        goto fail;
    fcntl(hub->wake[0], F_SETFL, O_NONBLOCK);
    fcntl(hub->wake[1], F_SETFL, O_NONBLOCK);
    if (hub__connect(hub, 1) != 0)
        goto fail;
    if (pthread_create(&hub->listener, NULL, hub__listener_main, hub) != 0)
        goto fail;
    started = 1;
    if (pthread_create(&hub->replayer, NULL, hub__replayer_main, hub) != 0)
        goto fail;
    return hub;
fail:
    log_error("events: hub failed to start");
    if (started) {
        atomic_store(&hub->stop, 1);
        hub__wake(hub);
        pthread_join(hub->listener, NULL);
    }
    hub__pg_close(hub);
    if (hub->wake[0] >= 0) {
        close(hub->wake[0]);
        close(hub->wake[1]);
    }
    pthread_mutex_destroy(&hub->mu);
    pthread_mutex_destroy(&hub->close_mu);
    pthread_cond_destroy(&hub->replay_cv);
    free(hub->db_url);
    free(hub);
    return NULL;
}

void events_hub_stop(events_hub *hub)
{
    events_sub *s;

    if (hub == NULL)
        return;
    atomic_store(&hub->stop, 1);
    hub__wake(hub);
    pthread_mutex_lock(&hub->mu);
    pthread_cond_signal(&hub->replay_cv);
    pthread_mutex_unlock(&hub->mu);
    pthread_join(hub->listener, NULL);
    pthread_join(hub->replayer, NULL);
    hub__reap(hub);
    /* Streams still open mean the rpc server was not stopped first (see
     * events.h): end them so that clients are not left hanging. */
    while ((s = hub->subs) != NULL) {
        hub->subs = s->next;
        if (!atomic_load(&s->closed))
            rpc_stream_abort(s->stream, CS_ERR_UNAVAILABLE, "server shutting down");
        sub__unref(s);
    }
    close(hub->wake[0]);
    close(hub->wake[1]);
    pthread_mutex_destroy(&hub->mu);
    pthread_mutex_destroy(&hub->close_mu);
    pthread_cond_destroy(&hub->replay_cv);
    free(hub->db_url);
    free(hub);
}
