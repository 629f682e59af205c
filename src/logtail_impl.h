/*
 * What logtail.c (the event loop's side of the live logs) and
 * logtail_read.c (the reader threads' side) share: one answer, and the
 * piece a thread reads for it. Nothing else includes this.
 */
#ifndef HANDOFF_LOGTAIL_IMPL_H
#define HANDOFF_LOGTAIL_IMPL_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"
#include "job.h"
#include "reader.h"

#define LOGTAIL_PIECE_BYTES	(64 * 1024)	/* read, or framed, at a time */

enum tail_phase {
	TAIL_READING,	/* a piece is being read on a reader thread */
	TAIL_DRAINING,	/* waits for its client to take the last piece */
	TAIL_IDLE	/* has sent all there is: waits for the log to grow */
};

/*
 * One answer of GET /jobs/N/log. The fields above the blank line are the
 * loop's (a reader thread may read path, job, is_live, is_head and
 * is_started); while phase is TAIL_READING, the ones below are the
 * thread's, and the loop's again when its done_cb runs.
 */
struct tail {
	struct reader_req	 rq;		/* first: the reader's */
	struct logtail		*lt;
	struct httpd		*h;
	struct evhttp_request	*req;		/* until the answer starts */
	struct httpd_stream	*s;
	struct watch		*watch;		/* live answers */
	char			*path;		/* DATA/jobs/N/log */
	int			 ifd;		/* inotify's, or -1 */
	int64_t			 job;
	bool			 is_live;
	bool			 is_head;
	bool			 is_started;	/* the answer's head is sent */
	enum tail_phase		 phase;
	bool			 is_changed;	/* the log grew while reading */
	bool			 is_gone;	/* the client left, or serve stops */
	bool			 is_busy;	/* in a callback of ours */
	TAILQ_ENTRY(tail)	 entry;

	int			 fd;		/* the log, once open; or -1 */
	int64_t			 off;		/* the next byte to answer */
	int64_t			 end;		/* plain: where the answer stops */
	bool			 want_watch;	/* the read adds an inotify watch */
	int			 found;		/* the job: 1, 0 absent, -1 error */
	enum job_state		 state;
	struct evbuffer		*piece;		/* what to send next */
	bool			 is_more;	/* more is there to read now */
	bool			 is_final;	/* the piece ends the answer */
	int			 wd;		/* a watch the read set up */
	int			 err;		/* errno of a failed read */
};

/* On a reader thread: the job's state, then the next piece of its log
 * into t->piece (a tail's reader_req). */
void logtail_read(struct reader_req *rq, struct reader_ctx *ctx);

#endif
