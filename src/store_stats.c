/*
 * The store's figures for /metrics: jobs by state, durations of jobs, steps
 * and agent runs as histograms, model usage per provider and model,
 * refused connections by reason, and the counters of the runners' forge
 * requests (added by store_forge_add).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

const double store_bucket_bounds[STORE_BUCKETS] = {
	0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600
};

/* The columns of a histogram over durations d (seconds): count, sum, and
 * one per bound. Caller frees. */
static char *
histogram_columns(void)
{
	char *cols = xstrdup("count(*), total(d)"), *next;
	size_t i;

	for (i = 0; i < STORE_BUCKETS; i++) {
		next = xasprintf("%s, total(d <= %g)", cols,
		    store_bucket_bounds[i]);
		free(cols);
		cols = next;
	}
	return cols;
}

/* A histogram from its columns at column i on. */
static void
histogram_read(sqlite3_stmt *s, int i, struct store_histogram *h)
{
	size_t b;

	h->count = sqlite3_column_int64(s, i);
	h->sum = sqlite3_column_double(s, i + 1);
	for (b = 0; b < STORE_BUCKETS; b++)
		h->le[b] = sqlite3_column_int64(s, i + 2 + (int)b);
}

/* One histogram of "SELECT ... AS d" (the durations in seconds). */
static int
histogram(struct store *st, const char *durations, struct store_histogram *h)
{
	char *cols = histogram_columns();
	char *sql = xasprintf("SELECT %s FROM (%s)", cols, durations);
	sqlite3_stmt *s = store_prepare(st, sql);
	int rc = -1;

	free(sql);
	free(cols);
	if (s == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW) {
		histogram_read(s, 0, h);
		rc = 0;
	} else
		store_fail(st, "durations");
	sqlite3_finalize(s);
	return rc;
}

static int
job_counts(struct store *st, struct store_stats *out)
{
	sqlite3_stmt *s;
	enum job_state state;
	int rc;

	if ((s = store_prepare(st, "SELECT state, count(*) FROM jobs"
	    " GROUP BY state")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(s, 1);

		if (job_state_parse((const char *)sqlite3_column_text(s, 0),
		    &state) == -1)
			continue;
		if (state == JOB_QUEUED)
			out->jobs_queued = n;
		else if (state == JOB_RUNNING)
			out->jobs_running = n;
		else if (state == JOB_DONE)
			out->jobs_done = n;
		else if (state == JOB_FAILED)
			out->jobs_failed = n;
		else
			out->jobs_cancelled = n;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "job counts");
}

/* Each step's ended rows; an acknowledgement serve closed because its
 * runner never came back did not run to its end. */
static int
step_durations(struct store *st, struct store_stats *out)
{
	char *cols = histogram_columns();
	char *sql = xasprintf("SELECT step, %s FROM (SELECT step,"
	    " (finished_at - started_at) / 1000.0 AS d FROM job_steps"
	    " WHERE finished_at IS NOT NULL"
	    " AND detail IS NOT 'not acknowledged') GROUP BY step", cols);
	sqlite3_stmt *s = store_prepare(st, sql);
	enum job_step step;
	int rc;

	free(sql);
	free(cols);
	if (s == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((step = job_step_parse((const char *)
		    sqlite3_column_text(s, 0))) != JOB_STEP_NONE)
			histogram_read(s, 1, &out->steps[step]);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "step durations");
}

/* Add u's figures to into's (cost as store_usage_sum adds it). */
static void
usage_add(struct store_usage *into, const struct store_usage *u)
{
	into->requests += u->requests;
	into->input_tokens += u->input_tokens;
	into->output_tokens += u->output_tokens;
	into->cache_read_tokens += u->cache_read_tokens;
	into->cache_write_tokens += u->cache_write_tokens;
	if (u->cost_micros >= 0)
		into->cost_micros = (into->cost_micros < 0 ? 0 :
		    into->cost_micros) + u->cost_micros;
}

/* The provider's entry for the models past the bound, made when first
 * needed. */
static struct store_usage *
other_model(struct store_stats *out, const char *provider)
{
	struct store_usage *u;
	size_t i;

	for (i = 0; i < out->nusage; i++)
		if (strcmp(out->usage[i].model, STORE_OTHER_MODEL) == 0 &&
		    strcmp(out->usage[i].provider, provider) == 0)
			return &out->usage[i];
	out->usage = xrealloc(out->usage, (out->nusage + 1) *
	    sizeof(*out->usage));
	u = &out->usage[out->nusage++];
	memset(u, 0, sizeof(*u));
	u->provider = xstrdup(provider);
	u->model = xstrdup(STORE_OTHER_MODEL);
	u->cost_micros = -1;
	return u;
}

/* Usage per provider and model, most requests first, bounded: a model
 * past STORE_STATS_MODELS (or named as the rest are) joins the rest. */
static int
usage_per_model(struct store *st, struct store_stats *out)
{
	struct store_usage u = { 0 }, *into;
	sqlite3_stmt *s;
	const char *provider, *model;
	size_t kept = 0;
	int rc;

	if ((s = store_prepare(st, "SELECT provider, model," USAGE_SUMS
	    " FROM usage GROUP BY provider, model"
	    " ORDER BY count(*) DESC, provider, model")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((provider = (const char *)sqlite3_column_text(s,
		    0)) == NULL)
			provider = "";
		if ((model = (const char *)sqlite3_column_text(s, 1)) == NULL)
			model = "";
		store_usage_read(s, 2, &u);
		if (kept == STORE_STATS_MODELS ||
		    strcmp(model, STORE_OTHER_MODEL) == 0) {
			usage_add(other_model(out, provider), &u);
			continue;
		}
		out->usage = xrealloc(out->usage, (out->nusage + 1) *
		    sizeof(*out->usage));
		into = &out->usage[out->nusage++];
		*into = u;
		into->provider = xstrdup(provider);
		into->model = xstrdup(model);
		kept++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "usage per model");
}

static int
egress_counts(struct store *st, struct store_stats *out)
{
	struct store_reason_count *r;
	sqlite3_stmt *s;
	int rc;

	if ((s = store_prepare(st, "SELECT total(allowed), total(NOT allowed)"
	    " FROM egress")) == NULL)
		return -1;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->egress_allowed = sqlite3_column_int64(s, 0);
		out->egress_refused = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, "connection counts");
	if ((s = store_prepare(st, "SELECT coalesce(reason, ''), count(*)"
	    " FROM egress WHERE NOT allowed GROUP BY 1 ORDER BY 1")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->refusals = xrealloc(out->refusals, (out->nrefusals + 1) *
		    sizeof(*out->refusals));
		r = &out->refusals[out->nrefusals++];
		r->reason = store_column_dup(s, 0);
		r->connections = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "refusals");
}

static int
forge_counts(struct store *st, struct store_stats *out)
{
	struct store_forge_count *c;
	struct store_forge_waits *w;
	sqlite3_stmt *s;
	int rc;

	if ((s = store_prepare(st, "SELECT forge, route, status, requests"
	    " FROM forge_requests ORDER BY forge, route, status")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->forge = xrealloc(out->forge, (out->nforge + 1) *
		    sizeof(*out->forge));
		c = &out->forge[out->nforge++];
		snprintf(c->forge, sizeof(c->forge), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		snprintf(c->route, sizeof(c->route), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		c->status = sqlite3_column_int(s, 2);
		c->requests = sqlite3_column_int64(s, 3);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "forge requests");
	if ((s = store_prepare(st, "SELECT forge, retries, rate_limit_waits,"
	    " rate_limit_wait_ms FROM forge_waits ORDER BY forge")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->waits = xrealloc(out->waits, (out->nwaits + 1) *
		    sizeof(*out->waits));
		w = &out->waits[out->nwaits++];
		snprintf(w->forge, sizeof(w->forge), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		w->retries = sqlite3_column_int64(s, 1);
		w->rate_limit_waits = sqlite3_column_int64(s, 2);
		w->rate_limit_wait_ms = sqlite3_column_int64(s, 3);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "forge waits");
}

int
store_stats(struct store *st, struct store_stats *out)
{
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* One snapshot: the figures agree with each other. */
	if (store_sql(st, "BEGIN", "begin reading figures") == -1)
		return -1;
	if (job_counts(st, out) == -1 ||
	    histogram(st, "SELECT (finished_at - started_at) / 1000.0 AS d"
	    " FROM jobs WHERE started_at IS NOT NULL"
	    " AND finished_at IS NOT NULL", &out->job_duration) == -1 ||
	    step_durations(st, out) == -1 ||
	    histogram(st, "SELECT (s.finished_at - s.started_at) / 1000.0"
	    " AS d FROM job_steps s WHERE s.step = 'sandbox'"
	    " AND s.finished_at IS NOT NULL UNION ALL"
	    " SELECT (j.finished_at - s.started_at) / 1000.0 FROM job_steps s"
	    " JOIN jobs j ON j.id = s.job_id WHERE s.step = 'sandbox'"
	    " AND s.finished_at IS NULL AND j.finished_at IS NOT NULL"
	    " AND s.id = (SELECT max(x.id) FROM job_steps x"
	    " WHERE x.job_id = s.job_id)", &out->agent_run) == -1 ||
	    usage_per_model(st, out) == -1 ||
	    egress_counts(st, out) == -1 ||
	    forge_counts(st, out) == -1)
		goto out;
	rc = 0;
out:
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == -1)
		store_stats_clear(out);
	return rc;
}

void
store_stats_clear(struct store_stats *s)
{
	size_t i;

	store_usage_free(s->usage, s->nusage);
	for (i = 0; i < s->nrefusals; i++)
		free(s->refusals[i].reason);
	free(s->refusals);
	free(s->forge);
	free(s->waits);
	memset(s, 0, sizeof(*s));
}

int
store_forge_add(struct store *st, const struct store_forge_count *counts,
    size_t n, const struct store_forge_waits *waits)
{
	sqlite3_stmt *s;
	size_t i;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin counting requests") == -1)
		return -1;
	for (i = 0; i < n; i++) {
		s = store_prepare(st, "INSERT INTO forge_requests (forge, route,"
		    " status, requests) VALUES (?1, ?2, ?3, ?4)"
		    " ON CONFLICT (forge, route, status) DO UPDATE"
		    " SET requests = requests + excluded.requests");
		if (s) {
			store_bind_text(s, 1, counts[i].forge);
			store_bind_text(s, 2, counts[i].route);
			sqlite3_bind_int(s, 3, counts[i].status);
			sqlite3_bind_int64(s, 4, counts[i].requests);
		}
		if (store_run(st, s, "count forge requests") == -1)
			goto fail;
	}
	s = store_prepare(st, "INSERT INTO forge_waits (forge, retries,"
	    " rate_limit_waits, rate_limit_wait_ms) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (forge) DO UPDATE SET"
	    " retries = retries + excluded.retries,"
	    " rate_limit_waits = rate_limit_waits + excluded.rate_limit_waits,"
	    " rate_limit_wait_ms = rate_limit_wait_ms"
	    " + excluded.rate_limit_wait_ms");
	if (s) {
		store_bind_text(s, 1, waits->forge);
		sqlite3_bind_int64(s, 2, waits->retries);
		sqlite3_bind_int64(s, 3, waits->rate_limit_waits);
		sqlite3_bind_int64(s, 4, waits->rate_limit_wait_ms);
	}
	if (store_run(st, s, "count forge waits") == -1)
		goto fail;
	return store_sql(st, "COMMIT", "commit forge counts");
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
