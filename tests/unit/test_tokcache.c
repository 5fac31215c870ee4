/*
 * tokcache (src/auth/tokcache.c): a verified token is served from the
 * cache until its exp, then verified again (and refused); failures are not
 * cached; distinct tokens keep distinct identities; oversized values and a
 * disabled cache fall back to auth_identify every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/tokcache.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
static const unsigned char OTHER[] = "fedcba9876543210fedcba9876543210";
static const auth_key K = {KEY, sizeof KEY - 1, 60};
static const auth_key K_OTHER = {OTHER, sizeof OTHER - 1, 60};
#define NOW 1800000000

static void bearer(char *hdr, size_t n, const char *user, auth_role role)
{
    char *tok = NULL;
    int64_t exp = 0;
    assert_int_equal(auth_issue(&K, user, role, "x@example.com", NOW, &tok, &exp), CS_OK);
    assert_int_equal(exp, NOW + 60);
    snprintf(hdr, n, "Bearer %s", tok);
    free(tok);
}

static void test_served_until_exp(void **state)
{
    kvcache *c = kvc_new(64);
    char hdr[1024], msg[128];
    auth_identity id;
    (void)state;
    bearer(hdr, sizeof hdr, "u-1", AUTH_ROLE_AGENT);
    assert_int_equal(tokcache_identify(c, &K, hdr, NOW, &id, msg, sizeof msg), CS_OK);
    assert_string_equal(id.user_id, "u-1");
    assert_int_equal(id.exp, NOW + 60);
    /* Served from the cache: the other key would refuse it, the cache
     * (one key per process) does not verify it again. */
    memset(&id, 0, sizeof id);
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr, NOW + 59, &id, msg, sizeof msg), CS_OK);
    assert_string_equal(id.user_id, "u-1");
    assert_int_equal(id.role, AUTH_ROLE_AGENT);
    assert_string_equal(id.email, "x@example.com");
    /* Before the time it was verified (a clock set back): verified again. */
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr, NOW - 1, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr, NOW + 1, &id, msg, sizeof msg), CS_OK);
    /* At exp it is verified again, and refused as expired. */
    assert_int_equal(tokcache_identify(c, &K, hdr, NOW + 60, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_string_equal(msg, "token expired");
    kvc_free(c);
}

static void test_failures_not_cached(void **state)
{
    kvcache *c = kvc_new(64);
    char hdr[1024], msg[128];
    auth_identity id;
    (void)state;
    bearer(hdr, sizeof hdr, "u-1", AUTH_ROLE_AGENT);
    /* refused under the other key; then verified under the right one */
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr, NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_int_equal(tokcache_identify(c, &K, hdr, NOW, &id, msg, sizeof msg), CS_OK);
    assert_int_equal(tokcache_identify(c, &K, "Bearer nope", NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_int_equal(tokcache_identify(c, &K, "Bearer nope", NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_int_equal(tokcache_identify(c, &K, NULL, NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    assert_int_equal(tokcache_identify(c, &K, "", NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    kvc_free(c);
}

static void test_distinct_tokens(void **state)
{
    kvcache *c = kvc_new(4); /* one set of four: the fifth token evicts the first */
    char hdr[6][1024], msg[128], user[16];
    auth_identity id;
    (void)state;
    for (int i = 0; i < 6; i++) {
        snprintf(user, sizeof user, "u-%d", i);
        bearer(hdr[i], sizeof hdr[i], user, i % 2 ? AUTH_ROLE_ADMIN : AUTH_ROLE_AGENT);
        assert_int_equal(tokcache_identify(c, &K, hdr[i], NOW, &id, msg, sizeof msg), CS_OK);
    }
    /* the last four are served from the cache (the other key would refuse
     * them); the first two were evicted and are verified again */
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr[5], NOW, &id, msg, sizeof msg), CS_OK);
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr[2], NOW, &id, msg, sizeof msg), CS_OK);
    assert_int_equal(tokcache_identify(c, &K_OTHER, hdr[0], NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    for (int i = 5; i >= 0; i--) {
        snprintf(user, sizeof user, "u-%d", i);
        assert_int_equal(tokcache_identify(c, &K, hdr[i], NOW, &id, msg, sizeof msg), CS_OK);
        assert_string_equal(id.user_id, user);
        assert_int_equal(id.role, i % 2 ? AUTH_ROLE_ADMIN : AUTH_ROLE_AGENT);
    }
    kvc_free(c);
}

static void test_uncached_paths(void **state)
{
    kvcache *c = kvc_new(64);
    char hdr[1024], big[4096], msg[128];
    auth_identity id;
    (void)state;
    bearer(hdr, sizeof hdr, "u-1", AUTH_ROLE_AGENT);
    /* disabled cache: plain auth_identify */
    assert_null(kvc_new(0));
    assert_int_equal(tokcache_identify(NULL, &K, hdr, NOW, &id, msg, sizeof msg), CS_OK);
    assert_int_equal(tokcache_identify(NULL, &K_OTHER, hdr, NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    /* an oversized value is verified (and refused) every time */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "Bearer ", 7);
    assert_int_equal(tokcache_identify(c, &K, big, NOW, &id, msg, sizeof msg),
                     CS_ERR_UNAUTHENTICATED);
    kvc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_until_exp),
        cmocka_unit_test(test_failures_not_cached),
        cmocka_unit_test(test_distinct_tokens),
        cmocka_unit_test(test_uncached_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
