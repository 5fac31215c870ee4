/*
 * ari-sim: a stand-in for Asterisk as seen through ARI, for tests and the
 * local stack. Configuration comes from the environment (table below) and a
 * few flags that override it; see README.md.
 */
#include "model.h"
#include "server.h"

#include "common/config.h"
#include "common/log.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sim_env {
    char *addr;
    char *users;
    char *technologies;
    char *inbound_app;
    int max_channels;
    int max_bridges;
    int ws_queue;
    char *log_level;
} sim_env;

static const cfg_entry sim_env_table[] = {
    {"ARI_SIM_ADDR", CFG_STR, offsetof(sim_env, addr), "127.0.0.1:8088", 0, 0,
     "host:port to listen on (REST, events WebSocket and /_sim control API)"},
    {"ARI_SIM_USERS", CFG_STR, offsetof(sim_env, users), "admin:admin", 0, 0,
     "ARI users, user:password[,user:password...]"},
    {"ARI_SIM_TECHNOLOGIES", CFG_STR, offsetof(sim_env, technologies), "PJSIP,SIP,IAX2,DAHDI,Local",
     0, 0, "channel technologies that exist; others fail with 500 Allocation failed"},
    {"ARI_SIM_INBOUND_APP", CFG_STR, offsetof(sim_env, inbound_app), "call-service", 0, 0,
     "Stasis app of the stasis-in context and of /_sim/inbound calls"},
    {"ARI_SIM_MAX_CHANNELS", CFG_INT, offsetof(sim_env, max_channels), "10000", 2, 1000000,
     "channels alive at once before originate fails"},
    {"ARI_SIM_MAX_BRIDGES", CFG_INT, offsetof(sim_env, max_bridges), "5000", 1, 1000000,
     "bridges alive at once"},
    {"ARI_SIM_WS_QUEUE", CFG_INT, offsetof(sim_env, ws_queue), "20000", 16, 10000000,
     "events queued per WebSocket before the session is dropped"},
    {"LOG_LEVEL", CFG_STR, offsetof(sim_env, log_level), "info", 0, 0,
     "debug, info, warn or error"},
};
#define SIM_ENV_N (sizeof(sim_env_table) / sizeof(sim_env_table[0]))

static void on_signal(int sig)
{
    (void)sig;
    srv_interrupt();
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ari-sim [--addr host:port] [--users u:p,...] [--technologies A,B]\n"
                 "               [--inbound-app name]\n\nenvironment:\n");
    cfg_print_help(sim_env_table, SIM_ENV_N, out);
}

/* Flags override the environment: --name value. */
static int apply_flags(int argc, char **argv, sim_env *env)
{
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        {"--addr", offsetof(sim_env, addr)},
        {"--users", offsetof(sim_env, users)},
        {"--technologies", offsetof(sim_env, technologies)},
        {"--inbound-app", offsetof(sim_env, inbound_app)},
    };
    for (int i = 1; i < argc; i++) {
        size_t k;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
            if (strcmp(argv[i], flags[k].flag) == 0)
                break;
        }
        if (k == sizeof(flags) / sizeof(flags[0]) || i + 1 >= argc) {
            fprintf(stderr, "ari-sim: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return -1;
        }
        {
            char **field = (char **)((char *)env + flags[k].offset);
            char *v = strdup(argv[++i]);
            if (!v)
                return -1;
            free(*field);
            *field = v;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    sim_env env;
    char err[256], host[256];
    int port, rc = 1, level;
    struct lws_context *ctx = NULL;
    srv_config scfg;
    sim_config mcfg;

    memset(&env, 0, sizeof(env));
    if (cfg_load(sim_env_table, SIM_ENV_N, &env, err, sizeof(err)) != 0) {
        fprintf(stderr, "ari-sim: %s\n", err);
        goto out;
    }
    if (apply_flags(argc, argv, &env) != 0)
        goto out;
    level = log_level_parse(env.log_level);
    log_init("ari-sim", level < 0 ? LOG_INFO : (log_level)level, NULL);
    if (cfg_split_hostport(env.addr, host, sizeof(host), &port) != 0) {
        log_error("ARI_SIM_ADDR '%s' is not host:port", env.addr);
        goto out;
    }
    scfg = (srv_config){host, port, env.users, env.ws_queue};
    ctx = srv_init(&scfg);
    if (!ctx) {
        log_error("cannot listen on %s", env.addr);
        goto out;
    }
    mcfg = (sim_config){env.technologies, env.inbound_app, env.max_channels, env.max_bridges};
    if (sim_init(ctx, &mcfg, srv_emit) != 0)
        goto out;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    log_info("ari-sim listening on %s (asterisk_id %s)", env.addr, sim_entity_id());
    srv_run();
    log_info("ari-sim stopping");
    rc = 0;
out:
    /* the model's timers live in the context: free them before it goes */
    sim_shutdown();
    srv_destroy();
    cfg_free(sim_env_table, SIM_ENV_N, &env);
    log_shutdown();
    return rc;
}
