/* Unit tests of src/svc_config.c: callsvc's table and its cross-field rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "svc_config.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;

static const char *lookup(const char *name)
{
    for (const char *const *p = fake_env; p && p[0]; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

#define SECRET "0123456789abcdef0123456789abcdef"

static int load(const char *const *env, svc_config *c, char *err, size_t n)
{
    fake_env = env;
    err[0] = '\0';
    return svc_config_load(c, lookup, err, n);
}

static void test_defaults(void **state)
{
    static const char *const env[] = {"JWT_SECRET", SECRET, NULL};
    svc_config c;
    char err[256];
    (void)state;
    assert_int_equal(load(env, &c, err, sizeof err), 0);
    assert_string_equal(c.grpc_addr, "127.0.0.1:50051");
    assert_int_equal(c.extension_min, 3000);
    assert_int_equal(c.extension_max, 3999);
    assert_int_equal(c.jwt_expires_in, 86400);
    assert_true(c.workers >= 2);
    assert_string_equal(c.admin_email, "admin@example.com");
    assert_string_equal(c.log_dir, "./logs");
    assert_string_equal(c.ari_app, "call-service");
    assert_string_equal(c.device_endpoint_template, "PJSIP/{ext}");
    assert_string_equal(c.outbound_endpoint_template, "PJSIP/{number}@trunk");
    assert_string_equal(c.sql_dir, CS_SQL_DIR_DEFAULT);
    assert_int_equal(c.login_max_failures, 5);
    assert_int_equal(c.login_window, 60);
    assert_false(c.dev_mode);
    svc_config_free(&c);
    assert_null(c.grpc_addr);
}

static void test_overrides(void **state)
{
    static const char *const env[] = {"JWT_SECRET",    SECRET,      "GRPC_ADDR",
                                      "0.0.0.0:6000",  "WORKERS",   "3",
                                      "EXTENSION_MIN", "100",       "EXTENSION_MAX",
                                      "101",           "LOG_LEVEL", "debug",
                                      "LOG_DIR",       "",          NULL};
    svc_config c;
    char err[256];
    (void)state;
    assert_int_equal(load(env, &c, err, sizeof err), 0);
    assert_string_equal(c.grpc_addr, "0.0.0.0:6000");
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.extension_min, 100);
    assert_int_equal(c.extension_max, 101);
    assert_string_equal(c.log_dir, ""); /* empty: stderr only */
    svc_config_free(&c);
}

static void test_secret_rules(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const short_[] = {"JWT_SECRET", "too-short", NULL};
    static const char *const dev_none[] = {"DEV_MODE", "true", NULL};
    static const char *const dev_short[] = {"DEV_MODE", "1", "JWT_SECRET", "short", NULL};
    svc_config c;
    char err[256];
    (void)state;
    assert_int_equal(load(none, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "JWT_SECRET"));
    assert_int_equal(load(short_, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 32 bytes"));
    assert_int_equal(load(dev_none, &c, err, sizeof err), 0);
    assert_true(strlen(c.jwt_secret) >= 32); /* a dev secret, never empty */
    svc_config_free(&c);
    assert_int_equal(load(dev_short, &c, err, sizeof err), 0);
    assert_string_equal(c.jwt_secret, "short");
    svc_config_free(&c);
}

static void test_bad_values(void **state)
{
    static const struct {
        const char *const env[7];
        const char *needle;
    } bad[] = {
        {{"JWT_SECRET", SECRET, "WORKERS", "lots", NULL}, "WORKERS"},
        {{"JWT_SECRET", SECRET, "WORKERS", "-1", NULL}, "WORKERS"},
        {{"JWT_SECRET", SECRET, "JWT_EXPIRES_IN", "5", NULL}, "JWT_EXPIRES_IN"},
        {{"JWT_SECRET", SECRET, "EXTENSION_MIN", "5000", NULL}, "EXTENSION_MIN"},
        {{"JWT_SECRET", SECRET, "LOG_LEVEL", "loud", NULL}, "LOG_LEVEL"},
        {{"JWT_SECRET", SECRET, "DEV_MODE", "maybe", NULL}, "DEV_MODE"},
        {{"JWT_SECRET", SECRET, "DATABASE_URL", "", NULL}, "DATABASE_URL"},
        {{"JWT_SECRET", SECRET, "LOGIN_MAX_FAILURES", "0", NULL}, "LOGIN_MAX_FAILURES"},
    };
    svc_config c;
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(load(bad[i].env, &c, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: '%s' does not name %s", i, err, bad[i].needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_secret_rules),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
