/* Unit tests of gateway/metrics.c: callgw's own counters as Prometheus
 * text, and the check on callsvc's text before it is appended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "metrics.h"
#include "pbjson.h"
#include "routes.h"

static void test_render(void **state)
{
    gw_metrics *m = gw_metrics_new();
    pbjson_buf b;
    (void)state;
    assert_non_null(m);
    memset(&b, 0, sizeof b);
    gw_metrics_request(m, (unsigned)(gw_n_routes + GW_LABEL_HEALTHZ), 200, 0.002);
    gw_metrics_grpc_error(m, 14);
    gw_metrics_in_flight(m, 1);
    gw_metrics_render(m, &b);
    assert_non_null(b.data);
    assert_non_null(
        strstr(b.data,
               "callgw_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1\n"));
    assert_non_null(strstr(b.data, "callgw_grpc_errors_total{code=\"UNAVAILABLE\"} 1\n"));
    assert_non_null(strstr(b.data, "callgw_http_in_flight 1\n"));
    /* callgw's own text passes the check it applies to callsvc's */
    assert_true(gw_metrics_foreign_ok(b.data, "callgw_"));
    pbjson_buf_free(&b);
    gw_metrics_free(m);
}

static void test_foreign_text(void **state)
{
    static const char *const good[] = {
        "callsvc_up 1\n",
        "# HELP callsvc_x a thing\n# TYPE callsvc_x gauge\ncallsvc_x{a=\"b\"} 2\n",
    };
    static const char *const bad[] = {
        "",                                        /* nothing */
        "callsvc_up 1",                            /* no final newline */
        "callsvc_up 1\n\n",                        /* an empty line */
        "callsvc_up 1\ncallgw_http_in_flight 9\n", /* a name that is callgw's */
        "callsvc_up 1\nrandom garbage\n",
        "callsvc_\n", /* the prefix alone */
        " callsvc_up 1\n",
    };
    (void)state;
    assert_false(gw_metrics_foreign_ok(NULL, "callsvc_"));
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(gw_metrics_foreign_ok(good[i], "callsvc_"));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(gw_metrics_foreign_ok(bad[i], "callsvc_"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_foreign_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
