/*
 * The bare mirror of a repository (data_dir/mirrors/<slug>-<hash>.git):
 * one fetch at a time under a lock, refspecs that take every branch and
 * the remote's HEAD, retries on passing failures, one credentials callback
 * for fetch and push, and export to a local repository as a pack that the
 * destination's indexer reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/evp.h>

#include "log.h"
#include "mirror.h"
#include "text.h"
#include "util.h"

struct mirror {
	git_repository		*repo;
	char			*path;		/* data_dir/mirrors/<key>.git */
	char			*objects;
	char			*url;		/* the origin */
	struct mirror_credentials creds;
};

int
mirror_fail(char *err, size_t errlen, const char *fmt, ...)
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

char *
mirror_path(const char *data_dir, const char *url)
{
	char *name = mirror_name(url), *path;

	path = xasprintf("%s/mirrors/%s", data_dir, name);
	free(name);
	return path;
}

/* What the credentials callback answers with, for one fetch or push. */
struct cred_state {
	const char	*user, *token;
	int		 tries;
	char		*rejected;	/* the remote's reason */
};

/* Fill cs for one fetch or push from the mirror's credentials (a NULL
 * token when there are none). -1 with the reason in err when the token
 * cannot be had. */
static int
get_token(struct mirror *m, struct cred_state *cs, char *err, size_t errlen)
{
	memset(cs, 0, sizeof(*cs));
	if (m->creds.token == NULL)
		return 0;
	cs->user = m->creds.user;
	if ((cs->token = m->creds.token(m->creds.arg, err, errlen)) == NULL)
		return -1;
	return 0;
}

static int
credentials_cb(git_credential **out, const char *url, const char *username,
    unsigned int allowed, void *payload)
{
	struct cred_state *cs = payload;

	(void)url;
	(void)username;
	/* Asked again: the token was refused; do not loop. */
	if (cs->tries++ > 0 || cs->token == NULL ||
	    !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
		return GIT_EAUTH;
	return git_credential_userpass_plaintext_new(out, cs->user, cs->token);
}

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
fetch(struct mirror *m, const struct cred_state *cs, char *err, size_t errlen)
{
	struct cred_state ps = *cs;
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
	create.repository = m->repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	opts.callbacks.credentials = credentials_cb;
	opts.callbacks.payload = &ps;
	if (git_remote_create_with_opts(&remote, m->url, &create) < 0)
		return mirror_fail(err, errlen, "fetch %s", m->url);
	for (attempt = 1;; attempt++) {
		ps.tries = 0;
		if ((rc = git_remote_fetch(remote, &specs, &opts, NULL)) == 0 ||
		    !is_transient(attempt))
			break;
	}
	git_remote_free(remote);
	if (rc < 0)
		return mirror_fail(err, errlen, "fetch %s", m->url);
	return 0;
}

struct mirror *
mirror_open(const char *data_dir, const char *url,
    const struct mirror_credentials *creds, char *err, size_t errlen)
{
	struct mirror *m;
	git_repository_init_options init;
	git_config *config = NULL;
	struct cred_state cs;
	char *name, *lock = NULL, *dir;
	int lockfd = -1;

	m = xcalloc(1, sizeof(*m));
	if (creds != NULL)
		m->creds = *creds;
	/* Credentials that cannot be had fail before the mirror is touched. */
	if (get_token(m, &cs, err, errlen) == -1) {
		free(m);
		return NULL;
	}
	name = mirror_name(url);
	git_repository_init_options_init(&init,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	m->url = xstrdup(url);
	dir = xasprintf("%s/mirrors", data_dir);
	m->path = xasprintf("%s/%s", dir, name);
	m->objects = xasprintf("%s/objects", m->path);
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
	if (git_repository_open_bare(&m->repo, m->path) < 0) {
		init.flags = GIT_REPOSITORY_INIT_BARE |
		    GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
		init.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
		if (git_repository_init_ext(&m->repo, m->path, &init) < 0) {
			mirror_fail(err, errlen, "create mirror %s", m->path);
			goto fail;
		}
		/* Checkouts from the mirror write symlinks as symlinks and
		 * bytes as they are stored. */
		if (git_repository_config(&config, m->repo) < 0 ||
		    git_config_set_bool(config, "core.symlinks", 1) < 0 ||
		    git_config_set_bool(config, "core.autocrlf", 0) < 0 ||
		    git_config_set_bool(config, "core.filemode", 1) < 0) {
			mirror_fail(err, errlen, "configure mirror %s",
			    m->path);
			goto fail;
		}
	}
	if (fetch(m, &cs, err, errlen) == -1)
		goto fail;
	git_config_free(config);
	close(lockfd);
	free(lock);
	free(name);
	free(dir);
	return m;
fail:
	git_config_free(config);
	if (lockfd != -1)
		close(lockfd);
	free(lock);
	free(name);
	free(dir);
	mirror_close(m);
	return NULL;
}

void
mirror_close(struct mirror *m)
{
	if (m == NULL)
		return;
	git_repository_free(m->repo);
	free(m->path);
	free(m->objects);
	free(m->url);
	free(m);
}

const char *
mirror_objects_dir(const struct mirror *m)
{
	return m->objects;
}

struct git_repository *
mirror_repo(struct mirror *m)
{
	return m->repo;
}

int
mirror_resolve(struct mirror *m, const char *name, char *out)
{
	git_object *obj = NULL;
	char *spec;
	int rc;

	if (strcmp(name, "HEAD") == 0)
		spec = xstrdup("refs/handoff/remote-HEAD^{commit}");
	else if (strncmp(name, "refs/", 5) == 0 ||
	    (strlen(name) == MIRROR_OID_HEX && strspn(name,
	    "0123456789abcdef") == MIRROR_OID_HEX))
		spec = xasprintf("%s^{commit}", name);
	else
		spec = xasprintf("refs/heads/%s^{commit}", name);
	rc = git_revparse_single(&obj, m->repo, spec);
	free(spec);
	if (rc < 0)
		return -1;
	git_oid_tostr(out, MIRROR_OID_HEX + 1, git_object_id(obj));
	git_object_free(obj);
	return 0;
}

int
mirror_export(struct mirror *m, const char *branch, const char *commit,
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
		mirror_fail(err, errlen, "open %s", dir);
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
	if (git_packbuilder_new(&pb, m->repo) < 0 ||
	    git_revwalk_new(&walk, m->repo) < 0 ||
	    git_revwalk_push(walk, &oid) < 0) {
		mirror_fail(err, errlen, "pack %s", branch);
		goto out;
	}
	{
		git_strarray refs = { 0 };
		git_odb *mine = NULL;
		size_t i;
		git_oid hide;

		/* Hide what the destination's branches already hold. */
		if (git_repository_odb(&mine, m->repo) == 0 &&
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
		mirror_fail(err, errlen, "copy %s into the repository", branch);
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
		mirror_fail(err, errlen, "update %s", refname);
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
update_cb(const char *ref, const char *status, void *payload)
{
	struct cred_state *ps = payload;

	(void)ref;
	if (status != NULL && ps->rejected == NULL)
		ps->rejected = xstrndup(status, 200);
	return 0;
}

int
mirror_push(struct mirror *m, const char *branch, char *why, size_t whylen,
    char *err, size_t errlen)
{
	git_remote_create_options create;
	git_push_options opts;
	git_remote *remote = NULL;
	struct cred_state ps;
	const char *url = m->url;
	char *spec, *specs[1];
	git_strarray refspecs = { specs, 1 };
	int rc = -1, attempt;

	why[0] = '\0';
	if (get_token(m, &ps, err, errlen) == -1)
		return -1;
	spec = xasprintf("refs/heads/%s:refs/heads/%s", branch, branch);
	specs[0] = spec;
	git_remote_create_options_init(&create,
	    GIT_REMOTE_CREATE_OPTIONS_VERSION);
	create.repository = m->repo;
	create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	opts.callbacks.credentials = credentials_cb;
	opts.callbacks.push_update_reference = update_cb;
	opts.callbacks.payload = &ps;
	/* No '+': a push that is not a fast-forward is refused. */
	if (git_remote_create_with_opts(&remote, url, &create) < 0) {
		mirror_fail(err, errlen, "push %s to %s", branch, url);
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
		mirror_fail(err, errlen, "push %s to %s", branch, url);
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

/* The names (without .pack) of the packs in dir that a repack may
 * replace: not kept (a .keep file), not being written. Caller frees. */
static int
list_packs(const char *dir, char ***names, size_t *n)
{
	DIR *d;
	struct dirent *e;
	size_t len, cap = 0;
	char *keep;

	*names = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (strncmp(e->d_name, "pack-", 5) != 0 || len < 10 ||
		    strcmp(e->d_name + len - 5, ".pack") != 0)
			continue;
		keep = xasprintf("%s/%.*s.keep", dir, (int)(len - 5),
		    e->d_name);
		if (access(keep, F_OK) == 0) {
			free(keep);
			continue;
		}
		free(keep);
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = xrealloc(*names, cap * sizeof(**names));
		}
		(*names)[(*n)++] = xstrndup(e->d_name, len - 5);
	}
	closedir(d);
	return 0;
}

static int
insert_cb(const git_oid *id, void *arg)
{
	return git_packbuilder_insert(arg, id, NULL);
}

/* Write every object of repo into one new pack in dir; its name into
 * out (MIRROR_OID_HEX + 1 bytes). */
static int
pack_all(git_repository *repo, const char *dir, char *out, char *err,
    size_t errlen)
{
	git_packbuilder *pb = NULL;
	git_odb *odb = NULL;
	int rc = -1;

	if (git_repository_odb(&odb, repo) < 0 ||
	    git_packbuilder_new(&pb, repo) < 0) {
		mirror_fail(err, errlen, "repack");
		goto out;
	}
	git_packbuilder_set_threads(pb, 1);
	/* Every object, reachable or not: one written by a job that has
	 * not set its ref yet must not be lost. */
	if (git_odb_foreach(odb, insert_cb, pb) < 0 ||
	    git_packbuilder_write(pb, dir, 0, NULL, NULL) < 0) {
		mirror_fail(err, errlen, "repack %s", dir);
		goto out;
	}
	snprintf(out, MIRROR_OID_HEX + 1, "%s", git_packbuilder_name(pb));
	rc = 0;
out:
	git_packbuilder_free(pb);
	git_odb_free(odb);
	return rc;
}

/* Remove the pack name in dir: its index first, so no reader finds the
 * pack from now on; one that has it open keeps reading it. */
static void
remove_pack(const char *dir, const char *name)
{
	static const char *const ext[] = { "idx", "rev", "bitmap", "mtimes",
	    "pack" };
	size_t i;
	char *p;

	for (i = 0; i < nitems(ext); i++) {
		p = xasprintf("%s/%s.%s", dir, name, ext[i]);
		if (unlink(p) == -1 && errno != ENOENT)
			log_warn("mirror: remove %s: %s", p, strerror(errno));
		free(p);
	}
}

int
mirror_repack(const char *path, size_t max_packs, size_t *removed,
    char *err, size_t errlen)
{
	git_repository *repo = NULL;
	char *lock = xasprintf("%s.lock", path);
	char *dir = xasprintf("%s/objects/pack", path);
	char **names = NULL, name[MIRROR_OID_HEX + 6];
	size_t n = 0, i;
	int lockfd, rc = -1;

	*removed = 0;
	/* Never while the mirror is fetched: then it waits for next time. */
	if ((lockfd = open(lock, O_RDWR | O_CLOEXEC)) == -1 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) == -1) {
		rc = errno == EWOULDBLOCK || errno == ENOENT ? 0 : -1;
		if (rc == -1)
			snprintf(err, errlen, "lock %s: %s", lock,
			    strerror(errno));
		goto out;
	}
	if (list_packs(dir, &names, &n) == -1) {
		snprintf(err, errlen, "read %s: %s", dir, strerror(errno));
		goto out;
	}
	if (n <= max_packs) {
		rc = 0;
		goto out;
	}
	if (git_repository_open_bare(&repo, path) < 0) {
		mirror_fail(err, errlen, "open %s", path);
		goto out;
	}
	memcpy(name, "pack-", 5);
	if (pack_all(repo, dir, name + 5, err, errlen) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) != 0) {
			remove_pack(dir, names[i]);
			(*removed)++;
		}
	rc = 0;
out:
	git_repository_free(repo);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (lockfd != -1)
		close(lockfd);
	free(lock);
	free(dir);
	return rc;
}
