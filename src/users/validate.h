/*
 * validate: the input rules of UserService, as a table. Each field of a
 * request is checked by kind (email, password, name, uuid, role, presence,
 * ...), and a failure names the field: "email: must be a valid email
 * address". Pure code, no allocation.
 */
#ifndef CS_VALIDATE_H
#define CS_VALIDATE_H

#include <stddef.h>

#include "common/err.h"

typedef enum validate_kind {
    VALIDATE_EMAIL,
    VALIDATE_PASSWORD,
    VALIDATE_NAME,
    VALIDATE_UUID,
    VALIDATE_QUERY,    /* ListUsers search text: up to 100 characters */
    VALIDATE_REQUIRED, /* any non-empty text up to 1024 bytes */
    VALIDATE__COUNT
} validate_kind;

typedef struct validate_field {
    const char *name; /* as in the proto: "email", "user_id" */
    validate_kind kind;
    const char *value; /* NULL counts as empty */
} validate_field;

/* Checks every field in order; the first failure writes
 * "<name>: <rule>" into msg and returns CS_ERR_INVALID. */
cs_err validate_fields(const validate_field *f, size_t n, char *msg, size_t msglen);

/* Enums from the wire: CS_OK when v is one of the known values (1..max;
 * 0 only if allow_unset). Messages list the allowed names. */
cs_err validate_role(const char *field, int v, int allow_unset, char *msg, size_t msglen);
cs_err validate_presence(const char *field, int v, char *msg, size_t msglen);

/* Number of UTF-8 code points in s, or -1 if s is not valid UTF-8 or holds
 * control characters. */
long validate_utf8_len(const char *s);

#endif
