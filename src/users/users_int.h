/* users internals shared by users.c, store.c and seed.c. */
#ifndef CS_USERS_INT_H
#define CS_USERS_INT_H

#include "users.h"

/* Columns of a user as the API shows it (11), and the join they need. */
#define USERS_COLS                                                                                 \
    "u.id, u.name, u.email, u.role, u.status,"                                                     \
    " (extract(epoch FROM u.created_at) * 1000000)::bigint,"                                       \
    " (extract(epoch FROM u.updated_at) * 1000000)::bigint,"                                       \
    " d.extension, d.username, d.secret, d.context"
#define USERS_FROM  " FROM users u LEFT JOIN sip_devices d ON d.user_id = u.id"
#define USERS_NCOLS 11

/* Builds a User from row of res (USERS_COLS first). NULL when out of
 * memory. */
Callservice__V1__User *users__from_row(const svc_app *app, const PGresult *res, int row,
                                       int with_secret);

/* Inserts a user and its SIP device inside the caller's transaction.
 * password_hash is already hashed. On CS_OK, id (37 bytes) holds the new
 * id. Errors: EXISTS (email taken), RESOURCE (no free extension; msg
 * says so), or a database error. */
cs_err users__insert(const svc_app *app, db_conn *db, const char *name, const char *email,
                     const char *password_hash, const char *role, char *id, char *msg,
                     size_t msglen);

/* Fills buf with n random characters from [A-Za-z0-9] (getrandom). */
int users__random_secret(char *buf, size_t n);

#endif
