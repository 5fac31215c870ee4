/* Unit tests of src/auth/password.c: argon2id hash and verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "auth/password.h"

static void test_hash_verify(void **state)
{
    char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
    (void)state;
    assert_int_equal(password_hash("correct horse", h1, sizeof h1), CS_OK);
    assert_int_equal(password_hash("correct horse", h2, sizeof h2), CS_OK);
    assert_true(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* fresh salt each time */
    assert_string_not_equal(h1, h2);
    assert_true(password_verify(h1, "correct horse"));
    assert_true(password_verify(h2, "correct horse"));
    assert_false(password_verify(h1, "correct horsE"));
    assert_false(password_verify(h1, ""));
    assert_false(password_verify(h1, "correct horse "));
}

static void test_bad_hashes(void **state)
{
    (void)state;
    assert_false(password_verify(NULL, "x"));
    assert_false(password_verify("", "x"));
    assert_false(password_verify("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
    assert_false(password_verify("$argon2id$garbage", "x"));
    assert_false(password_verify("plaintext", "plaintext"));
}

static void test_small_buffer(void **state)
{
    char small[16];
    (void)state;
    assert_int_equal(password_hash("pw", small, sizeof small), CS_ERR_INTERNAL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_dummy_takes_time(void **state)
{
    /* The dummy verify must cost about what a real verify costs. */
    char h[PASSWORD_HASH_MAX];
    double t0, real, dummy;
    (void)state;
    password_verify_dummy("warm up");
    assert_int_equal(password_hash("pw123456", h, sizeof h), CS_OK);
    t0 = now_s();
    assert_false(password_verify(h, "wrong"));
    real = now_s() - t0;
    t0 = now_s();
    password_verify_dummy("wrong");
    dummy = now_s() - t0;
    print_message("verify %.1f ms, dummy %.1f ms\n", real * 1e3, dummy * 1e3);
    assert_true(dummy > real / 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_bad_hashes),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_dummy_takes_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
