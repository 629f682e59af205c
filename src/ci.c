/*
 * Failed CI for the agent: texts bounded and cleaned, logs' tails without
 * terminal escapes (a pull request's CI output is anyone's text).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"
#include "http.h"
#include "text.h"
#include "util.h"

#define ESC		0x1b
#define LOG_TIMEOUT_MS	60000
#define USER_AGENT	"handoff/" HANDOFF_VERSION

/* The length of s cut to at most max bytes on a UTF-8 character
 * boundary. */
static size_t
boundary(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

char *
ci_text(const char *s, size_t n, size_t max)
{
	char *clean, *out;

	/* Each byte cleans to at most three: no more is needed. */
	if (n > max)
		n = max;
	clean = text_clean(s ? s : "", s ? n : 0);
	out = xstrndup(clean, boundary(clean, strlen(clean), max));
	free(clean);
	return out;
}

/* The length of the escape sequence at s (s[0] is ESC): CSI "ESC [ params
 * final", OSC and the other strings ending in BEL or "ESC \", else ESC
 * and one more byte. */
static size_t
escape_len(const char *s, size_t n)
{
	size_t i;

	if (n < 2)
		return n;
	if (s[1] == '[') {
		for (i = 2; i < n; i++)
			if ((unsigned char)s[i] >= 0x40 &&
			    (unsigned char)s[i] <= 0x7e)
				return i + 1;
		return n;
	}
	if (s[1] == ']' || s[1] == 'P' || s[1] == '_' || s[1] == '^' ||
	    s[1] == 'X') {
		for (i = 2; i < n; i++) {
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == ESC && i + 1 < n && s[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

/* s without its escape sequences, and a carriage return that is not
 * before a newline read as a newline (a progress bar's redraws become
 * lines). */
static char *
unescaped(const char *s, size_t n, size_t *outlen)
{
	char *out = xmalloc(n + 1);
	size_t i = 0, o = 0;

	while (i < n) {
		if (s[i] == ESC) {
			i += escape_len(s + i, n - i);
			continue;
		}
		if (s[i] == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				out[o++] = '\n';
			i++;
			continue;
		}
		out[o++] = s[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
ci_log_tail(const char *s, size_t n)
{
	const char *start, *nl;
	char *plain, *clean, *out;
	size_t len, lines = 0, i;

	/* More than is kept, enough for escapes and cleaning's growth. */
	if (n > 4 * CI_LOG_BYTES) {
		s += n - 4 * CI_LOG_BYTES;
		n = 4 * CI_LOG_BYTES;
		/* From a line's start, where there is one. */
		for (i = 0; i < n && s[i] != '\n'; i++)
			;
		if (i < n) {
			s += i + 1;
			n -= i + 1;
		}
	}
	plain = unescaped(s, n, &len);
	clean = text_clean(plain, len);
	free(plain);
	len = strlen(clean);
	while (len > 0 && clean[len - 1] == '\n')
		clean[--len] = '\0';
	/* The last CI_LOG_LINES lines ... */
	start = clean;
	for (i = len; i > 0; i--)
		if (clean[i - 1] == '\n' && ++lines == CI_LOG_LINES) {
			start = clean + i;
			break;
		}
	/* ... and at most CI_LOG_BYTES of them, from a line's start, or
	 * from a character's in a line that long. */
	if ((size_t)(clean + len - start) > CI_LOG_BYTES) {
		start = clean + len - CI_LOG_BYTES;
		if ((nl = strchr(start, '\n')) != NULL)
			start = nl + 1;
		else
			while (((unsigned char)*start & 0xc0) == 0x80)
				start++;
	}
	out = xstrdup(start);
	free(clean);
	return out;
}

void
ci_add_text(cJSON *o, const char *key, const char *s, size_t max)
{
	char *t;

	if (s == NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	t = ci_text(s, strlen(s), max);
	cJSON_AddStringToObject(o, key, t);
	free(t);
}

/* The size of o as JSON. */
static size_t
json_size(const cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	size_t n = s ? strlen(s) : 0;

	cJSON_free(s);
	return n;
}

void
ci_append(cJSON *list, cJSON *check)
{
	static const char *const bulky[] = { "text", "summary", "log",
	    "annotations" };
	size_t i;

	if (json_size(list) + json_size(check) > CI_SECTION_MAX) {
		for (i = 0; i < nitems(bulky); i++)
			cJSON_DeleteItemFromObjectCaseSensitive(check,
			    bulky[i]);
		cJSON_AddBoolToObject(check, "shortened", 1);
	}
	cJSON_AddItemToArray(list, check);
}

/* GET url with no token and nothing of the forge's: a log's download
 * URL on another host. */
static int
download(const char *url, struct http_response *resp, char *err,
    size_t errlen)
{
	struct http_opts opts = { 0 };
	struct http_client *c;
	int rc;

	opts.user_agent = USER_AGENT;
	opts.max_response_bytes = CI_LOG_FETCH_MAX;
	opts.timeout_ms = LOG_TIMEOUT_MS;
	opts.max_attempts = 2;
	if ((c = http_new(&opts)) == NULL) {
		snprintf(err, errlen, "cannot start an HTTP client");
		return -1;
	}
	rc = http_request(c, "GET", url, NULL, NULL, resp, err, errlen);
	http_free(c);
	return rc;
}

void
ci_fetch_log(struct http_client *c, const char *url,
    const char *const *headers, cJSON *check)
{
	struct http_response resp = { 0 };
	char err[512], line[64], *note = NULL, *tail, *to;
	int rc;

	rc = http_request_with(c, "GET", url, headers, NULL,
	    HTTP_REDIRECT_ANSWER, &resp, err, sizeof(err));
	if (rc == 0 && resp.status >= 300 && resp.status < 400 &&
	    resp.location != NULL) {
		to = xstrdup(resp.location);
		http_response_clear(&resp);
		rc = download(to, &resp, err, sizeof(err));
		free(to);
	}
	/* Not err: a download URL's query may be its signature. */
	if (rc == -1)
		note = xasprintf("the log could not be fetched (no answer, or one"
		    " larger than %d MiB)", CI_LOG_FETCH_MAX / (1024 * 1024));
	else if (resp.status != 200) {
		http_status_line(resp.status, line, sizeof(line));
		note = xasprintf("the log could not be fetched (%s)", line);
	} else {
		tail = ci_log_tail(resp.body ? resp.body : "", resp.len);
		cJSON_AddStringToObject(check, "log", tail);
		free(tail);
	}
	if (note) {
		cJSON_AddStringToObject(check, "log_note", note);
		free(note);
	}
	http_response_clear(&resp);
}
