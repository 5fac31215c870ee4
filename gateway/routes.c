/* routes: the REST route table, path matching and request building. */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "pbjson.h"

#define US   "/callservice.v1.UserService/"
#define CS   "/callservice.v1.CallService/"
#define ES   "/callservice.v1.EventService/"
#define D(x) &callservice__v1__##x##__descriptor

const gw_route gw_routes[] = {
    /* users */
    {"POST", "/api/users/login", US "Login", D(login_request), D(auth_response), NULL, 1, 200, 0,
     "users", "Log in with email and password; returns a bearer token"},
    {"POST", "/api/users/register", US "Register", D(register_request), D(auth_response), NULL, 1,
     201, 0, "users", "Register a new agent; returns a bearer token"},
    {"GET", "/api/users/profile", US "GetProfile", D(get_profile_request), D(user), NULL, 0, 200, 1,
     "users", "The caller's profile"},
    {"PUT", "/api/users/profile", US "UpdateProfile", D(update_profile_request), D(user), NULL, 1,
     200, 1, "users", "Update the caller's name, email or password"},
    {"PUT", "/api/users/status", US "SetStatus", D(set_status_request), D(user), NULL, 1, 200, 1,
     "users", "Set the caller's presence status"},
    {"GET", "/api/users", US "ListUsers", D(list_users_request), D(list_users_response), NULL, 0,
     200, 1, "users", "List users (admin, supervisor)"},
    {"POST", "/api/users", US "CreateUser", D(create_user_request), D(user), NULL, 1, 201, 1,
     "users", "Create a user (admin)"},
    {"GET", "/api/users/:id", US "GetUser", D(get_user_request), D(user), "user_id", 0, 200, 1,
     "users", "Get a user by id"},
    {"PUT", "/api/users/:id", US "UpdateUser", D(update_user_request), D(user), "user_id", 1, 200,
     1, "users", "Update a user (admin)"},
    {"DELETE", "/api/users/:id", US "DeleteUser", D(delete_user_request), D(delete_user_response),
     "user_id", 0, 200, 1, "users", "Delete a user (admin)"},
    /* calls */
    {"POST", "/api/calls/make", CS "MakeCall", D(make_call_request), D(call), NULL, 1, 201, 1,
     "calls", "Place a call from the caller's device to an extension or number"},
    {"POST", "/api/calls/:id/answer", CS "AnswerCall", D(answer_call_request), D(call), "call_id",
     1, 200, 1, "calls", "Answer a ringing call"},
    {"POST", "/api/calls/:id/hangup", CS "HangupCall", D(hangup_call_request), D(call), "call_id",
     1, 200, 1, "calls", "Hang up a call"},
    {"POST", "/api/calls/:id/transfer", CS "TransferCall", D(transfer_call_request), D(call),
     "call_id", 1, 200, 1, "calls", "Blind-transfer a call to an extension or number"},
    {"POST", "/api/calls/:id/hold", CS "HoldCall", D(hold_call_request), D(call), "call_id", 1, 200,
     1, "calls", "Put the other party on hold (music on hold)"},
    {"POST", "/api/calls/:id/resume", CS "ResumeCall", D(resume_call_request), D(call), "call_id",
     1, 200, 1, "calls", "Take the held party off hold"},
    {"POST", "/api/calls/:id/dtmf", CS "SendDtmf", D(send_dtmf_request), D(call), "call_id", 1, 200,
     1, "calls", "Send DTMF digits to the other party"},
    {"POST", "/api/calls/:id/notes", CS "AddCallNote", D(add_call_note_request), D(call_note),
     "call_id", 1, 201, 1, "calls", "Add a note to a call"},
    {"GET", "/api/calls/history", CS "ListCallHistory", D(list_call_history_request),
     D(list_call_history_response), NULL, 0, 200, 1, "calls",
     "Call history, filtered and paginated"},
    {"GET", "/api/calls/active", CS "ListActiveCalls", D(list_active_calls_request),
     D(list_active_calls_response), NULL, 0, 200, 1, "calls", "Calls not yet ended"},
    {"GET", "/api/calls/statistics", CS "GetCallStatistics", D(get_call_statistics_request),
     D(call_statistics), NULL, 0, 200, 1, "calls", "Call statistics over a period"},
    {"GET", "/api/calls/:id/events", ES "ListCallEvents", D(list_call_events_request),
     D(list_call_events_response), "call_id", 0, 200, 1, "calls",
     "A call's events, oldest first (its timeline)"},
    {"GET", "/api/calls/:id", CS "GetCall", D(get_call_request), D(call), "call_id", 0, 200, 1,
     "calls", "Get a call by id"},
};
const size_t gw_n_routes = sizeof gw_routes / sizeof gw_routes[0];

#define GW_MAX_SEGS 8

typedef struct gw__seg {
    const char *p;
    size_t n;
} gw__seg;

/* Splits "/a/b/c" into segments; -1 if there are too many or one is empty. */
static int gw__split(const char *path, gw__seg *segs)
{
    int n = 0;
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        len--;
    if (len == 0 || path[0] != '/')
        return -1;
    for (size_t i = 1; i <= len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i || n == GW_MAX_SEGS)
            return -1;
        segs[n].p = path + i;
        segs[n].n = j - i;
        n++;
        i = j + 1;
    }
    return n;
}

/* Specificity of pattern against the path: -1 no match, else a bit per
 * literal segment, earlier segments weighing more. */
static int gw__score(const char *pattern, const gw__seg *segs, int n, const gw__seg **id)
{
    gw__seg ps[GW_MAX_SEGS];
    int pn = gw__split(pattern, ps), score = 0;
    *id = NULL;
    if (pn != n)
        return -1;
    for (int i = 0; i < n; i++) {
        score <<= 1;
        if (ps[i].n == 3 && memcmp(ps[i].p, ":id", 3) == 0) {
            *id = &segs[i];
            continue;
        }
        if (ps[i].n != segs[i].n || memcmp(ps[i].p, segs[i].p, segs[i].n) != 0)
            return -1;
        score |= 1;
    }
    return score;
}

gw_match_result gw_route_match(const char *method, const char *path, gw_match *m)
{
    gw__seg segs[GW_MAX_SEGS];
    int n = gw__split(path, segs), best = -1;
    const char *best_pattern = NULL;
    const gw__seg *best_id = NULL;
    gw_match_result r = GW_MATCH_NOT_FOUND;
    memset(m, 0, sizeof *m);
    if (n < 0)
        goto out;
    for (size_t i = 0; i < gw_n_routes; i++) {
        const gw__seg *id;
        int s = gw__score(gw_routes[i].pattern, segs, n, &id);
        if (s > best) {
            best = s;
            best_pattern = gw_routes[i].pattern;
            best_id = id;
        }
    }
    if (!best_pattern)
        goto out;
    if (best_id) {
        if (best_id->n >= sizeof m->id)
            goto out;
        memcpy(m->id, best_id->p, best_id->n);
        m->id[best_id->n] = '\0';
    }
    r = GW_MATCH_BAD_METHOD;
    for (size_t i = 0; i < gw_n_routes; i++) {
        const gw_route *rt = &gw_routes[i];
        if (strcmp(rt->pattern, best_pattern) != 0)
            continue;
        if (strcmp(rt->method, method) == 0) {
            m->route = rt;
            r = GW_MATCH_OK;
            goto out;
        }
        if (strlen(m->allow) + strlen(rt->method) + 3 < sizeof m->allow) {
            strcat(m->allow, rt->method);
            strcat(m->allow, ", ");
        }
    }
    strcat(m->allow, "OPTIONS");
out:
    if (r != GW_MATCH_OK)
        m->route = NULL;
    return r;
}

/* Removes both spellings of a field from obj. */
static void gw__del_field(json_t *obj, const ProtobufCFieldDescriptor *f)
{
    char camel[128];
    pbjson_json_name(f->name, camel, sizeof camel);
    json_object_del(obj, camel);
    json_object_del(obj, f->name);
}

/* A URL value as the JSON its field expects: booleans become true/false,
 * everything else stays a string (pbjson reads numbers, enums and
 * timestamps from strings). NULL if value is not valid UTF-8. */
static json_t *gw__url_value(const ProtobufCFieldDescriptor *f, const char *value)
{
    if (f->type == PROTOBUF_C_TYPE_BOOL && strcmp(value, "true") == 0)
        return json_true();
    if (f->type == PROTOBUF_C_TYPE_BOOL && strcmp(value, "false") == 0)
        return json_false();
    return json_string(value);
}

static cs_err gw__add_query(json_t *obj, const ProtobufCMessageDescriptor *desc, const gw_param *q,
                            char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *f = pbjson_field(desc, q->name);
    char camel[128];
    json_t *v;
    if (!f || (f->type == PROTOBUF_C_TYPE_MESSAGE && !pbjson_is_timestamp(f->descriptor))) {
        snprintf(err, errlen, "%.60s: unknown query parameter", q->name);
        return CS_ERR_INVALID;
    }
    v = gw__url_value(f, q->value);
    if (!v) {
        snprintf(err, errlen, "%.60s: invalid UTF-8", q->name);
        return CS_ERR_INVALID;
    }
    pbjson_json_name(f->name, camel, sizeof camel);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *arr = json_object_get(obj, camel);
        if (!json_is_array(arr)) {
            gw__del_field(obj, f);
            arr = json_array();
            json_object_set_new(obj, camel, arr);
        }
        json_array_append_new(arr, v);
    } else {
        gw__del_field(obj, f);
        json_object_set_new(obj, camel, v);
    }
    return CS_OK;
}

cs_err gw_route_build(const gw_match *m, const char *body, size_t body_len, const gw_param *query,
                      size_t n_query, ProtobufCMessage **out, char *err, size_t errlen)
{
    const gw_route *rt = m->route;
    json_t *obj = NULL;
    cs_err e = CS_ERR_INVALID;
    size_t i = 0;
    *out = NULL;
    while (rt->body && i < body_len &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (rt->body && i < body_len) {
        e = pbjson_parse(body, body_len, 0, &obj, err, errlen);
        if (e != CS_OK)
            goto out;
        if (!json_is_object(obj)) {
            snprintf(err, errlen, "the body must be a JSON object");
            e = CS_ERR_INVALID;
            goto out;
        }
    } else {
        obj = json_object();
    }
    for (size_t k = 0; k < n_query; k++) {
        e = gw__add_query(obj, rt->request, &query[k], err, errlen);
        if (e != CS_OK)
            goto out;
    }
    if (rt->path_field) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(rt->request, rt->path_field);
        json_t *v = json_string(m->id);
        if (!f || !v) {
            json_decref(v);
            snprintf(err, errlen, "invalid id in the path");
            e = CS_ERR_INVALID;
            goto out;
        }
        gw__del_field(obj, f);
        json_object_set_new(obj, f->name, v);
    }
    e = pbjson_decode_json(obj, rt->request, 0, out, err, errlen);
out:
    json_decref(obj);
    return e;
}
