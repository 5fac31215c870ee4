/*
 * clock: the monotonic clock in milliseconds, for timeouts, ages and
 * rate limits (never for wall-clock times). Pure, no state.
 */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
