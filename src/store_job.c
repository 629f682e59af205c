/*
 * The store's side of running jobs: what a runner reads and records step by
 * step, what the scheduler claims, and the operator's cancel and retry. Each
 * function is one statement or one short transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "forge.h"
#include "store.h"
#include "util.h"

static sqlite3_stmt *
prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

static char *
column_dup(sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	return v ? xstrdup(v) : NULL;
}

/* Run and finalize a statement that returns no rows. */
static int
run(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	if (s == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, what);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static int
exec(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, what);
	return 0;
}

int
store_job_load(struct store *st, int64_t id, struct job *out)
{
	sqlite3_stmt *s = prepare(st, "SELECT j.id, j.thread_id, t.number,"
	    " coalesce(j.retry_of, 0), t.forge, t.repo, t.title, t.body,"
	    " t.clone_url, t.default_branch, t.branch, t.head_commit, j.kind,"
	    " j.state, j.step, j.instruction, j.context, j.requested_by,"
	    " j.base_commit, j.head_commit, j.attempts, j.cancel_requested,"
	    " coalesce(j.requested_by_id, 0), coalesce(j.trigger_id, 0),"
	    " coalesce(t.installation_id, 0), coalesce(t.pr_number, 0),"
	    " t.status_comment_id, t.pr_url, j.summary, j.diffstat,"
	    " coalesce(j.trigger_on, 'issue'), coalesce((SELECT o.kind FROM"
	    " jobs o WHERE o.id = j.retry_of), j.kind)"
	    " FROM jobs j JOIN threads t ON t.id = j.thread_id WHERE j.id = ?1");
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
	out->forge = column_dup(s, 4);
	out->repo = column_dup(s, 5);
	out->title = column_dup(s, 6);
	out->body = column_dup(s, 7);
	out->clone_url = column_dup(s, 8);
	out->default_branch = column_dup(s, 9);
	out->branch = column_dup(s, 10);
	out->thread_head = column_dup(s, 11);
	out->kind = column_dup(s, 12);
	out->state = column_dup(s, 13);
	out->step = column_dup(s, 14);
	out->instruction = column_dup(s, 15);
	out->context = column_dup(s, 16);
	out->requested_by = column_dup(s, 17);
	out->base_commit = column_dup(s, 18);
	out->head_commit = column_dup(s, 19);
	out->attempts = sqlite3_column_int(s, 20);
	out->cancel_requested = sqlite3_column_int(s, 21) != 0;
	out->requested_by_id = sqlite3_column_int64(s, 22);
	out->trigger_id = sqlite3_column_int64(s, 23);
	out->installation_id = sqlite3_column_int64(s, 24);
	out->pr_number = sqlite3_column_int64(s, 25);
	out->status_comment_id = column_dup(s, 26);
	out->pr_url = column_dup(s, 27);
	out->summary = column_dup(s, 28);
	out->diffstat = column_dup(s, 29);
	out->trigger_on = column_dup(s, 30);
	out->origin_kind = column_dup(s, 31);
	sqlite3_finalize(s);
	if (store_requests_load(st, id, &out->requests, &out->nrequests) == -1) {
		store_job_clear(out);
		return -1;
	}
	return 1;
}

int
store_requests_load(struct store *st, int64_t job, struct job_request **list,
    size_t *n)
{
	sqlite3_stmt *s = prepare(st, "SELECT id, coalesce(author_id, 0),"
	    " coalesce(trigger_id, 0), author, association, text, trigger_on,"
	    " context, verdict, is_repeat FROM requests WHERE job_id = ?1"
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
		r->author = column_dup(s, 3);
		r->association = column_dup(s, 4);
		r->text = column_dup(s, 5);
		r->trigger_on = column_dup(s, 6);
		r->context = column_dup(s, 7);
		r->verdict = column_dup(s, 8);
		r->is_repeat = sqlite3_column_int(s, 9) != 0;
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
		free(list[i].trigger_on);
		free(list[i].context);
		free(list[i].verdict);
	}
	free(list);
}

int
store_request_verdict(struct store *st, int64_t request, bool allowed)
{
	sqlite3_stmt *s = prepare(st, "UPDATE requests SET verdict = ?2,"
	    " checked_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, request);
		store_bind_text(s, 2, allowed ? "allowed" : "refused");
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return run(st, s, "record verdict");
}

int
store_allowed_triggers(struct store *st, int64_t thread,
    const char *const *ons, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = prepare(st, "SELECT DISTINCT r.trigger_id, r.trigger_on"
	    " FROM requests r JOIN jobs j ON j.id = r.job_id"
	    " WHERE j.thread_id = ?1 AND r.verdict = 'allowed'"
	    " AND r.trigger_id IS NOT NULL");
	const char *on;
	size_t i;
	int rc;

	*ids = NULL;
	*n = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		on = (const char *)sqlite3_column_text(s, 1);
		for (i = 0; ons[i] != NULL && strcmp(ons[i], on) != 0; i++)
			;
		if (ons[i] == NULL)
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
	free(job->forge);
	free(job->repo);
	free(job->title);
	free(job->body);
	free(job->clone_url);
	free(job->default_branch);
	free(job->branch);
	free(job->thread_head);
	free(job->kind);
	free(job->trigger_on);
	free(job->origin_kind);
	free(job->state);
	free(job->step);
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
store_step_begin(struct store *st, int64_t job, const char *step)
{
	sqlite3_stmt *s;
	int64_t now = util_now_ms();

	if (exec(st, "BEGIN IMMEDIATE", "begin") == -1)
		return -1;
	s = prepare(st, "UPDATE jobs SET step = ?2 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, step);
	}
	if (run(st, s, "record step") == -1)
		goto fail;
	s = prepare(st, "INSERT INTO job_steps (job_id, step, started_at)"
	    " VALUES (?1, ?2, ?3)");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, step);
		sqlite3_bind_int64(s, 3, now);
	}
	if (run(st, s, "record step") == -1)
		goto fail;
	return exec(st, "COMMIT", "commit step");
fail:
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_step_end(struct store *st, int64_t job, const char *step,
    const char *detail)
{
	sqlite3_stmt *s = prepare(st, "UPDATE job_steps SET finished_at = ?3,"
	    " detail = ?4 WHERE id = (SELECT max(id) FROM job_steps"
	    " WHERE job_id = ?1 AND step = ?2)");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, step);
		sqlite3_bind_int64(s, 3, util_now_ms());
		store_bind_text(s, 4, detail);
	}
	return run(st, s, "record step end");
}

int
store_step_ended(struct store *st, int64_t job, const char *step)
{
	sqlite3_stmt *s = prepare(st, "SELECT count(*) FROM job_steps"
	    " WHERE job_id = ?1 AND step = ?2 AND finished_at IS NOT NULL");
	int rc, n;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	store_bind_text(s, 2, step);
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
	s = prepare(st, sql);
	free(sql);
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, value);
	}
	return run(st, s, "record job result");
}

int
store_thread_set_head(struct store *st, int64_t thread, const char *commit)
{
	sqlite3_stmt *s = prepare(st, "UPDATE threads SET head_commit = ?2,"
	    " updated_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, commit);
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return run(st, s, "record thread head");
}

int
store_thread_set_comment(struct store *st, int64_t thread, const char *id)
{
	sqlite3_stmt *s = prepare(st, "UPDATE threads SET status_comment_id"
	    " = ?2, updated_at = ?3 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, id);
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	return run(st, s, "record status comment");
}

int
store_thread_set_pr(struct store *st, int64_t thread, int64_t number,
    const char *url)
{
	sqlite3_stmt *s = prepare(st, "UPDATE threads SET pr_number = ?2,"
	    " pr_url = ?3, updated_at = ?4 WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		sqlite3_bind_int64(s, 2, number);
		store_bind_text(s, 3, url);
		sqlite3_bind_int64(s, 4, util_now_ms());
	}
	return run(st, s, "record pull request");
}

int
store_job_finish(struct store *st, int64_t job, const char *state,
    const char *result, const char *error)
{
	sqlite3_stmt *s = prepare(st, "UPDATE jobs SET state = ?2, step = ?2,"
	    " finished_at = ?3, result = ?4, error = ?5, runner_pid = NULL"
	    " WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		store_bind_text(s, 2, state);
		sqlite3_bind_int64(s, 3, util_now_ms());
		store_bind_text(s, 4, result);
		store_bind_text(s, 5, error);
	}
	return run(st, s, "finish job");
}

int
store_cancel_requested(struct store *st, int64_t job)
{
	sqlite3_stmt *s = prepare(st, "SELECT cancel_requested FROM jobs"
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
	sqlite3_stmt *s = prepare(st, "UPDATE jobs SET runner_pid ="
	    " nullif(?2, 0) WHERE id = ?1");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, pid);
	}
	return run(st, s, "record runner");
}

/* A control request answered: "cancel" stops the thread's running job and
 * drops its queued ones; "help" has nothing to run (its reply, when there
 * is one, is a runner's). Inside the caller's transaction. */
static int
control(struct store *st, int64_t id, int64_t thread, const char *kind,
    int64_t now)
{
	sqlite3_stmt *s;

	if (strcmp(kind, "cancel") == 0) {
		s = prepare(st, "UPDATE jobs SET cancel_requested = 1"
		    " WHERE thread_id = ?1 AND state = 'running'");
		if (s)
			sqlite3_bind_int64(s, 1, thread);
		if (run(st, s, "cancel running job") == -1)
			return -1;
		s = prepare(st, "UPDATE jobs SET state = 'cancelled',"
		    " step = 'cancelled', finished_at = ?3, error ="
		    " 'cancelled by /agent cancel' WHERE thread_id = ?1"
		    " AND state = 'queued' AND id < ?2");
		if (s) {
			sqlite3_bind_int64(s, 1, thread);
			sqlite3_bind_int64(s, 2, id);
			sqlite3_bind_int64(s, 3, now);
		}
		if (run(st, s, "cancel queued jobs") == -1)
			return -1;
	}
	s = prepare(st, "UPDATE jobs SET state = 'done', step = 'done',"
	    " started_at = ?2, finished_at = ?2, result = ?3 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, now);
		store_bind_text(s, 3, strcmp(kind, "cancel") == 0 ?
		    "the thread's jobs were cancelled" : "nothing to run");
	}
	return run(st, s, "answer control request");
}

struct busy {
	char	**repos;
	int	 *counts;
	size_t	  n;
};

static int *
busy_count(struct busy *b, const char *repo)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->repos[i], repo) == 0)
			return &b->counts[i];
	b->repos = xrealloc(b->repos, (b->n + 1) * sizeof(*b->repos));
	b->counts = xrealloc(b->counts, (b->n + 1) * sizeof(*b->counts));
	b->repos[b->n] = xstrdup(repo);
	b->counts[b->n] = 0;
	return &b->counts[b->n++];
}

static void
busy_free(struct busy *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->repos[i]);
	free(b->repos);
	free(b->counts);
}

/* The queued cancel and help requests the store decides, without a run
 * slot: those of a forge handoff has no credentials for (intake's check is
 * all there is), and those whose acknowledging runner failed
 * STORE_ACK_TRIES times: help is answered with nothing, cancel is not
 * done (whether the requester may write is unknown). The others are
 * decided by an acknowledging runner. Inside the caller's transaction. */
static int
claim_control(struct store *st, const struct config *cfg, int64_t now)
{
	sqlite3_stmt *s;
	const char *kind;
	int64_t id, thread;
	int rc;

	if ((s = prepare(st, "SELECT j.id, j.thread_id, j.kind, t.forge,"
	    " EXISTS (SELECT 1 FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge' AND a.finished_at IS NULL),"
	    " (SELECT count(*) FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge' AND a.detail = 'not acknowledged')"
	    " FROM jobs j INDEXED BY jobs_control JOIN threads t"
	    " ON t.id = j.thread_id"
	    " WHERE j.state = 'queued' AND j.kind IN ('cancel', 'help')"
	    " ORDER BY j.id")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		thread = sqlite3_column_int64(s, 1);
		kind = (const char *)sqlite3_column_text(s, 2);
		if (forge_configured(cfg, (const char *)sqlite3_column_text(s,
		    3))) {
			if (sqlite3_column_int(s, 4) != 0 ||
			    sqlite3_column_int(s, 5) < STORE_ACK_TRIES)
				continue;
			if (strcmp(kind, "cancel") == 0) {
				if (store_job_finish(st, id, "failed", NULL,
				    "could not ask the forge whether the"
				    " requester may write; nothing was"
				    " cancelled") == -1)
					goto fail;
				continue;
			}
		}
		if (control(st, id, thread, kind, now) == -1)
			goto fail;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "answer requests");
fail:
	sqlite3_finalize(s);
	return -1;
}

int
store_job_control(struct store *st, int64_t job)
{
	sqlite3_stmt *s;
	char *kind = NULL;
	int64_t thread = 0;
	int rc;

	if (exec(st, "BEGIN IMMEDIATE", "begin control") == -1)
		return -1;
	if ((s = prepare(st, "SELECT thread_id, kind FROM jobs WHERE id = ?1"
	    " AND state = 'queued' AND kind IN ('cancel', 'help')")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		thread = sqlite3_column_int64(s, 0);
		kind = column_dup(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(st, "read request");
		goto fail;
	}
	/* Already answered (or not a control request): nothing to do. */
	if (kind != NULL && control(st, job, thread, kind,
	    util_now_ms()) == -1)
		goto fail;
	free(kind);
	return exec(st, "COMMIT", "commit control");
fail:
	free(kind);
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_job_refuse(struct store *st, int64_t job, const char *why)
{
	sqlite3_stmt *s;
	int rc, unchecked = -1;

	if (exec(st, "BEGIN IMMEDIATE", "begin refusal") == -1)
		return -1;
	if ((s = prepare(st, "SELECT count(*) FROM requests WHERE job_id = ?1"
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
		s = prepare(st, "UPDATE jobs SET state = 'cancelled', step ="
		    " 'cancelled', finished_at = ?2, error = ?3, runner_pid ="
		    " NULL WHERE id = ?1 AND state IN ('queued', 'running')");
		if (s) {
			sqlite3_bind_int64(s, 1, job);
			sqlite3_bind_int64(s, 2, util_now_ms());
			store_bind_text(s, 3, why);
		}
		if (run(st, s, "refuse job") == -1)
			goto fail;
	}
	if (exec(st, "COMMIT", "commit refusal") == -1)
		return -1;
	return unchecked == 0;
fail:
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_claim(struct store *st, const struct config *cfg, int64_t *ids,
    size_t max)
{
	struct busy busy = { 0 };
	int64_t *blocked = NULL, now = util_now_ms();
	size_t nblocked = 0, n = 0, i;
	int running = 0, rc;
	sqlite3_stmt *s = NULL, *u;
	bool is_blocked;

	if (exec(st, "BEGIN IMMEDIATE", "begin claim") == -1)
		return -1;
	if (claim_control(st, cfg, now) == -1)
		goto fail;
	if (max == 0)
		goto commit;
	/* What runs now, per repository and per thread. */
	if ((s = prepare(st, "SELECT t.forge || ' ' || t.repo, j.thread_id"
	    " FROM jobs j JOIN threads t ON t.id = j.thread_id"
	    " WHERE j.state = 'running'")) == NULL)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		(*busy_count(&busy, (const char *)sqlite3_column_text(s,
		    0)))++;
		blocked = xrealloc(blocked, (nblocked + 1) * sizeof(*blocked));
		blocked[nblocked++] = sqlite3_column_int64(s, 1);
		running++;
	}
	if (rc != SQLITE_DONE)
		goto fail_step;
	sqlite3_finalize(s);

	/* Local jobs belong to their `handoff run`, not to the scheduler;
	 * a job being acknowledged waits until that is over. */
	if ((s = prepare(st, "SELECT j.id, j.thread_id,"
	    " t.forge || ' ' || t.repo, EXISTS (SELECT 1 FROM job_steps a"
	    " WHERE a.job_id = j.id AND a.step = 'acknowledge'"
	    " AND a.finished_at IS NULL) FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'queued'"
	    " AND j.kind NOT IN ('cancel', 'help')"
	    " AND t.forge <> 'local' ORDER BY j.id")) == NULL)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int64_t thread = sqlite3_column_int64(s, 1);
		int *repo_running = busy_count(&busy,
		    (const char *)sqlite3_column_text(s, 2));

		is_blocked = false;
		for (i = 0; i < nblocked; i++)
			is_blocked |= blocked[i] == thread;
		/* One job per thread, in arrival order: a later job of a
		 * thread waits behind an earlier one. */
		blocked = xrealloc(blocked, (nblocked + 1) * sizeof(*blocked));
		blocked[nblocked++] = thread;
		if (is_blocked || n >= max || running >= cfg->max_parallel ||
		    *repo_running >= cfg->max_per_repo ||
		    sqlite3_column_int(s, 3) != 0)
			continue;
		if ((u = prepare(st, "UPDATE jobs SET state = 'running',"
		    " started_at = coalesce(started_at, ?2), attempts ="
		    " attempts + 1 WHERE id = ?1")) != NULL) {
			sqlite3_bind_int64(u, 1, id);
			sqlite3_bind_int64(u, 2, now);
		}
		if (run(st, u, "claim job") == -1)
			goto fail;
		ids[n++] = id;
		running++;
		(*repo_running)++;
	}
	if (rc != SQLITE_DONE)
		goto fail_step;
	sqlite3_finalize(s);
	s = NULL;
commit:
	if (exec(st, "COMMIT", "commit claim") == -1)
		goto fail;
	free(blocked);
	busy_free(&busy);
	return (int)n;
fail_step:
	store_fail(st, "claim jobs");
fail:
	sqlite3_finalize(s);
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	free(blocked);
	busy_free(&busy);
	return -1;
}

int
store_runner_lost(struct store *st, int64_t job, const char *why,
    int max_attempts, bool *requeued)
{
	sqlite3_stmt *s = prepare(st, "SELECT state, attempts FROM jobs"
	    " WHERE id = ?1");
	char *error;
	int rc, attempts;
	bool is_running;

	*requeued = false;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? 0 : store_fail(st, "read job");
	}
	is_running = strcmp((const char *)sqlite3_column_text(s, 0),
	    "running") == 0;
	attempts = sqlite3_column_int(s, 1);
	sqlite3_finalize(s);
	if (!is_running)
		return 0;
	if (attempts < max_attempts && store_cancel_requested(st, job) == 0) {
		*requeued = true;
		s = prepare(st, "UPDATE jobs SET state = 'queued',"
		    " runner_pid = NULL WHERE id = ?1");
		if (s)
			sqlite3_bind_int64(s, 1, job);
		return run(st, s, "requeue job");
	}
	error = xasprintf("%s (after %d attempts)", why, attempts);
	rc = store_job_finish(st, job, store_cancel_requested(st, job) == 1 ?
	    "cancelled" : "failed", NULL, error);
	free(error);
	return rc;
}

int
store_claim_ack(struct store *st, unsigned mask, int64_t *ids, size_t max)
{
	sqlite3_stmt *s, *u;
	int64_t now = util_now_ms();
	size_t n = 0;
	int rc;

	if (exec(st, "BEGIN IMMEDIATE", "begin acknowledgements") == -1)
		return -1;
	/* Cancel and help first: they are decided here, at once; an
	 * acknowledgement of theirs that failed is tried again. */
	if ((s = prepare(st, "SELECT j.id FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'queued'"
	    " AND ((?1 & 1 AND t.forge = 'github') OR"
	    " (?1 & 2 AND t.forge = 'gitlab'))"
	    " AND NOT EXISTS (SELECT 1 FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge' AND NOT (j.kind IN ('cancel',"
	    " 'help') AND a.detail IS 'not acknowledged'))"
	    " AND (SELECT count(*) FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge') < ?3"
	    " ORDER BY j.kind IN ('cancel', 'help') DESC, j.id"
	    " LIMIT ?2")) == NULL)
		goto fail;
	sqlite3_bind_int(s, 1, (int)mask);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	sqlite3_bind_int(s, 3, STORE_ACK_TRIES);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(s, 0);
		if ((u = prepare(st, "INSERT INTO job_steps (job_id, step,"
		    " started_at) VALUES (?1, 'acknowledge', ?2)")) != NULL) {
			sqlite3_bind_int64(u, 1, ids[n]);
			sqlite3_bind_int64(u, 2, now);
		}
		if (run(st, u, "start acknowledging") == -1) {
			sqlite3_finalize(s);
			goto fail;
		}
		n++;
	}
	sqlite3_finalize(s);
	if (exec(st, "COMMIT", "commit acknowledgements") == -1)
		goto fail;
	return (int)n;
fail:
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_ack_abandon(struct store *st, int64_t job)
{
	sqlite3_stmt *s = prepare(st, "UPDATE job_steps SET finished_at = ?2,"
	    " detail = 'not acknowledged' WHERE job_id = ?1"
	    " AND step = 'acknowledge' AND finished_at IS NULL");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, util_now_ms());
	}
	return run(st, s, "abandon acknowledgement");
}

int
store_acknowledged(struct store *st, int64_t job)
{
	sqlite3_stmt *s = prepare(st, "SELECT count(*) FROM job_steps"
	    " WHERE job_id = ?1 AND step = 'acknowledge'"
	    " AND detail = 'acknowledged'");
	int rc, n = -1;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, job);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	else
		store_fail(st, "read acknowledgement");
	sqlite3_finalize(s);
	return n < 0 ? -1 : n > 0;
}

int
store_queue_position(struct store *st, int64_t job)
{
	sqlite3_stmt *s = prepare(st, "SELECT count(*) FROM jobs WHERE"
	    " state IN ('queued', 'running') AND kind NOT IN ('cancel',"
	    " 'help') AND id < ?1");
	int n = 0;

	if (s == NULL)
		return 0;
	sqlite3_bind_int64(s, 1, job);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

int
store_requeue_running(struct store *st,
    bool (*is_live)(int64_t job, void *arg), void *arg)
{
	sqlite3_stmt *ack, *s;
	int64_t *ids = NULL;
	size_t i, n = 0;
	int rc, requeued = 0;

	/* Acknowledgements a crash interrupted: the runners do them. */
	ack = prepare(st, "UPDATE job_steps SET finished_at = ?1, detail ="
	    " 'not acknowledged' WHERE step = 'acknowledge' AND finished_at"
	    " IS NULL");
	if (ack)
		sqlite3_bind_int64(ack, 1, util_now_ms());
	if (run(st, ack, "close acknowledgements") == -1)
		return -1;
	if ((s = prepare(st, "SELECT j.id FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'running'"
	    " AND t.forge <> 'local'")) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, "list running jobs");
		sqlite3_finalize(s);
		free(ids);
		return -1;
	}
	sqlite3_finalize(s);
	for (i = 0; i < n; i++) {
		if (is_live(ids[i], arg))
			continue;
		if ((s = prepare(st, "UPDATE jobs SET state = 'queued',"
		    " runner_pid = NULL WHERE id = ?1 AND state = 'running'"))
		    != NULL)
			sqlite3_bind_int64(s, 1, ids[i]);
		if (run(st, s, "requeue running jobs") == -1) {
			free(ids);
			return -1;
		}
		requeued += sqlite3_changes(store_db(st));
	}
	free(ids);
	return requeued;
}

int
store_run_counts(struct store *st, int64_t *running, int64_t *queued)
{
	sqlite3_stmt *s = prepare(st, "SELECT coalesce(sum(state = 'running'),"
	    " 0), coalesce(sum(state = 'queued'), 0) FROM jobs"
	    " WHERE state IN ('running', 'queued')");
	int rc;

	if (s == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*running = sqlite3_column_int64(s, 0);
		*queued = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "count jobs");
}

int
store_job_cancel(struct store *st, int64_t job)
{
	sqlite3_stmt *s;
	char *state = NULL;
	int rc;

	if (exec(st, "BEGIN IMMEDIATE", "begin cancel") == -1)
		return -1;
	if ((s = prepare(st, "SELECT state FROM jobs WHERE id = ?1")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		state = column_dup(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		exec(st, "ROLLBACK", "rollback");
		return -2;
	}
	if (state == NULL) {
		store_fail(st, "read job");
		goto fail;
	}
	if (strcmp(state, "queued") == 0) {
		s = prepare(st, "UPDATE jobs SET state = 'cancelled', step ="
		    " 'cancelled', finished_at = ?2, error = 'cancelled by"
		    " handoff cancel' WHERE id = ?1");
		rc = 1;
	} else if (strcmp(state, "running") == 0) {
		s = prepare(st, "UPDATE jobs SET cancel_requested = 1"
		    " WHERE id = ?1 AND ?2 > 0");
		rc = 2;
	} else {
		s = NULL;
		rc = 0;
	}
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, util_now_ms());
		if (run(st, s, "cancel job") == -1)
			goto fail;
	}
	free(state);
	if (exec(st, "COMMIT", "commit cancel") == -1)
		return -1;
	return rc;
fail:
	free(state);
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int64_t
store_job_retry(struct store *st, int64_t job, bool *is_queued)
{
	sqlite3_stmt *s;
	int64_t id = -1, queued = 0;
	int rc;
	bool can;

	*is_queued = false;
	if (exec(st, "BEGIN IMMEDIATE", "begin retry") == -1)
		return -1;
	/* A retry repeats the original request: one retry of it at a time. */
	if ((s = prepare(st, "SELECT j.state IN ('failed', 'cancelled'),"
	    " coalesce((SELECT r.id FROM jobs r WHERE r.thread_id ="
	    " j.thread_id AND r.state IN ('queued', 'running')"
	    " AND r.retry_of = coalesce(j.retry_of, j.id) ORDER BY r.id"
	    " LIMIT 1), 0) FROM jobs j WHERE j.id = ?1")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	rc = sqlite3_step(s);
	can = rc == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
	if (rc == SQLITE_ROW)
		queued = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW || !can || queued != 0) {
		exec(st, "ROLLBACK", "rollback");
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_fail(st, "read job");
		*is_queued = can && queued != 0;
		return rc == SQLITE_DONE ? -2 : *is_queued ? queued : 0;
	}
	/* A retry of a retry repeats the original request. */
	s = prepare(st, "INSERT INTO jobs (thread_id, kind, state, step,"
	    " instruction, context, requested_by, requested_by_id,"
	    " association, trigger_id, trigger_on, created_at, retry_of)"
	    " SELECT thread_id, 'retry', 'queued', 'queued', instruction,"
	    " context, requested_by, requested_by_id, association,"
	    " trigger_id, trigger_on, ?2, coalesce(retry_of, id) FROM jobs"
	    " WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, util_now_ms());
	}
	if (run(st, s, "queue retry") == -1)
		goto fail;
	id = sqlite3_last_insert_rowid(store_db(st));
	/* The operator asks again for what was asked: the same requests,
	 * each checked again before its text is used. */
	s = prepare(st, "INSERT INTO requests (job_id, author, author_id,"
	    " association, trigger_id, trigger_on, text, context, is_repeat,"
	    " created_at) SELECT ?1, author, author_id, association,"
	    " trigger_id, trigger_on, text, context, 0, ?3 FROM requests"
	    " WHERE job_id = (SELECT coalesce(retry_of, id) FROM jobs"
	    " WHERE id = ?2) AND is_repeat = 0 ORDER BY id");
	if (s) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, job);
		sqlite3_bind_int64(s, 3, util_now_ms());
	}
	if (run(st, s, "copy requests") == -1)
		goto fail;
	if (exec(st, "COMMIT", "commit retry") == -1)
		return -1;
	return id;
fail:
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int64_t
store_local_job(struct store *st, const struct config *cfg,
    const char *repo_dir, const char *task, const char *branch)
{
	sqlite3_stmt *s;
	int64_t number = 0, thread, job, now = util_now_ms();
	char *name = NULL;
	int rc;

	if (exec(st, "BEGIN IMMEDIATE", "begin local job") == -1)
		return -1;
	if ((s = prepare(st, "SELECT coalesce(max(number), 0) + 1 FROM"
	    " threads WHERE forge = 'local' AND repo = ?1")) == NULL)
		goto fail;
	store_bind_text(s, 1, repo_dir);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		number = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		store_fail(st, "number local run");
		goto fail;
	}
	name = branch ? xstrdup(branch) : xasprintf("%slocal-%lld",
	    cfg->branch_prefix, (long long)number);
	s = prepare(st, "INSERT INTO threads (forge, repo, number, title,"
	    " body, clone_url, branch, created_at, updated_at) VALUES"
	    " ('local', ?1, ?2, ?3, ?4, ?1, ?5, ?6, ?6)");
	if (s) {
		char *title = xstrndup(task, strcspn(task, "\n"));

		store_bind_text(s, 1, repo_dir);
		sqlite3_bind_int64(s, 2, number);
		store_bind_text(s, 3, title);
		store_bind_text(s, 4, task);
		store_bind_text(s, 5, name);
		sqlite3_bind_int64(s, 6, now);
		free(title);
	}
	if (run(st, s, "record local thread") == -1)
		goto fail;
	thread = sqlite3_last_insert_rowid(store_db(st));
	s = prepare(st, "INSERT INTO jobs (thread_id, kind, state, step,"
	    " instruction, requested_by, created_at, started_at, attempts)"
	    " VALUES (?1, 'implement', 'running', 'queued', ?2, 'local', ?3,"
	    " ?3, 1)");
	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, task);
		sqlite3_bind_int64(s, 3, now);
	}
	if (run(st, s, "record local job") == -1)
		goto fail;
	job = sqlite3_last_insert_rowid(store_db(st));
	free(name);
	if (exec(st, "COMMIT", "commit local job") == -1)
		return -1;
	return job;
fail:
	free(name);
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
