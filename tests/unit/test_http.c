/*
 * http.c against an in-process HTTP/1.1 server on 127.0.0.1 that answers
 * from a script (an answer, a dropped connection, a stall) and records
 * every request. Waits between attempts go through a hook, not sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "forge.h"
#include "forge_impl.h"
#include "http.h"
#include "json.h"
#include "tap.h"
#include "url.h"
#include "util.h"

#define MAX_STEPS	16
#define MAX_REQUESTS	32
#define MAX_WAITS	32
#define MAX_REQUEST	(1u << 20)

#define AUTH		"Authorization: Bearer sekrit-token-123"
#define SECRET		"sekrit"
#define UA		"handoff-test/0.1"

enum step_kind {
	ANSWER,		/* write raw, close after "Connection: close" */
	DROP,		/* close without answering */
	STALL		/* answer nothing until the client gives up */
};

struct step {
	enum step_kind	 kind;
	char		*raw;
};

static struct {
	pthread_mutex_t	 mu;
	pthread_t	 thread;
	int		 lfd;
	int		 stop[2];
	int		 port;
	struct step	 steps[MAX_STEPS];
	int		 nsteps, next;
	char		*requests[MAX_REQUESTS];
	int		 nrequests;
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int64_t waits[MAX_WAITS];
static int nwaits;

static void
record_sleep(int64_t ms)
{
	if (nwaits < MAX_WAITS)
		waits[nwaits++] = ms;
}

/* One request: headers, then Content-Length bytes of body. NULL at EOF. */
static char *
read_request(int fd)
{
	size_t len = 0, cap = 8192, need = 0, hdrlen;
	char *buf = xmalloc(cap + 1), *end, *cl;
	ssize_t n;

	for (;;) {
		if (len == cap) {
			if (cap >= MAX_REQUEST)
				goto fail;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		if ((n = recv(fd, buf + len, cap - len, 0)) <= 0)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		if (need == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			hdrlen = (size_t)(end + 4 - buf);
			need = hdrlen;
			*end = '\0';
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL)
				need += strtoul(cl + 17, NULL, 10);
			*end = '\r';
		}
		if (need != 0 && len >= need)
			return buf;
	}
fail:
	free(buf);
	return NULL;
}

static void
send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0 && (n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

static void *
server_main(void *arg)
{
	struct pollfd pfd[3];
	struct step step;
	char *req;
	int cfd = -1, nfd, n;

	for (;;) {
		pfd[0].fd = srv.stop[0];
		pfd[1].fd = srv.lfd;
		pfd[2].fd = cfd;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		n = cfd >= 0 ? 3 : 2;
		if (poll(pfd, (nfds_t)n, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		/* A new connection means the client gave up the old one. */
		if (pfd[1].revents & POLLIN) {
			if ((nfd = accept4(srv.lfd, NULL, NULL,
			    SOCK_CLOEXEC)) >= 0) {
				if (cfd >= 0)
					close(cfd);
				cfd = nfd;
			}
			continue;
		}
		if (n < 3 || pfd[2].revents == 0)
			continue;
		if ((req = read_request(cfd)) == NULL) {
			close(cfd);
			cfd = -1;
			continue;
		}
		pthread_mutex_lock(&srv.mu);
		if (srv.nrequests < MAX_REQUESTS)
			srv.requests[srv.nrequests++] = req;
		else
			free(req);
		/* A copy: the test may reset the script once it has its
		 * answer, while this thread still sends. */
		if (srv.next < srv.nsteps) {
			step = srv.steps[srv.next++];
			if (step.raw != NULL)
				step.raw = xstrdup(step.raw);
		} else {
			step.kind = ANSWER;
			step.raw = xstrdup("HTTP/1.1 599 Out Of Script\r\n"
			    "Content-Length: 0\r\n\r\n");
		}
		pthread_mutex_unlock(&srv.mu);
		switch (step.kind) {
		case ANSWER:
			send_all(cfd, step.raw, strlen(step.raw));
			if (strcasestr(step.raw, "\r\nConnection: close") ==
			    NULL)
				break;
			/* FALLTHROUGH */
		case DROP:
			close(cfd);
			cfd = -1;
			break;
		case STALL:
			/* Until the client closes, or 10 s. */
			pfd[0].fd = cfd;
			pfd[0].events = POLLIN;
			(void)poll(pfd, 1, 10000);
			close(cfd);
			cfd = -1;
			break;
		}
		free(step.raw);
	}
	if (cfd >= 0)
		close(cfd);
	return NULL;
}

static void
server_start(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (srv.lfd == -1 ||
	    bind(srv.lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(srv.lfd, 16) == -1 ||
	    getsockname(srv.lfd, (struct sockaddr *)&sin, &slen) == -1 ||
	    pipe2(srv.stop, O_CLOEXEC) == -1) {
		printf("Bail out! cannot listen on 127.0.0.1\n");
		exit(1);
	}
	srv.port = ntohs(sin.sin_port);
	if (pthread_create(&srv.thread, NULL, server_main, NULL) != 0) {
		printf("Bail out! cannot start the server thread\n");
		exit(1);
	}
}

static void
reset(void)
{
	int i;

	pthread_mutex_lock(&srv.mu);
	for (i = 0; i < srv.nsteps; i++)
		free(srv.steps[i].raw);
	for (i = 0; i < srv.nrequests; i++)
		free(srv.requests[i]);
	srv.nsteps = srv.next = srv.nrequests = 0;
	pthread_mutex_unlock(&srv.mu);
	nwaits = 0;
}

static void
server_stop(void)
{
	(void)!write(srv.stop[1], "x", 1);
	pthread_join(srv.thread, NULL);
	reset();
	close(srv.lfd);
	close(srv.stop[0]);
	close(srv.stop[1]);
}

static void
script(enum step_kind kind, char *raw)
{
	pthread_mutex_lock(&srv.mu);
	if (srv.nsteps < MAX_STEPS) {
		srv.steps[srv.nsteps].kind = kind;
		srv.steps[srv.nsteps++].raw = raw;
	} else
		free(raw);
	pthread_mutex_unlock(&srv.mu);
}

/* An answer with its Content-Length; headers end in "\r\n" each. */
static void
answer(const char *status, const char *headers, const char *body)
{
	script(ANSWER, xasprintf("HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n%s",
	    status, headers, strlen(body), body));
}

static int
nrequests(void)
{
	int n;

	pthread_mutex_lock(&srv.mu);
	n = srv.nrequests;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

/* Whether request i holds s. */
static int
request_has(int i, const char *s)
{
	int has;

	pthread_mutex_lock(&srv.mu);
	has = i < srv.nrequests && strstr(srv.requests[i], s) != NULL;
	pthread_mutex_unlock(&srv.mu);
	return has;
}

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", srv.port, path);
}

static struct http_client *
client(int max_attempts, int64_t max_wait_ms, long timeout_ms,
    size_t max_response_bytes)
{
	struct http_opts o = { 0 };

	o.user_agent = UA;
	o.max_attempts = max_attempts;
	o.max_wait_ms = max_wait_ms;
	o.timeout_ms = timeout_ms;
	o.max_response_bytes = max_response_bytes;
	o.backoff_base_ms = 100;
	o.rate_limit = forge_rate_limit;
	return http_new(&o);
}

static const char *const hdrs[] = {
	"Accept: application/vnd.github+json",
	AUTH,
	NULL
};

/* One request through a fresh client; the answer in *resp, rc returned. */
static int
run(struct http_client *c, const char *method, const char *path,
    const char *body, struct http_response *resp, char *err, size_t errlen)
{
	char *u = url(path);
	int rc;

	err[0] = '\0';
	rc = http_request(c, method, u, hdrs, body, resp, err, errlen);
	free(u);
	return rc;
}

static void
test_success(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], *msg;

	reset();
	answer("201 Created", "Content-Type: application/json; charset=utf-8\r\n"
	    "Location: https://api.github.com/repos/o/r/pulls/7\r\n",
	    "{\"number\":7,\"html_url\":\"https://github.com/o/r/pull/7\"}");
	is_int(run(c, "POST", "/repos/o/r/pulls", "{\"title\":\"t\"}", &r, err,
	    sizeof(err)), 0, "success: 0");
	is_int(r.status, 201, "success: status");
	ok(r.json != NULL, "success: JSON parsed");
	is_int(json_int(r.json, "number", 0), 7, "success: number");
	is_str(r.location, "https://api.github.com/repos/o/r/pulls/7",
	    "success: Location kept");
	is_int(nrequests(), 1, "success: one request");
	ok(request_has(0, "POST /repos/o/r/pulls HTTP/1.1\r\n"),
	    "success: method and path");
	ok(request_has(0, "\r\nUser-Agent: " UA "\r\n"), "success: User-Agent sent");
	ok(request_has(0, "\r\n" AUTH "\r\n"), "success: Authorization sent");
	ok(request_has(0, "\r\nContent-Type: application/json\r\n"),
	    "success: JSON content type added");
	ok(request_has(0, "\r\n\r\n{\"title\":\"t\"}"), "success: body sent");
	ok(!request_has(0, "Expect:"), "success: no Expect header");
	msg = forge_error_message(&r);
	is_str(msg, "201 Created", "error message: status line without JSON "
	    "words");
	free(msg);
	http_response_clear(&r);
	ok(r.body == NULL && r.json == NULL && r.location == NULL &&
	    r.status == 0, "clear: response zeroed");

	/* The connection is kept: the next request rides on it. */
	answer("200 OK", "", "[1,2,3]");
	is_int(run(c, "PATCH", "/repos/o/r/pulls/7", "{}", &r, err,
	    sizeof(err)), 0, "patch: 0");
	ok(cJSON_IsArray(r.json) && cJSON_GetArraySize(r.json) == 3,
	    "patch: array parsed");
	ok(request_has(1, "PATCH /repos/o/r/pulls/7 HTTP/1.1\r\n"),
	    "patch: method");
	http_response_clear(&r);

	answer("200 OK", "Content-Type: text/plain\r\n", "hello");
	is_int(run(c, "GET", "/text", NULL, &r, err, sizeof(err)), 0,
	    "text: 0");
	ok(r.json == NULL && r.len == 5 && strcmp(r.body, "hello") == 0,
	    "text: body kept, no JSON");
	ok(request_has(2, "GET /text HTTP/1.1\r\n") &&
	    !request_has(2, "Content-Length"), "text: GET without a body");
	http_response_clear(&r);

	answer("204 No Content", "", "");
	is_int(run(c, "PUT", "/empty", NULL, &r, err, sizeof(err)), 0,
	    "empty PUT: 0");
	ok(request_has(3, "PUT /empty HTTP/1.1\r\n") &&
	    request_has(3, "\r\nContent-Length: 0\r\n"),
	    "empty PUT: Content-Length: 0");
	ok(r.body == NULL && r.len == 0 && r.json == NULL,
	    "empty PUT: no body");
	http_response_clear(&r);
	is_int(nwaits, 0, "success: no waits");
	http_free(c);
}

static void
test_retry_5xx(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], *want;

	reset();
	answer("500 Internal Server Error", "", "oops");
	answer("502 Bad Gateway", "", "<html>bad</html>");
	answer("200 OK", "", "{\"ok\":true}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "5xx: succeeds in the end");
	is_int(r.status, 200, "5xx: final status");
	is_int(nrequests(), 3, "5xx: three requests");
	is_int(nwaits, 2, "5xx: two waits");
	ok(waits[0] >= 0 && waits[0] <= 100, "5xx: first backoff <= base "
	    "(%lld)", (long long)waits[0]);
	ok(waits[1] >= 0 && waits[1] <= 200, "5xx: second backoff <= 2 base "
	    "(%lld)", (long long)waits[1]);
	http_response_clear(&r);
	http_free(c);

	reset();
	c = client(3, 0, 0, 0);
	answer("502 Bad Gateway", "", "");
	answer("502 Bad Gateway", "", "");
	answer("502 Bad Gateway", "", "");
	is_int(run(c, "POST", "/repos/o/r/pulls", "{}", &r, err, sizeof(err)),
	    -1, "5xx: gives up");
	want = url("/repos/o/r/pulls");
	{
		char *full = xasprintf("POST %s: 502 Bad Gateway after 3 "
		    "attempts", want);

		is_str(err, full, "5xx: error names method, URL, status, "
		    "attempts");
		free(full);
	}
	free(want);
	is_int(nrequests(), 3, "5xx: max_attempts requests");
	is_int(nwaits, 2, "5xx: no wait after the last attempt");
	ok(r.body == NULL && r.status == 0, "5xx: response left empty");
	ok(strstr(err, SECRET) == NULL, "5xx: no token in err");
	http_free(c);

	/* A 503 that says when: Retry-After is followed. */
	reset();
	c = client(0, 0, 0, 0);
	answer("503 Service Unavailable", "Retry-After: 2\r\n", "");
	answer("200 OK", "", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "503 Retry-After: succeeds");
	is_int(nwaits, 1, "503 Retry-After: one wait");
	is_int(waits[0], 2000, "503 Retry-After: 2000 ms");
	http_response_clear(&r);
	http_free(c);
}

static void
test_429(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], date[64], *h;
	time_t t;
	struct tm tm;

	reset();
	answer("429 Too Many Requests", "Retry-After: 1\r\n", "{}");
	answer("200 OK", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "429 Retry-After: succeeds");
	is_int(nrequests(), 2, "429 Retry-After: two requests");
	is_int(nwaits, 1, "429 Retry-After: one wait");
	is_int(waits[0], 1000, "429 Retry-After: 1 waits 1000 ms");
	http_response_clear(&r);

	/* Retry-After as an HTTP date. */
	reset();
	t = time(NULL) + 3;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	h = xasprintf("Retry-After: %s\r\n", date);
	answer("429 Too Many Requests", h, "");
	free(h);
	answer("200 OK", "", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "429 Retry-After date: succeeds");
	ok(nwaits == 1 && waits[0] > 1500 && waits[0] <= 3000,
	    "429 Retry-After date: waits until then (%lld ms)",
	    nwaits ? (long long)waits[0] : -1LL);
	http_response_clear(&r);

	/* GitLab: RateLimit-Reset, an epoch second. */
	reset();
	h = xasprintf("RateLimit-Name: throttle_authenticated_api\r\n"
	    "RateLimit-Remaining: 0\r\nRateLimit-Reset: %lld\r\n",
	    (long long)time(NULL) + 2);
	answer("429 Too Many Requests", h, "Retry later\n");
	free(h);
	answer("200 OK", "", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "gitlab RateLimit-Reset: succeeds");
	ok(nwaits == 1 && waits[0] > 900 && waits[0] <= 2000,
	    "gitlab RateLimit-Reset: waits until reset (%lld ms)",
	    nwaits ? (long long)waits[0] : -1LL);
	http_response_clear(&r);

	/* A bare 429 backs off. */
	reset();
	answer("429 Too Many Requests", "", "");
	answer("200 OK", "", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "bare 429: succeeds");
	ok(nwaits == 1 && waits[0] >= 0 && waits[0] <= 100,
	    "bare 429: backoff");
	http_response_clear(&r);

	/* Longer than this client waits: fail at once with the reason. */
	reset();
	answer("429 Too Many Requests", "Retry-After: 300\r\n", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), -1,
	    "429 Retry-After 300: fails");
	ok(strstr(err, ": rate limited; retry after 300 s is longer than the "
	    "120 s this client waits") != NULL, "429 Retry-After 300: reason "
	    "(%s)", err);
	is_int(nrequests(), 1, "429 Retry-After 300: no retry");
	is_int(nwaits, 0, "429 Retry-After 300: no wait");
	http_free(c);
}

static void
test_github_limits(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], *h, *msg;

	/* Primary: 403, remaining 0, reset in two seconds. */
	reset();
	h = xasprintf("x-ratelimit-limit: 5000\r\nx-ratelimit-remaining: 0\r\n"
	    "x-ratelimit-reset: %lld\r\nx-ratelimit-resource: core\r\n",
	    (long long)time(NULL) + 2);
	answer("403 Forbidden", h, "{\"message\":\"API rate limit exceeded "
	    "for installation ID 1.\"}");
	free(h);
	answer("200 OK", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "primary: succeeds after the reset");
	ok(nwaits == 1 && waits[0] > 900 && waits[0] <= 2000,
	    "primary: waits until x-ratelimit-reset (%lld ms)",
	    nwaits ? (long long)waits[0] : -1LL);
	is_int(nrequests(), 2, "primary: two requests");
	http_response_clear(&r);

	/* Primary, an hour away. */
	reset();
	h = xasprintf("x-ratelimit-remaining: 0\r\nx-ratelimit-reset: %lld\r\n",
	    (long long)time(NULL) + 3600);
	answer("429 Too Many Requests", h, "{\"message\":\"API rate limit "
	    "exceeded\"}");
	free(h);
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), -1,
	    "primary an hour away: fails");
	/* The reset is an hour from when the answer was made: a second may
	 * pass before the client reads it. */
	{
		const char *in = strstr(err, ": rate limited; reset in ");
		long long secs = in ? strtoll(in + 25, NULL, 10) : 0;

		ok(secs >= 3590 && secs <= 3600 && strstr(err, " s is longer"
		    " than the 120 s this client waits") != NULL,
		    "primary an hour away: reason (%s)", err);
	}
	is_int(nrequests(), 1, "primary an hour away: one request");
	is_int(nwaits, 0, "primary an hour away: no wait");

	/* Secondary, no retry-after: at least a minute. */
	reset();
	answer("403 Forbidden", "x-ratelimit-remaining: 4000\r\n",
	    "{\"message\":\"You have exceeded a secondary rate limit. Please "
	    "wait a few minutes before you try again.\",\"documentation_url\":"
	    "\"https://docs.github.com/rest\"}");
	answer("201 Created", "", "{}");
	is_int(run(c, "POST", "/repos/o/r/issues/1/comments", "{}", &r, err,
	    sizeof(err)), 0, "secondary: succeeds");
	ok(nwaits == 1 && waits[0] >= 60000, "secondary: waits >= 60 s "
	    "(%lld ms)", nwaits ? (long long)waits[0] : -1LL);
	http_response_clear(&r);
	http_free(c);

	/* Secondary with retry-after. */
	reset();
	c = client(0, 0, 0, 0);
	answer("429 Too Many Requests", "retry-after: 7\r\n",
	    "{\"message\":\"You have exceeded a secondary rate limit.\"}");
	answer("200 OK", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "secondary retry-after: succeeds");
	ok(nwaits == 1 && waits[0] == 7000, "secondary retry-after: 7000 ms");
	http_response_clear(&r);
	http_free(c);

	/* Secondary, and this client waits at most a second. */
	reset();
	c = client(0, 1000, 0, 0);
	answer("403 Forbidden", "", "{\"message\":\"You have exceeded a "
	    "secondary rate limit.\"}");
	is_int(run(c, "POST", "/x", "{}", &r, err, sizeof(err)), -1,
	    "secondary, max_wait 1 s: fails at once");
	ok(strstr(err, ": secondary rate limit; a wait of 60 s is longer than "
	    "the 1 s this client waits") != NULL, "secondary, max_wait 1 s: "
	    "reason (%s)", err);
	is_int(nrequests(), 1, "secondary, max_wait 1 s: one request");
	is_int(nwaits, 0, "secondary, max_wait 1 s: no wait");
	ok(strstr(err, SECRET) == NULL, "secondary: no token in err");
	http_free(c);

	/* A plain 403 is the caller's. */
	reset();
	c = client(0, 0, 0, 0);
	answer("403 Forbidden", "x-ratelimit-remaining: 4999\r\n",
	    "{\"message\":\"Resource not accessible by integration\"}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "plain 403: returned");
	is_int(r.status, 403, "plain 403: status");
	is_int(nrequests(), 1, "plain 403: not retried");
	msg = forge_error_message(&r);
	is_str(msg, "Resource not accessible by integration",
	    "plain 403: message");
	free(msg);
	http_response_clear(&r);
	http_free(c);
}

static void
test_error_messages(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], *msg;

	reset();
	answer("422 Unprocessable Entity", "Content-Type: application/json\r\n",
	    "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":"
	    "\"PullRequest\",\"code\":\"custom\",\"message\":\"A pull request "
	    "already exists for octo:handoff/12-fix.\"}],"
	    "\"documentation_url\":\"https://docs.github.com/rest/pulls\","
	    "\"status\":\"422\"}");
	is_int(run(c, "POST", "/repos/o/r/pulls", "{}", &r, err, sizeof(err)),
	    0, "422: returned");
	is_int(r.status, 422, "422: status");
	is_int(nrequests(), 1, "422: not retried");
	msg = forge_error_message(&r);
	is_str(msg, "Validation Failed: A pull request already exists for "
	    "octo:handoff/12-fix.", "422: GitHub's errors[0].message");
	free(msg);
	http_response_clear(&r);

	answer("422 Unprocessable Entity", "",
	    "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":"
	    "\"Issue\",\"field\":\"title\",\"code\":\"missing_field\"},"
	    "\"second\\nline\"]}");
	run(c, "POST", "/x", "{}", &r, err, sizeof(err));
	msg = forge_error_message(&r);
	is_str(msg, "Validation Failed: title missing_field; second line",
	    "422: field and code, strings, one line");
	free(msg);
	http_response_clear(&r);

	answer("409 Conflict", "", "{\"message\":[\"Another open merge request "
	    "already exists for this source branch: !7\"]}");
	run(c, "POST", "/x", "{}", &r, err, sizeof(err));
	msg = forge_error_message(&r);
	is_str(msg, "Another open merge request already exists for this source "
	    "branch: !7", "gitlab: array message");
	free(msg);
	http_response_clear(&r);

	answer("400 Bad Request", "", "{\"message\":{\"title\":[\"can't be "
	    "blank\"],\"target_branch\":[\"is invalid\",\"is missing\"]}}");
	run(c, "POST", "/x", "{}", &r, err, sizeof(err));
	msg = forge_error_message(&r);
	is_str(msg, "title can't be blank; target_branch is invalid; "
	    "target_branch is missing", "gitlab: object message");
	free(msg);
	http_response_clear(&r);

	answer("401 Unauthorized", "", "{\"error\":\"invalid_token\","
	    "\"error_description\":\"Token is expired.\"}");
	run(c, "GET", "/x", NULL, &r, err, sizeof(err));
	msg = forge_error_message(&r);
	is_str(msg, "invalid_token: Token is expired.", "gitlab: error");
	free(msg);
	http_response_clear(&r);

	answer("404 Not Found", "", "<html>nope</html>");
	run(c, "GET", "/x", NULL, &r, err, sizeof(err));
	is_int(r.status, 404, "404: returned");
	msg = forge_error_message(&r);
	is_str(msg, "404 Not Found", "404 without JSON: the status line");
	free(msg);
	http_response_clear(&r);

	{
		/* A long message is cut to one bounded line. */
		char *big = xmalloc(5000), *body;

		memset(big, 'a', 4999);
		big[4999] = '\0';
		body = xasprintf("{\"message\":\"%s\"}", big);
		answer("400 Bad Request", "", body);
		run(c, "GET", "/x", NULL, &r, err, sizeof(err));
		msg = forge_error_message(&r);
		ok(msg != NULL && strlen(msg) == 1024, "long message bounded");
		free(msg);
		free(body);
		free(big);
		http_response_clear(&r);
	}
	msg = forge_error_message(&r);
	is_str(msg, "no answer", "empty response: says so");
	free(msg);
	http_free(c);
}

static void
test_connections(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char err[512], *u, *want;
	int fd, port;

	/* A dropped connection, then an answer. */
	reset();
	script(DROP, NULL);
	answer("200 OK", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "dropped: succeeds");
	is_int(nrequests(), 2, "dropped: two requests");
	is_int(nwaits, 1, "dropped: one wait");
	http_response_clear(&r);
	http_free(c);

	/* Nothing listens. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &slen);
	port = ntohs(sin.sin_port);
	close(fd);
	reset();
	c = client(2, 0, 0, 0);
	u = xasprintf("http://127.0.0.1:%d/repos/o/r/pulls", port);
	is_int(http_request(c, "POST", u, hdrs, "{}", &r, err, sizeof(err)),
	    -1, "refused: fails");
	want = xasprintf("POST %s: connection refused after 2 attempts", u);
	is_str(err, want, "refused: reason and attempts");
	is_int(nwaits, 1, "refused: one wait");
	free(want);
	free(u);
	http_free(c);

	/* No answer within the timeout. */
	reset();
	c = client(2, 0, 300, 0);
	script(STALL, NULL);
	script(STALL, NULL);
	is_int(run(c, "GET", "/slow", NULL, &r, err, sizeof(err)), -1,
	    "timeout: fails");
	ok(strstr(err, ": timed out after 2 attempts") != NULL,
	    "timeout: \"timed out\" in err (%s)", err);
	is_int(nrequests(), 2, "timeout: retried");
	ok(strstr(err, SECRET) == NULL, "timeout: no token in err");
	http_free(c);

	/* Bigger than max_response_bytes, by Content-Length and by stream. */
	reset();
	c = client(0, 0, 0, 1000);
	{
		char *big = xmalloc(5001);

		memset(big, 'x', 5000);
		big[5000] = '\0';
		answer("200 OK", "", big);
		is_int(run(c, "GET", "/big", NULL, &r, err, sizeof(err)), -1,
		    "too big (Content-Length): fails");
		ok(strstr(err, "larger than 1000 bytes") != NULL,
		    "too big (Content-Length): reason (%s)", err);
		ok(r.body == NULL, "too big: no body kept");
		script(ANSWER, xasprintf("HTTP/1.1 200 OK\r\nConnection: "
		    "close\r\n\r\n%s", big));
		is_int(run(c, "GET", "/big", NULL, &r, err, sizeof(err)), -1,
		    "too big (streamed): fails");
		ok(strstr(err, "larger than 1000 bytes") != NULL,
		    "too big (streamed): reason (%s)", err);
		is_int(nrequests(), 2, "too big: not retried");
		free(big);
	}
	answer("200 OK", "", "{\"fits\":1}");
	is_int(run(c, "GET", "/small", NULL, &r, err, sizeof(err)), 0,
	    "under the limit: fine");
	http_response_clear(&r);
	http_free(c);
}

static void
test_redirects(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	char err[512], *h;
	int i;

	reset();
	answer("307 Temporary Redirect", "Location: /moved\r\n", "");
	answer("201 Created", "", "{}");
	is_int(run(c, "POST", "/orig", "{\"a\":1}", &r, err, sizeof(err)), 0,
	    "same-host redirect: followed");
	is_int(r.status, 201, "same-host redirect: final status");
	ok(request_has(1, "POST /moved HTTP/1.1\r\n") &&
	    request_has(1, "\r\n" AUTH "\r\n") &&
	    request_has(1, "\r\n\r\n{\"a\":1}"),
	    "same-host redirect: method, auth and body repeated");
	is_int(nwaits, 0, "same-host redirect: no wait");
	http_response_clear(&r);

	/* localhost is another host than 127.0.0.1, though the same server. */
	reset();
	h = xasprintf("Location: http://localhost:%d/elsewhere\r\n", srv.port);
	answer("301 Moved Permanently", h, "");
	free(h);
	is_int(run(c, "GET", "/orig", NULL, &r, err, sizeof(err)), -1,
	    "cross-host redirect: fails");
	ok(strstr(err, "redirect to another host (localhost), not followed") !=
	    NULL, "cross-host redirect: reason (%s)", err);
	is_int(nrequests(), 1, "cross-host redirect: not followed");
	ok(strstr(err, SECRET) == NULL, "cross-host redirect: no token in err");

	reset();
	h = xasprintf("Location: https://127.0.0.1:%d/tls\r\n", srv.port);
	answer("302 Found", h, "");
	free(h);
	is_int(run(c, "GET", "/orig", NULL, &r, err, sizeof(err)), -1,
	    "other-scheme redirect: fails");

	reset();
	for (i = 0; i < 7; i++)
		answer("302 Found", "Location: /again\r\n", "");
	is_int(run(c, "GET", "/orig", NULL, &r, err, sizeof(err)), -1,
	    "redirect loop: fails");
	ok(strstr(err, "more than 5 redirects") != NULL,
	    "redirect loop: reason (%s)", err);
	is_int(nrequests(), 6, "redirect loop: six requests");

	reset();
	answer("303 See Other", "Location: /result?id=1\r\n", "");
	answer("200 OK", "", "{}");
	is_int(run(c, "POST", "/orig", "{\"a\":1}", &r, err, sizeof(err)), 0,
	    "303: followed");
	ok(request_has(1, "GET /result?id=1 HTTP/1.1\r\n") &&
	    !request_has(1, "{\"a\":1}"), "303: a GET without the body");
	http_response_clear(&r);

	reset();
	answer("304 Not Modified", "", "");
	is_int(run(c, "GET", "/etag", NULL, &r, err, sizeof(err)), 0,
	    "304: returned");
	is_int(r.status, 304, "304: status");
	http_response_clear(&r);
	http_free(c);
}

static void
test_refusals(void)
{
	struct http_client *c = client(0, 0, 0, 0);
	struct http_response r = { 0 };
	struct http_opts o = { 0 };
	const char *bad[] = { "Accept: x", AUTH "\r\nX-Evil: 1", NULL };
	char err[512], *u = url("/x");

	reset();
	is_int(http_request(c, "GET", u, bad, NULL, &r, err, sizeof(err)), -1,
	    "header with CRLF: refused");
	ok(strstr(err, "request header 2 is malformed") != NULL &&
	    strstr(err, SECRET) == NULL, "header with CRLF: reason without "
	    "the value (%s)", err);
	is_int(nrequests(), 0, "header with CRLF: nothing sent");
	is_int(http_request(c, "GET /x", u, hdrs, NULL, &r, err, sizeof(err)),
	    -1, "bad method: refused");
	free(u);
	u = xasprintf("file:///etc/passwd");
	is_int(http_request(c, "GET", u, hdrs, NULL, &r, err, sizeof(err)), -1,
	    "file URL: refused");
	free(u);
	ok(http_new(&o) == NULL, "no user agent: no client");
	o.user_agent = "bad\nagent";
	ok(http_new(&o) == NULL, "user agent with a newline: no client");
	ok(http_new(NULL) == NULL, "no opts: no client");
	http_free(NULL);
	http_free(c);
}

static struct http_note notes[MAX_WAITS];
static int nnotes;

static void
note(void *arg, const struct http_note *n)
{
	(void)arg;
	if (nnotes < MAX_WAITS)
		notes[nnotes++] = *n;
}

/* Every exchange is told: its status (0: none), whether another attempt
 * follows, and whether a rate limit asked for the wait before it. */
static void
test_observe(void)
{
	struct http_opts o = { 0 };
	struct http_client *c;
	struct http_response r = { 0 };
	char err[512], *loc;

	o.user_agent = UA;
	o.backoff_base_ms = 100;
	o.rate_limit = forge_rate_limit;
	o.observe = note;
	c = http_new(&o);
	reset();
	nnotes = 0;
	/* First, on a new connection: libcurl itself sends a request again
	 * when a connection it reused closes unanswered, and says nothing. */
	script(DROP, NULL);
	answer("502 Bad Gateway", "", "");
	answer("403 Forbidden", "Retry-After: 3\r\n",
	    "{\"message\":\"You have exceeded a secondary rate limit\"}");
	loc = xasprintf("Location: http://127.0.0.1:%d/y\r\n", srv.port);
	answer("301 Moved Permanently", loc, "");
	free(loc);
	answer("200 OK", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "observe: the request succeeds in the end");
	is_int(nnotes, 5, "observe: five exchanges told");
	ok(notes[0].status == 0 && notes[0].is_retried &&
	    !notes[0].is_rate_limit, "observe: no answer, retried");
	ok(notes[1].status == 502 && notes[1].is_retried &&
	    !notes[1].is_rate_limit, "observe: a 502, retried");
	ok(notes[2].status == 403 && notes[2].is_retried &&
	    notes[2].is_rate_limit && notes[2].wait_ms == 3000,
	    "observe: a secondary rate limit, waited 3 s as it asked");
	ok(notes[3].status == 301 && !notes[3].is_retried,
	    "observe: a redirect followed is no retry");
	ok(notes[4].status == 200 && !notes[4].is_retried &&
	    notes[4].wait_ms == 0, "observe: the final answer");
	http_response_clear(&r);

	/* The last attempt is no retry; a 404 is final. */
	reset();
	nnotes = 0;
	http_free(c);
	o.max_attempts = 2;
	c = http_new(&o);
	answer("500 Internal Server Error", "", "");
	answer("500 Internal Server Error", "", "");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), -1,
	    "observe: gives up");
	ok(nnotes == 2 && notes[0].is_retried && !notes[1].is_retried,
	    "observe: the last attempt is not retried");
	answer("404 Not Found", "", "{}");
	is_int(run(c, "GET", "/x", NULL, &r, err, sizeof(err)), 0,
	    "observe: a 404 is an answer");
	ok(nnotes == 3 && notes[2].status == 404 && !notes[2].is_retried,
	    "observe: told as final");
	http_response_clear(&r);
	http_free(c);
}

/* Requests counted by route class, not path: what follows the
 * repository says it, so a repository called "pulls" is no pull. */
static void
test_routes(void)
{
	struct forge_conn f = { .repo = "octo/pulls" };
	static const struct {
		const char		*path;
		enum forge_route	 route;
	} cases[] = {
		{ "/repos/octo/pulls/issues/1", FORGE_ROUTE_ISSUE },
		{ "/repos/octo/pulls/issues/1/comments?per_page=100&page=2",
		  FORGE_ROUTE_COMMENTS },
		{ "/repos/octo/pulls/issues/comments/77", FORGE_ROUTE_COMMENTS },
		{ "/repos/octo/pulls/pulls/3/reviews/9/comments?",
		  FORGE_ROUTE_COMMENTS },
		{ "/repos/octo/pulls/issues/1/reactions", FORGE_ROUTE_REACTIONS },
		{ "/repos/octo/pulls/issues/comments/77/reactions",
		  FORGE_ROUTE_REACTIONS },
		{ "/repos/octo/pulls/pulls/comments/5/reactions",
		  FORGE_ROUTE_REACTIONS },
		{ "/repos/octo/pulls/pulls?head=octo%3Ab&state=open",
		  FORGE_ROUTE_PULLS },
		{ "/repos/octo/pulls/pulls", FORGE_ROUTE_PULLS },
		{ "/repos/octo/pulls/pulls/3", FORGE_ROUTE_PULLS },
		{ "/repos/octo/pulls/collaborators/alice/permission",
		  FORGE_ROUTE_PERMISSION },
		{ "/repos/octo/pulls", FORGE_ROUTE_OTHER },
		{ "/repos/octo/pulls-2/issues/1", FORGE_ROUTE_OTHER },
		{ "/repos/someone/else/issues/1", FORGE_ROUTE_OTHER },
		{ "/user", FORGE_ROUTE_USER },
		{ "/users/alice", FORGE_ROUTE_OTHER },
		{ "/app/installations/42/access_tokens", FORGE_ROUTE_TOKEN },
		{ "/projects/octo%2Fpulls/issues/4", FORGE_ROUTE_ISSUE },
		{ "/projects/octo%2Fpulls/issues/4/notes?sort=asc&",
		  FORGE_ROUTE_COMMENTS },
		{ "/projects/octo%2Fpulls/merge_requests/4/notes/8",
		  FORGE_ROUTE_COMMENTS },
		{ "/projects/octo%2Fpulls/merge_requests/4/discussions/abc",
		  FORGE_ROUTE_COMMENTS },
		{ "/projects/octo%2Fpulls/issues/4/award_emoji?name=eyes",
		  FORGE_ROUTE_REACTIONS },
		{ "/projects/octo%2Fpulls/issues/4/notes/8/award_emoji?name=eyes",
		  FORGE_ROUTE_REACTIONS },
		{ "/projects/octo%2Fpulls/merge_requests?source_branch=x",
		  FORGE_ROUTE_PULLS },
		{ "/projects/octo%2Fpulls/merge_requests/4", FORGE_ROUTE_PULLS },
		{ "/projects/octo%2Fpulls/members/all/7",
		  FORGE_ROUTE_PERMISSION },
		{ "/projects/octo%2Fpulls", FORGE_ROUTE_OTHER },
	};
	size_t i;

	for (i = 0; i < nitems(cases); i++)
		is_str(forge_route_name(forge_route_of(&f, cases[i].path)),
		    forge_route_name(cases[i].route), "route of %s",
		    cases[i].path);
	is_str(forge_route_name(FORGE_ROUTES), "other",
	    "route: out of range is other");
}

/* A forge connection counts its client's exchanges under each request's
 * route until reset. */
static void
test_tally(void)
{
	struct config cfg = { 0 };
	struct forge_conn *f;
	const struct forge_tally *t;
	cJSON *out = NULL;
	long status;
	char err[512];
	size_t i;
	int64_t issue200 = 0, issue500 = 0, user200 = 0;

	cfg.github_token.value = "sekrit-token-123";
	cfg.github_token.len = strlen(cfg.github_token.value);
	cfg.github_api_url = xasprintf("http://127.0.0.1:%d", srv.port);
	f = forge_open(&cfg, "github", "octo/widgets", 0, err, sizeof(err));
	ok(f != NULL, "tally: a forge connection");
	if (f == NULL)
		return;
	reset();
	answer("500 Internal Server Error", "", "");
	answer("200 OK", "", "{}");
	answer("200 OK", "", "{\"login\":\"me\"}");
	ok(forge_call(f, "GET", "/repos/octo/widgets/issues/1", NULL, NULL,
	    &status, &out, err, sizeof(err)) == 0 && status == 200,
	    "tally: an issue, after a retry");
	json_free(out);
	ok(forge_call(f, "GET", "/user", NULL, NULL, &status, &out, err,
	    sizeof(err)) == 0 && status == 200, "tally: the user");
	json_free(out);
	t = forge_tally(f);
	for (i = 0; i < t->ncounts; i++) {
		if (t->counts[i].route == FORGE_ROUTE_ISSUE &&
		    t->counts[i].status == 200)
			issue200 = t->counts[i].requests;
		if (t->counts[i].route == FORGE_ROUTE_ISSUE &&
		    t->counts[i].status == 500)
			issue500 = t->counts[i].requests;
		if (t->counts[i].route == FORGE_ROUTE_USER &&
		    t->counts[i].status == 200)
			user200 = t->counts[i].requests;
	}
	ok(t->ncounts == 3 && issue200 == 1 && issue500 == 1 &&
	    user200 == 1, "tally: by route and status");
	ok(t->retries == 1 && t->rate_limit_waits == 0, "tally: one retry");
	forge_tally_reset(f);
	ok(forge_tally(f)->ncounts == 0 && forge_tally(f)->retries == 0,
	    "tally: reset");
	forge_close(f);
	free(cfg.github_api_url);
}

static void
test_escape(void)
{
	char *s;

	s = url_escape("group/sub project");
	is_str(s, "group%2Fsub%20project", "escape: path and space");
	free(s);
	s = url_escape("AZaz09-._~");
	is_str(s, "AZaz09-._~", "escape: unreserved kept");
	free(s);
	s = url_escape("octo:handoff/1-x?&=#%+\xc3\xa9");
	is_str(s, "octo%3Ahandoff%2F1-x%3F%26%3D%23%25%2B%C3%A9",
	    "escape: reserved and UTF-8");
	free(s);
	s = url_escape("");
	is_str(s, "", "escape: empty");
	free(s);
}

int
main(void)
{
	http_set_sleep(record_sleep);
	server_start();
	test_success();
	test_retry_5xx();
	test_429();
	test_github_limits();
	test_error_messages();
	test_connections();
	test_redirects();
	test_refusals();
	test_observe();
	test_routes();
	test_tally();
	test_escape();
	server_stop();
	return done_testing();
}
