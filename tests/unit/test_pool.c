/*
 * pool.c with real threads and a real event loop: every job's work runs
 * once, on a worker and never on the loop; a job kept for the loop is
 * called back there once and only after its work; a job passed on is
 * forgotten; stopping runs the work still queued and drops, without a
 * callback, what was not called back; each worker runs init and fini.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "pool.h"
#include "tap.h"

#define JOBS	2000

struct job {
	int		 id;
	atomic_int	 worked;	/* times work ran */
	bool		 on_loop;	/* work ran on the loop's thread */
	bool		 keep;		/* work returns true */
	int		 done;		/* times done ran */
	bool		 done_before_work;
	int		 dropped;
};

static pthread_t loop_thread;
static struct event_base *base;
static int ndone;
static atomic_int inits, finis;

static void init(void) { atomic_fetch_add(&inits, 1); }
static void fini(void) { atomic_fetch_add(&finis, 1); }

static bool
work(void *arg)
{
	struct job *j = arg;

	if (pthread_equal(pthread_self(), loop_thread))
		j->on_loop = true;
	if (j->id % 7 == 0)
		usleep(50);	/* let others pass it */
	atomic_fetch_add(&j->worked, 1);
	return j->keep;
}

static void
done(void *arg)
{
	struct job *j = arg;

	if (atomic_load(&j->worked) == 0)
		j->done_before_work = true;
	j->done++;
	if (++ndone == JOBS / 2)
		event_base_loopexit(base, NULL);
}

static void
drop(void *arg)
{
	struct job *j = arg;

	j->dropped++;
}

static void
give_up(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(base, NULL);
}

int
main(void)
{
	static struct job jobs[JOBS];
	struct timeval limit = { 60, 0 };
	struct event *timer;
	char err[128];
	struct pool *p;
	int i, bad_work = 0, bad_done = 0, on_loop = 0, early = 0, n;

	loop_thread = pthread_self();
	base = event_base_new();
	ok(pool_start(base, 0, "test-pool", NULL, NULL, err, sizeof(err)) ==
	    NULL && strstr(err, "not 1 to") != NULL, "no workers is refused");
	p = pool_start(base, 3, "test-pool", init, fini, err, sizeof(err));
	if (!ok(p != NULL, "three workers start"))
		return done_testing();
	for (i = 0; i < JOBS; i++) {
		jobs[i].id = i;
		jobs[i].keep = i % 2 == 0;
		pool_submit(p, work, done, drop, &jobs[i]);
	}
	ok(pool_inflight(p) > 0, "jobs are in flight after submitting");
	timer = evtimer_new(base, give_up, NULL);
	evtimer_add(timer, &limit);
	event_base_dispatch(base);
	/* The jobs passed on may still be at work: wait for them (bounded). */
	for (i = 0; i < 6000 && pool_inflight(p) > 0; i++)
		usleep(10000);
	for (i = 0; i < JOBS; i++) {
		bad_work += atomic_load(&jobs[i].worked) != 1;
		on_loop += jobs[i].on_loop;
		early += jobs[i].done_before_work;
		bad_done += jobs[i].done != (jobs[i].keep ? 1 : 0);
	}
	is_int(bad_work, 0, "every job's work ran once");
	is_int(on_loop, 0, "no work ran on the loop's thread");
	is_int(bad_done, 0, "kept jobs are called back once, passed-on ones "
	    "never");
	is_int(early, 0, "no callback before its work");
	is_int(pool_inflight(p), 0, "nothing in flight once all are back");

	/* Stop with jobs queued: their work runs, their callbacks do not. */
	for (i = 0; i < JOBS; i++) {
		atomic_store(&jobs[i].worked, 0);
		jobs[i].done = 0;
		pool_submit(p, work, done, drop, &jobs[i]);
	}
	pool_stop(p);
	for (i = n = 0, bad_work = 0; i < JOBS; i++) {
		bad_work += atomic_load(&jobs[i].worked) != 1;
		n += jobs[i].done;
		bad_done += jobs[i].dropped != (jobs[i].keep ? 1 : 0);
	}
	is_int(bad_work, 0, "stopping runs the work still queued");
	is_int(n, 0, "no callback after the stop");
	is_int(bad_done, 0, "what was kept and not called back is dropped "
	    "once");
	is_int(atomic_load(&inits), 3, "each worker ran init");
	is_int(atomic_load(&finis), 3, "each worker ran fini");
	event_free(timer);
	event_base_free(base);
	return done_testing();
}
