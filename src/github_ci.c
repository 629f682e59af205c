/*
 * GitHub's failed checks on a branch, for a fix-ci task: the failing check
 * runs of its head, their output and annotations, and for GitHub Actions
 * the tail of the job's log, fetched from the download URL the API
 * redirects to without the token (it is another host's).
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

#define LOG_TIMEOUT_MS	60000
#define USER_AGENT	"handoff/" HANDOFF_VERSION

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

/* GET url with no token and nothing of the forge's: a log's download
 * URL. */
static int
download(const char *url, struct http_response *resp, char *err,
    size_t errlen)
{
	struct http_opts opts = { 0 };
	struct http_client *c;
	int rc;

	opts.user_agent = USER_AGENT;
	opts.max_response_bytes = CI_LOG_FETCH_MAX;
	opts.timeout_ms = LOG_TIMEOUT_MS;
	opts.max_attempts = 2;
	if ((c = http_new(&opts)) == NULL) {
		snprintf(err, errlen, "cannot start an HTTP client");
		return -1;
	}
	rc = http_request(c, "GET", url, NULL, NULL, resp, err, errlen);
	http_free(c);
	return rc;
}

/* The tail of GitHub Actions job id's log into check's "log", or why
 * not into its "log_note". The API answers with a redirect to a download
 * URL on another host: it gets no token. */
static void
job_log(struct forge_conn *f, int64_t id, cJSON *check)
{
	struct http_response resp = { 0 };
	const char *headers[4];
	char err[512], line[64], *url, *note = NULL, *tail;
	int rc;

	headers[0] = github_headers[0];
	headers[1] = github_headers[1];
	headers[2] = f->auth_header;
	headers[3] = NULL;
	url = xasprintf("%s/repos/%s/actions/jobs/%lld/logs", f->api, f->repo,
	    (long long)id);
	f->route = FORGE_ROUTE_OTHER;
	rc = http_request_with(f->http, "GET", url, headers, NULL,
	    HTTP_REDIRECT_ANSWER, &resp, err, sizeof(err));
	if (rc == 0 && resp.status >= 300 && resp.status < 400 &&
	    resp.location != NULL) {
		free(url);
		url = xstrdup(resp.location);
		http_response_clear(&resp);
		rc = download(url, &resp, err, sizeof(err));
	}
	/* Not err: a download URL's query may be its signature. */
	if (rc == -1)
		note = xstrdup("the log could not be fetched (no answer)");
	else if (resp.status != 200) {
		http_status_line(resp.status, line, sizeof(line));
		note = xasprintf("the log could not be fetched (%s)", line);
	} else {
		tail = ci_log_tail(resp.body ? resp.body : "", resp.len);
		cJSON_AddStringToObject(check, "log", tail);
		free(tail);
	}
	if (note) {
		cJSON_AddStringToObject(check, "log_note", note);
		free(note);
	}
	http_response_clear(&resp);
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
github_ci_failures(struct forge_conn *f, const char *branch, cJSON **list,
    int *more, char *err, size_t errlen)
{
	cJSON *answer = NULL;
	const cJSON *run;
	char *q = url_escape(branch), *path;
	int n = 0, nannotations = 0, rc = -1;

	*list = NULL;
	*more = 0;
	path = xasprintf("/repos/%s/commits/%s/check-runs?filter=latest"
	    "&per_page=100", f->repo, q);
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
