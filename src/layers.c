/*
 * The layer cache: data_dir/<kind>/<key> is a layer, <key>.lock its lock
 * file (held shared by each job on the layer, exclusive by the pruner and
 * by the one process that builds or rebuilds it; its mtime is the last
 * use, its contents the layer's disk usage in bytes once built), and
 * .new-<key>-<pid> a layer being built, renamed into place when whole so a
 * crash or a concurrent job never sees half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layers.h"
#include "util.h"

#define LOCK_SUFFIX	".lock"
#define MAX_DEPTH	512	/* a size walk goes no deeper */
#define SIZE_TEXT	24	/* a size as the lock file holds it */
#define MAX_TRIES	3	/* a layer pruned under us, built again */

/* Whether key names a layer: a plain file name of ours, never ".new-". */
static bool
is_key(const char *key, size_t len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	size_t i;

	if (len == 0 || len > LAYER_MAX_KEY || key[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (key[i] == '\0' || strchr(ok, key[i]) == NULL)
			return false;
	return true;
}

/* Whether fd is still the file at path (a pruner removes lock files). */
static bool
is_still(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* A lock on path that is still the file at path (a pruner may have
 * removed it meanwhile). Returns the descriptor or -1. */
static int
lock_file(const char *path, int how)
{
	int fd, i;

	for (i = 0; i < 10; i++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600)) == -1)
			return -1;
		if (flock(fd, how) == -1) {
			close(fd);
			return -1;
		}
		if (is_still(fd, path))
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

/* An inode seen already, for counting hard links once. */
struct seen {
	dev_t	dev;
	ino_t	ino;
};

static int
by_inode(const void *x, const void *y)
{
	const struct seen *a = x, *b = y;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

/* Whether st's inode is one of several names met before; remembers it. */
static bool
is_seen(void **seen, const struct stat *st)
{
	struct seen *s;
	void *node;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return false;
	s = xmalloc(sizeof(*s));
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	if ((node = tsearch(s, seen, by_inode)) == NULL) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	if (*(struct seen **)node != s) {
		free(s);
		return true;
	}
	return false;
}

/* Add the disk usage of the entries of directory fd (taken) to *bytes:
 * links not followed, each inode once. */
static void
walk_usage(int fd, void **seen, uint64_t *bytes, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int sub;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || is_seen(seen, &st))
			continue;
		*bytes += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH &&
		    (sub = openat(dirfd(d), de->d_name, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1)
			walk_usage(sub, seen, bytes, depth + 1);
	}
	closedir(d);
}

/* The disk usage of the tree at path, 0 when there is none. */
static uint64_t
usage(const char *path)
{
	struct stat st;
	void *seen = NULL;
	uint64_t bytes = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) == 0)
		bytes = (uint64_t)st.st_blocks * 512;
	walk_usage(fd, &seen, &bytes, 0);
	tdestroy(seen, free);
	return bytes;
}

/* Record bytes, the layer's size, in its lock file fd (held exclusive);
 * "" when it is to be built. Without a record, pruning walks the layer. */
static int
record_size(int fd, const char *bytes)
{
	size_t n = strlen(bytes);

	if (ftruncate(fd, 0) == -1)
		return -1;
	return n == 0 || pwrite(fd, bytes, n, 0) == (ssize_t)n ? 0 : -1;
}

/* The size the lock file at lock records, or -1 (none, or not ours). */
static int
recorded_size(const char *lock, uint64_t *bytes)
{
	char text[SIZE_TEXT + 1];
	long long v;
	ssize_t n;
	int fd;

	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	n = pread(fd, text, SIZE_TEXT, 0);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	if (util_parse_int(text, 0, INT64_MAX, &v) == -1)
		return -1;
	*bytes = (uint64_t)v;
	return 0;
}

/* Build the layer aside, record its size in lockfd and rename it to
 * path. */
static int
build(const char *root, const struct layer_kind *kind, const char *key,
    const char *path, void *arg, int lockfd, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s/.new-%s-%ld", root, key, (long)getpid());
	char size[SIZE_TEXT];
	int rc = -1;

	util_rmtree(tmp);
	if (kind->build(tmp, arg, err, errlen) == -1)
		goto out;
	snprintf(size, sizeof(size), "%" PRIu64, usage(tmp));
	record_size(lockfd, size);
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		record_size(lockfd, "");
		goto out;
	}
	rc = 0;
out:
	util_rmtree(tmp);
	free(tmp);
	return rc;
}

/* Under the exclusive lock lockfd: make the layer unless a process that
 * held the lock before us made it; *built when this one did. */
static int
make(const char *root, const struct layer_kind *kind, const char *key,
    const char *path, void *arg, int lockfd, bool *built, char *err,
    size_t errlen)
{
	enum layer_state st;

	if ((st = kind->state(path, arg)) == LAYER_CURRENT)
		return 0;
	/* Unfit (made by an earlier handoff for another sandbox user, say):
	 * made again, now that no job uses it. */
	if (st == LAYER_STALE && util_rmtree(path) == -1) {
		snprintf(err, errlen, "remove %s: %s", path, strerror(errno));
		return -1;
	}
	record_size(lockfd, "");
	if (build(root, kind, key, path, arg, lockfd, err, errlen) == -1)
		return -1;
	if (built != NULL)
		*built = true;
	return 0;
}

int
layer_get(const char *data_dir, const struct layer_kind *kind,
    const char *key, void *arg, char **path_out, int *lockfd, bool *built,
    char *err, size_t errlen)
{
	char *root = xasprintf("%s/%s", data_dir, kind->dir), *path, *lock;
	int rc = -1, tries;

	if (built != NULL)
		*built = false;
	path = xasprintf("%s/%s", root, key);
	lock = xasprintf("%s%s", path, LOCK_SUFFIX);
	if (!is_key(key, strlen(key))) {
		snprintf(err, errlen, "%s: not a layer's name", path);
		goto out;
	}
	if (util_mkdirs(root, 0700) == -1) {
		snprintf(err, errlen, "create %s: %s", root, strerror(errno));
		goto out;
	}
	for (tries = 0; tries < MAX_TRIES; tries++) {
		if ((*lockfd = lock_file(lock, LOCK_SH)) == -1) {
			snprintf(err, errlen, "lock %s: %s", lock,
			    strerror(errno));
			goto out;
		}
		futimens(*lockfd, NULL);	/* the last use, for pruning */
		if (kind->state(path, arg) == LAYER_CURRENT)
			break;
		/* Absent or unfit: one process makes it while the others
		 * wait for the lock, then find it made. */
		close(*lockfd);
		if ((*lockfd = lock_file(lock, LOCK_EX)) == -1) {
			snprintf(err, errlen, "lock %s: %s", lock,
			    strerror(errno));
			goto out;
		}
		if (make(root, kind, key, path, arg, *lockfd, built, err,
		    errlen) == -1)
			goto out;
		/* flock(2) converts by unlocking first: a pruner may have
		 * come between, so look again. */
		if (flock(*lockfd, LOCK_SH) == -1) {
			snprintf(err, errlen, "lock %s: %s", lock,
			    strerror(errno));
			goto out;
		}
		if (is_still(*lockfd, lock) &&
		    kind->state(path, arg) == LAYER_CURRENT)
			break;
		close(*lockfd);
		*lockfd = -1;
	}
	if (tries == MAX_TRIES) {
		snprintf(err, errlen, "%s: pruned each time it was built",
		    path);
		goto out;
	}
	rc = 0;
out:
	if (path_out != NULL) {
		*path_out = path;
		path = NULL;
	}
	free(path);
	free(lock);
	free(root);
	return rc;
}

/* A layer, when it was last used and its size. */
struct used {
	char		*key;
	struct timespec	 when;
	uint64_t	 bytes;
};

static int
by_recent(const void *x, const void *y)
{
	const struct timespec *a = &((const struct used *)x)->when;
	const struct timespec *b = &((const struct used *)y)->when;

	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? 1 : -1;
	return a->tv_nsec < b->tv_nsec ? 1 : a->tv_nsec > b->tv_nsec ? -1 : 0;
}

/* The layers in root (those with a lock file), most recent first; *n is
 * how many. Caller frees each key and the array. */
static struct used *
list_used(const char *root, size_t *n)
{
	size_t slen = strlen(LOCK_SUFFIX), len;
	struct used *u = NULL;
	struct dirent *de;
	struct stat sb;
	char *path;
	DIR *d;

	*n = 0;
	if ((d = opendir(root)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= slen || strcmp(de->d_name + len - slen,
		    LOCK_SUFFIX) != 0 || !is_key(de->d_name, len - slen))
			continue;
		path = xasprintf("%s/%s", root, de->d_name);
		if (stat(path, &sb) == 0) {
			u = xrealloc(u, (*n + 1) * sizeof(*u));
			u[*n].key = xstrndup(de->d_name, len - slen);
			u[*n].bytes = 0;
			u[(*n)++].when = sb.st_mtim;
		}
		free(path);
	}
	closedir(d);
	qsort(u, *n, sizeof(*u), by_recent);
	return u;
}

static void
free_used(struct used *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(u[i].key);
	free(u);
}

/* Remove the layer key in root unless a job holds it (shared): whether it
 * was removed. */
static bool
remove_layer(const char *root, const char *key)
{
	char *lock = xasprintf("%s/%s%s", root, key, LOCK_SUFFIX), *path;
	bool is_removed = false;
	int fd;

	if ((fd = lock_file(lock, LOCK_EX | LOCK_NB)) != -1) {
		path = xasprintf("%s/%s", root, key);
		if (util_rmtree(path) == 0) {
			unlink(lock);
			is_removed = true;
		}
		free(path);
		close(fd);
	}
	free(lock);
	return is_removed;
}

int
layer_prune(const char *data_dir, const struct layer_kind *kind, int keep)
{
	char *root = xasprintf("%s/%s", data_dir, kind->dir);
	struct used *u;
	size_t n, i;
	int removed = 0;

	u = list_used(root, &n);
	for (i = keep > 0 ? (size_t)keep : 0; i < n; i++)
		if (remove_layer(root, u[i].key))
			removed++;
	free_used(u, n);
	free(root);
	return removed;
}

/* The disk usage of the layer key in root: as recorded when it was built,
 * else walked; 0 when there is no layer. */
static uint64_t
layer_size(const char *root, const char *key)
{
	char *path = xasprintf("%s/%s", root, key);
	char *lock = xasprintf("%s%s", path, LOCK_SUFFIX);
	struct stat sb;
	uint64_t bytes = 0;

	if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    recorded_size(lock, &bytes) == -1)
		bytes = usage(path);
	free(lock);
	free(path);
	return bytes;
}

int
layer_prune_bytes(const char *data_dir, const struct layer_kind *kind,
    uint64_t max_bytes)
{
	char *root = xasprintf("%s/%s", data_dir, kind->dir);
	uint64_t total = 0;
	struct used *u;
	size_t n, i;
	int removed = 0;

	u = list_used(root, &n);
	for (i = 0; i < n; i++) {
		u[i].bytes = layer_size(root, u[i].key);
		total += u[i].bytes;
	}
	/* The least recently used first, until the rest fit. */
	for (i = n; i-- > 0 && total > max_bytes;)
		if (remove_layer(root, u[i].key)) {
			total -= u[i].bytes;
			removed++;
		}
	free_used(u, n);
	free(root);
	return removed;
}
