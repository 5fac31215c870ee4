/* Unit tests of src/auth/jwt.c: HS256 tokens and every forged shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "auth/jwt.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof KEY - 1)
#define NOW    1800000000

/* A token made directly with libjwt: any alg, any key, optional nbf. */
static char *make_token(jwt_alg_t alg, const unsigned char *key, size_t keylen, long exp, long nbf)
{
    jwt_t *j = NULL;
    char *t;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grant(j, "sub", "11111111-2222-3333-4444-555555555555"), 0);
    assert_int_equal(jwt_add_grant(j, "role", "agent"), 0);
    assert_int_equal(jwt_add_grant(j, "email", "a@example.com"), 0);
    assert_int_equal(jwt_add_grant_int(j, "iat", NOW - 10), 0);
    assert_int_equal(jwt_add_grant_int(j, "exp", exp), 0);
    if (nbf)
        assert_int_equal(jwt_add_grant_int(j, "nbf", nbf), 0);
    assert_int_equal(jwt_set_alg(j, alg, key, (int)keylen), 0);
    t = jwt_encode_str(j);
    assert_non_null(t);
    jwt_free(j);
    return t;
}

static void expect_reject(const char *token, const char *why_expected)
{
    authjwt_claims c;
    const char *why = NULL;
    assert_int_equal(authjwt_verify(KEY, KEYLEN, token, NOW, &c, &why), CS_ERR_UNAUTHENTICATED);
    assert_non_null(why);
    if (why_expected)
        assert_string_equal(why, why_expected);
    assert_string_equal(c.sub, "");
}

static void test_sign_verify(void **state)
{
    authjwt_claims in = {"u-1", "admin", "admin@example.com", NOW, NOW + 3600}, out;
    char *tok = NULL;
    const char *why = "x";
    (void)state;
    assert_int_equal(authjwt_sign(KEY, KEYLEN, &in, &tok), CS_OK);
    assert_int_equal(authjwt_verify(KEY, KEYLEN, tok, NOW + 5, &out, &why), CS_OK);
    assert_null(why);
    assert_string_equal(out.sub, "u-1");
    assert_string_equal(out.role, "admin");
    assert_string_equal(out.email, "admin@example.com");
    assert_int_equal(out.exp, NOW + 3600);
    assert_int_equal(out.iat, NOW);
    /* exactly at exp it is expired */
    assert_int_equal(authjwt_verify(KEY, KEYLEN, tok, NOW + 3600, &out, &why),
                     CS_ERR_UNAUTHENTICATED);
    assert_string_equal(why, "token expired");
    free(tok);
}

static void test_libjwt_hs256_accepted(void **state)
{
    authjwt_claims c;
    const char *why;
    char *t = make_token(JWT_ALG_HS256, KEY, KEYLEN, NOW + 60, NOW - 1);
    (void)state;
    assert_int_equal(authjwt_verify(KEY, KEYLEN, t, NOW, &c, &why), CS_OK);
    assert_string_equal(c.role, "agent");
    free(t);
}

static void test_expired(void **state)
{
    char *t = make_token(JWT_ALG_HS256, KEY, KEYLEN, NOW - 1, 0);
    (void)state;
    expect_reject(t, "token expired");
    free(t);
}

static void test_nbf_future(void **state)
{
    char *t = make_token(JWT_ALG_HS256, KEY, KEYLEN, NOW + 600, NOW + 60);
    (void)state;
    expect_reject(t, "token not valid yet");
    free(t);
}

static void test_other_algs(void **state)
{
    /* Same key, other HMAC algorithms: valid signatures, wrong alg. */
    char *t384 = make_token(JWT_ALG_HS384, KEY, KEYLEN, NOW + 60, 0);
    char *t512 = make_token(JWT_ALG_HS512, KEY, KEYLEN, NOW + 60, 0);
    (void)state;
    expect_reject(t384, "unsupported token algorithm");
    expect_reject(t512, "unsupported token algorithm");
    free(t384);
    free(t512);
}

static void test_alg_none(void **state)
{
    /* libjwt makes an unsigned token for alg none; it must not pass. */
    char *t = make_token(JWT_ALG_NONE, NULL, 0, NOW + 60, 0);
    char buf[2048];
    (void)state;
    expect_reject(t, NULL);
    /* Same with a junk signature appended, and with "None" spelled oddly. */
    snprintf(buf, sizeof buf, "%sAAAA", t);
    expect_reject(buf, "unsupported token algorithm");
    /* {"alg":"None","typ":"JWT"} */
    snprintf(buf, sizeof buf, "eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0%s", strchr(t, '.'));
    expect_reject(buf, NULL);
    free(t);
}

static void test_rs256_header(void **state)
{
    /* {"alg":"RS256","typ":"JWT"} . valid payload . junk signature */
    char *t = make_token(JWT_ALG_HS256, KEY, KEYLEN, NOW + 60, 0);
    char buf[2048];
    (void)state;
    snprintf(buf, sizeof buf, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9%s", strchr(t, '.'));
    expect_reject(buf, "unsupported token algorithm");
    free(t);
}

static void test_other_key(void **state)
{
    static const unsigned char other[] = "another-key-another-key-another-key!!";
    char *t = make_token(JWT_ALG_HS256, other, sizeof other - 1, NOW + 60, 0);
    (void)state;
    expect_reject(t, "invalid token signature");
    free(t);
}

static void test_tampered_payload(void **state)
{
    char *t = make_token(JWT_ALG_HS256, KEY, KEYLEN, NOW + 60, 0);
    char *dot = strchr(t, '.');
    (void)state;
    /* flip one payload character */
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    expect_reject(t, NULL);
    free(t);
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        ".e30.abc",
        "!!!.###.$$$",
        "eyJhbGciOiJIUzI1NiJ9.e30.abc", /* valid header, wrong sig */
        "bm90IGpzb24.e30.abc",          /* header not JSON */
        "WyJIUzI1NiJd.e30.abc",         /* header is an array */
        "eyJhbGciOjI1Nn0.e30.abc",      /* alg not a string */
    };
    char *huge = malloc(AUTHJWT_MAX_LEN + 100);
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_reject(bad[i], NULL);
    memset(huge, 'A', AUTHJWT_MAX_LEN + 99);
    huge[10] = '.';
    huge[20] = '.';
    huge[AUTHJWT_MAX_LEN + 99] = '\0';
    expect_reject(huge, "malformed token");
    expect_reject(NULL, "malformed token");
    free(huge);
}

static void test_missing_claims(void **state)
{
    jwt_t *j = NULL;
    char *t;
    (void)state;
    /* no exp */
    assert_int_equal(jwt_new(&j), 0);
    jwt_add_grant(j, "sub", "u");
    jwt_add_grant(j, "role", "agent");
    jwt_add_grant(j, "email", "a@b.c");
    jwt_set_alg(j, JWT_ALG_HS256, KEY, (int)KEYLEN);
    t = jwt_encode_str(j);
    jwt_free(j);
    expect_reject(t, "malformed token claims");
    free(t);
}

static void test_empty_key_refused(void **state)
{
    authjwt_claims c = {"u", "agent", "a@b.c", NOW, NOW + 60}, out;
    char *tok = NULL;
    const char *why;
    char *none = make_token(JWT_ALG_NONE, NULL, 0, NOW + 60, 0);
    (void)state;
    assert_int_equal(authjwt_sign(NULL, 0, &c, &tok), CS_ERR_INVALID);
    assert_null(tok);
    assert_int_equal(authjwt_sign(KEY, 0, &c, &tok), CS_ERR_INVALID);
    assert_int_not_equal(authjwt_verify(NULL, 0, none, NOW, &out, &why), CS_OK);
    assert_int_not_equal(authjwt_verify(KEY, 0, none, NOW, &out, &why), CS_OK);
    free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),      cmocka_unit_test(test_libjwt_hs256_accepted),
        cmocka_unit_test(test_expired),          cmocka_unit_test(test_nbf_future),
        cmocka_unit_test(test_other_algs),       cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_rs256_header),     cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_tampered_payload), cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_missing_claims),   cmocka_unit_test(test_empty_key_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
