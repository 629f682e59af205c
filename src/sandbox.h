/*
 * The sandbox: bubblewrap with every namespace unshared, a seccomp filter,
 * a read-only system, the agent as uid 1000 (never the host's root), the
 * workspace as an overlay (a shared base tree and the job's .git under its
 * writable layer) with everything the agent writes on the job's own
 * filesystem, limits from cgroups or rlimits, output captured into the
 * job's log with a cap, a wall-clock timeout and cancel. It fails closed:
 * when any part cannot be had, nothing runs.
 */
#ifndef HANDOFF_SANDBOX_H
#define HANDOFF_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "relay.h"

/* The agent's user and group inside the sandbox, whatever handoff runs
 * as; on the host it is handoff's own user, or as root SANDBOX_ROOT_ID,
 * an id of no account. */
#define SANDBOX_UID	1000
#define SANDBOX_ROOT_ID	65533
uid_t sandbox_host_uid(void);
gid_t sandbox_host_gid(void);

struct jobfs;

struct sandbox {
	char *const	*argv;		/* the command, as the sandbox sees it */
	const char	*lower;		/* base tree (host path) */
	const char	*seed;		/* the job's .git, a layer over lower */
	/* Read-only layers between seed and lower, top first (host paths,
	 * or the job's filesystem's: fs->mnt/...), NULL-terminated; NULL:
	 * none. Not in collect's view. */
	const char *const *layers;
	const struct jobfs *fs;		/* the job's filesystem */
	const char	*upper;		/* its directory for the workspace's
					   writes; NULL: JOBFS_UPPER */
	const char	*home;		/* and for $HOME's; NULL: JOBFS_HOME */
	/* Read-only layers under $HOME, as layers; NULL: $HOME is home
	 * itself. Then home_merged is its overlay's mount point. */
	const char *const *home_layers;
	const char	*home_merged;
	bool		 is_readonly;	/* collect: the workspace and the job's
					   files read-only, /out writable */
	const char	*merged;	/* mount point for the overlay */
	const char	*handoff_dir;	/* read-only at /handoff */
	const char	*objects;	/* read-only at /handoff/objects, or NULL */
	const char	*out_dir;	/* writable at /out, or NULL */
	const char	*etc_dir;	/* passwd and group for the sandbox */
	const char	*agent_path;	/* a host file bound read-only, or NULL */
	const struct strlist *extra_ro;	/* [sandbox] extra_ro, or NULL */
	const char	*root;		/* [sandbox] root: its usr, bin, lib and
					   etc in place of the host's, or NULL */
	char *const	*env;		/* NAME=VALUE, NULL-terminated */
	const char	*name;		/* cgroup and log name: "job-12" */
	bool		 share_net;
	/* Bridged: a network namespace of the sandbox's own with loopback
	 * only, each bridge's port there relayed to its host socket (relay.h;
	 * as root, the sandbox's host user must be able to search each
	 * socket's directory and write the socket). */
	const struct relay_bridge *bridge;
	size_t		 nbridge;
	int64_t		 timeout_ms;
	uint64_t	 memory_bytes, disk_bytes, max_log_bytes;
	int		 pids;
	int		 log_fd;	/* output is appended here */
	bool		 is_echoed;	/* and copied to stdout as it comes
					   (escaped on a terminal) */
	/* Polled a few times a second: non-zero asks the run to stop. */
	int		(*should_stop)(void *arg);
	void		*arg;
};

enum sandbox_end { SB_EXITED, SB_TIMEOUT, SB_CANCELLED, SB_LIMIT };

#define SANDBOX_TAIL_MAX	2048

struct sandbox_result {
	enum sandbox_end how;
	int		 status;	/* exit status when SB_EXITED, else -1 */
	char		 reason[256];	/* how it ended, for people */
	/* The command's last output (its own words only, none of
	 * handoff's), from a line start where there is one; NUL bytes
	 * become '?'. */
	char		 tail[SANDBOX_TAIL_MAX + 1];
};

/* Run sb. Returns 0 when the command ran (res says how it ended), or -1
 * with the reason in err when the sandbox could not be made. */
int sandbox_run(const struct sandbox *sb, struct sandbox_result *res,
    char *err, size_t errlen);

/* "30m", "4G": a duration or size in the largest exact unit. */
void sandbox_fmt_duration(int64_t ms, char *buf, size_t len);
void sandbox_fmt_size(uint64_t bytes, char *buf, size_t len);

#endif
