/*
 * db migrations: sql/migrations/NNNN_name.sql applied in file-name order.
 *
 * Each file runs in its own transaction together with its row in
 * schema_migrations, so a failed migration leaves nothing half-applied.
 * A session-level advisory lock serializes concurrent `callsvc migrate`
 * runs (several instances starting at once): the second waits, then sees
 * the versions recorded by the first and applies nothing.
 */
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Arbitrary constant shared by every instance: "callsvc migrations". */
#define DB_MIGRATE_LOCK "7203114500118"

static int db__is_migration_name(const char *n)
{
    size_t len = strlen(n);
    for (int i = 0; i < 4; i++)
        if (n[i] < '0' || n[i] > '9')
            return 0;
    return n[4] == '_' && len > 9 && strcmp(n + len - 4, ".sql") == 0;
}

static int db__cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int db_migration_files(const char *dir, char ***names)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    int n = 0, cap = 0;
    *names = NULL;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (!db__is_migration_name(e->d_name))
            continue;
        if (n == cap) {
            char **nv;
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv)
                goto fail;
            v = nv;
        }
        v[n] = strdup(e->d_name);
        if (!v[n])
            goto fail;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, (size_t)n, sizeof *v, db__cmp_names);
    *names = v;
    return n;
fail:
    closedir(d);
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

static char *db__read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)len + 1);
    if (!buf)
        goto out;
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[len] = '\0';
out:
    fclose(f);
    return buf;
}

static cs_err db__apply_one(db_conn *c, const char *dir, const char *name, int *applied)
{
    char path[4096];
    char version[5];
    const char *params[2];
    PGresult *res = NULL;
    char *sql = NULL;
    cs_err rc;

    memcpy(version, name, 4);
    version[4] = '\0';
    params[0] = version;
    params[1] = name;
    rc = db_begin(c);
    if (rc != CS_OK)
        goto out;
    rc = db_exec(c, 0, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params, &res);
    if (rc != CS_OK)
        goto out;
    if (PQntuples(res) > 0) {
        rc = db_commit(c);
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sql = db__read_file(path);
    if (!sql) {
        log_error("migration %s: cannot read: %s", path, strerror(errno));
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    rc = db_exec_script(c, sql);
    if (rc != CS_OK) {
        log_error("migration %s failed: %s", name, db_errmsg(c));
        goto out;
    }
    rc = db_exec(c, 0, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params,
                 NULL);
    if (rc != CS_OK)
        goto out;
    rc = db_commit(c);
    if (rc == CS_OK) {
        log_info("migration %s applied", name);
        (*applied)++;
    }
out:
    if (rc != CS_OK)
        db_rollback(c);
    if (res)
        PQclear(res);
    free(sql);
    return rc;
}

cs_err db_migrate(db_conn *c, const char *dir, int *applied)
{
    static const char *const lock[] = {DB_MIGRATE_LOCK};
    char **names = NULL;
    int n = 0, count = 0, locked = 0;
    cs_err rc;

    n = db_migration_files(dir, &names);
    if (n < 0) {
        log_error("migrations: cannot read directory %s: %s", dir, strerror(errno));
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    /* Lock first: CREATE TABLE IF NOT EXISTS itself races between
     * sessions. */
    rc = db_exec(c, 0, "SELECT pg_advisory_lock($1::bigint)", 1, lock, NULL);
    if (rc != CS_OK)
        goto out;
    locked = 1;
    rc = db_exec(c, 0,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version text PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 0, NULL, NULL);
    if (rc != CS_OK)
        goto out;
    for (int i = 0; i < n && rc == CS_OK; i++)
        rc = db__apply_one(c, dir, names[i], &count);
out:
    if (locked) {
        /* If the connection died the server released the lock already. */
        cs_err urc = db_exec(c, 0, "SELECT pg_advisory_unlock($1::bigint)", 1, lock, NULL);
        (void)urc;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (applied)
        *applied = count;
    return rc;
}
