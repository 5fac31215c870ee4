/*
 * routes: the REST route table and the request builder.
 *
 * Each row says: HTTP method, path pattern (one ":id" segment at most), the
 * gRPC method it calls, the request and response messages, which request
 * field receives ":id", whether a JSON body is read, and the success status.
 * Adding an endpoint means adding a row.
 *
 * Query parameters map generically to top-level request fields by their
 * JSON (lowerCamelCase) or proto name (history: status, direction, from, to,
 * page, limit, cursor, userId); repeated fields take repeated parameters.
 * An unknown parameter is a 400 naming it, like an unknown body field.
 *
 * Ownership: the table is static. gw_route_build() returns a message the
 * caller frees with protobuf_c_message_free_unpacked(msg, NULL).
 * Thread-safe: no global mutable state.
 */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

typedef struct gw_route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern; /* "/api/users/:id" */
    const char *rpc;     /* "/callservice.v1.UserService/GetUser" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    const char *path_field; /* proto name of the field that gets ":id", or NULL */
    int body;               /* 1: the JSON body is decoded into the request */
    int status;             /* HTTP status on success */
    int auth;               /* 1: needs "Authorization: Bearer <token>" (documentation) */
    const char *tag;        /* OpenAPI tag: "users", "calls" */
    const char *summary;
} gw_route;

extern const gw_route gw_routes[];
extern const size_t gw_n_routes;

#define GW_ID_MAX 128

typedef enum gw_match_result {
    GW_MATCH_OK = 0,
    GW_MATCH_NOT_FOUND,  /* 404 */
    GW_MATCH_BAD_METHOD, /* 405, allow says what is allowed */
} gw_match_result;

typedef struct gw_match {
    const gw_route *route; /* set on GW_MATCH_OK */
    char id[GW_ID_MAX];    /* the ":id" segment, "" if none */
    char allow[64];        /* on GW_MATCH_BAD_METHOD: "GET, PUT, OPTIONS" */
} gw_match;

/* Matches method and path (already percent-decoded, without the query). A
 * literal segment beats ":id" (GET /api/calls/history is history, not
 * GetCall("history")); a trailing "/" is ignored. */
gw_match_result gw_route_match(const char *method, const char *path, gw_match *m);

/* One decoded query parameter. */
typedef struct gw_param {
    const char *name;
    const char *value;
} gw_param;

/* Builds the request message of m->route from the body (JSON text, may be
 * empty; ignored when the route takes no body), the query parameters and
 * the path id. CS_ERR_INVALID with err naming the field on bad input. */
cs_err gw_route_build(const gw_match *m, const char *body, size_t body_len, const gw_param *query,
                      size_t n_query, ProtobufCMessage **out, char *err, size_t errlen);

#endif
