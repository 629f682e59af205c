/*
 * The runner's view of a job: the job and its requests as typed state, each
 * step as it begins and ends, its results and its end. Each function is one
 * statement or one short transaction.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

int
store_job_load(struct store *st, int64_t id, struct job *out)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT j.id, j.thread_id,"
	    " t.number,"
	    " coalesce(j.retry_of, 0), t.forge, t.repo, t.title, t.body,"
	    " t.clone_url, t.default_branch, t.branch, t.head_commit, j.kind,"
	    " j.state, j.step, j.instruction, j.context, j.requested_by,"
	    " j.base_commit, j.head_commit, j.attempts, j.cancel_requested,"
	    " coalesce(j.requested_by_id, 0), coalesce(j.trigger_id, 0),"
	    " coalesce(t.installation_id, 0), coalesce(t.pr_number, 0),"
	    " t.status_comment_id, t.pr_url, j.summary, j.diffstat,"
	    " coalesce(j.trigger_on, 'issue'), " STORE_ORIGIN_KIND("j")
	    ", coalesce(j.ci_id, (SELECT o.ci_id FROM jobs o WHERE o.id ="
	    " j.retry_of), 0) FROM jobs j JOIN threads t ON t.id = j.thread_id"
	    " WHERE j.id = ?1");
	int rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			store_fail(st, "load job");
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	out->id = sqlite3_column_int64(s, 0);
	out->thread_id = sqlite3_column_int64(s, 1);
	out->number = sqlite3_column_int64(s, 2);
	out->retry_of = sqlite3_column_int64(s, 3);
	if (job_forge_parse((const char *)sqlite3_column_text(s, 4),
	    &out->forge) == -1 ||
	    job_kind_parse((const char *)sqlite3_column_text(s, 12),
	    &out->kind) == -1 ||
	    job_state_parse((const char *)sqlite3_column_text(s, 13),
	    &out->state) == -1 ||
	    job_kind_parse((const char *)sqlite3_column_text(s, 31),
	    &out->origin) == -1) {
		snprintf(st->error, sizeof(st->error), "load job %lld:"
		    " a forge, kind or state this handoff does not know",
		    (long long)id);
		sqlite3_finalize(s);
		return -1;
	}
	out->repo = store_column_dup(s, 5);
	out->title = store_column_dup(s, 6);
	out->body = store_column_dup(s, 7);
	out->clone_url = store_column_dup(s, 8);
	out->default_branch = store_column_dup(s, 9);
	out->branch = store_column_dup(s, 10);
	out->thread_head = store_column_dup(s, 11);
	out->step = job_step_parse((const char *)sqlite3_column_text(s, 14));
	out->instruction = store_column_dup(s, 15);
	out->context = store_column_dup(s, 16);
	out->requested_by = store_column_dup(s, 17);
	out->base_commit = store_column_dup(s, 18);
	out->head_commit = store_column_dup(s, 19);
	out->attempts = sqlite3_column_int(s, 20);
	out->cancel_requested = sqlite3_column_int(s, 21) != 0;
	out->requested_by_id = sqlite3_column_int64(s, 22);
	out->trigger_id = sqlite3_column_int64(s, 23);
	out->installation_id = sqlite3_column_int64(s, 24);
	out->pr_number = sqlite3_column_int64(s, 25);
	out->ci_id = sqlite3_column_int64(s, 32);
	out->status_comment_id = store_column_dup(s, 26);
	out->pr_url = store_column_dup(s, 27);
	out->summary = store_column_dup(s, 28);
	out->diffstat = store_column_dup(s, 29);
	out->trigger_on = job_on_parse((const char *)sqlite3_column_text(s,
	    30));
	sqlite3_finalize(s);
	if (store_requests_load(st, id, &out->requests,
	    &out->nrequests) == -1) {
		store_job_clear(out);
		return -1;
	}
	return 1;
}

int
store_job_state(struct store *st, int64_t id, enum job_state *out)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT state FROM jobs"
	    " WHERE id = ?1");
	int rc, found = -1;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_DONE)
		found = 0;
	else if (rc != SQLITE_ROW)
		store_fail(st, "load job state");
	else if (job_state_parse((const char *)sqlite3_column_text(s, 0),
	    out) == 0)
		found = 1;
	else
		snprintf(st->error, sizeof(st->error), "load job %lld: a state"
		    " this handoff does not know", (long long)id);
	sqlite3_finalize(s);
	return found;
}

int
store_requests_load(struct store *st, int64_t job, struct job_request **list,
    size_t *n)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT id, coalesce(author_id, 0),"
	    " coalesce(trigger_id, 0), author, association, text, trigger_on,"
	    " context, verdict, is_repeat, created_at, coalesce(checked_at, 0)"
	    " FROM requests WHERE job_id = ?1"
	    " ORDER BY id");
	struct job_request *r;
	int rc;

	*list = NULL;
	*n = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*list = xrealloc(*list, (*n + 1) * sizeof(**list));
		r = &(*list)[(*n)++];
		r->id = sqlite3_column_int64(s, 0);
		r->author_id = sqlite3_column_int64(s, 1);
		r->trigger_id = sqlite3_column_int64(s, 2);
		r->author = store_column_dup(s, 3);
		r->association = store_column_dup(s, 4);
		r->text = store_column_dup(s, 5);
		r->trigger_on = job_on_parse((const char *)
		    sqlite3_column_text(s, 6));
		r->context = store_column_dup(s, 7);
		r->verdict = store_column_dup(s, 8);
		r->is_repeat = sqlite3_column_int(s, 9) != 0;
		r->created_at = sqlite3_column_int64(s, 10);
		r->checked_at = sqlite3_column_int64(s, 11);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_requests_free(*list, *n);
		*list = NULL;
		*n = 0;
		return store_fail(st, "load requests");
	}
	return 0;
}

void
store_requests_free(struct job_request *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].author);
		free(list[i].association);
		free(list[i].text);
		free(list[i].context);
		free(list[i].verdict);
	}
	free(list);
}

int
store_request_verdict(struct store *st, int64_t request, bool allowed)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE requests SET verdict = ?2,"
	    " checked_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, request);
		store_bind_text(s, 2, allowed ? "allowed" : "refused");
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return store_run(st, s, "record verdict");
}

int
store_allowed_triggers(struct store *st, int64_t thread,
    const enum forge_on *ons, size_t n_ons, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT DISTINCT r.trigger_id,"
	    " r.trigger_on"
	    " FROM requests r JOIN jobs j ON j.id = r.job_id"
	    " WHERE j.thread_id = ?1 AND r.verdict = 'allowed'"
	    " AND r.trigger_id IS NOT NULL");
	enum forge_on on;
	size_t i;
	int rc;

	*ids = NULL;
	*n = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		on = job_on_parse((const char *)sqlite3_column_text(s, 1));
		for (i = 0; i < n_ons && ons[i] != on; i++)
			;
		if (i == n_ons)
			continue;
		*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		*n = 0;
		return store_fail(st, "read requests");
	}
	return 0;
}

bool
store_requests_allowed(const struct job_request *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!list[i].is_repeat && list[i].verdict != NULL &&
		    strcmp(list[i].verdict, "allowed") == 0)
			return true;
	return false;
}

void
store_job_clear(struct job *job)
{
	free(job->repo);
	free(job->title);
	free(job->body);
	free(job->clone_url);
	free(job->default_branch);
	free(job->branch);
	free(job->thread_head);
	free(job->instruction);
	free(job->context);
	free(job->requested_by);
	free(job->base_commit);
	free(job->head_commit);
	free(job->status_comment_id);
	free(job->pr_url);
	free(job->summary);
	free(job->diffstat);
	store_requests_free(job->requests, job->nrequests);
	memset(job, 0, sizeof(*job));
}

int
store_step_begin(struct store *st, int64_t job, enum job_step step)
{
	sqlite3_stmt *s;
	int64_t now = util_now_ms();

	if (store_sql(st, "BEGIN IMMEDIATE", "begin") == -1)
		return -1;
	s = store_prepare(st, "UPDATE jobs SET step = ?2 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, job_step_name(step));
	}
	if (store_run(st, s, "record step") == -1)
		goto fail;
	s = store_prepare(st, "INSERT INTO job_steps (job_id, step, started_at)"
	    " VALUES (?1, ?2, ?3)");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, job_step_name(step));
		sqlite3_bind_int64(s, 3, now);
	}
	if (store_run(st, s, "record step") == -1)
		goto fail;
	return store_sql(st, "COMMIT", "commit step");
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_step_end(struct store *st, int64_t job, enum job_step step,
    const char *detail)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE job_steps SET finished_at"
	    " = ?3,"
	    " detail = ?4 WHERE id = (SELECT max(id) FROM job_steps"
	    " WHERE job_id = ?1 AND step = ?2)");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, job_step_name(step));
		sqlite3_bind_int64(s, 3, util_now_ms());
		store_bind_text(s, 4, detail);
	}
	return store_run(st, s, "record step end");
}

int
store_step_ended(struct store *st, int64_t job, enum job_step step)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT count(*) FROM job_steps"
	    " WHERE job_id = ?1 AND step = ?2 AND finished_at IS NOT NULL");
	int rc, n;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	store_bind_text(s, 2, job_step_name(step));
	rc = sqlite3_step(s);
	n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	if (rc != SQLITE_ROW)
		store_fail(st, "read steps");
	sqlite3_finalize(s);
	return n < 0 ? -1 : n > 0;
}

int
store_job_set(struct store *st, int64_t job, const char *column,
    const char *value)
{
	static const char *const columns[] = { "base_commit", "head_commit",
	    "summary", "diffstat" };
	sqlite3_stmt *s;
	char *sql;
	size_t i;

	for (i = 0; i < nitems(columns); i++)
		if (strcmp(column, columns[i]) == 0)
			break;
	if (i == nitems(columns))
		return -1;
	sql = xasprintf("UPDATE jobs SET %s = ?2 WHERE id = ?1", columns[i]);
	s = store_prepare(st, sql);
	free(sql);
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, value);
	}
	return store_run(st, s, "record job result");
}

int
store_thread_set_head(struct store *st, int64_t thread, const char *commit)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE threads SET head_commit ="
	    " ?2,"
	    " updated_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, commit);
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return store_run(st, s, "record thread head");
}

int
store_thread_set_comment(struct store *st, int64_t thread, const char *id)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE threads SET"
	    " status_comment_id"
	    " = ?2, updated_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, id);
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return store_run(st, s, "record status comment");
}

int
store_thread_set_pr(struct store *st, int64_t thread, int64_t number,
    const char *url)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE threads SET pr_number = ?2,"
	    " pr_url = ?3, updated_at = ?4 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		sqlite3_bind_int64(s, 2, number);
		store_bind_text(s, 3, url);
		sqlite3_bind_int64(s, 4, util_now_ms());
	}
	return store_run(st, s, "record pull request");
}

int
store_job_finish(struct store *st, int64_t job, enum job_state state,
    const char *result, const char *error)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE jobs SET state = ?2, step"
	    " = ?2,"
	    " finished_at = ?3, result = ?4, error = ?5, runner_pid = NULL"
	    " WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, job_state_name(state));
		sqlite3_bind_int64(s, 3, util_now_ms());
		store_bind_text(s, 4, result);
		store_bind_text(s, 5, error);
	}
	return store_run(st, s, "finish job");
}

int
store_cancel_requested(struct store *st, int64_t job)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT cancel_requested FROM jobs"
	    " WHERE id = ?1");
	int rc, yes = 0;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		yes = sqlite3_column_int(s, 0) != 0;
	else if (rc != SQLITE_DONE)
		yes = store_fail(st, "read job");
	sqlite3_finalize(s);
	return yes;
}

int
store_job_runner(struct store *st, int64_t job, long pid)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE jobs SET runner_pid ="
	    " nullif(?2, 0) WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, pid);
	}
	return store_run(st, s, "record runner");
}
int
store_job_refuse(struct store *st, int64_t job, const char *why)
{
	sqlite3_stmt *s;
	int rc, unchecked = -1;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin refusal") == -1)
		return -1;
	if ((s = store_prepare(st, "SELECT count(*) FROM requests WHERE job_id"
	    " = ?1"
	    " AND verdict IS NULL")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		unchecked = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (unchecked < 0) {
		store_fail(st, "read requests");
		goto fail;
	}
	if (unchecked == 0) {
		s = store_prepare(st, "UPDATE jobs SET state = 'cancelled',"
		    " step ="
		    " 'cancelled', finished_at = ?2, error = ?3, runner_pid ="
		    " NULL WHERE id = ?1 AND state IN ('queued', 'running')");
		if (s) {
			sqlite3_bind_int64(s, 1, job);
			sqlite3_bind_int64(s, 2, util_now_ms());
			store_bind_text(s, 3, why);
		}
		if (store_run(st, s, "refuse job") == -1)
			goto fail;
	}
	if (store_sql(st, "COMMIT", "commit refusal") == -1)
		return -1;
	return unchecked == 0;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

