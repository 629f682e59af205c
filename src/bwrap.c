/*
 * bubblewrap's command line for a sandbox: the flags (handed to bwrap on a
 * memfd with --args, so that no setting shows in /proc) and the stage of
 * host paths its binds come from.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bwrap.h"
#include "jobfs.h"
#include "sandbox.h"
#include "util.h"

static void
arg(struct bwrap_args *a, const char *s)
{
	size_t n = strlen(s) + 1;

	a->buf = xrealloc(a->buf, a->len + n);
	memcpy(a->buf + a->len, s, n);
	a->len += n;
}

static void
args2(struct bwrap_args *a, const char *x, const char *y)
{
	arg(a, x);
	arg(a, y);
}

static void
args3(struct bwrap_args *a, const char *x, const char *y, const char *z)
{
	arg(a, x);
	arg(a, y);
	arg(a, z);
}

char *
bwrap_stage_add(struct bwrap_stage *st, const char *src, bool is_file,
    bool follow)
{
	st->src = xrealloc(st->src, (st->n + 1) * sizeof(*st->src));
	st->is_file = xrealloc(st->is_file, (st->n + 1) *
	    sizeof(*st->is_file));
	st->follow = xrealloc(st->follow, (st->n + 1) * sizeof(*st->follow));
	st->src[st->n] = xstrdup(src);
	st->is_file[st->n] = is_file;
	st->follow[st->n] = follow;
	return xasprintf(BWRAP_STAGE "/%zu", st->n++);
}

void
bwrap_stage_free(struct bwrap_stage *st)
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
bind_staged(struct bwrap_args *a, struct bwrap_stage *st,
    const char *flag, const char *src, bool is_file, const char *dest)
{
	char *from = bwrap_stage_add(st, src, is_file, false);

	args3(a, flag, from, dest);
	free(from);
}

/* A directory of the job's filesystem. */
static void
bind_fs(struct bwrap_args *a, struct bwrap_stage *st,
    const struct sandbox *sb, const char *flag, const char *name,
    bool is_file, const char *dest)
{
	char *src = xasprintf("%s/%s", sb->fs->mnt, name);

	bind_staged(a, st, flag, src, is_file, dest);
	free(src);
}

/* /bin, /lib and friends: symlinks into /usr on merged systems, else the
 * directory itself, read-only; from root's tree when there is one (its
 * links are followed in the sandbox, never on the host). */
static void
usr_links(struct bwrap_args *a, struct bwrap_stage *st, const char *root)
{
	static const char *const dirs[] = { "/bin", "/sbin", "/lib", "/lib32",
	    "/lib64", "/libx32" };
	char target[PATH_MAX], *path;
	struct stat sb;
	ssize_t n;
	size_t i;

	for (i = 0; i < nitems(dirs); i++) {
		path = xasprintf("%s%s", root ? root : "", dirs[i]);
		if (lstat(path, &sb) == -1)
			;
		else if (S_ISLNK(sb.st_mode)) {
			n = readlink(path, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				args3(a, "--symlink", target, dirs[i]);
			}
		} else if (S_ISDIR(sb.st_mode) && root != NULL)
			bind_staged(a, st, "--ro-bind", path, false, dirs[i]);
		else if (S_ISDIR(sb.st_mode))
			args3(a, "--ro-bind", dirs[i], dirs[i]);
		free(path);
	}
}

/* A file or directory of root's /etc, its links resolved as if root were
 * /, so that none leads to the host's files: staged, or left out as
 * --ro-bind-try would. */
static void
root_etc(struct bwrap_args *a, struct bwrap_stage *st, int rootfd,
    const char *name)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char proc[64], real[PATH_MAX];
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = (int)syscall(SYS_openat2, rootfd, name + 1, &how,
	    sizeof(how))) == -1)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (fstat(fd, &sb) == 0 && (S_ISREG(sb.st_mode) ||
	    S_ISDIR(sb.st_mode)) && (n = readlink(proc, real,
	    sizeof(real) - 1)) > 0) {
		real[n] = '\0';
		bind_staged(a, st, "--ro-bind", real, !S_ISDIR(sb.st_mode),
		    name);
	}
	close(fd);
}

void
bwrap_build(const struct sandbox *sb, struct bwrap_args *a,
    struct bwrap_stage *st)
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
	int rootfd;

	/* Each namespace by name: --unshare-all carries on without a user
	 * namespace when it cannot have one, and the IPC namespace is the
	 * launcher's, with limits on System V shared memory. */
	arg(a, "--unshare-user");
	arg(a, "--unshare-pid");
	arg(a, "--unshare-uts");
	arg(a, "--unshare-cgroup-try");
	/* A bridged sandbox is in the launcher's network namespace. */
	if (!sb->share_net && sb->nbridge == 0)
		arg(a, "--unshare-net");
	arg(a, "--disable-userns");
	snprintf(uid, sizeof(uid), "%d", SANDBOX_UID);
	args2(a, "--uid", uid);
	args2(a, "--gid", uid);
	arg(a, "--die-with-parent");
	arg(a, "--new-session");
	args2(a, "--cap-drop", "ALL");
	args2(a, "--hostname", "sandbox");
	if (sb->root != NULL) {
		path = xasprintf("%s/usr", sb->root);
		if (lstat(path, &info) == 0 && S_ISDIR(info.st_mode))
			bind_staged(a, st, "--ro-bind", path, false, "/usr");
		free(path);
	} else
		args3(a, "--ro-bind", "/usr", "/usr");
	usr_links(a, st, sb->root);
	args2(a, "--dir", "/etc");
	rootfd = sb->root == NULL ? -1 : open(sb->root, O_PATH | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	for (i = 0; i < nitems(etc); i++) {
		if (sb->nbridge > 0 && !strcmp(etc[i], "/etc/resolv.conf"))
			continue;
		if (sb->root == NULL)
			args3(a, "--ro-bind-try", etc[i], etc[i]);
		else if (rootfd != -1)
			root_etc(a, st, rootfd, etc[i]);
	}
	if (rootfd != -1)
		close(rootfd);
	/* Bridged: a resolver where nothing listens, so lookups fail at
	 * once (names are the proxy's to resolve). */
	if (sb->nbridge > 0) {
		path = xasprintf("%s/resolv.conf", sb->etc_dir);
		bind_staged(a, st, "--ro-bind", path, true,
		    "/etc/resolv.conf");
		free(path);
	}
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
		if (sb->home_layers && sb->home_layers[0])
			bind_staged(a, st, "--bind", sb->home_merged, false,
			    "/home/agent");
		else
			bind_fs(a, st, sb, "--bind", sb->home ? sb->home :
			    JOBFS_HOME, false, "/home/agent");
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
		from = bwrap_stage_add(st, sb->agent_path, true, true);
		args3(a, "--ro-bind", from, sb->agent_path);
		free(from);
	}
	for (i = 0; sb->extra_ro && i < sb->extra_ro->n; i++) {
		/* Missing ones are left out, as --ro-bind-try would. */
		if (stat(sb->extra_ro->v[i], &info) == -1)
			continue;
		from = bwrap_stage_add(st, sb->extra_ro->v[i],
		    !S_ISDIR(info.st_mode), true);
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

int
bwrap_args_fd(const struct bwrap_args *a)
{
	int fd = memfd_create("handoff-bwrap-args", MFD_CLOEXEC);
	const char *p = a->buf;
	size_t len = a->len;
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
