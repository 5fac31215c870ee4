/*
 * events: the event log (call_events) and its live delivery.
 *
 * Producers (calls, users) call events_append() inside their own open
 * transaction, right after the state change it describes: the row and the
 * state change commit or roll back together. The row's seq (bigserial) is
 * the order every subscriber sees; pg_notify('cs_events', ...) carrying the
 * row (or its seq alone when the row is too large for a notification) is
 * delivered by PostgreSQL at commit to every callsvc instance's hub, which
 * dispatches a carried row that comes right after the last one it handled
 * and otherwise reads the new rows by range (the table stays the source of
 * truth), and fans them out to WatchEvents subscribers.
 *
 * Ownership: events_append copies nothing it keeps; the caller keeps
 * call_id, user_id, visible_to and payload.
 */
#ifndef CS_EVENTS_H
#define CS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "callservice/v1/events.pb-c.h"
#include "common/err.h"
#include "db/db.h"
#include "events/filter.h"

/* Appends one event inside the caller's open transaction on db.
 *   type:       EVENT_TYPE_CALL_* / CALL_NOTE_ADDED / USER_STATUS_CHANGED.
 *   call_id:    the call's uuid, or NULL (presence events).
 *   user_id:    the user the event is about or by (presence: that user;
 *               a note: its author; a call change: who caused it), or NULL.
 *   visible_to: the users who may see it besides supervisors and admins
 *               (a call's participants; for presence, the user), n_visible
 *               uuids; may be NULL when n_visible is 0.
 *   payload:    the Call, User or CallNote message as it is AFTER the change
 *               (packed into the row; for CALL_NOTE_ADDED either the CallNote
 *               or the whole Call with its notes).
 *   seq_out:    the new row's sequence, or NULL: then the append waits
 *               for the transaction's COMMIT (db_exec_stmt_at_commit) and
 *               goes out in its round trip; a database failure of the
 *               append is then reported by db_commit.
 * Returns CS_OK, CS_ERR_INVALID for a bad argument (not a uuid, unknown
 * type), CS_ERR_UNAVAILABLE / CS_ERR_INTERNAL for a database failure (the
 * caller must roll back). */
cs_err events_append(db_conn *db, Callservice__V1__EventType type, const char *call_id,
                     const char *user_id, const char *const *visible_to, size_t n_visible,
                     const ProtobufCMessage *payload, int64_t *seq_out)
    __attribute__((warn_unused_result));

/*
 * The hub: one per callsvc process. A listener thread with its own
 * PostgreSQL connection LISTENs on the events channels, takes new rows from
 * their notifications or reads them by range, and fans them out to the
 * WatchEvents subscribers; a replay thread
 * with another connection serves resuming subscribers from the table,
 * builds RESYNC snapshots and prunes rows older than the retention.
 * Threads meet at the hub's mutex; subscribers are rpc_streams (rpc.h).
 */
#include "common/config.h"

typedef struct events_config {
    int retention_s;      /* EVENTS_RETENTION: rows older than this are pruned */
    int prune_interval_s; /* EVENTS_PRUNE_INTERVAL */
    int queue_max;        /* EVENTS_SUBSCRIBER_QUEUE: unsent events before a cut-off */
    int max_subscribers;  /* EVENTS_MAX_SUBSCRIBERS per instance */
    int stall_s;          /* EVENTS_REPLAY_STALL: a replay with no progress this long ends */
    int cutoff_grace_s;   /* EVENTS_CUTOFF_GRACE: a cut-off stream not reading is dropped */
} events_config;

/* The config rows (load them with cfg_load into an events_config). */
extern const cfg_entry events_cfg_table[];
extern const size_t events_cfg_table_len;

typedef struct events_hub events_hub;

/* Another module's NOTIFY channel on the hub's listener connection (the
 * process's one LISTEN connection). Both callbacks run on the listener
 * thread (on_link(1) the first time on the caller of events_hub_start):
 * on_notify for each notification on channel, with its payload;
 * on_link(arg, 1) once the connection listens (every notification from
 * then on is delivered), on_link(arg, 0) when it is lost (notifications
 * may be missed until the next on_link(1)). channel must be a plain
 * identifier; the strings and arg must outlive the hub. */
typedef struct events_listen {
    const char *channel;
    void (*on_notify)(void *arg, const char *payload);
    void (*on_link)(void *arg, int up);
    void *arg;
    /* Optional (NULL: none): every stored event the listener reads or is
     * notified of, in seq order, on every instance (its own appends included), before it is
     * fanned out; m points into the row and lives only for the call. */
    void (*on_event)(void *arg, const events_meta *m);
} events_listen;

/* Connects the listener once (so that the hub knows the current seq before
 * serving) and starts the threads. NULL on failure (logged). The hub keeps
 * copies of db_url and cfg, and borrows extra (n_extra channels, may be
 * NULL when 0) for its whole life. */
events_hub *events_hub_start(const char *db_url, const events_config *cfg,
                             const events_listen *extra, size_t n_extra);
/* Stops the threads and frees the hub. Call it after the rpc server has
 * stopped (rpc_server_wait_and_free): every stream's on_close has run. */
void events_hub_stop(events_hub *hub);
/* The last seq the hub has read (for tests, logs and metrics), and the
 * WatchEvents streams open now (metrics). Lock-free: they never wait for
 * the hub's dispatch. */
int64_t events_hub_seq(events_hub *hub);
size_t events_hub_subscribers(events_hub *hub);

#endif
