/*
 * err: the service's one error enum, mapped once to each wire format.
 *
 * Every module returns cs_err; the tables in err.c say what each one is in
 * gRPC (status code), HTTP (as grpc-gateway maps gRPC codes) and Socket.IO
 * (the short code string put in {ok:false,error:{code,message}}).
 * Ownership: everything here is static data; nothing to free.
 */
#ifndef CS_ERR_H
#define CS_ERR_H

typedef enum cs_err {
    CS_OK = 0,
    CS_ERR_INVALID,         /* bad input: INVALID_ARGUMENT */
    CS_ERR_UNAUTHENTICATED, /* no, bad or expired token, wrong password */
    CS_ERR_PERMISSION,      /* authenticated, but the role may not */
    CS_ERR_NOT_FOUND,
    CS_ERR_EXISTS,       /* ALREADY_EXISTS (duplicate email, ...) */
    CS_ERR_PRECONDITION, /* wrong state (answer an ended call, ...) */
    CS_ERR_ABORTED,      /* concurrent change, retry */
    CS_ERR_RESOURCE,     /* RESOURCE_EXHAUSTED: throttled, range used up, slow consumer */
    CS_ERR_UNAVAILABLE,  /* database or Asterisk down: retry later */
    CS_ERR_DEADLINE,
    CS_ERR_CANCELLED,
    CS_ERR_UNIMPLEMENTED,
    CS_ERR_INTERNAL,
    CS_ERR__COUNT
} cs_err;

/* Symbolic name, e.g. "NOT_FOUND" (the gRPC code's name). Never NULL. */
const char *cs_err_name(cs_err e);
/* The grpc_status_code value (an int, so this header needs no grpc). */
int cs_err_grpc_status(cs_err e);
/* HTTP status as grpc-gateway maps the gRPC code. */
int cs_err_http_status(cs_err e);
/* Inverse of cs_err_grpc_status; unknown codes give CS_ERR_INTERNAL. */
cs_err cs_err_from_grpc_status(int grpc_status);
/* Inverse of cs_err_name; unknown names give CS_ERR_INTERNAL. */
cs_err cs_err_from_name(const char *name);

#endif
