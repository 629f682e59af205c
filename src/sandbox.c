/*
 * Running a command in bubblewrap. A launcher child joins the job's
 * cgroups (or takes rlimits where there are none), enters the job's own
 * filesystem (jobfs.c) and a mount and IPC namespace of its own, mounts the
 * workspace overlay there and gathers what bwrap binds on a stage, becomes
 * the sandbox's user when handoff is root, closes every descriptor it does
 * not hand on, and executes bwrap with a one-entry environment and its
 * flags on a memfd (--args), so that neither the daemon's environment nor
 * the agent's settings show in /proc/1. The parent copies output into the
 * log and enforces time and log limits; memory, processes and disk are the
 * kernel's to enforce (cgroups or rlimits, the job's filesystem).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "seccomp.h"
#include "jobfs.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

/* HANDOFF_BWRAP in the environment names another bubblewrap. */
#define BWRAP		"/usr/bin/bwrap"
#define GRACE_MS	1000	/* SIGTERM, then SIGKILL this much later */
#define TICK_MS		100
#define DISK_EVERY_MS	1000
/* ---- small helpers ---- */

uid_t
sandbox_host_uid(void)
{
	return geteuid() == 0 ? SANDBOX_ROOT_ID : geteuid();
}

gid_t
sandbox_host_gid(void)
{
	return geteuid() == 0 ? SANDBOX_ROOT_ID : getegid();
}

void
sandbox_fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms > 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
	else if (ms > 0 && ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms > 0 && ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
}

void
sandbox_fmt_size(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (b >= 1024 && b % 1024 == 0 && u < 3) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)b);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)b, units[u]);
}

/* ---- bwrap's arguments ---- */

struct args {
	char	*buf;
	size_t	 len;
};

static void
arg(struct args *a, const char *s)
{
	size_t n = strlen(s) + 1;

	a->buf = xrealloc(a->buf, a->len + n);
	memcpy(a->buf + a->len, s, n);
	a->len += n;
}

static void
args2(struct args *a, const char *x, const char *y)
{
	arg(a, x);
	arg(a, y);
}

static void
args3(struct args *a, const char *x, const char *y, const char *z)
{
	arg(a, x);
	arg(a, y);
	arg(a, z);
}

/* /bin, /lib and friends: symlinks into /usr on merged systems, else the
 * directory itself, read-only. */
static void
usr_links(struct args *a)
{
	static const char *const dirs[] = { "/bin", "/sbin", "/lib", "/lib32",
	    "/lib64", "/libx32" };
	char target[PATH_MAX];
	struct stat sb;
	ssize_t n;
	size_t i;

	for (i = 0; i < nitems(dirs); i++) {
		if (lstat(dirs[i], &sb) == -1)
			continue;
		if (S_ISLNK(sb.st_mode)) {
			n = readlink(dirs[i], target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			args3(a, "--symlink", target, dirs[i]);
		} else if (S_ISDIR(sb.st_mode))
			args3(a, "--ro-bind", dirs[i], dirs[i]);
	}
}

/*
 * Where the launcher gathers what bwrap binds, in a mount namespace of its
 * own (a fresh tmpfs over /tmp there): bwrap runs as the sandbox's user,
 * who may not reach data_dir by path. Entries are numbered directories or
 * files, STAGE/0, STAGE/1, ...
 */
#define STAGE		"/tmp/handoff-sandbox"

struct stage {
	const char	**src;		/* host paths (owned) */
	bool		 *is_file;
	bool		 *follow;	/* the operator's paths may be links */
	size_t		  n;
};

/* Add src to the stage; returns the path bwrap binds it from. */
static char *
staged(struct stage *st, const char *src, bool is_file, bool follow)
{
	st->src = xrealloc(st->src, (st->n + 1) * sizeof(*st->src));
	st->is_file = xrealloc(st->is_file, (st->n + 1) *
	    sizeof(*st->is_file));
	st->follow = xrealloc(st->follow, (st->n + 1) * sizeof(*st->follow));
	st->src[st->n] = xstrdup(src);
	st->is_file[st->n] = is_file;
	st->follow[st->n] = follow;
	return xasprintf(STAGE "/%zu", st->n++);
}

static void
stage_free(struct stage *st)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		free((char *)st->src[i]);
	free(st->src);
	free(st->is_file);
	free(st->follow);
}

/* bwrap's flag, then a staged source and its place in the sandbox. */
static void
bind_staged(struct args *a, struct stage *st, const char *flag,
    const char *src, bool is_file, const char *dest)
{
	char *from = staged(st, src, is_file, false);

	args3(a, flag, from, dest);
	free(from);
}

/* A directory of the job's filesystem. */
static void
bind_fs(struct args *a, struct stage *st, const struct sandbox *sb,
    const char *flag, const char *name, bool is_file, const char *dest)
{
	char *src = xasprintf("%s/%s", sb->fs->mnt, name);

	bind_staged(a, st, flag, src, is_file, dest);
	free(src);
}

static void
build_args(const struct sandbox *sb, struct args *a, struct stage *st)
{
	/* INTERFACE.md's minimal /etc, world-readable parts only: never
	 * handoff's own configuration, nor /etc/ssl/private. */
	static const char *const etc[] = { "/etc/ld.so.cache",
	    "/etc/alternatives", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
	    "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/localtime",
	    "/etc/hosts", "/etc/resolv.conf", "/etc/mime.types" };
	const char *rw = sb->is_readonly ? "--ro-bind" : "--bind";
	char uid[16], *path, *from;
	struct stat info;
	size_t i;

	/* Each namespace by name: --unshare-all carries on without a user
	 * namespace when it cannot have one, and the IPC namespace is the
	 * launcher's, with limits on System V shared memory. */
	arg(a, "--unshare-user");
	arg(a, "--unshare-pid");
	arg(a, "--unshare-uts");
	arg(a, "--unshare-cgroup-try");
	if (!sb->share_net)
		arg(a, "--unshare-net");
	arg(a, "--disable-userns");
	snprintf(uid, sizeof(uid), "%d", SANDBOX_UID);
	args2(a, "--uid", uid);
	args2(a, "--gid", uid);
	arg(a, "--die-with-parent");
	arg(a, "--new-session");
	args2(a, "--cap-drop", "ALL");
	args2(a, "--hostname", "sandbox");
	args3(a, "--ro-bind", "/usr", "/usr");
	usr_links(a);
	args2(a, "--dir", "/etc");
	for (i = 0; i < nitems(etc); i++)
		args3(a, "--ro-bind-try", etc[i], etc[i]);
	path = xasprintf("%s/passwd", sb->etc_dir);
	bind_staged(a, st, "--ro-bind", path, true, "/etc/passwd");
	free(path);
	path = xasprintf("%s/group", sb->etc_dir);
	bind_staged(a, st, "--ro-bind", path, true, "/etc/group");
	free(path);
	args2(a, "--proc", "/proc");
	args2(a, "--dev", "/dev");
	if (sb->is_readonly) {
		/* collect: handoff's own git, scratch space only. */
		args2(a, "--size", "16777216");
		args2(a, "--tmpfs", "/tmp");
		args2(a, "--size", "16777216");
		args2(a, "--tmpfs", "/home/agent");
		args2(a, "--size", "1048576");
		args2(a, "--tmpfs", "/dev/shm");
	} else {
		/* Everything the agent writes is on the job's filesystem. */
		bind_fs(a, st, sb, "--bind", JOBFS_TMP, false, "/tmp");
		bind_fs(a, st, sb, "--bind", JOBFS_HOME, false,
		    "/home/agent");
		bind_fs(a, st, sb, "--bind", JOBFS_VARTMP, false, "/var/tmp");
		bind_fs(a, st, sb, "--bind", JOBFS_SHM, false, "/dev/shm");
	}
	/* /dev is a tmpfs of bwrap's, without a size: read-only. */
	args2(a, "--remount-ro", "/dev");
	bind_staged(a, st, rw, sb->merged, false, "/workspace");
	bind_staged(a, st, "--ro-bind", sb->handoff_dir, false, "/handoff");
	bind_fs(a, st, sb, rw, JOBFS_SUMMARY, true, "/handoff/summary.md");
	if (sb->objects)
		bind_staged(a, st, "--ro-bind", sb->objects, false,
		    "/handoff/objects");
	if (sb->out_dir)
		bind_staged(a, st, "--bind", sb->out_dir, false, "/out");
	if (sb->agent_path) {
		from = staged(st, sb->agent_path, true, true);
		args3(a, "--ro-bind", from, sb->agent_path);
		free(from);
	}
	for (i = 0; sb->extra_ro && i < sb->extra_ro->n; i++) {
		/* Missing ones are left out, as --ro-bind-try would. */
		if (stat(sb->extra_ro->v[i], &info) == -1)
			continue;
		from = staged(st, sb->extra_ro->v[i], !S_ISDIR(info.st_mode),
		    true);
		args3(a, "--ro-bind", from, sb->extra_ro->v[i]);
		free(from);
	}
	args2(a, "--chdir", "/workspace");
	arg(a, "--clearenv");
	for (i = 0; sb->env && sb->env[i]; i++) {
		const char *eq = strchr(sb->env[i], '=');
		char *name;

		if (eq == NULL)
			continue;
		name = xstrndup(sb->env[i], (size_t)(eq - sb->env[i]));
		args3(a, "--setenv", name, eq + 1);
		free(name);
	}
	args2(a, "--seccomp", "4");
	args2(a, "--info-fd", "5");
	/* After every mount, or later binds would fail on a read-only root. */
	args2(a, "--remount-ro", "/");
}

static int
memfd_with(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	const char *p = data;
	ssize_t n;

	if (fd == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the launcher (runs in the forked child until exec) ---- */

/* System V shared memory the sandbox may hold: pages it keeps without
 * mapping them count against no rlimit. */
#define SHM_BYTES	(64ULL << 20)

struct launch {
	int		 fds[5];	/* stdin, output, args, seccomp, info */
	int		 errfd;
	const char	*cg_procs[2];
	struct rlimit	 lim[5];
	int		 lim_res[5];
	int		 nlim;
	const struct jobfs *fs;
	const struct stage *stage;
	const char	*merged;
	const char	*ovl_opts;
	const char	*bwrap;
	char		**argv;		/* bwrap --args 3 -- COMMAND... */
	bool		 is_ro;
	bool		 is_root;	/* drop to SANDBOX_ROOT_ID before bwrap */
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 parent;
};

static void __attribute__((noreturn))
launch_fail(const struct launch *l, const char *what)
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

static void
put_file(const struct launch *l, const char *path, const char *text,
    const char *what)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd == -1 || write(fd, text, strlen(text)) !=
	    (ssize_t)strlen(text))
		launch_fail(l, what);
	close(fd);
}

/* Bind every staged source under STAGE, on a tmpfs over /tmp in this
 * namespace. The sources are opened first: the tmpfs may hide them. */
static void
build_stage(const struct launch *l)
{
	const struct stage *st = l->stage;
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
	    "mode=0755,size=1m") == -1 || mkdir(STAGE, 0755) == -1)
		launch_fail(l, "stage the sandbox's binds");
	for (i = 0; i < st->n; i++) {
		snprintf(path, sizeof(path), STAGE "/%zu", i);
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
limit_shm(const struct launch *l)
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

static void __attribute__((noreturn))
launcher(const struct launch *l)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
	const char *what = NULL;
	char pid[24];
	int i, hi[5];

	setpgid(0, 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	for (i = 0; i < 2; i++)
		if (l->cg_procs[i])
			put_file(l, l->cg_procs[i], pid, "join cgroup");
	for (i = 0; i < l->nlim; i++)
		if (setrlimit(l->lim_res[i], &l->lim[i]) == -1)
			launch_fail(l, "set resource limit");
	/* The job's filesystem, then mount and IPC namespaces of our own:
	 * the overlay and the stage are seen by this sandbox only. */
	if (jobfs_enter(l->fs, &what) == -1)
		launch_fail(l, what);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		launch_fail(l, "make mounts private");
	limit_shm(l);
	if (mount("overlay", l->merged, "overlay", l->is_ro ? MS_RDONLY : 0,
	    l->ovl_opts) == -1)
		launch_fail(l, "mount the workspace overlay");
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
		struct launch copy = *l;

		copy.errfd = 6;
		launch_fail(&copy, "execute bubblewrap");
	}
}

/* ---- watching the run ---- */

/* Signal every process of the sandbox: those in its cgroup, or those in
 * the pid namespace of bwrap's init (found through /proc). */
static void
signal_all(const struct cgroup *cg, pid_t init, int sig)
{
	char want[64], have[64], *path;
	struct dirent *de;
	ssize_t n;
	DIR *d;
	long pid;

	cgroup_signal(cg, sig);
	if (init <= 0)
		return;
	path = xasprintf("/proc/%ld/ns/pid", (long)init);
	n = readlink(path, want, sizeof(want) - 1);
	free(path);
	if (n <= 0 || (d = opendir("/proc")) == NULL)
		return;
	want[n] = '\0';
	while ((de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, NULL, 10)) <= 1)
			continue;
		path = xasprintf("/proc/%ld/ns/pid", pid);
		n = readlink(path, have, sizeof(have) - 1);
		free(path);
		if (n > 0 && (have[n] = '\0', strcmp(have, want) == 0))
			kill((pid_t)pid, sig);
	}
	closedir(d);
}

static int
reap(pid_t child, int *status, int64_t wait_ms)
{
	int64_t end = util_mono_ms() + wait_ms;
	pid_t r;

	for (;;) {
		r = waitpid(child, status, WNOHANG);
		if (r == child)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
		if (util_mono_ms() >= end)
			return 1;
		usleep(10000);
	}
}

/* SIGTERM to all, SIGKILL after the grace period; returns the status. */
static int
stop(pid_t child, pid_t init, const struct cgroup *cg)
{
	int status = 0;

	signal_all(cg, init, SIGTERM);
	if (reap(child, &status, GRACE_MS) == 0)
		return status;
	if (init > 0)
		kill(init, SIGKILL);	/* the pid namespace goes with it */
	signal_all(cg, init, SIGKILL);
	kill(-child, SIGKILL);
	kill(child, SIGKILL);
	reap(child, &status, 60000);
	return status;
}

static void
end(struct sandbox_result *res, enum sandbox_end how, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
end(struct sandbox_result *res, enum sandbox_end how, const char *fmt, ...)
{
	va_list ap;

	res->how = how;
	res->status = -1;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/* Keep the last SANDBOX_TAIL_MAX bytes of output in ring (len: how many
 * were ever seen). */
static void
tail_add(char *ring, uint64_t *len, const char *buf, size_t n)
{
	size_t i;

	if (n > SANDBOX_TAIL_MAX) {
		*len += n - SANDBOX_TAIL_MAX;
		buf += n - SANDBOX_TAIL_MAX;
		n = SANDBOX_TAIL_MAX;
	}
	for (i = 0; i < n; i++)
		ring[(*len)++ % SANDBOX_TAIL_MAX] = buf[i] ? buf[i] : '?';
}

/* The ring in order, from the first line start when it wrapped. */
static void
tail_get(const char *ring, uint64_t len, char *out)
{
	size_t n = len < SANDBOX_TAIL_MAX ? (size_t)len : SANDBOX_TAIL_MAX;
	size_t start = len < SANDBOX_TAIL_MAX ? 0 : (size_t)(len %
	    SANDBOX_TAIL_MAX), i;
	char *nl;

	for (i = 0; i < n; i++)
		out[i] = ring[(start + i) % SANDBOX_TAIL_MAX];
	out[n] = '\0';
	if (len > SANDBOX_TAIL_MAX && (nl = memchr(out, '\n', n)) != NULL &&
	    nl[1] != '\0')
		memmove(out, nl + 1, strlen(nl + 1) + 1);
}

/* Whether the job's filesystem is full (its space or its inodes): the
 * agent's writes fail now, and res says why. */
static bool
disk_full(const struct sandbox *sb, struct sandbox_result *res)
{
	uint64_t bytes, inodes, slack = sb->disk_bytes / 100;
	char size[32];

	if (jobfs_free(sb->fs, &bytes, &inodes) == -1)
		return false;
	if (slack < 256 * 1024)
		slack = 256 * 1024;
	sandbox_fmt_size(sb->disk_bytes, size, sizeof(size));
	if (inodes == 0)
		end(res, SB_LIMIT, "disk limit %s reached (all %llu files"
		    " in use)", size, (unsigned long long)sb->fs->inodes);
	else if (bytes < slack)
		end(res, SB_LIMIT, "disk limit %s reached", size);
	else
		return false;
	return true;
}

static int
count_processes(uid_t uid)
{
	struct dirent *de;
	struct stat sb;
	char path[300];
	DIR *d = opendir("/proc");
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strtol(de->d_name, NULL, 10) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s", de->d_name);
		if (stat(path, &sb) == 0 && sb.st_uid == uid)
			n++;
	}
	closedir(d);
	return n;
}

int
sandbox_run(const struct sandbox *sb, struct sandbox_result *res, char *err,
    size_t errlen)
{
	struct launch l;
	struct cgroup cg = { 0 };
	struct args a = { 0 };
	struct pollfd pfd[3];
	char buf[65536], info[512], first[256], what[64], *opts = NULL;
	char ring[SANDBOX_TAIL_MAX];
	struct stage stage = { 0 };
	char *bwrap = NULL;
	struct sandbox_result full;
	bool was_full = false;
	uint64_t seen = 0;
	char *procs[2] = { NULL, NULL };
	size_t ninfo = 0, nfirst = 0;
	uint64_t logged = 0;
	int64_t now, deadline, next_poll = 0, next_disk = 0;
	int out[2] = { -1, -1 }, inf[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int argfd = -1, filt = -1, devnull = -1, status = 0, rc = -1, i;
	bool out_open = true, inf_open = true, err_open = true, is_done = false;
	pid_t child = -1, init = -1;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	memset(&l, 0, sizeof(l));
	/* Fail closed on anything the recipe needs. */
	l.bwrap = getenv("HANDOFF_BWRAP") ? getenv("HANDOFF_BWRAP") : BWRAP;
	if (access(l.bwrap, X_OK) == -1) {
		snprintf(err, errlen, "sandbox: bubblewrap (%s) is not"
		    " installed: %s", l.bwrap, strerror(errno));
		return -1;
	}
	if (strpbrk(sb->lower, ",:") || strpbrk(sb->merged, ",:") ||
	    strpbrk(sb->seed, ",:") || strpbrk(sb->fs->mnt, ",:")) {
		snprintf(err, errlen, "sandbox: data_dir paths must not hold"
		    " ',' or ':' (overlayfs options)");
		return -1;
	}
	if (cgroup_setup(&cg, sb->name, sb->memory_bytes, sb->pids, err,
	    errlen) == -1)
		goto out;
	if (geteuid() == 0 && cg.pids == NULL) {
		/* RLIMIT_NPROC does not bind root: without a pids cgroup a
		 * fork bomb would be unbounded. */
		snprintf(err, errlen, "sandbox: pids limit cannot be enforced:"
		    " no pids cgroup, and RLIMIT_NPROC does not apply to root");
		goto out;
	}
	/* Without a memory cgroup nothing counts memfd pages that are not
	 * mapped: no memfds then. */
	if ((filt = seccomp_build(cg.memory == NULL, err, errlen)) == -1)
		goto out;
	build_args(sb, &a, &stage);
	/* bubblewrap itself, from the stage too: /tmp is covered there. */
	bwrap = staged(&stage, l.bwrap, true, true);
	l.bwrap = bwrap;
	if ((argfd = memfd_with("handoff-bwrap-args", a.buf, a.len)) == -1 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(inf, O_CLOEXEC) == -1 ||
	    pipe2(errp, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "sandbox: set up: %s", strerror(errno));
		goto out;
	}
	/* The agent writes to the job's filesystem; collect sees its
	 * layer read-only. In a user namespace, overlayfs keeps its own
	 * attributes in user.* extended attributes. */
	if (sb->is_readonly)
		opts = xasprintf("lowerdir=%s/" JOBFS_UPPER ":%s:%s%s",
		    sb->fs->mnt, sb->seed, sb->lower, sb->fs->userns != -1 ?
		    ",userxattr" : "");
	else
		opts = xasprintf("lowerdir=%s:%s,upperdir=%s/" JOBFS_UPPER
		    ",workdir=%s/" JOBFS_WORK "%s", sb->seed, sb->lower,
		    sb->fs->mnt, sb->fs->mnt, sb->fs->userns != -1 ?
		    ",userxattr" : "");

	l.fds[0] = devnull;
	l.fds[1] = out[1];
	l.fds[2] = argfd;
	l.fds[3] = filt;
	l.fds[4] = inf[1];
	l.errfd = errp[1];
	if (cg.memory)
		l.cg_procs[0] = procs[0] = xasprintf("%s/cgroup.procs",
		    cg.memory);
	if (cg.pids && cg.pids != cg.memory)
		l.cg_procs[1] = procs[1] = xasprintf("%s/cgroup.procs",
		    cg.pids);
	l.lim_res[l.nlim] = RLIMIT_NOFILE;
	l.lim[l.nlim].rlim_cur = l.lim[l.nlim].rlim_max = 4096;
	l.nlim++;
	l.lim_res[l.nlim] = RLIMIT_CORE;
	l.nlim++;
	l.lim_res[l.nlim] = RLIMIT_FSIZE;
	l.lim[l.nlim].rlim_cur = l.lim[l.nlim].rlim_max = sb->disk_bytes;
	l.nlim++;
	if (cg.pids == NULL) {
		/* Counts every process of the uid: leave room for ours. */
		l.lim_res[l.nlim] = RLIMIT_NPROC;
		l.lim[l.nlim].rlim_cur = l.lim[l.nlim].rlim_max =
		    (rlim_t)sb->pids + (rlim_t)count_processes(getuid());
		l.nlim++;
	}
	if (cg.memory == NULL) {
		l.lim_res[l.nlim] = RLIMIT_AS;
		l.lim[l.nlim].rlim_cur = l.lim[l.nlim].rlim_max =
		    sb->memory_bytes;
		l.nlim++;
	}
	l.fs = sb->fs;
	l.stage = &stage;
	l.is_root = geteuid() == 0;
	l.uid = sandbox_host_uid();
	l.gid = sandbox_host_gid();
	/* Flags on the memfd; the command after them, where bwrap wants it
	 * (it carries no secret: those travel as --setenv on the memfd). */
	for (i = 0; sb->argv[i]; i++)
		;
	l.argv = xcalloc((size_t)i + 5, sizeof(*l.argv));
	l.argv[0] = "bwrap";
	l.argv[1] = "--args";
	l.argv[2] = "3";
	l.argv[3] = "--";
	for (i = 0; sb->argv[i]; i++)
		l.argv[4 + i] = sb->argv[i];
	l.merged = sb->merged;
	l.ovl_opts = opts;
	l.is_ro = sb->is_readonly;
	l.parent = getpid();

	if ((child = fork()) == -1) {
		snprintf(err, errlen, "sandbox: fork: %s", strerror(errno));
		goto out;
	}
	if (child == 0)
		launcher(&l);
	close(out[1]);
	close(inf[1]);
	close(errp[1]);
	out[1] = inf[1] = errp[1] = -1;

	now = util_mono_ms();
	deadline = now + sb->timeout_ms;
	while (!is_done) {
		int nfds = 0, io = -1, ii = -1, ie = -1;

		if (out_open) {
			pfd[nfds].fd = out[0];
			pfd[nfds].events = POLLIN;
			io = nfds++;
		}
		if (inf_open) {
			pfd[nfds].fd = inf[0];
			pfd[nfds].events = POLLIN;
			ii = nfds++;
		}
		if (err_open) {
			pfd[nfds].fd = errp[0];
			pfd[nfds].events = POLLIN;
			ie = nfds++;
		}
		if (poll(pfd, (nfds_t)nfds, TICK_MS) == -1 && errno != EINTR)
			break;
		if (ie >= 0 && pfd[ie].revents) {
			n = read(errp[0], buf, sizeof(buf) - 1);
			if (n > 0) {
				/* The launcher failed before bwrap ran. */
				buf[n] = '\0';
				reap(child, &status, 5000);
				child = -1;
				snprintf(err, errlen, "sandbox: %s", buf);
				goto out;
			}
			err_open = false;
		}
		if (ii >= 0 && pfd[ii].revents) {
			n = read(inf[0], info + ninfo, sizeof(info) - 1 - ninfo);
			if (n <= 0)
				inf_open = false;
			else {
				char *p;

				ninfo += (size_t)n;
				info[ninfo] = '\0';
				if ((p = strstr(info, "\"child-pid\":")) != NULL)
					init = (pid_t)strtol(p + 12, NULL, 10);
			}
		}
		if (io >= 0 && pfd[io].revents) {
			n = read(out[0], buf, sizeof(buf));
			if (n <= 0)
				out_open = false;
			else {
				if (nfirst < sizeof(first) - 1) {
					size_t k = sizeof(first) - 1 - nfirst;

					if (k > (size_t)n)
						k = (size_t)n;
					memcpy(first + nfirst, buf, k);
					nfirst += k;
				}
				if (logged < sb->max_log_bytes) {
					size_t k = (size_t)n;

					if (logged + k > sb->max_log_bytes)
						k = (size_t)(sb->max_log_bytes -
						    logged);
					if (write(sb->log_fd, buf, k) == -1)
						log_warn("sandbox: write log: %s",
						    strerror(errno));
				}
				tail_add(ring, &seen, buf, (size_t)n);
				logged += (uint64_t)n;
				if (logged > sb->max_log_bytes) {
					sandbox_fmt_size(sb->max_log_bytes,
					    what, sizeof(what));
					status = stop(child, init, &cg);
					child = -1;
					end(res, SB_LIMIT,
					    "log limit %s reached", what);
					break;
				}
			}
		}
		if (!out_open && !err_open) {
			/* bwrap is gone or going: collect its status. */
			if (reap(child, &status, 5000) == 1)
				status = stop(child, init, &cg);
			child = -1;
			is_done = true;
			break;
		}
		now = util_mono_ms();
		if (now >= deadline) {
			sandbox_fmt_duration(sb->timeout_ms, what,
			    sizeof(what));
			status = stop(child, init, &cg);
			child = -1;
			end(res, SB_TIMEOUT, "timed out after %s", what);
			break;
		}
		if (sb->should_stop && now >= next_poll) {
			next_poll = now + 250;
			if (sb->should_stop(sb->arg)) {
				status = stop(child, init, &cg);
				child = -1;
				end(res, SB_CANCELLED, "cancelled");
				break;
			}
		}
		/* The filesystem holds the limit; this notes that it was
		 * reached, for the reason. */
		if (!sb->is_readonly && now >= next_disk) {
			next_disk = now + DISK_EVERY_MS;
			was_full |= disk_full(sb, &full);
		}
	}
	first[nfirst] = '\0';
	tail_get(ring, seen, res->tail);
	if (is_done) {
		res->how = SB_EXITED;
		if (WIFEXITED(status))
			res->status = WEXITSTATUS(status);
		else
			res->status = 128 + (WIFSIGNALED(status) ?
			    WTERMSIG(status) : 0);
		if (res->status == 1 && strncmp(first, "bwrap: ", 7) == 0) {
			/* bwrap itself refused: nothing of the command ran. */
			first[strcspn(first, "\n")] = '\0';
			snprintf(err, errlen, "sandbox: %s", first);
			goto out;
		}
		/* Full now, or full on the way and the agent failed. */
		if (!sb->is_readonly && (disk_full(sb, &full) ||
		    (was_full && res->status != 0))) {
			res->how = full.how;
			memcpy(res->reason, full.reason, sizeof(res->reason));
			res->status = -1;
		} else if (res->status != 0 && cgroup_oom(&cg)) {
			sandbox_fmt_size(sb->memory_bytes, what, sizeof(what));
			end(res, SB_LIMIT, "memory limit %s reached", what);
		} else if (res->status != 0 && cgroup_pids_hit(&cg)) {
			snprintf(what, sizeof(what), "%d", sb->pids);
			end(res, SB_LIMIT, "pids limit %s reached", what);
		} else if (res->status != 0 && (cg.memory == NULL ||
		    cg.pids == NULL)) {
			/* rlimits only make calls fail: say which were on. */
			char mem[128] = "", nproc[64] = "";

			if (cg.memory == NULL) {
				sandbox_fmt_size(sb->memory_bytes, what,
				    sizeof(what));
				snprintf(mem, sizeof(mem), " memory is limited"
				    " to %s by RLIMIT_AS;", what);
			}
			if (cg.pids == NULL)
				snprintf(nproc, sizeof(nproc), " processes to"
				    " %d by RLIMIT_NPROC;", sb->pids);
			snprintf(res->reason, sizeof(res->reason), "exited with"
			    " status %d (without cgroups here,%s%s a failed"
			    " allocation or fork shows only in the log)",
			    res->status, mem, nproc);
		} else if (res->status != 0)
			snprintf(res->reason, sizeof(res->reason),
			    "exited with status %d", res->status);
		else
			snprintf(res->reason, sizeof(res->reason),
			    "exited with status 0");
	}
	rc = 0;
out:
	if (child > 0)
		stop(child, init, &cg);
	cgroup_free(&cg);
	free(l.argv);
	for (i = 0; i < 2; i++)
		free(procs[i]);
	free(opts);
	free(a.buf);
	stage_free(&stage);
	free(bwrap);
	if (filt != -1)
		close(filt);
	if (argfd != -1)
		close(argfd);
	if (devnull != -1)
		close(devnull);
	for (i = 0; i < 2; i++) {
		if (out[i] != -1)
			close(out[i]);
		if (inf[i] != -1)
			close(inf[i]);
		if (errp[i] != -1)
			close(errp[i]);
	}
	return rc;
}
