/*
 * events filter: who may see which event, and where a resuming subscriber
 * starts. Pure functions (no I/O, no locks), unit-tested on their own.
 *
 * Visibility: supervisors and admins see every event; agents see an event
 * only if they are in its visible_to list (the call's participants, or the
 * user whose presence changed). On top of that a subscriber may ask for one
 * call and some event types. RESYNC is a control marker: it passes every
 * request filter (its snapshot is filtered instead).
 *
 * Ownership: nothing is allocated; strings are borrowed for the call.
 */
#ifndef CS_EVENTS_FILTER_H
#define CS_EVENTS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callservice/v1/events.pb-c.h"
#include "common/err.h"

enum { EVENTS_UUID_LEN = 36 };

typedef struct events_filter {
    bool sees_all;                     /* supervisor or admin */
    char user_id[EVENTS_UUID_LEN + 1]; /* the subscriber */
    char call_id[EVENTS_UUID_LEN + 1]; /* "" for every call */
    uint32_t types;                    /* bit per EventType; 0: every type */
} events_filter;

/* What the filter needs to know about one event. visible_to entries are
 * canonical (lower-case) uuids. */
typedef struct events_meta {
    Callservice__V1__EventType type;
    const char *call_id; /* "" or NULL for none */
    const char *const *visible_to;
    size_t n_visible;
} events_meta;

/* Fills f from the request and the caller's identity. Returns CS_OK or
 * CS_ERR_INVALID with a message in err (call_id not a uuid, a type out of
 * range or not subscribable). */
cs_err events_filter_init(events_filter *f, bool sees_all, const char *user_id,
                          const Callservice__V1__WatchEventsRequest *req, char *err, size_t errlen);

bool events_filter_match(const events_filter *f, const events_meta *m);

/* True for the event types kept in the event log (call_events): every
 * type but TYPING and RESYNC (sql/migrations/0003, 0006 check the same). */
bool events_type_stored(int t);

/* True when s is a uuid in its canonical 8-4-4-4-12 hex form (either case). */
bool events_is_uuid(const char *s);
/* Copies a uuid lower-cased into out (EVENTS_UUID_LEN + 1 bytes). */
void events_uuid_lower(char out[EVENTS_UUID_LEN + 1], const char *s);

/* Splits PostgreSQL's text form of a uuid[] ("{a,b}") in place into at most
 * max pointers into buf. Returns the count, or -1 if malformed or too many. */
int events_parse_uuid_array(char *buf, const char **out, size_t max);

/*
 * Resume. A subscriber asks for events after after_seq (0: live only). The
 * hub has delivered everything through hub_seq; rows through horizon may
 * have been pruned. The plan says where the stream starts:
 *   - LIVE:   nothing to replay; live events after start.
 *   - REPLAY: rows in (start, hub_seq] from the table, then live.
 *   - RESYNC: a snapshot as of hub_seq first (the rows the subscriber asked
 *             for are gone), then live after hub_seq.
 */
typedef enum events_resume_mode {
    EVENTS_RESUME_LIVE,
    EVENTS_RESUME_REPLAY,
    EVENTS_RESUME_RESYNC
} events_resume_mode;

typedef struct events_resume_plan {
    events_resume_mode mode;
    int64_t start; /* the subscriber has seen everything through start */
} events_resume_plan;

events_resume_plan events_resume_decide(int64_t after_seq, int64_t horizon, int64_t hub_seq);

/*
 * The no-gap, no-duplicate rule between replay and live: a subscriber has
 * been served through *through (delivered, or skipped by its filter); a
 * stored event is sent only if its seq is beyond that, and moves it on.
 * Ephemeral events (seq 0) always pass and move nothing.
 */
bool events_cursor_accept(int64_t *through, int64_t seq);

#endif
