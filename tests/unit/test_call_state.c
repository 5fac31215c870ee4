/*
 * Unit tests of src/calls/state: every status x every input of the
 * transition function against an expectation table written out by hand
 * (independently of the implementation's table), plus the ARI mapping and
 * name tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "calls/state.h"

#define ST(x) CALL_ST(x)

/* What each (status, input) must give: 'R' refused, 'S' same, or the new status. */
struct expect {
    call_status from;
    call_input in;
    char kind; /* 'R', 'S', 'C' */
    call_status to;
};

static const struct expect expectations[] = {
    /* unspecified is no status at all: everything refused */
    {ST(UNSPECIFIED), CALL_IN_RING, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_ANSWER, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_HANGUP, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_BUSY, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_FAIL, 'R', 0},
    {ST(UNSPECIFIED), CALL_IN_TRANSFER, 'R', 0},

    {ST(INITIATED), CALL_IN_RING, 'C', ST(RINGING)},
    {ST(INITIATED), CALL_IN_ANSWER, 'C', ST(IN_PROGRESS)},
    {ST(INITIATED), CALL_IN_HANGUP, 'C', ST(CANCELED)},
    {ST(INITIATED), CALL_IN_BUSY, 'C', ST(BUSY)},
    {ST(INITIATED), CALL_IN_NO_ANSWER, 'C', ST(NO_ANSWER)},
    {ST(INITIATED), CALL_IN_FAIL, 'C', ST(FAILED)},
    {ST(INITIATED), CALL_IN_TRANSFER, 'R', 0},

    {ST(RINGING), CALL_IN_RING, 'S', ST(RINGING)},
    {ST(RINGING), CALL_IN_ANSWER, 'C', ST(IN_PROGRESS)},
    {ST(RINGING), CALL_IN_HANGUP, 'C', ST(CANCELED)},
    {ST(RINGING), CALL_IN_BUSY, 'C', ST(BUSY)},
    {ST(RINGING), CALL_IN_NO_ANSWER, 'C', ST(NO_ANSWER)},
    {ST(RINGING), CALL_IN_FAIL, 'C', ST(FAILED)},
    {ST(RINGING), CALL_IN_TRANSFER, 'R', 0},

    {ST(IN_PROGRESS), CALL_IN_RING, 'R', 0},
    {ST(IN_PROGRESS), CALL_IN_ANSWER, 'R', 0},
    {ST(IN_PROGRESS), CALL_IN_HANGUP, 'C', ST(COMPLETED)},
    {ST(IN_PROGRESS), CALL_IN_BUSY, 'R', 0},
    {ST(IN_PROGRESS), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(IN_PROGRESS), CALL_IN_FAIL, 'C', ST(FAILED)},
    {ST(IN_PROGRESS), CALL_IN_TRANSFER, 'S', ST(IN_PROGRESS)},

    /* terminal statuses are final */
    {ST(COMPLETED), CALL_IN_RING, 'R', 0},
    {ST(COMPLETED), CALL_IN_ANSWER, 'R', 0},
    {ST(COMPLETED), CALL_IN_HANGUP, 'R', 0},
    {ST(COMPLETED), CALL_IN_BUSY, 'R', 0},
    {ST(COMPLETED), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(COMPLETED), CALL_IN_FAIL, 'R', 0},
    {ST(COMPLETED), CALL_IN_TRANSFER, 'R', 0},
    {ST(BUSY), CALL_IN_RING, 'R', 0},
    {ST(BUSY), CALL_IN_ANSWER, 'R', 0},
    {ST(BUSY), CALL_IN_HANGUP, 'R', 0},
    {ST(BUSY), CALL_IN_BUSY, 'R', 0},
    {ST(BUSY), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(BUSY), CALL_IN_FAIL, 'R', 0},
    {ST(BUSY), CALL_IN_TRANSFER, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_RING, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_ANSWER, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_HANGUP, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_BUSY, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_FAIL, 'R', 0},
    {ST(NO_ANSWER), CALL_IN_TRANSFER, 'R', 0},
    {ST(FAILED), CALL_IN_RING, 'R', 0},
    {ST(FAILED), CALL_IN_ANSWER, 'R', 0},
    {ST(FAILED), CALL_IN_HANGUP, 'R', 0},
    {ST(FAILED), CALL_IN_BUSY, 'R', 0},
    {ST(FAILED), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(FAILED), CALL_IN_FAIL, 'R', 0},
    {ST(FAILED), CALL_IN_TRANSFER, 'R', 0},
    {ST(CANCELED), CALL_IN_RING, 'R', 0},
    {ST(CANCELED), CALL_IN_ANSWER, 'R', 0},
    {ST(CANCELED), CALL_IN_HANGUP, 'R', 0},
    {ST(CANCELED), CALL_IN_BUSY, 'R', 0},
    {ST(CANCELED), CALL_IN_NO_ANSWER, 'R', 0},
    {ST(CANCELED), CALL_IN_FAIL, 'R', 0},
    {ST(CANCELED), CALL_IN_TRANSFER, 'R', 0},
};

#define N_EXPECT (sizeof expectations / sizeof *expectations)

static void test_every_status_and_input(void **state)
{
    (void)state;
    /* the table above covers every pair exactly once */
    assert_int_equal(N_EXPECT, 9 * CALL_IN__COUNT);
    for (int s = 0; s < 9; s++)
        for (int in = 0; in < CALL_IN__COUNT; in++) {
            int found = 0;
            for (size_t i = 0; i < N_EXPECT; i++)
                if ((int)expectations[i].from == s && (int)expectations[i].in == in)
                    found++;
            assert_int_equal(found, 1);
        }

    for (size_t i = 0; i < N_EXPECT; i++) {
        const struct expect *e = &expectations[i];
        call_status to = (call_status)77;
        call_step step = call_state_next(e->from, e->in, &to);
        switch (e->kind) {
        case 'R':
            assert_int_equal(step, CALL_STEP_REFUSED);
            assert_int_equal(to, 77); /* untouched */
            break;
        case 'S':
            assert_int_equal(step, CALL_STEP_SAME);
            assert_int_equal(to, e->from);
            break;
        default:
            assert_int_equal(step, CALL_STEP_CHANGED);
            assert_int_equal(to, e->to);
            assert_int_not_equal(to, e->from);
            break;
        }
    }
}

static void test_out_of_range_refused(void **state)
{
    call_status to = ST(INITIATED);
    (void)state;
    assert_int_equal(call_state_next((call_status)9, CALL_IN_RING, &to), CALL_STEP_REFUSED);
    assert_int_equal(call_state_next((call_status)-1, CALL_IN_RING, &to), CALL_STEP_REFUSED);
    assert_int_equal(call_state_next(ST(RINGING), CALL_IN__COUNT, &to), CALL_STEP_REFUSED);
    assert_int_equal(call_state_next(ST(RINGING), (call_input)-1, &to), CALL_STEP_REFUSED);
    assert_int_equal(to, ST(INITIATED));
}

/* Every status reachable from initiated; nothing leads back out of a terminal one. */
static void test_reachability_and_monotonic(void **state)
{
    int reach[9] = {0};
    (void)state;
    reach[ST(INITIATED)] = 1;
    for (int round = 0; round < 9; round++)
        for (int s = 0; s < 9; s++)
            for (int in = 0; reach[s] && in < CALL_IN__COUNT; in++) {
                call_status to;
                if (call_state_next((call_status)s, (call_input)in, &to) != CALL_STEP_REFUSED)
                    reach[to] = 1;
            }
    for (int s = 1; s < 9; s++)
        assert_true(reach[s]);
    assert_false(reach[0]);
    /* nothing goes back to initiated or ringing from in_progress */
    for (int in = 0; in < CALL_IN__COUNT; in++) {
        call_status to = ST(UNSPECIFIED);
        if (call_state_next(ST(IN_PROGRESS), (call_input)in, &to) != CALL_STEP_REFUSED)
            assert_true(to == ST(IN_PROGRESS) || call_status_terminal(to));
    }
}

static void test_terminal_and_valid(void **state)
{
    static const int terminal[9] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    (void)state;
    for (int s = 0; s < 9; s++) {
        assert_int_equal(call_status_terminal((call_status)s), terminal[s]);
        assert_int_equal(call_status_valid((call_status)s), s != 0);
    }
    assert_false(call_status_valid((call_status)9));
    assert_false(call_status_valid((call_status)-3));
    assert_false(call_status_terminal((call_status)42));
}

static void test_default_causes(void **state)
{
    (void)state;
    assert_string_equal(call_input_default_cause(ST(RINGING), CALL_IN_HANGUP), "canceled");
    assert_string_equal(call_input_default_cause(ST(INITIATED), CALL_IN_HANGUP), "canceled");
    assert_string_equal(call_input_default_cause(ST(IN_PROGRESS), CALL_IN_HANGUP), "normal");
    assert_string_equal(call_input_default_cause(ST(RINGING), CALL_IN_BUSY), "busy");
    assert_string_equal(call_input_default_cause(ST(RINGING), CALL_IN_NO_ANSWER), "no_answer");
    assert_string_equal(call_input_default_cause(ST(IN_PROGRESS), CALL_IN_FAIL), "failed");
    assert_string_equal(call_input_default_cause(ST(RINGING), CALL_IN_RING), "");
    assert_string_equal(call_input_default_cause(ST(RINGING), CALL_IN__COUNT), "");
}

static void test_dialstatus(void **state)
{
    static const struct {
        const char *s;
        int in;
    } rows[] = {
        {"ANSWER", CALL_IN_ANSWER},
        {"BUSY", CALL_IN_BUSY},
        {"NOANSWER", CALL_IN_NO_ANSWER},
        {"CHANUNAVAIL", CALL_IN_FAIL},
        {"CONGESTION", CALL_IN_FAIL},
        {"RINGING", CALL_IN_RING},
        {"PROGRESS", CALL_IN_RING},
        {"CANCEL", CALL_IN_HANGUP},
        {"", -1},
        {"answer", -1},
        {"ANSWERED", -1},
        {"BUSY ", -1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        assert_int_equal(call_input_from_dialstatus(rows[i].s), rows[i].in);
    assert_int_equal(call_input_from_dialstatus(NULL), -1);
}

static void test_q850(void **state)
{
    (void)state;
    /* the causes the traces show: 16 normal, 17 busy, 19 no answer, 0 unknown, 32 ARI hangup */
    assert_int_equal(call_input_from_q850(16), CALL_IN_HANGUP);
    assert_string_equal(call_q850_name(16), "normal");
    assert_int_equal(call_input_from_q850(17), CALL_IN_BUSY);
    assert_string_equal(call_q850_name(17), "busy");
    assert_int_equal(call_input_from_q850(19), CALL_IN_NO_ANSWER);
    assert_string_equal(call_q850_name(19), "no_answer");
    assert_int_equal(call_input_from_q850(0), CALL_IN_FAIL);
    assert_string_equal(call_q850_name(0), "unknown");
    assert_int_equal(call_input_from_q850(32), CALL_IN_HANGUP);
    assert_int_equal(call_input_from_q850(34), CALL_IN_FAIL);
    assert_string_equal(call_q850_name(34), "congestion");
    assert_int_equal(call_input_from_q850(21), CALL_IN_BUSY);
    /* anything unknown is a failure, never a crash */
    assert_int_equal(call_input_from_q850(-5), CALL_IN_FAIL);
    assert_int_equal(call_input_from_q850(99999), CALL_IN_FAIL);
    assert_string_equal(call_q850_name(99999), "failed");
}

static void test_names_roundtrip(void **state)
{
    (void)state;
    for (int s = 1; s < 9; s++) {
        const char *n = call_status_name((call_status)s);
        assert_non_null(n);
        assert_int_equal(call_status_parse(n), s);
    }
    assert_string_equal(call_status_name(ST(IN_PROGRESS)), "in_progress");
    assert_null(call_status_name(ST(UNSPECIFIED)));
    assert_null(call_status_name((call_status)9));
    assert_int_equal(call_status_parse("IN_PROGRESS"), 0);
    assert_int_equal(call_status_parse(NULL), 0);
    assert_int_equal(call_status_parse(""), 0);
    for (int d = 1; d < 4; d++) {
        const char *n = call_direction_name((call_direction)d);
        assert_non_null(n);
        assert_int_equal(call_direction_parse(n), d);
    }
    assert_string_equal(call_direction_name(CALL_DIR(INTERNAL)), "internal");
    assert_null(call_direction_name((call_direction)0));
    assert_null(call_direction_name((call_direction)4));
    assert_int_equal(call_direction_parse("sideways"), 0);
    for (int in = 0; in < CALL_IN__COUNT; in++)
        assert_string_not_equal(call_input_name((call_input)in), "?");
    assert_string_equal(call_input_name(CALL_IN__COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_and_input),
        cmocka_unit_test(test_out_of_range_refused),
        cmocka_unit_test(test_reachability_and_monotonic),
        cmocka_unit_test(test_terminal_and_valid),
        cmocka_unit_test(test_default_causes),
        cmocka_unit_test(test_dialstatus),
        cmocka_unit_test(test_q850),
        cmocka_unit_test(test_names_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
