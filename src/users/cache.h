/*
 * ucache: a small cache of users as the API shows them (packed User
 * messages), so that GetProfile and GetUser do not ask PostgreSQL for an
 * unchanged user on every call.
 *
 * Coherence. Every write to users or sip_devices fires a trigger
 * (sql/migrations/0004_users_notify.sql) that sends pg_notify('cs_users',
 * user id); the events hub's listener connection LISTENs on it and calls
 * ucache_on_notify, which drops that user's entries. This instance's own
 * writes also call ucache_invalidate right after their commit, so a client
 * reads its own writes at once; another instance's writes are seen once
 * their notification arrives (milliseconds). While the listener connection
 * is down notifications may be lost, so the cache is off (every look-up
 * misses and nothing is stored) from ucache_on_link(0) until
 * ucache_on_link(1). Entries also expire after ttl_ms as a backstop.
 *
 * Races: a reader takes ucache_generation() before its SELECT and passes it
 * to ucache_put; the put is dropped if anything was invalidated since, so
 * a row read before a change can never be stored after the change's
 * invalidation.
 *
 * Bounded and thread-safe: a kvcache (common/kvcache.h) of `size`
 * entries. Ownership: the cache owns copies of what is put; get hands out
 * a fresh unpacked message the caller frees.
 */
#ifndef CS_USERS_CACHE_H
#define CS_USERS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "callservice/v1/users.pb-c.h"

typedef struct ucache ucache;

/* size: entries (a user with and without its secret are two); 0 gives NULL, a
 * disabled cache: every function accepts NULL and does nothing (get
 * misses). ttl_ms: an entry's life. Starts off (as if ucache_on_link(0)):
 * the listener turns it on once it listens. */
ucache *ucache_new(size_t size, int64_t ttl_ms);
void ucache_free(ucache *c);

/* The generation to pass to ucache_put: read it before the SELECT. */
uint64_t ucache_generation(ucache *c);

/* A copy of user_id's entry (with or without the SIP secret), or NULL
 * (miss, expired, off, out of memory). Free the result with
 * protobuf_c_message_free_unpacked. now_ms here and in ucache_put:
 * cs_mono_ms() (common/clock.h). */
Callservice__V1__User *ucache_get(ucache *c, const char *user_id, int with_secret, int64_t now_ms);

/* Stores a copy of u (loaded at generation gen) for user_id; dropped if the
 * cache is off or anything was invalidated since gen. */
void ucache_put(ucache *c, const char *user_id, int with_secret, const Callservice__V1__User *u,
                uint64_t gen, int64_t now_ms);

/* Drops user_id's entries (after a committed change). */
void ucache_invalidate(ucache *c, const char *user_id);

/* For the events hub's listener (events_listen): a notification on
 * UCACHE_CHANNEL (payload: the user id), and the connection state. arg is
 * the ucache. */
#define UCACHE_CHANNEL "cs_users"
void ucache_on_notify(void *arg, const char *payload);
void ucache_on_link(void *arg, int up);

#endif
