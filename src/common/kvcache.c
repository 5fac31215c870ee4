/*
 * kvcache: see kvcache.h. Entries hold one allocation: the key, its NUL,
 * then the value.
 */
#include "common/kvcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct kvc_entry {
    char *mem;  /* key '\0' value; NULL when free */
    size_t len; /* of the value */
    int64_t expires;
    uint64_t stored; /* put order, for replacement */
} kvc_entry;

struct kvcache {
    pthread_mutex_t mu;
    kvc_entry *e;
    size_t n_sets;
    uint64_t gen;   /* mu */
    uint64_t clock; /* mu: puts so far */
    int on;         /* mu */
};

static size_t kvc__set(const kvcache *c, const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 1099511628211ULL;
    return (size_t)(h % c->n_sets) * KVC_WAYS;
}

static void kvc__clear(kvc_entry *e)
{
    free(e->mem);
    memset(e, 0, sizeof *e);
}

/* key's way in its set, or NULL; mu held. */
static kvc_entry *kvc__find(kvcache *c, size_t base, const char *key)
{
    for (size_t i = base; i < base + KVC_WAYS; i++)
        if (c->e[i].mem != NULL && strcmp(c->e[i].mem, key) == 0)
            return &c->e[i];
    return NULL;
}

kvcache *kvc_new(size_t size)
{
    kvcache *c = NULL;
    size_t sets = (size + KVC_WAYS - 1) / KVC_WAYS;

    if (sets == 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->e = calloc(sets * KVC_WAYS, sizeof *c->e);
    if (c->e == NULL) {
        free(c);
        return NULL;
    }
    c->n_sets = sets;
    c->on = 1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void kvc_free(kvcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_sets * KVC_WAYS; i++)
        kvc__clear(&c->e[i]);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t kvc_generation(kvcache *c)
{
    uint64_t g;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    g = c->gen;
    pthread_mutex_unlock(&c->mu);
    return g;
}

int kvc_get(kvcache *c, const char *key, int64_t now, kvc_reader read, void *arg)
{
    int rc = -1;
    size_t base;
    kvc_entry *e;

    if (c == NULL)
        return -1;
    base = kvc__set(c, key);
    pthread_mutex_lock(&c->mu);
    e = c->on ? kvc__find(c, base, key) : NULL;
    if (e != NULL && now < e->expires)
        rc = read(arg, e->mem + strlen(e->mem) + 1, e->len);
    else if (e != NULL)
        kvc__clear(e);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void kvc_put(kvcache *c, const char *key, const void *value, size_t len, int64_t expires,
             uint64_t gen)
{
    size_t klen, base;
    char *mem = NULL;
    kvc_entry *slot;

    if (c == NULL)
        return;
    klen = strlen(key);
    mem = malloc(klen + 1 + len);
    if (mem == NULL)
        return;
    memcpy(mem, key, klen + 1);
    if (len > 0)
        memcpy(mem + klen + 1, value, len);
    base = kvc__set(c, key);
    pthread_mutex_lock(&c->mu);
    if (c->on && c->gen == gen) {
        slot = kvc__find(c, base, key);
        for (size_t i = base; slot == NULL && i < base + KVC_WAYS; i++)
            if (c->e[i].mem == NULL)
                slot = &c->e[i];
        if (slot == NULL) {
            slot = &c->e[base];
            for (size_t i = base + 1; i < base + KVC_WAYS; i++)
                if (c->e[i].stored < slot->stored)
                    slot = &c->e[i];
        }
        kvc__clear(slot);
        slot->mem = mem;
        slot->len = len;
        slot->expires = expires;
        slot->stored = ++c->clock;
        mem = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(mem);
}

void kvc_drop(kvcache *c, const char *key)
{
    size_t base;
    kvc_entry *e;

    if (c == NULL)
        return;
    base = kvc__set(c, key);
    pthread_mutex_lock(&c->mu);
    c->gen++;
    e = kvc__find(c, base, key);
    if (e != NULL)
        kvc__clear(e);
    pthread_mutex_unlock(&c->mu);
}

void kvc_reset(kvcache *c, int on)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->gen++;
    c->on = on;
    for (size_t i = 0; i < c->n_sets * KVC_WAYS; i++)
        kvc__clear(&c->e[i]);
    pthread_mutex_unlock(&c->mu);
}
