/*
 * calls/repo: the calls tables (0002_calls.sql) through libpq. Every query
 * is parameterized; statements are static text, optional filters are NULL
 * parameters ("$n IS NULL OR ..."), never SQL built from strings.
 *
 * Calls come back as the contract's Callservice__V1__Call, wrapped in a
 * call_rec that adds what only the service sees (the legs' answered flags,
 * the Asterisk instance, the pending transfer leg, the idempotency owner).
 * Timestamps, duration and wait are computed by PostgreSQL from one clock.
 *
 * Ownership: every call_rec and message handed out is allocated entirely
 * with malloc and belongs to the caller: call_rec_free() for a rec,
 * protobuf_c_message_free_unpacked(msg, NULL) for a message (so a Call can
 * be detached from its rec and returned by a handler as is). Strings passed
 * in are only read.
 */
#ifndef CS_CALLS_REPO_H
#define CS_CALLS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callservice/v1/calls.pb-c.h"
#include "calls/state.h"
#include "common/err.h"
#include "db/db.h"

typedef struct call_rec {
    Callservice__V1__Call *call; /* never NULL in a rec from the repo */
    bool caller_up, callee_up;
    char *asterisk_id;        /* never NULL, "" unknown */
    char *pending_channel_id; /* never NULL, "" none: a transfer leg being dialled */
    char *owner_id;           /* never NULL, "" none */
    bool children_loaded;     /* calls_repo_load_children filled call's transfers and notes */
    /* Set by calls_repo_insert, calls_repo_get with CALLS_FOR_UPDATE and
     * calls_repo_save, which run with the row locked (a new row, or one
     * this transaction holds FOR UPDATE): whether the call may have
     * transfers or notes (calls.has_children), exact until the transaction
     * ends as both are only added under the row lock (by another
     * transaction; this one's calls_repo_add_transfer/_note update it).
     * calls_repo_load_children and calls_repo_parties_of skip their reads
     * for a call that has neither. */
    bool children_known;
    bool has_children;
    /* Set by calls_repo_get with CALLS_FOR_UPDATE: PostgreSQL's clock
     * (µs since the epoch) when it locked the row. While the transaction
     * holds that lock, calls_repo_save knows every column the UPDATE will
     * give (version + 1, the times of this change taken from this clock)
     * and queues the UPDATE to go out with the COMMIT instead of waiting
     * for it. 0 otherwise. */
    int64_t locked_at_us;
    /* calls.hold_us: the time the call's finished holds lasted, in µs
     * (Call.hold_seconds is its whole seconds) */
    int64_t hold_us;
} call_rec;

void call_rec_free(call_rec *r);
/* Takes the Call out of r (r->call becomes NULL). */
Callservice__V1__Call *call_rec_take(call_rec *r);

/* Flags of calls_repo_get. */
enum {
    CALLS_FOR_UPDATE = 1,    /* lock the row until the transaction ends */
    CALLS_WITH_CHILDREN = 2, /* also load transfers and notes */
};

/* NOT_FOUND when there is no such call (id must be a valid uuid). */
cs_err calls_repo_get(db_conn *db, const char *id, int flags, call_rec **out)
    __attribute__((warn_unused_result));
/* The call made by owner_id with request_id. NOT_FOUND if none. */
cs_err calls_repo_find_by_request(db_conn *db, const char *owner_id, const char *request_id,
                                  call_rec **out) __attribute__((warn_unused_result));

/* A new call. id, direction and status are required; the party fields and
 * channel ids may be "" / NULL. The caller and callee users (when set) are
 * recorded as parties. EXISTS when (owner_id, request_id) is taken already,
 * or an inbound channel is already a call. */
typedef struct call_new {
    const char *id;
    call_direction direction;
    call_status status;
    const char *caller_user_id, *caller_name, *caller_extension, *caller_number;
    const char *callee_user_id, *callee_name, *callee_extension, *callee_number;
    const char *caller_channel_id, *callee_channel_id;
    const char *asterisk_id;
    const char *owner_id, *request_id;
} call_new;
cs_err calls_repo_insert(db_conn *db, const call_new *n, call_rec **out)
    __attribute__((warn_unused_result));

/* Writes r's mutable fields back (status, hangup_cause, both parties,
 * channel ids, answered flags, bridge, pending leg), version + 1; the
 * ringing/answered/ended timestamps are set by the database the first time
 * the status reaches them. r's Call is refreshed from the row (its
 * transfers and notes are kept as they were). */
cs_err calls_repo_save(db_conn *db, call_rec *r) __attribute__((warn_unused_result));

/* Records user_id as a party of the call (no-op if already one). */
cs_err calls_repo_add_party(db_conn *db, const char *call_id, const char *user_id)
    __attribute__((warn_unused_result));
/* The call's party user ids: *ids is a malloc'd array of malloc'd strings
 * (calls_repo_free_ids). */
cs_err calls_repo_parties(db_conn *db, const char *call_id, char ***ids, size_t *n)
    __attribute__((warn_unused_result));
void calls_repo_free_ids(char **ids, size_t n);
/* The same for r, from r itself when that is exact: a call without
 * transfers or notes (children_known) has as parties the users it was inserted with,
 * who are still its caller and callee (only a transfer changes those, and it
 * adds a transfer and the target as a party); otherwise from the table. */
cs_err calls_repo_parties_of(db_conn *db, const call_rec *r, char ***ids, size_t *n)
    __attribute__((warn_unused_result));
/* Whether user_id is a party of the call. */
cs_err calls_repo_is_party(db_conn *db, const char *call_id, const char *user_id, bool *yes)
    __attribute__((warn_unused_result));

/* Reloads r's transfers and notes (no query when children_known says the
 * call has none). */
cs_err calls_repo_load_children(db_conn *db, call_rec *r) __attribute__((warn_unused_result));

/* Adds a transfer to r's call (held FOR UPDATE) and keeps r's
 * has_children exact. */
cs_err calls_repo_add_transfer(db_conn *db, call_rec *r, const char *by_user_id,
                               const char *to_target, const char *to_user_id,
                               const char *channel_id) __attribute__((warn_unused_result));
/* The number of transfers of the call so far. */
cs_err calls_repo_count_transfers(db_conn *db, const char *call_id, int *n)
    __attribute__((warn_unused_result));

/* Adds a note to r's call (held FOR UPDATE) and keeps r's has_children
 * exact. *out: the new note, with the author's name. */
cs_err calls_repo_add_note(db_conn *db, call_rec *r, const char *author_id, const char *text,
                           Callservice__V1__CallNote **out) __attribute__((warn_unused_result));
/* Bumps version without other change (a note was added). */
cs_err calls_repo_touch(db_conn *db, call_rec *r) __attribute__((warn_unused_result));

/* A user as the calls see one. NOT_FOUND if none. name/ext: caller storage. */
typedef struct calls_user {
    char id[40];
    char name[128];
    char extension[16];
} calls_user;
cs_err calls_repo_user_by_extension(db_conn *db, const char *extension, calls_user *u)
    __attribute__((warn_unused_result));
/* Both in one round trip: NOT_FOUND when user_id is not a user; otherwise
 * *ext_found says whether extension is some user's (then in *ext_user). */
cs_err calls_repo_user_and_extension(db_conn *db, const char *user_id, const char *extension,
                                     calls_user *u, calls_user *ext_user, bool *ext_found)
    __attribute__((warn_unused_result));

/* History. Times are microseconds since the epoch, 0: unset. */
typedef struct calls_history_q {
    const char *user_id; /* NULL: everyone's */
    call_status status;  /* 0: any */
    call_direction direction;
    int64_t from_us, to_us;
    int page, limit;          /* page >= 1, limit 1..100 */
    int64_t after_created_us; /* cursor; 0: none (page is used) */
    const char *after_id;     /* cursor's call id */
} calls_history_q;
/* *calls: malloc'd array of *n Calls (with transfers and notes), owned by
 * the caller; *total: every call matching the filters; *more: another page
 * follows the last call returned. */
cs_err calls_repo_history(db_conn *db, const calls_history_q *q, Callservice__V1__Call ***calls,
                          size_t *n, int64_t *total, bool *more)
    __attribute__((warn_unused_result));
/* Live calls (not ended), newest first, of user_id or (NULL) of everyone. */
cs_err calls_repo_active(db_conn *db, const char *user_id, Callservice__V1__Call ***calls,
                         size_t *n) __attribute__((warn_unused_result));
void calls_repo_free_calls(Callservice__V1__Call **calls, size_t n);

/* Every live call, for reconciliation (without children). */
cs_err calls_repo_live(db_conn *db, call_rec ***recs, size_t *n)
    __attribute__((warn_unused_result));
void calls_repo_free_recs(call_rec **recs, size_t n);

/* Statistics of the calls created in [from_us, to_us), of user_id or
 * (NULL) everyone; per-user figures only when per_user. Fills st (whose
 * from/to the caller sets) with malloc'd repeated fields. */
cs_err calls_repo_statistics(db_conn *db, int64_t from_us, int64_t to_us, const char *user_id,
                             bool per_user, Callservice__V1__CallStatistics *st)
    __attribute__((warn_unused_result));

/* Helpers shared with the service. */
bool calls_is_uuid(const char *s);
/* A malloc'd Timestamp for us microseconds since the epoch. */
Google__Protobuf__Timestamp *calls_timestamp_new(int64_t us);
int64_t calls_timestamp_us(const Google__Protobuf__Timestamp *ts); /* 0 for NULL */
/* strdup that never returns NULL for a NULL input ("" instead); NULL only when out of memory. */
char *calls_strdup(const char *s);
/* The time of a change to r: its lock's clock (locked_at_us) when it has
 * one, this host's wall clock otherwise; µs since the epoch. */
int64_t calls_change_us(const call_rec *r);
/* Ends the hold in progress on r's call, if any: its time up to now_us is
 * added to r->hold_us (and the call's hold_seconds follows), held_at is
 * cleared (and freed) and neither party is on hold any more.
 * calls_repo_save does this for a call that ends. */
void calls_hold_finish(call_rec *r, int64_t now_us);

#endif
