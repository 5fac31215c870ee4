/*
 * jwt: HS256 access tokens over libjwt 1.10, with the checks libjwt 1.10
 * does not make itself.
 *
 * libjwt 1.10 accepts alg=none when given a NULL key, verifies with
 * whatever algorithm the token's header names, and ignores exp/nbf. So:
 * the key is never NULL or empty (authjwt_verify refuses one); the header
 * is decoded and its alg pinned to "HS256" BEFORE libjwt sees the token;
 * the algorithm libjwt reports afterwards is checked again; exp (required)
 * and nbf (optional) are checked here against the caller's clock.
 *
 * Claims: sub (user id), role, email, iat, exp.
 * Ownership: authjwt_sign returns a malloc'd token the caller frees with
 * free(). authjwt_claims is plain storage, nothing to free.
 */
#ifndef CS_AUTHJWT_H
#define CS_AUTHJWT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct authjwt_claims {
    char sub[64];
    char role[16];
    char email[256];
    int64_t iat;
    int64_t exp;
} authjwt_claims;

/* Signs c (iat and exp as given) with HS256. CS_ERR_INVALID for an empty
 * key, CS_ERR_INTERNAL if libjwt fails. */
cs_err authjwt_sign(const unsigned char *key, size_t keylen, const authjwt_claims *c, char **token);

/* Verifies token at time now (seconds since the epoch). CS_OK fills out;
 * otherwise CS_ERR_UNAUTHENTICATED with *why a short static reason
 * ("token expired", "unsupported token algorithm", ...). */
cs_err authjwt_verify(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                      authjwt_claims *out, const char **why);

/* Longest token accepted (bytes); longer ones are rejected unparsed. */
#define AUTHJWT_MAX_LEN 4096

#endif
