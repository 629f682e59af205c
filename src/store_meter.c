/*
 * What a job's agent used: one row per model request the gateway forwarded
 * (tokens and their cost) and one per connection the proxy was asked for.
 * Read back for `handoff show`, the status comment and the budgets.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

int
store_usage_add(struct store *st, int64_t job, const struct store_usage *u)
{
	sqlite3_stmt *s;

	s = store_prepare(st, "INSERT INTO usage (job_id, model, input_tokens,"
	    " output_tokens, cache_read_tokens, cache_write_tokens,"
	    " cost_micros, at, provider) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	    " ?8, ?9)");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, u->model ? u->model : "");
		sqlite3_bind_int64(s, 3, u->input_tokens);
		sqlite3_bind_int64(s, 4, u->output_tokens);
		sqlite3_bind_int64(s, 5, u->cache_read_tokens);
		sqlite3_bind_int64(s, 6, u->cache_write_tokens);
		if (u->cost_micros >= 0)
			sqlite3_bind_int64(s, 7, u->cost_micros);
		else
			sqlite3_bind_null(s, 7);
		sqlite3_bind_int64(s, 8, util_now_ms());
		store_bind_text(s, 9, u->provider ? u->provider : "unknown");
	}
	return store_run(st, s, "record usage");
}

void
store_usage_read(sqlite3_stmt *s, int i, struct store_usage *u)
{
	u->requests = sqlite3_column_int64(s, i);
	u->input_tokens = sqlite3_column_int64(s, i + 1);
	u->output_tokens = sqlite3_column_int64(s, i + 2);
	u->cache_read_tokens = sqlite3_column_int64(s, i + 3);
	u->cache_write_tokens = sqlite3_column_int64(s, i + 4);
	/* A model with no price has no cost, and adds none. */
	u->cost_micros = sqlite3_column_int64(s, i + 6) > 0 ?
	    sqlite3_column_int64(s, i + 5) : -1;
}

int
store_usage_of(struct store *st, int64_t job, struct store_usage **list,
    size_t *n)
{
	sqlite3_stmt *s;
	struct store_usage *u;
	int rc;

	*list = NULL;
	*n = 0;
	if ((s = store_prepare(st, "SELECT model," USAGE_SUMS " FROM usage"
	    " WHERE job_id = ?1 GROUP BY model ORDER BY model")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*list = xrealloc(*list, (*n + 1) * sizeof(**list));
		u = &(*list)[(*n)++];
		memset(u, 0, sizeof(*u));
		u->model = store_column_dup(s, 0);
		store_usage_read(s, 1, u);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_usage_free(*list, *n);
		*list = NULL;
		*n = 0;
		return store_fail(st, "read usage");
	}
	return 0;
}

void
store_usage_free(struct store_usage *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].provider);
		free(list[i].model);
	}
	free(list);
}

void
store_usage_sum(const struct store_usage *list, size_t n,
    struct store_usage *sum)
{
	size_t i;

	memset(sum, 0, sizeof(*sum));
	sum->cost_micros = -1;
	for (i = 0; i < n; i++) {
		sum->requests += list[i].requests;
		sum->input_tokens += list[i].input_tokens;
		sum->output_tokens += list[i].output_tokens;
		sum->cache_read_tokens += list[i].cache_read_tokens;
		sum->cache_write_tokens += list[i].cache_write_tokens;
		if (list[i].cost_micros >= 0)
			sum->cost_micros = (sum->cost_micros < 0 ? 0 :
			    sum->cost_micros) + list[i].cost_micros;
	}
}

int
store_usage_since(struct store *st, const char *repo, int64_t since_ms,
    struct store_usage *sum)
{
	sqlite3_stmt *s;
	int rc;

	memset(sum, 0, sizeof(*sum));
	if ((s = store_prepare(st, "SELECT" USAGE_SUMS " FROM usage u"
	    " WHERE u.at >= ?1 AND (?2 IS NULL OR u.job_id IN (SELECT j.id"
	    " FROM jobs j JOIN threads t ON t.id = j.thread_id"
	    " WHERE t.repo = ?2))")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, since_ms);
	store_bind_text(s, 2, repo);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		store_usage_read(s, 0, sum);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "sum usage");
}

int
store_egress_add(struct store *st, int64_t job, const struct store_egress *e)
{
	sqlite3_stmt *s;

	s = store_prepare(st, "INSERT INTO egress (job_id, host, port, address,"
	    " allowed, reason, bytes_in, bytes_out, duration_ms, at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, e->host ? e->host : "");
		sqlite3_bind_int(s, 3, e->port);
		store_bind_text(s, 4, e->address);
		sqlite3_bind_int(s, 5, e->allowed);
		store_bind_text(s, 6, e->reason);
		sqlite3_bind_int64(s, 7, e->bytes_in);
		sqlite3_bind_int64(s, 8, e->bytes_out);
		sqlite3_bind_int64(s, 9, e->duration_ms);
		sqlite3_bind_int64(s, 10, e->at ? e->at : util_now_ms());
	}
	return store_run(st, s, "record a connection");
}

int
store_egress_of(struct store *st, int64_t job, struct store_egress **list,
    size_t *n)
{
	sqlite3_stmt *s;
	struct store_egress *e;
	int rc;

	*list = NULL;
	*n = 0;
	if ((s = store_prepare(st, "SELECT host, port, address, allowed,"
	    " reason, bytes_in, bytes_out, duration_ms, at FROM egress"
	    " WHERE job_id = ?1 ORDER BY id")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*list = xrealloc(*list, (*n + 1) * sizeof(**list));
		e = &(*list)[(*n)++];
		e->host = store_column_dup(s, 0);
		e->port = sqlite3_column_int(s, 1);
		e->address = store_column_dup(s, 2);
		e->allowed = sqlite3_column_int(s, 3) != 0;
		e->reason = store_column_dup(s, 4);
		e->bytes_in = sqlite3_column_int64(s, 5);
		e->bytes_out = sqlite3_column_int64(s, 6);
		e->duration_ms = sqlite3_column_int64(s, 7);
		e->at = sqlite3_column_int64(s, 8);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_egress_free(*list, *n);
		*list = NULL;
		*n = 0;
		return store_fail(st, "read connections");
	}
	return 0;
}

void
store_egress_free(struct store_egress *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].host);
		free(list[i].address);
		free(list[i].reason);
	}
	free(list);
}
