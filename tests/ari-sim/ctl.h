/*
 * ctl: the simulator's own control API (/_sim/...), used by tests to set the
 * far end's behaviour, place inbound calls, inject faults and read state.
 * Documented in tests/ari-sim/README.md.
 * Ownership: r->body is a new json_t for the caller to free.
 */
#ifndef ARI_SIM_CTL_H
#define ARI_SIM_CTL_H

#include "model.h"

struct srv_req;

/* path: after "/_sim", e.g. "/inbound". */
void ctl_handle(const char *method, const char *path, const struct srv_req *req, sim_reply *r);

#endif
