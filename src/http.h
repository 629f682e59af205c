/*
 * The runner's REST client: blocking libcurl, one handle per process for
 * keep-alive, retries with backoff, waits a forge's rate-limit rule asks.
 */
#ifndef HANDOFF_HTTP_H
#define HANDOFF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct http_client;

/* A 403 or 429 answer as a forge's rate-limit rule reads it, and the
 * rule's verdict. */
struct http_limit {
	struct http_client	*client;	/* for http_header */
	long			 status;
	const char		*body;		/* NUL-terminated, or NULL */
	int64_t			 now_ms;
	int64_t			 retry_after_ms; /* -1: no Retry-After */
	int64_t			 max_wait_ms;	/* the client's */
	int			*secondaries;	/* the rule's count within
						 * one request */
	/* Filled by a rule that says "a rate limit": */
	const char		*label;		/* after the status line in
						 * errors, e.g. " (rate
						 * limited)", or "" */
	const char		*what;		/* for a wait too long: "rate
						 * limited" */
	const char		*how;		/* "retry after", "reset in" */
	int64_t			 wait_ms;	/* -1: the client's backoff */
};

/* A forge's reading of a 403 or 429: 1 when it is a rate limit (l's
 * verdict filled), 0 when the answer is the caller's. */
typedef int (*http_limit_fn)(struct http_limit *l);

/* One exchange of a request (each attempt, each redirect followed), as
 * told to http_opts.observe once it is over. */
struct http_note {
	long		 status;	/* 0: no answer came */
	bool		 is_retried;	/* another attempt follows ... */
	bool		 is_rate_limit;	/* ... after a wait a rate limit
					 * asked for (a 403 or 429) */
	int64_t		 wait_ms;	/* the wait before it */
};
typedef void (*http_observe_fn)(void *arg, const struct http_note *n);

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
	http_limit_fn	 rate_limit;		/* the forges' rule; NULL: a 403
						 * is final, a 429 waits for
						 * Retry-After or backs off */
	http_observe_fn	 observe;		/* told of every exchange, or
						 * NULL */
	void		*observe_arg;
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
 * Retried: connection errors and timeouts, 5xx, 429, and the 403s the
 * rate_limit rule calls rate limits. Waits follow Retry-After or the
 * rule, else backoff; a wait beyond max_wait_ms fails at once.
 * Redirects are followed (at most 5) only to the same scheme, host and port.
 * Note a POST is retried too: the caller makes creation idempotent.
 * Returns 0 with *resp filled (any status not retried), or -1 with
 * "METHOD URL: reason" in err and *resp empty. *resp must be zeroed or
 * cleared before the call.
 */
int http_request(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const char *body, struct http_response *resp,
    char *err, size_t errlen);
/* Flags of http_request_with. */
#define HTTP_REDIRECT_ANSWER	0x1	/* a redirect to another origin is
					 * the answer (its Location in
					 * resp->location), not an error */
/* http_request with flags. */
int http_request_with(struct http_client *c, const char *method,
    const char *url, const char *const *headers, const char *body, int flags,
    struct http_response *resp, char *err, size_t errlen);
/* Free what a response holds and zero it. */
void http_response_clear(struct http_response *r);

/* The last answer's header name if it is at most maxlen bytes, else NULL;
 * valid until the client's next request. */
const char *http_header(struct http_client *c, const char *name,
    size_t maxlen);
/* Milliseconds from now_ms until the epoch second in the last answer's
 * header name (decimal), or -1 without one or when it has passed. */
int64_t http_reset_ms(struct http_client *c, const char *name,
    int64_t now_ms);
/* "502 Bad Gateway", or "599" for a status without a phrase known here,
 * into buf. */
void http_status_line(long status, char *buf, size_t len);

/* Replace the sleep between attempts (tests); NULL restores nanosleep. */
void http_set_sleep(void (*fn)(int64_t ms));

#endif
