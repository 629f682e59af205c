/*
 * Group commit: the writer thread takes every request queued since its last
 * transaction, records them all in one transaction (store_record_batch:
 * one bad delivery cannot undo the others), commits once, and hands the
 * results back to the event loop through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "writer.h"

#define MAX_BATCH	1024
/* Under load a commit waits up to GATHER_US for GATHER_MIN requests: one
 * fsync then answers several deliveries. Idle, nothing waits. */
#define GATHER_MIN	8
#define GATHER_US	250
#define BUSY_US		2000	/* "under load": the last commit ended this recently */

struct writer {
	struct store		*st;
	const struct config	*cfg;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct writer_req	*queue, **queue_tail;
	size_t			 nqueued;
	struct writer_req	*done, **done_tail;
	bool			 stopping;
	atomic_size_t		 inflight;	/* submitted, not yet called back */
	atomic_size_t		 pending;	/* submitted, not yet committed */
	int			 pipe[2];
	struct event		*ev_done;	/* libevent's */
	struct store_delivery	*recs;		/* MAX_BATCH of them */
};

void
writer_req_free(struct writer_req *req)
{
	if (req == NULL)
		return;
	free(req->delivery);
	free(req->why);
	if (req->ev)
		forge_event_free(req->ev);
	rules_command_clear(&req->cmd);
	free(req);
}

static void
record_batch(struct writer *w, struct writer_req *batch)
{
	struct writer_req *r;
	size_t i, n = 0;
	int rc;

	for (r = batch; r != NULL; r = r->next) {
		if (r->op != WRITER_RECORD)
			continue;
		w->recs[n].delivery = r->delivery;
		w->recs[n].ev = r->ev;
		w->recs[n].cmd = &r->cmd;
		n++;
	}
	if (n == 0)
		return;
	rc = store_record_batch(w->st, w->cfg, w->recs, n);
	for (i = 0; i < n; i++)
		if (w->recs[i].error[0] != '\0')
			log_error("store: record %s delivery %s: %s",
			    forge_name(w->recs[i].ev->forge),
			    w->recs[i].delivery, w->recs[i].error);
	if (rc == -1)
		log_error("store: %s", store_error(w->st));
	i = 0;
	for (r = batch; r != NULL; r = r->next) {
		if (r->op != WRITER_RECORD)
			continue;
		r->rc = w->recs[i].rc;
		r->res = w->recs[i].res;
		i++;
	}
}

static void
run_batch(struct writer *w, struct writer_req *batch)
{
	struct writer_req *r;

	record_batch(w, batch);
	for (r = batch; r != NULL; r = r->next) {
		if (r->op == WRITER_HEARTBEAT) {
			if ((r->rc = store_heartbeat(w->st)) == -1)
				log_error("store: heartbeat: %s",
				    store_error(w->st));
		} else if (r->op == WRITER_CLAIM) {
			int n = store_claim(w->st, w->cfg, r->forges,
			    r->claimed, r->claim_max < WRITER_MAX_CLAIM ?
			    r->claim_max : WRITER_MAX_CLAIM);

			r->rc = n < 0 ? -1 : 0;
			r->nclaimed = n < 0 ? 0 : (size_t)n;
			if (n < 0)
				log_error("store: claim jobs: %s",
				    store_error(w->st));
		} else if (r->op == WRITER_CLAIM_ACK) {
			int n = store_claim_ack(w->st, r->forges, r->claimed,
			    r->claim_max < WRITER_MAX_CLAIM ? r->claim_max :
			    WRITER_MAX_CLAIM);

			r->rc = n < 0 ? -1 : 0;
			r->nclaimed = n < 0 ? 0 : (size_t)n;
			if (n < 0)
				log_error("store: acknowledgements: %s",
				    store_error(w->st));
		} else if (r->op == WRITER_ACK_ABANDON) {
			if ((r->rc = store_ack_abandon(w->st, r->job)) == -1)
				log_error("store: job %lld: %s",
				    (long long)r->job, store_error(w->st));
		} else if (r->op == WRITER_LOST) {
			/* A runner that died three times fails its job. */
			if ((r->rc = store_runner_lost(w->st, r->job, r->why, 3,
			    &r->requeued)) == -1)
				log_error("store: job %lld: %s",
				    (long long)r->job, store_error(w->st));
		}
	}
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct writer_req *batch, *tail, *r;
	size_t n;
	char c = 1;

	struct timespec last = { 0, 0 }, now, until;
	int64_t idle_ns;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->queue == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->queue == NULL)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		idle_ns = (now.tv_sec - last.tv_sec) * 1000000000LL +
		    (now.tv_nsec - last.tv_nsec);
		if (w->nqueued < GATHER_MIN && idle_ns < BUSY_US * 1000LL &&
		    !w->stopping) {
			until = now;
			until.tv_nsec += GATHER_US * 1000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (w->nqueued < GATHER_MIN && !w->stopping &&
			    pthread_cond_timedwait(&w->cond, &w->lock,
			    &until) == 0)
				;
		}
		/* Take up to MAX_BATCH requests, leave the rest queued. */
		batch = tail = w->queue;
		for (n = 1; n < MAX_BATCH && tail->next != NULL; n++)
			tail = tail->next;
		w->queue = tail->next;
		if (w->queue == NULL)
			w->queue_tail = &w->queue;
		tail->next = NULL;
		w->nqueued -= n;
		pthread_mutex_unlock(&w->lock);

		run_batch(w, batch);
		for (r = batch; r != NULL; r = r->next) {
			if (r->committed_cb != NULL)
				r->committed_cb(r, r->arg);
			atomic_fetch_sub(&w->pending, 1);
		}
		clock_gettime(CLOCK_MONOTONIC, &last);

		pthread_mutex_lock(&w->lock);
		*w->done_tail = batch;
		w->done_tail = &tail->next;
		pthread_mutex_unlock(&w->lock);
		while (write(w->pipe[1], &c, 1) == -1 && errno == EINTR)
			;
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* On the loop: run the callbacks of finished requests. */
static void
writer_done_cb_(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	struct writer_req *r, *next;
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->lock);
	r = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	for (; r != NULL; r = next) {
		next = r->next;
		atomic_fetch_sub(&w->inflight, 1);
		r->done_cb(r, r->arg);
	}
}

struct writer *
writer_start(struct event_base *base, struct store *st,
    const struct config *cfg, char *err, size_t errlen)
{
	struct writer *w = xcalloc(1, sizeof(*w));

	w->st = st;
	w->cfg = cfg;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	atomic_init(&w->inflight, 0);
	atomic_init(&w->pending, 0);
	w->recs = xcalloc(MAX_BATCH, sizeof(*w->recs));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "writer pipe: %s", strerror(errno));
		goto fail;
	}
	w->ev_done = event_new(base, w->pipe[0], EV_READ | EV_PERSIST,
	    writer_done_cb_, w);
	if (w->ev_done == NULL || event_add(w->ev_done, NULL) == -1) {
		snprintf(err, errlen, "writer event: cannot register");
		goto fail;
	}
	if ((errno = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		snprintf(err, errlen, "writer thread: %s", strerror(errno));
		goto fail;
	}
	return w;
fail:
	if (w->ev_done)
		event_free(w->ev_done);
	if (w->pipe[0] > 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
	}
	free(w->recs);
	free(w);
	return NULL;
}

void
writer_submit(struct writer *w, struct writer_req *req)
{
	req->next = NULL;
	req->rc = 0;
	atomic_fetch_add(&w->inflight, 1);
	atomic_fetch_add(&w->pending, 1);
	pthread_mutex_lock(&w->lock);
	*w->queue_tail = req;
	w->queue_tail = &req->next;
	w->nqueued++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

size_t
writer_inflight(const struct writer *w)
{
	return atomic_load(&((struct writer *)w)->inflight);
}

size_t
writer_pending(const struct writer *w)
{
	return atomic_load(&((struct writer *)w)->pending);
}

void
writer_stop(struct writer *w)
{
	struct writer_req *r, *next;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* Anything finished but not yet called back: its client is gone. */
	for (r = w->done; r != NULL; r = next) {
		next = r->next;
		writer_req_free(r);
	}
	event_free(w->ev_done);
	close(w->pipe[0]);
	close(w->pipe[1]);
	store_close(w->st);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->recs);
	free(w);
}
