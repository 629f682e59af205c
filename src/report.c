/*
 * `handoff jobs [--json] [--state STATE] [--limit N]` and
 * `handoff show JOB [--json]`: a table or JSON for scripts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "job.h"
#include "log.h"
#include "report.h"
#include "store.h"
#include "text.h"
#include "usage.h"
#include "util.h"

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

static long long
num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* JSON on a terminal: what cJSON leaves as it is (DEL, C1 and bidi
 * controls, bytes that are not UTF-8) as JSON escapes. */
static void
print_json(const cJSON *v)
{
	char *text = cJSON_Print(v), *esc;

	if (text_is_terminal(stdout)) {
		esc = text_term_escape(text, strlen(text), TEXT_ESC_JSON, NULL);
		printf("%s\n", esc);
		free(esc);
	} else
		printf("%s\n", text);
	free(text);
}

/* The fields `show` prints on lines of their own. */
static bool
is_multiline(const char *key)
{
	static const char *const keys[] = { "diffstat", "summary",
	    "instruction", "error", "body", "diff_hunk" };
	size_t i;

	for (i = 0; key != NULL && i < nitems(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

/* On a terminal, every string in o and below it escaped, each on one
 * line but those is_multiline names: titles, logins and the agent's words
 * can hold escape sequences. */
static void
escape_tree(cJSON *o)
{
	cJSON *c, *next, *n;
	char *esc;

	for (c = o ? o->child : NULL; c != NULL; c = next) {
		next = c->next;
		if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
			escape_tree(c);
			continue;
		}
		if (!cJSON_IsString(c))
			continue;
		esc = text_term_escape(c->valuestring, strlen(c->valuestring),
		    is_multiline(c->string) ? 0 : TEXT_ESC_LINE, NULL);
		n = cJSON_CreateString(esc);
		free(esc);
		if (cJSON_IsObject(o))
			cJSON_ReplaceItemInObjectCaseSensitive(o, c->string, n);
		else
			cJSON_ReplaceItemViaPointer(o, c, n);
	}
}

/* A time as `jobs --json` gives it: RFC 3339, or null for 0 (not yet). */
static void
add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[32];

	if (ms == 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	util_time_rfc3339(ms, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void
add_text(cJSON *o, const char *key, const char *v)
{
	if (v == NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, v);
}

/* Whether a job of `jobs --json` or `show --json` is `handoff run`'s. */
static bool
is_local(const cJSON *j)
{
	return strcmp(str(j, "forge"), forge_name(FORGE_LOCAL)) == 0;
}

/* The fields `jobs --json` promises (INTERFACE.md). */
static cJSON *
row_json(const struct store_job_row *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)r->id);
	add_text(o, "forge", forge_name(r->forge));
	add_text(o, "repo", r->repo);
	/* A local run's thread counts runs; it is no issue's number. */
	if (r->forge == FORGE_LOCAL)
		cJSON_AddNullToObject(o, "number");
	else
		cJSON_AddNumberToObject(o, "number", (double)r->number);
	add_text(o, "kind", job_kind_name(r->kind));
	add_text(o, "state", job_state_name(r->state));
	add_text(o, "step", r->step);
	add_time(o, "created_at", r->created_at);
	add_time(o, "started_at", r->started_at);
	add_time(o, "finished_at", r->finished_at);
	add_text(o, "branch", r->branch);
	add_text(o, "pr_url", r->pr_url);
	add_text(o, "requested_by", r->requested_by);
	return o;
}

/* Review comments kept as a JSON array, or a new empty array. */
static cJSON *
comments_json(const char *text)
{
	cJSON *c = text ? cJSON_Parse(text) : NULL;

	if (cJSON_IsArray(c))
		return c;
	cJSON_Delete(c);
	return cJSON_CreateArray();
}

/* The job's requests for `show`, each with its verdict ("unchecked" until
 * the forge is asked). With any, o's instruction and review comments
 * become what the job is given: those of the requests not refused. */
static void
add_requests(cJSON *o, const struct store_job_detail *d)
{
	const struct job_request *q;
	cJSON *arr, *r, *given;
	const cJSON *c;
	char *text = NULL, *next;
	size_t i;

	arr = cJSON_AddArrayToObject(o, "requests");
	given = cJSON_CreateArray();
	for (i = 0; i < d->nrequests; i++) {
		q = &d->requests[i];
		r = cJSON_CreateObject();
		add_text(r, "author", q->author);
		cJSON_AddNumberToObject(r, "author_id", (double)q->author_id);
		add_text(r, "association", q->association);
		add_text(r, "on", job_on_name(q->trigger_on));
		cJSON_AddNumberToObject(r, "trigger_id", (double)q->trigger_id);
		add_text(r, "text", q->text);
		cJSON_AddItemToObject(r, "review_comments",
		    comments_json(q->context));
		cJSON_AddStringToObject(r, "verdict", q->verdict ? q->verdict :
		    "unchecked");
		cJSON_AddBoolToObject(r, "repeat", q->is_repeat);
		add_time(r, "created_at", q->created_at);
		add_time(r, "checked_at", q->checked_at);
		cJSON_AddItemToArray(arr, r);
		if (q->verdict != NULL && strcmp(q->verdict, "refused") == 0)
			continue;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "review_comments"))
			cJSON_AddItemToArray(given, cJSON_Duplicate(c, 1));
		if (q->text == NULL)
			continue;
		next = text ? xasprintf("%s\n\n%s", text, q->text) :
		    xstrdup(q->text);
		free(text);
		text = next;
	}
	if (d->nrequests > 0) {
		cJSON_ReplaceItemInObject(o, "instruction", text ?
		    cJSON_CreateString(text) : cJSON_CreateNull());
		cJSON_ReplaceItemInObject(o, "review_comments", given);
	} else
		cJSON_Delete(given);
	free(text);
}

/* The figures of one usage row into o. */
static void
usage_fields(cJSON *o, const struct store_usage *u)
{
	cJSON_AddNumberToObject(o, "requests", (double)u->requests);
	cJSON_AddNumberToObject(o, "input_tokens", (double)u->input_tokens);
	cJSON_AddNumberToObject(o, "output_tokens", (double)u->output_tokens);
	cJSON_AddNumberToObject(o, "cache_read_tokens",
	    (double)u->cache_read_tokens);
	cJSON_AddNumberToObject(o, "cache_write_tokens",
	    (double)u->cache_write_tokens);
	if (u->cost_micros < 0)
		cJSON_AddNullToObject(o, "cost");
	else
		cJSON_AddNumberToObject(o, "cost",
		    (double)u->cost_micros / 1e6);
}

/* "usage": the job's totals, and "models": the same per model. */
static void
add_usage(cJSON *o, const struct store_job_detail *d)
{
	struct store_usage sum;
	cJSON *u, *arr, *m;
	size_t i;

	store_usage_sum(d->usage, d->nusage, &sum);
	u = cJSON_AddObjectToObject(o, "usage");
	usage_fields(u, &sum);
	arr = cJSON_AddArrayToObject(u, "models");
	for (i = 0; i < d->nusage; i++) {
		m = cJSON_CreateObject();
		add_text(m, "model", d->usage[i].model);
		usage_fields(m, &d->usage[i]);
		cJSON_AddItemToArray(arr, m);
	}
}

/* "egress": each connection the agent attempted. */
static void
add_egress(cJSON *o, const struct store_job_detail *d)
{
	const struct store_egress *e;
	cJSON *arr = cJSON_AddArrayToObject(o, "egress"), *c;
	size_t i;

	for (i = 0; i < d->negress; i++) {
		e = &d->egress[i];
		c = cJSON_CreateObject();
		add_text(c, "host", e->host);
		cJSON_AddNumberToObject(c, "port", e->port);
		add_text(c, "address", e->address);
		cJSON_AddBoolToObject(c, "allowed", e->allowed);
		add_text(c, "reason", e->reason);
		cJSON_AddNumberToObject(c, "bytes_in", (double)e->bytes_in);
		cJSON_AddNumberToObject(c, "bytes_out", (double)e->bytes_out);
		cJSON_AddNumberToObject(c, "duration_ms",
		    (double)e->duration_ms);
		add_time(c, "at", e->at);
		cJSON_AddItemToArray(arr, c);
	}
}

/* `show --json`: the job with its thread, steps, requests, deliveries,
 * model usage and connections. Caller deletes. */
static cJSON *
detail_json(const struct store_job_detail *d)
{
	cJSON *o = row_json(&d->row), *arr, *e;
	cJSON *ctx = d->context ? cJSON_Parse(d->context) : NULL;
	size_t i;

	add_text(o, "title", d->title);
	add_text(o, "instruction", d->instruction);
	cJSON_AddItemToObject(o, "review_comments", ctx ? ctx :
	    cJSON_CreateArray());
	add_text(o, "result", d->result);
	add_text(o, "error", d->error);
	if (d->pr_number == 0)
		cJSON_AddNullToObject(o, "pr_number");
	else
		cJSON_AddNumberToObject(o, "pr_number", (double)d->pr_number);
	add_text(o, "thread_state", d->thread_state);
	add_text(o, "base_commit", d->base_commit);
	add_text(o, "head_commit", d->head_commit);
	add_text(o, "summary", d->summary);
	add_text(o, "diffstat", d->diffstat);
	cJSON_AddNumberToObject(o, "attempts", (double)d->attempts);
	arr = cJSON_AddArrayToObject(o, "steps");
	for (i = 0; i < d->nsteps; i++) {
		e = cJSON_CreateObject();
		add_text(e, "step", d->steps[i].step);
		add_time(e, "started_at", d->steps[i].started_at);
		add_time(e, "finished_at", d->steps[i].finished_at);
		add_text(e, "detail", d->steps[i].detail);
		cJSON_AddItemToArray(arr, e);
	}
	add_requests(o, d);
	arr = cJSON_AddArrayToObject(o, "deliveries");
	for (i = 0; i < d->ndeliveries; i++) {
		e = cJSON_CreateObject();
		add_text(e, "delivery", d->deliveries[i].delivery);
		add_text(e, "event", d->deliveries[i].event);
		add_time(e, "received_at", d->deliveries[i].received_at);
		add_text(e, "verdict", d->deliveries[i].verdict);
		cJSON_AddItemToArray(arr, e);
	}
	add_usage(o, d);
	add_egress(o, d);
	return o;
}

cJSON *
report_jobs_json(struct store *st, const char *state, int limit)
{
	struct store_job_row *rows;
	struct store_usage *u, sum;
	enum job_state want;
	cJSON *arr, *o;
	size_t i, n, nu;

	/* A state no job can be in lists none. */
	if (state != NULL && job_state_parse(state, &want) == -1)
		return cJSON_CreateArray();
	if (store_jobs_list(st, state ? &want : NULL, limit, &rows,
	    &n) == -1)
		return NULL;
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		o = row_json(&rows[i]);
		/* What the job's agent used, in all. */
		if (store_usage_of(st, rows[i].id, &u, &nu) == -1) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			store_job_rows_free(rows, n);
			return NULL;
		}
		store_usage_sum(u, nu, &sum);
		store_usage_free(u, nu);
		usage_fields(cJSON_AddObjectToObject(o, "usage"), &sum);
		cJSON_AddItemToArray(arr, o);
	}
	store_job_rows_free(rows, n);
	return arr;
}

cJSON *
report_job_json(struct store *st, int64_t id, bool *found)
{
	struct store_job_detail d;
	cJSON *o;
	int rc;

	/* An error reads as absent, as it always has. */
	*found = false;
	if ((rc = store_job_show(st, id, &d)) != 1)
		return NULL;
	*found = true;
	o = detail_json(&d);
	store_job_detail_clear(&d);
	return o;
}

#define JOBS_USAGE	"jobs [--json] [--state STATE] [--limit N]"

struct store *
report_open_store(const struct config *cfg)
{
	char err[512], *db = xasprintf("%s/handoff.db", cfg->data_dir);
	struct store *st = NULL;
	struct stat sb;

	/* store_open would make one: a mistyped -c must not. */
	if (stat(db, &sb) == -1)
		fprintf(stderr, "handoff: no store at %s: %s\n", db,
		    errno == ENOENT ? "has serve run with this config?" :
		    strerror(errno));
	else if ((st = store_open(cfg->data_dir, err, sizeof(err))) == NULL)
		fprintf(stderr, "handoff: %s\n", err);
	free(db);
	return st;
}

int
report_usage_error(const char *command, const char *usage,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "handoff: %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: handoff %s\n", usage);
	return 2;
}

/* "queued, running, ...": every state --state takes. */
static void
state_names(char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; o < len && strcmp(job_state_name((enum job_state)i),
	    "?") != 0; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
		    job_state_name((enum job_state)i));
}

int
report_jobs(const struct config *cfg, int argc, char **argv)
{
	const char *state = NULL;
	enum job_state want;
	char names[128];
	long long limit = 50;
	int i, is_json = 0;
	struct store *st;
	const cJSON *j;
	cJSON *arr;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			is_json = 1;
		else if ((strcmp(argv[i], "--state") == 0 ||
		    strcmp(argv[i], "--limit") == 0) && i + 1 == argc)
			return report_usage_error("jobs", JOBS_USAGE,
			    "%s needs a value", argv[i]);
		else if (strcmp(argv[i], "--state") == 0) {
			state = argv[++i];
			if (job_state_parse(state, &want) == -1) {
				state_names(names, sizeof(names));
				return report_usage_error("jobs", JOBS_USAGE,
				    "--state: no state \"%.60s\"; expected "
				    "one of %s", state, names);
			}
		} else if (strcmp(argv[i], "--limit") == 0) {
			if (util_parse_int(argv[++i], 1, 1000000, &limit) == -1)
				return report_usage_error("jobs", JOBS_USAGE,
				    "--limit: expected a number from 1 to "
				    "1000000, got \"%.60s\"", argv[i]);
		} else
			return report_usage_error("jobs", JOBS_USAGE,
			    "unexpected argument \"%.60s\"", argv[i]);
	}
	if ((st = report_open_store(cfg)) == NULL)
		return 1;
	if ((arr = report_jobs_json(st, state, (int)limit)) == NULL) {
		fprintf(stderr, "handoff: %s\n", store_error(st));
		store_close(st);
		return 1;
	}
	if (is_json)
		print_json(arr);
	else {
		if (text_is_terminal(stdout))
			escape_tree(arr);
		printf("%-6s %-10s %-10s %-9s %-7s %-32s %-16s %s\n", "JOB",
		    "STATE", "STEP", "KIND", "FORGE", "ISSUE", "REQUESTED BY",
		    "CREATED");
		cJSON_ArrayForEach(j, arr) {
			char *issue = is_local(j) ? xstrdup(str(j, "repo")) :
			    xasprintf("%s#%lld", str(j, "repo"),
			    num(j, "number"));
			printf("%-6lld %-10s %-10s %-9s %-7s %-32s %-16s %s\n",
			    num(j, "id"), str(j, "state"), str(j, "step"),
			    str(j, "kind"), str(j, "forge"), issue,
			    str(j, "requested_by"), str(j, "created_at"));
			free(issue);
		}
	}
	cJSON_Delete(arr);
	store_close(st);
	return 0;
}

/* What a request was made on, in words. */
static const char *
on_name(const char *on)
{
	if (strcmp(on, "pr") == 0)
		return "pull request";
	if (strcmp(on, "review_comment") == 0)
		return "diff (inline comment)";
	return on;	/* issue, review, ci */
}

/* "usage: 14 requests · 183k tokens in, 9k out · ≈ $0.71", when the
 * agent asked the model anything through the gateway. */
static void
print_usage(const cJSON *u)
{
	char line[128];
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(u, "cost");

	if (num(u, "requests") <= 0)
		return;
	usage_line(num(u, "requests"), num(u, "input_tokens") +
	    num(u, "cache_read_tokens") + num(u, "cache_write_tokens"),
	    num(u, "output_tokens"), cJSON_IsNumber(cost) ?
	    (int64_t)(cost->valuedouble * 1e6 + 0.5) : -1, line, sizeof(line));
	printf("usage:        %s\n", line);
}

/* The connections the agent attempted: a count, and each refusal. */
static void
print_egress(const cJSON *arr)
{
	const cJSON *c;
	int n = 0, refused = 0;

	cJSON_ArrayForEach(c, arr) {
		n++;
		refused += !cJSON_IsTrue(cJSON_GetObjectItem(c, "allowed"));
	}
	if (n == 0)
		return;
	printf("egress:       %d connection%s, %d refused\n", n,
	    n == 1 ? "" : "s", refused);
	cJSON_ArrayForEach(c, arr)
		if (!cJSON_IsTrue(cJSON_GetObjectItem(c, "allowed")))
			printf("  blocked: %s:%lld, %s\n", str(c, "host"),
			    num(c, "port"), str(c, "reason"));
}

static void
print_job(const cJSON *j)
{
	const cJSON *steps, *s, *rc, *c, *reqs, *r;

	if (is_local(j))
		printf("job %lld: %s, local run in %s", num(j, "id"),
		    str(j, "kind"), str(j, "repo"));
	else
		printf("job %lld: %s on %s %s#%lld", num(j, "id"),
		    str(j, "kind"), str(j, "forge"), str(j, "repo"),
		    num(j, "number"));
	if (strcmp(str(j, "title"), "-") != 0)
		printf(" \"%s\"", str(j, "title"));
	printf("\nstate:        %s (step %s)\n", str(j, "state"),
	    str(j, "step"));
	printf("branch:       %s\n", str(j, "branch"));
	printf("requested by: %s\n", str(j, "requested_by"));
	printf("created:      %s\n", str(j, "created_at"));
	printf("started:      %s\n", str(j, "started_at"));
	printf("finished:     %s\n", str(j, "finished_at"));
	printf("pull request: %s\n", str(j, "pr_url"));
	if (strcmp(str(j, "result"), "-") != 0)
		printf("result:       %s\n", str(j, "result"));
	if (strcmp(str(j, "error"), "-") != 0)
		printf("error:        %s\n", str(j, "error"));
	if (strcmp(str(j, "head_commit"), "-") != 0)
		printf("commit:       %s (on %.12s)\n", str(j, "head_commit"),
		    str(j, "base_commit"));
	if (strcmp(str(j, "diffstat"), "-") != 0 && *str(j, "diffstat"))
		printf("diffstat:\n%s", str(j, "diffstat"));
	if (strcmp(str(j, "summary"), "-") != 0 && *str(j, "summary"))
		printf("summary:\n%s%s", str(j, "summary"),
		    str(j, "summary")[strlen(str(j, "summary")) - 1] == '\n' ?
		    "" : "\n");
	print_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"));
	print_egress(cJSON_GetObjectItemCaseSensitive(j, "egress"));
	steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
	printf("steps:%s\n", cJSON_GetArraySize(steps) ? "" : "        none run yet");
	cJSON_ArrayForEach(s, steps)
		printf("  %-12s %s .. %s%s%s\n", str(s, "step"),
		    str(s, "started_at"), str(s, "finished_at"),
		    strcmp(str(s, "detail"), "-") ? "  " : "",
		    strcmp(str(s, "detail"), "-") ? str(s, "detail") : "");
	reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
	if (cJSON_GetArraySize(reqs) == 0 &&
	    strcmp(str(j, "instruction"), "-") != 0)
		printf("instructions:\n%s\n", str(j, "instruction"));
	if (cJSON_GetArraySize(reqs) > 0)
		printf("requests:\n");
	cJSON_ArrayForEach(r, reqs) {
		printf("  by %s on the %s%s: %s%s\n", str(r, "author"),
		    on_name(str(r, "on")), cJSON_IsTrue(cJSON_GetObjectItem(r,
		    "repeat")) ? " (repeated by the retry)" : "",
		    str(r, "verdict"), strcmp(str(r, "verdict"), "refused") ==
		    0 ? ": may not write, left out" : "");
		if (strcmp(str(r, "text"), "-") != 0)
			printf("%s\n", str(r, "text"));
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r,
		    "review_comments"))
			printf("review comment by %s on %s:%lld:\n%s\n",
			    str(c, "author"), str(c, "path"), num(c, "line"),
			    str(c, "body"));
	}
	if (cJSON_GetArraySize(reqs) > 0)
		return;
	rc = cJSON_GetObjectItemCaseSensitive(j, "review_comments");
	cJSON_ArrayForEach(c, rc)
		printf("review comment by %s on %s:%lld:\n%s\n",
		    str(c, "author"), str(c, "path"), num(c, "line"),
		    str(c, "body"));
}

int
report_show(const struct config *cfg, int argc, char **argv)
{
	long long id = -1;
	int i, is_json = 0, status = 1;
	struct store *st;
	bool found;
	cJSON *j;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			is_json = 1;
		else if (id < 0 && util_parse_int(argv[i], 1, INT64_MAX,
		    &id) == 0)
			;
		else
			return report_usage_error("show", "show JOB [--json]",
			    "%s \"%.60s\"", id < 0 && argv[i][0] != '-' ?
			    "expected a job number, got" :
			    "unexpected argument", argv[i]);
	}
	if (id < 0)
		return report_usage_error("show", "show JOB [--json]",
		    "expected a job number");
	if ((st = report_open_store(cfg)) == NULL)
		return 1;
	j = report_job_json(st, id, &found);
	if (j == NULL) {
		if (found)
			fprintf(stderr, "handoff: %s\n", store_error(st));
		else
			fprintf(stderr, "handoff: no job %lld\n", id);
		goto out;
	}
	if (is_json)
		print_json(j);
	else {
		if (text_is_terminal(stdout))
			escape_tree(j);
		print_job(j);
	}
	cJSON_Delete(j);
	status = 0;
out:
	store_close(st);
	return status;
}
