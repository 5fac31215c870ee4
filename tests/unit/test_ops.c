/* Unit tests of src/ops/ops.c: the Prometheus text of a process snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

/* Every sample line names a metric whose TYPE line came before it, and
 * every line ends with a newline. */
static void check_well_formed(const char *text)
{
    char typed[32][64];
    size_t n_typed = 0;
    const char *p = text;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    while (*p) {
        const char *eol = strchr(p, '\n');
        char line[512];
        size_t len;
        assert_non_null(eol);
        len = (size_t)(eol - p);
        assert_true(len > 0 && len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_true(n_typed < 32);
            assert_int_equal(sscanf(line + 7, "%63s", typed[n_typed]), 1);
            n_typed++;
        } else if (line[0] != '#') {
            size_t name_len = strcspn(line, "{ ");
            int known = 0;
            for (size_t i = 0; i < n_typed; i++)
                known |= strlen(typed[i]) == name_len && strncmp(typed[i], line, name_len) == 0;
            assert_true(known);
            assert_true(strncmp(line, "callsvc_", 8) == 0);
        }
        p = eol + 1;
    }
}

static void test_full_snapshot(void **state)
{
    ops_snapshot s;
    char *text;
    (void)state;
    memset(&s, 0, sizeof s);
    s.hostname = "host-1";
    s.grpc_addr = "0.0.0.0:50051";
    s.start_time = 1764600000;
    s.n_services = 2;
    s.services[0].name = "";
    s.services[0].serving = 0;
    s.services[1].name = "callservice.v1.UserService";
    s.services[1].serving = 1;
    s.has_ari = 1;
    s.ari_connected = 1;
    s.ari.events_received = 42;
    s.ari.events_invalid = 2;
    s.ari.reconnects = 3;
    s.ari.rest_failures = 5;
    s.has_calls = 1;
    s.calls.calls_lost = 4;
    s.calls.flow_queued = 12;
    s.has_events = 1;
    s.events_seq = 9001;
    s.events_subscribers = 7;
    text = ops_render(&s);
    assert_non_null(text);
    check_well_formed(text);
    assert_non_null(strstr(text, "\ncallsvc_start_time_seconds 1764600000\n"));
    assert_non_null(strstr(text, "# HELP callsvc_info "));
    assert_non_null(
        strstr(text, "\ncallsvc_info{hostname=\"host-1\",grpc_addr=\"0.0.0.0:50051\"} 1\n"));
    assert_non_null(strstr(text, "\ncallsvc_ready 0\n"));
    assert_null(strstr(text, "service=\"\""));
    assert_non_null(strstr(text, "\ncallsvc_serving{service=\"callservice.v1.UserService\"} 1\n"));
    assert_non_null(strstr(text, "\ncallsvc_ari_connected 1\n"));
    assert_non_null(strstr(text, "\ncallsvc_ari_events_total 42\n"));
    assert_non_null(strstr(text, "\ncallsvc_ari_events_invalid_total 2\n"));
    assert_non_null(strstr(text, "\ncallsvc_ari_reconnects_total 3\n"));
    assert_non_null(strstr(text, "\ncallsvc_ari_request_failures_total 5\n"));
    assert_non_null(strstr(text, "# TYPE callsvc_ari_requests_total counter\n"));
    assert_non_null(strstr(text, "\ncallsvc_events_last_seq 9001\n"));
    assert_non_null(strstr(text, "\ncallsvc_events_subscribers 7\n"));
    assert_non_null(strstr(text, "\ncallsvc_calls_lost_total 4\n"));
    assert_non_null(strstr(text, "\ncallsvc_calls_caught_up_total 0\n"));
    assert_non_null(strstr(text, "\ncallsvc_calls_flow_queued 12\n"));
    free(text);
}

/* Without Asterisk (ARI_URL empty) and without a hub: no ARI or events
 * metrics at all, rather than zeros that would read as "down". */
static void test_without_ari(void **state)
{
    ops_snapshot s;
    char *text;
    (void)state;
    memset(&s, 0, sizeof s);
    s.n_services = 1;
    s.services[0].name = "";
    s.services[0].serving = 1;
    text = ops_render(&s);
    assert_non_null(text);
    check_well_formed(text);
    assert_null(strstr(text, "callsvc_ari_"));
    assert_null(strstr(text, "callsvc_events_"));
    assert_null(strstr(text, "callsvc_calls_"));
    assert_non_null(strstr(text, "\ncallsvc_ready 1\n"));
    /* a NULL hostname is an empty label, not a crash */
    assert_non_null(strstr(text, "\ncallsvc_info{hostname=\"\",grpc_addr=\"\"} 1\n"));
    free(text);
}

/* Label values are escaped as the text format requires. */
static void test_label_escaping(void **state)
{
    ops_snapshot s;
    char *text;
    (void)state;
    memset(&s, 0, sizeof s);
    s.n_services = 1;
    s.services[0].name = "a\"b\\c\nd";
    s.hostname = "h\"1";
    s.services[0].serving = 1;
    text = ops_render(&s);
    assert_non_null(text);
    assert_non_null(strstr(text, "callsvc_serving{service=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_non_null(strstr(text, "callsvc_info{hostname=\"h\\\"1\",grpc_addr=\"\"} 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_snapshot),
        cmocka_unit_test(test_without_ari),
        cmocka_unit_test(test_label_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
