/*
 * health: the standard grpc.health.v1.Health service (Check and Watch) as
 * rows for the rpc method table, and a thread-safe API to set the serving
 * status of "" (the server as a whole) and of named services.
 *
 * A service is unknown until its status is first set: Check answers
 * NOT_FOUND and Watch streams SERVICE_UNKNOWN (then every later change), as
 * the protocol says. Watch streams the current status at once, then each
 * change; a watcher too slow to take them is ended with RESOURCE_EXHAUSTED.
 *
 * State is process-wide (the method rows are static data). Ownership: the
 * service names are copied; health_reset() frees them (after the server is
 * stopped, watchers are gone by then).
 */
#ifndef CS_RPC_HEALTH_H
#define CS_RPC_HEALTH_H

#include <stddef.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus health_status;

#define HEALTH_UNKNOWN     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN
#define HEALTH_SERVING     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define HEALTH_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define HEALTH_SERVICE_UNKNOWN                                                                     \
    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

extern const rpc_method health_methods[];
extern const size_t health_methods_count;

/* Sets the status of service ("" for the whole server) and tells its
 * watchers. Thread-safe. Returns 0, or -1 if out of memory. */
int health_set_status(const char *service, health_status status);
/* Sets every known service (and "") to status: e.g. NOT_SERVING when the
 * server starts draining. Thread-safe. */
void health_set_all(health_status status);
/* The status of service; HEALTH_SERVICE_UNKNOWN if never set. */
health_status health_get_status(const char *service);
/* Forgets every service. Call once the server is stopped. */
void health_reset(void);

#endif
