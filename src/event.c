/*
 * struct forge_event helpers shared by both forges' parsers: printable names for
 * forges and event types, comparing, and freeing.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* "github", "gitlab" or "local", as used in configuration and logs. */
const char *
forge_name(enum forge forge)
{
	switch (forge) {
	case FORGE_GITHUB:
		return "github";
	case FORGE_GITLAB:
		return "gitlab";
	case FORGE_LOCAL:
		return "local";
	}
	return "unknown";
}

/* A short lowercase name for logs and the job store. */
const char *
forge_event_type_name(enum event_type type)
{
	switch (type) {
	case EV_OTHER:
		return "other";
	case EV_PING:
		return "ping";
	case EV_INSTALLATION:
		return "installation";
	case EV_ISSUE_LABELED:
		return "issue_labeled";
	case EV_COMMENT:
		return "comment";
	case EV_REVIEW:
		return "review";
	case EV_REVIEW_COMMENT:
		return "review_comment";
	case EV_PR_CLOSED:
		return "pr_closed";
	case EV_CI_COMPLETED:
		return "ci_completed";
	}
	return "unknown";
}

/* Free every string the event owns and the event itself; NULL is fine. */
void
forge_event_free(struct forge_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->name);
	free(ev->action);
	free(ev->repo);
	free(ev->clone_url);
	free(ev->default_branch);
	free(ev->title);
	free(ev->body);
	free(ev->head_branch);
	free(ev->sender);
	free(ev->association);
	free(ev->label);
	free(ev->text);
	free(ev->review_state);
	free(ev->path);
	free(ev->diff_hunk);
	free(ev->discussion_id);
	free(ev->conclusion);
	free(ev);
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The name of the first field in which a and b differ, or NULL. */
const char *
forge_event_diff(const struct forge_event *a, const struct forge_event *b)
{
#define S(f) if (!same_str(a->f, b->f)) return #f;
#define N(f) if (a->f != b->f) return #f;
	N(forge) N(type) S(name) S(action) S(repo) N(repo_id) S(clone_url)
	S(default_branch) N(installation_id) N(number) N(is_pr) S(title)
	S(body) S(head_branch) S(sender) N(sender_id) N(sender_is_bot)
	S(association) S(label) S(text) N(comment_id) S(review_state) S(path)
	N(line) S(diff_hunk) S(discussion_id) N(review_id) N(merged)
	S(conclusion) N(ci_id) S(why_other)
#undef S
#undef N
	return NULL;
}
