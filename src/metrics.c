/*
 * The exposition: intake's counters from serve's memory, the rest from the
 * store through the writer (the loop never reads the disk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"
#include "intake.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "web.h"

struct pending {
	const struct web	*web;
	struct httpd		*h;
	struct evhttp_request	*req;
};

/* What the agents used: model requests, tokens and cost through the
 * gateway, connections through the proxy. */
static void
metrics_meter(struct evbuffer *b, const struct store_stats *s)
{
	evbuffer_add_printf(b, "# HELP handoff_llm_requests_total Model "
	    "requests through the gateway.\n"
	    "# TYPE handoff_llm_requests_total counter\n"
	    "handoff_llm_requests_total %lld\n"
	    "# HELP handoff_llm_tokens_total Model tokens through the gateway, "
	    "by kind.\n# TYPE handoff_llm_tokens_total counter\n"
	    "handoff_llm_tokens_total{kind=\"input\"} %lld\n"
	    "handoff_llm_tokens_total{kind=\"output\"} %lld\n"
	    "handoff_llm_tokens_total{kind=\"cache_read\"} %lld\n"
	    "handoff_llm_tokens_total{kind=\"cache_write\"} %lld\n"
	    "# HELP handoff_llm_cost_total Cost of the priced model requests, "
	    "in the price table's currency.\n"
	    "# TYPE handoff_llm_cost_total counter\n"
	    "handoff_llm_cost_total %.6f\n"
	    "# HELP handoff_egress_connections_total Connections the agents "
	    "attempted, allowed or refused.\n"
	    "# TYPE handoff_egress_connections_total counter\n"
	    "handoff_egress_connections_total{allowed=\"true\"} %lld\n"
	    "handoff_egress_connections_total{allowed=\"false\"} %lld\n",
	    (long long)s->llm_requests, (long long)s->llm_input,
	    (long long)s->llm_output, (long long)s->llm_cache_read,
	    (long long)s->llm_cache_write, (double)s->llm_cost_micros / 1e6,
	    (long long)s->egress_allowed, (long long)s->egress_refused);
}

static void
metrics_done_cb(struct writer_req *wr, void *arg)
{
	static const char *const forges[] = { "github", "gitlab", "unknown" };
	struct pending *p = arg;
	const struct intake *in = p->web->intake;
	const struct store_stats *s = &wr->stats;
	struct evbuffer *b;
	size_t f, v, i;

	if (wr->rc == -1) {
		httpd_reply(p->h, p->req, 503, "text/plain",
		    "store not readable\n");
		goto out;
	}
	b = evbuffer_new();
	evbuffer_add_printf(b, "# HELP handoff_deliveries_total Webhook "
	    "deliveries by forge and verdict.\n"
	    "# TYPE handoff_deliveries_total counter\n");
	for (f = 0; f < nitems(forges); f++)
		for (v = 0; v < HV_COUNT; v++)
			if (f < 2 || in->deliveries[f][v] > 0)
				evbuffer_add_printf(b, "handoff_deliveries_total"
				    "{forge=\"%s\",verdict=\"%s\"} %llu\n",
				    forges[f], intake_verdict_name(v),
				    (unsigned long long)in->deliveries[f][v]);
	evbuffer_add_printf(b, "# HELP handoff_jobs Jobs in the store by "
	    "state.\n# TYPE handoff_jobs gauge\n"
	    "handoff_jobs{state=\"queued\"} %lld\n"
	    "handoff_jobs{state=\"running\"} %lld\n"
	    "handoff_jobs{state=\"done\"} %lld\n"
	    "handoff_jobs{state=\"failed\"} %lld\n"
	    "handoff_jobs{state=\"cancelled\"} %lld\n",
	    (long long)s->jobs_queued, (long long)s->jobs_running,
	    (long long)s->jobs_done, (long long)s->jobs_failed,
	    (long long)s->jobs_cancelled);
	evbuffer_add_printf(b, "# HELP handoff_job_duration_seconds Time from "
	    "a job's start to its end.\n"
	    "# TYPE handoff_job_duration_seconds histogram\n");
	for (i = 0; i < STORE_DURATION_BUCKETS; i++)
		evbuffer_add_printf(b, "handoff_job_duration_seconds_bucket"
		    "{le=\"%g\"} %lld\n", store_duration_bounds[i],
		    (long long)s->duration_le[i]);
	evbuffer_add_printf(b, "handoff_job_duration_seconds_bucket"
	    "{le=\"+Inf\"} %lld\nhandoff_job_duration_seconds_sum %.3f\n"
	    "handoff_job_duration_seconds_count %lld\n",
	    (long long)s->duration_count, s->duration_sum,
	    (long long)s->duration_count);
	evbuffer_add_printf(b, "# HELP handoff_runs_active Agent runs in "
	    "progress.\n# TYPE handoff_runs_active gauge\n"
	    "handoff_runs_active %lld\n"
	    "# HELP handoff_queue_depth Jobs waiting to run.\n"
	    "# TYPE handoff_queue_depth gauge\nhandoff_queue_depth %lld\n",
	    (long long)s->jobs_running, (long long)s->jobs_queued);
	metrics_meter(b, s);
	httpd_reply_buffer(p->h, p->req, 200, "text/plain; version=0.0.4",
	    b);
out:
	writer_req_free(wr);
	free(p);
}

void
metrics_get(struct web *w, struct httpd *h, struct evhttp_request *req)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	struct writer_req *wr = xcalloc(1, sizeof(*wr));

	p->web = w;
	p->h = h;
	p->req = req;
	wr->op = WRITER_STATS;
	wr->done_cb = metrics_done_cb;
	wr->arg = p;
	writer_submit(w->writer, wr);
}
