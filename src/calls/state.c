/*
 * calls/state: the transition table and the ARI -> input tables.
 *
 * The table is indexed [status][input]; a zero entry (UNSPECIFIED) means
 * refused. Terminal rows are all zero, which is what makes them final.
 */
#include "calls/state.h"

#include <stddef.h>
#include <string.h>

#define S(x)     CALL_ST(x)
#define N_STATUS 9

static const call_status call__next[N_STATUS][CALL_IN__COUNT] = {
    [S(INITIATED)] =
        {
            [CALL_IN_RING] = S(RINGING),
            [CALL_IN_ANSWER] = S(IN_PROGRESS),
            [CALL_IN_HANGUP] = S(CANCELED),
            [CALL_IN_BUSY] = S(BUSY),
            [CALL_IN_NO_ANSWER] = S(NO_ANSWER),
            [CALL_IN_FAIL] = S(FAILED),
        },
    [S(RINGING)] =
        {
            [CALL_IN_RING] = S(RINGING),
            [CALL_IN_ANSWER] = S(IN_PROGRESS),
            [CALL_IN_HANGUP] = S(CANCELED),
            [CALL_IN_BUSY] = S(BUSY),
            [CALL_IN_NO_ANSWER] = S(NO_ANSWER),
            [CALL_IN_FAIL] = S(FAILED),
        },
    [S(IN_PROGRESS)] =
        {
            [CALL_IN_HANGUP] = S(COMPLETED),
            [CALL_IN_FAIL] = S(FAILED),
            [CALL_IN_TRANSFER] = S(IN_PROGRESS),
        },
};

call_step call_state_next(call_status from, call_input in, call_status *to)
{
    call_status next;
    if ((int)from < 0 || (int)from >= N_STATUS || (int)in < 0 || in >= CALL_IN__COUNT)
        return CALL_STEP_REFUSED;
    next = call__next[from][in];
    if (next == S(UNSPECIFIED))
        return CALL_STEP_REFUSED;
    *to = next;
    return next == from ? CALL_STEP_SAME : CALL_STEP_CHANGED;
}

bool call_status_terminal(call_status s)
{
    return s == S(COMPLETED) || s == S(BUSY) || s == S(NO_ANSWER) || s == S(FAILED) ||
           s == S(CANCELED);
}

bool call_status_valid(call_status s)
{
    return (int)s > 0 && (int)s < N_STATUS;
}

const char *call_input_default_cause(call_status from, call_input in)
{
    static const char *const causes[CALL_IN__COUNT] = {
        [CALL_IN_HANGUP] = "normal",
        [CALL_IN_BUSY] = "busy",
        [CALL_IN_NO_ANSWER] = "no_answer",
        [CALL_IN_FAIL] = "failed",
    };
    if ((int)in < 0 || in >= CALL_IN__COUNT)
        return "";
    if (in == CALL_IN_HANGUP && (from == S(INITIATED) || from == S(RINGING)))
        return "canceled";
    return causes[in] ? causes[in] : "";
}

/* Dial.dialstatus values, as app_dial / ARI report them. */
static const struct {
    const char *name;
    call_input in;
} call__dialstatus[] = {
    {"ANSWER", CALL_IN_ANSWER},   {"RINGING", CALL_IN_RING},       {"PROGRESS", CALL_IN_RING},
    {"BUSY", CALL_IN_BUSY},       {"NOANSWER", CALL_IN_NO_ANSWER}, {"CHANUNAVAIL", CALL_IN_FAIL},
    {"CONGESTION", CALL_IN_FAIL}, {"CANCEL", CALL_IN_HANGUP},      {"DONTCALL", CALL_IN_BUSY},
    {"TORTURE", CALL_IN_BUSY},    {"INVALIDARGS", CALL_IN_FAIL},
};

int call_input_from_dialstatus(const char *dialstatus)
{
    if (!dialstatus)
        return -1;
    for (size_t i = 0; i < sizeof call__dialstatus / sizeof *call__dialstatus; i++)
        if (strcmp(dialstatus, call__dialstatus[i].name) == 0)
            return (int)call__dialstatus[i].in;
    return -1;
}

/* Q.850 causes Asterisk reports (main/causes.h). Anything not listed is a
 * failure of some kind. 0 (unknown) is what a channel that never got going
 * reports, so it is a failure too; 32 is ARI's own soft hangup. */
static const struct {
    int cause;
    call_input in;
    const char *name;
} call__q850[] = {
    {0, CALL_IN_FAIL, "unknown"},
    {1, CALL_IN_FAIL, "unallocated"},
    {3, CALL_IN_FAIL, "no_route"},
    {16, CALL_IN_HANGUP, "normal"},
    {17, CALL_IN_BUSY, "busy"},
    {18, CALL_IN_NO_ANSWER, "no_answer"},
    {19, CALL_IN_NO_ANSWER, "no_answer"},
    {20, CALL_IN_FAIL, "subscriber_absent"},
    {21, CALL_IN_BUSY, "rejected"},
    {27, CALL_IN_FAIL, "destination_out_of_order"},
    {28, CALL_IN_FAIL, "invalid_number"},
    {31, CALL_IN_HANGUP, "normal"},
    {32, CALL_IN_HANGUP, "normal"},
    {34, CALL_IN_FAIL, "congestion"},
    {38, CALL_IN_FAIL, "network_out_of_order"},
    {41, CALL_IN_FAIL, "temporary_failure"},
    {42, CALL_IN_FAIL, "congestion"},
    {58, CALL_IN_FAIL, "unavailable"},
    {127, CALL_IN_FAIL, "interworking"},
};

static int call__q850_find(int cause)
{
    for (size_t i = 0; i < sizeof call__q850 / sizeof *call__q850; i++)
        if (call__q850[i].cause == cause)
            return (int)i;
    return -1;
}

call_input call_input_from_q850(int cause)
{
    int i = call__q850_find(cause);
    return i < 0 ? CALL_IN_FAIL : call__q850[i].in;
}

const char *call_q850_name(int cause)
{
    int i = call__q850_find(cause);
    return i < 0 ? "failed" : call__q850[i].name;
}

static const char *const call__status_names[N_STATUS] = {
    [S(INITIATED)] = "initiated", [S(RINGING)] = "ringing",   [S(IN_PROGRESS)] = "in_progress",
    [S(COMPLETED)] = "completed", [S(BUSY)] = "busy",         [S(NO_ANSWER)] = "no_answer",
    [S(FAILED)] = "failed",       [S(CANCELED)] = "canceled",
};

#define D(x) CALL_DIR(x)
static const char *const call__direction_names[4] = {
    [D(OUTBOUND)] = "outbound",
    [D(INBOUND)] = "inbound",
    [D(INTERNAL)] = "internal",
};

static const char *const call__input_names[CALL_IN__COUNT] = {
    [CALL_IN_RING] = "ring",         [CALL_IN_ANSWER] = "answer",       [CALL_IN_HANGUP] = "hangup",
    [CALL_IN_BUSY] = "busy",         [CALL_IN_NO_ANSWER] = "no_answer", [CALL_IN_FAIL] = "fail",
    [CALL_IN_TRANSFER] = "transfer",
};

const char *call_status_name(call_status s)
{
    return call_status_valid(s) ? call__status_names[s] : NULL;
}

call_status call_status_parse(const char *name)
{
    for (int i = 1; name && i < N_STATUS; i++)
        if (strcmp(name, call__status_names[i]) == 0)
            return (call_status)i;
    return S(UNSPECIFIED);
}

const char *call_direction_name(call_direction d)
{
    return (int)d > 0 && (int)d < 4 ? call__direction_names[d] : NULL;
}

call_direction call_direction_parse(const char *name)
{
    for (int i = 1; name && i < 4; i++)
        if (strcmp(name, call__direction_names[i]) == 0)
            return (call_direction)i;
    return D(UNSPECIFIED);
}

const char *call_input_name(call_input in)
{
    return (int)in >= 0 && in < CALL_IN__COUNT ? call__input_names[in] : "?";
}
