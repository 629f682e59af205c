/*
 * The task step: who asked may write (requests folded in after the
 * acknowledgement are checked too), and what the agent reads: the issue as
 * it reads now, its comments and the review comments, in /handoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rules.h"
#include "run.h"
#include "task.h"
#include "thread.h"
#include "util.h"

/* A copy of task.md beside the job's log, where the agent cannot reach it
 * and the end of the job does not remove it: the job's page shows the
 * instruction as it was given. Not having it fails nothing. */
#define TASK_KEEP_MAX	(16 * 1024 * 1024)
static void
keep_task(struct run *r)
{
	char *from = run_path(r, "handoff/task.md"), *to = run_path(r,
	    "task.md"), *text;
	size_t len;

	if ((text = util_read_file(from, TASK_KEEP_MAX, &len)) == NULL ||
	    util_write_file(to, text, len, 0600) == -1)
		run_log(r, "task: could not keep a copy of task.md: %s",
		    strerror(errno));
	free(text);
	free(to);
	free(from);
}

/* Before any text reaches the agent: the requests folded in after the
 * acknowledgement are checked too (the acknowledging runner may have run
 * before they came), the refused are left out and that is said where
 * they were asked. A job none of whose requests may run ends quietly. */
static int
check_requests(struct run *r)
{
	char err[1024], *why;
	bool allowed;

	if (publish_permit(r->pub, &allowed, err, sizeof(err)) == -1)
		return run_fail(r, "task: %s", err);
	store_requests_free(r->job.requests, r->job.nrequests);
	if (store_requests_load(r->st, r->job.id, &r->job.requests,
	    &r->job.nrequests) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	if (!allowed) {
		why = xasprintf("no one who asked may write to %s; nothing"
		    " was run", r->job.repo);
		run_cancel(r, why);
		free(why);
		return -1;
	}
	if (publish_left_out(r->pub, r->job.requests, r->job.nrequests, err,
	    sizeof(err)) == -1)
		run_log(r, "task: saying what was left out: %s", err);
	return 0;
}

/* Drop from list (comments made on one of ons) the commands to handoff
 * that are not a request allowed in this thread: a command is an
 * instruction, and reaches the agent as a request, checked and
 * attributed, or not at all. Other comments stay, under their authors'
 * names. */
static int
drop_commands(struct run *r, cJSON *list, const enum forge_on *ons,
    size_t n_ons)
{
	cJSON *c, *next;
	const char *body, *id;
	char *text, buf[32];
	int64_t *ids;
	size_t n, i;
	bool is_allowed;

	if (list == NULL)
		return 0;
	if (store_allowed_triggers(r->st, r->job.thread_id, ons, n_ons, &ids,
	    &n) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	for (c = list->child; c != NULL; c = next) {
		next = c->next;
		body = cJSON_GetStringValue(cJSON_GetObjectItem(c, "body"));
		id = cJSON_GetStringValue(cJSON_GetObjectItem(c, "id"));
		if (rules_parse_command(r->cfg->command, body, &text) ==
		    CMD_IGNORE)
			continue;
		free(text);
		is_allowed = false;
		for (i = 0; id != NULL && i < n && !is_allowed; i++) {
			snprintf(buf, sizeof(buf), "%lld", (long long)ids[i]);
			is_allowed = strcmp(buf, id) == 0;
		}
		if (!is_allowed)
			cJSON_Delete(cJSON_DetachItemViaPointer(list, c));
	}
	free(ids);
	return 0;
}

int
step_task(struct run *r)
{
	static const enum forge_on on_issue[] = { FORGE_ON_ISSUE };
	static const enum forge_on on_pr[] = { FORGE_ON_REVIEW_COMMENT,
	    FORGE_ON_PR };
	cJSON *comments, *reviews, *ci;
	char err[512], *dir, *summary, *title, *body;
	int rc;

	if (r->pub && check_requests(r) == -1)
		return -1;
	dir = run_path(r, "handoff");
	/* The issue as it reads now: it may have been edited since. */
	if (r->pub && thread_issue(r->pub, &title, &body) == 0) {
		free(r->job.title);
		free(r->job.body);
		r->job.title = title;
		r->job.body = body;
	}
	comments = r->pub ? thread_comments(r->pub) : NULL;
	reviews = r->pub ? thread_review_comments(r->pub, r->job.requests,
	    r->job.nrequests) : NULL;
	/* A CI fix: what failed, fetched here on the host with the
	 * forge's token, which the sandbox has not. */
	ci = r->pub && r->kind == JOB_FIX_CI ? thread_ci(r->pub) : NULL;
	if (drop_commands(r, comments, on_issue, nitems(on_issue)) == -1 ||
	    drop_commands(r, reviews, on_pr, nitems(on_pr)) == -1)
		rc = -1;
	else if ((rc = task_write(dir, &r->job, r->kind, comments, reviews,
	    ci, err, sizeof(err))) == -1)
		run_fail(r, "%s", err);
	cJSON_Delete(ci);
	cJSON_Delete(reviews);
	cJSON_Delete(comments);
	free(dir);
	if (rc == -1)
		return -1;
	keep_task(r);
	summary = run_path(r, "handoff/summary.md");
	if (util_write_file(summary, "", 0, 0644) == -1)
		rc = run_fail(r, "task: create %s: %s", summary, strerror(errno));
	free(summary);
	if (rc == -1)
		return -1;
	return run_done(r, NULL);
}
