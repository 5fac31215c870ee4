/*
 * callgw: the REST + Socket.IO gateway in front of callsvc.
 *
 * Configuration comes from the environment through the table below
 * (`callgw --help` prints it). SIGTERM/SIGINT stop accepting work and let
 * the requests in flight finish (at most DRAIN_TIMEOUT_MS).
 *
 * Shutdown order matters: the HTTP loop returns first (the Socket.IO app is
 * freed on the service thread), then the gRPC client is freed (it waits for
 * every outstanding completion, which lands in the HTTP server's queue),
 * then the HTTP server, which frees what is left in that queue.
 */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "http.h"
#include "rpc/client.h"

#ifdef GW_HAVE_SIO_APP
#include "socketio/sio_app.h"
#endif

typedef struct gw_config {
    char *http_addr;
    char *callsvc_addr;
    char *cors_origins;
    char *log_level;
    char *log_dir;
    int request_timeout_ms;
    char *static_dir;
    int max_body;
    int max_header;
    int drain_timeout_ms;
} gw_config;

#define OFF(f) offsetof(gw_config, f)
static const cfg_entry gw_cfg_table[] = {
    {"HTTP_ADDR", CFG_STR, OFF(http_addr), "127.0.0.1:8080", 0, 0,
     "address the gateway listens on"},
    {"CALLSVC_ADDR", CFG_STR, OFF(callsvc_addr), "127.0.0.1:50051", 0, 0, "callsvc gRPC address"},
    {"CORS_ORIGINS", CFG_STR, OFF(cors_origins), "", 0, 0,
     "allowed browser origins: comma-separated list, or * for any; empty: no CORS"},
    {"LOG_LEVEL", CFG_STR, OFF(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"LOG_DIR", CFG_STR, OFF(log_dir), "logs", 0, 0,
     "directory for combined.log and error.log; empty: stderr only"},
    {"REQUEST_TIMEOUT_MS", CFG_INT, OFF(request_timeout_ms), "10000", 100, 600000,
     "deadline of each gRPC call made for a request"},
    {"STATIC_DIR", CFG_STR, OFF(static_dir), "", 0, 0,
     "directory served at / (the web client); empty: none"},
    {"HTTP_MAX_BODY", CFG_INT, OFF(max_body), "1048576", 1024, 64 << 20,
     "largest request body in bytes (413 above)"},
    {"HTTP_MAX_HEADER", CFG_INT, OFF(max_header), "16384", 1024, 60000,
     "largest request header block in bytes (431 above)"},
    {"DRAIN_TIMEOUT_MS", CFG_INT, OFF(drain_timeout_ms), "10000", 0, 600000,
     "on SIGTERM, wait at most this long for requests in flight"},
};
#define GW_NCFG (sizeof gw_cfg_table / sizeof gw_cfg_table[0])

static void *gw_signal_thread(void *arg)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigwait(&set, &sig) == 0) {
        log_info("signal %d: shutting down", sig);
        gw_http_stop(arg);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    gw_config cfg;
    char err[256];
    int rc = 1, lvl;
    rpcc_client *rpc = NULL;
    gw_http *http = NULL;
    gw_http_config hc;
    sigset_t set;
    pthread_t sigthr;
    int have_sigthr = 0;
    const gw_sio_app *app = NULL;
#ifdef GW_HAVE_SIO_APP
    static const gw_sio_app sio_app = {sio_app_install, sio_app_free};
    app = &sio_app;
#endif
    memset(&cfg, 0, sizeof cfg);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("callgw: REST and Socket.IO gateway to callsvc. Environment:\n");
        cfg_print_help(gw_cfg_table, GW_NCFG, stdout);
        return 0;
    }
    if (cfg_load(gw_cfg_table, GW_NCFG, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "callgw: %s\n", err);
        goto out;
    }
    lvl = log_level_parse(cfg.log_level);
    if (lvl < 0) {
        fprintf(stderr, "callgw: LOG_LEVEL: expected debug, info, warn or error\n");
        goto out;
    }
    log_init("callgw", (log_level)lvl, cfg.log_dir && *cfg.log_dir ? cfg.log_dir : NULL);

    /* Signals go to one thread that asks the loop to stop; every other
     * thread (lws, gRPC) inherits the blocked mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rpc = rpcc_client_new(cfg.callsvc_addr);
    if (!rpc)
        goto out;
    hc.addr = cfg.http_addr;
    hc.cors_origins = cfg.cors_origins;
    hc.static_dir = cfg.static_dir;
    hc.request_timeout_ms = cfg.request_timeout_ms;
    hc.max_body = (size_t)cfg.max_body;
    hc.max_header = (size_t)cfg.max_header;
    hc.drain_timeout_ms = cfg.drain_timeout_ms;
    http = gw_http_new(&hc, rpc, app);
    if (!http)
        goto out;
    if (pthread_create(&sigthr, NULL, gw_signal_thread, http) == 0)
        have_sigthr = 1;
    log_info("callgw ready: http://%s -> callsvc %s", cfg.http_addr, cfg.callsvc_addr);
    gw_http_run(http);
    rc = 0;
out:
    if (have_sigthr) {
        pthread_cancel(sigthr);
        pthread_join(sigthr, NULL);
    }
    if (rpc)
        rpcc_client_free(rpc);
    gw_http_free(http);
    log_info("callgw stopped");
    log_shutdown();
    cfg_free(gw_cfg_table, GW_NCFG, &cfg);
    return rc;
}
