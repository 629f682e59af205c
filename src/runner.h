/*
 * `handoff runner --job N`: one job's steps (runner.c's table), started by
 * serve for a job it marked running, or with --acknowledge for a queued one.
 */
#ifndef HANDOFF_RUNNER_H
#define HANDOFF_RUNNER_H

#include <stdint.h>

#include "config.h"

/* Exit statuses of `handoff runner`: the job ended (whatever its state),
 * the runner failed and the job should resume, or a signal stopped it. */
#define RUNNER_EXIT_ENDED	0
#define RUNNER_EXIT_FAILED	1
#define RUNNER_EXIT_STOPPED	3

/* `handoff runner --job N`. */
int runner_main(const struct config *cfg, int argc, char **argv);
/* The pid of the runner running job's steps now (it holds the job's lock):
 * 0 when there is none, -1 when there is one of unknown pid. */
long runner_running(const char *data_dir, int64_t job);

#endif
