/*
 * One interface over the forges' REST APIs (GitHub, GitLab): what a
 * runner asks of a forge, as a table of operations each forge implements.
 * The runner speaks to a forge only through this (publish.c, thread.c).
 */
#ifndef HANDOFF_FORGE_H
#define HANDOFF_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

struct cJSON;
struct http_client;

/* What a REST request is about, for counting requests without their
 * paths: a small fixed set (forge_route_name). */
enum forge_route { FORGE_ROUTE_ISSUE, FORGE_ROUTE_COMMENTS,
    FORGE_ROUTE_REACTIONS, FORGE_ROUTE_PULLS, FORGE_ROUTE_PERMISSION,
    FORGE_ROUTE_USER, FORGE_ROUTE_TOKEN, FORGE_ROUTE_OTHER, FORGE_ROUTES };

/* Requests of one route class that ended in one status. */
struct forge_count {
	enum forge_route route;
	int		 status;	/* the HTTP status; 0: no answer */
	int64_t		 requests;
};

/* What a connection's HTTP client did: every exchange (each attempt, each
 * redirect) by route and status, the attempts repeated, and those that
 * waited for a rate limit first, with the time asked for. */
struct forge_tally {
	struct forge_count	*counts;
	size_t			 ncounts;
	int64_t			 retries, rate_limit_waits, rate_limit_wait_ms;
};

/* A forge connection for one repository. */
struct forge_conn {
	const struct forge_ops	*ops;
	const struct config	*cfg;
	struct http_client	*http;
	char			*repo;		/* owner/name or group/project */
	char			*api;		/* REST base URL, no trailing / */
	char			*token;		/* never logged */
	char			*auth_header;	/* "Authorization: Bearer ..." */
	int64_t			 token_expires;	/* epoch s; 0: does not */
	int64_t			 installation_id;
	char			*self;		/* the token's account, when known */
	bool			 self_asked;
	enum forge_route	 route;		/* of the request under way */
	struct forge_tally	 tally;		/* since forge_tally_reset */
};

/* Hidden in every comment handoff writes, as "<!-- handoff:WHAT -->" (WHAT
 * of lower-case letters, digits and spaces) alone on its last line: only
 * there is it a marker. */
#define FORGE_MARKER_PREFIX	"<!-- handoff:"
#define FORGE_MARKER_MAX	200

/* A pull (merge) request as handoff sees it. */
struct forge_pr {
	int64_t	 number;	/* GitHub number, GitLab iid; 0 when none */
	char	*url;		/* web page; caller frees */
};

/* A comment (GitHub) or note (GitLab) on an issue or pull request; a
 * review's comments also say where in the diff they are. */
struct forge_comment {
	char	*id, *author, *body;
	bool	 is_bot;	/* a bot's, or handoff's own */
	char	*path;		/* file of an inline comment, else NULL */
	int64_t	 line;		/* its line, 0 when unknown */
	char	*diff_hunk;	/* its hunk, when the forge gives one */
};

/* Every operation returns 0, or -1 with the reason in err (what was
 * asked, of which URL, and the forge's own message). Strings returned
 * through pointers are the caller's to free. */
struct forge_ops {
	const char *name;	/* "github", "gitlab" */
	/* A token for the REST API (and git), fetched or refreshed when
	 * needed: a personal token as configured, or a GitHub App's
	 * installation token. */
	int	(*authenticate)(struct forge_conn *f, char *err, size_t errlen);
	/* Whether user (login; GitLab: numeric id) may write to the repo. */
	int	(*can_write)(struct forge_conn *f, const char *user, int64_t user_id,
		    bool *yes, char *err, size_t errlen);
	/* 👀 on what asked: number is the issue or pull request, id the
	 * comment (0: the issue or pull request itself). A review cannot
	 * take a reaction: its pull request gets it. */
	int	(*react)(struct forge_conn *f, enum forge_on on, int64_t number,
		    int64_t id, char *err, size_t errlen);
	/* The issue's title and description as they are now (bounded:
	 * FORGE_TITLE_MAX, FORGE_BODY_MAX bytes; *body "" when it has none). */
	int	(*issue)(struct forge_conn *f, int64_t number, char **title,
		    char **body, char *err, size_t errlen);
	/* The comments on issue or pull request number (on: FORGE_ON_ISSUE
	 * or FORGE_ON_PR), oldest first (bounded: 2,000). */
	int	(*comments)(struct forge_conn *f, enum forge_on on,
		    int64_t number, struct forge_comment **list, size_t *n,
		    char *err, size_t errlen);
	int	(*comment_create)(struct forge_conn *f, enum forge_on on,
		    int64_t number, const char *body, char **id, char *err,
		    size_t errlen);
	int	(*comment_edit)(struct forge_conn *f, enum forge_on on,
		    int64_t number, const char *id, const char *body, char *err,
		    size_t errlen);
	int	(*comment_delete)(struct forge_conn *f, enum forge_on on,
		    int64_t number, const char *id, char *err, size_t errlen);
	/* The login the token acts as, or *login NULL when the forge will
	 * not say (a GitHub App's installation token). */
	int	(*user)(struct forge_conn *f, char **login, char *err,
		    size_t errlen);
	/* The account commits are made as: its name and address (GitHub:
	 * the token's user, or an App's bot user, "SLUG[bot]", with their
	 * no-reply address; GitLab: the token's user's commit email). */
	int	(*identity)(struct forge_conn *f, char **name, char **email,
		    char *err, size_t errlen);
	/* The comments of one review of pull request pr, oldest first, with
	 * their place in the diff: GitHub's review (by id), GitLab's
	 * discussion (by its id). */
	int	(*review_comments)(struct forge_conn *f, int64_t pr,
		    const char *review, struct forge_comment **list, size_t *n,
		    char *err, size_t errlen);
	/* The open pull request from branch, or pr->number 0. */
	int	(*pr_find)(struct forge_conn *f, const char *branch,
		    struct forge_pr *pr, char *err, size_t errlen);
	int	(*pr_open)(struct forge_conn *f, const char *branch,
		    const char *base, const char *title, const char *body,
		    bool draft, struct forge_pr *pr, char *err, size_t errlen);
	int	(*pr_update)(struct forge_conn *f, int64_t number, const char *title,
		    const char *body, char *err, size_t errlen);
	/* What failed in CI: in check suite or pipeline ci_id, or when 0
	 * on branch's head, as a person would look at
	 * it: a JSON array of at most CI_MAX_CHECKS objects (ci.h bounds
	 * them; task.h names their fields), and in *more how many more
	 * failed. A detail that cannot be had (a log) is said in the
	 * object's "log_note"; -1 when the list cannot be had. NULL for a
	 * forge that cannot say. */
	int	(*ci_failures)(struct forge_conn *f, const char *branch,
		    int64_t ci_id, struct cJSON **list, int *more, char *err, size_t errlen);
	/* The user name to push with (the token is the password). */
	const char *git_user;
};

extern const struct forge_ops github_ops;
extern const struct forge_ops gitlab_ops;

/* A connection for forge ("github", "gitlab") and repo, or NULL with the
 * reason (no token configured, ...). Free with forge_close. */
struct forge_conn *forge_open(const struct config *cfg, const char *forge,
    const char *repo, int64_t installation_id, char *err, size_t errlen);
void forge_close(struct forge_conn *f);
/* What f's client did since it opened or was last reset (owned by f),
 * and counting afresh once that is recorded. */
const struct forge_tally *forge_tally(const struct forge_conn *f);
void forge_tally_reset(struct forge_conn *f);
/* The route class of a REST path of f (after its API base, the query
 * ignored): what follows the repository (GitHub's /repos/OWNER/NAME,
 * GitLab's /projects/ID) says it, so a repository's name never does. */
enum forge_route forge_route_of(const struct forge_conn *f, const char *path);
/* "issue", "comments", "reactions", "pulls", "permission", "user",
 * "token", "other". */
const char *forge_route_name(enum forge_route route);
/* What names the account f acts as, for keeping facts about it between
 * runners: the forge, its API and the configured credential (a digest of
 * the token, or the GitHub App's id). Caller frees. */
char *forge_account_key(const struct forge_conn *f);
/* Whether the config holds credentials for forge. */
bool forge_configured(const struct config *cfg, const char *forge);
void forge_pr_clear(struct forge_pr *pr);
void forge_comments_free(struct forge_comment *list, size_t n);
/* Whether handoff wrote c: a bot's (the configured bot name, or any
 * bot account), or the token's own account's. */
bool forge_is_mine(struct forge_conn *f, const struct forge_comment *c);
/* The marker body ends with, as a copy, or NULL: its last line (blanks
 * after it aside) when that is a marker as handoff writes it. A marker
 * anywhere else is text. */
char *forge_marker_of(const char *body);
/* A copy of text from the agent or a forge, to be written where handoff
 * writes: every "<!-- handoff:" made inert, so that it never reads as a
 * marker. Caller frees. */
char *forge_unmark(const char *text);
/* The id of handoff's comment on issue or pull request number that ends
 * with marker, or *id NULL; on the way, copies of any of handoff's
 * comments are deleted (forge_sweep). */
int forge_comment_find(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *marker, char **id, char *err, size_t errlen);
/* In list (the comments on issue or pull request number, oldest first),
 * handoff's comments that end with the same marker as an earlier one (or as
 * the one whose id is keep): copies a request in flight left when its
 * runner was killed and another wrote the comment again. They are
 * deleted, best effort. */
void forge_sweep(struct forge_conn *f, enum forge_on on, int64_t number,
    const struct forge_comment *list, size_t n, const char *keep);

#endif
