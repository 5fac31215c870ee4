/*
 * calls/glue: wiring of the calls module and its ARI client for callsvc,
 * so that main.c needs one call to start and one to stop.
 */
#include <stdlib.h>
#include <string.h>

#include "calls/calls.h"
#include "common/log.h"
#include "svc.h"

/* What start makes; the module keeps it (calls_module_set_ari with
 * ownership) so that app->calls is all main.c holds. */
typedef struct calls_svc {
    calls_module *module;
    ari_client *ari;
} calls_svc;

static void calls__on_state(bool connected, void *ud)
{
    (void)ud;
    if (connected)
        log_info("calls: ARI connected");
    else
        log_warn("calls: ARI disconnected");
}

cs_err calls_svc_start(struct svc_app *app)
{
    calls_svc *s = calloc(1, sizeof *s);
    calls_options o = {0};
    ari_config ac = {0};
    ari_callbacks cb = {0};
    char err[256];
    cs_err rc = CS_ERR_INTERNAL;
    if (!s)
        goto out;
    if (calls_options_from_env(&o, err, sizeof err) != 0) {
        log_error("calls: configuration: %s", err);
        rc = CS_ERR_INVALID;
        goto out;
    }
    o.database_url = app->cfg.database_url;
    o.ari_app = app->cfg.ari_app;
    o.device_template = app->cfg.device_endpoint_template;
    o.outbound_template = app->cfg.outbound_endpoint_template;
    rc = calls_module_new(&o, &s->module);
    if (rc != CS_OK)
        goto out;
    calls_module_set_cache(s->module, app->calls_cache);
    if (app->cfg.ari_url && *app->cfg.ari_url) {
        ac.url = app->cfg.ari_url;
        ac.user = app->cfg.ari_user;
        ac.password = app->cfg.ari_password;
        ac.app = app->cfg.ari_app;
        ac.connect_timeout_ms = app->cfg.ari_connect_timeout_ms;
        ac.request_timeout_ms = app->cfg.ari_request_timeout_ms;
        ac.backoff_max_ms = app->cfg.ari_backoff_max_ms;
        ac.events = calls_ari_events;
        ac.n_events = calls_ari_events_len;
        cb.on_event = calls_on_ari_event;
        cb.on_connected = calls_on_ari_connected;
        cb.on_state = calls__on_state;
        cb.ud = s->module;
        rc = ari_client_new(&ac, &cb, &s->ari);
        if (rc != CS_OK) {
            log_error("calls: ARI client: %s", cs_err_name(rc));
            goto out;
        }
        calls_module_set_ari(s->module, s->ari);
        rc = ari_client_start(s->ari);
        if (rc != CS_OK)
            goto out;
        calls_module_own_ari(s->module);
        s->ari = NULL;
    } else {
        log_warn("calls: ARI_URL is empty: calls cannot be made");
    }
    app->calls = s->module;
    s->module = NULL;
    rc = CS_OK;
out:
    if (s) {
        calls_module_free(s->module); /* stops the workers before the client goes */
        ari_client_free(s->ari);
        free(s);
    }
    return rc;
}

void calls_svc_stop(struct svc_app *app)
{
    calls_module_free(app->calls); /* stops its ARI client first */
    app->calls = NULL;
}

int calls_svc_ari_connected(const struct svc_app *app)
{
    ari_client *ari = app->calls ? calls_module_ari(app->calls) : NULL;
    return ari && ari_client_connected(ari);
}
