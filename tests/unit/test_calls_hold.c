/*
 * Unit tests of the pure helpers of calls that HoldCall, ResumeCall and
 * SendDtmf rely on: the hold accounting (calls_hold_finish) and the digit
 * and destination checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "calls/internal.h"
#include "calls/repo.h"

static void call_init(Callservice__V1__Call *c, Callservice__V1__Party *caller,
                      Callservice__V1__Party *callee)
{
    callservice__v1__call__init(c);
    callservice__v1__party__init(caller);
    callservice__v1__party__init(callee);
    c->caller = caller;
    c->callee = callee;
}

static void test_hold_finish_adds_whole_seconds(void **state)
{
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    call_init(&c, &a, &b);
    c.hold_seconds = 5;
    b.on_hold = true;
    c.held_at = calls_timestamp_new(1000000000LL * 1000000 + 250000); /* x.25 s */
    assert_non_null(c.held_at);
    /* 2.9 s later: 2 whole seconds */
    calls_hold_finish(&c, 1000000000LL * 1000000 + 250000 + 2900000);
    assert_int_equal(c.hold_seconds, 7);
    assert_null(c.held_at);
    assert_false(a.on_hold);
    assert_false(b.on_hold);
}

static void test_hold_finish_without_hold(void **state)
{
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    call_init(&c, &a, &b);
    c.hold_seconds = 3;
    calls_hold_finish(&c, 42);
    assert_int_equal(c.hold_seconds, 3);
    assert_null(c.held_at);
}

static void test_hold_finish_clock_behind(void **state)
{
    /* a clock behind the hold's start (another instance's clock) adds nothing */
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    call_init(&c, &a, &b);
    a.on_hold = true;
    c.held_at = calls_timestamp_new(5000000);
    calls_hold_finish(&c, 1000000);
    assert_int_equal(c.hold_seconds, 0);
    assert_null(c.held_at);
    assert_false(a.on_hold);
}

static void test_hold_finish_saturates(void **state)
{
    Callservice__V1__Call c;
    Callservice__V1__Party a, b;
    (void)state;
    call_init(&c, &a, &b);
    c.hold_seconds = INT32_MAX - 1;
    c.held_at = calls_timestamp_new(0);
    calls_hold_finish(&c, 10 * 1000000LL);
    assert_int_equal(c.hold_seconds, INT32_MAX - 1); /* never wraps */
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
        cmocka_unit_test(test_hold_finish_adds_whole_seconds),
        cmocka_unit_test(test_hold_finish_without_hold),
        cmocka_unit_test(test_hold_finish_clock_behind),
        cmocka_unit_test(test_hold_finish_saturates),
        cmocka_unit_test(test_dtmf_valid),
        cmocka_unit_test(test_destination_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
