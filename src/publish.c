/*
 * What the people on an issue see of a job, through forge.h: a 👀 on
 * their request, one status comment per thread edited as the job moves,
 * the branch pushed, and one pull request. Nothing here says which forge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "log.h"
#include "publish.h"
#include "util.h"

/* Hidden in the status comment: how a rerun finds it. */
#define MARKER		"<!-- handoff:status -->"
#define MAX_TAIL	1500

struct publish {
	const struct config	*cfg;
	struct store		*st;
	const struct job	*job;
	struct forge_conn		*forge;
	char			*comment_id;
	struct forge_pr		 pr;
	int			 position;	/* in line, for "queued" */
};

struct publish *
publish_open(const struct config *cfg, struct store *st,
    const struct job *job, char *err, size_t errlen)
{
	struct publish *p;

	err[0] = '\0';
	if (strcmp(job->forge, "local") == 0 ||
	    !forge_configured(cfg, job->forge))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->st = st;
	p->job = job;
	p->comment_id = job->status_comment_id ?
	    xstrdup(job->status_comment_id) : NULL;
	p->pr.number = job->pr_number;
	p->pr.url = job->pr_url ? xstrdup(job->pr_url) : NULL;
	if ((p->forge = forge_open(cfg, job->forge, job->repo,
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
	free(p->comment_id);
	forge_pr_clear(&p->pr);
	free(p);
}

const char *
publish_git_user(struct publish *p)
{
	return p->forge->ops->git_user;
}

const char *
publish_git_token(struct publish *p, char *err, size_t errlen)
{
	if (p->forge->token == NULL &&
	    p->forge->ops->authenticate(p->forge, err, errlen) == -1)
		return NULL;
	return p->forge->token;
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

static char *
log_url(const struct publish *p)
{
	return xasprintf("%s/jobs/%lld/log", p->cfg->public_url,
	    (long long)p->job->id);
}

static char *
status_text(const struct publish *p, enum publish_status what,
    const char *detail)
{
	char *url = log_url(p), *text, *fence = NULL, *d = trimmed(detail);
	long long id = (long long)p->job->id;

	if (*d)
		fence = xasprintf("\n\n```\n%.*s\n```", MAX_TAIL, d);
	free(d);
	switch (what) {
	case PS_QUEUED:
		if (p->position > 0)
			text = xasprintf("⏳ handoff queued this (job %lld);"
			    " %d job%s ahead of it.", id, p->position,
			    p->position == 1 ? " is" : "s are");
		else
			text = xasprintf("⏳ handoff queued this (job %lld).",
			    id);
		break;
	case PS_RUNNING:
		text = xasprintf("🏃 handoff is working on this (job %lld):"
		    " [live log](%s).", id, url);
		break;
	case PS_DONE:
		text = xasprintf("✅ Done (job %lld): %s%s", id,
		    p->pr.url ? p->pr.url : "the branch is pushed",
		    fence ? fence : "");
		break;
	case PS_NO_CHANGES:
		text = xasprintf("➖ The agent changed nothing (job %lld)."
		    " [Log](%s).%s", id, url, fence ? fence : "");
		break;
	case PS_CANCELLED:
		text = xasprintf("⏹ Cancelled (job %lld).", id);
		break;
	default:
		text = xasprintf("❌ Failed (job %lld): [log](%s).%s", id, url,
		    fence ? fence : "");
		break;
	}
	free(fence);
	fence = xasprintf("%s\n\n%s", text, MARKER);
	free(text);
	free(url);
	return fence;
}

int
publish_acknowledge(struct publish *p, int position, bool *allowed,
    char *err, size_t errlen)
{
	const struct forge_ops *ops = p->forge->ops;
	const struct job *job = p->job;
	char *text, werr[512];
	int rc;

	*allowed = false;
	p->position = position;
	if (job->requested_by == NULL)
		return 0;
	if (ops->can_write(p->forge, job->requested_by, job->requested_by_id,
	    allowed, err, errlen) == -1)
		return -1;
	if (!*allowed)
		return 0;	/* refused quietly: nothing is written */
	if (ops->react(p->forge, job->number, job->trigger_id, werr,
	    sizeof(werr)) == -1)
		log_warn("job %lld: reaction: %s", (long long)job->id, werr);
	if (p->comment_id == NULL) {
		if (forge_comment_find(p->forge, job->number, MARKER,
		    &p->comment_id, err, errlen) == -1)
			return -1;
		if (p->comment_id == NULL) {
			text = status_text(p, PS_QUEUED, NULL);
			rc = ops->comment_create(p->forge, job->number, text,
			    &p->comment_id, err, errlen);
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

void
publish_status(struct publish *p, enum publish_status what,
    const char *detail)
{
	char *text, err[512];

	if (p == NULL || p->comment_id == NULL)
		return;
	text = status_text(p, what, detail);
	if (p->forge->ops->comment_edit(p->forge, p->job->number,
	    p->comment_id, text, err, sizeof(err)) == -1)
		log_warn("job %lld: status comment: %s", (long long)p->job->id,
		    err);
	free(text);
}

int
publish_push(struct publish *p, struct ws *ws, char *err, size_t errlen)
{
	const char *token = publish_git_token(p, err, errlen);

	if (token == NULL)
		return -1;
	return ws_push(ws, p->job->clone_url, p->job->branch,
	    publish_git_user(p), token, err, errlen);
}

int
publish_pr(struct publish *p, const char *summary, const char *diffstat,
    char *err, size_t errlen)
{
	const struct forge_ops *ops = p->forge->ops;
	const struct job *job = p->job;
	char *url = log_url(p), *body, *title, *sum = trimmed(summary);
	char *stat = trimmed(diffstat);
	int rc = -1;

	body = xasprintf("Closes #%lld\n\n%s%s```\n%s\n```\n\n[handoff's log"
	    " of job %lld](%s)\n", (long long)job->number, sum,
	    *sum ? "\n\n" : "", stat, (long long)job->id, url);
	free(sum);
	free(stat);
	title = xstrdup(job->title && *job->title ? job->title : job->branch);
	/* The branch's open pull request, if an earlier job (or attempt)
	 * opened one; else a new one. */
	forge_pr_clear(&p->pr);
	if (ops->pr_find(p->forge, job->branch, &p->pr, err, errlen) == -1)
		goto out;
	if (p->pr.number != 0) {
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

const char *
publish_pr_url(const struct publish *p)
{
	return p ? p->pr.url : NULL;
}

cJSON *
publish_comments(struct publish *p)
{
	struct forge_comment *list = NULL;
	cJSON *arr = cJSON_CreateArray(), *o;
	char err[512];
	size_t n = 0, i;

	if (p->forge->ops->comments(p->forge, p->job->number, &list, &n, err,
	    sizeof(err)) == -1) {
		log_warn("job %lld: comments: %s", (long long)p->job->id, err);
		return arr;
	}
	/* People's words only: not bots', not handoff's status comment. */
	for (i = 0; i < n; i++) {
		if (list[i].is_bot || strstr(list[i].body, MARKER))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "author", list[i].author);
		cJSON_AddStringToObject(o, "body", list[i].body);
		cJSON_AddItemToArray(arr, o);
	}
	forge_comments_free(list, n);
	return arr;
}
