/*
 * Unit tests of the events module's pure parts: who sees what, where a
 * resuming subscriber starts, the replay/live merge without gap or
 * duplicate, the ephemeral wire
 * form and a call_events row turned into an Event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "callservice/v1/calls.pb-c.h"
#include "events/filter.h"
#include "events/internal.h"

#define A1 "11111111-1111-4111-8111-111111111111"
#define A2 "22222222-2222-4222-8222-222222222222"
#define C1 "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
#define C2 "dddddddd-dddd-4ddd-8ddd-dddddddddddd"

#define T_INIT   CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_INITIATED
#define T_ENDED  CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED
#define T_NOTE   CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_NOTE_ADDED
#define T_PRES   CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_USER_STATUS_CHANGED
#define T_TYPING CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_TYPING
#define T_RESYNC CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_RESYNC

static events_filter make_filter(int sees_all, const char *user, const char *call,
                                 const Callservice__V1__EventType *types, size_t n_types)
{
    Callservice__V1__WatchEventsRequest req = CALLSERVICE__V1__WATCH_EVENTS_REQUEST__INIT;
    events_filter f;
    char err[128];

    req.call_id = (char *)(call ? call : "");
    req.types = (Callservice__V1__EventType *)types;
    req.n_types = n_types;
    assert_int_equal(events_filter_init(&f, sees_all, user, &req, err, sizeof err), CS_OK);
    return f;
}

static void test_uuid(void **state)
{
    char low[EVENTS_UUID_LEN + 1];

    (void)state;
    assert_true(events_is_uuid(A1));
    assert_true(events_is_uuid("ABCDEF00-1111-4111-8111-111111111111"));
    assert_false(events_is_uuid(NULL));
    assert_false(events_is_uuid(""));
    assert_false(events_is_uuid("11111111-1111-4111-8111-11111111111"));   /* short */
    assert_false(events_is_uuid("11111111-1111-4111-8111-1111111111111")); /* long */
    assert_false(events_is_uuid("11111111x1111-4111-8111-111111111111"));  /* dash */
    assert_false(events_is_uuid("1111111g-1111-4111-8111-111111111111"));  /* hex */
    assert_false(events_is_uuid("'; DROP TABLE call_events; --000000000"));
    events_uuid_lower(low, "ABCDEF00-1111-4111-8111-11111111111A");
    assert_string_equal(low, "abcdef00-1111-4111-8111-11111111111a");
}

static void test_filter_init_rejects(void **state)
{
    Callservice__V1__WatchEventsRequest req = CALLSERVICE__V1__WATCH_EVENTS_REQUEST__INIT;
    Callservice__V1__EventType bad[] = {T_RESYNC};
    Callservice__V1__EventType worse[] = {(Callservice__V1__EventType)99};
    Callservice__V1__EventType zero[] = {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED};
    events_filter f;
    char err[128];

    (void)state;
    req.call_id = "not-a-uuid";
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_ERR_INVALID);
    assert_non_null(strstr(err, "call_id"));
    req.call_id = "";
    req.after_seq = -1;
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_ERR_INVALID);
    req.after_seq = 0;
    req.types = bad;
    req.n_types = 1;
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_ERR_INVALID);
    req.types = worse;
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_ERR_INVALID);
    req.types = zero;
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_ERR_INVALID);
    req.n_types = 0;
    assert_int_equal(events_filter_init(&f, 0, "bogus", &req, err, sizeof err), CS_ERR_INVALID);
    assert_int_equal(events_filter_init(&f, 0, A1, &req, err, sizeof err), CS_OK);
}

static void test_filter_visibility(void **state)
{
    const char *both[] = {A1, A2}, *only1[] = {A1},
               *upper2[] = {"22222222-2222-4222-8222-222222222222"};
    events_meta call_both = {T_INIT, C1, both, 2};
    events_meta call_1 = {T_INIT, C2, only1, 1};
    events_meta pres_2 = {T_PRES, NULL, upper2, 1};
    events_meta nobody = {T_INIT, C1, NULL, 0};
    events_filter agent1 = make_filter(0, A1, NULL, NULL, 0);
    events_filter agent2 = make_filter(0, "22222222-2222-4222-8222-222222222222", NULL, NULL, 0);
    events_filter sup = make_filter(1, A1, NULL, NULL, 0);

    (void)state;
    /* agents: only what lists them */
    assert_true(events_filter_match(&agent1, &call_both));
    assert_true(events_filter_match(&agent2, &call_both));
    assert_true(events_filter_match(&agent1, &call_1));
    assert_false(events_filter_match(&agent2, &call_1));
    assert_false(events_filter_match(&agent1, &pres_2));
    assert_true(events_filter_match(&agent2, &pres_2));
    assert_false(events_filter_match(&agent1, &nobody));
    /* supervisors and admins: everything */
    assert_true(events_filter_match(&sup, &call_1));
    assert_true(events_filter_match(&sup, &pres_2));
    assert_true(events_filter_match(&sup, &nobody));
}

static void test_filter_request(void **state)
{
    const char *both[] = {A1, A2};
    Callservice__V1__EventType some[] = {T_ENDED, T_NOTE};
    events_filter one_call = make_filter(1, A1, "CCCCCCCC-CCCC-4CCC-8CCC-CCCCCCCCCCCC", NULL, 0);
    events_filter some_types = make_filter(0, A1, NULL, some, 2);
    events_meta ev = {T_INIT, C1, both, 2};

    (void)state;
    assert_true(events_filter_match(&one_call, &ev)); /* uuid case does not matter */
    ev.call_id = C2;
    assert_false(events_filter_match(&one_call, &ev));
    ev.call_id = NULL;
    assert_false(events_filter_match(&one_call, &ev)); /* presence has no call */
    ev.call_id = C1;
    assert_false(events_filter_match(&some_types, &ev));
    ev.type = T_ENDED;
    assert_true(events_filter_match(&some_types, &ev));
    ev.type = T_NOTE;
    assert_true(events_filter_match(&some_types, &ev));
    ev.type = T_TYPING;
    assert_false(events_filter_match(&some_types, &ev));
    /* RESYNC passes every request filter (its snapshot is filtered) */
    ev.type = T_RESYNC;
    ev.call_id = C2;
    assert_true(events_filter_match(&one_call, &ev));
    assert_true(events_filter_match(&some_types, &ev));
}

static void test_parse_uuid_array(void **state)
{
    const char *out[4];
    char empty[] = "{}", one[] = "{" A1 "}", two[] = "{" A1 "," A2 "}";
    char bad1[] = "{" A1 ",}", bad2[] = A1, bad3[] = "{x}", bad4[] = "";
    char many[] = "{" A1 "," A1 "," A1 "," A1 "," A1 "}";

    (void)state;
    assert_int_equal(events_parse_uuid_array(empty, out, 4), 0);
    assert_int_equal(events_parse_uuid_array(one, out, 4), 1);
    assert_string_equal(out[0], A1);
    assert_int_equal(events_parse_uuid_array(two, out, 4), 2);
    assert_string_equal(out[1], A2);
    assert_int_equal(events_parse_uuid_array(bad1, out, 4), -1);
    assert_int_equal(events_parse_uuid_array(bad2, out, 4), -1);
    assert_int_equal(events_parse_uuid_array(bad3, out, 4), -1);
    assert_int_equal(events_parse_uuid_array(bad4, out, 4), -1);
    assert_int_equal(events_parse_uuid_array(many, out, 4), -1);
    assert_int_equal(events_parse_uuid_array(NULL, out, 4), -1);
}

static void test_resume_decide(void **state)
{
    events_resume_plan p;

    (void)state;
    p = events_resume_decide(0, 0, 100); /* live only */
    assert_int_equal(p.mode, EVENTS_RESUME_LIVE);
    assert_int_equal(p.start, 100);
    p = events_resume_decide(40, 0, 100); /* nothing pruned */
    assert_int_equal(p.mode, EVENTS_RESUME_REPLAY);
    assert_int_equal(p.start, 40);
    p = events_resume_decide(40, 40, 100); /* rows 41.. still there */
    assert_int_equal(p.mode, EVENTS_RESUME_REPLAY);
    p = events_resume_decide(39, 40, 100); /* row 40 may be gone */
    assert_int_equal(p.mode, EVENTS_RESUME_RESYNC);
    assert_int_equal(p.start, 100);
    p = events_resume_decide(100, 0, 100); /* up to date */
    assert_int_equal(p.mode, EVENTS_RESUME_LIVE);
    assert_int_equal(p.start, 100);
    p = events_resume_decide(105, 0, 100); /* another instance is ahead */
    assert_int_equal(p.mode, EVENTS_RESUME_LIVE);
    assert_int_equal(p.start, 105);
}

/*
 * The merge: a subscriber resumes from 3 while events keep coming. The
 * replay reads the table up to the hub's seq at that time; meanwhile the
 * hub dispatches live events, some of them also in the replayed range (a
 * live event delivered to a subscriber whose cursor already passed it must
 * be dropped) and the cursor must accept each seq exactly once, in order.
 */
static void test_cursor_merge(void **state)
{
    int64_t through = 3, got[32];
    size_t n = 0, i;
    const int64_t replayed[] = {4, 5, 7, 8};    /* 6 was rolled back: a permanent gap */
    const int64_t live[] = {7, 8, 0, 9, 9, 10}; /* overlap, an ephemeral, a repeat */

    (void)state;
    for (i = 0; i < sizeof replayed / sizeof replayed[0]; i++)
        if (events_cursor_accept(&through, replayed[i]))
            got[n++] = replayed[i];
    for (i = 0; i < sizeof live / sizeof live[0]; i++)
        if (events_cursor_accept(&through, live[i]))
            got[n++] = live[i];
    assert_int_equal(n, 7);
    assert_int_equal(got[0], 4);
    assert_int_equal(got[1], 5);
    assert_int_equal(got[2], 7);
    assert_int_equal(got[3], 8);
    assert_int_equal(got[4], 0); /* ephemeral passes without moving the cursor */
    assert_int_equal(got[5], 9);
    assert_int_equal(got[6], 10);
    assert_int_equal(through, 10);
    assert_false(events_cursor_accept(&through, 2)); /* older than the resume point */
}

static void test_ephemeral_roundtrip(void **state)
{
    Callservice__V1__Event ev = CALLSERVICE__V1__EVENT__INIT, *back;
    Callservice__V1__Typing ty = CALLSERVICE__V1__TYPING__INIT;
    const char *vis_in[] = {A1, "22222222-2222-4222-8222-22222222222A"};
    const char *vis[8];
    size_t n = 0;
    char *s;

    (void)state;
    ty.call_id = C1;
    ty.user_id = A1;
    ty.user_name = "Ann ; , {}";
    ty.typing = 1;
    ev.type = T_TYPING;
    ev.call_id = C1;
    ev.user_id = A1;
    ev.payload_case = CALLSERVICE__V1__EVENT__PAYLOAD_TYPING;
    ev.typing = &ty;
    s = events_ephemeral_encode(&ev, vis_in, 2);
    assert_non_null(s);
    back = events_ephemeral_decode(s, vis, 8, &n);
    assert_non_null(back);
    assert_int_equal(n, 2);
    assert_string_equal(vis[0], A1);
    assert_string_equal(vis[1], "22222222-2222-4222-8222-22222222222a");
    assert_int_equal(back->type, T_TYPING);
    assert_int_equal(back->seq, 0);
    assert_int_equal(back->payload_case, CALLSERVICE__V1__EVENT__PAYLOAD_TYPING);
    assert_string_equal(back->typing->user_name, "Ann ; , {}");
    assert_true(back->typing->typing);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(s);

    /* an event without a call cannot go out; bad input never decodes */
    ev.call_id = "";
    assert_null(events_ephemeral_encode(&ev, vis_in, 2));
    {
        char b1[] = "nonsense", b2[] = C1 ";" A1 ";zz", b3[] = C1 ";bad;00", b4[] = C1 ";;0a";
        char b5[] = "";
        assert_null(events_ephemeral_decode(b1, vis, 8, &n));
        assert_null(events_ephemeral_decode(b2, vis, 8, &n));
        assert_null(events_ephemeral_decode(b3, vis, 8, &n));
        assert_null(events_ephemeral_decode(b4, vis, 8, &n)); /* truncated message */
        assert_null(events_ephemeral_decode(b5, vis, 8, &n));
    }
}

/* A row as the listener reads it (text format), through to the Event a
 * client unpacks: the payload bytes come out as the Call in the oneof. */
static void test_rec_from_row(void **state)
{
    Callservice__V1__Call call = CALLSERVICE__V1__CALL__INIT, *cback;
    Callservice__V1__Event *back;
    PGresAttDesc attrs[8];
    PGresult *res;
    uint8_t packed[256], wire[512];
    char hex[600];
    size_t len, i, wl;
    events_rec *r;
    static const char *names[] = {"seq",        "type",         "call_id", "user_id",
                                  "visible_to", "payload_kind", "payload", "t"};
    const char *vals[8];

    (void)state;
    call.id = C1;
    call.status = CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_RINGING;
    call.version = 7;
    call.hangup_cause = "x";
    len = protobuf_c_message_pack(&call.base, packed);
    strcpy(hex, "\\x");
    for (i = 0; i < len; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02X", packed[i]); /* upper case is accepted too */

    memset(attrs, 0, sizeof attrs);
    for (i = 0; i < 8; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].typlen = -1;
    }
    vals[0] = "42";
    vals[1] = "2";
    vals[2] = C1;
    vals[3] = A1;
    vals[4] = "{" A1 "," A2 "}";
    vals[5] = "10";
    vals[6] = hex;
    vals[7] = "1700000000123456";
    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    assert_true(PQsetResultAttrs(res, 8, attrs));
    for (i = 0; i < 8; i++)
        assert_true(PQsetvalue(res, 0, (int)i, (char *)vals[i], (int)strlen(vals[i])));
    r = events_rec_from_row(res, 0);
    assert_non_null(r);
    assert_int_equal(r->seq, 42);
    assert_int_equal(r->n_visible, 2);
    assert_string_equal(r->visible_to[1], A2);

    wl = protobuf_c_message_pack(&r->ev.base, wire);
    back = callservice__v1__event__unpack(NULL, wl, wire);
    assert_non_null(back);
    assert_int_equal(back->seq, 42);
    assert_int_equal(back->type, CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_RINGING);
    assert_true(back->stored);
    assert_string_equal(back->call_id, C1);
    assert_string_equal(back->user_id, A1);
    assert_int_equal(back->time->seconds, 1700000000);
    assert_int_equal(back->time->nanos, 123456000);
    assert_int_equal(back->payload_case, CALLSERVICE__V1__EVENT__PAYLOAD_CALL);
    cback = back->call;
    assert_string_equal(cback->id, C1);
    assert_int_equal(cback->status, CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_RINGING);
    assert_int_equal(cback->version, 7);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    events_rec_free(r);

    /* malformed rows are refused, not crashed on */
    assert_true(PQsetvalue(res, 0, 6, "\\xabc", 5)); /* odd hex */
    assert_null(events_rec_from_row(res, 0));
    assert_true(PQsetvalue(res, 0, 6, hex, (int)strlen(hex)));
    assert_true(PQsetvalue(res, 0, 4, "{oops}", 6));
    assert_null(events_rec_from_row(res, 0));
    assert_true(PQsetvalue(res, 0, 4, "{}", 2));
    assert_true(PQsetvalue(res, 0, 5, "13", 2)); /* no such payload field */
    assert_null(events_rec_from_row(res, 0));
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_filter_init_rejects),
        cmocka_unit_test(test_filter_visibility),
        cmocka_unit_test(test_filter_request),
        cmocka_unit_test(test_parse_uuid_array),
        cmocka_unit_test(test_resume_decide),
        cmocka_unit_test(test_cursor_merge),
        cmocka_unit_test(test_ephemeral_roundtrip),
        cmocka_unit_test(test_rec_from_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
