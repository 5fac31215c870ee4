/*
 * unary_bench: a closed-loop load generator for unary gRPC calls, over the
 * gRPC C core (so the client costs little next to the server it measures).
 *
 *   unary_bench --addr 127.0.0.1:50051 --method /callservice.v1.UserService/GetProfile
 *               [--token JWT | --login email:password] [--concurrency 64]
 *               [--duration 10] [--warmup 1] [--threads 2] [--channels 1]
 *               [--user-id ID | --payload-hex HEX]
 *
 * N callers each keep exactly one call in flight for D seconds (after a
 * warm-up whose calls are not counted), spread over T client threads, each
 * with its own completion queue, and over C channels (separate TCP
 * connections). --token sends "authorization: Bearer <token>"; --login
 * first calls UserService/Login and uses the token it returns. The request
 * is empty (GetProfileRequest) unless --user-id (a GetUserRequest) or
 * --payload-hex give one.
 *
 * Prints one line: calls/s, errors, p50/p90/p99/max latency in ms, and the
 * first error's status.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "callservice/v1/users.pb-c.h"

typedef struct bench_opts {
    const char *addr, *method, *token, *login, *user_id, *payload_hex;
    int concurrency, threads, channels;
    double duration, warmup;
} bench_opts;

typedef struct bench_thread bench_thread;

typedef struct bench_caller {
    bench_thread *t;
    grpc_channel *ch;
    grpc_call *call;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    int64_t started_ns;
} bench_caller;

struct bench_thread {
    pthread_t thread;
    grpc_completion_queue *cq;
    bench_caller *callers;
    int n_callers;
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
    uint64_t errors;
    char first_error[256];
};

static struct {
    bench_opts o;
    grpc_slice method, payload;
    grpc_metadata md[1];
    size_t n_md;
    int64_t measure_from_ns, end_ns;
} bench;

static int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int bench_start_call(bench_caller *c)
{
    grpc_op ops[6];
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    grpc_call_error rc;

    c->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->t->cq, bench.method,
                                       NULL, deadline, NULL);
    c->send_bb = grpc_raw_byte_buffer_create(&bench.payload, 1);
    c->recv_bb = NULL;
    grpc_metadata_array_init(&c->init_md);
    grpc_metadata_array_init(&c->trail_md);
    c->details = grpc_empty_slice();
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = bench.n_md;
    ops[0].data.send_initial_metadata.metadata = bench.md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trail_md;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    c->started_ns = bench_now_ns();
    rc = grpc_call_start_batch(c->call, ops, 6, c, NULL);
    if (rc != GRPC_CALL_OK) {
        fprintf(stderr, "start_batch failed: %d\n", (int)rc);
        return -1;
    }
    return 0;
}

static void bench_finish_call(bench_caller *c)
{
    bench_thread *t = c->t;
    int64_t now = bench_now_ns();

    if (c->started_ns >= bench.measure_from_ns && now <= bench.end_ns) {
        if (c->status == GRPC_STATUS_OK) {
            if (t->n_lat == t->cap_lat) {
                t->cap_lat = t->cap_lat ? t->cap_lat * 2 : 65536;
                t->lat_us = realloc(t->lat_us, t->cap_lat * sizeof *t->lat_us);
                if (!t->lat_us)
                    abort();
            }
            t->lat_us[t->n_lat++] = (uint32_t)((now - c->started_ns) / 1000);
        } else {
            if (t->errors++ == 0)
                snprintf(t->first_error, sizeof t->first_error, "status %d: %.*s", (int)c->status,
                         (int)GRPC_SLICE_LENGTH(c->details),
                         (const char *)GRPC_SLICE_START_PTR(c->details));
        }
    }
    grpc_byte_buffer_destroy(c->send_bb);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    grpc_metadata_array_destroy(&c->init_md);
    grpc_metadata_array_destroy(&c->trail_md);
    grpc_slice_unref(c->details);
    grpc_call_unref(c->call);
    c->call = NULL;
}

static void *bench_thread_main(void *arg)
{
    bench_thread *t = arg;
    int active = 0;

    for (int i = 0; i < t->n_callers; i++)
        if (bench_start_call(&t->callers[i]) == 0)
            active++;
    while (active > 0) {
        grpc_event ev = grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        bench_caller *c = ev.tag;
        bench_finish_call(c);
        if (bench_now_ns() >= bench.end_ns || bench_start_call(c) != 0)
            active--;
    }
    return NULL;
}

static int bench_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* One synchronous unary call (for --login). Returns the response bytes or
 * an empty slice; *status gets the status. */
static grpc_slice bench_call_once(grpc_channel *ch, const char *method, grpc_slice req,
                                  grpc_status_code *status, char *err, size_t errcap)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method), out = grpc_empty_slice(), details;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&req, 1), *recv = NULL;
    grpc_metadata_array imd, tmd;
    grpc_op ops[6];
    grpc_byte_buffer_reader r;

    grpc_metadata_array_init(&imd);
    grpc_metadata_array_init(&tmd);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = &details;
    grpc_call_start_batch(call, ops, 6, call, NULL);
    grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    snprintf(err, errcap, "%.*s", (int)GRPC_SLICE_LENGTH(details),
             (const char *)GRPC_SLICE_START_PTR(details));
    if (recv && grpc_byte_buffer_reader_init(&r, recv)) {
        out = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    grpc_slice_unref(m);
    grpc_metadata_array_destroy(&imd);
    grpc_metadata_array_destroy(&tmd);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    return out;
}

/* Logs in and returns a malloc'd token, or NULL. */
static char *bench_login(grpc_channel *ch, const char *email_password)
{
    char email[256], err[256];
    const char *colon = strchr(email_password, ':');
    Callservice__V1__LoginRequest req = CALLSERVICE__V1__LOGIN_REQUEST__INIT;
    Callservice__V1__AuthResponse *resp = NULL;
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice in, out;
    char *token = NULL;

    if (!colon || (size_t)(colon - email_password) >= sizeof email) {
        fprintf(stderr, "--login wants email:password\n");
        return NULL;
    }
    memcpy(email, email_password, (size_t)(colon - email_password));
    email[colon - email_password] = '\0';
    req.email = email;
    req.password = (char *)(colon + 1);
    in = grpc_slice_malloc(callservice__v1__login_request__get_packed_size(&req));
    callservice__v1__login_request__pack(&req, GRPC_SLICE_START_PTR(in));
    out = bench_call_once(ch, "/callservice.v1.UserService/Login", in, &st, err, sizeof err);
    grpc_slice_unref(in);
    if (st != GRPC_STATUS_OK) {
        fprintf(stderr, "login failed: status %d: %s\n", (int)st, err);
        goto out;
    }
    resp = callservice__v1__auth_response__unpack(NULL, GRPC_SLICE_LENGTH(out),
                                                  GRPC_SLICE_START_PTR(out));
    if (resp && resp->token && *resp->token)
        token = strdup(resp->token);
    else
        fprintf(stderr, "login: no token in the answer\n");
out:
    if (resp)
        callservice__v1__auth_response__free_unpacked(resp, NULL);
    grpc_slice_unref(out);
    return token;
}

static grpc_slice bench_payload(const bench_opts *o)
{
    if (o->user_id) {
        Callservice__V1__GetUserRequest r = CALLSERVICE__V1__GET_USER_REQUEST__INIT;
        r.user_id = (char *)o->user_id;
        grpc_slice s = grpc_slice_malloc(callservice__v1__get_user_request__get_packed_size(&r));
        callservice__v1__get_user_request__pack(&r, GRPC_SLICE_START_PTR(s));
        return s;
    }
    if (o->payload_hex) {
        size_t n = strlen(o->payload_hex) / 2;
        grpc_slice s = grpc_slice_malloc(n);
        for (size_t i = 0; i < n; i++) {
            unsigned v = 0;
            sscanf(o->payload_hex + 2 * i, "%2x", &v);
            GRPC_SLICE_START_PTR(s)[i] = (uint8_t)v;
        }
        return s;
    }
    return grpc_empty_slice();
}

static void bench_usage(void)
{
    fprintf(stderr,
            "usage: unary_bench --addr HOST:PORT --method /pkg.Svc/Method [--token T | --login "
            "email:password]\n       [--concurrency N] [--duration S] [--warmup S] [--threads N] "
            "[--channels N]\n       [--user-id ID | --payload-hex HEX]\n");
}

int main(int argc, char **argv)
{
    bench_opts *o = &bench.o;
    grpc_channel **chans = NULL;
    grpc_channel_credentials *creds;
    bench_thread *threads = NULL;
    bench_caller *callers = NULL;
    char *token = NULL, *authz = NULL;
    uint32_t *all = NULL;
    size_t n_all = 0;
    uint64_t errors = 0;
    const char *first_error = "";
    int rc = 1;

    *o = (bench_opts){.addr = "127.0.0.1:50051",
                      .method = "/callservice.v1.UserService/GetProfile",
                      .concurrency = 64,
                      .threads = 2,
                      .channels = 1,
                      .duration = 10,
                      .warmup = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            bench_usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--addr"))
            o->addr = v;
        else if (!strcmp(a, "--method"))
            o->method = v;
        else if (!strcmp(a, "--token"))
            o->token = v;
        else if (!strcmp(a, "--login"))
            o->login = v;
        else if (!strcmp(a, "--user-id"))
            o->user_id = v;
        else if (!strcmp(a, "--payload-hex"))
            o->payload_hex = v;
        else if (!strcmp(a, "--concurrency"))
            o->concurrency = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--channels"))
            o->channels = atoi(v);
        else if (!strcmp(a, "--duration"))
            o->duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            o->warmup = atof(v);
        else {
            bench_usage();
            return 2;
        }
    }
    if (o->concurrency < 1 || o->threads < 1 || o->channels < 1 || o->duration <= 0) {
        bench_usage();
        return 2;
    }
    if (o->threads > o->concurrency)
        o->threads = o->concurrency;

    grpc_init();
    creds = grpc_insecure_credentials_create();
    chans = calloc((size_t)o->channels, sizeof *chans);
    for (int i = 0; i < o->channels; i++) {
        /* A local subchannel pool per channel: separate TCP connections. */
        grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                        .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                        .value.integer = 1};
        grpc_channel_args args = {.num_args = 1, .args = &arg};
        chans[i] = grpc_channel_create(o->addr, creds, &args);
    }
    grpc_channel_credentials_release(creds);

    token = o->token ? strdup(o->token) : NULL;
    if (o->login && !(token = bench_login(chans[0], o->login)))
        goto out;
    if (token) {
        size_t n = strlen(token) + 8;
        authz = malloc(n);
        snprintf(authz, n, "Bearer %s", token);
        bench.md[0].key = grpc_slice_from_static_string("authorization");
        bench.md[0].value = grpc_slice_from_copied_string(authz);
        bench.n_md = 1;
    }
    bench.method = grpc_slice_from_copied_string(o->method);
    bench.payload = bench_payload(o);

    threads = calloc((size_t)o->threads, sizeof *threads);
    callers = calloc((size_t)o->concurrency, sizeof *callers);
    for (int i = 0; i < o->concurrency; i++) {
        bench_thread *t = &threads[i % o->threads];
        callers[i].t = t;
        callers[i].ch = chans[i % o->channels];
    }
    for (int i = 0, next = 0; i < o->threads; i++) {
        threads[i].cq = grpc_completion_queue_create_for_next(NULL);
        threads[i].n_callers = o->concurrency / o->threads + (i < o->concurrency % o->threads);
        threads[i].callers = malloc((size_t)threads[i].n_callers * sizeof *callers);
        for (int j = 0; j < threads[i].n_callers; j++) {
            threads[i].callers[j] = callers[next++];
            threads[i].callers[j].t = &threads[i];
        }
    }
    bench.measure_from_ns = bench_now_ns() + (int64_t)(o->warmup * 1e9);
    bench.end_ns = bench.measure_from_ns + (int64_t)(o->duration * 1e9);
    for (int i = 0; i < o->threads; i++)
        pthread_create(&threads[i].thread, NULL, bench_thread_main, &threads[i]);
    for (int i = 0; i < o->threads; i++) {
        pthread_join(threads[i].thread, NULL);
        n_all += threads[i].n_lat;
        errors += threads[i].errors;
        if (!*first_error && threads[i].errors)
            first_error = threads[i].first_error;
    }
    all = malloc((n_all ? n_all : 1) * sizeof *all);
    for (int i = 0, k = 0; i < o->threads; i++) {
        memcpy(all + k, threads[i].lat_us, threads[i].n_lat * sizeof *all);
        k += (int)threads[i].n_lat;
    }
    qsort(all, n_all, sizeof *all, bench_cmp_u32);
#define PCT(p) (n_all ? all[(size_t)((double)(n_all - 1) * (p))] / 1000.0 : 0.0)
    printf("method=%s concurrency=%d threads=%d channels=%d duration=%.1fs calls=%zu errors=%llu "
           "rate=%.0f/s p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms%s%s\n",
           o->method, o->concurrency, o->threads, o->channels, o->duration, n_all,
           (unsigned long long)errors, (double)n_all / o->duration, PCT(0.50), PCT(0.90), PCT(0.99),
           PCT(1.0), *first_error ? " first_error=" : "", first_error);
#undef PCT
    rc = errors || !n_all ? 1 : 0;

out:
    for (int i = 0; threads && i < o->threads; i++) {
        grpc_completion_queue_shutdown(threads[i].cq);
        while (grpc_completion_queue_next(threads[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(threads[i].cq);
        free(threads[i].callers);
        free(threads[i].lat_us);
    }
    for (int i = 0; chans && i < o->channels; i++)
        grpc_channel_destroy(chans[i]);
    if (bench.n_md)
        grpc_slice_unref(bench.md[0].value);
    grpc_slice_unref(bench.method);
    grpc_slice_unref(bench.payload);
    free(all);
    free(threads);
    free(callers);
    free(chans);
    free(token);
    free(authz);
    grpc_shutdown();
    return rc;
}
