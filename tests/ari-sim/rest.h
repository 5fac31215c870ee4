/*
 * rest: the ARI REST API (/ari/...) as a route table over the model.
 * Ownership: r->body is a new json_t for the caller to free.
 */
#ifndef ARI_SIM_REST_H
#define ARI_SIM_REST_H

#include "model.h"

struct srv_req;

/* path: after "/ari", e.g. "/channels". */
void rest_handle(const char *method, const char *path, const struct srv_req *req, sim_reply *r);

#endif
