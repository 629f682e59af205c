/* layers.c on a real directory: a layer is built once per key and reused,
 * a stale one rebuilt, a failed build leaves nothing, bad keys are
 * refused, two processes asking at once for a missing layer build it once,
 * and pruning by count or by size keeps the most recently used and those
 * held. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/* The concurrent build: its runs are lines in runs_file; it waits until
 * the other process is waiting for the layer's lock (/proc/locks shows
 * it blocked) or is building too, so both have asked before one ends. */
static const char *runs_file;
static const char *lock_path;

static int
count_lines(const char *path)
{
	size_t n, i;
	char *text = util_read_file(path, 65536, &n);
	int lines = 0;

	for (i = 0; text != NULL && i < n; i++)
		lines += text[i] == '\n';
	free(text);
	return lines;
}

/* Whether a process waits on an flock of the file at path. */
static bool
is_waited_on(const char *path)
{
	char *text, *line, *save = NULL, suffix[64];
	struct stat sb;
	bool yes = false;
	size_t n;

	if (stat(path, &sb) == -1 ||
	    (text = util_read_file("/proc/locks", 1 << 20, &n)) == NULL)
		return false;
	snprintf(suffix, sizeof(suffix), ":%lu ", (unsigned long)sb.st_ino);
	for (line = strtok_r(text, "\n", &save); line != NULL && !yes;
	    line = strtok_r(NULL, "\n", &save))
		yes = strstr(line, "->") != NULL &&
		    strstr(line, "FLOCK") != NULL &&
		    strstr(line, suffix) != NULL;
	free(text);
	return yes;
}

static int
build_shared(const char *path, void *arg, char *err, size_t errlen)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fd, i;

	(void)arg;
	if ((fd = open(runs_file, O_WRONLY | O_APPEND | O_CREAT, 0644)) ==
	    -1 || write(fd, "built\n", 6) != 6) {
		snprintf(err, errlen, "count the run: %s", strerror(errno));
		return -1;
	}
	close(fd);
	/* A bound against a hang only: 60 s. */
	for (i = 0; i < 6000 && count_lines(runs_file) < 2 &&
	    !is_waited_on(lock_path); i++)
		nanosleep(&tick, NULL);
	if (util_mkdirs(path, 0755) == -1)
		return -1;
	return util_put_text(path, "content", "shared\n", err, errlen);
}

static const struct layer_kind shared_kind = { "envs", state, build_shared };

/* Two processes ask for the same missing layer at once: one builds it,
 * the other waits and uses it. */
static void
test_build_once(const char *dir)
{
	char *runs = xasprintf("%s/runs", dir);
	char *lock = xasprintf("%s/envs/together.lock", dir);
	int fds[2], i, n_built = 0, n_ok = 0, status;
	char report[2];
	pid_t pid[2];

	runs_file = runs;
	lock_path = lock;
	fflush(stdout);
	ok(pipe(fds) == 0, "a pipe for the results");
	for (i = 0; i < 2; i++) {
		if ((pid[i] = fork()) == 0) {
			char err[256] = "", *path = NULL;
			bool built = false;
			struct stat sb;
			int fd = -1, rc;

			close(fds[0]);
			rc = layer_get(dir, &shared_kind, "together", NULL,
			    &path, &fd, &built, err, sizeof(err));
			report[0] = rc == 0 && path != NULL &&
			    stat(path, &sb) == 0 ? 'y' : 'n';
			report[1] = built ? 'b' : '-';
			if (rc != 0)
				printf("# %s\n", err);
			if (write(fds[1], report, 2) != 2)
				_exit(1);
			free(path);
			close(fd);
			exit(0);
		}
	}
	close(fds[1]);
	while (read(fds[0], report, 2) == 2) {
		n_ok += report[0] == 'y';
		n_built += report[1] == 'b';
	}
	close(fds[0]);
	for (i = 0; i < 2; i++)
		if (pid[i] > 0)
			waitpid(pid[i], &status, 0);
	is_int(count_lines(runs), 1, "two processes asking at once: built once");
	is_int(n_ok, 2, "both get the layer");
	is_int(n_built, 1, "and one says it built it");
	free(lock);
	free(runs);
}

/* A layer of one file of size bytes, written (not sparse) so that it
 * takes that much disk; a hard link to it (counted once) and a symlink to
 * /usr (not followed). */
static int
build_sized(const char *path, void *arg, char *err, size_t errlen)
{
	size_t size = *(size_t *)arg;
	char *buf = xmalloc(size), *file, *again, *usr;
	int rc = -1;

	memset(buf, 'x', size);
	file = xasprintf("%s/data", path);
	again = xasprintf("%s/again", path);
	usr = xasprintf("%s/usr", path);
	if (util_mkdirs(path, 0755) == 0 &&
	    util_write_file(file, buf, size, 0644) == 0 &&
	    link(file, again) == 0 && symlink("/usr", usr) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "build %s: %s", path, strerror(errno));
	free(usr);
	free(again);
	free(file);
	free(buf);
	return rc;
}

static enum layer_state
state_sized(const char *path, void *arg)
{
	char *file = xasprintf("%s/data", path);
	struct stat sb;
	int yes = stat(file, &sb) == 0;

	(void)arg;
	free(file);
	return yes ? LAYER_CURRENT : LAYER_ABSENT;
}

static const struct layer_kind sized_kind = { "setup", state_sized,
    build_sized };

static int
exists_sized(const char *dir, const char *name)
{
	struct stat sb;
	char *p = xasprintf("%s/setup/%s", dir, name);
	int yes = lstat(p, &sb) == 0;

	free(p);
	return yes;
}

static void
sized_at(const char *dir, const char *key, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	char *p = xasprintf("%s/setup/%s.lock", dir, key);

	utimensat(AT_FDCWD, p, ts, 0);
	free(p);
}

static int
get_sized(const char *dir, const char *key, size_t size, int *fd)
{
	char err[256] = "", *path = NULL;
	int rc;

	*fd = -1;
	rc = layer_get(dir, &sized_kind, key, &size, &path, fd, NULL, err,
	    sizeof(err));
	if (rc == -1)
		printf("# %s\n", err);
	free(path);
	return rc;
}

/* Three layers of 1 MiB, a budget that fits two. */
static void
test_prune_bytes(const char *dir)
{
	const size_t mib = 1024 * 1024;
	uint64_t recorded;
	char *p, *text;
	size_t n;
	int fd, held;

	ok(get_sized(dir, "a", mib, &fd) == 0, "layer a");
	close(fd);
	ok(get_sized(dir, "b", mib, &fd) == 0, "layer b");
	close(fd);
	ok(get_sized(dir, "c", mib, &fd) == 0, "layer c");
	close(fd);
	p = xasprintf("%s/setup/a.lock", dir);
	text = util_read_file(p, 64, &n);
	recorded = text != NULL ? strtoull(text, NULL, 10) : 0;
	ok(recorded >= mib && recorded < mib + mib / 4,
	    "its size is recorded, its hard link counted once, its symlinks "
	    "not followed: %llu", (unsigned long long)recorded);
	free(text);
	free(p);
	sized_at(dir, "a", 1000);
	sized_at(dir, "b", 2000);
	sized_at(dir, "c", 3000);
	is_int(layer_prune_bytes(dir, &sized_kind, 2 * mib + mib / 2), 1,
	    "over budget: one layer pruned");
	ok(!exists_sized(dir, "a") && !exists_sized(dir, "a.lock"),
	    "the least recently used, with its lock file");
	ok(exists_sized(dir, "b") && exists_sized(dir, "c"), "the others kept");
	is_int(layer_prune_bytes(dir, &sized_kind, 2 * mib + mib / 2), 0,
	    "within budget: none pruned");

	/* a again, the oldest but held: b goes in its place. */
	ok(get_sized(dir, "a", mib, &held) == 0, "layer a again, held");
	sized_at(dir, "a", 500);
	is_int(layer_prune_bytes(dir, &sized_kind, 2 * mib + mib / 2), 1,
	    "over budget again: one layer pruned");
	ok(exists_sized(dir, "a"), "the held one survives, though the oldest");
	ok(!exists_sized(dir, "b") && exists_sized(dir, "c"),
	    "the next least recently used goes");
	close(held);

	/* Without a record, the layer is walked. */
	p = xasprintf("%s/setup/c.lock", dir);
	truncate(p, 0);
	free(p);
	is_int(layer_prune_bytes(dir, &sized_kind, mib + mib / 2), 1,
	    "a layer without a record still counts");
	ok(!exists_sized(dir, "a") && exists_sized(dir, "c"),
	    "and the older one goes");
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

	test_build_once(dir);
	test_prune_bytes(dir);

	util_rmtree(dir);
	return done_testing();
}
