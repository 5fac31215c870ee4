/* Unit tests of src/common: the error table, config parsing, log levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"
#include "common/log.h"

static void test_err_roundtrip(void **state)
{
    (void)state;
    for (int e = 0; e < CS_ERR__COUNT; e++) {
        assert_int_equal(cs_err_from_grpc_status(cs_err_grpc_status((cs_err)e)), e);
        assert_int_equal(cs_err_from_name(cs_err_name((cs_err)e)), e);
    }
    assert_int_equal(cs_err_http_status(CS_ERR_UNAUTHENTICATED), 401);
    assert_int_equal(cs_err_http_status(CS_ERR_PERMISSION), 403);
    assert_int_equal(cs_err_http_status(CS_ERR_NOT_FOUND), 404);
    assert_int_equal(cs_err_http_status(CS_ERR_UNAVAILABLE), 503);
    assert_int_equal(cs_err_http_status(CS_ERR_DEADLINE), 504);
    assert_string_equal(cs_err_name((cs_err)999), "INTERNAL");
    assert_int_equal(cs_err_from_grpc_status(2), CS_ERR_INTERNAL);
    assert_int_equal(cs_err_from_grpc_status(77), CS_ERR_INTERNAL);
}

struct test_cfg {
    char *addr;
    int workers;
    int dev;
};

static const cfg_entry test_table[] = {
    {"T_ADDR", CFG_STR, offsetof(struct test_cfg, addr), "127.0.0.1:1", 0, 0, "address"},
    {"T_WORKERS", CFG_INT, offsetof(struct test_cfg, workers), "4", 1, 64, "workers"},
    {"T_DEV", CFG_BOOL, offsetof(struct test_cfg, dev), "false", 0, 0, "dev mode"},
};

static const char *env_vals[3];
static const char *lookup(const char *name)
{
    if (strcmp(name, "T_ADDR") == 0)
        return env_vals[0];
    if (strcmp(name, "T_WORKERS") == 0)
        return env_vals[1];
    return env_vals[2];
}

static void test_config_defaults_and_values(void **state)
{
    (void)state;
    struct test_cfg c = {0};
    char err[256];
    env_vals[0] = env_vals[1] = env_vals[2] = NULL;
    assert_int_equal(cfg_load_from(test_table, 3, &c, lookup, err, sizeof err), 0);
    assert_string_equal(c.addr, "127.0.0.1:1");
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.dev, 0);
    env_vals[0] = "0.0.0.0:9";
    env_vals[1] = "8";
    env_vals[2] = "yes";
    assert_int_equal(cfg_load_from(test_table, 3, &c, lookup, err, sizeof err), 0);
    assert_string_equal(c.addr, "0.0.0.0:9");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.dev, 1);
    cfg_free(test_table, 3, &c);
    assert_null(c.addr);
}

static void test_config_rejects_bad_values(void **state)
{
    (void)state;
    struct test_cfg c = {0};
    char err[256];
    const char *bad_ints[] = {"0", "65", "abc", "4x", "99999999999999999999"};
    env_vals[0] = NULL;
    env_vals[2] = NULL;
    for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
        env_vals[1] = bad_ints[i];
        assert_int_equal(cfg_load_from(test_table, 3, &c, lookup, err, sizeof err), -1);
        assert_non_null(strstr(err, "T_WORKERS"));
    }
    env_vals[1] = NULL;
    env_vals[2] = "maybe";
    assert_int_equal(cfg_load_from(test_table, 3, &c, lookup, err, sizeof err), -1);
    assert_non_null(strstr(err, "T_DEV"));
    cfg_free(test_table, 3, &c);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char host[64];
    int port = 0;
    assert_int_equal(cfg_split_hostport("127.0.0.1:50051", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 50051);
    assert_int_equal(cfg_split_hostport("[::1]:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(cfg_split_hostport("nohost", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_hostport(":80", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_hostport("h:99999", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_hostport("h:", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_hostport("[::1]8080", host, sizeof host, &port), -1);
    assert_int_equal(cfg_split_hostport(NULL, host, sizeof host, &port), -1);
}

static void test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("loud"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
    log_init("test", LOG_WARN, NULL);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    log_set_context("req-1", "user-\"1\"");
    log_warn("a line with \"quotes\" and a\nnewline");
    log_clear_context();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_roundtrip),
        cmocka_unit_test(test_config_defaults_and_values),
        cmocka_unit_test(test_config_rejects_bad_values),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
