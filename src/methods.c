/*
 * methods: the whole contract as one table, read by rpc_server_start. A
 * row with neither handler answers UNIMPLEMENTED; the calls and events
 * modules fill their rows in as they land. protoc-c does not mark
 * streaming methods, so the table says which rows stream. RPC_TRY_INLINE
 * marks the reads served from a cache: their handlers answer a hit on the
 * rpc poller and rpc_defer() a miss to a worker (rpc/rpc.h). GetMetrics
 * never blocks and is always answered on the poller, so monitoring gets an
 * answer even while every worker waits on a database that hangs.
 */
#include <stddef.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/ops.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "calls/calls.h"
#include "events/service.h"
#include "ops/ops.h"
#include "rpc/health.h"
#include "svc.h"
#include "users/users.h"

#define ROW(service, m, req, resp, ufn, sfn, flags)                                                \
    {                                                                                              \
        "/callservice.v1." service "/" m, &callservice__v1__##req##__descriptor,                   \
            &callservice__v1__##resp##__descriptor, ufn, sfn, flags                                \
    }
#define U(m, req, resp, fn, flags) ROW("UserService", m, req, resp, fn, NULL, flags)
#define C(m, req, resp, fn, flags) ROW("CallService", m, req, resp, fn, NULL, flags)
#define E(m, req, resp, ufn, sfn)  ROW("EventService", m, req, resp, ufn, sfn, 0)
#define O(m, req, resp, fn, flags) ROW("OpsService", m, req, resp, fn, NULL, flags)

static const rpc_method svc__app_methods[] = {
    U("Register", register_request, auth_response, users_register, 0),
    U("Login", login_request, auth_response, users_login, 0),
    U("GetProfile", get_profile_request, user, users_get_profile, RPC_TRY_INLINE),
    U("UpdateProfile", update_profile_request, user, users_update_profile, 0),
    U("ListUsers", list_users_request, list_users_response, users_list, 0),
    U("CreateUser", create_user_request, user, users_create, 0),
    U("GetUser", get_user_request, user, users_get, 0),
    U("UpdateUser", update_user_request, user, users_update, 0),
    U("DeleteUser", delete_user_request, delete_user_response, users_delete, 0),
    U("SetStatus", set_status_request, user, users_set_status, 0),

    C("MakeCall", make_call_request, call, calls_make, 0),
    C("AnswerCall", answer_call_request, call, calls_answer, 0),
    C("HangupCall", hangup_call_request, call, calls_hangup, 0),
    C("TransferCall", transfer_call_request, call, calls_transfer, 0),
    C("HoldCall", hold_call_request, call, calls_hold, 0),
    C("ResumeCall", resume_call_request, call, calls_resume, 0),
    C("SendDtmf", send_dtmf_request, call, calls_send_dtmf, 0),
    C("GetCall", get_call_request, call, calls_get, 0),
    C("ListCallHistory", list_call_history_request, list_call_history_response, calls_history,
      RPC_TRY_INLINE),
    C("ListActiveCalls", list_active_calls_request, list_active_calls_response, calls_active,
      RPC_TRY_INLINE),
    C("GetCallStatistics", get_call_statistics_request, call_statistics, calls_statistics,
      RPC_TRY_INLINE),
    C("AddCallNote", add_call_note_request, call_note, calls_add_note, 0),

    E("WatchEvents", watch_events_request, event, NULL, events_rpc_watch),
    E("ListCallEvents", list_call_events_request, list_call_events_response,
      events_rpc_list_call_events, NULL),
    E("PublishTyping", publish_typing_request, publish_typing_response, events_rpc_publish_typing,
      NULL),

    O("GetMetrics", get_metrics_request, get_metrics_response, ops_get_metrics, RPC_TRY_INLINE),
};

#define SVC_N_APP (sizeof svc__app_methods / sizeof *svc__app_methods)

/* The app rows followed by health's rows (another translation unit's
 * array, so they are copied in at start). */
static rpc_method svc__all[SVC_N_APP + 8];

const rpc_method *svc_methods(size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < SVC_N_APP; i++)
        svc__all[k++] = svc__app_methods[i];
    for (size_t i = 0; i < health_methods_count && k < sizeof svc__all / sizeof *svc__all; i++)
        svc__all[k++] = health_methods[i];
    *n = k;
    return svc__all;
}
