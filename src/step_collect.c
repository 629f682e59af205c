/*
 * The collect step: a second, read-only sandbox reads what the agent left
 * in the workspace and hands over a pack of objects, the tree and the
 * agent's commit messages; handoff folds them into one commit on the base,
 * within the policy, in its mirror.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "sandbox.h"
#include "identity.h"
#include "text.h"
#include "util.h"

#define MAX_SUMMARY	(64 * 1024)
#define MAX_MESSAGES	(64 * 1024)
#define MAX_AUTHORS	(64 * 1024)
#define MAX_COAUTHORS	10	/* Co-authored-by lines */
#define MAX_SUBJECT	200	/* bytes of the title in a commit's subject */
/* The identity the workspace's .git/config gives (harvest_layer): an
 * agent that commits without one of its own is no author. */
#define SANDBOX_EMAIL	"agent@handoff.invalid"
#define COLLECT_TIMEOUT_MS	(10 * 60 * 1000)

/* Runs in the collect sandbox: the workspace is read-only, /out is the
 * only writable place, and git uses a git directory handoff made (so
 * nothing of the workspace's .git/config applies but its objects). */
static const char collect_script[] =
	"set -eu\n"
	"export GIT_DIR=/out/git GIT_WORK_TREE=/workspace"
	" GIT_INDEX_FILE=/out/index\n"
	"g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false"
	" -c core.untrackedCache=false -c gc.auto=0"
	" -c core.bigFileThreshold=$MAX_FILE -c user.name=handoff"
	" -c user.email=handoff@localhost \"$@\"; }\n"
	"head=$(g --git-dir=/workspace/.git rev-parse -q --verify"
	" 'HEAD^{commit}' 2>/dev/null) || head=$BASE\n"
	"g cat-file -e \"$head^{commit}\" 2>/dev/null || head=$BASE\n"
	"if ! { cp /workspace/.git/index /out/index 2>/dev/null &&"
	" g ls-files -s >/dev/null 2>&1; }; then\n"
	"  rm -f /out/index; g read-tree \"$head\"\nfi\n"
	"g add -A\n"
	"tree=$(g write-tree)\n"
	/* Only the workspace's tree leaves: the agent's commits are folded
	 * into one handoff makes, so none of their trees is ever pushed. */
	"tip=$(g commit-tree \"$tree\" -p \"$BASE\" -m collect)\n"
	"g rev-list --objects \"$tip\" --not \"$BASE\" |"
	" g pack-objects -q --stdout >/out/pack\n"
	/* Their messages go into that commit's body. */
	"if [ \"$head\" != \"$BASE\" ] &&"
	" g merge-base --is-ancestor \"$BASE\" \"$head\" 2>/dev/null; then\n"
	"  g log --format='%B%x00' --reverse -n 100 \"$BASE..$head\""
	" 2>/dev/null | head -c 65536 >/out/messages || :\n"
	/* And their authors, oldest first. */
	"  g log --format='%an%x00%ae%x00' --reverse -n 100 \"$BASE..$head\""
	" 2>/dev/null | head -c 65536 >/out/authors || :\nfi\n"
	"head -c 65536 /handoff/summary.md >/out/summary 2>/dev/null || :\n"
	"printf 'head %s\\ntree %s\\n' \"$head\" \"$tree\"\n";

/* A text collect copied out of the job's filesystem (at most max bytes,
 * *len of them when len is not NULL; "" when there is none). */
static char *
read_out(struct run *r, const char *name, size_t max, size_t *len)
{
	char *p = run_path(r, name), *text;
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	free(p);
	text = xmalloc(max + 1);
	while (fd != -1 && got < max &&
	    (n = read(fd, text + got, max - got)) > 0)
		got += (size_t)n;
	if (fd != -1)
		close(fd);
	text[got] = '\0';
	if (len)
		*len = got;
	return text;
}

static char *
commit_message(const struct run *r)
{
	/* One line of text: the title can hold anything. */
	char *title = text_line(r->job.title, MAX_SUBJECT), *msg;

	if (r->job.forge == FORGE_LOCAL)
		msg = xasprintf("%s\n\nMade by handoff (local run, job"
		    " %lld).\n", *title ? title : "handoff",
		    (long long)r->job.id);
	else
		msg = xasprintf("%s (#%lld)\n\nMade by handoff for %s#%lld"
		    " (job %lld).\n", *title ? title : "handoff",
		    (long long)r->job.number, r->job.repo,
		    (long long)r->job.number, (long long)r->job.id);
	free(title);
	return msg;
}

/* "head X" and "tree Y" from the collect sandbox's output. */
static int
parse_collect(const char *text, char *head, char *tree)
{
	const char *p;

	head[0] = tree[0] = '\0';
	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char *dst = strncmp(p, "head ", 5) == 0 ? head :
		    strncmp(p, "tree ", 5) == 0 ? tree : NULL;

		if (dst && strspn(p + 5, "0123456789abcdef") == MIRROR_OID_HEX) {
			memcpy(dst, p + 5, MIRROR_OID_HEX);
			dst[MIRROR_OID_HEX] = '\0';
		}
	}
	return head[0] && tree[0] ? 0 : -1;
}

/* msg, then the agent's own commit messages (NUL-separated, oldest
 * first), cleaned of control characters: its commits are folded into
 * handoff's one, so that what is pushed is exactly what a reviewer sees. */
static char *
with_agent_messages(const char *msg, const char *messages, size_t len)
{
	const char *p = messages, *end = messages + len, *nl;
	char *out = xasprintf("%s\nThe agent's commits, folded into this"
	    " one:\n", msg), *clean, *next, *line, *first;
	size_t n, count = 0;

	while (p < end) {
		n = strnlen(p, (size_t)(end - p));
		clean = text_clean(p, n);
		p += n + 1;
		/* Its lines, the first as a bullet, the rest indented; git
		 * puts a newline between one and the next. */
		for (line = clean; *line == '\n'; line++)
			;
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
			line[--n] = '\0';
		for (first = line; *line; line = nl ? (char *)nl + 1 : NULL) {
			nl = strchr(line, '\n');
			n = nl ? (size_t)(nl - line) : strlen(line);
			while (n > 0 && (line[n - 1] == ' ' ||
			    line[n - 1] == '\t'))
				n--;
			next = xasprintf("%s%s%.*s\n", out, line == first ?
			    "\n* " : n ? "  " : "", (int)n, line);
			free(out);
			out = next;
			if (nl == NULL)
				break;
		}
		count += *first != '\0';
		free(clean);
	}
	if (count == 0) {
		free(out);
		return xstrdup(msg);
	}
	return out;
}

/* The authors of the agent's commits (NUL-separated name and address,
 * oldest first): the first that is a valid name and address and not the
 * sandbox's own becomes the commit's author (agent output: checked, never
 * trusted to be more than text); the others a Co-authored-by trailer each
 * on *msg. Returns whether there was one. */
static bool
agent_author(const char *text, size_t len, struct identity *author,
    char **msg)
{
	const char *p = text, *end = text + len, *name, *email;
	char *trailers = xstrdup(""), *line, *next;
	size_t ncoauthors = 0;

	while (p < end) {
		name = p;
		p += strnlen(p, (size_t)(end - p)) + 1;
		if (p >= end)
			break;
		email = p;
		p += strnlen(p, (size_t)(end - p)) + 1;
		/* git log puts a newline between records. */
		name += strspn(name, "\n");
		if (p > end || !identity_name_ok(name) ||
		    !identity_email_ok(email) ||
		    strcmp(email, SANDBOX_EMAIL) == 0)
			continue;
		if (author->name == NULL) {
			author->name = xstrdup(name);
			author->email = xstrdup(email);
			continue;
		}
		line = xasprintf("Co-authored-by: %s <%s>\n", name, email);
		if (strcmp(email, author->email) != 0 &&
		    ncoauthors < MAX_COAUTHORS && strstr(trailers, line) == NULL) {
			next = xasprintf("%s%s", trailers, line);
			free(trailers);
			trailers = next;
			ncoauthors++;
		}
		free(line);
	}
	if (ncoauthors > 0) {
		next = xasprintf("%s\n%s", *msg, trailers);
		free(*msg);
		*msg = next;
	}
	free(trailers);
	return author->name != NULL;
}

/* Commit the agent's tree as its author (or handoff's identity) with
 * handoff's identity as committer. */
static int
commit_change(struct run *r, const char *tree)
{
	struct identity me, agent = { NULL, NULL };
	char err[1024], *msg, *full, *messages, *authors, *pack;
	size_t nmessages = 0, nauthors = 0;
	int rc;

	messages = read_out(r, "out/messages", MAX_MESSAGES, &nmessages);
	authors = read_out(r, "out/authors", MAX_AUTHORS, &nauthors);
	pack = run_path(r, "out/pack");
	msg = commit_message(r);
	full = with_agent_messages(msg, messages, nmessages);
	identity_resolve(r->cfg, r->st, r->pub ? publish_forge(r->pub) :
	    NULL, &me);
	agent_author(authors, nauthors, &agent, &full);
	rc = harvest_commit(r->mirror, r->cfg, pack, r->base, tree,
	    r->job.branch, full, agent.name ? &agent : &me, &me, &r->change,
	    err, sizeof(err));
	identity_clear(&agent);
	identity_clear(&me);
	free(full);
	free(msg);
	free(authors);
	free(messages);
	free(pack);
	if (rc == -1) {
		if (r->change.is_refused)
			run_fail_public(r, err);
		else
			run_fail(r, "%s", err);
	}
	return rc;
}

int
step_collect(struct run *r)
{
	static const char *const alternates[] = { "/workspace/.git/objects",
	    "/handoff/objects" };
	struct sandbox sb;
	struct sandbox_result res;
	char err[1024], head[MIRROR_OID_HEX + 1], tree[MIRROR_OID_HEX + 1];
	char *argv[4], *env[8], *outp = NULL, *text = NULL, *gitdir;
	char *detail;
	int fd = -1, rc = -1;

	/* Resuming: the agent's filesystem is still on disk (as root). */
	if (r->fs.holder <= 0 && jobfs_start(&r->fs, r->dir,
	    r->cfg->disk_bytes, true, err, sizeof(err)) == -1)
		return run_fail(r, "collect: %s", err);
	if (run_make_dir(r, "out", true, 0700) == -1)
		return -1;
	gitdir = run_path(r, "out/git");
	rc = harvest_gitdir(gitdir, r->base, alternates,
	    nitems(alternates), err, sizeof(err));
	free(gitdir);
	if (rc == -1)
		return run_fail(r, "collect: %s", err);
	if (run_give_to_sandbox(r, "out") == -1)
		return -1;
	rc = -1;
	step_sandbox_base(r, &sb);
	sb.is_readonly = true;
	sb.out_dir = run_path(r, "out");
	sb.timeout_ms = COLLECT_TIMEOUT_MS;
	sb.max_log_bytes = 64 * 1024;
	sb.should_stop = NULL;
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = (char *)collect_script;
	argv[3] = NULL;
	sb.argv = argv;
	env[0] = "PATH=/usr/bin:/bin";
	env[1] = "HOME=/home/agent";
	env[2] = "LANG=C.UTF-8";
	env[3] = "GIT_CONFIG_NOSYSTEM=1";
	env[4] = "GIT_CONFIG_GLOBAL=/dev/null";
	env[5] = xasprintf("BASE=%s", r->base);
	env[6] = xasprintf("MAX_FILE=%llu",
	    (unsigned long long)r->cfg->max_file_bytes);
	env[7] = NULL;
	sb.env = env;
	outp = run_path(r, "collect.out");
	if ((fd = open(outp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		run_fail(r, "collect: create %s: %s", outp, strerror(errno));
		goto out;
	}
	sb.log_fd = fd;
	if (sandbox_run(&sb, &res, err, sizeof(err)) == -1) {
		run_fail(r, "collect: %s", err);
		goto out;
	}
	text = util_read_file(outp, 128 * 1024, NULL);
	if (res.how != SB_EXITED || res.status != 0 || text == NULL ||
	    parse_collect(text, head, tree) == -1) {
		char *line = text ? text : xstrdup("");

		line[strcspn(line, "\0")] = '\0';
		run_fail(r, "collect: reading the workspace failed (%s): %.500s",
		    res.reason, line);
		if (text == NULL)
			free(line);
		goto out;
	}
	free(r->summary);
	r->summary = read_out(r, "out/summary", MAX_SUMMARY, NULL);
	if (commit_change(r, tree) == -1)
		goto out;
	if (store_job_set(r->st, r->job.id, "summary", r->summary) == -1 ||
	    store_job_set(r->st, r->job.id, "diffstat",
	    r->change.diffstat) == -1) {
		rc = run_fail(r, "store: %s", store_error(r->st));
		goto out;
	}
	if (r->change.is_changed) {
		if (store_job_set(r->st, r->job.id, "head_commit",
		    r->change.head) == -1 || store_thread_set_head(r->st,
		    r->job.thread_id, r->change.head) == -1) {
			rc = run_fail(r, "store: %s", store_error(r->st));
			goto out;
		}
		detail = xasprintf("%.12s, %d file%s changed", r->change.head,
		    r->change.files_changed, r->change.files_changed == 1 ?
		    "" : "s");
	} else
		detail = xstrdup("no changes");
	rc = run_done(r, detail);
	free(detail);
out:
	free((char *)env[5]);
	free((char *)env[6]);
	step_sandbox_free(&sb);
	if (fd != -1)
		close(fd);
	free(outp);
	free(text);
	return rc;
}

/* Once collect's end is recorded, what the agent wrote is in the mirror
 * (or refused): its filesystem goes. */
void
step_collect_ended(struct run *r)
{
	jobfs_stop(&r->fs);
	jobfs_discard(r->dir);
}

/* Collect's results are in the store and the mirror. */
bool
step_collect_kept(struct run *r)
{
	return r->job.base_commit != NULL;
}

/* Resuming after collect: its results, from the store. */
int
step_collect_restore(struct run *r)
{
	free(r->summary);
	r->summary = xstrdup(r->job.summary ? r->job.summary : "");
	free(r->change.diffstat);
	r->change.diffstat = r->job.diffstat ? xstrdup(r->job.diffstat) :
	    NULL;
	if (r->job.head_commit) {
		snprintf(r->change.head, sizeof(r->change.head), "%s",
		    r->job.head_commit);
		r->change.is_changed = true;
	}
	return 0;
}
