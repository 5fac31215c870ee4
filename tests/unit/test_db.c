/*
 * Unit tests of src/db: the SQLSTATE table and migration file listing
 * always; against a live PostgreSQL (CS_TEST_DATABASE_URL, a scratch
 * database: the tests create and drop their own tables) also migrations
 * applied twice, unique violation => EXISTS, transactions, and
 * reconnecting after the server killed our session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

static void test_sqlstate_map(void **state)
{
    (void)state;
    assert_int_equal(db_err_from_sqlstate("23505"), CS_ERR_EXISTS);
    assert_int_equal(db_err_from_sqlstate("23514"), CS_ERR_INVALID);
    assert_int_equal(db_err_from_sqlstate("22P02"), CS_ERR_INVALID);
    assert_int_equal(db_err_from_sqlstate("08006"), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate("57P01"), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate("40001"), CS_ERR_ABORTED);
    assert_int_equal(db_err_from_sqlstate("57014"), CS_ERR_DEADLINE);
    assert_int_equal(db_err_from_sqlstate("42P01"), CS_ERR_INTERNAL);
    assert_int_equal(db_err_from_sqlstate(""), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate(NULL), CS_ERR_UNAVAILABLE);
    assert_string_equal(db_public_error(CS_ERR_UNAVAILABLE), "database unavailable");
    assert_string_equal(db_public_error(CS_ERR_INTERNAL), "internal database error");
}

static void test_migration_files(void **state)
{
    char **names = NULL;
    int n = db_migration_files(CS_SQL_DIR, &names);
    (void)state;
    assert_true(n >= 1);
    assert_string_equal(names[0], "0001_users.sql");
    for (int i = 1; i < n; i++)
        assert_true(strcmp(names[i - 1], names[i]) < 0);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_int_equal(db_migration_files("/nonexistent/dir", &names), -1);
    assert_null(names);
}

static void test_unreachable(void **state)
{
    /* Nothing listens on port 1: UNAVAILABLE, no crash, retried lazily. */
    db_conn *c = db_open("postgresql://127.0.0.1:1/x?connect_timeout=1");
    PGresult *res = NULL;
    (void)state;
    assert_int_equal(db_ping(c), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_exec(c, DB_RETRY, "SELECT 1", 0, NULL, &res), CS_ERR_UNAVAILABLE);
    assert_null(res);
    assert_int_equal(db_begin(c), CS_ERR_UNAVAILABLE);
    db_rollback(c);
    assert_true(strlen(db_errmsg(c)) > 0);
    db_close(c);
}

static const char *live_url(void)
{
    const char *u = getenv("CS_TEST_DATABASE_URL");
    return (u && *u) ? u : NULL;
}

static void test_live_basics(void **state)
{
    static const db_stmt st = {"test_db_add", "SELECT $1::int + $2::int", 2};
    const char *p2[] = {"40", "2"};
    const char *dup[] = {"x"};
    PGresult *res = NULL;
    db_conn *c;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_exec_script(c, "DROP TABLE IF EXISTS test_db_t;"
                                       "CREATE TABLE test_db_t (k text PRIMARY KEY)"),
                     CS_OK);
    assert_int_equal(db_exec_stmt(c, DB_RETRY, &st, p2, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 42);
    assert_null(db_get(res, 5, 0));
    PQclear(res);
    /* unique violation => EXISTS with the constraint's name */
    assert_int_equal(db_exec(c, 0, "INSERT INTO test_db_t VALUES ($1)", 1, dup, NULL), CS_OK);
    assert_int_equal(db_exec(c, 0, "INSERT INTO test_db_t VALUES ($1)", 1, dup, NULL),
                     CS_ERR_EXISTS);
    assert_string_equal(db_sqlstate(c), "23505");
    assert_string_equal(db_constraint(c), "test_db_t_pkey");
    /* a rolled back transaction leaves nothing */
    assert_int_equal(db_begin(c), CS_OK);
    assert_true(db_in_transaction(c));
    dup[0] = "y";
    assert_int_equal(db_exec(c, 0, "INSERT INTO test_db_t VALUES ($1)", 1, dup, NULL), CS_OK);
    db_rollback(c);
    assert_false(db_in_transaction(c));
    assert_int_equal(db_exec(c, 0, "SELECT count(*) FROM test_db_t", 0, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 1);
    PQclear(res);
    /* bad uuid text => INVALID */
    dup[0] = "not-a-uuid";
    assert_int_equal(db_exec(c, 0, "SELECT $1::uuid", 1, dup, NULL), CS_ERR_INVALID);
    assert_int_equal(db_exec_script(c, "DROP TABLE test_db_t"), CS_OK);
    db_close(c);
}

static void test_live_reconnect(void **state)
{
    /* Another session kills ours (as a server restart would): the next
     * retryable statement reconnects by itself, prepared statements are
     * prepared again. */
    static const db_stmt st = {"test_db_pid", "SELECT pg_backend_pid()::text", 0};
    PGresult *res = NULL;
    char pid[32];
    const char *p[1] = {pid};
    db_conn *c, *killer;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    killer = db_open(live_url());
    assert_int_equal(db_exec_stmt(c, DB_RETRY, &st, NULL, &res), CS_OK);
    snprintf(pid, sizeof pid, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    assert_int_equal(db_exec(killer, 0, "SELECT pg_terminate_backend($1::int)", 1, p, NULL), CS_OK);
    /* not retryable: reports UNAVAILABLE once, then works */
    assert_int_equal(db_exec(c, 0, "SELECT 1", 0, NULL, NULL), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_exec_stmt(c, DB_RETRY, &st, NULL, &res), CS_OK);
    assert_string_not_equal(db_get_str(res, 0, 0), pid);
    snprintf(pid, sizeof pid, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    /* retryable: transparent */
    assert_int_equal(db_exec(killer, 0, "SELECT pg_terminate_backend($1::int)", 1, p, NULL), CS_OK);
    assert_int_equal(db_exec_stmt(c, DB_RETRY, &st, NULL, &res), CS_OK);
    PQclear(res);
    /* killed between db_begin and the transaction's first statement (BEGIN
     * goes out with that statement): nothing has run, the first statement
     * reconnects by itself and the transaction goes on there */
    assert_int_equal(db_exec_stmt(c, DB_RETRY, &st, NULL, &res), CS_OK);
    snprintf(pid, sizeof pid, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec(killer, 0, "SELECT pg_terminate_backend($1::int)", 1, p, NULL), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &st, NULL, &res), CS_OK);
    assert_string_not_equal(db_get_str(res, 0, 0), pid);
    snprintf(pid, sizeof pid, "%s", db_get_str(res, 0, 0));
    PQclear(res);
    assert_true(db_in_transaction(c));
    /* in a transaction begun before this statement (in autocommit both
     * times are the statement's own) */
    assert_int_equal(db_exec(c, 0, "SELECT now() < statement_timestamp()", 0, NULL, &res), CS_OK);
    assert_true(db_get_bool(res, 0, 0));
    PQclear(res);
    assert_int_equal(db_commit(c), CS_OK);
    /* killed inside a transaction: the rest of it fails, never runs in
     * autocommit on a new connection */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &st, NULL, &res), CS_OK);
    PQclear(res);
    assert_int_equal(db_exec(killer, 0, "SELECT pg_terminate_backend($1::int)", 1, p, NULL), CS_OK);
    assert_int_equal(db_exec(c, DB_RETRY, "SELECT 1", 0, NULL, NULL), CS_ERR_UNAVAILABLE);
    assert_int_equal(db_exec(c, DB_RETRY, "SELECT 1", 0, NULL, NULL), CS_ERR_UNAVAILABLE);
    db_rollback(c);
    assert_int_equal(db_ping(c), CS_OK);
    db_close(killer);
    db_close(c);
}

static void test_live_transactions(void **state)
{
    /* BEGIN goes out with a transaction's first statement: check what a
     * transaction does around that, with a statement prepared in the same
     * round trip, one already prepared, and a first statement that fails. */
    static const db_stmt ins = {"test_db_tx_ins", "INSERT INTO test_db_tx VALUES ($1::int)", 1};
    static const db_stmt cnt = {"test_db_tx_cnt", "SELECT count(*) FROM test_db_tx", 0};
    const char *one[] = {"1"}, *two[] = {"2"}, *bad[] = {"x"};
    PGresult *res = NULL;
    db_conn *c;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_exec_script(c, "DROP TABLE IF EXISTS test_db_tx;"
                                       "CREATE TABLE test_db_tx (k int PRIMARY KEY)"),
                     CS_OK);
    /* nothing in it: commits */
    assert_int_equal(db_begin(c), CS_OK);
    assert_true(db_in_transaction(c));
    assert_int_equal(db_commit(c), CS_OK);
    assert_false(db_in_transaction(c));
    /* first statement prepared on the way, rolled back: nothing stays */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &ins, one, NULL), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 1);
    PQclear(res);
    db_rollback(c);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 0);
    PQclear(res);
    /* already prepared, returning rows, committed */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(db_get_ll(res, 0, 0), 0);
    PQclear(res);
    assert_int_equal(db_exec_stmt(c, 0, &ins, two, NULL), CS_OK);
    assert_int_equal(db_commit(c), CS_OK);
    /* a failing first statement: its error, the transaction is rolled back,
     * the connection works on */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &ins, bad, &res), CS_ERR_INVALID);
    assert_null(res);
    assert_string_equal(db_sqlstate(c), "22P02");
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_ERR_INTERNAL); /* 25P02 */
    db_rollback(c);
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &ins, two, NULL), CS_ERR_EXISTS);
    assert_string_equal(db_constraint(c), "test_db_tx_pkey");
    db_rollback(c);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 1);
    PQclear(res);
    assert_int_equal(db_exec_script(c, "DROP TABLE test_db_tx"), CS_OK);
    db_close(c);
}

static void test_live_deferred(void **state)
{
    /* Deferred statements go out with the next statement or the COMMIT:
     * in order, their failure reported by the call that sends them, and
     * dropped by a rollback. */
    static const db_stmt ins = {"test_db_df_ins", "INSERT INTO test_db_df VALUES ($1::int, $2)", 2};
    static const db_stmt cnt = {"test_db_df_cnt", "SELECT count(*), max(k) FROM test_db_df", 0};
    const char *one[] = {"1", "a"}, *two[] = {"2", NULL}, *three[] = {"3", "c"};
    const char *dup[] = {"1", "again"};
    char big[5000];
    const char *large[] = {"4", big};
    PGresult *res = NULL;
    db_conn *c;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_exec_script(c, "DROP TABLE IF EXISTS test_db_df;"
                                       "CREATE TABLE test_db_df (k int PRIMARY KEY, v text)"),
                     CS_OK);
    /* outside a transaction: refused */
    assert_int_equal(db_exec_stmt_deferred(c, &ins, one), CS_ERR_INTERNAL);
    /* only deferred statements, then COMMIT: BEGIN, both and COMMIT in one
     * round trip; the parameters were copied (the caller's buffer changed) */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, one), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, large), CS_OK);
    big[0] = 'y';
    assert_int_equal(db_commit(c), CS_OK);
    assert_false(db_in_transaction(c));
    assert_int_equal(db_exec(c, 0, "SELECT v FROM test_db_df WHERE k = 4", 0, NULL, &res), CS_OK);
    assert_int_equal(PQgetlength(res, 0, 0), (int)sizeof big - 1);
    assert_int_equal(db_get_str(res, 0, 0)[0], 'x');
    PQclear(res);
    /* a statement after a deferred one sees its effect (sent first) */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, two), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 3);
    assert_int_equal(db_get_ll(res, 0, 1), 4);
    PQclear(res);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, three), CS_OK);
    assert_int_equal(db_commit(c), CS_OK);
    assert_int_equal(db_exec(c, 0, "SELECT v IS NULL FROM test_db_df WHERE k = 2", 0, NULL, &res),
                     CS_OK);
    assert_true(db_get_bool(res, 0, 0));
    PQclear(res);
    /* a deferred statement that fails: COMMIT reports it, the transaction
     * is over and rolled back, the connection works on */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec(c, 0, "DELETE FROM test_db_df WHERE k = 3", 0, NULL, NULL), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, dup), CS_OK);
    assert_int_equal(db_commit(c), CS_ERR_EXISTS);
    assert_string_equal(db_constraint(c), "test_db_df_pkey");
    assert_false(db_in_transaction(c));
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 4); /* the DELETE was rolled back */
    PQclear(res);
    /* ... or the statement that sends it reports it */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, dup), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_ERR_EXISTS);
    assert_null(res);
    db_rollback(c);
    /* a rollback drops what is queued */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec(c, 0, "SELECT 1", 0, NULL, NULL), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"5", "e"}), CS_OK);
    db_rollback(c);
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_commit(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 4);
    PQclear(res);
    /* more than the queue holds: the full queue goes out, order kept */
    assert_int_equal(db_begin(c), CS_OK);
    for (int k = 10; k < 30; k++) {
        char key[8];
        snprintf(key, sizeof key, "%d", k);
        assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){key, "n"}), CS_OK);
    }
    assert_int_equal(db_commit(c), CS_OK);
    assert_int_equal(db_exec_stmt(c, 0, &cnt, NULL, &res), CS_OK);
    assert_int_equal(db_get_ll(res, 0, 0), 24);
    assert_int_equal(db_get_ll(res, 0, 1), 29);
    PQclear(res);
    assert_int_equal(db_exec_script(c, "DROP TABLE test_db_df"), CS_OK);
    db_close(c);
}

/* Keys in test_db_sp, as "1,2,3" (ordered). */
static void sp_keys(db_conn *c, char *out, size_t len)
{
    PGresult *res = NULL;
    assert_int_equal(db_exec(c, 0,
                             "SELECT coalesce(string_agg(k::text, ',' ORDER BY k), '')"
                             " FROM test_db_sp",
                             0, NULL, &res),
                     CS_OK);
    snprintf(out, len, "%s", db_get_str(res, 0, 0));
    PQclear(res);
}

static void test_live_savepoints(void **state)
{
    /* Statements at commit wait for the COMMIT, after the deferred ones; a
     * savepoint goes out with the next statement; rolling back to it drops
     * what ran or was queued after it, at commit too; releasing it reports
     * the failure of what was deferred after it. */
    static const db_stmt ins = {"test_db_sp_ins", "INSERT INTO test_db_sp VALUES ($1::int)", 1};
    char keys[128];
    db_conn *c;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_exec_script(c, "DROP TABLE IF EXISTS test_db_sp;"
                                       "CREATE TABLE test_db_sp (k int PRIMARY KEY)"),
                     CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"1"}), CS_ERR_INTERNAL);
    assert_int_equal(db_savepoint(c), CS_ERR_INTERNAL);
    /* at commit: not sent with the next statement, only with the COMMIT */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"1"}), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"2"}), CS_OK);
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "2");
    assert_int_equal(db_commit(c), CS_OK);
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "1,2");
    /* no savepoint yet: nothing to release or roll back to */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_release_savepoint(c), CS_ERR_INTERNAL);
    assert_int_equal(db_rollback_to_savepoint(c), CS_ERR_INTERNAL);
    /* a savepoint that went out: what ran and what waits after it goes */
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"3"}), CS_OK);
    assert_int_equal(db_savepoint(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"4"}), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"5"}), CS_OK);
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "1,2,4");
    assert_int_equal(db_rollback_to_savepoint(c), CS_OK);
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "1,2");
    /* the next one replaces it; released, its work stays */
    assert_int_equal(db_savepoint(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"6"}), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"7"}), CS_OK);
    assert_int_equal(db_release_savepoint(c), CS_OK);
    /* one not sent yet: rolling back to it drops what was queued after it */
    assert_int_equal(db_savepoint(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"8"}), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"9"}), CS_OK);
    assert_int_equal(db_rollback_to_savepoint(c), CS_OK);
    /* a deferred failure is reported by the release, to its own work */
    assert_int_equal(db_savepoint(c), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"10"}), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"1"}), CS_OK);
    assert_int_equal(db_release_savepoint(c), CS_ERR_EXISTS);
    assert_int_equal(db_rollback_to_savepoint(c), CS_OK);
    assert_int_equal(db_commit(c), CS_OK);
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "1,2,3,6,7");
    /* the statement that carried the SAVEPOINT failed before it: there is
     * no savepoint to go back to, only the rollback */
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(db_exec_stmt_deferred(c, &ins, (const char *[]){"1"}), CS_OK);
    assert_int_equal(db_savepoint(c), CS_OK);
    assert_int_equal(db_exec_stmt_at_commit(c, &ins, (const char *[]){"11"}), CS_OK);
    assert_int_equal(db_exec(c, 0, "SELECT 1", 0, NULL, NULL), CS_ERR_EXISTS);
    assert_int_not_equal(db_rollback_to_savepoint(c), CS_OK);
    db_rollback(c);
    assert_false(db_in_transaction(c));
    sp_keys(c, keys, sizeof keys);
    assert_string_equal(keys, "1,2,3,6,7");
    assert_int_equal(db_exec_script(c, "DROP TABLE test_db_sp"), CS_OK);
    db_close(c);
}

static void test_live_migrate_twice(void **state)
{
    db_conn *c;
    int applied = -1;
    PGresult *res = NULL;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_migrate(c, CS_SQL_DIR, &applied), CS_OK);
    assert_int_equal(db_migrate(c, CS_SQL_DIR, &applied), CS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(db_exec(c, 0, "SELECT count(*) FROM schema_migrations", 0, NULL, &res), CS_OK);
    assert_true(db_get_ll(res, 0, 0) >= 1);
    PQclear(res);
    db_close(c);
}

/* 0006: a writer that ends a held call without knowing holds (an older
 * callsvc) has the hold finished by the trigger, not refused. */
static void test_live_hold_trigger(void **state)
{
    db_conn *c;
    PGresult *res = NULL;
    (void)state;
    if (!live_url())
        skip();
    c = db_open(live_url());
    assert_int_equal(db_migrate(c, CS_SQL_DIR, NULL), CS_OK);
    assert_int_equal(db_begin(c), CS_OK);
    assert_int_equal(
        db_exec_script(c, "INSERT INTO calls (id, direction, status, answered_at, held_party,"
                          " held_at, hold_us) VALUES ('00000000-0000-4000-8000-00000000c0de',"
                          " 'outbound', 'in_progress', now(), 'callee',"
                          " '2026-01-01 10:00:00+00', 1000000);"
                          "UPDATE calls SET status = 'completed',"
                          " ended_at = '2026-01-01 10:00:02.5+00'"
                          " WHERE id = '00000000-0000-4000-8000-00000000c0de'"),
        CS_OK);
    assert_int_equal(db_exec(c, 0,
                             "SELECT coalesce(held_party, '-'), held_at IS NULL, hold_us FROM calls"
                             " WHERE id = '00000000-0000-4000-8000-00000000c0de'",
                             0, NULL, &res),
                     CS_OK);
    assert_string_equal(db_get(res, 0, 0), "-");
    assert_string_equal(db_get(res, 0, 1), "t");
    assert_int_equal(db_get_ll(res, 0, 2), 3500000);
    PQclear(res);
    /* a held party without the hold's start is refused */
    assert_int_not_equal(db_exec_script(c, "INSERT INTO calls (id, direction, status, held_party)"
                                           " VALUES ('00000000-0000-4000-8000-00000000c0df',"
                                           " 'outbound', 'in_progress', 'caller')"),
                         CS_OK);
    db_rollback(c);
    db_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlstate_map),       cmocka_unit_test(test_migration_files),
        cmocka_unit_test(test_unreachable),        cmocka_unit_test(test_live_basics),
        cmocka_unit_test(test_live_reconnect),     cmocka_unit_test(test_live_transactions),
        cmocka_unit_test(test_live_deferred),      cmocka_unit_test(test_live_savepoints),
        cmocka_unit_test(test_live_migrate_twice), cmocka_unit_test(test_live_hold_trigger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
