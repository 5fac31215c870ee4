/*
 * svc_config: the table of callsvc's environment variables, and the rules
 * that span several of them.
 */
#include "svc_config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

#define F(f) offsetof(svc_config, f)

/* Fixed and public on purpose: only ever used with DEV_MODE=true. */
static const char svc__dev_secret[] = "dev-mode-only-secret-do-not-use-in-production!";

static const cfg_entry svc__table[] = {
    {"DATABASE_URL", CFG_STR, F(database_url), "postgresql://postgres@127.0.0.1:5432/callservice",
     0, 0, "PostgreSQL connection URL (libpq syntax)"},
    {"JWT_SECRET", CFG_STR, F(jwt_secret), NULL, 0, 0,
     "HS256 signing key, at least 32 bytes (required unless DEV_MODE)"},
    {"JWT_EXPIRES_IN", CFG_INT, F(jwt_expires_in), "86400", 60, 31 * 86400,
     "token lifetime in seconds"},
    {"GRPC_ADDR", CFG_STR, F(grpc_addr), "127.0.0.1:50051", 0, 0, "gRPC listen address host:port"},
    {"WORKERS", CFG_INT, F(workers), "0", 0, 256,
     "rpc worker threads, each with its own database connection (0: 2 x cores)"},
    {"ADMIN_EMAIL", CFG_STR, F(admin_email), "admin@example.com", 0, 0,
     "first admin created by `callsvc seed`"},
    {"ADMIN_PASSWORD", CFG_STR, F(admin_password), "admin123", 0, 0,
     "its password (change it outside the local stack)"},
    {"EXTENSION_MIN", CFG_INT, F(extension_min), "3000", 1, 999999999,
     "lowest SIP extension given to users"},
    {"EXTENSION_MAX", CFG_INT, F(extension_max), "3999", 1, 999999999,
     "highest SIP extension given to users"},
    {"DEVICE_CONTEXT", CFG_STR, F(device_context), "default", 0, 0,
     "dialplan context of generated SIP endpoints"},
    {"LOG_LEVEL", CFG_STR, F(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"LOG_DIR", CFG_STR, F(log_dir), "./logs", 0, 0,
     "directory for combined.log and error.log (empty: stderr only)"},
    {"DEV_MODE", CFG_BOOL, F(dev_mode), "false", 0, 0,
     "local development: allows a missing or short JWT_SECRET"},
    {"ARI_URL", CFG_STR, F(ari_url), "http://127.0.0.1:8088", 0, 0,
     "Asterisk ARI base URL (or the ARI simulator)"},
    {"ARI_USER", CFG_STR, F(ari_user), "admin", 0, 0, "ARI user"},
    {"ARI_PASSWORD", CFG_STR, F(ari_password), "admin", 0, 0, "ARI password"},
    {"ARI_APP", CFG_STR, F(ari_app), "call-service", 0, 0, "Stasis application name"},
    {"ARI_CONNECT_TIMEOUT_MS", CFG_INT, F(ari_connect_timeout_ms), "2000", 100, 60000,
     "connect timeout of ARI REST requests"},
    {"ARI_REQUEST_TIMEOUT_MS", CFG_INT, F(ari_request_timeout_ms), "5000", 100, 120000,
     "whole-request timeout of ARI REST requests (UNAVAILABLE after it)"},
    {"ARI_BACKOFF_MAX_MS", CFG_INT, F(ari_backoff_max_ms), "30000", 500, 600000,
     "longest wait between ARI WebSocket reconnect attempts"},
    {"DEVICE_ENDPOINT_TEMPLATE", CFG_STR, F(device_endpoint_template), "PJSIP/{ext}", 0, 0,
     "ARI endpoint of a user's device; {ext} is the extension"},
    {"OUTBOUND_ENDPOINT_TEMPLATE", CFG_STR, F(outbound_endpoint_template), "PJSIP/{number}@trunk",
     0, 0, "ARI endpoint for outside numbers; {number} is the dialled number"},
    {"SQL_DIR", CFG_STR, F(sql_dir), CS_SQL_DIR_DEFAULT, 0, 0,
     "directory holding migrations/NNNN_name.sql"},
    {"LOGIN_MAX_FAILURES", CFG_INT, F(login_max_failures), "5", 1, 1000,
     "failed logins for one email before it is throttled"},
    {"LOGIN_FAILURE_WINDOW", CFG_INT, F(login_window), "60", 1, 86400,
     "seconds the failed-login count is kept (and the throttle lasts)"},
    {"HEALTH_INTERVAL_MS", CFG_INT, F(health_interval_ms), "2000", 100, 60000,
     "how often serve checks the database for the health service"},
    {"STREAM_MAX_QUEUED", CFG_INT, F(stream_max_queued), "1024", 16, 1000000,
     "messages queued for one event stream before it is dropped"},
    {"USERS_CACHE_SIZE", CFG_INT, F(users_cache_size), "4096", 0, 1000000,
     "users kept in memory for GetProfile/GetUser, kept coherent through NOTIFY (0: off)"},
    {"USERS_CACHE_TTL_MS", CFG_INT, F(users_cache_ttl_ms), "5000", 1, 3600000,
     "the longest a cached user is served without reading it again"},
    {"TOKEN_CACHE_SIZE", CFG_INT, F(token_cache_size), "4096", 0, 1000000,
     "verified tokens remembered until they expire, so each is checked once (0: off)"},
    {"CALLS_CACHE_SIZE", CFG_INT, F(calls_cache_size), "256", 0, 1000000,
     "answers of ListActiveCalls/ListCallHistory/GetCallStatistics kept in memory, kept coherent "
     "through the events hub (0: off)"},
    {"CALLS_CACHE_ENTRY_MAX", CFG_INT, F(calls_cache_entry_max), "16384", 256, 16777216,
     "largest packed answer the calls cache stores, in bytes (its worst case is about "
     "CALLS_CACHE_SIZE times this)"},
    {"CALLS_CACHE_TTL_MS", CFG_INT, F(calls_cache_ttl_ms), "5000", 1, 3600000,
     "the longest a cached call list is served without reading it again"},
};
#define SVC_N (sizeof svc__table / sizeof *svc__table)

static const char *svc__getenv(const char *name)
{
    return getenv(name);
}

int svc_config_load(svc_config *cfg, const char *(*lookup)(const char *), char *err, size_t errlen)
{
    int rc = -1;
    memset(cfg, 0, sizeof *cfg);
    if (cfg_load_from(svc__table, SVC_N, cfg, lookup ? lookup : svc__getenv, err, errlen) != 0)
        goto out;
    if (cfg->extension_min > cfg->extension_max) {
        snprintf(err, errlen, "EXTENSION_MIN (%d) is above EXTENSION_MAX (%d)", cfg->extension_min,
                 cfg->extension_max);
        goto out;
    }
    if (log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errlen, "LOG_LEVEL: expected debug, info, warn or error, got '%s'",
                 cfg->log_level ? cfg->log_level : "");
        goto out;
    }
    if (!cfg->jwt_secret || strlen(cfg->jwt_secret) < SVC_JWT_SECRET_MIN) {
        if (!cfg->dev_mode) {
            snprintf(err, errlen,
                     "JWT_SECRET: must be set to at least %d bytes (or set DEV_MODE=true for "
                     "local development)",
                     SVC_JWT_SECRET_MIN);
            goto out;
        }
        if (!cfg->jwt_secret || !*cfg->jwt_secret) {
            free(cfg->jwt_secret);
            cfg->jwt_secret = strdup(svc__dev_secret);
            if (!cfg->jwt_secret)
                goto out;
        }
    }
    if (!cfg->database_url || !*cfg->database_url) {
        snprintf(err, errlen, "DATABASE_URL: must not be empty");
        goto out;
    }
    if (cfg->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = (int)(n > 0 ? (n > 64 ? 128 : 2 * n) : 2);
    }
    rc = 0;
out:
    if (rc != 0)
        svc_config_free(cfg);
    return rc;
}

void svc_config_free(svc_config *cfg)
{
    cfg_free(svc__table, SVC_N, cfg);
}

void svc_config_print_help(FILE *out)
{
    cfg_print_help(svc__table, SVC_N, out);
}
