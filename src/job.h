/*
 * A job's typed state: its kind, state and step, the forge and the place a
 * request was made on, as enums; text only where the store reads and writes
 * rows, where logs and the command line print, and where input is parsed.
 */
#ifndef HANDOFF_JOB_H
#define HANDOFF_JOB_H

#include <stdbool.h>

#include "event.h"

/* What a job does. A retry does what the job it retries did (its origin). */
enum job_kind { JOB_IMPLEMENT, JOB_REVISE, JOB_FIX_CI, JOB_RETRY, JOB_CANCEL,
    JOB_HELP };

/* Where a job is in its life. */
enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED,
    JOB_CANCELLED };

/* The steps a job runs, in their order. JOB_STEP_NONE (zero) is a job
 * between steps: queued, or ended; JOB_STEP_END counts them, for tables
 * indexed by step. */
enum job_step { JOB_STEP_NONE, JOB_STEP_ACKNOWLEDGE, JOB_STEP_WORKSPACE,
    JOB_STEP_SETUP, JOB_STEP_TASK, JOB_STEP_SANDBOX, JOB_STEP_COLLECT, JOB_STEP_PUSH,
    JOB_STEP_PUBLISH, JOB_STEP_END };

/* A set of forges (enum forge, event.h), one bit each. */
#define JOB_FORGE_BIT(f)	(1u << (unsigned)(f))

/* The text of each, as the store keeps it and the command line prints it. */
const char *job_kind_name(enum job_kind kind);
const char *job_state_name(enum job_state state);
/* The step's name; "" for JOB_STEP_NONE. */
const char *job_step_name(enum job_step step);
/* What a request was made on: "issue", "pr", "review", ... */
const char *job_on_name(enum forge_on on);

/* Parse text as the store keeps it: 0, or -1 when it names none. */
int job_kind_parse(const char *text, enum job_kind *out);
int job_state_parse(const char *text, enum job_state *out);
/* A step's name; anything else is JOB_STEP_NONE (a job's step column also
 * holds "queued" and the state it ended in). */
enum job_step job_step_parse(const char *text);
int job_forge_parse(const char *text, enum forge *out);
/* NULL or anything unknown is the issue. */
enum forge_on job_on_parse(const char *text);

/* Whether a job in state has ended. */
bool job_state_is_over(enum job_state state);

#endif
