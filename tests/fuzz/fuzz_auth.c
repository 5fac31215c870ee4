/*
 * libFuzzer target for the bearer token path (src/auth): the authorization
 * metadata every call but Login and Register carries, so the input any
 * client controls before it is anyone. Any bytes must identify a caller or
 * be refused with UNAUTHENTICATED and a message, without a crash, leak or
 * UB. The first byte picks what the rest is:
 *   even: the authorization value as sent ("Bearer <jwt>", or anything).
 *         libjwt decodes a token's header and claims before it checks the
 *         signature, so this reaches its base64 and JSON readers too.
 *   odd:  the claims of a token the harness signs with the server's key
 *         (through libjwt, so only a JSON object gets that far), which
 *         reaches the claim checks behind the signature: sub, role, email,
 *         exp, nbf and their types and lengths.
 * Each value goes through tokcache_identify twice on one cache, so the
 * cached answer is checked against the first (same result, same identity);
 * a refusal must leave the identity zeroed.
 * Corpus: tests/fuzz/corpus/auth/ (tokens and claims).
 */
#include <jwt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/tokcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_AUTH_NOW 1700000000

static const unsigned char fuzz_auth_key[] = "fuzz-secret-0123456789abcdef";

/* "Bearer " + a token signed over claims (a JSON object), or NULL if
 * libjwt will not take them. malloc'd. */
static char *fuzz_auth_signed(const char *claims)
{
    jwt_t *j = NULL;
    char *tok = NULL, *out = NULL;
    if (jwt_new(&j) != 0)
        goto done;
    if (jwt_set_alg(j, JWT_ALG_HS256, fuzz_auth_key, (int)sizeof fuzz_auth_key - 1) != 0 ||
        jwt_add_grants_json(j, claims) != 0)
        goto done;
    tok = jwt_encode_str(j);
    if (tok == NULL)
        goto done;
    out = malloc(strlen(tok) + 8);
    if (out != NULL) {
        memcpy(out, "Bearer ", 7);
        memcpy(out + 7, tok, strlen(tok) + 1);
    }
done:
    free(tok);
    if (j != NULL)
        jwt_free(j);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kvcache *cache;
    const auth_key key = {fuzz_auth_key, sizeof fuzz_auth_key - 1, 3600};
    auth_identity a, b;
    char msg_a[160], msg_b[160];
    char *s = NULL, *authz = NULL;
    cs_err ra, rb;

    if (size == 0)
        return 0;
    if (cache == NULL)
        cache = kvc_new(64);
    s = malloc(size);
    if (s == NULL)
        goto done;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    authz = (data[0] & 1) ? fuzz_auth_signed(s) : s;
    if (authz == NULL)
        goto done;
    ra = tokcache_identify(cache, &key, authz, FUZZ_AUTH_NOW, &a, msg_a, sizeof msg_a);
    rb = tokcache_identify(cache, &key, authz, FUZZ_AUTH_NOW, &b, msg_b, sizeof msg_b);
    if (ra != rb || (ra != CS_OK && (msg_a[0] == '\0' || strcmp(msg_a, msg_b) != 0)))
        abort();
    if (ra == CS_OK && (a.role != b.role || a.exp != b.exp || a.exp <= FUZZ_AUTH_NOW ||
                        strcmp(a.user_id, b.user_id) != 0 || strcmp(a.email, b.email) != 0 ||
                        a.user_id[0] == '\0' || auth_role_name(a.role) == NULL))
        abort();
    if (ra != CS_OK && (ra != CS_ERR_UNAUTHENTICATED || a.role != AUTH_ROLE_NONE ||
                        a.user_id[0] != '\0' || a.email[0] != '\0' || a.exp != 0))
        abort();
done:
    if (authz != s)
        free(authz);
    free(s);
    return 0;
}
