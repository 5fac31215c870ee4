/*
 * users: UserService (Register, Login, GetProfile, UpdateProfile,
 * ListUsers, CreateUser, GetUser, UpdateUser, DeleteUser, SetStatus), the
 * SIP device of every user, presence, login throttling, and `callsvc seed`.
 *
 * Authorization (as users.proto says): Register and Login need no token;
 * GetProfile, UpdateProfile, SetStatus act on the caller; ListUsers and
 * GetUser: admin and supervisor see everyone, an agent only itself;
 * CreateUser, UpdateUser, DeleteUser: admin only. The SIP secret is shown
 * only to the device's owner and to admins.
 *
 * Handlers follow rpc.h: ctx->app is the svc_app, ctx->worker the
 * svc_worker (its db_conn). Responses are heap-allocated for the server to
 * free.
 */
#ifndef CS_USERS_H
#define CS_USERS_H

#include "rpc/rpc.h"
#include "svc.h"

cs_err users_register(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_login(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_get_profile(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_update_profile(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_list(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_create(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_update(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_delete(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);
cs_err users_set_status(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **resp);

/* Loads one user as the API shows it (with_secret: include the SIP
 * secret). *out is heap-allocated (protobuf_c_message_free_unpacked).
 * CS_ERR_NOT_FOUND if there is no such user. For other modules (calls,
 * events snapshots) too. */
cs_err users_load(const svc_app *app, db_conn *db, const char *user_id, int with_secret,
                  Callservice__V1__User **out);

/* "available" <-> CALLSERVICE__V1__PRESENCE_STATUS__PRESENCE_STATUS_AVAILABLE, ... */
const char *users_presence_name(int status);
int users_presence_parse(const char *s);

/* `callsvc seed`: creates (if missing) the admin from ADMIN_EMAIL /
 * ADMIN_PASSWORD, a supervisor and three demo agents, and prints their
 * logins to out. Idempotent. Returns 0 or -1 (logged). */
int users_seed(const svc_app *app, db_conn *db, FILE *out);

#endif
