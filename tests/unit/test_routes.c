/* Unit tests of gateway/routes.c: matching (404/405/Allow, literal beats
 * :id, trailing slash), and request building from body, query and path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "routes.h"

static void test_every_seed_endpoint(void **state)
{
    static const struct {
        const char *method, *path, *rpc, *id;
    } cases[] = {
        {"POST", "/api/users/login", "/callservice.v1.UserService/Login", ""},
        {"POST", "/api/users/register", "/callservice.v1.UserService/Register", ""},
        {"GET", "/api/users/profile", "/callservice.v1.UserService/GetProfile", ""},
        {"PUT", "/api/users/profile", "/callservice.v1.UserService/UpdateProfile", ""},
        {"PUT", "/api/users/status", "/callservice.v1.UserService/SetStatus", ""},
        {"GET", "/api/users", "/callservice.v1.UserService/ListUsers", ""},
        {"POST", "/api/users", "/callservice.v1.UserService/CreateUser", ""},
        {"GET", "/api/users/u1", "/callservice.v1.UserService/GetUser", "u1"},
        {"PUT", "/api/users/u1", "/callservice.v1.UserService/UpdateUser", "u1"},
        {"DELETE", "/api/users/u1", "/callservice.v1.UserService/DeleteUser", "u1"},
        {"POST", "/api/calls/make", "/callservice.v1.CallService/MakeCall", ""},
        {"POST", "/api/calls/c9/answer", "/callservice.v1.CallService/AnswerCall", "c9"},
        {"POST", "/api/calls/c9/hangup", "/callservice.v1.CallService/HangupCall", "c9"},
        {"POST", "/api/calls/c9/transfer", "/callservice.v1.CallService/TransferCall", "c9"},
        {"POST", "/api/calls/c9/notes", "/callservice.v1.CallService/AddCallNote", "c9"},
        {"GET", "/api/calls/history", "/callservice.v1.CallService/ListCallHistory", ""},
        {"GET", "/api/calls/active", "/callservice.v1.CallService/ListActiveCalls", ""},
        {"GET", "/api/calls/statistics", "/callservice.v1.CallService/GetCallStatistics", ""},
        {"GET", "/api/calls/c9", "/callservice.v1.CallService/GetCall", "c9"},
        {"GET", "/api/calls/c9/", "/callservice.v1.CallService/GetCall", "c9"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gw_match m;
        assert_int_equal(gw_route_match(cases[i].method, cases[i].path, &m), GW_MATCH_OK);
        assert_string_equal(m.route->rpc, cases[i].rpc);
        assert_string_equal(m.id, cases[i].id);
    }
}

static void test_not_found_and_method(void **state)
{
    gw_match m;
    (void)state;
    assert_int_equal(gw_route_match("GET", "/api/nope", &m), GW_MATCH_NOT_FOUND);
    assert_int_equal(gw_route_match("GET", "/", &m), GW_MATCH_NOT_FOUND);
    assert_int_equal(gw_route_match("GET", "", &m), GW_MATCH_NOT_FOUND);
    assert_int_equal(gw_route_match("GET", "/api//users", &m), GW_MATCH_NOT_FOUND);
    assert_int_equal(gw_route_match("GET", "/api/calls/c9/answer/x", &m), GW_MATCH_NOT_FOUND);
    assert_int_equal(gw_route_match("GET", "/api/calls/c9/answer", &m), GW_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "POST, OPTIONS");
    /* literal "profile" wins over :id, so DELETE is 405, not DeleteUser("profile") */
    assert_int_equal(gw_route_match("DELETE", "/api/users/profile", &m), GW_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, PUT, OPTIONS");
    assert_int_equal(gw_route_match("GET", "/api/users/status", &m), GW_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "PUT, OPTIONS");
    assert_int_equal(gw_route_match("PATCH", "/api/users/u1", &m), GW_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, PUT, DELETE, OPTIONS");
    assert_null(m.route);
}

static void test_id_too_long(void **state)
{
    char path[300] = "/api/users/";
    gw_match m;
    (void)state;
    memset(path + 11, 'x', 200);
    path[211] = '\0';
    assert_int_equal(gw_route_match("GET", path, &m), GW_MATCH_NOT_FOUND);
}

static void test_build_path_and_body(void **state)
{
    gw_match m;
    char err[256];
    ProtobufCMessage *msg = NULL;
    Callservice__V1__TransferCallRequest *t;
    const char *body = "{\"to\":\"3002\",\"callId\":\"ignored\"}";
    (void)state;
    assert_int_equal(gw_route_match("POST", "/api/calls/abc/transfer", &m), GW_MATCH_OK);
    assert_int_equal(gw_route_build(&m, body, strlen(body), NULL, 0, &msg, err, sizeof err), CS_OK);
    t = (Callservice__V1__TransferCallRequest *)msg;
    assert_string_equal(t->call_id, "abc"); /* the path wins */
    assert_string_equal(t->to, "3002");
    protobuf_c_message_free_unpacked(msg, NULL);

    /* empty body on a body route: {} */
    assert_int_equal(gw_route_match("POST", "/api/calls/abc/answer", &m), GW_MATCH_OK);
    assert_int_equal(gw_route_build(&m, "", 0, NULL, 0, &msg, err, sizeof err), CS_OK);
    assert_string_equal(((Callservice__V1__AnswerCallRequest *)msg)->call_id, "abc");
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void test_build_errors(void **state)
{
    gw_match m;
    char err[256];
    ProtobufCMessage *msg = (ProtobufCMessage *)1;
    (void)state;
    assert_int_equal(gw_route_match("POST", "/api/users/login", &m), GW_MATCH_OK);
    assert_int_equal(gw_route_build(&m, "[1]", 3, NULL, 0, &msg, err, sizeof err), CS_ERR_INVALID);
    assert_null(msg);
    assert_string_equal(err, "the body must be a JSON object");
    assert_int_equal(gw_route_build(&m, "{", 1, NULL, 0, &msg, err, sizeof err), CS_ERR_INVALID);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_int_equal(gw_route_build(&m, "{\"emial\":\"x\"}", 13, NULL, 0, &msg, err, sizeof err),
                     CS_ERR_INVALID);
    assert_string_equal(err, "emial: unknown field");
}

static void test_build_query(void **state)
{
    gw_match m;
    char err[256];
    ProtobufCMessage *msg = NULL;
    Callservice__V1__ListCallHistoryRequest *h;
    gw_param q[] = {
        {"status", "completed"},
        {"direction", "CALL_DIRECTION_INBOUND"},
        {"from", "2024-05-01T00:00:00Z"},
        {"to", "2024-05-02T00:00:00+02:00"},
        {"page", "3"},
        {"limit", "50"},
        {"cursor", "abc"},
        {"userId", "u7"},
    };
    gw_param bad[] = {{"limit", "many"}};
    gw_param unknown[] = {{"sort", "asc"}};
    (void)state;
    assert_int_equal(gw_route_match("GET", "/api/calls/history", &m), GW_MATCH_OK);
    assert_int_equal(gw_route_build(&m, NULL, 0, q, 8, &msg, err, sizeof err), CS_OK);
    h = (Callservice__V1__ListCallHistoryRequest *)msg;
    assert_int_equal(h->status, CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED);
    assert_int_equal(h->direction, CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_INBOUND);
    assert_int_equal(h->from->seconds, 1714521600);
    assert_int_equal(h->to->seconds, 1714608000 - 7200);
    assert_int_equal(h->page, 3);
    assert_int_equal(h->limit, 50);
    assert_string_equal(h->cursor, "abc");
    assert_string_equal(h->user_id, "u7");
    protobuf_c_message_free_unpacked(msg, NULL);

    assert_int_equal(gw_route_build(&m, NULL, 0, bad, 1, &msg, err, sizeof err), CS_ERR_INVALID);
    assert_string_equal(err, "limit: expected an integer, got \"many\"");
    assert_int_equal(gw_route_build(&m, NULL, 0, unknown, 1, &msg, err, sizeof err),
                     CS_ERR_INVALID);
    assert_string_equal(err, "sort: unknown query parameter");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_seed_endpoint), cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_id_too_long),         cmocka_unit_test(test_build_path_and_body),
        cmocka_unit_test(test_build_errors),        cmocka_unit_test(test_build_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
