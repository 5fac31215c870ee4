/*
 * ari_internal: what the ari module's files share with each other and with
 * its unit tests, and nobody else. Not part of the contract (ari.h).
 */
#ifndef CS_ARI_INTERNAL_H
#define CS_ARI_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ari/ari.h"

/* The client, shared by client.c (lifecycle), rest.c (the handle pool) and
 * ws.c (the events thread). Config strings are owned copies. */
struct ari__ws;
struct ari_client {
    char *base_url; /* scheme://host[:port][/prefix], no trailing '/' */
    char *user, *password, *app;
    bool tls;
    char host[256];
    int port;
    char prefix[256]; /* path before "/ari", usually "" */
    int connect_timeout_ms, request_timeout_ms, pool_max, backoff_min_ms, backoff_max_ms;
    ari_callbacks cb;
    const ari_event_type *filter; /* ari_config.events: the types asked for */
    size_t n_filter;

    pthread_mutex_t pool_lock;
    void **pool; /* idle CURL easy handles, pool_max slots */
    int pool_n;

    atomic_bool connected;
    atomic_uint_fast64_t n_events, n_unknown, n_invalid, n_connects, n_reconnects, n_requests,
        n_failures;
    struct ari__ws *ws; /* NULL unless started */
};

/* rest.c */
void ari__rest_init_global(void);
void ari__rest_pool_drain(ari_client *c);
/* ws.c */
cs_err ari__ws_start(ari_client *c);
void ari__ws_stop(ari_client *c);
/* client.c: "http://h:p/x" -> tls, host, port, prefix. 0 or -1. */
int ari__parse_url(const char *url, bool *tls, char *host, size_t hostlen, int *port, char *prefix,
                   size_t prefixlen);

/* Bump allocator: chunks that never move, freed all at once. Decoded
 * objects put every string and array in one, so freeing them is one call
 * and cannot leak a field. */
typedef struct ari__arena ari__arena;
ari__arena *ari__arena_new(void);
void ari__arena_free(ari__arena *a);
/* NULL when out of memory. Memory is 16-byte aligned and zeroed. */
void *ari__arena_alloc(ari__arena *a, size_t n);
/* Copy of s (NULL stays NULL). Sets *oom on allocation failure. */
const char *ari__arena_strdup(ari__arena *a, const char *s, bool *oom);

/* Decode a Channel / Bridge JSON object into *ch / *br, strings in a.
 * CS_ERR_INVALID when not an object or without a string "id";
 * CS_ERR_INTERNAL when out of memory. */
cs_err ari__channel_from_json(const json_t *j, ari__arena *a, ari_channel *ch);
cs_err ari__bridge_from_json(const json_t *j, ari__arena *a, ari_bridge *br);

/* The one mapping from an ARI HTTP answer to cs_err. body may be NULL or
 * not JSON. Fills err (may be NULL) with the status and Asterisk's
 * {"message"} or {"error"}. 2xx gives CS_OK. */
cs_err ari__map_http(int status, const char *body, size_t body_len, ari_error *err);

/* Percent-encodes everything but RFC 3986 unreserved characters into out.
 * Returns the length, or -1 if out (outlen bytes with the NUL) is too small. */
int ari__url_escape(const char *in, char *out, size_t outlen);

/* "2026-11-25T11:05:12.242+0000" -> ms since the epoch; -1 if malformed. */
int64_t ari__parse_timestamp(const char *s);

#endif
