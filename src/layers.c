/*
 * The layer cache: data_dir/<kind>/<key> is a layer, <key>.lock its lock
 * file (held shared by each job on the layer, exclusive by the pruner and
 * by a rebuild; its mtime is the last use), and .new-<key>-<pid> a layer
 * being built, renamed into place when whole so a crash or a concurrent
 * job never sees half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* A lock on path that is still the file at path (a pruner may have
 * removed it meanwhile). Returns the descriptor or -1. */
static int
lock_file(const char *path, int how)
{
	struct stat a, b;
	int fd, i;

	for (i = 0; i < 10; i++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600)) == -1)
			return -1;
		if (flock(fd, how) == -1) {
			close(fd);
			return -1;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

/* Build the layer aside and rename it to path; a concurrent builder's
 * layer already there is as good. */
static int
build(const char *root, const struct layer_kind *kind, const char *key,
    const char *path, void *arg, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s/.new-%s-%ld", root, key, (long)getpid());
	int rc = -1;

	util_rmtree(tmp);
	if (kind->build(tmp, arg, err, errlen) == -1)
		goto out;
	if (rename(tmp, path) == -1 && errno != ENOTEMPTY && errno != EEXIST) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	util_rmtree(tmp);
	free(tmp);
	return rc;
}

int
layer_get(const char *data_dir, const struct layer_kind *kind,
    const char *key, void *arg, char **path_out, int *lockfd, char *err,
    size_t errlen)
{
	char *root = xasprintf("%s/%s", data_dir, kind->dir), *path, *lock;
	enum layer_state st;
	int rc = -1;

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
	if ((*lockfd = lock_file(lock, LOCK_SH)) == -1) {
		snprintf(err, errlen, "lock %s: %s", lock, strerror(errno));
		goto out;
	}
	futimens(*lockfd, NULL);	/* the last use, for pruning */
	if ((st = kind->state(path, arg)) == LAYER_CURRENT) {
		rc = 0;
		goto out;
	}
	if (st == LAYER_STALE) {
		/* Unfit (made by an earlier handoff for another sandbox
		 * user, say): made again, once no job uses it. */
		if (flock(*lockfd, LOCK_EX) == -1) {
			snprintf(err, errlen, "lock %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if ((st = kind->state(path, arg)) == LAYER_STALE &&
		    util_rmtree(path) == -1) {
			snprintf(err, errlen, "remove %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	if (st != LAYER_CURRENT && build(root, kind, key, path, arg, err,
	    errlen) == -1)
		goto out;
	flock(*lockfd, LOCK_SH);	/* from LOCK_EX, if it was rebuilt */
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

/* A layer and when it was last used. */
struct used {
	char	*key;
	time_t	 when;
};

static int
by_recent(const void *x, const void *y)
{
	const struct used *a = x, *b = y;

	return a->when < b->when ? 1 : a->when > b->when ? -1 : 0;
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
			u[(*n)++].when = sb.st_mtime;
		}
		free(path);
	}
	closedir(d);
	qsort(u, *n, sizeof(*u), by_recent);
	return u;
}

int
layer_prune(const char *data_dir, const struct layer_kind *kind, int keep)
{
	char *root = xasprintf("%s/%s", data_dir, kind->dir), *lock, *path;
	struct used *u;
	size_t n, i;
	int fd, removed = 0;

	u = list_used(root, &n);
	for (i = 0; i < n; i++) {
		if ((int)i >= keep) {
			lock = xasprintf("%s/%s%s", root, u[i].key,
			    LOCK_SUFFIX);
			/* In use: a job holds it shared. */
			if ((fd = lock_file(lock, LOCK_EX | LOCK_NB)) != -1) {
				path = xasprintf("%s/%s", root, u[i].key);
				if (util_rmtree(path) == 0) {
					unlink(lock);
					removed++;
				}
				free(path);
				close(fd);
			}
			free(lock);
		}
		free(u[i].key);
	}
	free(u);
	free(root);
	return removed;
}
