/*
 * users: the UserService handlers. Each one: authenticate (except Register
 * and Login), validate through the table in validate.c, talk to the
 * database through the worker's db_conn, answer a heap-allocated message.
 *
 * Login throttling lives in the database (login_failures), so it holds
 * across instances and restarts: after LOGIN_MAX_FAILURES failures for one
 * email within LOGIN_FAILURE_WINDOW seconds, Login answers
 * RESOURCE_EXHAUSTED until the window ends. Unknown email and wrong
 * password get the same answer after about the same time (a dummy argon2
 * verify), and both count as failures.
 */
#include "users_int.h"

#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "callservice/v1/users.pb-c.h"
#include "common/clock.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "users/cache.h"
#include "validate.h"

#define BAD_LOGIN "invalid email or password"
/* Serializes changes that could remove the last admin. */
#define USERS_ADMIN_LOCK "7203114500120"

static int users__is_admin(const auth_identity *id)
{
    return id->role == AUTH_ROLE_ADMIN;
}

static cs_err users__invalid(rpc_ctx *ctx, const char *msg)
{
    return rpc_fail(ctx, CS_ERR_INVALID, "%s", msg);
}

/* Answers a user from the cache, else loads it (and caches it), or
 * NOT_FOUND / a database error. */
static cs_err users__answer_user(rpc_ctx *ctx, const char *id, int with_secret,
                                 ProtobufCMessage **resp)
{
    svc_app *app = svc_app_of(ctx);
    int64_t now = cs_mono_ms();
    Callservice__V1__User *u = ucache_get(app->users_cache, id, with_secret, now);
    uint64_t gen;
    cs_err rc;
    if (u) {
        *resp = &u->base;
        return CS_OK;
    }
    if (rpc_defer(ctx))
        return CS_OK; /* a miss, on the poller: load on a worker */
    gen = ucache_generation(app->users_cache);
    rc = users_load(app, svc_db(ctx), id, with_secret, &u);
    if (rc == CS_ERR_NOT_FOUND)
        return rpc_fail(ctx, rc, "user %s not found", id);
    if (rc == CS_ERR_INTERNAL)
        return rpc_fail(ctx, rc, "out of memory");
    if (rc != CS_OK)
        return svc_db_fail(ctx, rc);
    ucache_put(app->users_cache, id, with_secret, u, gen, now);
    *resp = &u->base;
    return CS_OK;
}

/* AuthResponse for a user that just registered or logged in. */
static cs_err users__auth_response(rpc_ctx *ctx, const char *id, ProtobufCMessage **resp)
{
    svc_app *app = svc_app_of(ctx);
    Callservice__V1__AuthResponse *ar = NULL;
    Callservice__V1__User *u = NULL;
    int64_t exp = 0;
    char *token = NULL;
    cs_err rc = users_load(app, svc_db(ctx), id, 1, &u);
    if (rc != CS_OK) {
        rc = rc == CS_ERR_NOT_FOUND ? rpc_fail(ctx, rc, "user %s not found", id)
                                    : svc_db_fail(ctx, rc);
        goto out;
    }
    rc = auth_issue(&app->jwt, u->id, (auth_role)u->role, u->email, (int64_t)time(NULL), &token,
                    &exp);
    if (rc != CS_OK) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "cannot issue token");
        goto out;
    }
    ar = malloc(sizeof *ar);
    if (ar)
        ar->expires_at = malloc(sizeof *ar->expires_at);
    if (!ar || !ar->expires_at) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    {
        Google__Protobuf__Timestamp *ts = ar->expires_at;
        callservice__v1__auth_response__init(ar);
        google__protobuf__timestamp__init(ts);
        ts->seconds = exp;
        ar->expires_at = ts;
    }
    ar->token = token;
    ar->user = u;
    token = NULL;
    u = NULL;
    *resp = &ar->base;
    ar = NULL;
out:
    if (ar) {
        free(ar->expires_at);
        free(ar);
    }
    free(token);
    if (u)
        protobuf_c_message_free_unpacked(&u->base, NULL);
    return rc;
}

/* Hashes pw and inserts a user + device in one transaction; id receives
 * the new id. Sets the status message on failure. */
static cs_err users__create_user(rpc_ctx *ctx, const char *name, const char *email, const char *pw,
                                 auth_role role, char *id)
{
    db_conn *db = svc_db(ctx);
    char hash[PASSWORD_HASH_MAX], msg[160] = "";
    cs_err rc;
    /* Hash before the transaction: it is the slow part and needs no lock. */
    if (password_hash(pw, hash, sizeof hash) != CS_OK)
        return rpc_fail(ctx, CS_ERR_INTERNAL, "cannot hash password");
    rc = db_begin(db);
    if (rc != CS_OK)
        return svc_db_fail(ctx, rc);
    rc = users__insert(svc_app_of(ctx), db, name, email, hash, auth_role_name(role), id, msg,
                       sizeof msg);
    if (rc == CS_OK)
        rc = db_commit(db);
    else
        db_rollback(db);
    if (rc != CS_OK) {
        if (*msg == '\0')
            snprintf(msg, sizeof msg, "%s", db_public_error(rc));
        return rpc_fail(ctx, rc, "%s", msg);
    }
    log_info("user %s created (%s, %s)", id, email, auth_role_name(role));
    return CS_OK;
}

cs_err users_register(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__RegisterRequest *r = (const void *)req;
    validate_field f[] = {{"name", VALIDATE_NAME, r->name},
                          {"email", VALIDATE_EMAIL, r->email},
                          {"password", VALIDATE_PASSWORD, r->password}};
    char msg[160], id[40] = "";
    cs_err rc;
    if (validate_fields(f, 3, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    rc = users__create_user(ctx, r->name, r->email, r->password, AUTH_ROLE_AGENT, id);
    if (rc != CS_OK)
        return rc;
    return users__auth_response(ctx, id, resp);
}

/* CS_OK when the email is not throttled; RESOURCE with the wait otherwise. */
static cs_err users__throttle_check(rpc_ctx *ctx, const char *email)
{
    static const db_stmt st = {
        "users_throttle_check",
        "SELECT failures, ceil(extract(epoch FROM window_start"
        " + make_interval(secs => $2::int) - now()))::int FROM login_failures"
        " WHERE email = lower($1) AND window_start > now() - make_interval(secs => $2::int)",
        2};
    svc_app *app = svc_app_of(ctx);
    char win[16];
    const char *p[] = {email, win};
    PGresult *res = NULL;
    cs_err rc;
    snprintf(win, sizeof win, "%d", app->cfg.login_window);
    rc = db_exec_stmt(svc_db(ctx), DB_RETRY, &st, p, &res);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    if (PQntuples(res) > 0 && db_get_ll(res, 0, 0) >= app->cfg.login_max_failures) {
        log_warn("login throttled for %s", email);
        rc = rpc_fail(ctx, CS_ERR_RESOURCE,
                      "too many failed logins for this email; try again in %lld s",
                      db_get_ll(res, 0, 1) > 0 ? db_get_ll(res, 0, 1) : 1);
    }
out:
    if (res)
        PQclear(res);
    return rc;
}

static void users__throttle_record(rpc_ctx *ctx, const char *email, int failed)
{
    static const db_stmt fail = {
        "users_throttle_fail",
        "INSERT INTO login_failures AS f (email, failures, window_start)"
        " VALUES (lower($1), 1, now()) ON CONFLICT (email) DO UPDATE SET"
        " failures = CASE WHEN f.window_start <= now() - make_interval(secs => $2::int)"
        "   THEN 1 ELSE f.failures + 1 END,"
        " window_start = CASE WHEN f.window_start <= now() - make_interval(secs => $2::int)"
        "   THEN now() ELSE f.window_start END",
        2};
    static const db_stmt clear = {"users_throttle_clear",
                                  "DELETE FROM login_failures WHERE email = lower($1)", 1};
    char win[16];
    const char *p[] = {email, win};
    cs_err rc;
    snprintf(win, sizeof win, "%d", svc_app_of(ctx)->cfg.login_window);
    rc = db_exec_stmt(svc_db(ctx), 0, failed ? &fail : &clear, p, NULL);
    if (rc != CS_OK)
        log_warn("login throttle bookkeeping failed: %s", db_errmsg(svc_db(ctx)));
}

cs_err users_login(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    static const db_stmt st = {"users_login",
                               "SELECT u.id, u.password_hash FROM users u"
                               " WHERE lower(u.email) = lower($1)",
                               1};
    const Callservice__V1__LoginRequest *r = (const void *)req;
    validate_field f[] = {{"email", VALIDATE_REQUIRED, r->email},
                          {"password", VALIDATE_REQUIRED, r->password}};
    const char *p[] = {r->email};
    char msg[160], id[40];
    PGresult *res = NULL;
    int ok;
    cs_err rc;
    if (validate_fields(f, 2, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    rc = users__throttle_check(ctx, r->email);
    if (rc != CS_OK)
        return rc;
    rc = db_exec_stmt(svc_db(ctx), DB_RETRY, &st, p, &res);
    if (rc != CS_OK)
        return svc_db_fail(ctx, rc);
    if (PQntuples(res) == 0) {
        password_verify_dummy(r->password);
        ok = 0;
    } else {
        ok = password_verify(db_get_str(res, 0, 1), r->password);
        snprintf(id, sizeof id, "%s", db_get_str(res, 0, 0));
    }
    PQclear(res);
    users__throttle_record(ctx, r->email, !ok);
    if (!ok) {
        log_info("login failed for %s", r->email);
        return rpc_fail(ctx, CS_ERR_UNAUTHENTICATED, BAD_LOGIN);
    }
    snprintf(ctx->user_id, sizeof ctx->user_id, "%s", id);
    log_set_context(ctx->request_id, id);
    return users__auth_response(ctx, id, resp);
}

cs_err users_get_profile(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    auth_identity me;
    cs_err rc = svc_auth(ctx, &me);
    (void)req;
    if (rc != CS_OK)
        return rc;
    return users__answer_user(ctx, me.user_id, 1, resp);
}

/* The changes UpdateProfile and UpdateUser share: NULL means unchanged. */
typedef struct users_change {
    const char *name, *email, *password, *role;
} users_change;

/* Applies ch to user id in one transaction (with the last-admin guard when
 * the role changes). Sets the status message on failure. */
static cs_err users__apply(rpc_ctx *ctx, const char *id, const users_change *ch)
{
    static const char *const lock[] = {USERS_ADMIN_LOCK};
    db_conn *db = svc_db(ctx);
    char hash[PASSWORD_HASH_MAX];
    const char *p[] = {id, ch->name, ch->email, NULL, ch->role};
    PGresult *res = NULL;
    cs_err rc;
    if (ch->password) {
        if (password_hash(ch->password, hash, sizeof hash) != CS_OK)
            return rpc_fail(ctx, CS_ERR_INTERNAL, "cannot hash password");
        p[3] = hash;
    }
    rc = db_begin(db);
    if (rc != CS_OK)
        return svc_db_fail(ctx, rc);
    if (ch->role && strcmp(ch->role, "admin") != 0) {
        /* Demoting: never leave the service without an admin. */
        rc = db_exec(db, 0, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock, NULL);
        if (rc == CS_OK)
            rc = db_exec(db, 0,
                         "SELECT (SELECT role FROM users WHERE id = $1) = 'admin'"
                         " AND (SELECT count(*) FROM users WHERE role = 'admin') <= 1",
                         1, p, &res);
        if (rc == CS_OK && db_get_bool(res, 0, 0)) {
            rc = rpc_fail(ctx, CS_ERR_PRECONDITION, "cannot demote the last admin");
            goto out;
        }
    }
    if (rc == CS_OK) {
        if (res)
            PQclear(res);
        res = NULL;
        rc = db_exec(db, 0,
                     "UPDATE users SET name = COALESCE($2, name), email = COALESCE($3, email),"
                     " password_hash = COALESCE($4, password_hash), role = COALESCE($5, role),"
                     " updated_at = now() WHERE id = $1",
                     5, p, &res);
    }
    if (rc == CS_ERR_EXISTS) {
        rc = rpc_fail(ctx, rc, "email already registered");
        goto out;
    }
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    if (strcmp(PQcmdTuples(res), "0") == 0) {
        rc = rpc_fail(ctx, CS_ERR_NOT_FOUND, "user %s not found", id);
        goto out;
    }
    rc = db_commit(db);
    if (rc != CS_OK)
        rc = svc_db_fail(ctx, rc);
    else
        ucache_invalidate(svc_app_of(ctx)->users_cache, id);
out:
    if (rc != CS_OK)
        db_rollback(db);
    if (res)
        PQclear(res);
    return rc;
}

cs_err users_update_profile(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__UpdateProfileRequest *r = (const void *)req;
    users_change ch = {0};
    validate_field f[3];
    size_t n = 0;
    char msg[160];
    auth_identity me;
    cs_err rc = svc_auth(ctx, &me);
    if (rc != CS_OK)
        return rc;
    if (r->name_opt_case == CALLSERVICE__V1__UPDATE_PROFILE_REQUEST__NAME_OPT_NAME)
        f[n++] = (validate_field){"name", VALIDATE_NAME, ch.name = r->name};
    if (r->email_opt_case == CALLSERVICE__V1__UPDATE_PROFILE_REQUEST__EMAIL_OPT_EMAIL)
        f[n++] = (validate_field){"email", VALIDATE_EMAIL, ch.email = r->email};
    if (r->password_opt_case == CALLSERVICE__V1__UPDATE_PROFILE_REQUEST__PASSWORD_OPT_PASSWORD)
        f[n++] = (validate_field){"password", VALIDATE_PASSWORD, ch.password = r->password};
    if (validate_fields(f, n, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    if (ch.password) {
        /* A stolen token alone must not be enough to take the account. */
        static const db_stmt st = {"users_hash_by_id",
                                   "SELECT password_hash FROM users WHERE id = $1", 1};
        const char *p[] = {me.user_id};
        PGresult *res = NULL;
        int ok;
        if (!r->current_password || !*r->current_password)
            return users__invalid(ctx, "current_password: is required to change the password");
        rc = db_exec_stmt(svc_db(ctx), DB_RETRY, &st, p, &res);
        if (rc != CS_OK)
            return svc_db_fail(ctx, rc);
        if (PQntuples(res) == 0) {
            PQclear(res);
            return rpc_fail(ctx, CS_ERR_NOT_FOUND, "user %s not found", me.user_id);
        }
        ok = password_verify(db_get_str(res, 0, 0), r->current_password);
        PQclear(res);
        if (!ok)
            return users__invalid(ctx, "current_password: does not match");
    }
    if (n > 0 && (rc = users__apply(ctx, me.user_id, &ch)) != CS_OK)
        return rc;
    return users__answer_user(ctx, me.user_id, 1, resp);
}

cs_err users_list(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    static const db_stmt count_st = {
        "users_list_count",
        "SELECT count(*) FROM users u WHERE ($1::text IS NULL OR u.role = $1)"
        " AND ($2 = '' OR strpos(lower(u.name), lower($2)) > 0"
        "   OR strpos(lower(u.email), lower($2)) > 0)"
        " AND ($3::uuid IS NULL OR u.id = $3::uuid)",
        3};
    static const db_stmt page_st = {"users_list_page",
                                    "SELECT " USERS_COLS USERS_FROM
                                    " WHERE ($1::text IS NULL OR u.role = $1)"
                                    " AND ($2 = '' OR strpos(lower(u.name), lower($2)) > 0"
                                    "   OR strpos(lower(u.email), lower($2)) > 0)"
                                    " AND ($3::uuid IS NULL OR u.id = $3::uuid)"
                                    " ORDER BY u.created_at, u.id LIMIT $4::int OFFSET $5::bigint",
                                    5};
    const Callservice__V1__ListUsersRequest *r = (const void *)req;
    Callservice__V1__ListUsersResponse *out = NULL;
    validate_field f[] = {{"query", VALIDATE_QUERY, r->query}};
    int page = r->page ? r->page : 1, limit = r->limit ? r->limit : 20;
    char msg[160], lim[16], off[24];
    const char *p[5];
    PGresult *cres = NULL, *res = NULL;
    auth_identity me;
    long long total;
    cs_err rc = svc_auth(ctx, &me);
    if (rc != CS_OK)
        return rc;
    if (page < 1)
        return users__invalid(ctx, "page: must be 1 or more");
    if (limit < 1 || limit > 100)
        return users__invalid(ctx, "limit: must be between 1 and 100");
    if (validate_role("role", (int)r->role, 1, msg, sizeof msg) != CS_OK ||
        validate_fields(f, 1, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(off, sizeof off, "%lld", (long long)(page - 1) * limit);
    p[0] = r->role ? auth_role_name((auth_role)r->role) : NULL;
    p[1] = r->query ? r->query : "";
    p[2] = auth_sees_all(&me) ? NULL : me.user_id; /* an agent sees only itself */
    p[3] = lim;
    p[4] = off;
    rc = db_exec_stmt(svc_db(ctx), DB_RETRY, &count_st, p, &cres);
    if (rc == CS_OK)
        rc = db_exec_stmt(svc_db(ctx), DB_RETRY, &page_st, p, &res);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    total = db_get_ll(cres, 0, 0);
    rc = CS_ERR_INTERNAL;
    out = malloc(sizeof *out);
    if (!out)
        goto oom;
    callservice__v1__list_users_response__init(out);
    out->page_info = malloc(sizeof *out->page_info);
    out->users = calloc((size_t)PQntuples(res) + 1, sizeof *out->users);
    if (!out->page_info || !out->users)
        goto oom;
    callservice__v1__page_info__init(out->page_info);
    out->page_info->page = page;
    out->page_info->limit = limit;
    out->page_info->total = (int32_t)total;
    out->page_info->pages = (int32_t)((total + limit - 1) / limit);
    for (int i = 0; i < PQntuples(res); i++) {
        /* Secrets: admins see all, others only their own. */
        int secret = users__is_admin(&me) || strcmp(db_get_str(res, i, 0), me.user_id) == 0;
        out->users[i] = users__from_row(svc_app_of(ctx), res, i, secret);
        if (!out->users[i])
            goto oom;
        out->n_users++;
    }
    *resp = &out->base;
    out = NULL;
    rc = CS_OK;
    goto out;
oom:
    rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
out:
    if (out)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    if (cres)
        PQclear(cres);
    if (res)
        PQclear(res);
    return rc;
}

cs_err users_create(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__CreateUserRequest *r = (const void *)req;
    validate_field f[] = {{"name", VALIDATE_NAME, r->name},
                          {"email", VALIDATE_EMAIL, r->email},
                          {"password", VALIDATE_PASSWORD, r->password}};
    char msg[160], id[40] = "";
    auth_identity me;
    cs_err rc = svc_auth_role(ctx, &me, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN));
    if (rc != CS_OK)
        return rc;
    if (validate_fields(f, 3, msg, sizeof msg) != CS_OK ||
        validate_role("role", (int)r->role, 1, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    rc = users__create_user(ctx, r->name, r->email, r->password,
                            r->role ? (auth_role)r->role : AUTH_ROLE_AGENT, id);
    if (rc != CS_OK)
        return rc;
    return users__answer_user(ctx, id, 1, resp);
}

cs_err users_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__GetUserRequest *r = (const void *)req;
    validate_field f[] = {{"user_id", VALIDATE_UUID, r->user_id}};
    char msg[160];
    auth_identity me;
    int self;
    cs_err rc = svc_auth(ctx, &me);
    if (rc != CS_OK)
        return rc;
    if (validate_fields(f, 1, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    self = strcasecmp(r->user_id, me.user_id) == 0;
    if (!self && !auth_sees_all(&me))
        return rpc_fail(ctx, CS_ERR_PERMISSION,
                        "permission denied: agents may only see themselves");
    return users__answer_user(ctx, r->user_id, self || users__is_admin(&me), resp);
}

cs_err users_update(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__UpdateUserRequest *r = (const void *)req;
    users_change ch = {0};
    validate_field f[4];
    size_t n = 0;
    char msg[160];
    auth_identity me;
    cs_err rc = svc_auth_role(ctx, &me, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN));
    if (rc != CS_OK)
        return rc;
    f[n++] = (validate_field){"user_id", VALIDATE_UUID, r->user_id};
    if (r->name_opt_case == CALLSERVICE__V1__UPDATE_USER_REQUEST__NAME_OPT_NAME)
        f[n++] = (validate_field){"name", VALIDATE_NAME, ch.name = r->name};
    if (r->email_opt_case == CALLSERVICE__V1__UPDATE_USER_REQUEST__EMAIL_OPT_EMAIL)
        f[n++] = (validate_field){"email", VALIDATE_EMAIL, ch.email = r->email};
    if (r->password_opt_case == CALLSERVICE__V1__UPDATE_USER_REQUEST__PASSWORD_OPT_PASSWORD)
        f[n++] = (validate_field){"password", VALIDATE_PASSWORD, ch.password = r->password};
    if (validate_fields(f, n, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    if (r->role_opt_case == CALLSERVICE__V1__UPDATE_USER_REQUEST__ROLE_OPT_ROLE) {
        if (validate_role("role", (int)r->role, 0, msg, sizeof msg) != CS_OK)
            return users__invalid(ctx, msg);
        ch.role = auth_role_name((auth_role)r->role);
    }
    rc = users__apply(ctx, r->user_id, &ch);
    if (rc != CS_OK)
        return rc;
    return users__answer_user(ctx, r->user_id, 1, resp);
}

cs_err users_delete(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    static const char *const lock[] = {USERS_ADMIN_LOCK};
    const Callservice__V1__DeleteUserRequest *r = (const void *)req;
    validate_field f[] = {{"user_id", VALIDATE_UUID, r->user_id}};
    Callservice__V1__DeleteUserResponse *out;
    const char *p[] = {r->user_id};
    db_conn *db = svc_db(ctx);
    PGresult *res = NULL;
    char msg[160];
    auth_identity me;
    cs_err rc = svc_auth_role(ctx, &me, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN));
    if (rc != CS_OK)
        return rc;
    if (validate_fields(f, 1, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    rc = db_begin(db);
    if (rc == CS_OK)
        rc = db_exec(db, 0, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock, NULL);
    if (rc == CS_OK)
        rc = db_exec(db, 0,
                     "SELECT (SELECT role FROM users WHERE id = $1) = 'admin'"
                     " AND (SELECT count(*) FROM users WHERE role = 'admin') <= 1",
                     1, p, &res);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    if (db_get_bool(res, 0, 0)) {
        rc = rpc_fail(ctx, CS_ERR_PRECONDITION, "cannot delete the last admin");
        goto out;
    }
    PQclear(res);
    res = NULL;
    /* The device row cascades, which frees the extension; the trigger
     * drops Asterisk's rows. */
    rc = db_exec(db, 0, "DELETE FROM users WHERE id = $1", 1, p, &res);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    if (strcmp(PQcmdTuples(res), "0") == 0) {
        rc = rpc_fail(ctx, CS_ERR_NOT_FOUND, "user %s not found", r->user_id);
        goto out;
    }
    rc = db_commit(db);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    ucache_invalidate(svc_app_of(ctx)->users_cache, r->user_id);
    out = malloc(sizeof *out);
    if (!out) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    callservice__v1__delete_user_response__init(out);
    *resp = &out->base;
    log_info("user %s deleted", r->user_id);
out:
    if (rc != CS_OK)
        db_rollback(db);
    if (res)
        PQclear(res);
    return rc;
}

cs_err users_set_status(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__SetStatusRequest *r = (const void *)req;
    svc_app *app = svc_app_of(ctx);
    db_conn *db = svc_db(ctx);
    Callservice__V1__User *u = NULL;
    char msg[160];
    const char *p[2];
    PGresult *res = NULL;
    auth_identity me;
    cs_err rc = svc_auth(ctx, &me);
    if (rc != CS_OK)
        return rc;
    if (validate_presence("status", (int)r->status, msg, sizeof msg) != CS_OK)
        return users__invalid(ctx, msg);
    p[0] = me.user_id;
    p[1] = users_presence_name((int)r->status);
    rc = db_begin(db);
    if (rc == CS_OK)
        rc = db_exec(db, 0,
                     "UPDATE users u SET status = $2, updated_at = now()"
                     " FROM (SELECT id, status AS old FROM users WHERE id = $1 FOR UPDATE) o"
                     " WHERE u.id = o.id RETURNING o.old",
                     2, p, &res);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = rpc_fail(ctx, CS_ERR_NOT_FOUND, "user %s not found", me.user_id);
        goto out;
    }
    rc = users_load(app, db, me.user_id, 1, &u);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    /* The presence event goes in the same transaction as the change; an
     * unchanged status writes none. */
    if (app->on_presence && strcmp(db_get_str(res, 0, 0), p[1]) != 0) {
        rc = app->on_presence(app, db, u);
        if (rc != CS_OK) {
            rc = svc_db_fail(ctx, rc);
            goto out;
        }
    }
    rc = db_commit(db);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    ucache_invalidate(app->users_cache, me.user_id);
    *resp = &u->base;
    u = NULL;
out:
    if (rc != CS_OK)
        db_rollback(db);
    if (u)
        protobuf_c_message_free_unpacked(&u->base, NULL);
    if (res)
        PQclear(res);
    return rc;
}
