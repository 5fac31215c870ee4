/*
 * ucache (src/users/cache.c): off until the listener links, round trip of
 * a User, secret and plain copies kept apart, TTL, invalidation (also of an
 * id written in upper case), a put that raced an invalidation is dropped,
 * the link going down flushes and turns it off, eviction within a set, a
 * NULL (disabled) cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/kvcache.h"
#include "users/cache.h"

static const char *const ID1 = "0b6c6f4e-6a38-4c5e-9a77-0f8e2f6d1a01";
static const char *const ID2 = "0b6c6f4e-6a38-4c5e-9a77-0f8e2f6d1a02";

typedef struct fixture {
    Callservice__V1__User user;
    Callservice__V1__SipDevice dev;
} fixture;

static void make_user(fixture *f, const char *id, const char *name, const char *secret)
{
    callservice__v1__user__init(&f->user);
    callservice__v1__sip_device__init(&f->dev);
    f->user.id = (char *)id;
    f->user.name = (char *)name;
    f->user.email = (char *)"ada@example.com";
    f->dev.extension = (char *)"3001";
    f->dev.secret = (char *)secret;
    f->user.sip_device = &f->dev;
}

/* The cached name of id (with_secret), or "" on a miss; checks the copy. */
static const char *cached_name(ucache *c, const char *id, int with_secret, int64_t now, char *buf,
                               size_t n)
{
    Callservice__V1__User *u = ucache_get(c, id, with_secret, now);
    snprintf(buf, n, "%s", u ? u->name : "");
    if (u) {
        assert_non_null(u->sip_device);
        assert_string_equal(u->sip_device->extension, "3001");
        protobuf_c_message_free_unpacked(&u->base, NULL);
    }
    return buf;
}

static void test_off_until_linked(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    char b[64];
    (void)state;
    make_user(&f, ID1, "Ada", "s3cret");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_on_link(c, 1);
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "Ada");
    ucache_free(c);
}

static void test_round_trip_and_secret(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    Callservice__V1__User *u;
    char b[64];
    (void)state;
    ucache_on_link(c, 1);
    make_user(&f, ID1, "Ada", "s3cret");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    /* the copy without the secret is another entry */
    assert_string_equal(cached_name(c, ID1, 0, 1, b, sizeof b), "");
    u = ucache_get(c, ID1, 1, 1);
    assert_non_null(u);
    assert_string_equal(u->id, ID1);
    assert_string_equal(u->email, "ada@example.com");
    assert_string_equal(u->sip_device->secret, "s3cret");
    protobuf_c_message_free_unpacked(&u->base, NULL);
    make_user(&f, ID1, "Ada plain", "");
    ucache_put(c, ID1, 0, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 0, 1, b, sizeof b), "Ada plain");
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "Ada");
    ucache_free(c);
}

static void test_ttl(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    char b[64];
    (void)state;
    ucache_on_link(c, 1);
    make_user(&f, ID1, "Ada", "x");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 5000);
    assert_string_equal(cached_name(c, ID1, 1, 5999, b, sizeof b), "Ada");
    assert_string_equal(cached_name(c, ID1, 1, 6000, b, sizeof b), "");
    ucache_free(c);
}

static void test_invalidate_any_case(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    char upper[64], b[64];
    (void)state;
    ucache_on_link(c, 1);
    make_user(&f, ID1, "Ada", "x");
    for (size_t i = 0; i <= strlen(ID1); i++)
        upper[i] = (char)(ID1[i] >= 'a' && ID1[i] <= 'z' ? ID1[i] - 32 : ID1[i]);
    /* stored under the upper-case id, found and dropped under either */
    ucache_put(c, upper, 1, &f.user, ucache_generation(c), 0);
    ucache_put(c, ID2, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "Ada");
    ucache_on_notify(c, ID1);
    assert_string_equal(cached_name(c, upper, 1, 1, b, sizeof b), "");
    assert_string_equal(cached_name(c, ID2, 1, 1, b, sizeof b), "Ada");
    ucache_invalidate(c, ID2);
    assert_string_equal(cached_name(c, ID2, 1, 1, b, sizeof b), "");
    ucache_free(c);
}

static void test_put_after_invalidation_dropped(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    uint64_t gen;
    char b[64];
    (void)state;
    ucache_on_link(c, 1);
    make_user(&f, ID1, "Old", "x");
    gen = ucache_generation(c);             /* a reader starts its SELECT ... */
    ucache_invalidate(c, ID1);              /* ... a change commits meanwhile ... */
    ucache_put(c, ID1, 1, &f.user, gen, 0); /* ... its old row is not kept */
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "Old");
    ucache_free(c);
}

static void test_link_down_flushes_and_stops(void **state)
{
    ucache *c = ucache_new(16, 1000);
    fixture f;
    uint64_t gen;
    char b[64];
    (void)state;
    ucache_on_link(c, 1);
    make_user(&f, ID1, "Ada", "x");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    gen = ucache_generation(c);
    ucache_on_link(c, 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_on_link(c, 1);
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_put(c, ID1, 1, &f.user, gen, 0); /* read before the outage */
    assert_string_equal(cached_name(c, ID1, 1, 1, b, sizeof b), "");
    ucache_free(c);
}

static void test_eviction_in_a_set(void **state)
{
    ucache *c = ucache_new(KVC_WAYS, 1000000); /* one set */
    fixture f;
    char ids[KVC_WAYS + 1][40], b[64];
    (void)state;
    ucache_on_link(c, 1);
    for (int i = 0; i <= KVC_WAYS; i++) {
        snprintf(ids[i], sizeof ids[i], "0b6c6f4e-6a38-4c5e-9a77-0f8e2f6d1b%02d", i);
        make_user(&f, ids[i], ids[i], "x");
        ucache_put(c, ids[i], 1, &f.user, ucache_generation(c), 10 + i);
    }
    /* the oldest went; the others stay */
    assert_string_equal(cached_name(c, ids[0], 1, 100, b, sizeof b), "");
    for (int i = 1; i <= KVC_WAYS; i++)
        assert_string_equal(cached_name(c, ids[i], 1, 100, b, sizeof b), ids[i]);
    /* a put of a present key replaces it in place */
    make_user(&f, ids[1], "renamed", "x");
    ucache_put(c, ids[1], 1, &f.user, ucache_generation(c), 50);
    assert_string_equal(cached_name(c, ids[1], 1, 100, b, sizeof b), "renamed");
    assert_string_equal(cached_name(c, ids[2], 1, 100, b, sizeof b), ids[2]);
    ucache_free(c);
}

static void test_disabled_and_bad_ids(void **state)
{
    ucache *c = ucache_new(0, 1000);
    fixture f;
    char longid[200], b[64];
    (void)state;
    assert_null(c);
    make_user(&f, ID1, "Ada", "x");
    ucache_on_link(c, 1);
    ucache_put(c, ID1, 1, &f.user, ucache_generation(c), 0);
    assert_null(ucache_get(c, ID1, 1, 1));
    ucache_invalidate(c, ID1);
    ucache_free(c);

    c = ucache_new(16, 1000);
    ucache_on_link(c, 1);
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    ucache_put(c, longid, 1, &f.user, ucache_generation(c), 0);
    assert_string_equal(cached_name(c, longid, 1, 1, b, sizeof b), "");
    ucache_on_notify(c, longid); /* a malformed payload only bumps the generation */
    ucache_on_notify(c, "");
    ucache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_until_linked),
        cmocka_unit_test(test_round_trip_and_secret),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_invalidate_any_case),
        cmocka_unit_test(test_put_after_invalidation_dropped),
        cmocka_unit_test(test_link_down_flushes_and_stops),
        cmocka_unit_test(test_eviction_in_a_set),
        cmocka_unit_test(test_disabled_and_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
