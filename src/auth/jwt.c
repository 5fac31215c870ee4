/*
 * jwt: HS256 sign and verify. The header is parsed here (base64url +
 * jansson) so that nothing but HS256 ever reaches libjwt's decoder.
 */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

static int authjwt__b64url_val(char ch)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = ch ? strchr(alphabet, ch) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* Decodes n base64url chars (no padding) into out (at least n*3/4+1 bytes,
 * NUL-terminated). Returns the decoded length or -1. */
static long authjwt__b64url_decode(const char *in, size_t n, char *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = authjwt__b64url_val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return (long)o;
}

cs_err authjwt_sign(const unsigned char *key, size_t keylen, const authjwt_claims *c, char **token)
{
    jwt_t *j = NULL;
    cs_err rc = CS_ERR_INTERNAL;
    *token = NULL;
    if (!key || keylen == 0 || keylen > 4096)
        return CS_ERR_INVALID;
    if (jwt_new(&j) != 0)
        goto out;
    if (jwt_set_alg(j, JWT_ALG_HS256, key, (int)keylen) != 0 ||
        jwt_add_grant(j, "sub", c->sub) != 0 || jwt_add_grant(j, "role", c->role) != 0 ||
        jwt_add_grant(j, "email", c->email) != 0 || jwt_add_grant_int(j, "iat", (long)c->iat) ||
        jwt_add_grant_int(j, "exp", (long)c->exp) != 0)
        goto out;
    *token = jwt_encode_str(j);
    if (*token)
        rc = CS_OK;
out:
    if (j)
        jwt_free(j);
    return rc;
}

/* The token's header must be a JSON object whose alg is exactly "HS256"
 * (typ, if present, "JWT"). */
static const char *authjwt__check_header(const char *token, size_t hlen)
{
    char buf[512];
    json_t *h = NULL;
    const char *why = NULL;
    const char *alg, *typ;
    if (hlen == 0 || hlen > 600 || authjwt__b64url_decode(token, hlen, buf) < 0) {
        why = "malformed token";
        goto out;
    }
    h = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        why = "malformed token";
        goto out;
    }
    alg = json_string_value(json_object_get(h, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0) {
        why = "unsupported token algorithm";
        goto out;
    }
    typ = json_string_value(json_object_get(h, "typ"));
    if (json_object_get(h, "typ") && (!typ || strcmp(typ, "JWT") != 0)) {
        why = "malformed token";
        goto out;
    }
    if (json_object_get(h, "crit")) {
        why = "unsupported token header";
        goto out;
    }
out:
    json_decref(h);
    return why;
}

static int authjwt__copy_str(json_t *claims, const char *name, char *dst, size_t len)
{
    const char *v = json_string_value(json_object_get(claims, name));
    if (!v || !*v || strlen(v) >= len)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

cs_err authjwt_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                      authjwt_claims *out, const char **why)
{
    jwt_t *j = NULL;
    char *grants = NULL;
    json_t *claims = NULL, *nbf;
    const char *dot1, *dot2;
    cs_err rc = CS_ERR_UNAUTHENTICATED;

    memset(out, 0, sizeof *out);
    *why = "malformed token";
    if (!key || keylen == 0) {
        /* Never let libjwt see a NULL key: it would skip the signature. */
        *why = "server has no token key";
        rc = CS_ERR_INTERNAL;
        goto out;
    }
    if (!token || strlen(token) > AUTHJWT_MAX_LEN)
        goto out;
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2 == dot1 + 1 || dot2[1] == '\0')
        goto out;
    *why = authjwt__check_header(token, (size_t)(dot1 - token));
    if (*why)
        goto out;
    if (jwt_decode(&j, token, key, (int)keylen) != 0 || !j) {
        *why = "invalid token signature";
        j = NULL;
        goto out;
    }
    if (jwt_get_alg(j) != JWT_ALG_HS256) {
        *why = "unsupported token algorithm";
        goto out;
    }
    grants = jwt_get_grants_json(j, NULL);
    claims = grants ? json_loads(grants, 0, NULL) : NULL;
    *why = "malformed token claims";
    if (!json_is_object(claims) || authjwt__copy_str(claims, "sub", out->sub, sizeof out->sub) ||
        authjwt__copy_str(claims, "role", out->role, sizeof out->role) ||
        authjwt__copy_str(claims, "email", out->email, sizeof out->email) ||
        !json_is_integer(json_object_get(claims, "exp")))
        goto out;
    out->exp = json_integer_value(json_object_get(claims, "exp"));
    out->iat = json_integer_value(json_object_get(claims, "iat"));
    if (now >= out->exp) {
        *why = "token expired";
        goto out;
    }
    nbf = json_object_get(claims, "nbf");
    if (nbf && (!json_is_integer(nbf) || now < json_integer_value(nbf))) {
        *why = "token not valid yet";
        goto out;
    }
    *why = NULL;
    rc = CS_OK;
out:
    if (rc != CS_OK) {
        const char *keep = *why;
        memset(out, 0, sizeof *out);
        *why = keep;
    }
    json_decref(claims);
    free(grants);
    if (j)
        jwt_free(j);
    return rc;
}
