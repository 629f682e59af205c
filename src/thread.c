/*
 * What the thread says, for the task: the issue as it reads now, the
 * people's comments on it, and for a revision the review comments its
 * requests point at, read through the job's forge connection. Handoff's
 * own comments and bots' are left out.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "log.h"
#include "thread.h"
#include "util.h"

int
thread_issue(struct publish *p, char **title, char **body)
{
	struct forge_conn *forge = publish_forge(p);
	const struct job *job = publish_job(p);
	char err[512];

	if (forge->ops->issue(forge, job->number, title, body, err,
	    sizeof(err)) == -1) {
		log_warn("job %lld: issue: %s", (long long)job->id, err);
		return -1;
	}
	return 0;
}

cJSON *
thread_comments(struct publish *p)
{
	struct forge_conn *forge = publish_forge(p);
	const struct job *job = publish_job(p);
	struct forge_comment *list = NULL;
	cJSON *arr = cJSON_CreateArray(), *o;
	char err[512];
	size_t n = 0, i;

	if (forge->ops->comments(forge, FORGE_ON_ISSUE, job->number, &list,
	    &n, err, sizeof(err)) == -1) {
		log_warn("job %lld: comments: %s", (long long)job->id, err);
		return arr;
	}
	/* People's words only: not bots', not handoff's (whose copies are
	 * swept on the way). */
	forge_sweep(forge, FORGE_ON_ISSUE, job->number, list, n,
	    publish_status_id(p));
	for (i = 0; i < n; i++) {
		char *marker = forge_marker_of(list[i].body);
		bool is_handoffs = marker != NULL ||
		    forge_is_mine(forge, &list[i]);

		free(marker);
		if (is_handoffs)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "author", list[i].author);
		cJSON_AddStringToObject(o, "body", list[i].body);
		cJSON_AddStringToObject(o, "id", list[i].id);
		cJSON_AddItemToArray(arr, o);
	}
	forge_comments_free(list, n);
	return arr;
}

/* Add the comments of one review to arr, skipping bots' and those whose
 * id is in seen (a JSON array of ids, extended here). */
static void
add_review(struct forge_conn *forge, const struct job *job,
    const char *review, cJSON *arr, cJSON *seen)
{
	struct forge_comment *list = NULL;
	const cJSON *id;
	cJSON *o;
	char err[512];
	size_t n = 0, i;
	bool dup;

	if (forge->ops->review_comments(forge, job->pr_number, review, &list,
	    &n, err, sizeof(err)) == -1) {
		log_warn("job %lld: review comments: %s", (long long)job->id,
		    err);
		return;
	}
	for (i = 0; i < n; i++) {
		dup = false;
		cJSON_ArrayForEach(id, seen)
			dup |= cJSON_IsString(id) &&
			    strcmp(id->valuestring, list[i].id) == 0;
		if (dup || list[i].is_bot)
			continue;
		cJSON_AddItemToArray(seen, cJSON_CreateString(list[i].id));
		o = cJSON_CreateObject();
		if (list[i].path)
			cJSON_AddStringToObject(o, "path", list[i].path);
		if (list[i].line > 0)
			cJSON_AddNumberToObject(o, "line",
			    (double)list[i].line);
		if (list[i].diff_hunk)
			cJSON_AddStringToObject(o, "diff_hunk",
			    list[i].diff_hunk);
		cJSON_AddStringToObject(o, "body", list[i].body);
		cJSON_AddStringToObject(o, "author", list[i].author);
		cJSON_AddStringToObject(o, "id", list[i].id);
		cJSON_AddItemToArray(arr, o);
	}
	forge_comments_free(list, n);
}

/* Whether r was checked and may be acted on. */
static bool
is_allowed(const struct job_request *r)
{
	return r->verdict != NULL && strcmp(r->verdict, "allowed") == 0;
}

cJSON *
thread_review_comments(struct publish *p, const struct job_request *reqs,
    size_t n)
{
	struct forge_conn *forge = publish_forge(p);
	const struct job *job = publish_job(p);
	cJSON *arr = cJSON_CreateArray(), *seen = cJSON_CreateArray(), *ctx;
	const cJSON *c, *v;
	char *review;
	size_t i;

	if (job->pr_number == 0) {
		cJSON_Delete(seen);
		return arr;
	}
	for (i = 0; i < n; i++) {
		/* A refused request's own words never come in this way. */
		if (!is_allowed(&reqs[i]) && reqs[i].trigger_id > 0) {
			review = xasprintf("%lld", (long long)reqs[i].trigger_id);
			cJSON_AddItemToArray(seen, cJSON_CreateString(review));
			free(review);
		}
		if (!is_allowed(&reqs[i]) || reqs[i].context == NULL)
			continue;
		/* What the store has already (inline comments that came as
		 * deliveries) is not fetched twice. */
		ctx = cJSON_Parse(reqs[i].context);
		cJSON_ArrayForEach(c, ctx) {
			if (!cJSON_IsNumber(v = cJSON_GetObjectItem(c, "id")))
				continue;
			review = xasprintf("%lld", (long long)v->valuedouble);
			cJSON_AddItemToArray(seen, cJSON_CreateString(review));
			free(review);
		}
		cJSON_Delete(ctx);
	}
	for (i = 0; i < n; i++) {
		if (!is_allowed(&reqs[i]))
			continue;
		/* A review's inline comments come only through the API. */
		if (reqs[i].trigger_on == FORGE_ON_REVIEW &&
		    reqs[i].trigger_id > 0) {
			review = xasprintf("%lld", (long long)reqs[i].trigger_id);
			add_review(forge, job, review, arr, seen);
			free(review);
		}
		/* An inline comment: the other comments of its review
		 * (GitHub), or the earlier notes of its discussion (GitLab). */
		ctx = reqs[i].context ? cJSON_Parse(reqs[i].context) : NULL;
		cJSON_ArrayForEach(c, ctx) {
			if (cJSON_IsNumber(v = cJSON_GetObjectItem(c,
			    "review_id")) && v->valuedouble >= 1) {
				review = xasprintf("%lld",
				    (long long)v->valuedouble);
				add_review(forge, job, review, arr, seen);
				free(review);
			}
			if (cJSON_IsString(v = cJSON_GetObjectItem(c,
			    "discussion_id")) && strlen(v->valuestring) <= 128)
				add_review(forge, job, v->valuestring, arr,
				    seen);
		}
		cJSON_Delete(ctx);
	}
	cJSON_Delete(seen);
	return arr;
}

cJSON *
thread_ci(struct publish *p)
{
	struct forge_conn *forge = publish_forge(p);
	const struct job *job = publish_job(p);
	cJSON *ci = cJSON_CreateObject(), *list = NULL;
	char err[512];
	int more = 0;

	if (forge->ops->ci_failures == NULL)
		cJSON_AddStringToObject(ci, "note", "this forge's CI results"
		    " are not fetched");
	else if (forge->ops->ci_failures(forge, job->branch, job->ci_id,
	    &list, &more, err, sizeof(err)) == -1) {
		log_warn("job %lld: CI failures: %s", (long long)job->id, err);
		cJSON_AddStringToObject(ci, "note", "the details of the failed"
		    " checks could not be fetched");
	}
	cJSON_AddItemToObject(ci, "failures", list ? list :
	    cJSON_CreateArray());
	cJSON_AddNumberToObject(ci, "more", more);
	return ci;
}
