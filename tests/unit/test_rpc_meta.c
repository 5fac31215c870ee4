/* Unit tests for src/rpc/meta.c: bearer parsing and request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/meta.h"

static void bearer_ok(void **state)
{
    size_t n = 99;
    const char *t = rpc_meta_bearer("Bearer abc.def.ghi", &n);
    assert_non_null(t);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "abc.def.ghi", 11);

    t = rpc_meta_bearer("bearer   tok  ", &n); /* scheme case-insensitive, spaces cut */
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "tok", 3);

    t = rpc_meta_bearer("BEARER x", NULL);
    assert_non_null(t);
    assert_int_equal(t[0], 'x');
}

static void bearer_rejected(void **state)
{
    static const char *const bad[] = {
        "", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNz", "Bearerabc", "Token abc",
    };
    size_t n = 99;
    assert_null(rpc_meta_bearer(NULL, &n));
    assert_int_equal(n, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 99;
        assert_null(rpc_meta_bearer(bad[i], &n));
        assert_int_equal(n, 0);
    }
}

static void request_id_validation(void **state)
{
    char long_id[80];
    memset(long_id, 'a', sizeof long_id);
    assert_true(rpc_meta_request_id_ok("abc-123_X.y:z", 13));
    assert_true(rpc_meta_request_id_ok(long_id, RPC_META_REQUEST_ID_MAX));
    assert_false(rpc_meta_request_id_ok(long_id, RPC_META_REQUEST_ID_MAX + 1));
    assert_false(rpc_meta_request_id_ok("", 0));
    assert_false(rpc_meta_request_id_ok(NULL, 3));
    assert_false(rpc_meta_request_id_ok("a b", 3));
    assert_false(rpc_meta_request_id_ok("a\"b", 3));
    assert_false(rpc_meta_request_id_ok("a\nb", 3));
    assert_false(rpc_meta_request_id_ok("a\0b", 3)); /* embedded NUL */
    assert_false(rpc_meta_request_id_ok("\xc3\xa9", 2));
}

static void request_id_generation(void **state)
{
    uint64_t st = 42, st2 = 42;
    char a[17], b[17], c[17];

    rpc_meta_request_id_gen(&st, a);
    rpc_meta_request_id_gen(&st, b);
    rpc_meta_request_id_gen(&st2, c);
    assert_int_equal(strlen(a), 16);
    for (int i = 0; i < 16; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_not_equal(a, b); /* the state advances */
    assert_string_equal(a, c);     /* deterministic for a given state */
    assert_true(rpc_meta_request_id_ok(a, 16));
    assert_int_not_equal(rpc_meta_seed(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bearer_ok),
        cmocka_unit_test(bearer_rejected),
        cmocka_unit_test(request_id_validation),
        cmocka_unit_test(request_id_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
