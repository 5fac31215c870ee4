/*
 * log: JSON lines. The message is escaped by hand (no jansson here) so that
 * logging never allocates on the heap and works from any thread.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static struct {
    char service[32];
    log_level min;
    int combined_fd;
    int error_fd;
    char combined_path[512];
    char error_path[512];
} log_state = {"cs", LOG_INFO, -1, -1, "", ""};

static _Thread_local char ctx_request_id[64];
static _Thread_local char ctx_user_id[64];

static int log__open(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int log_init(const char *service, log_level min_level, const char *dir)
{
    int rc = 0;
    snprintf(log_state.service, sizeof log_state.service, "%s", service ? service : "cs");
    log_state.min = min_level;
    if (dir && *dir) {
        mkdir(dir, 0755);
        snprintf(log_state.combined_path, sizeof log_state.combined_path, "%s/combined.log", dir);
        snprintf(log_state.error_path, sizeof log_state.error_path, "%s/error.log", dir);
        log_state.combined_fd = log__open(log_state.combined_path);
        log_state.error_fd = log__open(log_state.error_path);
        if (log_state.combined_fd < 0 || log_state.error_fd < 0)
            rc = -1;
    }
    return rc;
}

/* path opened again onto fd's descriptor (close-on-exec, like the
 * first). NULL, or why not (fd kept as it was): the file was never opened
 * (log_init failed for it), or the system's error. */
static const char *log__reopen_one(const char *path, int fd)
{
    const char *why = NULL;
    int nfd;
    if (!path[0])
        return NULL;
    if (fd < 0)
        return "it was never opened";
    nfd = log__open(path);
    if (nfd < 0 || dup2(nfd, fd) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        why = strerror(errno);
    if (nfd >= 0)
        close(nfd);
    return why;
}

int log_reopen(const char *why)
{
    const char *paths[] = {log_state.combined_path, log_state.error_path};
    const int fds[] = {log_state.combined_fd, log_state.error_fd};
    int rc = 0;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        const char *err = log__reopen_one(paths[i], fds[i]);
        if (err) {
            log_error("%s: %s not opened again: %s", why, paths[i], err);
            rc = -1;
        }
    }
    if (rc == 0)
        log_info("%s: log files opened again", why);
    return rc;
}

void log_shutdown(void)
{
    if (log_state.combined_fd >= 0)
        close(log_state.combined_fd);
    if (log_state.error_fd >= 0)
        close(log_state.error_fd);
    log_state.combined_fd = log_state.error_fd = -1;
}

int log_level_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int log_enabled(log_level level)
{
    return level >= log_state.min;
}

void log_set_context(const char *request_id, const char *user_id)
{
    snprintf(ctx_request_id, sizeof ctx_request_id, "%s", request_id ? request_id : "");
    snprintf(ctx_user_id, sizeof ctx_user_id, "%s", user_id ? user_id : "");
}

void log_clear_context(void)
{
    ctx_request_id[0] = ctx_user_id[0] = '\0';
}

/* Appends s to buf[*len..cap) as JSON string content; truncates safely. */
static void log__escape(char *buf, size_t *len, size_t cap, const char *s)
{
    for (; *s && *len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)c;
        } else if (c < 0x20) {
            snprintf(buf + *len, cap - *len, "\\u%04x", c);
            *len += 6;
        } else {
            buf[(*len)++] = (char)c;
        }
    }
}

static void log__append(char *buf, size_t *len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + 1 >= cap)
        return;
    if (*len + n >= cap)
        n = cap - *len - 1;
    memcpy(buf + *len, s, n);
    *len += n;
}

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
    char msg[2048], out[4096], ts[40], site[128];
    size_t len = 0;
    struct timespec now;
    struct tm tm;
    va_list ap;
    int saved_errno = errno;

    if (level < log_state.min)
        goto out;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    const char *base = strrchr(file, '/');
    snprintf(site, sizeof site, "%s:%d", base ? base + 1 : file, line);

    len = (size_t)snprintf(
        out, sizeof out, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":\"%s\",\"site\":\"",
        ts, now.tv_nsec / 1000000, level_names[level], log_state.service);
    if (len >= sizeof out)
        len = sizeof out - 1;
    log__escape(out, &len, sizeof out, site);
    log__append(out, &len, sizeof out, "\"");
    if (ctx_request_id[0]) {
        log__append(out, &len, sizeof out, ",\"request_id\":\"");
        log__escape(out, &len, sizeof out, ctx_request_id);
        log__append(out, &len, sizeof out, "\"");
    }
    if (ctx_user_id[0]) {
        log__append(out, &len, sizeof out, ",\"user_id\":\"");
        log__escape(out, &len, sizeof out, ctx_user_id);
        log__append(out, &len, sizeof out, "\"");
    }
    log__append(out, &len, sizeof out, ",\"msg\":\"");
    log__escape(out, &len, sizeof out, msg);
    log__append(out, &len, sizeof out, "\"}\n");

    /* One write per file keeps lines whole across threads. */
    if (write(STDERR_FILENO, out, len) < 0) {
        /* nothing sensible to do */
    }
    if (log_state.combined_fd >= 0 && write(log_state.combined_fd, out, len) < 0) {
    }
    if (level >= LOG_WARN && log_state.error_fd >= 0 && write(log_state.error_fd, out, len) < 0) {
    }
out:
    errno = saved_errno;
}
