/*
 * The scheduler of `handoff serve`: claims runnable jobs through the store
 * writer and starts a `handoff runner --job N` child for each; notices
 * through SIGCHLD when a runner ends, and queues its job again (to resume
 * at its step) when the runner died without ending it. Job runners outlive
 * serve unless told to stop. Every [store]
 * gc_interval it starts `handoff gc --log` the same way.
 */
#ifndef HANDOFF_SCHEDULER_H
#define HANDOFF_SCHEDULER_H

#include <stdbool.h>

#include <event2/event.h>

#include "config.h"
#include "writer.h"

struct sched;

/* Start on base: a claim now and then every second, and on sched_kick.
 * Returns NULL with err filled. Free with sched_stop. */
struct sched *sched_start(struct event_base *base, struct writer *w,
    const struct config *cfg, char *err, size_t errlen);
/* Look for runnable jobs soon (a job was queued). */
void sched_kick(struct sched *s);
/* The same for a cancel or help request: looked at even when every run
 * slot is taken. */
void sched_kick_control(struct sched *s);
/* Runners alive now. */
int sched_active(const struct sched *s);
/* Stop starting runners. Acknowledging runners and gc get SIGTERM; job
 * runners too when stop_runners (they leave their jobs to resume at the
 * next start), else they run on, for the next serve to adopt. */
void sched_halt(struct sched *s, bool stop_runners);
/* Wait up to 10 s for the children sched_halt told to stop. */
void sched_wait(struct sched *s);
/* Free s, after the writer has stopped (its callbacks may still name s). */
void sched_free(struct sched *s);

#endif
