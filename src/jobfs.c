/*
 * The job's own filesystem. A walk that adds up file sizes misses what the
 * agent writes through a descriptor to an unlinked file, what sits in a
 * directory it made unreadable, and inodes; a filesystem of the job's own
 * counts all of it. As root it is an ext4 image (no journal, no reserved
 * blocks, its space reserved with fallocate so that no job can take the
 * host's disk) on a loop device; otherwise a tmpfs with size= and
 * nr_inodes= in a user namespace of the job's. A holder process mounts it
 * in a private mount namespace and waits; sandboxes enter that namespace,
 * so the agent's files never appear on the host, and the mount goes when
 * the holder does (with the runner, however it ends).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "jobfs.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

/* HANDOFF_LOOP_CONTROL names another (tests use a missing one, for the
 * tmpfs a machine without loop devices gets). */
#define LOOP_CONTROL	"/dev/loop-control"
#define INODE_RATIO	16384
#define MIN_INODES	1024
/* mke2fs is part of e2fsprogs, an essential package on Debian. */
static const char *const mke2fs_paths[] = { "/usr/sbin/mke2fs",
    "/sbin/mke2fs" };

static const char *
loop_control(void)
{
	const char *path = getenv("HANDOFF_LOOP_CONTROL");

	return path && *path ? path : LOOP_CONTROL;
}

uint64_t
jobfs_inodes(uint64_t bytes)
{
	uint64_t n = bytes / INODE_RATIO;

	return n < MIN_INODES ? MIN_INODES : n;
}

static char *
image_path(const char *dir)
{
	return xasprintf("%s/fs.img", dir);
}

bool
jobfs_has_image(const char *dir)
{
	char *path = image_path(dir);
	struct stat sb;
	bool yes = geteuid() == 0 && lstat(path, &sb) == 0 &&
	    S_ISREG(sb.st_mode) && access(loop_control(), R_OK | W_OK) ==
	    0;

	free(path);
	return yes;
}

void
jobfs_discard(const char *dir)
{
	char *path = image_path(dir);

	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("jobfs: remove %s: %s", path, strerror(errno));
	free(path);
}

/* Run mke2fs on the image; its first line of complaint into err. */
static int
make_ext4(const char *image, uint64_t inodes, char *err, size_t errlen)
{
	char n[32], opts[128], out[512];
	const char *prog = NULL;
	size_t i, got = 0;
	int pipefd[2], status = 0, devnull;
	ssize_t r;
	pid_t pid;

	for (i = 0; i < nitems(mke2fs_paths) && prog == NULL; i++)
		if (access(mke2fs_paths[i], X_OK) == 0)
			prog = mke2fs_paths[i];
	if (prog == NULL) {
		snprintf(err, errlen, "mke2fs (e2fsprogs) is not installed");
		return -1;
	}
	snprintf(n, sizeof(n), "%llu", (unsigned long long)inodes);
	snprintf(opts, sizeof(opts), "root_owner=%lu:%lu,lazy_itable_init=1,"
	    "nodiscard", (unsigned long)sandbox_host_uid(),
	    (unsigned long)sandbox_host_gid());
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "mke2fs: pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "mke2fs: fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-O",
		    "^has_journal", "-m", "0", "-N", n, "-E", opts,
		    (char *)image, NULL };
		char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		    "LC_ALL=C", NULL };

		devnull = open("/dev/null", O_RDONLY);
		if (devnull == -1 || dup2(devnull, 0) == -1 ||
		    dup2(pipefd[1], 1) == -1 || dup2(pipefd[1], 2) == -1)
			_exit(127);
		close_range(3, ~0U, 0);
		execve(prog, argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	while (got < sizeof(out) - 1 &&
	    (r = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(err, errlen, "mke2fs %s: %s", image, *out ? out :
		    "failed");
		return -1;
	}
	return 0;
}

/* A new image of bytes, its blocks reserved on the host's disk. */
static int
make_image(const char *image, uint64_t bytes, uint64_t inodes, char *err,
    size_t errlen)
{
	int fd;

	if (unlink(image) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "remove %s: %s", image, strerror(errno));
		return -1;
	}
	fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "create %s: %s", image, strerror(errno));
		return -1;
	}
	if (fallocate(fd, 0, 0, (off_t)bytes) == -1) {
		if (errno != EOPNOTSUPP) {
			char size[32];

			sandbox_fmt_size(bytes, size, sizeof(size));
			snprintf(err, errlen, "reserve [sandbox] disk (%s) for"
			    " the job in %s: %s", size, image,
			    strerror(errno));
			close(fd);
			unlink(image);
			return -1;
		}
		/* A filesystem without fallocate: a sparse image. */
		if (ftruncate(fd, (off_t)bytes) == -1) {
			snprintf(err, errlen, "size %s: %s", image,
			    strerror(errno));
			close(fd);
			unlink(image);
			return -1;
		}
	}
	close(fd);
	if (make_ext4(image, inodes, err, errlen) == -1) {
		unlink(image);
		return -1;
	}
	return 0;
}

/* ---- the holder (a child of the runner) ---- */

static void __attribute__((noreturn))
holder_fail(int fd, const char *what)
{
	char msg[256];
	int saved = errno;
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(saved));

	if (n > 0 && write(fd, msg, (size_t)n < sizeof(msg) ? (size_t)n :
	    sizeof(msg) - 1) == -1) {
		/* nothing more to do */
	}
	_exit(1);
}

static void
put(int fd, const char *path, const char *text, const char *what)
{
	int f = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(text);

	if (f == -1 || write(f, text, n) != (ssize_t)n)
		holder_fail(fd, what);
	close(f);
}

/* Attach the image to a free loop device (cleared when the filesystem is
 * unmounted) and mount it. */
static void
mount_image(int fd, const char *image, const char *mnt)
{
	struct loop_config lc;
	char dev[32];
	int ctl, img, lo = -1, n, tries;

	if ((ctl = open(loop_control(), O_RDWR | O_CLOEXEC)) == -1)
		holder_fail(fd, "open the loop devices' control");
	if ((img = open(image, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
		holder_fail(fd, "open the job's disk image");
	for (tries = 0; tries < 32; tries++) {
		if ((n = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0)
			holder_fail(fd, "find a free loop device");
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		/* Without udev the node may be missing. */
		if ((lo = open(dev, O_RDWR | O_CLOEXEC)) == -1 &&
		    errno == ENOENT && mknod(dev, S_IFBLK | 0660,
		    makedev(7, (unsigned)n)) == 0)
			lo = open(dev, O_RDWR | O_CLOEXEC);
		if (lo == -1)
			holder_fail(fd, "open a loop device");
		memset(&lc, 0, sizeof(lc));
		lc.fd = (uint32_t)img;
		lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lo, LOOP_CONFIGURE, &lc) == 0)
			break;
		if (errno != EBUSY)
			holder_fail(fd, "attach the job's disk image");
		close(lo);	/* taken meanwhile: another one */
		lo = -1;
	}
	if (lo == -1)
		holder_fail(fd, "attach the job's disk image");
	if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV, "") == -1)
		holder_fail(fd, "mount the job's disk image");
	close(lo);
	close(img);
	close(ctl);
}

/* The directories the sandbox binds, owned by the agent: as root the
 * sandbox's user, else this namespace's root (handoff's own user). */
static void
make_layout(int fd, const char *mnt, bool is_root)
{
	static const struct { const char *name; mode_t mode; } dirs[] = {
		{ JOBFS_UPPER, 0755 }, { JOBFS_WORK, 0700 },
		{ JOBFS_TMP, 01777 }, { JOBFS_HOME, 0755 },
		{ JOBFS_VARTMP, 01777 }, { JOBFS_SHM, 01777 },
		{ JOBFS_SETUP, 0755 }, { JOBFS_SETUP_HOME, 0755 },
		{ JOBFS_HOME_WORK, 0700 },
	};
	uid_t uid = is_root ? sandbox_host_uid() : 0;
	gid_t gid = is_root ? sandbox_host_gid() : 0;
	char *path;
	size_t i;
	int f;

	umask(0);
	for (i = 0; i < nitems(dirs); i++) {
		path = xasprintf("%s/%s", mnt, dirs[i].name);
		if ((mkdir(path, dirs[i].mode) == -1 && errno != EEXIST) ||
		    lchown(path, uid, gid) == -1)
			holder_fail(fd, "lay out the job's filesystem");
		free(path);
	}
	path = xasprintf("%s/" JOBFS_SUMMARY, mnt);
	if ((f = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644)) == -1 || fchown(f, uid, gid) == -1)
		holder_fail(fd, "lay out the job's filesystem");
	close(f);
	free(path);
}

/* In a user namespace overlayfs keeps its whiteouts and opaque
 * directories in user.* attributes of the upper layer, which tmpfs takes
 * from Linux 6.6 on. */
static void
check_userxattr(int fd, const char *mnt)
{
	char *path = xasprintf("%s/" JOBFS_UPPER, mnt);

	if (setxattr(path, "user.handoff", "1", 1, 0) == -1) {
		if (errno == EOPNOTSUPP)
			holder_fail(fd, "the job's tmpfs takes no user.* extended"
			    " attributes, which overlayfs needs when handoff is"
			    " not root (Linux 6.6 or later)");
		holder_fail(fd, "set an extended attribute on the job's tmpfs");
	}
	removexattr(path, "user.handoff");
	free(path);
}

static void __attribute__((noreturn))
holder(const struct jobfs *fs, int ready, int ctl, pid_t parent)
{
	static char *const argv[] = { "handoff-jobfs", NULL };
	static char *const envp[] = { NULL };
	char map[64], opts[128];
	uid_t uid = getuid();
	gid_t gid = getgid();
	bool is_root = geteuid() == 0;
	int null;
	char byte;

	if (!is_root) {
		/* Root of a user namespace of its own, to mount a tmpfs;
		 * sandboxes enter it, their agent maps to this user. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1)
			holder_fail(ready, "unshare user and mount namespaces");
		put(ready, "/proc/self/setgroups", "deny", "deny setgroups");
		snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)uid);
		put(ready, "/proc/self/uid_map", map, "map uid");
		snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)gid);
		put(ready, "/proc/self/gid_map", map, "map gid");
	} else if (unshare(CLONE_NEWNS) == -1)
		holder_fail(ready, "unshare the mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		holder_fail(ready, "make mounts private");
	if (fs->image != NULL)
		mount_image(ready, fs->image, fs->mnt);
	else {
		snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,"
		    "mode=0755", (unsigned long long)fs->bytes,
		    (unsigned long long)fs->inodes);
		if (mount("tmpfs", fs->mnt, "tmpfs", MS_NOSUID | MS_NODEV,
		    opts) == -1)
			holder_fail(ready, "mount the job's tmpfs");
	}
	make_layout(ready, fs->mnt, is_root);
	if (!is_root)
		check_userxattr(ready, fs->mnt);
	/* Last: a change of credentials clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (write(ready, "ok", 2) != 2)
		_exit(1);
	/* Nothing of the runner's but the pipe whose end ends it, read by a
	 * program that is not named like the runner (ps, pgrep). */
	if ((null = open("/dev/null", O_RDWR)) != -1 && dup2(ctl, 0) != -1 &&
	    dup2(null, 1) != -1 && dup2(null, 2) != -1) {
		close_range(3, ~0U, 0);
		execve("/bin/cat", argv, envp);
		ctl = 0;
	}
	while (read(ctl, &byte, 1) == -1 && errno == EINTR)
		;
	_exit(0);
}

int
jobfs_start(struct jobfs *fs, const char *dir, uint64_t bytes,
    bool is_kept, char *err, size_t errlen)
{
	int ready[2] = { -1, -1 }, ctl[2] = { -1, -1 }, status;
	char msg[300], *path;
	pid_t parent = getpid();
	ssize_t n;

	memset(fs, 0, sizeof(*fs));
	fs->holder = -1;
	fs->ctl = fs->userns = fs->mntns = -1;
	fs->bytes = bytes;
	fs->inodes = jobfs_inodes(bytes);
	fs->mnt = xasprintf("%s/fs", dir);
	/* As root an image on a loop device; a tmpfs where the machine has
	 * no loop devices (a container, say). */
	if (geteuid() == 0 && access(loop_control(), R_OK | W_OK) == 0)
		fs->image = image_path(dir);
	else if (geteuid() == 0)
		log_warn("jobfs: no loop devices (%s: %s); the job's disk is a"
		    " tmpfs, in memory", loop_control(), strerror(errno));
	if (mkdir(fs->mnt, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "create %s: %s", fs->mnt,
		    strerror(errno));
		goto fail;
	}
	/* Absolute: it is also read through /proc/PID/root. */
	if ((path = realpath(fs->mnt, NULL)) == NULL) {
		snprintf(err, errlen, "resolve %s: %s", fs->mnt,
		    strerror(errno));
		goto fail;
	}
	free(fs->mnt);
	fs->mnt = path;
	if (fs->image && !(is_kept && jobfs_has_image(dir)) &&
	    make_image(fs->image, bytes, fs->inodes, err, errlen) == -1)
		goto fail;
	if (pipe2(ready, O_CLOEXEC) == -1 || pipe2(ctl, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "jobfs: pipe: %s", strerror(errno));
		goto fail;
	}
	if ((fs->holder = fork()) == -1) {
		snprintf(err, errlen, "jobfs: fork: %s", strerror(errno));
		goto fail;
	}
	if (fs->holder == 0) {
		close(ready[0]);
		close(ctl[1]);
		holder(fs, ready[1], ctl[0], parent);
	}
	close(ready[1]);
	close(ctl[0]);
	ready[1] = ctl[0] = -1;
	fs->ctl = ctl[1];
	ctl[1] = -1;
	while ((n = read(ready[0], msg, sizeof(msg) - 1)) == -1 &&
	    errno == EINTR)
		;
	msg[n > 0 ? n : 0] = '\0';
	if (strcmp(msg, "ok") != 0) {
		snprintf(err, errlen, "the job's filesystem: %s", *msg ? msg :
		    "its holder died");
		goto fail;
	}
	path = xasprintf("/proc/%ld/ns/mnt", (long)fs->holder);
	fs->mntns = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (geteuid() != 0) {
		path = xasprintf("/proc/%ld/ns/user", (long)fs->holder);
		fs->userns = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
	}
	if (fs->mntns == -1 || (geteuid() != 0 && fs->userns == -1)) {
		snprintf(err, errlen, "the job's filesystem: open its"
		    " namespaces: %s", strerror(errno));
		goto fail;
	}
	close(ready[0]);
	return 0;
fail:
	if (ready[0] != -1)
		close(ready[0]);
	if (ready[1] != -1)
		close(ready[1]);
	if (ctl[0] != -1)
		close(ctl[0]);
	if (ctl[1] != -1)
		close(ctl[1]);
	if (fs->holder > 0) {
		kill(fs->holder, SIGKILL);
		while (waitpid(fs->holder, &status, 0) == -1 && errno == EINTR)
			;
		fs->holder = -1;
	}
	jobfs_stop(fs);
	return -1;
}

void
jobfs_stop(struct jobfs *fs)
{
	int status;

	if (fs->ctl > 0)
		close(fs->ctl);	/* the holder reads EOF and goes */
	if (fs->holder > 0)
		while (waitpid(fs->holder, &status, 0) == -1 && errno == EINTR)
			;
	if (fs->userns > 0)
		close(fs->userns);
	if (fs->mntns > 0)
		close(fs->mntns);
	free(fs->mnt);
	free(fs->image);
	memset(fs, 0, sizeof(*fs));
	fs->holder = -1;
	fs->ctl = fs->userns = fs->mntns = -1;
}

int
jobfs_enter(const struct jobfs *fs, const char **what)
{
	if (fs->userns != -1 && setns(fs->userns, CLONE_NEWUSER) == -1) {
		*what = "enter the job's user namespace";
		return -1;
	}
	if (setns(fs->mntns, CLONE_NEWNS) == -1) {
		*what = "enter the job's mount namespace";
		return -1;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC) == -1) {
		*what = "unshare mount and IPC namespaces";
		return -1;
	}
	return 0;
}

int
jobfs_free(const struct jobfs *fs, uint64_t *free_bytes,
    uint64_t *free_inodes)
{
	struct statvfs sv;
	char *path;
	int rc;

	if (fs->holder <= 0)
		return -1;
	/* The holder's view of the mount point: its namespace's, not ours. */
	path = xasprintf("/proc/%ld/root%s", (long)fs->holder, fs->mnt);
	rc = statvfs(path, &sv);
	free(path);
	if (rc == -1)
		return -1;
	*free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	*free_inodes = (uint64_t)sv.f_favail;
	return 0;
}
