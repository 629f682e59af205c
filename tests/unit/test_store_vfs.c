/*
 * store_vfs.c: the intake writer's WAL writes wait for the sync. Two
 * recording VFS layers sit around it: "above" sees what SQLite writes,
 * "below" (the default VFS the shim wraps) what reaches the file. At every
 * sync of a WAL below, the file must hold every byte SQLite wrote to it.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_sqlite.h"
#include "tap.h"
#include "util.h"

#define SHADOW_MAX	(64 * 1024 * 1024)

/* One recording layer over the VFS named parent_name. */
struct layer {
	sqlite3_vfs	 vfs;
	sqlite3_vfs	*parent;
	bool		 is_below;
};

struct rfile {
	sqlite3_file	 base;
	struct layer	*layer;
	bool		 is_wal;
	sqlite3_file	*sub;
};

/* The WAL as SQLite wrote it (above), and what the layers saw. */
static unsigned char *shadow;
static sqlite3_int64 shadow_len;
static int writes_above, writes_below, syncs_below, subjournals;
static int sync_mismatches, syncs_checked;
static sqlite3_file *wal_below;	/* the WAL file as the file system has it */
static struct layer above, below;

static int
r_close(sqlite3_file *file)
{
	struct rfile *f = (struct rfile *)file;

	if (f->is_wal && f->layer->is_below && wal_below == f->sub)
		wal_below = NULL;
	return f->sub->pMethods->xClose(f->sub);
}

static int
r_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xRead(f->sub, p, amt, off);
}

static int
r_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
	struct rfile *f = (struct rfile *)file;

	if (f->is_wal) {
		if (f->layer->is_below)
			writes_below++;
		else {
			writes_above++;
			if (off + amt <= SHADOW_MAX) {
				memcpy(shadow + off, p, (size_t)amt);
				if (off + amt > shadow_len)
					shadow_len = off + amt;
			}
		}
	}
	return f->sub->pMethods->xWrite(f->sub, p, amt, off);
}

static int
r_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct rfile *f = (struct rfile *)file;

	if (f->is_wal && !f->layer->is_below && size < shadow_len)
		shadow_len = size;
	return f->sub->pMethods->xTruncate(f->sub, size);
}

/* Below: the file must now hold what SQLite wrote above. */
static void
check_file(sqlite3_file *sub)
{
	static unsigned char got[64 * 1024];
	sqlite3_int64 off;
	int amt, rc;

	syncs_checked++;
	for (off = 0; off < shadow_len; off += amt) {
		amt = shadow_len - off < (sqlite3_int64)sizeof(got) ?
		    (int)(shadow_len - off) : (int)sizeof(got);
		rc = sub->pMethods->xRead(sub, got, amt, off);
		if (rc != SQLITE_OK || memcmp(got, shadow + off,
		    (size_t)amt) != 0) {
			sync_mismatches++;
			return;
		}
	}
}

static int
r_sync(sqlite3_file *file, int flags)
{
	struct rfile *f = (struct rfile *)file;

	if (f->is_wal && f->layer->is_below) {
		syncs_below++;
		check_file(f->sub);
	}
	return f->sub->pMethods->xSync(f->sub, flags);
}

static int
r_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xFileSize(f->sub, size);
}

static int
r_lock(sqlite3_file *file, int lock)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xLock(f->sub, lock);
}

static int
r_unlock(sqlite3_file *file, int lock)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xUnlock(f->sub, lock);
}

static int
r_reserved(sqlite3_file *file, int *out)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xCheckReservedLock(f->sub, out);
}

static int
r_control(sqlite3_file *file, int op, void *arg)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xFileControl(f->sub, op, arg);
}

static int
r_sector(sqlite3_file *file)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xSectorSize(f->sub);
}

static int
r_device(sqlite3_file *file)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xDeviceCharacteristics(f->sub);
}

static int
r_shm_map(sqlite3_file *file, int pg, int sz, int extend, void volatile **pp)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xShmMap(f->sub, pg, sz, extend, pp);
}

static int
r_shm_lock(sqlite3_file *file, int off, int n, int flags)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xShmLock(f->sub, off, n, flags);
}

static void
r_shm_barrier(sqlite3_file *file)
{
	struct rfile *f = (struct rfile *)file;

	f->sub->pMethods->xShmBarrier(f->sub);
}

static int
r_shm_unmap(sqlite3_file *file, int del)
{
	struct rfile *f = (struct rfile *)file;

	return f->sub->pMethods->xShmUnmap(f->sub, del);
}

static const sqlite3_io_methods r_methods = {
	.iVersion = 2,
	.xClose = r_close, .xRead = r_read, .xWrite = r_write,
	.xTruncate = r_truncate, .xSync = r_sync, .xFileSize = r_size,
	.xLock = r_lock, .xUnlock = r_unlock, .xCheckReservedLock = r_reserved,
	.xFileControl = r_control, .xSectorSize = r_sector,
	.xDeviceCharacteristics = r_device, .xShmMap = r_shm_map,
	.xShmLock = r_shm_lock, .xShmBarrier = r_shm_barrier,
	.xShmUnmap = r_shm_unmap,
};

static int
r_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags,
    int *out)
{
	struct layer *l = v->pAppData;
	struct rfile *f = (struct rfile *)file;
	int rc;

	if (flags & SQLITE_OPEN_SUBJOURNAL)
		subjournals++;
	memset(f, 0, sizeof(*f));
	f->layer = l;
	f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	f->sub = (sqlite3_file *)(f + 1);
	rc = l->parent->xOpen(l->parent, name, f->sub, flags, out);
	if (rc != SQLITE_OK) {
		if (f->sub->pMethods != NULL)
			f->sub->pMethods->xClose(f->sub);
		return rc;
	}
	if (f->is_wal && l->is_below)
		wal_below = f->sub;
	f->base.pMethods = &r_methods;
	return SQLITE_OK;
}

static void
layer_init(struct layer *l, const char *name, sqlite3_vfs *parent,
    bool is_below, bool as_default)
{
	l->parent = parent;
	l->is_below = is_below;
	l->vfs = *parent;
	l->vfs.pNext = NULL;
	l->vfs.zName = name;
	l->vfs.pAppData = l;
	l->vfs.szOsFile = (int)sizeof(struct rfile) + parent->szOsFile;
	l->vfs.xOpen = r_open;
	sqlite3_vfs_register(&l->vfs, as_default);
}

static sqlite3 *
open_db(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
		return NULL;
	sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous ="
	    " FULL", NULL, NULL, NULL);
	return db;
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static long long
count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* n rows of about size bytes each, in one transaction. */
static int
insert_rows(sqlite3 *db, int first, int n, int size)
{
	char *sql = xasprintf("BEGIN; WITH RECURSIVE c(i) AS (SELECT %d"
	    " UNION ALL SELECT i + 1 FROM c WHERE i < %d) INSERT INTO t"
	    " SELECT i, randomblob(%d) FROM c; COMMIT;", first, first + n - 1,
	    size);
	int rc = exec(db, sql);

	free(sql);
	return rc;
}

int
main(void)
{
	char dir[] = "/tmp/handoff-vfs-XXXXXX", *path;
	sqlite3 *w, *r;
	const char *name;
	int before_above, before_below, i, rc;
	pid_t pid;
	int status, fds[2];
	char buf[16];
	long long seen;

	if (mkdtemp(dir) == NULL)
		return 1;
	path = xasprintf("%s/t.db", dir);
	shadow = xcalloc(1, SHADOW_MAX);
	/* "below" becomes the default VFS, so the shim wraps it. */
	layer_init(&below, "below", sqlite3_vfs_find(NULL), true, true);
	name = store_vfs_coalesced();
	ok(name != NULL, "the coalescing VFS is registered");
	if (name == NULL)
		return done_testing();
	layer_init(&above, "above", sqlite3_vfs_find(name), false, false);

	w = open_db(path, "above");
	r = open_db(path, NULL);
	ok(w != NULL && r != NULL, "a writer through the shim, a reader beside");
	is_int(exec(w, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);"
	    " CREATE INDEX t_v ON t (v);"), SQLITE_OK, "schema");

	/* A small commit: many writes above, one below. */
	before_above = writes_above;
	before_below = writes_below;
	is_int(insert_rows(w, 1, 40, 300), SQLITE_OK, "a commit of 40 rows");
	ok(writes_above - before_above >= 8,
	    "SQLite wrote the commit's frames one by one (%d writes)",
	    writes_above - before_above);
	is_int(writes_below - before_below, 1,
	    "the file got them in one write");
	is_int(count(r, "SELECT count(*) FROM t"), 40,
	    "another connection sees the commit at once");

	/* Many commits, small and large (over the shim's buffer and the
	 * unix VFS's 128 KiB a write), each checked at its sync. */
	for (i = 0; i < 60; i++) {
		rc = insert_rows(w, 1000 + i * 500, i % 10 == 9 ? 400 : 5,
		    i % 10 == 9 ? 3000 : 200);
		if (rc != SQLITE_OK)
			break;
	}
	is_int(rc, SQLITE_OK, "60 commits, six of over 1 MB");
	ok(syncs_checked > 60, "every sync of the WAL was checked (%d)",
	    syncs_checked);
	is_int(sync_mismatches, 0,
	    "at every sync the file held every byte SQLite wrote");
	is_int(count(r, "SELECT count(*) FROM t"), 40 + 54 * 5 + 6 * 400,
	    "the reader sees every row");
	{
		sqlite3_stmt *s;
		const char *txt = NULL;

		sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &s, NULL);
		if (sqlite3_step(s) == SQLITE_ROW)
			txt = (const char *)sqlite3_column_text(s, 0);
		is_str(txt, "ok", "the store is whole, read through the WAL");
		sqlite3_finalize(s);
	}

	/* A transaction larger than the page cache: SQLite writes frames
	 * before the commit and reads them back from the WAL. */
	exec(w, "PRAGMA cache_size = 8");
	is_int(exec(w, "BEGIN; UPDATE t SET v = zeroblob(length(v))"
	    " WHERE id % 3 = 0;"), SQLITE_OK, "a large update begins");
	is_int(count(w, "SELECT count(*) FROM t WHERE id % 3 = 0 AND"
	    " v <> zeroblob(length(v))"), 0,
	    "inside it, the writer reads back what it spilled");
	is_int(exec(w, "COMMIT"), SQLITE_OK, "and commits");
	is_int(count(r, "SELECT count(*) FROM t WHERE id % 3 = 0 AND"
	    " v <> zeroblob(length(v))"), 0, "the reader sees the update");
	is_int(sync_mismatches, 0, "still every byte at every sync");

	/* A checkpoint copies the WAL back; the database alone has it all. */
	is_int(exec(w, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK,
	    "a checkpoint through the shim");
	sqlite3_close(r);
	sqlite3_close(w);
	r = open_db(path, NULL);
	is_int(count(r, "SELECT count(*) FROM t"), 40 + 54 * 5 + 6 * 400,
	    "after closing, every row is in the store");
	sqlite3_close(r);

	/* kill -9 right after each commit returns: nothing waits in memory
	 * that a commit promised. */
	if (pipe(fds) == -1)
		return 1;
	if ((pid = fork()) == 0) {
		close(fds[0]);
		w = open_db(path, name);
		for (i = 0; ; i++) {
			if (insert_rows(w, 100000 + i * 10, 3, 500) != SQLITE_OK)
				_exit(1);
			snprintf(buf, sizeof(buf), "%09d\n", i + 1);
			if (write(fds[1], buf, 10) != 10)
				_exit(1);
		}
	}
	close(fds[1]);
	seen = 0;
	while (seen < 200 && read(fds[0], buf, 10) == 10)
		seen = atoll(buf);
	kill(pid, SIGKILL);
	while (read(fds[0], buf, 10) == 10)
		seen = atoll(buf);
	close(fds[0]);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "the writer was killed mid-run");
	r = open_db(path, NULL);
	ok(count(r, "SELECT count(*) FROM t WHERE id >= 100000") >= seen * 3,
	    "every commit it reported (%lld) is in the store", seen);
	sqlite3_close(r);

	/* The store's writer opens through the shim. */
	{
		char err[256], *sdir = xasprintf("%s/store", dir);
		struct store *st = store_open_writer(sdir, err, sizeof(err));

		ok(st != NULL, "store_open_writer: %s", st ? "opened" : err);
		if (st != NULL) {
			sqlite3_vfs *v = NULL;

			sqlite3_file_control(st->db, "main",
			    SQLITE_FCNTL_VFS_POINTER, &v);
			is_str(v ? v->zName : NULL, name,
			    "the writer's connection uses it");
			/* A savepoint over more than 64 KiB of pages, as a
			 * batch's deliveries have: journaled in memory. */
			exec(st->db, "CREATE TABLE u (id INTEGER PRIMARY KEY,"
			    " v BLOB)");
			is_int(exec(st->db, "WITH RECURSIVE c(i) AS (SELECT 1"
			    " UNION ALL SELECT i + 1 FROM c WHERE i < 400)"
			    " INSERT INTO u SELECT i, randomblob(900) FROM c"),
			    SQLITE_OK, "400 rows");
			subjournals = 0;
			is_int(exec(st->db, "BEGIN; SAVEPOINT d; UPDATE u SET v ="
			    " randomblob(900); RELEASE d; COMMIT"), SQLITE_OK,
			    "a savepoint over 90 pages");
			is_int(subjournals, 0,
			    "its journal is no file (temp_store = MEMORY)");
		}
		store_close(st);
		free(sdir);
	}

	util_rmtree(dir);
	free(path);
	free(shadow);
	return done_testing();
}
