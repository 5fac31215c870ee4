/* rpc meta: bearer parsing and request ids, pure and allocation-free. */
#include "meta.h"

#include <strings.h>
#include <sys/random.h>
#include <time.h>

const char *rpc_meta_bearer(const char *authorization, size_t *len)
{
    const char *tok = NULL, *end;
    size_t n = 0;

    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        goto out;
    tok = authorization + 7;
    while (*tok == ' ' || *tok == '\t')
        tok++;
    for (end = tok; *end; end++)
        ;
    while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    n = (size_t)(end - tok);
    if (n == 0)
        tok = NULL;
out:
    if (len)
        *len = tok ? n : 0;
    return tok;
}

int rpc_meta_request_id_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > RPC_META_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

/* splitmix64: tiny, fast and good enough for ids that only need to be
 * unique in logs (they are not secrets). */
static uint64_t meta__next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rpc_meta_request_id_gen(uint64_t *state, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = meta__next(state);
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[16] = '\0';
}

uint64_t rpc_meta_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed || seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&ts;
    }
    return seed ? seed : 1;
}
