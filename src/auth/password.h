/*
 * password: argon2id hashing (libargon2), PHC-encoded hashes
 * ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), so the parameters travel
 * with each hash and can be raised later without a migration.
 *
 * Cost: t=2, m=19 MiB, p=1 (OWASP's argon2id baseline). On this 2-core box
 * a hash takes roughly 25-40 ms of one core, so Login/Register throughput is
 * bounded near 50-80 per second per core; each in-flight hash holds 19 MiB.
 *
 * Ownership: password_hash writes into the caller's buffer.
 */
#ifndef CS_PASSWORD_H
#define CS_PASSWORD_H

#include <stddef.h>

#include "common/err.h"

#define PASSWORD_HASH_MAX 128

/* Hashes pw with a fresh random salt (getrandom) into out (at least
 * PASSWORD_HASH_MAX bytes). CS_OK or CS_ERR_INTERNAL. */
cs_err password_hash(const char *pw, char *out, size_t outlen);
/* 1 if pw matches the encoded hash, 0 otherwise (also for a malformed
 * hash). Constant-time comparison inside libargon2. */
int password_verify(const char *encoded, const char *pw);
/* Burns the time of one verify, for unknown emails, so that "no such user"
 * and "wrong password" take about as long. */
void password_verify_dummy(const char *pw);

#endif
