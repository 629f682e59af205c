/*
 * The copy of an overlay's upper directory into a layer. The set-up that
 * wrote it ran the repository's own commands and the copy may run as root,
 * so every name is opened relative to its directory's descriptor, never
 * through a link, and each type is checked again on the open descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layercopy.h"
#include "util.h"

#define BUF_SIZE	(128 * 1024)
#define RANGE_SIZE	(1 << 30)
#define MODE_KEPT	01777		/* setuid and setgid never */
#define REL_SHOWN	160		/* the end of a deep path, in errors */

/* A regular file with other names: where its first copy is, under to. */
struct linked {
	ino_t	 ino;
	char	*rel;
};

/* One copy under way. */
struct copy {
	const char *const *skip;
	const char	*from;
	const char	*opaque;	/* the opaque directory's attribute */
	bool		 is_root;
	bool		 use_range;	/* copy_file_range, until it refuses */
	dev_t		 dev;		/* from's filesystem: the copy stays on it */
	int		 top;		/* to */
	char		*rel;		/* the directory under from and to */
	size_t		 rellen, relsize;
	void		*links;		/* tsearch tree of struct linked */
	char		*buf;
	uint64_t	 bytes, files;
	char		*err;
	size_t		 errlen;
};

static int	copy_dir(struct copy *, int, int, int);

/* "what FROM/REL/NAME: why" into err (why: errno's text when NULL), a
 * deep REL cut to its end so that the reason shows. */
static int
fail(struct copy *c, const char *name, const char *what, const char *why)
{
	const char *reason = why != NULL ? why : strerror(errno);
	const char *rel = c->rel;
	bool is_cut = c->rellen > REL_SHOWN;

	if (is_cut)
		rel += c->rellen - REL_SHOWN;
	snprintf(c->err, c->errlen, "%s %s/%s%s%s%s: %s", what, c->from,
	    is_cut ? "..." : "", rel, *name != '\0' && c->rellen > 0 ? "/" :
	    "", name, reason);
	return -1;
}

/* Step into name; returns where to step back to. */
static size_t
enter(struct copy *c, const char *name)
{
	size_t old = c->rellen, n = strlen(name);

	while (old + n + 2 > c->relsize) {
		c->relsize *= 2;
		c->rel = xrealloc(c->rel, c->relsize);
	}
	if (old > 0)
		c->rel[c->rellen++] = '/';
	memcpy(c->rel + c->rellen, name, n + 1);
	c->rellen += n;
	return old;
}

static void
leave(struct copy *c, size_t old)
{
	c->rellen = old;
	c->rel[old] = '\0';
}

static int
by_ino(const void *x, const void *y)
{
	const struct linked *a = x, *b = y;

	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

static void
free_linked(void *p)
{
	struct linked *l = p;

	free(l->rel);
	free(l);
}

static void
remember(struct copy *c, ino_t ino, const char *name)
{
	struct linked *l = xmalloc(sizeof(*l));

	l->ino = ino;
	l->rel = xasprintf("%s%s%s", c->rel, c->rellen > 0 ? "/" : "", name);
	if (tsearch(l, &c->links, by_ino) == NULL) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
}

/* Link name in dfd to the first copy, at l->rel under to: resolved beneath
 * to and through no symlink. 0, or -1 with errno. */
static int
link_again(struct copy *c, const struct linked *l, int dfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
	};
	const char *base = strrchr(l->rel, '/');
	char *dir;
	int pfd, rc;

	if (base == NULL)
		return linkat(c->top, l->rel, dfd, name, 0);
	dir = xstrndup(l->rel, (size_t)(base - l->rel));
	pfd = (int)syscall(SYS_openat2, c->top, dir, &how, sizeof(how));
	free(dir);
	if (pfd == -1)
		return -1;
	rc = linkat(pfd, base + 1, dfd, name, 0);
	close(pfd);
	return rc;
}

/* Owner (as root), mode and times of st onto fd. */
static int
set_meta(struct copy *c, int fd, const struct stat *st, const char *name)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (c->is_root && fchown(fd, st->st_uid, st->st_gid) == -1)
		return fail(c, name, "set the owner of", NULL);
	if (fchmod(fd, st->st_mode & MODE_KEPT) == -1)
		return fail(c, name, "set the mode of", NULL);
	if (futimens(fd, ts) == -1)
		return fail(c, name, "set the times of", NULL);
	return 0;
}

/* Owner (as root) and times of st onto the link or whiteout name. */
static int
set_meta_at(struct copy *c, int dfd, const char *name, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (c->is_root && fchownat(dfd, name, st->st_uid, st->st_gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return fail(c, name, "set the owner of", NULL);
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) == -1)
		return fail(c, name, "set the times of", NULL);
	return 0;
}

static int
copy_data(struct copy *c, int in, int out, const char *name)
{
	ssize_t n, w, off;

	for (;;) {
		if (c->use_range) {
			n = copy_file_range(in, NULL, out, NULL, RANGE_SIZE, 0);
			if (n == -1 && (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP)) {
				/* Across filesystems, say: read and write. */
				c->use_range = false;
				continue;
			}
		} else
			n = read(in, c->buf, BUF_SIZE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return fail(c, name, "copy", NULL);
		if (n == 0)
			return 0;
		for (off = 0; !c->use_range && off < n; off += w) {
			if ((w = write(out, c->buf + off, (size_t)(n - off))) ==
			    -1) {
				if (errno != EINTR)
					return fail(c, name, "write", NULL);
				w = 0;
			}
		}
		c->bytes += (uint64_t)n;
	}
}

static int
copy_file(struct copy *c, int sfd, int dfd, const char *name,
    const struct stat *st)
{
	struct linked key, **found = NULL;
	struct stat sb;
	int in = -1, out = -1, rc = -1;

	if (st->st_nlink > 1) {
		key.ino = st->st_ino;
		found = tfind(&key, &c->links, by_ino);
		if (found != NULL && link_again(c, *found, dfd, name) == 0) {
			c->files++;
			return 0;
		}
		/* Too many links, or too deep to name: a copy of its own. */
		if (found != NULL && errno != EMLINK && errno != ENAMETOOLONG)
			return fail(c, name, "link", NULL);
	}
	if ((in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK | O_CLOEXEC)) == -1) {
		fail(c, name, "open", NULL);
		goto out;
	}
	if (fstat(in, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_ino != st->st_ino || sb.st_dev != st->st_dev) {
		fail(c, name, "open", "changed while copied");
		goto out;
	}
	if ((out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		fail(c, name, "create", NULL);
		goto out;
	}
	if (copy_data(c, in, out, name) == -1 ||
	    set_meta(c, out, st, name) == -1)
		goto out;
	if (st->st_nlink > 1 && found == NULL)
		remember(c, st->st_ino, name);
	c->files++;
	rc = 0;
out:
	if (out != -1)
		close(out);
	if (in != -1)
		close(in);
	return rc;
}

static int
copy_symlink(struct copy *c, int sfd, int dfd, const char *name,
    const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n;

	if ((n = readlinkat(sfd, name, target, sizeof(target))) == -1)
		return fail(c, name, "read the link", NULL);
	if ((size_t)n >= sizeof(target))
		return fail(c, name, "read the link", "longer than PATH_MAX");
	target[n] = '\0';
	if (symlinkat(target, dfd, name) == -1)
		return fail(c, name, "create", NULL);
	c->files++;
	return set_meta_at(c, dfd, name, st);
}

static int
copy_whiteout(struct copy *c, int dfd, const char *name,
    const struct stat *st)
{
	if (mknodat(dfd, name, S_IFCHR, makedev(0, 0)) == -1)
		return fail(c, name, "create the whiteout", NULL);
	c->files++;
	return set_meta_at(c, dfd, name, st);
}

/* Mark the copy opaque when the directory is: overlayfs writes "y". */
static int
copy_opaque(struct copy *c, int sfd, int dfd, const char *name)
{
	char v[2];
	ssize_t n;

	if ((n = fgetxattr(sfd, c->opaque, v, sizeof(v))) == -1) {
		if (errno == ENODATA || errno == ENOTSUP || errno == ERANGE)
			return 0;
		return fail(c, name, "read the attributes of", NULL);
	}
	if (n != 1 || v[0] != 'y')
		return 0;
	if (fsetxattr(dfd, c->opaque, "y", 1, 0) == -1)
		return fail(c, name, "mark opaque", NULL);
	return 0;
}

static int
copy_subdir(struct copy *c, int sfd, int dfd, const char *name,
    const struct stat *st, int depth)
{
	char why[64];
	struct stat sb;
	size_t mark;
	int ns = -1, nd = -1, rc = -1;

	if (depth >= LAYERCOPY_MAX_DEPTH) {
		snprintf(why, sizeof(why), "deeper than %d levels",
		    LAYERCOPY_MAX_DEPTH);
		return fail(c, name, "copy", why);
	}
	if (st->st_dev != c->dev)
		return fail(c, name, "copy", "another filesystem");
	if ((ns = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		fail(c, name, "open", NULL);
		goto out;
	}
	if (fstat(ns, &sb) == -1 || sb.st_ino != st->st_ino ||
	    sb.st_dev != st->st_dev) {
		fail(c, name, "open", "changed while copied");
		goto out;
	}
	if (mkdirat(dfd, name, 0700) == -1 ||
	    (nd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		fail(c, name, "create", NULL);
		goto out;
	}
	if (copy_opaque(c, ns, nd, name) == -1)
		goto out;
	mark = enter(c, name);
	rc = copy_dir(c, ns, nd, depth + 1);
	ns = -1;
	leave(c, mark);
	if (rc == 0)
		rc = set_meta(c, nd, st, name);
	c->files++;
out:
	if (nd != -1)
		close(nd);
	if (ns != -1)
		close(ns);
	return rc;
}

static bool
is_skipped(struct copy *c, const char *name)
{
	const char *const *s;

	for (s = c->skip; s != NULL && *s != NULL; s++)
		if (strcmp(*s, name) == 0)
			return true;
	return false;
}

static int
copy_entry(struct copy *c, int sfd, int dfd, const char *name,
    const struct stat *st, int depth)
{
	if (S_ISDIR(st->st_mode))
		return copy_subdir(c, sfd, dfd, name, st, depth);
	if (S_ISREG(st->st_mode))
		return copy_file(c, sfd, dfd, name, st);
	if (S_ISLNK(st->st_mode))
		return copy_symlink(c, sfd, dfd, name, st);
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return copy_whiteout(c, dfd, name, st);
	return 0;	/* a device, fifo or socket: no part of a layer */
}

/* Copy the entries of the directory sfd (taken: closed here) into dfd. */
static int
copy_dir(struct copy *c, int sfd, int dfd, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if ((d = fdopendir(sfd)) == NULL) {
		close(sfd);
		return fail(c, "", "read", NULL);
	}
	while (rc == 0) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = fail(c, "", "read", NULL);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (depth == 0 && is_skipped(c, de->d_name)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			rc = fail(c, de->d_name, "stat", NULL);
		else
			rc = copy_entry(c, dirfd(d), dfd, de->d_name, &st,
			    depth);
	}
	closedir(d);
	return rc;
}

int
layercopy(const char *from, const char *to, const char *const *skip,
    uint64_t *bytes, uint64_t *files, char *err, size_t errlen)
{
	struct copy c;
	struct stat st;
	int sfd = -1, rc = -1;

	memset(&c, 0, sizeof(c));
	c.skip = skip;
	c.from = from;
	c.is_root = geteuid() == 0;
	c.opaque = c.is_root ? "trusted.overlay.opaque" :
	    "user.overlay.opaque";
	c.use_range = true;
	c.top = -1;
	c.relsize = 256;
	c.rel = xcalloc(1, c.relsize);
	c.buf = xmalloc(BUF_SIZE);
	c.err = err;
	c.errlen = errlen;
	*bytes = *files = 0;
	if ((sfd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(sfd, &st) == -1) {
		snprintf(err, errlen, "open %s: %s", from, strerror(errno));
		goto out;
	}
	c.dev = st.st_dev;
	if (mkdir(to, 0755) == -1 || (c.top = open(to, O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fchmod(c.top, 0755) == -1) {
		snprintf(err, errlen, "create %s: %s", to, strerror(errno));
		goto out;
	}
	rc = copy_dir(&c, sfd, c.top, 0);
	sfd = -1;
	*bytes = c.bytes;
	*files = c.files;
out:
	if (sfd != -1)
		close(sfd);
	if (c.top != -1)
		close(c.top);
	tdestroy(c.links, free_linked);
	free(c.buf);
	free(c.rel);
	return rc;
}
