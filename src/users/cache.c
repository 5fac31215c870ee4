/*
 * ucache: see cache.h. A set-associative table of packed User messages
 * under one mutex; a generation counter that every invalidation bumps.
 */
#include "users/cache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { UCACHE_ID_MAX = 64 };

typedef struct ucache_entry {
    char id[UCACHE_ID_MAX]; /* "" when free */
    int with_secret;
    int64_t stored_ms;
    uint8_t *buf; /* packed User, owned */
    size_t len;
} ucache_entry;

struct ucache {
    pthread_mutex_t mu;
    ucache_entry *e;
    size_t n_sets;
    int64_t ttl_ms;
    uint64_t gen; /* mu */
    int on;       /* mu: the listener is listening */
};

int64_t ucache_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The key: the id in lower case (a uuid may be written either way). 0, or
 * -1 when it is too long to be an id. */
static int ucache__key(char key[UCACHE_ID_MAX], const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++) {
        if (i + 1 >= UCACHE_ID_MAX)
            return -1;
        key[i] = (char)tolower((unsigned char)id[i]);
    }
    key[i] = '\0';
    return 0;
}

static size_t ucache__set(const ucache *c, const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 1099511628211ULL;
    return (size_t)(h % c->n_sets) * UCACHE_WAYS;
}

static void ucache__clear(ucache_entry *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

ucache *ucache_new(size_t size, int64_t ttl_ms)
{
    ucache *c = NULL;
    size_t sets = (size + UCACHE_WAYS - 1) / UCACHE_WAYS;

    if (sets == 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->e = calloc(sets * UCACHE_WAYS, sizeof *c->e);
    if (c->e == NULL) {
        free(c);
        return NULL;
    }
    c->n_sets = sets;
    c->ttl_ms = ttl_ms;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void ucache_free(ucache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_sets * UCACHE_WAYS; i++)
        ucache__clear(&c->e[i]);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t ucache_generation(ucache *c)
{
    uint64_t g;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    g = c->gen;
    pthread_mutex_unlock(&c->mu);
    return g;
}

Callservice__V1__User *ucache_get(ucache *c, const char *user_id, int with_secret, int64_t now_ms)
{
    Callservice__V1__User *u = NULL;
    char key[UCACHE_ID_MAX];
    size_t base;

    if (c == NULL || ucache__key(key, user_id) != 0)
        return NULL;
    base = ucache__set(c, key);
    pthread_mutex_lock(&c->mu);
    for (size_t i = base; c->on && i < base + UCACHE_WAYS; i++) {
        ucache_entry *e = &c->e[i];
        if (e->buf == NULL || e->with_secret != with_secret || strcmp(e->id, key) != 0)
            continue;
        if (now_ms - e->stored_ms < c->ttl_ms)
            u = (Callservice__V1__User *)protobuf_c_message_unpack(
                &callservice__v1__user__descriptor, NULL, e->len, e->buf);
        else
            ucache__clear(e);
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return u;
}

void ucache_put(ucache *c, const char *user_id, int with_secret, const Callservice__V1__User *u,
                uint64_t gen, int64_t now_ms)
{
    char key[UCACHE_ID_MAX];
    size_t len, base;
    uint8_t *buf = NULL;
    ucache_entry *slot = NULL;

    if (c == NULL || ucache__key(key, user_id) != 0)
        return;
    len = protobuf_c_message_get_packed_size(&u->base);
    buf = malloc(len ? len : 1);
    if (buf == NULL)
        return;
    protobuf_c_message_pack(&u->base, buf);
    base = ucache__set(c, key);
    pthread_mutex_lock(&c->mu);
    if (c->on && c->gen == gen) {
        /* the same key, else a free way, else the oldest */
        for (size_t i = base; i < base + UCACHE_WAYS; i++) {
            ucache_entry *e = &c->e[i];
            if (e->buf != NULL && e->with_secret == with_secret && strcmp(e->id, key) == 0) {
                slot = e;
                break;
            }
            if (slot == NULL ||
                (slot->buf != NULL && (e->buf == NULL || e->stored_ms < slot->stored_ms)))
                slot = e;
        }
        ucache__clear(slot);
        memcpy(slot->id, key, strlen(key) + 1);
        slot->with_secret = with_secret;
        slot->stored_ms = now_ms;
        slot->buf = buf;
        slot->len = len;
        buf = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(buf);
}

void ucache_invalidate(ucache *c, const char *user_id)
{
    char key[UCACHE_ID_MAX];
    int ok;
    size_t base;

    if (c == NULL)
        return;
    ok = ucache__key(key, user_id) == 0;
    base = ok ? ucache__set(c, key) : 0;
    pthread_mutex_lock(&c->mu);
    c->gen++; /* even for a malformed id: puts in flight are dropped */
    for (size_t i = base; ok && i < base + UCACHE_WAYS; i++)
        if (c->e[i].buf != NULL && strcmp(c->e[i].id, key) == 0)
            ucache__clear(&c->e[i]);
    pthread_mutex_unlock(&c->mu);
}

void ucache_on_notify(void *arg, const char *payload)
{
    ucache_invalidate(arg, payload);
}

void ucache_on_link(void *arg, int up)
{
    ucache *c = arg;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->gen++;
    c->on = up;
    for (size_t i = 0; i < c->n_sets * UCACHE_WAYS; i++)
        ucache__clear(&c->e[i]);
    pthread_mutex_unlock(&c->mu);
}
