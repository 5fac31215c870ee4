/*
 * sio_packet: Socket.IO v5 framing (see sio_packet.h).
 *
 * The decoder walks the header by hand, exactly as the reference parser
 * does (so that "42/admin" without a comma and "42abc[...]" are read the
 * same way), then hands the rest to jansson and checks the payload's shape
 * against a per-type rule from one table.
 */
#include "sio_packet.h"

#include <stdlib.h>
#include <string.h>

/* What a payload must look like, per packet type. */
typedef enum sio__rule {
    RULE_OBJECT_OPT,    /* CONNECT: absent or an object */
    RULE_NONE,          /* DISCONNECT: absent */
    RULE_EVENT,         /* non-empty array, [0] a non-reserved string or a number */
    RULE_ACK,           /* an array, and an ack id */
    RULE_STRING_OR_OBJ, /* CONNECT_ERROR */
} sio__rule;

static const struct {
    const char *name;
    sio__rule rule;
    int binary;
} sio__types[SIO__COUNT] = {
    [SIO_CONNECT] = {"CONNECT", RULE_OBJECT_OPT, 0},
    [SIO_DISCONNECT] = {"DISCONNECT", RULE_NONE, 0},
    [SIO_EVENT] = {"EVENT", RULE_EVENT, 0},
    [SIO_ACK] = {"ACK", RULE_ACK, 0},
    [SIO_CONNECT_ERROR] = {"CONNECT_ERROR", RULE_STRING_OR_OBJ, 0},
    [SIO_BINARY_EVENT] = {"BINARY_EVENT", RULE_EVENT, 1},
    [SIO_BINARY_ACK] = {"BINARY_ACK", RULE_ACK, 1},
};

/* Event names the client library reserves; a peer may not send them. */
static const char *const sio__reserved[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

const char *sio_type_name(sio_type t)
{
    return (int)t >= 0 && t < SIO__COUNT ? sio__types[t].name : "UNKNOWN";
}

/* Nesting depth of a JSON text, counted outside strings; more than max
 * fails before jansson's recursive parser sees it. */
static int sio__depth_ok(const char *s, size_t len, int max)
{
    int depth = 0, in_str = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return 0;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 1;
}

static int sio__payload_ok(sio__rule rule, const json_t *d, long long ack_id)
{
    switch (rule) {
    case RULE_OBJECT_OPT:
        return d == NULL || json_is_object(d);
    case RULE_NONE:
        return d == NULL;
    case RULE_EVENT: {
        const json_t *first = json_array_get(d, 0);
        if (!json_is_array(d) || first == NULL)
            return 0;
        if (json_is_number(first))
            return 1;
        if (!json_is_string(first))
            return 0;
        for (size_t i = 0; i < sizeof(sio__reserved) / sizeof(sio__reserved[0]); i++)
            if (strcmp(json_string_value(first), sio__reserved[i]) == 0)
                return 0;
        return 1;
    }
    case RULE_ACK:
        return json_is_array(d) && ack_id >= 0;
    case RULE_STRING_OR_OBJ:
        return json_is_string(d) || json_is_object(d);
    }
    return 0;
}

cs_err sio_packet_decode(const char *s, size_t len, sio_packet *out)
{
    cs_err err = CS_ERR_INVALID;
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    out->ack_id = -1;
    strcpy(out->nsp, "/");
    if (len == 0 || s[0] < '0' || s[0] >= '0' + SIO__COUNT)
        goto out;
    out->type = (sio_type)(s[0] - '0');
    i = 1;

    if (sio__types[out->type].binary) {
        size_t start = i;
        unsigned n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            n = n * 10 + (unsigned)(s[i++] - '0');
        if (i == start || i >= len || s[i] != '-' || n > SIO_MAX_ATTACHMENTS)
            goto out;
        out->attachments = n;
        i++;
    }

    if (i < len && s[i] == '/') {
        size_t start = i;
        while (i < len && s[i] != ',')
            i++;
        if (i - start > SIO_NSP_MAX)
            goto out;
        memcpy(out->nsp, s + start, i - start);
        out->nsp[i - start] = '\0';
        if (memchr(out->nsp, '\0', i - start))
            goto out;
        if (i < len)
            i++; /* the comma */
    }

    if (i < len && s[i] >= '0' && s[i] <= '9') {
        size_t start = i;
        long long id = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start >= 15)
                goto out;
            id = id * 10 + (s[i++] - '0');
        }
        out->ack_id = id;
    }

    if (i < len) {
        json_error_t jerr;
        if (!sio__depth_ok(s + i, len - i, SIO_MAX_DEPTH))
            goto out;
        out->data = json_loadb(s + i, len - i, JSON_DECODE_ANY, &jerr);
        if (!out->data)
            goto out;
    }
    if (!sio__payload_ok(sio__types[out->type].rule, out->data, out->ack_id))
        goto out;
    if (sio__types[out->type].binary &&
        sio_packet_check_placeholders(out->data, out->attachments) != CS_OK)
        goto out;
    err = CS_OK;
out:
    if (err != CS_OK)
        sio_packet_clear(out);
    return err;
}

void sio_packet_clear(sio_packet *p)
{
    json_decref(p->data);
    p->data = NULL;
}

/* Recursion is bounded: decoded data is at most SIO_MAX_DEPTH deep, and data
 * built by the application is trusted. */
static cs_err sio__check_ph(const json_t *v, unsigned n, int depth)
{
    cs_err err = CS_ERR_INVALID;
    size_t i;
    const char *k;
    json_t *x;

    if (depth > SIO_MAX_DEPTH * 2)
        goto out;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (sio__check_ph(x, n, depth + 1) != CS_OK)
                goto out;
        }
    } else if (json_is_object(v)) {
        json_t *ph = json_object_get(v, "_placeholder");
        if (ph) {
            json_t *num = json_object_get(v, "num");
            if (!json_is_true(ph) || !json_is_integer(num) || json_integer_value(num) < 0 ||
                json_integer_value(num) >= (json_int_t)n)
                goto out;
        } else {
            json_object_foreach((json_t *)v, k, x)
            {
                if (sio__check_ph(x, n, depth + 1) != CS_OK)
                    goto out;
            }
        }
    }
    err = CS_OK;
out:
    return err;
}

cs_err sio_packet_check_placeholders(const json_t *data, unsigned n)
{
    return sio__check_ph(data, n, 0);
}

cs_err sio_packet_encode(eio_sb *b, sio_type type, const char *nsp, unsigned attachments,
                         long long ack_id, const json_t *data)
{
    cs_err err = CS_ERR_INVALID;
    char num[32];
    char *js = NULL;
    int n;

    if ((int)type < 0 || type >= SIO__COUNT)
        goto out;
    if ((err = eio_sb_putc(b, (char)('0' + type))) != CS_OK)
        goto out;
    if (sio__types[type].binary) {
        n = snprintf(num, sizeof(num), "%u-", attachments);
        if ((err = eio_sb_append(b, num, (size_t)n)) != CS_OK)
            goto out;
    }
    if (nsp && strcmp(nsp, "/") != 0) {
        if ((err = eio_sb_append(b, nsp, strlen(nsp))) != CS_OK ||
            (err = eio_sb_putc(b, ',')) != CS_OK)
            goto out;
    }
    if (ack_id >= 0) {
        n = snprintf(num, sizeof(num), "%lld", ack_id);
        if ((err = eio_sb_append(b, num, (size_t)n)) != CS_OK)
            goto out;
    }
    if (data) {
        err = CS_ERR_INVALID;
        js = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!js)
            goto out;
        if ((err = eio_sb_append(b, js, strlen(js))) != CS_OK)
            goto out;
    }
    err = CS_OK;
out:
    free(js);
    return err;
}
