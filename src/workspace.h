/*
 * Workspaces with libgit2: a bare mirror per repository under data_dir,
 * a checked-out base tree per commit shared read-only by every job on it,
 * each job's writable layer with its own .git, and taking the agent's work
 * back into the mirror as verified objects and one commit.
 */
#ifndef HANDOFF_WORKSPACE_H
#define HANDOFF_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define WS_OID_HEX	40

struct ws;

/* Open (creating if needed) the mirror of url under data_dir and fetch it
 * incrementally. url may be a local path or a file://, http:// or https://
 * URL; user and token (NULL for none) answer an HTTP server's request for
 * credentials, never in the URL. Returns NULL with the reason in err.
 * Caller frees with ws_close. */
struct ws *ws_open(const char *data_dir, const char *url, const char *user,
    const char *token, char *err, size_t errlen);
void ws_close(struct ws *ws);
/* The mirror's object directory (bound read-only into sandboxes). */
const char *ws_objects_dir(const struct ws *ws);

/* The commit a ref name ("main", "refs/heads/x", "HEAD" for the remote's
 * HEAD) or a hex id names, as hex into out (WS_OID_HEX + 1 bytes).
 * Returns 0, or -1 when it names no commit here. */
int ws_resolve(struct ws *ws, const char *name, char *out);

/* The base tree of commit: a checkout kept under data_dir/trees and its
 * index, built once per commit, owned by the sandbox's user. Fills *files and *index (caller frees) and
 * *lockfd, a shared lock that keeps the tree from being pruned while the
 * job uses it (caller closes). */
int ws_base_tree(struct ws *ws, const char *data_dir, const char *commit,
    char **files, char **index, int *lockfd, char *err, size_t errlen);
/* Remove base trees beyond the keep most recently used, except those a job
 * holds. Returns how many were removed. */
int ws_prune_trees(const char *data_dir, int keep);

/* Make the job's writable layer in dir (emptied first): a .git whose HEAD
 * is branch at commit, whose objects borrow from objects_path (the
 * mirror's objects as the sandbox sees them), with the base tree's index. */
int ws_layer(const char *dir, const char *branch, const char *commit,
    const char *index, const char *objects_path, char *err, size_t errlen);

/* A git directory for collect at dir: HEAD at base, borrowing objects from
 * each of the alternates (sandbox paths). */
int ws_collect_gitdir(const char *dir, const char *base,
    const char *const *alternates, size_t nalternates, char *err,
    size_t errlen);

/* What collect found, and what finishing made of it. */
struct ws_change {
	char	 head[WS_OID_HEX + 1];	/* the new tip of the branch */
	bool	 is_changed;		/* false: the tree equals the base's */
	int	 files_changed;
	char	*diffstat;		/* git's summary lines; caller frees */
	bool	 is_refused;		/* failed: err is a refusal of the
					   change, for people to read */
};

/* Take the agent's work: index the pack file at pack_path (verified object
 * by object) into the mirror, then commit tree (the workspace as git add
 * -A saw it) on top of base as one commit with handoff's identity and
 * message when it differs from base's; the agent's own commits are never
 * kept (nothing a reviewer does not see is pushed). Checks the change
 * against [runs] protected_paths, max_changed_files and max_file_size, and
 * refuses paths naming .git however spelled; a violation fails with the
 * reason, and out->is_refused (the reason names no host path). Sets the mirror's refs/heads/branch. Returns 0, or -1 with the
 * reason in err. */
int ws_finish(struct ws *ws, const struct config *cfg, const char *pack_path,
    const char *base, const char *tree, const char *branch,
    const char *message, struct ws_change *out, char *err, size_t errlen);

/* Copy branch (at commit) from the mirror into the repository at dir as
 * refs/heads/branch, fast-forward only. Returns 0 or -1 with err. */
int ws_export(struct ws *ws, const char *branch, const char *commit,
    const char *dir, char *err, size_t errlen);

/* Push refs/heads/branch of the mirror to url as refs/heads/branch,
 * fast-forward only, with user and token from a credentials callback (never
 * in the URL). A rejection fails with the remote's reason, also in why (for
 * people: no URL); why is "" for other failures. */
int ws_push(struct ws *ws, const char *url, const char *branch,
    const char *user, const char *token, char *why, size_t whylen,
    char *err, size_t errlen);

/* Whether path matches a [runs] protected_paths pattern: '*' and '?' stay
 * within a path segment, '**' crosses them. */
bool ws_path_matches(const char *pattern, const char *path);

#endif
