/*
 * GitLab webhook deliveries into struct forge_event: the X-Gitlab-Event name picks
 * a handler, object_kind confirms it, and object_attributes says what
 * happened. Field names follow GitLab's "Webhook events" documentation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "gitlab_event.h"
#include "json.h"
#include "payload.h"
#include "util.h"

/* Bounds for the labels of a delivery. */
#define LABELS_MAX	500		/* label objects looked at per list */
#define LABELS_MAX_BYTES (16 * 1024)	/* all added titles, joined */

/* What fill_common insists on. */
#define NEED_REPO	0x1
#define NEED_SENDER	0x2

/*
 * Project and group access tokens act as bot users named
 * project_<id>_bot… / group_<id>_bot… (the suffix varies by version), i.e.
 * ^(project|group)_[0-9]+_bot.
 */
static bool
is_token_bot(const char *username)
{
	const char *s = username;

	if (s == NULL)
		return false;
	if (strncmp(s, "project_", 8) == 0)
		s += 8;
	else if (strncmp(s, "group_", 6) == 0)
		s += 6;
	else
		return false;
	if (strspn(s, "0123456789") == 0)
		return false;
	s += strspn(s, "0123456789");
	return strncmp(s, "_bot", 4) == 0;
}

/* Project and actor (user is whoever triggered the hook). */
static int
fill_common(struct payload *p, int need)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (need & NEED_REPO) {
		if ((ev->repo = payload_need_str(p,
		    "project.path_with_namespace", PAYLOAD_NAME_MAX)) == NULL ||
		    payload_need_int(p, "project.id", &ev->repo_id) == -1)
			return -1;
	} else {
		ev->repo = json_str(r, "project.path_with_namespace",
		    PAYLOAD_NAME_MAX);
		ev->repo_id = json_int(r, "project.id", 0);
	}
	ev->clone_url = json_str(r, "project.git_http_url", PAYLOAD_URL_MAX);
	ev->default_branch = json_str(r, "project.default_branch",
	    PAYLOAD_NAME_MAX);
	if (need & NEED_SENDER) {
		if ((ev->sender = payload_need_str(p, "user.username",
		    PAYLOAD_NAME_MAX)) == NULL)
			return -1;
	} else
		ev->sender = json_str(r, "user.username", PAYLOAD_NAME_MAX);
	ev->sender_id = json_int(r, "user.id", 0);
	ev->sender_is_bot = is_token_bot(ev->sender);
	return 0;
}

/* An event handoff does not act on, and why: keep what helps a log line. */
static int
other(struct payload *p, const char *why)
{
	p->ev->type = EV_OTHER;
	p->ev->why_other = why;
	return fill_common(p, 0);
}

/* True when an array of label objects holds one titled title. */
static bool
has_label(const cJSON *labels, const char *title)
{
	const cJSON *l;
	int n = 0;

	cJSON_ArrayForEach(l, labels) {
		if (n++ >= LABELS_MAX)
			break;
		if (payload_str_is(l, "title", title))
			return true;
	}
	return false;
}

/*
 * Titles in changes.labels.current but not in changes.labels.previous,
 * joined by "\n" into *out (NULL when none). GitLab reports a label change
 * as the whole list before and after, so one delivery may add several
 * labels. Titles that are empty, too long or contain "\n" are skipped: they
 * cannot be a configured trigger label and would break the joining.
 */
static int
added_labels(struct payload *p, char **out)
{
	const cJSON *cur, *prev, *l, *t;
	char *buf = NULL;
	size_t len = 0, n;
	int i = 0;

	*out = NULL;
	cur = json_at(p->root, "changes.labels.current");
	prev = json_at(p->root, "changes.labels.previous");
	if (cur == NULL || cJSON_IsNull(cur))
		return 0;
	if (!cJSON_IsArray(cur) ||
	    (prev != NULL && !cJSON_IsNull(prev) && !cJSON_IsArray(prev))) {
		snprintf(p->err, p->errlen, "%s: changes.labels is not a pair "
		    "of arrays", p->what);
		return -1;
	}
	cJSON_ArrayForEach(l, cur) {
		if (i++ >= LABELS_MAX)
			break;
		t = json_at(l, "title");
		if (!cJSON_IsString(t))
			continue;
		n = strlen(t->valuestring);
		if (n == 0 || n > PAYLOAD_NAME_MAX ||
		    strchr(t->valuestring, '\n') != NULL ||
		    has_label(prev, t->valuestring))
			continue;
		if (len + n + 2 > LABELS_MAX_BYTES)
			break;
		buf = xrealloc(buf, len + n + 2);
		if (len > 0)
			buf[len++] = '\n';
		memcpy(buf + len, t->valuestring, n + 1);
		len += n;
	}
	*out = buf;
	return 0;
}

/*
 * Issue Hook: handoff acts when labels were added. Work items other than
 * issues (tasks, …) arrive under the same header with object_kind
 * "work_item" (gitlab-org/gitlab#517947) and are ignored.
 */
static int
parse_issue(struct payload *p)
{
	struct forge_event *ev = p->ev;
	char *labels;

	if (!payload_str_is(p->root, "object_kind", "issue"))
		return other(p, "not an issue (a work item)");
	if (added_labels(p, &labels) == -1)
		return -1;
	if (labels == NULL)
		return other(p, "no label added");
	/* ev->label holds every added title, "\n"-separated; rules split it. */
	ev->label = labels;
	if (fill_common(p, NEED_REPO | NEED_SENDER) == -1 ||
	    payload_need_int(p, "object_attributes.iid", &ev->number) == -1 ||
	    (ev->title = payload_need_str(p, "object_attributes.title",
	    FORGE_TITLE_MAX)) == NULL)
		return -1;
	ev->body = json_str(p->root, "object_attributes.description",
	    FORGE_BODY_MAX);
	ev->type = EV_ISSUE_LABELED;
	return 0;
}

/* The merge request a note is about. */
static int
fill_note_mr(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (payload_need_int(p, "merge_request.iid", &ev->number) == -1 ||
	    (ev->title = payload_need_str(p, "merge_request.title",
	    FORGE_TITLE_MAX)) == NULL ||
	    (ev->head_branch = payload_need_str(p,
	    "merge_request.source_branch", PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	ev->body = json_str(r, "merge_request.description", FORGE_BODY_MAX);
	ev->is_pr = true;
	ev->type = EV_COMMENT;

	/* A DiffNote with a position is an inline comment on the diff. */
	if (!payload_str_is(r, "object_attributes.type", "DiffNote") ||
	    !cJSON_IsObject(json_at(r, "object_attributes.position")))
		return 0;
	ev->path = json_str(r, "object_attributes.position.new_path",
	    PAYLOAD_PATH_MAX);
	if (ev->path == NULL)
		ev->path = json_str(r, "object_attributes.position.old_path",
		    PAYLOAD_PATH_MAX);
	if (ev->path == NULL) {
		snprintf(p->err, p->errlen, "%s: DiffNote without "
		    "object_attributes.position.new_path", p->what);
		return -1;
	}
	/* new_line is null on a removed line, old_line on an added one. */
	ev->line = json_int(r, "object_attributes.position.new_line",
	    json_int(r, "object_attributes.position.old_line", 0));
	/* Older GitLab versions send the hunk as st_diff. */
	ev->diff_hunk = json_str(r, "object_attributes.st_diff.diff",
	    PAYLOAD_HUNK_MAX);
	ev->type = EV_REVIEW_COMMENT;
	return 0;
}

/*
 * Note Hook: a new comment. Since 16.11 edits fire too, with
 * object_attributes.action "update"; older versions have no action and only
 * send creations. System notes ("added label ~x") are GitLab's own.
 */
static int
parse_note(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (!payload_str_is(r, "object_kind", "note") ||
	    (json_has(r, "object_attributes.action") &&
	    !payload_str_is(r, "object_attributes.action", "create")) ||
	    json_bool(r, "object_attributes.system", false))
		return other(p, "not a new comment (an edit or a system note)");
	if (!payload_str_is(r, "object_attributes.noteable_type", "Issue") &&
	    !payload_str_is(r, "object_attributes.noteable_type",
	    "MergeRequest")) {
		/* Commit and Snippet notes; but the type itself is required. */
		if (!cJSON_IsString(json_at(r,
		    "object_attributes.noteable_type"))) {
			snprintf(p->err, p->errlen, "%s: missing "
			    "object_attributes.noteable_type", p->what);
			return -1;
		}
		return other(p, "a comment on neither an issue nor a merge"
		    " request");
	}
	if (fill_common(p, NEED_REPO | NEED_SENDER) == -1 ||
	    (ev->text = payload_need_str(p, "object_attributes.note",
	    FORGE_BODY_MAX)) == NULL ||
	    payload_need_int(p, "object_attributes.id", &ev->comment_id) == -1)
		return -1;
	ev->discussion_id = json_str(r, "object_attributes.discussion_id",
	    PAYLOAD_NAME_MAX);
	if (payload_str_is(r, "object_attributes.noteable_type",
	    "MergeRequest"))
		return fill_note_mr(p);
	if (payload_need_int(p, "issue.iid", &ev->number) == -1 ||
	    (ev->title = payload_need_str(p, "issue.title",
	    FORGE_TITLE_MAX)) == NULL)
		return -1;
	ev->body = json_str(r, "issue.description", FORGE_BODY_MAX);
	ev->type = EV_COMMENT;
	return 0;
}

/* Merge Request Hook: closed or merged. */
static int
parse_merge_request(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;

	if (!payload_str_is(r, "object_kind", "merge_request") ||
	    (!payload_str_is(r, "object_attributes.action", "close") &&
	    !payload_str_is(r, "object_attributes.action", "merge")))
		return other(p, "merge request neither closed nor merged");
	if (fill_common(p, NEED_REPO) == -1 ||
	    payload_need_int(p, "object_attributes.iid", &ev->number) == -1 ||
	    (ev->head_branch = payload_need_str(p,
	    "object_attributes.source_branch", PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	ev->title = json_str(r, "object_attributes.title", FORGE_TITLE_MAX);
	ev->body = json_str(r, "object_attributes.description",
	    FORGE_BODY_MAX);
	ev->merged = payload_str_is(r, "object_attributes.action", "merge");
	ev->is_pr = true;
	ev->type = EV_PR_CLOSED;
	return 0;
}

/*
 * Pipeline Hook in a final state. For a merge request pipeline the branch
 * is the MR's source_branch: object_attributes.ref may name the MR ref
 * (refs/merge-requests/<iid>/head) rather than the branch, and GitLab's own
 * example pairs ref "master" with source_branch "test".
 */
static int
parse_pipeline(struct payload *p)
{
	struct forge_event *ev = p->ev;
	const cJSON *r = p->root;
	char *status;

	if (!payload_str_is(r, "object_kind", "pipeline"))
		return other(p, "not a pipeline");
	if ((status = payload_need_str(p, "object_attributes.status",
	    PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	if (strcmp(status, "failed") != 0 && strcmp(status, "success") != 0 &&
	    strcmp(status, "canceled") != 0) {
		free(status);
		return other(p, "pipeline not finished");
	}
	ev->conclusion = status;
	if ((ev->ci_id = json_int(r, "object_attributes.id", 0)) < 0)
		ev->ci_id = 0;
	if (fill_common(p, NEED_REPO) == -1)
		return -1;
	if (json_has(r, "merge_request")) {
		if (payload_need_int(p, "merge_request.iid", &ev->number) == -1)
			return -1;
		ev->is_pr = true;
		ev->title = json_str(r, "merge_request.title", FORGE_TITLE_MAX);
		ev->head_branch = json_str(r, "merge_request.source_branch",
		    PAYLOAD_NAME_MAX);
	}
	if (ev->head_branch == NULL &&
	    (ev->head_branch = payload_need_str(p, "object_attributes.ref",
	    PAYLOAD_NAME_MAX)) == NULL)
		return -1;
	ev->type = EV_CI_COMPLETED;
	return 0;
}

/* Every member the handlers above read; the rest of a delivery is checked
 * and left out of the tree (json_parse_kept). A path read here and not
 * listed reads as absent: tests/unit/test_events.c compares each sample's
 * event with the one its whole tree gives. */
static const char *const kept_paths[] = {
	"object_kind", "object_attributes",
	"project.path_with_namespace", "project.id", "project.git_http_url",
	"project.default_branch",
	"user.username", "user.id",
	"changes.labels",
	"issue.iid", "issue.title", "issue.description",
	"merge_request.iid", "merge_request.title", "merge_request.description",
	"merge_request.source_branch",
	NULL
};
static struct payload_kept kept = { kept_paths, NULL };

static const struct handler {
	const char	*name;
	int		(*parse)(struct payload *);
} handlers[] = {
	{ "Issue Hook", parse_issue },
	{ "Confidential Issue Hook", parse_issue },
	{ "Note Hook", parse_note },
	{ "Confidential Note Hook", parse_note },
	{ "Merge Request Hook", parse_merge_request },
	{ "Pipeline Hook", parse_pipeline },
};

/*
 * Parse one delivery. Other hooks (Push, Job, Emoji, …) become EV_OTHER
 * with the project and user they carry.
 */
struct forge_event *
glev_parse(const char *name, const char *json, size_t len, char *err,
    size_t errlen)
{
	struct payload p;
	struct forge_event *ev = NULL;
	cJSON *root = NULL;
	char what[80];
	size_t i;
	int rc = -1;

	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "gitlab: missing event name");
		goto out;
	}
	snprintf(what, sizeof(what), "%.64s", name);
	if ((root = payload_open(name, json, len, &kept, err, errlen)) == NULL)
		goto out;

	ev = payload_event_new(FORGE_GITLAB, name);
	ev->action = json_str(root, "object_attributes.action",
	    PAYLOAD_NAME_MAX);

	memset(&p, 0, sizeof(p));
	p.root = root;
	p.ev = ev;
	p.what = what;
	p.err = err;
	p.errlen = errlen;
	for (i = 0; i < nitems(handlers); i++) {
		if (strcmp(handlers[i].name, name) == 0) {
			rc = handlers[i].parse(&p);
			goto out;
		}
	}
	rc = other(&p, "event not handled");
out:
	json_free(root);
	if (rc == -1) {
		forge_event_free(ev);
		return NULL;
	}
	return ev;
}
