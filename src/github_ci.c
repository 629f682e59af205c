/*
 * GitHub's failed checks on a branch, for a fix-ci task: the failing check
 * runs of the check suite that failed (else of the branch's head), their output and annotations, and for GitHub Actions
 * the tail of the job's log (ci_fetch_log: the API redirects to a
 * download URL on another host, which gets no token).
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


/* A conclusion that is a failure to fix. */
static bool
is_failure(const char *conclusion)
{
	static const char *const failed[] = { "failure", "timed_out",
	    "cancelled", "action_required" };
	size_t i;

	for (i = 0; conclusion && i < nitems(failed); i++)
		if (strcmp(conclusion, failed[i]) == 0)
			return true;
	return false;
}

/* Up to max annotations of check run id into check's "annotations";
 * returns how many were added. */
static int
annotations(struct forge_conn *f, int64_t id, int max, cJSON *check)
{
	cJSON *list = cJSON_AddArrayToObject(check, "annotations"), *o;
	cJSON *answer = NULL;
	const cJSON *a;
	char err[512], *path;
	int n = 0;

	path = xasprintf("/repos/%s/check-runs/%lld/annotations?per_page=%d",
	    f->repo, (long long)id, max);
	if (forge_send(f, github_call, "GET", path, NULL, 200, NULL, &answer,
	    err, sizeof(err)) == -1) {
		cJSON_AddStringToObject(check, "annotations_note",
		    "the annotations could not be fetched");
		goto out;
	}
	cJSON_ArrayForEach(a, answer) {
		if (n == max)
			break;
		o = cJSON_CreateObject();
		ci_add_text(o, "path", forge_str(a, "path"), CI_NAME_MAX);
		cJSON_AddNumberToObject(o, "start_line",
		    (double)forge_num(a, "start_line"));
		cJSON_AddNumberToObject(o, "end_line",
		    (double)forge_num(a, "end_line"));
		ci_add_text(o, "level", forge_str(a, "annotation_level"),
		    CI_NAME_MAX);
		ci_add_text(o, "title", forge_str(a, "title"),
		    CI_MESSAGE_MAX);
		ci_add_text(o, "message", forge_str(a, "message"),
		    CI_MESSAGE_MAX);
		cJSON_AddItemToArray(list, o);
		n++;
	}
out:
	json_free(answer);
	free(path);
	return n;
}

/* The tail of GitHub Actions job id's log into check's "log", or why
 * not into its "log_note" (ci_fetch_log). */
static void
job_log(struct forge_conn *f, int64_t id, cJSON *check)
{
	const char *headers[4];
	char *url;

	headers[0] = github_headers[0];
	headers[1] = github_headers[1];
	headers[2] = f->auth_header;
	headers[3] = NULL;
	url = xasprintf("%s/repos/%s/actions/jobs/%lld/logs", f->api, f->repo,
	    (long long)id);
	f->route = FORGE_ROUTE_OTHER;
	ci_fetch_log(f->http, url, headers, check);
	free(url);
}

/* A failing check run as the agent reads it. */
static cJSON *
check_of(struct forge_conn *f, const cJSON *run, int *nannotations)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(run, "output");
	const cJSON *app = cJSON_GetObjectItemCaseSensitive(run, "app");
	const char *slug = forge_str(app, "slug");
	int64_t id = forge_num(run, "id");

	ci_add_text(o, "name", forge_str(run, "name"), CI_NAME_MAX);
	ci_add_text(o, "conclusion", forge_str(run, "conclusion"),
	    CI_NAME_MAX);
	ci_add_text(o, "url", forge_str(run, "html_url"), CI_MESSAGE_MAX);
	ci_add_text(o, "app", slug, CI_NAME_MAX);
	ci_add_text(o, "title", forge_str(out, "title"), CI_MESSAGE_MAX);
	ci_add_text(o, "summary", forge_str(out, "summary"), CI_SUMMARY_MAX);
	ci_add_text(o, "text", forge_str(out, "text"), CI_TEXT_MAX);
	if (id > 0 && forge_num(out, "annotations_count") > 0 &&
	    *nannotations < CI_MAX_ANNOTATIONS)
		*nannotations += annotations(f, id, CI_MAX_ANNOTATIONS -
		    *nannotations, o);
	if (id > 0 && slug && strcmp(slug, "github-actions") == 0)
		job_log(f, id, o);
	return o;
}

int
github_ci_failures(struct forge_conn *f, const char *branch, int64_t ci_id,
    cJSON **list, int *more, char *err, size_t errlen)
{
	cJSON *answer = NULL;
	const cJSON *run;
	char *q = url_escape(branch), *path;
	int n = 0, nannotations = 0, rc = -1;

	*list = NULL;
	*more = 0;
	/* The suite whose failure made the job, else the branch's head. */
	if (ci_id > 0)
		path = xasprintf("/repos/%s/check-suites/%lld/check-runs"
		    "?filter=latest&per_page=100", f->repo, (long long)ci_id);
	else
		path = xasprintf("/repos/%s/commits/%s/check-runs"
		    "?filter=latest&per_page=100", f->repo, q);
	if (forge_send(f, github_call, "GET", path, NULL, 200, NULL, &answer,
	    err, errlen) == -1)
		goto out;
	*list = cJSON_CreateArray();
	cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(answer,
	    "check_runs")) {
		if (!is_failure(forge_str(run, "conclusion")))
			continue;
		if (n++ >= CI_MAX_CHECKS) {
			(*more)++;
			continue;
		}
		ci_append(*list, check_of(f, run, &nannotations));
	}
	rc = 0;
out:
	json_free(answer);
	free(path);
	free(q);
	return rc;
}
