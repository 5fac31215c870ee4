/* Unit tests of src/users/validate.c: the field rules, case by case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "users/validate.h"

typedef struct vcase {
    validate_kind kind;
    const char *value;
    int ok;
} vcase;

static const vcase cases[] = {
    /* email */
    {VALIDATE_EMAIL, "a@example.com", 1},
    {VALIDATE_EMAIL, "first.last+tag@sub.example.co", 1},
    {VALIDATE_EMAIL, "A@EXAMPLE.COM", 1},
    {VALIDATE_EMAIL, "", 0},
    {VALIDATE_EMAIL, NULL, 0},
    {VALIDATE_EMAIL, "plain", 0},
    {VALIDATE_EMAIL, "@example.com", 0},
    {VALIDATE_EMAIL, "a@", 0},
    {VALIDATE_EMAIL, "a@b", 0},
    {VALIDATE_EMAIL, "a@@b.com", 0},
    {VALIDATE_EMAIL, "a@b@c.com", 0},
    {VALIDATE_EMAIL, "a b@c.com", 0},
    {VALIDATE_EMAIL, "a@b..com", 0},
    {VALIDATE_EMAIL, "a@.b.com", 0},
    {VALIDATE_EMAIL, "a@b.com.", 0},
    {VALIDATE_EMAIL, "a@-b.com", 0},
    {VALIDATE_EMAIL, "a@b-.com", 0},
    {VALIDATE_EMAIL, ".a@b.com", 0},
    {VALIDATE_EMAIL, "a.@b.com", 0},
    {VALIDATE_EMAIL, "a..b@c.com", 0},
    {VALIDATE_EMAIL, "a@b_c.com", 0},
    {VALIDATE_EMAIL, "a<b>@c.com", 0},
    {VALIDATE_EMAIL, "\xc3\xa9@b.com", 0},
    {VALIDATE_EMAIL, "a\n@b.com", 0},
    /* password */
    {VALIDATE_PASSWORD, "12345678", 1},
    {VALIDATE_PASSWORD, "correct horse battery staple", 1},
    {VALIDATE_PASSWORD, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 1},
    {VALIDATE_PASSWORD, "1234567", 0},
    {VALIDATE_PASSWORD, "", 0},
    {VALIDATE_PASSWORD, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0}, /* 8 bytes, 4 chars */
    {VALIDATE_PASSWORD, "1234567\xff", 0},
    /* name */
    {VALIDATE_NAME, "A", 1},
    {VALIDATE_NAME, "Jos\xc3\xa9 da Silva", 1},
    {VALIDATE_NAME, "", 0},
    {VALIDATE_NAME, "   ", 0},
    {VALIDATE_NAME, "tab\there", 0},
    {VALIDATE_NAME, "bad \xc0\xaf utf8", 0},
    {VALIDATE_NAME, "surrogate \xed\xa0\x80", 0},
    {VALIDATE_NAME, "c1 \xc2\x85", 0},
    /* uuid */
    {VALIDATE_UUID, "123e4567-e89b-12d3-a456-426614174000", 1},
    {VALIDATE_UUID, "123E4567-E89B-12D3-A456-426614174000", 1},
    {VALIDATE_UUID, "123e4567e89b12d3a456426614174000", 0},
    {VALIDATE_UUID, "123e4567-e89b-12d3-a456-42661417400g", 0},
    {VALIDATE_UUID, "123e4567-e89b-12d3-a456-4266141740000", 0},
    {VALIDATE_UUID, "", 0},
    {VALIDATE_UUID, "'; DROP TABLE users; --", 0},
    /* query */
    {VALIDATE_QUERY, "", 1},
    {VALIDATE_QUERY, "ali", 1},
    {VALIDATE_QUERY, "%_\\", 1},
    /* required */
    {VALIDATE_REQUIRED, "x", 1},
    {VALIDATE_REQUIRED, "", 0},
};

static void test_table(void **state)
{
    char msg[160];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        validate_field f = {"field", cases[i].kind, cases[i].value};
        cs_err e = validate_fields(&f, 1, msg, sizeof msg);
        if ((e == CS_OK) != cases[i].ok)
            fail_msg("case %zu (kind %d, '%s'): expected %s", i, (int)cases[i].kind,
                     cases[i].value ? cases[i].value : "(null)", cases[i].ok ? "ok" : "invalid");
        if (!cases[i].ok) {
            assert_int_equal(e, CS_ERR_INVALID);
            assert_true(strncmp(msg, "field: ", 7) == 0);
        }
    }
}

static void test_long_values(void **state)
{
    char buf[400], msg[160];
    validate_field f = {"name", VALIDATE_NAME, buf};
    (void)state;
    memset(buf, 'x', 100);
    buf[100] = '\0';
    assert_int_equal(validate_fields(&f, 1, msg, sizeof msg), CS_OK);
    buf[100] = 'x';
    buf[101] = '\0';
    assert_int_equal(validate_fields(&f, 1, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "name: must be 1 to 100 characters, without control characters");
    /* 100 two-byte characters are 100 characters */
    for (int i = 0; i < 100; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 2);
    buf[200] = '\0';
    assert_int_equal(validate_fields(&f, 1, msg, sizeof msg), CS_OK);
    /* an email longer than 254 */
    memset(buf, 'a', 300);
    memcpy(buf + 290, "@b.com", 7);
    f = (validate_field){"email", VALIDATE_EMAIL, buf};
    assert_int_equal(validate_fields(&f, 1, msg, sizeof msg), CS_ERR_INVALID);
}

static void test_first_failure_named(void **state)
{
    validate_field f[] = {{"name", VALIDATE_NAME, "Ann"},
                          {"email", VALIDATE_EMAIL, "nope"},
                          {"password", VALIDATE_PASSWORD, "short"}};
    char msg[160];
    (void)state;
    assert_int_equal(validate_fields(f, 3, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "email: must be a valid email address");
    f[1].value = "ann@example.com";
    assert_int_equal(validate_fields(f, 3, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "password: must be 8 to 256 characters");
    f[2].value = "";
    assert_int_equal(validate_fields(f, 3, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "password: is required");
    f[2].value = "long enough";
    assert_int_equal(validate_fields(f, 3, msg, sizeof msg), CS_OK);
}

static void test_enums(void **state)
{
    char msg[160];
    (void)state;
    for (int r = 1; r <= 3; r++)
        assert_int_equal(validate_role("role", r, 0, msg, sizeof msg), CS_OK);
    assert_int_equal(validate_role("role", 0, 1, msg, sizeof msg), CS_OK);
    assert_int_equal(validate_role("role", 0, 0, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "role: must be one of admin, supervisor, agent");
    assert_int_equal(validate_role("role", 4, 1, msg, sizeof msg), CS_ERR_INVALID);
    assert_int_equal(validate_role("role", -1, 1, msg, sizeof msg), CS_ERR_INVALID);
    for (int s = 1; s <= 4; s++)
        assert_int_equal(validate_presence("status", s, msg, sizeof msg), CS_OK);
    assert_int_equal(validate_presence("status", 0, msg, sizeof msg), CS_ERR_INVALID);
    assert_string_equal(msg, "status: must be one of available, busy, away, offline");
    assert_int_equal(validate_presence("status", 5, msg, sizeof msg), CS_ERR_INVALID);
}

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(validate_utf8_len(""), 0);
    assert_int_equal(validate_utf8_len("abc"), 3);
    assert_int_equal(validate_utf8_len("\xe2\x82\xac"), 1);      /* euro sign */
    assert_int_equal(validate_utf8_len("\xf0\x9f\x98\x80"), 1);  /* emoji */
    assert_int_equal(validate_utf8_len("\xe2\x82"), -1);         /* truncated */
    assert_int_equal(validate_utf8_len("\xf4\x90\x80\x80"), -1); /* > U+10FFFF */
    assert_int_equal(validate_utf8_len("\xe0\x80\xaf"), -1);     /* overlong */
    assert_int_equal(validate_utf8_len("\x7f"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_first_failure_named),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_utf8_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
