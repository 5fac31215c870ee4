/* Unit tests of src/auth/auth.c: bearer parsing, roles, issue/identify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
static const auth_key K = {KEY, sizeof KEY - 1, 3600};
#define NOW 1800000000

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("admin"), AUTH_ROLE_ADMIN);
    assert_int_equal(auth_role_parse("supervisor"), AUTH_ROLE_SUPERVISOR);
    assert_int_equal(auth_role_parse("agent"), AUTH_ROLE_AGENT);
    assert_int_equal(auth_role_parse("Admin"), AUTH_ROLE_NONE);
    assert_int_equal(auth_role_parse(""), AUTH_ROLE_NONE);
    assert_int_equal(auth_role_parse(NULL), AUTH_ROLE_NONE);
    assert_string_equal(auth_role_name(AUTH_ROLE_SUPERVISOR), "supervisor");
    assert_null(auth_role_name(AUTH_ROLE_NONE));
    assert_null(auth_role_name((auth_role)42));
}

static void test_issue_identify(void **state)
{
    char *tok = NULL, hdr[2048], msg[128];
    int64_t exp = 0;
    auth_identity id;
    (void)state;
    assert_int_equal(auth_issue(&K, "u-42", AUTH_ROLE_SUPERVISOR, "s@example.com", NOW, &tok, &exp),
                     CS_OK);
    assert_int_equal(exp, NOW + 3600);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(auth_identify(&K, hdr, NOW + 1, &id, msg, sizeof msg), CS_OK);
    assert_string_equal(id.user_id, "u-42");
    assert_int_equal(id.role, AUTH_ROLE_SUPERVISOR);
    assert_string_equal(id.email, "s@example.com");
    assert_true(auth_sees_all(&id));
    /* lower-case scheme is accepted too */
    snprintf(hdr, sizeof hdr, "bearer %s", tok);
    assert_int_equal(auth_identify(&K, hdr, NOW + 1, &id, msg, sizeof msg), CS_OK);
    /* expired */
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(auth_identify(&K, hdr, NOW + 3600, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_string_equal(msg, "token expired");
    free(tok);
}

/* A token verified once is answered from the per-thread cache afterwards:
 * the answers must stay those of a full verification. */
static void test_identify_cache(void **state)
{
    static const unsigned char OTHER[] = "fedcba9876543210fedcba9876543210";
    const auth_key k2 = {OTHER, sizeof OTHER - 1, 3600};
    char *tok = NULL, hdr[2048], msg[128];
    int64_t exp = 0;
    auth_identity id;
    size_t n;
    (void)state;
    assert_int_equal(auth_issue(&K, "u-7", AUTH_ROLE_AGENT, "a@example.com", NOW, &tok, &exp),
                     CS_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    for (int i = 0; i < 3; i++) { /* a miss, then hits */
        assert_int_equal(auth_identify(&K, hdr, NOW + 10 + i, &id, msg, sizeof msg), CS_OK);
        assert_string_equal(id.user_id, "u-7");
        assert_int_equal(id.role, AUTH_ROLE_AGENT);
        assert_string_equal(id.email, "a@example.com");
    }
    /* earlier than the verification: verified again, still valid */
    assert_int_equal(auth_identify(&K, hdr, NOW, &id, msg, sizeof msg), CS_OK);
    /* expiry still applies */
    assert_int_equal(auth_identify(&K, hdr, exp, &id, msg, sizeof msg), CS_ERR_UNAUTHENTICATED);
    assert_string_equal(msg, "token expired");
    assert_string_equal(id.user_id, "");
    /* another key does not accept it */
    assert_int_equal(auth_identify(&k2, hdr, NOW + 20, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    /* neither does a changed signature, nor a prefix of the token */
    n = strlen(hdr);
    hdr[n - 2] = hdr[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(auth_identify(&K, hdr, NOW + 20, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    hdr[n - 2] = '\0';
    assert_int_equal(auth_identify(&K, hdr, NOW + 20, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    free(tok);
}

static void test_bad_headers(void **state)
{
    static const char *const bad[] = {
        NULL, "", "Bearer", "Bearer ", "Basic YWxhZGRpbjpvcGVu", "Token abc", "Bearer abc.def.ghi"};
    char msg[128];
    auth_identity id;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg[0] = '\0';
        assert_int_equal(auth_identify(&K, bad[i], NOW, &id, msg, sizeof msg),
                         CS_ERR_UNAUTHENTICATED);
        assert_true(strlen(msg) > 0);
    }
    assert_int_equal(auth_identify(&K, NULL, NOW, &id, msg, sizeof msg), CS_ERR_UNAUTHENTICATED);
    assert_string_equal(msg, "missing bearer token (authorization metadata)");
}

static void test_require(void **state)
{
    auth_identity agent = {"a", AUTH_ROLE_AGENT, "a@x.y", 0};
    auth_identity admin = {"b", AUTH_ROLE_ADMIN, "b@x.y", 0};
    char msg[128];
    (void)state;
    assert_int_equal(auth_require(&admin, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN), msg, sizeof msg), CS_OK);
    assert_int_equal(auth_require(&agent, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN), msg, sizeof msg),
                     CS_ERR_PERMISSION);
    assert_string_equal(msg, "permission denied: requires role admin");
    assert_int_equal(
        auth_require(&agent, AUTH_ROLE_BIT(AUTH_ROLE_ADMIN) | AUTH_ROLE_BIT(AUTH_ROLE_SUPERVISOR),
                     msg, sizeof msg),
        CS_ERR_PERMISSION);
    assert_string_equal(msg, "permission denied: requires role admin or supervisor");
    assert_false(auth_sees_all(&agent));
    assert_true(auth_sees_all(&admin));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),          cmocka_unit_test(test_issue_identify),
        cmocka_unit_test(test_identify_cache), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_require),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
