/*
 * callctl: the command-line client of callsvc, over gRPC.
 *
 * Every command is a row of one table: the words that select it, the gRPC
 * method, the request and response types, which positional arguments fill
 * which request fields, and how a human-readable answer is laid out. The
 * request is built as JSON from the arguments and options (--foo-bar x sets
 * field fooBar) and turned into protobuf by the gateway's generic mapping
 * (gateway/pbjson.h), so adding a command is adding a row.
 *
 * The token from `login` is kept in the config directory with mode 0600:
 * $CALLCTL_CONFIG_DIR, else $XDG_CONFIG_HOME/callctl, else ~/.config/callctl.
 * `watch` keeps the last sequence it printed there too, and resumes from it.
 *
 * Exit codes: 0 ok, 2 usage, then one per error kind (see exit_codes[]).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "callservice/v1/calls.pb-c.h"
#include "callservice/v1/events.pb-c.h"
#include "callservice/v1/ops.pb-c.h"
#include "callservice/v1/users.pb-c.h"
#include "common/err.h"
#include "pbjson.h"
#include "rpc/client.h"

#define EXIT_USAGE 2

/* One exit code per error kind, so scripts can tell them apart. */
static const struct {
    cs_err err;
    int code;
} exit_codes[] = {
    {CS_ERR_INVALID, 3},   {CS_ERR_UNAUTHENTICATED, 4}, {CS_ERR_PERMISSION, 5},
    {CS_ERR_NOT_FOUND, 6}, {CS_ERR_EXISTS, 7},          {CS_ERR_PRECONDITION, 8},
    {CS_ERR_ABORTED, 8},   {CS_ERR_RESOURCE, 9},        {CS_ERR_UNAVAILABLE, 10},
    {CS_ERR_DEADLINE, 10}, {CS_ERR_UNIMPLEMENTED, 11},
};

static int exit_code_for(cs_err e)
{
    for (size_t i = 0; i < sizeof exit_codes / sizeof *exit_codes; i++)
        if (exit_codes[i].err == e)
            return exit_codes[i].code;
    return 1;
}

/* How a human sees a response: columns are JSON paths into the response
 * ("sipDevice.extension"); list is the repeated field holding the rows, or
 * NULL for a single message shown as "key: value" lines. raw names a string
 * field printed as it is instead (a text document such as metrics). */
typedef struct view {
    const char *list;
    const char *columns[10];
    const char *raw;
} view;

static const view view_user = {
    NULL, {"id", "name", "email", "role", "status", "sipDevice.extension"}, NULL};
static const view view_users = {
    "users", {"id", "name", "email", "role", "status", "sipDevice.extension"}, NULL};
static const view view_call = {NULL,
                               {"id", "status", "direction", "caller.name", "caller.extension",
                                "callee.extension", "callee.number", "hangupCause", "createdAt",
                                "durationSeconds"},
                               NULL};
static const view view_calls = {"calls",
                                {"id", "status", "direction", "caller.extension", "caller.number",
                                 "callee.extension", "callee.number", "createdAt",
                                 "durationSeconds"},
                                NULL};
/* a call's timeline: one row an event, oldest first */
static const view view_events = {
    "events", {"seq", "type", "time", "userId", "call.status", "call.hangupCause"}, NULL};
/* hold, resume and dtmf: who is held, since when, and the hold time so far */
static const view view_hold = {NULL,
                               {"id", "status", "caller.name", "caller.extension", "caller.onHold",
                                "callee.extension", "callee.number", "callee.onHold", "heldAt",
                                "holdSeconds"},
                               NULL};
static const view view_note = {NULL, {"id", "callId", "authorName", "text", "createdAt"}, NULL};
static const view view_stats = {NULL,
                                {"total", "answerRate", "averageDurationSeconds",
                                 "maxDurationSeconds", "averageWaitSeconds", "from", "to"},
                                NULL};
static const view view_auth = {
    NULL, {"user.id", "user.name", "user.email", "user.role", "expiresAt"}, NULL};
static const view view_none = {NULL, {NULL}, NULL};
static const view view_text = {NULL, {NULL}, "text"};

enum cmd_flags {
    CMD_NO_AUTH = 1, /* no token needed */
    CMD_LOGIN = 2,   /* keep the token of the answer */
};

typedef struct command {
    const char *words[2]; /* "users", "list" */
    const char *method;
    const ProtobufCMessageDescriptor *req;
    const ProtobufCMessageDescriptor *resp;
    const char *positional[3]; /* request fields filled by positional arguments */
    const view *view;
    int flags;
    const char *usage;
} command;

#define US "/callservice.v1.UserService/"
#define CS "/callservice.v1.CallService/"
#define ES "/callservice.v1.EventService/"
#define OS "/callservice.v1.OpsService/"
static const command commands[] = {
    {{"login", NULL},
     US "Login",
     &callservice__v1__login_request__descriptor,
     &callservice__v1__auth_response__descriptor,
     {"email", "password"},
     &view_auth,
     CMD_NO_AUTH | CMD_LOGIN,
     "login EMAIL [PASSWORD]   (password asked for if not given)"},
    {{"register", NULL},
     US "Register",
     &callservice__v1__register_request__descriptor,
     &callservice__v1__auth_response__descriptor,
     {"name", "email", "password"},
     &view_auth,
     CMD_NO_AUTH | CMD_LOGIN,
     "register NAME EMAIL PASSWORD"},
    {{"whoami", NULL},
     US "GetProfile",
     &callservice__v1__get_profile_request__descriptor,
     &callservice__v1__user__descriptor,
     {NULL},
     &view_user,
     0,
     "whoami"},
    {{"profile", "update"},
     US "UpdateProfile",
     &callservice__v1__update_profile_request__descriptor,
     &callservice__v1__user__descriptor,
     {NULL},
     &view_user,
     0,
     "profile update [--name N] [--email E] [--password P --current-password C]"},
    {{"users", "list"},
     US "ListUsers",
     &callservice__v1__list_users_request__descriptor,
     &callservice__v1__list_users_response__descriptor,
     {NULL},
     &view_users,
     0,
     "users list [--role R] [--query Q] [--page N] [--limit N]"},
    {{"users", "get"},
     US "GetUser",
     &callservice__v1__get_user_request__descriptor,
     &callservice__v1__user__descriptor,
     {"userId"},
     &view_user,
     0,
     "users get USER_ID"},
    {{"users", "create"},
     US "CreateUser",
     &callservice__v1__create_user_request__descriptor,
     &callservice__v1__user__descriptor,
     {NULL},
     &view_user,
     0,
     "users create --name N --email E --password P [--role agent|supervisor|admin]"},
    {{"users", "update"},
     US "UpdateUser",
     &callservice__v1__update_user_request__descriptor,
     &callservice__v1__user__descriptor,
     {"userId"},
     &view_user,
     0,
     "users update USER_ID [--name N] [--email E] [--password P] [--role R]"},
    {{"users", "delete"},
     US "DeleteUser",
     &callservice__v1__delete_user_request__descriptor,
     &callservice__v1__delete_user_response__descriptor,
     {"userId"},
     &view_none,
     0,
     "users delete USER_ID"},
    {{"status", "set"},
     US "SetStatus",
     &callservice__v1__set_status_request__descriptor,
     &callservice__v1__user__descriptor,
     {"status"},
     &view_user,
     0,
     "status set available|busy|away|offline"},
    {{"call", "make"},
     CS "MakeCall",
     &callservice__v1__make_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"to"},
     &view_call,
     0,
     "call make TO [--request-id KEY]   (TO: an extension or a number)"},
    {{"call", "answer"},
     CS "AnswerCall",
     &callservice__v1__answer_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId"},
     &view_call,
     0,
     "call answer CALL_ID"},
    {{"call", "hangup"},
     CS "HangupCall",
     &callservice__v1__hangup_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId"},
     &view_call,
     0,
     "call hangup CALL_ID"},
    {{"call", "transfer"},
     CS "TransferCall",
     &callservice__v1__transfer_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId", "to"},
     &view_call,
     0,
     "call transfer CALL_ID TO"},
    {{"call", "hold"},
     CS "HoldCall",
     &callservice__v1__hold_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId"},
     &view_hold,
     0,
     "call hold CALL_ID   (the other party hears music on hold)"},
    {{"call", "resume"},
     CS "ResumeCall",
     &callservice__v1__resume_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId"},
     &view_hold,
     0,
     "call resume CALL_ID   (takes the held party off hold)"},
    {{"call", "dtmf"},
     CS "SendDtmf",
     &callservice__v1__send_dtmf_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId", "digits"},
     &view_hold,
     0,
     "call dtmf CALL_ID DIGITS   (1 to 32 of 0-9 * # A-D, played to the other party)"},
    {{"call", "note"},
     CS "AddCallNote",
     &callservice__v1__add_call_note_request__descriptor,
     &callservice__v1__call_note__descriptor,
     {"callId", "text"},
     &view_note,
     0,
     "call note CALL_ID TEXT"},
    {{"call", "get"},
     CS "GetCall",
     &callservice__v1__get_call_request__descriptor,
     &callservice__v1__call__descriptor,
     {"callId"},
     &view_call,
     0,
     "call get CALL_ID"},
    {{"call", "events"},
     ES "ListCallEvents",
     &callservice__v1__list_call_events_request__descriptor,
     &callservice__v1__list_call_events_response__descriptor,
     {"callId"},
     &view_events,
     0,
     "call events CALL_ID [--after-seq N] [--limit N]   (its timeline, oldest first)"},
    {{"calls", "active"},
     CS "ListActiveCalls",
     &callservice__v1__list_active_calls_request__descriptor,
     &callservice__v1__list_active_calls_response__descriptor,
     {NULL},
     &view_calls,
     0,
     "calls active"},
    {{"calls", "history"},
     CS "ListCallHistory",
     &callservice__v1__list_call_history_request__descriptor,
     &callservice__v1__list_call_history_response__descriptor,
     {NULL},
     &view_calls,
     0,
     "calls history [--status S] [--direction D] [--from RFC3339] [--to RFC3339] [--user-id ID] "
     "[--page N] [--limit N]"},
    {{"calls", "stats"},
     CS "GetCallStatistics",
     &callservice__v1__get_call_statistics_request__descriptor,
     &callservice__v1__call_statistics__descriptor,
     {NULL},
     &view_stats,
     0,
     "calls stats [--from RFC3339] [--to RFC3339] [--user-id ID]"},
    {{"metrics", NULL},
     OS "GetMetrics",
     &callservice__v1__get_metrics_request__descriptor,
     &callservice__v1__get_metrics_response__descriptor,
     {NULL},
     &view_text,
     CMD_NO_AUTH,
     "metrics   (callsvc's own, in the Prometheus text format)"},
};
#define N_COMMANDS (sizeof commands / sizeof *commands)

typedef struct opts {
    const char *addr;
    const char *token;
    int json;
    int timeout_ms;
} opts;

/* --- config directory -------------------------------------------------- */

static int config_path(const char *file, char *out, size_t outlen)
{
    const char *dir = getenv("CALLCTL_CONFIG_DIR");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (dir && *dir)
        return snprintf(out, outlen, "%s/%s", dir, file) < (int)outlen ? 0 : -1;
    if (xdg && *xdg)
        return snprintf(out, outlen, "%s/callctl/%s", xdg, file) < (int)outlen ? 0 : -1;
    if (home && *home)
        return snprintf(out, outlen, "%s/.config/callctl/%s", home, file) < (int)outlen ? 0 : -1;
    return -1;
}

static void mkdir_parents(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
}

/* Writes text to the config file atomically with mode 0600. */
static int config_write(const char *file, const char *text)
{
    char path[1024], tmp[1100];
    int fd = -1, rc = -1;
    if (config_path(file, path, sizeof path) != 0)
        goto out;
    mkdir_parents(path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0600) != 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    rc = rename(tmp, path);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Reads the config file into out (trimmed); "" when missing. */
static void config_read(const char *file, char *out, size_t outlen)
{
    char path[1024];
    FILE *f;
    out[0] = '\0';
    if (config_path(file, path, sizeof path) != 0 || !(f = fopen(path, "r")))
        return;
    if (!fgets(out, (int)outlen, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

/* --- output -------------------------------------------------------------- */

/* The value at a dotted JSON path, as text (for tables). */
static void json_path_text(json_t *obj, const char *path, char *out, size_t outlen)
{
    char key[64];
    const char *p = path;
    json_t *v = obj;
    out[0] = '\0';
    while (v && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof key)
            return;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
        p += n + (p[n] == '.');
    }
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v))
        snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, outlen, "%.3g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
    else {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(out, outlen, "%s", s ? s : "");
        free(s);
    }
}

static int view_ncols(const view *v)
{
    int n = 0;
    while (n < 10 && v->columns[n])
        n++;
    return n;
}

/* Prints rows as an aligned table with a header of the column paths. */
static void print_table(json_t *rows, const view *v)
{
    int ncols = view_ncols(v);
    size_t width[10] = {0}, i;
    char cell[256];
    json_t *row;
    for (int c = 0; c < ncols; c++)
        width[c] = strlen(v->columns[c]);
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncols; c++) {
            json_path_text(row, v->columns[c], cell, sizeof cell);
            if (strlen(cell) > width[c])
                width[c] = strlen(cell);
        }
    }
    for (int c = 0; c < ncols; c++)
        printf("%-*s%s", (int)width[c], v->columns[c], c + 1 < ncols ? "  " : "\n");
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncols; c++) {
            json_path_text(row, v->columns[c], cell, sizeof cell);
            printf("%-*s%s", (int)width[c], cell, c + 1 < ncols ? "  " : "\n");
        }
    }
}

static void print_response(const ProtobufCMessage *msg, const view *v, int as_json)
{
    json_t *j = pbjson_encode_json(msg);
    if (!j)
        return;
    if (as_json) {
        char *s = json_dumps(j, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    } else if (v->raw) {
        const char *text = json_string_value(json_object_get(j, v->raw));
        fputs(text ? text : "", stdout);
    } else if (v->list) {
        json_t *rows = json_object_get(j, v->list);
        print_table(rows, v);
        json_t *pi = json_object_get(j, "pageInfo");
        if (json_is_object(pi))
            printf("page %lld of %lld, %lld in all\n",
                   (long long)json_integer_value(json_object_get(pi, "page")),
                   (long long)json_integer_value(json_object_get(pi, "pages")),
                   (long long)json_integer_value(json_object_get(pi, "total")));
    } else {
        char cell[512];
        for (int c = 0; c < view_ncols(v); c++) {
            json_path_text(j, v->columns[c], cell, sizeof cell);
            printf("%-24s %s\n", v->columns[c], cell);
        }
    }
    json_decref(j);
}

/* --- arguments -> request JSON -------------------------------------------------- */

/* "--request-id" -> "requestId" */
static void option_to_field(const char *opt, char *out, size_t outlen)
{
    size_t o = 0;
    int upper = 0;
    for (const char *p = opt; *p && o + 1 < outlen; p++) {
        if (*p == '-') {
            upper = 1;
            continue;
        }
        out[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
        upper = 0;
    }
    out[o] = '\0';
}

/* Numbers stay numbers for numeric-looking values of known numeric fields;
 * the mapper accepts strings for every scalar anyway, so text is safe. */
static int build_request(const command *cmd, int argc, char **argv, json_t *req, char *err,
                         size_t errlen)
{
    int npos = 0, rc = -1;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            char field[64];
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", argv[i]);
                goto out;
            }
            option_to_field(argv[i] + 2, field, sizeof field);
            const ProtobufCFieldDescriptor *fd = pbjson_field(cmd->req, field);
            if (!fd) {
                snprintf(err, errlen, "unknown option %s", argv[i]);
                goto out;
            }
            json_t *val = json_string(argv[++i]);
            if (fd->type == PROTOBUF_C_TYPE_INT32 || fd->type == PROTOBUF_C_TYPE_UINT32) {
                char *end = NULL;
                long x = strtol(argv[i], &end, 10);
                if (end && *end == '\0') {
                    json_decref(val);
                    val = json_integer(x);
                }
            }
            json_object_set_new(req, field, val);
        } else {
            if (npos >= 3 || !cmd->positional[npos]) {
                snprintf(err, errlen, "unexpected argument '%s'", argv[i]);
                goto out;
            }
            json_object_set_new(req, cmd->positional[npos++], json_string(argv[i]));
        }
    }
    rc = 0;
out:
    return rc;
}

/* Reads a password from the terminal without echo (or a line from stdin). */
static int read_password(char *out, size_t outlen)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), rc = -1;
    if (tty) {
        fprintf(stderr, "Password: ");
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    if (fgets(out, (int)outlen, stdin)) {
        out[strcspn(out, "\r\n")] = '\0';
        rc = 0;
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return rc;
}

/* --- commands ---------------------------------------------------------------------- */

static int fail(cs_err e, const char *what, const char *msg)
{
    fprintf(stderr, "callctl: %s: %s: %s\n", what, cs_err_name(e), msg && *msg ? msg : "failed");
    if (e == CS_ERR_UNAUTHENTICATED)
        fprintf(stderr, "callctl: log in again with `callctl login EMAIL`\n");
    return exit_code_for(e);
}

static int run_command(const command *cmd, const opts *o, int argc, char **argv)
{
    json_t *req = json_object();
    ProtobufCMessage *msg = NULL, *resp = NULL;
    rpcc_client *client = NULL;
    char err[512] = "", auth[4200] = "", password[256];
    int rc = EXIT_USAGE, status;
    cs_err e;

    if (build_request(cmd, argc, argv, req, err, sizeof err) != 0) {
        fprintf(stderr, "callctl: %s\nusage: callctl %s\n", err, cmd->usage);
        goto out;
    }
    if ((cmd->flags & CMD_LOGIN) && strcmp(cmd->words[0], "login") == 0 &&
        !json_object_get(req, "password")) {
        const char *envpw = getenv("CALLCTL_PASSWORD");
        if (envpw)
            snprintf(password, sizeof password, "%s", envpw);
        else if (read_password(password, sizeof password) != 0) {
            fprintf(stderr, "callctl: no password given\n");
            goto out;
        }
        json_object_set_new(req, "password", json_string(password));
    }
    e = pbjson_decode_json(req, cmd->req, PBJSON_FROM_URL, &msg, err, sizeof err);
    if (e != CS_OK) {
        rc = fail(e, "bad arguments", err);
        goto out;
    }
    if (!(cmd->flags & CMD_NO_AUTH)) {
        if (!o->token || !*o->token) {
            rc = fail(CS_ERR_UNAUTHENTICATED, cmd->words[0], "not logged in");
            goto out;
        }
        snprintf(auth, sizeof auth, "Bearer %s", o->token);
    }
    client = rpcc_client_new(o->addr);
    if (!client) {
        rc = fail(CS_ERR_UNAVAILABLE, "connect", o->addr);
        goto out;
    }
    rpcc_md md = {auth[0] ? auth : NULL, NULL};
    status = rpcc_call_sync(client, cmd->method, msg, cmd->resp, &resp, &md, o->timeout_ms, err,
                            sizeof err);
    if (status != 0) {
        rc = fail(cs_err_from_grpc_status(status), cmd->method + 1, err);
        goto out;
    }
    if (cmd->flags & CMD_LOGIN) {
        const Callservice__V1__AuthResponse *ar = (const Callservice__V1__AuthResponse *)resp;
        if (config_write("token", ar->token) != 0) {
            fprintf(stderr, "callctl: cannot save the token: %s\n", strerror(errno));
            rc = 1;
            goto out;
        }
    }
    print_response(resp, cmd->view, o->json);
    rc = 0;
out:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    if (client)
        rpcc_client_free(client);
    json_decref(req);
    return rc;
}

/* --- watch ------------------------------------------------------------------------- */

typedef struct watch_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status, json;
    long long last_seq;
    long printed, max_count;
    char message[256];
} watch_state;

static volatile sig_atomic_t watch_interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    watch_interrupted = 1;
}

static void watch_on_msg(void *arg, const uint8_t *data, size_t len)
{
    watch_state *w = arg;
    Callservice__V1__Event *ev = callservice__v1__event__unpack(NULL, len, data);
    char seqbuf[32];
    if (!ev)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->done) /* --count reached: the stream is being cancelled */
        goto out;
    if (w->json) {
        char *s = pbjson_encode(&ev->base, NULL);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        char tbuf[32], when[64] = "";
        const char *type = pbjson_enum_short_name(&callservice__v1__event_type__descriptor,
                                                  (int)ev->type, tbuf, sizeof tbuf);
        if (ev->time) {
            time_t t = (time_t)ev->time->seconds;
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(when, sizeof when, "%H:%M:%S", &tm);
        }
        printf("%-8lld %s  %-20s", (long long)ev->seq, when, type ? type : "?");
        if (ev->payload_case == CALLSERVICE__V1__EVENT__PAYLOAD_CALL && ev->call) {
            char sbuf[32];
            printf(" call %s %s", ev->call->id,
                   pbjson_enum_short_name(&callservice__v1__call_status__descriptor,
                                          (int)ev->call->status, sbuf, sizeof sbuf));
            if (ev->call->hangup_cause && *ev->call->hangup_cause)
                printf(" (%s)", ev->call->hangup_cause);
            if (ev->call->caller && ev->call->caller->on_hold)
                printf(" (caller on hold)");
            if (ev->call->callee && ev->call->callee->on_hold)
                printf(" (callee on hold)");
        } else if (ev->payload_case == CALLSERVICE__V1__EVENT__PAYLOAD_USER && ev->user) {
            char sbuf[32];
            printf(" user %s %s", ev->user->email,
                   pbjson_enum_short_name(&callservice__v1__presence_status__descriptor,
                                          (int)ev->user->status, sbuf, sizeof sbuf));
        } else if (ev->payload_case == CALLSERVICE__V1__EVENT__PAYLOAD_NOTE && ev->note) {
            printf(" note on %s by %s: %s", ev->note->call_id, ev->note->author_name,
                   ev->note->text);
        } else if (ev->payload_case == CALLSERVICE__V1__EVENT__PAYLOAD_SNAPSHOT && ev->snapshot) {
            printf(" %zu live calls", ev->snapshot->n_calls);
        }
        printf("\n");
    }
    fflush(stdout);
    if (ev->seq > w->last_seq) {
        w->last_seq = ev->seq;
        snprintf(seqbuf, sizeof seqbuf, "%lld\n", w->last_seq);
        config_write("last_seq", seqbuf);
    }
    w->printed++;
    if (w->max_count > 0 && w->printed >= w->max_count) {
        w->done = 1;
        w->status = 0;
        pthread_cond_signal(&w->cv);
    }
out:
    pthread_mutex_unlock(&w->mu);
    callservice__v1__event__free_unpacked(ev, NULL);
}

static void watch_on_done(void *arg, int status, const char *message)
{
    watch_state *w = arg;
    pthread_mutex_lock(&w->mu);
    if (!w->done) {
        w->done = 2; /* the stream ended by itself */
        w->status = status;
        snprintf(w->message, sizeof w->message, "%s", message ? message : "");
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Streams events until interrupted (or --count events); reconnects with
 * backoff from the last sequence printed when the stream breaks. */
static int run_watch(const opts *o, int argc, char **argv)
{
    Callservice__V1__WatchEventsRequest req = CALLSERVICE__V1__WATCH_EVENTS_REQUEST__INIT;
    watch_state w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    rpcc_client *client = NULL;
    char auth[4200], seqtext[32];
    int rc = EXIT_USAGE, backoff_ms = 250, from_now = 0;
    long long after = -1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--after-seq") == 0 && i + 1 < argc)
            after = atoll(argv[++i]);
        else if (strcmp(argv[i], "--call-id") == 0 && i + 1 < argc)
            req.call_id = argv[++i];
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            w.max_count = atol(argv[++i]);
        else if (strcmp(argv[i], "--from-now") == 0)
            from_now = 1;
        else {
            fprintf(stderr, "usage: callctl watch [--after-seq N | --from-now] [--call-id ID] "
                            "[--count N]\n");
            goto out;
        }
    }
    if (!o->token || !*o->token) {
        rc = fail(CS_ERR_UNAUTHENTICATED, "watch", "not logged in");
        goto out;
    }
    if (after < 0 && !from_now) {
        config_read("last_seq", seqtext, sizeof seqtext);
        after = atoll(seqtext);
    }
    w.last_seq = after < 0 ? 0 : after;
    w.json = o->json;
    snprintf(auth, sizeof auth, "Bearer %s", o->token);
    client = rpcc_client_new(o->addr);
    if (!client) {
        rc = fail(CS_ERR_UNAVAILABLE, "connect", o->addr);
        goto out;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    for (;;) {
        rpcc_md md = {auth, NULL};
        req.after_seq = w.last_seq;
        w.done = 0;
        rpcc_stream *s = rpcc_stream_start(client, "/callservice.v1.EventService/WatchEvents",
                                           &req.base, &md, 0, watch_on_msg, watch_on_done, &w);
        if (!s) {
            rc = fail(CS_ERR_UNAVAILABLE, "watch", "cannot start the stream");
            goto out;
        }
        pthread_mutex_lock(&w.mu);
        while (!w.done && !watch_interrupted) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w.cv, &w.mu, &ts);
        }
        int done = w.done, status = w.status;
        if (w.printed > 0)
            backoff_ms = 250;
        pthread_mutex_unlock(&w.mu);
        rpcc_stream_release(s);
        if (watch_interrupted || done == 1) {
            rc = 0;
            goto out;
        }
        cs_err e = cs_err_from_grpc_status(status);
        /* Transient ends (server restart, slow-consumer cut-off) resume from
         * the last sequence printed; the rest are final. */
        if (e != CS_ERR_UNAVAILABLE && e != CS_ERR_RESOURCE && e != CS_ERR_CANCELLED &&
            status != 0) {
            rc = fail(e, "watch", w.message);
            if (e == CS_ERR_INVALID)
                fprintf(stderr, "callctl: `callctl watch --from-now` starts over from the "
                                "live events\n");
            goto out;
        }
        fprintf(stderr, "callctl: stream ended (%s), resuming after seq %lld\n", cs_err_name(e),
                w.last_seq);
        usleep((useconds_t)backoff_ms * 1000);
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
out:
    if (client)
        rpcc_client_free(client);
    return rc;
}

/* --- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "callctl: the call service from the command line (gRPC)\n\n"
               "usage: callctl [--addr HOST:PORT] [--json] [--timeout MS] COMMAND ...\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "  logout\n"
               "  watch [--after-seq N | --from-now] [--call-id ID] [--count N]\n"
               "        live events; resumes after the last sequence it printed (kept in\n"
               "        the config directory); --after-seq N replays the events after N\n"
               "        (0: live only); --from-now ignores the kept sequence\n\n"
               "environment: CALLSVC_ADDR (default 127.0.0.1:50051), CALLCTL_TOKEN,\n"
               "  CALLCTL_PASSWORD, CALLCTL_CONFIG_DIR (default ~/.config/callctl)\n"
               "exit codes: 0 ok, 1 other error, 2 usage, 3 invalid argument, 4 not logged in,\n"
               "  5 permission denied, 6 not found, 7 already exists, 8 wrong state,\n"
               "  9 throttled or exhausted, 10 unavailable, 11 not implemented\n");
}

int main(int argc, char **argv)
{
    opts o = {getenv("CALLSVC_ADDR"), getenv("CALLCTL_TOKEN"), 0, 15000};
    char token[4096] = "";
    int i = 1, rc = EXIT_USAGE;

    if (!o.addr || !*o.addr)
        o.addr = "127.0.0.1:50051";
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--json") == 0)
            o.json = 1;
        else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc)
            o.addr = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            o.timeout_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!o.token || !*o.token) {
        config_read("token", token, sizeof token);
        o.token = token;
    }
    if (strcmp(argv[i], "logout") == 0) {
        char path[1024];
        if (i + 1 < argc) {
            int help = strcmp(argv[i + 1], "--help") == 0;
            fprintf(help ? stdout : stderr, "usage: callctl logout   (forgets the kept token)\n");
            return help ? 0 : EXIT_USAGE;
        }
        if (config_path("token", path, sizeof path) == 0 && unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "callctl: cannot remove %s: %s\n", path, strerror(errno));
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[i], "watch") == 0) {
        if (i + 1 < argc && strcmp(argv[i + 1], "--help") == 0) {
            printf("usage: callctl watch [--after-seq N | --from-now] [--call-id ID] [--count N]\n"
                   "  live events, one a line (--json: one JSON object a line); resumes after\n"
                   "  the last sequence it printed, kept in the config directory;\n"
                   "  --after-seq N replays the events after N (0: live only); --from-now\n"
                   "  ignores the kept sequence; --count N exits after N events\n");
            return 0;
        }
        return run_watch(&o, argc - i - 1, argv + i + 1);
    }
    for (size_t c = 0; c < N_COMMANDS; c++) {
        const command *cmd = &commands[c];
        int nwords = cmd->words[1] ? 2 : 1;
        if (strcmp(argv[i], cmd->words[0]) != 0)
            continue;
        if (nwords == 2 && (i + 1 >= argc || strcmp(argv[i + 1], cmd->words[1]) != 0))
            continue;
        if (i + nwords < argc && strcmp(argv[i + nwords], "--help") == 0) {
            printf("usage: callctl %s\n", cmd->usage);
            return 0;
        }
        rc = run_command(cmd, &o, argc - i - nwords, argv + i + nwords);
        return rc;
    }
    fprintf(stderr, "callctl: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return rc;
}
