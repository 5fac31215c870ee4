/*
 * events records: a call_events row turned into a ready-to-send Event, and
 * the wire form of ephemeral events on their NOTIFY channel. See internal.h.
 */
#include "events/internal.h"

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

events_rec *events_rec_from_row(const PGresult *res, int row)
{
    events_rec *r = NULL;
    const char *vis = db_get_str(res, row, 4), *hex = db_get_str(res, row, 6);
    const char *call_id = db_get_str(res, row, 2), *user_id = db_get_str(res, row, 3);
    size_t vislen = strlen(vis), hexlen = strlen(hex), maxvis = vislen / (EVENTS_UUID_LEN + 1) + 1;
    size_t paylen, hdr;
    char *visbuf;
    uint8_t *field;
    int n;

    if (hexlen < 2 || hex[0] != '\\' || hex[1] != 'x' || (call_id[0] && !events_is_uuid(call_id)) ||
        (user_id[0] && !events_is_uuid(user_id)))
        goto bad;
    paylen = (hexlen - 2) / 2;
    r = calloc(1, sizeof *r + maxvis * sizeof(char *) + vislen + 1 + 10 + paylen);
    if (r == NULL)
        goto out;
    r->visible_to = (const char **)(r + 1);
    visbuf = (char *)(r->visible_to + maxvis);
    field = (uint8_t *)(visbuf + vislen + 1);
    memcpy(visbuf, vis, vislen + 1);
    n = events_parse_uuid_array(visbuf, r->visible_to, maxvis);
    if (n < 0)
        goto bad;
    r->n_visible = (size_t)n;
    hdr = events__varint(field, paylen);
    if (events_hex_decode(hex + 2, hexlen - 2, field + hdr) != 0)
        goto bad;
    r->field = field;
    r->field_len = hdr + paylen;
    r->seq = db_get_ll(res, row, 0);
    r->type = (Callservice__V1__EventType)db_get_ll(res, row, 1);
    r->payload_kind = (int)db_get_ll(res, row, 5);
    r->time_us = db_get_ll(res, row, 7);
    events_uuid_lower(r->call_id, call_id);
    events_uuid_lower(r->user_id, user_id);
    if (r->payload_kind < EVENTS_PAYLOAD_CALL || r->payload_kind > EVENTS_PAYLOAD_NOTE)
        goto bad;

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
    goto out;
bad:
    log_error("events: malformed call_events row (seq %s)", db_get_str(res, row, 0));
    free(r);
    r = NULL;
out:
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
