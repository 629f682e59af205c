/*
 * struct forge_event: one forge delivery, normalized. github_event.c and
 * gitlab_event.c fill it from a payload; rules.c decides what it asks for.
 * Every string is owned by the event and bounded when parsed.
 */
#ifndef HANDOFF_EVENT_H
#define HANDOFF_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* A forge; FORGE_LOCAL is `handoff run`'s, which no delivery comes from. */
enum forge { FORGE_GITHUB, FORGE_GITLAB, FORGE_LOCAL };

/* What a request was made on: the issue (or its comment), the pull
 * request's conversation (or a comment there), a review of the pull
 * request, an inline comment on its diff, or failed CI (which the forge
 * operations take as the issue). */
enum forge_on { FORGE_ON_ISSUE, FORGE_ON_PR, FORGE_ON_REVIEW,
    FORGE_ON_REVIEW_COMMENT, FORGE_ON_CI };

/* Bounds on a title and a body (issue, pull request, comment) taken from
 * a forge, in a webhook payload or an API answer. */
#define FORGE_TITLE_MAX	1024
#define FORGE_BODY_MAX	(256 * 1024)	/* 65536 characters of UTF-8 and more */

enum event_type {
	EV_OTHER = 0,		/* an event or action handoff does not act on */
	EV_PING,		/* GitHub ping */
	EV_INSTALLATION,	/* GitHub App installation changes */
	EV_ISSUE_LABELED,	/* a label was added to an issue */
	EV_COMMENT,		/* a new comment on an issue or a pull request */
	EV_REVIEW,		/* a pull request review was submitted */
	EV_REVIEW_COMMENT,	/* a new inline (diff) comment on a pull request */
	EV_PR_CLOSED,		/* a pull request was closed or merged */
	EV_CI_COMPLETED,	/* a check suite / pipeline finished */
};

struct forge_event {
	enum forge	 forge;
	enum event_type	 type;
	char		*name;		/* the event header: "issues", "Note Hook", ... */
	char		*action;	/* payload action, when any */

	/* repository */
	char		*repo;		/* "owner/name" or "group/sub/project" */
	int64_t		 repo_id;
	char		*clone_url;	/* GitHub repository.clone_url, GitLab project.git_http_url */
	char		*default_branch;
	int64_t		 installation_id;	/* GitHub App installations, else 0 */

	/* the issue or pull request */
	int64_t		 number;	/* issue number / iid, or the PR number when is_pr */
	bool		 is_pr;		/* the thing commented on is a pull (merge) request */
	char		*title;
	char		*body;		/* issue or PR description, may be NULL */
	char		*head_branch;	/* PR source branch, when known */

	/* who acted */
	char		*sender;	/* login / username */
	int64_t		 sender_id;
	bool		 sender_is_bot;
	char		*association;	/* GitHub author_association of the comment or review, else NULL */

	/* what they did */
	char		*label;		/* EV_ISSUE_LABELED: the label added */
	char		*text;		/* comment or review body, may be NULL */
	int64_t		 comment_id;	/* comment, note or review id */
	char		*review_state;	/* lowercase: changes_requested, commented, approved, dismissed */
	char		*path;		/* inline comment: file */
	int64_t		 line;		/* inline comment: line, 0 when unknown */
	char		*diff_hunk;	/* inline comment: hunk, when the forge sends it */
	char		*discussion_id;	/* GitLab discussion, for replies */
	int64_t		 review_id;	/* GitHub: the review an inline comment belongs to, else 0 */
	bool		 merged;	/* EV_PR_CLOSED: merged rather than closed */
	char		*conclusion;	/* EV_CI_COMPLETED: "failure", "success", "failed", ... */
	int64_t		 ci_id;		/* EV_CI_COMPLETED: check suite / pipeline id, 0 unknown */
	const char	*why_other;	/* EV_OTHER: why handoff does not act on it (static), or NULL */
};

const char *forge_name(enum forge forge);
const char *forge_event_type_name(enum event_type type);
/* The name of the first field in which a and b differ, or NULL when they
 * hold the same. */
const char *forge_event_diff(const struct forge_event *a,
    const struct forge_event *b);
/* Free every string the event owns and the event itself. */
void forge_event_free(struct forge_event *ev);

#endif
