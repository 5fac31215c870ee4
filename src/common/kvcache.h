/*
 * kvcache: a bounded, thread-safe cache from text keys to byte values, the
 * common part of the users cache (users/cache.h) and the token cache
 * (auth/tokcache.h).
 *
 * Set-associative: `size` entries in sets of KVC_WAYS; a put replaces the
 * same key, else a free way, else the way stored first. Every entry has an
 * expiry in the caller's clock and is served only while now < expires.
 *
 * Coherence support: a generation that every kvc_drop and kvc_reset bumps.
 * A reader takes kvc_generation() before it reads the source and passes it
 * to kvc_put; the put is dropped if the generation moved meanwhile, so a
 * value read before a change is never stored after the change's drop. A
 * cache can be switched off (kvc_reset(c, 0)): then gets miss and puts are
 * dropped. It starts on.
 *
 * One mutex; get runs the caller's reader on the stored bytes under it.
 * Ownership: the cache keeps its own copies of keys and values.
 */
#ifndef CS_KVCACHE_H
#define CS_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

enum { KVC_WAYS = 4 };

typedef struct kvcache kvcache;

/* NULL when size is 0 (a disabled cache: every function accepts NULL;
 * gets miss) or out of memory. */
kvcache *kvc_new(size_t size);
void kvc_free(kvcache *c);

uint64_t kvc_generation(kvcache *c);

/* Runs read(arg, value, len) on key's value if present and now < its
 * expiry, under the cache's lock (read must be quick and must not call the
 * cache); an expired entry is freed. Returns read's result, or -1 on a
 * miss. */
typedef int (*kvc_reader)(void *arg, const void *value, size_t len);
int kvc_get(kvcache *c, const char *key, int64_t now, kvc_reader read, void *arg);

/* Stores copies of key and value (len bytes), served until expires;
 * dropped if the cache is off, gen is not the current generation, or
 * memory runs out. */
void kvc_put(kvcache *c, const char *key, const void *value, size_t len, int64_t expires,
             uint64_t gen);

/* Removes key (if present) and bumps the generation. */
void kvc_drop(kvcache *c, const char *key);

/* Empties the cache, bumps the generation and switches it on or off. */
void kvc_reset(kvcache *c, int on);

#endif
