/*
 * The store's reads for the command line and the status pages: the jobs
 * `handoff jobs` and the pages list, and the one `handoff show` and a job's
 * page tell, as plain rows (report.c and pages.c show them).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

#define JOB_COLUMNS \
	"j.id, t.forge, t.repo, t.number, j.kind, j.state, j.step," \
	" coalesce(j.created_at, 0), coalesce(j.started_at, 0)," \
	" coalesce(j.finished_at, 0), t.branch, t.pr_url, j.requested_by," \
	" t.title, j.instruction, j.context, j.result, j.error," \
	" coalesce(t.pr_number, 0), t.state, j.base_commit, j.head_commit," \
	" j.summary, j.diffstat, j.attempts, t.clone_url, t.id"

static void
row_clear(struct store_job_row *r)
{
	free(r->repo);
	free(r->step);
	free(r->branch);
	free(r->pr_url);
	free(r->requested_by);
	memset(r, 0, sizeof(*r));
}

/* The fields `jobs` lists, from a row of JOB_COLUMNS: 0, or -1 when it
 * holds a forge, kind or state this handoff does not know. */
static int
row_read(sqlite3_stmt *s, struct store_job_row *r)
{
	memset(r, 0, sizeof(*r));
	if (job_forge_parse((const char *)sqlite3_column_text(s, 1),
	    &r->forge) == -1 ||
	    job_kind_parse((const char *)sqlite3_column_text(s, 4),
	    &r->kind) == -1 ||
	    job_state_parse((const char *)sqlite3_column_text(s, 5),
	    &r->state) == -1)
		return -1;
	r->id = sqlite3_column_int64(s, 0);
	r->repo = store_column_dup(s, 2);
	r->number = sqlite3_column_int64(s, 3);
	r->step = store_column_dup(s, 6);
	r->created_at = sqlite3_column_int64(s, 7);
	r->started_at = sqlite3_column_int64(s, 8);
	r->finished_at = sqlite3_column_int64(s, 9);
	r->branch = store_column_dup(s, 10);
	r->pr_url = store_column_dup(s, 11);
	r->requested_by = store_column_dup(s, 12);
	return 0;
}

/* "what: unknown text" into the store's error; returns -1. */
static int
unknown(struct store *st, const char *what)
{
	snprintf(st->error, sizeof(st->error), "%s: a forge, kind or state"
	    " this handoff does not know", what);
	return -1;
}

/* Rows of JOB_COLUMNS from s (bound, not stepped yet) into *rows, and
 * with titles (not NULL) each row's title into *titles. Finalizes s.
 * Returns 0, or -1 with nothing kept. */
static int
rows_read(struct store *st, sqlite3_stmt *s, const char *what,
    struct store_job_row **rows, char ***titles, size_t *n)
{
	size_t i;
	int rc;

	*rows = NULL;
	*n = 0;
	if (titles != NULL)
		*titles = NULL;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*rows = xrealloc(*rows, (*n + 1) * sizeof(**rows));
		if (titles != NULL)
			*titles = xrealloc(*titles, (*n + 1) *
			    sizeof(**titles));
		if (row_read(s, &(*rows)[*n]) == -1) {
			rc = SQLITE_MISMATCH;
			unknown(st, what);
			break;
		}
		if (titles != NULL)
			(*titles)[*n] = store_column_dup(s, 13);
		(*n)++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_MISMATCH)
		store_fail(st, what);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	for (i = 0; titles != NULL && i < *n; i++)
		free((*titles)[i]);
	if (titles != NULL) {
		free(*titles);
		*titles = NULL;
	}
	store_job_rows_free(*rows, *n);
	*rows = NULL;
	*n = 0;
	return -1;
}

int
store_jobs_list(struct store *st, const enum job_state *state, int limit,
    struct store_job_row **rows, size_t *n)
{
	sqlite3_stmt *s;

	*rows = NULL;
	*n = 0;
	if ((s = store_prepare(st, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE ?1 IS NULL OR"
	    " j.state = ?1 ORDER BY j.id DESC LIMIT ?2")) == NULL)
		return store_fail(st, "list jobs");
	store_bind_text(s, 1, state ? job_state_name(*state) : NULL);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	return rows_read(st, s, "list jobs", rows, NULL, n);
}

/* store_jobs_page's reads, in the transaction it opens. */
static int
jobs_page_read(struct store *st, const struct store_jobs_filter *f,
    struct store_job_line **lines, size_t *n)
{
	struct store_job_row *rows;
	struct store_usage *u;
	char **titles;
	sqlite3_stmt *s;
	size_t i, nu;

	if ((s = store_prepare(st, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE (?1 IS NULL OR"
	    " j.state = ?1) AND (?2 IS NULL OR t.repo = ?2)"
	    " ORDER BY j.id DESC LIMIT ?3 OFFSET ?4")) == NULL)
		return store_fail(st, "list jobs");
	store_bind_text(s, 1, f->state ? job_state_name(*f->state) : NULL);
	store_bind_text(s, 2, f->repo);
	sqlite3_bind_int(s, 3, f->limit < 1 ? 1 : f->limit > STORE_PAGE_MAX ?
	    STORE_PAGE_MAX : f->limit);
	sqlite3_bind_int64(s, 4, f->offset > 0 ? f->offset : 0);
	if (rows_read(st, s, "list jobs", &rows, &titles, n) == -1)
		return -1;
	*lines = xcalloc(*n, sizeof(**lines));
	for (i = 0; i < *n; i++) {
		(*lines)[i].row = rows[i];
		(*lines)[i].title = titles[i];
	}
	free(rows);
	free(titles);
	/* What each job's agent used, in all: one indexed look a job. */
	for (i = 0; i < *n; i++) {
		if (store_usage_of(st, (*lines)[i].row.id, &u, &nu) == -1) {
			store_job_lines_free(*lines, *n);
			*lines = NULL;
			*n = 0;
			return store_fail(st, "list jobs' usage");
		}
		store_usage_sum(u, nu, &(*lines)[i].usage);
		store_usage_free(u, nu);
	}
	return 0;
}

int
store_jobs_page(struct store *st, const struct store_jobs_filter *f,
    struct store_job_line **lines, size_t *n)
{
	bool began;
	int rc;

	*lines = NULL;
	*n = 0;
	began = store_read_begin(st);
	rc = jobs_page_read(st, f, lines, n);
	store_read_end(st, began);
	return rc;
}

void
store_job_lines_free(struct store_job_line *lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		row_clear(&lines[i].row);
		free(lines[i].title);
	}
	free(lines);
}

int
store_thread_jobs(struct store *st, int64_t thread, int limit,
    struct store_job_row **rows, size_t *n)
{
	sqlite3_stmt *s;

	*rows = NULL;
	*n = 0;
	if ((s = store_prepare(st, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE j.thread_id = ?1"
	    " ORDER BY j.id DESC LIMIT ?2")) == NULL)
		return store_fail(st, "list the thread's jobs");
	sqlite3_bind_int64(s, 1, thread);
	sqlite3_bind_int(s, 2, limit < 1 ? 1 : limit > STORE_PAGE_MAX ?
	    STORE_PAGE_MAX : limit);
	return rows_read(st, s, "list the thread's jobs", rows, NULL, n);
}

void
store_job_rows_free(struct store_job_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		row_clear(&rows[i]);
	free(rows);
}

/* The job's steps as recorded, oldest first. */
static int
steps_read(struct store *st, int64_t id, struct store_job_detail *d)
{
	sqlite3_stmt *s;
	struct store_step_row *r;
	int rc;

	if ((s = store_prepare(st, "SELECT step, coalesce(started_at, 0),"
	    " coalesce(finished_at, 0), detail FROM job_steps"
	    " WHERE job_id = ?1 ORDER BY id")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d->steps = xrealloc(d->steps, (d->nsteps + 1) *
		    sizeof(*d->steps));
		r = &d->steps[d->nsteps++];
		r->step = store_column_dup(s, 0);
		r->started_at = sqlite3_column_int64(s, 1);
		r->finished_at = sqlite3_column_int64(s, 2);
		r->detail = store_column_dup(s, 3);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The deliveries that asked for the job, oldest first. */
static int
deliveries_read(struct store *st, int64_t id, struct store_job_detail *d)
{
	sqlite3_stmt *s;
	struct store_delivery_row *r;
	int rc;

	if ((s = store_prepare(st, "SELECT delivery, event,"
	    " coalesce(received_at, 0), verdict FROM deliveries"
	    " WHERE job_id = ?1 ORDER BY id")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d->deliveries = xrealloc(d->deliveries, (d->ndeliveries + 1) *
		    sizeof(*d->deliveries));
		r = &d->deliveries[d->ndeliveries++];
		r->delivery = store_column_dup(s, 0);
		r->event = store_column_dup(s, 1);
		r->received_at = sqlite3_column_int64(s, 2);
		r->verdict = store_column_dup(s, 3);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* store_job_show's reads, in the transaction it opens. */
static int
job_show_read(struct store *st, int64_t id, struct store_job_detail *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((s = store_prepare(st, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE j.id = ?1")) == NULL)
		return store_fail(st, "show job");
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? 0 : store_fail(st, "show job");
	}
	if (row_read(s, &out->row) == -1) {
		sqlite3_finalize(s);
		return unknown(st, "show job");
	}
	out->title = store_column_dup(s, 13);
	out->instruction = store_column_dup(s, 14);
	out->context = store_column_dup(s, 15);
	out->result = store_column_dup(s, 16);
	out->error = store_column_dup(s, 17);
	out->pr_number = sqlite3_column_int64(s, 18);
	out->thread_state = store_column_dup(s, 19);
	out->base_commit = store_column_dup(s, 20);
	out->head_commit = store_column_dup(s, 21);
	out->summary = store_column_dup(s, 22);
	out->diffstat = store_column_dup(s, 23);
	out->attempts = sqlite3_column_int(s, 24);
	out->clone_url = store_column_dup(s, 25);
	out->thread_id = sqlite3_column_int64(s, 26);
	sqlite3_finalize(s);
	if (steps_read(st, id, out) == -1 ||
	    store_requests_load(st, id, &out->requests,
	    &out->nrequests) == -1 ||
	    deliveries_read(st, id, out) == -1 ||
	    store_usage_of(st, id, &out->usage, &out->nusage) == -1 ||
	    store_egress_of(st, id, &out->egress, &out->negress) == -1) {
		store_fail(st, "show job");
		store_job_detail_clear(out);
		return -1;
	}
	return 1;
}

int
store_job_show(struct store *st, int64_t id, struct store_job_detail *out)
{
	bool began = store_read_begin(st);
	int rc = job_show_read(st, id, out);

	store_read_end(st, began);
	return rc;
}

void
store_job_detail_clear(struct store_job_detail *d)
{
	size_t i;

	row_clear(&d->row);
	free(d->title);
	free(d->instruction);
	free(d->context);
	free(d->result);
	free(d->error);
	free(d->thread_state);
	free(d->base_commit);
	free(d->head_commit);
	free(d->summary);
	free(d->diffstat);
	free(d->clone_url);
	for (i = 0; i < d->nsteps; i++) {
		free(d->steps[i].step);
		free(d->steps[i].detail);
	}
	free(d->steps);
	store_requests_free(d->requests, d->nrequests);
	for (i = 0; i < d->ndeliveries; i++) {
		free(d->deliveries[i].delivery);
		free(d->deliveries[i].event);
		free(d->deliveries[i].verdict);
	}
	free(d->deliveries);
	store_usage_free(d->usage, d->nusage);
	store_egress_free(d->egress, d->negress);
	memset(d, 0, sizeof(*d));
}
