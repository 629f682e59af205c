/* layercopy.c on real directories, as root and as an unprivileged user: what
 * it keeps, what it leaves out, links it never follows, a depth it refuses,
 * and the copy standing as overlayfs's lower layer over a base. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layercopy.h"
#include "tap.h"
#include "util.h"

#define BIG_SIZE	(3 * 1024 * 1024 + 17)
#define MTIME		1234567890
#define LONG_LEVELS	20	/* 20 names of 250 bytes: beyond PATH_MAX */
#define NOBODY		65534

static char *
at(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
put(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *p = at(dir, name);

	if (util_write_file(p, text, strlen(text), 0600) == -1 ||
	    chmod(p, mode) == -1)
		printf("# write %s: %s\n", p, strerror(errno));
	free(p);
}

static void
make_dir(const char *dir, const char *name)
{
	char *p = at(dir, name);

	util_mkdirs(p, 0755);
	free(p);
}

static void
set_mtime(const char *dir, const char *name, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	char *p = at(dir, name);

	utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
	free(p);
}

static const char *
opaque_attr(void)
{
	return geteuid() == 0 ? "trusted.overlay.opaque" :
	    "user.overlay.opaque";
}

/* A byte of the big file. */
static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 4096) & 0xff);
}

/* Nested directories "d" levels deep under dir, made with *at() calls. */
static void
nest(const char *dir, int levels, const char *name)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), next, i;

	for (i = 0; i < levels && fd != -1; i++) {
		mkdirat(fd, name, 0755);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	if (fd != -1) {
		close(openat(fd, "bottom", O_WRONLY | O_CREAT, 0644));
		close(fd);
	}
}

/* Whether the file levels deep under dir in the nest() tree is there. */
static bool
nested_there(const char *dir, int levels, const char *name)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), next, i;
	struct stat sb;
	bool yes;

	for (i = 0; i < levels && fd != -1; i++) {
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		close(fd);
		fd = next;
	}
	if (fd == -1)
		return false;
	yes = fstatat(fd, "bottom", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode);
	close(fd);
	return yes;
}

/* The set-up's upper directory as overlayfs would leave it. */
static void
make_tree(const char *src)
{
	unsigned char *buf = xmalloc(BIG_SIZE);
	char longname[256], *p, *q;
	size_t i;

	util_mkdirs(src, 0755);
	put(src, "a.txt", "hello\n", 0640);
	set_mtime(src, "a.txt", MTIME);
	put(src, "empty", "", 0644);
	for (i = 0; i < BIG_SIZE; i++)
		buf[i] = pattern(i);
	p = at(src, "big.bin");
	util_write_file(p, buf, BIG_SIZE, 0644);
	free(p);
	free(buf);
	make_dir(src, "d1/d2/d3");
	put(src, "d1/d2/d3/deep.txt", "deep\n", 0600);
	p = at(src, "out");
	symlink("../../../../../etc/hostname", p);
	free(p);
	/* A symlinked directory in the middle: never walked into. */
	p = at(src, "d1/jump");
	symlink("/etc", p);
	free(p);
	put(src, "h1", "linked\n", 0644);
	p = at(src, "h1");
	q = at(src, "d1/h2");
	link(p, q);
	free(q);
	q = at(src, "h3");
	link(p, q);
	free(q);
	free(p);
	p = at(src, "gone");
	if (mknod(p, S_IFCHR, makedev(0, 0)) == -1)
		printf("# whiteout %s: %s\n", p, strerror(errno));
	free(p);
	make_dir(src, "op");
	put(src, "op/kept", "kept", 0644);
	p = at(src, "op");
	if (setxattr(p, opaque_attr(), "y", 1, 0) == -1)
		printf("# opaque %s: %s\n", p, strerror(errno));
	free(p);
	p = at(src, "pipe");
	mkfifo(p, 0644);
	free(p);
	put(src, "suid", "#!/bin/sh\n", 04755);
	put(src, "sgid", "#!/bin/sh\n", 02755);
	make_dir(src, ".git");
	put(src, ".git/config", "[core]\n", 0644);
	make_dir(src, "d1/.git");
	put(src, "d1/.git/config", "[core]\n", 0644);
	memset(longname, 'n', 255);
	longname[255] = '\0';
	put(src, longname, "long\n", 0644);
	make_dir(src, "ro");
	put(src, "ro/inside", "x\n", 0400);
	p = at(src, "ro");
	chmod(p, 0555);
	free(p);
	/* Past PATH_MAX, with a hard link too long to name at its end. */
	memset(longname, 'L', 250);
	longname[250] = '\0';
	p = at(src, "long");
	util_mkdirs(p, 0755);
	nest(p, LONG_LEVELS, longname);
	free(p);
	set_mtime(src, "d1", MTIME);
}

static bool
is_link_to(const char *dir, const char *name, const char *want)
{
	char *p = at(dir, name), buf[256];
	struct stat sb;
	ssize_t n = -1;

	if (lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode))
		n = readlink(p, buf, sizeof(buf) - 1);
	free(p);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static int
lstat_at(const char *dir, const char *name, struct stat *sb)
{
	char *p = at(dir, name);
	int rc = lstat(p, sb);

	free(p);
	return rc;
}

static bool
has_text(const char *dir, const char *name, const char *want)
{
	char *p = at(dir, name), *text;
	size_t n;
	bool yes;

	text = util_read_file(p, 1024, &n);
	free(p);
	yes = text != NULL && n == strlen(want) && memcmp(text, want, n) == 0;
	free(text);
	return yes;
}

static bool
big_intact(const char *dir)
{
	char *p = at(dir, "big.bin"), *text;
	size_t n, i;
	bool yes;

	text = util_read_file(p, BIG_SIZE + 1, &n);
	free(p);
	yes = text != NULL && n == BIG_SIZE;
	for (i = 0; yes && i < n; i++)
		yes = (unsigned char)text[i] == pattern(i);
	free(text);
	return yes;
}

static bool
is_opaque(const char *dir, const char *name)
{
	char *p = at(dir, name), v[4];
	ssize_t n = getxattr(p, opaque_attr(), v, sizeof(v));

	free(p);
	return n == 1 && v[0] == 'y';
}

/* What every copy must hold, whoever made it. */
static void
check_copy(const char *dst, uint64_t bytes, uint64_t files)
{
	struct stat a, b, c;
	char longname[256];

	memset(longname, 'n', 255);
	longname[255] = '\0';
	ok(has_text(dst, "a.txt", "hello\n"), "a file's contents");
	ok(lstat_at(dst, "a.txt", &a) == 0 && (a.st_mode & 07777) == 0640,
	    "its mode");
	ok(a.st_mtime == MTIME, "its mtime");
	ok(lstat_at(dst, "d1", &a) == 0 && a.st_mtime == MTIME,
	    "a directory's mtime");
	ok(lstat_at(dst, "empty", &a) == 0 && S_ISREG(a.st_mode) &&
	    a.st_size == 0, "an empty file");
	ok(big_intact(dst), "a file of a few MiB, byte for byte");
	ok(has_text(dst, "d1/d2/d3/deep.txt", "deep\n"), "nested directories");
	ok(has_text(dst, longname, "long\n"), "a 255-byte name");
	ok(is_link_to(dst, "out", "../../../../../etc/hostname"),
	    "a symlink out of the tree is copied as a link");
	ok(is_link_to(dst, "d1/jump", "/etc"),
	    "a symlinked directory is copied as a link");
	ok(lstat_at(dst, "h1", &a) == 0 && lstat_at(dst, "d1/h2", &b) == 0 &&
	    lstat_at(dst, "h3", &c) == 0 && a.st_ino == b.st_ino &&
	    a.st_ino == c.st_ino && a.st_nlink == 3,
	    "hard links are links again");
	ok(lstat_at(dst, "gone", &a) == 0 && S_ISCHR(a.st_mode) &&
	    a.st_rdev == makedev(0, 0), "a whiteout is a whiteout");
	ok(is_opaque(dst, "op"), "an opaque directory stays opaque");
	ok(!is_opaque(dst, "d1"), "the others do not become opaque");
	ok(has_text(dst, "op/kept", "kept"), "with its files");
	ok(lstat_at(dst, "pipe", &a) == -1 && errno == ENOENT,
	    "a fifo is left out");
	ok(lstat_at(dst, "suid", &a) == 0 && (a.st_mode & 07777) == 0755,
	    "a setuid file loses the bit");
	ok(lstat_at(dst, "sgid", &a) == 0 && (a.st_mode & 07777) == 0755,
	    "a setgid file loses the bit");
	ok(lstat_at(dst, ".git", &a) == -1 && errno == ENOENT,
	    "the top .git is left out");
	ok(has_text(dst, "d1/.git/config", "[core]\n"), "a deeper .git is kept");
	ok(lstat_at(dst, "ro", &a) == 0 && (a.st_mode & 07777) == 0555 &&
	    has_text(dst, "ro/inside", "x\n"),
	    "a read-only directory, with its file");
	ok(lstat_at(dst, "", &a) == 0 && (a.st_mode & 07777) == 0755,
	    "the copy's top is 0755");
	/* a.txt 6, big, deep 5, linked 7 once, kept 4, two scripts 10 each,
	 * the long name 5, .git 7, inside 2, bottom 0. */
	is_int(bytes, 6 + BIG_SIZE + 5 + 7 + 4 + 20 + 5 + 7 + 2, "bytes");
	ok(files > 20, "files: %llu", (unsigned long long)files);
}

/* Paths past PATH_MAX, and a hard link there copied as a file. */
static void
check_long(const char *dst)
{
	char longname[251], *p;

	memset(longname, 'L', 250);
	longname[250] = '\0';
	p = at(dst, "long");
	ok(nested_there(p, LONG_LEVELS, longname),
	    "a path longer than PATH_MAX is copied");
	free(p);
}

/* A tree levels deep: copied, or refused with a clear reason. */
static void
check_depth(const char *dir)
{
	char *src = at(dir, "nest"), *dst, err[512] = "";
	uint64_t bytes, files;

	util_mkdirs(src, 0755);
	nest(src, LAYERCOPY_MAX_DEPTH, "d");
	dst = at(dir, "nest-copy");
	ok(layercopy(src, dst, NULL, &bytes, &files, err, sizeof(err)) == 0,
	    "a tree %d levels deep is copied: %s", LAYERCOPY_MAX_DEPTH, err);
	ok(nested_there(dst, LAYERCOPY_MAX_DEPTH, "d"), "all of it");
	util_rmtree(dst);
	util_rmtree(src);
	util_mkdirs(src, 0755);
	nest(src, LAYERCOPY_MAX_DEPTH + 1, "d");
	err[0] = '\0';
	ok(layercopy(src, dst, NULL, &bytes, &files, err, sizeof(err)) == -1,
	    "one level more fails");
	ok(strstr(err, "deeper than 512 levels") != NULL, "saying so: %s",
	    err);
	util_rmtree(dst);
	util_rmtree(src);
	free(dst);
	free(src);
}

/* The copy as overlayfs's lower layer over base: the whiteout hides the
 * base's file, the opaque directory the base directory's other files. In
 * a user namespace of our own (userxattr) unless root. */
static void
check_overlay(const char *dir, const char *copy)
{
	char *base = at(dir, "base"), *mnt = at(dir, "mnt"), *opts, buf[64];
	struct stat sb;
	bool is_root = geteuid() == 0;

	make_dir(dir, "base/op");
	make_dir(dir, "mnt");
	put(base, "gone", "from the base\n", 0644);
	put(base, "op/other", "from the base\n", 0644);
	put(base, "below", "from the base\n", 0644);
	if (is_root)
		ok(unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL,
		    MS_REC | MS_PRIVATE, NULL) == 0,
		    "a mount namespace: %s", strerror(errno));
	else {
		uid_t uid = geteuid();
		gid_t gid = getegid();

		ok(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
		    "a user namespace: %s", strerror(errno));
		snprintf(buf, sizeof(buf), "0 %ld 1\n", (long)uid);
		util_write_file("/proc/self/uid_map", buf, strlen(buf), 0);
		util_write_file("/proc/self/setgroups", "deny", 4, 0);
		snprintf(buf, sizeof(buf), "0 %ld 1\n", (long)gid);
		util_write_file("/proc/self/gid_map", buf, strlen(buf), 0);
	}
	opts = xasprintf("lowerdir=%s:%s%s", copy, base,
	    is_root ? "" : ",userxattr");
	ok(mount("overlay", mnt, "overlay", 0, opts) == 0,
	    "the copy mounts as a lower layer: %s", strerror(errno));
	ok(lstat_at(mnt, "gone", &sb) == -1 && errno == ENOENT,
	    "its whiteout hides the base's file");
	ok(lstat_at(mnt, "op/other", &sb) == -1 && errno == ENOENT,
	    "its opaque directory hides the base directory's files");
	ok(has_text(mnt, "op/kept", "kept"), "but not its own");
	ok(has_text(mnt, "below", "from the base\n") &&
	    has_text(mnt, "a.txt", "hello\n"), "both layers show");
	umount2(mnt, MNT_DETACH);
	free(opts);
	free(mnt);
	free(base);
}

/* Everything, as whoever runs it, in dir. */
static void
run(const char *dir)
{
	static const char *const skip[] = { ".git", NULL };
	/* VFS_CAP_REVISION_2, cap_setuid (7) effective and permitted. */
	static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x80 };
	char *src = at(dir, "src"), *dst = at(dir, "copy"), err[512] = "";
	uint64_t bytes = 0, files = 0;
	bool is_root = geteuid() == 0;
	struct stat sb;
	char *p;

	printf("# as uid %ld\n", (long)geteuid());
	make_tree(src);
	if (is_root) {
		/* Owners kept; file capabilities never: a set-up's binary
		 * must not gain privileges in the layer. */
		p = at(src, "a.txt");
		chown(p, 1234, 5678);
		free(p);
		put(src, "capfile", "#!/bin/sh\n", 0755);
		p = at(src, "capfile");
		ok(setxattr(p, "security.capability", cap, sizeof(cap), 0) ==
		    0, "a file capability on the source: %s", strerror(errno));
		free(p);
	}
	ok(layercopy(src, dst, skip, &bytes, &files, err, sizeof(err)) == 0,
	    "the tree is copied: %s", err);
	check_copy(dst, bytes - (is_root ? 10 : 0), files);
	check_long(dst);
	if (is_root) {
		ok(lstat_at(dst, "a.txt", &sb) == 0 && sb.st_uid == 1234 &&
		    sb.st_gid == 5678, "as root, owners are kept");
		p = at(dst, "capfile");
		ok(getxattr(p, "security.capability", NULL, 0) == -1 &&
		    errno == ENODATA, "a file capability is left out");
		free(p);
	}
	ok(layercopy(src, dst, skip, &bytes, &files, err, sizeof(err)) == -1 &&
	    strstr(err, "create") != NULL, "an existing destination fails: %s",
	    err);
	check_depth(dir);
	check_overlay(dir, dst);
	free(dst);
	free(src);
}

/* Enough descriptors for the deepest tree: two each level. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = 2 * LAYERCOPY_MAX_DEPTH + 64;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want && rl.rlim_max >= want) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* run() as nobody in a child, its TAP numbers following ours. */
static void
run_unprivileged(const char *dir)
{
	int fds[2], counts[2] = { 0, 0 }, status;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) == -1 || (pid = fork()) == -1) {
		ok(0, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (setgroups(0, NULL) == -1 || setresgid(NOBODY, NOBODY,
		    NOBODY) == -1 || setresuid(NOBODY, NOBODY, NOBODY) == -1)
			ok(0, "become nobody: %s", strerror(errno));
		else {
			/* Dumpable again, for the leak checker's tracer. */
			prctl(PR_SET_DUMPABLE, 1);
			run(dir);
		}
		counts[0] = tap_n;
		counts[1] = tap_failed;
		if (write(fds[1], counts, sizeof(counts)) == -1)
			_exit(1);
		exit(0);
	}
	close(fds[1]);
	if (read(fds[0], counts, sizeof(counts)) != sizeof(counts)) {
		ok(0, "the unprivileged half reports");
		counts[0] = tap_n;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	tap_failed += counts[1];
	tap_n = counts[0];
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the unprivileged half ends well");
}

int
main(void)
{
	char tmpl[] = "/tmp/test-layercopy-XXXXXX", *dir, *mine;

	raise_nofile();
	ok((dir = mkdtemp(tmpl)) != NULL, "scratch directory");
	if (geteuid() == 0) {
		mine = at(dir, "root");
		util_mkdirs(mine, 0700);
		run(mine);
		free(mine);
		/* The same again as nobody, in a directory of its own. */
		chmod(dir, 0711);
		mine = at(dir, "nobody");
		util_mkdirs(mine, 0700);
		chown(mine, NOBODY, NOBODY);
		run_unprivileged(mine);
		free(mine);
	} else {
		printf("ok %d # SKIP as root: owners, file capabilities, "
		    "trusted.overlay.opaque\n", ++tap_n);
		run(dir);
	}
	util_rmtree(dir);
	return done_testing();
}
