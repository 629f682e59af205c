/*
 * A set-up's script and its layer's key. The key is SHA-256 over a
 * length-prefixed record of everything that decides what set-up makes and
 * handoff can see: the repository (and the branch, when set-up runs an
 * agent's commits), its commands (devc_key_text for devcontainer.json, so
 * formatting and comments do not count), the names of the variables it
 * gets, the tree it runs on, and the key files' paths and blob ids.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <openssl/evp.h>

#include "mirror.h"
#include "setup.h"
#include "util.h"

#define KEY_VERSION	"handoff set-up layer 1"

bool
setup_has_commands(const struct setup_plan *p, bool update_only)
{
	size_t i;

	if (p->devc == NULL)
		return !update_only && p->command != NULL;
	for (i = 0; i < p->devc->ncmds; i++)
		if (!update_only || p->devc->cmds[i].stage ==
		    DEVC_UPDATE_CONTENT)
			return true;
	return false;
}

/* s in single quotes for /bin/sh, appended to *out. */
static void
add_quoted(char **out, const char *s)
{
	char *next;
	const char *q;

	next = xasprintf("%s'", *out);
	free(*out);
	*out = next;
	while ((q = strchr(s, '\'')) != NULL) {
		next = xasprintf("%s%.*s'\\''", *out, (int)(q - s), s);
		free(*out);
		*out = next;
		s = q + 1;
	}
	next = xasprintf("%s%s'", *out, s);
	free(*out);
	*out = next;
}

static void
add_text(char **out, const char *s)
{
	char *next = xasprintf("%s%s", *out, s);

	free(*out);
	*out = next;
}

/* One command: announced by its stage (and name), never by its text. */
static void
add_command(char **out, const char *stage, const char *name,
    const char *shell, char *const *argv)
{
	size_t i;

	add_text(out, "echo ");
	if (name != NULL) {
		char *what = xasprintf("set-up: %s (%s)", stage, name);

		add_quoted(out, what);
		free(what);
	} else {
		char *what = xasprintf("set-up: %s", stage);

		add_quoted(out, what);
		free(what);
	}
	add_text(out, "\n");
	if (shell != NULL) {
		add_text(out, "/bin/sh -c ");
		add_quoted(out, shell);
	} else {
		for (i = 0; argv[i] != NULL; i++) {
			if (i > 0)
				add_text(out, " ");
			add_quoted(out, argv[i]);
		}
	}
	add_text(out, " </dev/null || exit $?\n");
}

char *
setup_script(const struct setup_plan *p, bool update_only)
{
	const struct devc_cmd *c;
	char *out;
	size_t i;

	if (!setup_has_commands(p, update_only))
		return NULL;
	out = xstrdup("# handoff's set-up: each command in turn, the first"
	    " failure ends it\n");
	if (p->devc == NULL) {
		add_command(&out, "[setup] command", NULL, p->command, NULL);
		return out;
	}
	for (i = 0; i < p->devc->ncmds; i++) {
		c = &p->devc->cmds[i];
		if (update_only && c->stage != DEVC_UPDATE_CONTENT)
			continue;
		add_command(&out, devc_stage_name(c->stage), c->name, c->shell,
		    c->argv);
	}
	return out;
}

bool
setup_key_file_match(const char *pattern, const char *path)
{
	const char *base;

	if (strchr(pattern, '/') != NULL)
		return fnmatch(pattern, path, FNM_PATHNAME) == 0;
	base = strrchr(path, '/');
	return fnmatch(pattern, base ? base + 1 : path, 0) == 0;
}

/* A field of the key's record: its length, then its bytes. */
static int
put(EVP_MD_CTX *md, const char *tag, const char *s, size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "%s %zu\n", tag, len);

	return EVP_DigestUpdate(md, head, (size_t)n) == 1 &&
	    EVP_DigestUpdate(md, s, len) == 1 ? 0 : -1;
}

struct walk {
	EVP_MD_CTX		*md;
	const struct strlist	*patterns;
	size_t			 n;
	int			 failed;
};

static int
walk_cb(const char *root, const git_tree_entry *e, void *arg)
{
	struct walk *w = arg;
	char oid[GIT_OID_HEXSZ + 1], *path;
	git_filemode_t mode = git_tree_entry_filemode(e);
	size_t i;
	bool hit = false;

	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return 0;
	path = xasprintf("%s%s", root, git_tree_entry_name(e));
	for (i = 0; i < w->patterns->n && !hit; i++)
		hit = setup_key_file_match(w->patterns->v[i], path);
	if (hit) {
		git_oid_tostr(oid, sizeof(oid), git_tree_entry_id(e));
		if (++w->n > SETUP_MAX_KEY_FILES ||
		    put(w->md, "file", path, strlen(path)) == -1 ||
		    put(w->md, "blob", oid, strlen(oid)) == -1) {
			w->failed = 1;
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
}

/* The commit's files matching key_files, into md. */
static int
key_files(EVP_MD_CTX *md, const struct strlist *patterns,
    git_repository *repo, const char *commit, char *err, size_t errlen)
{
	struct walk w = { md, patterns, 0, 0 };
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	int rc = -1;

	if (git_oid_fromstr(&oid, commit) < 0 ||
	    git_commit_lookup(&c, repo, &oid) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		mirror_fail(err, errlen, "set-up: read %.12s", commit);
		goto out;
	}
	if (patterns->n > 0 && git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb,
	    &w) < 0) {
		if (w.n > SETUP_MAX_KEY_FILES)
			snprintf(err, errlen, "set-up: more than %d files of"
			    " %.12s match [setup] key_files", SETUP_MAX_KEY_FILES,
			    commit);
		else if (w.failed)
			snprintf(err, errlen, "set-up: hashing the key failed");
		else
			mirror_fail(err, errlen, "set-up: walk %.12s", commit);
		goto out;
	}
	rc = 0;
out:
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int
setup_key(const struct setup_plan *p, const struct config *cfg,
    const char *url, git_repository *repo, const char *commit,
    char out[SETUP_KEY_LEN + 1], char *err, size_t errlen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char *text;
	size_t i;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "set-up: SHA-256 unavailable");
		goto out;
	}
	text = p->devc ? devc_key_text(p->devc) : xstrdup(p->command ?
	    p->command : "");
	rc = put(md, KEY_VERSION, "", 0) == -1 ||
	    put(md, "repository", url, strlen(url)) == -1 ||
	    (p->branch && put(md, "branch", p->branch, strlen(p->branch)) ==
	    -1) || put(md, p->devc ?
	    "devcontainer" : "command", text, strlen(text)) == -1 ? -1 : 0;
	free(text);
	for (i = 0; rc == 0 && i < cfg->setup_env.n; i++)
		rc = put(md, "env", cfg->setup_env.v[i],
		    strlen(cfg->setup_env.v[i]));
	if (rc == 0 && cfg->sandbox_root)
		rc = put(md, "root", cfg->sandbox_root,
		    strlen(cfg->sandbox_root));
	if (rc == -1) {
		snprintf(err, errlen, "set-up: hashing the key failed");
		goto out;
	}
	rc = -1;
	if (key_files(md, &cfg->setup_key_files, repo, commit, err,
	    errlen) == -1)
		goto out;
	if (EVP_DigestFinal_ex(md, sum, &len) != 1 || len != 32) {
		snprintf(err, errlen, "set-up: hashing the key failed");
		goto out;
	}
	util_hex(sum, len, out);
	out[SETUP_KEY_LEN] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}
