/*
 * lcache: see listcache.h. A kvcache (common/kvcache.h) whose values are
 * an lcache_head (the generations the answer was read at) followed by the
 * packed response. Generations are atomics read and bumped without a lock;
 * the kvcache's own generation (moved by on/off resets) guards puts across
 * a link change.
 */
#include "calls/listcache.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/kvcache.h"

/* Which generations guard an answer. */
typedef enum lcache_scope {
    LCACHE_SCOPE_USER,      /* an agent's own calls: user[slot], epoch */
    LCACHE_SCOPE_ALL,       /* every call: all */
    LCACHE_SCOPE_ALL_NAMES, /* every call, with users' names: all, names */
    LCACHE_SCOPES
} lcache_scope;

struct lcache {
    kvcache *kv;
    size_t entry_max;
    int64_t ttl_ms;
    _Atomic uint64_t all, epoch, names;
    _Atomic uint64_t user[LCACHE_USER_SLOTS];
};

typedef struct lcache_head {
    uint64_t gen[2];
} lcache_head;

static void lcache__gens_user(lcache *c, size_t slot, uint64_t g[2])
{
    g[0] = atomic_load(&c->user[slot]);
    g[1] = atomic_load(&c->epoch);
}

static void lcache__gens_all(lcache *c, size_t slot, uint64_t g[2])
{
    (void)slot;
    g[0] = atomic_load(&c->all);
    g[1] = 0;
}

static void lcache__gens_all_names(lcache *c, size_t slot, uint64_t g[2])
{
    (void)slot;
    g[0] = atomic_load(&c->all);
    g[1] = atomic_load(&c->names);
}

static void (*const lcache__gens[LCACHE_SCOPES])(lcache *, size_t, uint64_t[2]) = {
    [LCACHE_SCOPE_USER] = lcache__gens_user,
    [LCACHE_SCOPE_ALL] = lcache__gens_all,
    [LCACHE_SCOPE_ALL_NAMES] = lcache__gens_all_names,
};

/* FNV-1a of the id in lower case (a uuid may be written either way). */
static size_t lcache__slot(const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *id; id++)
        h = (h ^ (uint8_t)tolower((unsigned char)*id)) * 1099511628211ULL;
    return (size_t)(h % LCACHE_USER_SLOTS);
}

lcache *lcache_new(size_t entries, size_t entry_max, int64_t ttl_ms)
{
    lcache *c = NULL;
    kvcache *kv = kvc_new(entries);

    if (kv == NULL)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        kvc_free(kv);
        return NULL;
    }
    kvc_reset(kv, 0);
    c->kv = kv;
    c->entry_max = entry_max;
    c->ttl_ms = ttl_ms;
    return c;
}

void lcache_free(lcache *c)
{
    if (c == NULL)
        return;
    kvc_free(c->kv);
    free(c);
}

void lcache_begin(lcache *c, lcache_method m, bool sees_all, const char *user_id, bool names,
                  const ProtobufCMessage *req, int64_t mono_ms, int64_t wall_us, lcache_ticket *t)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t packed[LCACHE_REQ_MAX];
    size_t len = 0, k = 0, idlen;

    memset(t, 0, sizeof *t);
    t->mono_ms = mono_ms;
    t->wall_us = wall_us;
    if (c == NULL || (!sees_all && user_id == NULL))
        return;
    idlen = sees_all ? 1 : strlen(user_id);
    if (req != NULL)
        len = protobuf_c_message_get_packed_size(req);
    if (len > sizeof packed || idlen > 40)
        return;
    if (len > 0)
        protobuf_c_message_pack(req, packed);
    t->key[k++] = (char)m;
    t->key[k++] = ':';
    t->key[k++] = sees_all ? (names ? 'N' : 'A') : 'U';
    t->key[k++] = ':';
    for (size_t i = 0; i < idlen; i++)
        t->key[k++] = sees_all ? '*' : (char)tolower((unsigned char)user_id[i]);
    t->key[k++] = ':';
    for (size_t i = 0; i < len; i++) {
        t->key[k++] = hex[packed[i] >> 4];
        t->key[k++] = hex[packed[i] & 15];
    }
    t->key[k] = '\0';
    t->scope = sees_all ? (names ? LCACHE_SCOPE_ALL_NAMES : LCACHE_SCOPE_ALL) : LCACHE_SCOPE_USER;
    t->slot = sees_all ? 0 : lcache__slot(user_id);
    /* the kvcache's generation first: a reset after it voids the put */
    t->kv_gen = kvc_generation(c->kv);
    lcache__gens[t->scope](c, t->slot, t->gen);
    t->ok = true;
}

typedef struct lcache_read {
    const lcache_ticket *t;
    const ProtobufCMessageDescriptor *d;
    ProtobufCMessage *msg;
} lcache_read;

/* A message of type d that packs to exactly the n bytes at p (a packed d):
 * no known field set, one unknown field whose tag is p's first tag and
 * whose data is everything after it (protobuf-c packs an unknown field as
 * its tag then its data, verbatim). Serving it costs a copy instead of an
 * unpack and a pack of every call. NULL if p does not start with a tag or
 * out of memory. Allocated as protobuf_c_message_free_unpacked(m, NULL)
 * frees. */
static ProtobufCMessage *lcache__verbatim(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                                          size_t n)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    ProtobufCMessageUnknownField *uf = NULL;
    uint64_t v = 0;
    size_t k = 0;

    if (m == NULL)
        return NULL;
    d->message_init(m);
    if (n == 0)
        return m; /* every field at its default */
    for (; k < n && k < 5; k++) {
        v |= (uint64_t)(p[k] & 0x7f) << (7 * k);
        if (!(p[k] & 0x80))
            break;
    }
    uf = k < n && k < 5 && (v >> 3) != 0 ? malloc(sizeof *uf) : NULL;
    if (uf == NULL)
        goto fail;
    uf->tag = (uint32_t)(v >> 3);
    uf->wire_type = (ProtobufCWireType)(v & 7);
    uf->len = n - (k + 1);
    uf->data = malloc(uf->len ? uf->len : 1);
    if (uf->data == NULL)
        goto fail;
    memcpy(uf->data, p + k + 1, uf->len);
    m->n_unknown_fields = 1;
    m->unknown_fields = uf;
    return m;
fail:
    free(uf);
    free(m);
    return NULL;
}

static int lcache__unpack(void *arg, const void *value, size_t len)
{
    lcache_read *r = arg;
    lcache_head h;

    if (len < sizeof h)
        return -1;
    memcpy(&h, value, sizeof h);
    if (h.gen[0] != r->t->gen[0] || h.gen[1] != r->t->gen[1])
        return -1; /* read before a change this reader's generations include */
    r->msg = lcache__verbatim(r->d, (const uint8_t *)value + sizeof h, len - sizeof h);
    return r->msg ? 0 : -1;
}

ProtobufCMessage *lcache_get(lcache *c, const lcache_ticket *t, const ProtobufCMessageDescriptor *d,
                             int64_t now_ms)
{
    lcache_read r = {t, d, NULL};

    if (c == NULL || !t->ok)
        return NULL;
    (void)kvc_get(c->kv, t->key, now_ms, lcache__unpack, &r);
    return r.msg;
}

void lcache_put(lcache *c, const lcache_ticket *t, const ProtobufCMessage *resp, int64_t valid_ms)
{
    lcache_head h;
    uint64_t now[2];
    uint8_t *buf = NULL;
    size_t len;
    int64_t life;

    if (c == NULL || !t->ok || valid_ms <= 0)
        goto out;
    lcache__gens[t->scope](c, t->slot, now);
    if (now[0] != t->gen[0] || now[1] != t->gen[1])
        goto out; /* changed since the read began: the answer may be stale */
    len = protobuf_c_message_get_packed_size(resp);
    if (len > c->entry_max)
        goto out;
    buf = malloc(sizeof h + len);
    if (buf == NULL)
        goto out;
    memcpy(h.gen, t->gen, sizeof h.gen);
    memcpy(buf, &h, sizeof h);
    protobuf_c_message_pack(resp, buf + sizeof h);
    life = valid_ms < c->ttl_ms ? valid_ms : c->ttl_ms;
    kvc_put(c->kv, t->key, buf, sizeof h + len, t->mono_ms + life, t->kv_gen);
out:
    free(buf);
}

int64_t lcache_calls_valid_ms(Callservice__V1__Call *const *calls, size_t n, int64_t wall_us)
{
    int64_t best = INT64_MAX;

    for (size_t i = 0; i < n; i++) {
        const Callservice__V1__Call *c = calls[i];
        const Google__Protobuf__Timestamp *from = c->answered_at ? c->answered_at : c->created_at;
        int64_t secs = c->answered_at ? c->duration_seconds : c->wait_seconds;
        int64_t tick_us, left_ms;

        if (c->ended_at != NULL || from == NULL)
            continue; /* ended: nothing moves */
        tick_us = from->seconds * 1000000 + from->nanos / 1000 + (secs + 1) * 1000000;
        left_ms = tick_us > wall_us ? (tick_us - wall_us) / 1000 : 0;
        if (left_ms > 1000)
            left_ms = 1000;
        if (left_ms < best)
            best = left_ms;
    }
    return best;
}

void lcache_bump_user(lcache *c, const char *user_id)
{
    if (c == NULL)
        return;
    if (user_id == NULL || !events_is_uuid(user_id)) {
        lcache_bump_every(c);
        return;
    }
    atomic_fetch_add(&c->user[lcache__slot(user_id)], 1);
    atomic_fetch_add(&c->all, 1);
}

void lcache_bump_every(lcache *c)
{
    if (c == NULL)
        return;
    atomic_fetch_add(&c->epoch, 1);
    atomic_fetch_add(&c->all, 1);
    atomic_fetch_add(&c->names, 1);
}

void lcache_on_event(void *arg, const events_meta *m)
{
    lcache *c = arg;

    if (c == NULL || m->type == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_USER_STATUS_CHANGED)
        return;
    for (size_t i = 0; i < m->n_visible; i++)
        lcache_bump_user(c, m->visible_to[i]);
    atomic_fetch_add(&c->all, 1); /* also when visible to nobody but supervisors */
}

void lcache_on_notify(void *arg, const char *payload)
{
    lcache *c = arg;

    (void)payload; /* any user's name may show in anyone's statistics */
    if (c != NULL)
        atomic_fetch_add(&c->names, 1);
}

void lcache_on_link(void *arg, int up)
{
    lcache *c = arg;

    if (c != NULL)
        kvc_reset(c->kv, up);
}
