/*
 * Retention and backup: which finished jobs may go, removing their rows,
 * forgetting old deliveries, and a consistent copy of the store made with
 * SQLite's online backup while others write.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_sqlite.h"
#include "util.h"

/*
 * Finished jobs that ended before ?1, but those a kept job still needs: on
 * an open thread of a forge, its latest implement, revise or retry and
 * every job after it (the pull request's revisions and the CI fixes
 * counted against max_ci_fixes; a local thread has none); the newest job
 * (SQLite gives a new row the largest id plus one: a job's id, in links
 * on the forges, is never used again); and the job a kept retry repeats
 * (its requests are copied from there).
 */
#define GC_CANDIDATES							\
	"SELECT j.id FROM jobs j JOIN threads t ON t.id = j.thread_id"	\
	" WHERE j.state IN ('done', 'failed', 'cancelled')"		\
	" AND j.finished_at IS NOT NULL AND j.finished_at < ?1"	\
	" AND j.id < (SELECT max(id) FROM jobs)"			\
	" AND NOT (t.state = 'open' AND t.forge <> 'local'"		\
	" AND j.id >= coalesce((SELECT"					\
	" max(k.id) FROM jobs k WHERE k.thread_id = t.id AND k.kind IN"	\
	" ('implement', 'revise', 'retry')), 0))"

bool
store_exists(const char *data_dir)
{
	char *path = xasprintf("%s/handoff.db", data_dir);
	bool is_there = access(path, F_OK) == 0;

	free(path);
	return is_there;
}

/* Up to max of them, oldest first, into ids; their count into *n. */
static int
gc_select(struct store *st, int64_t before_ms, int64_t *ids, size_t max,
    size_t *n)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE;

	*n = 0;
	if ((s = store_prepare(st, "WITH c(id) AS (" GC_CANDIDATES ")"
	    " SELECT c.id FROM c WHERE NOT EXISTS (SELECT 1 FROM jobs r"
	    " WHERE r.retry_of = c.id AND r.id NOT IN (SELECT id FROM c))"
	    " ORDER BY c.id LIMIT ?2")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, before_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (*n < max && rc != SQLITE_DONE)
		return store_fail(st, "find old jobs");
	return 0;
}

/* Remove one job's rows inside the caller's transaction. Its deliveries
 * stay, without it, so that one sent again is still known. */
static int
remove_job(struct store *st, int64_t job)
{
	static const char *const sql[] = {
		"UPDATE deliveries SET job_id = NULL WHERE job_id = ?1",
		"DELETE FROM job_steps WHERE job_id = ?1",
		"DELETE FROM requests WHERE job_id = ?1",
		"DELETE FROM usage WHERE job_id = ?1",
		"DELETE FROM egress WHERE job_id = ?1",
		"DELETE FROM jobs WHERE id = ?1 AND state IN ('done', 'failed',"
		" 'cancelled')",
	};
	sqlite3_stmt *s;
	size_t i;

	for (i = 0; i < nitems(sql); i++) {
		if ((s = store_prepare(st, sql[i])) == NULL)
			return -1;
		sqlite3_bind_int64(s, 1, job);
		if (store_run(st, s, "remove job") == -1)
			return -1;
	}
	return 0;
}

int
store_gc_remove(struct store *st, int64_t before_ms, int64_t *ids,
    size_t max, size_t *n)
{
	char error[sizeof(st->error)];
	size_t i;

	*n = 0;
	/* Chosen and removed in one transaction: a retry queued meanwhile
	 * cannot lose the job it repeats. */
	if (store_begin(st) == -1)
		return -1;
	if (gc_select(st, before_ms, ids, max, n) == -1)
		goto fail;
	for (i = 0; i < *n; i++)
		if (remove_job(st, ids[i]) == -1)
			goto fail;
	if (store_commit(st) == 0)
		return 0;
fail:
	memcpy(error, st->error, sizeof(error));
	store_rollback(st);
	memcpy(st->error, error, sizeof(error));
	*n = 0;
	return -1;
}

int
store_gc_deliveries(struct store *st, int64_t before_ms, int64_t *removed)
{
	sqlite3_stmt *s;

	*removed = 0;
	if ((s = store_prepare(st, "DELETE FROM deliveries WHERE job_id IS NULL"
	    " AND received_at < ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, before_ms);
	if (store_run(st, s, "forget deliveries") == -1)
		return -1;
	*removed = sqlite3_changes(st->db);
	return 0;
}

/* Make the name of path in its directory durable. */
static int
sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd, rc = -1;

	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/* The copy at path passes SQLite's own check: 0, or -1 with why. */
static int
check_copy(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const char *v;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) !=
	    SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		snprintf(err, errlen, "check %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	v = (const char *)sqlite3_column_text(s, 0);
	if (v == NULL || strcmp(v, "ok") != 0) {
		snprintf(err, errlen, "check %s: %.200s", path, v ? v : "?");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Copy st into the new file path (created 0600): one read transaction,
 * so the copy is the store as of one commit, writers going on meanwhile;
 * then a rollback journal of its own, so the file stands alone. */
static int
copy_to(struct store *st, const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_backup *b;
	int fd, rc = -1;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "open %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if ((b = sqlite3_backup_init(db, "main", st->db, "main")) == NULL) {
		snprintf(err, errlen, "back up to %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "back up to %s: %s", path,
		    sqlite3_errstr(rc));
		rc = -1;
		goto out;
	}
	rc = -1;
	if (sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "back up to %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = check_copy(db, path, err, errlen);
out:
	if (sqlite3_close(db) != SQLITE_OK && rc == 0) {
		snprintf(err, errlen, "close %s", path);
		rc = -1;
	}
	return rc;
}

int
store_backup(struct store *st, const char *path, bool is_force, char *err,
    size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rc = -1;

	if (!is_force && access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s exists (--force replaces it)", path);
		goto out;
	}
	if (unlink(tmp) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "remove %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (copy_to(st, tmp, err, errlen) == -1)
		goto fail;
	/* Without --force, a file that appeared meanwhile is not replaced:
	 * link(2) does not overwrite. */
	if (is_force ? rename(tmp, path) == -1 : link(tmp, path) == -1) {
		snprintf(err, errlen, "%s %s: %s", is_force ? "rename to" :
		    "create", path, errno == EEXIST ? "exists (--force "
		    "replaces it)" : strerror(errno));
		goto fail;
	}
	if (!is_force)
		unlink(tmp);
	if (sync_dir(path) == -1) {
		snprintf(err, errlen, "sync the directory of %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
fail:
	unlink(tmp);
out:
	free(tmp);
	return rc;
}
