/*
 * The job's layer and what collect harvests from it: the .git the agent
 * works in (its objects borrowed from the mirror), the git directory
 * collect packs the agent's work with, and taking that pack back into the
 * mirror as verified objects and one commit, within the [runs] policy.
 */
#ifndef HANDOFF_HARVEST_H
#define HANDOFF_HARVEST_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "identity.h"
#include "mirror.h"

/* What collect found, and what harvest_commit made of it. */
struct harvest {
	char	 head[MIRROR_OID_HEX + 1];	/* the new tip of the branch */
	bool	 is_changed;		/* false: the tree equals the base's */
	int	 files_changed;
	char	*diffstat;		/* git's summary lines; caller frees */
	bool	 is_refused;		/* failed: err is a refusal of the
					   change, for people to read */
};

/* Make the job's writable layer in dir (emptied first): a .git whose HEAD
 * is branch at commit, whose objects borrow from objects_path (the
 * mirror's objects as the sandbox sees them), with the base tree's index.
 * Returns 0, or -1 with the reason in err. */
int harvest_layer(const char *dir, const char *branch, const char *commit,
    const char *index, const char *objects_path, char *err, size_t errlen);

/* A git directory for collect at dir: HEAD at base, borrowing objects from
 * each of the alternates (sandbox paths). Returns 0, or -1 with err. */
int harvest_gitdir(const char *dir, const char *base,
    const char *const *alternates, size_t nalternates, char *err,
    size_t errlen);

/* Take the agent's work: index the pack file at pack_path (verified object
 * by object) into the mirror, then commit tree (the workspace as git add
 * -A saw it) on top of base as one commit by author, committed by
 * committer, with message, when it differs from base's, signed with [runs]
 * signing_key when set; the agent's own commits are never kept (nothing a
 * reviewer does not see is pushed). Checks the change
 * against [runs] protected_paths, max_changed_files and max_file_size, and
 * refuses paths naming .git however spelled; a violation fails with the
 * reason, and out->is_refused (the reason names no host path). Sets the
 * mirror's refs/heads/branch. Returns 0, or -1 with the reason in err. */
int harvest_commit(struct mirror *m, const struct config *cfg,
    const char *pack_path, const char *base, const char *tree,
    const char *branch, const char *message, const struct identity *author,
    const struct identity *committer, struct harvest *out, char *err,
    size_t errlen);

/* Whether path matches a [runs] protected_paths pattern: '*' and '?' stay
 * within a path segment, '**' crosses them. */
bool harvest_path_matches(const char *pattern, const char *path);

#endif
