/*
 * The status pages: plain HTML rendered on a reader thread from the store,
 * the job's files and the mirror. Every string that came from a forge, the
 * agent or a log is escaped on its way in; the pages load nothing from
 * elsewhere and their one script is served from here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"
#include "jobpage.h"
#include "logtail.h"
#include "pages.h"
#include "reader.h"
#include "store.h"
#include "url.h"
#include "util.h"
#include "web.h"

#define JOBS_PER_PAGE	50
#define PAGE_MAX	1000000		/* ?page= and ?diff= */
#define TEXT_SHOWN	(256 * 1024)	/* a result, error or diffstat */

static const char style_css[] =
	"body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72em;"
	"padding:0 1em;color:#1b1f24;background:#fff}\n"
	"header{display:flex;flex-wrap:wrap;gap:1em;align-items:baseline;"
	"border-bottom:1px solid #d0d7de;margin-bottom:1em}\n"
	"header a{color:inherit;text-decoration:none;font-weight:600}\n"
	"header h1{font-size:1.3em;margin:.4em 0;overflow-wrap:anywhere}\n"
	"h2{font-size:1.1em;margin:1.2em 0 .4em}\n"
	"h3{font-size:1em;margin:.8em 0 .3em;overflow-wrap:anywhere}\n"
	"pre{background:#f6f8fa;padding:.6em;overflow-x:auto;"
	"white-space:pre-wrap;overflow-wrap:anywhere}\n"
	"table{border-collapse:collapse;width:100%}\n"
	"th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid "
	"#eaeef2;vertical-align:top}\n"
	"td.title{overflow-wrap:anywhere}\n"
	".error{color:#b42318}\n.note,.cut{color:#57606a}\n"
	".s-done{color:#1a7f37}.s-failed{color:#b42318}"
	".s-running{color:#9a6700}.s-cancelled{color:#57606a}\n"
	"form.filters,nav.pages,form.action{display:flex;flex-wrap:wrap;"
	"gap:.5em 1em;align-items:center;margin:.6em 0}\n"
	"form.action{display:inline-flex;margin-right:1em}\n"
	"dl.meta{display:grid;grid-template-columns:max-content 1fr;"
	"gap:.2em 1em}\ndl.meta dt{color:#57606a}\ndl.meta dd{margin:0;"
	"overflow-wrap:anywhere}\n"
	".file pre{white-space:pre;padding:.3em 0}\n"
	".file pre span{padding:0 .6em}\n"
	".add{background:#dafbe1}\n.del{background:#ffebe9}\n"
	".hunk{color:#0550ae;background:#ddf4ff}\n"
	".stat{font-weight:normal;color:#57606a}\n"
	"#log{max-height:40em;overflow-y:auto}\n"
	"@media (max-width:40em){#jobs thead{display:none}"
	"#jobs tr,#jobs td{display:block}#jobs tr{border-bottom:1px solid "
	"#d0d7de;padding:.4em 0}#jobs td{border:0;padding:.1em 0}"
	"#jobs td::before{content:attr(data-label) \": \";color:#57606a}}\n";

/* One request for a page or an action, rendered on a reader thread. */
struct page {
	struct reader_req	 rr;		/* first: the reader's */
	struct web		*w;
	struct httpd		*h;
	struct evhttp_request	*req;
	int64_t			 id;		/* the job */
	char			*state, *repo;	/* the list's filters */
	long long		 page;		/* the list's or diff's page */
	const char		*what;		/* the action */
	bool			 wants_json;
	/* the answer */
	int			 code;
	struct evbuffer		*html;		/* or */
	char			*text, *location;
};

void
pages_escape_n(struct evbuffer *b, const char *s, size_t len)
{
	size_t i, from = 0;
	const char *rep;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\0': rep = "\xef\xbf\xbd"; break;
		default: continue;
		}
		evbuffer_add(b, s + from, i - from);
		evbuffer_add(b, rep, strlen(rep));
		from = i + 1;
	}
	evbuffer_add(b, s + from, len - from);
}

void
pages_escape(struct evbuffer *b, const char *s)
{
	if (s != NULL)
		pages_escape_n(b, s, strlen(s));
}

void
pages_head(struct evbuffer *b, const char *title)
{
	evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n<title>");
	pages_escape(b, title);
	evbuffer_add_printf(b, " · handoff</title>\n<link rel=\"stylesheet\" "
	    "href=\"/static/style.css\">\n<script src=\"/static/live.js\" "
	    "defer></script>\n</head>\n<body>\n<header><a "
	    "href=\"/\">handoff</a><h1>");
	pages_escape(b, title);
	evbuffer_add_printf(b, "</h1></header>\n<main>\n");
}

void
pages_foot(struct evbuffer *b)
{
	evbuffer_add_printf(b, "</main>\n</body>\n</html>\n");
}

void
pages_static(struct web *w, struct httpd *h, struct evhttp_request *req,
    const char *name)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *type, *body;

	(void)w;
	if (strcmp(name, "style.css") == 0) {
		type = "text/css; charset=utf-8";
		body = style_css;
	} else if (strcmp(name, "live.js") == 0) {
		type = "text/javascript; charset=utf-8";
		body = logtail_script;
	} else {
		web_reply_text(h, req, 404, "not found\n");
		return;
	}
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Cache-Control", "max-age=300");
	httpd_reply(h, req, 200, type, body);
}

/*
 * Small pieces of HTML.
 */

/* A length of time: "12s", "3m 05s", "2h 07m", "4d 3h". */
void
pages_duration(struct evbuffer *b, int64_t ms)
{
	long long s = ms > 0 ? (long long)(ms / 1000) : 0;

	if (s < 60)
		evbuffer_add_printf(b, "%llds", s);
	else if (s < 3600)
		evbuffer_add_printf(b, "%lldm %02llds", s / 60, s % 60);
	else if (s < 86400)
		evbuffer_add_printf(b, "%lldh %02lldm", s / 3600, s % 3600 / 60);
	else
		evbuffer_add_printf(b, "%lldd %lldh", s / 86400, s % 86400 / 3600);
}

/* A moment, as a <time> (UTC), or a dash for "not yet". */
void
pages_time(struct evbuffer *b, int64_t ms)
{
	char buf[32];

	if (ms <= 0) {
		evbuffer_add_printf(b, "\xe2\x80\x94");
		return;
	}
	util_time_rfc3339(ms, buf, sizeof(buf));
	evbuffer_add_printf(b, "<time datetime=\"%s\">%s</time>", buf, buf);
}

/* How long a job ran: started to finished, or to now while it runs. */
void
pages_run_time(struct evbuffer *b, const struct store_job_row *r, int64_t now)
{
	if (r->started_at <= 0)
		evbuffer_add_printf(b, "\xe2\x80\x94");
	else
		pages_duration(b, (r->finished_at > 0 ? r->finished_at : now) -
		    r->started_at);
}

/* What the agent's model requests cost: "$0.71", "unpriced", or a dash. */
void
pages_cost(struct evbuffer *b, const struct store_usage *u)
{
	if (u->requests <= 0)
		evbuffer_add_printf(b, "\xe2\x80\x94");
	else if (u->cost_micros < 0)
		evbuffer_add_printf(b, "unpriced");
	else
		evbuffer_add_printf(b, "$%lld.%02lld",
		    (long long)((u->cost_micros + 5000) / 1000000),
		    (long long)((u->cost_micros + 5000) % 1000000 / 10000));
}

/* The pull request: a link only for an http(s) URL, else its text. */
void
pages_pr(struct evbuffer *b, const char *url)
{
	if (url == NULL || *url == '\0')
		evbuffer_add_printf(b, "\xe2\x80\x94");
	else if (strncasecmp(url, "https://", 8) == 0 ||
	    strncasecmp(url, "http://", 7) == 0) {
		evbuffer_add_printf(b, "<a rel=\"noreferrer\" href=\"");
		pages_escape(b, url);
		evbuffer_add_printf(b, "\">");
		pages_escape(b, url);
		evbuffer_add_printf(b, "</a>");
	} else
		pages_escape(b, url);
}

/* A state, and the step while it runs. */
void
pages_state(struct evbuffer *b, const struct store_job_row *r)
{
	evbuffer_add_printf(b, "<span class=\"s-%s\">%s</span>",
	    job_state_name(r->state), job_state_name(r->state));
	if (r->state == JOB_RUNNING && r->step != NULL && *r->step != '\0') {
		evbuffer_add_printf(b, " \xc2\xb7 ");
		pages_escape(b, r->step);
	}
}

/* Text of at most TEXT_SHOWN bytes in a <pre>, saying when it is cut. */
void
pages_pre(struct evbuffer *b, const char *cls, const char *text)
{
	size_t len = strlen(text);

	evbuffer_add_printf(b, "<pre%s%s%s>", cls ? " class=\"" : "",
	    cls ? cls : "", cls ? "\"" : "");
	pages_escape_n(b, text, len > TEXT_SHOWN ? TEXT_SHOWN : len);
	evbuffer_add_printf(b, "</pre>\n");
	if (len > TEXT_SHOWN)
		evbuffer_add_printf(b, "<p class=\"cut\">Cut: %zu bytes, the "
		    "first %d KiB shown.</p>\n", len, TEXT_SHOWN / 1024);
}

/*
 * GET /: the jobs, newest first.
 */

/* A link to page of the list with p's filters. */
static void
add_list_href(struct evbuffer *b, const struct page *p, long long page)
{
	struct evbuffer *u = evbuffer_new();
	char *esc;
	size_t len;

	evbuffer_add_printf(u, "/?page=%lld", page);
	if (p->state != NULL && *p->state != '\0') {
		esc = url_escape(p->state);
		evbuffer_add_printf(u, "&state=%s", esc);
		free(esc);
	}
	if (p->repo != NULL && *p->repo != '\0') {
		esc = url_escape(p->repo);
		evbuffer_add_printf(u, "&repo=%s", esc);
		free(esc);
	}
	len = evbuffer_get_length(u);
	pages_escape_n(b, (const char *)evbuffer_pullup(u, -1), len);
	evbuffer_free(u);
}

static void
list_filters(struct evbuffer *b, const struct page *p)
{
	static const char *const states[] = { "queued", "running", "done",
	    "failed", "cancelled" };
	size_t i;

	evbuffer_add_printf(b, "<form method=\"get\" action=\"/\" class="
	    "\"filters\">\n<label>State <select name=\"state\">"
	    "<option value=\"\">any</option>");
	for (i = 0; i < nitems(states); i++)
		evbuffer_add_printf(b, "<option%s>%s</option>",
		    p->state && strcmp(p->state, states[i]) == 0 ?
		    " selected" : "", states[i]);
	evbuffer_add_printf(b, "</select></label>\n<label>Repository <input "
	    "name=\"repo\" placeholder=\"owner/name\" value=\"");
	pages_escape(b, p->repo);
	evbuffer_add_printf(b, "\"></label>\n<button type=\"submit\">Show"
	    "</button>\n</form>\n");
}

static void
list_row(struct evbuffer *b, const struct store_job_line *l, int64_t now)
{
	const struct store_job_row *r = &l->row;
	long long id = (long long)r->id;

	evbuffer_add_printf(b, "<tr class=\"job\" data-job=\"%lld\">"
	    "<td data-label=\"job\"><a href=\"/jobs/%lld\">%lld</a></td>"
	    "<td data-label=\"repository\">", id, id, id);
	pages_escape(b, r->repo);
	evbuffer_add_printf(b, "</td><td data-label=\"issue\">#%lld</td>"
	    "<td class=\"title\" data-label=\"title\"><a href=\"/jobs/%lld\">",
	    (long long)r->number, id);
	pages_escape(b, l->title && *l->title ? l->title : "(no title)");
	evbuffer_add_printf(b, "</a></td><td data-label=\"kind\">%s</td>"
	    "<td data-label=\"state\">", job_kind_name(r->kind));
	pages_state(b, r);
	evbuffer_add_printf(b, "</td><td data-label=\"requested by\">");
	pages_escape(b, r->requested_by);
	evbuffer_add_printf(b, "</td><td data-label=\"age\">");
	pages_duration(b, now - r->created_at);
	evbuffer_add_printf(b, "</td><td data-label=\"duration\">");
	pages_run_time(b, r, now);
	evbuffer_add_printf(b, "</td><td data-label=\"cost\">");
	pages_cost(b, &l->usage);
	evbuffer_add_printf(b, "</td><td data-label=\"pull request\">");
	pages_pr(b, r->pr_url);
	evbuffer_add_printf(b, "</td></tr>\n");
}

static void
list_table(struct evbuffer *b, const struct store_job_line *lines, size_t n)
{
	int64_t now = util_now_ms();
	size_t i;

	evbuffer_add_printf(b, "<table id=\"jobs\">\n<thead><tr><th>job</th>"
	    "<th>repository</th><th>issue</th><th>title</th><th>kind</th>"
	    "<th>state</th><th>requested by</th><th>age</th><th>duration</th>"
	    "<th>cost</th><th>pull request</th></tr></thead>\n<tbody>\n");
	for (i = 0; i < n; i++)
		list_row(b, &lines[i], now);
	evbuffer_add_printf(b, "</tbody>\n</table>\n");
	if (n == 0)
		evbuffer_add_printf(b, "<p class=\"note\">No jobs here.</p>\n");
}

static void
index_work(struct reader_req *rr, struct reader_ctx *ctx)
{
	struct page *p = (struct page *)rr;
	struct store_jobs_filter f;
	struct store_job_line *lines = NULL;
	struct evbuffer *b = p->html;
	enum job_state want;
	size_t n = 0;
	bool has_more;

	memset(&f, 0, sizeof(f));
	f.repo = p->repo && *p->repo ? p->repo : NULL;
	f.offset = (p->page - 1) * JOBS_PER_PAGE;
	f.limit = JOBS_PER_PAGE + 1;	/* one more: is there a next page? */
	pages_head(b, "jobs");
	list_filters(b, p);
	if (p->state && *p->state && job_state_parse(p->state, &want) == -1) {
		evbuffer_add_printf(b, "<p class=\"error\">No job is in the "
		    "state &quot;");
		pages_escape(b, p->state);
		evbuffer_add_printf(b, "&quot;.</p>\n");
		goto out;
	}
	f.state = p->state && *p->state ? &want : NULL;
	if (store_jobs_page(ctx->st, &f, &lines, &n) == -1) {
		p->code = 500;
		evbuffer_add_printf(b, "<p class=\"error\">The store could not "
		    "list the jobs: ");
		pages_escape(b, store_error(ctx->st));
		evbuffer_add_printf(b, "</p>\n");
		goto out;
	}
	has_more = n > JOBS_PER_PAGE;
	list_table(b, lines, has_more ? JOBS_PER_PAGE : n);
	evbuffer_add_printf(b, "<nav class=\"pages\">");
	if (p->page > 1) {
		evbuffer_add_printf(b, "<a rel=\"prev\" href=\"");
		add_list_href(b, p, p->page - 1);
		evbuffer_add_printf(b, "\">newer</a>");
	}
	evbuffer_add_printf(b, "<span>page %lld</span>", p->page);
	if (has_more) {
		evbuffer_add_printf(b, "<a rel=\"next\" href=\"");
		add_list_href(b, p, p->page + 1);
		evbuffer_add_printf(b, "\">older</a>");
	}
	evbuffer_add_printf(b, "</nav>\n");
out:
	store_job_lines_free(lines, n);
	pages_foot(b);
}

static void
job_work(struct reader_req *rr, struct reader_ctx *ctx)
{
	struct page *p = (struct page *)rr;

	p->code = jobpage_render(p->html, ctx, p->w, p->id, p->page);
}

/*
 * POST /jobs/N/cancel and /jobs/N/retry.
 */

/* The action's answer: see the job (303), or JSON for a script. */
static void
action_answer(struct page *p, int64_t job, const char *state)
{
	p->code = p->wants_json ? 200 : 303;
	p->text = p->wants_json ? xasprintf("{\"job\":%lld,\"state\":\"%s\"}\n",
	    (long long)job, state) : xstrdup("see the job\n");
	if (!p->wants_json)
		p->location = xasprintf("/jobs/%lld", (long long)job);
}

/* The state of job in the store, as its name; "" when unknown. */
static const char *
state_of(struct store *st, int64_t job)
{
	struct job j;
	const char *name = "";

	if (store_job_load(st, job, &j) == 1) {
		name = job_state_name(j.state);
		store_job_clear(&j);
	}
	return name;
}

static void
action_work(struct reader_req *rr, struct reader_ctx *ctx)
{
	struct page *p = (struct page *)rr;
	long long id = (long long)p->id;
	int64_t rc;
	bool is_queued;

	if (strcmp(p->what, "cancel") == 0)
		rc = store_job_cancel(ctx->st, p->id);
	else
		rc = store_job_retry(ctx->st, p->id, &is_queued);
	if (rc == -2) {
		p->code = 404;
		p->text = xasprintf("no job %lld\n", id);
	} else if (rc == -1) {
		p->code = 500;
		p->text = xasprintf("store: %s\n", store_error(ctx->st));
	} else if (rc == 0 && strcmp(p->what, "cancel") == 0) {
		p->code = 409;
		p->text = xasprintf("job %lld has already ended (%s); nothing "
		    "to cancel\n", id, state_of(ctx->st, p->id));
	} else if (rc == 0) {
		p->code = 409;
		p->text = xasprintf("job %lld has not failed or been "
		    "cancelled (%s); nothing to retry\n", id,
		    state_of(ctx->st, p->id));
	} else if (strcmp(p->what, "cancel") == 0)
		/* 1: cancelled before it started; 2: its runner stops it. */
		action_answer(p, p->id, rc == 1 ? "cancelled" : "running");
	else
		action_answer(p, rc, is_queued ? state_of(ctx->st, rc) :
		    "queued");
}

/*
 * On the loop: hand the request to a reader thread, and answer it when
 * the page is made.
 */

static void
page_free(struct page *p)
{
	if (p->html != NULL)
		evbuffer_free(p->html);
	free(p->state);
	free(p->repo);
	free(p->text);
	free(p->location);
	free(p);
}

static void
page_done_cb(struct reader_req *rr)
{
	struct page *p = (struct page *)rr;

	if (reader_is_stopping(p->w->reader)) {
		page_free(p);
		return;
	}
	if (p->location != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(p->req),
		    "Location", p->location);
	if (p->text != NULL && p->wants_json && p->code < 300)
		web_reply_json(p->h, p->req, p->code, p->text);
	else if (p->text != NULL)
		web_reply_text(p->h, p->req, p->code, p->text);
	else {
		web_reply_html(p->h, p->req, p->code, p->html);
		p->html = NULL;
	}
	page_free(p);
}

static struct page *
page_new(struct web *w, struct httpd *h, struct evhttp_request *req,
    reader_work_fn work)
{
	struct page *p = xcalloc(1, sizeof(*p));

	p->rr.work = work;
	p->rr.done_cb = page_done_cb;
	p->w = w;
	p->h = h;
	p->req = req;
	p->code = 200;
	p->html = evbuffer_new();
	p->page = 1;
	return p;
}

/* The page number in query parameter name: 1 to PAGE_MAX, else 1. */
static long long
page_number(struct evhttp_request *req, const char *name)
{
	char *s = web_query(req, name);
	long long n = 1;

	if (s == NULL || util_parse_int(s, 1, PAGE_MAX, &n) == -1)
		n = 1;
	free(s);
	return n;
}

void
pages_index(struct web *w, struct httpd *h, struct evhttp_request *req)
{
	struct page *p = page_new(w, h, req, index_work);

	p->state = web_query(req, "state");
	p->repo = web_query(req, "repo");
	p->page = page_number(req, "page");
	reader_submit(w->reader, &p->rr);
}

void
pages_job(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id)
{
	struct page *p = page_new(w, h, req, job_work);

	p->id = id;
	p->page = page_number(req, "diff");
	reader_submit(w->reader, &p->rr);
}

void
pages_action(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id, const char *what)
{
	struct page *p = page_new(w, h, req, action_work);
	const char *accept = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept");

	p->id = id;
	p->what = strcmp(what, "cancel") == 0 ? "cancel" : "retry";
	p->wants_json = accept != NULL &&
	    strstr(accept, "application/json") != NULL;
	reader_submit(w->reader, &p->rr);
}
