/*
 * `handoff run`: the agent on a local repository, no forge. The job is the
 * store's like any other and runs the same steps; the result is exported
 * to a branch of the repository.
 */
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
	char real[PATH_MAX], err[1024], *text = NULL;
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
