/*
 * One log format for every process: "2026-11-24T23:51:10Z level module: text"
 * on stderr. Secrets are never passed here; see config.h's struct secret.
 */
#ifndef HANDOFF_LOG_H
#define HANDOFF_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the lowest level printed (default LOG_INFO). */
void log_set_level(enum log_level level);
/* Parse "error", "warn", "info", "debug". Returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up failure: log and exit with status (1 runtime, 2 configuration). */
void fatalx(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
