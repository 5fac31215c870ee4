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

/* A signed token whose sub is longer than a user id (39 characters): refused,
 * and nothing of it is left in the identity. */
static void test_long_subject(void **state)
{
    char *tok = NULL, hdr[2048], msg[128];
    const char *sub = "u-0123456789012345678901234567890123456789";
    int64_t exp = 0;
    auth_identity id;
    (void)state;
    assert_int_equal(auth_issue(&K, sub, AUTH_ROLE_ADMIN, "a@example.com", NOW, &tok, &exp), CS_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    memset(&id, 0x5a, sizeof id);
    assert_int_equal(auth_identify(&K, hdr, NOW + 1, &id, msg, sizeof msg), CS_ERR_UNAUTHENTICATED);
    assert_string_equal(msg, "malformed token claims");
    assert_int_equal(id.role, AUTH_ROLE_NONE);
    assert_string_equal(id.user_id, "");
    assert_string_equal(id.email, "");
    assert_int_equal(id.exp, 0);
    free(tok);
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
        cmocka_unit_test(test_roles),       cmocka_unit_test(test_issue_identify),
        cmocka_unit_test(test_bad_headers), cmocka_unit_test(test_long_subject),
        cmocka_unit_test(test_require),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
