/*
 * model: ARI's Channel and Bridge objects decoded from JSON, and the arena
 * their strings live in.
 *
 * Why an arena: a channel has a dozen strings, an event up to three
 * channels and a bridge. Copying them into one arena owned by the top-level
 * object makes the object independent of jansson (it can cross threads) and
 * makes freeing one call that cannot forget a field.
 */
#include "ari/ari_internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 2048

struct ari__chunk {
    struct ari__chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

struct ari__arena {
    struct ari__chunk *head;
};

ari__arena *ari__arena_new(void)
{
    return calloc(1, sizeof(ari__arena));
}

void ari__arena_free(ari__arena *a)
{
    if (!a)
        return;
    struct ari__chunk *c = a->head;
    while (c) {
        struct ari__chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *ari__arena_alloc(ari__arena *a, size_t n)
{
    void *p = NULL;
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        goto out; /* overflow */
    struct ari__chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        c = malloc(sizeof *c + size);
        if (!c)
            goto out;
        c->used = 0;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += need;
    memset(p, 0, n);
out:
    return p;
}

const char *ari__arena_strdup(ari__arena *a, const char *s, bool *oom)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = ari__arena_alloc(a, n);
    if (!d) {
        *oom = true;
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------ */

static const char *const state_names[] = {
    [ARI_CH_UNKNOWN] = "Unknown",  [ARI_CH_DOWN] = "Down",
    [ARI_CH_RSRVD] = "Rsrvd",      [ARI_CH_OFFHOOK] = "OffHook",
    [ARI_CH_DIALING] = "Dialing",  [ARI_CH_RING] = "Ring",
    [ARI_CH_RINGING] = "Ringing",  [ARI_CH_UP] = "Up",
    [ARI_CH_BUSY] = "Busy",        [ARI_CH_DIALING_OFFHOOK] = "Dialing Offhook",
    [ARI_CH_PRERING] = "Pre-ring",
};

ari_channel_state ari_channel_state_parse(const char *s)
{
    for (size_t i = 1; s && i < sizeof state_names / sizeof *state_names; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (ari_channel_state)i;
    return ARI_CH_UNKNOWN;
}

const char *ari_channel_state_name(ari_channel_state s)
{
    if ((size_t)s >= sizeof state_names / sizeof *state_names)
        return "Unknown";
    return state_names[s];
}

/* A string member of a JSON object, or NULL when absent or not a string. */
static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A table of (JSON path, field offset) rows, so adding a channel field is
 * adding a row. Paths have at most one level of nesting ("caller.name"). */
typedef struct str_field {
    const char *obj; /* NULL: top level */
    const char *key;
    size_t offset;
} str_field;

static const str_field channel_fields[] = {
    {NULL, "id", offsetof(ari_channel, id)},
    {NULL, "name", offsetof(ari_channel, name)},
    {NULL, "state", offsetof(ari_channel, state_name)},
    {"caller", "name", offsetof(ari_channel, caller_name)},
    {"caller", "number", offsetof(ari_channel, caller_number)},
    {"connected", "name", offsetof(ari_channel, connected_name)},
    {"connected", "number", offsetof(ari_channel, connected_number)},
    {"dialplan", "context", offsetof(ari_channel, context)},
    {"dialplan", "exten", offsetof(ari_channel, exten)},
    {"dialplan", "app_name", offsetof(ari_channel, app_name)},
    {"dialplan", "app_data", offsetof(ari_channel, app_data)},
    {NULL, "creationtime", offsetof(ari_channel, creationtime)},
    {NULL, "language", offsetof(ari_channel, language)},
};

static const str_field bridge_fields[] = {
    {NULL, "id", offsetof(ari_bridge, id)},
    {NULL, "name", offsetof(ari_bridge, name)},
    {NULL, "technology", offsetof(ari_bridge, technology)},
    {NULL, "bridge_type", offsetof(ari_bridge, bridge_type)},
    {NULL, "bridge_class", offsetof(ari_bridge, bridge_class)},
    {NULL, "creator", offsetof(ari_bridge, creator)},
    {NULL, "creationtime", offsetof(ari_bridge, creationtime)},
};

static bool copy_fields(const json_t *j, ari__arena *a, void *dst, const str_field *f, size_t n)
{
    bool oom = false;
    for (size_t i = 0; i < n && !oom; i++) {
        const json_t *o = f[i].obj ? json_object_get(j, f[i].obj) : j;
        *(const char **)((char *)dst + f[i].offset) = ari__arena_strdup(a, jstr(o, f[i].key), &oom);
    }
    return !oom;
}

cs_err ari__channel_from_json(const json_t *j, ari__arena *a, ari_channel *ch)
{
    cs_err rc = CS_ERR_INVALID;
    memset(ch, 0, sizeof *ch);
    if (!json_is_object(j) || !jstr(j, "id"))
        goto out;
    rc = CS_ERR_INTERNAL;
    if (!copy_fields(j, a, ch, channel_fields, sizeof channel_fields / sizeof *channel_fields))
        goto out;
    ch->state = ari_channel_state_parse(ch->state_name);
    json_t *prio = json_object_get(json_object_get(j, "dialplan"), "priority");
    ch->priority = json_is_integer(prio) ? (long)json_integer_value(prio) : 0;
    rc = CS_OK;
out:
    return rc;
}

cs_err ari__bridge_from_json(const json_t *j, ari__arena *a, ari_bridge *br)
{
    cs_err rc = CS_ERR_INVALID;
    bool oom = false;
    memset(br, 0, sizeof *br);
    if (!json_is_object(j) || !jstr(j, "id"))
        goto out;
    rc = CS_ERR_INTERNAL;
    if (!copy_fields(j, a, br, bridge_fields, sizeof bridge_fields / sizeof *bridge_fields))
        goto out;
    json_t *chans = json_object_get(j, "channels");
    size_t n = json_is_array(chans) ? json_array_size(chans) : 0;
    if (n) {
        br->channels = ari__arena_alloc(a, n * sizeof *br->channels);
        if (!br->channels)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(chans, i));
            if (s)
                br->channels[br->n_channels++] = ari__arena_strdup(a, s, &oom);
        }
        if (oom)
            goto out;
    }
    rc = CS_OK;
out:
    return rc;
}

void ari_channel_free(ari_channel *ch)
{
    if (!ch)
        return;
    ari__arena_free(ch->_arena);
    free(ch);
}

void ari_bridge_free(ari_bridge *br)
{
    if (!br)
        return;
    ari__arena_free(br->_arena);
    free(br);
}

void ari_channel_list_free(ari_channel_list *l)
{
    if (!l)
        return;
    ari__arena_free(l->_arena);
    free(l);
}

void ari_bridge_list_free(ari_bridge_list *l)
{
    if (!l)
        return;
    ari__arena_free(l->_arena);
    free(l);
}
