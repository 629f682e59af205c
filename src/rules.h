/*
 * What a normalized event asks handoff to do (INTERFACE.md "Forge commands"):
 * the trigger label, "/agent ..." comments, reviews, closed pull requests and
 * failed CI, with who may ask. Pure functions: no store, no network.
 */
#ifndef HANDOFF_RULES_H
#define HANDOFF_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"

enum cmd_kind {
	CMD_IGNORE = 0,		/* nothing to do; reason says why */
	CMD_IMPLEMENT,		/* a new run from the issue */
	CMD_REVISE,		/* a follow-up run on the thread's branch */
	CMD_CANCEL,
	CMD_RETRY,
	CMD_HELP,
	CMD_FIX_CI,		/* CI failed on the thread's branch */
	CMD_CLOSE,		/* the thread's pull request was closed or merged */
};

/* How the store finds the thread an event belongs to. */
enum thread_key {
	THREAD_BY_ISSUE,	/* event number is the issue */
	THREAD_BY_PR,		/* event number is a pull request handoff opened */
	THREAD_BY_BRANCH,	/* the issue number is read from the branch name */
};

struct command {
	enum cmd_kind	 kind;
	enum thread_key	 key;
	int64_t		 issue;		/* THREAD_BY_BRANCH: the number in the branch */
	char		*instruction;	/* revise text, review body, ...; may be NULL */
	const char	*reason;	/* CMD_IGNORE: a static one-line reason */
};

/* The command an event asks for under cfg; fills cmd (free with rules_command_clear). */
void rules_decide(const struct config *cfg, const struct forge_event *ev, struct command *cmd);
void rules_command_clear(struct command *cmd);
const char *rules_kind_name(enum cmd_kind kind);

/* Parse a comment body against the command word: returns CMD_IGNORE when the
 * first line does not start with it, else the subcommand with its text in
 * *text (new string or NULL; caller frees). */
enum cmd_kind rules_parse_command(const char *command_word, const char *body, char **text);
/*
 * [trigger] repos patterns: "owner/name" or a GitLab path "group/sub/project",
 * '/'-separated parts of letters, digits, '.', '_' and '-', in which '*'
 * stands for any run of characters and '?' for one, never for a '/'; a last
 * part "**" stands for one or more parts. At most RULES_REPO_PATTERN_MAX bytes.
 */
#define RULES_REPO_PATTERN_MAX	256
/* 1 when the len bytes at s are such a pattern, else 0 (a config check). */
int rules_check_repo_pattern(const char *s, size_t len);
/* Whether repository path repo matches pattern, ignoring ASCII case. */
bool rules_repo_match(const char *pattern, const char *repo);
/* Whether [trigger] repos lets repo's deliveries through: every repository
 * when it is empty, else those matching one of its patterns. */
bool rules_repo_allowed(const struct config *cfg, const char *repo);

/* The issue number in a branch "<prefix><number>-<slug>", or -1. */
int64_t rules_branch_issue(const char *prefix, const char *branch);

#endif
