/* job.c: each enum's text, read both ways, as the store keeps it. */
#include <string.h>

#include "job.h"
#include "tap.h"
#include "util.h"

int
main(void)
{
	static const char *const kinds[] = { "implement", "revise", "fix-ci",
	    "retry", "cancel", "help" };
	static const char *const states[] = { "queued", "running", "done",
	    "failed", "cancelled" };
	static const char *const steps[] = { "acknowledge", "workspace", "setup",
	    "task", "sandbox", "collect", "push", "publish" };
	static const char *const ons[] = { "issue", "pr", "review",
	    "review_comment", "ci" };
	static const char *const forges[] = { "github", "gitlab", "local" };
	enum job_kind kind;
	enum job_state state;
	enum forge forge;
	size_t i;

	for (i = 0; i < nitems(kinds); i++)
		ok(job_kind_parse(kinds[i], &kind) == 0 &&
		    strcmp(job_kind_name(kind), kinds[i]) == 0,
		    "kind %s both ways", kinds[i]);
	ok(job_kind_parse("close", &kind) == -1 &&
	    job_kind_parse(NULL, &kind) == -1, "no kind close, no kind NULL");
	for (i = 0; i < nitems(states); i++)
		ok(job_state_parse(states[i], &state) == 0 &&
		    strcmp(job_state_name(state), states[i]) == 0,
		    "state %s both ways", states[i]);
	ok(job_state_parse("acknowledge", &state) == -1, "a step is no state");
	ok(job_state_is_over(JOB_DONE) && job_state_is_over(JOB_FAILED) &&
	    job_state_is_over(JOB_CANCELLED) && !job_state_is_over(JOB_QUEUED) &&
	    !job_state_is_over(JOB_RUNNING), "done, failed, cancelled are over");

	/* The steps in the order a job runs them, after none. */
	is_int(JOB_STEP_END, nitems(steps) + 1, "eight steps and none");
	for (i = 0; i < nitems(steps); i++)
		ok(job_step_parse(steps[i]) == (enum job_step)(i + 1) &&
		    strcmp(job_step_name((enum job_step)(i + 1)), steps[i]) == 0,
		    "step %zu is %s", i + 1, steps[i]);
	ok(job_step_parse("queued") == JOB_STEP_NONE &&
	    job_step_parse("done") == JOB_STEP_NONE &&
	    job_step_parse("") == JOB_STEP_NONE &&
	    job_step_parse(NULL) == JOB_STEP_NONE,
	    "a job's step column between steps is none");
	is_str(job_step_name(JOB_STEP_NONE), "", "none has no name");

	for (i = 0; i < nitems(ons); i++)
		ok(strcmp(job_on_name(job_on_parse(ons[i])), ons[i]) == 0,
		    "on %s both ways", ons[i]);
	ok(job_on_parse(NULL) == FORGE_ON_ISSUE &&
	    job_on_parse("elsewhere") == FORGE_ON_ISSUE,
	    "an unknown place is the issue");

	for (i = 0; i < nitems(forges); i++)
		ok(job_forge_parse(forges[i], &forge) == 0 &&
		    strcmp(forge_name(forge), forges[i]) == 0 &&
		    (JOB_FORGE_BIT(forge) & ((1u << nitems(forges)) - 1)) != 0,
		    "forge %s both ways, a bit of its own", forges[i]);
	ok(job_forge_parse("GitHub", &forge) == -1, "forge names are exact");
	return done_testing();
}
