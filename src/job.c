/*
 * Text for the enums of job.h: one table each, read both ways.
 */
#include <stddef.h>
#include <string.h>

#include "job.h"
#include "util.h"

static const char *const kinds[] = {
	[JOB_IMPLEMENT] = "implement", [JOB_REVISE] = "revise",
	[JOB_FIX_CI] = "fix-ci", [JOB_RETRY] = "retry",
	[JOB_CANCEL] = "cancel", [JOB_HELP] = "help",
};

static const char *const states[] = {
	[JOB_QUEUED] = "queued", [JOB_RUNNING] = "running",
	[JOB_DONE] = "done", [JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

static const char *const steps[] = {
	[JOB_STEP_NONE] = "", [JOB_STEP_ACKNOWLEDGE] = "acknowledge",
	[JOB_STEP_WORKSPACE] = "workspace", [JOB_STEP_SETUP] = "setup",
	[JOB_STEP_TASK] = "task",
	[JOB_STEP_SANDBOX] = "sandbox", [JOB_STEP_COLLECT] = "collect",
	[JOB_STEP_PUSH] = "push", [JOB_STEP_PUBLISH] = "publish",
};

static const char *const ons[] = {
	[FORGE_ON_ISSUE] = "issue", [FORGE_ON_PR] = "pr",
	[FORGE_ON_REVIEW] = "review",
	[FORGE_ON_REVIEW_COMMENT] = "review_comment", [FORGE_ON_CI] = "ci",
};

/* The index of text in names, or -1. */
static int
lookup(const char *const *names, size_t n, const char *text)
{
	size_t i;

	for (i = 0; text != NULL && i < n; i++)
		if (names[i] != NULL && strcmp(names[i], text) == 0)
			return (int)i;
	return -1;
}

const char *
job_kind_name(enum job_kind kind)
{
	return (size_t)kind < nitems(kinds) ? kinds[kind] : "?";
}

const char *
job_state_name(enum job_state state)
{
	return (size_t)state < nitems(states) ? states[state] : "?";
}

const char *
job_step_name(enum job_step step)
{
	return (size_t)step < nitems(steps) ? steps[step] : "";
}

const char *
job_on_name(enum forge_on on)
{
	return (size_t)on < nitems(ons) ? ons[on] : "issue";
}

int
job_kind_parse(const char *text, enum job_kind *out)
{
	int i = lookup(kinds, nitems(kinds), text);

	if (i == -1)
		return -1;
	*out = (enum job_kind)i;
	return 0;
}

int
job_state_parse(const char *text, enum job_state *out)
{
	int i = lookup(states, nitems(states), text);

	if (i == -1)
		return -1;
	*out = (enum job_state)i;
	return 0;
}

enum job_step
job_step_parse(const char *text)
{
	int i = lookup(steps, nitems(steps), text);

	return i <= 0 ? JOB_STEP_NONE : (enum job_step)i;
}

int
job_forge_parse(const char *text, enum forge *out)
{
	static const enum forge all[] = { FORGE_GITHUB, FORGE_GITLAB,
	    FORGE_LOCAL };
	size_t i;

	for (i = 0; text != NULL && i < nitems(all); i++)
		if (strcmp(forge_name(all[i]), text) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

enum forge_on
job_on_parse(const char *text)
{
	int i = lookup(ons, nitems(ons), text);

	return i == -1 ? FORGE_ON_ISSUE : (enum forge_on)i;
}

bool
job_state_is_over(enum job_state state)
{
	return state == JOB_DONE || state == JOB_FAILED ||
	    state == JOB_CANCELLED;
}
