/*
 * log: one JSON object a line, level-gated, with the call site and the
 * identity of the request being served (request id, user id), kept per
 * thread. Written to stderr and, when a directory is given, appended to
 * <dir>/combined.log and (warn and error) <dir>/error.log, as the seed did.
 *
 * Thread-safe: each line is written with one write(2) per file.
 * Ownership: the strings passed in are copied; nothing to free.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* service: "callsvc", "callgw", ...; dir may be NULL (stderr only).
 * Returns 0, or -1 if the directory's files cannot be opened (stderr still works). */
int log_init(const char *service, log_level min_level, const char *dir);
void log_shutdown(void);
/* Opens the directory's files again (after logrotate has moved them):
 * each new file takes the old one's descriptor (dup2), so a line is
 * written whole to one file or the other. Logs the outcome, "<why>: log
 * files opened again" or why not. Returns 0 (also with no directory), or
 * -1 if a file cannot be opened (that one keeps the old). */
int log_reopen(const char *why);
/* "debug", "info", "warn" or "error"; -1 for anything else. */
int log_level_parse(const char *s);
int log_enabled(log_level level);

/* Identity of the request this thread is serving; NULL clears a field. */
void log_set_context(const char *request_id, const char *user_id);
void log_clear_context(void);

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
