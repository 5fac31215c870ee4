/* Unit tests of gateway/pbjson.c over every field kind: the contract's
 * messages plus tests/unit/proto/pbjson_test.proto for the numeric kinds
 * the contract does not use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "pbjson.h"
#include "pbjson_test.pb-c.h"

static ProtobufCMessage *decode_ok(const char *json, const ProtobufCMessageDescriptor *d)
{
    char err[256] = "";
    ProtobufCMessage *m = NULL;
    cs_err e = pbjson_decode(json, strlen(json), 0, d, &m, err, sizeof err);
    if (e != CS_OK)
        fail_msg("decode of %s failed: %s", json, err);
    assert_non_null(m);
    return m;
}

static void decode_err(const char *json, const ProtobufCMessageDescriptor *d, const char *want)
{
    char err[256] = "";
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    cs_err e = pbjson_decode(json, strlen(json), 0, d, &m, err, sizeof err);
    assert_int_equal(e, CS_ERR_INVALID);
    assert_null(m);
    if (strcmp(err, want) != 0)
        fail_msg("for %s: want error '%s', got '%s'", json, want, err);
}

/* Decodes in, encodes again, compares with out. */
static void roundtrip(const char *in, const ProtobufCMessageDescriptor *d, const char *out)
{
    ProtobufCMessage *m = decode_ok(in, d);
    char *s = pbjson_encode(m, NULL);
    assert_non_null(s);
    if (strcmp(s, out) != 0)
        fail_msg("roundtrip of %s:\n want %s\n got  %s", in, out, s);
    free(s);
    protobuf_c_message_free_unpacked(m, NULL);
}

#define SC (&pbjsontest__scalars__descriptor)

static const char *const defaults_json =
    "{\"fInt32\":0,\"fSint32\":0,\"fSfixed32\":0,\"fUint32\":0,\"fFixed32\":0,\"fInt64\":\"0\","
    "\"fSint64\":\"0\",\"fSfixed64\":\"0\",\"fUint64\":\"0\",\"fFixed64\":\"0\",\"fFloat\":0,"
    "\"fDouble\":0,\"fBool\":false,\"fString\":\"\",\"fBytes\":\"\",\"fEnum\":\"unspecified\","
    "\"fInner\":null,\"fTime\":null,\"rInt32\":[],\"rInt64\":[],\"rDouble\":[],\"rBool\":[],"
    "\"rString\":[],\"rBytes\":[],\"rEnum\":[],\"rInner\":[],\"rUint64\":[],\"rFloat\":[]}";

static void test_defaults_are_emitted(void **state)
{
    Pbjsontest__Scalars s = PBJSONTEST__SCALARS__INIT;
    char *out = pbjson_encode(&s.base, NULL);
    (void)state;
    assert_string_equal(out, defaults_json);
    free(out);
    roundtrip("{}", SC, defaults_json);
    roundtrip("  ", SC, defaults_json);
    /* null means "not set" */
    roundtrip("{\"fInt32\":null,\"fInner\":null,\"rInt32\":null,\"cText\":null}", SC,
              defaults_json);
}

static void test_every_scalar_kind(void **state)
{
    const char *in =
        "{\"fInt32\":-2147483648,\"fSint32\":-5,\"fSfixed32\":2147483647,\"fUint32\":4294967295,"
        "\"fFixed32\":7,\"fInt64\":\"-9223372036854775808\",\"fSint64\":-42,"
        "\"fSfixed64\":\"9223372036854775807\",\"fUint64\":\"18446744073709551615\","
        "\"fFixed64\":12,\"fFloat\":0.1,\"fDouble\":2.5e-8,\"fBool\":true,\"fString\":\"h\\u00e9\","
        "\"fBytes\":\"AAEC/w==\",\"fEnum\":\"dark_blue\",\"fInner\":{\"label\":\"x\"},"
        "\"fTime\":\"2024-02-29T23:59:59.5Z\",\"cNumber\":\"77\"}";
    Pbjsontest__Scalars *s = (Pbjsontest__Scalars *)decode_ok(in, SC);
    char *out;
    (void)state;
    assert_int_equal(s->f_int32, INT32_MIN);
    assert_int_equal(s->f_sint32, -5);
    assert_int_equal(s->f_sfixed32, INT32_MAX);
    assert_int_equal(s->f_uint32, UINT32_MAX);
    assert_int_equal(s->f_fixed32, 7);
    assert_true(s->f_int64 == INT64_MIN);
    assert_true(s->f_sint64 == -42);
    assert_true(s->f_sfixed64 == INT64_MAX);
    assert_true(s->f_uint64 == UINT64_MAX);
    assert_true(s->f_fixed64 == 12);
    assert_true(s->f_float == 0.1f);
    assert_true(s->f_double == 2.5e-8);
    assert_true(s->f_bool);
    assert_string_equal(s->f_string, "h\xc3\xa9");
    assert_int_equal(s->f_bytes.len, 4);
    assert_memory_equal(s->f_bytes.data, "\x00\x01\x02\xff", 4);
    assert_int_equal(s->f_enum, PBJSONTEST__COLOR__COLOR_DARK_BLUE);
    assert_string_equal(s->f_inner->label, "x");
    assert_null(s->f_inner->child);
    assert_int_equal(s->f_time->seconds, 1709251199);
    assert_int_equal(s->f_time->nanos, 500000000);
    assert_int_equal(s->choice_case, PBJSONTEST__SCALARS__CHOICE_C_NUMBER);
    assert_true(s->c_number == 77);
    out = pbjson_encode(&s->base, NULL);
    assert_string_equal(
        out,
        "{\"fInt32\":-2147483648,\"fSint32\":-5,\"fSfixed32\":2147483647,\"fUint32\":4294967295,"
        "\"fFixed32\":7,\"fInt64\":\"-9223372036854775808\",\"fSint64\":\"-42\","
        "\"fSfixed64\":\"9223372036854775807\",\"fUint64\":\"18446744073709551615\","
        "\"fFixed64\":\"12\",\"fFloat\":0.1,\"fDouble\":2.5e-08,\"fBool\":true,"
        "\"fString\":\"h\xc3\xa9\",\"fBytes\":\"AAEC/w==\",\"fEnum\":\"dark_blue\","
        "\"fInner\":{\"label\":\"x\",\"child\":null},\"fTime\":\"2024-02-29T23:59:59.500Z\","
        "\"rInt32\":[],\"rInt64\":[],\"rDouble\":[],\"rBool\":[],\"rString\":[],\"rBytes\":[],"
        "\"rEnum\":[],\"rInner\":[],\"rUint64\":[],\"rFloat\":[],\"cNumber\":\"77\"}");
    free(out);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_repeated(void **state)
{
    const char *in = "{\"rInt32\":[1,\"2\",-3],\"rInt64\":[\"5\",6],\"rDouble\":[1.5,\"NaN\"],"
                     "\"rBool\":[true,false],\"rString\":[\"a\",\"\"],\"rBytes\":[\"_-8\",\"\"],"
                     "\"rEnum\":[\"COLOR_RED\",2,\"Red\"],\"rInner\":[{},{\"label\":\"b\"}],"
                     "\"rUint64\":[\"1\"],\"rFloat\":[\"Infinity\",\"-Infinity\",3]}";
    Pbjsontest__Scalars *s = (Pbjsontest__Scalars *)decode_ok(in, SC);
    char *out;
    (void)state;
    assert_int_equal(s->n_r_int32, 3);
    assert_int_equal(s->r_int32[2], -3);
    assert_int_equal(s->n_r_bytes, 2);
    assert_int_equal(s->r_bytes[0].len, 2);
    assert_memory_equal(s->r_bytes[0].data, "\xff\xef", 2);
    assert_int_equal(s->n_r_enum, 3);
    assert_true(isnan(s->r_double[1]));
    assert_true(isinf(s->r_float[0]) && s->r_float[0] > 0);
    out = pbjson_encode(&s->base, NULL);
    assert_non_null(strstr(out, "\"rInt32\":[1,2,-3],\"rInt64\":[\"5\",\"6\"],"
                                "\"rDouble\":[1.5,\"NaN\"],\"rBool\":[true,false],"
                                "\"rString\":[\"a\",\"\"],\"rBytes\":[\"/+8=\",\"\"],"
                                "\"rEnum\":[\"red\",\"dark_blue\",\"red\"],"
                                "\"rInner\":[{\"label\":\"\",\"child\":null},"
                                "{\"label\":\"b\",\"child\":null}],\"rUint64\":[\"1\"],"
                                "\"rFloat\":[\"Infinity\",\"-Infinity\",3]"));
    free(out);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_numeric_errors(void **state)
{
    (void)state;
    decode_err("{\"fInt32\":2147483648}", SC, "fInt32: 2147483648 out of range");
    decode_err("{\"fInt32\":1.5}", SC, "fInt32: expected an integer");
    decode_err("{\"fInt32\":\"1x\"}", SC, "fInt32: expected an integer, got \"1x\"");
    decode_err("{\"fInt32\":true}", SC, "fInt32: expected integer, got boolean");
    decode_err("{\"fUint32\":-1}", SC, "fUint32: -1 out of range");
    decode_err("{\"fUint32\":4294967296}", SC, "fUint32: 4294967296 out of range");
    decode_err("{\"fUint64\":\"-1\"}", SC, "fUint64: expected a non-negative integer, got \"-1\"");
    decode_err("{\"fInt64\":\"9223372036854775808\"}", SC,
               "fInt64: expected an integer, got \"9223372036854775808\"");
    decode_err("{\"fFloat\":1e39}", SC, "fFloat: out of range for float");
    decode_err("{\"fDouble\":\"nan\"}", SC, "fDouble: expected a number, got \"nan\"");
    decode_err("{\"fDouble\":[]}", SC, "fDouble: expected number, got array");
    decode_err("{\"fBool\":\"true\"}", SC, "fBool: expected boolean, got string");
    decode_err("{\"fBool\":1}", SC, "fBool: expected boolean, got number");
}

static void test_string_bytes_enum_errors(void **state)
{
    (void)state;
    decode_err("{\"fString\":5}", SC, "fString: expected string, got number");
    decode_err("{\"fString\":\"a\\u0000b\"}", SC,
               "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"' "
               "(line 1, column 21)");
    decode_err("{\"fBytes\":\"!!!!\"}", SC, "fBytes: invalid base64");
    decode_err("{\"fBytes\":\"A\"}", SC, "fBytes: invalid base64");
    decode_err("{\"fEnum\":\"purple\"}", SC, "fEnum: unknown value \"purple\"");
    decode_err("{\"fEnum\":{}}", SC, "fEnum: expected string, got object");
    decode_err("{\"rEnum\":[\"red\",\"x\"]}", SC, "rEnum[1]: unknown value \"x\"");
    decode_err("{\"rInt32\":[1,null]}", SC, "rInt32[1]: null is not allowed in an array");
    decode_err("{\"rInt32\":5}", SC, "rInt32: expected array, got number");
}

static void test_invalid_utf8_rejected(void **state)
{
    char err[256];
    ProtobufCMessage *m = NULL;
    const char bad[] = "{\"fString\":\"\xc3\x28\"}";
    (void)state;
    assert_int_equal(pbjson_decode(bad, sizeof bad - 1, 0, SC, &m, err, sizeof err),
                     CS_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(err, "invalid JSON"));
}

static void test_output_escaping(void **state)
{
    Pbjsontest__Scalars s = PBJSONTEST__SCALARS__INIT;
    char str[] = "q\"b\\n\n\t\x01\xff\xe2\x82\xac";
    char *out;
    (void)state;
    s.f_string = str;
    out = pbjson_encode(&s.base, NULL);
    assert_non_null(
        strstr(out, "\"fString\":\"q\\\"b\\\\n\\n\\t\\u0001\xef\xbf\xbd\xe2\x82\xac\""));
    free(out);
}

static void test_enums_short_full_number(void **state)
{
    Callservice__V1__User *u;
    char *out;
    (void)state;
    u = (Callservice__V1__User *)decode_ok("{\"role\":\"ROLE_ADMIN\",\"status\":\"BUSY\"}",
                                           &callservice__v1__user__descriptor);
    assert_int_equal(u->role, CALLSERVICE__V1__ROLE__ROLE_ADMIN);
    assert_int_equal(u->status, CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_BUSY);
    u->role = 42; /* unknown numbers go out as numbers */
    out = pbjson_encode(&u->base, NULL);
    assert_non_null(strstr(out, "\"role\":42,\"status\":\"busy\""));
    free(out);
    protobuf_c_message_free_unpacked(&u->base, NULL);
    u = (Callservice__V1__User *)decode_ok("{\"role\":3,\"status\":\"2\"}",
                                           &callservice__v1__user__descriptor);
    assert_int_equal(u->role, CALLSERVICE__V1__ROLE__ROLE_AGENT);
    assert_int_equal(u->status, 2);
    protobuf_c_message_free_unpacked(&u->base, NULL);
    roundtrip("{\"status\":\"in_progress\"}", &callservice__v1__status_count__descriptor,
              "{\"status\":\"in_progress\",\"count\":\"0\"}");
    roundtrip("{\"status\":\"CALL_STATUS_NO_ANSWER\",\"count\":\"12\"}",
              &callservice__v1__status_count__descriptor,
              "{\"status\":\"no_answer\",\"count\":\"12\"}");
}

static void test_timestamps(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
        {"2024-05-01T10:20:30.123456Z", "2024-05-01T10:20:30.123456Z"},
        {"2024-05-01T10:20:30.000000001Z", "2024-05-01T10:20:30.000000001Z"},
        {"2024-05-01T12:20:30+02:00", "2024-05-01T10:20:30Z"},
        {"2024-05-01t10:20:30-01:30", "2024-05-01T11:50:30Z"},
        {"1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"},
        {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
        {"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"},
    };
    static const char *const bad[] = {
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-01 10:20:30Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:20:30",
        "2024-05-01T10:20:30.Z",
        "2024-05-01T10:20:30.1234567890Z",
        "0000-01-01T00:00:00Z",
        /* in range as written, out of range once the offset is applied */
        "9999-12-31T23:59:59-23:00",
        "0001-01-01T00:00:00+01:00",
        "",
        "2024-05-01T10:20:30Zx",
    };
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char in[128], out[128];
        snprintf(in, sizeof in, "{\"at\":\"%s\"}", ok[i].in);
        snprintf(out, sizeof out,
                 "{\"byUserId\":\"\",\"byName\":\"\",\"to\":\"\",\"toUserId\":\"\",\"at\":\"%s\"}",
                 ok[i].out);
        roundtrip(in, &callservice__v1__transfer__descriptor, out);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char in[128], want[160];
        snprintf(in, sizeof in, "{\"at\":\"%s\"}", bad[i]);
        snprintf(want, sizeof want, "at: invalid RFC 3339 timestamp \"%s\"", bad[i]);
        decode_err(in, &callservice__v1__transfer__descriptor, want);
    }
    decode_err("{\"at\":1700000000}", &callservice__v1__transfer__descriptor,
               "at: expected RFC 3339 timestamp string, got number");
}

static void test_oneof_presence(void **state)
{
    const ProtobufCMessageDescriptor *d = &callservice__v1__update_profile_request__descriptor;
    Callservice__V1__UpdateProfileRequest *u;
    (void)state;
    u = (Callservice__V1__UpdateProfileRequest *)decode_ok("{\"name\":\"\"}", d);
    assert_int_equal(u->name_opt_case, CALLSERVICE__V1__UPDATE_PROFILE_REQUEST__NAME_OPT_NAME);
    assert_int_equal(u->email_opt_case, 0);
    protobuf_c_message_free_unpacked(&u->base, NULL);
    /* a set member is output even when empty; unset ones are left out */
    roundtrip("{\"name\":\"\"}", d, "{\"name\":\"\",\"currentPassword\":\"\"}");
    roundtrip("{\"email\":\"a@b\",\"password\":\"p\"}", d,
              "{\"email\":\"a@b\",\"password\":\"p\",\"currentPassword\":\"\"}");
    /* a scalar oneof member that fails leaves its case unset */
    decode_err("{\"role\":\"boss\"}", &callservice__v1__update_user_request__descriptor,
               "role: unknown value \"boss\"");
    decode_err("{\"cText\":\"a\",\"cNumber\":1}", SC,
               "cNumber: only one of this field and \"cText\" may be set");
    decode_err("{\"cInner\":{\"label\":1},\"cText\":\"a\"}", SC,
               "cInner.label: expected string, got number");
    roundtrip("{\"cInner\":{}}", SC,
              "{\"fInt32\":0,\"fSint32\":0,\"fSfixed32\":0,\"fUint32\":0,\"fFixed32\":0,"
              "\"fInt64\":\"0\",\"fSint64\":\"0\",\"fSfixed64\":\"0\",\"fUint64\":\"0\","
              "\"fFixed64\":\"0\",\"fFloat\":0,\"fDouble\":0,\"fBool\":false,\"fString\":\"\","
              "\"fBytes\":\"\",\"fEnum\":\"unspecified\",\"fInner\":null,\"fTime\":null,"
              "\"rInt32\":[],\"rInt64\":[],\"rDouble\":[],\"rBool\":[],\"rString\":[],"
              "\"rBytes\":[],\"rEnum\":[],\"rInner\":[],\"rUint64\":[],\"rFloat\":[],"
              "\"cInner\":{\"label\":\"\",\"child\":null}}");
}

static void test_paths_and_unknown_fields(void **state)
{
    const ProtobufCMessageDescriptor *u = &callservice__v1__user__descriptor;
    (void)state;
    decode_err("{\"sipDevice\":{\"extension\":3001}}", u,
               "sipDevice.extension: expected string, got number");
    decode_err("{\"sip_device\":{\"bogus\":1}}", u, "sip_device.bogus: unknown field");
    decode_err("{\"nope\":1}", u, "nope: unknown field");
    decode_err("{\"sipDevice\":[]}", u, "sipDevice: expected object, got array");
    decode_err("{\"name\":\"a\",\"name\":\"b\"}", u,
               "invalid JSON: duplicate object key near '\"name\"' (line 1, column 18)");
    decode_err("{\"sipDevice\":{},\"sip_device\":{}}", u, "sip_device: field given twice");
    decode_err("[]", u, "expected object, got array");
    decode_err("{\"rInner\":[{},{\"child\":{\"label\":false}}]}", SC,
               "rInner[1].child.label: expected string, got boolean");
    decode_err("{", u, "invalid JSON: string or '}' expected near end of file (line 1, column 1)");
    /* proto names are accepted too */
    roundtrip("{\"sip_device\":{\"extension\":\"3001\"},\"created_at\":\"2024-01-01T00:00:00Z\"}",
              u,
              "{\"id\":\"\",\"name\":\"\",\"email\":\"\",\"role\":\"unspecified\","
              "\"status\":\"unspecified\",\"sipDevice\":{\"extension\":\"3001\",\"username\":\"\","
              "\"secret\":\"\",\"context\":\"\",\"endpoint\":\"\"},"
              "\"createdAt\":\"2024-01-01T00:00:00Z\",\"updatedAt\":null}");
}

static void test_depth_limit(void **state)
{
    char json[1024];
    size_t n = 0;
    (void)state;
    /* 31 nested children: depth 32, allowed */
    for (int i = 0; i < 31; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{\"child\":");
    n += (size_t)snprintf(json + n, sizeof json - n, "{}");
    for (int i = 0; i < 31; i++)
        json[n++] = '}';
    json[n] = '\0';
    {
        ProtobufCMessage *m = decode_ok(json, &pbjsontest__inner__descriptor);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{\"child\":");
    n += (size_t)snprintf(json + n, sizeof json - n, "{}");
    for (int i = 0; i < 40; i++)
        json[n++] = '}';
    json[n] = '\0';
    decode_err(json, &pbjsontest__inner__descriptor, "JSON nested deeper than 32");
    assert_int_equal(pbjson_depth_ok("[\"[[[[\"]", 8, 1), 1);
    assert_int_equal(pbjson_depth_ok("[[1]]", 5, 1), 0);
    assert_int_equal(pbjson_depth_ok("[\"\\\"[[\"]", 9, 1), 1);
}

static void test_size_limit_and_json_value(void **state)
{
    char err[128];
    json_t *j = NULL;
    ProtobufCMessage *m = NULL;
    Callservice__V1__PageInfo p = CALLSERVICE__V1__PAGE_INFO__INIT;
    (void)state;
    assert_int_equal(pbjson_parse("{}", 2, 1, &j, err, sizeof err), CS_ERR_RESOURCE);
    assert_null(j);
    p.page = 2;
    p.total = 41;
    j = pbjson_encode_json(&p.base);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 41);
    assert_int_equal(
        pbjson_decode_json(j, &callservice__v1__page_info__descriptor, 0, &m, err, sizeof err),
        CS_OK);
    assert_int_equal(((Callservice__V1__PageInfo *)m)->page, 2);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);
}

static void test_names(void **state)
{
    char buf[64];
    (void)state;
    pbjson_json_name("average_duration_seconds", buf, sizeof buf);
    assert_string_equal(buf, "averageDurationSeconds");
    assert_string_equal(
        pbjson_enum_short_name(&callservice__v1__presence_status__descriptor, 4, buf, sizeof buf),
        "offline");
    assert_null(pbjson_enum_short_name(&callservice__v1__role__descriptor, 99, buf, sizeof buf));
    assert_non_null(pbjson_field(&callservice__v1__call__descriptor, "durationSeconds"));
    assert_non_null(pbjson_field(&callservice__v1__call__descriptor, "duration_seconds"));
    assert_null(pbjson_field(&callservice__v1__call__descriptor, "DurationSeconds"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_emitted),
        cmocka_unit_test(test_every_scalar_kind),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_numeric_errors),
        cmocka_unit_test(test_string_bytes_enum_errors),
        cmocka_unit_test(test_invalid_utf8_rejected),
        cmocka_unit_test(test_output_escaping),
        cmocka_unit_test(test_enums_short_full_number),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_oneof_presence),
        cmocka_unit_test(test_paths_and_unknown_fields),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_size_limit_and_json_value),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
