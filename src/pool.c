/*
 * Worker threads for the loop's CPU work. Jobs wait in one queue; a worker
 * takes one, runs it, and puts it on the done list, which the loop empties
 * when a byte in a pipe says there is something on it (one byte for any
 * number of jobs: a loop that is busy reads them all in one pass).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "util.h"

struct job {
	pool_work_cb	 work;
	pool_done_cb	 done;
	pool_drop_cb	 drop;
	void		*arg;
	struct job	*next;
};

struct pool {
	pthread_t		 threads[POOL_MAX_THREADS];
	size_t			 nthreads;
	void			(*init)(void), (*fini)(void);
	char			 name[16];	/* a thread name's limit */
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct job		*queue, **queue_tail;
	struct job		*done, **done_tail;
	bool			 is_signalled;	/* a byte is in the pipe */
	bool			 stopping;
	atomic_size_t		 inflight;
	int			 pipe[2];
	struct event		*ev_done;
};

static void *
worker_main(void *arg)
{
	struct pool *p = arg;
	struct job *j;
	bool notify;
	char c = 1;

	pthread_setname_np(pthread_self(), p->name);
	if (p->init != NULL)
		p->init();
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->queue == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if ((j = p->queue) == NULL)
			break;
		if ((p->queue = j->next) == NULL)
			p->queue_tail = &p->queue;
		pthread_mutex_unlock(&p->lock);

		if (!j->work(j->arg)) {
			atomic_fetch_sub(&p->inflight, 1);
			free(j);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		j->next = NULL;
		pthread_mutex_lock(&p->lock);
		*p->done_tail = j;
		p->done_tail = &j->next;
		notify = !p->is_signalled;
		p->is_signalled = true;
		pthread_mutex_unlock(&p->lock);
		if (notify)
			while (write(p->pipe[1], &c, 1) == -1 && errno == EINTR)
				;
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	if (p->fini != NULL)
		p->fini();
	return NULL;
}

/* On the loop: the callbacks of finished jobs. */
static void
done_cb_(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	struct job *j, *next;
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&p->lock);
	j = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	p->is_signalled = false;
	pthread_mutex_unlock(&p->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		atomic_fetch_sub(&p->inflight, 1);
		j->done(j->arg);
		free(j);
	}
}

size_t
pool_default_threads(size_t max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return (size_t)n < max ? (size_t)n : max;
}

struct pool *
pool_start(struct event_base *base, size_t n, const char *name,
    void (*init)(void), void (*fini)(void), char *err, size_t errlen)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	if (n < 1 || n > POOL_MAX_THREADS) {
		snprintf(err, errlen, "%s: %zu threads, not 1 to %d", name, n,
		    POOL_MAX_THREADS);
		free(p);
		return NULL;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->init = init;
	p->fini = fini;
	p->queue_tail = &p->queue;
	p->done_tail = &p->done;
	p->pipe[0] = p->pipe[1] = -1;
	atomic_init(&p->inflight, 0);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pipe2(p->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "%s pipe: %s", name, strerror(errno));
		goto fail;
	}
	p->ev_done = event_new(base, p->pipe[0], EV_READ | EV_PERSIST,
	    done_cb_, p);
	if (p->ev_done == NULL || event_add(p->ev_done, NULL) == -1) {
		snprintf(err, errlen, "%s event: cannot register", name);
		goto fail;
	}
	for (; p->nthreads < n; p->nthreads++)
		if ((errno = pthread_create(&p->threads[p->nthreads], NULL,
		    worker_main, p)) != 0) {
			snprintf(err, errlen, "%s thread: %s", name,
			    strerror(errno));
			goto fail;
		}
	return p;
fail:
	pool_stop(p);
	return NULL;
}

void
pool_submit(struct pool *p, pool_work_cb work, pool_done_cb done,
    pool_drop_cb drop, void *arg)
{
	struct job *j = xmalloc(sizeof(*j));

	j->work = work;
	j->done = done;
	j->drop = drop;
	j->arg = arg;
	j->next = NULL;
	atomic_fetch_add(&p->inflight, 1);
	pthread_mutex_lock(&p->lock);
	*p->queue_tail = j;
	p->queue_tail = &j->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

size_t
pool_inflight(const struct pool *p)
{
	return p == NULL ? 0 : atomic_load(&((struct pool *)p)->inflight);
}

void
pool_stop(struct pool *p)
{
	struct job *j, *next;
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Run, but not called back: the loop has stopped. */
	for (j = p->done; j != NULL; j = next) {
		next = j->next;
		j->drop(j->arg);
		free(j);
	}
	if (p->ev_done != NULL)
		event_free(p->ev_done);
	if (p->pipe[0] != -1) {
		close(p->pipe[0]);
		close(p->pipe[1]);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
