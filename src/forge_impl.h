/*
 * For github.c and gitlab.c only: the shared request helper of forge.c,
 * and each forge's reading of its error answers and rate limits.
 */
#ifndef HANDOFF_FORGE_IMPL_H
#define HANDOFF_FORGE_IMPL_H

#include <cjson/cJSON.h>

#include "forge.h"
#include "http.h"

#define FORGE_MESSAGE_MAX	1024	/* bytes of forge_error_message's */
#define FORGE_MESSAGE_ITEMS	8	/* items of a list it takes */

/* o[key] if it is a string (else NULL), or a number (else 0). */
const char *forge_str(const cJSON *o, const char *key);
int64_t forge_num(const cJSON *o, const char *key);

/* Set the token and the header that carries it ("Name: prefix" + token). */
void forge_set_token(struct forge_conn *f, const char *token,
    const char *header_prefix);

/* method f->api + path with the forge's extra headers, its token and body
 * (NULL for none). On an answer: 0, *status, *out the parsed JSON or NULL
 * (caller deletes), and for a status of 400 or more the forge's message
 * in err. -1 with err when no answer came (after the client's retries). */
int forge_call(struct forge_conn *f, const char *method, const char *path,
    const char *const *extra, const cJSON *body, long *status, cJSON **out,
    char *err, size_t errlen);

/* A forge's request function (its headers, its path prefix). */
typedef int (*forge_call_fn)(struct forge_conn *f, const char *method,
    const char *path, const cJSON *body, long *status, cJSON **out,
    char *err, size_t errlen);

/* method path with body (NULL for none; deleted here) through call.
 * Returns 0 when the answer's status is want (any 2xx when want is 0),
 * with the parsed answer in *out if out is not NULL (free with json_free);
 * else -1 with err. *status, if not NULL, gets the status (0: none). */
int forge_send(struct forge_conn *f, forge_call_fn call, const char *method,
    const char *path, cJSON *body, long want, long *status, cJSON **out,
    char *err, size_t errlen);

/* POST {"body": text} to path through call; *id is the new comment's
 * "id" (201 wanted). */
int forge_comment_post(struct forge_conn *f, forge_call_fn call,
    const char *path, const char *text, char **id, char *err, size_t errlen);

/* pr from a forge's pull request object o: its number under number_key,
 * its page under url_key. */
void forge_pr_from(struct forge_pr *pr, const cJSON *o,
    const char *number_key, const char *url_key);

/* GET path through call: a list whose first element, if any, is the pull
 * request (its number under number_key, its page under url_key). */
int forge_pr_first(struct forge_conn *f, forge_call_fn call,
    const char *path, const char *number_key, const char *url_key,
    struct forge_pr *pr, char *err, size_t errlen);

/* GET path through call: an issue's "title" and its description under
 * body_key, bounded (FORGE_TITLE_MAX, FORGE_BODY_MAX; "" when null). */
int forge_issue_from(struct forge_conn *f, forge_call_fn call,
    const char *path, const char *body_key, char **title, char **body,
    char *err, size_t errlen);

/* Turns one element of a forge's comment list into a forge_comment with
 * forge_comment_add, or skips it. */
typedef void (*forge_comment_fn)(struct forge_conn *f, const cJSON *item,
    struct forge_comment **list, size_t *n);

/* The comments on the pages of path (ending in '?' or '&'; per_page=100
 * and page=1, 2, ... are added) through call, until a short page or
 * max_pages. On failure *list is NULL and err says why. */
int forge_comments_from(struct forge_conn *f, forge_call_fn call,
    const char *path, int max_pages, forge_comment_fn item,
    struct forge_comment **list, size_t *n, char *err, size_t errlen);

/* Append a comment to a list (bounded copies) and return it, for the
 * caller to add an inline comment's place. */
struct forge_comment *forge_comment_add(struct forge_comment **list,
    size_t *n, int64_t id, const char *author, const char *body,
    bool is_bot);

/* GitHub's Accept and API version headers, NULL-terminated. */
extern const char *const github_headers[];
/* GitHub's request function: forge_call with its headers, the
 * installation token refreshed when it is about to expire. */
int github_call(struct forge_conn *f, const char *method, const char *path,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen);
/* GitLab's request function: forge_call of /projects/<escaped repo>
 * followed by rest. */
int gitlab_call(struct forge_conn *f, const char *method, const char *rest,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen);
/* The ci_failures operations (github_ci.c, gitlab_ci.c). */
int github_ci_failures(struct forge_conn *f, const char *branch,
    int64_t ci_id, cJSON **list, int *more, char *err, size_t errlen);
int gitlab_ci_failures(struct forge_conn *f, const char *branch,
    int64_t ci_id, cJSON **list, int *more, char *err, size_t errlen);

/* The forge's own words from an error answer (GitHub's message and
 * errors[], GitLab's message or error), else the status ("404 Not Found"):
 * one line, bounded; caller frees. */
char *forge_error_message(const struct http_response *r);
/* Append s to *acc (caller frees) after sep, while *acc is shorter than
 * FORGE_MESSAGE_MAX; NULL or "" adds nothing. */
void forge_message_add(char **acc, const char *sep, const char *s);
/* GitHub's errors[] into *acc (forge_message_add). */
void github_error_items(char **acc, const cJSON *errors);
/* GitLab's message when it is a list or field -> [strings], into *acc. */
void gitlab_error_items(char **acc, const cJSON *message);

/* The forges' rate-limit rule for the HTTP client (http_limit_fn): GitHub's
 * primary and secondary limits, then GitLab's 429. */
int forge_rate_limit(struct http_limit *l);
/* GitHub's: a 403 or 429 with x-ratelimit-remaining 0, or whose message
 * names the secondary rate limit. */
int github_rate_limit(struct http_limit *l);
/* GitLab's: any 429, with Retry-After or RateLimit-Reset or neither. */
int gitlab_rate_limit(struct http_limit *l);

#endif
