/*
 * pbjson_bench: the CPU callgw spends turning one answer into JSON, alone.
 *
 *   pbjson_bench [iterations]
 *
 * Builds a ListCallHistoryResponse like the one gateway_bench.sh's agent
 * gets (20 calls, every one with both parties and its timestamps), packs
 * it, then times the two steps callgw's completion thread takes for it:
 * the unpack into an arena (pbjson_arena_unpack) and the JSON written from
 * the message (pbjson_write). Prints ns per answer for each (CPU time of
 * the process, best of five rounds); single-threaded, so it does not move
 * with the machine's load the way the whole-stack figures do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callservice/v1/calls.pb-c.h"
#include "pbjson.h"

#define N_CALLS 20

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static Google__Protobuf__Timestamp *stamp(int64_t s, int32_t ns)
{
    Google__Protobuf__Timestamp *t = malloc(sizeof *t);
    google__protobuf__timestamp__init(t);
    t->seconds = s;
    t->nanos = ns;
    return t;
}

static Callservice__V1__Party *party(const char *uid, const char *name, const char *ext)
{
    Callservice__V1__Party *p = malloc(sizeof *p);
    callservice__v1__party__init(p);
    p->user_id = (char *)uid;
    p->name = (char *)name;
    p->extension = (char *)ext;
    p->number = (char *)"";
    return p;
}

/* The packed answer; *len its size. */
static uint8_t *build(size_t *len)
{
    static char ids[N_CALLS][40], chan_a[N_CALLS][48], chan_b[N_CALLS][48];
    Callservice__V1__ListCallHistoryResponse resp =
        CALLSERVICE__V1__LIST_CALL_HISTORY_RESPONSE__INIT;
    Callservice__V1__PageInfo page = CALLSERVICE__V1__PAGE_INFO__INIT;
    Callservice__V1__Call *calls[N_CALLS];
    uint8_t *out;
    for (int i = 0; i < N_CALLS; i++) {
        Callservice__V1__Call *c = malloc(sizeof *c);
        int64_t t0 = 1764590400 + i * 300;
        callservice__v1__call__init(c);
        snprintf(ids[i], sizeof ids[i], "6f1c2a3e-%04x-4b5c-8d9e-0a1b2c3d4e%02x", i, i);
        snprintf(chan_a[i], sizeof chan_a[i], "%.39s.a", ids[i]);
        snprintf(chan_b[i], sizeof chan_b[i], "%.39s.b", ids[i]);
        c->id = ids[i];
        c->status = i < 10 ? CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_IN_PROGRESS
                           : CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED;
        c->direction = CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_OUTBOUND;
        c->caller = party("8fcaac4e-dc57-4af5-8d1c-7152aaf7ffd2", "Bench Agent", "1001");
        c->callee = party("", "", "");
        c->callee->number = (char *)"+15551230000";
        c->hangup_cause = (char *)(i < 10 ? "" : "normal");
        c->created_at = stamp(t0, 123000000);
        c->ringing_at = stamp(t0 + 1, 456000000);
        c->answered_at = stamp(t0 + 4, 789000000);
        c->ended_at = i < 10 ? NULL : stamp(t0 + 94, 12000000);
        c->duration_seconds = 90;
        c->wait_seconds = 4;
        c->caller_channel_id = chan_a[i];
        c->callee_channel_id = chan_b[i];
        c->bridge_id = ids[i];
        c->version = 4 + i;
        c->request_id = (char *)"";
        calls[i] = c;
    }
    resp.n_calls = N_CALLS;
    resp.calls = calls;
    page.page = 1;
    page.limit = 20;
    page.total = 200;
    page.pages = 10;
    resp.page_info = &page;
    resp.next_cursor = (char *)"";
    *len = callservice__v1__list_call_history_response__get_packed_size(&resp);
    out = malloc(*len);
    callservice__v1__list_call_history_response__pack(&resp, out);
    for (int i = 0; i < N_CALLS; i++) {
        Callservice__V1__Call *c = calls[i];
        free(c->caller);
        free(c->callee);
        free(c->created_at);
        free(c->ringing_at);
        free(c->answered_at);
        free(c->ended_at);
        free(c);
    }
    return out;
}

int main(int argc, char **argv)
{
    const ProtobufCMessageDescriptor *d = &callservice__v1__list_call_history_response__descriptor;
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    size_t len;
    uint8_t *wire = build(&len);
    pbjson_arena arena = {0};
    pbjson_buf out = {0};
    ProtobufCMessage *m = NULL;
    double best_unpack = 1e18, best_write = 1e18;
    for (int round = 0; round < 5; round++) {
        double t0 = cpu_ns(), t1, t2;
        for (long i = 0; i < iters; i++) {
            pbjson_arena_reset(&arena);
            m = pbjson_arena_unpack(&arena, d, len, wire);
        }
        t1 = cpu_ns();
        for (long i = 0; i < iters; i++) {
            out.len = 0;
            pbjson_write(&out, m);
        }
        t2 = cpu_ns();
        if ((t1 - t0) / (double)iters < best_unpack)
            best_unpack = (t1 - t0) / (double)iters;
        if ((t2 - t1) / (double)iters < best_write)
            best_write = (t2 - t1) / (double)iters;
    }
    printf("answer: %zu bytes of protobuf, %zu bytes of JSON, %d calls\n", len, out.len, N_CALLS);
    printf("unpack into the arena: %.0f ns\nJSON written: %.0f ns\n", best_unpack, best_write);
    pbjson_buf_free(&out);
    pbjson_arena_free(&arena);
    free(wire);
    return m && !out.oom ? 0 : 1;
}
