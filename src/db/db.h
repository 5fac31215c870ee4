/*
 * db: a small layer over libpq. One db_conn per worker thread (libpq
 * connections are not shared between threads).
 *
 * - Lazy connect: db_open() only remembers the URL; the first query
 *   connects. A query that finds the connection broken drops it, so the
 *   next query reconnects: when PostgreSQL comes back, the service works
 *   again without a restart. While it is down every call gets
 *   CS_ERR_UNAVAILABLE "database unavailable".
 * - Parameterized queries only (PQexecParams), and prepared statements for
 *   the hot path (db_stmt: prepared once per connection, again after a
 *   reconnect).
 * - Errors map to cs_err by SQLSTATE through one table (23505 unique
 *   violation => CS_ERR_EXISTS, class 08 => CS_ERR_UNAVAILABLE, ...); the
 *   violated constraint's name is kept so that callers can tell a duplicate
 *   email from a taken extension.
 * - Retrying: a statement that failed because the connection broke is sent
 *   again once, on a new connection, only when that cannot run anything
 *   twice: outside a transaction and marked DB_RETRY by the caller (reads,
 *   BEGIN). Anything else reports CS_ERR_UNAVAILABLE and the caller's client
 *   retries.
 *
 * Ownership: db_open returns a db_conn the caller frees with db_close. A
 * PGresult handed out through *res belongs to the caller (PQclear); on an
 * error *res is NULL. Strings from db_errmsg/db_constraint live in the
 * db_conn until its next query.
 */
#ifndef CS_DB_H
#define CS_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/err.h"

typedef struct db_conn db_conn;

/* A statement prepared lazily on each connection. Declare them static
 * const; name must be unique in the program. */
typedef struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
} db_stmt;

enum { DB_RETRY = 1 };

/* Statements that may wait for the COMMIT in one transaction while a
 * savepoint is set (db_exec_stmt_at_commit) */
enum { DB_MAX_AT_COMMIT = 16 };

/* Never NULL unless out of memory. Does not connect. */
db_conn *db_open(const char *url);
void db_close(db_conn *c);

/* Runs sql with n text parameters (NULL entries are SQL NULL). On CS_OK,
 * *res (if res is not NULL) is the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK); the caller PQclears it. */
cs_err db_exec(db_conn *c, int flags, const char *sql, int n, const char *const *params,
               PGresult **res) __attribute__((warn_unused_result));
/* Same through a prepared statement. */
cs_err db_exec_stmt(db_conn *c, int flags, const db_stmt *st, const char *const *params,
                    PGresult **res) __attribute__((warn_unused_result));
/* Queues st with its parameters (copied) to be sent, in the order queued,
 * in one round trip with the transaction's next statement or its COMMIT.
 * Only inside a transaction (db_begin), for statements whose result nobody
 * needs. A failure of a deferred statement is the failure of the call that
 * sends it (the statement after, or db_commit, which then rolls back);
 * db_rollback drops what is queued. */
cs_err db_exec_stmt_deferred(db_conn *c, const db_stmt *st, const char *const *params)
    __attribute__((warn_unused_result));
/* Same, but held until the COMMIT and sent in its round trip (after the
 * statements deferred as above), in the order queued: for a statement that
 * takes a lock its transaction should hold only while it commits (the
 * events append). While a savepoint is set, at most DB_MAX_AT_COMMIT
 * (CS_ERR_INTERNAL after); else a full queue is sent at once. */
cs_err db_exec_stmt_at_commit(db_conn *c, const db_stmt *st, const char *const *params)
    __attribute__((warn_unused_result));
/* One savepoint at a time, for work inside a transaction that may fail
 * alone. db_savepoint sets it (releasing one still set); SAVEPOINT goes
 * out with the next statement. db_release_savepoint sends what is
 * deferred (not what waits for the COMMIT) and RELEASE now, so that a
 * failure of the work's deferred statements is reported here, to it.
 * db_rollback_to_savepoint undoes what ran after the savepoint and drops
 * what was queued after it (deferred or at commit); the savepoint stays.
 * Both fail when there is none; a failed rollback to it (the statement
 * that carried the SAVEPOINT failed before it) leaves only db_rollback. */
cs_err db_savepoint(db_conn *c) __attribute__((warn_unused_result));
cs_err db_release_savepoint(db_conn *c) __attribute__((warn_unused_result));
cs_err db_rollback_to_savepoint(db_conn *c) __attribute__((warn_unused_result));
/* A script of several statements, no parameters (migrations only). */
cs_err db_exec_script(db_conn *c, const char *sql) __attribute__((warn_unused_result));

/* Transactions. db_rollback is safe to call after any failure, also when
 * no transaction is open or the connection is gone. */
cs_err db_begin(db_conn *c) __attribute__((warn_unused_result));
cs_err db_commit(db_conn *c) __attribute__((warn_unused_result));
void db_rollback(db_conn *c);
int db_in_transaction(const db_conn *c);

/* Connects if needed and runs SELECT 1. */
cs_err db_ping(db_conn *c);

/* What went wrong in the last failed call: a message fit for logs, the
 * SQLSTATE ("" if none) and the violated constraint ("" if none). */
const char *db_errmsg(const db_conn *c);
const char *db_sqlstate(const db_conn *c);
const char *db_constraint(const db_conn *c);

/* A message for the client for e as returned by a db_ call ("database
 * unavailable", "database timeout", ...): never leaks SQL text or data. */
const char *db_public_error(cs_err e);

/* SQLSTATE => cs_err (the mapping table, exposed for tests). NULL or ""
 * (no server answer: connection lost) => CS_ERR_UNAVAILABLE. */
cs_err db_err_from_sqlstate(const char *sqlstate);

/* Result helpers. The strings returned point into res. */
const char *db_get(const PGresult *res, int row, int col);     /* NULL for SQL NULL */
const char *db_get_str(const PGresult *res, int row, int col); /* "" for SQL NULL */
long long db_get_ll(const PGresult *res, int row, int col);    /* 0 for NULL / bad */
int db_get_bool(const PGresult *res, int row, int col);

/* Migrations: applies <dir>/NNNN_name.sql files not yet recorded in
 * schema_migrations, in order, each in its own transaction, under a
 * session advisory lock so that two instances migrating at once take
 * turns. *applied (if not NULL) is set to how many were applied. */
cs_err db_migrate(db_conn *c, const char *dir, int *applied) __attribute__((warn_unused_result));
/* Lists the migration files of dir (NNNN_*.sql), sorted; the caller frees
 * each name and the array. Returns the count, or -1 if dir cannot be read. */
int db_migration_files(const char *dir, char ***names);

#endif
