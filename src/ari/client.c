/*
 * client: the ari_client's lifecycle (new/start/stop/free), its counters,
 * and the parsing of ARI_URL that REST and the WebSocket both rely on.
 */
#include "ari/ari_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int ari__parse_url(const char *url, bool *tls, char *host, size_t hostlen, int *port, char *prefix,
                   size_t prefixlen)
{
    int rc = -1;
    const char *p;
    if (!url)
        goto out;
    if (strncmp(url, "http://", 7) == 0) {
        *tls = false;
        *port = 80;
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        *tls = true;
        *port = 443;
        p = url + 8;
    } else {
        goto out;
    }
    const char *hend;
    if (*p == '[') { /* [v6]:port */
        hend = strchr(p, ']');
        if (!hend)
            goto out;
        hend++;
    } else {
        hend = p + strcspn(p, ":/?#");
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= hostlen)
        goto out;
    memcpy(host, p, hl);
    host[hl] = '\0';
    p = hend;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            goto out;
        *port = (int)v;
        p = end;
    }
    if (*p && *p != '/')
        goto out;
    size_t pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    if (pl >= prefixlen || memchr(p, '?', pl) || memchr(p, '#', pl))
        goto out;
    memcpy(prefix, p, pl);
    prefix[pl] = '\0';
    rc = 0;
out:
    return rc;
}

static int positive_or(int v, int def)
{
    return v > 0 ? v : def;
}

cs_err ari_client_new(const ari_config *cfg, const ari_callbacks *cb, ari_client **out)
{
    cs_err rc = CS_ERR_INVALID;
    ari_client *c = NULL;
    *out = NULL;
    if (!cfg || !cfg->url || !cfg->user || !cfg->password || !cfg->app || !*cfg->app) {
        log_error("ari: ARI_URL, ARI_USER, ARI_PASSWORD and ARI_APP are required");
        goto out;
    }
    rc = CS_ERR_INTERNAL;
    c = calloc(1, sizeof *c);
    if (!c)
        goto out;
    pthread_mutex_init(&c->pool_lock, NULL);
    rc = CS_ERR_INVALID;
    if (ari__parse_url(cfg->url, &c->tls, c->host, sizeof c->host, &c->port, c->prefix,
                       sizeof c->prefix) != 0) {
        log_error("ari: ARI_URL '%s' is not http[s]://host[:port][/path]", cfg->url);
        goto out;
    }
    rc = CS_ERR_INTERNAL;
    size_t ulen = strlen(cfg->url);
    while (ulen && cfg->url[ulen - 1] == '/')
        ulen--;
    c->base_url = strndup(cfg->url, ulen);
    c->user = strdup(cfg->user);
    c->password = strdup(cfg->password);
    c->app = strdup(cfg->app);
    c->connect_timeout_ms = positive_or(cfg->connect_timeout_ms, 2000);
    c->request_timeout_ms = positive_or(cfg->request_timeout_ms, 5000);
    c->pool_max = positive_or(cfg->pool_max, 16);
    c->backoff_min_ms = positive_or(cfg->backoff_min_ms, 500);
    c->backoff_max_ms = positive_or(cfg->backoff_max_ms, 30000);
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->pool = calloc((size_t)c->pool_max, sizeof *c->pool);
    if (!c->base_url || !c->user || !c->password || !c->app || !c->pool)
        goto out;
    if (cb)
        c->cb = *cb;
    c->filter = cfg->events;
    c->n_filter = cfg->events ? cfg->n_events : 0;
    ari__rest_init_global();
    rc = CS_OK;
out:
    if (rc == CS_OK)
        *out = c;
    else
        ari_client_free(c);
    return rc;
}

cs_err ari_client_start(ari_client *c)
{
    if (c->ws)
        return CS_OK;
    return ari__ws_start(c);
}

void ari_client_stop(ari_client *c)
{
    if (c && c->ws)
        ari__ws_stop(c);
}

void ari_client_free(ari_client *c)
{
    if (!c)
        return;
    ari_client_stop(c);
    ari__rest_pool_drain(c);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->pool);
    free(c->base_url);
    free(c->user);
    free(c->password);
    free(c->app);
    free(c);
}

bool ari_client_connected(const ari_client *c)
{
    return atomic_load(&((ari_client *)c)->connected);
}

void ari_client_counters(const ari_client *c, ari_counters *out)
{
    ari_client *m = (ari_client *)c; /* atomics are read, never changed here */
    out->events_received = atomic_load(&m->n_events);
    out->events_unknown = atomic_load(&m->n_unknown);
    out->events_invalid = atomic_load(&m->n_invalid);
    out->connects = atomic_load(&m->n_connects);
    out->reconnects = atomic_load(&m->n_reconnects);
    out->rest_requests = atomic_load(&m->n_requests);
    out->rest_failures = atomic_load(&m->n_failures);
}
