/*
 * GitLab's failed CI on a branch, for a fix-ci task: the failed jobs of
 * the pipeline that failed (else of the branch's latest pipeline) (name, stage, failure reason) and the tail
 * of each job's trace.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"
#include "forge.h"
#include "forge_impl.h"
#include "http.h"
#include "json.h"
#include "url.h"
#include "util.h"

/* The tail of job id's trace into check's "log", or why not into its
 * "log_note" (ci_fetch_log). */
static void
trace(struct forge_conn *f, int64_t id, cJSON *check)
{
	const char *headers[2];
	char *project = url_escape(f->repo), *url;

	headers[0] = f->auth_header;
	headers[1] = NULL;
	url = xasprintf("%s/projects/%s/jobs/%lld/trace", f->api, project,
	    (long long)id);
	f->route = FORGE_ROUTE_OTHER;
	ci_fetch_log(f->http, url, headers, check);
	free(url);
	free(project);
}

/* A failed job as the agent reads it. */
static cJSON *
job_of(struct forge_conn *f, const cJSON *job)
{
	cJSON *o = cJSON_CreateObject();
	int64_t id = forge_num(job, "id");

	ci_add_text(o, "name", forge_str(job, "name"), CI_NAME_MAX);
	ci_add_text(o, "stage", forge_str(job, "stage"), CI_NAME_MAX);
	ci_add_text(o, "failure_reason", forge_str(job, "failure_reason"),
	    CI_NAME_MAX);
	ci_add_text(o, "url", forge_str(job, "web_url"), CI_MESSAGE_MAX);
	if (id > 0)
		trace(f, id, o);
	return o;
}

/* The id of branch's latest pipeline, or 0 when it has none. */
static int
latest_pipeline(struct forge_conn *f, const char *branch, int64_t *id,
    char *err, size_t errlen)
{
	cJSON *answer = NULL;
	char *q = url_escape(branch), *rest;
	int rc;

	*id = 0;
	rest = xasprintf("/pipelines?ref=%s&order_by=id&sort=desc"
	    "&per_page=1", q);
	rc = forge_send(f, gitlab_call, "GET", rest, NULL, 200, NULL, &answer,
	    err, errlen);
	if (rc == 0)
		*id = forge_num(cJSON_GetArrayItem(answer, 0), "id");
	json_free(answer);
	free(rest);
	free(q);
	return rc;
}

int
gitlab_ci_failures(struct forge_conn *f, const char *branch, int64_t ci_id,
    cJSON **list, int *more, char *err, size_t errlen)
{
	cJSON *answer = NULL;
	const cJSON *job, *allowed;
	char *rest = NULL;
	int64_t pipeline;
	int n = 0, rc = -1;

	*list = NULL;
	*more = 0;
	/* The pipeline that failed (a merge request's too, which is not
	 * on the branch's ref), else the branch's latest. */
	if ((pipeline = ci_id) <= 0 &&
	    latest_pipeline(f, branch, &pipeline, err, errlen) == -1)
		goto out;
	*list = cJSON_CreateArray();
	if (pipeline == 0) {
		rc = 0;
		goto out;
	}
	rest = xasprintf("/pipelines/%lld/jobs?scope%%5B%%5D=failed"
	    "&per_page=100", (long long)pipeline);
	if (forge_send(f, gitlab_call, "GET", rest, NULL, 200, NULL, &answer,
	    err, errlen) == -1) {
		cJSON_Delete(*list);
		*list = NULL;
		goto out;
	}
	cJSON_ArrayForEach(job, answer) {
		/* A job allowed to fail did not fail the pipeline. */
		allowed = cJSON_GetObjectItemCaseSensitive(job,
		    "allow_failure");
		if (cJSON_IsTrue(allowed))
			continue;
		if (n++ >= CI_MAX_CHECKS) {
			(*more)++;
			continue;
		}
		ci_append(*list, job_of(f, job));
	}
	rc = 0;
out:
	json_free(answer);
	free(rest);
	return rc;
}
