/*
 * users store: turning rows into User messages, and creating a user with
 * its SIP device.
 *
 * Extensions: the lowest free one in EXTENSION_MIN..EXTENSION_MAX, chosen
 * under a transaction-level advisory lock so that concurrent creations (on
 * any instance) never pick the same one; the unique index on
 * sip_devices.extension stays as the backstop. A deleted user's device row
 * goes with it (ON DELETE CASCADE), which frees the extension, and the
 * trigger of 0001_users.sql removes Asterisk's ps_* rows.
 */
#include "users_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "google/protobuf/timestamp.pb-c.h"

/* Arbitrary, shared by every instance: "extension allocation". */
#define USERS_EXT_LOCK "7203114500119"

static const char *const users__presence_names[] = {
    [CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_AVAILABLE] = "available",
    [CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_BUSY] = "busy",
    [CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_AWAY] = "away",
    [CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_OFFLINE] = "offline",
};
#define USERS_N_PRESENCE (sizeof users__presence_names / sizeof *users__presence_names)

const char *users_presence_name(int status)
{
    return (status > 0 && (size_t)status < USERS_N_PRESENCE) ? users__presence_names[status] : NULL;
}

int users_presence_parse(const char *s)
{
    for (size_t i = 1; s && i < USERS_N_PRESENCE; i++)
        if (strcmp(s, users__presence_names[i]) == 0)
            return (int)i;
    return 0;
}

int users__random_secret(char *buf, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t got = 0;
    while (got < n) {
        unsigned char r[64];
        ssize_t k = getrandom(r, sizeof r, 0);
        if (k < 0)
            return -1;
        /* 248 = 4 * 62: reject the rest so every character is equally
         * likely. */
        for (ssize_t i = 0; i < k && got < n; i++)
            if (r[i] < 248)
                buf[got++] = alphabet[r[i] % 62];
    }
    buf[n] = '\0';
    return 0;
}

static Google__Protobuf__Timestamp *users__ts(long long micros)
{
    Google__Protobuf__Timestamp *ts = malloc(sizeof *ts);
    if (!ts)
        return NULL;
    google__protobuf__timestamp__init(ts);
    ts->seconds = micros / 1000000;
    ts->nanos = (int32_t)(micros % 1000000) * 1000;
    return ts;
}

/* template with every "{ext}" replaced by ext. */
static char *users__endpoint(const char *tpl, const char *ext)
{
    size_t cap = strlen(tpl) + 16 * strlen(ext) + 1, o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = tpl; *p && o + 1 < cap;) {
        if (strncmp(p, "{ext}", 5) == 0 && o + strlen(ext) + 1 < cap) {
            memcpy(out + o, ext, strlen(ext));
            o += strlen(ext);
            p += 5;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

Callservice__V1__User *users__from_row(const svc_app *app, const PGresult *res, int row,
                                       int with_secret)
{
    Callservice__V1__User *u = malloc(sizeof *u);
    Callservice__V1__SipDevice *d = NULL;
    int ok;
    if (!u)
        return NULL;
    callservice__v1__user__init(u);
    u->id = strdup(db_get_str(res, row, 0));
    u->name = strdup(db_get_str(res, row, 1));
    u->email = strdup(db_get_str(res, row, 2));
    u->role = (Callservice__V1__Role)auth_role_parse(db_get_str(res, row, 3));
    u->status = (Callservice__V1__PresenceStatus)users_presence_parse(db_get_str(res, row, 4));
    u->created_at = users__ts(db_get_ll(res, row, 5));
    u->updated_at = users__ts(db_get_ll(res, row, 6));
    ok = u->id && u->name && u->email && u->created_at && u->updated_at;
    if (ok && db_get(res, row, 7)) {
        d = malloc(sizeof *d);
        if (d) {
            callservice__v1__sip_device__init(d);
            u->sip_device = d;
            d->extension = strdup(db_get_str(res, row, 7));
            d->username = strdup(db_get_str(res, row, 8));
            d->secret = strdup(with_secret ? db_get_str(res, row, 9) : "");
            d->context = strdup(db_get_str(res, row, 10));
            d->endpoint = d->extension
                              ? users__endpoint(app->cfg.device_endpoint_template, d->extension)
                              : NULL;
            ok = d->extension && d->username && d->secret && d->context && d->endpoint;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        /* free_unpacked skips NULL strings and the static empty string. */
        protobuf_c_message_free_unpacked(&u->base, NULL);
        return NULL;
    }
    return u;
}

cs_err users_load(const svc_app *app, db_conn *db, const char *user_id, int with_secret,
                  Callservice__V1__User **out)
{
    static const db_stmt st = {"users_by_id", "SELECT " USERS_COLS USERS_FROM " WHERE u.id = $1",
                               1};
    const char *params[] = {user_id};
    PGresult *res = NULL;
    cs_err rc;
    *out = NULL;
    rc = db_exec_stmt(db, DB_RETRY, &st, params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = CS_ERR_NOT_FOUND;
        goto out;
    }
    *out = users__from_row(app, res, 0, with_secret);
    rc = *out ? CS_OK : CS_ERR_INTERNAL;
out:
    if (res)
        PQclear(res);
    return rc;
}

cs_err users__insert(const svc_app *app, db_conn *db, const char *name, const char *email,
                     const char *password_hash, const char *role, char *id, char *msg,
                     size_t msglen)
{
    static const char *const lock[] = {USERS_EXT_LOCK};
    char lo[16], hi[16], secret[25];
    const char *p_user[] = {name, email, password_hash, role};
    const char *p_range[] = {lo, hi};
    const char *p_dev[4];
    PGresult *res = NULL;
    cs_err rc;

    snprintf(lo, sizeof lo, "%d", app->cfg.extension_min);
    snprintf(hi, sizeof hi, "%d", app->cfg.extension_max);
    rc = db_exec(db, 0,
                 "INSERT INTO users (name, email, password_hash, role)"
                 " VALUES ($1, $2, $3, $4) RETURNING id",
                 4, p_user, &res);
    if (rc == CS_ERR_EXISTS) {
        snprintf(msg, msglen, "email already registered");
        goto out;
    }
    if (rc != CS_OK)
        goto db_err;
    snprintf(id, 37, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    res = NULL;

    rc = db_exec(db, 0, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock, NULL);
    if (rc != CS_OK)
        goto db_err;
    rc = db_exec(db, 0,
                 "SELECT g::text FROM generate_series($1::int, $2::int) g"
                 " WHERE NOT EXISTS (SELECT 1 FROM sip_devices d WHERE d.extension = g::text)"
                 " ORDER BY g LIMIT 1",
                 2, p_range, &res);
    if (rc != CS_OK)
        goto db_err;
    if (PQntuples(res) == 0) {
        snprintf(msg, msglen, "no free extension in %s-%s", lo, hi);
        rc = CS_ERR_RESOURCE;
        goto out;
    }
    if (users__random_secret(secret, 24) != 0) {
        snprintf(msg, msglen, "no randomness for the SIP secret");
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    p_dev[0] = id;
    p_dev[1] = db_get_str(res, 0, 0);
    p_dev[2] = secret;
    p_dev[3] = app->cfg.device_context;
    rc = db_exec(db, 0,
                 "INSERT INTO sip_devices (user_id, extension, username, secret, context)"
                 " VALUES ($1, $2, $2, $3, $4)",
                 4, p_dev, NULL);
    if (rc == CS_OK)
        goto out;
db_err:
    snprintf(msg, msglen, "%s", db_public_error(rc));
out:
    if (res)
        PQclear(res);
    return rc;
}
