/*
 * The steps that speak to the forge: acknowledge the request (and ask
 * whether those who made it may write), push the branch, open or update
 * the pull request.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "util.h"

#define REFUSE_PASSES	4	/* a refusal stands once no request came */

int
step_acknowledge_ready(struct run *r)
{
	if (store_acknowledged(r->st, r->job.id) == 1) {
		run_log(r, "acknowledge: done while the job was queued");
		return 1;
	}
	return 0;
}

/* One pass: what the job's kind asks of the forge. */
static int
acknowledge_pass(struct run *r, bool *allowed, char *err, size_t errlen)
{
	if (r->job.kind == JOB_HELP)
		return publish_help(r->pub, allowed, err, errlen);
	if (r->job.kind == JOB_CANCEL)
		return publish_permit(r->pub, allowed, err, errlen);
	return publish_acknowledge(r->pub, r->is_queued ?
	    store_queue_position(r->st, r->job.id) : 0, allowed, err, errlen);
}

/* Why nothing was done for a job none of whose requesters may write.
 * Caller frees. */
static char *
refusal(const struct run *r)
{
	const char *who;

	if (!r->is_queued)
		who = r->job.requested_by ? r->job.requested_by : "nobody";
	else
		who = r->job.nrequests <= 1 && r->job.requested_by ?
		    r->job.requested_by : "no one who asked";
	return xasprintf("%s may not write to %s; nothing was %s", who,
	    r->job.repo, r->job.kind == JOB_CANCEL ? "cancelled" :
	    "run");
}

/*
 * Acknowledge the request where it was made and learn whether its
 * requesters may write. A refusal ends the job quietly: nothing is written
 * to the forge. For a queued job (r->is_queued) the refusal is the store's
 * to make, and stands only if no request was folded in meanwhile.
 */
int
step_acknowledge(struct run *r)
{
	char err[1024], *why;
	bool allowed = false;
	int rc = 0, pass, ended = 1;

	for (pass = 0; pass < REFUSE_PASSES; pass++) {
		rc = acknowledge_pass(r, &allowed, err, sizeof(err));
		if (rc == -1 || allowed || !r->is_queued)
			break;
		why = refusal(r);
		publish_count(r->pub);	/* counted before the job ends */
		ended = store_job_refuse(r->st, r->job.id, why);
		free(why);
		if (ended != 0)
			break;
	}
	if (rc == -1)
		return run_fail(r, "acknowledge: %s", err);
	if (allowed)
		return run_done(r, "acknowledged");
	if (ended == -1)
		return run_fail(r, "acknowledge: %s", store_error(r->st));
	if (ended == 0)
		return run_fail(r, "acknowledge: requests keep coming");
	why = refusal(r);
	run_cancel(r, why);
	free(why);
	return -1;
}

int
step_push(struct run *r)
{
	char err[1024], why[512];

	if (publish_push(r->pub, r->mirror, why, sizeof(why), err,
	    sizeof(err)) == -1) {
		run_fail(r, "%s", err);
		if (*why)
			r->public = xasprintf("the forge refused the push of"
			    " %s (%s)", r->job.branch, why);
		return -1;
	}
	return run_done(r, r->job.branch);
}

int
step_publish(struct run *r)
{
	char err[1024], *meter = step_net_report(r);

	publish_meter(r->pub, meter);
	free(meter);
	if (publish_pr(r->pub, r->summary, r->change.diffstat, err,
	    sizeof(err)) == -1)
		return run_fail(r, "publish: %s", err);
	return run_done(r, publish_pr_url(r->pub));
}
