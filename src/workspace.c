/*
 * Workspaces: a bare mirror per repository (fetched incrementally), a base
 * tree per commit checked out once and shared read-only, and per job a
 * writable layer with its own .git whose objects borrow from the mirror.
 * The agent's work comes back as a pack that libgit2's indexer verifies
 * object by object; nothing here reads the layer's .git/config or runs a
 * hook, and libgit2 never follows a symlink it commits.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <openssl/evp.h>

#include "log.h"
#include "sandbox.h"
#include "text.h"
#include "util.h"
#include "workspace.h"

#define MAX_PACK_BYTES	((uint64_t)4 << 30)

struct ws {
	git_repository	*repo;
	char		*path;		/* data_dir/mirrors/<key>.git */
	char		*objects;
	char		*url;
};

static int
git_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
git_fail(char *err, size_t errlen, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", what, e && e->message ? e->message :
	    "unknown libgit2 error");
	return -1;
}

/* The mirror's directory name: a slug of the URL's last part plus a hash
 * of the whole URL, so two repositories never share a mirror. */
static char *
mirror_name(const char *url)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *slug, *name;
	const char *base = strrchr(url, '/');

	EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL);
	util_hex(md, 8, hex);
	slug = text_slug(base && base[1] ? base + 1 : url, 40);
	name = xasprintf("%s-%s.git", slug, hex);
	free(slug);
	return name;
}

struct cred_state {
	const char	*user, *token;
	int		 tries;
	char		*rejected;	/* the remote's reason */
};

static int credentials_cb(git_credential **out, const char *url,
    const char *username, unsigned int allowed, void *payload);

#define GIT_ATTEMPTS	5

/* After a failed fetch or push: whether libgit2's error looks passing (a
 * dropped connection, a timeout, a 5xx or 429 from the server), and if so
 * a pause before attempt + 1. libgit2 itself does not retry. */
static bool
is_transient(int attempt)
{
	const git_error *e = git_error_last();
	const char *m = e && e->message ? e->message : "";
	bool yes;

	if (attempt >= GIT_ATTEMPTS)
		return false;
	yes = strstr(m, "status code: 5") || strstr(m, "status code: 429") ||
	    strstr(m, "unexpected EOF") || strstr(m, "timed out") ||
	    strstr(m, "failed to connect") || strstr(m, "connection") ||
	    strstr(m, "early EOF") || strstr(m, "Connection reset");
	if (yes) {
		log_info("git: %s; trying again", m);
		usleep((useconds_t)(500000u << (attempt - 1)));
	}
	return yes;
}

static int
fetch(struct ws *ws, const char *user, const char *token, char *err,
    size_t errlen)
{
	struct cred_state ps = { user, token, 0, NULL };
	int attempt;
	static char *refspecs[] = { "+refs/heads/*:refs/heads/*",
	    "+HEAD:refs/handoff/remote-HEAD" };
	git_strarray specs = { refspecs, nitems(refspecs) };
	git_remote_create_options create;
	git_fetch_options opts;
	git_remote *remote = NULL;
	int rc;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	git_remote_create_options_init(&create,
	    GIT_REMOTE_CREATE_OPTIONS_VERSION);
	/* The URL as the store has it: no url.*.insteadOf rewriting. */
	create.repository = ws->repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	opts.callbacks.credentials = credentials_cb;
	opts.callbacks.payload = &ps;
	if (git_remote_create_with_opts(&remote, ws->url, &create) < 0)
		return git_fail(err, errlen, "fetch %s", ws->url);
	for (attempt = 1;; attempt++) {
		ps.tries = 0;
		if ((rc = git_remote_fetch(remote, &specs, &opts, NULL)) == 0 ||
		    !is_transient(attempt))
			break;
	}
	git_remote_free(remote);
	if (rc < 0)
		return git_fail(err, errlen, "fetch %s", ws->url);
	return 0;
}

struct ws *
ws_open(const char *data_dir, const char *url, const char *user,
    const char *token, char *err, size_t errlen)
{
	struct ws *ws = xcalloc(1, sizeof(*ws));
	git_repository_init_options init;
	git_config *config = NULL;
	char *name = mirror_name(url), *lock = NULL, *dir;
	int lockfd = -1;

	git_repository_init_options_init(&init,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	ws->url = xstrdup(url);
	dir = xasprintf("%s/mirrors", data_dir);
	ws->path = xasprintf("%s/%s", dir, name);
	ws->objects = xasprintf("%s/objects", ws->path);
	lock = xasprintf("%s/%s.lock", dir, name);
	if (util_mkdirs(dir, 0700) == -1) {
		snprintf(err, errlen, "create %s: %s", dir, strerror(errno));
		goto fail;
	}
	/* One fetch per mirror at a time; jobs of one repository share it. */
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lockfd, LOCK_EX) == -1) {
		snprintf(err, errlen, "lock %s: %s", lock, strerror(errno));
		goto fail;
	}
	if (git_repository_open_bare(&ws->repo, ws->path) < 0) {
		init.flags = GIT_REPOSITORY_INIT_BARE |
		    GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
		init.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
		if (git_repository_init_ext(&ws->repo, ws->path, &init) < 0) {
			git_fail(err, errlen, "create mirror %s", ws->path);
			goto fail;
		}
		/* Checkouts from the mirror write symlinks as symlinks and
		 * bytes as they are stored. */
		if (git_repository_config(&config, ws->repo) < 0 ||
		    git_config_set_bool(config, "core.symlinks", 1) < 0 ||
		    git_config_set_bool(config, "core.autocrlf", 0) < 0 ||
		    git_config_set_bool(config, "core.filemode", 1) < 0) {
			git_fail(err, errlen, "configure mirror %s", ws->path);
			goto fail;
		}
	}
	if (fetch(ws, user, token, err, errlen) == -1)
		goto fail;
	git_config_free(config);
	close(lockfd);
	free(lock);
	free(name);
	free(dir);
	return ws;
fail:
	git_config_free(config);
	if (lockfd != -1)
		close(lockfd);
	free(lock);
	free(name);
	free(dir);
	ws_close(ws);
	return NULL;
}

void
ws_close(struct ws *ws)
{
	if (ws == NULL)
		return;
	git_repository_free(ws->repo);
	free(ws->path);
	free(ws->objects);
	free(ws->url);
	free(ws);
}

const char *
ws_objects_dir(const struct ws *ws)
{
	return ws->objects;
}

int
ws_resolve(struct ws *ws, const char *name, char *out)
{
	git_object *obj = NULL;
	char *spec;
	int rc;

	if (strcmp(name, "HEAD") == 0)
		spec = xstrdup("refs/handoff/remote-HEAD^{commit}");
	else if (strncmp(name, "refs/", 5) == 0 ||
	    (strlen(name) == WS_OID_HEX && strspn(name,
	    "0123456789abcdef") == WS_OID_HEX))
		spec = xasprintf("%s^{commit}", name);
	else
		spec = xasprintf("refs/heads/%s^{commit}", name);
	rc = git_revparse_single(&obj, ws->repo, spec);
	free(spec);
	if (rc < 0)
		return -1;
	git_oid_tostr(out, WS_OID_HEX + 1, git_object_id(obj));
	git_object_free(obj);
	return 0;
}

/* The index as checkout left it has no stat data, so git in the sandbox
 * would read and hash every file to learn nothing changed. Record each
 * file's stat as git does; through the overlay the inode numbers and times
 * stay those of the base tree, and its owner is the sandbox's user. */
static int
fill_stat(git_index *index, const char *dir)
{
	size_t i, n = git_index_entrycount(index);
	git_index_entry e;
	struct stat sb;
	char *path;

	for (i = 0; i < n; i++) {
		e = *git_index_get_byindex(index, i);
		path = xasprintf("%s/%s", dir, e.path);
		if (lstat(path, &sb) == 0) {
			e.ctime.seconds = (int32_t)sb.st_ctim.tv_sec;
			e.ctime.nanoseconds = (uint32_t)sb.st_ctim.tv_nsec;
			e.mtime.seconds = (int32_t)sb.st_mtim.tv_sec;
			e.mtime.nanoseconds = (uint32_t)sb.st_mtim.tv_nsec;
			e.dev = (uint32_t)sb.st_dev;
			e.ino = (uint32_t)sb.st_ino;
			e.uid = SANDBOX_UID;
			e.gid = SANDBOX_UID;
			e.file_size = (uint32_t)sb.st_size;
			if (git_index_add(index, &e) < 0) {
				free(path);
				return -1;
			}
		}
		free(path);
	}
	return 0;
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

struct used {
	char	*name;
	time_t	 when;
};

static int
by_recent(const void *x, const void *y)
{
	const struct used *a = x, *b = y;

	return a->when < b->when ? 1 : a->when > b->when ? -1 : 0;
}

int
ws_prune_trees(const char *data_dir, int keep)
{
	char *dir = xasprintf("%s/trees", data_dir), *path;
	struct used *u = NULL;
	struct dirent *de;
	struct stat sb;
	size_t n = 0, i, len;
	DIR *d;
	int fd, removed = 0;

	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != WS_OID_HEX + 5 || strcmp(de->d_name + WS_OID_HEX,
		    ".lock") != 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0) {
			u = xrealloc(u, (n + 1) * sizeof(*u));
			u[n].name = xstrndup(de->d_name, WS_OID_HEX);
			u[n++].when = sb.st_mtime;
		}
		free(path);
	}
	closedir(d);
	qsort(u, n, sizeof(*u), by_recent);
	for (i = 0; i < n; i++) {
		if ((int)i >= keep) {
			path = xasprintf("%s/%s.lock", dir, u[i].name);
			/* In use: a job holds it shared. */
			if ((fd = lock_file(path, LOCK_EX | LOCK_NB)) != -1) {
				char *tree = xasprintf("%s/%s", dir,
				    u[i].name);

				if (util_rmtree(tree) == 0) {
					unlink(path);
					removed++;
				}
				free(tree);
				close(fd);
			}
			free(path);
		}
		free(u[i].name);
	}
	free(u);
	free(dir);
	return removed;
}

int
ws_base_tree(struct ws *ws, const char *data_dir, const char *commit,
    char **files, char **index_path, int *lockfd, char *err, size_t errlen)
{
	git_checkout_options co;
	git_index *index = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	char *dir = xasprintf("%s/trees/%s", data_dir, commit);
	char *tmp = NULL, *tmpfiles = NULL, *tmpindex = NULL;
	struct stat sb;
	int rc = -1;

	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	*files = xasprintf("%s/files", dir);
	*index_path = xasprintf("%s/index", dir);
	tmp = xasprintf("%s/trees", data_dir);
	if (util_mkdirs(tmp, 0700) == -1) {
		snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
		free(tmp);
		free(dir);
		return -1;
	}
	free(tmp);
	tmp = xasprintf("%s.lock", dir);
	*lockfd = lock_file(tmp, LOCK_SH);
	if (*lockfd == -1) {
		snprintf(err, errlen, "lock %s: %s", tmp, strerror(errno));
		free(tmp);
		free(dir);
		return -1;
	}
	futimens(*lockfd, NULL);	/* the last use, for pruning */
	free(tmp);
	tmp = NULL;
	if (stat(*index_path, &sb) == 0) {
		if (stat(*files, &sb) == 0 && sb.st_uid == sandbox_host_uid()) {
			free(dir);
			return 0;
		}
		/* Made for another sandbox user (by an earlier handoff): made
		 * again, once no job uses it. */
		if (flock(*lockfd, LOCK_EX) == -1) {
			snprintf(err, errlen, "lock %s: %s", dir,
			    strerror(errno));
			goto out;
		}
		if (stat(*files, &sb) == 0 && sb.st_uid == sandbox_host_uid()) {
			flock(*lockfd, LOCK_SH);
			free(dir);
			return 0;
		}
		if (util_rmtree(dir) == -1) {
			snprintf(err, errlen, "remove %s: %s", dir,
			    strerror(errno));
			goto out;
		}
	}
	/* Built aside and renamed into place, so a crash or a concurrent
	 * job never sees half a tree. */
	tmp = xasprintf("%s/trees/.new-%s-%ld", data_dir, commit,
	    (long)getpid());
	tmpfiles = xasprintf("%s/files", tmp);
	tmpindex = xasprintf("%s/index", tmp);
	util_rmtree(tmp);
	if (util_mkdirs(tmpfiles, 0755) == -1) {
		snprintf(err, errlen, "create %s: %s", tmpfiles,
		    strerror(errno));
		goto out;
	}
	if (git_oid_fromstr(&oid, commit) < 0 ||
	    git_commit_lookup(&c, ws->repo, &oid) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		git_fail(err, errlen, "read commit %s", commit);
		goto out;
	}
	if (git_index_open(&index, tmpindex) < 0 ||
	    git_index_read_tree(index, tree) < 0) {
		git_fail(err, errlen, "index %s", commit);
		goto out;
	}
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	co.target_directory = tmpfiles;
	co.dir_mode = 0755;
	if (git_checkout_index(ws->repo, index, &co) < 0) {
		git_fail(err, errlen, "check out %s", commit);
		goto out;
	}
	/* The sandbox's user writes to it through the overlay. */
	if (geteuid() == 0 && util_chown_tree(tmpfiles, sandbox_host_uid(),
	    sandbox_host_gid()) == -1) {
		snprintf(err, errlen, "give %s to the sandbox's user: %s",
		    tmpfiles, strerror(errno));
		goto out;
	}
	if (fill_stat(index, tmpfiles) == -1 || git_index_write(index) < 0) {
		git_fail(err, errlen, "check out %s", commit);
		goto out;
	}
	if (rename(tmp, dir) == -1 && errno != ENOTEMPTY && errno != EEXIST) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	flock(*lockfd, LOCK_SH);	/* from LOCK_EX, if it was rebuilt */
	rc = 0;
out:
	util_rmtree(tmp);
	git_index_free(index);
	git_tree_free(tree);
	git_commit_free(c);
	free(tmp);
	free(tmpfiles);
	free(tmpindex);
	free(dir);
	return rc;
}

static int
make_gitdir(const char *git, const char *head_ref, const char *commit,
    const char *alternates, char *err, size_t errlen)
{
	static const char *const dirs[] = { "objects/info", "objects/pack",
	    "refs/heads", "refs/tags", "info" };
	char *path, *text, *slash;
	size_t i;
	int rc = 0;

	for (i = 0; i < nitems(dirs) && rc == 0; i++) {
		path = xasprintf("%s/%s", git, dirs[i]);
		if ((rc = util_mkdirs(path, 0755)) == -1)
			snprintf(err, errlen, "create %s: %s", path,
			    strerror(errno));
		free(path);
	}
	if (rc == -1)
		return -1;
	text = xasprintf("%s\n", commit);
	if (head_ref == NULL)
		rc = util_put_text(git, "HEAD", text, err, errlen);
	else {
		char *head = xasprintf("ref: %s\n", head_ref);

		rc = util_put_text(git, "HEAD", head, err, errlen);
		free(head);
		/* The branch may have slashes: make its directories. */
		path = xasprintf("%s/%s", git, head_ref);
		slash = strrchr(path, '/');
		*slash = '\0';
		if (rc == 0 && util_mkdirs(path, 0755) == -1) {
			snprintf(err, errlen, "create %s: %s", path,
			    strerror(errno));
			rc = -1;
		}
		free(path);
		if (rc == 0)
			rc = util_put_text(git, head_ref, text, err, errlen);
	}
	free(text);
	if (rc == 0)
		rc = util_put_text(git, "objects/info/alternates", alternates, err,
		    errlen);
	if (rc == 0)
		rc = util_put_text(git, "config", "[core]\n"
		    "\trepositoryformatversion = 0\n"
		    "\tfilemode = true\n"
		    "\tbare = false\n"
		    "\tsymlinks = true\n"
		    "\tlogallrefupdates = true\n"
		    "[user]\n"
		    "\tname = handoff agent\n"
		    "\temail = agent@handoff.invalid\n", err, errlen);
	return rc;
}

/* Copy a file of handoff's (the base tree's index) a block at a time. */
static int
copy_file(const char *from, const char *to, char *err, size_t errlen)
{
	char buf[65536];
	ssize_t n = 0;
	int in, out = -1, rc = -1;

	if ((in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "read %s: %s", from, strerror(errno));
		return -1;
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1) {
		snprintf(err, errlen, "write %s: %s", to, strerror(errno));
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			snprintf(err, errlen, "write %s: %s", to,
			    strerror(errno));
			goto out;
		}
	if (n < 0) {
		snprintf(err, errlen, "read %s: %s", from, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (out != -1)
		close(out);
	close(in);
	return rc;
}

int
ws_layer(const char *dir, const char *branch, const char *commit,
    const char *index, const char *objects_path, char *err, size_t errlen)
{
	char *git = xasprintf("%s/.git", dir), *ref, *alt, *to;
	int rc = -1;

	if (util_rmtree(dir) == -1) {
		snprintf(err, errlen, "empty %s: %s", dir, strerror(errno));
		free(git);
		return -1;
	}
	ref = xasprintf("refs/heads/%s", branch);
	alt = xasprintf("%s\n", objects_path);
	to = xasprintf("%s/index", git);
	if (make_gitdir(git, ref, commit, alt, err, errlen) == 0 &&
	    copy_file(index, to, err, errlen) == 0)
		rc = 0;
	free(to);
	free(alt);
	free(ref);
	free(git);
	return rc;
}

int
ws_collect_gitdir(const char *dir, const char *base,
    const char *const *alternates, size_t nalternates, char *err,
    size_t errlen)
{
	char *alt = xstrdup(""), *next;
	size_t i;
	int rc;

	if (util_rmtree(dir) == -1) {
		snprintf(err, errlen, "empty %s: %s", dir, strerror(errno));
		free(alt);
		return -1;
	}
	for (i = 0; i < nalternates; i++) {
		next = xasprintf("%s%s\n", alt, alternates[i]);
		free(alt);
		alt = next;
	}
	rc = make_gitdir(dir, NULL, base, alt, err, errlen);
	free(alt);
	return rc;
}

/* Feed the pack file into the mirror through libgit2's indexer, which
 * checks every object's hash; the file is the collect sandbox's output, so
 * it is opened without following links and must be a regular file. */
static int
index_pack(struct ws *ws, const char *pack_path, bool *is_refusal, char *err,
    size_t errlen)
{
	git_indexer_progress stats = { 0 };
	git_odb_writepack *wp = NULL;
	git_odb *odb = NULL;
	struct stat sb;
	char buf[65536];
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(pack_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "collect: open %s: %s", pack_path,
		    fd == -1 ? strerror(errno) : "not a regular file");
		goto out;
	}
	if ((uint64_t)sb.st_size > MAX_PACK_BYTES) {
		snprintf(err, errlen, "the change is %lld bytes, more than"
		    " 4G", (long long)sb.st_size);
		*is_refusal = true;
		goto out;
	}
	if (sb.st_size == 0) {
		rc = 0;
		goto out;
	}
	if (git_repository_odb(&odb, ws->repo) < 0 ||
	    git_odb_write_pack(&wp, odb, NULL, NULL) < 0) {
		git_fail(err, errlen, "collect: index %s", pack_path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (wp->append(wp, buf, (size_t)n, &stats) < 0) {
			git_fail(err, errlen, "collect: index %s", pack_path);
			goto out;
		}
	}
	if (n < 0) {
		snprintf(err, errlen, "collect: read %s: %s", pack_path,
		    strerror(errno));
		goto out;
	}
	if (wp->commit(wp, &stats) < 0) {
		git_fail(err, errlen, "collect: index %s", pack_path);
		goto out;
	}
	rc = 0;
out:
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	if (fd != -1)
		close(fd);
	return rc;
}

bool
ws_path_matches(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			if (*p == '/')
				p++;
			for (;; s++) {
				if (ws_path_matches(p, s))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*p == '*') {
			for (;; s++) {
				if (ws_path_matches(p + 1, s))
					return true;
				if (*s == '\0' || *s == '/')
					return false;
			}
		}
		if (*s == '\0' || (*p == '?' ? *s == '/' : *p != *s))
			return false;
	}
	return *s == '\0';
}

/* Whether a path component names git's own directory, also as other
 * filesystems would read it: any case, trailing dots and spaces and an
 * NTFS stream dropped, HFS+'s ignorable code points left out, and NTFS's
 * short name GIT~1 (what git's core.protectNTFS and protectHFS refuse). */
static bool
is_git_name(const char *c, size_t len)
{
	static const unsigned char ignorable[][3] = {
		{ 0xe2, 0x80, 0x8c }, { 0xe2, 0x80, 0x8d }, { 0xe2, 0x80, 0x8e },
		{ 0xe2, 0x80, 0x8f }, { 0xe2, 0x80, 0xaa }, { 0xe2, 0x80, 0xab },
		{ 0xe2, 0x80, 0xac }, { 0xe2, 0x80, 0xad }, { 0xe2, 0x80, 0xae },
		{ 0xe2, 0x81, 0xaa }, { 0xe2, 0x81, 0xab }, { 0xe2, 0x81, 0xac },
		{ 0xe2, 0x81, 0xad }, { 0xe2, 0x81, 0xae }, { 0xe2, 0x81, 0xaf },
		{ 0xef, 0xbb, 0xbf },
	};
	char norm[8];
	size_t i, k, n = 0;
	bool skip;

	for (i = 0; i < len && c[i] != ':'; ) {
		skip = false;
		for (k = 0; k < nitems(ignorable) && !skip; k++)
			skip = i + 3 <= len &&
			    memcmp(c + i, ignorable[k], 3) == 0;
		if (skip) {
			i += 3;
			continue;
		}
		if (n == sizeof(norm))
			return false;	/* longer than ".git" and "git~1" */
		norm[n++] = (char)tolower((unsigned char)c[i++]);
	}
	while (n > 0 && (norm[n - 1] == '.' || norm[n - 1] == ' '))
		n--;
	return (n == 4 && memcmp(norm, ".git", 4) == 0) ||
	    (n == 5 && memcmp(norm, "git~1", 5) == 0);
}

/* A path git would refuse to check out, or one that names git's own data. */
static bool
is_bad_path(const char *path)
{
	const char *c = path, *end;
	size_t len;

	for (;;) {
		end = strchr(c, '/');
		len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.') ||
		    is_git_name(c, len))
			return true;
		if (end == NULL)
			return false;
		c = end + 1;
	}
}

/* Printable diffstat: names with control characters get '?' instead. */
static char *
diffstat(git_diff *diff)
{
	git_diff_stats *stats = NULL;
	git_buf buf = { 0 };
	char *out = NULL, *p;

	if (git_diff_get_stats(&stats, diff) == 0 &&
	    git_diff_stats_to_buf(&buf, stats, GIT_DIFF_STATS_FULL |
	    GIT_DIFF_STATS_INCLUDE_SUMMARY, 72) == 0) {
		out = xstrndup(buf.ptr, buf.size);
		for (p = out; *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\n')
				*p = '?';
	}
	git_buf_dispose(&buf);
	git_diff_stats_free(stats);
	return out ? out : xstrdup("");
}

/* The blob's size without reading it. */
static int
blob_size(git_odb *odb, const git_oid *id, uint64_t *size)
{
	git_object_t type;
	size_t len;

	if (git_odb_read_header(&len, &type, odb, id) < 0)
		return -1;
	*size = len;
	return 0;
}

/* -1 with the reason in err; *is_refusal when it is the change's fault
 * (not the mirror's). */
static int
check_policy(struct ws *ws, const struct config *cfg, git_diff *diff,
    int *nfiles, bool *is_refusal, char *err, size_t errlen)
{
	size_t i, j, n = git_diff_num_deltas(diff);
	const git_diff_delta *d;
	const char *paths[2];
	git_odb *odb = NULL;
	uint64_t size;
	char cap[32];
	int k, rc = -1;

	*nfiles = (int)n;
	*is_refusal = true;
	if (git_repository_odb(&odb, ws->repo) < 0) {
		*is_refusal = false;
		return git_fail(err, errlen, "collect: the mirror's objects");
	}
	for (i = 0; i < n; i++) {
		d = git_diff_get_delta(diff, i);
		paths[0] = d->old_file.path;
		paths[1] = d->new_file.path;
		for (k = 0; k < 2; k++) {
			if (paths[k] == NULL || (k == 1 &&
			    strcmp(paths[0], paths[1]) == 0))
				continue;
			if (is_bad_path(paths[k])) {
				snprintf(err, errlen, "the change touches an"
				    " invalid path");
				goto out;
			}
			for (j = 0; j < cfg->protected_paths.n; j++) {
				if (ws_path_matches(cfg->protected_paths.v[j],
				    paths[k])) {
					snprintf(err, errlen, "the change"
					    " touches protected path %.200s"
					    " ([runs] protected_paths %s)",
					    paths[k],
					    cfg->protected_paths.v[j]);
					goto out;
				}
			}
		}
		/* A file's size, not its blocks: a sparse file packs small
		 * and is huge everywhere after. */
		if (d->status == GIT_DELTA_DELETED ||
		    (d->new_file.mode != GIT_FILEMODE_BLOB &&
		    d->new_file.mode != GIT_FILEMODE_BLOB_EXECUTABLE))
			continue;
		if (blob_size(odb, &d->new_file.id, &size) == -1) {
			git_fail(err, errlen, "collect: the size of %.200s",
			    paths[1]);
			*is_refusal = false;
			goto out;
		}
		if (size > cfg->max_file_bytes) {
			sandbox_fmt_size(cfg->max_file_bytes, cap, sizeof(cap));
			snprintf(err, errlen, "the change makes %.200s %llu"
			    " bytes, more than [runs] max_file_size (%s)",
			    paths[1], (unsigned long long)size, cap);
			goto out;
		}
	}
	if (cfg->max_changed_files > 0 && (int)n > cfg->max_changed_files) {
		snprintf(err, errlen, "%zu files changed, more than [runs]"
		    " max_changed_files (%d)", n, cfg->max_changed_files);
		goto out;
	}
	rc = 0;
out:
	git_odb_free(odb);
	return rc;
}

int
ws_finish(struct ws *ws, const struct config *cfg, const char *pack_path,
    const char *base, const char *tree, const char *branch,
    const char *message, struct ws_change *out, char *err, size_t errlen)
{
	git_oid base_oid, tree_oid, new_oid;
	git_commit *base_c = NULL;
	git_tree *base_t = NULL, *final_t = NULL;
	git_signature *sig = NULL;
	git_diff_options opts;
	git_diff *diff = NULL;
	git_reference *ref = NULL;
	char *refname = NULL;
	bool is_refusal = false;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (index_pack(ws, pack_path, &out->is_refused, err, errlen) == -1)
		return -1;
	if (git_oid_fromstr(&base_oid, base) < 0 ||
	    git_commit_lookup(&base_c, ws->repo, &base_oid) < 0) {
		git_fail(err, errlen, "collect: base %s", base);
		goto out;
	}
	if (git_oid_fromstr(&tree_oid, tree) < 0 ||
	    git_tree_lookup(&final_t, ws->repo, &tree_oid) < 0) {
		git_fail(err, errlen, "collect: the workspace's tree %s", tree);
		goto out;
	}
	/* Blobs over the size cap are never read, not even to count their
	 * lines: a change that adds one is refused below. */
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.max_size = (git_off_t)cfg->max_file_bytes;
	if (git_commit_tree(&base_t, base_c) < 0 ||
	    git_diff_tree_to_tree(&diff, ws->repo, base_t, final_t,
	    &opts) < 0) {
		git_fail(err, errlen, "collect: diff against %s", base);
		goto out;
	}
	if (check_policy(ws, cfg, diff, &out->files_changed, &is_refusal,
	    err, errlen) == -1) {
		out->is_refused = is_refusal;
		goto out;
	}
	out->diffstat = diffstat(diff);
	out->is_changed = out->files_changed > 0;
	new_oid = base_oid;
	if (out->is_changed) {
		/* One commit on the base, whatever the agent committed. */
		refname = xasprintf("refs/heads/%s", branch);
		if (git_signature_now(&sig, "handoff", "handoff@localhost") < 0 ||
		    git_commit_create(&new_oid, ws->repo, NULL, sig, sig,
		    NULL, message, final_t, 1,
		    (const git_commit **)&base_c) < 0) {
			git_fail(err, errlen, "commit on %s", branch);
			goto out;
		}
		if (git_reference_create(&ref, ws->repo, refname, &new_oid, 1,
		    "handoff: collect") < 0) {
			git_fail(err, errlen, "update %s", refname);
			goto out;
		}
	}
	git_oid_tostr(out->head, sizeof(out->head), &new_oid);
	rc = 0;
out:
	if (rc == -1) {
		free(out->diffstat);
		out->diffstat = NULL;
	}
	git_reference_free(ref);
	free(refname);
	git_signature_free(sig);
	git_diff_free(diff);
	git_tree_free(base_t);
	git_tree_free(final_t);
	git_commit_free(base_c);
	return rc;
}

int
ws_export(struct ws *ws, const char *branch, const char *commit,
    const char *dir, char *err, size_t errlen)
{
	git_repository *dst = NULL;
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	git_reference *ref = NULL, *existing = NULL, *head = NULL;
	git_oid oid, old;
	char *refname = xasprintf("refs/heads/%s", branch), *packdir = NULL;
	int rc = -1;

	if (git_oid_fromstr(&oid, commit) < 0 ||
	    git_repository_open(&dst, dir) < 0) {
		git_fail(err, errlen, "open %s", dir);
		goto out;
	}
	if (git_reference_lookup(&existing, dst, refname) == 0) {
		old = *git_reference_target(existing);
		if (git_repository_head(&head, dst) == 0 &&
		    strcmp(git_reference_name(head), refname) == 0 &&
		    !git_repository_is_bare(dst)) {
			snprintf(err, errlen, "branch %s is checked out in %s;"
			    " name another with --branch", branch, dir);
			goto out;
		}
	}
	/* Send the objects the destination lacks as one pack, through
	 * libgit2's indexer on its side. */
	if (git_packbuilder_new(&pb, ws->repo) < 0 ||
	    git_revwalk_new(&walk, ws->repo) < 0 ||
	    git_revwalk_push(walk, &oid) < 0) {
		git_fail(err, errlen, "pack %s", branch);
		goto out;
	}
	{
		git_strarray refs = { 0 };
		git_odb *mine = NULL;
		size_t i;
		git_oid hide;

		/* Hide what the destination's branches already hold. */
		if (git_repository_odb(&mine, ws->repo) == 0 &&
		    git_reference_list(&refs, dst) == 0) {
			for (i = 0; i < refs.count; i++)
				if (git_reference_name_to_id(&hide, dst,
				    refs.strings[i]) == 0 &&
				    git_odb_exists(mine, &hide))
					git_revwalk_hide(walk, &hide);
			git_strarray_dispose(&refs);
		}
		git_odb_free(mine);
	}
	packdir = xasprintf("%sobjects/pack", git_repository_path(dst));
	if (git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, packdir, 0644, NULL, NULL) < 0) {
		git_fail(err, errlen, "copy %s into the repository", branch);
		goto out;
	}
	if (existing != NULL && !git_oid_equal(&old, &oid) &&
	    git_graph_descendant_of(dst, &oid, &old) != 1) {
		snprintf(err, errlen, "branch %s in %s has commits the result"
		    " lacks (not a fast-forward)", branch, dir);
		goto out;
	}
	if (git_reference_create(&ref, dst, refname, &oid, 1,
	    "handoff run") < 0) {
		git_fail(err, errlen, "update %s", refname);
		goto out;
	}
	rc = 0;
out:
	free(packdir);
	git_reference_free(ref);
	git_reference_free(existing);
	git_reference_free(head);
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	git_repository_free(dst);
	free(refname);
	return rc;
}

static int
credentials_cb(git_credential **out, const char *url, const char *username,
    unsigned int allowed, void *payload)
{
	struct cred_state *ps = payload;

	(void)url;
	(void)username;
	/* Asked again: the token was refused; do not loop. */
	if (ps->tries++ > 0 || ps->token == NULL ||
	    !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return GIT_EAUTH;
	return git_credential_userpass_plaintext_new(out, ps->user, ps->token);
}

static int
update_cb(const char *ref, const char *status, void *payload)
{
	struct cred_state *ps = payload;

	(void)ref;
	if (status != NULL && ps->rejected == NULL)
		ps->rejected = xstrndup(status, 200);
	return 0;
}

int
ws_push(struct ws *ws, const char *url, const char *branch,
    const char *user, const char *token, char *why, size_t whylen,
    char *err, size_t errlen)
{
	git_remote_create_options create;
	git_push_options opts;
	git_remote *remote = NULL;
	struct cred_state ps = { user, token, 0, NULL };
	char *spec = xasprintf("refs/heads/%s:refs/heads/%s", branch, branch);
	char *specs[1] = { spec };
	git_strarray refspecs = { specs, 1 };
	int rc = -1, attempt;

	git_remote_create_options_init(&create,
	    GIT_REMOTE_CREATE_OPTIONS_VERSION);
	create.repository = ws->repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	opts.callbacks.credentials = credentials_cb;
	opts.callbacks.push_update_reference = update_cb;
	opts.callbacks.payload = &ps;
	/* No '+': a push that is not a fast-forward is refused. */
	if (git_remote_create_with_opts(&remote, url, &create) < 0) {
		git_fail(err, errlen, "push %s to %s", branch, url);
		goto out;
	}
	for (attempt = 1;; attempt++) {
		ps.tries = 0;
		if ((rc = git_remote_push(remote, &refspecs, &opts)) == 0 ||
		    !is_transient(attempt))
			break;
	}
	why[0] = '\0';
	if (rc == GIT_ENONFASTFORWARD) {
		/* libgit2 saw the remote's branch hold commits the mirror
		 * lacks: someone else pushed to it. */
		snprintf(why, whylen, "non-fast-forward: the branch on the"
		    " forge has commits this job did not start from; handoff"
		    " does not force-push");
		snprintf(err, errlen, "push %s to %s: rejected (%s)", branch,
		    url, why);
		rc = -1;
		goto out;
	}
	if (rc < 0) {
		rc = -1;
		git_fail(err, errlen, "push %s to %s", branch, url);
		goto out;
	}
	rc = -1;
	if (ps.rejected != NULL) {
		snprintf(why, whylen, "%s", ps.rejected);
		snprintf(err, errlen, "push %s to %s: rejected (%s)", branch,
		    url, ps.rejected);
		goto out;
	}
	rc = 0;
out:
	free(ps.rejected);
	git_remote_free(remote);
	free(spec);
	return rc;
}
