/* openapi: OpenAPI 3.0 from gw_routes and protobuf-c descriptors. */
#include "openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pbjson.h"
#include "routes.h"

static json_t *gw__msg_ref(json_t *schemas, const ProtobufCMessageDescriptor *d);

static json_t *gw__scalar_schema(json_t *schemas, const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_pack("{s:s,s:s,s:i}", "type", "integer", "format", "int64", "minimum", 0);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_pack("{s:s,s:s}", "type", "string", "format", "int64");
    case PROTOBUF_C_TYPE_FLOAT:
        return json_pack("{s:s,s:s}", "type", "number", "format", "float");
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_pack("{s:s,s:s}", "type", "number", "format", "double");
    case PROTOBUF_C_TYPE_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case PROTOBUF_C_TYPE_STRING:
        return json_pack("{s:s}", "type", "string");
    case PROTOBUF_C_TYPE_BYTES:
        return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        json_t *vals = json_array();
        char buf[128];
        for (unsigned i = 0; i < ed->n_values; i++)
            if (pbjson_enum_short_name(ed, ed->values[i].value, buf, sizeof buf))
                json_array_append_new(vals, json_string(buf));
        return json_pack("{s:s,s:o}", "type", "string", "enum", vals);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *md = f->descriptor;
        if (pbjson_is_timestamp(md))
            return json_pack("{s:s,s:s,s:b}", "type", "string", "format", "date-time", "nullable",
                             1);
        return gw__msg_ref(schemas, md);
    }
    }
    return json_object();
}

static json_t *gw__field_schema(json_t *schemas, const ProtobufCFieldDescriptor *f)
{
    json_t *s = gw__scalar_schema(schemas, f);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return json_pack("{s:s,s:o}", "type", "array", "items", s);
    return s;
}

/* Adds the schema of d (and what it references) to schemas; returns a $ref. */
static json_t *gw__msg_ref(json_t *schemas, const ProtobufCMessageDescriptor *d)
{
    char ref[256];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", d->name);
    if (!json_object_get(schemas, d->name)) {
        json_t *props = json_object();
        json_t *schema = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
                                   "additionalProperties", 0);
        json_object_set_new(schemas, d->name, schema); /* first: breaks recursion */
        for (unsigned i = 0; i < d->n_fields; i++) {
            char name[128];
            pbjson_json_name(d->fields[i].name, name, sizeof name);
            json_object_set_new(props, name, gw__field_schema(schemas, &d->fields[i]));
        }
    }
    return json_pack("{s:s}", "$ref", ref);
}

/* "/api/users/:id" -> "/api/users/{id}" */
static void gw__oa_path(const char *pattern, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 4 < n; p++) {
        if (p[0] == ':' && strncmp(p, ":id", 3) == 0) {
            memcpy(out + o, "{id}", 4);
            o += 4;
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static json_t *gw__operation(json_t *schemas, const gw_route *r)
{
    json_t *params = json_array();
    json_t *op = json_object();
    json_t *responses = json_object();
    char code[8], lower[16];
    size_t i;
    for (i = 0; r->method[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)(r->method[i] - 'A' + 'a');
    lower[i] = '\0';
    json_object_set_new(op, "operationId", json_string(strrchr(r->rpc, '/') + 1));
    json_object_set_new(op, "summary", json_string(r->summary));
    json_object_set_new(op, "tags", json_pack("[s]", r->tag));
    json_object_set_new(op, "x-grpc-method", json_string(r->rpc));
    if (r->path_field)
        json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:{s:s},s:s}", "name", "id", "in",
                                                "path", "required", 1, "schema", "type", "string",
                                                "description", r->path_field));
    if (!r->body) {
        for (unsigned k = 0; k < r->request->n_fields; k++) {
            const ProtobufCFieldDescriptor *f = &r->request->fields[k];
            char name[128];
            if (r->path_field && strcmp(f->name, r->path_field) == 0)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && !pbjson_is_timestamp(f->descriptor))
                continue;
            pbjson_json_name(f->name, name, sizeof name);
            json_array_append_new(params, json_pack("{s:s,s:s,s:o}", "name", name, "in", "query",
                                                    "schema", gw__field_schema(schemas, f)));
        }
    } else {
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required", 0, "content",
                                      "application/json", "schema",
                                      gw__msg_ref(schemas, r->request)));
    }
    json_object_set_new(op, "parameters", params);
    snprintf(code, sizeof code, "%d", r->status);
    json_object_set_new(responses, code,
                        json_pack("{s:s,s:{s:{s:o}}}", "description", "OK", "content",
                                  "application/json", "schema", gw__msg_ref(schemas, r->response)));
    json_object_set_new(responses, "default",
                        json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "Error", "content",
                                  "application/json", "schema", "$ref",
                                  "#/components/schemas/Error"));
    json_object_set_new(op, "responses", responses);
    if (r->auth)
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
    return op;
}

char *gw_openapi_build(const char *version)
{
    json_t *schemas = json_object();
    json_t *paths = json_object();
    json_t *doc;
    char *out;
    json_object_set_new(schemas, "Error",
                        json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s,s:{}}}}}}", "type",
                                  "object", "properties", "error", "type", "object", "properties",
                                  "code", "type", "string", "message", "type", "string", "details",
                                  "type", "array", "items"));
    for (size_t i = 0; i < gw_n_routes; i++) {
        const gw_route *r = &gw_routes[i];
        char p[128], lower[16];
        json_t *item;
        size_t k;
        gw__oa_path(r->pattern, p, sizeof p);
        item = json_object_get(paths, p);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, p, item);
        }
        for (k = 0; r->method[k] && k + 1 < sizeof lower; k++)
            lower[k] = (char)(r->method[k] - 'A' + 'a');
        lower[k] = '\0';
        json_object_set_new(item, lower, gw__operation(schemas, r));
    }
    json_object_set_new(paths, "/healthz",
                        json_pack("{s:{s:s,s:{s:{s:s}}}}", "get", "summary", "Process is up",
                                  "responses", "200", "description", "OK"));
    json_object_set_new(paths, "/readyz",
                        json_pack("{s:{s:s,s:{s:{s:s},s:{s:s}}}}", "get", "summary",
                                  "callsvc is reachable and serving", "responses", "200",
                                  "description", "Ready", "503", "description", "Not ready"));
    doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o,s:{s:{s:s,s:s,s:s}}}}", "openapi", "3.0.3",
                    "info", "title", "Call service REST API", "version", version, "description",
                    "REST gateway (callgw) over the callservice.v1 gRPC API. JSON follows the "
                    "proto3 JSON mapping: lowerCamelCase, int64 as strings, RFC 3339 "
                    "timestamps, enums as short lower-case names.",
                    "paths", paths, "components", "schemas", schemas, "securitySchemes",
                    "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
    out = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return out;
}
