/*
 * ari_client_test: the ARI client (src/ari) against the real ARI simulator
 * process (tests/ari-sim), end to end: REST over HTTP, events over the
 * WebSocket, failures injected through the simulator's control API.
 *
 *   ari_client_test <path to ari-sim>
 *
 * It starts the simulator on a free loopback port, runs every scenario,
 * stops it, and exits 0 only if all passed. Each scenario checks what the
 * client returned and the events it decoded, in order, against what the
 * recorded traces show real Asterisk doing. Built with CS_SANITIZE it also
 * proves the client leak-free (LeakSanitizer runs at exit).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ari/ari.h"
#include "common/log.h"

/* ------------------------------------------------------------------ */
/* Checks                                                               */

static int failures;
static const char *scenario = "";

/* One write per failure, so that log lines of the WebSocket thread do not
 * land in the middle of it. */
static void check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    failures++;
    fprintf(stderr, "FAIL [%s] %s:%d: %s: %s\n", scenario, file, line, cond, msg);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                                  \
    } while (0)

#define CHECK_RC(rc, want, err)                                                                    \
    CHECK((rc) == (want), "got %s want %s (http %d: %s)", cs_err_name(rc), cs_err_name(want),      \
          (err).http_status, (err).message)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* The simulator process                                                */

static const char *sim_bin;
static pid_t sim_pid = -1;
static int sim_port;
static char sim_url[64];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

/* One HTTP request to the simulator, outside the client under test (the
 * control API, and readiness). Returns the status, 0 if no answer. */
static int sim_http(const char *method, const char *path, const char *body)
{
    char url[256];
    long status = 0;
    snprintf(url, sizeof url, "%s%s", sim_url, path);
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_USERPWD, "admin:admin");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    fclose(sink);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return (int)status;
}

static int sim_start(void)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sim_port);
    sim_pid = fork();
    if (sim_pid == 0) {
        setenv("ARI_SIM_ADDR", addr, 1);
        setenv("ARI_SIM_USERS", "admin:admin", 1);
        setenv("LOG_LEVEL", "warn", 1);
        execl(sim_bin, sim_bin, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        if (sim_http("GET", "/ari/asterisk/ping", NULL) == 200)
            return 0;
        int st;
        if (waitpid(sim_pid, &st, WNOHANG) == sim_pid) {
            sim_pid = -1;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

static void sim_stop(void)
{
    if (sim_pid <= 0)
        return;
    kill(sim_pid, SIGTERM);
    int st;
    for (int i = 0; i < 100 && waitpid(sim_pid, &st, WNOHANG) == 0; i++)
        usleep(50000);
    if (waitpid(sim_pid, &st, WNOHANG) == 0) {
        kill(sim_pid, SIGKILL);
        waitpid(sim_pid, &st, 0);
    }
    sim_pid = -1;
}

/* A simulator that died (crash, sanitizer abort) makes every later check
 * fail slowly on timeouts: stop at once and say so. */
static void require_sim(void)
{
    int st;
    if (sim_pid > 0 && waitpid(sim_pid, &st, WNOHANG) == sim_pid) {
        fprintf(stderr, "FAIL [%s]: the simulator exited (%s %d); see its output above\n", scenario,
                WIFSIGNALED(st) ? "signal" : "status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        _exit(1);
    }
}

/* ------------------------------------------------------------------ */
/* Event collection: the WebSocket thread queues, the test thread waits */

typedef struct qev {
    ari_event *ev;
    struct qev *next;
} qev;

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static qev *q_head, *q_tail;
static int n_up, n_down, n_on_connected;

static void on_event(ari_event *ev, void *ud)
{
    qev *q = calloc(1, sizeof *q);
    q->ev = ev;
    pthread_mutex_lock(&q_lock);
    if (q_tail)
        q_tail->next = q;
    else
        q_head = q;
    q_tail = q;
    pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
    (void)ud;
}

static void on_connected(void *ud)
{
    pthread_mutex_lock(&q_lock);
    n_on_connected++;
    pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
    (void)ud;
}

static void on_state(bool up, void *ud)
{
    pthread_mutex_lock(&q_lock);
    if (up)
        n_up++;
    else
        n_down++;
    pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
    (void)ud;
}

static void q_clear(void)
{
    pthread_mutex_lock(&q_lock);
    while (q_head) {
        qev *n = q_head->next;
        ari_event_free(q_head->ev);
        free(q_head);
        q_head = n;
    }
    q_tail = NULL;
    pthread_mutex_unlock(&q_lock);
}

/* Does ev concern channel id (as channel, peer or caller)? NULL: any. */
static bool about(const ari_event *ev, const char *id)
{
    return !id || (ev->has_channel && !strcmp(ev->channel.id, id)) ||
           (ev->has_peer && !strcmp(ev->peer.id, id)) ||
           (ev->has_caller && !strcmp(ev->caller.id, id));
}

/*
 * Takes events about channel id from the queue, in arrival order, and
 * returns the first of the given type (caller frees); events about other
 * channels stay queued, events about this one that come before are
 * dropped. NULL after timeout_ms.
 */
static ari_event *expect_event(ari_event_type type, const char *id, int timeout_ms)
{
    ari_event *found = NULL;
    int64_t deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&q_lock);
    while (!found) {
        qev **pp = &q_head, *prev = NULL;
        while (*pp && !found) {
            qev *q = *pp;
            if (about(q->ev, id)) {
                *pp = q->next;
                if (q_tail == q)
                    q_tail = prev;
                if (q->ev->type == type)
                    found = q->ev;
                else
                    ari_event_free(q->ev);
                free(q);
            } else {
                prev = q;
                pp = &q->next;
            }
        }
        if (found)
            break;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&q_cond, &q_lock, &ts);
    }
    pthread_mutex_unlock(&q_lock);
    return found;
}

/* Expects the listed types about id, in this order (others in between are
 * allowed, as Asterisk interleaves Varset/Dialplan events). */
static void expect_sequence(const char *id, const ari_event_type *types, size_t n, int timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        ari_event *ev = expect_event(types[i], id, timeout_ms);
        CHECK(ev != NULL, "no %s for %s (step %zu)", ari_event_type_name(types[i]), id, i);
        ari_event_free(ev);
        if (!ev)
            return;
    }
}

/* Waits until n_up >= up, n_down >= down and n_on_connected >= oc (a count
 * of -1 is not waited for). on_connected runs after the state report on
 * the same thread, so "up" alone does not mean it has run yet. */
static bool wait_all(int up, int down, int oc, int timeout_ms)
{
    bool ok = false;
    int64_t deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&q_lock);
    while (!(ok = n_up >= up && n_down >= down && n_on_connected >= oc) && now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&q_cond, &q_lock, &ts);
    }
    pthread_mutex_unlock(&q_lock);
    return ok;
}

static bool wait_counts(int up, int down, int timeout_ms)
{
    return wait_all(up, down, -1, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                            */

static ari_client *cli;

static void t_info(void)
{
    scenario = "info";
    q_clear();
    require_sim();
    ari_system_info info, ping;
    ari_error err;
    CHECK_RC(ari_asterisk_info(cli, &info, &err), CS_OK, err);
    CHECK(info.entity_id[0] != '\0', "empty entity id");
    CHECK(info.version[0] != '\0', "empty version");
    CHECK_RC(ari_asterisk_ping(cli, &ping, &err), CS_OK, err);
    CHECK(!strcmp(info.entity_id, ping.entity_id), "%s vs %s", info.entity_id, ping.entity_id);
}

/* outbound-originate-answer-hangup: the far end answers at once, so the
 * channel enters Stasis already Up. */
static void t_originate_answer_hangup(void)
{
    scenario = "originate";
    q_clear();
    require_sim();
    ari_error err;
    ari_channel *ch = NULL;
    ari_originate o = {.endpoint = "Local/1000@answer-wait",
                       .app = "call-service",
                       .app_args = "outbound,1000",
                       .caller_id = "Alice <1001>"};
    CHECK_RC(ari_channel_originate(cli, &o, &ch, &err), CS_OK, err);
    if (!ch)
        return;
    CHECK(ch->id && ch->name && !strncmp(ch->name, "Local/1000@answer-wait", 22), "%s", ch->name);
    ari_event *ev = expect_event(ARI_EV_STASIS_START, ch->id, 5000);
    CHECK(ev != NULL, "no StasisStart");
    if (ev) {
        CHECK(ev->channel.state == ARI_CH_UP, "state %s", ev->channel.state_name);
        CHECK(ev->n_args == 2 && !strcmp(ev->args[0], "outbound") && !strcmp(ev->args[1], "1000"),
              "args");
        CHECK(ev->application && !strcmp(ev->application, "call-service"), "application");
        CHECK(ev->timestamp_ms > 0, "timestamp");
        ari_event_free(ev);
    }
    CHECK_RC(ari_channel_answer(cli, ch->id, &err), CS_OK, err);
    ari_channel *got = NULL;
    CHECK_RC(ari_channel_get(cli, ch->id, &got, &err), CS_OK, err);
    CHECK(got && got->state == ARI_CH_UP && !strcmp(got->id, ch->id), "get");
    ari_channel_free(got);

    CHECK_RC(ari_channel_var_set(cli, ch->id, "CALL_ID", "abc 123", &err), CS_OK, err);
    char *v = NULL;
    CHECK_RC(ari_channel_var_get(cli, ch->id, "CALL_ID", &v, &err), CS_OK, err);
    CHECK(v && !strcmp(v, "abc 123"), "var %s", v ? v : "(null)");
    free(v);

    CHECK_RC(ari_channel_hangup(cli, ch->id, "normal", &err), CS_OK, err);
    ev = expect_event(ARI_EV_CHANNEL_HANGUP_REQUEST, ch->id, 5000);
    CHECK(ev && ev->has_cause && ev->cause == 32 && ev->soft, "hangup request 32 soft");
    ari_event_free(ev);
    static const ari_event_type rest[] = {ARI_EV_STASIS_END, ARI_EV_CHANNEL_DESTROYED};
    expect_sequence(ch->id, rest, 2, 5000);
    CHECK_RC(ari_channel_get(cli, ch->id, &got, &err), CS_ERR_NOT_FOUND, err);
    CHECK(!strcmp(err.message, "Channel not found"), "%s", err.message);
    ari_channel_free(ch);
}

/* dial-create-ringing-answer: an inbound caller, a callee made with
 * /channels/create then /dial, ringing, answer, a bridge, hang up. */
static void t_create_dial_bridge(void)
{
    scenario = "create+dial+bridge";
    q_clear();
    require_sim();
    ari_error err;
    ari_channel *half1 = NULL, *callee = NULL;
    ari_bridge *br = NULL;
    char caller[64] = "";

    /* Inbound call: ";2" of Local/3003@stasis-in runs Stasis(call-service,3003). */
    ari_originate in = {.endpoint = "Local/3003@stasis-in",
                        .context = "answer-wait",
                        .extension = "1000",
                        .caller_id = "Dave <2003>"};
    CHECK_RC(ari_channel_originate(cli, &in, &half1, &err), CS_OK, err);
    ari_event *ev = expect_event(ARI_EV_STASIS_START, NULL, 5000);
    CHECK(ev != NULL, "no inbound StasisStart");
    if (!ev)
        goto out;
    CHECK(ev->n_args == 1 && !strcmp(ev->args[0], "3003"), "inbound args");
    CHECK(ev->channel.state == ARI_CH_RING, "inbound state %s", ev->channel.state_name);
    CHECK(ev->channel.caller_number && !strcmp(ev->channel.caller_number, "2003"), "caller num");
    snprintf(caller, sizeof caller, "%s", ev->channel.id);
    ari_event_free(ev);
    CHECK_RC(ari_channel_ring(cli, caller, &err), CS_OK, err);

    char args[128];
    snprintf(args, sizeof args, "dialed,%s", caller);
    ari_originate co = {.endpoint = "Local/2000@ring-answer",
                        .app = "call-service",
                        .app_args = args,
                        .originator = caller};
    CHECK_RC(ari_channel_create(cli, &co, &callee, &err), CS_OK, err);
    if (!callee)
        goto out;
    ev = expect_event(ARI_EV_STASIS_START, callee->id, 5000);
    CHECK(ev && ev->channel.state == ARI_CH_DOWN, "callee StasisStart Down");
    ari_event_free(ev);
    CHECK_RC(ari_channel_dial(cli, callee->id, caller, 30, &err), CS_OK, err);
    ev = expect_event(ARI_EV_DIAL, callee->id, 5000);
    CHECK(ev && ev->dialstatus && !strcmp(ev->dialstatus, ""), "first Dial \"\"");
    ari_event_free(ev);
    ev = expect_event(ARI_EV_DIAL, callee->id, 5000);
    CHECK(ev && ev->dialstatus && !strcmp(ev->dialstatus, "RINGING"), "Dial RINGING");
    ari_event_free(ev);
    ev = expect_event(ARI_EV_DIAL, callee->id, 8000);
    CHECK(ev && ev->dialstatus && !strcmp(ev->dialstatus, "ANSWER"), "Dial ANSWER");
    ari_event_free(ev);
    /* A second dial of an answered channel is refused (409). */
    CHECK_RC(ari_channel_dial(cli, callee->id, caller, 30, &err), CS_ERR_PRECONDITION, err);

    CHECK_RC(ari_channel_ring_stop(cli, caller, &err), CS_OK, err);
    CHECK_RC(ari_channel_answer(cli, caller, &err), CS_OK, err);
    ev = expect_event(ARI_EV_CHANNEL_STATE_CHANGE, caller, 5000);
    CHECK(ev && ev->channel.state == ARI_CH_UP, "caller Up");
    ari_event_free(ev);

    CHECK_RC(ari_bridge_create(cli, "mixing", NULL, "call-1", &br, &err), CS_OK, err);
    if (!br)
        goto out;
    CHECK(br->bridge_type && !strcmp(br->bridge_type, "mixing"), "bridge type");
    CHECK_RC(ari_bridge_add_channel(cli, br->id, caller, &err), CS_OK, err);
    CHECK_RC(ari_bridge_add_channel(cli, br->id, callee->id, &err), CS_OK, err);
    ev = expect_event(ARI_EV_CHANNEL_ENTERED_BRIDGE, callee->id, 5000);
    CHECK(ev && ev->has_bridge && !strcmp(ev->bridge.id, br->id), "entered bridge");
    ari_event_free(ev);
    ari_bridge *got = NULL;
    CHECK_RC(ari_bridge_get(cli, br->id, &got, &err), CS_OK, err);
    CHECK(got && got->n_channels == 2, "bridge has 2 channels");
    ari_bridge_free(got);
    /* hold, unhold and DTMF on a bridged channel (an ARI hold has no event) */
    CHECK_RC(ari_channel_hold(cli, callee->id, true, &err), CS_OK, err);
    CHECK_RC(ari_channel_hold(cli, callee->id, false, &err), CS_OK, err);
    CHECK_RC(ari_channel_dtmf(cli, callee->id, "12#", 120, &err), CS_OK, err);
    CHECK_RC(ari_channel_dtmf(cli, callee->id, "", 0, &err), CS_ERR_INVALID, err);
    ari_bridge_list *bl = NULL;
    CHECK_RC(ari_bridge_list_all(cli, &bl, &err), CS_OK, err);
    bool seen = false;
    for (size_t i = 0; bl && i < bl->n; i++)
        seen |= !strcmp(bl->items[i].id, br->id);
    CHECK(seen, "bridge listed");
    ari_bridge_list_free(bl);
    ari_channel_list *cl = NULL;
    CHECK_RC(ari_channel_list_all(cli, &cl, &err), CS_OK, err);
    int both = 0;
    for (size_t i = 0; cl && i < cl->n; i++)
        both += !strcmp(cl->items[i].id, caller) || !strcmp(cl->items[i].id, callee->id);
    CHECK(both == 2, "both channels listed (%d)", both);
    ari_channel_list_free(cl);

    /* Errors of the bridge API, as Asterisk answers them. */
    CHECK_RC(ari_bridge_add_channel(cli, br->id, "no-such-channel", &err), CS_ERR_NOT_FOUND, err);
    CHECK_RC(ari_bridge_add_channel(cli, "no-such-bridge", caller, &err), CS_ERR_NOT_FOUND, err);
    CHECK(!strcmp(err.message, "Bridge not found"), "%s", err.message);
    CHECK_RC(ari_bridge_create(cli, "mixing", br->id, NULL, NULL, &err), CS_ERR_PRECONDITION, err);

    CHECK_RC(ari_channel_hangup(cli, callee->id, "normal", &err), CS_OK, err);
    static const ari_event_type gone[] = {ARI_EV_CHANNEL_LEFT_BRIDGE, ARI_EV_STASIS_END,
                                          ARI_EV_CHANNEL_DESTROYED};
    expect_sequence(callee->id, gone, 3, 5000);
    CHECK_RC(ari_bridge_remove_channel(cli, br->id, callee->id, &err), CS_ERR_NOT_FOUND, err);
    CHECK_RC(ari_channel_hangup(cli, caller, "normal", &err), CS_OK, err);
    ev = expect_event(ARI_EV_STASIS_END, caller, 5000);
    CHECK(ev != NULL, "caller StasisEnd");
    ari_event_free(ev);
    CHECK_RC(ari_bridge_destroy(cli, br->id, &err), CS_OK, err);
    ev = expect_event(ARI_EV_BRIDGE_DESTROYED, NULL, 5000);
    CHECK(ev && !strcmp(ev->bridge.id, br->id), "BridgeDestroyed");
    ari_event_free(ev);
    CHECK_RC(ari_bridge_destroy(cli, br->id, &err), CS_ERR_NOT_FOUND, err);
out:
    if (half1 && ari_channel_hangup(cli, half1->id, NULL, NULL) != CS_OK)
        fprintf(stderr, "note: the ;1 half was already gone\n");
    ari_channel_free(half1);
    ari_channel_free(callee);
    ari_bridge_free(br);
    q_clear();
    require_sim();
}

/* dial-busy-noanswer: busy stays in Stasis until hung up; a dial timeout
 * ends with ChannelDestroyed cause 19 and no final Dial. */
static void t_busy_and_timeout(void)
{
    scenario = "busy+timeout";
    q_clear();
    require_sim();
    ari_error err;
    ari_channel *b = NULL, *r = NULL;
    ari_originate o = {.endpoint = "Local/2000@busy", .app = "call-service"};
    CHECK_RC(ari_channel_create(cli, &o, &b, &err), CS_OK, err);
    if (b) {
        CHECK_RC(ari_channel_dial(cli, b->id, NULL, 30, &err), CS_OK, err);
        ari_event *ev = expect_event(ARI_EV_DIAL, b->id, 5000);
        ari_event_free(ev);
        ev = expect_event(ARI_EV_DIAL, b->id, 8000);
        CHECK(ev && !strcmp(ev->dialstatus, "BUSY"), "Dial BUSY");
        ari_event_free(ev);
        CHECK_RC(ari_channel_hangup(cli, b->id, "busy", &err), CS_OK, err);
        ev = expect_event(ARI_EV_CHANNEL_DESTROYED, b->id, 5000);
        CHECK(ev && ev->cause == 17, "cause 17 (%d)", ev ? ev->cause : -1);
        ari_event_free(ev);
    }
    o.endpoint = "Local/2001@ring-forever";
    CHECK_RC(ari_channel_create(cli, &o, &r, &err), CS_OK, err);
    if (r) {
        CHECK_RC(ari_channel_dial(cli, r->id, NULL, 1, &err), CS_OK, err);
        ari_event *ev = expect_event(ARI_EV_CHANNEL_DESTROYED, r->id, 8000);
        CHECK(ev && ev->cause == 19, "cause 19 (%d)", ev ? ev->cause : -1);
        ari_event_free(ev);
    }
    ari_channel_free(b);
    ari_channel_free(r);
    q_clear();
    require_sim();
}

static void t_errors(void)
{
    scenario = "errors";
    q_clear();
    require_sim();
    ari_error err;
    ari_channel *ch = NULL, *dup = NULL;
    CHECK_RC(ari_channel_answer(cli, "no-such-channel", &err), CS_ERR_NOT_FOUND, err);
    CHECK(err.http_status == 404 && !strcmp(err.message, "Channel not found"), "%d %s",
          err.http_status, err.message);
    ari_originate o = {
        .endpoint = "Local/1000@answer-wait", .app = "call-service", .channel_id = "itest-dup-1"};
    CHECK_RC(ari_channel_originate(cli, &o, &ch, &err), CS_OK, err);
    CHECK(ch && !strcmp(ch->id, "itest-dup-1"), "channelId honoured");
    CHECK_RC(ari_channel_originate(cli, &o, &dup, &err), CS_ERR_PRECONDITION, err);
    CHECK(err.http_status == 409, "409 (%d)", err.http_status);
    CHECK(dup == NULL, "no channel on error");
    CHECK_RC(ari_channel_hangup(cli, "itest-dup-1", "no-such-reason", &err), CS_ERR_INVALID, err);
    ari_originate bogus = {.endpoint = "Bogus/123", .app = "call-service"};
    CHECK_RC(ari_channel_originate(cli, &bogus, NULL, &err), CS_ERR_UNAVAILABLE, err);
    CHECK(err.http_status == 500 && !strcmp(err.message, "Allocation failed"), "%d %s",
          err.http_status, err.message);
    ari_originate noapp = {.endpoint = "Local/1000@answer-wait"};
    CHECK_RC(ari_channel_originate(cli, &noapp, NULL, &err), CS_ERR_INVALID, err);
    /* Ids with characters that must be escaped stay one path segment. */
    CHECK_RC(ari_channel_answer(cli, "a/b?c=d&e", &err), CS_ERR_NOT_FOUND, err);
    CHECK_RC(ari_channel_hold(cli, "no-such-channel", true, &err), CS_ERR_NOT_FOUND, err);
    CHECK_RC(ari_channel_hold(cli, "no-such-channel", false, &err), CS_ERR_NOT_FOUND, err);
    CHECK_RC(ari_channel_dtmf(cli, "no-such-channel", "1", 0, &err), CS_ERR_NOT_FOUND, err);
    if (ch)
        CHECK_RC(ari_channel_hangup(cli, ch->id, NULL, &err), CS_OK, err);
    ari_channel_free(ch);

    /* Wrong credentials: a misconfiguration, not "not found". */
    ari_config bad = {.url = sim_url, .user = "admin", .password = "wrong", .app = "x"};
    ari_client *c2 = NULL;
    CHECK(ari_client_new(&bad, NULL, &c2) == CS_OK, "client");
    if (c2) {
        ari_system_info info;
        CHECK_RC(ari_asterisk_info(c2, &info, &err), CS_ERR_INTERNAL, err);
        CHECK(err.http_status == 401, "401 (%d)", err.http_status);
        ari_client_free(c2);
    }
    q_clear();
    require_sim();
}

/* REST faults: a slow answer times out as UNAVAILABLE, failed requests map
 * by status, and the next request works again. */
static void t_rest_faults(void)
{
    scenario = "rest faults";
    q_clear();
    require_sim();
    ari_error err;
    ari_system_info info;
    CHECK(sim_http("POST", "/_sim/faults/delay", "{\"count\":1,\"ms\":1500}") / 100 == 2,
          "delay fault accepted");
    int64_t t0 = now_ms();
    CHECK_RC(ari_asterisk_info(cli, &info, &err), CS_ERR_UNAVAILABLE, err);
    int64_t took = now_ms() - t0;
    CHECK(err.http_status == 0, "timeout has no status (%d)", err.http_status);
    CHECK(took >= 700 && took < 3000, "timed out after %lld ms (request timeout 800)",
          (long long)took);
    usleep(900000); /* let the delayed answer drain */
    CHECK_RC(ari_asterisk_info(cli, &info, &err), CS_OK, err);

    CHECK(sim_http("POST", "/_sim/faults/fail", "{\"count\":2,\"status\":503}") / 100 == 2,
          "fail fault accepted");
    CHECK_RC(ari_asterisk_ping(cli, NULL, &err), CS_ERR_UNAVAILABLE, err);
    CHECK(err.http_status == 503, "503 (%d)", err.http_status);
    CHECK_RC(ari_channel_answer(cli, "x", &err), CS_ERR_UNAVAILABLE, err);
    CHECK_RC(ari_asterisk_ping(cli, NULL, &err), CS_OK, err);
    sim_http("DELETE", "/_sim/faults", NULL);
}

/* Many threads share the client at once (the handle pool). */
static void *hammer(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 40; i++) {
        ari_error err;
        ari_system_info info;
        ari_channel *ch = NULL;
        if (ari_asterisk_ping(cli, &info, &err) != CS_OK || !info.entity_id[0])
            (*bad)++;
        if (ari_channel_get(cli, "no-such", &ch, &err) != CS_ERR_NOT_FOUND)
            (*bad)++;
    }
    return NULL;
}

static void t_threads(void)
{
    scenario = "threads";
    q_clear();
    require_sim();
    pthread_t th[6];
    int bad[6] = {0};
    for (int i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, hammer, &bad[i]);
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK(bad[i] == 0, "thread %d: %d bad answers", i, bad[i]);
    }
}

/* The WebSocket dropped mid-call: back within the backoff, the call is
 * still there and its later events arrive on the new connection. */
static void t_ws_drop(void)
{
    scenario = "ws drop";
    q_clear();
    require_sim();
    ari_error err;
    ari_channel *ch = NULL;
    ari_originate o = {.endpoint = "Local/1000@answer-wait", .app = "call-service"};
    CHECK_RC(ari_channel_originate(cli, &o, &ch, &err), CS_OK, err);
    if (!ch)
        return;
    ari_event *ev = expect_event(ARI_EV_STASIS_START, ch->id, 5000);
    CHECK(ev != NULL, "StasisStart");
    ari_event_free(ev);

    ari_counters before, after;
    ari_client_counters(cli, &before);
    pthread_mutex_lock(&q_lock);
    int up0 = n_up, down0 = n_down, oc0 = n_on_connected;
    pthread_mutex_unlock(&q_lock);
    CHECK(sim_http("POST", "/_sim/faults/drop_websockets", NULL) / 100 == 2, "drop accepted");
    int64_t t0 = now_ms();
    CHECK(wait_counts(up0, down0 + 1, 3000), "disconnect reported");
    CHECK(wait_counts(up0 + 1, down0 + 1, 3000), "reconnected");
    int64_t took = now_ms() - t0;
    /* First retry waits 250..500 ms (backoff_min 500, equal jitter). */
    CHECK(took < 2500, "back after %lld ms", (long long)took); /* slack for a loaded CI box */
    CHECK(ari_client_connected(cli), "connected");
    ari_client_counters(cli, &after);
    CHECK(after.reconnects == before.reconnects + 1, "reconnects %llu -> %llu",
          (unsigned long long)before.reconnects, (unsigned long long)after.reconnects);
    CHECK(wait_all(-1, -1, oc0 + 1, 2000), "on_connected ran again");
    pthread_mutex_lock(&q_lock);
    CHECK(n_on_connected == oc0 + 1, "on_connected ran once (%d)", n_on_connected - oc0);
    pthread_mutex_unlock(&q_lock);

    ari_channel *got = NULL;
    CHECK_RC(ari_channel_get(cli, ch->id, &got, &err), CS_OK, err);
    ari_channel_free(got);
    CHECK_RC(ari_channel_hangup(cli, ch->id, NULL, &err), CS_OK, err);
    static const ari_event_type seq[] = {ARI_EV_CHANNEL_HANGUP_REQUEST, ARI_EV_STASIS_END,
                                         ARI_EV_CHANNEL_DESTROYED};
    expect_sequence(ch->id, seq, 3, 5000);
    ari_channel_free(ch);
    q_clear();
    require_sim();
}

/* The simulator process restarts: the client sees the link go down and
 * come back by itself, and Asterisk's entity id changed (what tells the
 * owner that every channel it knew is gone: reconciliation). */
static void t_restart(void)
{
    scenario = "restart";
    q_clear();
    require_sim();
    ari_error err;
    ari_system_info before, after;
    ari_channel *ch = NULL;
    CHECK_RC(ari_asterisk_info(cli, &before, &err), CS_OK, err);
    ari_originate o = {.endpoint = "Local/1000@answer-wait", .app = "call-service"};
    CHECK_RC(ari_channel_originate(cli, &o, &ch, &err), CS_OK, err);
    pthread_mutex_lock(&q_lock);
    int up0 = n_up, down0 = n_down;
    pthread_mutex_unlock(&q_lock);
    ari_counters c0, c1;
    ari_client_counters(cli, &c0);

    sim_stop();
    CHECK(wait_counts(up0, down0 + 1, 3000), "disconnect reported");
    CHECK(!ari_client_connected(cli), "down while the simulator is down");
    CHECK_RC(ari_asterisk_ping(cli, NULL, &err), CS_ERR_UNAVAILABLE, err);
    usleep(1200000); /* a few failed attempts: the backoff grows */
    CHECK(sim_start() == 0, "simulator restarted");
    /* The backoff is at most a few seconds after ~1 s of failures. */
    CHECK(wait_counts(up0 + 1, down0 + 1, 8000), "reconnected after restart");
    ari_client_counters(cli, &c1);
    CHECK(c1.reconnects == c0.reconnects + 1, "one more reconnect");
    CHECK_RC(ari_asterisk_info(cli, &after, &err), CS_OK, err);
    CHECK(strcmp(before.entity_id, after.entity_id) != 0, "new entity id (%s)", after.entity_id);
    if (ch) {
        ari_channel *got = NULL;
        CHECK_RC(ari_channel_get(cli, ch->id, &got, &err), CS_ERR_NOT_FOUND, err);
        ari_channel_free(got);
    }
    ari_channel_free(ch);
    q_clear();
    require_sim();
}

/* The simulator's own "Asterisk restarted" fault: calls vanish without
 * events, the sockets drop, nothing answers for down_ms, new entity id. */
static void t_sim_restart_fault(void)
{
    scenario = "restart fault";
    q_clear();
    require_sim();
    ari_error err;
    ari_system_info before, after;
    CHECK_RC(ari_asterisk_info(cli, &before, &err), CS_OK, err);
    pthread_mutex_lock(&q_lock);
    int up0 = n_up, down0 = n_down, oc0 = n_on_connected;
    pthread_mutex_unlock(&q_lock);
    CHECK(sim_http("POST", "/_sim/restart", "{\"down_ms\":700}") == 200, "restart accepted");
    CHECK(wait_counts(up0, down0 + 1, 3000), "disconnect reported");
    CHECK(wait_counts(up0 + 1, down0 + 1, 6000), "reconnected");
    CHECK_RC(ari_asterisk_info(cli, &after, &err), CS_OK, err);
    CHECK(strcmp(before.entity_id, after.entity_id) != 0, "new entity id");
    CHECK(wait_all(-1, -1, oc0 + 1, 2000), "on_connected ran again");
    pthread_mutex_lock(&q_lock);
    CHECK(n_on_connected == oc0 + 1, "on_connected ran once (%d)", n_on_connected - oc0);
    pthread_mutex_unlock(&q_lock);
    ari_channel_list *cl = NULL;
    CHECK_RC(ari_channel_list_all(cli, &cl, &err), CS_OK, err);
    CHECK(cl && cl->n == 0, "no channels after restart");
    ari_channel_list_free(cl);
    q_clear();
    require_sim();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <ari-sim binary>\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    log_init("ari_client_test", LOG_WARN, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sim_bin = argv[1];
    sim_port = free_port();
    snprintf(sim_url, sizeof sim_url, "http://127.0.0.1:%d", sim_port);
    if (sim_start() != 0) {
        fprintf(stderr, "cannot start %s on port %d\n", sim_bin, sim_port);
        return 1;
    }
    ari_config cfg = {.url = sim_url,
                      .user = "admin",
                      .password = "admin",
                      .app = "call-service",
                      .connect_timeout_ms = 500,
                      .request_timeout_ms = 800};
    ari_callbacks cb = {.on_event = on_event, .on_connected = on_connected, .on_state = on_state};
    if (ari_client_new(&cfg, &cb, &cli) != CS_OK || ari_client_start(cli) != CS_OK) {
        fprintf(stderr, "cannot start the client\n");
        sim_stop();
        return 1;
    }
    scenario = "connect";
    CHECK(wait_counts(1, 0, 5000), "connected at start");
    CHECK(ari_client_connected(cli), "connected flag");

    t_info();
    t_originate_answer_hangup();
    t_create_dial_bridge();
    t_busy_and_timeout();
    t_errors();
    t_rest_faults();
    t_threads();
    t_ws_drop();
    t_sim_restart_fault();
    t_restart();

    scenario = "counters";
    ari_counters n;
    ari_client_counters(cli, &n);
    CHECK(n.events_received > 20, "events %llu", (unsigned long long)n.events_received);
    CHECK(n.events_invalid == 0, "invalid events %llu", (unsigned long long)n.events_invalid);

    ari_client_stop(cli);
    CHECK(!ari_client_connected(cli), "down after stop");
    ari_client_free(cli);
    q_clear();
    require_sim();
    sim_stop();
    curl_global_cleanup();
    log_shutdown();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        fprintf(stderr, "ari_client_test: all scenarios passed\n");
    return failures ? 1 : 0;
}
