/*
 * lcache (src/calls/listcache.c): off until the listener links; keys by
 * method, requester and request; the generations of each scope (an
 * agent's slot, every call, users' names), a put that raced a bump is
 * dropped, an entry stored before a bump is not served; presence events
 * bump nothing; the link going down flushes and turns it off; validity
 * (valid_ms, ttl) and the live-duration bound; the byte bound; a NULL
 * (disabled) cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "calls/listcache.h"

static const char *const U1 = "0b6c6f4e-6a38-4c5e-9a77-0f8e2f6d1a01";
static const char *const U2 = "0b6c6f4e-6a38-4c5e-9a77-0f8e2f6d1a02";
static const char *const U1_UPPER = "0B6C6F4E-6A38-4C5E-9A77-0F8E2F6D1A01";

#define WALL 1700000000000000LL /* a wall-clock moment, microseconds */

/* An active-calls answer of one call whose id says what it is. */
typedef struct answer {
    Callservice__V1__ListActiveCallsResponse resp;
    Callservice__V1__Call call, *calls[1];
} answer;

static void make_answer(answer *a, const char *call_id)
{
    callservice__v1__list_active_calls_response__init(&a->resp);
    callservice__v1__call__init(&a->call);
    a->call.id = (char *)call_id;
    a->calls[0] = &a->call;
    a->resp.calls = a->calls;
    a->resp.n_calls = 1;
}

/* The cached call id for the ticket, or "" on a miss: the message handed
 * out is for sending, so it is packed and read back as a client would. */
static const char *cached(lcache *c, const lcache_ticket *t, int64_t now, char *buf, size_t n)
{
    ProtobufCMessage *m =
        lcache_get(c, t, &callservice__v1__list_active_calls_response__descriptor, now);
    Callservice__V1__ListActiveCallsResponse *r = NULL;
    uint8_t wire[1024];
    size_t len;
    buf[0] = '\0';
    if (m == NULL)
        return buf;
    len = protobuf_c_message_get_packed_size(m);
    assert_true(len <= sizeof wire);
    assert_int_equal(protobuf_c_message_pack(m, wire), len);
    r = callservice__v1__list_active_calls_response__unpack(NULL, len, wire);
    assert_non_null(r);
    snprintf(buf, n, "%s", r->n_calls == 1 ? r->calls[0]->id : "");
    callservice__v1__list_active_calls_response__free_unpacked(r, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return buf;
}

/* begin + put of an answer for an agent (or everyone). */
static void fill(lcache *c, bool all, const char *user, const char *call_id, int64_t now,
                 int64_t valid_ms)
{
    lcache_ticket t;
    answer a;
    make_answer(&a, call_id);
    lcache_begin(c, LCACHE_ACTIVE, all, user, false, NULL, now, WALL, &t);
    assert_true(t.ok);
    lcache_put(c, &t, &a.resp.base, valid_ms);
}

static const char *lookup(lcache *c, bool all, const char *user, int64_t now, char *buf, size_t n)
{
    lcache_ticket t;
    lcache_begin(c, LCACHE_ACTIVE, all, user, false, NULL, now, WALL, &t);
    return cached(c, &t, now, buf, n);
}

static void test_off_until_linked(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    char b[64];
    (void)state;
    fill(c, false, U1, "c1", 0, 1000);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "");
    lcache_on_link(c, 1);
    fill(c, false, U1, "c1", 0, 1000);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "c1");
    lcache_on_link(c, 0); /* down: flushed and off */
    assert_string_equal(lookup(c, false, U1, 2, b, sizeof b), "");
    fill(c, false, U1, "c1", 2, 1000);
    assert_string_equal(lookup(c, false, U1, 3, b, sizeof b), "");
    lcache_free(c);
}

static void test_keys(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    Callservice__V1__ListCallHistoryRequest r1, r2;
    lcache_ticket t1, t2, t3, t4;
    char b[64];
    (void)state;
    lcache_on_link(c, 1);
    callservice__v1__list_call_history_request__init(&r1);
    callservice__v1__list_call_history_request__init(&r2);
    r1.page = 1;
    r2.page = 2;
    lcache_begin(c, LCACHE_HISTORY, false, U1, false, &r1.base, 0, WALL, &t1);
    lcache_begin(c, LCACHE_HISTORY, false, U1, false, &r2.base, 0, WALL, &t2);
    lcache_begin(c, LCACHE_HISTORY, false, U2, false, &r1.base, 0, WALL, &t3);
    lcache_begin(c, LCACHE_ACTIVE, false, U1, false, &r1.base, 0, WALL, &t4);
    assert_string_not_equal(t1.key, t2.key);
    assert_string_not_equal(t1.key, t3.key);
    assert_string_not_equal(t1.key, t4.key);
    /* an agent and everyone are different answers; the id's case is not */
    fill(c, false, U1, "mine", 0, 1000);
    assert_string_equal(lookup(c, true, U1, 1, b, sizeof b), "");
    assert_string_equal(lookup(c, false, U1_UPPER, 1, b, sizeof b), "mine");
    fill(c, true, U1, "every", 0, 1000);
    assert_string_equal(lookup(c, true, U2, 1, b, sizeof b), "every");
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "mine");
    lcache_free(c);
}

static void test_generations(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    const char *vis[] = {U1};
    events_meta ev = {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ANSWERED, "x", vis, 1};
    events_meta presence = {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_USER_STATUS_CHANGED, "", vis,
                            1};
    char b[64];
    (void)state;
    lcache_on_link(c, 1);
    fill(c, false, U1, "u1", 0, 1000);
    fill(c, false, U2, "u2", 0, 1000);
    fill(c, true, NULL, "all", 0, 1000);
    /* presence changes no call list */
    lcache_on_event(c, &presence);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "u1");
    assert_string_equal(lookup(c, true, NULL, 1, b, sizeof b), "all");
    /* an event visible to U1: U1's and everyone's answers go, U2's stays */
    lcache_on_event(c, &ev);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "");
    assert_string_equal(lookup(c, true, NULL, 1, b, sizeof b), "");
    assert_string_equal(lookup(c, false, U2, 1, b, sizeof b), "u2");
    /* refilled after the event: served */
    fill(c, false, U1, "u1b", 1, 1000);
    assert_string_equal(lookup(c, false, U1, 2, b, sizeof b), "u1b");
    /* an event visible to nobody but supervisors: everyone's answers only */
    fill(c, true, NULL, "all2", 2, 1000);
    ev.n_visible = 0;
    lcache_on_event(c, &ev);
    assert_string_equal(lookup(c, true, NULL, 3, b, sizeof b), "");
    assert_string_equal(lookup(c, false, U1, 3, b, sizeof b), "u1b");
    /* a local bump of an unknown user set: every agent */
    lcache_bump_user(c, NULL);
    assert_string_equal(lookup(c, false, U1, 3, b, sizeof b), "");
    assert_string_equal(lookup(c, false, U2, 3, b, sizeof b), "");
    lcache_free(c);
}

static void test_names(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    lcache_ticket t;
    answer a;
    char b[64];
    (void)state;
    lcache_on_link(c, 1);
    make_answer(&a, "named");
    lcache_begin(c, LCACHE_STATS, true, NULL, true, NULL, 0, WALL, &t);
    lcache_put(c, &t, &a.resp.base, 1000);
    fill(c, true, NULL, "plain", 0, 1000);
    fill(c, false, U1, "u1", 0, 1000);
    lcache_begin(c, LCACHE_STATS, true, NULL, true, NULL, 1, WALL, &t);
    assert_string_equal(cached(c, &t, 1, b, sizeof b), "named");
    lcache_on_notify(c, U2); /* a user changed: names may have */
    lcache_begin(c, LCACHE_STATS, true, NULL, true, NULL, 1, WALL, &t);
    assert_string_equal(cached(c, &t, 1, b, sizeof b), "");
    assert_string_equal(lookup(c, true, NULL, 1, b, sizeof b), "plain");
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "u1");
    lcache_free(c);
}

/* A bump between begin (before the query) and put: nothing is stored; a
 * bump after the put: the entry is not served. */
static void test_races(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    lcache_ticket t;
    answer a;
    char b[64];
    (void)state;
    lcache_on_link(c, 1);
    make_answer(&a, "stale");
    lcache_begin(c, LCACHE_ACTIVE, false, U1, false, NULL, 0, WALL, &t);
    lcache_bump_user(c, U1);
    lcache_put(c, &t, &a.resp.base, 1000);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "");
    /* a link flap between begin and put: dropped too */
    lcache_begin(c, LCACHE_ACTIVE, false, U1, false, NULL, 0, WALL, &t);
    lcache_on_link(c, 0);
    lcache_on_link(c, 1);
    lcache_put(c, &t, &a.resp.base, 1000);
    assert_string_equal(lookup(c, false, U1, 1, b, sizeof b), "");
    /* stored, then bumped: a reader that begins after the bump misses */
    fill(c, false, U1, "old", 0, 1000);
    lcache_begin(c, LCACHE_ACTIVE, false, U1, false, NULL, 1, WALL, &t);
    lcache_bump_user(c, U1);
    lcache_begin(c, LCACHE_ACTIVE, false, U1, false, NULL, 1, WALL, &t);
    assert_string_equal(cached(c, &t, 1, b, sizeof b), "");
    lcache_free(c);
}

static void test_expiry_and_bounds(void **state)
{
    lcache *c = lcache_new(64, 64, 500);
    lcache_ticket t;
    answer a;
    char big[200], b[64];
    (void)state;
    lcache_on_link(c, 1);
    fill(c, false, U1, "short", 100, 50); /* valid 50 ms from its begin */
    assert_string_equal(lookup(c, false, U1, 149, b, sizeof b), "short");
    assert_string_equal(lookup(c, false, U1, 150, b, sizeof b), "");
    fill(c, false, U1, "ttl", 100, INT64_MAX); /* the ttl caps it */
    assert_string_equal(lookup(c, false, U1, 599, b, sizeof b), "ttl");
    assert_string_equal(lookup(c, false, U1, 600, b, sizeof b), "");
    fill(c, false, U1, "never", 100, 0); /* not valid at all: not stored */
    assert_string_equal(lookup(c, false, U1, 100, b, sizeof b), "");
    /* larger than entry_max: not stored */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    make_answer(&a, big);
    lcache_begin(c, LCACHE_ACTIVE, false, U2, false, NULL, 0, WALL, &t);
    lcache_put(c, &t, &a.resp.base, 1000);
    assert_string_equal(lookup(c, false, U2, 1, b, sizeof b), "");
    lcache_free(c);
}

static void test_entries_bound(void **state)
{
    lcache *c = lcache_new(4, 4096, 60000); /* one set of KVC_WAYS */
    Callservice__V1__ListCallHistoryRequest r;
    lcache_ticket t;
    answer a;
    int hits = 0;
    char b[64];
    (void)state;
    lcache_on_link(c, 1);
    callservice__v1__list_call_history_request__init(&r);
    make_answer(&a, "p");
    for (int page = 1; page <= 10; page++) {
        r.page = page;
        lcache_begin(c, LCACHE_HISTORY, false, U1, false, &r.base, 0, WALL, &t);
        lcache_put(c, &t, &a.resp.base, 1000);
    }
    for (int page = 1; page <= 10; page++) {
        r.page = page;
        lcache_begin(c, LCACHE_HISTORY, false, U1, false, &r.base, 1, WALL, &t);
        hits += cached(c, &t, 1, b, sizeof b)[0] != '\0';
    }
    assert_int_equal(hits, 4); /* the last four stored */
    lcache_free(c);
}

static Google__Protobuf__Timestamp ts_of(int64_t us)
{
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = us / 1000000;
    t.nanos = (int32_t)(us % 1000000) * 1000;
    return t;
}

static void test_calls_valid(void **state)
{
    Callservice__V1__Call talking, ringing, ended, *v[3] = {&talking, &ringing, &ended};
    Google__Protobuf__Timestamp created = ts_of(WALL - 10500000), answered = ts_of(WALL - 4300000),
                                created2 = ts_of(WALL - 2900000), ended_at = ts_of(WALL - 1000);
    (void)state;
    callservice__v1__call__init(&talking);
    callservice__v1__call__init(&ringing);
    callservice__v1__call__init(&ended);
    /* answered 4.3 s before the query: duration 4, becomes 5 in 0.7 s */
    talking.created_at = &created;
    talking.answered_at = &answered;
    talking.duration_seconds = 4;
    /* created 2.9 s ago and not answered: wait 2, becomes 3 in 0.1 s */
    ringing.created_at = &created2;
    ringing.wait_seconds = 2;
    /* ended: its figures no longer move */
    ended.created_at = &created;
    ended.answered_at = &answered;
    ended.ended_at = &ended_at;
    ended.duration_seconds = 4;
    assert_int_equal(lcache_calls_valid_ms(v, 0, WALL), INT64_MAX);
    assert_int_equal(lcache_calls_valid_ms(&v[2], 1, WALL), INT64_MAX);
    assert_int_equal(lcache_calls_valid_ms(v, 1, WALL), 700);
    assert_int_equal(lcache_calls_valid_ms(v, 3, WALL), 100);
    /* a tick already due (the clock moved past it): nothing to store */
    assert_int_equal(lcache_calls_valid_ms(v, 1, WALL + 800000), 0);
    /* never more than a second, whatever the clocks say */
    assert_int_equal(lcache_calls_valid_ms(v, 1, WALL - 5000000), 1000);
}

/* What lcache_get hands out packs to the very bytes stored: several calls
 * (many top-level fields), a statistics message, and an empty answer. */
static void check_verbatim(lcache *c, const ProtobufCMessage *msg, const char *user)
{
    uint8_t want[2048], got[2048];
    size_t n = protobuf_c_message_get_packed_size(msg), m;
    lcache_ticket t;
    ProtobufCMessage *out;
    assert_true(n <= sizeof want);
    protobuf_c_message_pack(msg, want);
    lcache_begin(c, LCACHE_STATS, false, user, false, NULL, 0, WALL, &t);
    lcache_put(c, &t, msg, 1000);
    out = lcache_get(c, &t, msg->descriptor, 1);
    assert_non_null(out);
    m = protobuf_c_message_get_packed_size(out);
    assert_int_equal(m, n);
    assert_int_equal(protobuf_c_message_pack(out, got), n);
    assert_memory_equal(got, want, n);
    protobuf_c_message_free_unpacked(out, NULL);
}

static void test_verbatim(void **state)
{
    lcache *c = lcache_new(64, 4096, 60000);
    Callservice__V1__ListActiveCallsResponse empty;
    Callservice__V1__CallStatistics st;
    Google__Protobuf__Timestamp from = ts_of(WALL - 86400000000LL), to = ts_of(WALL);
    answer a;
    (void)state;
    lcache_on_link(c, 1);
    make_answer(&a, "one");
    Callservice__V1__Call c2, c3, *three[3] = {&a.call, &c2, &c3};
    callservice__v1__call__init(&c2);
    callservice__v1__call__init(&c3);
    c2.id = (char *)"two";
    c2.duration_seconds = 300; /* a varint of two bytes */
    c3.id = (char *)"three";
    c3.created_at = &from;
    a.resp.calls = three;
    a.resp.n_calls = 3;
    check_verbatim(c, &a.resp.base, U1);
    callservice__v1__call_statistics__init(&st);
    st.from = &from;
    st.to = &to;
    st.total = 200;
    st.answer_rate = 0.5;
    check_verbatim(c, &st.base, U1);
    callservice__v1__list_active_calls_response__init(&empty);
    check_verbatim(c, &empty.base, U2);
    lcache_free(c);
}

static void test_disabled(void **state)
{
    lcache_ticket t;
    answer a;
    (void)state;
    assert_null(lcache_new(0, 4096, 1000));
    make_answer(&a, "x");
    lcache_begin(NULL, LCACHE_ACTIVE, false, U1, false, NULL, 0, WALL, &t);
    assert_false(t.ok);
    lcache_put(NULL, &t, &a.resp.base, 1000);
    assert_null(lcache_get(NULL, &t, &callservice__v1__list_active_calls_response__descriptor, 0));
    lcache_bump_user(NULL, U1);
    lcache_bump_every(NULL);
    lcache_on_notify(NULL, U1);
    lcache_on_link(NULL, 1);
    lcache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_until_linked),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_generations),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_races),
        cmocka_unit_test(test_expiry_and_bounds),
        cmocka_unit_test(test_entries_bound),
        cmocka_unit_test(test_calls_valid),
        cmocka_unit_test(test_verbatim),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
