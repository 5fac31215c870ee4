/*
 * Unit tests of gateway/socketio/sio_server and sio_conformance: namespaces,
 * CONNECT with auth (accepted or refused later), events, acks, binary,
 * rooms, DISCONNECT, connect timeout, protocol errors. Driven over
 * WebSocket sessions of the fake transport.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sio.h"
#include "test_eio_fake.h"

typedef struct app {
    sio_socket *pending; /* last socket waiting for a decision */
    char pending_sid[21];
    char auth[256];
    int connects, events, disconnects;
    char last_event[64];
    char last_data[256];
    long long last_ack;
    unsigned last_nbins;
    char last_reason[64];
    int async; /* 0: accept at once; 1: leave pending */
} app;

static void app_connect(void *a, sio_socket *s, json_t *auth)
{
    app *x = a;
    char *js = json_dumps(auth, JSON_COMPACT);
    x->connects++;
    snprintf(x->auth, sizeof(x->auth), "%s", js);
    free(js);
    if (x->async) {
        x->pending = s;
        snprintf(x->pending_sid, sizeof(x->pending_sid), "%s", sio_socket_id(s));
    } else {
        assert_int_equal(sio_socket_accept(s), CS_OK);
    }
}

static void app_event(void *a, sio_socket *s, const char *name, json_t *data, long long ack_id,
                      const sio_bin *bins, unsigned nbins)
{
    app *x = a;
    char *js = json_dumps(data, JSON_COMPACT);
    x->events++;
    snprintf(x->last_event, sizeof(x->last_event), "%s", name);
    snprintf(x->last_data, sizeof(x->last_data), "%s", js);
    free(js);
    x->last_ack = ack_id;
    x->last_nbins = nbins;
    if (strcmp(name, "join") == 0)
        sio_socket_join(s, json_string_value(json_array_get(data, 1)));
    else if (strcmp(name, "leave") == 0)
        sio_socket_leave(s, json_string_value(json_array_get(data, 1)));
    else if (strcmp(name, "shout") == 0)
        sio_nsp_emit(sio_socket_nsp(s), json_string_value(json_array_get(data, 1)), s, "heard",
                     json_pack("[s]", sio_socket_id(s)));
    else if (strcmp(name, "ack-me") == 0 && ack_id >= 0)
        sio_socket_ack(s, ack_id, json_pack("[{s:b}]", "ok", 1), NULL, 0);
    else if (strcmp(name, "kick") == 0)
        sio_socket_disconnect(s);
}

static void app_disconnect(void *a, sio_socket *s, const char *reason)
{
    app *x = a;
    x->disconnects++;
    snprintf(x->last_reason, sizeof(x->last_reason), "%s", reason);
    if (x->pending == s)
        x->pending = NULL;
}

typedef struct ctx {
    fake_net net;
    app app;
    sio_server *srv;
    eio_server *eio;
} ctx;

static int setup(void **state)
{
    static const sio_nsp_handler h = {app_connect, app_event, app_disconnect};
    ctx *c = calloc(1, sizeof(*c));
    eio_config cfg;
    sio_config scfg = {.connect_timeout_ms = 1000};

    c->net.now = 5000;
    fake_config(&cfg, &c->net);
    c->srv = sio_server_new(&cfg, &scfg);
    assert_non_null(c->srv);
    c->eio = sio_server_eio(c->srv);
    assert_non_null(sio_server_namespace(c->srv, "/", &h, &c->app));
    assert_non_null(sio_server_namespace(c->srv, "/admin", &h, &c->app));
    assert_null(sio_server_namespace(c->srv, "/admin", &h, &c->app));
    assert_null(sio_server_namespace(c->srv, "noslash", &h, &c->app));
    *state = c;
    return 0;
}

static int setup_conformance(void **state)
{
    ctx *c = calloc(1, sizeof(*c));
    eio_config cfg;
    c->net.now = 5000;
    fake_config(&cfg, &c->net);
    c->srv = sio_server_new(&cfg, NULL);
    c->eio = sio_server_eio(c->srv);
    assert_int_equal(sio_conformance_install(c->srv), CS_OK);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    sio_server_free(c->srv);
    fake_reset(&c->net);
    free(c);
    return 0;
}

/* A client connection over a direct WebSocket. */
typedef struct client {
    eio_conn w;
    int first_frame; /* frames before this one were read */
} client;

static void client_open(ctx *c, client *k)
{
    memset(k, 0, sizeof(*k));
    assert_int_equal(eio_ws_open(c->eio, &k->w, "EIO=4&transport=websocket", NULL, NULL), 0);
    fake_pump(c->eio, &c->net);
    k->first_frame = c->net.nframes;
}

static void client_send(ctx *c, client *k, const char *text)
{
    eio_ws_message(c->eio, &k->w, text, strlen(text), 0);
}

static void client_send_bin(ctx *c, client *k, const char *data, size_t len)
{
    eio_ws_message(c->eio, &k->w, data, len, 1);
}

/* The next frame sent to k, or NULL. */
static fake_frame *client_next(ctx *c, client *k)
{
    fake_pump(c->eio, &c->net);
    for (int i = k->first_frame; i < c->net.nframes; i++) {
        if (c->net.frames[i].c == &k->w) {
            k->first_frame = i + 1;
            return &c->net.frames[i];
        }
    }
    k->first_frame = c->net.nframes;
    return NULL;
}

static void expect_text(ctx *c, client *k, const char *want)
{
    fake_frame *f = client_next(c, k);
    if (!f)
        fail_msg("no frame, wanted %s", want);
    assert_false(f->binary);
    assert_string_equal(f->data, want);
}

/* Reads "40{"sid":"..."}" (or with a namespace) and returns the sid. */
static void expect_connect(ctx *c, client *k, const char *prefix, char *sid)
{
    fake_frame *f = client_next(c, k);
    size_t pl = strlen(prefix);
    assert_non_null(f);
    assert_memory_equal(f->data, prefix, pl);
    assert_memory_equal(f->data + pl, "{\"sid\":\"", 8);
    memcpy(sid, f->data + pl + 8, 20);
    sid[20] = '\0';
    assert_string_equal(f->data + pl + 28, "\"}");
}

static int is_closed(ctx *c, client *k)
{
    fake_pump(c->eio, &c->net);
    for (int i = 0; i < c->net.nclosed; i++)
        if (c->net.closed[i] == &k->w)
            return 1;
    return 0;
}

static void test_connect_and_events(void **state)
{
    ctx *c = *state;
    client k;
    char sid[21];
    sio_socket *s;

    client_open(c, &k);
    client_send(c, &k, "40{\"token\":\"abc\"}");
    expect_connect(c, &k, "40", sid);
    assert_string_equal(c->app.auth, "{\"token\":\"abc\"}");
    s = sio_server_find_socket(c->srv, sid);
    assert_non_null(s);
    assert_true(sio_socket_is_connected(s));
    assert_true(sio_socket_is_websocket(s));
    assert_string_not_equal(sio_socket_eio_sid(s), sid);
    assert_string_equal(sio_socket_nsp_name(s), "/");

    client_send(c, &k, "42[\"hello\",1,{\"a\":[true]}]");
    assert_string_equal(c->app.last_event, "hello");
    assert_string_equal(c->app.last_data, "[\"hello\",1,{\"a\":[true]}]");
    assert_int_equal(c->app.last_ack, -1);
    client_send(c, &k, "4217[\"ack-me\"]");
    assert_int_equal(c->app.last_ack, 17);
    expect_text(c, &k, "4317[{\"ok\":true}]");

    assert_int_equal(sio_socket_emit(s, "news", json_pack("[s,i]", "x", 2), NULL, 0), CS_OK);
    expect_text(c, &k, "42[\"news\",\"x\",2]");
    assert_int_equal(sio_socket_emit(s, "empty", NULL, NULL, 0), CS_OK);
    expect_text(c, &k, "42[\"empty\"]");

    /* Client disconnects the namespace; the connection lives on. */
    client_send(c, &k, "41");
    assert_int_equal(c->app.disconnects, 1);
    assert_string_equal(c->app.last_reason, "client namespace disconnect");
    assert_null(sio_server_find_socket(c->srv, sid));
    assert_false(is_closed(c, &k));
    /* ...and may connect again. */
    client_send(c, &k, "40");
    expect_connect(c, &k, "40", sid);
    assert_string_equal(c->app.auth, "{}");
    assert_int_equal(sio_server_socket_count(c->srv), 1);
}

static void test_namespaces(void **state)
{
    ctx *c = *state;
    client k;
    char sid[21], sid2[21];

    client_open(c, &k);
    client_send(c, &k, "40/nope,{}");
    expect_text(c, &k, "44/nope,{\"message\":\"Invalid namespace\"}");
    assert_int_equal(c->app.connects, 0);
    client_send(c, &k, "40/admin");
    expect_connect(c, &k, "40/admin,", sid);
    client_send(c, &k, "40");
    expect_connect(c, &k, "40", sid2);
    assert_string_not_equal(sid, sid2);
    /* Events for a namespace the client is not in are ignored. */
    client_send(c, &k, "42/other,[\"x\"]");
    assert_int_equal(c->app.events, 0);
    client_send(c, &k, "42/admin,5[\"ack-me\"]");
    expect_text(c, &k, "43/admin,5[{\"ok\":true}]");
    /* Server-side disconnect of one namespace. */
    client_send(c, &k, "42/admin,[\"kick\"]");
    expect_text(c, &k, "41/admin,");
    assert_string_equal(c->app.last_reason, "server namespace disconnect");
    assert_null(sio_server_find_socket(c->srv, sid));
    assert_non_null(sio_server_find_socket(c->srv, sid2));
    /* Closing the connection disconnects what is left. */
    eio_conn_closed(c->eio, &k.w);
    assert_int_equal(c->app.disconnects, 2);
    assert_string_equal(c->app.last_reason, "transport close");
    assert_int_equal(sio_server_socket_count(c->srv), 0);
}

static void test_async_auth(void **state)
{
    ctx *c = *state;
    client k, k2;
    char sid[21];
    sio_socket *s;

    c->app.async = 1;
    client_open(c, &k);
    client_send(c, &k, "40{\"token\":\"good\"}");
    assert_null(client_next(c, &k));
    s = c->app.pending;
    assert_non_null(s);
    assert_false(sio_socket_is_connected(s));
    /* Events before the answer are not dispatched. */
    client_send(c, &k, "42[\"early\"]");
    assert_int_equal(c->app.events, 0);
    /* The answer comes later (a gRPC completion), found by id. */
    s = sio_server_find_socket(c->srv, c->app.pending_sid);
    assert_non_null(s);
    assert_int_equal(sio_socket_accept(s), CS_OK);
    expect_connect(c, &k, "40", sid);
    assert_string_equal(sid, c->app.pending_sid);
    assert_int_equal(sio_socket_accept(s), CS_ERR_PRECONDITION);

    /* Refused: CONNECT_ERROR with message and data, socket gone. */
    client_open(c, &k2);
    client_send(c, &k2, "40{\"token\":\"bad\"}");
    s = sio_server_find_socket(c->srv, c->app.pending_sid);
    assert_int_equal(
        sio_socket_refuse(s, "invalid token", json_pack("{s:s}", "code", "UNAUTHENTICATED")),
        CS_OK);
    expect_text(c, &k2,
                "44{\"message\":\"invalid token\",\"data\":{\"code\":\"UNAUTHENTICATED\"}}");
    assert_null(sio_server_find_socket(c->srv, c->app.pending_sid));
    assert_int_equal(c->app.disconnects, 0);

    /* The client leaves while its auth is pending: the id no longer resolves. */
    client_send(c, &k2, "40{\"token\":\"slow\"}");
    snprintf(sid, sizeof(sid), "%s", c->app.pending_sid);
    eio_conn_closed(c->eio, &k2.w);
    assert_int_equal(c->app.disconnects, 1);
    assert_null(sio_server_find_socket(c->srv, sid));
}

static void test_connect_timeout(void **state)
{
    ctx *c = *state;
    client k, k2, k3;
    char sid[21];

    client_open(c, &k);
    client_open(c, &k2);
    client_send(c, &k2, "40");
    expect_connect(c, &k2, "40", sid);
    c->app.async = 1;
    client_open(c, &k3);
    client_send(c, &k3, "40"); /* pending forever */
    /* Keep them alive with pongs. */
    c->net.now += 999;
    sio_server_tick(c->srv);
    assert_false(is_closed(c, &k));
    c->net.now += 1;
    sio_server_tick(c->srv);
    assert_true(is_closed(c, &k));
    assert_false(is_closed(c, &k2));
    assert_true(is_closed(c, &k3)); /* an auth that never completes counts as none */
    assert_int_equal(c->app.disconnects, 1);
}

static void test_protocol_errors(void **state)
{
    static const char *const bad[] = {
        "4abc", "42{}", "42abc[\"x\"]", "47", "4", "45-[\"x\"]", "41{}",
    };
    ctx *c = *state;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        client k;
        char sid[21];
        int before = c->app.disconnects;
        client_open(c, &k);
        client_send(c, &k, "40");
        expect_connect(c, &k, "40", sid);
        client_send(c, &k, bad[i]);
        if (!is_closed(c, &k))
            fail_msg("not closed after %s", bad[i]);
        assert_int_equal(c->app.disconnects, before + 1);
        assert_string_equal(c->app.last_reason, "parse error");
    }
    /* A duplicate CONNECT and an unexpected binary frame also close. */
    {
        client k;
        char sid[21];
        client_open(c, &k);
        client_send(c, &k, "40");
        expect_connect(c, &k, "40", sid);
        client_send(c, &k, "40");
        assert_true(is_closed(c, &k));
        client_open(c, &k);
        client_send_bin(c, &k, "\x01", 1);
        assert_true(is_closed(c, &k));
    }
    assert_int_equal(sio_server_socket_count(c->srv), 0);
}

static void test_binary_event(void **state)
{
    ctx *c = *state;
    client k;
    char sid[21];
    fake_frame *f;

    client_open(c, &k);
    client_send(c, &k, "40");
    expect_connect(c, &k, "40", sid);
    client_send(c, &k,
                "452-[\"up\",{\"_placeholder\":true,\"num\":0},"
                "{\"_placeholder\":true,\"num\":1}]");
    assert_int_equal(c->app.events, 0);
    client_send_bin(c, &k, "\x01\x02", 2);
    assert_int_equal(c->app.events, 0);
    client_send_bin(c, &k, "\x03", 1);
    assert_int_equal(c->app.events, 1);
    assert_string_equal(c->app.last_event, "up");
    assert_int_equal(c->app.last_nbins, 2);

    /* Server-side binary emit: the text part, then raw frames. */
    {
        sio_socket *s = sio_server_find_socket(c->srv, sid);
        sio_bin b = {"\xde\xad", 2};
        assert_int_equal(sio_socket_emit(s, "blob",
                                         json_pack("[{s:b,s:i}]", "_placeholder", 1, "num", 0), &b,
                                         1),
                         CS_OK);
        expect_text(c, &k, "451-[\"blob\",{\"_placeholder\":true,\"num\":0}]");
        f = client_next(c, &k);
        assert_non_null(f);
        assert_true(f->binary);
        assert_memory_equal(f->data, "\xde\xad", 2);
    }
    /* Text where an attachment was expected: closed. */
    client_send(c, &k, "451-[\"up\",{\"_placeholder\":true,\"num\":0}]");
    client_send(c, &k, "42[\"x\"]");
    assert_true(is_closed(c, &k));
}

static void test_rooms(void **state)
{
    ctx *c = *state;
    client k[4];
    char sid[4][21];

    for (int i = 0; i < 4; i++) {
        client_open(c, &k[i]);
        client_send(c, &k[i], "40");
        expect_connect(c, &k[i], "40", sid[i]);
    }
    client_send(c, &k[0], "42[\"join\",\"call-1\"]");
    client_send(c, &k[1], "42[\"join\",\"call-1\"]");
    client_send(c, &k[2], "42[\"join\",\"call-1\"]");
    client_send(c, &k[2], "42[\"join\",\"call-1\"]"); /* twice: no-op */
    client_send(c, &k[3], "42[\"join\",\"call-2\"]");
    assert_true(sio_socket_in_room(sio_server_find_socket(c->srv, sid[0]), "call-1"));
    assert_false(sio_socket_in_room(sio_server_find_socket(c->srv, sid[3]), "call-1"));

    /* To the room except the sender. */
    client_send(c, &k[0], "42[\"shout\",\"call-1\"]");
    {
        char want[64];
        snprintf(want, sizeof(want), "42[\"heard\",\"%s\"]", sid[0]);
        assert_null(client_next(c, &k[0]));
        expect_text(c, &k[1], want);
        expect_text(c, &k[2], want);
        assert_null(client_next(c, &k[3]));
    }
    /* Leave, and a disconnect, shrink the room. */
    client_send(c, &k[1], "42[\"leave\",\"call-1\"]");
    eio_conn_closed(c->eio, &k[2].w);
    client_send(c, &k[3], "42[\"shout\",\"call-1\"]");
    assert_non_null(client_next(c, &k[0]));
    assert_null(client_next(c, &k[1]));
    /* The whole namespace. */
    assert_int_equal(sio_nsp_emit(sio_server_find_namespace(c->srv, "/"), NULL, NULL, "all",
                                  json_pack("[i]", 1)),
                     3);
    expect_text(c, &k[0], "42[\"all\",1]");
    expect_text(c, &k[3], "42[\"all\",1]");
    /* An unknown room reaches nobody. */
    assert_int_equal(
        sio_nsp_emit(sio_server_find_namespace(c->srv, "/"), "call-9", NULL, "x", json_array()), 0);
    /* Empty room names are refused. */
    assert_int_equal(sio_socket_join(sio_server_find_socket(c->srv, sid[0]), ""), CS_ERR_INVALID);
}

static void test_room_many(void **state)
{
    ctx *c = *state;
    enum { N = 100 };
    static client k[N];
    char sid[21];

    for (int i = 0; i < N; i++) {
        client_open(c, &k[i]);
        client_send(c, &k[i], "40");
        expect_connect(c, &k[i], "40", sid);
        client_send(c, &k[i], "42[\"join\",\"big\"]");
        client_send(c, &k[i], i % 2 ? "42[\"join\",\"odd\"]" : "42[\"join\",\"even\"]");
        fake_reset(&c->net);
        k[i].first_frame = 0;
    }
    /* Remove members from the middle in a scattered order. */
    for (int i = 0; i < N; i += 3)
        eio_conn_closed(c->eio, &k[i].w);
    assert_int_equal(sio_nsp_emit(sio_server_find_namespace(c->srv, "/"), "big", NULL, "b", NULL),
                     N - (N + 2) / 3);
    fake_pump(c->eio, &c->net);
    fake_reset(&c->net);
    for (int i = 0; i < N; i++)
        k[i].first_frame = 0;
    {
        size_t odd_alive = 0;
        for (int i = 1; i < N; i += 2)
            odd_alive += i % 3 != 0;
        assert_int_equal(
            sio_nsp_emit(sio_server_find_namespace(c->srv, "/"), "odd", NULL, "o", NULL),
            odd_alive);
    }
    for (int i = 0; i < N; i++) {
        fake_frame *f = client_next(c, &k[i]);
        if (i % 3 == 0 || i % 2 == 0)
            assert_null(f);
        else
            assert_string_equal(f->data, "42[\"o\"]");
    }
}

static void test_conformance(void **state)
{
    ctx *c = *state;
    client k;
    char sid[21];
    fake_frame *f;

    client_open(c, &k);
    client_send(c, &k, "40{\"token\":\"123\"}");
    expect_connect(c, &k, "40", sid);
    expect_text(c, &k, "42[\"auth\",{\"token\":\"123\"}]");
    client_send(c, &k, "40/custom,");
    expect_connect(c, &k, "40/custom,", sid);
    expect_text(c, &k, "42/custom,[\"auth\",{}]");
    client_send(c, &k, "40/random");
    expect_text(c, &k, "44/random,{\"message\":\"Invalid namespace\"}");

    client_send(c, &k, "42[\"message\",1,\"2\",{\"3\":[true]}]");
    expect_text(c, &k, "42[\"message-back\",1,\"2\",{\"3\":[true]}]");
    client_send(c, &k, "42/custom,[\"message\"]");
    expect_text(c, &k, "42/custom,[\"message-back\"]");
    client_send(c, &k, "42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
    expect_text(c, &k, "43456[1,\"2\",{\"3\":[false]}]");
    /* Binary echoed as binary. */
    client_send(c, &k, "451-[\"message\",{\"_placeholder\":true,\"num\":0}]");
    client_send_bin(c, &k, "\x01\x02\x03", 3);
    expect_text(c, &k, "451-[\"message-back\",{\"_placeholder\":true,\"num\":0}]");
    f = client_next(c, &k);
    assert_true(f->binary);
    assert_memory_equal(f->data, "\x01\x02\x03", 3);
    client_send(c, &k, "451-/custom,7[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]");
    client_send_bin(c, &k, "\x04", 1);
    expect_text(c, &k, "461-/custom,7[{\"_placeholder\":true,\"num\":0}]");
    f = client_next(c, &k);
    assert_true(f->binary);
    assert_memory_equal(f->data, "\x04", 1);
}

static void test_echo_handler(void **state)
{
    fake_net net;
    eio_config cfg;
    eio_server *srv;
    eio_conn w;
    (void)state;

    memset(&net, 0, sizeof(net));
    fake_config(&cfg, &net);
    srv = eio_server_new(&cfg, sio_conformance_echo_handler(), NULL);
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(srv, &w, "EIO=4&transport=websocket", NULL, NULL), 0);
    eio_ws_message(srv, &w, "4hello", 6, 0);
    eio_ws_message(srv, &w, "\x00\x01", 2, 1);
    fake_pump(srv, &net);
    assert_int_equal(net.nframes, 3);
    assert_string_equal(net.frames[1].data, "4hello");
    assert_true(net.frames[2].binary);
    assert_int_equal(net.frames[2].len, 2);
    eio_server_free(srv);
    fake_reset(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conformance, setup_conformance, teardown),
        cmocka_unit_test(test_echo_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
