/*
 * The intake writer's SQLite VFS: the system's, except that a WAL file's
 * writes wait in memory, up to 64 KiB, and reach the file in one write
 * when SQLite syncs it or they would not fit. SQLite writes a commit as a
 * 24-byte header and a page for every page it changed, one system call
 * each (20 to 30 for a batch of deliveries); one write of the same bytes
 * costs a quarter of their time.
 *
 * Only for a connection in synchronous = FULL: there SQLite syncs the WAL
 * at every commit, before the commit is published in the WAL index, so no
 * other connection can look for a committed frame that is still here. A
 * read, a size, a truncation, a file control or a close of the WAL takes
 * what waits first; a write that does not follow what waits sends that
 * first, so the file sees every write in SQLite's order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

#define VFS_NAME	"handoff-wal"
/* At most this much waits: the unix VFS writes less than 128 KiB a call. */
#define BUF_SIZE	(64 * 1024)

struct wal_file {
	sqlite3_file		 base;
	sqlite3_file		*sub;		/* the system VFS's, after this */
	unsigned char		*buf;		/* BUF_SIZE; what waits, for off */
	size_t			 len;
	sqlite3_int64		 off;
};

static sqlite3_vfs *parent;
static sqlite3_vfs vfs;
static const char *vfs_name;

/* Send what waits: one write of it all. */
static int
wal_flush(struct wal_file *f)
{
	size_t len = f->len;

	if (len == 0)
		return SQLITE_OK;
	f->len = 0;
	return f->sub->pMethods->xWrite(f->sub, f->buf, (int)len, f->off);
}

static int
wal_close(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = wal_flush(f), rc2;

	rc2 = f->sub->pMethods->xClose(f->sub);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wal_read(sqlite3_file *file, void *p, int amt, sqlite3_int64 off)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if (f->len > 0 && off < f->off + (sqlite3_int64)f->len &&
	    off + amt > f->off && (rc = wal_flush(f)) != SQLITE_OK)
		return rc;
	return f->sub->pMethods->xRead(f->sub, p, amt, off);
}

static int
wal_write(sqlite3_file *file, const void *p, int amt, sqlite3_int64 off)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	if (f->len > 0 && (off != f->off + (sqlite3_int64)f->len ||
	    f->len + (size_t)amt > BUF_SIZE) && (rc = wal_flush(f)) != SQLITE_OK)
		return rc;
	if (amt <= 0 || (size_t)amt > BUF_SIZE ||
	    (f->buf == NULL && (f->buf = malloc(BUF_SIZE)) == NULL))
		return f->sub->pMethods->xWrite(f->sub, p, amt, off);
	if (f->len == 0)
		f->off = off;
	memcpy(f->buf + f->len, p, (size_t)amt);
	f->len += (size_t)amt;
	return SQLITE_OK;
}

static int
wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = wal_flush(f);

	return rc != SQLITE_OK ? rc : f->sub->pMethods->xTruncate(f->sub, size);
}

static int
wal_sync(sqlite3_file *file, int flags)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = wal_flush(f);

	return rc != SQLITE_OK ? rc : f->sub->pMethods->xSync(f->sub, flags);
}

static int
wal_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = wal_flush(f);

	return rc != SQLITE_OK ? rc : f->sub->pMethods->xFileSize(f->sub, size);
}

static int
wal_lock(sqlite3_file *file, int lock)
{
	struct wal_file *f = (struct wal_file *)file;

	return f->sub->pMethods->xLock(f->sub, lock);
}

static int
wal_unlock(sqlite3_file *file, int lock)
{
	struct wal_file *f = (struct wal_file *)file;

	return f->sub->pMethods->xUnlock(f->sub, lock);
}

static int
wal_reserved(sqlite3_file *file, int *out)
{
	struct wal_file *f = (struct wal_file *)file;

	return f->sub->pMethods->xCheckReservedLock(f->sub, out);
}

static int
wal_control(sqlite3_file *file, int op, void *arg)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = wal_flush(f);

	return rc != SQLITE_OK ? rc :
	    f->sub->pMethods->xFileControl(f->sub, op, arg);
}

static int
wal_sector(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;

	return f->sub->pMethods->xSectorSize(f->sub);
}

static int
wal_device(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;

	return f->sub->pMethods->xDeviceCharacteristics(f->sub);
}

/* A WAL file is never shared memory or mapped: version 1 is all of it. */
static const sqlite3_io_methods wal_methods = {
	.iVersion = 1,
	.xClose = wal_close,
	.xRead = wal_read,
	.xWrite = wal_write,
	.xTruncate = wal_truncate,
	.xSync = wal_sync,
	.xFileSize = wal_size,
	.xLock = wal_lock,
	.xUnlock = wal_unlock,
	.xCheckReservedLock = wal_reserved,
	.xFileControl = wal_control,
	.xSectorSize = wal_sector,
	.xDeviceCharacteristics = wal_device,
};

/* Every file but a WAL is the system VFS's own, in the same memory. */
static int
vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *file,
    int flags, int *out)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc;

	(void)v;
	if ((flags & SQLITE_OPEN_WAL) == 0)
		return parent->xOpen(parent, name, file, flags, out);
	memset(f, 0, sizeof(*f));
	f->sub = (sqlite3_file *)(f + 1);
	if ((rc = parent->xOpen(parent, name, f->sub, flags, out)) !=
	    SQLITE_OK) {
		if (f->sub->pMethods != NULL)
			f->sub->pMethods->xClose(f->sub);
		f->base.pMethods = NULL;
		return rc;
	}
	f->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

static void
vfs_setup(void)
{
	_Static_assert(sizeof(struct wal_file) % 8 == 0,
	    "the system VFS's file follows, aligned");

	if ((parent = sqlite3_vfs_find(NULL)) == NULL)
		return;
	vfs = *parent;
	vfs.pNext = NULL;
	vfs.zName = VFS_NAME;
	vfs.szOsFile = (int)sizeof(struct wal_file) + parent->szOsFile;
	vfs.xOpen = vfs_open;
	if (sqlite3_vfs_register(&vfs, 0) == SQLITE_OK)
		vfs_name = VFS_NAME;
}

const char *
store_vfs_coalesced(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, vfs_setup);
	return vfs_name;
}
