/*
 * The workspace step: the job's mirror fetched, the commit to start from,
 * its tree (a read-only layer the jobs share) and the job's own .git layer
 * and /etc for the sandbox. Resuming after it makes the first two again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basetree.h"
#include "run.h"
#include "sandbox.h"
#include "util.h"


/* passwd and group naming the sandbox's one user. */
static int
write_etc(struct run *r)
{
	char *p, *text;
	int rc = 0;

	if (run_make_dir(r, "etc", true, 0755) == -1)
		return -1;
	p = run_path(r, "etc/passwd");
	text = xasprintf("agent:x:%d:%d:agent:/home/agent:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    SANDBOX_UID, SANDBOX_UID);
	if (util_write_file(p, text, strlen(text), 0644) == -1)
		rc = run_fail(r, "workspace: write %s: %s", p, strerror(errno));
	free(text);
	free(p);
	if (rc == -1)
		return -1;
	p = run_path(r, "etc/group");
	text = xasprintf("agent:x:%d:\nnogroup:x:65534:\n", SANDBOX_UID);
	if (util_write_file(p, text, strlen(text), 0644) == -1)
		rc = run_fail(r, "workspace: write %s: %s", p, strerror(errno));
	free(text);
	free(p);
	return rc;
}

/* The mirror, fetched with the forge's credentials when there are any. */
static int
open_mirror(struct run *r, char *err, size_t errlen)
{
	struct mirror_credentials creds;

	if (r->pub)
		publish_git_credentials(r->pub, &creds);
	r->mirror = mirror_open(r->cfg->data_dir, r->job.clone_url,
	    r->pub ? &creds : NULL, err, errlen);
	return r->mirror ? 0 : -1;
}

/* The commit to start from: where the thread's branch is, else the
 * default branch (a local run: the repository's HEAD). */
static int
choose_base(struct run *r)
{
	const char *def;
	bool is_local = r->job.forge == FORGE_LOCAL;

	if (r->job.base_commit && mirror_resolve(r->mirror, r->job.base_commit,
	    r->base) == 0)
		return 0;	/* resuming: the same base as before */
	if (!is_local && (mirror_resolve(r->mirror, r->job.branch, r->base) == 0 ||
	    (r->job.thread_head && mirror_resolve(r->mirror, r->job.thread_head,
	    r->base) == 0)))
		return 0;
	def = !is_local && r->job.default_branch ? r->job.default_branch :
	    "HEAD";
	if (mirror_resolve(r->mirror, def, r->base) == -1)
		return run_fail(r, "workspace: %s has no %s to start from",
		    r->job.clone_url, strcmp(def, "HEAD") == 0 ? "HEAD" : def);
	return 0;
}

/* The base tree, once per run. */
static int
base_tree(struct run *r)
{
	char err[1024];

	if (r->files != NULL)
		return 0;
	if (basetree_get(r->mirror, r->cfg->data_dir, r->base, &r->files,
	    &r->index, &r->tree_lock, err, sizeof(err)) == -1)
		return run_fail(r, "workspace: %s", err);
	return 0;
}

int
step_workspace(struct run *r)
{
	char err[1024], *seed, *p;

	if (r->job.clone_url == NULL)
		return run_fail(r, "workspace: the thread has no"
		    " repository URL");
	if (open_mirror(r, err, sizeof(err)) == -1)
		return run_fail(r, "workspace: %s", err);
	if (choose_base(r) == -1)
		return -1;
	if (store_job_set(r->st, r->job.id, "base_commit", r->base) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	if (base_tree(r) == -1)
		return -1;
	basetree_prune(r->cfg->data_dir, BASETREE_KEEP);
	if (run_make_dir(r, "merged", false, 0700) == -1 ||
	    run_make_dir(r, "homemerged", false, 0700) == -1 ||
	    run_make_dir(r, "handoff", true, 0755) == -1 ||
	    run_make_dir(r, "handoff/objects", false, 0755) == -1 ||
	    write_etc(r) == -1)
		return -1;
	/* The job's .git, a read-only layer between the base tree and what
	 * the agent writes. */
	seed = run_path(r, "seed");
	if (harvest_layer(seed, r->job.branch, r->base, r->index,
	    "/handoff/objects", err, sizeof(err)) == -1) {
		free(seed);
		return run_fail(r, "workspace: %s", err);
	}
	free(seed);
	if (run_give_to_sandbox(r, "seed") == -1)
		return -1;
	p = xasprintf("%.12s on %s", r->base, r->job.branch);
	run_done(r, p);
	free(p);
	return 0;
}

/* Resuming after the workspace: the mirror and the base again, and the
 * base tree when a step still to run uses it. */
int
step_workspace_restore(struct run *r)
{
	char err[1024];
	if (open_mirror(r, err, sizeof(err)) == -1)
		return run_fail(r, "workspace: %s", err);
	if (choose_base(r) == -1)
		return -1;
	return run_later(r, STEP_TREE) ? base_tree(r) : 0;
}
