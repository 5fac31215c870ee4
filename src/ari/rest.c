/*
 * rest: ARI's REST calls over libcurl.
 *
 * Threads: any number of worker threads call in at once. Each request takes
 * an easy handle from a small mutex-protected pool and gives it back after,
 * so connections (kept alive by curl inside each handle) are reused across
 * requests instead of paying a TCP handshake per call. curl_easy_reset()
 * clears the options but keeps the live connection. CURLOPT_NOSIGNAL is set
 * because timeouts must not use signals in a threaded program.
 *
 * Errors: every HTTP status and curl failure is mapped to cs_err in one
 * place (ari__map_http, curl_map), with Asterisk's message kept in
 * ari_error for the caller and the logs.
 */
#include "ari/ari_internal.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define RESPONSE_MAX (8u << 20) /* a channel list of a busy server fits */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ari__rest_init_global(void)
{
    pthread_once(&global_once, global_init);
}

/* ------------------------------------------------------------------ */
/* Error mapping                                                        */

typedef struct status_row {
    int lo, hi;      /* inclusive HTTP status range */
    const char *msg; /* NULL: any message; else the exact message */
    cs_err err;
} status_row;

/* First matching row wins. */
static const status_row status_table[] = {
    {200, 299, NULL, CS_OK},
    /* addChannel/removeChannel name a gone channel with 400: to the caller
     * it is the same "channel gone" as a 404. */
    {400, 400, "Channel not found", CS_ERR_NOT_FOUND},
    {400, 400, NULL, CS_ERR_INVALID},
    {401, 401, NULL, CS_ERR_INTERNAL}, /* our credentials are wrong: misconfiguration */
    {403, 403, NULL, CS_ERR_INTERNAL},
    {404, 404, NULL, CS_ERR_NOT_FOUND},
    {405, 405, NULL, CS_ERR_INTERNAL}, /* a bug in this client */
    {409, 409, NULL, CS_ERR_PRECONDITION},
    {412, 412, NULL, CS_ERR_PRECONDITION},
    {422, 422, NULL, CS_ERR_PRECONDITION},
    {500, 599, NULL, CS_ERR_UNAVAILABLE},
    {0, 999, NULL, CS_ERR_INTERNAL},
};

cs_err ari__map_http(int status, const char *body, size_t body_len, ari_error *err)
{
    const char *msg = NULL;
    json_t *j = NULL;
    if (body && body_len && status >= 300) {
        j = json_loadb(body, body_len, 0, NULL);
        msg = json_string_value(json_object_get(j, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(j, "error"));
    }
    cs_err rc = CS_ERR_INTERNAL;
    for (size_t i = 0; i < sizeof status_table / sizeof *status_table; i++) {
        const status_row *r = &status_table[i];
        if (status >= r->lo && status <= r->hi && (!r->msg || (msg && !strcmp(msg, r->msg)))) {
            rc = r->err;
            break;
        }
    }
    if (err && rc != CS_OK) {
        err->http_status = status;
        snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
    }
    json_decref(j);
    return rc;
}

typedef struct curl_row {
    CURLcode code;
    cs_err err;
} curl_row;

/* Transport failures not listed are UNAVAILABLE: Asterisk is unreachable or
 * misbehaving, retry later. These ones are ours. */
static const curl_row curl_table[] = {
    {CURLE_OK, CS_OK},
    {CURLE_UNSUPPORTED_PROTOCOL, CS_ERR_INTERNAL},
    {CURLE_URL_MALFORMAT, CS_ERR_INTERNAL},
    {CURLE_OUT_OF_MEMORY, CS_ERR_INTERNAL},
    {CURLE_BAD_FUNCTION_ARGUMENT, CS_ERR_INTERNAL},
    {CURLE_WRITE_ERROR, CS_ERR_INTERNAL}, /* response over RESPONSE_MAX */
};

static cs_err curl_map(CURLcode code)
{
    for (size_t i = 0; i < sizeof curl_table / sizeof *curl_table; i++)
        if (curl_table[i].code == code)
            return curl_table[i].err;
    return CS_ERR_UNAVAILABLE;
}

/* ------------------------------------------------------------------ */
/* URL building                                                         */

int ari__url_escape(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (outlen - o <= need)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* A growable string; ok turns false on overflow or OOM and stays false. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool ok;
    bool has_query;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (!b->ok)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->ok = false;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_escaped(sbuf *b, const char *s)
{
    size_t n = strlen(s) * 3 + 1;
    char *tmp = malloc(n);
    if (!tmp || ari__url_escape(s, tmp, n) < 0)
        b->ok = false;
    else
        sb_str(b, tmp);
    free(tmp);
}

/* "/channels/{id}/answer": a path segment, always escaped. An empty or
 * NULL id would change the resource addressed, so it fails the request. */
static void sb_seg(sbuf *b, const char *seg)
{
    if (!seg || !*seg) {
        b->ok = false;
        return;
    }
    sb_str(b, "/");
    sb_escaped(b, seg);
}

/* "?k=v&k2=v2": NULL values are skipped. */
static void sb_q(sbuf *b, const char *key, const char *value)
{
    if (!value)
        return;
    sb_str(b, b->has_query ? "&" : "?");
    b->has_query = true;
    sb_str(b, key);
    sb_str(b, "=");
    sb_escaped(b, value);
}

static void sb_qint(sbuf *b, const char *key, int v)
{
    char num[16];
    if (v <= 0)
        return;
    snprintf(num, sizeof num, "%d", v);
    sb_q(b, key, num);
}

static void sb_start(sbuf *b, ari_client *c)
{
    memset(b, 0, sizeof *b);
    b->ok = true;
    sb_str(b, c->base_url);
    sb_str(b, "/ari");
}

/* ------------------------------------------------------------------ */
/* The request core                                                     */

static CURL *handle_take(ari_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->pool_n > 0)
        h = c->pool[--c->pool_n];
    pthread_mutex_unlock(&c->pool_lock);
    return h ? h : curl_easy_init();
}

static void handle_give(ari_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_lock);
    if (c->pool_n < c->pool_max) {
        c->pool[c->pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

void ari__rest_pool_drain(ari_client *c)
{
    pthread_mutex_lock(&c->pool_lock);
    while (c->pool_n > 0)
        curl_easy_cleanup(c->pool[--c->pool_n]);
    pthread_mutex_unlock(&c->pool_lock);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sbuf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > RESPONSE_MAX)
        return 0; /* CURLE_WRITE_ERROR */
    sb_add(b, data, n);
    return b->ok ? n : 0;
}

/*
 * One request. url is consumed (freed). body: JSON text or NULL. *resp
 * (when resp is not NULL): the parsed 2xx body, NULL for 204.
 */
static cs_err request(ari_client *c, const char *method, sbuf *url, const char *body, json_t **resp,
                      ari_error *err)
{
    cs_err rc = CS_ERR_INTERNAL;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    sbuf rb = {.ok = true};
    long status = 0;
    CURLcode cc = CURLE_OK;
    if (resp)
        *resp = NULL;
    if (err) {
        err->http_status = 0;
        err->message[0] = '\0';
    }
    atomic_fetch_add(&c->n_requests, 1);
    if (!url->ok) {
        rc = CS_ERR_INVALID;
        if (err)
            snprintf(err->message, sizeof err->message, "missing or unusable id/parameter");
        goto out;
    }
    h = handle_take(c);
    if (!h)
        goto out;
    curl_easy_reset(h);
    hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (body && hdrs) {
        struct curl_slist *n = curl_slist_append(hdrs, "Content-Type: application/json");
        if (n)
            hdrs = n;
    }
    curl_easy_setopt(h, CURLOPT_URL, url->s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Asterisk closes idle HTTP sessions after 15 s (http.conf
     * session_keep_alive): never reuse one that old, so a request does not
     * race the server's close. */
    curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, 10L);
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb);
    if (strcmp(method, "POST") == 0 || body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = curl_map(cc);
        if (err)
            snprintf(err->message, sizeof err->message, "%s", curl_easy_strerror(cc));
        log_warn("ari: %s %s: %s", method, url->s + strlen(c->base_url), curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    rc = ari__map_http((int)status, rb.s, rb.len, err);
    if (rc != CS_OK) {
        if (status == 401 || status == 403)
            log_error("ari: %s %s: HTTP %ld: check ARI_USER/ARI_PASSWORD", method,
                      url->s + strlen(c->base_url), status);
        else
            log_debug("ari: %s %s: HTTP %ld %s", method, url->s + strlen(c->base_url), status,
                      rb.s ? rb.s : "");
        goto out;
    }
    if (resp && rb.len > 0) {
        *resp = json_loadb(rb.s, rb.len, 0, NULL);
        if (!*resp) {
            rc = CS_ERR_INTERNAL;
            if (err) {
                err->http_status = (int)status;
                snprintf(err->message, sizeof err->message, "response is not JSON");
            }
        }
    }
out:
    if (rc != CS_OK)
        atomic_fetch_add(&c->n_failures, 1);
    if (h)
        handle_give(c, h);
    curl_slist_free_all(hdrs);
    free(rb.s);
    free(url->s);
    url->s = NULL;
    return rc;
}

/* A 2xx answer that should have had a body but had none or the wrong one. */
static cs_err bad_body(ari_error *err, const char *what)
{
    if (err) {
        err->http_status = 200;
        snprintf(err->message, sizeof err->message, "unexpected %s in response", what);
    }
    return CS_ERR_INTERNAL;
}

static cs_err channel_out(const json_t *j, ari_channel **out, ari_error *err)
{
    cs_err rc = CS_ERR_INTERNAL;
    ari_channel *ch = calloc(1, sizeof *ch);
    ari__arena *a = ari__arena_new();
    if (!ch || !a)
        goto out;
    rc = ari__channel_from_json(j, a, ch);
    if (rc == CS_ERR_INVALID)
        rc = bad_body(err, "channel");
out:
    if (rc == CS_OK) {
        ch->_arena = a;
        *out = ch;
    } else {
        free(ch);
        ari__arena_free(a);
    }
    return rc;
}

static cs_err bridge_out(const json_t *j, ari_bridge **out, ari_error *err)
{
    cs_err rc = CS_ERR_INTERNAL;
    ari_bridge *br = calloc(1, sizeof *br);
    ari__arena *a = ari__arena_new();
    if (!br || !a)
        goto out;
    rc = ari__bridge_from_json(j, a, br);
    if (rc == CS_ERR_INVALID)
        rc = bad_body(err, "bridge");
out:
    if (rc == CS_OK) {
        br->_arena = a;
        *out = br;
    } else {
        free(br);
        ari__arena_free(a);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Channels                                                             */

/* {"variables": {name: value, ...}} or NULL when there are none. */
static char *variables_body(const char *const *vars, bool *oom)
{
    char *s = NULL;
    json_t *root = NULL, *obj = NULL;
    if (!vars || !vars[0])
        goto out;
    *oom = true;
    root = json_object();
    obj = json_object();
    if (!root || !obj)
        goto out;
    for (size_t i = 0; vars[i] && vars[i + 1]; i += 2)
        if (json_object_set_new(obj, vars[i], json_string(vars[i + 1])) != 0)
            goto out;
    if (json_object_set_new(root, "variables", obj) != 0) {
        obj = NULL; /* set_new consumed it even on failure */
        goto out;
    }
    obj = NULL;
    s = json_dumps(root, JSON_COMPACT);
    *oom = s == NULL;
out:
    json_decref(obj);
    json_decref(root);
    return s;
}

static cs_err channel_new(ari_client *c, const ari_originate *o, bool create, ari_channel **out,
                          ari_error *err)
{
    cs_err rc = CS_ERR_INTERNAL;
    json_t *resp = NULL;
    bool oom = false;
    char *body = NULL;
    sbuf u;
    sb_start(&u, c);
    if (out)
        *out = NULL;
    sb_str(&u, create ? "/channels/create" : "/channels");
    if (!o || !o->endpoint || (create && !o->app))
        u.ok = false;
    else {
        sb_q(&u, "endpoint", o->endpoint);
        sb_q(&u, "app", o->app);
        sb_q(&u, "appArgs", o->app_args);
        if (!create) {
            sb_q(&u, "context", o->context);
            sb_q(&u, "extension", o->extension);
            sb_q(&u, "callerId", o->caller_id);
            sb_qint(&u, "timeout", o->timeout_s);
        }
        sb_q(&u, "channelId", o->channel_id);
        sb_q(&u, "otherChannelId", o->other_channel_id);
        sb_q(&u, "originator", o->originator);
        sb_q(&u, "formats", o->formats);
        body = variables_body(o->variables, &oom);
    }
    if (oom) {
        free(u.s);
        goto out;
    }
    rc = request(c, "POST", &u, body, &resp, err);
    if (rc != CS_OK)
        goto out;
    if (out)
        rc = channel_out(resp, out, err);
out:
    free(body);
    json_decref(resp);
    return rc;
}

cs_err ari_channel_originate(ari_client *c, const ari_originate *o, ari_channel **out,
                             ari_error *err)
{
    return channel_new(c, o, false, out, err);
}

cs_err ari_channel_create(ari_client *c, const ari_originate *o, ari_channel **out, ari_error *err)
{
    return channel_new(c, o, true, out, err);
}

cs_err ari_channel_dial(ari_client *c, const char *id, const char *caller, int timeout_s,
                        ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/dial");
    sb_q(&u, "caller", caller);
    sb_qint(&u, "timeout", timeout_s);
    return request(c, "POST", &u, NULL, NULL, err);
}

/* POST or DELETE /channels/{id}/<action> with no parameters. */
static cs_err channel_action(ari_client *c, const char *method, const char *id, const char *action,
                             ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/");
    sb_str(&u, action);
    return request(c, method, &u, NULL, NULL, err);
}

cs_err ari_channel_answer(ari_client *c, const char *id, ari_error *err)
{
    return channel_action(c, "POST", id, "answer", err);
}

cs_err ari_channel_ring(ari_client *c, const char *id, ari_error *err)
{
    return channel_action(c, "POST", id, "ring", err);
}

cs_err ari_channel_ring_stop(ari_client *c, const char *id, ari_error *err)
{
    return channel_action(c, "DELETE", id, "ring", err);
}

cs_err ari_channel_hold(ari_client *c, const char *id, bool on, ari_error *err)
{
    return channel_action(c, on ? "POST" : "DELETE", id, "hold", err);
}

cs_err ari_channel_dtmf(ari_client *c, const char *id, const char *digits, int duration_ms,
                        ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/dtmf");
    if (!digits || !digits[0])
        u.ok = false;
    sb_q(&u, "dtmf", digits);
    sb_qint(&u, "duration", duration_ms);
    return request(c, "POST", &u, NULL, NULL, err);
}

cs_err ari_channel_hangup(ari_client *c, const char *id, const char *reason, ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_q(&u, "reason", reason);
    return request(c, "DELETE", &u, NULL, NULL, err);
}

cs_err ari_channel_redirect(ari_client *c, const char *id, const char *endpoint, ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/redirect");
    if (!endpoint)
        u.ok = false;
    sb_q(&u, "endpoint", endpoint);
    return request(c, "POST", &u, NULL, NULL, err);
}

cs_err ari_channel_continue(ari_client *c, const char *id, const char *context,
                            const char *extension, int priority, ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/continue");
    sb_q(&u, "context", context);
    sb_q(&u, "extension", extension);
    sb_qint(&u, "priority", priority);
    return request(c, "POST", &u, NULL, NULL, err);
}

cs_err ari_channel_var_get(ari_client *c, const char *id, const char *name, char **value,
                           ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    *value = NULL;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/variable");
    if (!name)
        u.ok = false;
    sb_q(&u, "variable", name);
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc != CS_OK)
        goto out;
    const char *v = json_string_value(json_object_get(resp, "value"));
    if (!v) {
        rc = bad_body(err, "variable");
        goto out;
    }
    *value = strdup(v);
    rc = *value ? CS_OK : CS_ERR_INTERNAL;
out:
    json_decref(resp);
    return rc;
}

cs_err ari_channel_var_set(ari_client *c, const char *id, const char *name, const char *value,
                           ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    sb_str(&u, "/variable");
    if (!name)
        u.ok = false;
    sb_q(&u, "variable", name);
    sb_q(&u, "value", value);
    return request(c, "POST", &u, NULL, NULL, err);
}

cs_err ari_channel_get(ari_client *c, const char *id, ari_channel **out, ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    *out = NULL;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    sb_seg(&u, id);
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc == CS_OK)
        rc = channel_out(resp, out, err);
    json_decref(resp);
    return rc;
}

cs_err ari_channel_list_all(ari_client *c, ari_channel_list **out, ari_error *err)
{
    json_t *resp = NULL;
    ari_channel_list *l = NULL;
    sbuf u;
    *out = NULL;
    sb_start(&u, c);
    sb_str(&u, "/channels");
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc != CS_OK)
        goto out;
    if (!json_is_array(resp)) {
        rc = bad_body(err, "channel list");
        goto out;
    }
    rc = CS_ERR_INTERNAL;
    l = calloc(1, sizeof *l);
    if (!l || !(l->_arena = ari__arena_new()))
        goto out;
    size_t n = json_array_size(resp);
    if (n && !(l->items = ari__arena_alloc(l->_arena, n * sizeof *l->items)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        cs_err one = ari__channel_from_json(json_array_get(resp, i), l->_arena, &l->items[l->n]);
        if (one == CS_ERR_INTERNAL)
            goto out;
        if (one == CS_OK)
            l->n++;
    }
    rc = CS_OK;
out:
    json_decref(resp);
    if (rc == CS_OK)
        *out = l;
    else
        ari_channel_list_free(l);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Bridges                                                              */

cs_err ari_bridge_create(ari_client *c, const char *type, const char *id, const char *name,
                         ari_bridge **out, ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    if (out)
        *out = NULL;
    sb_start(&u, c);
    sb_str(&u, "/bridges");
    sb_q(&u, "type", type ? type : "mixing");
    sb_q(&u, "bridgeId", id);
    sb_q(&u, "name", name);
    cs_err rc = request(c, "POST", &u, NULL, &resp, err);
    if (rc == CS_OK && out)
        rc = bridge_out(resp, out, err);
    json_decref(resp);
    return rc;
}

static cs_err bridge_member(ari_client *c, const char *bridge_id, const char *action,
                            const char *channel_id, ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/bridges");
    sb_seg(&u, bridge_id);
    sb_str(&u, action);
    if (!channel_id || !*channel_id)
        u.ok = false;
    sb_q(&u, "channel", channel_id);
    return request(c, "POST", &u, NULL, NULL, err);
}

cs_err ari_bridge_add_channel(ari_client *c, const char *bridge_id, const char *channel_id,
                              ari_error *err)
{
    return bridge_member(c, bridge_id, "/addChannel", channel_id, err);
}

cs_err ari_bridge_remove_channel(ari_client *c, const char *bridge_id, const char *channel_id,
                                 ari_error *err)
{
    return bridge_member(c, bridge_id, "/removeChannel", channel_id, err);
}

cs_err ari_bridge_destroy(ari_client *c, const char *bridge_id, ari_error *err)
{
    sbuf u;
    sb_start(&u, c);
    sb_str(&u, "/bridges");
    sb_seg(&u, bridge_id);
    return request(c, "DELETE", &u, NULL, NULL, err);
}

cs_err ari_application_filter(ari_client *c, const ari_event_type *allowed, size_t n,
                              ari_error *err)
{
    cs_err rc = CS_ERR_INTERNAL;
    json_t *root = json_object(), *list = json_array();
    char *body = NULL;
    sbuf u;
    if (!root || !list)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(list,
                                  json_pack("{s:s}", "type", ari_event_type_name(allowed[i]))) != 0)
            goto out;
    if (json_object_set(root, "allowed", list) != 0)
        goto out;
    body = json_dumps(root, JSON_COMPACT);
    if (!body)
        goto out;
    sb_start(&u, c);
    sb_str(&u, "/applications");
    sb_seg(&u, c->app);
    sb_str(&u, "/eventFilter");
    rc = request(c, "PUT", &u, body, NULL, err);
out:
    free(body);
    json_decref(list);
    json_decref(root);
    return rc;
}

cs_err ari_bridge_get(ari_client *c, const char *bridge_id, ari_bridge **out, ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    *out = NULL;
    sb_start(&u, c);
    sb_str(&u, "/bridges");
    sb_seg(&u, bridge_id);
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc == CS_OK)
        rc = bridge_out(resp, out, err);
    json_decref(resp);
    return rc;
}

cs_err ari_bridge_list_all(ari_client *c, ari_bridge_list **out, ari_error *err)
{
    json_t *resp = NULL;
    ari_bridge_list *l = NULL;
    sbuf u;
    *out = NULL;
    sb_start(&u, c);
    sb_str(&u, "/bridges");
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc != CS_OK)
        goto out;
    if (!json_is_array(resp)) {
        rc = bad_body(err, "bridge list");
        goto out;
    }
    rc = CS_ERR_INTERNAL;
    l = calloc(1, sizeof *l);
    if (!l || !(l->_arena = ari__arena_new()))
        goto out;
    size_t n = json_array_size(resp);
    if (n && !(l->items = ari__arena_alloc(l->_arena, n * sizeof *l->items)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        cs_err one = ari__bridge_from_json(json_array_get(resp, i), l->_arena, &l->items[l->n]);
        if (one == CS_ERR_INTERNAL)
            goto out;
        if (one == CS_OK)
            l->n++;
    }
    rc = CS_OK;
out:
    json_decref(resp);
    if (rc == CS_OK)
        *out = l;
    else
        ari_bridge_list_free(l);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Asterisk                                                             */

cs_err ari_asterisk_info(ari_client *c, ari_system_info *out, ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    memset(out, 0, sizeof *out);
    sb_start(&u, c);
    sb_str(&u, "/asterisk/info");
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc != CS_OK)
        goto out;
    const json_t *sys = json_object_get(resp, "system");
    const char *id = json_string_value(json_object_get(sys, "entity_id"));
    const char *ver = json_string_value(json_object_get(sys, "version"));
    if (!id) {
        rc = bad_body(err, "asterisk info");
        goto out;
    }
    snprintf(out->entity_id, sizeof out->entity_id, "%s", id);
    snprintf(out->version, sizeof out->version, "%s", ver ? ver : "");
out:
    json_decref(resp);
    return rc;
}

cs_err ari_asterisk_ping(ari_client *c, ari_system_info *out, ari_error *err)
{
    json_t *resp = NULL;
    sbuf u;
    if (out)
        memset(out, 0, sizeof *out);
    sb_start(&u, c);
    sb_str(&u, "/asterisk/ping");
    cs_err rc = request(c, "GET", &u, NULL, &resp, err);
    if (rc != CS_OK)
        goto out;
    const char *id = json_string_value(json_object_get(resp, "asterisk_id"));
    if (!id) {
        rc = bad_body(err, "ping");
        goto out;
    }
    if (out)
        snprintf(out->entity_id, sizeof out->entity_id, "%s", id);
out:
    json_decref(resp);
    return rc;
}
