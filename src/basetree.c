/*
 * The base tree builder behind the layer cache: a layer of kind "trees"
 * keyed by the commit, holding files/ (the checkout, given to the sandbox's
 * user who writes to it through the overlay) and index (with stat data, so
 * git in the sandbox need not hash every file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "basetree.h"
#include "layers.h"
#include "sandbox.h"
#include "util.h"

/* What the builder and the state check need of one base tree. */
struct basetree {
	struct mirror	*mirror;
	const char	*commit;
	const char	*files, *index;	/* where they are once built */
};

static enum layer_state	tree_state(const char *, void *);
static int		tree_build(const char *, void *, char *, size_t);

static const struct layer_kind trees = { "trees", tree_state, tree_build };

/* Built when it has its index; fit for use when its files belong to this
 * handoff's sandbox user (an earlier handoff may have had another). */
static enum layer_state
tree_state(const char *path, void *arg)
{
	const struct basetree *bt = arg;
	struct stat sb;

	(void)path;
	if (stat(bt->index, &sb) == -1)
		return LAYER_ABSENT;
	if (stat(bt->files, &sb) == 0 && sb.st_uid == sandbox_host_uid())
		return LAYER_CURRENT;
	return LAYER_STALE;
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

/* Check the commit out into dir/files and its index into dir/index. */
static int
tree_build(const char *dir, void *arg, char *err, size_t errlen)
{
	const struct basetree *bt = arg;
	git_repository *repo = mirror_repo(bt->mirror);
	git_checkout_options co;
	git_index *index = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	char *tmpfiles = xasprintf("%s/files", dir);
	char *tmpindex = xasprintf("%s/index", dir);
	int rc = -1;

	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	if (util_mkdirs(tmpfiles, 0755) == -1) {
		snprintf(err, errlen, "create %s: %s", tmpfiles,
		    strerror(errno));
		goto out;
	}
	if (git_oid_fromstr(&oid, bt->commit) < 0 ||
	    git_commit_lookup(&c, repo, &oid) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		mirror_fail(err, errlen, "read commit %s", bt->commit);
		goto out;
	}
	if (git_index_open(&index, tmpindex) < 0 ||
	    git_index_read_tree(index, tree) < 0) {
		mirror_fail(err, errlen, "index %s", bt->commit);
		goto out;
	}
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	co.target_directory = tmpfiles;
	co.dir_mode = 0755;
	if (git_checkout_index(repo, index, &co) < 0) {
		mirror_fail(err, errlen, "check out %s", bt->commit);
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
		mirror_fail(err, errlen, "check out %s", bt->commit);
		goto out;
	}
	rc = 0;
out:
	git_index_free(index);
	git_tree_free(tree);
	git_commit_free(c);
	free(tmpfiles);
	free(tmpindex);
	return rc;
}

int
basetree_get(struct mirror *m, const char *data_dir, const char *commit,
    char **files, char **index, int *lockfd, char *err, size_t errlen)
{
	struct basetree bt;

	*files = xasprintf("%s/%s/%s/files", data_dir, trees.dir, commit);
	*index = xasprintf("%s/%s/%s/index", data_dir, trees.dir, commit);
	bt.mirror = m;
	bt.commit = commit;
	bt.files = *files;
	bt.index = *index;
	return layer_get(data_dir, &trees, commit, &bt, NULL, lockfd, NULL,
	    err, errlen);
}

int
basetree_prune(const char *data_dir, int keep)
{
	return layer_prune(data_dir, &trees, keep);
}
