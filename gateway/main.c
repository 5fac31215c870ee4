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
#include <malloc.h>
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
#include "sio_app.h"
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
    int client_timeout_s;
    int keepalive_timeout_s;
    int sio_ping_interval_ms;
    int sio_ping_timeout_ms;
    int sio_max_payload;
    int sio_connect_timeout_ms;
    int sio_max_sockets_per_user;
    int sio_rate;
    int sio_burst;
    int sio_max_calls;
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
    {"HTTP_CLIENT_TIMEOUT_S", CFG_INT, OFF(client_timeout_s), "10", 1, 3600,
     "a client must send a request's headers, then its body, within this (else closed)"},
    {"HTTP_KEEPALIVE_TIMEOUT_S", CFG_INT, OFF(keepalive_timeout_s), "30", 1, 3600,
     "an idle keep-alive connection is closed after this"},
    {"SIO_PING_INTERVAL_MS", CFG_INT, OFF(sio_ping_interval_ms), "25000", 50, 3600000,
     "Engine.IO: the server pings every this many ms (--ping-interval)"},
    {"SIO_PING_TIMEOUT_MS", CFG_INT, OFF(sio_ping_timeout_ms), "20000", 50, 3600000,
     "Engine.IO: a client that does not answer a ping within this is closed (--ping-timeout)"},
    {"SIO_MAX_PAYLOAD", CFG_INT, OFF(sio_max_payload), "1000000", 1024, 64 << 20,
     "Engine.IO: largest polling POST body or WebSocket message in bytes (--max-payload)"},
    {"SIO_CONNECT_TIMEOUT_MS", CFG_INT, OFF(sio_connect_timeout_ms), "45000", 100, 3600000,
     "Socket.IO: a connection with no accepted CONNECT within this is closed "
     "(--connect-timeout)"},
    {"SIO_MAX_SOCKETS_PER_USER", CFG_INT, OFF(sio_max_sockets_per_user), "10", 1, 1000000,
     "Socket.IO: sockets one user may have on this gateway"},
    {"SIO_RATE", CFG_INT, OFF(sio_rate), "20", 1, 1000000,
     "Socket.IO: client events per second per socket (token bucket refill)"},
    {"SIO_BURST", CFG_INT, OFF(sio_burst), "40", 1, 1000000,
     "Socket.IO: token bucket size; this many refused events in a row disconnect the socket"},
    {"SIO_MAX_CALLS_PER_SOCKET", CFG_INT, OFF(sio_max_calls), "32", 1, 10000,
     "Socket.IO: call rooms one socket may join"},
};
#define GW_NCFG (sizeof gw_cfg_table / sizeof gw_cfg_table[0])

/* Command-line flags: --sio-conformance, and the Socket.IO timings
 * (`--ping-interval 300` or `--ping-interval=300`), which override the
 * environment. */
static const struct gw_flag {
    const char *name;
    size_t off;
    long min, max;
} gw_flags[] = {
    {"--ping-interval", OFF(sio_ping_interval_ms), 50, 3600000},
    {"--ping-timeout", OFF(sio_ping_timeout_ms), 50, 3600000},
    {"--max-payload", OFF(sio_max_payload), 16, 64 << 20},
    {"--connect-timeout", OFF(sio_connect_timeout_ms), 100, 3600000},
};

static int gw_parse_args(int argc, char **argv, gw_config *cfg, int *conformance)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        size_t j, n = sizeof gw_flags / sizeof gw_flags[0];
        char *end;
        long v;
        if (strcmp(a, "--sio-conformance") == 0) {
            *conformance = 1;
            continue;
        }
        for (j = 0; j < n; j++) {
            size_t l = strlen(gw_flags[j].name);
            if (strncmp(a, gw_flags[j].name, l) != 0)
                continue;
            if (a[l] == '=')
                val = a + l + 1;
            else if (a[l] == '\0' && i + 1 < argc)
                val = argv[++i];
            else
                continue;
            break;
        }
        if (j == n || !val) {
            fprintf(stderr, "callgw: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        }
        v = strtol(val, &end, 10);
        if (*end || end == val || v < gw_flags[j].min || v > gw_flags[j].max) {
            fprintf(stderr, "callgw: %s: expected an integer in [%ld, %ld]\n", gw_flags[j].name,
                    gw_flags[j].min, gw_flags[j].max);
            return -1;
        }
        *(int *)((char *)cfg + gw_flags[j].off) = (int)v;
    }
    return 0;
}

/* SIGTERM/SIGINT: stop (once); SIGHUP: open the log files again. */
static void *gw_signal_thread(void *arg)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    while (sigwait(&set, &sig) == 0) {
        if (sig == SIGHUP) {
            log_reopen("SIGHUP");
            continue;
        }
        log_info("signal %d: shutting down", sig);
        gw_http_stop(arg);
        break;
    }
    return NULL;
}

/* Bytes of free memory each malloc heap may keep (see main). */
#define GW_MALLOC_KEEP (512 * 1024)

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
    int conformance = 0;
#ifdef GW_HAVE_SIO_APP
    static sio_app_config sio_cfg;
    static gw_sio_app sio_app = {sio_app_install, sio_app_tick, sio_app_free, &sio_cfg};
    app = &sio_app;
#endif
    /* glibc gives freed memory back to the kernel as soon as 128 kB sit
     * unused at the top of a heap, and the next answer faults the pages
     * back in: under load that churn (brk/madvise, page faults) cost about
     * a fifth of callgw's CPU per 12 kB answer. Keep up to GW_MALLOC_KEEP
     * per heap instead (a fixed trim threshold also fixes the mmap
     * threshold, so it is set to the same value). 1 MiB saved a little
     * more CPU but took VmHWM to 20.1 MB under wrk -c64 (limit 20 MB). */
    mallopt(M_TRIM_THRESHOLD, GW_MALLOC_KEEP);
    mallopt(M_MMAP_THRESHOLD, GW_MALLOC_KEEP);
    /* One heap for every thread: answers are allocated on the gRPC
     * completion thread and freed on the lws thread, and with a heap per
     * thread each free went back to the other's heap under its lock, whose
     * top then shrank and grew again (sysmalloc, page faults, memmove into
     * fresh pages). Set before any thread starts. */
    mallopt(M_ARENA_MAX, 1);
    memset(&cfg, 0, sizeof cfg);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("callgw: REST and Socket.IO gateway to callsvc.\n"
               "Options: --sio-conformance (Socket.IO conformance mode: no auth, echo\n"
               "namespaces / and /custom, raw Engine.IO echo at /engine.io/),\n"
               "--ping-interval MS, --ping-timeout MS, --max-payload BYTES,\n"
               "--connect-timeout MS (override the SIO_* variables). Environment:\n");
        cfg_print_help(gw_cfg_table, GW_NCFG, stdout);
        return 0;
    }
    if (cfg_load(gw_cfg_table, GW_NCFG, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "callgw: %s\n", err);
        goto out;
    }
    if (gw_parse_args(argc, argv, &cfg, &conformance) != 0)
        goto out;
    if (conformance)
        app = NULL;
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
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rpc = rpcc_client_new(cfg.callsvc_addr);
    if (!rpc)
        goto out;
    memset(&hc, 0, sizeof hc);
    hc.addr = cfg.http_addr;
    hc.cors_origins = cfg.cors_origins;
    hc.static_dir = cfg.static_dir;
    hc.request_timeout_ms = cfg.request_timeout_ms;
    hc.max_body = (size_t)cfg.max_body;
    hc.max_header = (size_t)cfg.max_header;
    hc.drain_timeout_ms = cfg.drain_timeout_ms;
    hc.client_timeout_s = cfg.client_timeout_s;
    hc.keepalive_timeout_s = cfg.keepalive_timeout_s;
    hc.sio_ping_interval_ms = (unsigned)cfg.sio_ping_interval_ms;
    hc.sio_ping_timeout_ms = (unsigned)cfg.sio_ping_timeout_ms;
    hc.sio_connect_timeout_ms = (unsigned)cfg.sio_connect_timeout_ms;
    hc.sio_max_payload = (size_t)cfg.sio_max_payload;
#ifdef GW_HAVE_SIO_APP
    sio_cfg.max_sockets_per_user = cfg.sio_max_sockets_per_user;
    sio_cfg.rate_per_s = cfg.sio_rate;
    sio_cfg.rate_burst = cfg.sio_burst;
    sio_cfg.max_calls_per_socket = cfg.sio_max_calls;
#endif
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
