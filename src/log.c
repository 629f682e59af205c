/*
 * One log format for every process, on stderr, with a level filter.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static enum log_level min_level = LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	min_level = level;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return (size_t)level < nitems(names) ? names[level] : "?";
}

static void vlog(enum log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
vlog(enum log_level level, const char *fmt, va_list ap)
{
	char when[32], *msg;

	if (level > min_level)
		return;
	util_time_rfc3339(util_now_ms(), when, sizeof(when));
	msg = xvasprintf(fmt, ap);
	/* One write per line so lines from several processes do not interleave. */
	fprintf(stderr, "%s %s %s\n", when, names[level], msg);
	free(msg);
}

#define LOGFN(fn, level)				\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(level, fmt, ap);				\
	va_end(ap);					\
}
LOGFN(log_error, LOG_ERROR)
LOGFN(log_warn, LOG_WARN)
LOGFN(log_info, LOG_INFO)
LOGFN(log_debug, LOG_DEBUG)

void
fatalx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(status);
}
