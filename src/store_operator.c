/*
 * The operator's requests of the store: `handoff cancel`, `handoff retry`,
 * and the local thread and job of `handoff run`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

int
store_job_cancel(struct store *st, int64_t job)
{
	sqlite3_stmt *s;
	char *state = NULL;
	int rc;

	if (store_sql(st, "BEGIN IMMEDIATE", "begin cancel") == -1)
		return -1;
	if ((s = store_prepare(st, "SELECT state FROM jobs WHERE id ="
	    " ?1")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, job);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		state = store_column_dup(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		store_sql(st, "ROLLBACK", "rollback");
		return -2;
	}
	if (state == NULL) {
		store_fail(st, "read job");
		goto fail;
	}
	if (strcmp(state, "queued") == 0) {
		s = store_prepare(st, "UPDATE jobs SET state = 'cancelled',"
		    " step ="
		    " 'cancelled', finished_at = ?2, error = 'cancelled by"
		    " handoff cancel' WHERE id = ?1");
		rc = 1;
	} else if (strcmp(state, "running") == 0) {
		s = store_prepare(st, "UPDATE jobs SET cancel_requested = 1"
		    " WHERE id = ?1 AND ?2 > 0");
		rc = 2;
	} else {
		s = NULL;
		rc = 0;
	}
	if (s) {
		sqlite3_bind_int64(s, 1, job);
		sqlite3_bind_int64(s, 2, util_now_ms());
		if (store_run(st, s, "cancel job") == -1)
			goto fail;
	}
	free(state);
	if (store_sql(st, "COMMIT", "commit cancel") == -1)
		return -1;
	return rc;
fail:
	free(state);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
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
	if (store_sql(st, "BEGIN IMMEDIATE", "begin retry") == -1)
		return -1;
	/* A retry repeats the original request: one retry of it at a time. */
	if ((s = store_prepare(st, "SELECT j.state IN ('failed', 'cancelled'),"
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
		store_sql(st, "ROLLBACK", "rollback");
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_fail(st, "read job");
		*is_queued = can && queued != 0;
		return rc == SQLITE_DONE ? -2 : *is_queued ? queued : 0;
	}
	/* A retry of a retry repeats the original request. */
	s = store_prepare(st, "INSERT INTO jobs (thread_id, kind, state, step,"
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
	if (store_run(st, s, "queue retry") == -1)
		goto fail;
	id = sqlite3_last_insert_rowid(st->db);
	/* The operator asks again for what was asked: the same requests,
	 * each checked again before its text is used. */
	s = store_prepare(st, "INSERT INTO requests (job_id, author, author_id,"
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
	if (store_run(st, s, "copy requests") == -1)
		goto fail;
	if (store_sql(st, "COMMIT", "commit retry") == -1)
		return -1;
	return id;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
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

	if (store_sql(st, "BEGIN IMMEDIATE", "begin local job") == -1)
		return -1;
	if ((s = store_prepare(st, "SELECT coalesce(max(number), 0) + 1 FROM"
	    " threads WHERE forge = ?2 AND repo = ?1")) == NULL)
		goto fail;
	store_bind_text(s, 1, repo_dir);
	store_bind_text(s, 2, forge_name(FORGE_LOCAL));
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		number = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		store_fail(st, "number local run");
		goto fail;
	}
	name = branch ? xstrdup(branch) : xasprintf("%slocal-%lld",
	    cfg->branch_prefix, (long long)number);
	s = store_prepare(st, "INSERT INTO threads (forge, repo, number, title,"
	    " body, clone_url, branch, created_at, updated_at) VALUES"
	    " (?7, ?1, ?2, ?3, ?4, ?1, ?5, ?6, ?6)");
	if (s) {
		char *title = xstrndup(task, strcspn(task, "\n"));

		store_bind_text(s, 1, repo_dir);
		sqlite3_bind_int64(s, 2, number);
		store_bind_text(s, 3, title);
		store_bind_text(s, 4, task);
		store_bind_text(s, 5, name);
		sqlite3_bind_int64(s, 6, now);
		store_bind_text(s, 7, forge_name(FORGE_LOCAL));
		free(title);
	}
	if (store_run(st, s, "record local thread") == -1)
		goto fail;
	thread = sqlite3_last_insert_rowid(st->db);
	s = store_prepare(st, "INSERT INTO jobs (thread_id, kind, state, step,"
	    " instruction, requested_by, created_at, started_at, attempts)"
	    " VALUES (?1, 'implement', 'running', 'queued', ?2, 'local', ?3,"
	    " ?3, 1)");
	if (s) {
		sqlite3_bind_int64(s, 1, thread);
		store_bind_text(s, 2, task);
		sqlite3_bind_int64(s, 3, now);
	}
	if (store_run(st, s, "record local job") == -1)
		goto fail;
	job = sqlite3_last_insert_rowid(st->db);
	free(name);
	if (store_sql(st, "COMMIT", "commit local job") == -1)
		return -1;
	return job;
fail:
	free(name);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

