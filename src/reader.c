/*
 * Reader threads: a queue of work guarded by one lock, each thread with its
 * own SQLite connection (WAL lets them read beside the writer), results
 * back to the loop through a pipe, as the writer does. They give way to
 * intake: they run under SCHED_IDLE, and pause together now and
 * then so that the writer's checkpoints can complete.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "log.h"
#include "reader.h"
#include "util.h"

#define MAX_THREADS	8
/*
 * A checkpoint can copy the WAL back into the database, and the next
 * commit start the WAL over, only up to the oldest snapshot a reader
 * holds. Readers that overlap without a break hold one all the time, and
 * the WAL grows for as long as they do (by every page intake commits). So
 * after REST_AFTER_MS of work without a pause, the threads take no new
 * work until all are idle, then stay idle REST_MS: long enough for a
 * commit under load, whose checkpoint then completes.
 */
#define REST_AFTER_MS	100
#define REST_MS		5

struct reader {
	const struct config	*cfg;
	pthread_t		 threads[MAX_THREADS];
	struct reader_ctx	 ctx[MAX_THREADS];
	int			 nthreads;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct reader_req	*queue, **queue_tail;
	struct reader_req	*done, **done_tail;
	bool			 stopping;
	int			 busy;		/* threads running work */
	int64_t			 idle_ms;	/* when busy last went to 0 */
	int64_t			 rested_ms;	/* when the last rest ended */
	int64_t			 rest_until_ms;	/* resting until; 0: not */
	size_t			 inflight;	/* touched on the loop only */
	int			 pipe[2];
	struct event		*ev_done;
};

struct thread_arg {
	struct reader		*r;
	struct reader_ctx	*ctx;
};

/*
 * Pages give way to intake. SCHED_IDLE: the kernel runs this thread on
 * what serve's loop and writer leave, preempts it at once when either
 * wakes, and places a woken thread on a core that runs only idle threads
 * as on an idle core. At nice 19 instead, a woken loop or writer could
 * wait for a reader's slice to end, and each delivery waits for both in
 * turn: intake fell by some 17 % under a page load (bench/status); under
 * SCHED_IDLE, with a page's reads in one transaction, by some 6 %. Idle
 * threads still get a little CPU on a busy machine, so a reader holding
 * a snapshot finishes and the rests below bound the WAL. Failing (a
 * kernel or a policy that refuses it), the thread keeps nice 19.
 */
static void
reader_lower_priority(void)
{
	if (util_thread_idle("handoff-reader") == -1)
		log_debug("reader: nice or SCHED_IDLE: %s", strerror(errno));
}

/* Sleep on r->cond until ms on the monotonic clock, or a signal. */
static void
wait_until(struct reader *r, int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
	    .tv_nsec = (ms % 1000) * 1000000 };

	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

/*
 * With r->lock held: whether a rest keeps the threads from new work now.
 * It may sleep; true means look again. Stopping, no rest is taken.
 */
static bool
is_resting(struct reader *r)
{
	int64_t now = util_mono_ms();

	if (r->busy == 0 && r->rest_until_ms == 0 &&
	    now - r->idle_ms >= REST_MS)
		r->rested_ms = now;	/* idle long enough: a rest */
	if (r->stopping || now - r->rested_ms < REST_AFTER_MS)
		return false;
	if (r->busy > 0) {		/* the others finish first */
		pthread_cond_wait(&r->cond, &r->lock);
		return true;
	}
	if (r->rest_until_ms == 0)
		r->rest_until_ms = now + REST_MS;
	if (now < r->rest_until_ms) {
		wait_until(r, r->rest_until_ms);
		return true;
	}
	r->rested_ms = now;
	r->rest_until_ms = 0;
	pthread_cond_broadcast(&r->cond);
	return false;
}

/*
 * With r->lock held: the next piece of work, after a rest if one is due;
 * NULL once stopping with nothing queued (queued work is finished first).
 */
static struct reader_req *
next_work(struct reader *r)
{
	struct reader_req *req;

	for (;;) {
		if (r->queue == NULL) {
			if (r->stopping)
				return NULL;
			pthread_cond_wait(&r->cond, &r->lock);
		} else if (!is_resting(r))
			break;
	}
	req = r->queue;
	if ((r->queue = req->next) == NULL)
		r->queue_tail = &r->queue;
	req->next = NULL;
	r->busy++;
	return req;
}

static void *
reader_main(void *arg)
{
	struct reader *r = ((struct thread_arg *)arg)->r;
	struct reader_ctx *ctx = ((struct thread_arg *)arg)->ctx;
	struct reader_req *req;
	char c = 1;

	free(arg);
	reader_lower_priority();
	pthread_mutex_lock(&r->lock);
	while ((req = next_work(r)) != NULL) {
		pthread_mutex_unlock(&r->lock);

		req->work(req, ctx);

		pthread_mutex_lock(&r->lock);
		*r->done_tail = req;
		r->done_tail = &req->next;
		if (--r->busy == 0) {
			r->idle_ms = util_mono_ms();
			pthread_cond_broadcast(&r->cond);
		}
		pthread_mutex_unlock(&r->lock);
		while (write(r->pipe[1], &c, 1) == -1 && errno == EINTR)
			;
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* On the loop: call back the finished requests. */
static void
reader_done_cb_(evutil_socket_t fd, short what, void *arg)
{
	struct reader *r = arg;
	struct reader_req *req, *next;
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&r->lock);
	req = r->done;
	r->done = NULL;
	r->done_tail = &r->done;
	pthread_mutex_unlock(&r->lock);
	for (; req != NULL; req = next) {
		next = req->next;
		r->inflight--;
		req->done_cb(req);
	}
}

struct reader *
reader_start(struct event_base *base, const struct config *cfg, int nthreads,
    char *err, size_t errlen)
{
	struct reader *r = xcalloc(1, sizeof(*r));
	struct thread_arg *ta;
	pthread_condattr_t ca;
	int i;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	r->cfg = cfg;
	r->queue_tail = &r->queue;
	r->done_tail = &r->done;
	r->pipe[0] = r->pipe[1] = -1;
	r->idle_ms = r->rested_ms = util_mono_ms();
	pthread_mutex_init(&r->lock, NULL);
	/* Rests are timed on the monotonic clock, as util_mono_ms is. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	git_libgit2_init();
	for (i = 0; i < nthreads; i++) {
		r->ctx[i].cfg = cfg;
		if ((r->ctx[i].st = store_open(cfg->data_dir, err,
		    errlen)) == NULL)
			goto fail;
	}
	if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "reader pipe: %s", strerror(errno));
		goto fail;
	}
	r->ev_done = event_new(base, r->pipe[0], EV_READ | EV_PERSIST,
	    reader_done_cb_, r);
	if (r->ev_done == NULL || event_add(r->ev_done, NULL) == -1) {
		snprintf(err, errlen, "reader event: cannot register");
		goto fail;
	}
	for (i = 0; i < nthreads; i++) {
		ta = xcalloc(1, sizeof(*ta));
		ta->r = r;
		ta->ctx = &r->ctx[i];
		if ((errno = pthread_create(&r->threads[i], NULL, reader_main,
		    ta)) != 0) {
			snprintf(err, errlen, "reader thread: %s",
			    strerror(errno));
			free(ta);
			goto fail;
		}
		r->nthreads++;
	}
	return r;
fail:
	reader_stop(r);
	return NULL;
}

void
reader_submit(struct reader *r, struct reader_req *req)
{
	req->next = NULL;
	r->inflight++;
	pthread_mutex_lock(&r->lock);
	*r->queue_tail = req;
	r->queue_tail = &req->next;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

size_t
reader_inflight(const struct reader *r)
{
	return r == NULL ? 0 : r->inflight;
}

int
reader_is_stopping(const struct reader *r)
{
	return r->stopping;
}

void
reader_stop(struct reader *r)
{
	struct reader_req *req, *next;
	int i;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	/* Done but not called back: each frees itself, answering no one. */
	for (req = r->done; req != NULL; req = next) {
		next = req->next;
		req->done_cb(req);
	}
	if (r->ev_done != NULL)
		event_free(r->ev_done);
	if (r->pipe[0] != -1) {
		close(r->pipe[0]);
		close(r->pipe[1]);
	}
	for (i = 0; i < MAX_THREADS; i++)
		if (r->ctx[i].st != NULL)
			store_close(r->ctx[i].st);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	git_libgit2_shutdown();
	free(r);
}
