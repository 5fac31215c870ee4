/*
 * endpoint: expansion of the configured endpoint templates
 * (DEVICE_ENDPOINT_TEMPLATE "PJSIP/{ext}", OUTBOUND_ENDPOINT_TEMPLATE
 * "PJSIP/{number}@trunk").
 *
 * Why the character check: the value comes from a user (a dialled number)
 * and ends up in an Asterisk dial string, where '&' dials several targets,
 * '/' and '@' change technology or host, ',' and ';' start options or pick
 * a Local channel half. Only characters that cannot mean any of that pass.
 */
#include "ari/ari.h"

#include <ctype.h>
#include <string.h>

#define VALUE_MAX 64

typedef struct key_rule {
    const char *key;   /* NULL: the row for every other key */
    const char *extra; /* allowed besides digits */
    bool letters;
} key_rule;

static const key_rule key_rules[] = {
    {"number", "+*#", false},
    {NULL, "+*#_-.", true},
};

static const key_rule *rule_for(const char *key)
{
    size_t i = 0;
    while (key_rules[i].key && strcmp(key_rules[i].key, key) != 0)
        i++;
    return &key_rules[i];
}

static bool value_safe(const key_rule *r, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        bool ok = isdigit(ch) || (r->letters && isalpha(ch)) || (ch && strchr(r->extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

cs_err ari_endpoint_format(const char *tmpl, const char *key, const char *value, char *out,
                           size_t outlen)
{
    cs_err rc = CS_ERR_INVALID;
    size_t o = 0, klen;
    bool used = false;
    if (!tmpl || !key || !value || !out || outlen == 0)
        goto out;
    out[0] = '\0';
    klen = strlen(key);
    if (klen == 0 || !value_safe(rule_for(key), value))
        goto out;
    size_t vlen = strlen(value);
    for (const char *p = tmpl; *p;) {
        const char *piece = p;
        size_t plen = 1;
        if (*p == '{') {
            /* Only "{key}" is a placeholder; any other "{...}" is a
             * template mistake that must not reach Asterisk. */
            if (strncmp(p + 1, key, klen) != 0 || p[1 + klen] != '}')
                goto out;
            piece = value;
            plen = vlen;
            used = true;
            p += klen + 2;
        } else if (*p == '}') {
            goto out;
        } else {
            p++;
        }
        if (outlen - o <= plen)
            goto out;
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o] = '\0';
    if (used)
        rc = CS_OK;
out:
    if (rc != CS_OK && out && outlen)
        out[0] = '\0';
    return rc;
}
