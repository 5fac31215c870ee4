/*
 * calls/service: the CallService handlers. Reads and notes run here, on the
 * rpc worker and its database connection; call-changing requests are
 * validated and authenticated here, then run on the call's flow worker
 * (flow.c) through calls__submit.
 *
 * Who may see a call: supervisors and admins every call, agents the calls
 * they are a party to (call_parties). Anything else answers NOT_FOUND, the
 * same as a call that does not exist, so ids cannot be probed.
 */
#include "calls/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "callservice/v1/calls.pb-c.h"
#include "calls/listcache.h"
#include "common/clock.h"
#include "common/log.h"
#include "events/events.h"
#include "svc.h"

#define NOTE_MAX_CHARS  4000
#define REQUEST_ID_MAX  128
#define HISTORY_DEFAULT 20
#define HISTORY_MAX     100
#define STATS_MAX_DAYS  366

static calls_module *calls__module(const rpc_ctx *ctx)
{
    return (calls_module *)svc_app_of(ctx)->calls;
}

bool calls_destination_valid(const char *to)
{
    size_t n;
    if (!to)
        return false;
    n = strlen(to);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = to[i];
        if ((ch >= '0' && ch <= '9') || ch == '*' || ch == '#')
            continue;
        if (ch == '+' && i == 0 && n > 1)
            continue;
        return false;
    }
    return true;
}

bool calls_dtmf_valid(const char *digits)
{
    size_t n = digits ? strlen(digits) : 0;
    if (n < 1 || n > 32)
        return false;
    return strspn(digits, "0123456789*#ABCD") == n;
}

/* Code points of valid UTF-8 (protobuf already guarantees validity). */
static size_t calls__utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool calls__blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static void calls__uuid_v4(char out[40])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int64_t calls__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* NOT_FOUND unless the caller may see the call. */
static cs_err calls__check_visible(db_conn *db, const auth_identity *id, const char *call_id)
{
    bool party = false;
    cs_err rc;
    if (auth_sees_all(id))
        return CS_OK;
    rc = calls_repo_is_party(db, call_id, id->user_id, &party);
    if (rc != CS_OK)
        return rc;
    return party ? CS_OK : CS_ERR_NOT_FOUND;
}

/* Starts a calls-cache look-up for this request (before any database read)
 * and answers from the cache if it can: CS_OK with *resp set on a hit. */
static bool calls__cached(rpc_ctx *ctx, lcache_method m, const auth_identity *id, bool names,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                          lcache_ticket *t, ProtobufCMessage **resp)
{
    lcache *c = svc_app_of(ctx)->calls_cache;
    int64_t now = cs_mono_ms();
    lcache_begin(c, m, auth_sees_all(id), id->user_id, names, req, now, calls__now_us(), t);
    *resp = lcache_get(c, t, d, now);
    return *resp != NULL;
}

static cs_err calls__fail_db(rpc_ctx *ctx, cs_err e, const char *what, const char *id)
{
    if (e == CS_ERR_NOT_FOUND)
        return rpc_fail(ctx, e, "%s %s not found", what, id);
    return svc_db_fail(ctx, e);
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

cs_err calls_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__GetCallRequest *r = (const Callservice__V1__GetCallRequest *)req;
    auth_identity id;
    call_rec *rec = NULL;
    cs_err rc = svc_auth(ctx, &id);
    if (rc != CS_OK)
        goto out;
    if (!calls_is_uuid(r->call_id)) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "call_id must be a uuid");
        goto out;
    }
    rc = calls__check_visible(svc_db(ctx), &id, r->call_id);
    if (rc == CS_OK)
        rc = calls_repo_get(svc_db(ctx), r->call_id, CALLS_WITH_CHILDREN, &rec);
    if (rc != CS_OK) {
        rc = calls__fail_db(ctx, rc, "call", r->call_id);
        goto out;
    }
    *resp = &call_rec_take(rec)->base;
out:
    call_rec_free(rec);
    return rc;
}

/* A cursor is "<created_at in microseconds>_<call id>" of the last call of
 * the previous page. */
static bool calls__parse_cursor(const char *s, int64_t *us, char id[40])
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '_' || v <= 0 || !calls_is_uuid(end + 1))
        return false;
    *us = v;
    snprintf(id, 40, "%s", end + 1);
    return true;
}

cs_err calls_history(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__ListCallHistoryRequest *r =
        (const Callservice__V1__ListCallHistoryRequest *)req;
    Callservice__V1__ListCallHistoryResponse *out = NULL;
    Callservice__V1__PageInfo *pi = NULL;
    calls_history_q q = {0};
    char after_id[40] = "";
    auth_identity id;
    lcache_ticket t;
    int64_t total = 0;
    bool more = false;
    cs_err rc = svc_auth(ctx, &id);
    if (rc != CS_OK)
        goto out;
    if (r->page < 0 || r->limit < 0) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "page and limit must not be negative");
        goto out;
    }
    if ((int)r->status < 0 || (r->status && !call_status_valid(r->status))) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "unknown status %d", (int)r->status);
        goto out;
    }
    if ((int)r->direction < 0 || (r->direction && !call_direction_name(r->direction))) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "unknown direction %d", (int)r->direction);
        goto out;
    }
    if (auth_sees_all(&id)) {
        if (r->user_id[0] && !calls_is_uuid(r->user_id)) {
            rc = rpc_fail(ctx, CS_ERR_INVALID, "user_id must be a uuid");
            goto out;
        }
        q.user_id = r->user_id[0] ? r->user_id : NULL;
    } else {
        q.user_id = id.user_id; /* agents: their own calls, whatever they ask */
    }
    q.status = r->status;
    q.direction = r->direction;
    q.from_us = calls_timestamp_us(r->from);
    q.to_us = calls_timestamp_us(r->to);
    if (q.from_us && q.to_us && q.from_us > q.to_us) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "from is after to");
        goto out;
    }
    q.page = r->page ? r->page : 1;
    q.limit = r->limit ? (r->limit > HISTORY_MAX ? HISTORY_MAX : r->limit) : HISTORY_DEFAULT;
    if (q.page > 1000000) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "page too large");
        goto out;
    }
    if (r->cursor[0]) {
        if (!calls__parse_cursor(r->cursor, &q.after_created_us, after_id)) {
            rc = rpc_fail(ctx, CS_ERR_INVALID, "malformed cursor");
            goto out;
        }
        q.after_id = after_id;
    }
    out = malloc(sizeof *out);
    pi = malloc(sizeof *pi);
    if (!out || !pi) {
        free(out);
        free(pi);
        out = NULL;
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    callservice__v1__list_call_history_response__init(out);
    callservice__v1__page_info__init(pi);
    out->page_info = pi;
    if (calls__cached(ctx, LCACHE_HISTORY, &id, false, req,
                      &callservice__v1__list_call_history_response__descriptor, &t, resp))
        goto out; /* rc is CS_OK; out is freed */
    if (rpc_defer(ctx))
        goto out; /* a miss, on the poller: read on a worker */
    rc = calls_repo_history(svc_db(ctx), &q, &out->calls, &out->n_calls, &total, &more);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    pi->page = q.page;
    pi->limit = q.limit;
    pi->total = total > INT32_MAX ? INT32_MAX : (int32_t)total;
    pi->pages = (int32_t)((total + q.limit - 1) / q.limit);
    if (more && out->n_calls > 0) {
        const Callservice__V1__Call *last = out->calls[out->n_calls - 1];
        char buf[80];
        snprintf(buf, sizeof buf, "%" PRId64 "_%s", calls_timestamp_us(last->created_at), last->id);
        out->next_cursor = strdup(buf);
        if (!out->next_cursor) {
            rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    lcache_put(svc_app_of(ctx)->calls_cache, &t, &out->base,
               lcache_calls_valid_ms(out->calls, out->n_calls, t.wall_us));
    *resp = &out->base;
    out = NULL;
out:
    if (out)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    return rc;
}

cs_err calls_active(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    Callservice__V1__ListActiveCallsResponse *out = NULL;
    auth_identity id;
    lcache_ticket t;
    cs_err rc = svc_auth(ctx, &id);
    if (rc != CS_OK)
        goto out;
    if (calls__cached(ctx, LCACHE_ACTIVE, &id, false, req,
                      &callservice__v1__list_active_calls_response__descriptor, &t, resp))
        goto out;
    if (rpc_defer(ctx))
        goto out; /* a miss, on the poller: read on a worker */
    out = malloc(sizeof *out);
    if (!out) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    callservice__v1__list_active_calls_response__init(out);
    rc = calls_repo_active(svc_db(ctx), auth_sees_all(&id) ? NULL : id.user_id, &out->calls,
                           &out->n_calls);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    lcache_put(svc_app_of(ctx)->calls_cache, &t, &out->base,
               lcache_calls_valid_ms(out->calls, out->n_calls, t.wall_us));
    *resp = &out->base;
    out = NULL;
out:
    if (out)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    return rc;
}

cs_err calls_statistics(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__GetCallStatisticsRequest *r =
        (const Callservice__V1__GetCallStatisticsRequest *)req;
    Callservice__V1__CallStatistics *st = NULL;
    const char *user = NULL;
    int64_t from, to;
    auth_identity id;
    lcache_ticket t;
    cs_err rc = svc_auth(ctx, &id);
    if (rc != CS_OK)
        goto out;
    /* Keyed by the request: a period ending now (no `to`) is one entry,
     * served for LCACHE_LIVE_PERIOD_MS with the period it was computed for. */
    if (calls__cached(ctx, LCACHE_STATS, &id, auth_sees_all(&id), req,
                      &callservice__v1__call_statistics__descriptor, &t, resp))
        goto out;
    if (rpc_defer(ctx))
        goto out; /* a miss, on the poller: compute on a worker */
    to = r->to ? calls_timestamp_us(r->to) : calls__now_us();
    from = r->from ? calls_timestamp_us(r->from) : to - 86400LL * 1000000;
    if (from > to) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "from is after to");
        goto out;
    }
    if (to - from > (int64_t)STATS_MAX_DAYS * 86400 * 1000000) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "period longer than %d days", STATS_MAX_DAYS);
        goto out;
    }
    if (auth_sees_all(&id)) {
        if (r->user_id[0] && !calls_is_uuid(r->user_id)) {
            rc = rpc_fail(ctx, CS_ERR_INVALID, "user_id must be a uuid");
            goto out;
        }
        user = r->user_id[0] ? r->user_id : NULL;
    } else {
        user = id.user_id;
    }
    st = malloc(sizeof *st);
    if (!st) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    callservice__v1__call_statistics__init(st);
    st->from = calls_timestamp_new(from);
    st->to = calls_timestamp_new(to);
    if (!st->from || !st->to) {
        rc = rpc_fail(ctx, CS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    rc = calls_repo_statistics(svc_db(ctx), from, to, user, auth_sees_all(&id), st);
    if (rc != CS_OK) {
        rc = svc_db_fail(ctx, rc);
        goto out;
    }
    lcache_put(svc_app_of(ctx)->calls_cache, &t, &st->base,
               r->to ? INT64_MAX : LCACHE_LIVE_PERIOD_MS);
    *resp = &st->base;
    st = NULL;
out:
    if (st)
        protobuf_c_message_free_unpacked(&st->base, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Notes                                                                */

cs_err calls_add_note(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__AddCallNoteRequest *r = (const Callservice__V1__AddCallNoteRequest *)req;
    Callservice__V1__CallNote *note = NULL;
    call_rec *rec = NULL;
    char **parties = NULL;
    size_t n_parties = 0;
    db_conn *db = svc_db(ctx);
    auth_identity id;
    size_t len;
    cs_err rc = svc_auth(ctx, &id);
    if (rc != CS_OK)
        goto out;
    if (!calls_is_uuid(r->call_id)) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "call_id must be a uuid");
        goto out;
    }
    len = calls__utf8_len(r->text);
    if (len < 1 || len > NOTE_MAX_CHARS || calls__blank(r->text)) {
        rc = rpc_fail(ctx, CS_ERR_INVALID, "text must be 1 to %d characters, not blank",
                      NOTE_MAX_CHARS);
        goto out;
    }
    rc = db_begin(db);
    if (rc != CS_OK)
        goto dbfail;
    rc = calls_repo_get(db, r->call_id, CALLS_FOR_UPDATE, &rec);
    if (rc == CS_OK)
        rc = calls__check_visible(db, &id, r->call_id);
    if (rc == CS_OK)
        rc = calls_repo_add_note(db, rec, id.user_id, r->text, &note);
    if (rc == CS_OK)
        rc = calls_repo_touch(db, rec);
    if (rc == CS_OK)
        rc = calls_repo_parties(db, r->call_id, &parties, &n_parties);
    if (rc == CS_OK)
        rc = events_append(db, CALLSERVICE__V1__EVENT_TYPE__EVENT_TYPE_CALL_NOTE_ADDED, r->call_id,
                           id.user_id, (const char *const *)parties, n_parties, &note->base, NULL);
    if (rc == CS_OK)
        rc = db_commit(db);
    for (size_t i = 0; i < n_parties; i++) /* read-your-writes on this instance */
        lcache_bump_user(svc_app_of(ctx)->calls_cache, parties[i]);
    if (rc != CS_OK) {
        db_rollback(db);
        goto dbfail;
    }
    *resp = &note->base;
    note = NULL;
    goto out;
dbfail:
    rc = calls__fail_db(ctx, rc, "call", r->call_id);
out:
    if (note)
        protobuf_c_message_free_unpacked(&note->base, NULL);
    calls_repo_free_ids(parties, n_parties);
    call_rec_free(rec);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Changes: validated here, run on the call's flow worker               */

static cs_err calls__run(rpc_ctx *ctx, calls_cmd *cmd, ProtobufCMessage **resp)
{
    cs_err rc;
    if (!calls__module(ctx) || !calls__has_ari(calls__module(ctx)))
        return rpc_fail(ctx, CS_ERR_UNAVAILABLE, "Asterisk is not configured");
    rc = calls__submit(calls__module(ctx), cmd);
    if (rc != CS_OK)
        return rpc_fail(ctx, rc, "%s", cmd->errmsg[0] ? cmd->errmsg : cs_err_name(rc));
    *resp = &cmd->call->base;
    return CS_OK;
}

cs_err calls_make(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__MakeCallRequest *r = (const Callservice__V1__MakeCallRequest *)req;
    calls_cmd cmd = {.kind = CALLS_CMD_MAKE};
    cs_err rc = svc_auth(ctx, &cmd.who);
    if (rc != CS_OK)
        return rc;
    if (!calls_destination_valid(r->to))
        return rpc_fail(ctx, CS_ERR_INVALID,
                        "to must be 1 to 32 digits, '*' or '#', with an optional leading '+'");
    if (strlen(r->request_id) > REQUEST_ID_MAX)
        return rpc_fail(ctx, CS_ERR_INVALID, "request_id longer than %d", REQUEST_ID_MAX);
    calls__uuid_v4(cmd.call_id);
    cmd.to = r->to;
    cmd.request_id = r->request_id[0] ? r->request_id : NULL;
    return calls__run(ctx, &cmd, resp);
}

static cs_err calls__by_id(rpc_ctx *ctx, calls_cmd_kind kind, const char *call_id, const char *to,
                           ProtobufCMessage **resp)
{
    calls_cmd cmd = {.kind = kind};
    cs_err rc = svc_auth(ctx, &cmd.who);
    if (rc != CS_OK)
        return rc;
    if (!calls_is_uuid(call_id))
        return rpc_fail(ctx, CS_ERR_INVALID, "call_id must be a uuid");
    if (kind == CALLS_CMD_TRANSFER && !calls_destination_valid(to))
        return rpc_fail(ctx, CS_ERR_INVALID,
                        "to must be 1 to 32 digits, '*' or '#', with an optional leading '+'");
    if (kind == CALLS_CMD_DTMF && !calls_dtmf_valid(to))
        return rpc_fail(ctx, CS_ERR_INVALID, "digits must be 1 to 32 of 0-9, '*', '#', A-D");
    /* lower case, as ids are made and as ARI events name them: the call's
     * worker is picked by a hash of it */
    events_uuid_lower(cmd.call_id, call_id);
    cmd.to = to;
    return calls__run(ctx, &cmd, resp);
}

cs_err calls_answer(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__AnswerCallRequest *r = (const Callservice__V1__AnswerCallRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_ANSWER, r->call_id, NULL, resp);
}

cs_err calls_hangup(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__HangupCallRequest *r = (const Callservice__V1__HangupCallRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_HANGUP, r->call_id, NULL, resp);
}

cs_err calls_transfer(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__TransferCallRequest *r =
        (const Callservice__V1__TransferCallRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_TRANSFER, r->call_id, r->to, resp);
}

cs_err calls_hold(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__HoldCallRequest *r = (const Callservice__V1__HoldCallRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_HOLD, r->call_id, NULL, resp);
}

cs_err calls_resume(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__ResumeCallRequest *r = (const Callservice__V1__ResumeCallRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_RESUME, r->call_id, NULL, resp);
}

cs_err calls_send_dtmf(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    const Callservice__V1__SendDtmfRequest *r = (const Callservice__V1__SendDtmfRequest *)req;
    return calls__by_id(ctx, CALLS_CMD_DTMF, r->call_id, r->digits, resp);
}
