/*
 * events_bench: drives the event log through the real producer path
 * (events_append inside a transaction, as the calls module does), for the
 * events benchmark (bench/events_bench.mjs) and the events integration
 * tests.
 *
 *   events_bench emit --users U1,U2[,...] [--calls N] [--steps 4|3|2|1]
 *                     [--concurrent K] [--rate R] [--big-every B] [--per-tx P]
 *
 * Plays N synthetic internal calls between pairs of the given users (call
 * i: users[2i % n] -> users[(2i+1) % n]), K of them in progress at a time,
 * each through `steps` transitions (initiated, ringing, answered, ended;
 * fewer leaves the call live), at R transitions per second overall (0: as
 * fast as possible). With B > 0, every B-th transition from the first on
 * (the 1st, the B+1-th, ...) names its caller with BENCH_BIG_NAME bytes: an
 * event too large for a NOTIFY, which then carries its seq alone. Each
 * transaction advances one call by P transitions (the last ones fewer):
 * its events are notified together at its commit. One line per committed
 * event on stdout:
 *
 *   <seq> <type> <call_id> <status> <version> <commit_unix_us>
 *
 * DATABASE_URL says where. Exit status 0, or 1 on the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callservice/v1/calls.pb-c.h"
#include "common/log.h"
#include "db/db.h"
#include "events/events.h"

enum { BENCH_MAX_USERS = 4096, BENCH_UUID = 37, BENCH_BIG_NAME = 6000 };

typedef struct bench_call {
    char id[BENCH_UUID];
    int caller, callee;
    int step; /* transitions done */
    int64_t created_us;
} bench_call;

static int64_t bench__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void bench__sleep_until(int64_t us)
{
    int64_t d = us - bench__now_us();
    struct timespec ts;

    if (d <= 0)
        return;
    ts.tv_sec = d / 1000000;
    ts.tv_nsec = (long)(d % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

static void bench__uuid(char out[BENCH_UUID])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t i;
    int pos = 0;

    if (f == NULL || fread(b, 1, sizeof b, f) != sizeof b) {
        for (i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    if (f != NULL)
        fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        pos += snprintf(out + pos, (size_t)(BENCH_UUID - pos), "%02x", b[i]);
        if (i == 3 || i == 5 || i == 7 || i == 9)
            out[pos++] = '-';
    }
    out[pos] = '\0';
}

/* The transitions of a call and the event each one emits. */
static const struct {
    Callservice__V1__EventType type;
    Callservice__V1__CallStatus status;
} bench__steps[] = {
    {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_INITIATED,
     CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_INITIATED},
    {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_RINGING,
     CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_RINGING},
    {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ANSWERED,
     CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_IN_PROGRESS},
    {CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED,
     CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED},
};

/* Appends call c's next transition inside the open transaction; big: the
 * caller's name is BENCH_BIG_NAME bytes. */
static cs_err bench__append(db_conn *db, const bench_call *c, char **users, int big, int64_t *seq)
{
    static char big_name[BENCH_BIG_NAME + 1];
    Callservice__V1__Call call = CALLSERVICE__V1__CALL__INIT;
    Callservice__V1__Party caller = CALLSERVICE__V1__PARTY__INIT,
                           callee = CALLSERVICE__V1__PARTY__INIT;
    Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    const char *vis[2] = {users[c->caller], users[c->callee]};

    caller.user_id = users[c->caller];
    caller.name = "bench caller";
    if (big) {
        memset(big_name, 'x', BENCH_BIG_NAME);
        caller.name = big_name;
    }
    callee.user_id = users[c->callee];
    callee.name = "bench callee";
    created.seconds = c->created_us / 1000000;
    call.id = (char *)c->id;
    call.status = bench__steps[c->step].status;
    call.direction = CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_INTERNAL;
    call.caller = &caller;
    call.callee = &callee;
    call.created_at = &created;
    call.version = c->step + 1;
    if (c->step == 3)
        call.hangup_cause = "normal";
    return events_append(db, bench__steps[c->step].type, c->id, users[c->caller], vis, 2,
                         &call.base, seq);
}

/* Advances one call by up to per_tx transitions (not beyond steps) in one
 * transaction; *k counts transitions, and every big_every-th from the first
 * on is big. Prints each event once committed. */
static cs_err bench__step(db_conn *db, bench_call *c, char **users, int steps, int per_tx,
                          int big_every, int64_t *k)
{
    int64_t seqs[4];
    int n = 0, i;
    cs_err e;

    e = db_begin(db);
    if (e != CS_OK)
        goto out;
    for (n = 0; n < per_tx && c->step + n < steps; n++) {
        bench_call at = *c;
        at.step = c->step + n;
        e = bench__append(db, &at, users, big_every > 0 && *k % big_every == 0, &seqs[n]);
        ++*k;
        if (e != CS_OK) {
            db_rollback(db);
            goto out;
        }
    }
    e = db_commit(db);
    if (e != CS_OK)
        goto out;
    for (i = 0; i < n; i++, c->step++)
        printf("%lld %d %s %d %d %lld\n", (long long)seqs[i], (int)bench__steps[c->step].type,
               c->id, (int)bench__steps[c->step].status, c->step + 1, (long long)bench__now_us());
out:
    return e;
}

static int bench__split_users(char *list, char **users)
{
    int n = 0;
    char *save = NULL, *tok;

    for (tok = strtok_r(list, ",", &save); tok != NULL && n < BENCH_MAX_USERS;
         tok = strtok_r(NULL, ",", &save))
        users[n++] = tok;
    return n;
}

static int bench__emit(int argc, char **argv)
{
    static char *users[BENCH_MAX_USERS];
    const char *url = getenv("DATABASE_URL");
    char *userlist = NULL;
    int n_users, calls = 1, steps = 4, concurrent = 1, big_every = 0, per_tx = 1, i, started = 0;
    int done = 0;
    int rc = 1;
    double rate = 0;
    bench_call *live = NULL;
    db_conn *db = NULL;
    int64_t t0, k = 0;

    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--users") == 0)
            userlist = argv[i + 1];
        else if (strcmp(argv[i], "--calls") == 0)
            calls = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steps") == 0)
            steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--concurrent") == 0)
            concurrent = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--big-every") == 0)
            big_every = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--per-tx") == 0)
            per_tx = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || userlist == NULL || url == NULL || calls < 1 || steps < 1 || steps > 4 ||
        concurrent < 1 || big_every < 0 || per_tx < 1 || per_tx > 4) {
        fprintf(stderr, "usage: DATABASE_URL=... events_bench emit --users U1,U2 [--calls N]"
                        " [--steps 1..4] [--concurrent K] [--rate R] [--big-every B]"
                        " [--per-tx 1..4]\n");
        return 2;
    }
    n_users = bench__split_users(userlist, users);
    if (n_users < 2) {
        fprintf(stderr, "events_bench: at least two users\n");
        return 2;
    }
    live = calloc((size_t)concurrent, sizeof *live);
    db = db_open(url);
    if (live == NULL || db == NULL)
        goto out;
    setvbuf(stdout, NULL, _IOLBF, 0);
    t0 = bench__now_us();
    /* slot j holds a call in progress; a finished slot takes the next call */
    for (i = 0; i < concurrent && started < calls; i++, started++) {
        bench__uuid(live[i].id);
        live[i].caller = (2 * started) % n_users;
        live[i].callee = (2 * started + 1) % n_users;
        live[i].created_us = bench__now_us();
    }
    while (done < calls) {
        for (i = 0; i < concurrent && done < calls; i++) {
            bench_call *c = &live[i];
            if (c->id[0] == '\0')
                continue;
            if (rate > 0)
                bench__sleep_until(t0 + (int64_t)((double)k * 1e6 / rate));
            if (bench__step(db, c, users, steps, per_tx, big_every, &k) != CS_OK) {
                fprintf(stderr, "events_bench: %s\n", db_errmsg(db));
                goto out;
            }
            if (c->step == steps) {
                done++;
                c->id[0] = '\0';
                if (started < calls) {
                    bench__uuid(c->id);
                    c->caller = (2 * started) % n_users;
                    c->callee = (2 * started + 1) % n_users;
                    c->step = 0;
                    c->created_us = bench__now_us();
                    started++;
                }
            }
        }
    }
    rc = 0;
out:
    db_close(db);
    free(live);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("events_bench", LOG_WARN, NULL);
    if (argc >= 2 && strcmp(argv[1], "emit") == 0)
        return bench__emit(argc, argv);
    fprintf(stderr, "usage: events_bench emit --users U1,U2 [--calls N] [--steps 1..4]"
                    " [--concurrent K] [--rate R] [--big-every B]"
                    " [--per-tx 1..4]\n");
    return 2;
}
