/* layers.c on a real directory: a layer is built once per key and reused,
 * a stale one rebuilt, a failed build leaves nothing, bad keys are
 * refused, and pruning keeps the most recently used and those held. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers.h"
#include "tap.h"
#include "util.h"

static int builds;
static int fail_next;

/* A layer is a directory with one file, "content": the key's build. */
static int
build(const char *path, void *arg, char *err, size_t errlen)
{
	char text[64];

	if (fail_next) {
		fail_next = 0;
		snprintf(err, errlen, "the builder refused");
		return -1;
	}
	builds++;
	if (util_mkdirs(path, 0755) == -1)
		return -1;
	snprintf(text, sizeof(text), "%s %d\n", (const char *)arg, builds);
	return util_put_text(path, "content", text, err, errlen);
}

/* Stale when its content says so. */
static enum layer_state
state(const char *path, void *arg)
{
	char *file = xasprintf("%s/content", path), buf[64] = "";
	enum layer_state st = LAYER_ABSENT;
	ssize_t n;
	int fd;

	(void)arg;
	if ((fd = open(file, O_RDONLY)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		st = strncmp(buf, "stale", 5) == 0 ? LAYER_STALE :
		    LAYER_CURRENT;
		close(fd);
	}
	free(file);
	return st;
}

static const struct layer_kind kind = { "envs", state, build };

static int
exists(const char *dir, const char *name)
{
	struct stat sb;
	char *p = xasprintf("%s/envs/%s", dir, name);
	int yes = lstat(p, &sb) == 0;

	free(p);
	return yes;
}

/* Set a layer's last use to t seconds after the epoch. */
static void
used_at(const char *dir, const char *key, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	char *p = xasprintf("%s/envs/%s.lock", dir, key);

	utimensat(AT_FDCWD, p, ts, 0);
	free(p);
}

static int
get(const char *dir, const char *key, int *fd, char *err, size_t errlen)
{
	char *path = NULL;
	int rc;

	*fd = -1;
	rc = layer_get(dir, &kind, key, (void *)key, &path, fd, NULL, err,
	    errlen);
	free(path);
	return rc;
}

int
main(void)
{
	char tmpl[] = "/tmp/test-layers-XXXXXX", err[256], *dir, *p;
	static const char *keys[] = { "k1", "k2", "k3", "k4", "k5" };
	int fd, fd2, held, i;

	ok((dir = mkdtemp(tmpl)) != NULL, "scratch directory");

	err[0] = '\0';
	p = NULL;
	fd = -1;
	ok(layer_get(dir, &kind, "abc", "abc", &p, &fd, NULL, err,
	    sizeof(err)) == 0,
	    "a new layer is built: %s", err);
	ok(p != NULL && strstr(p, "/envs/abc") != NULL, "at data_dir/kind/key");
	free(p);
	is_int(builds, 1, "built once");
	ok(fd >= 0, "held with a lock");
	ok(get(dir, "abc", &fd2, err, sizeof(err)) == 0, "asked again");
	is_int(builds, 1, "not built again");
	close(fd);
	close(fd2);

	p = xasprintf("%s/envs/abc", dir);
	ok(util_put_text(p, "content", "stale\n", err, sizeof(err)) == 0,
	    "mark it stale");
	free(p);
	ok(get(dir, "abc", &fd, err, sizeof(err)) == 0, "a stale layer");
	is_int(builds, 2, "is built again");
	close(fd);

	fail_next = 1;
	ok(get(dir, "def", &fd, err, sizeof(err)) == -1, "a failed build fails");
	ok(strstr(err, "the builder refused") != NULL, "with the builder's "
	    "reason");
	ok(!exists(dir, "def"), "and leaves no layer");
	p = xasprintf(".new-def-%ld", (long)getpid());
	ok(!exists(dir, p), "nor a half-built one");
	free(p);
	if (fd != -1)
		close(fd);

	ok(get(dir, "../escape", &fd, err, sizeof(err)) == -1 &&
	    fd == -1, "a key with a slash is refused");
	ok(get(dir, ".hidden", &fd, err, sizeof(err)) == -1,
	    "a key with a leading dot is refused");
	ok(get(dir, "", &fd, err, sizeof(err)) == -1, "an empty key is refused");

	/* Five layers used one after the other; k1, the oldest, is held. */
	for (i = 0; i < 5; i++) {
		ok(get(dir, keys[i], &fd, err, sizeof(err)) == 0, "layer %s",
		    keys[i]);
		if (i == 0)
			held = fd;
		else
			close(fd);
		used_at(dir, keys[i], 1000000 + i);
	}
	used_at(dir, "abc", 999);
	used_at(dir, "def", 998);	/* the failed build's lock file */
	p = xasprintf("%s/envs/.new-k9-1", dir);
	util_mkdirs(p, 0755);
	free(p);
	/* abc, def (a lock file alone), k2 and k3 go; k4 and k5 are the two
	 * most recent; k1 is held. */
	is_int(layer_prune(dir, &kind, 2), 4, "four layers pruned");
	ok(exists(dir, "k5") && exists(dir, "k4"), "the most recent are kept");
	ok(exists(dir, "k1") && exists(dir, "k1.lock"), "the held one is kept");
	ok(!exists(dir, "k2") && !exists(dir, "k3") && !exists(dir, "abc"),
	    "the others are gone");
	ok(!exists(dir, "k2.lock") && !exists(dir, "abc.lock") &&
	    !exists(dir, "def.lock"),
	    "with their lock files");
	ok(exists(dir, ".new-k9-1"), "a build in progress is not a layer");
	close(held);
	is_int(layer_prune(dir, &kind, 2), 1, "released, it is pruned too");

	util_rmtree(dir);
	return done_testing();
}
