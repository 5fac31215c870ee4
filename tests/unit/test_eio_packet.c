/* Unit tests of gateway/socketio/eio_packet: Engine.IO v4 framing, payloads, base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "eio_packet.h"

static void test_frame_types(void **state)
{
    static const struct {
        const char *in;
        eio_type type;
        const char *data;
    } ok[] = {
        {"0{\"sid\":\"x\"}", EIO_OPEN, "{\"sid\":\"x\"}"},
        {"1", EIO_CLOSE, ""},
        {"2", EIO_PING, ""},
        {"2probe", EIO_PING, "probe"},
        {"3probe", EIO_PONG, "probe"},
        {"4hello", EIO_MESSAGE, "hello"},
        {"5", EIO_UPGRADE, ""},
        {"6", EIO_NOOP, ""},
    };
    eio_packet p;
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(eio_packet_decode_frame(ok[i].in, strlen(ok[i].in), 0, &p), CS_OK);
        assert_int_equal(p.type, ok[i].type);
        assert_int_equal(p.len, strlen(ok[i].data));
        assert_memory_equal(p.data, ok[i].data, p.len);
        assert_false(p.binary);
        assert_null(p.owned);
    }
    assert_int_equal(eio_packet_decode_frame("", 0, 0, &p), CS_ERR_INVALID);
    assert_int_equal(eio_packet_decode_frame("7", 1, 0, &p), CS_ERR_INVALID);
    assert_int_equal(eio_packet_decode_frame("a4", 2, 0, &p), CS_ERR_INVALID);
    assert_int_equal(eio_packet_decode_frame("/", 1, 0, &p), CS_ERR_INVALID);
    assert_int_equal(eio_packet_decode_frame("\x01\x02", 2, 1, &p), CS_OK);
    assert_true(p.binary);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(p.len, 2);
    /* An empty binary frame is an empty binary message. */
    assert_int_equal(eio_packet_decode_frame("", 0, 1, &p), CS_OK);
}

static void test_payload_split(void **state)
{
    const char body[] = "4hello\x1e"
                        "2\x1e"
                        "bAQID\x1e"
                        "4";
    eio_payload_iter it;
    eio_packet p;
    (void)state;

    eio_payload_iter_init(&it, body, sizeof(body) - 1);
    assert_int_equal(eio_payload_next(&it, &p), CS_OK);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_memory_equal(p.data, "hello", 5);
    eio_packet_release(&p);
    assert_int_equal(eio_payload_next(&it, &p), CS_OK);
    assert_int_equal(p.type, EIO_PING);
    eio_packet_release(&p);
    assert_int_equal(eio_payload_next(&it, &p), CS_OK);
    assert_true(p.binary);
    assert_int_equal(p.len, 3);
    assert_memory_equal(p.data, "\x01\x02\x03", 3);
    assert_non_null(p.owned);
    eio_packet_release(&p);
    assert_int_equal(eio_payload_next(&it, &p), CS_OK);
    assert_int_equal(p.type, EIO_MESSAGE);
    assert_int_equal(p.len, 0);
    eio_packet_release(&p);
    assert_int_equal(eio_payload_next(&it, &p), CS_ERR_NOT_FOUND);
    assert_int_equal(eio_payload_next(&it, &p), CS_ERR_NOT_FOUND);
}

static void test_payload_malformed(void **state)
{
    static const char *const bad[] = {
        "",           /* empty body */
        "4a\x1e",     /* trailing separator: an empty packet */
        "\0364a",     /* leading separator (octal: \x1e would swallow the 4a) */
        "9",          /* unknown type */
        "abc",        /* not a packet */
        "b!!!!",      /* bad base64 */
        "bA",         /* impossible base64 length */
        "4a\x1e\x1e", /* empty packet in the middle */
    };
    eio_payload_iter it;
    eio_packet p;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cs_err err;
        eio_payload_iter_init(&it, bad[i], strlen(bad[i]));
        while ((err = eio_payload_next(&it, &p)) == CS_OK)
            eio_packet_release(&p);
        assert_int_equal(err, CS_ERR_INVALID);
        assert_null(p.owned);
        /* After an error the iterator stays finished. */
        assert_int_equal(eio_payload_next(&it, &p), CS_ERR_NOT_FOUND);
    }
}

static void test_payload_encode(void **state)
{
    eio_sb b = {0};
    (void)state;
    assert_int_equal(eio_payload_append(&b, EIO_OPEN, "{}", 2, 0), CS_OK);
    assert_int_equal(eio_payload_append(&b, EIO_MESSAGE, "hi", 2, 0), CS_OK);
    assert_int_equal(eio_payload_append(&b, EIO_MESSAGE, "\x01\x02\x03\x04", 4, 1), CS_OK);
    assert_int_equal(eio_payload_append(&b, EIO_NOOP, NULL, 0, 0), CS_OK);
    assert_string_equal(b.p, "0{}\x1e"
                             "4hi\x1e"
                             "bAQIDBA==\x1e"
                             "6");
    assert_int_equal(b.len, strlen(b.p));
    /* Only messages may be binary; types stop at 6. */
    assert_int_equal(eio_payload_append(&b, EIO_PING, "x", 1, 1), CS_ERR_INVALID);
    assert_int_equal(eio_payload_append(&b, EIO__COUNT, "x", 1, 0), CS_ERR_INVALID);
    eio_sb_free(&b);
    assert_null(b.p);
}

static void test_payload_roundtrip(void **state)
{
    unsigned char bin[256];
    eio_sb b = {0};
    eio_payload_iter it;
    eio_packet p;
    size_t n;
    (void)state;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i;
    for (n = 0; n <= 7; n++)
        assert_int_equal(eio_payload_append(&b, EIO_MESSAGE, bin, n, 1), CS_OK);
    assert_int_equal(eio_payload_append(&b, EIO_MESSAGE, bin, sizeof(bin), 1), CS_OK);
    eio_payload_iter_init(&it, b.p, b.len);
    for (n = 0; n <= 7; n++) {
        assert_int_equal(eio_payload_next(&it, &p), CS_OK);
        assert_int_equal(p.len, n);
        if (n)
            assert_memory_equal(p.data, bin, n);
        eio_packet_release(&p);
    }
    assert_int_equal(eio_payload_next(&it, &p), CS_OK);
    assert_int_equal(p.len, sizeof(bin));
    assert_memory_equal(p.data, bin, sizeof(bin));
    eio_packet_release(&p);
    assert_int_equal(eio_payload_next(&it, &p), CS_ERR_NOT_FOUND);
    eio_sb_free(&b);
}

static void test_base64(void **state)
{
    static const struct {
        const char *raw, *b64;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char enc[64];
    unsigned char dec[64];
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].raw);
        assert_int_equal(eio_b64_encoded_len(n), strlen(v[i].b64));
        eio_b64_encode((const unsigned char *)v[i].raw, n, enc);
        assert_memory_equal(enc, v[i].b64, strlen(v[i].b64));
        assert_int_equal(eio_b64_decode(v[i].b64, strlen(v[i].b64), dec), (long)n);
        assert_memory_equal(dec, v[i].raw, n);
    }
    /* Unpadded input is accepted; garbage and misplaced padding are not. */
    assert_int_equal(eio_b64_decode("Zg", 2, dec), 1);
    assert_int_equal(eio_b64_decode("Zm8", 3, dec), 2);
    assert_int_equal(eio_b64_decode("Z", 1, dec), -1);
    assert_int_equal(eio_b64_decode("Zg=", 3, dec), -1);
    assert_int_equal(eio_b64_decode("Z=g=", 4, dec), -1);
    assert_int_equal(eio_b64_decode("Zm9v\n", 5, dec), -1);
    assert_int_equal(eio_b64_decode("Zm-_", 4, dec), -1);
}

static void test_sb(void **state)
{
    eio_sb b = {0};
    char *p;
    size_t n;
    (void)state;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(eio_sb_putc(&b, 'x'), CS_OK);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.p[1000], '\0');
    p = eio_sb_take(&b, &n);
    assert_int_equal(n, 1000);
    assert_null(b.p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_types),
        cmocka_unit_test(test_payload_split),
        cmocka_unit_test(test_payload_malformed),
        cmocka_unit_test(test_payload_encode),
        cmocka_unit_test(test_payload_roundtrip),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_sb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
