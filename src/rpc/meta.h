/*
 * rpc meta: pure helpers over request metadata (no grpc here, so they are
 * unit-tested on their own): the bearer token of an `authorization` value,
 * whether a client's `x-request-id` is fit for logs, and fresh request ids.
 *
 * Ownership: nothing is allocated; results point into the caller's buffers.
 */
#ifndef CS_RPC_META_H
#define CS_RPC_META_H

#include <stddef.h>
#include <stdint.h>

/* Longest x-request-id kept from a client (log_set_context keeps 63). */
#define RPC_META_REQUEST_ID_MAX 63

/* The token of "Bearer <token>" (scheme case-insensitive, spaces around the
 * token ignored), or NULL when authorization is NULL, has another scheme or
 * an empty token. *len gets the token's length (it may not be NUL-ended
 * where trailing spaces were cut). */
const char *rpc_meta_bearer(const char *authorization, size_t *len);

/* 1 if s[0..len) may be used as a request id as is: 1..63 characters from
 * [A-Za-z0-9._:-]; anything else (control characters, quotes, huge values)
 * is replaced by a generated id. */
int rpc_meta_request_id_ok(const char *s, size_t len);

/* Writes 16 lower-case hex digits and a NUL to out, from *state (a
 * per-thread generator state; seed it with rpc_meta_seed()). */
void rpc_meta_request_id_gen(uint64_t *state, char out[17]);

/* A non-zero seed from the kernel's random source (falls back to time and
 * address bits if getrandom fails). */
uint64_t rpc_meta_seed(void);

#endif
