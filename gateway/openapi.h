/*
 * openapi: the OpenAPI 3 document of the REST API, generated from the route
 * table and the protobuf descriptors (so it cannot drift from what the
 * gateway actually accepts), served at /api/openapi.json.
 *
 * Ownership: the result is a malloc'd NUL-terminated string the caller frees.
 */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

char *gw_openapi_build(const char *version);

#endif
