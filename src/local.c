/*
 * `handoff run`: the agent on a local repository, no forge. The job is the
 * store's like any other and runs the same steps; the result is exported
 * to a branch of the repository.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "local.h"
#include "run.h"
#include "runner.h"
#include "text.h"
#include "util.h"

/* Whether branch (refname) is the HEAD of repo's work tree or of one of
 * its linked worktrees; *where names which (caller frees). */
static bool
checked_out(git_repository *repo, const char *refname, char **where)
{
	git_reference *head = NULL;
	git_strarray names = { 0 };
	bool found = false;
	size_t i;

	if (!git_repository_is_bare(repo) &&
	    git_reference_lookup(&head, repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    strcmp(git_reference_symbolic_target(head), refname) == 0) {
		*where = xstrdup(git_repository_workdir(repo));
		found = true;
	}
	git_reference_free(head);
	if (found || git_worktree_list(&names, repo) < 0)
		return found;
	for (i = 0; i < names.count && !found; i++) {
		git_worktree *wt = NULL;

		head = NULL;
		if (git_repository_head_for_worktree(&head, repo,
		    names.strings[i]) == 0 &&
		    strcmp(git_reference_name(head), refname) == 0) {
			found = true;
			*where = git_worktree_lookup(&wt, repo,
			    names.strings[i]) == 0 ?
			    xstrdup(git_worktree_path(wt)) :
			    xstrdup(names.strings[i]);
		}
		git_worktree_free(wt);
		git_reference_free(head);
	}
	git_strarray_dispose(&names);
	return found;
}

/*
 * The result is a commit on the repository's HEAD, exported to branch:
 * refuse, before anything runs, a branch that is checked out (its work
 * tree would no longer match it) or that has commits HEAD lacks (the
 * result would not fast-forward it).
 */
static char *
branch_refusal(const char *dir, const char *branch)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	char *refname = xasprintf("refs/heads/%s", branch), *where = NULL;
	char hex[GIT_OID_HEXSZ + 1], *why = NULL;
	git_oid tip, base;

	if (git_repository_open(&repo, dir) < 0) {
		why = xasprintf("--repo %s: not a git repository", dir);
		goto out;
	}
	if (checked_out(repo, refname, &where)) {
		why = xasprintf("--branch %s is checked out in %s; handoff"
		    " run does not move a branch under a work tree: name"
		    " another branch, or switch that work tree to another"
		    " first", branch, where);
		goto out;
	}
	if (git_reference_lookup(&ref, repo, refname) < 0 ||
	    git_reference_name_to_id(&tip, repo, refname) < 0 ||
	    git_reference_name_to_id(&base, repo, "HEAD") < 0)
		goto out;	/* a new branch; or no HEAD, which the run says */
	if (git_oid_equal(&tip, &base) ||
	    git_graph_descendant_of(repo, &base, &tip) == 1)
		goto out;
	git_oid_tostr(hex, sizeof(hex), &base);
	why = xasprintf("--branch %s has commits that HEAD (%.12s) lacks:"
	    " the result, a commit on HEAD, would not be a fast-forward of it;"
	    " name a new branch, or delete this one (git branch -D %s) or"
	    " merge it into HEAD first", branch, hex, branch);
out:
	git_reference_free(ref);
	git_repository_free(repo);
	free(where);
	free(refname);
	return why;
}

/* Whether descriptors a and b are the same file (2>&1, one terminal). */
static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int
local_usage(void)
{
	fprintf(stderr, "usage: handoff run --repo DIR (--task TEXT |"
	    " --task-file FILE) [--branch NAME]\n");
	return 2;
}

int
local_main(const struct config *cfg, int argc, char **argv)
{
	const char *repo = NULL, *task = NULL, *task_file = NULL;
	const char *branch = NULL;
	char real[PATH_MAX], err[1024], *text = NULL, *why;
	struct run r = { 0 };
	int64_t id;
	int i, status = 1, lock = -1;

	for (i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return local_usage();
		if (strcmp(argv[i], "--repo") == 0)
			repo = argv[++i];
		else if (strcmp(argv[i], "--task") == 0)
			task = argv[++i];
		else if (strcmp(argv[i], "--task-file") == 0)
			task_file = argv[++i];
		else if (strcmp(argv[i], "--branch") == 0)
			branch = argv[++i];
		else
			return local_usage();
	}
	if (repo == NULL || (task == NULL) == (task_file == NULL))
		return local_usage();
	if (realpath(repo, real) == NULL) {
		fprintf(stderr, "handoff: --repo %s: %s\n", repo,
		    strerror(errno));
		return 2;
	}
	if (task_file) {
		if ((text = util_read_file(task_file, 1 << 20, NULL)) ==
		    NULL) {
			fprintf(stderr, "handoff: --task-file %s: %s\n",
			    task_file, strerror(errno));
			return 2;
		}
		task = text;
	}
	if (*task == '\0') {
		fprintf(stderr, "handoff: the task is empty\n");
		free(text);
		return 2;
	}
	git_libgit2_init();
	if (branch) {
		char *ref = xasprintf("refs/heads/%s", branch);
		int is_valid = git_reference_is_valid_name(ref);

		free(ref);
		if (!is_valid) {
			fprintf(stderr, "handoff: --branch %s: not a valid"
			    " branch name\n", branch);
			free(text);
			git_libgit2_shutdown();
			return 2;
		}
		if ((why = branch_refusal(real, branch)) != NULL) {
			fprintf(stderr, "handoff: ");
			text_show(stderr, why, TEXT_ESC_LINE);
			fputc('\n', stderr);
			free(why);
			free(text);
			git_libgit2_shutdown();
			return 2;
		}
	}
	r.cfg = cfg;
	r.log_fd = r.tree_lock = r.setup_lock = -1;
	if ((r.st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "handoff: %s\n", err);
		goto out;
	}
	if ((id = store_local_job(r.st, cfg, real, task, branch)) == -1 ||
	    store_job_load(r.st, id, &r.job) != 1) {
		fprintf(stderr, "handoff: store: %s\n", store_error(r.st));
		goto out;
	}
	if ((lock = run_lock(&r)) == -1) {
		store_job_finish(r.st, id, JOB_FAILED, NULL,
		    "cannot lock the job");
		goto out;
	}
	r.kind = JOB_IMPLEMENT;
	r.is_echoed = true;
	status = run_steps(&r);
	if (status == RUNNER_EXIT_STOPPED) {
		store_job_finish(r.st, r.job.id, JOB_CANCELLED, NULL,
		    "interrupted");
		fprintf(stderr, "handoff: job %lld interrupted\n",
		    (long long)r.job.id);
		status = 130;
		goto out;
	}
	if (status != RUNNER_EXIT_ENDED) {
		fprintf(stderr, "handoff: job %lld: store error\n",
		    (long long)r.job.id);
		status = 1;
		goto out;
	}
	/* The agent's words (and a title in them) are shown as text on a
	 * terminal: they can hold escape sequences. */
	if (r.state != JOB_DONE) {
		fprintf(stderr, "handoff: job %lld %s: ", (long long)r.job.id,
		    job_state_name(r.state));
		if (r.output != NULL && r.error != NULL && same_file(1, 2)) {
			/* The agent's output, its tail too, was shown:
			 * "...; its output ends above". */
			size_t n = strcspn(r.error, "\n");

			if (n > 0 && r.error[n - 1] == ':')
				n--;
			r.error[n] = '\0';
			text_show(stderr, r.error, 0);
			fputs(" above", stderr);
		} else
			text_show(stderr, r.error ? r.error : "?", 0);
		fputc('\n', stderr);
		status = 1;
		goto out;
	}
	if (!r.change.is_changed) {
		printf("job: %lld\nno changes\n", (long long)r.job.id);
		if (r.summary && *r.summary) {
			printf("summary:\n");
			text_show(stdout, r.summary, 0);
			printf("\n");
		}
		status = 0;
		goto out;
	}
	if (mirror_export(r.mirror, r.job.branch, r.change.head, real, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "handoff: job %lld: %s\n", (long long)r.job.id,
		    err);
		store_job_finish(r.st, r.job.id, JOB_FAILED, NULL, err);
		status = 1;
		goto out;
	}
	printf("job: %lld\nbranch: ", (long long)r.job.id);
	text_show(stdout, r.job.branch, TEXT_ESC_LINE);
	printf("\ncommit: %s\n", r.change.head);
	text_show(stdout, r.change.diffstat ? r.change.diffstat : "", 0);
	if (r.summary && *r.summary) {
		printf("summary:\n");
		text_show(stdout, r.summary, 0);
		printf("%s", r.summary[strlen(r.summary) - 1] == '\n' ? "" :
		    "\n");
	}
	status = 0;
out:
	if (lock != -1)
		close(lock);
	run_free(&r);
	store_close(r.st);
	git_libgit2_shutdown();
	free(text);
	return status;
}
