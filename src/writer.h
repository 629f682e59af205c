/*
 * The store writer of `handoff serve`: one thread that owns the store's
 * connection and commits deliveries in groups (one fsync for every delivery
 * that arrived meanwhile), so the event loop never blocks on the disk and
 * every 202 follows the commit that holds its delivery.
 */
#ifndef HANDOFF_WRITER_H
#define HANDOFF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "event.h"
#include "rules.h"
#include "store.h"

/* WRITER_BARRIER does nothing: its done_cb runs once every request
 * submitted before it has been done and called back. */
enum writer_op { WRITER_RECORD, WRITER_HEARTBEAT, WRITER_CLAIM,
    WRITER_LOST, WRITER_CLAIM_ACK, WRITER_ACK_ABANDON, WRITER_BARRIER };

#define WRITER_MAX_CLAIM	64

struct writer_req;
typedef void (*writer_done_cb)(struct writer_req *req, void *arg);

/* One piece of work; the submitter allocates it and done_cb frees it. */
struct writer_req {
	enum writer_op		 op;
	/* WRITER_RECORD: inputs, owned by the request */
	char			*delivery;
	struct forge_event		*ev;
	struct command		 cmd;
	/* WRITER_CLAIM: how many jobs to claim at most; WRITER_LOST: the job
	 * whose runner exited without ending it, and why */
	size_t			 claim_max;
	unsigned		 forges;	/* WRITER_CLAIM(_ACK): with credentials */
	int64_t			 job;
	char			*why;
	/* outputs: rc 0 on success, -1 when the store failed */
	int64_t			 claimed[WRITER_MAX_CLAIM];
	size_t			 nclaimed;
	bool			 requeued;
	int			 rc;
	struct record_result	 res;
	/* runs on the writer thread right after the commit (may be NULL),
	 * then done_cb on the event loop */
	writer_done_cb		 committed_cb;
	writer_done_cb		 done_cb;
	void			*arg;
	struct writer_req	*next;
};

struct writer;

/* Start the thread; it takes ownership of st. Returns NULL with err filled. */
struct writer *writer_start(struct event_base *base, struct store *st,
    const struct config *cfg, char *err, size_t errlen);
/* Queue req (from any thread); its done_cb runs on the loop after its
 * transaction. */
void writer_submit(struct writer *w, struct writer_req *req);
/* Requests submitted whose done_cb has not run yet. */
size_t writer_inflight(const struct writer *w);
/* Requests submitted whose commit has not ended: the writer's load. A
 * delivery answered from the writer is out of it at once, before its
 * done_cb. */
size_t writer_pending(const struct writer *w);
/* Finish queued work, stop the thread, close the store, free w. */
void writer_stop(struct writer *w);
/* Free a request and what it owns (for done callbacks). */
void writer_req_free(struct writer_req *req);

#endif
