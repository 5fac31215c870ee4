/*
 * calls/internal: what service.c and flow.c share (not a public contract).
 */
#ifndef CS_CALLS_INTERNAL_H
#define CS_CALLS_INTERNAL_H

#include <stdbool.h>

#include "auth/auth.h"
#include "calls/calls.h"
#include "calls/repo.h"

typedef enum calls_cmd_kind {
    CALLS_CMD_MAKE,
    CALLS_CMD_ANSWER,
    CALLS_CMD_HANGUP,
    CALLS_CMD_TRANSFER,
    CALLS_CMD_HOLD,
    CALLS_CMD_RESUME,
    CALLS_CMD_DTMF,
} calls_cmd_kind;

/* A call-changing request, run on the call's flow worker. The rpc thread
 * owns it and waits until done; the worker fills the result. */
typedef struct calls_cmd {
    calls_cmd_kind kind;
    char call_id[40]; /* MAKE: the new call's id */
    auth_identity who;
    const char *to;         /* MAKE, TRANSFER: validated destination; DTMF: the digits */
    const char *request_id; /* MAKE: idempotency key or NULL */
    /* HOLD, RESUME: the ARI hold made, put back (undo_hold) on undo_chan if
     * the step does not commit (calls__step_failed); "" when none */
    char undo_chan[96];
    bool undo_hold;
    /* result */
    cs_err rc;
    char errmsg[256];
    Callservice__V1__Call *call; /* on CS_OK: the call after the change (caller owns) */
} calls_cmd;

/* Runs cmd on its call's worker and waits for it. */
cs_err calls__submit(calls_module *m, calls_cmd *cmd);
bool calls__has_ari(calls_module *m);

/* 1..32 of digits, '*', '#', with an optional leading '+'. */
bool calls_destination_valid(const char *to);
/* 1..32 of digits, '*', '#', 'A' to 'D' (SendDtmf). */
bool calls_dtmf_valid(const char *digits);

#endif
