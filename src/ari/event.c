/*
 * event: one ARI event's JSON text -> ari_event.
 *
 * The input comes from the network, so the decoder is written to be
 * fuzzed: every field is looked up with a type check, wrong types read as
 * absent, and the only way out is through one cleanup path. The fields all
 * event types share are decoded generically; the table says, per type,
 * which of them the type requires and which extra decoder (if any) reads
 * the rest. Adding an event type = an enum value in ari.h + a row here.
 */
#include "ari/ari_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum {
    REQ_CHANNEL = 1 << 0,
    REQ_PEER = 1 << 1,
    REQ_BRIDGE = 1 << 2,
    REQ_DIALSTATUS = 1 << 3,
    REQ_VARIABLE = 1 << 4,
};

typedef cs_err (*extra_decoder)(const json_t *j, ari__arena *a, ari_event *ev);

typedef struct event_row {
    const char *name;
    ari_event_type type;
    unsigned required;
    extra_decoder extra;
} event_row;

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static cs_err decode_playback(const json_t *j, ari__arena *a, ari_event *ev)
{
    bool oom = false;
    const json_t *p = json_object_get(j, "playback");
    ev->playback_id = ari__arena_strdup(a, jstr(p, "id"), &oom);
    ev->playback_state = ari__arena_strdup(a, jstr(p, "state"), &oom);
    ev->media_uri = ari__arena_strdup(a, jstr(p, "media_uri"), &oom);
    ev->target_uri = ari__arena_strdup(a, jstr(p, "target_uri"), &oom);
    return oom ? CS_ERR_INTERNAL : CS_OK;
}

static cs_err decode_recording(const json_t *j, ari__arena *a, ari_event *ev)
{
    bool oom = false;
    const json_t *r = json_object_get(j, "recording");
    ev->recording_name = ari__arena_strdup(a, jstr(r, "name"), &oom);
    ev->recording_state = ari__arena_strdup(a, jstr(r, "state"), &oom);
    return oom ? CS_ERR_INTERNAL : CS_OK;
}

/* Indexed by ari_event_type (checked by the unit test). */
static const event_row event_table[] = {
    {"Unknown", ARI_EV_UNKNOWN, 0, NULL},
    {"StasisStart", ARI_EV_STASIS_START, REQ_CHANNEL, NULL},
    {"StasisEnd", ARI_EV_STASIS_END, REQ_CHANNEL, NULL},
    {"ChannelCreated", ARI_EV_CHANNEL_CREATED, REQ_CHANNEL, NULL},
    {"ChannelStateChange", ARI_EV_CHANNEL_STATE_CHANGE, REQ_CHANNEL, NULL},
    {"ChannelDestroyed", ARI_EV_CHANNEL_DESTROYED, REQ_CHANNEL, NULL},
    {"ChannelHangupRequest", ARI_EV_CHANNEL_HANGUP_REQUEST, REQ_CHANNEL, NULL},
    {"Dial", ARI_EV_DIAL, REQ_PEER | REQ_DIALSTATUS, NULL},
    {"ChannelEnteredBridge", ARI_EV_CHANNEL_ENTERED_BRIDGE, REQ_BRIDGE, NULL},
    {"ChannelLeftBridge", ARI_EV_CHANNEL_LEFT_BRIDGE, REQ_BRIDGE | REQ_CHANNEL, NULL},
    {"BridgeCreated", ARI_EV_BRIDGE_CREATED, REQ_BRIDGE, NULL},
    {"BridgeDestroyed", ARI_EV_BRIDGE_DESTROYED, REQ_BRIDGE, NULL},
    {"ChannelVarset", ARI_EV_CHANNEL_VARSET, REQ_VARIABLE, NULL},
    {"ChannelDtmfReceived", ARI_EV_CHANNEL_DTMF_RECEIVED, REQ_CHANNEL, NULL},
    {"ChannelDialplan", ARI_EV_CHANNEL_DIALPLAN, REQ_CHANNEL, NULL},
    {"ChannelCallerId", ARI_EV_CHANNEL_CALLERID, REQ_CHANNEL, NULL},
    {"ChannelConnectedLine", ARI_EV_CHANNEL_CONNECTED_LINE, REQ_CHANNEL, NULL},
    {"ChannelHold", ARI_EV_CHANNEL_HOLD, REQ_CHANNEL, NULL},
    {"ChannelUnhold", ARI_EV_CHANNEL_UNHOLD, REQ_CHANNEL, NULL},
    {"ApplicationMoveFailed", ARI_EV_APPLICATION_MOVE_FAILED, REQ_CHANNEL, NULL},
    {"ApplicationReplaced", ARI_EV_APPLICATION_REPLACED, 0, NULL},
    {"PlaybackStarted", ARI_EV_PLAYBACK_STARTED, 0, decode_playback},
    {"PlaybackFinished", ARI_EV_PLAYBACK_FINISHED, 0, decode_playback},
    {"RecordingStarted", ARI_EV_RECORDING_STARTED, 0, decode_recording},
    {"RecordingFinished", ARI_EV_RECORDING_FINISHED, 0, decode_recording},
    {"RecordingFailed", ARI_EV_RECORDING_FAILED, 0, decode_recording},
};

_Static_assert(sizeof event_table / sizeof *event_table == ARI_EV__COUNT,
               "one event_table row per ari_event_type");

static const event_row *row_by_name(const char *name)
{
    for (size_t i = 1; name && i < sizeof event_table / sizeof *event_table; i++)
        if (strcmp(event_table[i].name, name) == 0)
            return &event_table[i];
    return &event_table[0];
}

ari_event_type ari_event_type_from_name(const char *name)
{
    return row_by_name(name)->type;
}

const char *ari_event_type_name(ari_event_type t)
{
    if ((size_t)t >= sizeof event_table / sizeof *event_table)
        return "Unknown";
    return event_table[t].name;
}

/* ------------------------------------------------------------------ */

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so that no time zone or timegm() is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t ari__parse_timestamp(const char *s)
{
    /* 2026-11-25T11:05:12.242+0000 (ARI's own format; the fraction and the
     * offset are optional so that "Z" and whole seconds also parse). */
    int64_t ms = -1;
    if (!s || strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        goto out;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60)
        goto out;
    const char *p = s + 19;
    int frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)p[n]))
            n++;
        if (n == 0)
            goto out;
        for (int i = 0; i < 3; i++)
            frac = frac * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    int off_min = 0;
    if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2);
        int om = p[3] == ':' ? digits(p + 4, 2) : digits(p + 3, 2);
        if (oh < 0 || om < 0)
            goto out;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += p[3] == ':' ? 6 : 5;
    } else if (*p == 'Z') {
        p++;
    }
    if (*p)
        goto out;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
    ms = secs * 1000 + frac;
out:
    return ms;
}

/* ------------------------------------------------------------------ */

/* A sub-object that, when present, must be a valid Channel. */
static cs_err opt_channel(const json_t *j, const char *key, ari__arena *a, bool *has,
                          ari_channel *ch)
{
    const json_t *o = json_object_get(j, key);
    if (!o)
        return CS_OK;
    cs_err rc = ari__channel_from_json(o, a, ch);
    *has = rc == CS_OK;
    /* A malformed optional object reads as absent; only OOM is fatal.
     * Whether it was required is checked afterwards. */
    return rc == CS_ERR_INTERNAL ? rc : CS_OK;
}

static cs_err decode_common(const json_t *j, ari__arena *a, ari_event *ev)
{
    cs_err rc = CS_ERR_INTERNAL;
    bool oom = false;
    if (opt_channel(j, "channel", a, &ev->has_channel, &ev->channel) != CS_OK ||
        opt_channel(j, "peer", a, &ev->has_peer, &ev->peer) != CS_OK ||
        opt_channel(j, "caller", a, &ev->has_caller, &ev->caller) != CS_OK)
        goto out;
    const json_t *b = json_object_get(j, "bridge");
    if (b) {
        cs_err brc = ari__bridge_from_json(b, a, &ev->bridge);
        if (brc == CS_ERR_INTERNAL)
            goto out;
        ev->has_bridge = brc == CS_OK;
    }
    /* Plain string fields of the event itself. */
    static const struct {
        const char *key;
        size_t offset;
    } strs[] = {
        {"application", offsetof(ari_event, application)},
        {"asterisk_id", offsetof(ari_event, asterisk_id)},
        {"timestamp", offsetof(ari_event, timestamp)},
        {"dialstatus", offsetof(ari_event, dialstatus)},
        {"dialstring", offsetof(ari_event, dialstring)},
        {"forward", offsetof(ari_event, forward)},
        {"cause_txt", offsetof(ari_event, cause_txt)},
        {"variable", offsetof(ari_event, variable)},
        {"value", offsetof(ari_event, value)},
        {"digit", offsetof(ari_event, digit)},
        {"dialplan_app", offsetof(ari_event, dialplan_app)},
        {"dialplan_app_data", offsetof(ari_event, dialplan_app_data)},
        {"destination", offsetof(ari_event, destination)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        *(const char **)((char *)ev + strs[i].offset) =
            ari__arena_strdup(a, jstr(j, strs[i].key), &oom);
    if (oom)
        goto out;
    int64_t ts = ari__parse_timestamp(ev->timestamp);
    ev->timestamp_ms = ts > 0 ? ts : 0;

    const json_t *cause = json_object_get(j, "cause");
    if (json_is_integer(cause)) {
        json_int_t v = json_integer_value(cause);
        ev->has_cause = true;
        ev->cause = v < 0 || v > 65535 ? -1 : (int)v;
    }
    ev->soft = json_is_true(json_object_get(j, "soft"));
    const json_t *dur = json_object_get(j, "duration_ms");
    if (json_is_integer(dur) && json_integer_value(dur) >= 0 &&
        json_integer_value(dur) <= 0x7fffffff)
        ev->duration_ms = (int)json_integer_value(dur);

    const json_t *args = json_object_get(j, "args");
    size_t n = json_is_array(args) ? json_array_size(args) : 0;
    if (n) {
        ev->args = ari__arena_alloc(a, n * sizeof *ev->args);
        if (!ev->args)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(args, i));
            if (s)
                ev->args[ev->n_args++] = ari__arena_strdup(a, s, &oom);
        }
        if (oom)
            goto out;
    }
    rc = CS_OK;
out:
    return rc;
}

static bool requirements_met(unsigned req, const ari_event *ev)
{
    return (!(req & REQ_CHANNEL) || ev->has_channel) && (!(req & REQ_PEER) || ev->has_peer) &&
           (!(req & REQ_BRIDGE) || ev->has_bridge) && (!(req & REQ_DIALSTATUS) || ev->dialstatus) &&
           (!(req & REQ_VARIABLE) || ev->variable);
}

cs_err ari_event_decode(const char *text, size_t len, ari_event **out)
{
    cs_err rc = CS_ERR_INVALID;
    json_t *j = NULL;
    ari__arena *a = NULL;
    ari_event *ev = NULL;
    *out = NULL;
    if (!text)
        goto out;
    j = json_loadb(text, len, 0, NULL);
    if (!json_is_object(j) || !jstr(j, "type"))
        goto out;
    rc = CS_ERR_INTERNAL;
    a = ari__arena_new();
    ev = calloc(1, sizeof *ev);
    if (!a || !ev)
        goto out;
    bool oom = false;
    const event_row *row = row_by_name(jstr(j, "type"));
    ev->type = row->type;
    ev->type_name = ari__arena_strdup(a, jstr(j, "type"), &oom);
    if (oom)
        goto out;
    if ((rc = decode_common(j, a, ev)) != CS_OK)
        goto out;
    if (row->extra && (rc = row->extra(j, a, ev)) != CS_OK)
        goto out;
    rc = requirements_met(row->required, ev) ? CS_OK : CS_ERR_INVALID;
out:
    json_decref(j);
    if (rc == CS_OK) {
        ev->_arena = a;
        *out = ev;
    } else {
        ari__arena_free(a);
        free(ev);
    }
    return rc;
}

void ari_event_free(ari_event *ev)
{
    if (!ev)
        return;
    ari__arena_free(ev->_arena);
    free(ev);
}
