/*
 * auth: who is calling. Turns the "authorization" metadata
 * ("Bearer <jwt>") into an identity, and answers role questions.
 *
 * The token is trusted only after jwt.c's checks (HS256 pinned, signature,
 * exp, nbf); the database is not consulted here, so a deleted user's token
 * stays valid until it expires, and handlers that load the user answer
 * NOT_FOUND.
 * Ownership: everything is caller storage; nothing to free.
 */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Same numbers as callservice.v1.Role. */
typedef enum auth_role {
    AUTH_ROLE_NONE = 0,
    AUTH_ROLE_ADMIN = 1,
    AUTH_ROLE_SUPERVISOR = 2,
    AUTH_ROLE_AGENT = 3,
} auth_role;

typedef struct auth_identity {
    char user_id[40];
    auth_role role;
    char email[256];
    int64_t exp; /* the token's expiry (unix seconds): valid while now < exp */
} auth_identity;

typedef struct auth_key {
    const unsigned char *key;
    size_t len;
    int64_t expires_in; /* seconds a token lives */
} auth_key;

/* "admin" / "supervisor" / "agent" <-> auth_role; unknown => AUTH_ROLE_NONE
 * / NULL. */
auth_role auth_role_parse(const char *s);
const char *auth_role_name(auth_role r);

/* From the authorization metadata value (may be NULL) at time now.
 * CS_OK fills id; CS_ERR_UNAUTHENTICATED zeroes id and writes a clear
 * reason into msg ("missing bearer token", "token expired", ...). */
cs_err auth_identify(const auth_key *k, const char *authorization, int64_t now, auth_identity *id,
                     char *msg, size_t msglen);

/* Issues a token for the user: *token is malloc'd (free()), *expires_at
 * the exp claim. */
cs_err auth_issue(const auth_key *k, const char *user_id, auth_role role, const char *email,
                  int64_t now, char **token, int64_t *expires_at);

/* Role checks. auth_require writes "requires role admin" style messages
 * and returns CS_ERR_PERMISSION when id's role is not in the allowed set
 * (a bitmask of AUTH_ROLE_BIT(r)). */
#define AUTH_ROLE_BIT(r) (1u << (unsigned)(r))
cs_err auth_require(const auth_identity *id, unsigned allowed, char *msg, size_t msglen);
/* Admin or supervisor: may see every user and call. */
int auth_sees_all(const auth_identity *id);

#endif
