/*
 * The runner's REST client on libcurl's easy interface. Blocking by design:
 * only runner processes call it, never serve's loop. One CURL handle per
 * client keeps the connection to the forge alive between calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "http.h"
#include "json.h"
#include "url.h"
#include "util.h"

#define DEFAULT_CONNECT_TIMEOUT_MS	10000L
#define DEFAULT_TIMEOUT_MS		30000L
#define DEFAULT_MAX_RESPONSE		(8u << 20)
#define DEFAULT_MAX_ATTEMPTS		5
#define DEFAULT_MAX_WAIT_MS		120000
#define DEFAULT_BACKOFF_BASE_MS		500

#define MAX_REDIRECTS		5
#define MAX_USER_AGENT		256
#define MAX_HEADER_LINE		16384	/* installation tokens are ~520 bytes */
#define MAX_NUMBER_HEADER	64	/* Retry-After, x-ratelimit-*, dates */
#define MAX_LOCATION		8192

struct http_client {
	CURL		*curl;
	char		*user_agent;
	long		 connect_timeout_ms;
	long		 timeout_ms;
	size_t		 max_response_bytes;
	int		 max_attempts;
	int64_t		 max_wait_ms;
	int64_t		 backoff_base_ms;
	http_limit_fn	 rate_limit;
	http_observe_fn	 observe;
	void		*observe_arg;
};

/* The body of one answer, bounded while it arrives. */
struct sink {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
	int	 is_over;
};

/* What to do with a complete answer. */
enum verdict {
	FINAL,		/* hand it to the caller */
	RETRY,		/* wait *wait_ms, then again */
	GIVE_UP		/* the wait asked for is longer than we wait */
};

static void
nap(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void (*sleep_fn)(int64_t ms) = nap;

void
http_set_sleep(void (*fn)(int64_t ms))
{
	sleep_fn = fn != NULL ? fn : nap;
}

struct http_client *
http_new(const struct http_opts *opts)
{
	struct http_client *c;
	const char *ua = opts != NULL ? opts->user_agent : NULL;
	size_t i, n;

	if (ua == NULL || (n = strnlen(ua, MAX_USER_AGENT + 1)) == 0 ||
	    n > MAX_USER_AGENT)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((unsigned char)ua[i] < 0x20 || ua[i] == 0x7f)
			return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	c->user_agent = xstrdup(ua);
	c->connect_timeout_ms = opts->connect_timeout_ms > 0 ?
	    opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms :
	    DEFAULT_TIMEOUT_MS;
	c->max_response_bytes = opts->max_response_bytes > 0 ?
	    opts->max_response_bytes : DEFAULT_MAX_RESPONSE;
	c->max_attempts = opts->max_attempts > 0 ? opts->max_attempts :
	    DEFAULT_MAX_ATTEMPTS;
	c->max_wait_ms = opts->max_wait_ms > 0 ? opts->max_wait_ms :
	    DEFAULT_MAX_WAIT_MS;
	c->backoff_base_ms = opts->backoff_base_ms > 0 ?
	    opts->backoff_base_ms : DEFAULT_BACKOFF_BASE_MS;
	c->rate_limit = opts->rate_limit;
	c->observe = opts->observe;
	c->observe_arg = opts->observe_arg;
	return c;
}

void
http_free(struct http_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c->user_agent);
	free(c);
}

void
http_response_clear(struct http_response *r)
{
	if (r == NULL)
		return;
	if (r->json != NULL)
		json_free(r->json);
	free(r->body);
	free(r->location);
	memset(r, 0, sizeof(*r));
}

static size_t
sink_write(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t add = size * n;

	if (add > s->max - s->len) {
		s->is_over = 1;
		return 0;	/* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (s->len + add + 1 > s->cap) {
		s->cap = s->cap ? s->cap : 4096;
		while (s->cap < s->len + add + 1)
			s->cap *= 2;
		s->buf = xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static void
sink_reset(struct sink *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
	s->is_over = 0;
}

/* Methods are our own literals, but a space or newline would forge a line. */
static int
method_ok(const char *m)
{
	size_t n = strnlen(m, 17);

	return n > 0 && n <= 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

/*
 * The request's header list. A line with CR or LF would let a value forge
 * headers of its own, so it is refused; the message names only its index,
 * since the value may be a token.
 */
static struct curl_slist *
build_headers(const char *const *headers, int has_body, char *why,
    size_t whylen)
{
	struct curl_slist *h = NULL, *n;
	const char *line, *colon;
	int has_type = 0, i;

	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		line = headers[i];
		colon = strchr(line, ':');
		if (strnlen(line, MAX_HEADER_LINE + 1) > MAX_HEADER_LINE ||
		    strpbrk(line, "\r\n") != NULL || colon == NULL ||
		    colon == line) {
			snprintf(why, whylen, "request header %d is malformed",
			    i + 1);
			goto fail;
		}
		if ((size_t)(colon - line) == 12 &&
		    strncasecmp(line, "Content-Type", 12) == 0)
			has_type = 1;
		if ((n = curl_slist_append(h, line)) == NULL)
			goto oom;
		h = n;
	}
	if (has_body && !has_type) {
		if ((n = curl_slist_append(h,
		    "Content-Type: application/json")) == NULL)
			goto oom;
		h = n;
	}
	/* No "Expect: 100-continue" round trip before a body. */
	if ((n = curl_slist_append(h, "Expect:")) == NULL)
		goto oom;
	return n;
oom:
	snprintf(why, whylen, "out of memory");
fail:
	curl_slist_free_all(h);
	return NULL;
}

/* Set up the reused handle for one exchange and run it. */
static CURLcode
perform(struct http_client *c, const char *method, const char *url,
    struct curl_slist *h, const char *body, struct sink *sink)
{
	CURL *curl = c->curl;
	CURLcode rc;

	/* Reset keeps the live connections and the DNS and TLS caches. */
	curl_easy_reset(curl);
	sink->max = c->max_response_bytes;
#if LIBCURL_VERSION_NUM >= 0x075500
	rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (rc != CURLE_OK)
		return rc;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	/*
	 * Redirects are followed by http_request itself: a custom
	 * Authorization header is not credentials to libcurl, which would
	 * send it to any host a Location names.
	 */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)c->max_response_bytes);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
	if (strcmp(method, "GET") == 0 && body == NULL)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else {
		/* Always a body, if empty: GitHub wants Content-Length: 0
		 * on a PUT or POST without one. */
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body ? strlen(body) : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	return curl_easy_perform(curl);
}

/* Failures of the exchange itself that another try may not repeat. */
static int
is_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* "connection refused", "timed out": what went wrong, in lower case. */
static void
describe(CURL *curl, CURLcode rc, char *why, size_t whylen)
{
	long oserr = 0;

	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(why, whylen, "timed out");
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(why, whylen, "cannot resolve the host");
		break;
	case CURLE_GOT_NOTHING:
		snprintf(why, whylen, "connection closed without an answer");
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (oserr != 0) {
			snprintf(why, whylen, "%s", strerror((int)oserr));
			break;
		}
		/* FALLTHROUGH */
	default:
		snprintf(why, whylen, "%s", curl_easy_strerror(rc));
		break;
	}
	if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
		why[0] = (char)(why[0] - 'A' + 'a');
}

static const char *
reason_phrase(long status)
{
	static const struct {
		long		 status;
		const char	*text;
	} phrases[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 410, "Gone" }, { 412, "Precondition Failed" },
		{ 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Entity" }, { 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t i;

	for (i = 0; i < nitems(phrases); i++) {
		if (phrases[i].status == status)
			return phrases[i].text;
	}
	return NULL;
}

void
http_status_line(long status, char *buf, size_t len)
{
	const char *phrase = reason_phrase(status);

	if (phrase != NULL)
		snprintf(buf, len, "%ld %s", status, phrase);
	else
		snprintf(buf, len, "%ld", status);
}

/* The last answer's header, bounded, or NULL; valid until the next call. */
static const char *
header(CURL *curl, const char *name, size_t maxlen)
{
	struct curl_header *h;

	if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
	    h->value == NULL || strnlen(h->value, maxlen + 1) > maxlen)
		return NULL;
	return h->value;
}

/* A header of decimal seconds (at most 12 digits, trailing blanks allowed). */
static int
parse_seconds(const char *s, int64_t *out)
{
	size_t n;

	if (s == NULL)
		return -1;
	n = strspn(s, "0123456789");
	if (n == 0 || n > 12 || s[n + strspn(s + n, " \t")] != '\0')
		return -1;
	*out = (int64_t)strtoll(s, NULL, 10);
	return 0;
}

/* Retry-After: seconds, or an HTTP date (RFC 9110 IMF-fixdate). */
static int
retry_after_ms(CURL *curl, int64_t now_ms, int64_t *out)
{
	const char *v = header(curl, "retry-after", MAX_NUMBER_HEADER);
	struct tm tm;
	const char *end;
	int64_t s;

	if (v == NULL)
		return -1;
	if (parse_seconds(v, &s) == 0) {
		*out = s * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*out = (int64_t)timegm(&tm) * 1000 - now_ms;
	if (*out < 0)
		*out = 0;
	return 0;
}

const char *
http_header(struct http_client *c, const char *name, size_t maxlen)
{
	return header(c->curl, name, maxlen);
}

int64_t
http_reset_ms(struct http_client *c, const char *name, int64_t now_ms)
{
	int64_t at, ms;

	if (parse_seconds(header(c->curl, name, MAX_NUMBER_HEADER), &at) == -1)
		return -1;
	ms = at * 1000 - now_ms;
	return ms > 0 ? ms : -1;
}

/* Full jitter: a uniform wait in [0, base * 2^(attempt-1)], capped. */
static int64_t
backoff_ms(const struct http_client *c, int attempt)
{
	int64_t cap = c->backoff_base_ms;
	uint64_t r;
	int i;

	for (i = 1; i < attempt && cap < c->max_wait_ms; i++)
		cap *= 2;
	if (cap > c->max_wait_ms)
		cap = c->max_wait_ms;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return cap / 2;
	return (int64_t)(r % ((uint64_t)cap + 1));
}

/* Whole seconds, rounded up, for messages. */
static long long
secs(int64_t ms)
{
	return (long long)((ms + 999) / 1000);
}

/*
 * Decide on a complete answer that is no redirect: a 5xx waits for
 * Retry-After or backs off; a 403 or 429 is what the forge's rule says
 * (without one, a 403 is final and a 429 waits as a 5xx does).
 */
static enum verdict
judge(struct http_client *c, long status, const struct sink *sink,
    int attempt, int *secondaries, int64_t *wait_ms, bool *is_limit,
    char *why, size_t whylen)
{
	struct http_limit l;
	const char *what = NULL, *how = NULL;
	char line[64];
	int64_t now = util_now_ms(), ra = -1;
	int has_ra;

	if (status != 403 && status != 429 && status < 500)
		return FINAL;
	http_status_line(status, line, sizeof(line));
	has_ra = retry_after_ms(c->curl, now, &ra) == 0;
	if (status >= 500) {
		snprintf(why, whylen, "%s", line);
		if (has_ra) {
			*wait_ms = ra;
			what = line;
			how = "retry after";
		} else
			*wait_ms = backoff_ms(c, attempt);
	} else {
		memset(&l, 0, sizeof(l));
		l.client = c;
		l.status = status;
		l.body = sink->buf;
		l.now_ms = now;
		l.retry_after_ms = has_ra ? ra : -1;
		l.max_wait_ms = c->max_wait_ms;
		l.secondaries = secondaries;
		if (c->rate_limit == NULL || c->rate_limit(&l) == 0) {
			if (status == 403)
				return FINAL;
			l.label = "";
			l.what = "rate limited";
			l.how = "retry after";
			l.wait_ms = l.retry_after_ms;
		}
		*is_limit = true;
		snprintf(why, whylen, "%s%s", line, l.label);
		if (l.wait_ms < 0)
			*wait_ms = backoff_ms(c, attempt);
		else {
			*wait_ms = l.wait_ms;
			what = l.what;
			how = l.how;
		}
	}
	/* Backoff is capped; a wait the forge asks for is not ours to cut. */
	if (what != NULL && *wait_ms > c->max_wait_ms) {
		if (c->max_wait_ms % 1000 == 0)
			snprintf(why, whylen, "%s; %s %lld s is longer than the "
			    "%lld s this client waits", what, how,
			    secs(*wait_ms), (long long)(c->max_wait_ms / 1000));
		else
			snprintf(why, whylen, "%s; %s %lld s is longer than the "
			    "%lld ms this client waits", what, how,
			    secs(*wait_ms), (long long)c->max_wait_ms);
		return GIVE_UP;
	}
	return RETRY;
}

static int
is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

/*
 * A redirect to follow: 1 with the target in *next (caller frees), 0 when
 * the answer is no redirect, -1 with the reason in why when it is one we
 * do not follow (another scheme, host or port; too many). With
 * HTTP_REDIRECT_ANSWER, one to another origin is no redirect: the answer.
 */
static int
redirect(struct http_client *c, const char *cur, long status, int flags,
    int *redirects, char **next, char *why, size_t whylen)
{
	const char *target = NULL;
	char *host;

	if (!is_redirect(status) || curl_easy_getinfo(c->curl,
	    CURLINFO_REDIRECT_URL, &target) != CURLE_OK || target == NULL)
		return 0;
	if (strnlen(target, MAX_LOCATION + 1) > MAX_LOCATION) {
		snprintf(why, whylen, "%ld redirect to a URL longer than %d "
		    "bytes", status, MAX_LOCATION);
		return -1;
	}
	if (!url_same_origin(cur, target, &host)) {
		if (flags & HTTP_REDIRECT_ANSWER) {
			free(host);
			return 0;
		}
		snprintf(why, whylen, "%ld redirect to another host (%s), not "
		    "followed", status, host);
		free(host);
		return -1;
	}
	if (++*redirects > MAX_REDIRECTS) {
		snprintf(why, whylen, "more than %d redirects", MAX_REDIRECTS);
		return -1;
	}
	*next = xstrdup(target);
	return 1;
}

/* Hand the answer over: the body, its JSON when it looks like JSON. */
static void
fill(struct http_client *c, long status, struct sink *sink,
    struct http_response *resp)
{
	const char *loc, *p;

	resp->status = status;
	resp->body = sink->buf;
	resp->len = sink->len;
	sink->buf = NULL;
	sink_reset(sink);
	if ((loc = header(c->curl, "location", MAX_LOCATION)) != NULL)
		resp->location = xstrdup(loc);
	if (resp->body == NULL)
		return;
	p = resp->body + strspn(resp->body, " \t\r\n");
	if (*p == '{' || *p == '[')
		resp->json = json_parse(resp->body, resp->len, JSON_MAX_DEPTH);
}

/* Tell the observer of one exchange: its status (0: none), and whether
 * another attempt follows after wait_ms. */
static void
tell(struct http_client *c, long status, bool is_retried, bool is_limit,
    int64_t wait_ms)
{
	struct http_note n = { status, is_retried, is_retried && is_limit,
	    is_retried ? wait_ms : 0 };

	if (c->observe != NULL)
		c->observe(c->observe_arg, &n);
}

int
http_request(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const char *body, struct http_response *resp,
    char *err, size_t errlen)
{
	return http_request_with(c, method, url, headers, body, 0, resp, err,
	    errlen);
}

int
http_request_with(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const char *body, int flags,
    struct http_response *resp, char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	struct sink sink = { 0 };
	char why[256], *shown, *cur = NULL, *next;
	int attempt = 0, redirects = 0, secondaries = 0, rc = -1;
	int64_t wait = 0;
	long status = 0;
	bool is_limit;
	CURLcode cc;

	memset(resp, 0, sizeof(*resp));
	shown = url_display(url);
	if (!method_ok(method)) {
		snprintf(err, errlen, "%.16s %s: not an HTTP method", method,
		    shown);
		goto out;
	}
	if ((h = build_headers(headers, body != NULL, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s %s: %s", method, shown, why);
		goto out;
	}
	cur = xstrdup(url);
	for (;;) {
		attempt++;
		is_limit = false;
		status = 0;
		sink_reset(&sink);
		cc = perform(c, method, cur, h, body, &sink);
		if (sink.is_over || cc == CURLE_FILESIZE_EXCEEDED) {
			tell(c, 0, false, false, 0);
			snprintf(err, errlen, "%s %s: answer larger than %zu "
			    "bytes", method, shown, c->max_response_bytes);
			goto out;
		}
		if (cc != CURLE_OK) {
			describe(c->curl, cc, why, sizeof(why));
			if (!is_transient(cc)) {
				tell(c, 0, false, false, 0);
				snprintf(err, errlen, "%s %s: %s", method,
				    shown, why);
				goto out;
			}
			wait = backoff_ms(c, attempt);
		} else {
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
			    &status);
			switch (redirect(c, cur, status, flags, &redirects, &next,
			    why, sizeof(why))) {
			case -1:
				tell(c, status, false, false, 0);
				snprintf(err, errlen, "%s %s: %s", method,
				    shown, why);
				goto out;
			case 1:
				tell(c, status, false, false, 0);
				/* GitHub: repeat the request at Location;
				 * only 303 means "now GET it". */
				if (status == 303) {
					method = "GET";
					body = NULL;
				}
				free(cur);
				cur = next;
				attempt--;
				continue;
			}
			switch (judge(c, status, &sink, attempt, &secondaries,
			    &wait, &is_limit, why, sizeof(why))) {
			case FINAL:
				tell(c, status, false, false, 0);
				fill(c, status, &sink, resp);
				rc = 0;
				goto out;
			case GIVE_UP:
				tell(c, status, false, false, 0);
				snprintf(err, errlen, "%s %s: %s", method,
				    shown, why);
				goto out;
			case RETRY:
				break;
			}
		}
		tell(c, status, attempt < c->max_attempts, is_limit, wait);
		if (attempt >= c->max_attempts) {
			snprintf(err, errlen, "%s %s: %s after %d attempt%s",
			    method, shown, why, attempt,
			    attempt == 1 ? "" : "s");
			goto out;
		}
		sleep_fn(wait);
	}
out:
	sink_reset(&sink);
	curl_slist_free_all(h);
	free(cur);
	free(shown);
	return rc;
}
