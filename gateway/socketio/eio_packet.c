/*
 * eio_packet: Engine.IO v4 framing (see eio_packet.h).
 *
 * Strict on input: an empty packet, a type outside 0-6 or bad base64 is an
 * error, which the session layer turns into "close the session" as the
 * reference server does. Base64 input is accepted with or without padding
 * (Node's decoder is lenient about padding, and clients differ).
 */
#include "eio_packet.h"

#include <stdlib.h>
#include <string.h>

cs_err eio_packet_decode_frame(const char *s, size_t len, int binary, eio_packet *out)
{
    cs_err err = CS_ERR_INVALID;

    memset(out, 0, sizeof(*out));
    if (binary) {
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = s;
        out->len = len;
        err = CS_OK;
        goto out;
    }
    if (len == 0 || s[0] < '0' || s[0] >= '0' + EIO__COUNT)
        goto out;
    out->type = (eio_type)(s[0] - '0');
    out->data = s + 1;
    out->len = len - 1;
    err = CS_OK;
out:
    return err;
}

void eio_payload_iter_init(eio_payload_iter *it, const char *body, size_t len)
{
    it->p = body;
    it->end = body + len;
}

cs_err eio_payload_next(eio_payload_iter *it, eio_packet *out)
{
    cs_err err = CS_ERR_NOT_FOUND;
    const char *seg, *sep;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (it->p == NULL || it->p > it->end)
        goto out;
    seg = it->p;
    sep = memchr(seg, EIO_RS, (size_t)(it->end - seg));
    n = sep ? (size_t)(sep - seg) : (size_t)(it->end - seg);
    /* After the last segment the iterator is exhausted; an empty body or a
     * trailing separator yields an empty segment, which is malformed. */
    it->p = sep ? sep + 1 : NULL;
    err = CS_ERR_INVALID;
    if (n == 0)
        goto out;
    if (seg[0] == 'b') {
        long dl;
        out->owned = malloc(eio_b64_decoded_max(n - 1) + 1);
        if (!out->owned) {
            err = CS_ERR_INTERNAL;
            goto out;
        }
        dl = eio_b64_decode(seg + 1, n - 1, (unsigned char *)out->owned);
        if (dl < 0) {
            free(out->owned);
            out->owned = NULL;
            goto out;
        }
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = out->owned;
        out->len = (size_t)dl;
        err = CS_OK;
        goto out;
    }
    err = eio_packet_decode_frame(seg, n, 0, out);
out:
    if (err == CS_ERR_INVALID || err == CS_ERR_INTERNAL)
        it->p = NULL;
    return err;
}

void eio_packet_release(eio_packet *p)
{
    free(p->owned);
    p->owned = NULL;
}

cs_err eio_sb_reserve(eio_sb *b, size_t extra)
{
    cs_err err = CS_OK;
    size_t need = b->len + extra + 1, cap;
    char *np;

    if (need <= b->cap)
        goto out;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    np = realloc(b->p, cap);
    if (!np) {
        err = CS_ERR_INTERNAL;
        goto out;
    }
    b->p = np;
    b->cap = cap;
out:
    return err;
}

cs_err eio_sb_append(eio_sb *b, const void *data, size_t len)
{
    cs_err err = eio_sb_reserve(b, len);
    if (err != CS_OK)
        goto out;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
out:
    return err;
}

cs_err eio_sb_putc(eio_sb *b, char c)
{
    return eio_sb_append(b, &c, 1);
}

char *eio_sb_take(eio_sb *b, size_t *len)
{
    char *p = b->p;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}

void eio_sb_free(eio_sb *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

cs_err eio_payload_append(eio_sb *b, eio_type type, const void *data, size_t len, int binary)
{
    cs_err err = CS_ERR_INVALID;
    size_t need;

    if ((int)type < 0 || type >= EIO__COUNT || (binary && type != EIO_MESSAGE))
        goto out;
    need = 2 + (binary ? eio_b64_encoded_len(len) : len);
    if ((err = eio_sb_reserve(b, need)) != CS_OK)
        goto out;
    if (b->len)
        b->p[b->len++] = EIO_RS;
    if (binary) {
        b->p[b->len++] = 'b';
        eio_b64_encode(data, len, b->p + b->len);
        b->len += eio_b64_encoded_len(len);
    } else {
        b->p[b->len++] = (char)('0' + type);
        if (len)
            memcpy(b->p + b->len, data, len);
        b->len += len;
    }
    b->p[b->len] = '\0';
    err = CS_OK;
out:
    return err;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eio_b64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void eio_b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i = 0, o = 0;

    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
}

size_t eio_b64_decoded_max(size_t len)
{
    return (len + 3) / 4 * 3;
}

static int b64__value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long eio_b64_decode(const char *in, size_t len, unsigned char *out)
{
    long res = -1;
    size_t o = 0, i, n = len;
    unsigned acc = 0;
    int bits = 0;

    /* Up to two '=' at the very end, only where they complete a quantum. */
    if (n && in[n - 1] == '=')
        n--;
    if (n && in[n - 1] == '=')
        n--;
    if (n != len && len % 4 != 0)
        goto out;
    if (n % 4 == 1)
        goto out;
    for (i = 0; i < n; i++) {
        int v = b64__value(in[i]);
        if (v < 0)
            goto out;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    res = (long)o;
out:
    return res;
}
