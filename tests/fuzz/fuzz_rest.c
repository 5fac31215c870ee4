/*
 * libFuzzer target over the REST request path: method, path, query and JSON
 * body go through the route table and the JSON mapping into a request
 * message, which is then encoded back to JSON (as a response would be),
 * and once more after a pack and an unpack into a pbjson_arena (as callgw
 * decodes answers): both JSON texts must be the same bytes.
 *
 * Input layout: "METHOD PATH?QUERY\n" then the body. The query is split at
 * '&' and '=' as the HTTP layer does (lws hands over decoded fragments).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when a and b pack to the same bytes. */
static int gw__fuzz_same(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa, *pb;
    int same;
    if (na != nb)
        return 0;
    pa = malloc(na + 1);
    pb = malloc(nb + 1);
    if (!pa || !pb)
        abort();
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    same = memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Kept across inputs, as callgw keeps its own: reset after each use. */
static pbjson_arena gw__fuzz_arena_state;

/* Aborts unless msg, packed and unpacked into the arena, encodes to json. */
static void gw__fuzz_arena(const ProtobufCMessage *msg, const char *json, size_t json_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg), len = 0;
    uint8_t *wire = malloc(n + 1);
    ProtobufCMessage *copy;
    char *out;
    if (!wire)
        abort();
    protobuf_c_message_pack(msg, wire);
    copy = pbjson_arena_unpack(&gw__fuzz_arena_state, msg->descriptor, n, wire);
    if (!copy)
        abort();
    out = pbjson_encode(copy, &len);
    if (!out || len != json_len || memcmp(out, json, len) != 0)
        abort();
    free(out);
    pbjson_arena_reset(&gw__fuzz_arena_state);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[2048], *sp, *path, *qs;
    const char *nl = memchr(data, '\n', size < sizeof line ? size : sizeof line - 1);
    size_t llen;
    gw_match m;
    gw_param params[32];
    size_t np = 0;
    char err[320];
    ProtobufCMessage *msg = NULL;
    if (!nl)
        return 0;
    llen = (size_t)((const uint8_t *)nl - data);
    memcpy(line, data, llen);
    line[llen] = '\0';
    if (memchr(line, '\0', llen))
        return 0;
    sp = strchr(line, ' ');
    if (!sp)
        return 0;
    *sp = '\0';
    path = sp + 1;
    qs = strchr(path, '?');
    if (qs) {
        *qs++ = '\0';
        while (qs && *qs && np < sizeof params / sizeof *params) {
            char *amp = strchr(qs, '&'), *eq;
            if (amp)
                *amp = '\0';
            eq = strchr(qs, '=');
            if (eq)
                *eq = '\0';
            params[np].name = qs;
            params[np].value = eq ? eq + 1 : "";
            np++;
            qs = amp ? amp + 1 : NULL;
        }
    }
    if (gw_route_match(line, path, &m) != GW_MATCH_OK)
        return 0;
    if (gw_route_build(&m, (const char *)nl + 1, size - llen - 1, params, np, &msg, err,
                       sizeof err) == CS_OK) {
        size_t len = 0;
        char *out = pbjson_encode(msg, &len);
        json_t *back = out ? json_loadb(out, len, 0, NULL) : NULL;
        ProtobufCMessage *again = NULL;
        /* Our output must always be valid JSON, and read back as the same
         * message (the mapping is lossless both ways). */
        if (out && !back)
            abort();
        if (back) {
            if (pbjson_decode_json(back, msg->descriptor, 0, &again, err, sizeof err) != CS_OK)
                abort();
            if (!gw__fuzz_same(msg, again))
                abort();
            protobuf_c_message_free_unpacked(again, NULL);
        }
        /* The same message packed and unpacked into the arena (as callgw
         * does with answers) must give the same JSON, byte for byte. */
        if (out)
            gw__fuzz_arena(msg, out, len);
        json_decref(back);
        free(out);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    return 0;
}
