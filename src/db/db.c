/*
 * db: libpq connection with lazy connect, reconnect, SQLSTATE mapping and
 * lazily prepared statements. See db.h for the contract.
 *
 * Why statements are retried only when marked DB_RETRY and outside a
 * transaction: when the connection breaks we cannot know whether the
 * server ran the statement; running a write twice is worse than reporting
 * UNAVAILABLE once.
 *
 * Why BEGIN waits for the transaction's first statement: a round trip of
 * its own for BEGIN was one of every four or five a call-flow transaction
 * made. db_begin only connects; the first statement then goes out with the
 * BEGIN before it in libpq's pipeline mode, in one round trip. Nothing has
 * run until then, so a connection found broken by that first statement is
 * retried once on a new one, as a broken BEGIN was: the server rolls back
 * whatever it had received of an unfinished transaction.
 *
 * Why statements can be deferred: a call-flow step saves its locked row
 * and appends its event last, and nobody reads either result, yet each took
 * a round trip of its own, and the append holds the events append lock
 * (events.c) until the commit. A deferred statement (the UPDATE) goes out
 * in the same pipeline as whatever is sent next: the next read, a RELEASE
 * or the COMMIT. A statement at commit (the append) waits for the COMMIT
 * itself and goes out in its pipeline: the lock is held only while the
 * server runs the append and the commit, not while an answer travels back
 * and the client wakes up, nor across the later steps when the call flow
 * runs several calls' events in one transaction, one savepoint each
 * (db_savepoint). An event whose work failed takes what it queued with it
 * when it rolls back to its savepoint.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define DB_MAX_PREPARED 64
#define DB_MAX_DEFERRED DB_MAX_AT_COMMIT /* per queue */
#define DB_MAX_PARAMS   32
/* BEGIN, both queues and the statement that sends them */
#define DB_MAX_ITEMS (2 * DB_MAX_DEFERRED + 2)
#define DB_SAVEPOINT "db_sp"

/* A deferred statement: a prepared one with its parameters copied into buf
 * (NULL stays NULL), or sql without parameters (SAVEPOINT). */
typedef struct db__deferred {
    const db_stmt *st;
    const char *sql;
    char *buf;
    const char *params[DB_MAX_PARAMS];
} db__deferred;

/* Statements waiting to be sent: with the next statement (next) or with
 * the COMMIT (commit). */
typedef struct db__queue {
    db__deferred q[DB_MAX_DEFERRED];
    int n;
} db__queue;

/* One statement of a round trip: a prepared one (st) or sql with n
 * parameters. */
typedef struct db__item {
    const db_stmt *st;
    const char *sql;
    int n;
    const char *const *params;
} db__item;

struct db_conn {
    char *url;
    PGconn *pg;
    int in_tx;
    int begin_pending; /* db_begin done; BEGIN goes out with the next statement */
    const db_stmt *prepared[DB_MAX_PREPARED];
    int n_prepared;
    db__queue next;   /* db_exec_stmt_deferred and SAVEPOINT, in order */
    db__queue commit; /* db_exec_stmt_at_commit, in order */
    /* db_savepoint: whether one is set, the index in next of its SAVEPOINT
     * while that is not sent yet (else -1), and how many statements of
     * commit were queued before it */
    int sp_set, sp_pending, sp_commit_mark;
    char errmsg[256];
    char sqlstate[6];
    char constraint[64];
};

/* SQLSTATE (exact code or two-character class) => cs_err. First match wins,
 * so exact codes come before their class. */
static const struct {
    const char *code;
    cs_err err;
} db__sqlstate_map[] = {
    {"23505", CS_ERR_EXISTS},       /* unique_violation */
    {"23503", CS_ERR_PRECONDITION}, /* foreign_key_violation */
    {"23514", CS_ERR_INVALID},      /* check_violation */
    {"23502", CS_ERR_INVALID},      /* not_null_violation */
    {"40001", CS_ERR_ABORTED},      /* serialization_failure */
    {"40P01", CS_ERR_ABORTED},      /* deadlock_detected */
    {"55P03", CS_ERR_ABORTED},      /* lock_not_available */
    {"57014", CS_ERR_DEADLINE},     /* query_canceled (statement_timeout) */
    {"57P01", CS_ERR_UNAVAILABLE},  /* admin_shutdown */
    {"57P02", CS_ERR_UNAVAILABLE},  /* crash_shutdown */
    {"57P03", CS_ERR_UNAVAILABLE},  /* cannot_connect_now */
    {"53300", CS_ERR_UNAVAILABLE},  /* too_many_connections */
    {"08", CS_ERR_UNAVAILABLE},     /* connection exceptions */
    {"22", CS_ERR_INVALID},         /* data exceptions (bad uuid text, ...) */
};

static const struct {
    cs_err err;
    const char *msg;
} db__public_msgs[] = {
    {CS_ERR_UNAVAILABLE, "database unavailable"},
    {CS_ERR_DEADLINE, "database timeout"},
    {CS_ERR_ABORTED, "concurrent change, please retry"},
    {CS_ERR_EXISTS, "already exists"},
    {CS_ERR_INVALID, "invalid value"},
    {CS_ERR_PRECONDITION, "referenced row does not exist"},
};

cs_err db_err_from_sqlstate(const char *sqlstate)
{
    if (!sqlstate || !*sqlstate)
        return CS_ERR_UNAVAILABLE;
    for (size_t i = 0; i < sizeof db__sqlstate_map / sizeof *db__sqlstate_map; i++) {
        const char *code = db__sqlstate_map[i].code;
        if (strncmp(sqlstate, code, strlen(code)) == 0)
            return db__sqlstate_map[i].err;
    }
    return CS_ERR_INTERNAL;
}

const char *db_public_error(cs_err e)
{
    for (size_t i = 0; i < sizeof db__public_msgs / sizeof *db__public_msgs; i++)
        if (db__public_msgs[i].err == e)
            return db__public_msgs[i].msg;
    return "internal database error";
}

db_conn *db_open(const char *url)
{
    db_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sp_pending = -1;
    c->url = strdup(url ? url : "");
    if (!c->url) {
        free(c);
        return NULL;
    }
    return c;
}

static void db__drop(db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->n_prepared = 0;
}

void db_close(db_conn *c)
{
    if (!c)
        return;
    db__drop(c);
    free(c->url);
    free(c);
}

static void db__clear_error(db_conn *c)
{
    c->errmsg[0] = c->sqlstate[0] = c->constraint[0] = '\0';
}

/* Copies libpq's message without its trailing newline. */
static void db__set_errmsg(db_conn *c, const char *m)
{
    size_t n;
    snprintf(c->errmsg, sizeof c->errmsg, "%s", m ? m : "unknown error");
    n = strlen(c->errmsg);
    while (n > 0 && (c->errmsg[n - 1] == '\n' || c->errmsg[n - 1] == ' '))
        c->errmsg[--n] = '\0';
}

/* Server notices ("relation already exists, skipping") go to the debug
 * log instead of libpq's default, stderr. */
static void db__notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

static cs_err db__connect(db_conn *c)
{
    /* Our defaults first: later keywords (the URL's own) override them. */
    static const char *const keys[] = {
        "connect_timeout",     "application_name", "options", "keepalives_idle",
        "keepalives_interval", "tcp_user_timeout", "dbname",  NULL};
    const char *vals[] = {"3",    "callsvc", "-c statement_timeout=15000", "10", "5", "15000",
                          c->url, NULL};
    cs_err rc = CS_OK;
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        goto out;
    db__drop(c);
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        db__set_errmsg(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        log_warn("database connect failed: %s", c->errmsg);
        db__drop(c);
        rc = CS_ERR_UNAVAILABLE;
        goto out;
    }
    PQsetNoticeProcessor(c->pg, db__notice, NULL);
    log_debug("database connected");
out:
    return rc;
}

/* Classifies a failed result (res may be NULL) and drops a broken
 * connection. Returns the cs_err. */
static cs_err db__fail(db_conn *c, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    cs_err e;
    db__set_errmsg(c, (msg && *msg) ? msg : PQerrorMessage(c->pg));
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
    snprintf(c->constraint, sizeof c->constraint, "%s", cons ? cons : "");
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        /* The server went away (or restarted): forget this connection so
         * the next call reconnects. */
        log_warn("database connection lost: %s", c->errmsg);
        db__drop(c);
        return CS_ERR_UNAVAILABLE;
    }
    e = db_err_from_sqlstate(state);
    if (e == CS_ERR_INTERNAL)
        log_error("database error %s: %s", c->sqlstate, c->errmsg);
    return e;
}

static int db__is_prepared(const db_conn *c, const db_stmt *st)
{
    for (int i = 0; i < c->n_prepared; i++)
        if (c->prepared[i] == st)
            return 1;
    return 0;
}

/* One attempt: connect if needed, prepare if needed, run. */
static cs_err db__run_once(db_conn *c, const db_stmt *st, const char *sql, int n,
                           const char *const *params, PGresult **res)
{
    PGresult *r = NULL;
    cs_err rc = db__connect(c);
    if (rc != CS_OK)
        goto out;
    if (st && !db__is_prepared(c, st) && c->n_prepared < DB_MAX_PREPARED) {
        r = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = db__fail(c, r);
            goto out;
        }
        PQclear(r);
        r = NULL;
        c->prepared[c->n_prepared++] = st;
    }
    if (st && db__is_prepared(c, st))
        r = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0);
    else if (st)
        r = PQexecParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0);
    else
        r = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
    if (!r || (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)) {
        rc = db__fail(c, r);
        goto out;
    }
    if (res) {
        *res = r;
        r = NULL;
    }
out:
    if (r)
        PQclear(r);
    return rc;
}

/* A result of the pipeline: the next query's, and the NULL that ends it.
 * NULL when the connection gave none (then it is broken). */
static PGresult *db__pipeline_result(PGconn *pg)
{
    PGresult *r = PQgetResult(pg), *extra;
    if (r)
        while ((extra = PQgetResult(pg)) != NULL)
            PQclear(extra);
    return r;
}

/* Whether item i of a pipeline sends the PREPARE of its statement: not yet
 * prepared on this connection nor by an earlier item, and room left. */
static int db__item_prepares(const db_conn *c, const db__item *it, int i)
{
    int earlier = 0;
    if (!it[i].st || db__is_prepared(c, it[i].st))
        return 0;
    for (int j = 0; j < i; j++) {
        if (it[j].st == it[i].st)
            return 0;
        earlier += db__item_prepares(c, it, j);
    }
    return c->n_prepared + earlier < DB_MAX_PREPARED;
}

/* Sends item i (after its PREPARE when it needs one). */
static int db__item_send(db_conn *c, const db__item *it, int i, int prepare)
{
    const db__item *x = &it[i];
    int by_name = prepare || (x->st && db__is_prepared(c, x->st));
    for (int j = 0; x->st && !by_name && j < i; j++)
        by_name = it[j].st == x->st && db__item_prepares(c, it, j);
    if (prepare && !PQsendPrepare(c->pg, x->st->name, x->st->sql, x->st->nparams, NULL))
        return 0;
    if (by_name)
        return PQsendQueryPrepared(c->pg, x->st->name, x->st->nparams, x->params, NULL, NULL, 0);
    if (x->st)
        return PQsendQueryParams(c->pg, x->st->sql, x->st->nparams, NULL, x->params, NULL, NULL, 0);
    return PQsendQueryParams(c->pg, x->sql, x->n, NULL, x->params, NULL, NULL, 0);
}

/* One attempt of several statements in one round trip: connect if needed,
 * then each item (with the PREPARE of its statement if this connection
 * lacks it) in libpq's pipeline mode, with one sync. The first failure is
 * the result; on success *res (if not NULL) is the last item's result. */
static cs_err db__run_pipeline(db_conn *c, const db__item *it, int n_items, PGresult **res)
{
    PGresult *r = NULL, *out = NULL;
    int prepares[DB_MAX_ITEMS], prepared_ok[DB_MAX_ITEMS];
    int ok;
    cs_err rc = db__connect(c);
    if (rc != CS_OK)
        goto out;
    ok = PQenterPipelineMode(c->pg);
    for (int i = 0; i < n_items; i++) {
        prepares[i] = db__item_prepares(c, it, i);
        prepared_ok[i] = 0;
        ok = ok && db__item_send(c, it, i, prepares[i]);
    }
    if (ok)
        ok = PQpipelineSync(c->pg);
    if (!ok) {
        /* nothing usable was sent: the connection is not fit for more */
        (void)db__fail(c, NULL);
        db__drop(c);
        rc = CS_ERR_UNAVAILABLE;
        goto out;
    }
    for (int i = 0; i < n_items; i++) {
        for (int step = prepares[i] ? 0 : 1; step < 2; step++) {
            ExecStatusType status;
            r = db__pipeline_result(c->pg);
            if (!r) {
                if (rc == CS_OK)
                    (void)db__fail(c, NULL);
                db__drop(c);
                rc = CS_ERR_UNAVAILABLE;
                goto out;
            }
            status = PQresultStatus(r);
            if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
                /* PGRES_PIPELINE_ABORTED: an earlier query failed already */
                if (rc == CS_OK)
                    rc = db__fail(c, r);
                if (!c->pg)
                    goto out;
            } else if (step == 0) {
                prepared_ok[i] = 1;
            } else if (i == n_items - 1) {
                out = r;
                r = NULL;
            }
            if (r)
                PQclear(r);
            r = NULL;
        }
    }
    r = PQgetResult(c->pg);
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(c->pg)) {
        if (rc == CS_OK)
            (void)db__fail(c, NULL);
        db__drop(c);
        rc = CS_ERR_UNAVAILABLE;
        goto out;
    }
    for (int i = 0; i < n_items; i++)
        if (prepared_ok[i])
            c->prepared[c->n_prepared++] = it[i].st;
    if (rc == CS_OK && res) {
        *res = out;
        out = NULL;
    }
out:
    if (r)
        PQclear(r);
    if (out)
        PQclear(out);
    return rc;
}

/* Drops the statements of q from index from on. */
static void db__queue_cut(db__queue *q, int from)
{
    for (int i = from; i < q->n; i++)
        free(q->q[i].buf);
    if (from < q->n)
        q->n = from;
}

static void db__deferred_clear(db_conn *c)
{
    db__queue_cut(&c->next, 0);
    db__queue_cut(&c->commit, 0);
    c->sp_set = 0;
    c->sp_pending = -1;
    c->sp_commit_mark = 0;
}

static int db__queue_items(const db__queue *q, db__item *it)
{
    for (int i = 0; i < q->n; i++) {
        const db__deferred *d = &q->q[i];
        it[i] =
            (db__item){d->st, d->sql, d->st ? d->st->nparams : 0, (const char *const *)d->params};
    }
    return q->n;
}

/* Runs what is due, one attempt: the pending BEGIN, the statements queued
 * for the next one, with_commit: those queued for the COMMIT, and then
 * cur (NULL: none), in one round trip. */
static cs_err db__run_due(db_conn *c, const db__item *cur, int with_commit, PGresult **res)
{
    db__item it[DB_MAX_ITEMS];
    int n = 0;
    if (c->begin_pending)
        it[n++] = (db__item){NULL, "BEGIN", 0, NULL};
    n += db__queue_items(&c->next, it + n);
    if (with_commit)
        n += db__queue_items(&c->commit, it + n);
    if (cur)
        it[n++] = *cur;
    if (n == 1 && cur)
        return db__run_once(c, cur->st, cur->sql, cur->n, cur->params, res);
    return db__run_pipeline(c, it, n, res);
}

/* Runs cur after what is due (db__run_due). Whatever happens, what was due
 * has been sent or is dropped: a statement that fails aborts the
 * transaction, which the caller then rolls back (to a savepoint, maybe). */
static cs_err db__run_with(db_conn *c, int flags, const db__item *cur, int with_commit,
                           PGresult **res)
{
    int had_conn = c->pg != NULL;
    int in_tx = c->in_tx;
    int begin = c->begin_pending;
    cs_err rc;
    if (res)
        *res = NULL;
    db__clear_error(c);
    if (in_tx && !begin && !c->pg) {
        /* The connection broke inside a transaction: never carry on with
         * the rest of it in autocommit on a new connection. */
        snprintf(c->errmsg, sizeof c->errmsg, "connection lost inside a transaction");
        db__deferred_clear(c);
        return CS_ERR_UNAVAILABLE;
    }
    rc = db__run_due(c, cur, with_commit, res);
    /* A connection that was fine when last used but is broken now (the
     * server restarted): one more try on a fresh one, when that is safe
     * (nothing of a transaction has run before this statement). */
    if (rc == CS_ERR_UNAVAILABLE && had_conn && !c->pg &&
        (begin || (!in_tx && (flags & DB_RETRY)))) {
        db__clear_error(c);
        rc = db__run_due(c, cur, with_commit, res);
    }
    c->begin_pending = 0;
    db__queue_cut(&c->next, 0);
    c->sp_pending = -1;
    if (with_commit) {
        db__queue_cut(&c->commit, 0);
        c->sp_commit_mark = 0;
    }
    return rc;
}

static cs_err db__run(db_conn *c, int flags, const db__item *cur, PGresult **res)
{
    return db__run_with(c, flags, cur, 0, res);
}

cs_err db_exec(db_conn *c, int flags, const char *sql, int n, const char *const *params,
               PGresult **res)
{
    db__item it = {NULL, sql, n, params};
    return db__run(c, flags, &it, res);
}

cs_err db_exec_stmt(db_conn *c, int flags, const db_stmt *st, const char *const *params,
                    PGresult **res)
{
    db__item it = {st, NULL, st->nparams, params};
    return db__run(c, flags, &it, res);
}

/* Queues st with a copy of its parameters (or sql, without) on q; a full
 * queue is sent first, with whatever is due. */
static cs_err db__defer(db_conn *c, db__queue *q, const db_stmt *st, const char *sql,
                        const char *const *params)
{
    db__deferred *d;
    int nparams = st ? st->nparams : 0;
    size_t len = 0;
    char *p;
    cs_err rc = CS_OK;
    db__clear_error(c);
    if (!c->in_tx || nparams > DB_MAX_PARAMS) {
        snprintf(c->errmsg, sizeof c->errmsg, "deferred statement %s: %s", st ? st->name : sql,
                 c->in_tx ? "too many parameters" : "outside a transaction");
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    if (q->n == DB_MAX_DEFERRED && q == &c->commit && c->sp_set) {
        /* sent now, the appends of the work before the savepoint would run
         * after it, and a rollback to it would take them too */
        snprintf(c->errmsg, sizeof c->errmsg, "more than %d statements at commit", DB_MAX_DEFERRED);
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    if (q->n == DB_MAX_DEFERRED) {
        /* the queue is full: send it now */
        rc = db__run_with(c, 0, NULL, q == &c->commit, NULL);
        if (rc != CS_OK)
            goto out;
    }
    d = &q->q[q->n];
    for (int i = 0; i < nparams; i++)
        len += params[i] ? strlen(params[i]) + 1 : 0;
    d->buf = malloc(len > 0 ? len : 1);
    if (!d->buf) {
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    p = d->buf;
    for (int i = 0; i < nparams; i++) {
        size_t n = params[i] ? strlen(params[i]) + 1 : 0;
        d->params[i] = params[i] ? memcpy(p, params[i], n) : NULL;
        p += n;
    }
    d->st = st;
    d->sql = sql;
    q->n++;
out:
    return rc;
}

cs_err db_exec_stmt_deferred(db_conn *c, const db_stmt *st, const char *const *params)
{
    return db__defer(c, &c->next, st, NULL, params);
}

cs_err db_exec_stmt_at_commit(db_conn *c, const db_stmt *st, const char *const *params)
{
    return db__defer(c, &c->commit, st, NULL, params);
}

/* SAVEPOINT (after releasing the one before) goes out with the next
 * statement: setting one costs no round trip. */
cs_err db_savepoint(db_conn *c)
{
    cs_err rc = CS_OK;
    if (c->sp_set)
        rc = db__defer(c, &c->next, NULL, "RELEASE SAVEPOINT " DB_SAVEPOINT, NULL);
    if (rc == CS_OK)
        rc = db__defer(c, &c->next, NULL, "SAVEPOINT " DB_SAVEPOINT, NULL);
    if (rc == CS_OK) {
        c->sp_set = 1;
        c->sp_pending = c->next.n - 1;
        c->sp_commit_mark = c->commit.n;
    }
    return rc;
}

cs_err db_release_savepoint(db_conn *c)
{
    static const db__item release = {NULL, "RELEASE SAVEPOINT " DB_SAVEPOINT, 0, NULL};
    cs_err rc;
    db__clear_error(c);
    if (!c->in_tx || !c->sp_set) {
        snprintf(c->errmsg, sizeof c->errmsg, "no savepoint to release");
        return CS_ERR_INTERNAL;
    }
    rc = db__run(c, 0, &release, NULL);
    if (rc == CS_OK)
        c->sp_set = 0;
    return rc;
}

cs_err db_rollback_to_savepoint(db_conn *c)
{
    static const db__item back = {NULL, "ROLLBACK TO SAVEPOINT " DB_SAVEPOINT, 0, NULL};
    cs_err rc = CS_OK;
    db__clear_error(c);
    if (!c->in_tx || !c->sp_set) {
        snprintf(c->errmsg, sizeof c->errmsg, "no savepoint to roll back to");
        return CS_ERR_INTERNAL;
    }
    db__queue_cut(&c->commit, c->sp_commit_mark);
    if (c->sp_pending >= 0) {
        /* nothing after it was sent: forget what was queued after it */
        db__queue_cut(&c->next, c->sp_pending + 1);
        return CS_OK;
    }
    db__queue_cut(&c->next, 0);
    rc = db__run(c, 0, &back, NULL);
    return rc;
}

cs_err db_exec_script(db_conn *c, const char *sql)
{
    PGresult *r = NULL;
    cs_err rc;
    db__clear_error(c);
    rc = db__connect(c);
    if (rc != CS_OK)
        goto out;
    if (c->next.n > 0 || c->commit.n > 0) {
        rc = db__run_with(c, 0, NULL, 1, NULL);
        if (rc != CS_OK)
            goto out;
    }
    if (c->begin_pending) {
        c->begin_pending = 0;
        r = PQexec(c->pg, "BEGIN");
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = db__fail(c, r);
            goto out;
        }
        PQclear(r);
    }
    r = PQexec(c->pg, sql);
    if (!r || (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK))
        rc = db__fail(c, r);
out:
    if (r)
        PQclear(r);
    return rc;
}

/* Connects (an unreachable server fails here, as BEGIN did); BEGIN itself
 * goes out with the first statement (see the top of the file). */
cs_err db_begin(db_conn *c)
{
    cs_err rc;
    db__clear_error(c);
    rc = db__connect(c);
    if (rc == CS_OK) {
        c->in_tx = 1;
        c->begin_pending = 1;
    }
    return rc;
}

cs_err db_commit(db_conn *c)
{
    static const db__item commit = {NULL, "COMMIT", 0, NULL};
    cs_err rc = CS_OK;
    if (c->begin_pending && c->next.n == 0 && c->commit.n == 0) /* nothing ran */
        db__clear_error(c);
    else
        rc = db__run_with(c, 0, &commit, 1, NULL);
    c->begin_pending = 0;
    c->sp_set = 0;
    /* A deferred statement that failed left COMMIT unrun (aborted in the
     * pipeline) and the transaction open: end it. */
    if (rc != CS_OK && c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_rollback(c);
    c->in_tx = 0;
    return rc;
}

void db_rollback(db_conn *c)
{
    PGresult *r;
    c->begin_pending = 0;
    db__deferred_clear(c);
    if (!c->pg || PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        c->in_tx = 0;
        return;
    }
    r = PQexec(c->pg, "ROLLBACK");
    if (r)
        PQclear(r);
    if (PQstatus(c->pg) == CONNECTION_BAD)
        db__drop(c);
    c->in_tx = 0;
}

int db_in_transaction(const db_conn *c)
{
    return c->in_tx;
}

cs_err db_ping(db_conn *c)
{
    static const db__item one = {NULL, "SELECT 1", 0, NULL};
    return db__run(c, DB_RETRY, &one, NULL);
}

const char *db_errmsg(const db_conn *c)
{
    return c->errmsg;
}

const char *db_sqlstate(const db_conn *c)
{
    return c->sqlstate;
}

const char *db_constraint(const db_conn *c)
{
    return c->constraint;
}

const char *db_get(const PGresult *res, int row, int col)
{
    if (!res || row >= PQntuples(res) || col >= PQnfields(res) || PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

const char *db_get_str(const PGresult *res, int row, int col)
{
    const char *v = db_get(res, row, col);
    return v ? v : "";
}

long long db_get_ll(const PGresult *res, int row, int col)
{
    const char *v = db_get(res, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

int db_get_bool(const PGresult *res, int row, int col)
{
    const char *v = db_get(res, row, col);
    return v && v[0] == 't';
}
