/*
 * The scheduler's side of the store: claiming runnable jobs within the
 * limits, acknowledging queued ones, answering cancel and help, and jobs
 * whose runner was lost.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"


/* A control request answered: "cancel" stops the thread's running job and
 * drops its queued ones; "help" has nothing to run (its reply, when there
 * is one, is a runner's). Inside the caller's transaction. */
static int
control(struct store *st, int64_t id, int64_t thread, enum job_kind kind,
    int64_t now)
{
	sqlite3_stmt *s;

	if (kind == JOB_CANCEL) {
		s = store_prepare(st, "UPDATE jobs SET cancel_requested = 1"
		    " WHERE thread_id = ?1 AND state = 'running'");
		if (s)
			sqlite3_bind_int64(s, 1, thread);
		if (store_run(st, s, "cancel running job") == -1)
			return -1;
		s = store_prepare(st, "UPDATE jobs SET state = 'cancelled',"
		    " step = 'cancelled', finished_at = ?3, error ="
		    " 'cancelled by /agent cancel' WHERE thread_id = ?1"
		    " AND state = 'queued' AND id < ?2");
		if (s) {
			sqlite3_bind_int64(s, 1, thread);
			sqlite3_bind_int64(s, 2, id);
			sqlite3_bind_int64(s, 3, now);
		}
		if (store_run(st, s, "cancel queued jobs") == -1)
			return -1;
	}
	s = store_prepare(st, "UPDATE jobs SET state = 'done', step = 'done',"
	    " started_at = ?2, finished_at = ?2, result = ?3 WHERE id = ?1");
	if (s) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, now);
		store_bind_text(s, 3, kind == JOB_CANCEL ?
		    "the thread's jobs were cancelled" : "nothing to run");
	}
	return store_run(st, s, "answer control request");
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
claim_control(struct store *st, unsigned forges, int64_t now)
{
	sqlite3_stmt *s;
	enum job_kind kind;
	enum forge forge;
	int64_t id, thread;
	int rc;

	if ((s = store_prepare(st, "SELECT j.id, j.thread_id, j.kind, t.forge,"
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
		if (job_kind_parse((const char *)sqlite3_column_text(s, 2),
		    &kind) == -1)
			continue;
		if (job_forge_parse((const char *)sqlite3_column_text(s, 3),
		    &forge) == 0 && (forges & JOB_FORGE_BIT(forge))) {
			if (sqlite3_column_int(s, 4) != 0 ||
			    sqlite3_column_int(s, 5) < STORE_ACK_TRIES)
				continue;
			if (kind == JOB_CANCEL) {
				if (store_job_finish(st, id, JOB_FAILED, NULL,
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
	enum job_kind kind;
	int64_t thread = 0;
	int rc;
	bool is_control = false;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin control") == -1)
		return -1;
	if ((s = store_prepare(st, "SELECT thread_id, kind FROM jobs WHERE id"
	    " = ?1"
	    " AND state = 'queued' AND kind IN ('cancel', 'help')")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		thread = sqlite3_column_int64(s, 0);
		is_control = job_kind_parse((const char *)
		    sqlite3_column_text(s, 1), &kind) == 0;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(st, "read request");
		goto fail;
	}
	/* Already answered (or not a control request): nothing to do. */
	if (is_control && control(st, job, thread, kind,
	    util_now_ms()) == -1)
		goto fail;
	return store_sql(st, "COMMIT", "commit control");
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_claim(struct store *st, const struct config *cfg, unsigned forges,
    int64_t *ids, size_t max)
{
	struct busy busy = { 0 };
	int64_t *blocked = NULL, now = util_now_ms();
	size_t nblocked = 0, n = 0, i;
	int running = 0, rc;
	sqlite3_stmt *s = NULL, *u;
	bool is_blocked;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin claim") == -1)
		return -1;
	if (claim_control(st, forges, now) == -1)
		goto fail;
	if (max == 0)
		goto commit;
	/* What runs now, per repository and per thread. */
	if ((s = store_prepare(st, "SELECT t.forge || ' ' || t.repo,"
	    " j.thread_id"
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
	if ((s = store_prepare(st, "SELECT j.id, j.thread_id,"
	    " t.forge || ' ' || t.repo, EXISTS (SELECT 1 FROM job_steps a"
	    " WHERE a.job_id = j.id AND a.step = 'acknowledge'"
	    " AND a.finished_at IS NULL), t.repo FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'queued'"
	    " AND j.kind NOT IN ('cancel', 'help')"
	    " AND t.forge <> ?1 ORDER BY j.id")) == NULL)
		goto fail;
	store_bind_text(s, 1, forge_name(FORGE_LOCAL));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int64_t thread = sqlite3_column_int64(s, 1);
		int *repo_running = busy_count(&busy,
		    (const char *)sqlite3_column_text(s, 2));
		/* Each repository's own max_per_repo ([repo] sections). */
		const char *repo = (const char *)sqlite3_column_text(s, 4);

		is_blocked = false;
		for (i = 0; i < nblocked; i++)
			is_blocked |= blocked[i] == thread;
		/* One job per thread, in arrival order: a later job of a
		 * thread waits behind an earlier one. */
		blocked = xrealloc(blocked, (nblocked + 1) * sizeof(*blocked));
		blocked[nblocked++] = thread;
		if (is_blocked || n >= max || running >= cfg->max_parallel ||
		    *repo_running >= CONFIG_REPO(cfg, repo, int,
		    max_per_repo) ||
		    sqlite3_column_int(s, 3) != 0)
			continue;
		if ((u = store_prepare(st, "UPDATE jobs SET state = 'running',"
		    " started_at = coalesce(started_at, ?2), attempts ="
		    " attempts + 1 WHERE id = ?1")) != NULL) {
			sqlite3_bind_int64(u, 1, id);
			sqlite3_bind_int64(u, 2, now);
		}
		if (store_run(st, u, "claim job") == -1)
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
	if (store_sql(st, "COMMIT", "commit claim") == -1)
		goto fail;
	free(blocked);
	busy_free(&busy);
	return (int)n;
fail_step:
	store_fail(st, "claim jobs");
fail:
	sqlite3_finalize(s);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	free(blocked);
	busy_free(&busy);
	return -1;
}

int
store_runner_lost(struct store *st, int64_t job, const char *why,
    int max_attempts, bool *requeued)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT state, attempts FROM jobs"
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
		s = store_prepare(st, "UPDATE jobs SET state = 'queued',"
		    " runner_pid = NULL WHERE id = ?1");
		if (s)
			sqlite3_bind_int64(s, 1, job);
		return store_run(st, s, "requeue job");
	}
	error = xasprintf("%s (after %d attempts)", why, attempts);
	rc = store_job_finish(st, job, store_cancel_requested(st, job) == 1 ?
	    JOB_CANCELLED : JOB_FAILED, NULL, error);
	free(error);
	return rc;
}

/* The names of the forges in the set, as parameters i on (NULL for each
 * forge not in it, which matches nothing). */
static void
bind_forges(sqlite3_stmt *s, int i, unsigned forges)
{
	static const enum forge all[] = { FORGE_GITHUB, FORGE_GITLAB,
	    FORGE_LOCAL };
	size_t k;

	for (k = 0; k < nitems(all); k++)
		store_bind_text(s, i + (int)k, forges & JOB_FORGE_BIT(all[k]) ?
		    forge_name(all[k]) : NULL);
}

int
store_claim_ack(struct store *st, unsigned forges, int64_t *ids, size_t max)
{
	sqlite3_stmt *s, *u;
	int64_t now = util_now_ms();
	size_t n = 0;
	int rc;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin acknowledgements") == -1)
		return -1;
	/* Cancel and help first: they are decided here, at once; an
	 * acknowledgement of theirs that failed is tried again. */
	if ((s = store_prepare(st, "SELECT j.id FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'queued'"
	    " AND t.forge IN (?3, ?4, ?5)"
	    " AND NOT EXISTS (SELECT 1 FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge' AND NOT (j.kind IN ('cancel',"
	    " 'help') AND a.detail IS 'not acknowledged'))"
	    " AND (SELECT count(*) FROM job_steps a WHERE a.job_id = j.id"
	    " AND a.step = 'acknowledge') < ?2"
	    " ORDER BY j.kind IN ('cancel', 'help') DESC, j.id"
	    " LIMIT ?1")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)max);
	sqlite3_bind_int(s, 2, STORE_ACK_TRIES);
	bind_forges(s, 3, forges);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(s, 0);
		if ((u = store_prepare(st, "INSERT INTO job_steps (job_id,"
		    " step,"
		    " started_at) VALUES (?1, 'acknowledge', ?2)")) != NULL) {
			sqlite3_bind_int64(u, 1, ids[n]);
			sqlite3_bind_int64(u, 2, now);
		}
		if (store_run(st, u, "start acknowledging") == -1) {
			sqlite3_finalize(s);
			goto fail;
		}
		n++;
	}
	sqlite3_finalize(s);
	if (store_sql(st, "COMMIT", "commit acknowledgements") == -1)
		goto fail;
	return (int)n;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
store_ack_abandon(struct store *st, int64_t job)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE job_steps SET finished_at"
	    " = ?2,"
	    " detail = 'not acknowledged' WHERE job_id = ?1"
	    " AND step = 'acknowledge' AND finished_at IS NULL");

	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, util_now_ms());
	}
	return store_run(st, s, "abandon acknowledgement");
}

int
store_acknowledged(struct store *st, int64_t job)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT count(*) FROM job_steps"
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
	sqlite3_stmt *s = store_prepare(st, "SELECT count(*) FROM jobs WHERE"
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
	ack = store_prepare(st, "UPDATE job_steps SET finished_at = ?1, detail"
	    " ="
	    " 'not acknowledged' WHERE step = 'acknowledge' AND finished_at"
	    " IS NULL");
	if (ack)
		sqlite3_bind_int64(ack, 1, util_now_ms());
	if (store_run(st, ack, "close acknowledgements") == -1)
		return -1;
	if ((s = store_prepare(st, "SELECT j.id FROM jobs j JOIN threads t"
	    " ON t.id = j.thread_id WHERE j.state = 'running'"
	    " AND t.forge <> ?1")) == NULL)
		return -1;
	store_bind_text(s, 1, forge_name(FORGE_LOCAL));
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
		if ((s = store_prepare(st, "UPDATE jobs SET state = 'queued',"
		    " runner_pid = NULL WHERE id = ?1 AND state = 'running'"))
		    != NULL)
			sqlite3_bind_int64(s, 1, ids[i]);
		if (store_run(st, s, "requeue running jobs") == -1) {
			free(ids);
			return -1;
		}
		requeued += sqlite3_changes(st->db);
	}
	free(ids);
	return requeued;
}

int
store_run_counts(struct store *st, int64_t *running, int64_t *queued)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT coalesce(sum(state ="
	    " 'running'),"
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

