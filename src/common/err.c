/* err: the one table that maps cs_err to gRPC, HTTP and Socket.IO codes. */
#include "err.h"

#include <string.h>

struct err_row {
    const char *name;
    int grpc; /* grpc_status_code */
    int http; /* as grpc-gateway's HTTPStatusFromCode */
};

static const struct err_row err_table[CS_ERR__COUNT] = {
    [CS_OK] = {"OK", 0, 200},
    [CS_ERR_INVALID] = {"INVALID_ARGUMENT", 3, 400},
    [CS_ERR_UNAUTHENTICATED] = {"UNAUTHENTICATED", 16, 401},
    [CS_ERR_PERMISSION] = {"PERMISSION_DENIED", 7, 403},
    [CS_ERR_NOT_FOUND] = {"NOT_FOUND", 5, 404},
    [CS_ERR_EXISTS] = {"ALREADY_EXISTS", 6, 409},
    /* grpc-gateway says 400; DESIGN.md picks 409 so a client can tell
     * "wrong state" from "bad input". */
    [CS_ERR_PRECONDITION] = {"FAILED_PRECONDITION", 9, 409},
    [CS_ERR_ABORTED] = {"ABORTED", 10, 409},
    [CS_ERR_RESOURCE] = {"RESOURCE_EXHAUSTED", 8, 429},
    [CS_ERR_UNAVAILABLE] = {"UNAVAILABLE", 14, 503},
    [CS_ERR_DEADLINE] = {"DEADLINE_EXCEEDED", 4, 504},
    [CS_ERR_CANCELLED] = {"CANCELLED", 1, 499},
    [CS_ERR_UNIMPLEMENTED] = {"UNIMPLEMENTED", 12, 501},
    [CS_ERR_INTERNAL] = {"INTERNAL", 13, 500},
};

static const struct err_row *err_row(cs_err e)
{
    if ((int)e < 0 || e >= CS_ERR__COUNT)
        e = CS_ERR_INTERNAL;
    return &err_table[e];
}

const char *cs_err_name(cs_err e)
{
    return err_row(e)->name;
}

int cs_err_grpc_status(cs_err e)
{
    return err_row(e)->grpc;
}

int cs_err_http_status(cs_err e)
{
    return err_row(e)->http;
}

cs_err cs_err_from_grpc_status(int grpc_status)
{
    /* gRPC codes with no cs_err of their own. */
    switch (grpc_status) {
    case 2:  /* UNKNOWN */
    case 15: /* DATA_LOSS */
        return CS_ERR_INTERNAL;
    case 11: /* OUT_OF_RANGE */
        return CS_ERR_INVALID;
    default:
        break;
    }
    for (int i = 0; i < CS_ERR__COUNT; i++)
        if (err_table[i].grpc == grpc_status)
            return (cs_err)i;
    return CS_ERR_INTERNAL;
}

cs_err cs_err_from_name(const char *name)
{
    for (int i = 0; name && i < CS_ERR__COUNT; i++)
        if (strcmp(err_table[i].name, name) == 0)
            return (cs_err)i;
    return CS_ERR_INTERNAL;
}
