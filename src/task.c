/*
 * task.md and context.json from what the store knows of a job: the issue,
 * the request, and for revisions the review comments with their file, line
 * and diff hunk.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "task.h"
#include "util.h"

static void
append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
append(char **s, const char *fmt, ...)
{
	va_list ap;
	char *more, *next;

	va_start(ap, fmt);
	more = xvasprintf(fmt, ap);
	va_end(ap);
	next = xasprintf("%s%s", *s, more);
	free(more);
	free(*s);
	*s = next;
}

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether r's text goes to the agent: not when its author may not write
 * (a request not checked is one handoff had no forge to ask about). */
static bool
is_given(const struct job_request *r)
{
	return r->verdict == NULL || strcmp(r->verdict, "refused") != 0;
}

/* What the job was asked, as given to the agent: context.json's
 * instruction (the texts joined), requests[] ({author, on, text}) and
 * the inline comments that came with them (into stored); task.md's
 * request section, each text under its author's name. A job from before
 * requests were recorded has only its own columns. */
static void
add_requests(cJSON *ctx, char **md, const struct job *job, bool is_local,
    cJSON *stored)
{
	cJSON *list = cJSON_AddArrayToObject(ctx, "requests"), *o, *items;
	const cJSON *c;
	char *joined = NULL, *next;
	size_t i, ntext = 0;

	for (i = 0; i < job->nrequests; i++)
		ntext += is_given(&job->requests[i]) &&
		    job->requests[i].text != NULL;
	if (job->nrequests == 0) {
		joined = job->instruction ? xstrdup(job->instruction) : NULL;
		items = job->context ? cJSON_Parse(job->context) : NULL;
		cJSON_ArrayForEach(c, items)
			cJSON_AddItemToArray(stored, cJSON_Duplicate(c, 1));
		cJSON_Delete(items);
		if (joined && *joined && !is_local)
			append(md, "## Request\n\n%s\n\n", joined);
	} else if (ntext > 0)
		append(md, "## Request%s\n\n", ntext > 1 ? "s" : "");
	for (i = 0; i < job->nrequests; i++) {
		const struct job_request *r = &job->requests[i];

		if (!is_given(r))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "author", r->author ? r->author :
		    "");
		cJSON_AddStringToObject(o, "on", job_on_name(r->trigger_on));
		if (r->text)
			cJSON_AddStringToObject(o, "text", r->text);
		else
			cJSON_AddNullToObject(o, "text");
		cJSON_AddItemToArray(list, o);
		items = r->context ? cJSON_Parse(r->context) : NULL;
		cJSON_ArrayForEach(c, items)
			cJSON_AddItemToArray(stored, cJSON_Duplicate(c, 1));
		cJSON_Delete(items);
		if (r->text == NULL)
			continue;
		append(md, "**%s** asked:\n\n%s\n\n", r->author ? r->author :
		    "someone", r->text);
		next = joined ? xasprintf("%s\n\n%s", joined, r->text) :
		    xstrdup(r->text);
		free(joined);
		joined = next;
	}
	if (joined)
		cJSON_AddStringToObject(ctx, "instruction", joined);
	else
		cJSON_AddNullToObject(ctx, "instruction");
	free(joined);
}

int
task_write(const char *dir, const struct job *job, enum job_kind kind,
    const cJSON *comments, const cJSON *fetched, char *err, size_t errlen)
{
	cJSON *ctx = cJSON_CreateObject(), *reviews;
	cJSON *stored = cJSON_CreateArray();
	const cJSON *c;
	const char *path, *hunk, *body, *author;
	char *md = xstrdup(""), *json;
	bool is_local = job->forge == FORGE_LOCAL;
	int rc;

	cJSON_AddStringToObject(ctx, "forge", forge_name(job->forge));
	cJSON_AddStringToObject(ctx, "repo", job->repo);
	cJSON_AddNumberToObject(ctx, "number", (double)job->number);
	cJSON_AddStringToObject(ctx, "title", job->title ? job->title : "");
	cJSON_AddStringToObject(ctx, "body", job->body ? job->body : "");
	cJSON_AddStringToObject(ctx, "kind", job_kind_name(kind));
	cJSON_AddStringToObject(ctx, "branch", job->branch);
	cJSON_AddItemToObject(ctx, "comments", comments ?
	    cJSON_Duplicate(comments, 1) : cJSON_CreateArray());
	reviews = cJSON_AddArrayToObject(ctx, "review_comments");

	append(&md, "# %s\n\n", job->title && *job->title ? job->title :
	    "Task");
	if (is_local)
		append(&md, "A task on the repository in /workspace (a local"
		    " run of %s).\n\n", job->repo);
	else
		append(&md, "Issue #%lld of %s on %s. The repository is"
		    " checked out in /workspace on branch %s.\n\n",
		    (long long)job->number, job->repo, forge_name(job->forge),
		    job->branch);
	if (kind == JOB_IMPLEMENT && !is_local)
		append(&md, "## What to do\n\nImplement what the issue"
		    " asks.\n\n");
	else if (kind == JOB_REVISE)
		append(&md, "## What to do\n\nRevise the branch as the"
		    " request and review comments below ask.\n\n");
	else if (kind == JOB_FIX_CI)
		append(&md, "## What to do\n\nThe checks failed on this"
		    " branch: make them pass.\n\n");
	add_requests(ctx, &md, job, is_local, stored);
	if (is_local)
		append(&md, "## Task\n\n%s\n\n", job->body ? job->body : "");
	else if (job->body && *job->body)
		append(&md, "## The issue\n\n%s\n\n", job->body);

	if (cJSON_GetArraySize(comments) > 0) {
		append(&md, "## Comments on the issue\n\n");
		cJSON_ArrayForEach(c, comments)
			append(&md, "**%s** wrote:\n\n%s\n\n",
			    str(c, "author") ? str(c, "author") : "someone",
			    str(c, "body") ? str(c, "body") : "");
	}
	/* Those that came with deliveries, then those fetched. */
	cJSON_ArrayForEach(c, fetched)
		cJSON_AddItemToArray(stored, cJSON_Duplicate(c, 1));
	cJSON_ArrayForEach(c, stored) {
		if (!cJSON_IsObject(c))
			continue;
		cJSON_AddItemToArray(reviews, cJSON_Duplicate(c, 1));
		path = str(c, "path");
		hunk = str(c, "diff_hunk");
		body = str(c, "body");
		author = str(c, "author");
		if (cJSON_GetArraySize(reviews) == 1)
			append(&md, "## Review comments\n\n");
		if (cJSON_IsNumber(cJSON_GetObjectItem(c, "line")))
			append(&md, "- %s, line %d, by %s:\n", path ? path :
			    "(general)", cJSON_GetObjectItem(c, "line")->valueint,
			    author ? author : "someone");
		else
			append(&md, "- %s, by %s:\n", path ? path :
			    "(general)", author ? author : "someone");
		if (hunk)
			append(&md, "\n```diff\n%s\n```\n\n", hunk);
		append(&md, "%s\n\n", body ? body : "");
	}
	cJSON_Delete(stored);
	append(&md, "## How to finish\n\nChange the files in /workspace;"
	    " commit or leave the changes uncommitted. Write a short"
	    " description of the change to %s.\n", "$HANDOFF_SUMMARY");

	json = cJSON_Print(ctx);
	rc = util_put_text(dir, "task.md", md, err, errlen);
	if (rc == 0)
		rc = util_put_text(dir, "context.json", json, err, errlen);
	free(json);
	free(md);
	cJSON_Delete(ctx);
	return rc;
}
