/*
 * The launcher: the child a sandbox forks, which runs until it executes
 * bwrap. It joins the job's cgroups (or takes rlimits where there are
 * none), enters the job's own filesystem (jobfs.c) and a mount and IPC
 * namespace of its own, mounts the workspace overlay there and binds the
 * stage (for a bridged network, first a network namespace and the relay,
 * relay.c), becomes the sandbox's user when handoff is root, closes every
 * descriptor it does not hand on, and executes bwrap with a one-entry
 * environment. A failure before that is written to its error pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bwrap.h"
#include "jobfs.h"
#include "launcher.h"
#include "relay.h"
#include "util.h"

/* System V shared memory the sandbox may hold: pages it keeps without
 * mapping them count against no rlimit. */
#define SHM_BYTES	(64ULL << 20)

static void __attribute__((noreturn))
launch_fail(const struct launcher *l, const char *what)
{
	char msg[PATH_MAX + 128];
	int saved = errno;
	size_t n;

	n = (size_t)snprintf(msg, sizeof(msg), "%s: %s", what,
	    strerror(saved));
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (write(l->errfd, msg, n) == -1) {
		/* nothing more to do */
	}
	_exit(127);
}

/* A failure with its reason already said. */
static void __attribute__((noreturn))
launch_say(const struct launcher *l, const char *msg)
{
	if (write(l->errfd, msg, strlen(msg)) == -1) {
		/* nothing more to do */
	}
	_exit(127);
}

static void
put_file(const struct launcher *l, const char *path, const char *text,
    const char *what)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd == -1 || write(fd, text, strlen(text)) !=
	    (ssize_t)strlen(text))
		launch_fail(l, what);
	close(fd);
}

/* Bind every staged source under BWRAP_STAGE, on a tmpfs over /tmp in this
 * namespace. The sources are opened first: the tmpfs may hide them. */
static void
build_stage(const struct launcher *l)
{
	const struct bwrap_stage *st = l->stage;
	char what[PATH_MAX + 32], path[64], proc[64];
	int fds[64], flags, f;
	size_t i;

	if (st->n > nitems(fds)) {
		errno = E2BIG;
		launch_fail(l, "stage the sandbox's binds");
	}
	for (i = 0; i < st->n; i++) {
		flags = O_PATH | O_CLOEXEC | (st->follow[i] ? 0 : O_NOFOLLOW) |
		    (st->is_file[i] ? 0 : O_DIRECTORY);
		if ((fds[i] = open(st->src[i], flags)) == -1) {
			snprintf(what, sizeof(what), "open %s", st->src[i]);
			launch_fail(l, what);
		}
	}
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=0755,size=1m") == -1 || mkdir(BWRAP_STAGE, 0755) == -1)
		launch_fail(l, "stage the sandbox's binds");
	for (i = 0; i < st->n; i++) {
		snprintf(path, sizeof(path), BWRAP_STAGE "/%zu", i);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fds[i]);
		if (st->is_file[i]) {
			if ((f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC,
			    0644)) == -1)
				launch_fail(l, "stage the sandbox's binds");
			close(f);
		} else if (mkdir(path, 0755) == -1)
			launch_fail(l, "stage the sandbox's binds");
		if (mount(proc, path, NULL, MS_BIND | MS_REC, NULL) == -1) {
			snprintf(what, sizeof(what), "bind %s", st->src[i]);
			launch_fail(l, what);
		}
		close(fds[i]);
	}
}

/* Limits on System V shared memory in this IPC namespace. */
static void
limit_shm(const struct launcher *l)
{
	char num[32];
	long page = sysconf(_SC_PAGESIZE);

	snprintf(num, sizeof(num), "%llu", SHM_BYTES);
	put_file(l, "/proc/sys/kernel/shmmax", num, "limit shared memory");
	snprintf(num, sizeof(num), "%llu", SHM_BYTES / (unsigned long long)
	    (page > 0 ? page : 4096));
	put_file(l, "/proc/sys/kernel/shmall", num, "limit shared memory");
	put_file(l, "/proc/sys/kernel/shmmni", "64", "limit shared memory");
}

void
launcher_exec(const struct launcher *l)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
	const char *what = NULL;
	char pid[24], msg[512];
	int i, hi[5];

	signal(SIGPIPE, SIG_DFL);	/* the runner ignores it; the agent not */
	setpgid(0, 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	for (i = 0; i < 2; i++)
		if (l->cg_procs[i])
			put_file(l, l->cg_procs[i], pid, "join cgroup");
	/* The job's filesystem, then mount and IPC namespaces of our own:
	 * the overlay and the stage are seen by this sandbox only. */
	if (jobfs_enter(l->fs, &what) == -1)
		launch_fail(l, what);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		launch_fail(l, "make mounts private");
	/* A bridged network: its namespace, made here (as root, or inside
	 * the job's user namespace, which owns it), and the relay, before
	 * the job's rlimits (it keeps its own) and the overlay. */
	if (l->nbridge > 0 && relay_start(l->bridge, l->nbridge, l->is_root,
	    l->uid, l->gid, msg, sizeof(msg)) == -1)
		launch_say(l, msg);
	for (i = 0; i < l->nlim; i++)
		if (setrlimit(l->lim_res[i], &l->lim[i]) == -1)
			launch_fail(l, "set resource limit");
	limit_shm(l);
	if (mount("overlay", l->merged, "overlay", l->is_ro ? MS_RDONLY : 0,
	    l->ovl_opts) == -1)
		launch_fail(l, "mount the workspace overlay");
	if (l->home_opts && mount("overlay", l->home_merged, "overlay", 0,
	    l->home_opts) == -1)
		launch_fail(l, "mount the home overlay");
	build_stage(l);
	/* As root, bwrap runs as the sandbox's host user: the agent then
	 * maps to no one who owns anything of the host's. */
	if (l->is_root && (setgroups(0, NULL) == -1 ||
	    setresgid(l->gid, l->gid, l->gid) == -1 ||
	    setresuid(l->uid, l->uid, l->uid) == -1))
		launch_fail(l, "become the sandbox's user");

	/* Exactly stdin, stdout, stderr, args, seccomp and info for bwrap;
	 * the error pipe closes on exec. Raise first so dup2 cannot clobber. */
	for (i = 0; i < 5; i++)
		if ((hi[i] = fcntl(l->fds[i], F_DUPFD, 20)) == -1)
			launch_fail(l, "arrange descriptors");
	if (dup2(hi[0], 0) == -1 || dup2(hi[1], 1) == -1 ||
	    dup2(hi[1], 2) == -1 || dup2(hi[2], 3) == -1 ||
	    dup2(hi[3], 4) == -1 || dup2(hi[4], 5) == -1 ||
	    dup2(l->errfd, 6) == -1 || fcntl(6, F_SETFD, FD_CLOEXEC) == -1)
		launch_fail(l, "arrange descriptors");
	if (close_range(7, ~0U, 0) == -1)
		launch_fail(l, "close descriptors");
	/* Die with the runner. Set last: a change of credentials (the user
	 * namespace, the sandbox's user) clears it; exec into bwrap keeps
	 * it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != l->parent)
		_exit(127);
	execve(l->bwrap, l->argv, envp);
	{
		struct launcher copy = *l;

		copy.errfd = 6;
		launch_fail(&copy, "execute bubblewrap");
	}
}
