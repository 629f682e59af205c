/*
 * GitHub's REST API, version 2022-11-28 (pinned: 2026-03-10 is the first
 * calendar version with breaking changes). A personal token, or a GitHub
 * App: an RS256 JWT exchanged for an installation token that is cached
 * until five minutes before it expires. Operations as in forge.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "forge.h"
#include "forge_impl.h"
#include "http.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "url.h"
#include "util.h"

#define REFRESH_BEFORE_S	300
#define MAX_COMMENT_PAGES	20
#define MAX_NUMBER_HEADER	64	/* x-ratelimit-* */
#define MAX_LOGIN	100	/* bytes of a login, "[bot]" too */

/*
 * "If you exceed a secondary rate limit ... if the retry-after response
 * header is present, wait that many seconds; ... otherwise, wait for at
 * least one minute before retrying", then back off exponentially.
 */
#define SECONDARY_WAIT_MS	60000

const char *const github_headers[] = {
	"Accept: application/vnd.github+json",
	"X-GitHub-Api-Version: 2022-11-28",
	NULL
};

/* "2026-11-25T03:00:00Z" as epoch seconds, or 0. */
static int64_t
parse_time(const char *s)
{
	struct tm tm = { 0 };

	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return 0;
	return (int64_t)timegm(&tm);
}

static int
call(struct forge_conn *f, const char *method, const char *path,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen)
{
	/* An installation token is refreshed shortly before it expires. */
	if (f->token_expires != 0 &&
	    time(NULL) > f->token_expires - REFRESH_BEFORE_S &&
	    f->ops->authenticate(f, err, errlen) == -1)
		return -1;
	return forge_call(f, method, path, github_headers, body, status, out, err,
	    errlen);
}

int
github_call(struct forge_conn *f, const char *method, const char *path,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen)
{
	return call(f, method, path, body, status, out, err, errlen);
}

/* method f->api + path as the App itself (its JWT): the App's own
 * endpoints, which an installation token cannot reach. */
static int
app_call(struct forge_conn *f, const char *method, const char *path,
    struct http_response *resp, char *err, size_t errlen)
{
	const struct config *cfg = f->cfg;
	const char *headers[4];
	char *jwt, *auth, *url;
	int rc;

	if ((jwt = jwt_github_app(cfg->github_app_id,
	    cfg->github_private_key.value, cfg->github_private_key.len,
	    (int64_t)time(NULL), err, errlen)) == NULL)
		return -1;
	auth = xasprintf("Authorization: Bearer %s", jwt);
	headers[0] = github_headers[0];
	headers[1] = github_headers[1];
	headers[2] = auth;
	headers[3] = NULL;
	url = xasprintf("%s%s", f->api, path);
	rc = http_request(f->http, method, url, headers, NULL, resp, err,
	    errlen);
	util_free_secret(auth);
	util_free_secret(jwt);
	free(url);
	return rc;
}

static int
gh_authenticate(struct forge_conn *f, char *err, size_t errlen)
{
	const struct config *cfg = f->cfg;
	struct http_response resp = { 0 };
	char *path, *msg;
	int64_t id = f->installation_id ? f->installation_id :
	    cfg->github_installation_id;
	int rc = -1;

	if (cfg->github_token.value != NULL) {
		forge_set_token(f, cfg->github_token.value,
		    "Authorization: Bearer ");
		return 0;
	}
	if (id == 0) {
		snprintf(err, errlen, "github: no installation id (the delivery"
		    " had none, and [github] installation_id is not set)");
		return -1;
	}
	path = xasprintf("/app/installations/%lld/access_tokens",
	    (long long)id);
	f->route = FORGE_ROUTE_TOKEN;
	if (app_call(f, "POST", path, &resp, err, errlen) == -1)
		goto out;
	if (resp.status != 201 || forge_str(resp.json, "token") == NULL) {
		msg = forge_error_message(&resp);
		snprintf(err, errlen, "POST %s%s: %ld %s", f->api, path,
		    resp.status, msg);
		free(msg);
		goto out;
	}
	forge_set_token(f, forge_str(resp.json, "token"),
	    "Authorization: Bearer ");
	f->token_expires = parse_time(forge_str(resp.json, "expires_at"));
	if (f->token_expires == 0)
		f->token_expires = (int64_t)time(NULL) + 3600;
	rc = 0;
out:
	http_response_clear(&resp);
	free(path);
	return rc;
}

static int
gh_can_write(struct forge_conn *f, const char *user, int64_t user_id, bool *yes,
    char *err, size_t errlen)
{
	cJSON *o = NULL;
	char *path, *who;
	const char *perm;
	long status;
	int rc;

	(void)user_id;
	*yes = false;
	who = url_escape(user);
	path = xasprintf("/repos/%s/collaborators/%s/permission", f->repo,
	    who);
	rc = call(f, "GET", path, NULL, &status, &o, err, errlen);
	if (rc == 0 && status == 200) {
		/* maintain reads as write, triage as read (forges.md §3). */
		perm = forge_str(o, "permission");
		*yes = perm && (strcmp(perm, "admin") == 0 ||
		    strcmp(perm, "write") == 0);
	} else if (rc == 0 && status != 404)
		rc = -1;
	json_free(o);
	free(path);
	free(who);
	return rc;
}

static int
gh_react(struct forge_conn *f, enum forge_on on, int64_t number, int64_t id,
    char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject();
	char *path;
	int rc;

	cJSON_AddStringToObject(body, "content", "eyes");
	/* A pull request's conversation is an issue's; a review takes no
	 * reaction, so its pull request does. */
	if (on == FORGE_ON_REVIEW_COMMENT && id > 0)
		path = xasprintf("/repos/%s/pulls/comments/%lld/reactions",
		    f->repo, (long long)id);
	else if (on != FORGE_ON_REVIEW && id > 0)
		path = xasprintf("/repos/%s/issues/comments/%lld/reactions",
		    f->repo, (long long)id);
	else
		path = xasprintf("/repos/%s/issues/%lld/reactions", f->repo,
		    (long long)number);
	/* 201 new, 200 when it was there already. */
	rc = forge_send(f, call, "POST", path, body, 0, NULL, NULL, err,
	    errlen);
	free(path);
	return rc;
}

static int
gh_issue(struct forge_conn *f, int64_t number, char **title, char **body,
    char *err, size_t errlen)
{
	char *path = xasprintf("/repos/%s/issues/%lld", f->repo,
	    (long long)number);
	int rc = forge_issue_from(f, call, path, "body", title, body, err,
	    errlen);

	free(path);
	return rc;
}

static void
gh_comment_item(struct forge_conn *f, const cJSON *c,
    struct forge_comment **list, size_t *n)
{
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(c, "user");
	const char *login = forge_str(user, "login"), *type = forge_str(user, "type");
	const char *bot = f->cfg->github_bot_login;

	forge_comment_add(list, n, forge_num(c, "id"), login, forge_str(c, "body"),
	    (type && strcmp(type, "Bot") == 0) ||
	    (login && bot && strcmp(login, bot) == 0));
}

/* A pull request's conversation is its issue's: one set of routes. */
static int
gh_comments(struct forge_conn *f, enum forge_on on, int64_t number,
    struct forge_comment **list, size_t *n, char *err, size_t errlen)
{
	char *path = xasprintf("/repos/%s/issues/%lld/comments?", f->repo,
	    (long long)number);
	int rc = forge_comments_from(f, call, path, MAX_COMMENT_PAGES,
	    gh_comment_item, list, n, err, errlen);

	(void)on;
	free(path);
	return rc;
}

static int
gh_comment_create(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *text, char **id, char *err, size_t errlen)
{
	char *path = xasprintf("/repos/%s/issues/%lld/comments", f->repo,
	    (long long)number);
	int rc = forge_comment_post(f, call, path, text, id, err, errlen);

	(void)on;
	free(path);
	return rc;
}

static int
gh_comment_edit(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *id, const char *text, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject();
	char *path = xasprintf("/repos/%s/issues/comments/%s", f->repo, id);
	int rc;

	(void)on;
	(void)number;
	cJSON_AddStringToObject(body, "body", text);
	rc = forge_send(f, call, "PATCH", path, body, 200, NULL, NULL, err,
	    errlen);
	free(path);
	return rc;
}

/* An inline comment: its file, line (of a range, the last; of an
 * outdated comment, the original) and hunk. */
static void
gh_review_comment_item(struct forge_conn *f, const cJSON *c,
    struct forge_comment **list, size_t *n)
{
	struct forge_comment *fc;
	const char *path = forge_str(c, "path"), *hunk = forge_str(c, "diff_hunk");
	int64_t line = forge_num(c, "line");

	gh_comment_item(f, c, list, n);
	fc = &(*list)[*n - 1];
	if (line <= 0)
		line = forge_num(c, "original_line");
	fc->line = line > 0 ? line : 0;
	fc->path = path ? xstrndup(path, 4096) : NULL;
	fc->diff_hunk = hunk ? xstrndup(hunk, 16384) : NULL;
}

static int
gh_review_comments(struct forge_conn *f, int64_t pr, const char *review,
    struct forge_comment **list, size_t *n, char *err, size_t errlen)
{
	char *q = url_escape(review);
	char *path = xasprintf("/repos/%s/pulls/%lld/reviews/%s/comments?",
	    f->repo, (long long)pr, q);
	int rc = forge_comments_from(f, call, path, MAX_COMMENT_PAGES,
	    gh_review_comment_item, list, n, err, errlen);

	free(path);
	free(q);
	return rc;
}

static int
gh_comment_delete(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *id, char *err, size_t errlen)
{
	char *path = xasprintf("/repos/%s/issues/comments/%s", f->repo, id);
	int rc;

	(void)on;
	(void)number;
	rc = forge_send(f, call, "DELETE", path, NULL, 204, NULL, NULL, err,
	    errlen);
	free(path);
	return rc;
}

/* GET /user; an installation token is refused there (403): an App's
 * comments are known as a bot's instead. */
static int
gh_user(struct forge_conn *f, char **login, char *err, size_t errlen)
{
	cJSON *o = NULL;
	long status;
	int rc;

	*login = NULL;
	if (f->cfg->github_bot_login) {
		*login = xstrdup(f->cfg->github_bot_login);
		return 0;
	}
	rc = call(f, "GET", "/user", NULL, &status, &o, err, errlen);
	if (rc == 0 && status == 200 && forge_str(o, "login"))
		*login = xstrndup(forge_str(o, "login"), 256);
	else if (rc == 0 && status != 403)
		rc = -1;
	json_free(o);
	return rc;
}

/* A login as GitHub spells one (an App's bot user ends in "[bot]"). */
static bool
login_ok(const char *s)
{
	size_t n = s ? strnlen(s, MAX_LOGIN + 1) : 0;

	return n > 0 && n <= MAX_LOGIN && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_[]") == n;
}

/* The App's bot user, "SLUG[bot]": GET /app (as the App) names the slug,
 * GET /users/SLUG%5Bbot%5D gives the user's id. */
static int
app_bot(struct forge_conn *f, char **login, int64_t *id, char *err,
    size_t errlen)
{
	struct http_response resp = { 0 };
	const char *slug;
	cJSON *o = NULL;
	char *path = NULL, *msg, *q;
	int rc = -1;

	f->route = FORGE_ROUTE_USER;
	if (app_call(f, "GET", "/app", &resp, err, errlen) == -1)
		goto out;
	slug = forge_str(resp.json, "slug");
	if (resp.status != 200 || slug == NULL) {
		msg = forge_error_message(&resp);
		snprintf(err, errlen, "GET %s/app: %ld %s", f->api,
		    resp.status, msg);
		free(msg);
		goto out;
	}
	*login = xasprintf("%.*s[bot]", MAX_LOGIN, slug);
	q = url_escape(*login);
	path = xasprintf("/users/%s", q);
	free(q);
	if (forge_send(f, call, "GET", path, NULL, 200, NULL, &o, err,
	    errlen) == -1)
		goto out;
	*id = forge_num(o, "id");
	rc = 0;
out:
	json_free(o);
	free(path);
	http_response_clear(&resp);
	return rc;
}

/* GitHub's no-reply address, "ID+LOGIN@users.noreply.github.com"; on
 * GitHub Enterprise Server its host's. */
static int
gh_identity(struct forge_conn *f, char **name, char **email, char *err,
    size_t errlen)
{
	cJSON *o = NULL;
	char *login = NULL, *host;
	int64_t id = 0;
	int rc = -1;

	*name = *email = NULL;
	if (f->cfg->github_token.value == NULL) {
		if (app_bot(f, &login, &id, err, errlen) == -1)
			goto out;
	} else {
		if (forge_send(f, call, "GET", "/user", NULL, 200, NULL, &o,
		    err, errlen) == -1)
			goto out;
		login = forge_str(o, "login") ?
		    xstrndup(forge_str(o, "login"), MAX_LOGIN + 1) : NULL;
		id = forge_num(o, "id");
	}
	if (!login_ok(login) || id <= 0) {
		snprintf(err, errlen, "%s: no usable login and id", f->cfg->
		    github_token.value ? "GET /user" : "GET /users/SLUG[bot]");
		goto out;
	}
	host = strcmp(f->api, "https://api.github.com") == 0 ?
	    xstrdup("github.com") : url_host(f->api);
	*name = xstrdup(login);
	*email = xasprintf("%lld+%s@users.noreply.%s", (long long)id, login,
	    host ? host : "github.com");
	free(host);
	rc = 0;
out:
	free(login);
	json_free(o);
	return rc;
}

static int
gh_pr_find(struct forge_conn *f, const char *branch, struct forge_pr *pr,
    char *err, size_t errlen)
{
	char *owner = xstrndup(f->repo, strcspn(f->repo, "/"));
	char *head = xasprintf("%s:%s", owner, branch), *q = url_escape(head);
	char *path = xasprintf("/repos/%s/pulls?head=%s&state=open", f->repo,
	    q);
	int rc = forge_pr_first(f, call, path, "number", "html_url", pr, err,
	    errlen);

	free(path);
	free(q);
	free(head);
	free(owner);
	return rc;
}

static int
gh_pr_open(struct forge_conn *f, const char *branch, const char *base,
    const char *title, const char *text, bool draft, struct forge_pr *pr,
    char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *o = NULL;
	char *path = xasprintf("/repos/%s/pulls", f->repo);
	long status;
	int rc;

	memset(pr, 0, sizeof(*pr));
	cJSON_AddStringToObject(body, "title", title);
	cJSON_AddStringToObject(body, "head", branch);
	cJSON_AddStringToObject(body, "base", base);
	cJSON_AddStringToObject(body, "body", text);
	cJSON_AddBoolToObject(body, "draft", draft);
	rc = forge_send(f, call, "POST", path, body, 201, &status, &o, err,
	    errlen);
	if (rc == 0)
		forge_pr_from(pr, o, "number", "html_url");
	else if (status == 422 && strstr(err, "already exists")) {
		/* Opened by an earlier attempt whose answer was lost. */
		rc = gh_pr_find(f, branch, pr, err, errlen);
		if (rc == 0 && pr->number == 0)
			rc = -1;
	}
	json_free(o);
	free(path);
	return rc;
}

static int
gh_pr_update(struct forge_conn *f, int64_t number, const char *title,
    const char *text, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject();
	char *path = xasprintf("/repos/%s/pulls/%lld", f->repo,
	    (long long)number);
	int rc;

	if (title)
		cJSON_AddStringToObject(body, "title", title);
	cJSON_AddStringToObject(body, "body", text);
	rc = forge_send(f, call, "PATCH", path, body, 200, NULL, NULL, err,
	    errlen);
	free(path);
	return rc;
}

const struct forge_ops github_ops = {
	.name = "github",
	.authenticate = gh_authenticate,
	.can_write = gh_can_write,
	.react = gh_react,
	.issue = gh_issue,
	.comments = gh_comments,
	.comment_create = gh_comment_create,
	.comment_edit = gh_comment_edit,
	.comment_delete = gh_comment_delete,
	.user = gh_user,
	.identity = gh_identity,
	.review_comments = gh_review_comments,
	.pr_find = gh_pr_find,
	.pr_open = gh_pr_open,
	.pr_update = gh_pr_update,
	.ci_failures = github_ci_failures,
	.git_user = "x-access-token",
};

/* errors[]: objects with a message, or resource/field/code, or plain
 * strings. */
void
github_error_items(char **acc, const cJSON *errors)
{
	const cJSON *e;
	const char *sep = ": ", *field;
	char *part;
	int n = 0;

	cJSON_ArrayForEach(e, errors) {
		if (n++ == FORGE_MESSAGE_ITEMS)
			break;
		if (cJSON_IsString(e))
			forge_message_add(acc, sep, e->valuestring);
		else if (forge_str(e, "message") != NULL)
			forge_message_add(acc, sep, forge_str(e, "message"));
		else if (forge_str(e, "code") != NULL) {
			field = forge_str(e, "field");
			part = xasprintf("%s%s%s", field ? field : "",
			    field ? " " : "", forge_str(e, "code"));
			forge_message_add(acc, sep, part);
			free(part);
		} else
			continue;
		if (*acc != NULL)
			sep = "; ";
	}
}

/* A secondary limit: retry-after, else the primary's reset when that is
 * spent too, else a minute, doubled for each one met before. */
static void
secondary_wait(struct http_limit *l, bool is_primary)
{
	int64_t ms;
	int i;

	l->label = " (secondary rate limit)";
	l->what = "secondary rate limit";
	(*l->secondaries)++;
	if (l->retry_after_ms >= 0) {
		l->wait_ms = l->retry_after_ms;
		l->how = "retry after";
	} else if (is_primary && (ms = http_reset_ms(l->client,
	    "x-ratelimit-reset", l->now_ms)) != -1) {
		l->wait_ms = ms;
		l->how = "reset in";
	} else {
		l->wait_ms = SECONDARY_WAIT_MS;
		for (i = 1; i < *l->secondaries &&
		    l->wait_ms <= l->max_wait_ms; i++)
			l->wait_ms *= 2;
		l->how = "a wait of";
	}
}

/*
 * "403 or 429 with x-ratelimit-remaining 0" is the primary limit (wait for
 * x-ratelimit-reset); a 403 or 429 whose message names the secondary rate
 * limit waits for retry-after, else at least a minute.
 */
int
github_rate_limit(struct http_limit *l)
{
	const char *remaining;
	bool is_primary, is_secondary;
	int64_t ms;

	remaining = http_header(l->client, "x-ratelimit-remaining",
	    MAX_NUMBER_HEADER);
	is_primary = remaining != NULL && strcmp(remaining, "0") == 0;
	/* "abuse detection" is the secondary limit's older wording. */
	is_secondary = l->body != NULL &&
	    (strcasestr(l->body, "secondary rate limit") != NULL ||
	    strcasestr(l->body, "abuse detection") != NULL);
	if (is_secondary) {
		secondary_wait(l, is_primary);
		return 1;
	}
	if (!is_primary)
		return 0;
	l->label = " (rate limited)";
	l->what = "rate limited";
	if ((ms = http_reset_ms(l->client, "x-ratelimit-reset",
	    l->now_ms)) != -1) {
		l->wait_ms = ms;
		l->how = "reset in";
	} else if (l->retry_after_ms >= 0) {
		l->wait_ms = l->retry_after_ms;
		l->how = "retry after";
	} else
		l->wait_ms = -1;
	return 1;
}
