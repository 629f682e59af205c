/*
 * Reader threads: a queue of work guarded by one lock, each thread with its
 * own SQLite connection (WAL lets them read beside the writer), results
 * back to the loop through a pipe, as the writer does.
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
	size_t			 inflight;	/* touched on the loop only */
	int			 pipe[2];
	struct event		*ev_done;
};

struct thread_arg {
	struct reader		*r;
	struct reader_ctx	*ctx;
};

static void *
reader_main(void *arg)
{
	struct reader *r = ((struct thread_arg *)arg)->r;
	struct reader_ctx *ctx = ((struct thread_arg *)arg)->ctx;
	struct reader_req *req;
	char c = 1;

	free(arg);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (r->queue == NULL && !r->stopping)
			pthread_cond_wait(&r->cond, &r->lock);
		if ((req = r->queue) == NULL)
			break;
		if ((r->queue = req->next) == NULL)
			r->queue_tail = &r->queue;
		req->next = NULL;
		pthread_mutex_unlock(&r->lock);

		req->work(req, ctx);

		pthread_mutex_lock(&r->lock);
		*r->done_tail = req;
		r->done_tail = &req->next;
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
	int i;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	r->cfg = cfg;
	r->queue_tail = &r->queue;
	r->done_tail = &r->done;
	r->pipe[0] = r->pipe[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
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
