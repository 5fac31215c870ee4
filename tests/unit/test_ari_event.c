/*
 * The ARI event decoder against every event Asterisk sent in the recorded
 * traces (shared/ari/traces, every .jsonl), checked field by field against an
 * independent jansson reading of the same line; the REST bodies of the
 * traces through the Channel/Bridge decoders and the error mapping; and
 * hostile inputs.
 * Trace directory: $ARI_TRACES_DIR, else the compiled-in default.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ari/ari_internal.h"

static const char *traces_dir(void)
{
    const char *d = getenv("ARI_TRACES_DIR");
    return d && *d ? d : ARI_TRACES_DEFAULT;
}

/* Calls fn(line, json, file) for every line of every trace file; returns
 * the number of files. */
typedef void (*line_fn)(const char *line, size_t len, json_t *j, const char *file, void *ud);

static int for_each_line(line_fn fn, void *ud)
{
    DIR *d = opendir(traces_dir());
    int files = 0;
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", traces_dir(), e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        files++;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (!len)
                continue;
            json_t *j = json_loadb(line, (size_t)len, 0, NULL);
            assert_non_null(j);
            fn(line, (size_t)len, j, e->d_name, ud);
            json_decref(j);
        }
        free(line);
        fclose(f);
    }
    closedir(d);
    return files;
}

static void expect_str(const char *got, const json_t *obj, const char *key)
{
    const char *want = json_string_value(json_object_get(obj, key));
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void check_channel(const ari_channel *ch, const json_t *j)
{
    expect_str(ch->id, j, "id");
    expect_str(ch->name, j, "name");
    expect_str(ch->state_name, j, "state");
    assert_int_not_equal(ch->state, ARI_CH_UNKNOWN); /* every state in the traces is known */
    assert_string_equal(ari_channel_state_name(ch->state), ch->state_name);
    expect_str(ch->caller_name, json_object_get(j, "caller"), "name");
    expect_str(ch->caller_number, json_object_get(j, "caller"), "number");
    expect_str(ch->connected_number, json_object_get(j, "connected"), "number");
    expect_str(ch->context, json_object_get(j, "dialplan"), "context");
    expect_str(ch->exten, json_object_get(j, "dialplan"), "exten");
    assert_int_equal(ch->priority, json_integer_value(json_object_get(
                                       json_object_get(j, "dialplan"), "priority")));
}

static void check_bridge(const ari_bridge *br, const json_t *j)
{
    expect_str(br->id, j, "id");
    expect_str(br->name, j, "name");
    expect_str(br->bridge_type, j, "bridge_type");
    json_t *chans = json_object_get(j, "channels");
    assert_int_equal(br->n_channels, json_array_size(chans));
    for (size_t i = 0; i < br->n_channels; i++)
        assert_string_equal(br->channels[i], json_string_value(json_array_get(chans, i)));
}

typedef struct counts {
    int events, types_seen[ARI_EV__COUNT], rest_channels, rest_bridges, rest_errors;
} counts;

static void check_event_line(const char *line, size_t len, json_t *j, const char *file, void *ud)
{
    counts *n = ud;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return;
    ari_event *ev = NULL;
    cs_err rc = ari_event_decode(line, len, &ev);
    if (rc != CS_OK)
        fail_msg("%s: %s did not decode: %s", file, type, cs_err_name(rc));
    n->events++;
    /* Every type Asterisk sent in the traces is in the table. */
    if (ev->type == ARI_EV_UNKNOWN)
        fail_msg("%s: %s decoded as unknown", file, type);
    n->types_seen[ev->type]++;
    assert_string_equal(ev->type_name, type);
    assert_string_equal(ari_event_type_name(ev->type), type);
    expect_str(ev->application, j, "application");
    expect_str(ev->asterisk_id, j, "asterisk_id");
    assert_non_null(ev->asterisk_id);
    expect_str(ev->timestamp, j, "timestamp");
    assert_true(ev->timestamp_ms > 1700000000000LL);

    json_t *ch = json_object_get(j, "channel");
    assert_int_equal(ev->has_channel, ch != NULL);
    if (ch)
        check_channel(&ev->channel, ch);
    json_t *peer = json_object_get(j, "peer");
    assert_int_equal(ev->has_peer, peer != NULL);
    if (peer)
        check_channel(&ev->peer, peer);
    json_t *br = json_object_get(j, "bridge");
    assert_int_equal(ev->has_bridge, br != NULL);
    if (br)
        check_bridge(&ev->bridge, br);

    json_t *args = json_object_get(j, "args");
    assert_int_equal(ev->n_args, json_array_size(args));
    for (size_t i = 0; i < ev->n_args; i++)
        assert_string_equal(ev->args[i], json_string_value(json_array_get(args, i)));
    json_t *cause = json_object_get(j, "cause");
    assert_int_equal(ev->has_cause, cause != NULL);
    if (cause)
        assert_int_equal(ev->cause, json_integer_value(cause));
    assert_int_equal(ev->soft, json_is_true(json_object_get(j, "soft")));
    expect_str(ev->cause_txt, j, "cause_txt");
    expect_str(ev->dialstatus, j, "dialstatus");
    expect_str(ev->dialstring, j, "dialstring");
    expect_str(ev->variable, j, "variable");
    expect_str(ev->value, j, "value");
    expect_str(ev->digit, j, "digit");
    expect_str(ev->destination, j, "destination");
    expect_str(ev->dialplan_app, j, "dialplan_app");
    if (json_object_get(j, "playback"))
        expect_str(ev->playback_state, json_object_get(j, "playback"), "state");
    if (json_object_get(j, "recording"))
        expect_str(ev->recording_name, json_object_get(j, "recording"), "name");

    /* What the calls module relies on, per type. */
    switch (ev->type) {
    case ARI_EV_DIAL:
        assert_non_null(ev->dialstatus);
        assert_non_null(ev->peer.id);
        break;
    case ARI_EV_CHANNEL_DESTROYED:
        assert_true(ev->has_cause);
        assert_non_null(ev->cause_txt);
        break;
    case ARI_EV_CHANNEL_HANGUP_REQUEST:
        assert_true(ev->has_cause);
        break;
    case ARI_EV_STASIS_START:
        assert_non_null(ev->channel.id);
        break;
    default:
        break;
    }
    ari_event_free(ev);
}

/* REST bodies in the traces: channels and bridges decode, errors map. */
static void check_rest_line(const char *line, size_t len, json_t *j, const char *file, void *ud)
{
    counts *n = ud;
    const char *rest = json_string_value(json_object_get(j, "rest"));
    if (!rest)
        return;
    int status = (int)json_integer_value(json_object_get(j, "status"));
    json_t *body = json_object_get(j, "body");
    bool channels = strstr(rest, "/ari/channels") != NULL;
    bool bridges = strstr(rest, "/ari/bridges") != NULL;
    if (status == 200 && json_is_object(body) && json_object_get(body, "id")) {
        ari__arena *a = ari__arena_new();
        if (channels && json_object_get(body, "dialplan")) {
            ari_channel ch;
            assert_int_equal(ari__channel_from_json(body, a, &ch), CS_OK);
            check_channel(&ch, body);
            n->rest_channels++;
        } else if (bridges && json_object_get(body, "bridge_type")) {
            ari_bridge br;
            assert_int_equal(ari__bridge_from_json(body, a, &br), CS_OK);
            check_bridge(&br, body);
            n->rest_bridges++;
        }
        ari__arena_free(a);
    }
    if (status >= 400 && json_is_object(body)) {
        char *text = json_dumps(body, JSON_COMPACT);
        ari_error err;
        cs_err rc = ari__map_http(status, text, strlen(text), &err);
        const char *msg = json_string_value(json_object_get(body, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(body, "error"));
        assert_int_equal(err.http_status, status);
        assert_string_equal(err.message, msg);
        cs_err want = status == 404                                        ? CS_ERR_NOT_FOUND
                      : status == 400 && !strcmp(msg, "Channel not found") ? CS_ERR_NOT_FOUND
                      : status == 400                                      ? CS_ERR_INVALID
                      : status == 409 || status == 422                     ? CS_ERR_PRECONDITION
                      : status >= 500                                      ? CS_ERR_UNAVAILABLE
                                                                           : CS_ERR_INTERNAL;
        if (rc != want)
            fail_msg("%s: %s %d mapped to %s", file, rest, status, cs_err_name(rc));
        n->rest_errors++;
        free(text);
    }
    (void)line;
    (void)len;
}

static void test_every_trace_event_decodes(void **state)
{
    counts n = {0};
    int files = for_each_line(check_event_line, &n);
    assert_true(files >= 13);
    assert_true(n.events >= 300);
    /* The flows the calls module needs all occur. */
    static const ari_event_type needed[] = {
        ARI_EV_STASIS_START,           ARI_EV_STASIS_END,
        ARI_EV_CHANNEL_STATE_CHANGE,   ARI_EV_CHANNEL_DESTROYED,
        ARI_EV_CHANNEL_HANGUP_REQUEST, ARI_EV_DIAL,
        ARI_EV_CHANNEL_ENTERED_BRIDGE, ARI_EV_CHANNEL_LEFT_BRIDGE,
        ARI_EV_BRIDGE_DESTROYED,       ARI_EV_CHANNEL_VARSET,
        ARI_EV_CHANNEL_DTMF_RECEIVED,
    };
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        assert_true(n.types_seen[needed[i]] > 0);
    (void)state;
}

static void test_every_trace_rest_body(void **state)
{
    counts n = {0};
    for_each_line(check_rest_line, &n);
    assert_true(n.rest_channels > 10);
    assert_true(n.rest_bridges > 3);
    assert_true(n.rest_errors >= 20);
    (void)state;
}

/* Specific facts from the traces, decoded. */
static void test_dial_busy_and_noanswer_facts(void **state)
{
    const char *busy =
        "{\"type\":\"Dial\",\"timestamp\":\"2026-11-25T11:05:17.100+0000\",\"dialstatus\":"
        "\"BUSY\",\"forward\":\"\",\"dialstring\":\"2000@busy\",\"peer\":{\"id\":\"1.2\","
        "\"name\":\"Local/2000@busy-1;1\",\"state\":\"Down\"},\"caller\":{\"id\":\"1.1\"},"
        "\"asterisk_id\":\"x\",\"application\":\"call-service\"}";
    ari_event *ev = NULL;
    assert_int_equal(ari_event_decode(busy, strlen(busy), &ev), CS_OK);
    assert_int_equal(ev->type, ARI_EV_DIAL);
    assert_string_equal(ev->dialstatus, "BUSY");
    assert_string_equal(ev->peer.id, "1.2");
    assert_true(ev->has_caller);
    assert_string_equal(ev->caller.id, "1.1");
    assert_int_equal(ev->peer.state, ARI_CH_DOWN);
    assert_int_equal(ev->timestamp_ms, 1795604717100LL);
    ari_event_free(ev);
    (void)state;
}

static void test_hostile_inputs(void **state)
{
    static const struct {
        const char *text;
        cs_err want;
        ari_event_type type;
    } cases[] = {
        {"", CS_ERR_INVALID, 0},
        {"null", CS_ERR_INVALID, 0},
        {"[]", CS_ERR_INVALID, 0},
        {"{", CS_ERR_INVALID, 0},
        {"{}", CS_ERR_INVALID, 0},
        {"{\"type\":5}", CS_ERR_INVALID, 0},
        {"{\"type\":null}", CS_ERR_INVALID, 0},
        {"{\"type\":\"StasisStart\"}", CS_ERR_INVALID, 0},                /* no channel */
        {"{\"type\":\"StasisStart\",\"channel\":{}}", CS_ERR_INVALID, 0}, /* channel without id */
        {"{\"type\":\"StasisStart\",\"channel\":{\"id\":7}}", CS_ERR_INVALID, 0},
        {"{\"type\":\"StasisStart\",\"channel\":\"x\"}", CS_ERR_INVALID, 0},
        {"{\"type\":\"Dial\",\"peer\":{\"id\":\"a\"}}", CS_ERR_INVALID, 0}, /* no dialstatus */
        {"{\"type\":\"ChannelVarset\",\"value\":\"v\"}", CS_ERR_INVALID, 0},
        {"{\"type\":\"BridgeDestroyed\",\"bridge\":[]}", CS_ERR_INVALID, 0},
        {"{\"type\":\"StasisStart\",\"channel\":{\"id\":\"a\"}}", CS_OK, ARI_EV_STASIS_START},
        {"{\"type\":\"StasisStart\",\"channel\":{\"id\":\"a\",\"state\":5,\"caller\":[1]},"
         "\"args\":[1,\"x\",null],\"cause\":\"16\",\"timestamp\":\"garbage\"}",
         CS_OK, ARI_EV_STASIS_START},
        {"{\"type\":\"ChannelVarset\",\"variable\":\"X\"}", CS_OK, ARI_EV_CHANNEL_VARSET},
        {"{\"type\":\"DeviceStateChanged\",\"device_state\":{}}", CS_OK, ARI_EV_UNKNOWN},
        {"{\"type\":\"Unknown\"}", CS_OK, ARI_EV_UNKNOWN},
        {"{\"type\":\"\"}", CS_OK, ARI_EV_UNKNOWN},
        {"{\"type\":\"ChannelDestroyed\",\"channel\":{\"id\":\"a\"},\"cause\":99999999999}", CS_OK,
         ARI_EV_CHANNEL_DESTROYED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ari_event *ev = (ari_event *)1;
        cs_err rc = ari_event_decode(cases[i].text, strlen(cases[i].text), &ev);
        if (rc != cases[i].want)
            fail_msg("case %zu (%s): %s", i, cases[i].text, cs_err_name(rc));
        if (rc == CS_OK) {
            assert_int_equal(ev->type, cases[i].type);
            ari_event_free(ev);
        } else {
            assert_null(ev);
        }
    }
    /* Wrong types read as absent. */
    const char *t = "{\"type\":\"StasisStart\",\"channel\":{\"id\":\"a\",\"state\":5},"
                    "\"args\":[1,\"x\",null],\"cause\":\"16\",\"timestamp\":\"garbage\"}";
    ari_event *ev = NULL;
    assert_int_equal(ari_event_decode(t, strlen(t), &ev), CS_OK);
    assert_null(ev->channel.state_name);
    assert_int_equal(ev->channel.state, ARI_CH_UNKNOWN);
    assert_int_equal(ev->n_args, 1);
    assert_string_equal(ev->args[0], "x");
    assert_false(ev->has_cause);
    assert_int_equal(ev->timestamp_ms, 0);
    ari_event_free(ev);

    /* Not NUL-terminated, embedded NUL, deep nesting, NULL text. */
    char buf[] = {'{', '"', 't', 'y', 'p', 'e', '"', ':', '"', 'X', '"', '}', 'J', 'U', 'N', 'K'};
    assert_int_equal(ari_event_decode(buf, 12, &ev), CS_OK);
    assert_int_equal(ev->type, ARI_EV_UNKNOWN);
    ari_event_free(ev);
    assert_int_equal(ari_event_decode(buf, sizeof buf, &ev), CS_ERR_INVALID);
    const char nul[] = "{\"type\":\"St\\u0000asisStart\"}";
    assert_int_equal(ari_event_decode(nul, sizeof nul - 1, &ev), CS_ERR_INVALID);
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    assert_int_equal(ari_event_decode(deep, depth * 2, &ev), CS_ERR_INVALID);
    free(deep);
    assert_int_equal(ari_event_decode(NULL, 0, &ev), CS_ERR_INVALID);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_trace_event_decodes),
        cmocka_unit_test(test_every_trace_rest_body),
        cmocka_unit_test(test_dial_busy_and_noanswer_facts),
        cmocka_unit_test(test_hostile_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
