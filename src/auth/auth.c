/* auth: bearer token => identity, role checks. */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jwt.h"

static const char *const auth__role_names[] = {
    [AUTH_ROLE_ADMIN] = "admin",
    [AUTH_ROLE_SUPERVISOR] = "supervisor",
    [AUTH_ROLE_AGENT] = "agent",
};
#define AUTH_N_ROLES (sizeof auth__role_names / sizeof *auth__role_names)

auth_role auth_role_parse(const char *s)
{
    for (size_t i = 1; s && i < AUTH_N_ROLES; i++)
        if (strcmp(s, auth__role_names[i]) == 0)
            return (auth_role)i;
    return AUTH_ROLE_NONE;
}

const char *auth_role_name(auth_role r)
{
    return ((size_t)r > 0 && (size_t)r < AUTH_N_ROLES) ? auth__role_names[r] : NULL;
}

cs_err auth_identify(const auth_key *k, const char *authorization, int64_t now, auth_identity *id,
                     char *msg, size_t msglen)
{
    authjwt_claims c;
    const char *why = NULL;
    const char *tok;
    cs_err rc = CS_ERR_UNAUTHENTICATED;
    memset(id, 0, sizeof *id);
    if (!authorization || !*authorization) {
        snprintf(msg, msglen, "missing bearer token (authorization metadata)");
        goto out;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(msg, msglen, "authorization must be 'Bearer <token>'");
        goto out;
    }
    tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    rc = authjwt_verify(k->key, k->len, tok, now, &c, &why);
    if (rc != CS_OK) {
        snprintf(msg, msglen, "%s", why ? why : "invalid token");
        goto out;
    }
    id->role = auth_role_parse(c.role);
    if (id->role == AUTH_ROLE_NONE || strlen(c.sub) >= sizeof id->user_id) {
        snprintf(msg, msglen, "malformed token claims");
        rc = CS_ERR_UNAUTHENTICATED;
        goto out;
    }
    memcpy(id->user_id, c.sub, strlen(c.sub) + 1);
    memcpy(id->email, c.email, strlen(c.email) + 1);
    id->exp = c.exp;
out:
    if (rc != CS_OK)
        memset(id, 0, sizeof *id);
    return rc;
}

cs_err auth_issue(const auth_key *k, const char *user_id, auth_role role, const char *email,
                  int64_t now, char **token, int64_t *expires_at)
{
    authjwt_claims c;
    const char *rn = auth_role_name(role);
    memset(&c, 0, sizeof c);
    *token = NULL;
    if (!rn || strlen(user_id) >= sizeof c.sub || strlen(email) >= sizeof c.email)
        return CS_ERR_INTERNAL;
    snprintf(c.sub, sizeof c.sub, "%s", user_id);
    snprintf(c.role, sizeof c.role, "%s", rn);
    snprintf(c.email, sizeof c.email, "%s", email);
    c.iat = now;
    c.exp = now + k->expires_in;
    *expires_at = c.exp;
    return authjwt_sign(k->key, k->len, &c, token);
}

cs_err auth_require(const auth_identity *id, unsigned allowed, char *msg, size_t msglen)
{
    char need[64] = "";
    if (allowed & AUTH_ROLE_BIT(id->role))
        return CS_OK;
    for (size_t i = 1; i < AUTH_N_ROLES; i++)
        if (allowed & AUTH_ROLE_BIT(i)) {
            size_t n = strlen(need);
            snprintf(need + n, sizeof need - n, "%s%s", n ? " or " : "", auth__role_names[i]);
        }
    snprintf(msg, msglen, "permission denied: requires role %s", need);
    return CS_ERR_PERMISSION;
}

int auth_sees_all(const auth_identity *id)
{
    return id->role == AUTH_ROLE_ADMIN || id->role == AUTH_ROLE_SUPERVISOR;
}
