/*
 * Unit tests of the pure helpers of calls that HoldCall, ResumeCall and
 * SendDtmf rely on: the hold accounting (calls_hold_finish: µs summed,
 * whole seconds shown) and the digit and destination checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "calls/internal.h"
#include "calls/repo.h"

/* r with a call of two parties (stack storage; nothing to free unless a
 * test sets held_at). */
static void rec_init(call_rec *r, Callservice__V1__Call *c, Callservice__V1__Party *caller,
                     Callservice__V1__Party *callee)
{
    memset(r, 0, sizeof *r);
    callservice__v1__call__init(c);
    callservice__v1__party__init(caller);
    callservice__v1__party__init(callee);
    c->caller = caller;
    c->callee = callee;
    r->call = c;
}

#define S(x) ((int64_t)(x)*1000000)

static void test_hold_finish_adds_the_time(void **state)
{
    call_rec r;
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    rec_init(&r, &c, &a, &b);
    r.hold_us = S(5) + 800000; /* 5.8 s so far */
    b.on_hold = true;
    c.held_at = calls_timestamp_new(S(1000000000) + 250000);
    assert_non_null(c.held_at);
    /* 2.9 s later: 8.7 s in all, 8 whole seconds (not 5 + 2) */
    calls_hold_finish(&r, S(1000000000) + 250000 + 2900000);
    assert_int_equal(r.hold_us, S(8) + 700000);
    assert_int_equal(c.hold_seconds, 8);
    assert_null(c.held_at);
    assert_false(a.on_hold);
    assert_false(b.on_hold);
}

static void test_hold_finish_short_holds_count(void **state)
{
    call_rec r;
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    rec_init(&r, &c, &a, &b);
    for (int i = 0; i < 3; i++) { /* three holds of 0.4 s */
        c.held_at = calls_timestamp_new(S(100 + i));
        calls_hold_finish(&r, S(100 + i) + 400000);
    }
    assert_int_equal(r.hold_us, 1200000);
    assert_int_equal(c.hold_seconds, 1);
}

static void test_hold_finish_without_hold(void **state)
{
    call_rec r;
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    rec_init(&r, &c, &a, &b);
    r.hold_us = S(3);
    calls_hold_finish(&r, 42);
    assert_int_equal(r.hold_us, S(3));
    assert_int_equal(c.hold_seconds, 3);
    assert_null(c.held_at);
}

static void test_hold_finish_clock_behind(void **state)
{
    /* a clock behind the hold's start (another instance's clock) adds nothing */
    call_rec r;
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    rec_init(&r, &c, &a, &b);
    a.on_hold = true;
    c.held_at = calls_timestamp_new(S(5));
    calls_hold_finish(&r, S(1));
    assert_int_equal(r.hold_us, 0);
    assert_int_equal(c.hold_seconds, 0);
    assert_null(c.held_at);
    assert_false(a.on_hold);
}

static void test_hold_finish_saturates(void **state)
{
    call_rec r;
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    rec_init(&r, &c, &a, &b);
    r.hold_us = INT64_MAX - 5;
    c.held_at = calls_timestamp_new(0);
    calls_hold_finish(&r, S(10));
    assert_true(r.hold_us == INT64_MAX); /* never wraps */
    assert_int_equal(c.hold_seconds, INT32_MAX);
    assert_null(c.held_at);
}

static void test_dtmf_valid(void **state)
{
    static const struct {
        const char *digits;
        bool ok;
    } cases[] = {
        {"1", true},
        {"0123456789", true},
        {"*#", true},
        {"ABCD", true},
        {"12#,", false},
        {"", false},
        {"a", false},
        {"E", false},
        {"1 2", false},
        {"+1", false},
        {"w", false},
        {"\xc3\xa9", false},
        {"11111111111111111111111111111111", true},   /* 32 */
        {"111111111111111111111111111111111", false}, /* 33 */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(calls_dtmf_valid(cases[i].digits), cases[i].ok);
    assert_false(calls_dtmf_valid(NULL));
}

static void test_destination_valid(void **state)
{
    (void)state;
    assert_true(calls_destination_valid("3001"));
    assert_true(calls_destination_valid("+15550100"));
    assert_true(calls_destination_valid("*72#"));
    assert_false(calls_destination_valid("+"));
    assert_false(calls_destination_valid("1+2"));
    assert_false(calls_destination_valid("A"));
    assert_false(calls_destination_valid(""));
    assert_false(calls_destination_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_finish_adds_the_time),
        cmocka_unit_test(test_hold_finish_short_holds_count),
        cmocka_unit_test(test_hold_finish_without_hold),
        cmocka_unit_test(test_hold_finish_clock_behind),
        cmocka_unit_test(test_hold_finish_saturates),
        cmocka_unit_test(test_dtmf_valid),
        cmocka_unit_test(test_destination_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
