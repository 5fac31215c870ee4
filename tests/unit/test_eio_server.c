/*
 * Unit tests of gateway/socketio/eio_server: the Engine.IO session state
 * machine, driven without sockets (fake transport, fake clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_eio_fake.h"

typedef struct app {
    int opens, closes, messages;
    char last_close[64];
    char last_msg[256];
    size_t last_len;
    int last_binary;
    int echo;
} app;

static void app_open(void *a, eio_session *s)
{
    ((app *)a)->opens++;
}

static void app_message(void *a, eio_session *s, const char *data, size_t len, int binary)
{
    app *x = a;
    x->messages++;
    x->last_len = len < sizeof(x->last_msg) ? len : sizeof(x->last_msg) - 1;
    memcpy(x->last_msg, data, x->last_len);
    x->last_msg[x->last_len] = '\0';
    x->last_binary = binary;
    if (x->echo)
        eio_session_send(s, data, len, binary);
}

static void app_close(void *a, eio_session *s, const char *reason)
{
    app *x = a;
    x->closes++;
    snprintf(x->last_close, sizeof(x->last_close), "%s", reason);
}

static const eio_handler handler = {app_open, app_message, app_close};

typedef struct ctx {
    fake_net net;
    app app;
    eio_server *srv;
    char sid[21];
    char q[128];
} ctx;

static int setup_cfg(void **state, void (*tweak)(eio_config *))
{
    ctx *c = calloc(1, sizeof(*c));
    eio_config cfg;
    c->net.now = 1000;
    fake_config(&cfg, &c->net);
    if (tweak)
        tweak(&cfg);
    c->srv = eio_server_new(&cfg, &handler, &c->app);
    *state = c;
    return c->srv ? 0 : -1;
}

static int setup(void **state)
{
    return setup_cfg(state, NULL);
}

static int teardown(void **state)
{
    ctx *c = *state;
    eio_server_free(c->srv);
    fake_reset(&c->net);
    free(c);
    return 0;
}

static const char *sidq(ctx *c)
{
    snprintf(c->q, sizeof(c->q), "EIO=4&transport=polling&t=x&sid=%s", c->sid);
    return c->q;
}

static void test_handshake(void **state)
{
    ctx *c = *state;
    eio_conn g;
    fake_resp *r;
    char want[256];

    fake_get(c->srv, &g, "EIO=4&transport=polling&t=N8hyd6w");
    r = fake_resp_for(&c->net, &g);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->ctype, "text/plain; charset=UTF-8");
    assert_non_null(strstr(r->headers, "Cache-Control: no-store"));
    memcpy(c->sid, r->body + 9, 20);
    c->sid[20] = '\0';
    snprintf(want, sizeof(want),
             "0{\"sid\":\"%s\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,"
             "\"pingTimeout\":200,\"maxPayload\":1000}",
             c->sid);
    assert_string_equal(r->body, want);
    assert_int_equal(c->app.opens, 1);
    assert_int_equal(eio_server_session_count(c->srv), 1);
    assert_null(g.session); /* answered: eio let go of the conn */
}

static void test_errors(void **state)
{
    static const struct {
        const char *method, *query;
        int status;
        const char *body;
    } cases[] = {
        {"GET", "EIO=4&transport=tobi", 400, "{\"code\":0,\"message\":\"Transport unknown\"}"},
        {"GET", "EIO=4", 400, "{\"code\":0,\"message\":\"Transport unknown\"}"},
        {"GET", NULL, 400, "{\"code\":0,\"message\":\"Transport unknown\"}"},
        {"GET", "EIO=4&transport=polling&sid=abcdefghijklmnopqrst", 400,
         "{\"code\":1,\"message\":\"Session ID unknown\"}"},
        {"GET", "EIO=4&transport=polling&sid=short", 400,
         "{\"code\":1,\"message\":\"Session ID unknown\"}"},
        {"POST", "EIO=4&transport=polling", 400,
         "{\"code\":2,\"message\":\"Bad handshake method\"}"},
        {"PUT", "EIO=4&transport=polling", 400,
         "{\"code\":2,\"message\":\"Bad handshake method\"}"},
        {"GET", "EIO=4&transport=websocket", 400, "{\"code\":3,\"message\":\"Bad request\"}"},
        {"GET", "EIO=3&transport=polling", 400,
         "{\"code\":5,\"message\":\"Unsupported protocol version\"}"},
        {"GET", "transport=polling", 400,
         "{\"code\":5,\"message\":\"Unsupported protocol version\"}"},
    };
    ctx *c = *state;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        eio_conn k;
        eio_http_req req = {.method = cases[i].method, .query = cases[i].query};
        fake_resp *r;
        memset(&k, 0, sizeof(k));
        eio_http_request(c->srv, &k, &req);
        r = fake_resp_for(&c->net, &k);
        assert_non_null(r);
        assert_int_equal(r->status, cases[i].status);
        assert_string_equal(r->ctype, "application/json");
        assert_string_equal(r->body, cases[i].body);
        fake_reset(&c->net);
    }
    assert_int_equal(eio_server_session_count(c->srv), 0);
    assert_int_equal(c->app.opens, 0);
    assert_string_equal(eio_error_message(4), "Forbidden");
}

static void test_long_poll_and_post(void **state)
{
    ctx *c = *state;
    eio_conn g, p;
    fake_resp *r;
    eio_session *s;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    assert_null(fake_resp_for(&c->net, &g)); /* held */
    assert_non_null(g.session);
    s = g.session;

    /* Two sends in one batch go out in one response. */
    eio_server_batch_begin(c->srv);
    assert_int_equal(eio_session_send(s, "hello", 5, 0), CS_OK);
    assert_int_equal(eio_session_send(s, "\x01\x02\x03", 3, 1), CS_OK);
    assert_null(fake_resp_for(&c->net, &g));
    eio_server_batch_end(c->srv);
    r = fake_resp_for(&c->net, &g);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "4hello\x1e"
                                 "bAQID");
    assert_int_equal(eio_session_queued(s), 0);

    /* Queued while no GET is held: the next GET returns it at once. */
    assert_int_equal(eio_session_send(s, "later", 5, 0), CS_OK);
    fake_get(c->srv, &g, sidq(c));
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "4later");

    /* POST: several packets, text and binary. */
    fake_post(c->srv, &p, sidq(c),
              "4one\x1e"
              "bAQI=\x1e"
              "4two",
              strlen("4one\x1e"
                     "bAQI=\x1e"
                     "4two"));
    r = fake_resp_for(&c->net, &p);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "ok");
    assert_int_equal(c->app.messages, 3);
    assert_string_equal(c->app.last_msg, "two");

    /* Over max_payload: 413, the session lives. */
    {
        char big[1002];
        memset(big, 'x', sizeof(big));
        big[0] = '4';
        fake_post(c->srv, &p, sidq(c), big, sizeof(big));
        assert_int_equal(fake_resp_for(&c->net, &p)->status, 413);
        assert_int_equal(c->app.closes, 0);
    }
    /* Exactly max_payload is fine. */
    {
        char big[1000];
        memset(big, 'y', sizeof(big));
        big[0] = '4';
        fake_post(c->srv, &p, sidq(c), big, sizeof(big));
        assert_int_equal(fake_resp_for(&c->net, &p)->status, 200);
        assert_int_equal(c->app.last_len, 255);
    }
}

static void test_malformed_post_closes(void **state)
{
    ctx *c = *state;
    eio_conn g, p;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    fake_post(c->srv, &p, sidq(c), "abc", 3);
    assert_int_equal(fake_resp_for(&c->net, &p)->status, 400);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "parse error");
    /* The held GET was told the session closed. */
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "1");
    fake_get(c->srv, &g, sidq(c));
    assert_int_equal(fake_resp_for(&c->net, &g)->status, 400);
    assert_non_null(strstr(fake_resp_for(&c->net, &g)->body, "\"code\":1"));
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void test_concurrent_get_closes(void **state)
{
    ctx *c = *state;
    eio_conn g1, g2;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g1, sidq(c));
    fake_get(c->srv, &g2, sidq(c));
    assert_int_equal(fake_resp_for(&c->net, &g2)->status, 400);
    assert_int_equal(fake_resp_for(&c->net, &g1)->status, 200);
    assert_string_equal(fake_resp_for(&c->net, &g1)->body, "1");
    assert_int_equal(c->app.closes, 1);
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void test_heartbeat(void **state)
{
    ctx *c = *state;
    eio_conn g, p;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    c->net.now += 299;
    eio_server_tick(c->srv);
    assert_null(fake_resp_for(&c->net, &g));
    c->net.now += 1;
    eio_server_tick(c->srv);
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "2");
    /* Pong in time: the next ping comes ping_interval after the pong. */
    c->net.now += 150;
    fake_post(c->srv, &p, sidq(c), "3", 1);
    assert_int_equal(fake_resp_for(&c->net, &p)->status, 200);
    fake_get(c->srv, &g, sidq(c));
    c->net.now += 299;
    eio_server_tick(c->srv);
    assert_null(fake_resp_for(&c->net, &g));
    c->net.now += 1;
    eio_server_tick(c->srv);
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "2");
    /* No pong: closed after ping_timeout. */
    c->net.now += 199;
    eio_server_tick(c->srv);
    assert_int_equal(c->app.closes, 0);
    c->net.now += 1;
    eio_server_tick(c->srv);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "ping timeout");
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void test_client_ping_is_error(void **state)
{
    ctx *c = *state;
    eio_conn p;
    fake_handshake(c->srv, &c->net, c->sid);
    fake_post(c->srv, &p, sidq(c), "2", 1);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "invalid heartbeat direction");
}

static void test_client_close(void **state)
{
    ctx *c = *state;
    eio_conn g, p;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    fake_post(c->srv, &p, sidq(c), "1", 1);
    assert_string_equal(fake_resp_for(&c->net, &p)->body, "ok");
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "6");
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "transport close");
    fake_get(c->srv, &g, sidq(c));
    assert_int_equal(fake_resp_for(&c->net, &g)->status, 400);
}

static void test_server_close_polling(void **state)
{
    ctx *c = *state;
    eio_conn g;
    eio_session *s;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    s = g.session;
    fake_reset(&c->net);
    /* No GET held when closing: the queue and "1" wait for the next GET. */
    eio_conn_closed(c->srv, &g);
    assert_null(g.session);
    assert_int_equal(eio_session_send(s, "bye", 3, 0), CS_OK);
    eio_session_close(s, "server close");
    assert_int_equal(c->app.closes, 1);
    assert_int_equal(eio_server_session_count(c->srv), 1);
    fake_get(c->srv, &g, sidq(c));
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "4bye\x1e"
                                                          "1");
    assert_int_equal(eio_server_session_count(c->srv), 0);

    /* And if that GET never comes, the session is dropped after a while. */
    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    s = g.session;
    eio_conn_closed(c->srv, &g);
    eio_session_close(s, NULL);
    c->net.now += 1000;
    eio_server_tick(c->srv);
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void test_upgrade(void **state)
{
    ctx *c = *state;
    eio_conn g, g2, w, w2, p;
    eio_http_response err;
    char q[128];
    eio_session *s;

    fake_handshake(c->srv, &c->net, c->sid);
    fake_get(c->srv, &g, sidq(c));
    s = g.session;
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", c->sid);
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, q, NULL, &err), 0);
    assert_ptr_equal(w.session, s);
    /* A second probe while upgrading is refused. */
    memset(&w2, 0, sizeof(w2));
    assert_int_equal(eio_ws_open(c->srv, &w2, q, NULL, &err), -1);
    assert_int_equal(err.status, 400);

    eio_ws_message(c->srv, &w, "2probe", 6, 0);
    fake_pump(c->srv, &c->net);
    assert_int_equal(c->net.nframes, 1);
    assert_string_equal(c->net.frames[0].data, "3probe");
    /* The held GET is released with a noop, and so is a new one. */
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "6");
    fake_get(c->srv, &g2, sidq(c));
    assert_string_equal(fake_resp_for(&c->net, &g2)->body, "6");
    /* Still polling until "5": messages still arrive over POST. */
    fake_post(c->srv, &p, sidq(c), "4x", 2);
    assert_int_equal(c->app.messages, 1);
    assert_int_equal(eio_session_send(s, "queued", 6, 0), CS_OK);
    fake_get(c->srv, &g2, sidq(c));
    assert_string_equal(fake_resp_for(&c->net, &g2)->body, "4queued");

    assert_int_equal(eio_session_send(s, "after", 5, 0), CS_OK);
    eio_ws_message(c->srv, &w, "5", 1, 0);
    assert_true(eio_session_is_websocket(s));
    fake_pump(c->srv, &c->net);
    assert_string_equal(c->net.frames[c->net.nframes - 1].data, "4after");
    assert_int_equal(eio_session_send(s, "\xff\x00", 2, 1), CS_OK);
    fake_pump(c->srv, &c->net);
    assert_true(c->net.frames[c->net.nframes - 1].binary);
    assert_int_equal(c->net.frames[c->net.nframes - 1].len, 2);

    /* Polling is over for this sid, and so are more WebSockets. */
    fake_get(c->srv, &g2, sidq(c));
    assert_int_equal(fake_resp_for(&c->net, &g2)->status, 400);
    assert_non_null(strstr(fake_resp_for(&c->net, &g2)->body, "\"code\":3"));
    assert_int_equal(eio_ws_open(c->srv, &w2, q, NULL, &err), -1);

    /* Messages and pings over the WebSocket. */
    eio_ws_message(c->srv, &w, "4hi", 3, 0);
    assert_string_equal(c->app.last_msg, "hi");
    eio_ws_message(c->srv, &w, "\x01", 1, 1);
    assert_true(c->app.last_binary);
    c->net.now += 300;
    eio_server_tick(c->srv);
    fake_pump(c->srv, &c->net);
    assert_string_equal(c->net.frames[c->net.nframes - 1].data, "2");
    eio_ws_message(c->srv, &w, "3", 1, 0);
    c->net.now += 250;
    eio_server_tick(c->srv);
    assert_int_equal(c->app.closes, 0);

    /* The WebSocket goes away: the session ends. */
    eio_conn_closed(c->srv, &w);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "transport close");
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void test_upgrade_timeout_and_bad_probe(void **state)
{
    ctx *c = *state;
    eio_conn w, g;
    char q[128];

    fake_handshake(c->srv, &c->net, c->sid);
    snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", c->sid);
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, q, NULL, NULL), 0);
    eio_ws_message(c->srv, &w, "2probe", 6, 0);
    fake_pump(c->srv, &c->net);
    /* Keep the session alive with pongs while the upgrade stalls. */
    for (int i = 0; i < 4; i++) {
        eio_conn p;
        c->net.now += 300;
        eio_server_tick(c->srv);
        fake_post(c->srv, &p, sidq(c), "3", 1);
    }
    assert_int_equal(c->net.nclosed, 1);
    assert_ptr_equal(c->net.closed[0], &w);
    assert_null(w.session);
    assert_int_equal(c->app.closes, 0);
    /* The polling session works on: the pings queued meanwhile come out. */
    fake_get(c->srv, &g, sidq(c));
    assert_int_equal(fake_resp_for(&c->net, &g)->status, 200);
    assert_string_equal(fake_resp_for(&c->net, &g)->body, "2\x1e"
                                                          "2\x1e"
                                                          "2\x1e"
                                                          "2");

    /* A probe that says something else is dropped; the session stays. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, q, NULL, NULL), 0);
    eio_ws_message(c->srv, &w, "4nope", 5, 0);
    assert_int_equal(c->net.nclosed, 2);
    assert_int_equal(c->app.closes, 0);
    /* A fresh probe can try again, and gets dropped if it closes. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, q, NULL, NULL), 0);
    eio_conn_closed(c->srv, &w);
    assert_int_equal(c->app.closes, 0);
    assert_int_equal(eio_server_session_count(c->srv), 1);
}

static void test_direct_websocket(void **state)
{
    ctx *c = *state;
    eio_conn w;
    eio_http_response err;

    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=3&transport=websocket", NULL, &err), -1);
    assert_non_null(strstr(err.body, "\"code\":5"));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=polling", NULL, &err), -1);
    assert_non_null(strstr(err.body, "\"code\":0"));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=websocket&sid=nope", NULL, &err), -1);
    assert_non_null(strstr(err.body, "\"code\":1"));

    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=websocket", NULL, &err), 0);
    fake_pump(c->srv, &c->net);
    assert_int_equal(c->net.nframes, 1);
    assert_non_null(strstr(c->net.frames[0].data, "\"upgrades\":[]"));
    assert_int_equal(c->net.frames[0].data[0], '0');
    c->app.echo = 1;
    eio_ws_message(c->srv, &w, "4echo", 5, 0);
    fake_pump(c->srv, &c->net);
    assert_string_equal(c->net.frames[c->net.nframes - 1].data, "4echo");
    /* Malformed frame: closed. */
    eio_ws_message(c->srv, &w, "x", 1, 0);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "parse error");
    assert_int_equal(c->net.nclosed, 1);
}

static void test_ws_limits(void **state)
{
    ctx *c = *state;
    eio_conn w;
    char big[1002];

    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=websocket", NULL, NULL), 0);
    memset(big, 'a', sizeof(big));
    big[0] = '4';
    eio_ws_message(c->srv, &w, big, sizeof(big), 0);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "message too large");

    /* A failing write ends the session. */
    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=websocket", NULL, NULL), 0);
    c->net.fail_writes = 1;
    fake_pump(c->srv, &c->net);
    assert_int_equal(c->app.closes, 2);
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void small_buffer(eio_config *cfg)
{
    cfg->max_buffered = 100;
}

static int setup_slow(void **state)
{
    return setup_cfg(state, small_buffer);
}

static void test_slow_client(void **state)
{
    ctx *c = *state;
    eio_conn w;
    eio_session *s;
    char chunk[40];

    memset(&w, 0, sizeof(w));
    assert_int_equal(eio_ws_open(c->srv, &w, "EIO=4&transport=websocket", NULL, NULL), 0);
    fake_pump(c->srv, &c->net);
    s = w.session;
    memset(chunk, 'z', sizeof(chunk));
    /* The transport never becomes writable: the queue fills, then the
     * session is closed rather than allowed to grow. */
    c->net.nwant = 0;
    assert_int_equal(eio_session_send(s, chunk, sizeof(chunk), 0), CS_OK);
    assert_int_equal(eio_session_send(s, chunk, sizeof(chunk), 0), CS_OK);
    assert_int_equal(eio_session_queued(s), 82);
    assert_int_equal(eio_session_send(s, chunk, sizeof(chunk), 0), CS_ERR_RESOURCE);
    assert_int_equal(c->app.closes, 1);
    assert_string_equal(c->app.last_close, "slow client");
    assert_int_equal(c->net.nclosed, 1);
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

static void cors_cfg(eio_config *cfg)
{
    cfg->cors_origins = "http://a.example, http://b.example";
    cfg->cors_credentials = 1;
}

static int setup_cors(void **state)
{
    return setup_cfg(state, cors_cfg);
}

static void test_cors(void **state)
{
    ctx *c = *state;
    eio_conn k;
    fake_resp *r;
    eio_http_req pre = {.method = "OPTIONS",
                        .query = "EIO=4&transport=polling",
                        .origin = "http://b.example",
                        .acr_headers = "content-type"};
    eio_http_req get = {
        .method = "GET", .query = "EIO=4&transport=polling", .origin = "http://a.example"};

    memset(&k, 0, sizeof(k));
    eio_http_request(c->srv, &k, &pre);
    r = fake_resp_for(&c->net, &k);
    assert_int_equal(r->status, 204);
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Origin: http://b.example\n"));
    assert_non_null(strstr(r->headers, "Vary: Origin\n"));
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Credentials: true\n"));
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Methods: GET,POST\n"));
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Headers: content-type\n"));

    eio_http_request(c->srv, &k, &get);
    r = fake_resp_for(&c->net, &k);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Origin: http://a.example\n"));
    /* A held GET keeps its origin for the late answer. */
    memcpy(c->sid, r->body + 9, 20);
    get.query = sidq(c);
    eio_http_request(c->srv, &k, &get);
    assert_int_equal(eio_session_send(k.session, "x", 1, 0), CS_OK);
    r = fake_resp_for(&c->net, &k);
    assert_non_null(strstr(r->headers, "Access-Control-Allow-Origin: http://a.example\n"));

    get.origin = "http://evil.example";
    get.query = "EIO=4&transport=polling";
    eio_http_request(c->srv, &k, &get);
    r = fake_resp_for(&c->net, &k);
    assert_null(strstr(r->headers, "Access-Control"));
    pre.origin = "http://evil.example";
    eio_http_request(c->srv, &k, &pre);
    r = fake_resp_for(&c->net, &k);
    assert_int_equal(r->status, 204);
    assert_null(strstr(r->headers, "Access-Control"));
}

static void test_no_cors_by_default(void **state)
{
    ctx *c = *state;
    eio_conn k;
    eio_http_req get = {
        .method = "GET", .query = "EIO=4&transport=polling", .origin = "http://a.example"};
    memset(&k, 0, sizeof(k));
    eio_http_request(c->srv, &k, &get);
    assert_null(strstr(fake_resp_for(&c->net, &k)->headers, "Access-Control"));
}

static void test_many_sessions(void **state)
{
    ctx *c = *state;
    static eio_conn conns[300];
    char seen[300][21];

    for (int i = 0; i < 300; i++) {
        fake_get(c->srv, &conns[i], "EIO=4&transport=polling");
        memcpy(seen[i], fake_resp_for(&c->net, &conns[i])->body + 9, 20);
        seen[i][20] = '\0';
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
        if (c->net.nresp > FAKE_MAX - 4)
            fake_reset(&c->net);
    }
    assert_int_equal(eio_server_session_count(c->srv), 300);
    /* Every one is found by its sid. */
    for (int i = 0; i < 300; i++) {
        char q[96];
        eio_conn g;
        snprintf(q, sizeof(q), "EIO=4&transport=polling&sid=%.20s", seen[i]);
        fake_get(c->srv, &g, q);
        assert_non_null(g.session);
        eio_conn_closed(c->srv, &g);
    }
    /* Nobody pongs: all time out together. */
    c->net.now += 300;
    eio_server_tick(c->srv);
    c->net.now += 200;
    eio_server_tick(c->srv);
    assert_int_equal(c->app.closes, 300);
    assert_int_equal(eio_server_session_count(c->srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_poll_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_post_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_get_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_ping_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_close_polling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_timeout_and_bad_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_websocket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cors_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client, setup_slow, teardown),
        cmocka_unit_test_setup_teardown(test_cors, setup_cors, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
