/*
 * The exposition (Prometheus text format 0.0.4): intake's counters from
 * serve's memory, on the loop, once the writer has done what was handed
 * to it before (so every delivery it had is counted); the store's figures
 * read and written out on a reader thread (the loop never reads the disk,
 * and the writer, which intake waits on, never scans the history).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "egress.h"
#include "forge.h"
#include "httpd.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "reader.h"
#include "store.h"
#include "text.h"
#include "util.h"
#include "web.h"
#include "writer.h"

/* A request for the exposition, on its way through a reader thread. */
struct metrics_req {
	struct reader_req	 rr;		/* first: reader.h */
	struct web		*web;
	struct httpd		*h;
	struct evhttp_request	*req;
	struct evbuffer		*body;		/* the store's part, or NULL */
};

/* One model's figures under its labels as written (escaped). */
struct model_row {
	char			*provider, *model;
	struct store_usage	 u;
};

char *
metrics_escape(const char *s)
{
	char *clean = text_clean(s, strlen(s)), *out, *o;
	const char *p;

	out = o = xmalloc(2 * strlen(clean) + 1);
	for (p = clean; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"' || *p == '\n') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p;
		} else
			*o++ = *p;
	}
	*o = '\0';
	free(clean);
	return out;
}

static void
family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* The samples of histogram h of family name, its labels (escaped, "" for
 * none) before le. */
static void
histogram(struct evbuffer *b, const char *name, const char *labels,
    const struct store_histogram *h)
{
	const char *sep = labels[0] != '\0' ? "," : "";
	size_t i;

	for (i = 0; i < STORE_BUCKETS; i++)
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %lld\n", name,
		    labels, sep, store_bucket_bounds[i], (long long)h->le[i]);
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", name,
	    labels, sep, (long long)h->count);
	if (labels[0] != '\0') {
		evbuffer_add_printf(b, "%s_sum{%s} %.3f\n%s_count{%s} %lld\n",
		    name, labels, h->sum, name, labels, (long long)h->count);
	} else {
		evbuffer_add_printf(b, "%s_sum %.3f\n%s_count %lld\n", name,
		    h->sum, name, (long long)h->count);
	}
}

static void
jobs(struct evbuffer *b, const struct store_stats *s)
{
	enum job_step i;
	char *labels;

	family(b, "handoff_jobs", "gauge", "Jobs in the store by state.");
	evbuffer_add_printf(b,
	    "handoff_jobs{state=\"queued\"} %lld\n"
	    "handoff_jobs{state=\"running\"} %lld\n"
	    "handoff_jobs{state=\"done\"} %lld\n"
	    "handoff_jobs{state=\"failed\"} %lld\n"
	    "handoff_jobs{state=\"cancelled\"} %lld\n",
	    (long long)s->jobs_queued, (long long)s->jobs_running,
	    (long long)s->jobs_done, (long long)s->jobs_failed,
	    (long long)s->jobs_cancelled);
	family(b, "handoff_runs_active", "gauge", "Agent runs in progress.");
	evbuffer_add_printf(b, "handoff_runs_active %lld\n",
	    (long long)s->jobs_running);
	family(b, "handoff_queue_depth", "gauge", "Jobs waiting to run.");
	evbuffer_add_printf(b, "handoff_queue_depth %lld\n",
	    (long long)s->jobs_queued);
	family(b, "handoff_job_duration_seconds", "histogram",
	    "Time from a job's start to its end.");
	histogram(b, "handoff_job_duration_seconds", "", &s->job_duration);
	family(b, "handoff_step_duration_seconds", "histogram",
	    "Time from a step's start to its end, of the steps that ended "
	    "(a failed step ends its job instead).");
	for (i = JOB_STEP_NONE + 1; i < JOB_STEP_END; i++) {
		labels = xasprintf("step=\"%s\"", job_step_name(i));
		histogram(b, "handoff_step_duration_seconds", labels,
		    &s->steps[i]);
		free(labels);
	}
	family(b, "handoff_agent_run_seconds", "histogram",
	    "Time the agent ran: its sandbox step, to the step's end or, "
	    "when the run ended the job, to the job's.");
	histogram(b, "handoff_agent_run_seconds", "", &s->agent_run);
}

/* The usage rows under their escaped labels, rows whose labels came out
 * the same summed (two names apart only in what escaping replaced). */
static struct model_row *
model_rows(const struct store_stats *s, size_t *n)
{
	struct model_row *rows = xcalloc(s->nusage + 1, sizeof(*rows));
	char *provider, *model;
	size_t i, j;

	*n = 0;
	for (i = 0; i < s->nusage; i++) {
		provider = metrics_escape(s->usage[i].provider);
		model = metrics_escape(s->usage[i].model);
		for (j = 0; j < *n; j++)
			if (strcmp(rows[j].provider, provider) == 0 &&
			    strcmp(rows[j].model, model) == 0)
				break;
		if (j == *n) {
			rows[(*n)++] = (struct model_row){ provider, model,
			    { .cost_micros = -1 } };
		} else {
			free(provider);
			free(model);
		}
		rows[j].u.requests += s->usage[i].requests;
		rows[j].u.input_tokens += s->usage[i].input_tokens;
		rows[j].u.output_tokens += s->usage[i].output_tokens;
		rows[j].u.cache_read_tokens += s->usage[i].cache_read_tokens;
		rows[j].u.cache_write_tokens += s->usage[i].cache_write_tokens;
		if (s->usage[i].cost_micros >= 0)
			rows[j].u.cost_micros = (rows[j].u.cost_micros < 0 ?
			    0 : rows[j].u.cost_micros) +
			    s->usage[i].cost_micros;
	}
	return rows;
}

/* What the agents used through the gateway, per provider and model. */
static void
models(struct evbuffer *b, const struct store_stats *s)
{
	static const char *const kinds[] = { "input", "output", "cache_read",
	    "cache_write" };
	struct model_row *rows, *r;
	int64_t v[4];
	size_t n, i, k;

	rows = model_rows(s, &n);
	family(b, "handoff_llm_requests_total", "counter", "Model requests "
	    "through the gateway, by provider (the API) and model.");
	for (i = 0; i < n; i++)
		evbuffer_add_printf(b, "handoff_llm_requests_total{provider="
		    "\"%s\",model=\"%s\"} %lld\n", rows[i].provider,
		    rows[i].model, (long long)rows[i].u.requests);
	family(b, "handoff_llm_tokens_total", "counter", "Model tokens "
	    "through the gateway, by provider, model and kind (input is "
	    "uncached input).");
	for (i = 0; i < n; i++) {
		r = &rows[i];
		v[0] = r->u.input_tokens;
		v[1] = r->u.output_tokens;
		v[2] = r->u.cache_read_tokens;
		v[3] = r->u.cache_write_tokens;
		for (k = 0; k < nitems(kinds); k++)
			evbuffer_add_printf(b, "handoff_llm_tokens_total{"
			    "provider=\"%s\",model=\"%s\",kind=\"%s\"} %lld\n",
			    r->provider, r->model, kinds[k], (long long)v[k]);
	}
	family(b, "handoff_llm_cost_total", "counter", "Cost of the model "
	    "requests, in the price table's currency, by provider and model "
	    "(models with a price).");
	for (i = 0; i < n; i++)
		if (rows[i].u.cost_micros >= 0)
			evbuffer_add_printf(b, "handoff_llm_cost_total{provider="
			    "\"%s\",model=\"%s\"} %.6f\n", rows[i].provider,
			    rows[i].model, (double)rows[i].u.cost_micros / 1e6);
	for (i = 0; i < n; i++) {
		free(rows[i].provider);
		free(rows[i].model);
	}
	free(rows);
}

/* The connections the agents attempted through the proxy. */
static void
egress(struct evbuffer *b, const struct store_stats *s)
{
	static const char *const classes[] = { "not_allowed", "port",
	    "address", "max_egress", "request", "other" };
	int64_t n[nitems(classes)] = { 0 };
	const char *class;
	size_t i, k;

	family(b, "handoff_egress_connections_total", "counter",
	    "Connections the agents attempted, allowed or refused.");
	evbuffer_add_printf(b,
	    "handoff_egress_connections_total{allowed=\"true\"} %lld\n"
	    "handoff_egress_connections_total{allowed=\"false\"} %lld\n",
	    (long long)s->egress_allowed, (long long)s->egress_refused);
	for (i = 0; i < s->nrefusals; i++) {
		class = egress_reason_class(s->refusals[i].reason);
		for (k = 0; k < nitems(classes); k++)
			if (strcmp(class, classes[k]) == 0)
				n[k] += s->refusals[i].connections;
	}
	family(b, "handoff_egress_refusals_total", "counter", "Connections "
	    "the proxy refused, by reason: not_allowed (not in allow_hosts), "
	    "port, address (resolves to one never dialed), max_egress, "
	    "request (one the proxy does not take), other.");
	for (k = 0; k < nitems(classes); k++)
		evbuffer_add_printf(b, "handoff_egress_refusals_total{reason="
		    "\"%s\"} %lld\n", classes[k], (long long)n[k]);
}

/* waits' figures for forge, zero when it has none. */
static struct store_forge_waits
waits_of(const struct store_stats *s, const char *forge)
{
	struct store_forge_waits w = { .forge = "" };
	size_t i;

	for (i = 0; i < s->nwaits; i++)
		if (strcmp(s->waits[i].forge, forge) == 0)
			return s->waits[i];
	snprintf(w.forge, sizeof(w.forge), "%s", forge);
	return w;
}

/* The REST requests the runners made of the forges. */
static void
forges(struct evbuffer *b, const struct store_stats *s)
{
	static const char *const names[] = { "github", "gitlab" };
	struct store_forge_waits w[nitems(names)];
	const struct store_forge_count *c;
	char *forge, *route, status[16];
	size_t i;

	family(b, "handoff_forge_requests_total", "counter", "REST requests "
	    "the runners made of the forges, each attempt, by forge, route "
	    "class and HTTP status (error: no answer).");
	for (i = 0; i < s->nforge; i++) {
		c = &s->forge[i];
		forge = metrics_escape(c->forge);
		route = metrics_escape(c->route);
		if (c->status == 0)
			snprintf(status, sizeof(status), "error");
		else
			snprintf(status, sizeof(status), "%d", c->status);
		evbuffer_add_printf(b, "handoff_forge_requests_total{forge="
		    "\"%s\",route=\"%s\",status=\"%s\"} %lld\n", forge, route,
		    status, (long long)c->requests);
		free(forge);
		free(route);
	}
	for (i = 0; i < nitems(names); i++)
		w[i] = waits_of(s, names[i]);
	family(b, "handoff_forge_retries_total", "counter", "Forge requests "
	    "attempted again (after an error, a 5xx or a rate limit).");
	for (i = 0; i < nitems(names); i++)
		evbuffer_add_printf(b, "handoff_forge_retries_total{forge="
		    "\"%s\"} %lld\n", names[i], (long long)w[i].retries);
	family(b, "handoff_forge_rate_limit_waits_total", "counter",
	    "Forge requests attempted again after the wait a rate limit "
	    "asked for.");
	for (i = 0; i < nitems(names); i++)
		evbuffer_add_printf(b, "handoff_forge_rate_limit_waits_total{"
		    "forge=\"%s\"} %lld\n", names[i],
		    (long long)w[i].rate_limit_waits);
	family(b, "handoff_forge_rate_limit_wait_seconds_total", "counter",
	    "Time the rate limits asked the runners to wait.");
	for (i = 0; i < nitems(names); i++)
		evbuffer_add_printf(b, "handoff_forge_rate_limit_wait_seconds_"
		    "total{forge=\"%s\"} %.3f\n", names[i],
		    (double)w[i].rate_limit_wait_ms / 1000);
}

/* On a reader thread: the store's figures, written out. */
static void
metrics_work(struct reader_req *rr, struct reader_ctx *ctx)
{
	struct metrics_req *m = (struct metrics_req *)rr;
	struct store_stats s;

	if (store_stats(ctx->st, &s) == -1) {
		log_error("metrics: %s", store_error(ctx->st));
		return;
	}
	m->body = evbuffer_new();
	jobs(m->body, &s);
	models(m->body, &s);
	egress(m->body, &s);
	forges(m->body, &s);
	store_stats_clear(&s);
}

/* Intake's counters, from serve's memory. */
static void
deliveries(struct evbuffer *b, const struct intake *in)
{
	static const char *const names[] = { "github", "gitlab", "unknown" };
	size_t f, v;

	family(b, "handoff_deliveries_total", "counter",
	    "Webhook deliveries by forge and verdict.");
	for (f = 0; f < nitems(names); f++)
		for (v = 0; v < HV_COUNT; v++)
			if (f < 2 || in->deliveries[f][v] > 0)
				evbuffer_add_printf(b, "handoff_deliveries_total"
				    "{forge=\"%s\",verdict=\"%s\"} %llu\n",
				    names[f], intake_verdict_name(v),
				    (unsigned long long)in->deliveries[f][v]);
}

/* On the loop: answer with both parts. */
static void
metrics_done_cb(struct reader_req *rr)
{
	struct metrics_req *m = (struct metrics_req *)rr;
	struct evbuffer *b;

	if (reader_is_stopping(m->web->reader))
		goto out;
	if (m->body == NULL) {
		httpd_reply(m->h, m->req, 503, "text/plain",
		    "store not readable\n");
		goto out;
	}
	b = evbuffer_new();
	deliveries(b, m->web->intake);
	evbuffer_add_buffer(b, m->body);
	httpd_reply_buffer(m->h, m->req, 200,
	    "text/plain; version=0.0.4; charset=utf-8", b);
out:
	if (m->body != NULL)
		evbuffer_free(m->body);
	free(m);
}

/* On the loop: every delivery handed to the writer before the request
 * came is answered (and counted); now the store's part. */
static void
metrics_barrier_cb(struct writer_req *wr, void *arg)
{
	struct metrics_req *m = arg;

	writer_req_free(wr);
	reader_submit(m->web->reader, &m->rr);
}

void
metrics_get(struct web *w, struct httpd *h, struct evhttp_request *req)
{
	struct metrics_req *m = xcalloc(1, sizeof(*m));
	struct writer_req *wr = xcalloc(1, sizeof(*wr));

	m->rr.work = metrics_work;
	m->rr.done_cb = metrics_done_cb;
	m->web = w;
	m->h = h;
	m->req = req;
	wr->op = WRITER_BARRIER;
	wr->done_cb = metrics_barrier_cb;
	wr->arg = m;
	writer_submit(w->writer, wr);
}
