/*
 * events records: a call_events row (read by range, or carried by its
 * NOTIFY) turned into a ready-to-send Event, and the wire forms of stored
 * and ephemeral events on their NOTIFY channels. See internal.h.
 */
#include "events/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "db/db.h"

static int events__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int events_hex_decode(const char *hex, size_t hexlen, uint8_t *out)
{
    size_t i;

    if (hexlen % 2 != 0)
        return -1;
    for (i = 0; i < hexlen; i += 2) {
        int hi = events__hexval(hex[i]), lo = events__hexval(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static size_t events__varint(uint8_t *out, size_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

events_meta events_rec_meta(const events_rec *r)
{
    events_meta m;

    m.type = r->type;
    m.call_id = r->call_id;
    m.visible_to = r->visible_to;
    m.n_visible = r->n_visible;
    return m;
}

/* A strict decimal integer (an optional '-' and digits, nothing else). */
static int events__int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '-')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* One stored event's columns in text form, as EVENTS_ROW_COLUMNS prints
 * them, except the payload: plain hex, without the bytea "\x". */
typedef struct events__fields {
    const char *seq, *type, *call_id, *user_id, *vis, *kind, *time_us, *hex;
} events__fields;

/* The record for f; NULL with *malformed set if a field is bad, or NULL
 * out of memory. Shared by the row and the notification: one decoder. */
static events_rec *events__rec_new(const events__fields *f, bool *malformed)
{
    events_rec *r = NULL;
    size_t vislen = strlen(f->vis), hexlen = strlen(f->hex);
    size_t maxvis = vislen / (EVENTS_UUID_LEN + 1) + 1, paylen = hexlen / 2, hdr;
    int64_t seq, type, kind, time_us;
    char *visbuf;
    uint8_t *field;
    int n;

    *malformed = true;
    if (events__int(f->seq, &seq) != 0 || seq <= 0 || events__int(f->type, &type) != 0 ||
        !events_type_stored((int)type) || events__int(f->kind, &kind) != 0 ||
        kind < EVENTS_PAYLOAD_CALL || kind > EVENTS_PAYLOAD_NOTE ||
        events__int(f->time_us, &time_us) != 0 || (f->call_id[0] && !events_is_uuid(f->call_id)) ||
        (f->user_id[0] && !events_is_uuid(f->user_id)) || hexlen % 2 != 0)
        goto out;
    *malformed = false;
    r = calloc(1, sizeof *r + maxvis * sizeof(char *) + vislen + 1 + 10 + paylen);
    if (r == NULL)
        goto out;
    *malformed = true;
    r->visible_to = (const char **)(r + 1);
    visbuf = (char *)(r->visible_to + maxvis);
    field = (uint8_t *)(visbuf + vislen + 1);
    memcpy(visbuf, f->vis, vislen + 1);
    n = events_parse_uuid_array(visbuf, r->visible_to, maxvis);
    if (n < 0)
        goto bad;
    r->n_visible = (size_t)n;
    hdr = events__varint(field, paylen);
    if (events_hex_decode(f->hex, hexlen, field + hdr) != 0)
        goto bad;
    r->field = field;
    r->field_len = hdr + paylen;
    r->seq = seq;
    r->type = (Callservice__V1__EventType)type;
    r->payload_kind = (int)kind;
    r->time_us = time_us;
    events_uuid_lower(r->call_id, f->call_id);
    events_uuid_lower(r->user_id, f->user_id);

    callservice__v1__event__init(&r->ev);
    google__protobuf__timestamp__init(&r->ts);
    r->ts.seconds = r->time_us / 1000000;
    r->ts.nanos = (int32_t)(r->time_us % 1000000) * 1000;
    r->ev.seq = r->seq;
    r->ev.type = r->type;
    r->ev.time = &r->ts;
    r->ev.stored = 1;
    r->ev.call_id = r->call_id;
    r->ev.user_id = r->user_id;
    r->uf.tag = (uint32_t)r->payload_kind;
    r->uf.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    r->uf.len = r->field_len;
    r->uf.data = r->field;
    r->ev.base.n_unknown_fields = 1;
    r->ev.base.unknown_fields = &r->uf;
    *malformed = false;
    goto out;
bad:
    free(r);
    r = NULL;
out:
    return r;
}

events_rec *events_rec_from_row(const PGresult *res, int row)
{
    const char *hex = db_get_str(res, row, 6);
    events__fields f = {db_get_str(res, row, 0), db_get_str(res, row, 1),
                        db_get_str(res, row, 2), db_get_str(res, row, 3),
                        db_get_str(res, row, 4), db_get_str(res, row, 5),
                        db_get_str(res, row, 7), hex + (hex[0] == '\\' && hex[1] == 'x' ? 2 : 0)};
    events_rec *r = NULL;
    bool malformed = true;

    if (f.hex != hex)
        r = events__rec_new(&f, &malformed);
    if (malformed)
        log_error("events: malformed call_events row (seq %s)", f.seq);
    return r;
}

char *events_notify_tail(Callservice__V1__EventType type, const char *call_id, const char *user_id,
                         const char *vis, int kind, const char *hex)
{
    size_t vislen = strlen(vis), hexlen = strlen(hex), len, pos;
    char *s = NULL;

    /* type, kind (two digits each at most), the uuids, six separators */
    len = 2 + (call_id != NULL ? EVENTS_UUID_LEN : 0) + (user_id != NULL ? EVENTS_UUID_LEN : 0) +
          vislen + 2 + hexlen + 6;
    if (type < 0 || type > 99 || kind < 0 || kind > 99 ||
        len + EVENTS_NOTIFY_PREFIX_MAX > EVENTS_NOTIFY_MAX)
        goto out;
    s = malloc(len + 1);
    if (s == NULL)
        goto out;
    pos = (size_t)snprintf(s, len + 1, "%d;", (int)type);
    if (call_id != NULL)
        events_uuid_lower(s + pos, call_id);
    pos += call_id != NULL ? EVENTS_UUID_LEN : 0;
    s[pos++] = ';';
    if (user_id != NULL)
        events_uuid_lower(s + pos, user_id);
    pos += user_id != NULL ? EVENTS_UUID_LEN : 0;
    s[pos++] = ';';
    memcpy(s + pos, vis, vislen);
    pos += vislen;
    pos += (size_t)snprintf(s + pos, len + 1 - pos, ";%d;", kind);
    memcpy(s + pos, hex, hexlen + 1);
out:
    return s;
}

events_rec *events_rec_from_notify(const char *payload, int64_t *seq)
{
    enum { N_FIELDS = 8 };
    char *copy = strdup(payload), *p, *parts[N_FIELDS];
    events_rec *r = NULL;
    size_t n = 0;
    bool malformed = true;

    *seq = 0;
    if (copy == NULL)
        goto out;
    for (p = copy; n < N_FIELDS; n++) {
        parts[n] = p;
        if (n + 1 == N_FIELDS || (p = strchr(p, ';')) == NULL) {
            n++;
            break;
        }
        *p++ = '\0';
    }
    if (n == 1) {
        /* the seq alone: the event did not fit */
        if (events__int(parts[0], seq) != 0 || *seq <= 0)
            *seq = 0;
        goto out;
    }
    if (n == N_FIELDS) {
        events__fields f = {parts[0], parts[2], parts[3], parts[4],
                            parts[5], parts[6], parts[1], parts[7]};
        r = events__rec_new(&f, &malformed);
        if (r != NULL)
            *seq = r->seq;
    }
out:
    free(copy);
    return r;
}

void events_rec_free(events_rec *r)
{
    free(r);
}

char *events_ephemeral_encode(const Callservice__V1__Event *ev, const char *const *visible_to,
                              size_t n_visible)
{
    static const char hexd[] = "0123456789abcdef";
    size_t len = protobuf_c_message_get_packed_size(&ev->base), i, pos = 0;
    size_t cap = EVENTS_UUID_LEN + 2 + n_visible * (EVENTS_UUID_LEN + 1) + 2 + 2 * len + 1;
    uint8_t *packed = malloc(len > 0 ? len : 1);
    char *s = malloc(cap);

    if (packed == NULL || s == NULL || ev->call_id == NULL || !events_is_uuid(ev->call_id))
        goto fail;
    protobuf_c_message_pack(&ev->base, packed);
    events_uuid_lower(s, ev->call_id);
    pos = EVENTS_UUID_LEN;
    s[pos++] = ';';
    for (i = 0; i < n_visible; i++) {
        if (!events_is_uuid(visible_to[i]))
            goto fail;
        if (i > 0)
            s[pos++] = ',';
        events_uuid_lower(s + pos, visible_to[i]);
        pos += EVENTS_UUID_LEN;
    }
    s[pos++] = ';';
    for (i = 0; i < len; i++) {
        s[pos++] = hexd[packed[i] >> 4];
        s[pos++] = hexd[packed[i] & 15];
    }
    s[pos] = '\0';
    free(packed);
    return s;
fail:
    free(packed);
    free(s);
    return NULL;
}

Callservice__V1__Event *events_ephemeral_decode(char *buf, const char **vis, size_t max_vis,
                                                size_t *n_vis)
{
    Callservice__V1__Event *ev = NULL;
    char *semi1, *semi2, *p;
    uint8_t *bytes = NULL;
    size_t hexlen, n = 0;

    *n_vis = 0;
    semi1 = strchr(buf, ';');
    if (semi1 == NULL)
        goto out;
    *semi1 = '\0';
    semi2 = strchr(semi1 + 1, ';');
    if (!events_is_uuid(buf) || semi2 == NULL)
        goto out;
    *semi2 = '\0';
    for (p = semi1 + 1; *p != '\0';) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (!events_is_uuid(p) || n == max_vis)
            goto out;
        vis[n++] = p;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    hexlen = strlen(semi2 + 1);
    bytes = malloc(hexlen / 2 + 1);
    if (bytes == NULL || events_hex_decode(semi2 + 1, hexlen, bytes) != 0)
        goto out;
    ev = callservice__v1__event__unpack(NULL, hexlen / 2, bytes);
    if (ev != NULL)
        *n_vis = n;
out:
    free(bytes);
    return ev;
}
