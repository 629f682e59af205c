/*
 * Recording a delivery: deduplicated, then what it asks applied to its
 * thread (a new job, a revision folded into a queued one, a closed thread),
 * with its requests; a batch of deliveries in one transaction.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store_sqlite.h"
#include "util.h"

static const char *const stmt_sql[S_NSTMT] = {
	[S_DELIVERY_FIND] = "SELECT coalesce(job_id, 0) FROM deliveries"
	    " WHERE forge = ?1 AND delivery = ?2",
	[S_DELIVERY_INSERT] = "INSERT INTO deliveries (forge, delivery, event,"
	    " received_at, verdict, reason, job_id)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0))",
	[S_THREAD_BY_ISSUE] = "SELECT id, branch, state FROM threads"
	    " WHERE forge = ?1 AND repo = ?2 AND number = ?3",
	[S_THREAD_BY_PR] = "SELECT id, branch, state FROM threads"
	    " WHERE forge = ?1 AND repo = ?2 AND pr_number = ?3",
	[S_THREAD_INSERT] = "INSERT INTO threads (forge, repo, number, title,"
	    " body, clone_url, default_branch, installation_id, branch,"
	    " created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, 0), ?9, ?10, ?10)",
	[S_THREAD_REOPEN] = "UPDATE threads SET state = 'open', pr_number ="
	    " NULL, pr_url = NULL, updated_at = ?2 WHERE id = ?1",
	[S_THREAD_CLOSE] = "UPDATE threads SET state = ?2, updated_at = ?3"
	    " WHERE id = ?1",
	[S_JOB_INSERT] = "INSERT INTO jobs (thread_id, kind, state, step,"
	    " instruction, context, requested_by, requested_by_id, association,"
	    " trigger_id, created_at, trigger_on, retry_of, ci_id)"
	    " VALUES (?1, ?2, 'queued', 'queued', ?3, ?4, ?5, nullif(?6, 0), ?7,"
	    " nullif(?8, 0), ?9, ?10, nullif(?11, 0), nullif(?12, 0))",
	[S_JOB_FOLDABLE] = "SELECT id, instruction, context FROM jobs"
	    " WHERE thread_id = ?1 AND kind = ?2 AND state = 'queued'"
	    " AND created_at >= ?3 ORDER BY id DESC LIMIT 1",
	/* A later CI failure's suite or pipeline replaces the earlier. */
	[S_JOB_FOLD] = "UPDATE jobs SET instruction = ?2, context = ?3,"
	    " ci_id = coalesce(nullif(?4, 0), ci_id) WHERE id = ?1",
	[S_JOBS_CANCEL_QUEUED] = "UPDATE jobs SET state = 'cancelled',"
	    " finished_at = ?2, error = ?3 WHERE thread_id = ?1"
	    " AND state = 'queued'",
	[S_CI_FIXES] = "SELECT count(*) FROM jobs WHERE thread_id = ?1"
	    " AND kind = 'fix-ci' AND id > coalesce((SELECT max(id) FROM jobs"
	    " WHERE thread_id = ?1 AND kind IN ('implement', 'revise',"
	    " 'retry')), 0)",
	[S_REQUEST_INSERT] = "INSERT INTO requests (job_id, author,"
	    " author_id, association, trigger_id, trigger_on, text, context,"
	    " created_at) VALUES (?1, ?2, nullif(?3, 0), ?4, nullif(?5, 0),"
	    " ?6, ?7, ?8, ?9)",
	/* The job a comment or review already asked for: ids are the
	 * forge's, unique within what they are (trigger_on). */
	[S_REQUEST_SEEN] = "SELECT r.job_id FROM requests r JOIN jobs j"
	    " ON j.id = r.job_id JOIN threads t ON t.id = j.thread_id"
	    " WHERE r.trigger_id = ?1 AND r.trigger_on = ?2"
	    " AND r.is_repeat = 0 AND t.forge = ?3 AND t.repo = ?4"
	    " ORDER BY r.id LIMIT 1",
	[S_IMPLEMENT_ACTIVE] = "SELECT j.id FROM jobs j WHERE j.thread_id = ?1"
	    " AND j.state IN ('queued', 'running') AND "
	    STORE_ORIGIN_KIND("j") " = 'implement' ORDER BY j.id LIMIT 1",
	[S_RETRY_ACTIVE] = "SELECT id FROM jobs WHERE thread_id = ?1"
	    " AND state IN ('queued', 'running') AND retry_of = ?2"
	    " ORDER BY id LIMIT 1",
	/* A batch's own statements: sqlite3_exec would parse them anew for
	 * every delivery. */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_SAVEPOINT] = "SAVEPOINT d",
	[S_RELEASE] = "RELEASE d",
};

sqlite3_stmt *
store_stmt(struct store *st, enum store_stmt id)
{
	sqlite3_stmt **s = &st->stmt[id];

	if (*s == NULL) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK) {
			store_fail(st, "prepare");
			return NULL;
		}
	} else {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
	}
	return *s;
}

/* Where ev was said, as the store keeps it. */
static const char *
trigger_on(const struct forge_event *ev)
{
	enum forge_on on;

	switch (ev->type) {
	case EV_REVIEW:
		on = FORGE_ON_REVIEW;
		break;
	case EV_REVIEW_COMMENT:
		on = FORGE_ON_REVIEW_COMMENT;
		break;
	case EV_CI_COMPLETED:
		on = FORGE_ON_CI;
		break;
	default:
		on = ev->is_pr ? FORGE_ON_PR : FORGE_ON_ISSUE;
		break;
	}
	return job_on_name(on);
}

/* Inline-comment context of a revision, appended to what a folded job had. */
static char *
context_json(const struct forge_event *ev, const char *previous)
{
	cJSON *arr = NULL, *o;
	char *out;

	if (ev->path == NULL && ev->discussion_id == NULL)
		return previous ? xstrdup(previous) : NULL;
	if (previous != NULL)
		arr = cJSON_Parse(previous);
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		arr = cJSON_CreateArray();
	}
	o = cJSON_CreateObject();
	if (ev->path)
		cJSON_AddStringToObject(o, "path", ev->path);
	if (ev->line > 0)
		cJSON_AddNumberToObject(o, "line", (double)ev->line);
	if (ev->diff_hunk)
		cJSON_AddStringToObject(o, "diff_hunk", ev->diff_hunk);
	if (ev->discussion_id)
		cJSON_AddStringToObject(o, "discussion_id", ev->discussion_id);
	if (ev->review_id > 0)
		cJSON_AddNumberToObject(o, "review_id", (double)ev->review_id);
	if (ev->text)
		cJSON_AddStringToObject(o, "body", ev->text);
	if (ev->sender)
		cJSON_AddStringToObject(o, "author", ev->sender);
	if (ev->comment_id)
		cJSON_AddNumberToObject(o, "id", (double)ev->comment_id);
	cJSON_AddItemToArray(arr, o);
	out = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return out;
}

/* Record the request ev makes of job: who asked, where, their text and
 * inline comment (a retry's text is the retried job's, copied by
 * copy_requests). */
static int
request_insert(struct store *st, const struct forge_event *ev,
    const struct command *cmd, int64_t job)
{
	sqlite3_stmt *s = store_stmt(st, S_REQUEST_INSERT);
	char *context;
	int rc;

	if (s == NULL)
		return -1;
	context = cmd->kind == CMD_RETRY ? NULL : context_json(ev, NULL);
	sqlite3_bind_int64(s, 1, job);
	store_bind_static(s, 2, ev->sender);
	sqlite3_bind_int64(s, 3, ev->sender_id);
	store_bind_static(s, 4, ev->association);
	sqlite3_bind_int64(s, 5, ev->comment_id);
	store_bind_static(s, 6, trigger_on(ev));
	store_bind_static(s, 7, cmd->kind == CMD_RETRY ? NULL : cmd->instruction);
	store_bind_static(s, 8, context);
	sqlite3_bind_int64(s, 9, util_now_ms());
	rc = store_step_done(st, s, "record request");
	free(context);
	return rc;
}

/* The job that the comment or review ev was already recorded for (a
 * delivery sent again under a new id: GitHub's signature covers neither
 * an id nor a time), or 0. Returns 0 or -1. */
static int
request_seen(struct store *st, const struct forge_event *ev, int64_t *job)
{
	sqlite3_stmt *s;
	int rc;

	*job = 0;
	if (ev->comment_id <= 0 || (ev->type != EV_COMMENT &&
	    ev->type != EV_REVIEW && ev->type != EV_REVIEW_COMMENT))
		return 0;
	if ((s = store_stmt(st, S_REQUEST_SEEN)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, ev->comment_id);
	store_bind_static(s, 2, trigger_on(ev));
	store_bind_static(s, 3, forge_name(ev->forge));
	store_bind_static(s, 4, ev->repo);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*job = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    store_fail(st, "find request");
}

/* The first queued or running job of thread that id's statement finds
 * (with ?2 bound to arg), or 0. Returns 0 or -1. */
static int
active_job(struct store *st, enum store_stmt id, int64_t thread, int64_t arg,
    int64_t *job)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int rc;

	*job = 0;
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	if (id == S_RETRY_ACTIVE)
		sqlite3_bind_int64(s, 2, arg);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*job = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    store_fail(st, "find active job");
}

/* Fold a revision into a queued one of the same thread: 1 folded, 0 not, -1 error. */
static int
job_fold(struct store *st, const struct config *cfg, const struct forge_event *ev,
    const struct command *cmd, int64_t thread, const char *kind, int64_t *job)
{
	sqlite3_stmt *s;
	char *instruction = NULL, *context = NULL;
	const char *old_ins, *old_ctx;
	int64_t coalesce_ms = CONFIG_REPO(cfg, ev->repo, int64_t, coalesce_ms);
	int rc;

	if (coalesce_ms <= 0 || (s = store_stmt(st, S_JOB_FOLDABLE)) == NULL)
		return coalesce_ms <= 0 ? 0 : -1;
	sqlite3_bind_int64(s, 1, thread);
	store_bind_static(s, 2, kind);
	sqlite3_bind_int64(s, 3, util_now_ms() - coalesce_ms);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? 0 : store_fail(st, "find queued job");
	}
	*job = sqlite3_column_int64(s, 0);
	old_ins = (const char *)sqlite3_column_text(s, 1);
	old_ctx = (const char *)sqlite3_column_text(s, 2);
	if (old_ins && cmd->instruction)
		instruction = xasprintf("%s\n\n%s", old_ins, cmd->instruction);
	else if (old_ins || cmd->instruction)
		instruction = xstrdup(old_ins ? old_ins : cmd->instruction);
	context = context_json(ev, old_ctx);
	sqlite3_reset(s);
	if ((s = store_stmt(st, S_JOB_FOLD)) == NULL)
		rc = -1;
	else {
		sqlite3_bind_int64(s, 1, *job);
		store_bind_static(s, 2, instruction);
		store_bind_static(s, 3, context);
		sqlite3_bind_int64(s, 4, ev->ci_id);
		rc = store_step_done(st, s, "fold job") == 0 &&
		    request_insert(st, ev, cmd, *job) == 0 ? 1 : -1;
	}
	free(instruction);
	free(context);
	return rc;
}

/* "/agent retry": the thread's latest failed or cancelled request, whose
 * instruction and context the retry repeats (*orig 0: none). */
static int
retry_target(struct store *st, int64_t thread, int64_t *orig, char **ins,
    char **ctx)
{
	sqlite3_stmt *s;
	int rc;

	*orig = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT coalesce(retry_of, id),"
	    " instruction, context FROM jobs WHERE thread_id = ?1"
	    " AND state IN ('failed', 'cancelled') AND kind NOT IN"
	    " ('cancel', 'help') ORDER BY id DESC LIMIT 1", -1, &s,
	    NULL) != SQLITE_OK)
		return store_fail(st, "find job to retry");
	sqlite3_bind_int64(s, 1, thread);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*orig = sqlite3_column_int64(s, 0);
		*ins = sqlite3_column_text(s, 1) ? xstrdup((const char *)
		    sqlite3_column_text(s, 1)) : NULL;
		*ctx = sqlite3_column_text(s, 2) ? xstrdup((const char *)
		    sqlite3_column_text(s, 2)) : NULL;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    store_fail(st, "find job to retry");
}

/* A retry's copies of the requests of orig, the job it repeats: marked
 * as repeats when the retry has a requester of its own, whose permission
 * is what lets it run. Each is checked again before its text is used. */
static int
copy_requests(struct store *st, int64_t job, int64_t orig, bool is_repeat)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, "INSERT INTO requests (job_id, author,"
	    " author_id, association, trigger_id, trigger_on, text, context,"
	    " is_repeat, created_at) SELECT ?1, author, author_id,"
	    " association, trigger_id, trigger_on, text, context, ?3, ?4"
	    " FROM requests WHERE job_id = ?2 AND is_repeat = 0 ORDER BY id",
	    -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "copy requests");
	sqlite3_bind_int64(s, 1, job);
	sqlite3_bind_int64(s, 2, orig);
	sqlite3_bind_int(s, 3, is_repeat);
	sqlite3_bind_int64(s, 4, util_now_ms());
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "copy requests");
}

/* 0 inserted, 1 a retry with nothing to retry, 2 a retry of a request
 * whose retry is queued or running already (*job: that one), -1 store
 * error. */
static int
job_insert(struct store *st, const struct forge_event *ev, const struct command *cmd,
    int64_t thread, const char *kind, int64_t *job)
{
	sqlite3_stmt *s;
	char *context = NULL, *instruction = NULL;
	int64_t now = util_now_ms(), orig = 0;
	int rc;

	if (cmd->kind == CMD_RETRY) {
		if (retry_target(st, thread, &orig, &instruction,
		    &context) == -1)
			return -1;
		if (orig == 0)
			return 1;
		if (active_job(st, S_RETRY_ACTIVE, thread, orig, job) == -1 ||
		    *job != 0) {
			free(instruction);
			free(context);
			return *job != 0 ? 2 : -1;
		}
	}
	if ((s = store_stmt(st, S_JOB_INSERT)) == NULL) {
		free(instruction);
		free(context);
		return -1;
	}
	if (cmd->kind != CMD_RETRY)
		context = context_json(ev, NULL);
	sqlite3_bind_int64(s, 1, thread);
	store_bind_static(s, 2, kind);
	store_bind_static(s, 3, cmd->kind == CMD_RETRY ? instruction :
	    cmd->instruction);
	store_bind_static(s, 4, context);
	store_bind_static(s, 5, ev->sender);
	sqlite3_bind_int64(s, 6, ev->sender_id);
	store_bind_static(s, 7, ev->association);
	sqlite3_bind_int64(s, 8, ev->comment_id);
	sqlite3_bind_int64(s, 9, now);
	store_bind_static(s, 10, trigger_on(ev));
	sqlite3_bind_int64(s, 11, orig);
	sqlite3_bind_int64(s, 12, ev->ci_id);
	rc = store_step_done(st, s, "insert job");
	free(instruction);
	free(context);
	if (rc == -1)
		return -1;
	*job = sqlite3_last_insert_rowid(st->db);
	if (request_insert(st, ev, cmd, *job) == -1 ||
	    (orig != 0 && copy_requests(st, *job, orig, true) == -1))
		return -1;
	return 0;
}

static int
count_ci_fixes(struct store *st, int64_t thread, int64_t *n)
{
	sqlite3_stmt *s = store_stmt(st, S_CI_FIXES);
	int rc;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "count CI fixes");
}

/* Apply cmd to its thread; fills res. */
static int
apply(struct store *st, const struct config *cfg, const struct forge_event *ev,
    const struct command *cmd, struct record_result *res)
{
	struct store_thread t = { 0 };
	const char *kind = rules_kind_name(cmd->kind);
	int found, folded, rc = -1;
	int64_t n;

	res->verdict = VERDICT_QUEUED;
	/* The same comment or review sent again under a new delivery id. */
	if (request_seen(st, ev, &res->job) == -1)
		goto out;
	if (res->job != 0) {
		res->verdict = VERDICT_DUPLICATE;
		rc = 0;
		goto out;
	}
	if ((found = store_thread_for(st, ev, cmd, &t)) == -1)
		goto out;
	switch (cmd->kind) {
	case CMD_REVISE:
		if (!found && cmd->key == THREAD_BY_ISSUE) {
			/* "/agent TEXT" on an issue with no thread yet. */
			kind = rules_kind_name(CMD_IMPLEMENT);
			break;
		}
		/* FALLTHROUGH */
	case CMD_CANCEL:
	case CMD_RETRY:
	case CMD_FIX_CI:
	case CMD_CLOSE:
		if (!found) {
			res->verdict = VERDICT_IGNORED;
			res->reason = "no handoff thread for this";
			rc = 0;
			goto out;
		}
		if (t.is_closed && cmd->kind != CMD_CLOSE) {
			res->verdict = VERDICT_IGNORED;
			res->reason = "thread is closed";
			rc = 0;
			goto out;
		}
		break;
	case CMD_HELP:
		if (!found && cmd->key != THREAD_BY_ISSUE) {
			res->verdict = VERDICT_IGNORED;
			res->reason = "no handoff thread for this";
			rc = 0;
			goto out;
		}
		break;
	default:
		break;
	}

	if (cmd->kind == CMD_CLOSE) {
		res->verdict = VERDICT_IGNORED;
		res->reason = ev->merged ? "pull request merged: thread closed" :
		    "pull request closed: thread closed";
		rc = store_thread_close(st, ev, t.id);
		goto out;
	}
	if (cmd->kind == CMD_FIX_CI) {
		if (count_ci_fixes(st, t.id, &n) == -1)
			goto out;
		if (n >= CONFIG_REPO(cfg, ev->repo, int, max_ci_fixes)) {
			res->verdict = VERDICT_IGNORED;
			res->reason = "CI fix limit reached ([runs] max_ci_fixes)";
			rc = 0;
			goto out;
		}
	}
	if (cmd->kind == CMD_IMPLEMENT && found && !t.is_closed) {
		/* A label event again (sent anew, or the label added once
		 * more) while the issue's implementation is queued or
		 * running: that job is the answer. */
		if (active_job(st, S_IMPLEMENT_ACTIVE, t.id, 0, &res->job) == -1)
			goto out;
		if (res->job != 0) {
			res->verdict = VERDICT_DUPLICATE;
			rc = 0;
			goto out;
		}
	}
	if (!found) {
		if (store_thread_create(st, cfg, ev, &t) == -1)
			goto out;
	} else if (t.is_closed) {
		/* The label again on an issue whose pull request was closed. */
		if (store_thread_reopen(st, t.id) == -1)
			goto out;
	}
	if (cmd->kind == CMD_REVISE || cmd->kind == CMD_FIX_CI) {
		if ((folded = job_fold(st, cfg, ev, cmd, t.id, kind,
		    &res->job)) != 0) {
			rc = folded == 1 ? 0 : -1;
			goto out;
		}
	}
	if ((rc = job_insert(st, ev, cmd, t.id, kind, &res->job)) == 1) {
		res->verdict = VERDICT_IGNORED;
		res->reason = "no failed or cancelled job to retry";
		rc = 0;
	} else if (rc == 2) {
		/* Its retry is queued or running already. */
		res->verdict = VERDICT_DUPLICATE;
		rc = 0;
	}
out:
	free(t.branch);
	return rc;
}

/* Record one delivery inside the caller's transaction; fills res.
 * Returns 0 or -1 on a store error. */
static int
record(struct store *st, const struct config *cfg, const char *delivery,
    const struct forge_event *ev, const struct command *cmd,
    struct record_result *res)
{
	static const char *const verdicts[] = { "queued", "ignored",
	    "duplicate" };
	sqlite3_stmt *s;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((s = store_stmt(st, S_DELIVERY_FIND)) == NULL)
		return -1;
	store_bind_static(s, 1, forge_name(ev->forge));
	store_bind_static(s, 2, delivery);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		res->verdict = VERDICT_DUPLICATE;
		res->job = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "find delivery");

	if (cmd->kind == CMD_IGNORE) {
		res->verdict = VERDICT_IGNORED;
		res->reason = cmd->reason;
	} else if (apply(st, cfg, ev, cmd, res) == -1)
		return -1;

	if ((s = store_stmt(st, S_DELIVERY_INSERT)) == NULL)
		return -1;
	store_bind_static(s, 1, forge_name(ev->forge));
	store_bind_static(s, 2, delivery);
	store_bind_static(s, 3, ev->name ? ev->name : "");
	sqlite3_bind_int64(s, 4, util_now_ms());
	store_bind_static(s, 5, verdicts[res->verdict]);
	store_bind_static(s, 6, res->reason);
	sqlite3_bind_int64(s, 7, res->job);
	return store_step_done(st, s, "insert delivery");
}


/* The store's error as "what: error", for a failure of the whole batch:
 * nothing of it was recorded. */
static void
batch_fail(struct store *st, const char *what, struct store_delivery *list,
    size_t n)
{
	char why[sizeof(st->error)];
	size_t i;

	snprintf(why, sizeof(why), "%s", st->error);
	snprintf(st->error, sizeof(st->error), "%s: %.*s", what,
	    (int)(sizeof(st->error) - strlen(what) - 3), why);
	for (i = 0; i < n; i++)
		list[i].rc = -1;
}

/* Each delivery of list on its own: one that fails is undone alone. */
static void
record_each(struct store *st, const struct config *cfg,
    struct store_delivery *list, size_t n)
{
	struct store_delivery *d;
	size_t i;

	for (i = 0; i < n; i++) {
		d = &list[i];
		d->rc = 0;
		d->error[0] = '\0';
		if (store_savepoint(st) == -1 || record(st, cfg, d->delivery,
		    d->ev, d->cmd, &d->res) == -1) {
			snprintf(d->error, sizeof(d->error), "%s", st->error);
			store_savepoint_rollback(st);
			d->rc = -1;
		} else
			store_savepoint_release(st);
	}
}

/* All of list with no savepoints, which journal every page a delivery
 * changes: 0, or -1 when one failed (the transaction must be undone). */
static int
record_all(struct store *st, const struct config *cfg,
    struct store_delivery *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		list[i].rc = 0;
		list[i].error[0] = '\0';
		if (record(st, cfg, list[i].delivery, list[i].ev, list[i].cmd,
		    &list[i].res) == -1)
			return -1;
	}
	return 0;
}

/* A batch's transaction: 0, or -1 with every delivery failed. */
static int
batch_begin(struct store *st, struct store_delivery *list, size_t n)
{
	size_t i;

	if (store_begin(st) == 0)
		return 0;
	for (i = 0; i < n; i++)
		list[i].error[0] = '\0';
	batch_fail(st, "begin", list, n);
	return -1;
}

int
store_record_batch(struct store *st, const struct config *cfg,
    struct store_delivery *list, size_t n)
{
	if (batch_begin(st, list, n) == -1)
		return -1;
	/* Deliveries fail only when the store does: try them all at once,
	 * and only after a failure each on its own. */
	if (record_all(st, cfg, list, n) == -1) {
		if (!sqlite3_get_autocommit(st->db))
			store_rollback(st);
		if (batch_begin(st, list, n) == -1)
			return -1;
		record_each(st, cfg, list, n);
	}
	if (store_commit(st) == -1) {
		char why[sizeof(st->error)];

		batch_fail(st, "commit", list, n);
		memcpy(why, st->error, sizeof(why));
		store_rollback(st);
		memcpy(st->error, why, sizeof(why));
		return -1;
	}
	return 0;
}
