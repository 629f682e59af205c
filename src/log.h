/*
 * One log format for every process: "2026-11-24T23:51:10Z level module: text"
 * on stderr, or a JSON object a line ([server] log_format = json); a line
 * is one line of text (controls escaped) of at most 8 KiB. Secrets are
 * never passed here; see config.h's struct secret.
 */
#ifndef HANDOFF_LOG_H
#define HANDOFF_LOG_H

#include <stdbool.h>

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
/* In the order of config.c's names for [server] log_format. */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Set the lowest level printed (default LOG_INFO). */
void log_set_level(enum log_level level);
/* Whether lines of level are printed: a caller skips making one that is
 * not. */
bool log_enabled(enum log_level level);
/* Parse "error", "warn", "info", "debug". Returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
/* Text lines (default) or JSON lines: time, level, module, job, message. */
void log_set_format(enum log_format format);
/* Forge text (a title, a login) for a log line: at most max bytes (cut on
 * a character), controls escaped, "-" for NULL. Caller frees. */
char *log_text(const char *s, size_t max);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up failure: log and exit with status (1 runtime, 2 configuration). */
void fatalx(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
