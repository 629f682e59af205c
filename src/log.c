/*
 * One log format for every process, on stderr, with a level filter: a
 * line of text, or a JSON object per line for log shippers. Under
 * systemd, with stderr the journal, text lines carry no time (the journal
 * adds its own) but the level as sd-daemon's "<N>" prefix.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "text.h"
#include "util.h"

#define LINE_MAX_BYTES	8192	/* of a message; the rest is cut */
#define MODULE_MAX	32

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_FORMAT_TEXT;
static int is_journal = -1;	/* -1: not looked at yet */
static const char *const names[] = { "error", "warn", "info", "debug" };
/* sd-daemon(3) priorities: SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
static const int priorities[] = { 3, 4, 6, 7 };

void
log_set_level(enum log_level level)
{
	min_level = level;
}

bool
log_enabled(enum log_level level)
{
	return level <= min_level;
}

void
log_set_format(enum log_format f)
{
	format = f;
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

/*
 * systemd connects a service's stderr to the journal and says so in
 * JOURNAL_STREAM ("DEV:INODE" of that stream); a child whose stderr was
 * sent elsewhere inherits the variable, so the stream itself is compared.
 */
static bool
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	int n = 0;

	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    v[n] != '\0' || fstat(2, &sb) == -1)
		return false;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

char *
log_text(const char *s, size_t max)
{
	size_t len;

	if (s == NULL)
		return xstrdup("-");
	len = strlen(s);
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;	/* on a UTF-8 character's start */
	}
	return text_term_escape(s, len, TEXT_ESC_LINE, NULL);
}

/* "module: job N: ..." or "job N: ...": the parts a JSON line names. */
static void
fields(const char *msg, char *module, size_t modlen, long long *job)
{
	const char *p = msg;
	size_t n = 0;
	char *end;

	*module = '\0';
	*job = 0;
	while (n < modlen - 1 && (islower((unsigned char)p[n]) ||
	    p[n] == '_' || p[n] == '-'))
		n++;
	if (n > 0 && p[n] == ':' && p[n + 1] == ' ' &&
	    strncmp(p, "job", n) != 0) {
		memcpy(module, p, n);
		module[n] = '\0';
		p += n + 2;
	}
	if (strncmp(p, "job ", 4) == 0 && isdigit((unsigned char)p[4])) {
		*job = strtoll(p + 4, &end, 10);
		if (*end != ':' && *end != ' ' && *end != '\0')
			*job = 0;
	}
}

static char *
json_line(const char *when, enum log_level level, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char module[MODULE_MAX], *text;
	long long job;

	fields(msg, module, sizeof(module), &job);
	cJSON_AddStringToObject(o, "time", when);
	cJSON_AddStringToObject(o, "level", names[level]);
	if (*module != '\0')
		cJSON_AddStringToObject(o, "module", module);
	if (job > 0)
		cJSON_AddNumberToObject(o, "job", (double)job);
	cJSON_AddStringToObject(o, "message", msg);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		fatalx(1, "log: out of memory");
	return text;
}

static void vlog(enum log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
vlog(enum log_level level, const char *fmt, va_list ap)
{
	char when[32], *raw, *msg, *line;

	if (level > min_level)
		return;
	if (is_journal == -1)
		is_journal = stderr_is_journal();
	util_time_rfc3339(util_now_ms(), when, sizeof(when));
	raw = xvasprintf(fmt, ap);
	/* One line of text, whatever a forge or an agent put in it. */
	msg = log_text(raw, LINE_MAX_BYTES);
	if (format == LOG_FORMAT_JSON)
		line = json_line(when, level, msg);
	else if (is_journal)
		line = xasprintf("<%d>%s %s", priorities[level], names[level],
		    msg);
	else
		line = xasprintf("%s %s %s", when, names[level], msg);
	/* One write per line so lines from several processes do not
	 * interleave. */
	fprintf(stderr, "%s\n", line);
	free(line);
	free(msg);
	free(raw);
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
