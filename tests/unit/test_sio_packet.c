/* Unit tests of gateway/socketio/sio_packet: Socket.IO v5 decoding, validation, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sio_packet.h"

static void decode_ok(const char *in, sio_type type, const char *nsp, long long ack, unsigned att,
                      const char *json)
{
    sio_packet p;
    assert_int_equal(sio_packet_decode(in, strlen(in), &p), CS_OK);
    assert_int_equal(p.type, type);
    assert_string_equal(p.nsp, nsp);
    assert_int_equal(p.ack_id, ack);
    assert_int_equal(p.attachments, att);
    if (json) {
        json_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        assert_non_null(p.data);
        assert_true(json_equal(p.data, want));
        json_decref(want);
    } else {
        assert_null(p.data);
    }
    sio_packet_clear(&p);
}

static void test_decode_valid(void **state)
{
    (void)state;
    decode_ok("0", SIO_CONNECT, "/", -1, 0, NULL);
    decode_ok("0{\"token\":\"abc\"}", SIO_CONNECT, "/", -1, 0, "{\"token\":\"abc\"}");
    decode_ok("0/admin,", SIO_CONNECT, "/admin", -1, 0, NULL);
    decode_ok("0/admin,{\"t\":1}", SIO_CONNECT, "/admin", -1, 0, "{\"t\":1}");
    decode_ok("0/random", SIO_CONNECT, "/random", -1, 0, NULL); /* no trailing comma */
    decode_ok("1", SIO_DISCONNECT, "/", -1, 0, NULL);
    decode_ok("1/admin,", SIO_DISCONNECT, "/admin", -1, 0, NULL);
    decode_ok("2[\"hello\",1]", SIO_EVENT, "/", -1, 0, "[\"hello\",1]");
    decode_ok("212[\"hello\"]", SIO_EVENT, "/", 12, 0, "[\"hello\"]");
    decode_ok("2/admin,456[\"project:delete\",123]", SIO_EVENT, "/admin", 456, 0,
              "[\"project:delete\",123]");
    decode_ok("2[42]", SIO_EVENT, "/", -1, 0, "[42]"); /* numeric event names are allowed */
    decode_ok("30[]", SIO_ACK, "/", 0, 0, "[]");
    decode_ok("3/admin,13[\"ok\",{\"a\":null}]", SIO_ACK, "/admin", 13, 0, "[\"ok\",{\"a\":null}]");
    decode_ok("4{\"message\":\"nope\"}", SIO_CONNECT_ERROR, "/", -1, 0, "{\"message\":\"nope\"}");
    decode_ok("4\"plain\"", SIO_CONNECT_ERROR, "/", -1, 0, "\"plain\"");
    decode_ok("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT, "/", -1, 1,
              "[\"up\",{\"_placeholder\":true,\"num\":0}]");
    decode_ok(
        "52-/custom,7[\"m\",{\"_placeholder\":true,\"num\":1},"
        "{\"x\":{\"_placeholder\":true,\"num\":0}}]",
        SIO_BINARY_EVENT, "/custom", 7, 2,
        "[\"m\",{\"_placeholder\":true,\"num\":1},{\"x\":{\"_placeholder\":true,\"num\":0}}]");
    decode_ok("61-15[{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK, "/", 15, 1,
              "[{\"_placeholder\":true,\"num\":0}]");
    decode_ok("50-[\"nobin\"]", SIO_BINARY_EVENT, "/", -1, 0, "[\"nobin\"]");
}

static void test_decode_invalid(void **state)
{
    static const char *const bad[] = {
        "",                       /* empty */
        "abc",                    /* what "4abc" carries: unknown type */
        "7",                      /* unknown type */
        "2{}",                    /* EVENT payload must be an array ("42{}") */
        "2abc[\"x\"]",            /* "42abc[...]": not JSON */
        "2",                      /* EVENT without payload */
        "2[]",                    /* EVENT with an empty array */
        "2[{}]",                  /* event name neither string nor number */
        "2[\"connect\"]",         /* reserved event name */
        "2[\"disconnecting\",1]", /* reserved event name */
        "2[\"x\"",                /* truncated JSON */
        "2[\"x\"]garbage",        /* trailing garbage */
        "0[]",                    /* CONNECT payload must be an object */
        "0\"str\"",               /* idem */
        "1{}",                    /* DISCONNECT carries nothing */
        "3[]",                    /* ACK without an id */
        "31{}",                   /* ACK payload must be an array */
        "3",                      /* ACK without anything */
        "4[]",                    /* CONNECT_ERROR: string or object */
        "5[\"x\"]",               /* BINARY_EVENT without attachment count */
        "5a-[\"x\"]",             /* bad count */
        "51[\"x\"]",              /* count without '-' */
        "599-[\"x\"]",            /* too many attachments */
        "51-[\"x\",{\"_placeholder\":true,\"num\":1}]", /* placeholder out of range */
        "51-[\"x\",{\"_placeholder\":true,\"num\":-1}]",
        "51-[\"x\",{\"_placeholder\":true}]",
        "51-[\"x\",{\"_placeholder\":false,\"num\":0}]",
        "51-[\"x\",{\"_placeholder\":true,\"num\":\"0\"}]",
        "21234567890123456[\"x\"]", /* ack id over 15 digits */
        "2[\"x\",\"\\u0000\"]",     /* NUL in a string */
    };
    sio_packet p;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_err err = sio_packet_decode(bad[i], strlen(bad[i]), &p);
        if (err != CS_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_null(p.data);
    }
}

static void test_decode_limits(void **state)
{
    char buf[400];
    sio_packet p;
    size_t n = 0;
    (void)state;

    /* Nesting deeper than SIO_MAX_DEPTH is refused before jansson sees it. */
    buf[n++] = '2';
    buf[n++] = '[';
    buf[n++] = '"';
    buf[n++] = 'x';
    buf[n++] = '"';
    buf[n++] = ',';
    for (int i = 0; i < SIO_MAX_DEPTH + 5; i++)
        buf[n++] = '[';
    for (int i = 0; i < SIO_MAX_DEPTH + 5; i++)
        buf[n++] = ']';
    buf[n++] = ']';
    assert_int_equal(sio_packet_decode(buf, n, &p), CS_ERR_INVALID);
    /* Brackets inside strings do not count. */
    strcpy(buf, "2[\"x\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"]");
    assert_int_equal(sio_packet_decode(buf, strlen(buf), &p), CS_OK);
    sio_packet_clear(&p);
    /* Namespace length. */
    memset(buf, 'a', sizeof(buf));
    buf[0] = '0';
    buf[1] = '/';
    assert_int_equal(sio_packet_decode(buf, SIO_NSP_MAX + 10, &p), CS_ERR_INVALID);
    /* Not NUL-terminated input is fine. */
    assert_int_equal(sio_packet_decode("2[\"a\"]XXXX", 6, &p), CS_OK);
    sio_packet_clear(&p);
}

static void encode_is(sio_type t, const char *nsp, unsigned att, long long ack, const char *json,
                      const char *want)
{
    eio_sb b = {0};
    json_t *d = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    assert_int_equal(sio_packet_encode(&b, t, nsp, att, ack, d), CS_OK);
    assert_string_equal(b.p, want);
    json_decref(d);
    eio_sb_free(&b);
}

static void test_encode(void **state)
{
    (void)state;
    encode_is(SIO_CONNECT, "/", 0, -1, "{\"sid\":\"abc\"}", "0{\"sid\":\"abc\"}");
    encode_is(SIO_CONNECT, "/admin", 0, -1, "{\"sid\":\"abc\"}", "0/admin,{\"sid\":\"abc\"}");
    encode_is(SIO_DISCONNECT, NULL, 0, -1, NULL, "1");
    encode_is(SIO_DISCONNECT, "/admin", 0, -1, NULL, "1/admin,");
    encode_is(SIO_EVENT, "/", 0, -1, "[\"hello\",{\"a\":1}]", "2[\"hello\",{\"a\":1}]");
    encode_is(SIO_ACK, "/x", 0, 7, "[]", "3/x,7[]");
    encode_is(SIO_CONNECT_ERROR, "/", 0, -1, "{\"message\":\"Invalid namespace\"}",
              "4{\"message\":\"Invalid namespace\"}");
    encode_is(SIO_BINARY_EVENT, "/", 2, -1, "[\"b\",{\"_placeholder\":true,\"num\":0}]",
              "52-[\"b\",{\"_placeholder\":true,\"num\":0}]");
    encode_is(SIO_BINARY_ACK, "/c", 1, 3, "[]", "61-/c,3[]");
    {
        eio_sb b = {0};
        assert_int_equal(sio_packet_encode(&b, SIO__COUNT, NULL, 0, -1, NULL), CS_ERR_INVALID);
        eio_sb_free(&b);
    }
}

static void test_roundtrip(void **state)
{
    static const char *const in[] = {
        "0/admin,{\"token\":\"t\"}",
        "2/chat,99[\"msg\",\"h\\u00e9llo\",[1,2,{\"k\":null}],true,1.5]",
        "3/chat,1[]",
        "52-/c,3[\"up\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        sio_packet p, q;
        eio_sb b = {0};
        assert_int_equal(sio_packet_decode(in[i], strlen(in[i]), &p), CS_OK);
        assert_int_equal(sio_packet_encode(&b, p.type, p.nsp, p.attachments, p.ack_id, p.data),
                         CS_OK);
        assert_int_equal(sio_packet_decode(b.p, b.len, &q), CS_OK);
        assert_int_equal(q.type, p.type);
        assert_string_equal(q.nsp, p.nsp);
        assert_int_equal(q.ack_id, p.ack_id);
        assert_int_equal(q.attachments, p.attachments);
        assert_true(json_equal(q.data, p.data));
        sio_packet_clear(&p);
        sio_packet_clear(&q);
        eio_sb_free(&b);
    }
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sio_type_name(SIO_EVENT), "EVENT");
    assert_string_equal(sio_type_name(SIO_BINARY_ACK), "BINARY_ACK");
    assert_string_equal(sio_type_name((sio_type)42), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid),  cmocka_unit_test(test_decode_invalid),
        cmocka_unit_test(test_decode_limits), cmocka_unit_test(test_encode),
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
