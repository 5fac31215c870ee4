/*
 * tokcache: tokens already verified, so that a client's token is checked
 * (base64, JSON, HMAC: about 10-16 µs here) once and not on every call.
 *
 * Keyed by the whole authorization value, compared in full. An entry holds
 * the identity auth_identify produced, with the token's exp, and is served
 * only while now < exp, the check jwt.c makes; a token with a future nbf
 * fails verification and is never stored, and an entry is not served at a
 * time before its verification (a clock set back is checked afresh). Failures are not cached (a bad
 * token costs a verification each time, as before). The key is fixed for
 * the process, so a verified token stays verified until it expires.
 *
 * The cache is a plain kvcache (common/kvcache.h; kvc_new(size), kvc_free)
 * that only this module writes to. Ownership: the cache copies what it
 * keeps; callers own their buffers.
 */
#ifndef CS_AUTH_TOKCACHE_H
#define CS_AUTH_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "common/kvcache.h"

/* auth_identify (auth.h), answered from c when this authorization value was
 * verified before and has not expired at now. c NULL: verified every
 * time. */
cs_err tokcache_identify(kvcache *c, const auth_key *k, const char *authorization, int64_t now,
                         auth_identity *id, char *msg, size_t msglen);

#endif
