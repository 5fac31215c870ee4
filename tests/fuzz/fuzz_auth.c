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
 * The token cache must be transparent: for each value, a fresh cache asked
 * at the same time twice (a miss, then a hit) and then at a time the
 * input picks (a second earlier, i.e. a clock set back, up to two later)
 * must answer exactly what a direct verification answers at those times;
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

/* One answer: the status, the message of a refusal, the identity. */
typedef struct fuzz_auth_answer {
    cs_err rc;
    auth_identity id;
    char msg[160];
} fuzz_auth_answer;

static void fuzz_auth_check(const fuzz_auth_answer *want, const fuzz_auth_answer *got)
{
    static const auth_identity zero;
    if (want->rc != got->rc)
        abort();
    if (want->rc == CS_OK) {
        if (got->id.role != want->id.role || got->id.exp != want->id.exp ||
            strcmp(got->id.user_id, want->id.user_id) != 0 ||
            strcmp(got->id.email, want->id.email) != 0 || got->id.user_id[0] == '\0' ||
            auth_role_name(got->id.role) == NULL)
            abort();
    } else if (got->rc != CS_ERR_UNAUTHENTICATED || got->msg[0] == '\0' ||
               strcmp(got->msg, want->msg) != 0 || memcmp(&got->id, &zero, sizeof zero) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auth_key key = {fuzz_auth_key, sizeof fuzz_auth_key - 1, 3600};
    fuzz_auth_answer direct, direct_later, got;
    kvcache *cache = NULL;
    char *s = NULL, *authz = NULL;
    int64_t later;

    if (size == 0)
        return 0;
    cache = kvc_new(64);
    if (cache == NULL)
        abort();
    s = malloc(size);
    if (s == NULL)
        goto done;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    authz = (data[0] & 1) ? fuzz_auth_signed(s) : s;
    if (authz == NULL)
        goto done;
    later = FUZZ_AUTH_NOW - 1 + (int64_t)((data[0] >> 1) & 3);
    memset(&direct, 0, sizeof direct);
    memset(&direct_later, 0, sizeof direct_later);
    direct.rc =
        auth_identify(&key, authz, FUZZ_AUTH_NOW, &direct.id, direct.msg, sizeof direct.msg);
    direct_later.rc = auth_identify(&key, authz, later, &direct_later.id, direct_later.msg,
                                    sizeof direct_later.msg);
    if (direct.rc == CS_OK && direct.id.exp <= FUZZ_AUTH_NOW)
        abort();
    for (int i = 0; i < 2; i++) {
        memset(&got, 0x5a, sizeof got);
        got.rc =
            tokcache_identify(cache, &key, authz, FUZZ_AUTH_NOW, &got.id, got.msg, sizeof got.msg);
        fuzz_auth_check(&direct, &got);
    }
    memset(&got, 0x5a, sizeof got);
    got.rc = tokcache_identify(cache, &key, authz, later, &got.id, got.msg, sizeof got.msg);
    fuzz_auth_check(&direct_later, &got);
done:
    if (authz != s)
        free(authz);
    free(s);
    kvc_free(cache);
    return 0;
}
