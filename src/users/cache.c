/*
 * ucache: see cache.h. A kvcache (common/kvcache.h) of packed User
 * messages keyed "s:<id>" (with the SIP secret) and "p:<id>" (without), the
 * id in lower case; starts off until the listener links.
 */
#include "users/cache.h"

#include <ctype.h>
#include <stdlib.h>

#include "common/kvcache.h"

enum { UCACHE_KEY_MAX = 72 };

struct ucache {
    kvcache *kv;
    int64_t ttl_ms;
};

/* "s:" or "p:" and the id in lower case (a uuid may be written either
 * way). 0, or -1 when the id is too long to be one. */
static int ucache__key(char key[UCACHE_KEY_MAX], const char *id, int with_secret)
{
    size_t i;

    key[0] = with_secret ? 's' : 'p';
    key[1] = ':';
    for (i = 0; id[i] != '\0'; i++) {
        if (i + 3 >= UCACHE_KEY_MAX)
            return -1;
        key[i + 2] = (char)tolower((unsigned char)id[i]);
    }
    key[i + 2] = '\0';
    return 0;
}

ucache *ucache_new(size_t size, int64_t ttl_ms)
{
    ucache *c = NULL;
    kvcache *kv = kvc_new(size);

    if (kv == NULL)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        kvc_free(kv);
        return NULL;
    }
    kvc_reset(kv, 0);
    c->kv = kv;
    c->ttl_ms = ttl_ms;
    return c;
}

void ucache_free(ucache *c)
{
    if (c == NULL)
        return;
    kvc_free(c->kv);
    free(c);
}

uint64_t ucache_generation(ucache *c)
{
    return c ? kvc_generation(c->kv) : 0;
}

static int ucache__unpack(void *arg, const void *value, size_t len)
{
    Callservice__V1__User **u = arg;

    *u = (Callservice__V1__User *)protobuf_c_message_unpack(&callservice__v1__user__descriptor,
                                                            NULL, len, value);
    return *u ? 0 : -1;
}

Callservice__V1__User *ucache_get(ucache *c, const char *user_id, int with_secret, int64_t now_ms)
{
    Callservice__V1__User *u = NULL;
    char key[UCACHE_KEY_MAX];

    if (c == NULL || ucache__key(key, user_id, with_secret) != 0)
        return NULL;
    (void)kvc_get(c->kv, key, now_ms, ucache__unpack, &u);
    return u;
}

void ucache_put(ucache *c, const char *user_id, int with_secret, const Callservice__V1__User *u,
                uint64_t gen, int64_t now_ms)
{
    char key[UCACHE_KEY_MAX];
    size_t len;
    uint8_t *buf = NULL;

    if (c == NULL || ucache__key(key, user_id, with_secret) != 0)
        return;
    len = protobuf_c_message_get_packed_size(&u->base);
    buf = malloc(len ? len : 1);
    if (buf == NULL)
        return;
    protobuf_c_message_pack(&u->base, buf);
    kvc_put(c->kv, key, buf, len, now_ms + c->ttl_ms, gen);
    free(buf);
}

void ucache_invalidate(ucache *c, const char *user_id)
{
    char key[UCACHE_KEY_MAX];

    if (c == NULL)
        return;
    if (ucache__key(key, user_id, 1) != 0) {
        kvc_drop(c->kv, ""); /* not an id: only the generation moves */
        return;
    }
    kvc_drop(c->kv, key);
    key[0] = 'p';
    kvc_drop(c->kv, key);
}

void ucache_on_notify(void *arg, const char *payload)
{
    ucache_invalidate(arg, payload);
}

void ucache_on_link(void *arg, int up)
{
    ucache *c = arg;

    if (c != NULL)
        kvc_reset(c->kv, up);
}
