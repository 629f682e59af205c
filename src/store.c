/*
 * The store: SQLite in WAL mode with synchronous=FULL, so a committed
 * delivery survives a crash or power loss. Schema changes are forward
 * migrations keyed by PRAGMA user_version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "text.h"
#include "util.h"

/* Migration i brings the schema from version i to i + 1. */
static const char *const migrations[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE threads ("
	"  id INTEGER PRIMARY KEY,"
	"  forge TEXT NOT NULL,"
	"  repo TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  title TEXT NOT NULL DEFAULT '',"
	"  body TEXT,"
	"  clone_url TEXT,"
	"  default_branch TEXT,"
	"  installation_id INTEGER,"
	"  branch TEXT NOT NULL,"
	"  pr_number INTEGER,"
	"  pr_url TEXT,"
	"  status_comment_id TEXT,"
	"  state TEXT NOT NULL DEFAULT 'open',"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (forge, repo, number));"
	"CREATE INDEX threads_pr ON threads (forge, repo, pr_number);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  thread_id INTEGER NOT NULL REFERENCES threads (id),"
	"  kind TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  step TEXT NOT NULL,"
	"  instruction TEXT,"
	"  context TEXT,"
	"  requested_by TEXT,"
	"  requested_by_id INTEGER,"
	"  association TEXT,"
	"  trigger_id INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER,"
	"  finished_at INTEGER,"
	"  result TEXT,"
	"  error TEXT);"
	"CREATE INDEX jobs_thread ON jobs (thread_id, state);"
	"CREATE INDEX jobs_state ON jobs (state, id);"
	"CREATE TABLE job_steps ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id),"
	"  step TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER,"
	"  detail TEXT);"
	"CREATE INDEX job_steps_job ON job_steps (job_id);"
	"CREATE TABLE deliveries ("
	"  id INTEGER PRIMARY KEY,"
	"  forge TEXT NOT NULL,"
	"  delivery TEXT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  verdict TEXT NOT NULL,"
	"  reason TEXT,"
	"  job_id INTEGER REFERENCES jobs (id),"
	"  UNIQUE (forge, delivery));",
	/* 2: running jobs */
	"ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN runner_pid INTEGER;"
	"ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_of INTEGER REFERENCES jobs (id);"
	"ALTER TABLE jobs ADD COLUMN base_commit TEXT;"
	"ALTER TABLE jobs ADD COLUMN head_commit TEXT;"
	"ALTER TABLE jobs ADD COLUMN summary TEXT;"
	"ALTER TABLE jobs ADD COLUMN diffstat TEXT;"
	"ALTER TABLE threads ADD COLUMN head_commit TEXT;",
	/* 3: where the request was made, for the reaction and the reply */
	"ALTER TABLE jobs ADD COLUMN trigger_on TEXT;",
	/* 4: every request of a job (folded revisions are several), with
	 * its author and whether they may write; a job's own columns keep
	 * its first requester. Queued cancel and help requests are found
	 * without reading the whole queue. */
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id),"
	"  author TEXT,"
	"  author_id INTEGER,"
	"  association TEXT,"
	"  trigger_id INTEGER,"
	"  trigger_on TEXT NOT NULL DEFAULT 'issue',"
	"  text TEXT,"
	"  context TEXT,"
	"  is_repeat INTEGER NOT NULL DEFAULT 0,"
	"  verdict TEXT,"
	"  checked_at INTEGER,"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX requests_job ON requests (job_id);"
	"CREATE INDEX requests_trigger ON requests (trigger_id, trigger_on)"
	"  WHERE trigger_id IS NOT NULL;"
	"CREATE INDEX jobs_control ON jobs (id)"
	"  WHERE state = 'queued' AND kind IN ('cancel', 'help');"
	/* A job from before: one request, its first requester's, holding
	 * all its text; checked again if it has not run yet. */
	"INSERT INTO requests (job_id, author, author_id, association,"
	"  trigger_id, trigger_on, text, context, verdict, created_at)"
	"  SELECT j.id, j.requested_by, j.requested_by_id, j.association,"
	"  j.trigger_id, coalesce(j.trigger_on, 'issue'), j.instruction,"
	"  j.context, CASE WHEN j.state IN ('queued', 'running') THEN NULL"
	"  WHEN EXISTS (SELECT 1 FROM job_steps a WHERE a.job_id = j.id"
	"  AND a.step = 'acknowledge' AND a.detail = 'acknowledged')"
	"  THEN 'allowed' WHEN EXISTS (SELECT 1 FROM job_steps a"
	"  WHERE a.job_id = j.id AND a.step = 'acknowledge'"
	"  AND a.detail = 'refused') THEN 'refused' END, j.created_at"
	"  FROM jobs j JOIN threads t ON t.id = j.thread_id"
	"  WHERE t.forge <> 'local' ORDER BY j.id;",
};

const double store_duration_bounds[STORE_DURATION_BUCKETS] = {
	10, 30, 60, 120, 300, 600, 1800, 3600
};

enum stmt_id {
	S_DELIVERY_FIND, S_DELIVERY_INSERT,
	S_THREAD_BY_ISSUE, S_THREAD_BY_PR, S_THREAD_INSERT, S_THREAD_REOPEN,
	S_THREAD_CLOSE, S_JOB_INSERT, S_JOB_FOLDABLE, S_JOB_FOLD,
	S_JOBS_CANCEL_QUEUED, S_CI_FIXES, S_REQUEST_INSERT, S_REQUEST_SEEN,
	S_IMPLEMENT_ACTIVE, S_RETRY_ACTIVE, S_NSTMT
};

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
	    " trigger_id, created_at, trigger_on, retry_of)"
	    " VALUES (?1, ?2, 'queued', 'queued', ?3, ?4, ?5, nullif(?6, 0), ?7,"
	    " nullif(?8, 0), ?9, ?10, nullif(?11, 0))",
	[S_JOB_FOLDABLE] = "SELECT id, instruction, context FROM jobs"
	    " WHERE thread_id = ?1 AND kind = ?2 AND state = 'queued'"
	    " AND created_at >= ?3 ORDER BY id DESC LIMIT 1",
	[S_JOB_FOLD] = "UPDATE jobs SET instruction = ?2, context = ?3"
	    " WHERE id = ?1",
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
	[S_IMPLEMENT_ACTIVE] = "SELECT j.id FROM jobs j LEFT JOIN jobs o"
	    " ON o.id = j.retry_of WHERE j.thread_id = ?1"
	    " AND j.state IN ('queued', 'running') AND (j.kind = 'implement'"
	    " OR (j.kind = 'retry' AND o.kind = 'implement'))"
	    " ORDER BY j.id LIMIT 1",
	[S_RETRY_ACTIVE] = "SELECT id FROM jobs WHERE thread_id = ?1"
	    " AND state IN ('queued', 'running') AND retry_of = ?2"
	    " ORDER BY id LIMIT 1",
};

struct store {
	sqlite3		*db;
	sqlite3_stmt	*stmt[S_NSTMT];
	char		 error[256];
};

struct thread_row {
	int64_t	 id;
	char	*branch;
	bool	 is_closed;
};

int
store_fail(struct store *st, const char *what)
{
	snprintf(st->error, sizeof(st->error), "%s: %s", what,
	    sqlite3_errmsg(st->db));
	return -1;
}

const char *
store_error(struct store *st)
{
	return st->error;
}

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

static int
exec(struct store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(st->error, sizeof(st->error), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* A prepared statement, reset and ready to bind. */
static sqlite3_stmt *
stmt(struct store *st, enum stmt_id id)
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

static int
migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int version, i;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s,
	    NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		snprintf(err, errlen, "read schema version: %s",
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return -1;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "store schema version %d is newer than "
		    "this handoff's (%d)", version, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (i = version; i < STORE_SCHEMA_VERSION; i++) {
		char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version"
		    " = %d; COMMIT;", migrations[i], i + 1);
		if (exec(st, sql) == -1) {
			free(sql);
			exec(st, "ROLLBACK");
			snprintf(err, errlen, "migrate store to version %d: %s",
			    i + 1, st->error);
			return -1;
		}
		free(sql);
		log_info("store: migrated to schema version %d", i + 1);
	}
	return 0;
}

struct store *
store_open(const char *data_dir, char *err, size_t errlen)
{
	struct store *st = xcalloc(1, sizeof(*st));
	char *path = NULL;

	if (util_mkdirs(data_dir, 0700) == -1) {
		snprintf(err, errlen, "create data_dir %s: %s", data_dir,
		    strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/handoff.db", data_dir);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "open store %s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	if (exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA foreign_keys = ON;") == -1) {
		snprintf(err, errlen, "open store %s: %s", path, st->error);
		goto fail;
	}
	if (migrate(st, err, errlen) == -1)
		goto fail;
	free(path);
	return st;
fail:
	free(path);
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

int store_begin(struct store *st) { return exec(st, "BEGIN IMMEDIATE"); }
int store_commit(struct store *st) { return exec(st, "COMMIT"); }
int store_rollback(struct store *st) { return exec(st, "ROLLBACK"); }
int store_savepoint(struct store *st) { return exec(st, "SAVEPOINT d"); }
int store_savepoint_release(struct store *st) { return exec(st, "RELEASE d"); }

int
store_savepoint_rollback(struct store *st)
{
	return exec(st, "ROLLBACK TO d; RELEASE d");
}

void
store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

/* Run a statement that returns no rows. */
static int
step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, what);
	return 0;
}

/* 1 found, 0 not found, -1 error. */
static int
thread_find(struct store *st, enum stmt_id id, const struct forge_event *ev,
    int64_t number, struct thread_row *t)
{
	sqlite3_stmt *s = stmt(st, id);
	int rc;

	if (s == NULL)
		return -1;
	store_bind_text(s, 1, forge_name(ev->forge));
	store_bind_text(s, 2, ev->repo);
	sqlite3_bind_int64(s, 3, number);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(s, 0);
		t->branch = xstrdup((const char *)sqlite3_column_text(s, 1));
		t->is_closed = strcmp((const char *)sqlite3_column_text(s, 2),
		    "open") != 0;
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "find thread");
}

static int
thread_create(struct store *st, const struct config *cfg,
    const struct forge_event *ev, struct thread_row *t)
{
	sqlite3_stmt *s = stmt(st, S_THREAD_INSERT);
	char *slug, *branch;
	int rc;

	if (s == NULL)
		return -1;
	slug = text_slug(ev->title, 40);
	branch = xasprintf("%s%lld-%s", cfg->branch_prefix,
	    (long long)ev->number, slug);
	free(slug);
	store_bind_text(s, 1, forge_name(ev->forge));
	store_bind_text(s, 2, ev->repo);
	sqlite3_bind_int64(s, 3, ev->number);
	store_bind_text(s, 4, ev->title ? ev->title : "");
	store_bind_text(s, 5, ev->body);
	store_bind_text(s, 6, ev->clone_url);
	store_bind_text(s, 7, ev->default_branch);
	sqlite3_bind_int64(s, 8, ev->installation_id);
	store_bind_text(s, 9, branch);
	sqlite3_bind_int64(s, 10, util_now_ms());
	rc = step_done(st, s, "insert thread");
	if (rc == 0) {
		t->id = sqlite3_last_insert_rowid(st->db);
		t->branch = branch;
		t->is_closed = false;
	} else
		free(branch);
	return rc;
}

/* The thread a command belongs to: 1 found, 0 none, -1 error. */
static int
thread_for(struct store *st, const struct forge_event *ev,
    const struct command *cmd, struct thread_row *t)
{
	int rc;

	switch (cmd->key) {
	case THREAD_BY_ISSUE:
		return thread_find(st, S_THREAD_BY_ISSUE, ev, ev->number, t);
	case THREAD_BY_PR:
		return thread_find(st, S_THREAD_BY_PR, ev, ev->number, t);
	case THREAD_BY_BRANCH:
		rc = thread_find(st, S_THREAD_BY_ISSUE, ev, cmd->issue, t);
		if (rc == 1 && ev->head_branch != NULL &&
		    strcmp(ev->head_branch, t->branch) != 0) {
			free(t->branch);
			t->branch = NULL;
			return 0;
		}
		return rc;
	}
	return 0;
}

/* Where ev was said, as store.h's trigger_on names it. */
static const char *
trigger_on(const struct forge_event *ev)
{
	switch (ev->type) {
	case EV_REVIEW:
		return "review";
	case EV_REVIEW_COMMENT:
		return "review_comment";
	case EV_CI_COMPLETED:
		return "ci";
	default:
		return ev->is_pr ? "pr" : "issue";
	}
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
	sqlite3_stmt *s = stmt(st, S_REQUEST_INSERT);
	char *context;
	int rc;

	if (s == NULL)
		return -1;
	context = cmd->kind == CMD_RETRY ? NULL : context_json(ev, NULL);
	sqlite3_bind_int64(s, 1, job);
	store_bind_text(s, 2, ev->sender);
	sqlite3_bind_int64(s, 3, ev->sender_id);
	store_bind_text(s, 4, ev->association);
	sqlite3_bind_int64(s, 5, ev->comment_id);
	store_bind_text(s, 6, trigger_on(ev));
	store_bind_text(s, 7, cmd->kind == CMD_RETRY ? NULL : cmd->instruction);
	store_bind_text(s, 8, context);
	sqlite3_bind_int64(s, 9, util_now_ms());
	rc = step_done(st, s, "record request");
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
	if ((s = stmt(st, S_REQUEST_SEEN)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, ev->comment_id);
	store_bind_text(s, 2, trigger_on(ev));
	store_bind_text(s, 3, forge_name(ev->forge));
	store_bind_text(s, 4, ev->repo);
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
active_job(struct store *st, enum stmt_id id, int64_t thread, int64_t arg,
    int64_t *job)
{
	sqlite3_stmt *s = stmt(st, id);
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
	int rc;

	if (cfg->coalesce_ms <= 0 || (s = stmt(st, S_JOB_FOLDABLE)) == NULL)
		return cfg->coalesce_ms <= 0 ? 0 : -1;
	sqlite3_bind_int64(s, 1, thread);
	store_bind_text(s, 2, kind);
	sqlite3_bind_int64(s, 3, util_now_ms() - cfg->coalesce_ms);
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
	if ((s = stmt(st, S_JOB_FOLD)) == NULL)
		rc = -1;
	else {
		sqlite3_bind_int64(s, 1, *job);
		store_bind_text(s, 2, instruction);
		store_bind_text(s, 3, context);
		rc = step_done(st, s, "fold job") == 0 &&
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
	if ((s = stmt(st, S_JOB_INSERT)) == NULL) {
		free(instruction);
		free(context);
		return -1;
	}
	if (cmd->kind != CMD_RETRY)
		context = context_json(ev, NULL);
	sqlite3_bind_int64(s, 1, thread);
	store_bind_text(s, 2, kind);
	store_bind_text(s, 3, cmd->kind == CMD_RETRY ? instruction :
	    cmd->instruction);
	store_bind_text(s, 4, context);
	store_bind_text(s, 5, ev->sender);
	sqlite3_bind_int64(s, 6, ev->sender_id);
	store_bind_text(s, 7, ev->association);
	sqlite3_bind_int64(s, 8, ev->comment_id);
	sqlite3_bind_int64(s, 9, now);
	store_bind_text(s, 10, trigger_on(ev));
	sqlite3_bind_int64(s, 11, orig);
	rc = step_done(st, s, "insert job");
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
	sqlite3_stmt *s = stmt(st, S_CI_FIXES);
	int rc;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "count CI fixes");
}

static int
thread_close(struct store *st, const struct forge_event *ev, int64_t thread)
{
	sqlite3_stmt *s = stmt(st, S_THREAD_CLOSE);
	int64_t now = util_now_ms();

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	store_bind_text(s, 2, ev->merged ? "merged" : "closed");
	sqlite3_bind_int64(s, 3, now);
	if (step_done(st, s, "close thread") == -1 ||
	    (s = stmt(st, S_JOBS_CANCEL_QUEUED)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	sqlite3_bind_int64(s, 2, now);
	store_bind_text(s, 3, "pull request closed");
	return step_done(st, s, "cancel queued jobs");
}

/* Apply cmd to its thread; fills res. */
static int
apply(struct store *st, const struct config *cfg, const struct forge_event *ev,
    const struct command *cmd, struct record_result *res)
{
	struct thread_row t = { 0 };
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
	if ((found = thread_for(st, ev, cmd, &t)) == -1)
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
		rc = thread_close(st, ev, t.id);
		goto out;
	}
	if (cmd->kind == CMD_FIX_CI) {
		if (count_ci_fixes(st, t.id, &n) == -1)
			goto out;
		if (n >= cfg->max_ci_fixes) {
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
		if (thread_create(st, cfg, ev, &t) == -1)
			goto out;
	} else if (t.is_closed) {
		/* The label again on an issue whose pull request was closed. */
		sqlite3_stmt *s = stmt(st, S_THREAD_REOPEN);
		if (s == NULL)
			goto out;
		sqlite3_bind_int64(s, 1, t.id);
		sqlite3_bind_int64(s, 2, util_now_ms());
		if (step_done(st, s, "reopen thread") == -1)
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

int
store_record(struct store *st, const struct config *cfg, const char *delivery,
    const struct forge_event *ev, const struct command *cmd,
    struct record_result *res)
{
	static const char *const verdicts[] = { "queued", "ignored",
	    "duplicate" };
	sqlite3_stmt *s;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((s = stmt(st, S_DELIVERY_FIND)) == NULL)
		return -1;
	store_bind_text(s, 1, forge_name(ev->forge));
	store_bind_text(s, 2, delivery);
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

	if ((s = stmt(st, S_DELIVERY_INSERT)) == NULL)
		return -1;
	store_bind_text(s, 1, forge_name(ev->forge));
	store_bind_text(s, 2, delivery);
	store_bind_text(s, 3, ev->name ? ev->name : "");
	sqlite3_bind_int64(s, 4, util_now_ms());
	store_bind_text(s, 5, verdicts[res->verdict]);
	store_bind_text(s, 6, res->reason);
	sqlite3_bind_int64(s, 7, res->job);
	return step_done(st, s, "insert delivery");
}

int
store_heartbeat(struct store *st)
{
	char *sql = xasprintf("BEGIN IMMEDIATE; INSERT INTO meta (key, value)"
	    " VALUES ('heartbeat', '%lld') ON CONFLICT (key) DO UPDATE SET"
	    " value = excluded.value; COMMIT;", (long long)util_now_ms());
	int rc = exec(st, sql);

	free(sql);
	if (rc == -1)
		exec(st, "ROLLBACK");
	return rc;
}

int
store_stats(struct store *st, struct store_stats *out)
{
	sqlite3_stmt *s = NULL;
	char *sql;
	const char *state;
	int i, rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(st->db, "SELECT state, count(*) FROM jobs"
	    " GROUP BY state", -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "job counts");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(s, 1);
		state = (const char *)sqlite3_column_text(s, 0);
		if (strcmp(state, "queued") == 0)
			out->jobs_queued = n;
		else if (strcmp(state, "running") == 0)
			out->jobs_running = n;
		else if (strcmp(state, "done") == 0)
			out->jobs_done = n;
		else if (strcmp(state, "failed") == 0)
			out->jobs_failed = n;
		else if (strcmp(state, "cancelled") == 0)
			out->jobs_cancelled = n;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "job counts");

	sql = xasprintf("SELECT count(*), total(d)%s FROM (SELECT"
	    " (finished_at - started_at) / 1000.0 AS d FROM jobs"
	    " WHERE started_at IS NOT NULL AND finished_at IS NOT NULL)",
	    ", total(d <= 10), total(d <= 30), total(d <= 60), total(d <= 120),"
	    " total(d <= 300), total(d <= 600), total(d <= 1800),"
	    " total(d <= 3600)");
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return store_fail(st, "job durations");
	if (sqlite3_step(s) == SQLITE_ROW) {
		out->duration_count = sqlite3_column_int64(s, 0);
		out->duration_sum = sqlite3_column_double(s, 1);
		for (i = 0; i < STORE_DURATION_BUCKETS; i++)
			out->duration_le[i] = sqlite3_column_int64(s, 2 + i);
	}
	sqlite3_finalize(s);
	return 0;
}

static void
add_time(cJSON *o, const char *key, sqlite3_stmt *s, int col)
{
	char buf[32];

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	util_time_rfc3339(sqlite3_column_int64(s, col), buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void
add_text(cJSON *o, const char *key, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	if (v == NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, v);
}

#define JOB_COLUMNS \
	"j.id, t.forge, t.repo, t.number, j.kind, j.state, j.step," \
	" j.created_at, j.started_at, j.finished_at, t.branch, t.pr_url," \
	" j.requested_by, t.title, j.instruction, j.context, j.result," \
	" j.error, t.pr_number, t.state"

/* The fields `jobs --json` promises, from a row of JOB_COLUMNS. */
static cJSON *
job_object(sqlite3_stmt *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
	add_text(o, "forge", s, 1);
	add_text(o, "repo", s, 2);
	cJSON_AddNumberToObject(o, "number",
	    (double)sqlite3_column_int64(s, 3));
	add_text(o, "kind", s, 4);
	add_text(o, "state", s, 5);
	add_text(o, "step", s, 6);
	add_time(o, "created_at", s, 7);
	add_time(o, "started_at", s, 8);
	add_time(o, "finished_at", s, 9);
	add_text(o, "branch", s, 10);
	add_text(o, "pr_url", s, 11);
	add_text(o, "requested_by", s, 12);
	return o;
}

cJSON *
store_jobs_json(struct store *st, const char *state, int limit)
{
	sqlite3_stmt *s;
	cJSON *arr;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE ?1 IS NULL OR"
	    " j.state = ?1 ORDER BY j.id DESC LIMIT ?2", -1, &s,
	    NULL) != SQLITE_OK) {
		store_fail(st, "list jobs");
		return NULL;
	}
	store_bind_text(s, 1, state);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	arr = cJSON_CreateArray();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(arr, job_object(s));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list jobs");
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

/* The job's requests for `show`, each with its verdict ("unchecked" until
 * the forge is asked). Replaces o's instruction and review comments with
 * what the job is given: those of the requests not refused. Returns 0 or
 * -1. */
static int
add_requests(struct store *st, cJSON *o, int64_t id)
{
	sqlite3_stmt *s;
	cJSON *arr, *r, *ctx, *given;
	const cJSON *c;
	char *text = NULL, *next;
	const char *v;
	int rc, n = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT author, author_id,"
	    " association, trigger_on, trigger_id, text, context, verdict,"
	    " is_repeat, created_at, checked_at FROM requests"
	    " WHERE job_id = ?1 ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	arr = cJSON_AddArrayToObject(o, "requests");
	given = cJSON_CreateArray();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cJSON_CreateObject();
		add_text(r, "author", s, 0);
		cJSON_AddNumberToObject(r, "author_id",
		    (double)sqlite3_column_int64(s, 1));
		add_text(r, "association", s, 2);
		add_text(r, "on", s, 3);
		cJSON_AddNumberToObject(r, "trigger_id",
		    (double)sqlite3_column_int64(s, 4));
		add_text(r, "text", s, 5);
		v = (const char *)sqlite3_column_text(s, 6);
		ctx = v ? cJSON_Parse(v) : NULL;
		cJSON_AddItemToObject(r, "review_comments",
		    cJSON_IsArray(ctx) ? ctx : cJSON_CreateArray());
		if (ctx != NULL && !cJSON_IsArray(ctx))
			cJSON_Delete(ctx);
		v = (const char *)sqlite3_column_text(s, 7);
		cJSON_AddStringToObject(r, "verdict", v ? v : "unchecked");
		cJSON_AddBoolToObject(r, "repeat",
		    sqlite3_column_int(s, 8) != 0);
		add_time(r, "created_at", s, 9);
		add_time(r, "checked_at", s, 10);
		cJSON_AddItemToArray(arr, r);
		n++;
		if (v != NULL && strcmp(v, "refused") == 0)
			continue;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "review_comments"))
			cJSON_AddItemToArray(given, cJSON_Duplicate(c, 1));
		if (sqlite3_column_text(s, 5) == NULL)
			continue;
		next = text ? xasprintf("%s\n\n%s", text, (const char *)
		    sqlite3_column_text(s, 5)) : xstrdup((const char *)
		    sqlite3_column_text(s, 5));
		free(text);
		text = next;
	}
	sqlite3_finalize(s);
	if (n > 0) {
		cJSON_ReplaceItemInObject(o, "instruction", text ?
		    cJSON_CreateString(text) : cJSON_CreateNull());
		cJSON_ReplaceItemInObject(o, "review_comments", given);
	} else
		cJSON_Delete(given);
	free(text);
	return rc == SQLITE_DONE ? 0 : -1;
}

cJSON *
store_job_json(struct store *st, int64_t id, bool *found)
{
	sqlite3_stmt *s;
	cJSON *o = NULL, *steps, *step, *deliveries, *d, *ctx;
	const char *text;
	int rc;

	*found = false;
	if (sqlite3_prepare_v2(st->db, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE j.id = ?1", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			goto err;
		return NULL;
	}
	*found = true;
	o = job_object(s);
	add_text(o, "title", s, 13);
	add_text(o, "instruction", s, 14);
	text = (const char *)sqlite3_column_text(s, 15);
	ctx = text ? cJSON_Parse(text) : NULL;
	cJSON_AddItemToObject(o, "review_comments",
	    ctx ? ctx : cJSON_CreateArray());
	add_text(o, "result", s, 16);
	add_text(o, "error", s, 17);
	if (sqlite3_column_type(s, 18) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "pr_number");
	else
		cJSON_AddNumberToObject(o, "pr_number",
		    (double)sqlite3_column_int64(s, 18));
	add_text(o, "thread_state", s, 19);
	sqlite3_finalize(s);

	if (sqlite3_prepare_v2(st->db, "SELECT base_commit, head_commit,"
	    " summary, diffstat, attempts FROM jobs WHERE id = ?1", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		add_text(o, "base_commit", s, 0);
		add_text(o, "head_commit", s, 1);
		add_text(o, "summary", s, 2);
		add_text(o, "diffstat", s, 3);
		cJSON_AddNumberToObject(o, "attempts",
		    (double)sqlite3_column_int(s, 4));
	}
	sqlite3_finalize(s);

	if (sqlite3_prepare_v2(st->db, "SELECT step, started_at, finished_at,"
	    " detail FROM job_steps WHERE job_id = ?1 ORDER BY id", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	steps = cJSON_AddArrayToObject(o, "steps");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		step = cJSON_CreateObject();
		add_text(step, "step", s, 0);
		add_time(step, "started_at", s, 1);
		add_time(step, "finished_at", s, 2);
		add_text(step, "detail", s, 3);
		cJSON_AddItemToArray(steps, step);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE || add_requests(st, o, id) == -1)
		goto err;

	if (sqlite3_prepare_v2(st->db, "SELECT delivery, event, received_at,"
	    " verdict FROM deliveries WHERE job_id = ?1 ORDER BY id", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	deliveries = cJSON_AddArrayToObject(o, "deliveries");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d = cJSON_CreateObject();
		add_text(d, "delivery", s, 0);
		add_text(d, "event", s, 1);
		add_time(d, "received_at", s, 2);
		add_text(d, "verdict", s, 3);
		cJSON_AddItemToArray(deliveries, d);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto err;
	return o;
err:
	store_fail(st, "show job");
	cJSON_Delete(o);
	*found = false;
	return NULL;
}
