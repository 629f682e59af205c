/*
 * The launcher: the forked child that readies the job's cgroups,
 * filesystem, namespaces, overlay and stage, then executes bwrap.
 */
#ifndef HANDOFF_LAUNCHER_H
#define HANDOFF_LAUNCHER_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

struct bwrap_stage;
struct relay_bridge;
struct jobfs;

/* What the launcher needs, all made before the fork. */
struct launcher {
	int		 fds[5];	/* stdin, output, args, seccomp, info */
	int		 errfd;
	const char	*cg_procs[2];
	struct rlimit	 lim[5];
	int		 lim_res[5];
	int		 nlim;
	const struct jobfs *fs;
	const struct bwrap_stage *stage;
	const char	*merged;
	const char	*ovl_opts;
	const char	*home_merged;	/* a second overlay, for $HOME */
	const char	*home_opts;	/* NULL: none */
	const char	*bwrap;
	const struct relay_bridge *bridge;	/* nbridge: the relay's */
	size_t		 nbridge;
	char		**argv;		/* bwrap --args 3 -- COMMAND... */
	bool		 is_ro;
	bool		 is_root;	/* drop to SANDBOX_ROOT_ID before bwrap */
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 parent;
};

/* In the forked child: make l's surroundings and execute bwrap. Never
 * returns; a failure is written to l->errfd and the child exits 127. */
void launcher_exec(const struct launcher *l) __attribute__((noreturn));

#endif
