/*
 * The store: SQLite in WAL mode with synchronous=FULL, so a committed
 * delivery survives a crash or power loss. Schema changes are forward
 * migrations keyed by PRAGMA user_version.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite.h"
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
	/* 5: what a job's agent used: one row per model request through
	 * the gateway, and one per connection it attempted through the
	 * proxy. */
	"CREATE TABLE usage ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id),"
	"  model TEXT NOT NULL,"
	"  input_tokens INTEGER NOT NULL DEFAULT 0,"
	"  output_tokens INTEGER NOT NULL DEFAULT 0,"
	"  cache_read_tokens INTEGER NOT NULL DEFAULT 0,"
	"  cache_write_tokens INTEGER NOT NULL DEFAULT 0,"
	"  cost_micros INTEGER,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX usage_job ON usage (job_id);"
	"CREATE INDEX usage_at ON usage (at);"
	"CREATE TABLE egress ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id),"
	"  host TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  address TEXT,"
	"  allowed INTEGER NOT NULL,"
	"  reason TEXT,"
	"  bytes_in INTEGER NOT NULL DEFAULT 0,"
	"  bytes_out INTEGER NOT NULL DEFAULT 0,"
	"  duration_ms INTEGER NOT NULL DEFAULT 0,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX egress_job ON egress (job_id);",
	/* 6: the API a model request went through (not known before), and
	 * what the runners' forge clients did, counted: requests by route
	 * class and status (0: no answer), retries and rate-limit waits. */
	"ALTER TABLE usage ADD COLUMN provider TEXT NOT NULL"
	"  DEFAULT 'unknown';"
	"CREATE TABLE forge_requests ("
	"  forge TEXT NOT NULL,"
	"  route TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  requests INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (forge, route, status)) WITHOUT ROWID;"
	"CREATE TABLE forge_waits ("
	"  forge TEXT PRIMARY KEY,"
	"  retries INTEGER NOT NULL DEFAULT 0,"
	"  rate_limit_waits INTEGER NOT NULL DEFAULT 0,"
	"  rate_limit_wait_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
	/* 7: the forge's check suite or pipeline whose failure made a
	 * fix-ci job (NULL: the branch's head, as before). */
	"ALTER TABLE jobs ADD COLUMN ci_id INTEGER;",
	/* 8: threads are found by pull request only once they have one: a
	 * thread intake opens writes no entry for it. */
	"DROP INDEX threads_pr;"
	"CREATE INDEX threads_pr ON threads (forge, repo, pr_number)"
	"  WHERE pr_number IS NOT NULL;",
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

int
store_exec(struct store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(st->error, sizeof(st->error), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
store_sql(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, what);
	return 0;
}

sqlite3_stmt *
store_prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

int
store_run(struct store *st, sqlite3_stmt *s, const char *what)
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

char *
store_column_dup(sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	return v ? xstrdup(v) : NULL;
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
		if (store_exec(st, sql) == -1) {
			free(sql);
			store_exec(st, "ROLLBACK");
			snprintf(err, errlen, "migrate store to version %d: %s",
			    i + 1, st->error);
			return -1;
		}
		free(sql);
		log_info("store: migrated to schema version %d", i + 1);
	}
	return 0;
}

/*
 * SQLite counts the memory it holds under one lock that every connection's
 * allocations take, whatever thread it is on: serve's store writer would
 * queue behind the reader threads rendering pages. handoff reads no such
 * count. Set once, before the first connection.
 */
static void
store_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static struct store *
open_with(const char *data_dir, const char *vfs, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st = xcalloc(1, sizeof(*st));
	char *path = NULL;

	pthread_once(&once, store_setup);
	if (util_mkdirs(data_dir, 0700) == -1) {
		snprintf(err, errlen, "create data_dir %s: %s", data_dir,
		    strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/handoff.db", data_dir);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
		snprintf(err, errlen, "open store %s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	if (store_exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous ="
	    " FULL;"
	    " PRAGMA foreign_keys = ON;") == -1) {
		snprintf(err, errlen, "open store %s: %s", path, st->error);
		goto fail;
	}
	if (migrate(st, err, errlen) == -1)
		goto fail;
	sqlite3_wal_autocheckpoint(st->db, STORE_CHECKPOINT_PAGES);
	free(path);
	return st;
fail:
	free(path);
	store_close(st);
	return NULL;
}

struct store *
store_open(const char *data_dir, char *err, size_t errlen)
{
	return open_with(data_dir, NULL, err, errlen);
}

struct store *
store_open_writer(const char *data_dir, char *err, size_t errlen)
{
	struct store *st = open_with(data_dir, store_vfs_coalesced(), err,
	    errlen);

	/* A batch's savepoints journal the pages each delivery changes: in
	 * memory, not in a file made and removed for every batch. */
	if (st != NULL && store_exec(st, "PRAGMA temp_store = MEMORY") == -1) {
		snprintf(err, errlen, "open store: %s", st->error);
		store_close(st);
		return NULL;
	}
	if (st != NULL &&
	    (st->ckpt = store_ckpt_start(st, data_dir, err, errlen)) == NULL) {
		store_close(st);
		return NULL;
	}
	return st;
}

int
store_relax(struct store *st)
{
	return store_exec(st, "PRAGMA synchronous = NORMAL");
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	store_ckpt_stop(st, st->ckpt);
	for (i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

/* A statement of no rows prepared once (store_stmt); errors as store_exec
 * gives them. */
static int
exec_prepared(struct store *st, enum store_stmt id)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_step(s)) != SQLITE_DONE)
		snprintf(st->error, sizeof(st->error), "%s",
		    sqlite3_errmsg(st->db));
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_begin(struct store *st) { return exec_prepared(st, S_BEGIN); }
int store_commit(struct store *st) { return exec_prepared(st, S_COMMIT); }
int store_rollback(struct store *st) { return store_exec(st, "ROLLBACK"); }
int store_savepoint(struct store *st) { return exec_prepared(st, S_SAVEPOINT); }

bool
store_read_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return false;	/* inside one already: it holds */
	return store_exec(st, "BEGIN") == 0;
}

void
store_read_end(struct store *st, bool began)
{
	char error[sizeof(st->error)];

	if (!began)
		return;
	memcpy(error, st->error, sizeof(error));	/* the reads' own */
	if (store_exec(st, "COMMIT") == -1)
		store_exec(st, "ROLLBACK");
	memcpy(st->error, error, sizeof(error));
}
int
store_savepoint_release(struct store *st)
{
	return exec_prepared(st, S_RELEASE);
}

int
store_savepoint_rollback(struct store *st)
{
	return store_exec(st, "ROLLBACK TO d; RELEASE d");
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v, sqlite3_destructor_type d)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, d);
}

void
store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	bind_text(s, i, v, SQLITE_TRANSIENT);
}

void
store_bind_static(sqlite3_stmt *s, int i, const char *v)
{
	bind_text(s, i, v, SQLITE_STATIC);
}

int
store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, what);
	return 0;
}
int
store_heartbeat(struct store *st)
{
	char *sql = xasprintf("BEGIN IMMEDIATE; INSERT INTO meta (key, value)"
	    " VALUES ('heartbeat', '%lld') ON CONFLICT (key) DO UPDATE SET"
	    " value = excluded.value; COMMIT;", (long long)util_now_ms());
	int rc = store_exec(st, sql);

	free(sql);
	if (rc == -1)
		store_exec(st, "ROLLBACK");
	return rc;
}
