/*
 * Unit tests of the events module's pure parts: who sees what, where a
 * resuming subscriber starts, the replay/live merge without gap or
 * duplicate, the ephemeral wire
 * form, a call_events row turned into an Event, and the stored events'
 * NOTIFY form (against a live PostgreSQL too, CS_TEST_DATABASE_URL, when
 * tests/with-pg.sh gives one: the statement's half of the form).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <poll.h>
#include <stdio.h>

#include "callservice/v1/calls.pb-c.h"
#include "db/db.h"
#include "events/events.h"
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

static void test_type_stored(void **state)
{
    /* what 0003 and 0006 let call_events hold: 1..7, 10, 11 */
    (void)state;
    for (int t = -1; t < 40; t++)
        assert_int_equal(events_type_stored(t), (t >= 1 && t <= 7) || t == 10 || t == 11);
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
/* A PGresult holding one row of EVENTS_ROW_COLUMNS in text form. */
static PGresult *make_row(const char *const vals[8])
{
    static const char *names[] = {"seq",        "type",         "call_id", "user_id",
                                  "visible_to", "payload_kind", "payload", "t"};
    PGresAttDesc attrs[8];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    size_t i;

    assert_non_null(res);
    memset(attrs, 0, sizeof attrs);
    for (i = 0; i < 8; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].typlen = -1;
    }
    assert_true(PQsetResultAttrs(res, 8, attrs));
    for (i = 0; i < 8; i++)
        assert_true(PQsetvalue(res, 0, (int)i, (char *)vals[i], (int)strlen(vals[i])));
    return res;
}

static void test_rec_from_row(void **state)
{
    Callservice__V1__Call call = CALLSERVICE__V1__CALL__INIT, *cback;
    Callservice__V1__Event *back;
    PGresult *res;
    uint8_t packed[256], wire[512];
    char hex[600];
    size_t len, i, wl;
    events_rec *r;

    (void)state;
    call.id = C1;
    call.status = CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_RINGING;
    call.version = 7;
    call.hangup_cause = "x";
    len = protobuf_c_message_pack(&call.base, packed);
    strcpy(hex, "\\x");
    for (i = 0; i < len; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02X", packed[i]); /* upper case is accepted too */

    res = make_row((const char *const[8]){"42", "2", C1, A1, "{" A1 "," A2 "}", "10", hex,
                                          "1700000000123456"});
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

/* The Event a record sends, packed (wire must hold 4096 bytes). */
static size_t rec_wire(const events_rec *r, uint8_t *wire)
{
    assert_true(protobuf_c_message_get_packed_size(&r->ev.base) <= 4096);
    return protobuf_c_message_pack(&r->ev.base, wire);
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* events_notify_tail + what the append statement prepends, decoded again:
 * every field comes back, and the Event is byte for byte the one the same
 * row read from the table gives. */
static void test_notify_roundtrip(void **state)
{
    Callservice__V1__Call call = CALLSERVICE__V1__CALL__INIT;
    Callservice__V1__User user = CALLSERVICE__V1__USER__INIT;
    uint8_t packed[512], wire1[4096], wire2[4096];
    char hex[1100], bhex[1200], full[2048], *tail;
    size_t len, w1, w2;
    int64_t seq = -1;
    events_rec *r, *rr;
    PGresult *res;

    (void)state;
    call.id = C1;
    call.status = CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_IN_PROGRESS;
    call.version = 3;
    call.hangup_cause = "a; b {c,d} \\x";
    len = protobuf_c_message_pack(&call.base, packed);
    hex_of(packed, len, hex);
    /* upper-case uuids in, canonical out, as PostgreSQL prints them */
    tail = events_notify_tail(T_NOTE, "CCCCCCCC-CCCC-4CCC-8CCC-CCCCCCCCCCCC", A2, "{" A1 "," A2 "}",
                              10, hex);
    assert_non_null(tail);
    snprintf(full, sizeof full, "%s;%s;%s", "9223372036854775807", "-1234567", tail);
    r = events_rec_from_notify(full, &seq);
    assert_non_null(r);
    assert_int_equal(seq, INT64_MAX);
    assert_int_equal(r->seq, INT64_MAX);
    assert_int_equal(r->type, T_NOTE);
    assert_int_equal(r->time_us, -1234567);
    assert_string_equal(r->call_id, C1);
    assert_string_equal(r->user_id, A2);
    assert_int_equal(r->n_visible, 2);
    assert_string_equal(r->visible_to[0], A1);
    assert_string_equal(r->visible_to[1], A2);
    assert_int_equal(r->payload_kind, EVENTS_PAYLOAD_CALL);
    assert_int_equal(r->uf.len, 1 + len); /* one varint byte, then the bytes */
    assert_memory_equal(r->field + 1, packed, len);
    events_rec_free(r);

    /* the same event as the range read would give it */
    snprintf(full, sizeof full, "57;1700000000123456;%s", tail);
    snprintf(bhex, sizeof bhex, "\\x%s", hex);
    res = make_row((const char *const[8]){"57", "6", C1, A2, "{" A1 "," A2 "}", "10", bhex,
                                          "1700000000123456"});
    rr = events_rec_from_row(res, 0);
    r = events_rec_from_notify(full, &seq);
    assert_non_null(rr);
    assert_non_null(r);
    assert_int_equal(seq, 57);
    w1 = rec_wire(r, wire1);
    w2 = rec_wire(rr, wire2);
    assert_int_equal(w1, w2);
    assert_memory_equal(wire1, wire2, w1);
    events_rec_free(r);
    events_rec_free(rr);
    PQclear(res);
    free(tail);

    /* presence: no call, an empty payload is still a payload */
    user.id = A1;
    len = protobuf_c_message_pack(&user.base, packed);
    hex_of(packed, len, hex);
    tail = events_notify_tail(T_PRES, NULL, A1, "{" A1 "}", 11, hex);
    assert_non_null(tail);
    snprintf(full, sizeof full, "8;0;%s", tail);
    free(tail);
    r = events_rec_from_notify(full, &seq);
    assert_non_null(r);
    assert_int_equal(seq, 8);
    assert_string_equal(r->call_id, "");
    assert_string_equal(r->user_id, A1);
    assert_int_equal(r->n_visible, 1);
    assert_int_equal(r->payload_kind, EVENTS_PAYLOAD_USER);
    events_rec_free(r);
    tail = events_notify_tail(T_PRES, NULL, NULL, "{}", 11, "");
    assert_non_null(tail);
    snprintf(full, sizeof full, "9;0;%s", tail);
    free(tail);
    r = events_rec_from_notify(full, &seq);
    assert_non_null(r);
    assert_string_equal(r->user_id, "");
    assert_int_equal(r->n_visible, 0);
    assert_int_equal(r->uf.len, 1);
    events_rec_free(r);
}

/* Only the seq: the event did not fit. Anything malformed: seq 0. */
static void test_notify_refuses(void **state)
{
    static const char *bad[] = {
        "",
        "x",
        "0",
        "-5",
        "12a",
        "99999999999999999999",
        "42;",
        "42;1;2;" C1 ";" A1 ";{};10",       /* a field short */
        "42;1;2;" C1 ";" A1 ";{};10;0a;0b", /* a field too many */
        "42;1;0;" C1 ";" A1 ";{};10;0a",    /* type 0 */
        "42;1;8;" C1 ";" A1 ";{};10;0a",    /* RESYNC is never stored */
        "42;1;2;" C1 ";" A1 ";{};13;0a",    /* no such payload field */
        "42;1;2;" C1 ";" A1 ";{};;0a",
        "42;;2;" C1 ";" A1 ";{};10;0a", /* no time */
        "42;1x;2;" C1 ";" A1 ";{};10;0a",
        "0;1;2;" C1 ";" A1 ";{};10;0a", /* seq 0 */
        "42;1;2;nope;" A1 ";{};10;0a",
        "42;1;2;" C1 ";" A1 "0;{};10;0a",
        "42;1;2;" C1 ";" A1 ";{oops};10;0a",
        "42;1;2;" C1 ";" A1 ";" A1 ";10;0a", /* not an array */
        "42;1;2;" C1 ";" A1 ";{};10;0",      /* odd hex */
        "42;1;2;" C1 ";" A1 ";{};10;zz",
        "42;1;2;" C1 ";" A1 ";{};10;\\x0a", /* the bytea prefix is not sent */
        " 42;1;2;" C1 ";" A1 ";{};10;0a",
    };
    int64_t seq = -1;
    size_t i;

    (void)state;
    assert_null(events_rec_from_notify("57", &seq));
    assert_int_equal(seq, 57);
    assert_null(events_rec_from_notify("9223372036854775807", &seq));
    assert_int_equal(seq, INT64_MAX);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        seq = -1;
        assert_null(events_rec_from_notify(bad[i], &seq));
        if (seq != 0)
            fail_msg("bad[%zu] \"%s\" gave seq %lld", i, bad[i], (long long)seq);
    }
    /* and the good form of the same, to show the cases above fail on their field */
    {
        events_rec *r = events_rec_from_notify("42;1;2;" C1 ";" A1 ";{};10;0a", &seq);
        assert_non_null(r);
        assert_int_equal(seq, 42);
        events_rec_free(r);
    }
}

/* The tail is refused (the seq alone is sent) exactly when the longest
 * notification it could make would not fit. */
static void test_notify_too_large(void **state)
{
    char *hex = malloc(EVENTS_NOTIFY_MAX + 1), *tail, *full;
    size_t fits, len;
    int64_t seq;
    events_rec *r;

    (void)state;
    assert_non_null(hex);
    /* 82 bytes of fixed fields with both uuids, "{}", the prefix */
    fits = EVENTS_NOTIFY_MAX - EVENTS_NOTIFY_PREFIX_MAX - 82 - 2;
    fits -= fits % 2;
    memset(hex, 'a', fits);
    hex[fits] = '\0';
    tail = events_notify_tail(T_INIT, C1, A1, "{}", 10, hex);
    assert_non_null(tail);
    len = strlen(tail);
    full = malloc(len + EVENTS_NOTIFY_PREFIX_MAX + 1);
    assert_non_null(full);
    snprintf(full, len + EVENTS_NOTIFY_PREFIX_MAX + 1, "%s;%s;%s", "9223372036854775807",
             "-9223372036854775808", tail);
    assert_true(strlen(full) <= EVENTS_NOTIFY_MAX);
    r = events_rec_from_notify(full, &seq);
    assert_non_null(r);
    assert_int_equal(r->uf.len, 2 + fits / 2);
    events_rec_free(r);
    free(full);
    free(tail);
    memset(hex, 'a', fits + 2);
    hex[fits + 2] = '\0';
    assert_null(events_notify_tail(T_INIT, C1, A1, "{}", 10, hex));
    /* without the uuids the same payload fits */
    tail = events_notify_tail(T_INIT, NULL, NULL, "{}", 10, hex);
    assert_non_null(tail);
    free(tail);
    /* more participants, less room: "{uuid}" takes 36 more bytes than "{}" */
    hex[fits - 36] = '\0';
    tail = events_notify_tail(T_INIT, C1, A1, "{" A1 "}", 10, hex);
    assert_non_null(tail);
    free(tail);
    hex[fits - 36] = 'a';
    hex[fits - 35] = 'a';
    hex[fits - 34] = '\0';
    assert_null(events_notify_tail(T_INIT, C1, A1, "{" A1 "}", 10, hex));
    free(hex);
}

static const char *live_url(void)
{
    const char *u = getenv("CS_TEST_DATABASE_URL");
    return (u && *u) ? u : NULL;
}

/* The next notification on conn's cs_events, within 5 s (NULL if none). */
static PGnotify *next_notify(PGconn *conn)
{
    PGnotify *nt = NULL;
    int i;

    for (i = 0; i < 50 && nt == NULL; i++) {
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        assert_true(PQconsumeInput(conn));
        nt = PQnotifies(conn);
        if (nt == NULL)
            (void)poll(&pfd, 1, 100);
    }
    return nt;
}

/* Appends a call event in its own transaction; returns its seq. */
static int64_t live_append(db_conn *db, const char *cause, int deferred)
{
    Callservice__V1__Call call = CALLSERVICE__V1__CALL__INIT;
    const char *vis[] = {A1, A2};
    int64_t seq = 0;

    call.id = C1;
    call.status = CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED;
    call.hangup_cause = (char *)cause;
    assert_int_equal(db_begin(db), CS_OK);
    assert_int_equal(events_append(db, T_ENDED, C1, A1, vis, 2, &call.base, deferred ? NULL : &seq),
                     CS_OK);
    assert_int_equal(db_commit(db), CS_OK);
    return seq;
}

/* The statement's half: a small event's notification is its row (the same
 * Event as the range read gives), a large one's is its seq alone, deferred
 * appends included. */
static void test_live_notify(void **state)
{
    static const char sql[] = "SELECT " EVENTS_ROW_COLUMNS " FROM call_events WHERE seq = $1";
    uint8_t wire1[4096], wire2[4096];
    char seqbuf[24], *big;
    const char *params[1] = {seqbuf};
    db_conn *db;
    PGconn *lc;
    PGresult *res;
    PGnotify *nt;
    events_rec *r, *rr;
    int64_t seq, got;
    int applied, round;

    (void)state;
    if (!live_url())
        skip();
    db = db_open(live_url());
    assert_int_equal(db_migrate(db, CS_SQL_DIR, &applied), CS_OK);
    lc = PQconnectdb(live_url());
    assert_int_equal(PQstatus(lc), CONNECTION_OK);
    res = PQexec(lc, "LISTEN " EVENTS_CHANNEL);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    for (round = 0; round < 2; round++) {
        seq = live_append(db, "normal", round);
        nt = next_notify(lc);
        assert_non_null(nt);
        r = events_rec_from_notify(nt->extra, &got);
        assert_non_null(r);
        if (round == 0)
            assert_int_equal(got, seq);
        snprintf(seqbuf, sizeof seqbuf, "%lld", (long long)got);
        res = PQexecParams(lc, sql, 1, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        rr = events_rec_from_row(res, 0);
        assert_non_null(rr);
        assert_int_equal(r->time_us, rr->time_us);
        assert_int_equal(rec_wire(r, wire1), rec_wire(rr, wire2));
        assert_memory_equal(wire1, wire2, rec_wire(r, wire1));
        events_rec_free(r);
        events_rec_free(rr);
        PQclear(res);
        PQfreemem(nt);
    }

    /* too large for a notification: the seq alone */
    big = malloc(6001);
    assert_non_null(big);
    memset(big, 'x', 6000);
    big[6000] = '\0';
    seq = live_append(db, big, 0);
    nt = next_notify(lc);
    assert_non_null(nt);
    snprintf(seqbuf, sizeof seqbuf, "%lld", (long long)seq);
    assert_string_equal(nt->extra, seqbuf);
    assert_null(events_rec_from_notify(nt->extra, &got));
    assert_int_equal(got, seq);
    PQfreemem(nt);
    free(big);

    PQfinish(lc);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_filter_init_rejects),
        cmocka_unit_test(test_type_stored),
        cmocka_unit_test(test_filter_visibility),
        cmocka_unit_test(test_filter_request),
        cmocka_unit_test(test_parse_uuid_array),
        cmocka_unit_test(test_resume_decide),
        cmocka_unit_test(test_cursor_merge),
        cmocka_unit_test(test_ephemeral_roundtrip),
        cmocka_unit_test(test_rec_from_row),
        cmocka_unit_test(test_notify_roundtrip),
        cmocka_unit_test(test_notify_refuses),
        cmocka_unit_test(test_notify_too_large),
        cmocka_unit_test(test_live_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
