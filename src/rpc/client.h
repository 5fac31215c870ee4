/*
 * rpcc: the project's one wrapper over gRPC's C core (grpc 1.51), client side.
 *
 * One rpcc_client holds one channel to a server and one completion queue
 * drained by one dedicated thread. Calls are asynchronous: rpcc_unary()
 * starts a call and returns at once; its callback runs later, exactly once,
 * on the client's completion-queue thread. Many calls may be in flight at
 * once, from any thread: every function here is thread-safe.
 *
 * Callbacks run on the completion-queue thread: they must be short and must
 * not block (the gateway copies the result into its event-loop queue and
 * wakes the loop). The byte pointers they receive are valid only during the
 * callback; copy what is needed.
 *
 * The channel reconnects by itself with a short backoff (capped at about one
 * second), so a server that comes back is used again without any action;
 * while it is down calls fail fast with UNAVAILABLE (14).
 *
 * Ownership: rpcc_client_new() returns a client freed by rpcc_client_free(),
 * which cancels the calls still in flight (their callbacks run with
 * CANCELLED) and joins the thread. Request bytes and metadata values passed
 * in are copied before the function returns. A stream handle belongs to the
 * caller until rpcc_stream_release(); see below.
 */
#ifndef CS_RPC_CLIENT_H
#define CS_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct rpcc_client rpcc_client;

/* Metadata of one call; NULL or empty values are not sent. */
typedef struct rpcc_md {
    const char *authorization; /* sent as "authorization", unchanged */
    const char *request_id;    /* sent as "x-request-id" */
} rpcc_md;

/* Result of a unary call. status is a grpc_status_code (0 = OK). On OK,
 * resp/resp_len hold the serialized response (may be empty); message is the
 * status message ("" when none). Both are only valid during the callback. */
typedef struct rpcc_result {
    int status;
    const char *message;
    const uint8_t *resp;
    size_t resp_len;
} rpcc_result;

typedef void (*rpcc_unary_cb)(void *arg, const rpcc_result *res);

/* addr: "host:port". Returns NULL on failure (logged). */
rpcc_client *rpcc_client_new(const char *addr);
void rpcc_client_free(rpcc_client *c);

/* Starts a unary call to method ("/pkg.Service/Method") with the serialized
 * request. timeout_ms <= 0 means no deadline. cb(arg, result) runs exactly
 * once: on the completion-queue thread, or, when the call cannot even be
 * started (client shutting down, grpc refused the batch), at once on the
 * calling thread with UNAVAILABLE or INTERNAL. */
void rpcc_unary(rpcc_client *c, const char *method, const uint8_t *req, size_t req_len,
                const rpcc_md *md, int timeout_ms, rpcc_unary_cb cb, void *arg);

/* Same, packing a protobuf-c message (the caller keeps msg). */
void rpcc_unary_msg(rpcc_client *c, const char *method, const ProtobufCMessage *msg,
                    const rpcc_md *md, int timeout_ms, rpcc_unary_cb cb, void *arg);

/* Synchronous unary call for simple tools: blocks the calling thread (never
 * call it from the gateway's event loop). Returns the grpc status; on OK and
 * resp_desc set, *resp is the unpacked response, freed by the caller with
 * protobuf_c_message_free_unpacked(*resp, NULL). msg (may be NULL) receives
 * the status message, truncated to msglen. */
int rpcc_call_sync(rpcc_client *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                   const rpcc_md *md, int timeout_ms, char *msg, size_t msglen);

/*
 * Server streaming. on_msg runs on the completion-queue thread for each
 * message in order (bytes valid during the callback only); then on_done
 * runs exactly once with the final status, after which neither callback
 * runs again. rpcc_stream_cancel() ends the stream early (on_done then gets
 * CANCELLED unless the stream had already ended). The caller owns the
 * handle and must call rpcc_stream_release() exactly once, from any thread,
 * at any time (before or after on_done; it cancels a live stream); the
 * callbacks may still run until on_done has run, so arg must stay valid
 * until then.
 */
typedef struct rpcc_stream rpcc_stream;
typedef void (*rpcc_stream_msg_cb)(void *arg, const uint8_t *msg, size_t len);
typedef void (*rpcc_stream_done_cb)(void *arg, int status, const char *message);

/* Returns the handle, or NULL if the call cannot even be created (then no
 * callback runs). timeout_ms <= 0: no deadline. */
rpcc_stream *rpcc_stream_start(rpcc_client *c, const char *method, const ProtobufCMessage *req,
                               const rpcc_md *md, int timeout_ms, rpcc_stream_msg_cb on_msg,
                               rpcc_stream_done_cb on_done, void *arg);
void rpcc_stream_cancel(rpcc_stream *s);
void rpcc_stream_release(rpcc_stream *s);

/* Calls started and not yet completed (for metrics and tests). */
long rpcc_in_flight(const rpcc_client *c);

#endif
