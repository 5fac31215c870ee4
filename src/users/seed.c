/*
 * users seed: the first admin (ADMIN_EMAIL / ADMIN_PASSWORD) and demo
 * users for the local stack. Idempotent: an email that exists is left as
 * it is (its password is not reset), so running seed on every start is
 * safe.
 */
#include "users_int.h"

#include <string.h>

#include "auth/password.h"
#include "validate.h"

typedef struct users_seed_row {
    const char *name, *email, *password, *role;
} users_seed_row;

static const users_seed_row users__demo[] = {
    {"Sam Supervisor", "supervisor@example.com", "supervisor123", "supervisor"},
    {"Alice Agent", "alice@example.com", "agent123", "agent"},
    {"Bob Agent", "bob@example.com", "agent123", "agent"},
    {"Carol Agent", "carol@example.com", "agent123", "agent"},
};

/* Creates row unless its email exists; prints the login either way. */
static int users__seed_one(const svc_app *app, db_conn *db, const users_seed_row *row, FILE *out)
{
    const char *p[] = {row->email};
    char hash[PASSWORD_HASH_MAX], id[40], msg[160];
    PGresult *res = NULL;
    int created = 0, rc = -1;
    cs_err e = db_begin(db);
    if (e == CS_OK)
        e = db_exec(db, 0,
                    "SELECT d.extension FROM users u LEFT JOIN sip_devices d ON d.user_id = u.id"
                    " WHERE lower(u.email) = lower($1)",
                    1, p, &res);
    if (e != CS_OK)
        goto db_err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
        if (password_hash(row->password, hash, sizeof hash) != CS_OK)
            goto out;
        e = users__insert(app, db, row->name, row->email, hash, row->role, id, msg, sizeof msg);
        if (e != CS_OK) {
            log_error("seed %s: %s", row->email, msg);
            goto out;
        }
        e = db_exec(db, 0, "SELECT extension FROM sip_devices WHERE user_id = $1", 1,
                    (const char *const[]){id}, &res);
        if (e != CS_OK)
            goto db_err;
        created = 1;
    }
    e = db_commit(db);
    if (e != CS_OK)
        goto db_err;
    fprintf(out, "  %-10s %-28s password %-16s extension %-6s %s\n", row->role, row->email,
            created ? row->password : "(unchanged)", db_get_str(res, 0, 0),
            created ? "created" : "exists");
    rc = 0;
    goto out;
db_err:
    log_error("seed %s: %s", row->email, db_errmsg(db));
out:
    if (rc != 0)
        db_rollback(db);
    if (res)
        PQclear(res);
    return rc;
}

int users_seed(const svc_app *app, db_conn *db, FILE *out)
{
    users_seed_row admin = {"Administrator", app->cfg.admin_email, app->cfg.admin_password,
                            "admin"};
    validate_field f[] = {{"ADMIN_EMAIL", VALIDATE_EMAIL, admin.email},
                          {"ADMIN_PASSWORD", VALIDATE_PASSWORD, admin.password}};
    char msg[160];
    int rc = 0;
    if (validate_fields(f, 2, msg, sizeof msg) != CS_OK) {
        log_error("seed: %s", msg);
        return -1;
    }
    fprintf(out, "Logins:\n");
    rc |= users__seed_one(app, db, &admin, out);
    for (size_t i = 0; i < sizeof users__demo / sizeof *users__demo; i++)
        rc |= users__seed_one(app, db, &users__demo[i], out);
    return rc ? -1 : 0;
}
