/*
 * far: far-end behaviour tables. See far.h.
 *
 * The configured rows live in one small fixed array: tests set a handful,
 * and a bound keeps a runaway client from growing the simulator.
 */
#include "far.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FAR_MAX_ROWS 1024
#define FAR_KEY_MAX  160

typedef struct far_row {
    int used;
    far_scope scope;
    char key[FAR_KEY_MAX];
    far_cfg cfg;
} far_row;

static far_row far__rows[FAR_MAX_ROWS];

/* The dialplan of shared/ari/README.md, as far-end behaviours. */
static const struct {
    const char *context;
    far_cfg cfg;
} far__builtin[] = {
    {"answer-wait", {FAR_ANSWER, 0, -1}},        {"ring-answer", {FAR_ANSWER, 2000, -1}},
    {"ring-forever", {FAR_RING_FOREVER, 0, -1}}, {"busy", {FAR_BUSY, 0, -1}},
    {"answer-hangup-3s", {FAR_ANSWER, 0, 3000}}, {"dtmf-sender", {FAR_ANSWER, 0, -1}},
    {"stasis-in", {FAR_STASIS, 0, -1}},
};

static const struct {
    const char *name;
    far_mode mode;
} far__modes[] = {
    {"answer", FAR_ANSWER}, {"ring_forever", FAR_RING_FOREVER}, {"no_answer", FAR_NO_ANSWER},
    {"busy", FAR_BUSY},     {"unavailable", FAR_UNAVAILABLE},   {"congestion", FAR_CONGESTION},
    {"stasis", FAR_STASIS}, {"invalid", FAR_INVALID},
};

static const char *const far__scopes[] = {"default", "tech", "endpoint", "context"};

static const far_cfg far__default = {FAR_ANSWER, 1000, -1};

void far_init(void)
{
    memset(far__rows, 0, sizeof(far__rows));
}

void far_free(void)
{
    far_init();
}

const char *far_mode_name(far_mode m)
{
    for (size_t i = 0; i < sizeof(far__modes) / sizeof(far__modes[0]); i++) {
        if (far__modes[i].mode == m)
            return far__modes[i].name;
    }
    return "?";
}

int far_scope_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(far__scopes) / sizeof(far__scopes[0]); i++) {
        if (strcmp(s, far__scopes[i]) == 0)
            return (int)i;
    }
    return -1;
}

static far_row *far__find(far_scope scope, const char *key)
{
    for (size_t i = 0; i < FAR_MAX_ROWS; i++) {
        far_row *r = &far__rows[i];
        if (!r->used || r->scope != scope)
            continue;
        /* technologies compare like Asterisk's: case-insensitively */
        if (scope == FAR_SCOPE_DEFAULT ||
            (scope == FAR_SCOPE_TECH && strcasecmp(r->key, key) == 0) ||
            (scope != FAR_SCOPE_TECH && strcmp(r->key, key) == 0))
            return r;
    }
    return NULL;
}

far_cfg far_context(const char *context)
{
    far_row *r = far__find(FAR_SCOPE_CONTEXT, context);
    if (r)
        return r->cfg;
    for (size_t i = 0; i < sizeof(far__builtin) / sizeof(far__builtin[0]); i++) {
        if (strcmp(far__builtin[i].context, context) == 0)
            return far__builtin[i].cfg;
    }
    return (far_cfg){FAR_INVALID, 0, -1};
}

far_cfg far_resolve(const char *tech, const char *resource)
{
    char key[FAR_KEY_MAX];
    far_row *r;

    snprintf(key, sizeof(key), "%s/%s", tech, resource);
    r = far__find(FAR_SCOPE_ENDPOINT, key);
    if (r)
        return r->cfg;
    if (strcasecmp(tech, "Local") == 0) {
        const char *at = strchr(resource, '@');
        return far_context(at ? at + 1 : "default");
    }
    r = far__find(FAR_SCOPE_TECH, tech);
    if (r)
        return r->cfg;
    r = far__find(FAR_SCOPE_DEFAULT, "");
    return r ? r->cfg : far__default;
}

int far_parse(const json_t *body, far_cfg *out, char *err, size_t errlen)
{
    const char *mode;
    json_t *v;

    *out = far__default;
    if (!json_is_object(body)) {
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    mode = json_string_value(json_object_get(body, "mode"));
    if (!mode) {
        snprintf(err, errlen, "mode is required");
        return -1;
    }
    out->mode = (far_mode)-1;
    for (size_t i = 0; i < sizeof(far__modes) / sizeof(far__modes[0]); i++) {
        if (strcmp(mode, far__modes[i].name) == 0)
            out->mode = far__modes[i].mode;
    }
    if ((int)out->mode < 0) {
        snprintf(err, errlen, "unknown mode '%.40s'", mode);
        return -1;
    }
    /* without answer_after_ms a device rings the default second; busy and
     * the like answer at once */
    out->answer_after_ms = (out->mode == FAR_ANSWER || out->mode == FAR_NO_ANSWER) ? 1000 : 0;
    v = json_object_get(body, "answer_after_ms");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400000) {
            snprintf(err, errlen, "answer_after_ms must be an integer 0..86400000");
            return -1;
        }
        out->answer_after_ms = (int)json_integer_value(v);
    }
    v = json_object_get(body, "hangup_after_ms");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 86400000) {
            snprintf(err, errlen, "hangup_after_ms must be an integer 0..86400000 or null");
            return -1;
        }
        out->hangup_after_ms = (int)json_integer_value(v);
    }
    return 0;
}

int far_set(far_scope scope, const char *key, const far_cfg *cfg)
{
    far_row *r = far__find(scope, scope == FAR_SCOPE_DEFAULT ? "" : key);
    for (size_t i = 0; !r && i < FAR_MAX_ROWS; i++) {
        if (!far__rows[i].used)
            r = &far__rows[i];
    }
    if (!r)
        return -1;
    r->used = 1;
    r->scope = scope;
    snprintf(r->key, sizeof(r->key), "%s", scope == FAR_SCOPE_DEFAULT ? "" : key);
    r->cfg = *cfg;
    return 0;
}

int far_clear(far_scope scope, const char *key)
{
    far_row *r = far__find(scope, scope == FAR_SCOPE_DEFAULT ? "" : key);
    if (!r)
        return -1;
    r->used = 0;
    return 0;
}

static json_t *far__cfg_json(const far_cfg *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(far_mode_name(c->mode)));
    json_object_set_new(o, "answer_after_ms", json_integer(c->answer_after_ms));
    json_object_set_new(o, "hangup_after_ms",
                        c->hangup_after_ms < 0 ? json_null() : json_integer(c->hangup_after_ms));
    return o;
}

json_t *far_list(void)
{
    json_t *out = json_array();
    json_t *ctx = json_object();

    for (size_t i = 0; i < FAR_MAX_ROWS; i++) {
        const far_row *r = &far__rows[i];
        json_t *o;
        if (!r->used)
            continue;
        o = far__cfg_json(&r->cfg);
        json_object_set_new(o, "scope", json_string(far__scopes[r->scope]));
        json_object_set_new(o, "key", json_string(r->key));
        json_array_append_new(out, o);
    }
    for (size_t i = 0; i < sizeof(far__builtin) / sizeof(far__builtin[0]); i++)
        json_object_set_new(ctx, far__builtin[i].context, far__cfg_json(&far__builtin[i].cfg));
    {
        json_t *res = json_object();
        json_object_set_new(res, "configured", out);
        json_object_set_new(res, "builtin_contexts", ctx);
        json_object_set_new(res, "builtin_default", far__cfg_json(&far__default));
        return res;
    }
}

void far_each_endpoint(void (*fn)(const char *tech, const char *resource, void *arg), void *arg)
{
    for (size_t i = 0; i < FAR_MAX_ROWS; i++) {
        const far_row *r = &far__rows[i];
        char tech[FAR_KEY_MAX];
        const char *slash;
        if (!r->used || r->scope != FAR_SCOPE_ENDPOINT)
            continue;
        slash = strchr(r->key, '/');
        if (!slash)
            continue;
        snprintf(tech, sizeof(tech), "%.*s", (int)(slash - r->key), r->key);
        fn(tech, slash + 1, arg);
    }
}
