/*
 * The job's layer and the harvest. The agent's work comes back as a pack
 * that libgit2's indexer verifies object by object; nothing here reads the
 * layer's .git/config or runs a hook, and libgit2 never follows a symlink
 * it commits. The change is checked against the [runs] policy before it
 * becomes one commit on the base.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/odb_backend.h>

#include "harvest.h"
#include "sandbox.h"
#include "sshsig.h"
#include "util.h"

#define MAX_PACK_BYTES	((uint64_t)4 << 30)

/* A .git at git: HEAD as head_ref at commit (NULL: detached), objects from
 * alternates, and the identity the agent's own commits carry. */
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
harvest_layer(const char *dir, const char *branch, const char *commit,
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
harvest_gitdir(const char *dir, const char *base,
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
index_pack(struct mirror *m, const char *pack_path, bool *is_refusal, char *err,
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
	if (git_repository_odb(&odb, mirror_repo(m)) < 0 ||
	    git_odb_write_pack(&wp, odb, NULL, NULL) < 0) {
		mirror_fail(err, errlen, "collect: index %s", pack_path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (wp->append(wp, buf, (size_t)n, &stats) < 0) {
			mirror_fail(err, errlen, "collect: index %s",
			    pack_path);
			goto out;
		}
	}
	if (n < 0) {
		snprintf(err, errlen, "collect: read %s: %s", pack_path,
		    strerror(errno));
		goto out;
	}
	if (wp->commit(wp, &stats) < 0) {
		mirror_fail(err, errlen, "collect: index %s", pack_path);
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
harvest_path_matches(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			if (*p == '/')
				p++;
			for (;; s++) {
				if (harvest_path_matches(p, s))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*p == '*') {
			for (;; s++) {
				if (harvest_path_matches(p + 1, s))
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
check_policy(struct mirror *m, const struct config *cfg, git_diff *diff,
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
	if (git_repository_odb(&odb, mirror_repo(m)) < 0) {
		*is_refusal = false;
		return mirror_fail(err, errlen,
		    "collect: the mirror's objects");
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
				if (harvest_path_matches(
				    cfg->protected_paths.v[j], paths[k])) {
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
			mirror_fail(err, errlen, "collect: the size of %.200s",
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

/* The commit of tree on base by author and committer, signed with [runs]
 * signing_key when it is set (the "gpgsig" header git reads with
 * gpg.format=ssh), into *oid. */
static int
make_commit(git_repository *repo, const struct config *cfg,
    const git_commit *base, const git_tree *tree, const char *message,
    const struct identity *author, const struct identity *committer,
    git_oid *oid, char *err, size_t errlen)
{
	git_signature *a = NULL, *c = NULL;
	git_buf buf = { 0 };
	struct sshsig_key *key = NULL;
	char *armor = NULL, why[256];
	int rc = -1;

	if (git_signature_now(&a, author->name, author->email) < 0 ||
	    git_signature_now(&c, committer->name, committer->email) < 0 ||
	    git_commit_create_buffer(&buf, repo, a, c, NULL, message, tree, 1,
	    &base) < 0) {
		mirror_fail(err, errlen, "commit");
		goto out;
	}
	if (cfg->signing_key.value != NULL) {
		/* The key was checked at load; a file changed since is told
		 * by its reason alone, never its bytes. */
		if ((key = sshsig_key_load(cfg->signing_key.value,
		    cfg->signing_key.len, why, sizeof(why))) == NULL ||
		    (armor = sshsig_sign(key, "git", buf.ptr, buf.size, why,
		    sizeof(why))) == NULL) {
			snprintf(err, errlen, "sign the commit with [runs]"
			    " signing_key: %s", why);
			goto out;
		}
		/* git writes the header without the armor's last newline. */
		armor[strlen(armor) - 1] = '\0';
	}
	if (git_commit_create_with_signature(oid, repo, buf.ptr, armor,
	    armor ? "gpgsig" : NULL) < 0) {
		mirror_fail(err, errlen, "commit");
		goto out;
	}
	rc = 0;
out:
	free(armor);
	sshsig_key_free(key);
	git_buf_dispose(&buf);
	git_signature_free(c);
	git_signature_free(a);
	return rc;
}

int
harvest_commit(struct mirror *m, const struct config *cfg,
    const char *pack_path, const char *base, const char *tree,
    const char *branch, const char *message, const struct identity *author,
    const struct identity *committer, struct harvest *out, char *err,
    size_t errlen)
{
	git_repository *repo = mirror_repo(m);
	git_oid base_oid, tree_oid, new_oid;
	git_commit *base_c = NULL;
	git_tree *base_t = NULL, *final_t = NULL;
	git_diff_options opts;
	git_diff *diff = NULL;
	git_reference *ref = NULL;
	char *refname = NULL;
	bool is_refusal = false;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (index_pack(m, pack_path, &out->is_refused, err, errlen) == -1)
		return -1;
	if (git_oid_fromstr(&base_oid, base) < 0 ||
	    git_commit_lookup(&base_c, repo, &base_oid) < 0) {
		mirror_fail(err, errlen, "collect: base %s", base);
		goto out;
	}
	if (git_oid_fromstr(&tree_oid, tree) < 0 ||
	    git_tree_lookup(&final_t, repo, &tree_oid) < 0) {
		mirror_fail(err, errlen, "collect: the workspace's tree %s",
		    tree);
		goto out;
	}
	/* Blobs over the size cap are never read, not even to count their
	 * lines: a change that adds one is refused below. */
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.max_size = (git_off_t)cfg->max_file_bytes;
	if (git_commit_tree(&base_t, base_c) < 0 ||
	    git_diff_tree_to_tree(&diff, repo, base_t, final_t,
	    &opts) < 0) {
		mirror_fail(err, errlen, "collect: diff against %s", base);
		goto out;
	}
	if (check_policy(m, cfg, diff, &out->files_changed, &is_refusal,
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
		if (make_commit(repo, cfg, base_c, final_t, message, author,
		    committer, &new_oid, err, errlen) == -1)
			goto out;
		if (git_reference_create(&ref, repo, refname, &new_oid, 1,
		    "handoff: collect") < 0) {
			mirror_fail(err, errlen, "update %s", refname);
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
	git_diff_free(diff);
	git_tree_free(base_t);
	git_tree_free(final_t);
	git_commit_free(base_c);
	return rc;
}

