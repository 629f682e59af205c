/*
 * The runner's REST client: blocking libcurl, one handle per process for
 * keep-alive, retries with backoff, and the forges' rate limits.
 */
#ifndef HANDOFF_HTTP_H
#define HANDOFF_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct http_client;

/* Zero fields take the defaults noted. */
struct http_opts {
	const char	*user_agent;		/* required, e.g. "handoff/0.1" */
	long		 connect_timeout_ms;	/* default 10000 */
	long		 timeout_ms;		/* whole request, default 30000 */
	size_t		 max_response_bytes;	/* default 8 MiB; larger is an error */
	int		 max_attempts;		/* default 5 */
	int64_t		 max_wait_ms;		/* longest single wait for a rate
						 * limit or Retry-After, default
						 * 120000; a longer one fails */
	int64_t		 backoff_base_ms;	/* default 500: attempt k waits up
						 * to base * 2^(k-1), full jitter */
};

/* A final answer. Everything in it belongs to it: http_response_clear. */
struct http_response {
	long	 status;
	char	*body;		/* NUL-terminated; NULL when empty */
	size_t	 len;
	cJSON	*json;		/* the body parsed (json_parse) when it is a JSON
				 * object or array, else NULL; free with
				 * json_free on this thread if taken */
	char	*location;	/* the Location header of the answer, or NULL */
};

/* A client with opts copied, or NULL (no user agent, libcurl failed). */
struct http_client *http_new(const struct http_opts *opts);
void http_free(struct http_client *c);

/*
 * One request with retries. headers: NULL-terminated "Name: value" lines
 * (values are never logged nor put in err); body: JSON text or NULL.
 * Retried: connection errors and timeouts, 5xx, 429, and GitHub's rate
 * limits on 403. Waits follow Retry-After, x-ratelimit-reset or
 * RateLimit-Reset, else backoff; a wait beyond max_wait_ms fails at once.
 * Redirects are followed (at most 5) only to the same scheme, host and port.
 * Note a POST is retried too: the caller makes creation idempotent.
 * Returns 0 with *resp filled (any status not retried), or -1 with
 * "METHOD URL: reason" in err and *resp empty. *resp must be zeroed or
 * cleared before the call.
 */
int http_request(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const char *body, struct http_response *resp,
    char *err, size_t errlen);
/* Free what a response holds and zero it. */
void http_response_clear(struct http_response *r);

/* The forge's own words from an error answer (GitHub's message and
 * errors[], GitLab's message or error), else the status ("404 Not Found"):
 * one line, bounded; caller frees. */
char *http_error_message(const struct http_response *r);

/* Percent-encode all but RFC 3986 unreserved characters, for one path
 * segment or query value ("group/sub" -> "group%2Fsub"); caller frees. */
char *http_escape(const char *s);

/* Replace the sleep between attempts (tests); NULL restores nanosleep. */
void http_set_sleep(void (*fn)(int64_t ms));

#endif
