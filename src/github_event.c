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
#include "payload.h"
#include "util.h"

/* What fill_common insists on. */
#define NEED_REPO	0x1
#define NEED_SENDER	0x2

/*
 * Repository, installation and actor. author names the object of the person
 * who wrote a comment or review ("comment.user"); it wins over the
 * top-level sender, and either being a Bot marks the event as a bot's, so
 * handoff does not answer its own comments.
 */
static int
fill_common(struct payload *p, int need, const char *author)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;
	char login[64] = "", id[64] = "", type[64] = "";

	if (need & NEED_REPO) {
		if ((ev->repo = payload_need_str(p, "repository.full_name",
		    PAYLOAD_NAME_MAX)) == NULL ||
		    payload_need_int(p, "repository.id", &ev->repo_id) == -1)
			return -1;
	} else {
		ev->repo = json_str(r, "repository.full_name",
		    PAYLOAD_NAME_MAX);
		ev->repo_id = json_int(r, "repository.id", 0);
	}
	ev->clone_url = json_str(r, "repository.clone_url", PAYLOAD_URL_MAX);
	ev->default_branch = json_str(r, "repository.default_branch",
	    PAYLOAD_NAME_MAX);
	/* Present only on deliveries to GitHub Apps. */
	ev->installation_id = json_int(r, "installation.id", 0);

	if (author != NULL) {
		snprintf(login, sizeof(login), "%s.login", author);
		snprintf(id, sizeof(id), "%s.id", author);
		snprintf(type, sizeof(type), "%s.type", author);
		ev->sender_is_bot = payload_str_is(r, type, "Bot");
	}
	if (author != NULL && json_has(r, login)) {
		if ((ev->sender = payload_need_str(p, login,
		    PAYLOAD_NAME_MAX)) == NULL)
			return -1;
		ev->sender_id = json_int(r, id, 0);
	} else {
		if (need & NEED_SENDER) {
			if ((ev->sender = payload_need_str(p, "sender.login",
			    PAYLOAD_NAME_MAX)) == NULL)
				return -1;
		} else
			ev->sender = json_str(r, "sender.login",
			    PAYLOAD_NAME_MAX);
		ev->sender_id = json_int(r, "sender.id", 0);
	}
	if (payload_str_is(r, "sender.type", "Bot"))
		ev->sender_is_bot = true;
	return 0;
}

/* The issue (or pull request seen as an issue) an event is about. */
static int
fill_issue(struct payload *p)
{
	struct forge_event *ev = p->ev;

	if (payload_need_int(p, "issue.number", &ev->number) == -1 ||
	    (ev->title = payload_need_str(p, "issue.title",
	    FORGE_TITLE_MAX)) == NULL)
		return -1;
	ev->body = json_str(p->root, "issue.body", FORGE_BODY_MAX);
	/* "Every pull request is an issue": PR comments come as issue_comment
	 * with issue.pull_request set. */
	ev->is_pr = json_has(p->root, "issue.pull_request");
	return 0;
}

/* The pull request of review, review comment and close events. */
static int
fill_pull(struct payload *p)
{
	struct forge_event *ev = p->ev;

	if (payload_need_int(p, "pull_request.number", &ev->number) == -1 ||
	    (ev->title = payload_need_str(p, "pull_request.title",
	    FORGE_TITLE_MAX)) == NULL ||
	    (ev->head_branch = payload_need_str(p, "pull_request.head.ref",
	    PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	ev->body = json_str(p->root, "pull_request.body", FORGE_BODY_MAX);
	ev->is_pr = true;
	return 0;
}

/* issues.labeled: one label per delivery, in the top-level label. */
static int
parse_issue_labeled(struct payload *p)
{
	struct forge_event *ev = p->ev;

	if (fill_common(p, NEED_REPO | NEED_SENDER, NULL) == -1 ||
	    fill_issue(p) == -1 ||
	    (ev->label = payload_need_str(p, "label.name",
	    PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	ev->type = EV_ISSUE_LABELED;
	return 0;
}

/* issue_comment.created, on an issue or a pull request. */
static int
parse_comment(struct payload *p)
{
	struct forge_event *ev = p->ev;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "comment.user") == -1 ||
	    fill_issue(p) == -1 ||
	    (ev->text = payload_need_str(p, "comment.body",
	    FORGE_BODY_MAX)) == NULL ||
	    payload_need_int(p, "comment.id", &ev->comment_id) == -1)
		return -1;
	ev->association = json_str(p->root, "comment.author_association",
	    PAYLOAD_NAME_MAX);
	ev->type = EV_COMMENT;
	return 0;
}

/* pull_request_review.submitted; the body is null for a bare approval. */
static int
parse_review(struct payload *p)
{
	struct forge_event *ev = p->ev;
	char *s;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "review.user") == -1 ||
	    fill_pull(p) == -1 ||
	    payload_need_int(p, "review.id", &ev->comment_id) == -1 ||
	    (ev->review_state = payload_need_str(p, "review.state",
	    PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	/* Webhooks send lowercase states, the REST API uppercase; normalize. */
	for (s = ev->review_state; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
	ev->text = json_str(p->root, "review.body", FORGE_BODY_MAX);
	ev->association = json_str(p->root, "review.author_association",
	    PAYLOAD_NAME_MAX);
	ev->type = EV_REVIEW;
	return 0;
}

/* pull_request_review_comment.created: an inline comment on the diff. */
static int
parse_review_comment(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (fill_common(p, NEED_REPO | NEED_SENDER, "comment.user") == -1 ||
	    fill_pull(p) == -1 ||
	    (ev->text = payload_need_str(p, "comment.body",
	    FORGE_BODY_MAX)) == NULL ||
	    payload_need_int(p, "comment.id", &ev->comment_id) == -1 ||
	    (ev->path = payload_need_str(p, "comment.path",
	    PAYLOAD_PATH_MAX)) == NULL)
		return -1;
	/* line is null on outdated comments; original_line still says where
	 * the comment was made. */
	ev->line = json_int(r, "comment.line",
	    json_int(r, "comment.original_line", 0));
	ev->diff_hunk = json_str(r, "comment.diff_hunk", PAYLOAD_HUNK_MAX);
	ev->association = json_str(r, "comment.author_association",
	    PAYLOAD_NAME_MAX);
	/* The review it belongs to, whose other comments the task wants. */
	ev->review_id = json_int(r, "comment.pull_request_review_id", 0);
	if (ev->review_id < 0)
		ev->review_id = 0;
	ev->type = EV_REVIEW_COMMENT;
	return 0;
}

/* pull_request.closed, merged or not. */
static int
parse_pr_closed(struct payload *p)
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
parse_check_suite(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root, *prs;

	if (fill_common(p, NEED_REPO, NULL) == -1)
		return -1;
	if (!cJSON_IsObject(json_at(r, "check_suite"))) {
		snprintf(p->err, p->errlen, "%s: missing check_suite", p->what);
		return -1;
	}
	ev->conclusion = json_str(r, "check_suite.conclusion",
	    PAYLOAD_NAME_MAX);
	ev->head_branch = json_str(r, "check_suite.head_branch",
	    PAYLOAD_NAME_MAX);
	if ((ev->ci_id = json_int(r, "check_suite.id", 0)) < 0)
		ev->ci_id = 0;
	prs = json_at(r, "check_suite.pull_requests");
	if (prs != NULL && !cJSON_IsNull(prs) && !cJSON_IsArray(prs)) {
		snprintf(p->err, p->errlen,
		    "%s: check_suite.pull_requests is not an array", p->what);
		return -1;
	}
	if (cJSON_GetArraySize(prs) > 0) {
		if (payload_need_int(p, "check_suite.pull_requests.0.number",
		    &ev->number) == -1)
			return -1;
		ev->is_pr = true;
	}
	ev->type = EV_CI_COMPLETED;
	return 0;
}

static int
parse_ping(struct payload *p)
{
	if (fill_common(p, 0, NULL) == -1)
		return -1;
	p->ev->type = EV_PING;
	return 0;
}

static int
parse_installation(struct payload *p)
{
	if (fill_common(p, 0, NULL) == -1)
		return -1;
	p->ev->type = EV_INSTALLATION;
	return 0;
}

/* Every member the handlers above read; the rest of a delivery is checked
 * and left out of the tree (json_parse_kept). A path read here and not
 * listed reads as absent: tests/unit/test_events.c compares each sample's
 * event with the one its whole tree gives. */
static const char *const kept_paths[] = {
	"action",
	"repository.full_name", "repository.id", "repository.clone_url",
	"repository.default_branch",
	"installation.id",
	"sender.login", "sender.id", "sender.type",
	"issue.number", "issue.title", "issue.body", "issue.pull_request",
	"pull_request.number", "pull_request.title", "pull_request.body",
	"pull_request.head.ref", "pull_request.merged",
	"label.name",
	"comment.user.login", "comment.user.id", "comment.user.type",
	"comment.body", "comment.id", "comment.author_association",
	"comment.path", "comment.line", "comment.original_line",
	"comment.diff_hunk", "comment.pull_request_review_id",
	"review.user.login", "review.user.id", "review.user.type",
	"review.id", "review.state", "review.body", "review.author_association",
	"check_suite.conclusion", "check_suite.head_branch", "check_suite.id",
	"check_suite.pull_requests",
	NULL
};
static struct payload_kept kept = { kept_paths, NULL };

static const struct handler {
	const char	*name;
	const char	*action;	/* NULL: any action */
	int		(*parse)(struct payload *);
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
	struct payload p;
	struct forge_event *ev = NULL;
	cJSON *root = NULL;
	const cJSON *action;
	char what[128];	/* "issues.labeled", prefix of errors */
	size_t i;
	int rc = -1;

	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "github: missing event name");
		goto out;
	}
	if ((root = payload_open(name, json, len, &kept, err, errlen)) == NULL)
		goto out;
	action = json_at(root, "action");
	if (action != NULL && !cJSON_IsNull(action) &&
	    !cJSON_IsString(action)) {
		snprintf(err, errlen, "%.64s: action is not a string", name);
		goto out;
	}

	ev = payload_event_new(FORGE_GITHUB, name);
	ev->action = json_str(root, "action", PAYLOAD_NAME_MAX);

	memset(&p, 0, sizeof(p));
	p.root = root;
	p.ev = ev;
	p.err = err;
	p.what = what;
	p.errlen = errlen;
	if (ev->action != NULL)
		snprintf(what, sizeof(what), "%.64s.%.60s", name, ev->action);
	else
		snprintf(what, sizeof(what), "%.64s", name);

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
