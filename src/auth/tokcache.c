/*
 * tokcache: see tokcache.h. Values are a tokcache_val, expiry in unix
 * seconds (the now callers pass to auth_identify).
 */
#include "auth/tokcache.h"

#include <string.h>

/* Longer authorization values are verified every time, never stored. */
enum { TOKCACHE_KEY_MAX = 2048 };

typedef struct tokcache_val {
    auth_identity id;
    int64_t verified_at; /* the now of the verification */
} tokcache_val;

typedef struct tokcache_hit {
    int64_t now;
    auth_identity *id;
} tokcache_hit;

/* A hit only at or after the time of the verification: were the clock set
 * back, a token whose nbf lies in between must be verified (and refused)
 * again. */
static int tokcache__copy(void *arg, const void *value, size_t len)
{
    tokcache_hit *h = arg;
    tokcache_val v;

    if (len != sizeof v)
        return -1;
    memcpy(&v, value, sizeof v);
    if (h->now < v.verified_at)
        return -1;
    *h->id = v.id;
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
        tokcache_hit h = {now, id};
        if (kvc_get(c, authorization, now, tokcache__copy, &h) == 0)
            return CS_OK;
        gen = kvc_generation(c);
    }
    rc = auth_identify(k, authorization, now, id, msg, msglen);
    if (rc == CS_OK && cacheable) {
        tokcache_val v;
        memset(&v, 0, sizeof v);
        v.id = *id;
        v.verified_at = now;
        kvc_put(c, authorization, &v, sizeof v, id->exp, gen);
    }
    return rc;
}
