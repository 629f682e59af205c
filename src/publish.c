/*
 * What the people on an issue see of a job, through forge.h: a 👀 on
 * their request, one status comment per thread edited as the job moves,
 * the branch pushed, and one pull request. Nothing here says which forge.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "log.h"
#include "publish.h"
#include "text.h"
#include "util.h"

/* Hidden in the status comment: how a rerun finds it. A revision's
 * reply carries REPLY_MARKER and the job's id. */
#define MARKER		FORGE_MARKER_PREFIX "status -->"
#define REPLY_MARKER	FORGE_MARKER_PREFIX "reply job "
#define MAX_DETAIL	1500		/* of a status comment's detail */
#define MAX_OUTPUT	2048		/* of the agent's output, its end */
#define MAX_TITLE	255		/* bytes: within both forges' limits */
#define MAX_BODY	(60 * 1024)	/* of a summary: the forges take 64K */

struct publish {
	const struct config	*cfg;
	struct store		*st;
	const struct job	*job;
	struct forge_conn		*forge;
	char			*comment_id;
	struct forge_pr		 pr;
	int			 position;	/* in line, for "queued" */
	char			*meter;		/* what the agent used, or NULL */
};

/* What a request was made on, as the forge operations take it: failed
 * CI is the issue's. */
static enum forge_on
forge_on(enum forge_on on)
{
	return on == FORGE_ON_CI ? FORGE_ON_ISSUE : on;
}

static enum forge_on
trigger_on(const struct job *job)
{
	return forge_on(job->trigger_on);
}

/* Whether job revises the thread's branch rather than starting it. */
static bool
is_revision(const struct job *job)
{
	return job->origin == JOB_REVISE || job->origin == JOB_FIX_CI;
}

struct publish *
publish_open(const struct config *cfg, struct store *st,
    const struct job *job, char *err, size_t errlen)
{
	struct publish *p;

	err[0] = '\0';
	if (job->forge == FORGE_LOCAL ||
	    !forge_configured(cfg, forge_name(job->forge)))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->st = st;
	p->job = job;
	p->comment_id = job->status_comment_id ?
	    xstrdup(job->status_comment_id) : NULL;
	p->pr.number = job->pr_number;
	p->pr.url = job->pr_url ? xstrdup(job->pr_url) : NULL;
	if ((p->forge = forge_open(cfg, forge_name(job->forge), job->repo,
	    job->installation_id, err, errlen)) == NULL) {
		publish_close(p);
		return NULL;
	}
	return p;
}

void
publish_close(struct publish *p)
{
	if (p == NULL)
		return;
	forge_close(p->forge);
	free(p->meter);
	free(p->comment_id);
	forge_pr_clear(&p->pr);
	free(p);
}

int
publish_count(struct publish *p)
{
	const struct forge_tally *t;
	struct store_forge_count *c;
	struct store_forge_waits w = { .retries = 0 };
	size_t i;
	int rc;

	if (p == NULL || (t = forge_tally(p->forge))->ncounts == 0)
		return 0;
	c = xcalloc(t->ncounts, sizeof(*c));
	for (i = 0; i < t->ncounts; i++) {
		snprintf(c[i].forge, sizeof(c[i].forge), "%s",
		    p->forge->ops->name);
		snprintf(c[i].route, sizeof(c[i].route), "%s",
		    forge_route_name(t->counts[i].route));
		c[i].status = t->counts[i].status;
		c[i].requests = t->counts[i].requests;
	}
	snprintf(w.forge, sizeof(w.forge), "%s", p->forge->ops->name);
	w.retries = t->retries;
	w.rate_limit_waits = t->rate_limit_waits;
	w.rate_limit_wait_ms = t->rate_limit_wait_ms;
	/* Kept for the next call when the store cannot take them now. */
	if ((rc = store_forge_add(p->st, c, t->ncounts, &w)) == -1)
		log_warn("job %lld: count the forge's requests: %s",
		    (long long)p->job->id, store_error(p->st));
	else
		forge_tally_reset(p->forge);
	free(c);
	return rc;
}

/* The forge's token for git (authenticating first when there is none). */
static const char *
git_token(void *arg, char *err, size_t errlen)
{
	struct publish *p = arg;

	if (p->forge->token == NULL &&
	    p->forge->ops->authenticate(p->forge, err, errlen) == -1)
		return NULL;
	return p->forge->token;
}

void
publish_git_credentials(struct publish *p, struct mirror_credentials *out)
{
	out->user = p->forge->ops->git_user;
	out->token = git_token;
	out->arg = p;
}

/* A copy without trailing blank lines and spaces; caller frees. */
static char *
trimmed(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' ||
	    s[n - 1] == '\r' || s[n - 1] == '\t'))
		n--;
	return xstrndup(s ? s : "", n);
}

/* Text from the agent or the forge as handoff writes it on the forge:
 * trimmed, valid UTF-8 without control characters, at most max bytes,
 * with no marker in it. Caller frees. */
static char *
quoted(const char *text, size_t max)
{
	char *t = trimmed(text), *clean = text_for_forge(t, max), *out;

	out = forge_unmark(clean);
	free(clean);
	free(t);
	return out;
}

/* quoted text in a fence it cannot close, after two newlines; "" when
 * there is no text. Caller frees. */
static char *
fenced(const char *text, size_t max)
{
	char *q = quoted(text, max), *fence, *out;

	if (*q == '\0') {
		free(q);
		return xstrdup("");
	}
	fence = text_md_fence(q);
	out = xasprintf("\n\n%s", fence);
	free(fence);
	free(q);
	return out;
}

/* The end of the agent's output, fenced: its last MAX_OUTPUT bytes, from
 * a line start where there is one. Caller frees. */
static char *
fenced_output(const char *output)
{
	size_t n = output ? strlen(output) : 0;
	const char *start = n > MAX_OUTPUT ? output + n - MAX_OUTPUT : output;
	const char *nl;
	char *f, *out;

	if (n == 0)
		return xstrdup("");
	if (start != output && (nl = strchr(start, '\n')) != NULL &&
	    nl[1] != '\0')
		start = nl + 1;
	f = fenced(start, MAX_OUTPUT);
	out = *f ? xasprintf("\n\nThe agent's output ends:%s", f) :
	    xstrdup("");
	free(f);
	return out;
}

static char *
log_url(const struct publish *p)
{
	return xasprintf("%s/jobs/%lld/log", p->cfg->public_url,
	    (long long)p->job->id);
}

/* The status comment. detail (the diffstat, the summary, why it failed)
 * and output (the agent's, when it failed) are shown as text in fences
 * nothing in them can close; no marker but handoff's, on the last line. */
static char *
status_body(const struct publish *p, enum publish_status what,
    const char *detail, const char *output)
{
	char *url = log_url(p), *text, *fence = fenced(detail, MAX_DETAIL);
	char *out = fenced_output(output);
	long long id = (long long)p->job->id;
	/* The thread's one status comment: while a revision waits, runs,
	 * fails or changes nothing, it keeps pointing at the pull request. */
	char *pr = p->pr.url ? xasprintf(" The pull request: %s", p->pr.url) :
	    xstrdup("");

	switch (what) {
	case PS_QUEUED:
		if (p->position > 0)
			text = xasprintf("⏳ handoff queued this (job %lld);"
			    " %d job%s ahead of it.%s", id, p->position,
			    p->position == 1 ? " is" : "s are", pr);
		else
			text = xasprintf("⏳ handoff queued this (job %lld).%s",
			    id, pr);
		break;
	case PS_RUNNING:
		text = xasprintf("🏃 handoff is working on this (job %lld):"
		    " [live log](%s).%s", id, url, pr);
		break;
	case PS_DONE:
		text = xasprintf("✅ Done (job %lld): %s%s", id,
		    p->pr.url ? p->pr.url : "the branch is pushed", fence);
		break;
	case PS_NO_CHANGES:
		text = xasprintf("➖ The agent changed nothing (job %lld)."
		    " [Log](%s).%s%s", id, url, pr, fence);
		break;
	case PS_CANCELLED:
		text = xasprintf("⏹ Cancelled (job %lld).%s", id, pr);
		break;
	default:
		text = xasprintf("❌ Failed (job %lld): [log](%s).%s%s%s", id,
		    url, pr, fence, out);
		break;
	}
	free(pr);
	free(out);
	free(fence);
	fence = xasprintf("%s%s%s\n\n%s", text, p->meter && what != PS_QUEUED &&
	    what != PS_RUNNING ? "\n\n" : "", p->meter && what != PS_QUEUED &&
	    what != PS_RUNNING ? p->meter : "", MARKER);
	free(text);
	free(url);
	return fence;
}

static char *
status_text(const struct publish *p, enum publish_status what,
    const char *detail)
{
	return status_body(p, what, detail, NULL);
}

/* 👀 on what r asked with, on the issue or on the pull request. */
static void
react(struct publish *p, const struct job_request *r)
{
	const struct job *job = p->job;
	enum forge_on on = forge_on(r->trigger_on);
	char werr[512];

	/* On the pull request: the thread knows its number. */
	if (on != FORGE_ON_ISSUE && job->pr_number == 0)
		log_warn("job %lld: no pull request to react on",
		    (long long)job->id);
	else if (p->forge->ops->react(p->forge, on, on == FORGE_ON_ISSUE ?
	    job->number : job->pr_number, r->trigger_id, werr,
	    sizeof(werr)) == -1)
		log_warn("job %lld: reaction: %s", (long long)job->id, werr);
}

/* Whether r's author may write, asked of the forge (GitHub's
 * author_association cannot tell: a MEMBER may only read; GitLab's
 * deliveries say nothing of it), unless an earlier request of the same
 * author was answered. */
static int
may_write(struct publish *p, const struct job_request *reqs, size_t i,
    bool *yes, char *err, size_t errlen)
{
	const struct job_request *r = &reqs[i];
	size_t j;

	*yes = false;
	if (r->author == NULL)
		return 0;
	for (j = 0; j < i; j++)
		if (reqs[j].verdict != NULL && reqs[j].author != NULL &&
		    reqs[j].author_id == r->author_id &&
		    strcmp(reqs[j].author, r->author) == 0) {
			*yes = strcmp(reqs[j].verdict, "allowed") == 0;
			return 0;
		}
	return p->forge->ops->can_write(p->forge, r->author, r->author_id,
	    yes, err, errlen);
}

/* Check each request of the job not checked yet, record the verdicts, and
 * 👀 on those allowed now. *allowed: whether the job may run, that is,
 * one of its own requests (not a retry's copy) is allowed. Refusals are
 * quiet here. */
static int
permit(struct publish *p, bool *allowed, char *err, size_t errlen)
{
	struct job_request *reqs = NULL;
	size_t n = 0, i;
	bool yes;
	int rc = -1;

	*allowed = false;
	if (store_requests_load(p->st, p->job->id, &reqs, &n) == -1) {
		snprintf(err, errlen, "store: %s", store_error(p->st));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (reqs[i].verdict != NULL)
			continue;
		if (may_write(p, reqs, i, &yes, err, errlen) == -1)
			goto out;
		if (store_request_verdict(p->st, reqs[i].id, yes) == -1) {
			snprintf(err, errlen, "store: %s", store_error(p->st));
			goto out;
		}
		reqs[i].verdict = xstrdup(yes ? "allowed" : "refused");
		log_info("job %lld: %s may %swrite to %s", (long long)p->job->id,
		    reqs[i].author ? reqs[i].author : "nobody", yes ? "" :
		    "not ", p->job->repo);
		if (yes && !reqs[i].is_repeat)
			react(p, &reqs[i]);
	}
	*allowed = store_requests_allowed(reqs, n);
	rc = 0;
out:
	store_requests_free(reqs, n);
	return rc;
}

int
publish_permit(struct publish *p, bool *allowed, char *err, size_t errlen)
{
	return permit(p, allowed, err, errlen);
}

int
publish_acknowledge(struct publish *p, int position, bool *allowed,
    char *err, size_t errlen)
{
	const struct forge_ops *ops = p->forge->ops;
	const struct job *job = p->job;
	char *text;
	int rc;

	p->position = position;
	if ((rc = permit(p, allowed, err, errlen)) == -1 || !*allowed)
		return rc;
	if (p->comment_id == NULL) {
		if (forge_comment_find(p->forge, FORGE_ON_ISSUE, job->number,
		    MARKER, &p->comment_id, err, errlen) == -1)
			return -1;
		if (p->comment_id == NULL) {
			text = status_text(p, PS_QUEUED, NULL);
			rc = ops->comment_create(p->forge, FORGE_ON_ISSUE,
			    job->number, text, &p->comment_id, err, errlen);
			free(text);
			if (rc == -1)
				return -1;
			p->position = -1;	/* just written */
		}
		if (store_thread_set_comment(p->st, job->thread_id,
		    p->comment_id) == -1) {
			snprintf(err, errlen, "store: %s", store_error(p->st));
			return -1;
		}
	}
	/* The thread's comment from an earlier job now tells of this one. */
	if (p->position != -1)
		publish_status(p, PS_QUEUED, NULL);
	return 0;
}

static int reply(struct publish *, const char *, const char *, char *,
    size_t);

/* At a job's end: copies of handoff's comments that an earlier attempt's
 * request left, landing after it was killed, are deleted (forge_sweep). */
static void
sweep(struct publish *p)
{
	struct forge_comment *list;
	char err[512];
	size_t n;
	int i;

	for (i = 0; i < 2; i++) {
		enum forge_on on = i == 0 ? FORGE_ON_ISSUE : FORGE_ON_PR;
		int64_t number = i == 0 ? p->job->number : p->pr.number;

		if (number <= 0)
			continue;
		if (p->forge->ops->comments(p->forge, on, number, &list, &n,
		    err, sizeof(err)) == -1) {
			log_warn("job %lld: sweep: %s", (long long)p->job->id,
			    err);
			continue;
		}
		forge_sweep(p->forge, on, number, list, n, i == 0 ?
		    p->comment_id : NULL);
		forge_comments_free(list, n);
	}
}

static void
set_status(struct publish *p, enum publish_status what, const char *detail,
    const char *output)
{
	char *text, err[512];

	if (p == NULL || p->comment_id == NULL)
		return;
	text = status_body(p, what, detail, output);
	if (p->forge->ops->comment_edit(p->forge, FORGE_ON_ISSUE,
	    p->job->number, p->comment_id, text, err, sizeof(err)) == -1)
		log_warn("job %lld: status comment: %s", (long long)p->job->id,
		    err);
	free(text);
	/* Those who asked for a revision on the pull request hear of it
	 * there too, even when nothing changed. */
	if (what == PS_NO_CHANGES && is_revision(p->job) && p->pr.number > 0 &&
	    reply(p, detail, NULL, err, sizeof(err)) == -1)
		log_warn("job %lld: reply: %s", (long long)p->job->id, err);
	if (what != PS_QUEUED && what != PS_RUNNING)
		sweep(p);
}

void
publish_status(struct publish *p, enum publish_status what,
    const char *detail)
{
	set_status(p, what, detail, NULL);
}

void
publish_failed(struct publish *p, const char *reason, const char *output)
{
	set_status(p, PS_FAILED, reason, output);
}

int
publish_push(struct publish *p, struct mirror *m, char *why, size_t whylen,
    char *err, size_t errlen)
{
	return mirror_push(m, p->job->branch, why, whylen, err, errlen);
}

/* Find the comment on (on, number) that carries marker, else write text
 * there: a reply said once, however often its job runs. */
static int
say_once(struct publish *p, enum forge_on on, int64_t number,
    const char *marker, const char *text, char *err, size_t errlen)
{
	char *id = NULL;
	int rc;

	rc = forge_comment_find(p->forge, on, number, marker, &id, err,
	    errlen);
	if (rc == 0 && id == NULL)
		rc = p->forge->ops->comment_create(p->forge, on, number, text,
		    &id, err, errlen);
	free(id);
	return rc;
}

int
publish_help(struct publish *p, bool *allowed, char *err, size_t errlen)
{
	const struct job *job = p->job;
	const char *w = p->cfg->command;
	bool on_pr = trigger_on(job) != FORGE_ON_ISSUE && job->pr_number > 0;
	char *marker, *text;
	int rc;

	if ((rc = permit(p, allowed, err, errlen)) == -1 || !*allowed)
		return rc;
	marker = xasprintf("%shelp job %lld -->", FORGE_MARKER_PREFIX,
	    (long long)job->id);
	text = xasprintf("handoff reads a comment whose first line starts"
	    " with `%s`, here or on its pull request:\n\n"
	    "| comment | does |\n| --- | --- |\n"
	    "| `%s revise TEXT` (or `%s TEXT`) | a new run on the branch"
	    " with TEXT as the instruction |\n"
	    "| `%s cancel` | stops the running job and drops the queued"
	    " ones |\n"
	    "| `%s retry` | runs the last failed or cancelled job again |\n"
	    "| `%s help` | this list |\n\n"
	    "A review that requests changes on handoff's pull request starts"
	    " a revision too. Only people who may write to the repository"
	    " can ask.\n\n%s", w, w, w, w, w, w, marker);
	rc = say_once(p, on_pr ? FORGE_ON_PR : FORGE_ON_ISSUE, on_pr ?
	    job->pr_number : job->number, marker, text, err, errlen);
	free(text);
	free(marker);
	return rc;
}

/* A login or user name as written in a comment: the forges allow only
 * these characters, and nothing else is echoed. */
static char *
safe_name(const char *name)
{
	char *s = xstrdup(name ? name : "someone");
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("-_.[]", s[i]) ==
		    NULL)
			s[i] = '?';
	return s;
}

int
publish_left_out(struct publish *p, const struct job_request *reqs,
    size_t n, char *err, size_t errlen)
{
	const struct job *job = p->job;
	char *marker, *list, *next, *name, *text;
	size_t i;
	int place, rc = 0;
	bool on_pr;

	marker = xasprintf("%sleft-out job %lld -->", FORGE_MARKER_PREFIX,
	    (long long)job->id);
	/* Where each was asked: on the issue, or on the pull request. */
	for (place = 0; place < 2 && rc == 0; place++) {
		list = NULL;
		for (i = 0; i < n; i++) {
			if (reqs[i].verdict == NULL ||
			    strcmp(reqs[i].verdict, "refused") != 0)
				continue;
			on_pr = forge_on(reqs[i].trigger_on) !=
			    FORGE_ON_ISSUE && job->pr_number > 0;
			if (on_pr != (place == 1))
				continue;
			name = safe_name(reqs[i].author);
			next = xasprintf("%s- `%s`%s\n", list ? list : "", name,
			    reqs[i].is_repeat ? " (asked before, repeated by"
			    " a retry)" : "");
			free(name);
			free(list);
			list = next;
		}
		if (list == NULL)
			continue;
		text = xasprintf("⚠️ handoff left out what these people asked"
		    " for job %lld, because they may not write to this"
		    " repository; the agent was not given it:\n\n%s\n"
		    "The job runs with the other requests.\n\n%s",
		    (long long)job->id, list, marker);
		rc = say_once(p, place == 1 ? FORGE_ON_PR : FORGE_ON_ISSUE,
		    place == 1 ? job->pr_number : job->number, marker, text,
		    err, errlen);
		free(text);
		free(list);
	}
	free(marker);
	return rc;
}

/* On a revision, a reply on the pull request saying what changed (no
 * diffstat: that nothing did); found by its marker first, so a rerun
 * does not say it twice. */
static int
reply(struct publish *p, const char *summary, const char *diffstat,
    char *err, size_t errlen)
{
	const struct job *job = p->job;
	char *marker = xasprintf("%s%lld -->", REPLY_MARKER,
	    (long long)job->id);
	char *url = log_url(p), *sum = quoted(summary, MAX_BODY);
	char *stat = fenced(diffstat, FORGE_BODY_MAX), *text;
	int rc;

	if (diffstat == NULL)
		text = xasprintf("➖ handoff's agent changed nothing for this"
		    " (job %lld)%s%s\n\n%s%s[Log](%s)\n\n%s",
		    (long long)job->id, *sum ? ":\n\n" : ".", sum,
		    p->meter ? p->meter : "", p->meter ? "\n\n" : "", url,
		    marker);
	else
		text = xasprintf("🔁 handoff revised the branch (job %lld)%s%s"
		    "%s\n\n%s%s[Log](%s)\n\n%s",
		    (long long)job->id, *sum ? ":\n\n" : ".", sum, stat,
		    p->meter ? p->meter : "", p->meter ? "\n\n" : "", url,
		    marker);
	rc = say_once(p, FORGE_ON_PR, p->pr.number, marker, text, err,
	    errlen);
	free(text);
	free(stat);
	free(sum);
	free(url);
	free(marker);
	return rc;
}

int
publish_pr(struct publish *p, const char *summary, const char *diffstat,
    char *err, size_t errlen)
{
	const struct forge_ops *ops = p->forge->ops;
	const struct job *job = p->job;
	char *url = log_url(p), *body, *title, *line;
	char *sum = quoted(summary, MAX_BODY);
	char *stat = fenced(diffstat, FORGE_BODY_MAX);
	int rc = -1;

	body = xasprintf("Closes #%lld%s%s%s\n\n%s%s[handoff's log of job %lld]"
	    "(%s)\n", (long long)job->number, *sum ? "\n\n" : "", sum, stat,
	    p->meter ? p->meter : "", p->meter ? "\n\n" : "",
	    (long long)job->id, url);
	free(sum);
	free(stat);
	/* One line of text: the issue's title can hold anything. */
	line = text_line(job->title, MAX_TITLE);
	title = forge_unmark(*line ? line : job->branch);
	free(line);
	/* The branch's open pull request, if an earlier job (or attempt)
	 * opened one; else a new one. */
	forge_pr_clear(&p->pr);
	if (ops->pr_find(p->forge, job->branch, &p->pr, err, errlen) == -1)
		goto out;
	if (p->pr.number != 0 && is_revision(job)) {
		/* The description stays the first job's; a revision is
		 * told in a reply. */
		if (reply(p, summary, diffstat, err, errlen) == -1)
			goto out;
	} else if (p->pr.number != 0) {
		if (ops->pr_update(p->forge, p->pr.number, NULL, body, err,
		    errlen) == -1)
			goto out;
	} else if (ops->pr_open(p->forge, job->branch, job->default_branch ?
	    job->default_branch : "main", title, body, p->cfg->draft, &p->pr,
	    err, errlen) == -1)
		goto out;
	if (store_thread_set_pr(p->st, job->thread_id, p->pr.number,
	    p->pr.url) == -1) {
		snprintf(err, errlen, "store: %s", store_error(p->st));
		goto out;
	}
	rc = 0;
out:
	free(title);
	free(body);
	free(url);
	return rc;
}

void
publish_meter(struct publish *p, const char *text)
{
	if (p == NULL)
		return;
	free(p->meter);
	p->meter = text && *text ? xstrdup(text) : NULL;
}

const char *
publish_pr_url(const struct publish *p)
{
	return p ? p->pr.url : NULL;
}

struct forge_conn *
publish_forge(struct publish *p)
{
	return p->forge;
}

const struct job *
publish_job(const struct publish *p)
{
	return p->job;
}

const char *
publish_status_id(const struct publish *p)
{
	return p->comment_id;
}
