/*
 * pbjson: one generic JSON <-> protobuf mapping over protobuf-c descriptors.
 *
 * It follows the proto3 JSON mapping with the contract's conventions
 * (proto/callservice/v1/common.proto):
 *   - names: lowerCamelCase on output; lowerCamelCase or the proto name on input;
 *   - 64-bit integers: strings on output; strings or JSON numbers on input;
 *     32-bit integers: numbers on output; numbers or numeric strings on input;
 *   - float/double: numbers, "NaN", "Infinity", "-Infinity" as strings;
 *   - bytes: base64 (standard, padded) on output; standard or URL-safe, padded
 *     or not, on input;
 *   - enums: the short lower-case name (CALL_STATUS_IN_PROGRESS is
 *     "in_progress") on output, or the number if it has no name; the short
 *     name, the full name (any case) or the number on input;
 *   - google.protobuf.Timestamp: RFC 3339 ("2024-05-01T10:20:30.5Z") with
 *     0, 3, 6 or 9 fractional digits out, any offset in;
 *   - one-field oneofs (`x_opt`) give presence: a set member is output even
 *     when it holds its default, an unset one is left out;
 *   - null on input means "not set".
 *
 * Output decision: every field is emitted, defaults included (0, "", false,
 * [], the enum's zero value, and null for an unset message or timestamp),
 * except members of a oneof that is not set. REST clients then see one
 * stable shape per message instead of keys that come and go.
 *
 * Input is strict: an unknown field, a value of the wrong JSON type, a number
 * out of range, invalid UTF-8, a duplicate key, two members of one oneof, or
 * nesting deeper than PBJSON_MAX_DEPTH is CS_ERR_INVALID with a message that
 * names the field path, e.g. "sipDevice.extension: expected string".
 *
 * Ownership: decoded messages are allocated entirely with malloc (strings,
 * arrays and sub-messages too) and freed by the caller with
 * protobuf_c_message_free_unpacked(msg, NULL). Encoded strings are malloc'd
 * and freed by the caller with free(); json_t results are new references.
 * Thread-safe. The only global state is a cache of the JSON text of the
 * names of each message and enum descriptor the writer meets (built once
 * under a lock on first use, then read without one, never freed).
 */
#ifndef GW_PBJSON_H
#define GW_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

#define PBJSON_MAX_DEPTH 32

/* Decode flags. */
enum {
    /* Values come from a URL (path, query): "true"/"false" are accepted for
     * bool fields besides JSON booleans. */
    PBJSON_FROM_URL = 1,
};

/* A growable output buffer. oom is set once an allocation failed (the
 * content is then truncated and must not be used). */
typedef struct pbjson_buf {
    char *data;
    size_t len, cap;
    int oom;
} pbjson_buf;

/* Makes room for extra more bytes (and the NUL) in one allocation; -1 (and
 * oom set) when out of memory. */
int pbjson_buf_reserve(pbjson_buf *b, size_t extra);
void pbjson_buf_append(pbjson_buf *b, const char *s, size_t n);
void pbjson_buf_puts(pbjson_buf *b, const char *s);
/* Appends s (n bytes) as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void pbjson_buf_string(pbjson_buf *b, const char *s, size_t n);
void pbjson_buf_free(pbjson_buf *b);

/* Appends the JSON of msg to b. */
void pbjson_write(pbjson_buf *b, const ProtobufCMessage *msg);
/* The JSON of msg as a NUL-terminated malloc'd string (its length in *len
 * when len is not NULL); NULL when out of memory. */
char *pbjson_encode(const ProtobufCMessage *msg, size_t *len);
/* The JSON of msg as a jansson value (new reference); NULL when out of memory. */
json_t *pbjson_encode_json(const ProtobufCMessage *msg);

/* Parses JSON text of at most max_len bytes (0: no limit) after checking
 * its nesting depth; *out is a new reference. */
cs_err pbjson_parse(const char *text, size_t len, size_t max_len, json_t **out, char *err,
                    size_t errlen);
/* 1 when the brackets of text never nest deeper than max_depth (strings are
 * skipped), else 0. */
int pbjson_depth_ok(const char *text, size_t len, int max_depth);

/* Builds a message of type desc from a JSON object. On CS_OK *out is the
 * new message; on error *out is NULL and err holds the reason. */
cs_err pbjson_decode_json(const json_t *json, const ProtobufCMessageDescriptor *desc, int flags,
                          ProtobufCMessage **out, char *err, size_t errlen);
/* pbjson_parse + pbjson_decode_json. Empty text decodes as {}. */
cs_err pbjson_decode(const char *text, size_t len, size_t max_len,
                     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
                     size_t errlen);

/* An arena for decoding protobuf answers: every allocation
 * protobuf_c_message_unpack makes for one message (the message, its strings,
 * arrays, sub-messages and its temporary tables) is cut from one block, and
 * the whole message goes away at once with pbjson_arena_reset instead of one
 * free() per piece. The first block (PBJSON_ARENA_BLOCK bytes) is kept across
 * resets; larger messages spill into extra malloc'd chunks that the reset
 * frees. Ownership: the arena owns every message unpacked into it; such a
 * message must never be passed to protobuf_c_message_free_unpacked. One
 * arena serves one thread at a time. A zeroed pbjson_arena is ready. */
#define PBJSON_ARENA_BLOCK 65536

typedef struct pbjson_arena_chunk pbjson_arena_chunk;
typedef struct pbjson_arena {
    char *block;
    size_t used;
    pbjson_arena_chunk *extra; /* spilled allocations, freed by the reset */
} pbjson_arena;

/* Unpacks len bytes of data as a desc message into a; NULL when the bytes
 * are not a valid message or memory ran out (the arena must still be
 * reset). */
ProtobufCMessage *pbjson_arena_unpack(pbjson_arena *a, const ProtobufCMessageDescriptor *desc,
                                      size_t len, const uint8_t *data);
/* Releases every message unpacked into a; keeps the first block. */
void pbjson_arena_reset(pbjson_arena *a);
/* Releases everything, the first block too; a is then zeroed. */
void pbjson_arena_free(pbjson_arena *a);

/* "sip_device" -> "sipDevice" (truncated to outlen). */
void pbjson_json_name(const char *proto_name, char *out, size_t outlen);
/* The short lower-case name of an enum value ("in_progress"); NULL if the
 * value has no name. buf receives it. */
const char *pbjson_enum_short_name(const ProtobufCEnumDescriptor *ed, int value, char *buf,
                                   size_t buflen);
/* 1 if desc is google.protobuf.Timestamp. */
int pbjson_is_timestamp(const ProtobufCMessageDescriptor *desc);
/* Finds a field by its JSON name or proto name; NULL if none. */
const ProtobufCFieldDescriptor *pbjson_field(const ProtobufCMessageDescriptor *desc,
                                             const char *name);

#endif
