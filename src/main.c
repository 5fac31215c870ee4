/*
 * callsvc: the call service.
 *
 *   callsvc serve     gRPC on GRPC_ADDR until SIGTERM/SIGINT (SIGHUP: reopen the logs)
 *   callsvc migrate   apply sql/migrations (idempotent)
 *   callsvc seed      first admin and demo users (idempotent)
 *   callsvc help      usage and every environment variable
 *
 * Signals: SIGINT/SIGTERM are blocked in every thread (before any thread
 * starts) and taken by the main thread with sigtimedwait, which doubles as
 * the health check's timer: between signals it pings the database and
 * sets the health status SERVING / NOT_SERVING. No work happens in a
 * signal handler.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "db/db.h"
#include "rpc/health.h"
#include "calls/calls.h"
#include "events/events.h"
#include "events/service.h"
#include "ops/ops.h"
#include "rpc/rpc.h"
#include "svc.h"
#include "users/cache.h"
#include "calls/listcache.h"
#include "users/users.h"

/* The health service's names and what each needs to be SERVING: users and
 * events only the database; calls and "" (the server as a whole) also ARI. */
enum { SVC_NEEDS_DB = 1, SVC_NEEDS_ARI = 2 };
static const struct {
    const char *name;
    int needs;
} svc__health_names[] = {
    {"", SVC_NEEDS_DB | SVC_NEEDS_ARI},
    {"callservice.v1.UserService", SVC_NEEDS_DB},
    {"callservice.v1.CallService", SVC_NEEDS_DB | SVC_NEEDS_ARI},
    {"callservice.v1.EventService", SVC_NEEDS_DB},
};

static void *svc__worker_init(void *app, int index)
{
    svc_app *a = app;
    svc_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->index = index;
    w->db = db_open(a->cfg.database_url);
    if (!w->db) {
        free(w);
        return NULL;
    }
    return w;
}

static void svc__worker_fini(void *app, void *worker)
{
    svc_worker *w = worker;
    (void)app;
    if (!w)
        return;
    db_close(w->db);
    free(w);
}

/* The snapshot OpsService.GetMetrics renders (svc_snapshot_hook). Runs on
 * rpc threads while the server serves, that is after the event hub and the
 * calls module started and before they stop. */
static int64_t svc__start_time;
static char svc__hostname[256];

static void svc__snapshot(const svc_app *app, ops_snapshot *s)
{
    ari_client *ari = app->calls ? calls_module_ari(app->calls) : NULL;
    s->hostname = svc__hostname;
    s->grpc_addr = app->cfg.grpc_addr;
    s->start_time = svc__start_time;
    for (size_t i = 0; i < sizeof svc__health_names / sizeof *svc__health_names &&
                       s->n_services < OPS_MAX_SERVICES;
         i++) {
        s->services[s->n_services].name = svc__health_names[i].name;
        s->services[s->n_services++].serving =
            health_get_status(svc__health_names[i].name) == HEALTH_SERVING;
    }
    if (app->calls) {
        s->has_calls = 1;
        calls_module_counters(app->calls, &s->calls);
    }
    if (ari) {
        s->has_ari = 1;
        s->ari_connected = calls_svc_ari_connected(app);
        ari_client_counters(ari, &s->ari);
    }
    if (app->events) {
        s->has_events = 1;
        s->events_seq = events_hub_seq(app->events);
        s->events_subscribers = events_hub_subscribers(app->events);
    }
}

/* up: the SVC_NEEDS_* bits that are currently satisfied. */
static void svc__set_health(int up)
{
    for (size_t i = 0; i < sizeof svc__health_names / sizeof *svc__health_names; i++) {
        int ok = (svc__health_names[i].needs & up) == svc__health_names[i].needs;
        health_set_status(svc__health_names[i].name, ok ? HEALTH_SERVING : HEALTH_NOT_SERVING);
    }
}

/* Opens a connection for a one-shot command, waiting up to ~10 s for the
 * database to accept connections (scripts start it just before). */
static db_conn *svc__connect_wait(const svc_app *app)
{
    db_conn *db = db_open(app->cfg.database_url);
    for (int i = 0; db && i < 40; i++) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        if (db_ping(db) == CS_OK)
            return db;
        nanosleep(&ts, NULL);
    }
    if (db)
        log_error("database unavailable: %s", db_errmsg(db));
    db_close(db);
    return NULL;
}

static int svc__migrate(svc_app *app)
{
    char dir[4096];
    int applied = 0;
    db_conn *db = svc__connect_wait(app);
    cs_err rc;
    if (!db)
        return 1;
    snprintf(dir, sizeof dir, "%s/migrations", app->cfg.sql_dir);
    rc = db_migrate(db, dir, &applied);
    db_close(db);
    if (rc != CS_OK) {
        log_error("migrate failed (%s)", cs_err_name(rc));
        return 1;
    }
    printf("migrations: %d applied, schema up to date (%s)\n", applied, dir);
    return 0;
}

static int svc__seed(svc_app *app)
{
    db_conn *db = svc__connect_wait(app);
    int rc;
    if (!db)
        return 1;
    rc = users_seed(app, db, stdout);
    db_close(db);
    return rc == 0 ? 0 : 1;
}

static void svc__free_cache(svc_app *app)
{
    ucache_free(app->users_cache);
    app->users_cache = NULL;
    kvc_free(app->tokens);
    app->tokens = NULL;
    lcache_free(app->calls_cache);
    app->calls_cache = NULL;
}

static int svc__serve(svc_app *app)
{
    events_listen channels[2];
    size_t n_channels = 0;
    rpc_server_config rc = {0};
    rpc_server *srv = NULL;
    db_conn *probe = NULL;
    sigset_t set;
    int last = -1;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Before any thread exists, so that every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc.addr = app->cfg.grpc_addr;
    rc.workers = app->cfg.workers;
    rc.stream_max_queued = (size_t)app->cfg.stream_max_queued;
    rc.methods = svc_methods(&rc.n_methods);
    rc.app = app;
    rc.worker_init = svc__worker_init;
    rc.worker_fini = svc__worker_fini;

    svc__set_health(0);
    probe = db_open(app->cfg.database_url);
    if (!probe)
        return 1;
    /* The users and calls caches, which the hub's listener keeps coherent; the event
     * hub (calls append events), then the calls module and its ARI client,
     * then the server that lets requests in. */
    app->users_cache = ucache_new((size_t)app->cfg.users_cache_size, app->cfg.users_cache_ttl_ms);
    app->tokens = kvc_new((size_t)app->cfg.token_cache_size);
    app->calls_cache =
        lcache_new((size_t)app->cfg.calls_cache_size, (size_t)app->cfg.calls_cache_entry_max,
                   app->cfg.calls_cache_ttl_ms);
    if (app->users_cache)
        channels[n_channels++] = (events_listen){UCACHE_CHANNEL, ucache_on_notify, ucache_on_link,
                                                 app->users_cache, NULL};
    if (app->calls_cache)
        channels[n_channels++] = (events_listen){LCACHE_USERS_CHANNEL, lcache_on_notify,
                                                 lcache_on_link, app->calls_cache, lcache_on_event};
    if (events_service_start(app, channels, n_channels) != 0) {
        svc__free_cache(app);
        db_close(probe);
        return 1;
    }
    if (calls_svc_start(app) != CS_OK) {
        events_service_stop(app);
        svc__free_cache(app);
        db_close(probe);
        return 1;
    }
    srv = rpc_server_start(&rc);
    if (!srv) {
        calls_svc_stop(app);
        events_service_stop(app);
        svc__free_cache(app);
        db_close(probe);
        return 1;
    }
    log_info("callsvc serving on %s with %d workers", app->cfg.grpc_addr, app->cfg.workers);
    for (;;) {
        struct timespec ts = {app->cfg.health_interval_ms / 1000,
                              (long)(app->cfg.health_interval_ms % 1000) * 1000000L};
        /* Ready when the database answers and, if an Asterisk is configured,
         * its ARI WebSocket is up. */
        int db_up = db_ping(probe) == CS_OK;
        int ari_up = !app->cfg.ari_url || !*app->cfg.ari_url || calls_svc_ari_connected(app);
        int up = (db_up ? SVC_NEEDS_DB : 0) | (ari_up ? SVC_NEEDS_ARI : 0);
        int sig;
        if (up != last) {
            svc__set_health(up);
            if (db_up && ari_up)
                log_info("database and ARI reachable: SERVING");
            else if (!db_up)
                log_warn("database unreachable: NOT_SERVING (%s)", db_errmsg(probe));
            else
                log_warn("ARI unreachable: NOT_SERVING");
            last = up;
        }
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("signal %d: shutting down", sig);
            break;
        }
        if (sig == SIGHUP) {
            log_reopen("SIGHUP");
            continue;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            log_error("sigtimedwait: %s", strerror(errno));
            break;
        }
    }
    health_set_all(HEALTH_NOT_SERVING);
    rpc_server_request_stop(srv);
    rpc_server_wait_and_free(srv);
    calls_svc_stop(app);
    events_service_stop(app);
    svc__free_cache(app);
    health_reset();
    db_close(probe);
    log_info("callsvc stopped");
    return 0;
}

static void svc__usage(FILE *out)
{
    fprintf(out, "usage: callsvc serve|migrate|seed|help\n\n"
                 "  serve    serve gRPC on GRPC_ADDR until SIGTERM/SIGINT\n"
                 "  migrate  apply SQL_DIR/migrations/NNNN_*.sql not applied yet\n"
                 "  seed     create the admin (ADMIN_EMAIL/ADMIN_PASSWORD) and demo users\n"
                 "  help     this text\n\n"
                 "environment:\n");
    svc_config_print_help(out);
    cfg_print_help(events_cfg_table, events_cfg_table_len, out);
    calls_options_print_help(out);
}

static const struct {
    const char *name;
    int (*run)(svc_app *app);
} svc__commands[] = {
    {"serve", svc__serve},
    {"migrate", svc__migrate},
    {"seed", svc__seed},
};

int main(int argc, char **argv)
{
    svc_app app;
    char err[256];
    int (*run)(svc_app *) = NULL;
    int rc = 2;

    memset(&app, 0, sizeof app);
    if (argc != 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        svc__usage(argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    for (size_t i = 0; i < sizeof svc__commands / sizeof *svc__commands; i++)
        if (strcmp(argv[1], svc__commands[i].name) == 0)
            run = svc__commands[i].run;
    if (!run) {
        fprintf(stderr, "callsvc: unknown command '%s'\n", argv[1]);
        svc__usage(stderr);
        return 2;
    }
    if (svc_config_load(&app.cfg, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "callsvc: configuration: %s\n", err);
        return 2;
    }
    if (log_init("callsvc", (log_level)log_level_parse(app.cfg.log_level),
                 (app.cfg.log_dir && *app.cfg.log_dir) ? app.cfg.log_dir : NULL) != 0)
        log_warn("cannot open log files in %s; logging to stderr only", app.cfg.log_dir);
    if (app.cfg.dev_mode && strlen(app.cfg.jwt_secret) < SVC_JWT_SECRET_MIN)
        log_warn("DEV_MODE: JWT_SECRET is missing or short; tokens are NOT secure");
    /* argon2 allocates 19 MiB per hash; a fixed mmap threshold makes glibc
     * give that back to the system after each hash instead of keeping it
     * in the heap (the dynamic threshold would rise to 19 MiB). */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    app.jwt.key = (const unsigned char *)app.cfg.jwt_secret;
    app.jwt.len = strlen(app.cfg.jwt_secret);
    app.jwt.expires_in = app.cfg.jwt_expires_in;
    app.on_presence = NULL; /* events module: see svc.h */
    app.snapshot = svc__snapshot;
    svc__start_time = (int64_t)time(NULL);
    if (gethostname(svc__hostname, sizeof svc__hostname - 1) != 0)
        svc__hostname[0] = '\0';
    rc = run(&app);
    svc_config_free(&app.cfg);
    log_shutdown();
    return rc;
}
