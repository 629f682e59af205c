/*
 * A job's status page: what it is and where it is, its steps, the
 * instruction its agent was given, its result and change, what it used
 * and was refused, and its log (followed live while it runs). Rendered on
 * a reader thread; every text from the forge, the agent or a log escaped.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "diffview.h"
#include "jobpage.h"
#include "pages.h"
#include "store.h"
#include "usage.h"
#include "util.h"
#include "web.h"

#define TASK_SHOWN	(256 * 1024)	/* task.md */
#define LOG_SHOWN	(64 * 1024)	/* an ended job's log */
#define THREAD_JOBS	50		/* the thread's other jobs listed */
#define REFUSED_SHOWN	500		/* refused connections listed */

/* Up to max bytes of the regular file at path: its start, or (is_tail)
 * its end from the first line that starts there. NULL when it is not
 * there; *total is the file's size. Caller frees. */
static char *
file_part(const char *path, size_t max, bool is_tail, size_t *len,
    off_t *total)
{
	struct stat sb;
	off_t from = 0;
	ssize_t got;
	char *buf = NULL, *nl;
	int fd;

	*len = 0;
	*total = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode))
		goto out;
	*total = sb.st_size;
	if (is_tail && sb.st_size > (off_t)max)
		from = sb.st_size - (off_t)max;
	buf = xmalloc(max + 1);
	if ((got = pread(fd, buf, max, from)) < 0) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)got;
	buf[*len] = '\0';
	if (from > 0 && (nl = memchr(buf, '\n', *len)) != NULL) {
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
out:
	close(fd);
	return buf;
}

static void
job_meta(struct evbuffer *b, const struct store_job_detail *d)
{
	const struct store_job_row *r = &d->row;

	evbuffer_add_printf(b, "<dl class=\"meta\">\n<dt>job</dt><dd>%lld, "
	    "%s</dd>\n<dt>issue</dt><dd>", (long long)r->id,
	    job_kind_name(r->kind));
	pages_escape(b, r->repo);
	evbuffer_add_printf(b, "#%lld on %s</dd>\n<dt>state</dt><dd "
	    "id=\"state\">", (long long)r->number, forge_name(r->forge));
	pages_state(b, r);
	evbuffer_add_printf(b, "</dd>\n<dt>requested by</dt><dd>");
	pages_escape(b, r->requested_by);
	evbuffer_add_printf(b, "</dd>\n<dt>branch</dt><dd>");
	pages_escape(b, r->branch);
	evbuffer_add_printf(b, "</dd>\n<dt>created</dt><dd>");
	pages_time(b, r->created_at);
	evbuffer_add_printf(b, "</dd>\n<dt>ran</dt><dd>");
	pages_run_time(b, r, util_now_ms());
	evbuffer_add_printf(b, " (attempts: %d)</dd>\n<dt>pull request</dt>"
	    "<dd id=\"pr\">", d->attempts);
	pages_pr(b, r->pr_url);
	evbuffer_add_printf(b, "</dd>\n</dl>\n");
}

/* Cancel and retry, when a token guards them and they apply. */
static void
job_actions(struct evbuffer *b, const struct web *w,
    const struct store_job_detail *d)
{
	enum job_state s = d->row.state;
	const char *what;

	if (!w->has_token)
		return;
	if (s == JOB_QUEUED || s == JOB_RUNNING)
		what = "cancel";
	else if (s == JOB_FAILED || s == JOB_CANCELLED)
		what = "retry";
	else
		return;
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/jobs/%lld/%s\""
	    " class=\"action\"><input type=\"hidden\" name=\"csrf\" value="
	    "\"%s\"><button type=\"submit\" id=\"%s\">%s</button></form>\n",
	    (long long)d->row.id, what, w->csrf, what,
	    s == JOB_QUEUED || s == JOB_RUNNING ? "Cancel" : "Retry");
}

static void
job_thread(struct evbuffer *b, struct store *st,
    const struct store_job_detail *d)
{
	struct store_job_row *rows;
	size_t i, n;

	if (store_thread_jobs(st, d->thread_id, THREAD_JOBS + 1, &rows,
	    &n) == -1)
		return;
	if (n <= 1) {
		store_job_rows_free(rows, n);
		return;
	}
	evbuffer_add_printf(b, "<nav id=\"thread\">\n<h2>The thread's other "
	    "jobs</h2>\n<ul>\n");
	for (i = 0; i < n && i < THREAD_JOBS; i++) {
		if (rows[i].id == d->row.id)
			continue;
		evbuffer_add_printf(b, "<li><a href=\"/jobs/%lld\">job %lld"
		    "</a> %s, ", (long long)rows[i].id, (long long)rows[i].id,
		    job_kind_name(rows[i].kind));
		pages_state(b, &rows[i]);
		evbuffer_add_printf(b, "</li>\n");
	}
	evbuffer_add_printf(b, "</ul>\n</nav>\n");
	store_job_rows_free(rows, n);
}

static void
job_steps(struct evbuffer *b, const struct store_job_detail *d)
{
	const struct store_step_row *s;
	size_t i;

	evbuffer_add_printf(b, "<section id=\"steps\">\n<h2>Steps</h2>\n");
	if (d->nsteps == 0) {
		evbuffer_add_printf(b, "<p class=\"note\">None has run yet."
		    "</p>\n</section>\n");
		return;
	}
	evbuffer_add_printf(b, "<table>\n<thead><tr><th>step</th><th>start"
	    "</th><th>end</th><th>duration</th><th>detail</th></tr></thead>\n"
	    "<tbody>\n");
	for (i = 0; i < d->nsteps; i++) {
		s = &d->steps[i];
		evbuffer_add_printf(b, "<tr><td>");
		pages_escape(b, s->step);
		evbuffer_add_printf(b, "</td><td>");
		pages_time(b, s->started_at);
		evbuffer_add_printf(b, "</td><td>");
		pages_time(b, s->finished_at);
		evbuffer_add_printf(b, "</td><td>");
		if (s->finished_at > 0)
			pages_duration(b, s->finished_at - s->started_at);
		evbuffer_add_printf(b, "</td><td>");
		pages_escape(b, s->detail);
		evbuffer_add_printf(b, "</td></tr>\n");
	}
	evbuffer_add_printf(b, "</tbody>\n</table>\n</section>\n");
}

/* task.md as the runner kept it beside the job's log. */
static void
job_task(struct evbuffer *b, const char *data_dir,
    const struct store_job_detail *d)
{
	char *path = xasprintf("%s/jobs/%lld/task.md", data_dir,
	    (long long)d->row.id), *text;
	size_t len;
	off_t total;

	evbuffer_add_printf(b, "<section id=\"task\">\n<h2>Instruction "
	    "(task.md)</h2>\n");
	if ((text = file_part(path, TASK_SHOWN, false, &len,
	    &total)) == NULL) {
		evbuffer_add_printf(b, "<p class=\"note\">%s</p>\n",
		    errno != ENOENT ? "It cannot be read." :
		    job_state_is_over(d->row.state) ? "None was kept: the job"
		    " ended before its task step wrote one." :
		    "Not written yet: the task step has not run.");
		goto out;
	}
	evbuffer_add_printf(b, "<pre>");
	pages_escape_n(b, text, len);
	evbuffer_add_printf(b, "</pre>\n");
	if (total > (off_t)len)
		evbuffer_add_printf(b, "<p class=\"cut\">Cut: task.md is %lld "
		    "bytes; the first %d KiB are shown.</p>\n",
		    (long long)total, TASK_SHOWN / 1024);
out:
	evbuffer_add_printf(b, "</section>\n");
	free(text);
	free(path);
}

static void
job_result(struct evbuffer *b, const struct store_job_detail *d)
{
	evbuffer_add_printf(b, "<section id=\"result\">\n<h2>Result</h2>\n");
	if (!job_state_is_over(d->row.state))
		evbuffer_add_printf(b, "<p class=\"note\">Not ended yet.</p>\n");
	if (d->result != NULL && *d->result != '\0')
		pages_pre(b, NULL, d->result);
	if (d->error != NULL && *d->error != '\0')
		pages_pre(b, "error", d->error);
	if (d->summary != NULL && *d->summary != '\0') {
		evbuffer_add_printf(b, "<h3>The agent's summary</h3>\n");
		pages_pre(b, NULL, d->summary);
	}
	evbuffer_add_printf(b, "</section>\n");
}

static void
job_diff(struct evbuffer *b, const struct reader_ctx *ctx,
    const struct store_job_detail *d, long long page)
{
	struct diffview_req dr;
	char err[512], *href;

	evbuffer_add_printf(b, "<section id=\"diff\">\n<h2>Change</h2>\n");
	if (d->head_commit == NULL || d->base_commit == NULL ||
	    d->clone_url == NULL) {
		evbuffer_add_printf(b, "<p class=\"note\">No change recorded."
		    "</p>\n</section>\n");
		return;
	}
	evbuffer_add_printf(b, "<p>Commit <code>%.40s</code> on <code>%.12s"
	    "</code></p>\n", d->head_commit, d->base_commit);
	if (d->diffstat != NULL && *d->diffstat != '\0')
		pages_pre(b, "diffstat", d->diffstat);
	href = xasprintf("/jobs/%lld", (long long)d->row.id);
	memset(&dr, 0, sizeof(dr));
	dr.data_dir = ctx->cfg->data_dir;
	dr.clone_url = d->clone_url;
	dr.base = d->base_commit;
	dr.head = d->head_commit;
	dr.href = href;
	dr.page = page;
	if (diffview_render(b, &dr, err, sizeof(err)) == -1) {
		evbuffer_add_printf(b, "<p class=\"error\">The diff cannot be "
		    "shown: ");
		pages_escape(b, err);
		evbuffer_add_printf(b, "</p>\n");
	}
	free(href);
	evbuffer_add_printf(b, "</section>\n");
}

static void
job_usage(struct evbuffer *b, const struct store_job_detail *d)
{
	const struct store_usage *u;
	struct store_usage sum;
	char line[160];
	size_t i;

	evbuffer_add_printf(b, "<section id=\"usage\">\n<h2>Usage</h2>\n");
	store_usage_sum(d->usage, d->nusage, &sum);
	if (sum.requests <= 0) {
		evbuffer_add_printf(b, "<p class=\"note\">The agent asked no "
		    "model through handoff's gateway.</p>\n</section>\n");
		return;
	}
	usage_line(sum.requests, sum.input_tokens + sum.cache_read_tokens +
	    sum.cache_write_tokens, sum.output_tokens, sum.cost_micros, line,
	    sizeof(line));
	evbuffer_add_printf(b, "<p>%s</p>\n<table>\n<thead><tr><th>model</th>"
	    "<th>requests</th><th>tokens in</th><th>out</th><th>cache read"
	    "</th><th>cache write</th><th>cost</th></tr></thead>\n<tbody>\n",
	    line);
	for (i = 0; i < d->nusage; i++) {
		u = &d->usage[i];
		evbuffer_add_printf(b, "<tr><td>");
		pages_escape(b, u->model);
		evbuffer_add_printf(b, "</td><td>%lld</td><td>%lld</td><td>%lld"
		    "</td><td>%lld</td><td>%lld</td><td>",
		    (long long)u->requests, (long long)u->input_tokens,
		    (long long)u->output_tokens, (long long)u->cache_read_tokens,
		    (long long)u->cache_write_tokens);
		pages_cost(b, u);
		evbuffer_add_printf(b, "</td></tr>\n");
	}
	evbuffer_add_printf(b, "</tbody>\n</table>\n</section>\n");
}

static void
job_egress(struct evbuffer *b, const struct store_job_detail *d)
{
	const struct store_egress *e;
	size_t i, refused = 0, shown = 0;

	for (i = 0; i < d->negress; i++)
		refused += !d->egress[i].allowed;
	evbuffer_add_printf(b, "<section id=\"egress\">\n<h2>Hosts refused"
	    "</h2>\n<p>%zu connection%s attempted, %zu refused.</p>\n",
	    d->negress, d->negress == 1 ? "" : "s", refused);
	if (refused > 0)
		evbuffer_add_printf(b, "<ul>\n");
	for (i = 0; i < d->negress && shown < REFUSED_SHOWN; i++) {
		e = &d->egress[i];
		if (e->allowed)
			continue;
		shown++;
		evbuffer_add_printf(b, "<li><span class=\"host\">");
		pages_escape(b, e->host);
		evbuffer_add_printf(b, ":%d</span>", e->port);
		if (e->reason != NULL) {
			evbuffer_add_printf(b, ": ");
			pages_escape(b, e->reason);
		}
		evbuffer_add_printf(b, "</li>\n");
	}
	if (refused > 0)
		evbuffer_add_printf(b, "</ul>\n");
	if (refused > shown)
		evbuffer_add_printf(b, "<p class=\"cut\">And %zu more.</p>\n",
		    refused - shown);
	evbuffer_add_printf(b, "</section>\n");
}

/* The log: followed live by live.js while the job may still write it,
 * else its last LOG_SHOWN bytes. */
static void
job_log(struct evbuffer *b, const char *data_dir,
    const struct store_job_detail *d)
{
	long long id = (long long)d->row.id;
	char *path, *text = NULL;
	size_t len;
	off_t total;

	evbuffer_add_printf(b, "<section id=\"log-section\">\n<h2>Log</h2>\n");
	if (!job_state_is_over(d->row.state)) {
		evbuffer_add_printf(b, "<p id=\"log-state\">%s</p>\n<pre "
		    "id=\"log\" data-src=\"/jobs/%lld/log\" data-live=\"1\">"
		    "</pre>\n", job_state_name(d->row.state), id);
		goto out;
	}
	path = xasprintf("%s/jobs/%lld/log", data_dir, id);
	text = file_part(path, LOG_SHOWN, true, &len, &total);
	free(path);
	evbuffer_add_printf(b, "<p id=\"log-state\">ended: %s</p>\n<pre "
	    "id=\"log\" data-src=\"/jobs/%lld/log\">",
	    job_state_name(d->row.state), id);
	if (text != NULL)
		pages_escape_n(b, text, len);
	evbuffer_add_printf(b, "</pre>\n");
	if (text != NULL && total > (off_t)len)
		evbuffer_add_printf(b, "<p class=\"cut\">The last %zu of %lld "
		    "bytes.</p>\n", len, (long long)total);
out:
	evbuffer_add_printf(b, "<p><a href=\"/jobs/%lld/log\">The whole log as"
	    " text</a></p>\n</section>\n", id);
	free(text);
}

int
jobpage_render(struct evbuffer *b, const struct reader_ctx *ctx,
    const struct web *w, int64_t id, long long diff_page)
{
	struct store_job_detail d;
	char *title;
	int rc;

	if ((rc = store_job_show(ctx->st, id, &d)) != 1) {
		pages_head(b, rc == 0 ? "no such job" : "store error");
		evbuffer_add_printf(b, "<p class=\"error\">");
		if (rc == 0)
			evbuffer_add_printf(b, "There is no job %lld.",
			    (long long)id);
		else
			pages_escape(b, store_error(ctx->st));
		evbuffer_add_printf(b, "</p>\n");
		pages_foot(b);
		return rc == 0 ? 404 : 500;
	}
	title = d.title && *d.title ? xstrdup(d.title) :
	    xasprintf("job %lld", (long long)id);
	pages_head(b, title);
	job_meta(b, &d);
	job_actions(b, w, &d);
	job_thread(b, ctx->st, &d);
	job_steps(b, &d);
	job_task(b, ctx->cfg->data_dir, &d);
	job_result(b, &d);
	job_diff(b, ctx, &d, diff_page);
	job_usage(b, &d);
	job_egress(b, &d);
	job_log(b, ctx->cfg->data_dir, &d);
	pages_foot(b);
	free(title);
	store_job_detail_clear(&d);
	return 200;
}
