/*
 * calls_bench: complete call cycles per second through callsvc against the
 * ARI simulator (issue 4), over the gRPC C core so the client costs little
 * next to the service it measures on the same two cores.
 *
 *   calls_bench --addr HOST:PORT --login admin@example.com:admin123
 *               [--callers 32] [--duration 10] [--hold-ms 0]
 *               [--mode internal|outbound] [--channels 4]
 *               [--answer-timeout-ms 10000] [--cpu name=pid[,name=pid...]]
 *               [--cpu-pg POSTMASTER_PID]
 *
 * Setup (not measured): the admin creates the users with CreateUser (each
 * gets its SIP device), every caller logs in. internal: caller i calls the
 * extension of its own callee user (2N users); outbound: caller i calls an
 * outside number (N users). The simulator's endpoints must answer (the
 * script sets that up).
 *
 * The run: N callers, each a closed loop of MakeCall -> the call's
 * CALL_ANSWERED event (on one admin WatchEvents stream) -> hold -> HangupCall,
 * for the duration; then the calls in flight finish. Every call made is then
 * checked: GetCall says completed, cause "normal", answered and ended set,
 * the right parties, and duration_seconds = floor(ended - answered) within
 * what the client saw; the HangupCall answer said completed; the stream
 * delivered its ended event; and each caller's history (ListCallHistory,
 * status completed, and unfiltered) counts exactly the calls it made.
 *
 * CPU: utime+stime of each --cpu pid (and of the postmaster and all its
 * children for --cpu-pg), and of this process, from the first MakeCall to
 * the last HangupCall, divided by the cycles.
 *
 * Prints a report and a last line of key=value fields; exit status 0 only
 * if every call is right and no request failed.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/users.pb-c.h"

#define CB_MAX_CPU   8
#define CB_PASSWORD  "bench-password-123"
#define CB_RPC_SECS  30
#define CB_ID        40
#define CB_ERR       256
#define CB_EV_TYPES  10
#define CB_TICK_MS   20
#define CB_EV_WAIT_S 10

/* ------------------------------------------------------------------ */
/* Options                                                              */

typedef struct cb_opts {
    const char *addr, *login, *token, *mode, *cpu;
    int callers, channels, hold_ms, answer_timeout_ms, cpu_pg;
    double duration;
} cb_opts;

typedef enum cb_opt_kind { OPT_STR, OPT_INT, OPT_DBL } cb_opt_kind;

static const struct {
    const char *name;
    cb_opt_kind kind;
    size_t off;
} cb_opt_table[] = {
    {"--addr", OPT_STR, offsetof(cb_opts, addr)},
    {"--login", OPT_STR, offsetof(cb_opts, login)},
    {"--token", OPT_STR, offsetof(cb_opts, token)},
    {"--mode", OPT_STR, offsetof(cb_opts, mode)},
    {"--cpu", OPT_STR, offsetof(cb_opts, cpu)},
    {"--callers", OPT_INT, offsetof(cb_opts, callers)},
    {"--channels", OPT_INT, offsetof(cb_opts, channels)},
    {"--hold-ms", OPT_INT, offsetof(cb_opts, hold_ms)},
    {"--answer-timeout-ms", OPT_INT, offsetof(cb_opts, answer_timeout_ms)},
    {"--cpu-pg", OPT_INT, offsetof(cb_opts, cpu_pg)},
    {"--duration", OPT_DBL, offsetof(cb_opts, duration)},
};

static int cb_parse_opts(cb_opts *o, int argc, char **argv)
{
    int i, rc = -1;
    size_t k;

    for (i = 1; i + 1 < argc; i += 2) {
        for (k = 0; k < sizeof cb_opt_table / sizeof *cb_opt_table; k++)
            if (strcmp(argv[i], cb_opt_table[k].name) == 0)
                break;
        if (k == sizeof cb_opt_table / sizeof *cb_opt_table)
            goto out;
        char *dst = (char *)o + cb_opt_table[k].off;
        switch (cb_opt_table[k].kind) {
        case OPT_STR:
            *(const char **)dst = argv[i + 1];
            break;
        case OPT_INT:
            *(int *)dst = atoi(argv[i + 1]);
            break;
        case OPT_DBL:
            *(double *)dst = atof(argv[i + 1]);
            break;
        }
    }
    if (i != argc || o->callers < 1 || o->channels < 1 || o->duration <= 0 || o->hold_ms < 0 ||
        (!o->login && !o->token) ||
        (strcmp(o->mode, "internal") != 0 && strcmp(o->mode, "outbound") != 0))
        goto out;
    rc = 0;
out:
    return rc;
}

/* ------------------------------------------------------------------ */
/* Time and CPU                                                         */

static int64_t cb_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cb_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* utime+stime of a process in clock ticks, and its parent; -1 if gone. */
static long long cb_proc_ticks(int pid, int *ppid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    long long rc = -1;
    int pp = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        goto out;
    if (!fgets(buf, sizeof buf, f))
        goto close;
    /* fields after "(comm)": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime */
    p = strrchr(buf, ')');
    if (p &&
        sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut, &st) == 3)
        rc = (long long)(ut + st);
close:
    fclose(f);
out:
    if (ppid)
        *ppid = pp;
    return rc;
}

/* The postmaster and every process whose parent it is (its backends). */
static long long cb_pg_ticks(int postmaster)
{
    long long sum = cb_proc_ticks(postmaster, NULL);
    DIR *d = opendir("/proc");
    struct dirent *e;

    while (d && (e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name), pp = 0;
        long long t;
        if (pid <= 0 || pid == postmaster)
            continue;
        t = cb_proc_ticks(pid, &pp);
        if (t >= 0 && pp == postmaster)
            sum += t;
    }
    if (d)
        closedir(d);
    return sum;
}

typedef struct cb_cpu {
    int n;
    char name[CB_MAX_CPU + 2][32];
    int pid[CB_MAX_CPU + 2]; /* 0: this process, -1: postgres */
    long long t0[CB_MAX_CPU + 2], t1[CB_MAX_CPU + 2];
} cb_cpu;

static void cb_cpu_setup(cb_cpu *c, const cb_opts *o)
{
    char buf[512], *save = NULL, *tok;

    snprintf(buf, sizeof buf, "%s", o->cpu ? o->cpu : "");
    for (tok = strtok_r(buf, ",", &save); tok && c->n < CB_MAX_CPU;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = '\0';
        snprintf(c->name[c->n], sizeof c->name[c->n], "%s", tok);
        c->pid[c->n++] = atoi(eq + 1);
    }
    if (o->cpu_pg > 0) {
        snprintf(c->name[c->n], sizeof c->name[c->n], "postgres");
        c->pid[c->n++] = -o->cpu_pg;
    }
    snprintf(c->name[c->n], sizeof c->name[c->n], "bench");
    c->pid[c->n++] = 0;
}

static void cb_cpu_read(cb_cpu *c, long long *t)
{
    for (int i = 0; i < c->n; i++) {
        if (c->pid[i] == 0) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            t[i] = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * sysconf(_SC_CLK_TCK) +
                   (long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * sysconf(_SC_CLK_TCK) /
                       1000000;
        } else if (c->pid[i] < 0) {
            t[i] = cb_pg_ticks(-c->pid[i]);
        } else {
            t[i] = cb_proc_ticks(c->pid[i], NULL);
        }
    }
}

/* ------------------------------------------------------------------ */
/* One unary call, asynchronous or not                                  */

typedef enum cb_tag_kind {
    TAG_MAKE,
    TAG_HANGUP,
    TAG_STREAM_START,
    TAG_STREAM_MSG,
    TAG_STREAM_STATUS
} cb_tag_kind;

typedef struct cb_tag {
    cb_tag_kind kind;
    int idx; /* the caller, for MAKE and HANGUP */
} cb_tag;

typedef struct cb_rpc {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array imd, tmd;
    grpc_metadata md[1];
    grpc_status_code status;
    grpc_slice details;
} cb_rpc;

/* Starts method(msg) with "authorization: Bearer <authz>" (authz may be
 * NULL); the completion arrives on cq with tag. The slice authz_slice is
 * borrowed. */
static int cb_rpc_start(cb_rpc *r, grpc_channel *ch, grpc_completion_queue *cq, grpc_slice method,
                        const grpc_slice *authz, const ProtobufCMessage *msg, void *tag)
{
    grpc_op ops[6];
    grpc_slice payload = grpc_slice_malloc(protobuf_c_message_get_packed_size(msg));
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_seconds(CB_RPC_SECS, GPR_TIMESPAN));

    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(payload));
    memset(r, 0, sizeof *r);
    r->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                       deadline, NULL);
    r->send = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    grpc_metadata_array_init(&r->imd);
    grpc_metadata_array_init(&r->tmd);
    r->details = grpc_empty_slice();
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (authz) {
        r->md[0].key = grpc_slice_from_static_string("authorization");
        r->md[0].value = *authz;
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = r->md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = r->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->imd;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &r->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &r->tmd;
    ops[5].data.recv_status_on_client.status = &r->status;
    ops[5].data.recv_status_on_client.status_details = &r->details;
    return grpc_call_start_batch(r->call, ops, 6, tag, NULL) == GRPC_CALL_OK ? 0 : -1;
}

static ProtobufCMessage *cb_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d)
{
    grpc_byte_buffer_reader rd;
    ProtobufCMessage *m = NULL;
    grpc_slice s;

    if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

/* Ends a finished call: the answer unpacked as d (NULL unless status OK),
 * the status's text in err. */
static ProtobufCMessage *cb_rpc_finish(cb_rpc *r, const ProtobufCMessageDescriptor *d,
                                       char err[CB_ERR])
{
    ProtobufCMessage *m = NULL;

    if (r->status == GRPC_STATUS_OK) {
        m = cb_unpack(r->recv, d);
        if (!m)
            snprintf(err, CB_ERR, "answer does not parse");
    } else {
        snprintf(err, CB_ERR, "status %d: %.*s", (int)r->status, (int)GRPC_SLICE_LENGTH(r->details),
                 (const char *)GRPC_SLICE_START_PTR(r->details));
    }
    grpc_byte_buffer_destroy(r->send);
    if (r->recv)
        grpc_byte_buffer_destroy(r->recv);
    grpc_metadata_array_destroy(&r->imd);
    grpc_metadata_array_destroy(&r->tmd);
    grpc_slice_unref(r->details);
    grpc_call_unref(r->call);
    r->call = NULL;
    return m;
}

/* One call to the end, on its own queue. */
static ProtobufCMessage *cb_call_sync(grpc_channel *ch, const char *method, const grpc_slice *authz,
                                      const ProtobufCMessage *msg,
                                      const ProtobufCMessageDescriptor *d, char err[CB_ERR])
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    ProtobufCMessage *out = NULL;
    cb_rpc r;

    if (cb_rpc_start(&r, ch, cq, m, authz, msg, &r) == 0) {
        grpc_completion_queue_pluck(cq, &r, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        out = cb_rpc_finish(&r, d, err);
    } else {
        snprintf(err, CB_ERR, "start_batch failed");
    }
    grpc_slice_unref(m);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    return out;
}

static grpc_slice cb_bearer(const char *token)
{
    size_t n = strlen(token) + 8;
    char *s = malloc(n);
    grpc_slice out;

    if (!s)
        abort();
    snprintf(s, n, "Bearer %s", token);
    out = grpc_slice_from_copied_string(s);
    free(s);
    return out;
}

/* Logs in; a malloc'd token or NULL (with the reason on stderr). */
static char *cb_login(grpc_channel *ch, const char *email, const char *password)
{
    Callservice__V1__LoginRequest req = CALLSERVICE__V1__LOGIN_REQUEST__INIT;
    Callservice__V1__AuthResponse *resp;
    char err[CB_ERR] = "", *token = NULL;

    req.email = (char *)email;
    req.password = (char *)password;
    resp = (Callservice__V1__AuthResponse *)cb_call_sync(
        ch, "/callservice.v1.UserService/Login", NULL, &req.base,
        &callservice__v1__auth_response__descriptor, err);
    if (resp && resp->token && *resp->token)
        token = strdup(resp->token);
    else
        fprintf(stderr, "calls_bench: login %s: %s\n", email, err);
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return token;
}

/* ------------------------------------------------------------------ */
/* Users, callers and calls                                             */

typedef struct cb_user {
    char id[CB_ID], ext[16];
} cb_user;

typedef enum cb_state { ST_IDLE, ST_MAKING, ST_WAIT_ANSWER, ST_HOLD, ST_HANGING, ST_DONE } cb_state;

typedef struct cb_caller {
    cb_user me, callee;
    char to[32];
    grpc_slice authz;
    grpc_channel *ch;
    cb_state state;
    int cur;          /* index of the call in flight, -1 */
    int64_t until_us; /* WAIT_ANSWER: give up; HOLD: hang up */
    int made, errors; /* calls made (MakeCall OK), failed requests */
    cb_tag make_tag, hangup_tag;
    cb_rpc rpc;
} cb_caller;

typedef struct cb_call {
    char id[CB_ID];
    int caller;       /* -1 until MakeCall answers (an event may come first) */
    unsigned ev_mask; /* event types seen on the stream */
    int64_t make_us, made_us, answer_us, hangup_us, done_us; /* monotonic */
    int64_t real_answer_us, real_done_us;                    /* realtime */
    int hangup_status;                                       /* CallStatus answered */
    char problem[CB_ERR];
} cb_call;

typedef struct cb_bench {
    cb_opts o;
    cb_caller *callers;
    cb_call *calls;
    int n_calls, cap_calls;
    int *table; /* open addressing: call id -> index + 1 */
    size_t table_cap;
    grpc_completion_queue *cq;
    grpc_slice m_make, m_hangup;
    int errors;
    char first_error[CB_ERR];
    uint32_t *lat_make, *lat_answer, *lat_hangup, *lat_cycle;
    int n_lat, cap_lat;
} cb_bench;

static void cb_error(cb_bench *b, const char *what, const char *err)
{
    if (b->errors++ == 0)
        snprintf(b->first_error, sizeof b->first_error, "%s: %s", what, err);
}

static unsigned cb_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void cb_table_put(cb_bench *b, const char *id, int idx);

static void cb_table_grow(cb_bench *b)
{
    int *old = b->table;
    size_t old_cap = b->table_cap;

    b->table_cap = old_cap ? old_cap * 2 : 4096;
    b->table = calloc(b->table_cap, sizeof *b->table);
    if (!b->table)
        abort();
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            cb_table_put(b, b->calls[old[i] - 1].id, old[i] - 1);
    free(old);
}

static void cb_table_put(cb_bench *b, const char *id, int idx)
{
    size_t i = cb_hash(id) & (b->table_cap - 1);
    while (b->table[i])
        i = (i + 1) & (b->table_cap - 1);
    b->table[i] = idx + 1;
}

/* The call with this id, added if new. */
static cb_call *cb_call_of(cb_bench *b, const char *id)
{
    size_t i;
    cb_call *c;

    if ((size_t)(b->n_calls + 1) * 2 > b->table_cap)
        cb_table_grow(b);
    for (i = cb_hash(id) & (b->table_cap - 1); b->table[i]; i = (i + 1) & (b->table_cap - 1))
        if (strcmp(b->calls[b->table[i] - 1].id, id) == 0)
            return &b->calls[b->table[i] - 1];
    if (b->n_calls == b->cap_calls) {
        b->cap_calls = b->cap_calls ? b->cap_calls * 2 : 4096;
        b->calls = realloc(b->calls, (size_t)b->cap_calls * sizeof *b->calls);
        if (!b->calls)
            abort();
    }
    c = &b->calls[b->n_calls];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->caller = -1;
    b->table[i] = ++b->n_calls;
    return c;
}

/* CreateUser as the admin. */
static int cb_create_user(grpc_channel *ch, const grpc_slice *admin, const char *email,
                          const char *name, cb_user *u)
{
    Callservice__V1__CreateUserRequest req = CALLSERVICE__V1__CREATE_USER_REQUEST__INIT;
    Callservice__V1__User *resp;
    char err[CB_ERR] = "";
    int rc = -1;

    req.name = (char *)name;
    req.email = (char *)email;
    req.password = CB_PASSWORD;
    req.role = CALLSERVICE__V1__ROLE__ROLE_AGENT;
    resp =
        (Callservice__V1__User *)cb_call_sync(ch, "/callservice.v1.UserService/CreateUser", admin,
                                              &req.base, &callservice__v1__user__descriptor, err);
    if (!resp || !resp->sip_device || !resp->sip_device->extension) {
        fprintf(stderr, "calls_bench: CreateUser %s: %s\n", email, err);
        goto out;
    }
    snprintf(u->id, sizeof u->id, "%s", resp->id);
    snprintf(u->ext, sizeof u->ext, "%s", resp->sip_device->extension);
    rc = 0;
out:
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

static int cb_setup_users(cb_bench *b, grpc_channel **chans, const grpc_slice *admin)
{
    int internal = strcmp(b->o.mode, "internal") == 0, rc = -1;
    char email[128], name[64];
    long tag = (long)getpid();

    for (int i = 0; i < b->o.callers; i++) {
        cb_caller *c = &b->callers[i];
        char *token;
        snprintf(email, sizeof email, "cb%ld-caller%d@bench.example.com", tag, i);
        snprintf(name, sizeof name, "Bench Caller %d", i);
        if (cb_create_user(chans[0], admin, email, name, &c->me) != 0)
            goto out;
        if (internal) {
            snprintf(email, sizeof email, "cb%ld-callee%d@bench.example.com", tag, i);
            snprintf(name, sizeof name, "Bench Callee %d", i);
            if (cb_create_user(chans[0], admin, email, name, &c->callee) != 0)
                goto out;
            snprintf(c->to, sizeof c->to, "%s", c->callee.ext);
        } else {
            snprintf(c->to, sizeof c->to, "555%05d", i);
        }
        snprintf(email, sizeof email, "cb%ld-caller%d@bench.example.com", tag, i);
        token = cb_login(chans[0], email, CB_PASSWORD);
        if (!token)
            goto out;
        c->authz = cb_bearer(token);
        free(token);
        c->ch = chans[i % b->o.channels];
        c->cur = -1;
        c->make_tag = (cb_tag){TAG_MAKE, i};
        c->hangup_tag = (cb_tag){TAG_HANGUP, i};
    }
    rc = 0;
out:
    return rc;
}

/* ------------------------------------------------------------------ */
/* The event stream (admin: sees every call)                            */

typedef struct cb_stream {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array imd, tmd;
    grpc_metadata md[1];
    grpc_status_code status;
    grpc_slice details;
    cb_tag start_tag, msg_tag, status_tag;
    int open; /* batches outstanding */
    long events;
} cb_stream;

static int cb_stream_recv(cb_stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    s->recv = NULL;
    if (grpc_call_start_batch(s->call, &op, 1, &s->msg_tag, NULL) != GRPC_CALL_OK)
        return -1;
    s->open++;
    return 0;
}

static int cb_stream_open(cb_stream *s, grpc_channel *ch, grpc_completion_queue *cq,
                          const grpc_slice *admin)
{
    Callservice__V1__WatchEventsRequest req = CALLSERVICE__V1__WATCH_EVENTS_REQUEST__INIT;
    grpc_slice m = grpc_slice_from_static_string("/callservice.v1.EventService/WatchEvents");
    grpc_slice payload = grpc_slice_malloc(protobuf_c_message_get_packed_size(&req.base));
    grpc_op ops[4], st;
    int rc = -1;

    protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(payload));
    s->start_tag = (cb_tag){TAG_STREAM_START, -1};
    s->msg_tag = (cb_tag){TAG_STREAM_MSG, -1};
    s->status_tag = (cb_tag){TAG_STREAM_STATUS, -1};
    s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    s->send = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    grpc_metadata_array_init(&s->imd);
    grpc_metadata_array_init(&s->tmd);
    s->details = grpc_empty_slice();
    s->md[0].key = grpc_slice_from_static_string("authorization");
    s->md[0].value = *admin;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = s->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->imd;
    if (grpc_call_start_batch(s->call, ops, 4, &s->start_tag, NULL) != GRPC_CALL_OK)
        goto out;
    s->open++;
    memset(&st, 0, sizeof st);
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.trailing_metadata = &s->tmd;
    st.data.recv_status_on_client.status = &s->status;
    st.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &st, 1, &s->status_tag, NULL) != GRPC_CALL_OK)
        goto out;
    s->open++;
    rc = cb_stream_recv(s);
out:
    return rc;
}

static void cb_stream_free(cb_stream *s)
{
    if (!s->call)
        return;
    grpc_byte_buffer_destroy(s->send);
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_metadata_array_destroy(&s->imd);
    grpc_metadata_array_destroy(&s->tmd);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
    s->call = NULL;
}

/* ------------------------------------------------------------------ */
/* The callers' loop                                                    */

static void cb_start_make(cb_bench *b, cb_caller *c)
{
    Callservice__V1__MakeCallRequest req = CALLSERVICE__V1__MAKE_CALL_REQUEST__INIT;

    req.to = c->to;
    c->state = ST_MAKING;
    c->until_us = cb_mono_us(); /* when MakeCall was sent */
    if (cb_rpc_start(&c->rpc, c->ch, b->cq, b->m_make, &c->authz, &req.base, &c->make_tag) != 0) {
        cb_error(b, "MakeCall", "start_batch failed");
        c->state = ST_DONE;
    }
}

static void cb_start_hangup(cb_bench *b, cb_caller *c)
{
    Callservice__V1__HangupCallRequest req = CALLSERVICE__V1__HANGUP_CALL_REQUEST__INIT;
    cb_call *call = &b->calls[c->cur];

    req.call_id = call->id;
    c->state = ST_HANGING;
    call->hangup_us = cb_mono_us();
    if (cb_rpc_start(&c->rpc, c->ch, b->cq, b->m_hangup, &c->authz, &req.base, &c->hangup_tag) !=
        0) {
        cb_error(b, "HangupCall", "start_batch failed");
        c->state = ST_DONE;
    }
}

/* The caller's call is answered (event seen): hold, or hang up now. */
static void cb_answered(cb_bench *b, cb_caller *c)
{
    if (b->o.hold_ms > 0) {
        c->state = ST_HOLD;
        c->until_us = b->calls[c->cur].answer_us + (int64_t)b->o.hold_ms * 1000;
    } else {
        cb_start_hangup(b, c);
    }
}

/* Next cycle, or stop after the end. */
static void cb_next(cb_bench *b, cb_caller *c, int64_t end_us)
{
    c->cur = -1;
    if (cb_mono_us() >= end_us)
        c->state = ST_DONE;
    else
        cb_start_make(b, c);
}

static void cb_on_make(cb_bench *b, cb_caller *c, int64_t end_us)
{
    char err[CB_ERR] = "";
    int64_t sent = c->until_us;
    Callservice__V1__Call *resp =
        (Callservice__V1__Call *)cb_rpc_finish(&c->rpc, &callservice__v1__call__descriptor, err);
    cb_call *call;

    if (!resp) {
        c->errors++;
        cb_error(b, "MakeCall", err);
        cb_next(b, c, end_us);
        goto out;
    }
    call = cb_call_of(b, resp->id);
    call->caller = (int)(c - b->callers);
    call->make_us = sent;
    call->made_us = cb_mono_us();
    c->cur = (int)(call - b->calls);
    c->made++;
    if (call->ev_mask & (1u << CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED)) {
        snprintf(call->problem, sizeof call->problem, "ended before it was answered");
        cb_next(b, c, end_us);
    } else if (call->answer_us) {
        cb_answered(b, c);
    } else {
        c->state = ST_WAIT_ANSWER;
        c->until_us = call->made_us + (int64_t)b->o.answer_timeout_ms * 1000;
    }
out:
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void cb_on_hangup(cb_bench *b, cb_caller *c, int64_t end_us)
{
    char err[CB_ERR] = "";
    Callservice__V1__Call *resp =
        (Callservice__V1__Call *)cb_rpc_finish(&c->rpc, &callservice__v1__call__descriptor, err);
    cb_call *call = &b->calls[c->cur];

    call->done_us = cb_mono_us();
    call->real_done_us = cb_real_us();
    if (!resp) {
        c->errors++;
        cb_error(b, "HangupCall", err);
        snprintf(call->problem, sizeof call->problem, "HangupCall failed: %.200s", err);
    } else {
        call->hangup_status = (int)resp->status;
        if (call->answer_us && b->n_lat < b->cap_lat) {
            b->lat_make[b->n_lat] = (uint32_t)(call->made_us - call->make_us);
            b->lat_answer[b->n_lat] = (uint32_t)(call->answer_us - call->make_us);
            b->lat_hangup[b->n_lat] = (uint32_t)(call->done_us - call->hangup_us);
            b->lat_cycle[b->n_lat] = (uint32_t)(call->done_us - call->make_us);
            b->n_lat++;
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    cb_next(b, c, end_us);
}

static void cb_on_event(cb_bench *b, cb_stream *s)
{
    Callservice__V1__Event *ev =
        (Callservice__V1__Event *)cb_unpack(s->recv, &callservice__v1__event__descriptor);
    cb_call *call;

    if (!ev || !ev->call_id || !*ev->call_id || (unsigned)ev->type >= CB_EV_TYPES)
        goto out;
    s->events++;
    call = cb_call_of(b, ev->call_id);
    call->ev_mask |= 1u << ev->type;
    if (ev->type == CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ANSWERED && !call->answer_us) {
        call->answer_us = cb_mono_us();
        call->real_answer_us = cb_real_us();
        if (call->caller >= 0 && b->callers[call->caller].cur == (int)(call - b->calls) &&
            b->callers[call->caller].state == ST_WAIT_ANSWER)
            cb_answered(b, &b->callers[call->caller]);
    }
out:
    if (ev)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
}

/* Timers: holds that are over, answers that never came. */
static void cb_timers(cb_bench *b)
{
    int64_t now = cb_mono_us();

    for (int i = 0; i < b->o.callers; i++) {
        cb_caller *c = &b->callers[i];
        if (c->state == ST_HOLD && now >= c->until_us) {
            cb_start_hangup(b, c);
        } else if (c->state == ST_WAIT_ANSWER && now >= c->until_us) {
            snprintf(b->calls[c->cur].problem, sizeof b->calls[c->cur].problem,
                     "no CALL_ANSWERED event within %d ms", b->o.answer_timeout_ms);
            cb_start_hangup(b, c);
        }
    }
}

static int cb_all_done(const cb_bench *b)
{
    for (int i = 0; i < b->o.callers; i++)
        if (b->callers[i].state != ST_DONE)
            return 0;
    return 1;
}

static int cb_all_ended_seen(const cb_bench *b)
{
    for (int i = 0; i < b->n_calls; i++)
        if (b->calls[i].caller >= 0 &&
            !(b->calls[i].ev_mask & (1u << CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED)))
            return 0;
    return 1;
}

/* Handles one completion. */
static void cb_dispatch(cb_bench *b, cb_stream *s, grpc_event ev, int64_t end_us)
{
    cb_tag *t = ev.tag;

    switch (t->kind) {
    case TAG_MAKE:
        cb_on_make(b, &b->callers[t->idx], end_us);
        break;
    case TAG_HANGUP:
        cb_on_hangup(b, &b->callers[t->idx], end_us);
        break;
    case TAG_STREAM_START:
        s->open--;
        break;
    case TAG_STREAM_MSG:
        s->open--;
        if (ev.success && s->recv) {
            cb_on_event(b, s);
            grpc_byte_buffer_destroy(s->recv);
            s->recv = NULL;
            cb_stream_recv(s);
        }
        break;
    case TAG_STREAM_STATUS:
        s->open--;
        if (s->status != GRPC_STATUS_CANCELLED && s->status != GRPC_STATUS_OK)
            cb_error(b, "WatchEvents", "stream ended");
        break;
    }
}

static void cb_run(cb_bench *b, cb_stream *s, int64_t *t_start, int64_t *t_end)
{
    int64_t end_us, ev_deadline = 0;

    *t_start = cb_mono_us();
    end_us = *t_start + (int64_t)(b->o.duration * 1e6);
    for (int i = 0; i < b->o.callers; i++)
        cb_start_make(b, &b->callers[i]);
    *t_end = 0;
    for (;;) {
        gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(CB_TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(b->cq, dl, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            cb_dispatch(b, s, ev, end_us);
        cb_timers(b);
        if (!*t_end && cb_all_done(b)) {
            *t_end = cb_mono_us();
            ev_deadline = *t_end + CB_EV_WAIT_S * 1000000LL;
        }
        if (*t_end && (cb_all_ended_seen(b) || cb_mono_us() > ev_deadline || !s->open))
            break;
    }
}

/* ------------------------------------------------------------------ */
/* Checks                                                               */

static int64_t cb_ts_us(const Google__Protobuf__Timestamp *t)
{
    return t ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* GetCall and compare with what the client saw. */
static void cb_check_call(cb_bench *b, grpc_channel *ch, const grpc_slice *admin, cb_call *call)
{
    Callservice__V1__GetCallRequest req = CALLSERVICE__V1__GET_CALL_REQUEST__INIT;
    Callservice__V1__Call *c;
    cb_caller *who = &b->callers[call->caller];
    int internal = strcmp(b->o.mode, "internal") == 0;
    int64_t ans, end, slack = 20000;
    char err[CB_ERR] = "";

    req.call_id = call->id;
    c = (Callservice__V1__Call *)cb_call_sync(ch, "/callservice.v1.CallService/GetCall", admin,
                                              &req.base, &callservice__v1__call__descriptor, err);
    if (!c) {
        snprintf(call->problem, sizeof call->problem, "GetCall: %.200s", err);
        return;
    }
    ans = cb_ts_us(c->answered_at);
    end = cb_ts_us(c->ended_at);
    if (call->problem[0])
        ; /* already wrong on the way */
    else if (c->status != CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED)
        snprintf(call->problem, sizeof call->problem, "final status %d, not completed",
                 (int)c->status);
    else if (call->hangup_status != CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED)
        snprintf(call->problem, sizeof call->problem, "HangupCall answered status %d",
                 call->hangup_status);
    else if (!c->hangup_cause || strcmp(c->hangup_cause, "normal") != 0)
        snprintf(call->problem, sizeof call->problem, "hangup cause '%s'",
                 c->hangup_cause ? c->hangup_cause : "");
    else if (!ans || !end || end < ans || !c->ringing_at)
        snprintf(call->problem, sizeof call->problem, "timestamps missing or out of order");
    else if (c->duration_seconds != (int32_t)((end - ans) / 1000000))
        snprintf(call->problem, sizeof call->problem, "duration %d s, ended - answered is %lld us",
                 (int)c->duration_seconds, (long long)(end - ans));
    else if (end - ans > call->done_us - call->make_us + slack ||
             end - ans < call->hangup_us - call->answer_us - slack)
        snprintf(call->problem, sizeof call->problem,
                 "answered..ended %lld us, the client saw %lld..%lld us", (long long)(end - ans),
                 (long long)(call->hangup_us - call->answer_us),
                 (long long)(call->done_us - call->make_us));
    else if (!c->caller || strcmp(c->caller->user_id, who->me.id) != 0)
        snprintf(call->problem, sizeof call->problem, "wrong caller");
    else if (internal && (!c->callee || strcmp(c->callee->user_id, who->callee.id) != 0 ||
                          c->direction != CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_INTERNAL))
        snprintf(call->problem, sizeof call->problem, "wrong callee or direction");
    else if (!internal && c->direction != CALLSERVICE__V1__CALL_DIRECTION__CALL_DIRECTION_OUTBOUND)
        snprintf(call->problem, sizeof call->problem, "wrong direction");
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

/* Total of the caller's history (optionally only completed calls), -1 on
 * error. */
static long cb_history_total(grpc_channel *ch, const grpc_slice *admin, const char *user_id,
                             int status)
{
    Callservice__V1__ListCallHistoryRequest req = CALLSERVICE__V1__LIST_CALL_HISTORY_REQUEST__INIT;
    Callservice__V1__ListCallHistoryResponse *r;
    char err[CB_ERR] = "";
    long total = -1;

    req.user_id = (char *)user_id;
    req.status = (Callservice__V1__CallStatus)status;
    req.limit = 1;
    r = (Callservice__V1__ListCallHistoryResponse *)cb_call_sync(
        ch, "/callservice.v1.CallService/ListCallHistory", admin, &req.base,
        &callservice__v1__list_call_history_response__descriptor, err);
    if (r && r->page_info)
        total = (long)r->page_info->total;
    else
        fprintf(stderr, "calls_bench: ListCallHistory: %s\n", err);
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    return total;
}

static int cb_cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return (a > c) - (a < c);
}

static double cb_pct(uint32_t *v, int n, double p)
{
    return n ? v[(size_t)((double)(n - 1) * p)] / 1000.0 : 0.0;
}

/* ------------------------------------------------------------------ */

static void cb_usage(void)
{
    fprintf(stderr,
            "usage: calls_bench --addr HOST:PORT (--login email:password | --token T)\n"
            "       [--callers N] [--duration S] [--hold-ms MS] [--mode internal|outbound]\n"
            "       [--channels N] [--answer-timeout-ms MS] [--cpu name=pid,...]"
            " [--cpu-pg POSTMASTER_PID]\n");
}

int main(int argc, char **argv)
{
    cb_bench b;
    cb_stream s;
    cb_cpu cpu;
    grpc_channel **chans = NULL;
    grpc_channel_credentials *creds;
    grpc_slice admin = grpc_empty_slice();
    char *admin_token = NULL;
    int64_t t_start = 0, t_end = 0;
    int made = 0, wrong = 0, missing_events = 0, history_bad = 0, rc = 1, max_cycles;
    double secs;
    long clk = sysconf(_SC_CLK_TCK);

    memset(&b, 0, sizeof b);
    memset(&s, 0, sizeof s);
    memset(&cpu, 0, sizeof cpu);
    b.o = (cb_opts){.addr = "127.0.0.1:50051",
                    .mode = "internal",
                    .callers = 32,
                    .channels = 4,
                    .duration = 10,
                    .answer_timeout_ms = 10000};
    if (cb_parse_opts(&b.o, argc, argv) != 0) {
        cb_usage();
        return 2;
    }
    cb_cpu_setup(&cpu, &b.o);
    grpc_init();
    creds = grpc_insecure_credentials_create();
    chans = calloc((size_t)b.o.channels + 1, sizeof *chans);
    for (int i = 0; i <= b.o.channels; i++) {
        grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                        .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                        .value.integer = 1};
        grpc_channel_args args = {.num_args = 1, .args = &arg};
        chans[i] = grpc_channel_create(b.o.addr, creds, &args);
    }
    grpc_channel_credentials_release(creds);
    b.cq = grpc_completion_queue_create_for_next(NULL);
    b.m_make = grpc_slice_from_static_string("/callservice.v1.CallService/MakeCall");
    b.m_hangup = grpc_slice_from_static_string("/callservice.v1.CallService/HangupCall");
    b.callers = calloc((size_t)b.o.callers, sizeof *b.callers);
    max_cycles = (int)(b.o.duration * 5000) + b.o.callers + 16; /* far above any real rate */
    b.cap_lat = max_cycles;
    b.lat_make = malloc((size_t)max_cycles * sizeof *b.lat_make);
    b.lat_answer = malloc((size_t)max_cycles * sizeof *b.lat_answer);
    b.lat_hangup = malloc((size_t)max_cycles * sizeof *b.lat_hangup);
    b.lat_cycle = malloc((size_t)max_cycles * sizeof *b.lat_cycle);
    if (!chans || !b.callers || !b.lat_make || !b.lat_answer || !b.lat_hangup || !b.lat_cycle)
        goto out;

    if (b.o.login) {
        char email[256];
        const char *colon = strchr(b.o.login, ':');
        if (!colon || (size_t)(colon - b.o.login) >= sizeof email) {
            cb_usage();
            goto out;
        }
        snprintf(email, sizeof email, "%.*s", (int)(colon - b.o.login), b.o.login);
        admin_token = cb_login(chans[0], email, colon + 1);
    } else {
        admin_token = strdup(b.o.token);
    }
    if (!admin_token)
        goto out;
    admin = cb_bearer(admin_token);
    fprintf(stderr, "calls_bench: creating %d users and logging the callers in\n",
            strcmp(b.o.mode, "internal") == 0 ? 2 * b.o.callers : b.o.callers);
    if (cb_setup_users(&b, chans, &admin) != 0)
        goto out;
    if (cb_stream_open(&s, chans[b.o.channels], b.cq, &admin) != 0) {
        fprintf(stderr, "calls_bench: WatchEvents failed to start\n");
        goto out;
    }
    /* let the stream register before the first call */
    for (int64_t until = cb_mono_us() + 300000; cb_mono_us() < until;) {
        grpc_event ev = grpc_completion_queue_next(
            b.cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(50, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            cb_dispatch(&b, &s, ev, 0);
    }

    fprintf(stderr, "calls_bench: %d callers (%s), %.0f s\n", b.o.callers, b.o.mode, b.o.duration);
    cb_cpu_read(&cpu, cpu.t0);
    cb_run(&b, &s, &t_start, &t_end);
    cb_cpu_read(&cpu, cpu.t1);
    grpc_call_cancel(s.call, NULL);
    while (s.open > 0) {
        grpc_event ev = grpc_completion_queue_next(b.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            cb_dispatch(&b, &s, ev, 0);
    }

    /* checks */
    for (int i = 0; i < b.n_calls; i++) {
        cb_call *call = &b.calls[i];
        if (call->caller < 0)
            continue; /* another client's call */
        made++;
        cb_check_call(&b, chans[0], &admin, call);
        if (!(call->ev_mask & (1u << CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_ENDED)))
            missing_events++;
        if (call->problem[0]) {
            if (wrong++ < 5)
                fprintf(stderr, "calls_bench: call %s: %s\n", call->id, call->problem);
        }
    }
    for (int i = 0; i < b.o.callers; i++) {
        cb_caller *c = &b.callers[i];
        long done = cb_history_total(chans[0], &admin, c->me.id,
                                     CALLSERVICE__V1__CALL_STATUS__CALL_STATUS_COMPLETED);
        long all = cb_history_total(chans[0], &admin, c->me.id, 0);
        if (done != c->made || all != c->made) {
            if (history_bad++ < 5)
                fprintf(
                    stderr,
                    "calls_bench: caller %d made %d calls; history: %ld completed, %ld in all\n", i,
                    c->made, done, all);
        }
    }

    secs = (double)(t_end - t_start) / 1e6;
    qsort(b.lat_make, (size_t)b.n_lat, sizeof *b.lat_make, cb_cmp_u32);
    qsort(b.lat_answer, (size_t)b.n_lat, sizeof *b.lat_answer, cb_cmp_u32);
    qsort(b.lat_hangup, (size_t)b.n_lat, sizeof *b.lat_hangup, cb_cmp_u32);
    qsort(b.lat_cycle, (size_t)b.n_lat, sizeof *b.lat_cycle, cb_cmp_u32);
    printf("calls made %d in %.2f s: %.1f cycles/s; wrong or missing final state: %d; "
           "history mismatches: %d; ended events missing: %d; request errors: %d%s%s\n",
           made, secs, made / secs, wrong, history_bad, missing_events, b.errors,
           b.errors ? " first: " : "", b.first_error);
    printf("latency ms      p50      p90      p99      max\n");
    printf("MakeCall   %8.2f %8.2f %8.2f %8.2f\n", cb_pct(b.lat_make, b.n_lat, .5),
           cb_pct(b.lat_make, b.n_lat, .9), cb_pct(b.lat_make, b.n_lat, .99),
           cb_pct(b.lat_make, b.n_lat, 1));
    printf("answered   %8.2f %8.2f %8.2f %8.2f  (MakeCall sent -> CALL_ANSWERED event)\n",
           cb_pct(b.lat_answer, b.n_lat, .5), cb_pct(b.lat_answer, b.n_lat, .9),
           cb_pct(b.lat_answer, b.n_lat, .99), cb_pct(b.lat_answer, b.n_lat, 1));
    printf("HangupCall %8.2f %8.2f %8.2f %8.2f\n", cb_pct(b.lat_hangup, b.n_lat, .5),
           cb_pct(b.lat_hangup, b.n_lat, .9), cb_pct(b.lat_hangup, b.n_lat, .99),
           cb_pct(b.lat_hangup, b.n_lat, 1));
    printf("cycle      %8.2f %8.2f %8.2f %8.2f\n", cb_pct(b.lat_cycle, b.n_lat, .5),
           cb_pct(b.lat_cycle, b.n_lat, .9), cb_pct(b.lat_cycle, b.n_lat, .99),
           cb_pct(b.lat_cycle, b.n_lat, 1));
    printf("CPU ms per call:");
    for (int i = 0; i < cpu.n; i++)
        printf(" %s=%.2f", cpu.name[i],
               made ? (double)(cpu.t1[i] - cpu.t0[i]) * 1000.0 / (double)clk / made : 0.0);
    printf("  (%% of one core:");
    for (int i = 0; i < cpu.n; i++)
        printf(" %s=%.0f", cpu.name[i], (double)(cpu.t1[i] - cpu.t0[i]) * 100.0 / clk / secs);
    printf(")\n");
    printf("RESULT callers=%d mode=%s hold_ms=%d calls=%d seconds=%.2f rate=%.1f wrong=%d "
           "history_bad=%d events_missing=%d errors=%d cycle_p50=%.2f cycle_p99=%.2f",
           b.o.callers, b.o.mode, b.o.hold_ms, made, secs, made / secs, wrong, history_bad,
           missing_events, b.errors, cb_pct(b.lat_cycle, b.n_lat, .5),
           cb_pct(b.lat_cycle, b.n_lat, .99));
    for (int i = 0; i < cpu.n; i++)
        printf(" cpu_ms_%s=%.3f", cpu.name[i],
               made ? (double)(cpu.t1[i] - cpu.t0[i]) * 1000.0 / (double)clk / made : 0.0);
    printf("\n");
    rc = made > 0 && !wrong && !history_bad && !b.errors ? 0 : 1;

out:
    cb_stream_free(&s);
    if (b.cq) {
        grpc_completion_queue_shutdown(b.cq);
        while (grpc_completion_queue_next(b.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(b.cq);
    }
    for (int i = 0; b.callers && i < b.o.callers; i++)
        grpc_slice_unref(b.callers[i].authz);
    for (int i = 0; chans && i <= b.o.channels; i++)
        if (chans[i])
            grpc_channel_destroy(chans[i]);
    grpc_slice_unref(admin);
    free(admin_token);
    free(chans);
    free(b.callers);
    free(b.calls);
    free(b.table);
    free(b.lat_make);
    free(b.lat_answer);
    free(b.lat_hangup);
    free(b.lat_cycle);
    grpc_shutdown();
    return rc;
}
