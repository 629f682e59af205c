/*
 * A small pool of threads for CPU work the event loop hands off: a job
 * runs on a worker, then (unless the worker passed it on elsewhere) its
 * callback runs on the loop.
 */
#ifndef HANDOFF_POOL_H
#define HANDOFF_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

struct pool;

/* On a worker: the job's work. true has done_cb called on the loop; false
 * says the job went elsewhere and the pool forgets it. */
typedef bool (*pool_work_cb)(void *arg);
/* On the loop: the job is done. */
typedef void (*pool_done_cb)(void *arg);
/* Instead of done_cb, for a job the pool still holds when it stops. */
typedef void (*pool_drop_cb)(void *arg);

/* n workers (1 to POOL_MAX_THREADS) named name, each running init first
 * and fini last (either may be NULL); results reach the loop of base. NULL
 * and err on failure. */
struct pool *pool_start(struct event_base *base, size_t n, const char *name,
    void (*init)(void), void (*fini)(void), char *err, size_t errlen);
#define POOL_MAX_THREADS	16
/* Run work(arg) on a worker, then done(arg) on the loop; drop(arg) if the
 * pool stops first. Called on the loop. */
void pool_submit(struct pool *p, pool_work_cb work, pool_done_cb done,
    pool_drop_cb drop, void *arg);
/* Jobs submitted whose work has not ended, or whose done_cb has not run. */
size_t pool_inflight(const struct pool *p);
/* The number of workers the machine's online CPUs suggest, within max. */
size_t pool_default_threads(size_t max);
/* Finish the work queued, join the workers, drop what was not called back,
 * and free p. NULL is fine. */
void pool_stop(struct pool *p);

#endif
