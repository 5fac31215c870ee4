/*
 * calls/state: the call's public state machine, pure (no I/O, no globals).
 *
 *     initiated -> ringing -> in_progress -> completed
 *         |           |                     \-> failed (lost, error)
 *         +-----------+-> busy | no_answer | failed | canceled
 *
 * Everything that moves a call (ARI events, RPCs, reconciliation) is turned
 * into a call_input and goes through call_state_next(), which refuses what
 * does not fit: terminal statuses are final, a call is answered once, busy and
 * no-answer only happen before an answer, and a hangup before the answer is a
 * cancel. The tables that turn ARI's Dial.dialstatus and Q.850 hangup causes
 * into inputs, and the status/direction names the database stores, live here
 * too so that they are unit-tested with it.
 *
 * Ownership: everything returned is static data.
 */
#ifndef CS_CALLS_STATE_H
#define CS_CALLS_STATE_H

#include <stdbool.h>

#include "callservice/v1/calls.pb-c.h"

typedef Callservice__V1__CallStatus call_status;
/* Short spellings of the generated enum values: CALL_ST(RINGING). */
#define CALL_ST(x)  CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_##x
#define CALL_DIR(x) CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_##x
typedef Callservice__V1__CallDirection call_direction;

typedef enum call_input {
    CALL_IN_RING,      /* a leg of the call rings */
    CALL_IN_ANSWER,    /* the far end answered: the parties are connected */
    CALL_IN_HANGUP,    /* a party hung up (before the answer: a cancel) */
    CALL_IN_BUSY,      /* the far end is busy (or rejected) */
    CALL_IN_NO_ANSWER, /* rang until the timeout */
    CALL_IN_FAIL,      /* unavailable, congestion, error, lost */
    CALL_IN_TRANSFER,  /* a blind transfer starts (only while in progress) */
    CALL_IN__COUNT
} call_input;

typedef enum call_step {
    CALL_STEP_REFUSED = 0, /* out of order: the call does not change */
    CALL_STEP_SAME,        /* accepted, nothing changes (a second ring) */
    CALL_STEP_CHANGED,     /* *to differs from the status before */
} call_step;

/* The transition function. *to is set on SAME and CHANGED (to `from` on SAME). */
call_step call_state_next(call_status from, call_input in, call_status *to);

bool call_status_terminal(call_status s);
bool call_status_valid(call_status s); /* one of the eight real statuses */

/* The hangup cause stored when `in` ends a call that was `from` and the
 * caller has nothing more precise: "normal", "canceled", "busy", ... */
const char *call_input_default_cause(call_status from, call_input in);

/* Dial.dialstatus -> input. "" (dial started) and unknown values give -1. */
int call_input_from_dialstatus(const char *dialstatus);
/* Q.850 cause of ChannelDestroyed / ChannelHangupRequest -> input. */
call_input call_input_from_q850(int cause);
/* Short cause name stored as hangup_cause: 16 "normal", 17 "busy", ... */
const char *call_q850_name(int cause);

/* Names as the database stores them ("in_progress", "outbound"); NULL for
 * values outside the enum. Parsing gives 0 (UNSPECIFIED) for unknown text. */
const char *call_status_name(call_status s);
call_status call_status_parse(const char *name);
const char *call_direction_name(call_direction d);
call_direction call_direction_parse(const char *name);
const char *call_input_name(call_input in);

#endif
