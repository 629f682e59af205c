/*
 * GitHub webhook deliveries into struct forge_event: the X-GitHub-Event name and
 * the payload's action pick a handler, which copies the fields handoff uses
 * and rejects payloads missing what that event needs.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "github_event.h"
#include "json.h"
#include "util.h"

/* Bounds for strings copied out of payloads. */
#define NAME_MAX_BYTES	256		/* logins, repos, branches, labels, enums */
#define URL_MAX_BYTES	2048
#define PATH_MAX_BYTES	4096		/* file paths of inline comments */
#define TITLE_MAX_BYTES	1024
#define BODY_MAX_BYTES	(256 * 1024)	/* 65536 characters of UTF-8 and more */
#define HUNK_MAX_BYTES	(64 * 1024)

/* What fill_common insists on. */
#define NEED_REPO	0x1
#define NEED_SENDER	0x2

struct parse {
	const cJSON	*root;
	struct forge_event	*ev;
	char		 what[128];	/* "issues.labeled", prefix of errors */
	char		*err;
	size_t		 errlen;
};

static char *
need_str(struct parse *p, const char *path, size_t maxlen)
{
	return json_need_str(p->root, path, maxlen, p->what, p->err, p->errlen);
}

static int
need_int(struct parse *p, const char *path, int64_t *out)
{
	return json_need_int(p->root, path, out, p->what, p->err, p->errlen);
}

/* True when the string at path equals s. */
static bool
str_is(const cJSON *root, const char *path, const char *s)
{
	const cJSON *node = json_at(root, path);

	return cJSON_IsString(node) && strcmp(node->valuestring, s) == 0;
}

/*
 * Repository, installation and actor. author names the object of the person
 * who wrote a comment or review ("comment.user"); it wins over the
 * top-level sender, and either being a Bot marks the event as a bot's, so
 * handoff does not answer its own comments.
 */
static int
fill_common(struct parse *p, int need, const char *author)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;
	char login[64] = "", id[64] = "", type[64] = "";

	if (need & NEED_REPO) {
		if ((ev->repo = need_str(p, "repository.full_name",
		    NAME_MAX_BYTES)) == NULL ||
		    need_int(p, "repository.id", &ev->repo_id) == -1)
			return -1;
	} else {
		ev->repo = json_str(r, "repository.full_name", NAME_MAX_BYTES);
		ev->repo_id = json_int(r, "repository.id", 0);
	}
	ev->clone_url = json_str(r, "repository.clone_url", URL_MAX_BYTES);
	ev->default_branch = json_str(r, "repository.default_branch",
	    NAME_MAX_BYTES);
	/* Present only on deliveries to GitHub Apps. */
	ev->installation_id = json_int(r, "installation.id", 0);

	if (author != NULL) {
		snprintf(login, sizeof(login), "%s.login", author);
		snprintf(id, sizeof(id), "%s.id", author);
		snprintf(type, sizeof(type), "%s.type", author);
		ev->sender_is_bot = str_is(r, type, "Bot");
	}
	if (author != NULL && json_has(r, login)) {
		if ((ev->sender = need_str(p, login, NAME_MAX_BYTES)) == NULL)
			return -1;
		ev->sender_id = json_int(r, id, 0);
	} else {
		if (need & NEED_SENDER) {
			if ((ev->sender = need_str(p, "sender.login",
			    NAME_MAX_BYTES)) == NULL)
				return -1;
		} else
			ev->sender = json_str(r, "sender.login",
			    NAME_MAX_BYTES);
		ev->sender_id = json_int(r, "sender.id", 0);
	}
	if (str_is(r, "sender.type", "Bot"))
		ev->sender_is_bot = true;
	return 0;
}

/* The issue (or pull request seen as an issue) an event is about. */
static int
fill_issue(struct parse *p)
{
	struct forge_event *ev = p->ev;

	if (need_int(p, "issue.number", &ev->number) == -1 ||
	    (ev->title = need_str(p, "issue.title", TITLE_MAX_BYTES)) == NULL)
		return -1;
	ev->body = json_str(p->root, "issue.body", BODY_MAX_BYTES);
	/* "Every pull request is an issue": PR comments come as issue_comment
	 * with issue.pull_request set. */
	ev->is_pr = json_has(p->root, "issue.pull_request");
	return 0;
}

/* The pull request of review, review comment and close events. */
static int
fill_pull(struct parse *p)
{
	struct forge_event *ev = p->ev;

	if (need_int(p, "pull_request.number", &ev->number) == -1 ||
	    (ev->title = need_str(p, "pull_request.title",
	    TITLE_MAX_BYTES)) == NULL ||
	    (ev->head_branch = need_str(p, "pull_request.head.ref",
	    NAME_MAX_BYTES)) == NULL)
		return -1;
	ev->body = json_str(p->root, "pull_request.body", BODY_MAX_BYTES);
	ev->is_pr = true;
	return 0;
}

/* issues.labeled: one label per delivery, in the top-level label. */
static int
parse_issue_labeled(struct parse *p)
{
	struct forge_event *ev = p->ev;

	if (fill_common(p, NEED_REPO | NEED_SENDER, NULL) == -1 ||
	    fill_issue(p) == -1 ||
	    (ev->label = need_str(p, "label.name", NAME_MAX_BYTES)) == NULL)
		return -1;
	ev->type = EV_ISSUE_LABELED;
	return 0;
}

/* issue_comment.created, on an issue or a pull request. */
static int
parse_comment(struct parse *p)
{
	struct forge_event *ev = p->ev;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "comment.user") == -1 ||
	    fill_issue(p) == -1 ||
	    (ev->text = need_str(p, "comment.body", BODY_MAX_BYTES)) == NULL ||
	    need_int(p, "comment.id", &ev->comment_id) == -1)
		return -1;
	ev->association = json_str(p->root, "comment.author_association",
	    NAME_MAX_BYTES);
	ev->type = EV_COMMENT;
	return 0;
}

/* pull_request_review.submitted; the body is null for a bare approval. */
static int
parse_review(struct parse *p)
{
	struct forge_event *ev = p->ev;
	char *s;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "review.user") == -1 ||
	    fill_pull(p) == -1 ||
	    need_int(p, "review.id", &ev->comment_id) == -1 ||
	    (ev->review_state = need_str(p, "review.state",
	    NAME_MAX_BYTES)) == NULL)
		return -1;
	/* Webhooks send lowercase states, the REST API uppercase; normalize. */
	for (s = ev->review_state; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
	ev->text = json_str(p->root, "review.body", BODY_MAX_BYTES);
	ev->association = json_str(p->root, "review.author_association",
	    NAME_MAX_BYTES);
	ev->type = EV_REVIEW;
	return 0;
}

/* pull_request_review_comment.created: an inline comment on the diff. */
static int
parse_review_comment(struct parse *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "comment.user") == -1 ||
	    fill_pull(p) == -1 ||
	    (ev->text = need_str(p, "comment.body", BODY_MAX_BYTES)) == NULL ||
	    need_int(p, "comment.id", &ev->comment_id) == -1 ||
	    (ev->path = need_str(p, "comment.path", PATH_MAX_BYTES)) == NULL)
		return -1;
	/* line is null on outdated comments; original_line still says where
	 * the comment was made. */
	ev->line = json_int(r, "comment.line",
	    json_int(r, "comment.original_line", 0));
	ev->diff_hunk = json_str(r, "comment.diff_hunk", HUNK_MAX_BYTES);
	ev->association = json_str(r, "comment.author_association",
	    NAME_MAX_BYTES);
	/* The review it belongs to, whose other comments the task wants. */
	ev->review_id = json_int(r, "comment.pull_request_review_id", 0);
	if (ev->review_id < 0)
		ev->review_id = 0;
	ev->type = EV_REVIEW_COMMENT;
	return 0;
}

/* pull_request.closed, merged or not. */
static int
parse_pr_closed(struct parse *p)
{
	struct forge_event *ev = p->ev;

	if (fill_common(p, NEED_REPO, NULL) == -1 || fill_pull(p) == -1)
		return -1;
	ev->merged = json_bool(p->root, "pull_request.merged", false);
	ev->type = EV_PR_CLOSED;
	return 0;
}

/*
 * check_suite.completed. "Pushes from forks yield an empty pull_requests
 * and a null head_branch", so both are optional.
 */
static int
parse_check_suite(struct parse *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root, *prs;

	if (fill_common(p, NEED_REPO, NULL) == -1)
		return -1;
	if (!cJSON_IsObject(json_at(r, "check_suite"))) {
		snprintf(p->err, p->errlen, "%s: missing check_suite", p->what);
		return -1;
	}
	ev->conclusion = json_str(r, "check_suite.conclusion", NAME_MAX_BYTES);
	ev->head_branch = json_str(r, "check_suite.head_branch",
	    NAME_MAX_BYTES);
	prs = json_at(r, "check_suite.pull_requests");
	if (prs != NULL && !cJSON_IsNull(prs) && !cJSON_IsArray(prs)) {
		snprintf(p->err, p->errlen,
		    "%s: check_suite.pull_requests is not an array", p->what);
		return -1;
	}
	if (cJSON_GetArraySize(prs) > 0) {
		if (need_int(p, "check_suite.pull_requests.0.number",
		    &ev->number) == -1)
			return -1;
		ev->is_pr = true;
	}
	ev->type = EV_CI_COMPLETED;
	return 0;
}

static int
parse_ping(struct parse *p)
{
	if (fill_common(p, 0, NULL) == -1)
		return -1;
	p->ev->type = EV_PING;
	return 0;
}

static int
parse_installation(struct parse *p)
{
	if (fill_common(p, 0, NULL) == -1)
		return -1;
	p->ev->type = EV_INSTALLATION;
	return 0;
}

static const struct handler {
	const char	*name;
	const char	*action;	/* NULL: any action */
	int		(*parse)(struct parse *);
} handlers[] = {
	{ "issues", "labeled", parse_issue_labeled },
	{ "issue_comment", "created", parse_comment },
	{ "pull_request_review", "submitted", parse_review },
	{ "pull_request_review_comment", "created", parse_review_comment },
	{ "pull_request", "closed", parse_pr_closed },
	{ "check_suite", "completed", parse_check_suite },
	{ "ping", NULL, parse_ping },
	{ "installation", NULL, parse_installation },
};

/*
 * Parse one delivery. Events and actions without a handler become EV_OTHER
 * with whatever repository and sender they carry, so they can be logged.
 */
struct forge_event *
ghev_parse(const char *name, const char *json, size_t len, char *err,
    size_t errlen)
{
	struct parse p;
	struct forge_event *ev = NULL;
	cJSON *root = NULL;
	const cJSON *action;
	size_t i;
	int rc = -1;

	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "github: missing event name");
		goto out;
	}
	if ((root = json_parse(json, len, JSON_MAX_DEPTH)) == NULL) {
		snprintf(err, errlen, "%.64s: invalid JSON or nesting deeper "
		    "than %d", name, JSON_MAX_DEPTH);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%.64s: payload is not a JSON object",
		    name);
		goto out;
	}
	action = json_at(root, "action");
	if (action != NULL && !cJSON_IsNull(action) &&
	    !cJSON_IsString(action)) {
		snprintf(err, errlen, "%.64s: action is not a string", name);
		goto out;
	}

	ev = xcalloc(1, sizeof(*ev));
	ev->forge = FORGE_GITHUB;
	ev->type = EV_OTHER;
	ev->name = xstrndup(name, NAME_MAX_BYTES);
	ev->action = json_str(root, "action", NAME_MAX_BYTES);

	memset(&p, 0, sizeof(p));
	p.root = root;
	p.ev = ev;
	p.err = err;
	p.errlen = errlen;
	if (ev->action != NULL)
		snprintf(p.what, sizeof(p.what), "%.64s.%.60s", name,
		    ev->action);
	else
		snprintf(p.what, sizeof(p.what), "%.64s", name);

	for (i = 0; i < nitems(handlers); i++) {
		if (strcmp(handlers[i].name, name) != 0)
			continue;
		if (handlers[i].action != NULL && (ev->action == NULL ||
		    strcmp(handlers[i].action, ev->action) != 0))
			continue;
		rc = handlers[i].parse(&p);
		goto out;
	}
	rc = fill_common(&p, 0, NULL);
out:
	json_free(root);
	if (rc == -1) {
		forge_event_free(ev);
		return NULL;
	}
	return ev;
}
