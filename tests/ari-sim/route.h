/*
 * route: a table-driven router shared by the ARI REST API and the control
 * API. A row is (method, pattern, handler); patterns are path segments where
 * "*" captures one segment. A path that matches no row is 404
 * {"message":"Resource not found"}; a path that matches only with another
 * method is 405 {"message":"Invalid method"}, as Asterisk answers.
 *
 * Ownership: the captured segments point into a buffer owned by
 * route_dispatch and live only during the handler call.
 */
#ifndef ARI_SIM_ROUTE_H
#define ARI_SIM_ROUTE_H

#include "model.h"

#include <stddef.h>

struct srv_req;

#define ROUTE_MAX_SEGS 8

typedef void (*route_fn)(const struct srv_req *req, const char *const *params, sim_reply *r);

typedef struct route {
    const char *method;  /* "GET", "POST", "DELETE", "PUT" */
    const char *pattern; /* "channels/ * /answer" without spaces */
    route_fn fn;
} route;

/* path: relative to the API root, e.g. "/channels/17.3/answer". */
void route_dispatch(const route *table, size_t n, const char *method, const char *path,
                    const struct srv_req *req, sim_reply *r);

#endif
