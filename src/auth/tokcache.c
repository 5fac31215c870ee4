/*
 * tokcache: see tokcache.h. Values are auth_identity structs, expiry in
 * unix seconds (the now callers pass to auth_identify).
 */
#include "auth/tokcache.h"

#include <string.h>

/* Longer authorization values are verified every time, never stored. */
enum { TOKCACHE_KEY_MAX = 2048 };

static int tokcache__copy(void *arg, const void *value, size_t len)
{
    if (len != sizeof(auth_identity))
        return -1;
    memcpy(arg, value, len);
    return 0;
}

cs_err tokcache_identify(kvcache *c, const auth_key *k, const char *authorization, int64_t now,
                         auth_identity *id, char *msg, size_t msglen)
{
    int cacheable = c != NULL && authorization != NULL && *authorization != '\0' &&
                    strlen(authorization) < TOKCACHE_KEY_MAX;
    uint64_t gen = 0;
    cs_err rc;

    if (cacheable) {
        if (kvc_get(c, authorization, now, tokcache__copy, id) == 0)
            return CS_OK;
        gen = kvc_generation(c);
    }
    rc = auth_identify(k, authorization, now, id, msg, msglen);
    if (rc == CS_OK && cacheable)
        kvc_put(c, authorization, id, sizeof *id, id->exp, gen);
    return rc;
}
