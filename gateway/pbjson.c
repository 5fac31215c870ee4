/*
 * pbjson: generic proto3 JSON mapping over protobuf-c descriptors (see
 * pbjson.h for the rules).
 *
 * Output is written straight into a byte buffer rather than built as a
 * json_t tree: it is the hot path of every REST response, and it lets the
 * numbers come out in their shortest round-trip form (jansson prints every
 * double with 17 digits, so 0.1 would read 0.10000000000000001).
 *
 * Input walks a jansson tree against the descriptor. A message under
 * construction is always in a state protobuf_c_message_free_unpacked() can
 * free: sub-messages are initialised before they are linked, arrays are
 * linked with a count that only grows as elements are filled, strings are
 * malloc'd.
 */
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "google/protobuf/timestamp.pb-c.h"

/* ---- output buffer ----------------------------------------------------- */

int pbjson_buf_reserve(pbjson_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (b->oom)
        return -1;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 512;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void pbjson_buf_append(pbjson_buf *b, const char *s, size_t n)
{
    if (pbjson_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pbjson_buf_puts(pbjson_buf *b, const char *s)
{
    pbjson_buf_append(b, s, strlen(s));
}

static void pbjson__putc(pbjson_buf *b, char c)
{
    if (b->len + 2 <= b->cap) { /* room for c and the NUL: the common case */
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return;
    }
    pbjson_buf_append(b, &c, 1);
}

/* Writes the decimal digits of v ending just before end; returns the start. */
static char *pbjson__utoa(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Appends an integer, quoted when quote is set (64-bit values in JSON). */
static void pbjson__put_int(pbjson_buf *b, int64_t v, int quote)
{
    char buf[24], *end = buf + sizeof buf, *p;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (quote)
        *--end = '"';
    p = pbjson__utoa(u, end);
    if (v < 0)
        *--p = '-';
    if (quote)
        *--p = '"';
    pbjson_buf_append(b, p, (size_t)(buf + sizeof buf - p));
}

static void pbjson__put_uint(pbjson_buf *b, uint64_t v, int quote)
{
    char buf[24], *end = buf + sizeof buf, *p;
    if (quote)
        *--end = '"';
    p = pbjson__utoa(v, end);
    if (quote)
        *--p = '"';
    pbjson_buf_append(b, p, (size_t)(buf + sizeof buf - p));
}

void pbjson_buf_free(pbjson_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t pbjson__utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* What an ASCII byte becomes inside a JSON string: 0 itself, 'u' \u00XX,
 * else the letter after a backslash. Bytes from 0x80 start UTF-8 sequences
 * and are checked apart. */
static const char pbjson__esc[128] = {
    ['\0'] = 'u', [1] = 'u',  [2] = 'u',    [3] = 'u',    [4] = 'u',   [5] = 'u',     [6] = 'u',
    [7] = 'u',    [8] = 'u',  ['\t'] = 't', ['\n'] = 'n', [11] = 'u',  [12] = 'u',    ['\r'] = 'r',
    [14] = 'u',   [15] = 'u', [16] = 'u',   [17] = 'u',   [18] = 'u',  [19] = 'u',    [20] = 'u',
    [21] = 'u',   [22] = 'u', [23] = 'u',   [24] = 'u',   [25] = 'u',  [26] = 'u',    [27] = 'u',
    [28] = 'u',   [29] = 'u', [30] = 'u',   [31] = 'u',   ['"'] = '"', ['\\'] = '\\',
};

void pbjson_buf_string(pbjson_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    char *o;
    /* Worst case: every byte becomes \u00XX. One check, then the bytes go
     * straight into the buffer. */
    if (n > (SIZE_MAX - 3) / 6 || pbjson_buf_reserve(b, 6 * n + 2) != 0) {
        b->oom = 1;
        return;
    }
    o = b->data + b->len;
    *o++ = '"';
    while (i < n) {
        unsigned c = s[i];
        char e = c < 0x80 ? pbjson__esc[c] : 0;
        size_t l;
        if (c < 0x80 && !e) {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            l = pbjson__utf8_len(s + i, n - i);
            if (l == 0) {
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
                i++;
            } else {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            }
            continue;
        }
        *o++ = '\\';
        if (e == 'u') {
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        } else {
            *o++ = e;
        }
        i++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    *o = '\0';
}

/* ---- names ------------------------------------------------------------- */

void pbjson_json_name(const char *proto_name, char *out, size_t outlen)
{
    size_t o = 0;
    int upper = 0;
    if (outlen == 0)
        return;
    for (const char *p = proto_name; *p && o + 1 < outlen; p++) {
        if (*p == '_') {
            upper = 1;
            continue;
        }
        out[o++] = (upper && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        upper = 0;
    }
    out[o] = '\0';
}

/* 1 if json is the lowerCamelCase form of proto. */
static int pbjson__camel_eq(const char *proto, const char *json)
{
    int upper = 0;
    for (; *proto; proto++) {
        char c = *proto;
        if (c == '_') {
            upper = 1;
            continue;
        }
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper = 0;
        if (*json++ != c)
            return 0;
    }
    return *json == '\0';
}

/* Appends "lowerCamelName": in one piece. */
static void pbjson__write_name(pbjson_buf *b, const char *proto_name)
{
    char name[132];
    size_t n = 1;
    int upper = 0;
    name[0] = '"';
    /* pbjson_json_name, counting as it goes */
    for (const char *p = proto_name; *p && n < sizeof name - 2; p++) {
        if (*p == '_') {
            upper = 1;
            continue;
        }
        name[n++] = (upper && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        upper = 0;
    }
    name[n++] = '"';
    name[n++] = ':';
    pbjson_buf_append(b, name, n);
}

const ProtobufCFieldDescriptor *pbjson_field(const ProtobufCMessageDescriptor *desc,
                                             const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    if (f)
        return f;
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (pbjson__camel_eq(desc->fields[i].name, name))
            return &desc->fields[i];
    return NULL;
}

/* "PresenceStatus" -> "PRESENCE_STATUS_" */
static void pbjson__enum_prefix(const char *short_name, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; short_name[i] && o + 3 < outlen; i++) {
        char c = short_name[i];
        int up = c >= 'A' && c <= 'Z';
        if (up && i > 0) {
            char prev = short_name[i - 1], next = short_name[i + 1];
            int prev_low = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
            int next_low = next >= 'a' && next <= 'z';
            int prev_up = prev >= 'A' && prev <= 'Z';
            if (prev_low || (prev_up && next_low))
                out[o++] = '_';
        }
        out[o++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    out[o++] = '_';
    out[o] = '\0';
}

/* The value name without the enum's prefix (still upper case). */
static const char *pbjson__enum_strip(const ProtobufCEnumDescriptor *ed, const char *name)
{
    char prefix[128];
    size_t n;
    pbjson__enum_prefix(ed->short_name, prefix, sizeof prefix);
    n = strlen(prefix);
    if (strncmp(name, prefix, n) == 0 && name[n])
        return name + n;
    return name;
}

const char *pbjson_enum_short_name(const ProtobufCEnumDescriptor *ed, int value, char *buf,
                                   size_t buflen)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(ed, value);
    const char *s;
    size_t i = 0;
    if (!v || buflen == 0)
        return NULL;
    s = pbjson__enum_strip(ed, v->name);
    for (; s[i] && i + 1 < buflen; i++)
        buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    buf[i] = '\0';
    return buf;
}

int pbjson_is_timestamp(const ProtobufCMessageDescriptor *desc)
{
    return desc == &google__protobuf__timestamp__descriptor ||
           strcmp(desc->name, "google.protobuf.Timestamp") == 0;
}

/* ---- time -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t pbjson__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void pbjson__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v as exactly width digits at p (v < 10^width); returns p + width. */
static char *pbjson__digits_out(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static void pbjson__write_time(pbjson_buf *b, const Google__Protobuf__Timestamp *ts)
{
    char out[64], *p = out;
    int64_t secs = ts->seconds, days, y;
    int32_t nanos = ts->nanos;
    unsigned m, d, rem;
    if (nanos < 0 || nanos > 999999999)
        nanos = 0;
    days = secs / 86400;
    rem = (unsigned)(secs % 86400 >= 0 ? secs % 86400 : secs % 86400 + 86400);
    if (secs % 86400 < 0)
        days--;
    pbjson__civil_from_days(days, &y, &m, &d);
    *p++ = '"';
    if (y >= 0 && y <= 9999) {
        p = pbjson__digits_out(p, (unsigned)y, 4);
    } else { /* outside RFC 3339; written as is (never read back) */
        char ybuf[24], *ye = ybuf + sizeof ybuf,
                       *ys = pbjson__utoa(y < 0 ? (uint64_t)-y : (uint64_t)y, ye);
        if (y < 0)
            *p++ = '-';
        memcpy(p, ys, (size_t)(ye - ys));
        p += ye - ys;
    }
    *p++ = '-';
    p = pbjson__digits_out(p, m, 2);
    *p++ = '-';
    p = pbjson__digits_out(p, d, 2);
    *p++ = 'T';
    p = pbjson__digits_out(p, rem / 3600, 2);
    *p++ = ':';
    p = pbjson__digits_out(p, rem / 60 % 60, 2);
    *p++ = ':';
    p = pbjson__digits_out(p, rem % 60, 2);
    if (nanos) {
        *p++ = '.';
        if (nanos % 1000000 == 0)
            p = pbjson__digits_out(p, (unsigned)nanos / 1000000, 3);
        else if (nanos % 1000 == 0)
            p = pbjson__digits_out(p, (unsigned)nanos / 1000, 6);
        else
            p = pbjson__digits_out(p, (unsigned)nanos, 9);
    }
    *p++ = 'Z';
    *p++ = '"';
    pbjson_buf_append(b, out, (size_t)(p - out));
}

static int pbjson__digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

#define PBJSON__MIN_SECS (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define PBJSON__MAX_SECS 253402300799LL   /* 9999-12-31T23:59:59Z */

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static int pbjson__parse_time(const char *s, int64_t *secs, int32_t *nanos)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    int64_t ns = 0;
    int nd = 0;
    if (pbjson__digits(&s, 4, &y) || *s++ != '-' || pbjson__digits(&s, 2, &mo) || *s++ != '-' ||
        pbjson__digits(&s, 2, &d) || (*s != 'T' && *s != 't') || !*s++ ||
        pbjson__digits(&s, 2, &h) || *s++ != ':' || pbjson__digits(&s, 2, &mi) || *s++ != ':' ||
        pbjson__digits(&s, 2, &se))
        return -1;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (nd++ >= 9)
                return -1;
            ns = ns * 10 + (*s++ - '0');
        }
        if (nd == 0)
            return -1;
        for (int i = nd; i < 9; i++)
            ns *= 10;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (pbjson__digits(&s, 2, &oh) || *s++ != ':' || pbjson__digits(&s, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*s || y < 1 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays[mo - 1] || h > 23 ||
        mi > 59 || se > 59)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    *secs = pbjson__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
            se - sign * (oh * 3600 + om * 60);
    *nanos = (int32_t)ns;
    /* proto3 JSON: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z,
     * after the offset is applied. */
    if (*secs < PBJSON__MIN_SECS || *secs > PBJSON__MAX_SECS)
        return -1;
    return 0;
}

/* ---- name cache ---------------------------------------------------------- */

/* The JSON text the writer emits for a descriptor's names, built once per
 * descriptor: for a message, "\"lowerCamel\":" per field (in fields[]
 * order); for an enum, "\"short_name\"" per value (in values[] order). */
typedef struct pbjson__text {
    const char *s;
    size_t len;
} pbjson__text;

typedef struct pbjson__names {
    const void *desc;
    unsigned n;
    pbjson__text text[];
} pbjson__names;

/* Open addressing on the descriptor's address. Slots are filled under the
 * lock and published with a release store; readers need no lock. A full
 * table (more descriptors than any schema here has) or a failed allocation
 * only means the names are computed on every use, as before. */
#define PBJSON__CACHE_SLOTS 512
static _Atomic(const pbjson__names *) pbjson__cache[PBJSON__CACHE_SLOTS];
static pthread_mutex_t pbjson__cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t pbjson__slot(const void *desc)
{
    return (size_t)(((uintptr_t)desc >> 4) * UINT64_C(0x9e3779b97f4a7c15) >> 40) %
           PBJSON__CACHE_SLOTS;
}

/* Fills b with the JSON text of item i of desc. */
typedef void (*pbjson__name_fn)(pbjson_buf *b, const void *desc, unsigned i);

static void pbjson__field_text(pbjson_buf *b, const void *desc, unsigned i)
{
    pbjson__write_name(b, ((const ProtobufCMessageDescriptor *)desc)->fields[i].name);
}

static void pbjson__enum_text(pbjson_buf *b, const void *desc, unsigned i)
{
    const ProtobufCEnumDescriptor *ed = desc;
    char name[128];
    const char *s = pbjson_enum_short_name(ed, ed->values[i].value, name, sizeof name);
    pbjson_buf_string(b, s ? s : "", s ? strlen(s) : 0);
}

/* Builds the names of desc (n items) as one allocation; NULL when out of
 * memory. */
static pbjson__names *pbjson__names_build(const void *desc, unsigned n, pbjson__name_fn fn)
{
    pbjson_buf text = {0};
    size_t *ends = malloc((n ? n : 1) * sizeof *ends);
    pbjson__names *nm = NULL;
    char *p;
    if (!ends)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        fn(&text, desc, i);
        ends[i] = text.len;
    }
    if (text.oom)
        goto out;
    nm = malloc(sizeof *nm + n * sizeof nm->text[0] + text.len + 1);
    if (!nm)
        goto out;
    nm->desc = desc;
    nm->n = n;
    p = (char *)&nm->text[n];
    if (text.len)
        memcpy(p, text.data, text.len);
    for (unsigned i = 0; i < n; i++) {
        size_t start = i ? ends[i - 1] : 0;
        nm->text[i].s = p + start;
        nm->text[i].len = ends[i] - start;
    }
out:
    free(ends);
    pbjson_buf_free(&text);
    return nm;
}

/* The cached names of desc, built on first use; NULL if unavailable. */
static const pbjson__names *pbjson__names_of(const void *desc, unsigned n, pbjson__name_fn fn)
{
    size_t h = pbjson__slot(desc), i;
    const pbjson__names *nm = NULL;
    for (i = 0; i < PBJSON__CACHE_SLOTS; i++) {
        const pbjson__names *e = atomic_load_explicit(&pbjson__cache[(h + i) % PBJSON__CACHE_SLOTS],
                                                      memory_order_acquire);
        if (!e)
            break;
        if (e->desc == desc)
            return e;
    }
    pthread_mutex_lock(&pbjson__cache_lock);
    for (i = 0; i < PBJSON__CACHE_SLOTS; i++) {
        size_t slot = (h + i) % PBJSON__CACHE_SLOTS;
        const pbjson__names *e = atomic_load_explicit(&pbjson__cache[slot], memory_order_relaxed);
        if (e && e->desc == desc) {
            nm = e;
            break;
        }
        if (!e) {
            nm = pbjson__names_build(desc, n, fn);
            if (nm)
                atomic_store_explicit(&pbjson__cache[slot], nm, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&pbjson__cache_lock);
    return nm;
}

/* ---- encode ------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void pbjson__write_base64(pbjson_buf *b, const uint8_t *p, size_t n)
{
    char q[4];
    pbjson__putc(b, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64[v & 63] : '=';
        pbjson_buf_append(b, q, 4);
    }
    pbjson__putc(b, '"');
}

/* Shortest text that reads back as the same value (float: as a float). */
static void pbjson__write_double(pbjson_buf *b, double v, int is_float)
{
    char out[40];
    if (isnan(v)) {
        pbjson_buf_puts(b, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        pbjson_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, sizeof out, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, sizeof out, "%.*g", prec, v);
            if (is_float ? (float)strtod(out, NULL) == (float)v : strtod(out, NULL) == v)
                break;
        }
    }
    pbjson_buf_puts(b, out);
}

static void pbjson__write_msg(pbjson_buf *b, const ProtobufCMessage *msg);

static void pbjson__write_value(pbjson_buf *b, const ProtobufCFieldDescriptor *f, const void *p)
{
    char num[48];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        pbjson__put_int(b, *(const int32_t *)p, 0);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        pbjson__put_uint(b, *(const uint32_t *)p, 0);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        pbjson__put_int(b, *(const int64_t *)p, 1);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        pbjson__put_uint(b, *(const uint64_t *)p, 1);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        pbjson__write_double(b, *(const float *)p, 1);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        pbjson__write_double(b, *(const double *)p, 0);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        pbjson_buf_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
        const pbjson__names *nm = ev ? pbjson__names_of(ed, ed->n_values, pbjson__enum_text) : NULL;
        const char *name;
        if (nm) {
            const pbjson__text *t = &nm->text[ev - ed->values];
            pbjson_buf_append(b, t->s, t->len);
            break;
        }
        name = pbjson_enum_short_name(ed, v, num, sizeof num);
        if (name)
            pbjson_buf_string(b, name, strlen(name));
        else
            pbjson__put_int(b, v, 0);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        pbjson_buf_string(b, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        pbjson__write_base64(b, bd->data, bd->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        if (!m)
            pbjson_buf_puts(b, "null");
        else if (pbjson_is_timestamp(m->descriptor))
            pbjson__write_time(b, (const Google__Protobuf__Timestamp *)m);
        else
            pbjson__write_msg(b, m);
        break;
    }
    }
}

static size_t pbjson__elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static int pbjson__oneof_set(const ProtobufCFieldDescriptor *f, const void *msg)
{
    return *(const uint32_t *)((const char *)msg + f->quantifier_offset) == f->id;
}

static void pbjson__write_msg(pbjson_buf *b, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const pbjson__names *nm = pbjson__names_of(d, d->n_fields, pbjson__field_text);
    int first = 1;
    pbjson__putc(b, '{');
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *p = (const char *)msg + f->offset;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && !pbjson__oneof_set(f, msg))
            continue;
        if (!first)
            pbjson__putc(b, ',');
        first = 0;
        if (nm)
            pbjson_buf_append(b, nm->text[i].s, nm->text[i].len);
        else
            pbjson__write_name(b, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            const char *arr = *(char *const *)p;
            size_t es = pbjson__elem_size(f->type);
            pbjson__putc(b, '[');
            for (size_t k = 0; k < n; k++) {
                if (k)
                    pbjson__putc(b, ',');
                pbjson__write_value(b, f, arr + k * es);
            }
            pbjson__putc(b, ']');
        } else {
            pbjson__write_value(b, f, p);
        }
    }
    pbjson__putc(b, '}');
}

void pbjson_write(pbjson_buf *b, const ProtobufCMessage *msg)
{
    pbjson__write_msg(b, msg);
}

char *pbjson_encode(const ProtobufCMessage *msg, size_t *len)
{
    pbjson_buf b = {0};
    pbjson__write_msg(&b, msg);
    if (b.oom) {
        pbjson_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}

json_t *pbjson_encode_json(const ProtobufCMessage *msg)
{
    size_t len = 0;
    char *s = pbjson_encode(msg, &len);
    json_t *j = s ? json_loadb(s, len, 0, NULL) : NULL;
    free(s);
    return j;
}

/* ---- unpack arena ------------------------------------------------------ */

/* A spilled allocation: its header, then the bytes (aligned like malloc's). */
struct pbjson_arena_chunk {
    pbjson_arena_chunk *next;
    max_align_t align[];
};

#define PBJSON__ALIGN (sizeof(max_align_t))

static void *pbjson__arena_alloc(void *data, size_t size)
{
    pbjson_arena *a = data;
    size_t need = (size + PBJSON__ALIGN - 1) & ~(PBJSON__ALIGN - 1);
    pbjson_arena_chunk *c;
    if (need < size)
        return NULL;
    if (!a->block)
        a->block = malloc(PBJSON_ARENA_BLOCK);
    if (a->block && need <= PBJSON_ARENA_BLOCK - a->used) {
        void *p = a->block + a->used;
        a->used += need;
        return p;
    }
    if (size > SIZE_MAX - sizeof *c)
        return NULL;
    c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->next = a->extra;
    a->extra = c;
    return c->align;
}

/* Pieces go away with the arena, all at once. */
static void pbjson__arena_release(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

ProtobufCMessage *pbjson_arena_unpack(pbjson_arena *a, const ProtobufCMessageDescriptor *desc,
                                      size_t len, const uint8_t *data)
{
    ProtobufCAllocator alloc = {pbjson__arena_alloc, pbjson__arena_release, a};
    static const uint8_t empty[1];
    return protobuf_c_message_unpack(desc, &alloc, len, data ? data : empty);
}

void pbjson_arena_reset(pbjson_arena *a)
{
    while (a->extra) {
        pbjson_arena_chunk *n = a->extra->next;
        free(a->extra);
        a->extra = n;
    }
    a->used = 0;
}

void pbjson_arena_free(pbjson_arena *a)
{
    pbjson_arena_reset(a);
    free(a->block);
    a->block = NULL;
}

/* ---- decode ------------------------------------------------------------ */

typedef struct pbjson__dec {
    int flags;
    char *err;
    size_t errlen;
    char path[256];
    size_t plen;
} pbjson__dec;

static cs_err pbjson__fail(pbjson__dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static cs_err pbjson__fail(pbjson__dec *d, const char *fmt, ...)
{
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->err && d->errlen) {
        if (d->plen)
            snprintf(d->err, d->errlen, "%s: %s", d->path, msg);
        else
            snprintf(d->err, d->errlen, "%s", msg);
    }
    return CS_ERR_INVALID;
}

static size_t pbjson__push_name(pbjson__dec *d, const char *name)
{
    size_t saved = d->plen;
    int n = snprintf(d->path + d->plen, sizeof d->path - d->plen, "%s%s", d->plen ? "." : "", name);
    if (n > 0)
        d->plen = d->plen + (size_t)n < sizeof d->path ? d->plen + (size_t)n : sizeof d->path - 1;
    return saved;
}

static size_t pbjson__push_index(pbjson__dec *d, size_t i)
{
    size_t saved = d->plen;
    int n = snprintf(d->path + d->plen, sizeof d->path - d->plen, "[%zu]", i);
    if (n > 0)
        d->plen = d->plen + (size_t)n < sizeof d->path ? d->plen + (size_t)n : sizeof d->path - 1;
    return saved;
}

static void pbjson__pop(pbjson__dec *d, size_t saved)
{
    d->plen = saved;
    d->path[saved] = '\0';
}

static const char *pbjson__type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Signed integer in [min, max] from a number or a numeric string. */
static cs_err pbjson__get_int(pbjson__dec *d, const json_t *v, int64_t min, int64_t max,
                              int64_t *out)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r != floor(r) || r < -9.2233720368547e18 || r > 9.2233720368547e18)
            return pbjson__fail(d, "expected an integer");
        x = (int64_t)r;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (!*s || *s == ' ' || *s == '+')
            return pbjson__fail(d, "expected an integer");
        errno = 0;
        x = strtoll(s, &end, 10);
        if (errno || *end)
            return pbjson__fail(d, "expected an integer, got \"%.40s\"", s);
    } else {
        return pbjson__fail(d, "expected integer, got %s", pbjson__type_name(v));
    }
    if (x < min || x > max)
        return pbjson__fail(d, "%" PRId64 " out of range", x);
    *out = x;
    return CS_OK;
}

static cs_err pbjson__get_uint(pbjson__dec *d, const json_t *v, uint64_t max, uint64_t *out)
{
    uint64_t x;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return pbjson__fail(d, "%" JSON_INTEGER_FORMAT " out of range", json_integer_value(v));
        x = (uint64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r != floor(r) || r < 0 || r > 1.8446744073709550e19)
            return pbjson__fail(d, "expected a non-negative integer");
        x = (uint64_t)r;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (*s < '0' || *s > '9')
            return pbjson__fail(d, "expected a non-negative integer, got \"%.40s\"", s);
        errno = 0;
        x = strtoull(s, &end, 10);
        if (errno || *end)
            return pbjson__fail(d, "expected a non-negative integer, got \"%.40s\"", s);
    } else {
        return pbjson__fail(d, "expected integer, got %s", pbjson__type_name(v));
    }
    if (x > max)
        return pbjson__fail(d, "%" PRIu64 " out of range", x);
    *out = x;
    return CS_OK;
}

static cs_err pbjson__get_double(pbjson__dec *d, const json_t *v, int is_float, double *out)
{
    double x;
    if (json_is_number(v)) {
        x = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (strcmp(s, "NaN") == 0) {
            x = NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            x = INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            x = -INFINITY;
        } else {
            if (!*s || *s == ' ' || strpbrk(s, "nNiIxX"))
                return pbjson__fail(d, "expected a number, got \"%.40s\"", s);
            errno = 0;
            x = strtod(s, &end);
            if (errno || *end)
                return pbjson__fail(d, "expected a number, got \"%.40s\"", s);
        }
    } else {
        return pbjson__fail(d, "expected number, got %s", pbjson__type_name(v));
    }
    if (is_float && isfinite(x) && fabs(x) > FLT_MAX)
        return pbjson__fail(d, "out of range for float");
    *out = x;
    return CS_OK;
}

static int pbjson__b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static cs_err pbjson__get_bytes(pbjson__dec *d, const json_t *v, ProtobufCBinaryData *out)
{
    const char *s;
    size_t n, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t *buf;
    if (!json_is_string(v))
        return pbjson__fail(d, "expected base64 string, got %s", pbjson__type_name(v));
    s = json_string_value(v);
    n = json_string_length(v);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (json_string_length(v) - n > 2 || n % 4 == 1)
        return pbjson__fail(d, "invalid base64");
    buf = malloc(n * 3 / 4 + 1);
    if (!buf)
        return CS_ERR_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        int x = pbjson__b64val((unsigned char)s[i]);
        if (x < 0) {
            free(buf);
            return pbjson__fail(d, "invalid base64");
        }
        acc = (acc << 6) | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = buf;
    out->len = o;
    return CS_OK;
}

static cs_err pbjson__get_enum(pbjson__dec *d, const json_t *v, const ProtobufCEnumDescriptor *ed,
                               int *out)
{
    const char *s;
    if (json_is_integer(v) || json_is_real(v)) {
        int64_t x;
        cs_err e = pbjson__get_int(d, v, INT32_MIN, INT32_MAX, &x);
        if (e == CS_OK)
            *out = (int)x;
        return e;
    }
    if (!json_is_string(v))
        return pbjson__fail(d, "expected string, got %s", pbjson__type_name(v));
    s = json_string_value(v);
    for (unsigned i = 0; i < ed->n_values; i++) {
        const ProtobufCEnumValue *ev = &ed->values[i];
        if (strcasecmp(s, ev->name) == 0 || strcasecmp(s, pbjson__enum_strip(ed, ev->name)) == 0) {
            *out = ev->value;
            return CS_OK;
        }
    }
    if (*s == '-' || (*s >= '0' && *s <= '9')) {
        int64_t x;
        cs_err e = pbjson__get_int(d, v, INT32_MIN, INT32_MAX, &x);
        if (e == CS_OK)
            *out = (int)x;
        return e;
    }
    return pbjson__fail(d, "unknown value \"%.40s\"", s);
}

static cs_err pbjson__decode_msg(pbjson__dec *d, const json_t *obj,
                                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
                                 int depth);

static ProtobufCMessage *pbjson__new_msg(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (m)
        desc->message_init(m);
    return m;
}

/* Decodes v into the element at p (one value of field f). */
static cs_err pbjson__decode_value(pbjson__dec *d, const ProtobufCFieldDescriptor *f,
                                   const json_t *v, void *p, int depth)
{
    cs_err e = CS_OK;
    int64_t i64;
    uint64_t u64;
    double dbl;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((e = pbjson__get_int(d, v, INT32_MIN, INT32_MAX, &i64)) == CS_OK)
            *(int32_t *)p = (int32_t)i64;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((e = pbjson__get_uint(d, v, UINT32_MAX, &u64)) == CS_OK)
            *(uint32_t *)p = (uint32_t)u64;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((e = pbjson__get_int(d, v, INT64_MIN, INT64_MAX, &i64)) == CS_OK)
            *(int64_t *)p = i64;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((e = pbjson__get_uint(d, v, UINT64_MAX, &u64)) == CS_OK)
            *(uint64_t *)p = u64;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((e = pbjson__get_double(d, v, 1, &dbl)) == CS_OK)
            *(float *)p = (float)dbl;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((e = pbjson__get_double(d, v, 0, &dbl)) == CS_OK)
            *(double *)p = dbl;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (json_is_boolean(v)) {
            *(protobuf_c_boolean *)p = json_is_true(v);
        } else if ((d->flags & PBJSON_FROM_URL) && json_is_string(v) &&
                   (strcmp(json_string_value(v), "true") == 0 ||
                    strcmp(json_string_value(v), "false") == 0)) {
            *(protobuf_c_boolean *)p = json_string_value(v)[0] == 't';
        } else {
            e = pbjson__fail(d, "expected boolean, got %s", pbjson__type_name(v));
        }
        break;
    case PROTOBUF_C_TYPE_ENUM:
        e = pbjson__get_enum(d, v, f->descriptor, (int *)p);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        char *s;
        if (!json_is_string(v)) {
            e = pbjson__fail(d, "expected string, got %s", pbjson__type_name(v));
            break;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            e = pbjson__fail(d, "string contains a NUL character");
            break;
        }
        s = strdup(json_string_value(v));
        if (!s) {
            e = CS_ERR_INTERNAL;
            break;
        }
        *(char **)p = s;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        e = pbjson__get_bytes(d, v, p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *md = f->descriptor;
        ProtobufCMessage *m;
        if (pbjson_is_timestamp(md)) {
            int64_t secs;
            int32_t nanos;
            if (!json_is_string(v)) {
                e = pbjson__fail(d, "expected RFC 3339 timestamp string, got %s",
                                 pbjson__type_name(v));
                break;
            }
            if (pbjson__parse_time(json_string_value(v), &secs, &nanos) != 0) {
                e = pbjson__fail(d, "invalid RFC 3339 timestamp \"%.40s\"", json_string_value(v));
                break;
            }
            m = pbjson__new_msg(md);
            if (!m) {
                e = CS_ERR_INTERNAL;
                break;
            }
            ((Google__Protobuf__Timestamp *)m)->seconds = secs;
            ((Google__Protobuf__Timestamp *)m)->nanos = nanos;
            *(ProtobufCMessage **)p = m;
            break;
        }
        if (!json_is_object(v)) {
            e = pbjson__fail(d, "expected object, got %s", pbjson__type_name(v));
            break;
        }
        m = pbjson__new_msg(md);
        if (!m) {
            e = CS_ERR_INTERNAL;
            break;
        }
        *(ProtobufCMessage **)p = m; /* linked first: freed with the parent on error */
        e = pbjson__decode_msg(d, v, md, m, depth + 1);
        break;
    }
    }
    return e;
}

/* 1 when the singular field at p owns heap memory (string, bytes or a
 * sub-message); only those types hold a pointer there. */
static int pbjson__holds_memory(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return *(char *const *)p != NULL;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p != NULL;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->data != NULL;
    default:
        return 0;
    }
}

static cs_err pbjson__decode_repeated(pbjson__dec *d, const ProtobufCFieldDescriptor *f,
                                      const json_t *v, ProtobufCMessage *msg, int depth)
{
    size_t *count = (size_t *)(void *)((char *)msg + f->quantifier_offset);
    char **arr = (char **)(void *)((char *)msg + f->offset);
    size_t n, es = pbjson__elem_size(f->type);
    cs_err e = CS_OK;
    if (!json_is_array(v))
        return pbjson__fail(d, "expected array, got %s", pbjson__type_name(v));
    if (depth + 1 > PBJSON_MAX_DEPTH)
        return pbjson__fail(d, "nesting deeper than %d", PBJSON_MAX_DEPTH);
    n = json_array_size(v);
    if (n == 0)
        return CS_OK;
    *arr = calloc(n, es);
    if (!*arr)
        return CS_ERR_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        size_t saved = pbjson__push_index(d, i);
        const json_t *el = json_array_get(v, i);
        if (json_is_null(el))
            e = pbjson__fail(d, "null is not allowed in an array");
        else
            e = pbjson__decode_value(d, f, el, *arr + i * es, depth + 1);
        /* Counted even on failure: a half-built message element is linked
         * and must be freed with the rest. */
        if (e == CS_OK || f->type == PROTOBUF_C_TYPE_MESSAGE)
            (*count)++;
        if (e != CS_OK && f->type == PROTOBUF_C_TYPE_MESSAGE && !((void **)*arr)[i])
            (*count)--;
        if (e != CS_OK)
            return e;
        pbjson__pop(d, saved);
    }
    return CS_OK;
}

static cs_err pbjson__decode_msg(pbjson__dec *d, const json_t *obj,
                                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
                                 int depth)
{
    unsigned char seen[256];
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return pbjson__fail(d, "expected object, got %s", pbjson__type_name(obj));
    if (depth > PBJSON_MAX_DEPTH)
        return pbjson__fail(d, "nesting deeper than %d", PBJSON_MAX_DEPTH);
    memset(seen, 0, sizeof seen);
    json_object_foreach((json_t *)obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = pbjson_field(desc, key);
        size_t saved = pbjson__push_name(d, key);
        size_t idx;
        cs_err e;
        if (!f)
            return pbjson__fail(d, "unknown field");
        idx = (size_t)(f - desc->fields);
        if (idx < sizeof seen) {
            if (seen[idx])
                return pbjson__fail(d, "field given twice");
            seen[idx] = 1;
        }
        if (json_is_null(v)) {
            pbjson__pop(d, saved);
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            e = pbjson__decode_repeated(d, f, v, msg, depth);
        } else {
            uint32_t *oneof_case = NULL;
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                oneof_case = (uint32_t *)(void *)((char *)msg + f->quantifier_offset);
                if (*oneof_case != 0 && *oneof_case != f->id) {
                    const ProtobufCFieldDescriptor *other =
                        protobuf_c_message_descriptor_get_field(desc, *oneof_case);
                    char other_name[128];
                    pbjson_json_name(other ? other->name : "?", other_name, sizeof other_name);
                    return pbjson__fail(d, "only one of this field and \"%s\" may be set",
                                        other_name);
                }
            }
            e = pbjson__decode_value(d, f, v, (char *)msg + f->offset, depth);
            /* The case is set even on failure when memory was stored, so
             * that the half-built value is freed with the message. */
            if (oneof_case && (e == CS_OK || pbjson__holds_memory(f, (char *)msg + f->offset)))
                *oneof_case = f->id;
            if (e == CS_OK && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                *(protobuf_c_boolean *)(void *)((char *)msg + f->quantifier_offset) = 1;
        }
        if (e != CS_OK)
            return e;
        pbjson__pop(d, saved);
    }
    return CS_OK;
}

cs_err pbjson_decode_json(const json_t *json, const ProtobufCMessageDescriptor *desc, int flags,
                          ProtobufCMessage **out, char *err, size_t errlen)
{
    pbjson__dec d = {flags, err, errlen, {0}, 0};
    ProtobufCMessage *m = NULL;
    cs_err e;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    m = pbjson__new_msg(desc);
    if (!m) {
        e = CS_ERR_INTERNAL;
        goto out;
    }
    e = pbjson__decode_msg(&d, json, desc, m, 1);
    if (e == CS_ERR_INTERNAL && err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
out:
    if (e == CS_OK) {
        *out = m;
    } else if (m) {
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return e;
}

int pbjson_depth_ok(const char *text, size_t len, int max_depth)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

cs_err pbjson_parse(const char *text, size_t len, size_t max_len, json_t **out, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    cs_err e = CS_ERR_INVALID;
    *out = NULL;
    if (max_len && len > max_len) {
        snprintf(err, errlen, "body larger than %zu bytes", max_len);
        e = CS_ERR_RESOURCE;
        goto out;
    }
    if (!pbjson_depth_ok(text, len, PBJSON_MAX_DEPTH)) {
        snprintf(err, errlen, "JSON nested deeper than %d", PBJSON_MAX_DEPTH);
        goto out;
    }
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        snprintf(err, errlen, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        goto out;
    }
    e = CS_OK;
out:
    return e;
}

cs_err pbjson_decode(const char *text, size_t len, size_t max_len,
                     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
                     size_t errlen)
{
    json_t *j = NULL;
    cs_err e;
    size_t i = 0;
    *out = NULL;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len) {
        j = json_object();
        e = j ? CS_OK : CS_ERR_INTERNAL;
    } else {
        e = pbjson_parse(text, len, max_len, &j, err, errlen);
    }
    if (e == CS_OK)
        e = pbjson_decode_json(j, desc, 0, out, err, errlen);
    json_decref(j);
    return e;
}
