/*
 * GitLab's REST API v4 with a project, group or personal access token
 * (PRIVATE-TOKEN). Projects are addressed by their URL-encoded path
 * ("group%2Fproject"); a draft merge request is one whose title starts
 * with "Draft: " (docs.gitlab.com/api/merge_requests). Operations as in
 * forge.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "forge.h"
#include "forge_impl.h"
#include "identity.h"
#include "http.h"
#include "json.h"
#include "url.h"
#include "util.h"

#define DEVELOPER	30	/* access level that may push */
#define MAX_NOTE_PAGES	20

/* The path segment of what was commented on. */
static const char *
kind(enum forge_on on)
{
	return on == FORGE_ON_ISSUE ? "issues" : "merge_requests";
}

/* method /projects/<escaped repo><rest>. */
static int
call(struct forge_conn *f, const char *method, const char *rest,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen)
{
	char *id = url_escape(f->repo);
	char *path = xasprintf("/projects/%s%s", id, rest);
	int rc = forge_call(f, method, path, NULL, body, status, out, err,
	    errlen);

	free(path);
	free(id);
	return rc;
}

int
gitlab_call(struct forge_conn *f, const char *method, const char *rest,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen)
{
	return call(f, method, rest, body, status, out, err, errlen);
}

/* method <rest>, outside the project. */
static int
call_root(struct forge_conn *f, const char *method, const char *rest,
    const cJSON *body, long *status, cJSON **out, char *err, size_t errlen)
{
	return forge_call(f, method, rest, NULL, body, status, out, err,
	    errlen);
}

static int
gl_authenticate(struct forge_conn *f, char *err, size_t errlen)
{
	if (f->cfg->gitlab_token.value == NULL) {
		snprintf(err, errlen, "gitlab: [gitlab] token is not set");
		return -1;
	}
	forge_set_token(f, f->cfg->gitlab_token.value, "PRIVATE-TOKEN: ");
	return 0;
}

static int
gl_can_write(struct forge_conn *f, const char *user, int64_t user_id, bool *yes,
    char *err, size_t errlen)
{
	cJSON *o = NULL;
	char *rest;
	long status;
	int rc;

	(void)user;
	*yes = false;
	if (user_id <= 0)
		return 0;
	/* members/all counts inherited and invited members too. */
	rest = xasprintf("/members/all/%lld", (long long)user_id);
	rc = call(f, "GET", rest, NULL, &status, &o, err, errlen);
	if (rc == 0 && status == 200)
		*yes = forge_num(o, "access_level") >= DEVELOPER;
	else if (rc == 0 && status != 404)
		rc = -1;
	json_free(o);
	free(rest);
	return rc;
}

static int
gl_react(struct forge_conn *f, enum forge_on on, int64_t number,
    int64_t note_id, char *err, size_t errlen)
{
	cJSON *o = NULL;
	char *rest;
	long status;
	int rc;

	if (note_id > 0 && on != FORGE_ON_REVIEW)
		rest = xasprintf("/%s/%lld/notes/%lld/award_emoji?name=eyes",
		    kind(on), (long long)number, (long long)note_id);
	else
		rest = xasprintf("/%s/%lld/award_emoji?name=eyes", kind(on),
		    (long long)number);
	rc = call(f, "POST", rest, NULL, &status, &o, err, errlen);
	/* An emoji given before is refused as taken: that is success. */
	if (rc == 0 && status != 201 && !(status >= 400 && status < 500 &&
	    strstr(err, "already")))
		rc = -1;
	json_free(o);
	free(rest);
	return rc;
}

static int
gl_issue(struct forge_conn *f, int64_t number, char **title, char **body,
    char *err, size_t errlen)
{
	char *rest = xasprintf("/issues/%lld", (long long)number);
	int rc = forge_issue_from(f, call, rest, "description", title, body,
	    err, errlen);

	free(rest);
	return rc;
}

static void
gl_comment_item(struct forge_conn *f, const cJSON *c,
    struct forge_comment **list, size_t *n)
{
	const cJSON *author = cJSON_GetObjectItemCaseSensitive(c, "author");
	const char *name = forge_str(author, "username");
	const char *bot = f->cfg->gitlab_bot_username;

	/* System notes ("added label ...") are not comments. */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "system")))
		return;
	forge_comment_add(list, n, forge_num(c, "id"), name, forge_str(c, "body"),
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(author, "bot")) ||
	    (name && bot && strcmp(name, bot) == 0));
}

static int
gl_comments(struct forge_conn *f, enum forge_on on, int64_t number,
    struct forge_comment **list, size_t *n, char *err, size_t errlen)
{
	char *rest = xasprintf("/%s/%lld/notes?sort=asc&order_by=created_at&",
	    kind(on), (long long)number);
	int rc = forge_comments_from(f, call, rest, MAX_NOTE_PAGES,
	    gl_comment_item, list, n, err, errlen);

	free(rest);
	return rc;
}

static int
gl_comment_create(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *text, char **id, char *err, size_t errlen)
{
	char *rest = xasprintf("/%s/%lld/notes", kind(on), (long long)number);
	int rc = forge_comment_post(f, call, rest, text, id, err, errlen);

	free(rest);
	return rc;
}

static int
gl_comment_edit(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *id, const char *text, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject();
	char *rest = xasprintf("/%s/%lld/notes/%s", kind(on), (long long)number,
	    id);
	int rc;

	cJSON_AddStringToObject(body, "body", text);
	rc = forge_send(f, call, "PUT", rest, body, 200, NULL, NULL, err,
	    errlen);
	free(rest);
	return rc;
}

/* The notes of one discussion on a merge request: a diff note's thread
 * with its file and line (new side, else old). GitLab sends no hunk. */
static int
gl_review_comments(struct forge_conn *f, int64_t pr, const char *review,
    struct forge_comment **list, size_t *n, char *err, size_t errlen)
{
	const cJSON *notes, *c, *pos;
	struct forge_comment *fc;
	cJSON *o = NULL;
	char *q = url_escape(review);
	char *rest = xasprintf("/merge_requests/%lld/discussions/%s",
	    (long long)pr, q);
	const char *path;
	size_t before;
	int rc;

	*list = NULL;
	*n = 0;
	rc = forge_send(f, call, "GET", rest, NULL, 200, NULL, &o, err,
	    errlen);
	notes = cJSON_GetObjectItemCaseSensitive(o, "notes");
	if (rc == 0 && !cJSON_IsArray(notes)) {
		snprintf(err, errlen, "GET %s: no notes", rest);
		rc = -1;
	}
	if (rc == 0)
		cJSON_ArrayForEach(c, notes) {
			if (*n >= 2000)
				break;
			before = *n;
			gl_comment_item(f, c, list, n);
			if (*n == before)
				continue;
			fc = &(*list)[*n - 1];
			pos = cJSON_GetObjectItemCaseSensitive(c, "position");
			if ((path = forge_str(pos, "new_path")) == NULL)
				path = forge_str(pos, "old_path");
			fc->path = path ? xstrndup(path, 4096) : NULL;
			fc->line = forge_num(pos, "new_line") > 0 ?
			    forge_num(pos, "new_line") : forge_num(pos, "old_line");
			if (fc->line < 0)
				fc->line = 0;
		}
	json_free(o);
	free(rest);
	free(q);
	return rc;
}

static int
gl_comment_delete(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *id, char *err, size_t errlen)
{
	char *rest = xasprintf("/%s/%lld/notes/%s", kind(on), (long long)number,
	    id);
	int rc = forge_send(f, call, "DELETE", rest, NULL, 204, NULL, NULL,
	    err, errlen);

	free(rest);
	return rc;
}

/* GET /user (outside the project): the token's username. */
static int
gl_user(struct forge_conn *f, char **login, char *err, size_t errlen)
{
	cJSON *o = NULL;
	int rc;

	*login = NULL;
	if (f->cfg->gitlab_bot_username) {
		*login = xstrdup(f->cfg->gitlab_bot_username);
		return 0;
	}
	rc = forge_send(f, call_root, "GET", "/user", NULL, 200, NULL,
	    &o, err, errlen);
	if (rc == 0 && forge_str(o, "username"))
		*login = xstrndup(forge_str(o, "username"), 256);
	json_free(o);
	return rc;
}

/* GET /user: the token user's name and commit email; else its email or
 * public email; else GitLab's no-reply form, ID-USERNAME@users.noreply.HOST
 * (gitlab.com's "Use a private commit email"). */
static int
gl_identity(struct forge_conn *f, char **name, char **email, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "commit_email", "email",
	    "public_email" };
	const char *user, *v;
	cJSON *o = NULL;
	char *host;
	int64_t id;
	size_t i;

	*name = *email = NULL;
	if (forge_send(f, call_root, "GET", "/user", NULL, 200, NULL, &o, err,
	    errlen) == -1)
		return -1;
	user = forge_str(o, "username");
	id = forge_num(o, "id");
	if (user == NULL || strnlen(user, 256) == 256 || id <= 0 ||
	    strspn(user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != strlen(user)) {
		snprintf(err, errlen, "GET %s/user: no usable username and id",
		    f->api);
		json_free(o);
		return -1;
	}
	v = forge_str(o, "name");
	*name = xstrdup(v && identity_name_ok(v) ? v : user);
	for (i = 0; i < nitems(keys) && *email == NULL; i++)
		if ((v = forge_str(o, keys[i])) != NULL &&
		    identity_email_ok(v))
			*email = xstrdup(v);
	if (*email == NULL) {
		host = url_host(f->cfg->gitlab_url);
		*email = xasprintf("%lld-%s@users.noreply.%s", (long long)id,
		    user, host ? host : "gitlab.com");
		free(host);
	}
	json_free(o);
	return 0;
}

static int
gl_pr_find(struct forge_conn *f, const char *branch, struct forge_pr *pr,
    char *err, size_t errlen)
{
	char *q = url_escape(branch);
	char *rest = xasprintf("/merge_requests?source_branch=%s&state=opened",
	    q);
	int rc = forge_pr_first(f, call, rest, "iid", "web_url", pr, err,
	    errlen);

	free(rest);
	free(q);
	return rc;
}

static int
gl_pr_open(struct forge_conn *f, const char *branch, const char *base,
    const char *title, const char *text, bool draft, struct forge_pr *pr,
    char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *o = NULL;
	char *full = xasprintf("%s%s", draft ? "Draft: " : "", title);
	long status;
	int rc;

	memset(pr, 0, sizeof(*pr));
	cJSON_AddStringToObject(body, "source_branch", branch);
	cJSON_AddStringToObject(body, "target_branch", base);
	cJSON_AddStringToObject(body, "title", full);
	cJSON_AddStringToObject(body, "description", text);
	rc = forge_send(f, call, "POST", "/merge_requests", body, 201, &status,
	    &o, err, errlen);
	if (rc == 0)
		forge_pr_from(pr, o, "iid", "web_url");
	else if (status == 409) {
		/* Opened by an earlier attempt whose answer was lost. */
		rc = gl_pr_find(f, branch, pr, err, errlen);
		if (rc == 0 && pr->number == 0)
			rc = -1;
	}
	json_free(o);
	free(full);
	return rc;
}

static int
gl_pr_update(struct forge_conn *f, int64_t number, const char *title,
    const char *text, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject();
	char *rest = xasprintf("/merge_requests/%lld", (long long)number);
	int rc;

	cJSON_AddStringToObject(body, "description", text);
	if (title)
		cJSON_AddStringToObject(body, "title", title);
	rc = forge_send(f, call, "PUT", rest, body, 200, NULL, NULL, err,
	    errlen);
	free(rest);
	return rc;
}

const struct forge_ops gitlab_ops = {
	.name = "gitlab",
	.authenticate = gl_authenticate,
	.can_write = gl_can_write,
	.react = gl_react,
	.issue = gl_issue,
	.comments = gl_comments,
	.comment_create = gl_comment_create,
	.comment_edit = gl_comment_edit,
	.comment_delete = gl_comment_delete,
	.user = gl_user,
	.identity = gl_identity,
	.review_comments = gl_review_comments,
	.pr_find = gl_pr_find,
	.pr_open = gl_pr_open,
	.pr_update = gl_pr_update,
	.ci_failures = gitlab_ci_failures,
	.git_user = "oauth2",
};

/* message as a list of strings, or as field -> string or [strings]. */
void
gitlab_error_items(char **acc, const cJSON *m)
{
	const cJSON *e, *v;
	char *part;
	int n = 0;

	cJSON_ArrayForEach(e, m) {
		if (cJSON_IsString(e) && e->string == NULL) {
			if (n++ < FORGE_MESSAGE_ITEMS)
				forge_message_add(acc, "; ", e->valuestring);
			continue;
		}
		if (e->string == NULL)
			continue;
		if (cJSON_IsString(e)) {
			if (n++ >= FORGE_MESSAGE_ITEMS)
				break;
			part = xasprintf("%s %s", e->string, e->valuestring);
			forge_message_add(acc, "; ", part);
			free(part);
			continue;
		}
		cJSON_ArrayForEach(v, e) {
			if (!cJSON_IsString(v) || n++ >= FORGE_MESSAGE_ITEMS)
				continue;
			part = xasprintf("%s %s", e->string, v->valuestring);
			forge_message_add(acc, "; ", part);
			free(part);
		}
	}
}

/* GitLab sends 429 with Retry-After or RateLimit-Reset, and some 429s
 * with neither (then the client backs off). */
int
gitlab_rate_limit(struct http_limit *l)
{
	int64_t ms;

	if (l->status != 429)
		return 0;
	l->label = "";
	l->what = "rate limited";
	if (l->retry_after_ms >= 0) {
		l->wait_ms = l->retry_after_ms;
		l->how = "retry after";
	} else if ((ms = http_reset_ms(l->client, "ratelimit-reset",
	    l->now_ms)) != -1) {
		l->wait_ms = ms;
		l->how = "reset in";
	} else
		l->wait_ms = -1;
	return 1;
}
