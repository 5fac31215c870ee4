/*
 * Pure parts of the ARI client: the HTTP/curl error mapping, URL escaping
 * and parsing, endpoint template expansion, timestamps, tables; and the
 * REST calls' behaviour with no server (refused connection) or bad input.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/ari_internal.h"

static void test_map_http(void **state)
{
    static const struct {
        int status;
        const char *body;
        cs_err want;
        const char *msg;
    } cases[] = {
        {200, "{}", CS_OK, ""},
        {204, NULL, CS_OK, ""},
        {404, "{\"message\":\"Channel not found\"}", CS_ERR_NOT_FOUND, "Channel not found"},
        {404, "{\"message\":\"Bridge not found\"}", CS_ERR_NOT_FOUND, "Bridge not found"},
        {409, "{\"message\":\"Channel not in Stasis application\"}", CS_ERR_PRECONDITION,
         "Channel not in Stasis application"},
        {412, "{\"message\":\"Channel in invalid state\"}", CS_ERR_PRECONDITION,
         "Channel in invalid state"},
        {422, "{\"message\":\"Channel not in this bridge\"}", CS_ERR_PRECONDITION,
         "Channel not in this bridge"},
        {400, "{\"message\":\"Endpoint must be specified\"}", CS_ERR_INVALID,
         "Endpoint must be specified"},
        {400, "{\"message\":\"Channel not found\"}", CS_ERR_NOT_FOUND, "Channel not found"},
        {401, "{\"message\":\"Authentication required\"}", CS_ERR_INTERNAL,
         "Authentication required"},
        {405, "{\"message\":\"Invalid method\"}", CS_ERR_INTERNAL, "Invalid method"},
        {500, "{\"error\":\"Allocation failed\"}", CS_ERR_UNAVAILABLE, "Allocation failed"},
        {503, "<html>down</html>", CS_ERR_UNAVAILABLE, ""},
        {502, NULL, CS_ERR_UNAVAILABLE, ""},
        {418, "{\"message\":7}", CS_ERR_INTERNAL, ""},
        {302, "", CS_ERR_INTERNAL, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ari_error err = {.http_status = -1, .message = "untouched"};
        cs_err rc = ari__map_http(cases[i].status, cases[i].body,
                                  cases[i].body ? strlen(cases[i].body) : 0, &err);
        if (rc != cases[i].want)
            fail_msg("case %zu: %d mapped to %s", i, cases[i].status, cs_err_name(rc));
        if (rc != CS_OK) {
            assert_int_equal(err.http_status, cases[i].status);
            assert_string_equal(err.message, cases[i].msg);
        }
        assert_int_equal(ari__map_http(cases[i].status, cases[i].body,
                                       cases[i].body ? strlen(cases[i].body) : 0, NULL),
                         cases[i].want);
    }
    /* A long message is cut, not overflowed. */
    char big[1200];
    memset(big, 0, sizeof big);
    strcpy(big, "{\"message\":\"");
    memset(big + strlen(big), 'm', 1000);
    strcat(big, "\"}");
    ari_error err;
    assert_int_equal(ari__map_http(409, big, strlen(big), &err), CS_ERR_PRECONDITION);
    assert_int_equal(strlen(err.message), sizeof err.message - 1);
    (void)state;
}

static void test_url_escape(void **state)
{
    char out[128];
    assert_int_equal(ari__url_escape("Local/1000@answer-wait", out, sizeof out), 26);
    assert_string_equal(out, "Local%2F1000%40answer-wait");
    ari__url_escape("outbound,1000", out, sizeof out);
    assert_string_equal(out, "outbound%2C1000");
    ari__url_escape("Dave <2003>", out, sizeof out);
    assert_string_equal(out, "Dave%20%3C2003%3E");
    ari__url_escape("a&b=c?d#e+f%g", out, sizeof out);
    assert_string_equal(out, "a%26b%3Dc%3Fd%23e%2Bf%25g");
    ari__url_escape("safe-._~AZaz09", out, sizeof out);
    assert_string_equal(out, "safe-._~AZaz09");
    ari__url_escape("\xc3\xa9\x01", out, sizeof out);
    assert_string_equal(out, "%C3%A9%01");
    assert_int_equal(ari__url_escape("", out, sizeof out), 0);
    assert_string_equal(out, "");
    /* Exactly fitting and one byte short. */
    assert_int_equal(ari__url_escape("/", out, 4), 3);
    assert_int_equal(ari__url_escape("/", out, 3), -1);
    assert_int_equal(ari__url_escape("abc", out, 3), -1);
    assert_int_equal(ari__url_escape("abc", out, 4), 3);
    (void)state;
}

static void test_parse_url(void **state)
{
    bool tls;
    char host[64], prefix[64];
    int port;
    assert_int_equal(ari__parse_url("http://127.0.0.1:8088", &tls, host, sizeof host, &port, prefix,
                                    sizeof prefix),
                     0);
    assert_false(tls);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8088);
    assert_string_equal(prefix, "");
    assert_int_equal(ari__parse_url("https://pbx.example/asterisk/", &tls, host, sizeof host, &port,
                                    prefix, sizeof prefix),
                     0);
    assert_true(tls);
    assert_int_equal(port, 443);
    assert_string_equal(host, "pbx.example");
    assert_string_equal(prefix, "/asterisk");
    assert_int_equal(
        ari__parse_url("http://[::1]:9/", &tls, host, sizeof host, &port, prefix, sizeof prefix),
        0);
    assert_string_equal(host, "[::1]");
    assert_int_equal(port, 9);
    static const char *const bad[] = {
        "ftp://x",    "127.0.0.1:8088", "http://",    "http://h:0",   "http://h:99999",
        "http://h:x", "http://[::1",    "http://h?x", "http://h/p?q", NULL,
    };
    for (int i = 0; bad[i]; i++)
        assert_int_equal(
            ari__parse_url(bad[i], &tls, host, sizeof host, &port, prefix, sizeof prefix), -1);
    assert_int_equal(ari__parse_url(NULL, &tls, host, sizeof host, &port, prefix, sizeof prefix),
                     -1);
    (void)state;
}

static void test_endpoint_format(void **state)
{
    char out[64];
    static const struct {
        const char *tmpl, *key, *value, *want; /* want NULL: CS_ERR_INVALID */
    } cases[] = {
        {"PJSIP/{ext}", "ext", "3001", "PJSIP/3001"},
        {"PJSIP/{number}@trunk", "number", "+15551234", "PJSIP/+15551234@trunk"},
        {"Local/{ext}@ring-answer", "ext", "2000", "Local/2000@ring-answer"},
        {"PJSIP/{ext}", "ext", "alice_01", "PJSIP/alice_01"},
        {"SIP/{number}", "number", "*72#", "SIP/*72#"},
        {"Local/{ext}@{ext}-ctx", "ext", "7", "Local/7@7-ctx"},
        /* injection attempts */
        {"PJSIP/{ext}", "ext", "3001&PJSIP/3002", NULL},
        {"PJSIP/{number}@trunk", "number", "123@evil", NULL},
        {"PJSIP/{number}@trunk", "number", "12,3", NULL},
        {"PJSIP/{number}@trunk", "number", "abc", NULL}, /* letters: not a number */
        {"Local/{ext}@ctx", "ext", "1;2", NULL},
        {"PJSIP/{ext}", "ext", "a/b", NULL},
        {"PJSIP/{ext}", "ext", "a b", NULL},
        {"PJSIP/{ext}", "ext", "", NULL},
        {"PJSIP/{ext}", "ext",
         "1234567890123456789012345678901234567890123456789012345678901234"
         "5",
         NULL},
        /* template mistakes */
        {"PJSIP/3001", "ext", "3001", NULL},
        {"PJSIP/{number}", "ext", "3001", NULL},
        {"PJSIP/{ext", "ext", "3001", NULL},
        {"PJSIP/ext}", "ext", "3001", NULL},
        /* too long for out */
        {"PJSIP/{ext}@a-very-long-context-name-that-does-not-fit-in-64-bytes", "ext", "3001", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cs_err rc =
            ari_endpoint_format(cases[i].tmpl, cases[i].key, cases[i].value, out, sizeof out);
        if (cases[i].want) {
            if (rc != CS_OK)
                fail_msg("case %zu: %s", i, cs_err_name(rc));
            assert_string_equal(out, cases[i].want);
        } else {
            if (rc != CS_ERR_INVALID)
                fail_msg("case %zu (%s) accepted: %s", i, cases[i].value, out);
            assert_string_equal(out, "");
        }
    }
    assert_int_equal(ari_endpoint_format("PJSIP/{ext}", "ext", "3001", out, 11), CS_OK);
    assert_int_equal(ari_endpoint_format("PJSIP/{ext}", "ext", "3001", out, 10), CS_ERR_INVALID);
    assert_int_equal(ari_endpoint_format(NULL, "ext", "1", out, sizeof out), CS_ERR_INVALID);
    assert_int_equal(ari_endpoint_format("P/{ext}", "ext", NULL, out, sizeof out), CS_ERR_INVALID);
    (void)state;
}

static void test_timestamp(void **state)
{
    assert_int_equal(ari__parse_timestamp("1970-01-01T00:00:00.000+0000"), 0);
    assert_int_equal(ari__parse_timestamp("2026-11-25T11:05:15.062+0000"), 1795604715062LL);
    assert_int_equal(ari__parse_timestamp("2026-11-25T12:05:15.062+0100"), 1795604715062LL);
    assert_int_equal(ari__parse_timestamp("2026-11-25T11:05:15.062Z"), 1795604715062LL);
    assert_int_equal(ari__parse_timestamp("2026-11-25T11:05:15Z"), 1795604715000LL);
    assert_int_equal(ari__parse_timestamp("2026-11-25T11:05:15.5-00:30"),
                     1795604715500LL + 30 * 60000);
    assert_int_equal(ari__parse_timestamp("2000-02-29T00:00:00+0000"), 951782400000LL);
    static const char *const bad[] = {
        "",
        "2026-11-25",
        "2026-13-25T11:05:15Z",
        "2026-11-25 11:05:15Z",
        "2026-11-25T25:00:00Z",
        "2026-11-25T11:05:15.Z",
        "2026-11-25T11:05:15+01",
        "2026-11-25T11:05:15Zx",
        "20x6-11-25T11:05:15Z",
        NULL,
    };
    for (int i = 0; bad[i]; i++)
        assert_int_equal(ari__parse_timestamp(bad[i]), -1);
    assert_int_equal(ari__parse_timestamp(NULL), -1);
    (void)state;
}

static void test_tables(void **state)
{
    for (int t = 0; t < ARI_EV__COUNT; t++)
        assert_int_equal(ari_event_type_from_name(ari_event_type_name((ari_event_type)t)), t);
    assert_int_equal(ari_event_type_from_name("NoSuchEvent"), ARI_EV_UNKNOWN);
    assert_int_equal(ari_event_type_from_name(NULL), ARI_EV_UNKNOWN);
    assert_string_equal(ari_event_type_name(ARI_EV__COUNT), "Unknown");
    assert_int_equal(ari_channel_state_parse("Up"), ARI_CH_UP);
    assert_int_equal(ari_channel_state_parse("Ring"), ARI_CH_RING);
    assert_int_equal(ari_channel_state_parse("Ringing"), ARI_CH_RINGING);
    assert_int_equal(ari_channel_state_parse("Down"), ARI_CH_DOWN);
    assert_int_equal(ari_channel_state_parse("up"), ARI_CH_UNKNOWN);
    assert_int_equal(ari_channel_state_parse(NULL), ARI_CH_UNKNOWN);
    assert_string_equal(ari_channel_state_name(ARI_CH_UP), "Up");
    (void)state;
}

static void test_arena(void **state)
{
    ari__arena *a = ari__arena_new();
    bool oom = false;
    const char *s = NULL;
    for (int i = 0; i < 2000; i++) { /* spans many chunks */
        s = ari__arena_strdup(a, "0123456789", &oom);
        assert_non_null(s);
    }
    assert_false(oom);
    assert_string_equal(s, "0123456789");
    char *big = ari__arena_alloc(a, 100000); /* bigger than a chunk */
    assert_non_null(big);
    assert_int_equal(big[99999], 0);
    assert_int_equal((uintptr_t)big % 16, 0);
    assert_null(ari__arena_strdup(a, NULL, &oom));
    assert_null(ari__arena_alloc(a, (size_t)-1));
    ari__arena_free(a);
    ari__arena_free(NULL);
    (void)state;
}

static int closed_port(void)
{
    /* A port that was just free: bind, read the port, close. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_client_config_and_refused(void **state)
{
    ari_client *c = NULL;
    ari_config cfg = {
        .url = "http://127.0.0.1:1", .user = "admin", .password = "admin", .app = "call-service"};
    ari_config bad = cfg;
    bad.url = "127.0.0.1:8088";
    assert_int_equal(ari_client_new(&bad, NULL, &c), CS_ERR_INVALID);
    assert_null(c);
    bad = cfg;
    bad.app = "";
    assert_int_equal(ari_client_new(&bad, NULL, &c), CS_ERR_INVALID);
    bad = cfg;
    bad.user = NULL;
    assert_int_equal(ari_client_new(&bad, NULL, &c), CS_ERR_INVALID);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port());
    cfg.url = url;
    cfg.connect_timeout_ms = 500;
    assert_int_equal(ari_client_new(&cfg, NULL, &c), CS_OK);
    ari_error err;
    ari_system_info info;
    assert_int_equal(ari_asterisk_info(c, &info, &err), CS_ERR_UNAVAILABLE);
    assert_int_equal(err.http_status, 0);
    assert_true(strlen(err.message) > 0);
    assert_int_equal(ari_channel_answer(c, "1.2", &err), CS_ERR_UNAVAILABLE);
    /* Bad input never reaches the network. */
    assert_int_equal(ari_channel_answer(c, NULL, &err), CS_ERR_INVALID);
    assert_int_equal(ari_channel_answer(c, "", &err), CS_ERR_INVALID);
    assert_int_equal(ari_bridge_add_channel(c, "b", NULL, &err), CS_ERR_INVALID);
    ari_originate o = {.endpoint = "PJSIP/1"};
    assert_int_equal(ari_channel_create(c, &o, NULL, &err), CS_ERR_INVALID); /* no app */
    assert_int_equal(ari_channel_originate(c, NULL, NULL, &err), CS_ERR_INVALID);
    ari_counters n;
    ari_client_counters(c, &n);
    assert_int_equal(n.rest_requests, 7);
    assert_int_equal(n.rest_failures, 7);
    assert_false(ari_client_connected(c));
    ari_client_free(c);
    ari_client_free(NULL);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_http),  cmocka_unit_test(test_url_escape),
        cmocka_unit_test(test_parse_url), cmocka_unit_test(test_endpoint_format),
        cmocka_unit_test(test_timestamp), cmocka_unit_test(test_tables),
        cmocka_unit_test(test_arena),     cmocka_unit_test(test_client_config_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
