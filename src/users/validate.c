/*
 * validate: one row a kind of field (bounds, check function, message). The
 * checks are deliberately simple and strict: they keep junk out of the
 * database and give the client a message naming the field; they do not try
 * to be RFC 5322.
 */
#include "validate.h"

#include <stdio.h>
#include <string.h>

typedef int (*validate_fn)(const char *v);

static int validate__email(const char *v);
static int validate__uuid(const char *v);
static int validate__text(const char *v);
static int validate__any(const char *v);

/* min/max: in code points for text, bytes otherwise (0 max: no bound). */
static const struct {
    long min, max;
    int count_chars;
    validate_fn ok;
    const char *rule;
} validate__rules[VALIDATE__COUNT] = {
    [VALIDATE_EMAIL] = {3, 254, 0, validate__email, "must be a valid email address"},
    [VALIDATE_PASSWORD] = {8, 256, 1, validate__any, "must be 8 to 256 characters"},
    [VALIDATE_NAME] = {1, 100, 1, validate__text,
                       "must be 1 to 100 characters, without control characters"},
    [VALIDATE_UUID] = {36, 36, 0, validate__uuid, "must be a UUID"},
    [VALIDATE_QUERY] = {0, 100, 1, validate__text, "must be at most 100 characters"},
    [VALIDATE_REQUIRED] = {1, 1024, 0, validate__any, "is required"},
};

long validate_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return -1;
            p++;
            n++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF, C1 controls */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
            (cp >= 0x80 && cp < 0xa0))
            return -1;
        p += extra + 1;
        n++;
    }
    return n;
}

static int validate__any(const char *v)
{
    return validate_utf8_len(v) >= 0;
}

/* Text that is not only blanks. */
static int validate__text(const char *v)
{
    if (validate_utf8_len(v) < 0)
        return 0;
    if (!*v)
        return 1;
    for (const char *p = v; *p; p++)
        if (*p != ' ')
            return 1;
    return 0;
}

/* local@domain.tld: one @, a non-empty local part of printable ASCII
 * without blanks, a domain of labels [A-Za-z0-9-] separated by single
 * dots, at least two labels, none starting or ending with '-'. */
static int validate__email(const char *v)
{
    const char *at = strchr(v, '@');
    const char *d;
    int labels = 0, len = 0;
    if (!at || at == v || strchr(at + 1, '@') || at - v > 64)
        return 0;
    for (const char *p = v; p < at; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("(),:;<>[]\\\"", *p))
            return 0;
    if (v[0] == '.' || at[-1] == '.' || strstr(v, ".."))
        return 0;
    for (d = at + 1;; d++) {
        char ch = *d;
        if (ch == '.' || ch == '\0') {
            if (len == 0 || d[-1] == '-')
                return 0;
            labels++;
            len = 0;
            if (ch == '\0')
                break;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-'))
            return 0;
        if (len == 0 && ch == '-')
            return 0;
        len++;
    }
    return labels >= 2;
}

static int validate__uuid(const char *v)
{
    for (int i = 0; i < 36; i++) {
        char ch = v[i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? ch != '-'
                 : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F')))
            return 0;
    }
    return v[36] == '\0';
}

cs_err validate_fields(const validate_field *f, size_t n, char *msg, size_t msglen)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].value ? f[i].value : "";
        long len;
        if ((unsigned)f[i].kind >= VALIDATE__COUNT)
            return CS_ERR_INTERNAL;
        len = validate__rules[f[i].kind].count_chars ? validate_utf8_len(v) : (long)strlen(v);
        if (!*v && validate__rules[f[i].kind].min > 0) {
            snprintf(msg, msglen, "%s: is required", f[i].name);
            return CS_ERR_INVALID;
        }
        if (len < validate__rules[f[i].kind].min || len > validate__rules[f[i].kind].max ||
            !validate__rules[f[i].kind].ok(v)) {
            snprintf(msg, msglen, "%s: %s", f[i].name, validate__rules[f[i].kind].rule);
            return CS_ERR_INVALID;
        }
    }
    return CS_OK;
}

cs_err validate_role(const char *field, int v, int allow_unset, char *msg, size_t msglen)
{
    if ((v >= 1 && v <= 3) || (allow_unset && v == 0))
        return CS_OK;
    snprintf(msg, msglen, "%s: must be one of admin, supervisor, agent", field);
    return CS_ERR_INVALID;
}

cs_err validate_presence(const char *field, int v, char *msg, size_t msglen)
{
    if (v >= 1 && v <= 4)
        return CS_OK;
    snprintf(msg, msglen, "%s: must be one of available, busy, away, offline", field);
    return CS_ERR_INVALID;
}
