/*
 * The intake writer's checkpoints, mostly on a thread of their own.
 *
 * SQLite checkpoints in the commit that brings the WAL to its threshold:
 * it copies the pages the WAL holds back into the database file and syncs
 * it (some 1.5 ms at 1,000 pages, a scattered write), while every delivery
 * in flight waits for its answer, 30 times a second under load. Here the
 * writer's commits only count: once the WAL holds STORE_CHECKPOINT_PAGES
 * pages, the checkpointer, with a connection of its own and under
 * SCHED_IDLE, copies back what the WAL held when it started (a passive
 * checkpoint), beside which the writer goes on committing.
 *
 * Only a checkpoint that leaves nothing behind lets the next commit start
 * the WAL over, and only the writer can be sure no commit comes between.
 * So once the checkpointer's last pass left at most CKPT_REST pages
 * behind, the writer copies those back itself (the pages its last few
 * commits changed), and the WAL starts over; otherwise the checkpointer
 * is asked again. The WAL then starts over every STORE_CHECKPOINT_PAGES
 * pages or so, and the writer stops for the rest only. Should the
 * checkpointer fall behind, past CKPT_MAX pages the writer copies back
 * everything itself whenever the checkpointer is not running, as SQLite
 * would. A reader's snapshot holds a checkpoint back as before (reader.c's
 * rests); the next commit asks again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite.h"
#include "util.h"

#define CKPT_REST	64				/* pages */
#define CKPT_MAX	(4 * STORE_CHECKPOINT_PAGES)	/* pages */

struct store_ckpt {
	struct store	*st;		/* the checkpointer's connection */
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	bool		 asked, running, stopping;
	int		 done;		/* the WAL's pages its last pass copied
					 * back; -1: none since the WAL started
					 * over */
	int		 last;		/* the WAL's pages after the last commit */
};

static void *
ckpt_main(void *arg)
{
	struct store_ckpt *c = arg;
	int frames, copied, rc;

	/* As the readers (reader.c): a pass is milliseconds of system calls,
	 * and a loop or writer that woke behind it would wait for them. */
	if (util_thread_idle("handoff-ckpt") == -1)
		log_debug("store: checkpointer: nice or SCHED_IDLE: %s",
		    strerror(errno));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->asked && !c->stopping)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stopping)
			break;
		c->asked = false;
		c->running = true;
		pthread_mutex_unlock(&c->lock);
		frames = copied = -1;
		rc = sqlite3_wal_checkpoint_v2(c->st->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_error("store: checkpoint: %s",
			    sqlite3_errmsg(c->st->db));
		pthread_mutex_lock(&c->lock);
		c->running = false;
		c->done = rc == SQLITE_OK ? copied : -1;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* SQLite calls this on the writer's thread after each of its commits,
 * instead of checkpointing; frames: the WAL's pages. */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_ckpt *c = arg;
	bool here = false;
	int rc;

	pthread_mutex_lock(&c->lock);
	if (frames < c->last)
		c->done = -1;		/* the WAL started over */
	c->last = frames;
	if (frames >= STORE_CHECKPOINT_PAGES && !c->running && !c->asked) {
		if ((c->done >= 0 && frames - c->done <= CKPT_REST) ||
		    frames >= CKPT_MAX)
			here = true;
		else {
			c->asked = true;
			pthread_cond_signal(&c->cond);
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!here)
		return SQLITE_OK;
	rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_error("store: checkpoint: %s", sqlite3_errmsg(db));
	pthread_mutex_lock(&c->lock);
	c->done = -1;
	pthread_mutex_unlock(&c->lock);
	return SQLITE_OK;
}

struct store_ckpt *
store_ckpt_start(struct store *writer, const char *data_dir, char *err,
    size_t errlen)
{
	struct store_ckpt *c = xcalloc(1, sizeof(*c));

	c->done = -1;
	if ((c->st = store_open(data_dir, err, errlen)) == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if ((errno = pthread_create(&c->thread, NULL, ckpt_main, c)) != 0) {
		snprintf(err, errlen, "checkpoint thread: %s",
		    strerror(errno));
		store_close(c->st);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
		return NULL;
	}
	sqlite3_wal_hook(writer->db, ckpt_hook, c);
	return c;
}

void
store_ckpt_stop(struct store *writer, struct store_ckpt *c)
{
	if (c == NULL)
		return;
	sqlite3_wal_hook(writer->db, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	store_close(c->st);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
