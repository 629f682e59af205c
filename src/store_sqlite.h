/*
 * The SQLite store's own header, for store*.c only: the connection and its
 * cached statements, transactions, and the helpers every part of the store
 * shares. Nothing outside the store sees SQLite.
 */
#ifndef HANDOFF_STORE_SQLITE_H
#define HANDOFF_STORE_SQLITE_H

#include <sqlite3.h>

#include "store.h"

/* Statements prepared once per connection (intake's hot path). */
enum store_stmt {
	S_DELIVERY_FIND, S_DELIVERY_INSERT,
	S_THREAD_BY_ISSUE, S_THREAD_BY_PR, S_THREAD_INSERT, S_THREAD_REOPEN,
	S_THREAD_CLOSE, S_JOB_INSERT, S_JOB_FOLDABLE, S_JOB_FOLD,
	S_JOBS_CANCEL_QUEUED, S_CI_FIXES, S_REQUEST_INSERT, S_REQUEST_SEEN,
	S_IMPLEMENT_ACTIVE, S_RETRY_ACTIVE,
	S_BEGIN, S_COMMIT, S_SAVEPOINT, S_RELEASE, S_NSTMT
};

struct store {
	sqlite3			*db;
	sqlite3_stmt		*stmt[S_NSTMT];
	struct store_ckpt	*ckpt;	/* the writer's checkpointer, or NULL */
	char			 error[256];
};

/*
 * What a job does, as SQL over its row j: its kind, but a retry does what
 * the job it retries did. retry_of names the first job of a chain of
 * retries (a retry of a retry repeats the same request), so one look is
 * the whole chain; a retry whose retried job is missing or a retry
 * itself implements. struct job's origin is this, and nothing else.
 */
#define STORE_ORIGIN_KIND(j)						\
	"(CASE WHEN " j ".kind <> 'retry' THEN " j ".kind ELSE"		\
	" coalesce((SELECT o.kind FROM jobs o WHERE o.id = " j ".retry_of" \
	" AND o.kind <> 'retry'), 'implement') END)"

/* The sums of a usage row set, read back by store_usage_read. */
#define USAGE_SUMS \
	" count(*), sum(input_tokens), sum(output_tokens)," \
	" sum(cache_read_tokens), sum(cache_write_tokens)," \
	" sum(cost_micros), count(cost_micros)"
/* A sum from the columns of USAGE_SUMS at column i on into u (its names
 * untouched). */
void store_usage_read(sqlite3_stmt *s, int i, struct store_usage *u);

/* A thread as recording a delivery sees it. branch is owned. */
struct store_thread {
	int64_t	 id;
	char	*branch;
	bool	 is_closed;
};

/* The thread cmd of ev belongs to: 1 found, 0 none, -1 error. */
int store_thread_for(struct store *st, const struct forge_event *ev,
    const struct command *cmd, struct store_thread *t);
/* Open the thread of ev's issue, its branch named under cfg. */
int store_thread_create(struct store *st, const struct config *cfg,
    const struct forge_event *ev, struct store_thread *t);
/* Open a closed thread again (the label again after its pull request
 * was closed). */
int store_thread_reopen(struct store *st, int64_t thread);
/* Close the thread (its pull request closed or merged, as ev says) and
 * cancel its queued jobs. */
int store_thread_close(struct store *st, const struct forge_event *ev,
    int64_t thread);

/* The name of the VFS whose WAL writes wait for a sync (store_vfs.c), or
 * NULL (the system's) if it could not be made. */
const char *store_vfs_coalesced(void);

/* Every connection checkpoints once the WAL holds this many pages (4 KiB
 * each, some 8 MB), not SQLite's 1,000: the intake writer's checkpoints
 * are mostly on a thread of their own (store_ckpt.c), and each time the
 * WAL starts over costs the writer a stop. */
#define STORE_CHECKPOINT_PAGES	2000

/* The writer's checkpoints on a thread of their own (store_ckpt.c), from
 * start, after each of writer's commits, until stop, which comes before
 * writer closes. */
struct store_ckpt *store_ckpt_start(struct store *writer,
    const char *data_dir, char *err, size_t errlen);
void store_ckpt_stop(struct store *writer, struct store_ckpt *c);

/* "what: sqlite's message" into the store's error; returns -1. */
int store_fail(struct store *st, const char *what);
/* Run SQL that returns no rows; SQLite's message into the error. */
int store_exec(struct store *st, const char *sql);
/* The same, with "what: sqlite's message" into the error. */
int store_sql(struct store *st, const char *sql, const char *what);
/* Transactions: begin (immediate), commit, rollback; savepoints for one
 * delivery of a batch. Each returns 0 or -1. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
/*
 * A read transaction around several reads: one snapshot for all of them,
 * and the WAL's read lock taken and given back once, not once a
 * statement (each take and give back goes through a lock the writer takes
 * too). Begun only outside a transaction; end says whether it began. A
 * failed begin leaves each read to its own transaction.
 */
bool store_read_begin(struct store *st);
void store_read_end(struct store *st, bool began);
int store_savepoint(struct store *st);
int store_savepoint_release(struct store *st);
int store_savepoint_rollback(struct store *st);
/* A cached statement, reset and ready to bind, or NULL (error set). */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt id);
/* A statement prepared for one use, or NULL (error set). */
sqlite3_stmt *store_prepare(struct store *st, const char *sql);
/* Step a statement that returns no rows, and finalize it; NULL is an
 * error already set. Returns 0 or -1 with "what: ..." */
int store_run(struct store *st, sqlite3_stmt *s, const char *what);
/* Step a cached statement that returns no rows, and reset it. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);
/* Bind text, or NULL for a NULL v. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
/* The same, not copied: v must last until s is stepped and reset (the
 * intake writer's statements, bound from the request they record). */
void store_bind_static(sqlite3_stmt *s, int i, const char *v);
/* A column's text, copied, or NULL. */
char *store_column_dup(sqlite3_stmt *s, int col);

#endif
