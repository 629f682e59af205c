/*
 * The status listener's reader: threads beside serve's event loop that
 * render pages, read logs and diffs, each with its own store connection,
 * so the loop never reads the disk and a slow page never delays intake.
 */
#ifndef HANDOFF_READER_H
#define HANDOFF_READER_H

#include <stddef.h>

#include <event2/event.h>

#include "config.h"
#include "store.h"

/* What a reader thread lends the work it runs: its own store connection. */
struct reader_ctx {
	struct store		*st;
	const struct config	*cfg;
};

struct reader_req;
/* Runs on a reader thread: may block on the disk, the store, libgit2. */
typedef void (*reader_work_fn)(struct reader_req *, struct reader_ctx *);
/* Runs on the loop once the work is done; frees the request. */
typedef void (*reader_done_cb)(struct reader_req *);

/* One piece of work; embed it first in the caller's own struct. */
struct reader_req {
	reader_work_fn		 work;
	reader_done_cb		 done_cb;
	struct reader_req	*next;
};

struct reader;

/* Start nthreads threads, each opening the store in cfg's data_dir. NULL
 * with err filled when one cannot. */
struct reader *reader_start(struct event_base *base, const struct config *cfg,
    int nthreads, char *err, size_t errlen);
/* Queue req; its work runs on a thread, then its done_cb on the loop. */
void reader_submit(struct reader *r, struct reader_req *req);
/* Requests submitted whose done_cb has not run yet. */
size_t reader_inflight(const struct reader *r);
/* Finish queued work, stop the threads, free r; requests done but not
 * called back are handed to their done_cb with nothing to answer (the
 * caller checks reader_is_stopping). */
void reader_stop(struct reader *r);
/* Whether reader_stop has begun (for done callbacks). */
int reader_is_stopping(const struct reader *r);

#endif
