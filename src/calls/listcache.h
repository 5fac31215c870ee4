/*
 * lcache: callsvc's read cache of the call lists: the answers of
 * ListActiveCalls, ListCallHistory and GetCallStatistics, kept as packed
 * response messages, so that a repeated question costs no query.
 *
 * Key: the method, the requester as it affects the answer (a user who
 * sees every call, "*", or an agent's own user id) and the packed request.
 * Value: the generations the answer was read at, then the packed response.
 *
 * Coherence by generations (counters that only grow):
 *   - all:       bumped by every call event; guards the answers of users who
 *                see every call (supervisors, admins);
 *   - user[h]:   one of LCACHE_USER_SLOTS counters, h a hash of the user id,
 *                bumped for every user an event is visible to; guards an
 *                agent's answers (a collision only costs a miss);
 *   - epoch:     bumped when a change's users are not all known (a local
 *                change touching more users than recorded); guards every
 *                agent answer;
 *   - names:     bumped by every users notification (cs_users): the answers
 *                that embed users' current names (the per-user statistics of
 *                a supervisor) check it too.
 * A reader calls lcache_begin BEFORE it queries the database: the ticket
 * holds the generations of its scope; lcache_get serves an entry only if
 * it was stored at exactly those, and lcache_put stores only if they have
 * not moved since. So an answer read before a change is never served after
 * that change's bump. Bumps come from the events hub's listener (every
 * call_events row it reads: lcache_on_event, on every instance) and from
 * this instance's writers right after their commit (lcache_bump_user), so
 * a client reads its own writes at once.
 *
 * While the hub's listener connection is down, rows may be read late: the
 * cache is off (lcache_on_link(0) empties it; gets miss, puts are dropped)
 * until lcache_on_link(1). It starts off.
 *
 * Time: an entry is also served only until the expiry its writer gives
 * (lcache_put's valid_ms, e.g. lcache_calls_valid_ms: until a live
 * duration or wait ticks over to its next whole second) and never longer
 * than ttl_ms (a backstop).
 *
 * Bounds: `entries` entries (common/kvcache.h, set-associative), none
 * larger than entry_max bytes (larger answers are not stored): at most
 * entries x (entry_max + LCACHE_KEY_MAX) bytes.
 *
 * Thread-safe. Ownership: the cache keeps its own copies; lcache_get hands
 * out a fresh message (to send as is) the caller frees.
 */
#ifndef CS_CALLS_LISTCACHE_H
#define CS_CALLS_LISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "callservice/v1/calls.pb-c.h"
#include "events/filter.h"

enum {
    LCACHE_USER_SLOTS = 4096,
    LCACHE_REQ_MAX = 200,                     /* packed request bytes in a key */
    LCACHE_KEY_MAX = 48 + 2 * LCACHE_REQ_MAX, /* "m:l:<id>:<hex>" */
    LCACHE_LIVE_PERIOD_MS = 1000,             /* a period ending "now" */
};

typedef struct lcache lcache;

/* The cached methods (the key's first character). */
typedef enum lcache_method {
    LCACHE_ACTIVE = 'a',
    LCACHE_HISTORY = 'h',
    LCACHE_STATS = 's',
} lcache_method;

/* What one reader holds between lcache_begin and lcache_put. */
typedef struct lcache_ticket {
    char key[LCACHE_KEY_MAX];
    bool ok;     /* cacheable (cache on, key built) */
    int scope;   /* which generations guard it (cache.c) */
    size_t slot; /* the user's slot (agent scope) */
    uint64_t gen[2];
    uint64_t kv_gen;
    int64_t mono_ms; /* when begun: cs_mono_ms() */
    int64_t wall_us; /* and in wall-clock microseconds */
} lcache_ticket;

/* entries 0 gives NULL: a disabled cache (every function accepts NULL;
 * gets miss). entry_max: largest packed answer stored. ttl_ms: longest life. */
lcache *lcache_new(size_t entries, size_t entry_max, int64_t ttl_ms);
void lcache_free(lcache *c);

/* Starts a look-up, before any database read: builds t's key from the
 * method, the requester (sees_all, else user_id) and the request, and
 * reads the generations guarding it (names: the answer shows users' current
 * names). mono_ms / wall_us: the clocks now. t->ok false: not cacheable
 * (disabled cache, request too large, user id too long). */
void lcache_begin(lcache *c, lcache_method m, bool sees_all, const char *user_id, bool names,
                  const ProtobufCMessage *req, int64_t mono_ms, int64_t wall_us, lcache_ticket *t);

/* The cached answer for t, or NULL: a fresh message of type d that packs
 * to the stored bytes verbatim (carried as an unknown field: its known
 * fields are NOT set; it is for sending, not for reading). Free it with
 * protobuf_c_message_free_unpacked(m, NULL). now_ms: cs_mono_ms(). */
ProtobufCMessage *lcache_get(lcache *c, const lcache_ticket *t, const ProtobufCMessageDescriptor *d,
                             int64_t now_ms);

/* Stores resp for t, served at most valid_ms after t->mono_ms (and at most
 * ttl_ms); dropped if valid_ms <= 0, the answer is larger than entry_max,
 * the cache went off, or a generation of t's scope moved since begin. */
void lcache_put(lcache *c, const lcache_ticket *t, const ProtobufCMessage *resp, int64_t valid_ms);

/* How long (ms after wall_us, the moment before the query) every live
 * figure of the calls keeps its value: a call not ended shows a duration
 * (answered) or a wait (not answered) counted in whole seconds up to the
 * database's clock_timestamp(); the earliest next tick bounds the answer,
 * capped at 1000 ms (a tick is at most a second after the query). INT64_MAX
 * when no call is live; 0 when a tick is already due. */
int64_t lcache_calls_valid_ms(Callservice__V1__Call *const *calls, size_t n, int64_t wall_us);

/* Bumps after a committed change: the user's slot (and `all`); NULL or a
 * malformed id bumps every user (epoch). */
void lcache_bump_user(lcache *c, const char *user_id);
/* Bumps every scope (epoch, all, names). */
void lcache_bump_every(lcache *c);

/* The events hub's listener (events_listen, channel LCACHE_USERS_CHANNEL):
 * on_event for every call_events row read (presence rows change no call
 * list and are skipped), on_notify for every users notification, on_link
 * for the connection's state. arg is the lcache. */
#define LCACHE_USERS_CHANNEL "cs_users"
void lcache_on_event(void *arg, const events_meta *m);
void lcache_on_notify(void *arg, const char *payload);
void lcache_on_link(void *arg, int up);

#endif
