/*
 * Running a command in bubblewrap, in three steps: prepare (the job's
 * cgroups or rlimits, the seccomp filter, bwrap's flags and stage,
 * descriptors, then the launcher child, launcher.c), supervise (copy
 * output into the log, enforce time and log limits, cancel) and classify
 * (which limit ended the run, and the reason for people). Memory,
 * processes and disk are the kernel's to enforce (cgroups or rlimits, the
 * job's filesystem); the sandbox only names the one that was hit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bwrap.h"
#include "cgroup.h"
#include "config_check.h"
#include "jobfs.h"
#include "launcher.h"
#include "log.h"
#include "sandbox.h"
#include "seccomp.h"
#include "text.h"
#include "util.h"

/* HANDOFF_BWRAP in the environment names another bubblewrap. */
#define BWRAP		"/usr/bin/bwrap"
#define GRACE_MS	1000	/* SIGTERM, then SIGKILL this much later */
#define TICK_MS		100
#define STOP_POLL_MS	250
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

/* ---- one run ---- */

/* What prepare makes, supervise watches and classify reads. */
struct run {
	const struct sandbox *sb;
	struct launcher	 l;
	struct cgroup	 cg;
	struct bwrap_args a;
	struct bwrap_stage stage;
	char		*bwrap;		/* bwrap's staged path */
	char		*opts;		/* the overlay's mount options */
	char		*home_opts;	/* $HOME's, or NULL */
	char		*procs[2];	/* the cgroups' cgroup.procs */
	int		 out[2], inf[2], errp[2];
	int		 argfd, filt, devnull;
	pid_t		 child;		/* the launcher, then bwrap */
	pid_t		 init;		/* bwrap's init in the sandbox */
	int		 status;
	bool		 is_done;	/* bwrap ended by itself */
	int64_t		 deadline, next_poll, next_disk;
	char		 first[256];	/* the output's start, for bwrap's
					   own refusals */
	size_t		 nfirst;
	char		 ring[SANDBOX_TAIL_MAX];
	uint64_t	 seen;		/* output bytes the ring has seen */
	uint64_t	 logged;	/* output bytes, logged or not */
	char		 carry[4];	/* an echoed character's first bytes */
	size_t		 ncarry;
	int		 echo_tty;	/* stdout is a terminal: -1 not known */
	bool		 was_full;	/* the disk filled on the way */
	struct sandbox_result full;	/* and why */
};

/* Whether a list of layers is fit for overlayfs's options. */
static bool
layers_ok(const char *const *layers)
{
	size_t i;

	for (i = 0; layers && layers[i]; i++)
		if (strpbrk(layers[i], ",:"))
			return false;
	return true;
}

/* Fail closed on anything the recipe needs. */
static int
check_recipe(const struct sandbox *sb, const char *bwrap, char *err,
    size_t errlen)
{
	if (access(bwrap, X_OK) == -1) {
		snprintf(err, errlen, "sandbox: bubblewrap (%s) is not"
		    " installed: %s", bwrap, strerror(errno));
		return -1;
	}
	if (strpbrk(sb->lower, ",:") || strpbrk(sb->merged, ",:") ||
	    strpbrk(sb->seed, ",:") || strpbrk(sb->fs->mnt, ",:") ||
	    !layers_ok(sb->layers) || !layers_ok(sb->home_layers) ||
	    (sb->home_merged && strpbrk(sb->home_merged, ",:"))) {
		snprintf(err, errlen, "sandbox: data_dir paths must not hold"
		    " ',' or ':' (overlayfs options)");
		return -1;
	}
	return 0;
}

/* "a:b:c:", the layers top first. Caller frees. */
static char *
join_layers(const char *const *layers)
{
	char *s = xstrdup(""), *t;
	size_t i;

	for (i = 0; layers && layers[i]; i++) {
		t = xasprintf("%s%s:", s, layers[i]);
		free(s);
		s = t;
	}
	return s;
}

/* The agent writes to the job's filesystem, over the job's .git, what
 * set-up made and the base tree; collect sees the agent's layer read-only
 * over the .git and the base tree only, never set-up's. In a user
 * namespace, overlayfs keeps its own attributes in user.* extended
 * attributes. */
static char *
overlay_options(const struct sandbox *sb)
{
	const char *ux = sb->fs->userns != -1 ? ",userxattr" : "";
	char *mid, *opts;

	if (sb->is_readonly)
		return xasprintf("lowerdir=%s/" JOBFS_UPPER ":%s:%s%s",
		    sb->fs->mnt, sb->seed, sb->lower, ux);
	mid = join_layers(sb->layers);
	opts = xasprintf("lowerdir=%s:%s%s,upperdir=%s/%s,workdir=%s/"
	    JOBFS_WORK "%s", sb->seed, mid, sb->lower, sb->fs->mnt,
	    sb->upper ? sb->upper : JOBFS_UPPER, sb->fs->mnt, ux);
	free(mid);
	return opts;
}

/* $HOME over set-up's layers, or NULL: a plain directory. */
static char *
home_options(const struct sandbox *sb)
{
	char *low, *opts;

	if (sb->is_readonly || sb->home_layers == NULL ||
	    sb->home_layers[0] == NULL)
		return NULL;
	low = join_layers(sb->home_layers);
	low[strlen(low) - 1] = '\0';
	opts = xasprintf("lowerdir=%s,upperdir=%s/%s,workdir=%s/"
	    JOBFS_HOME_WORK "%s", low, sb->fs->mnt, sb->home ? sb->home :
	    JOBFS_HOME, sb->fs->mnt, sb->fs->userns != -1 ? ",userxattr" :
	    "");
	free(low);
	return opts;
}

static void
add_rlimit(struct launcher *l, int resource, rlim_t value)
{
	l->lim_res[l->nlim] = resource;
	l->lim[l->nlim].rlim_cur = l->lim[l->nlim].rlim_max = value;
	l->nlim++;
}

/* The rlimits the launcher takes, and the cgroups it joins. */
static void
set_limits(struct run *r)
{
	const struct sandbox *sb = r->sb;

	if (r->cg.memory)
		r->l.cg_procs[0] = r->procs[0] = xasprintf("%s/cgroup.procs",
		    r->cg.memory);
	if (r->cg.pids && r->cg.pids != r->cg.memory)
		r->l.cg_procs[1] = r->procs[1] = xasprintf("%s/cgroup.procs",
		    r->cg.pids);
	add_rlimit(&r->l, RLIMIT_NOFILE, 4096);
	add_rlimit(&r->l, RLIMIT_CORE, 0);
	add_rlimit(&r->l, RLIMIT_FSIZE, sb->disk_bytes);
	/* Counts every process of the uid: leave room for ours. */
	if (r->cg.pids == NULL)
		add_rlimit(&r->l, RLIMIT_NPROC, (rlim_t)sb->pids +
		    (rlim_t)count_processes(getuid()));
	if (r->cg.memory == NULL)
		add_rlimit(&r->l, RLIMIT_AS, sb->memory_bytes);
}

/* Flags on the memfd; the command after them, where bwrap wants it (it
 * carries no secret: those travel as --setenv on the memfd). */
static char **
bwrap_argv(char *const *argv)
{
	char **v;
	int i;

	for (i = 0; argv[i]; i++)
		;
	v = xcalloc((size_t)i + 5, sizeof(*v));
	v[0] = "bwrap";
	v[1] = "--args";
	v[2] = "3";
	v[3] = "--";
	for (i = 0; argv[i]; i++)
		v[4 + i] = argv[i];
	return v;
}

/* Everything up to the launcher: limits, filter, flags, descriptors. */
static int
prepare(struct run *r, char *err, size_t errlen)
{
	const struct sandbox *sb = r->sb;
	const char *bwrap;
	char why[PATH_MAX + 64];

	bwrap = getenv("HANDOFF_BWRAP") ? getenv("HANDOFF_BWRAP") : BWRAP;
	if (check_recipe(sb, bwrap, err, errlen) == -1)
		return -1;
	/* The tree the sandbox runs on: still there, still trusted. */
	if (sb->root != NULL && config_check_root_tree(sb->root, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "sandbox: [sandbox] root: %s", why);
		return -1;
	}
	if (cgroup_setup(&r->cg, sb->name, sb->memory_bytes, sb->pids, err,
	    errlen) == -1)
		return -1;
	if (geteuid() == 0 && r->cg.pids == NULL) {
		/* RLIMIT_NPROC does not bind root: without a pids cgroup a
		 * fork bomb would be unbounded. */
		snprintf(err, errlen, "sandbox: pids limit cannot be enforced:"
		    " no pids cgroup, and RLIMIT_NPROC does not apply to root");
		return -1;
	}
	/* Without a memory cgroup nothing counts memfd pages that are not
	 * mapped: no memfds then. */
	if ((r->filt = seccomp_build(r->cg.memory == NULL, err, errlen)) == -1)
		return -1;
	if (sb->nbridge > 0 && relay_resolv_conf(sb->etc_dir, err, errlen) ==
	    -1)
		return -1;
	bwrap_build(sb, &r->a, &r->stage);
	/* bubblewrap itself, from the stage too: /tmp is covered there. */
	r->bwrap = bwrap_stage_add(&r->stage, bwrap, true, true);
	if ((r->argfd = bwrap_args_fd(&r->a)) == -1 ||
	    (r->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    pipe2(r->out, O_CLOEXEC) == -1 || pipe2(r->inf, O_CLOEXEC) == -1 ||
	    pipe2(r->errp, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "sandbox: set up: %s", strerror(errno));
		return -1;
	}
	r->opts = overlay_options(sb);
	r->home_opts = home_options(sb);
	r->l.fds[0] = r->devnull;
	r->l.fds[1] = r->out[1];
	r->l.fds[2] = r->argfd;
	r->l.fds[3] = r->filt;
	r->l.fds[4] = r->inf[1];
	r->l.errfd = r->errp[1];
	set_limits(r);
	r->l.fs = sb->fs;
	r->l.stage = &r->stage;
	r->l.is_root = geteuid() == 0;
	r->l.uid = sandbox_host_uid();
	r->l.gid = sandbox_host_gid();
	r->l.bwrap = r->bwrap;
	r->l.bridge = sb->bridge;
	r->l.nbridge = sb->nbridge;
	r->l.argv = bwrap_argv(sb->argv);
	r->l.merged = sb->merged;
	r->l.ovl_opts = r->opts;
	r->l.home_merged = sb->home_merged;
	r->l.home_opts = r->home_opts;
	r->l.is_ro = sb->is_readonly;
	r->l.parent = getpid();
	return 0;
}

static void
write_all(int fd, const char *buf, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = write(fd, buf, n)) == -1) {
			if (errno == EINTR)
				continue;
			return;	/* a closed terminal does not stop the run */
		}
		buf += k;
		n -= (size_t)k;
	}
}

/* Output on stdout as it comes; on a terminal as text (a character cut
 * between two reads waits for its end). */
static void
echo_output(struct run *r, const char *buf, size_t n)
{
	char *joined, *esc;
	size_t total = r->ncarry + n, used;

	if (r->echo_tty == -1)
		r->echo_tty = isatty(STDOUT_FILENO) == 1;
	if (!r->echo_tty) {
		write_all(STDOUT_FILENO, buf, n);
		return;
	}
	joined = xmalloc(total);
	memcpy(joined, r->carry, r->ncarry);
	memcpy(joined + r->ncarry, buf, n);
	esc = text_term_escape(joined, total, 0, &used);
	write_all(STDOUT_FILENO, esc, strlen(esc));
	r->ncarry = total - used < sizeof(r->carry) ? total - used : 0;
	memcpy(r->carry, joined + used, r->ncarry);
	free(esc);
	free(joined);
}

/* Output into the log up to its cap, the first bytes and the tail; true
 * when the log limit is passed. */
static bool
copy_output(struct run *r, const char *buf, size_t n)
{
	const struct sandbox *sb = r->sb;
	size_t k;

	if (r->nfirst < sizeof(r->first) - 1) {
		k = sizeof(r->first) - 1 - r->nfirst;
		if (k > n)
			k = n;
		memcpy(r->first + r->nfirst, buf, k);
		r->nfirst += k;
	}
	if (r->logged < sb->max_log_bytes) {
		k = n;
		if (r->logged + k > sb->max_log_bytes)
			k = (size_t)(sb->max_log_bytes - r->logged);
		if (write(sb->log_fd, buf, k) == -1)
			log_warn("sandbox: write log: %s", strerror(errno));
	}
	if (sb->is_echoed)
		echo_output(r, buf, n);
	tail_add(r->ring, &r->seen, buf, n);
	r->logged += (uint64_t)n;
	return r->logged > sb->max_log_bytes;
}

/* bwrap's init, from its --info-fd JSON. */
static void
read_info(struct run *r, char *info, size_t infolen, size_t *ninfo,
    bool *is_open)
{
	ssize_t n = read(r->inf[0], info + *ninfo, infolen - 1 - *ninfo);
	char *p;

	if (n <= 0) {
		*is_open = false;
		return;
	}
	*ninfo += (size_t)n;
	info[*ninfo] = '\0';
	if ((p = strstr(info, "\"child-pid\":")) != NULL)
		r->init = (pid_t)strtol(p + 12, NULL, 10);
}

/* Stop every process of the run and say why in res. */
static void
halt(struct run *r, struct sandbox_result *res, enum sandbox_end how,
    const char *reason)
{
	r->status = stop(r->child, r->init, &r->cg);
	r->child = -1;
	end(res, how, "%s", reason);
}

/* The clock's checks: the timeout, cancel, and noting a full disk (the
 * filesystem holds that limit; this keeps the reason). True when the run
 * was stopped. */
static bool
check_clock(struct run *r, struct sandbox_result *res)
{
	const struct sandbox *sb = r->sb;
	int64_t now = util_mono_ms();
	char what[64], reason[96];

	if (now >= r->deadline) {
		sandbox_fmt_duration(sb->timeout_ms, what, sizeof(what));
		snprintf(reason, sizeof(reason), "timed out after %s", what);
		halt(r, res, SB_TIMEOUT, reason);
		return true;
	}
	if (sb->should_stop && now >= r->next_poll) {
		r->next_poll = now + STOP_POLL_MS;
		if (sb->should_stop(sb->arg)) {
			halt(r, res, SB_CANCELLED, "cancelled");
			return true;
		}
	}
	if (!sb->is_readonly && now >= r->next_disk) {
		r->next_disk = now + DISK_EVERY_MS;
		r->was_full |= disk_full(sb, &r->full);
	}
	return false;
}

/* Wait for the run to end, copying output and enforcing time, log and
 * cancel. -1 with err when the launcher failed before bwrap ran. */
static int
supervise(struct run *r, struct sandbox_result *res, char *err,
    size_t errlen)
{
	struct pollfd pfd[3];
	char buf[65536], info[512], what[64], reason[96];
	bool out_open = true, inf_open = true, err_open = true;
	size_t ninfo = 0;
	ssize_t n;

	r->deadline = util_mono_ms() + r->sb->timeout_ms;
	for (;;) {
		int nfds = 0, io = -1, ii = -1, ie = -1;

		if (out_open) {
			pfd[nfds].fd = r->out[0];
			pfd[nfds].events = POLLIN;
			io = nfds++;
		}
		if (inf_open) {
			pfd[nfds].fd = r->inf[0];
			pfd[nfds].events = POLLIN;
			ii = nfds++;
		}
		if (err_open) {
			pfd[nfds].fd = r->errp[0];
			pfd[nfds].events = POLLIN;
			ie = nfds++;
		}
		if (poll(pfd, (nfds_t)nfds, TICK_MS) == -1 && errno != EINTR)
			break;
		if (ie >= 0 && pfd[ie].revents) {
			n = read(r->errp[0], buf, sizeof(buf) - 1);
			if (n > 0) {
				/* The launcher failed before bwrap ran. */
				buf[n] = '\0';
				reap(r->child, &r->status, 5000);
				r->child = -1;
				snprintf(err, errlen, "sandbox: %s", buf);
				return -1;
			}
			err_open = false;
		}
		if (ii >= 0 && pfd[ii].revents)
			read_info(r, info, sizeof(info), &ninfo, &inf_open);
		if (io >= 0 && pfd[io].revents) {
			n = read(r->out[0], buf, sizeof(buf));
			if (n <= 0)
				out_open = false;
			else if (copy_output(r, buf, (size_t)n)) {
				sandbox_fmt_size(r->sb->max_log_bytes, what,
				    sizeof(what));
				snprintf(reason, sizeof(reason),
				    "log limit %s reached", what);
				halt(r, res, SB_LIMIT, reason);
				break;
			}
		}
		if (!out_open && !err_open) {
			/* bwrap is gone or going: collect its status. */
			if (reap(r->child, &r->status, 5000) == 1)
				r->status = stop(r->child, r->init, &r->cg);
			r->child = -1;
			r->is_done = true;
			break;
		}
		if (check_clock(r, res))
			break;
	}
	r->first[r->nfirst] = '\0';
	tail_get(r->ring, r->seen, res->tail);
	return 0;
}

/* rlimits only make calls fail: say which were on. */
static void
rlimit_reason(const struct run *r, struct sandbox_result *res)
{
	char mem[128] = "", nproc[64] = "", what[64];

	if (r->cg.memory == NULL) {
		sandbox_fmt_size(r->sb->memory_bytes, what, sizeof(what));
		snprintf(mem, sizeof(mem), " memory is limited to %s by"
		    " RLIMIT_AS;", what);
	}
	if (r->cg.pids == NULL)
		snprintf(nproc, sizeof(nproc), " processes to %d by"
		    " RLIMIT_NPROC;", r->sb->pids);
	snprintf(res->reason, sizeof(res->reason), "exited with status %d"
	    " (without cgroups here,%s%s a failed allocation or fork shows"
	    " only in the log)", res->status, mem, nproc);
}

/* How a run that ended by itself ended: its status, or the limit it hit.
 * -1 with err when bwrap itself refused and nothing of the command ran. */
static int
classify(struct run *r, struct sandbox_result *res, char *err,
    size_t errlen)
{
	const struct sandbox *sb = r->sb;
	char what[64];

	res->how = SB_EXITED;
	if (WIFEXITED(r->status))
		res->status = WEXITSTATUS(r->status);
	else
		res->status = 128 + (WIFSIGNALED(r->status) ?
		    WTERMSIG(r->status) : 0);
	if (res->status == 1 && strncmp(r->first, "bwrap: ", 7) == 0) {
		r->first[strcspn(r->first, "\n")] = '\0';
		snprintf(err, errlen, "sandbox: %s", r->first);
		return -1;
	}
	/* Full now, or full on the way and the agent failed. */
	if (!sb->is_readonly && (disk_full(sb, &r->full) ||
	    (r->was_full && res->status != 0))) {
		res->how = r->full.how;
		memcpy(res->reason, r->full.reason, sizeof(res->reason));
		res->status = -1;
	} else if (res->status != 0 && cgroup_oom(&r->cg)) {
		sandbox_fmt_size(sb->memory_bytes, what, sizeof(what));
		end(res, SB_LIMIT, "memory limit %s reached", what);
	} else if (res->status != 0 && cgroup_pids_hit(&r->cg)) {
		snprintf(what, sizeof(what), "%d", sb->pids);
		end(res, SB_LIMIT, "pids limit %s reached", what);
	} else if (res->status != 0 && (r->cg.memory == NULL ||
	    r->cg.pids == NULL))
		rlimit_reason(r, res);
	else
		snprintf(res->reason, sizeof(res->reason),
		    "exited with status %d", res->status);
	return 0;
}

static void
run_free(struct run *r)
{
	int i;

	if (r->child > 0)
		stop(r->child, r->init, &r->cg);
	cgroup_free(&r->cg);
	free(r->l.argv);
	for (i = 0; i < 2; i++)
		free(r->procs[i]);
	free(r->opts);
	free(r->home_opts);
	free(r->a.buf);
	bwrap_stage_free(&r->stage);
	free(r->bwrap);
	if (r->filt != -1)
		close(r->filt);
	if (r->argfd != -1)
		close(r->argfd);
	if (r->devnull != -1)
		close(r->devnull);
	for (i = 0; i < 2; i++) {
		if (r->out[i] != -1)
			close(r->out[i]);
		if (r->inf[i] != -1)
			close(r->inf[i]);
		if (r->errp[i] != -1)
			close(r->errp[i]);
	}
}

int
sandbox_run(const struct sandbox *sb, struct sandbox_result *res, char *err,
    size_t errlen)
{
	struct run r;
	int i, rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.sb = sb;
	for (i = 0; i < 2; i++)
		r.out[i] = r.inf[i] = r.errp[i] = -1;
	r.argfd = r.filt = r.devnull = -1;
	r.child = r.init = -1;
	r.echo_tty = -1;
	if (prepare(&r, err, errlen) == -1)
		goto out;
	if ((r.child = fork()) == -1) {
		snprintf(err, errlen, "sandbox: fork: %s", strerror(errno));
		goto out;
	}
	if (r.child == 0)
		launcher_exec(&r.l);
	close(r.out[1]);
	close(r.inf[1]);
	close(r.errp[1]);
	r.out[1] = r.inf[1] = r.errp[1] = -1;
	if (supervise(&r, res, err, errlen) == -1)
		goto out;
	if (r.is_done && classify(&r, res, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	run_free(&r);
	return rc;
}
