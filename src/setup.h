/*
 * What a job's set-up runs and what its layer is keyed by: the commands
 * (devcontainer.json's lifecycle commands, or [setup] command) as a shell
 * script, and a key made of those commands, the set-up's variable names,
 * the sandbox's root and the contents of the files they depend on in the
 * commit, so that a new commit with the same lockfiles finds the layer.
 */
#ifndef HANDOFF_SETUP_H
#define HANDOFF_SETUP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "devcontainer.h"

struct git_repository;

#define SETUP_KEY_LEN		64	/* hex digits of SHA-256 */
#define SETUP_MAX_KEY_FILES	1000	/* matching files in one commit */

/* What set-up runs: the repository's commands, else the config's. */
struct setup_plan {
	struct devc	*devc;		/* NULL: command alone */
	const char	*command;	/* [setup] command, when no devc */
	/* NULL when the job starts from the repository's own commits; else
	 * the branch whose commits (the agent's, from an earlier run) set-up
	 * would run: then it runs as the agent does, and its layer is that
	 * branch's own. */
	const char	*branch;
};

/* Whether the plan runs anything; with update_only, whether anything is
 * left to run on a layer already made (devcontainer's
 * updateContentCommand). */
bool setup_has_commands(const struct setup_plan *p, bool update_only);

/* The plan as a /bin/sh script that stops at the first command that fails
 * with its status, each command announced on a line of its own; with
 * update_only, updateContentCommand's alone. NULL when nothing runs. Caller
 * frees. */
char *setup_script(const struct setup_plan *p, bool update_only);

/* The key of the plan's layer for commit (hex) of repo, the repository
 * at url: the URL (a layer is never shared between repositories: one's
 * set-up runs that repository's own files), the plan's branch, the
 * commands, the names of
 * [setup] env, [sandbox] root, and each file of the commit whose name or
 * path matches a [setup] key_files pattern, by path and content (its blob
 * id). out gets SETUP_KEY_LEN hex digits. 0, or -1 with the reason in
 * err. */
int setup_key(const struct setup_plan *p, const struct config *cfg,
    const char *url, struct git_repository *repo, const char *commit,
    char out[SETUP_KEY_LEN + 1], char *err, size_t errlen);

/* Whether path (relative, '/'-separated) matches a key_files pattern: a
 * pattern without '/' matches the last part anywhere, one with '/' the
 * whole path; '*' and '?' stay within a part. */
bool setup_key_file_match(const char *pattern, const char *path);

#endif
