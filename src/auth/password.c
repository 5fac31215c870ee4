/* password: argon2id through libargon2's encoded-hash API. */
#include "password.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#include "common/log.h"

enum {
    PASSWORD_T_COST = 2,
    PASSWORD_M_COST = 19456, /* KiB */
    PASSWORD_PARALLELISM = 1,
    PASSWORD_SALT_LEN = 16,
    PASSWORD_HASH_LEN = 32,
};

static char password__dummy[PASSWORD_HASH_MAX];
static pthread_once_t password__dummy_once = PTHREAD_ONCE_INIT;

static int password__random(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

cs_err password_hash(const char *pw, char *out, size_t outlen)
{
    unsigned char salt[PASSWORD_SALT_LEN];
    int rc;
    if (!pw || outlen < PASSWORD_HASH_MAX || password__random(salt, sizeof salt) != 0)
        return CS_ERR_INTERNAL;
    rc = argon2id_hash_encoded(PASSWORD_T_COST, PASSWORD_M_COST, PASSWORD_PARALLELISM, pw,
                               strlen(pw), salt, sizeof salt, PASSWORD_HASH_LEN, out, outlen);
    if (rc != ARGON2_OK) {
        log_error("argon2id_hash_encoded: %s", argon2_error_message(rc));
        return CS_ERR_INTERNAL;
    }
    return CS_OK;
}

int password_verify(const char *encoded, const char *pw)
{
    if (!encoded || !pw || strncmp(encoded, "$argon2id$", 10) != 0)
        return 0;
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

static void password__make_dummy(void)
{
    if (password_hash("dummy password for timing", password__dummy, sizeof password__dummy) !=
        CS_OK)
        password__dummy[0] = '\0';
}

void password_verify_dummy(const char *pw)
{
    pthread_once(&password__dummy_once, password__make_dummy);
    (void)password_verify(password__dummy, pw ? pw : "");
}
