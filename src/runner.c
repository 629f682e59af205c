/*
 * The runner: one job, straight-line, blocking. Each step is recorded in
 * the store when it starts and when it ends, so a runner killed anywhere
 * resumes at the step it was in; each step can run again. The agent's
 * work never touches the host: it is read back by a second, read-only
 * sandbox that hands over a pack of objects and two ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "cgroup.h"
#include "jobfs.h"
#include "log.h"
#include "publish.h"
#include "rules.h"
#include "runner.h"
#include "sandbox.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "workspace.h"

#define MAX_SUMMARY	(64 * 1024)
#define MAX_MESSAGES	(64 * 1024)
#define MAX_SUBJECT	200	/* bytes of the title in a commit's subject */
#define COLLECT_TIMEOUT_MS	(10 * 60 * 1000)
#define KEEP_TREES	8	/* base trees kept beyond those in use */

extern char **environ;

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
	" 2>/dev/null | head -c 65536 >/out/messages || :\nfi\n"
	"head -c 65536 /handoff/summary.md >/out/summary 2>/dev/null || :\n"
	"printf 'head %s\\ntree %s\\n' \"$head\" \"$tree\"\n";

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* What one run of the steps needs and makes. */
struct run {
	const struct config	*cfg;
	struct store		*st;
	struct job		 job;
	enum job_kind		 kind;		/* implement, revise, fix-ci */
	char			*dir;		/* data_dir/jobs/N */
	int			 log_fd;
	struct ws		*ws;
	char			 base[WS_OID_HEX + 1];
	char			*files, *index;	/* the base tree */
	int			 tree_lock;	/* held while the job uses it */
	struct jobfs		 fs;		/* holder -1: not mounted */
	char			*summary;
	struct ws_change	 change;
	struct publish		*pub;		/* NULL: nothing to publish */
	char			*error;		/* why it failed: store, show, log */
	char			*public;	/* why, for the forge (told()) */
	char			*output;	/* the agent's last, when it failed */
	enum job_step		 step;		/* the step under way, or none */
	enum job_state		 state;		/* how it ended (not over: not yet) */
};

static char *
path(const struct run *r, const char *name)
{
	return xasprintf("%s/%s", r->dir, name);
}

static void
logline(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A step line in the job's log, as handoff's own voice among the agent's. */
static void
logline(struct run *r, const char *fmt, ...)
{
	char when[32], *text, *line, *esc;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	util_time_rfc3339(util_now_ms(), when, sizeof(when));
	line = xasprintf("%s handoff: %s\n", when, text);
	if (r->log_fd != -1 && write(r->log_fd, line, strlen(line)) == -1)
		log_warn("job %lld: write log: %s", (long long)r->job.id,
		    strerror(errno));
	/* One line of text in handoff's own log, whatever the agent's
	 * output in an error holds. */
	esc = util_term_escape(text, strlen(text), UTIL_ESC_LINE, NULL);
	log_info("job %lld: %s", (long long)r->job.id, esc);
	free(esc);
	free(line);
	free(text);
}

static int
fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	free(r->error);
	va_start(ap, fmt);
	r->error = xvasprintf(fmt, ap);
	va_end(ap);
	free(r->public);
	r->public = NULL;	/* told() decides */
	r->state = JOB_FAILED;
	return -1;
}

/* A failure whose reason is for the people on the issue as it is. */
static int
fail_public(struct run *r, const char *text)
{
	fail(r, "%s", text);
	r->public = xstrdup(text);
	return -1;
}

/* The agent's run ended badly: the people on the issue are told how and
 * what it printed last, its own words only. */
static int
fail_agent(struct run *r, const struct sandbox_result *res)
{
	char *why = xasprintf("the agent %s%s", res->how == SB_EXITED ? "" :
	    "was stopped: ", res->reason);

	fail(r, "%s; its output ends:\n%s", why, res->tail);
	r->public = why;
	free(r->output);
	r->output = xstrdup(res->tail);
	return -1;
}

/* What the people on the issue are told of a failure: what the step said
 * for them (fail_agent, fail_public, step_push: the agent's end, a
 * refusal of the change or of its push), else only which step handoff
 * could not finish: the error itself can hold host paths, addresses and
 * handoff's own detail. Caller frees. */
static char *
told(const struct run *r)
{
	if (r->public)
		return xstrdup(r->public);
	if (r->step != JOB_STEP_NONE)
		return xasprintf("handoff could not finish the %s step; the"
		    " operator's log has the reason", job_step_name(r->step));
	return xstrdup("handoff could not finish the job; the operator's log"
	    " has the reason");
}

static int
begin(struct run *r, enum job_step step)
{
	logline(r, "%s: started", job_step_name(step));
	r->step = step;
	if (store_step_begin(r->st, r->job.id, step) == -1)
		return fail(r, "store: %s", store_error(r->st));
	return 0;
}

static int
finish_step(struct run *r, enum job_step step, const char *detail)
{
	logline(r, "%s: done%s%s", job_step_name(step), detail ? ": " : "",
	    detail ? detail : "");
	r->step = JOB_STEP_NONE;
	if (store_step_end(r->st, r->job.id, step, detail) == -1)
		return fail(r, "store: %s", store_error(r->st));
	return 0;
}

/* A directory of the job's (emptied first when is_empty); mode 0755 for
 * what the sandbox reads, which runs as another user when handoff is
 * root. */
static int
make_dir(struct run *r, const char *name, bool is_empty, unsigned mode)
{
	char *p = path(r, name);
	int rc = 0;

	if (is_empty && util_rmtree(p) == -1)
		rc = fail(r, "workspace: empty %s: %s", p, strerror(errno));
	else if (util_mkdirs(p, mode) == -1 || chmod(p, mode) == -1)
		rc = fail(r, "workspace: create %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

/* Hand name (and all below it) to the sandbox's user, which is not
 * handoff's own when handoff runs as root. */
static int
give_to_sandbox(struct run *r, const char *name)
{
	char *p;
	int rc = 0;

	if (geteuid() != 0)
		return 0;
	p = path(r, name);
	if (util_chown_tree(p, sandbox_host_uid(), sandbox_host_gid()) == -1)
		rc = fail(r, "workspace: give %s to the sandbox's user: %s", p,
		    strerror(errno));
	free(p);
	return rc;
}

/* passwd and group naming the sandbox's one user. */
static int
write_etc(struct run *r)
{
	char *p, *text;
	int rc = 0;

	if (make_dir(r, "etc", true, 0755) == -1)
		return -1;
	p = path(r, "etc/passwd");
	text = xasprintf("agent:x:%d:%d:agent:/home/agent:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    SANDBOX_UID, SANDBOX_UID);
	if (util_write_file(p, text, strlen(text), 0644) == -1)
		rc = fail(r, "workspace: write %s: %s", p, strerror(errno));
	free(text);
	free(p);
	if (rc == -1)
		return -1;
	p = path(r, "etc/group");
	text = xasprintf("agent:x:%d:\nnogroup:x:65534:\n", SANDBOX_UID);
	if (util_write_file(p, text, strlen(text), 0644) == -1)
		rc = fail(r, "workspace: write %s: %s", p, strerror(errno));
	free(text);
	free(p);
	return rc;
}

/* The mirror, fetched with the forge's credentials when there are any. */
static int
open_mirror(struct run *r, char *err, size_t errlen)
{
	const char *user = NULL, *token = NULL;

	if (r->pub) {
		user = publish_git_user(r->pub);
		if ((token = publish_git_token(r->pub, err, errlen)) == NULL)
			return -1;
	}
	r->ws = ws_open(r->cfg->data_dir, r->job.clone_url, user, token, err,
	    errlen);
	return r->ws ? 0 : -1;
}

/* The commit to start from: where the thread's branch is, else the
 * default branch (a local run: the repository's HEAD). */
static int
choose_base(struct run *r)
{
	const char *def;
	bool is_local = r->job.forge == FORGE_LOCAL;

	if (r->job.base_commit && ws_resolve(r->ws, r->job.base_commit,
	    r->base) == 0)
		return 0;	/* resuming: the same base as before */
	if (!is_local && (ws_resolve(r->ws, r->job.branch, r->base) == 0 ||
	    (r->job.thread_head && ws_resolve(r->ws, r->job.thread_head,
	    r->base) == 0)))
		return 0;
	def = !is_local && r->job.default_branch ? r->job.default_branch :
	    "HEAD";
	if (ws_resolve(r->ws, def, r->base) == -1)
		return fail(r, "workspace: %s has no %s to start from",
		    r->job.clone_url, strcmp(def, "HEAD") == 0 ? "HEAD" : def);
	return 0;
}

static int
step_workspace(struct run *r)
{
	char err[1024], *seed, *p;

	if (begin(r, JOB_STEP_WORKSPACE) == -1)
		return -1;
	if (r->job.clone_url == NULL)
		return fail(r, "workspace: the thread has no repository URL");
	if (open_mirror(r, err, sizeof(err)) == -1)
		return fail(r, "workspace: %s", err);
	if (choose_base(r) == -1)
		return -1;
	if (store_job_set(r->st, r->job.id, "base_commit", r->base) == -1)
		return fail(r, "store: %s", store_error(r->st));
	if (ws_base_tree(r->ws, r->cfg->data_dir, r->base, &r->files,
	    &r->index, &r->tree_lock, err, sizeof(err)) == -1)
		return fail(r, "workspace: %s", err);
	ws_prune_trees(r->cfg->data_dir, KEEP_TREES);
	if (make_dir(r, "merged", false, 0700) == -1 ||
	    make_dir(r, "handoff", true, 0755) == -1 ||
	    make_dir(r, "handoff/objects", false, 0755) == -1 ||
	    write_etc(r) == -1)
		return -1;
	/* The job's .git, a read-only layer between the base tree and what
	 * the agent writes. */
	seed = path(r, "seed");
	if (ws_layer(seed, r->job.branch, r->base, r->index,
	    "/handoff/objects", err, sizeof(err)) == -1) {
		free(seed);
		return fail(r, "workspace: %s", err);
	}
	free(seed);
	if (give_to_sandbox(r, "seed") == -1)
		return -1;
	p = xasprintf("%.12s on %s", r->base, r->job.branch);
	finish_step(r, JOB_STEP_WORKSPACE, p);
	free(p);
	return r->error ? -1 : 0;
}

/* Before any text reaches the agent: the requests folded in after the
 * acknowledgement are checked too (the acknowledging runner may have run
 * before they came), the refused are left out and that is said where
 * they were asked. A job none of whose requests may run ends quietly. */
static int
check_requests(struct run *r)
{
	char err[1024];
	bool allowed;

	if (publish_permit(r->pub, &allowed, err, sizeof(err)) == -1)
		return fail(r, "task: %s", err);
	store_requests_free(r->job.requests, r->job.nrequests);
	if (store_requests_load(r->st, r->job.id, &r->job.requests,
	    &r->job.nrequests) == -1)
		return fail(r, "store: %s", store_error(r->st));
	if (!allowed) {
		r->state = JOB_CANCELLED;
		free(r->error);
		r->error = xasprintf("no one who asked may write to %s;"
		    " nothing was run", r->job.repo);
		return -1;
	}
	if (publish_left_out(r->pub, r->job.requests, r->job.nrequests, err,
	    sizeof(err)) == -1)
		logline(r, "task: saying what was left out: %s", err);
	return 0;
}

/* Drop from list (comments made on one of ons) the commands to handoff
 * that are not a request allowed in this thread: a command is an
 * instruction, and reaches the agent as a request, checked and
 * attributed, or not at all. Other comments stay, under their authors'
 * names. */
static int
drop_commands(struct run *r, cJSON *list, const enum forge_on *ons,
    size_t n_ons)
{
	cJSON *c, *next;
	const char *body, *id;
	char *text, buf[32];
	int64_t *ids;
	size_t n, i;
	bool is_allowed;

	if (list == NULL)
		return 0;
	if (store_allowed_triggers(r->st, r->job.thread_id, ons, n_ons, &ids,
	    &n) == -1)
		return fail(r, "store: %s", store_error(r->st));
	for (c = list->child; c != NULL; c = next) {
		next = c->next;
		body = cJSON_GetStringValue(cJSON_GetObjectItem(c, "body"));
		id = cJSON_GetStringValue(cJSON_GetObjectItem(c, "id"));
		if (rules_parse_command(r->cfg->command, body, &text) ==
		    CMD_IGNORE)
			continue;
		free(text);
		is_allowed = false;
		for (i = 0; id != NULL && i < n && !is_allowed; i++) {
			snprintf(buf, sizeof(buf), "%lld", (long long)ids[i]);
			is_allowed = strcmp(buf, id) == 0;
		}
		if (!is_allowed)
			cJSON_Delete(cJSON_DetachItemViaPointer(list, c));
	}
	free(ids);
	return 0;
}

static int
step_task(struct run *r)
{
	static const enum forge_on on_issue[] = { FORGE_ON_ISSUE };
	static const enum forge_on on_pr[] = { FORGE_ON_REVIEW_COMMENT,
	    FORGE_ON_PR };
	cJSON *comments, *reviews;
	char err[512], *dir, *summary, *title, *body;
	int rc;

	if (begin(r, JOB_STEP_TASK) == -1)
		return -1;
	if (r->pub && check_requests(r) == -1)
		return -1;
	dir = path(r, "handoff");
	/* The issue as it reads now: it may have been edited since. */
	if (r->pub && publish_issue(r->pub, &title, &body) == 0) {
		free(r->job.title);
		free(r->job.body);
		r->job.title = title;
		r->job.body = body;
	}
	comments = r->pub ? publish_comments(r->pub) : NULL;
	reviews = r->pub ? publish_review_comments(r->pub, r->job.requests,
	    r->job.nrequests) : NULL;
	if (drop_commands(r, comments, on_issue, nitems(on_issue)) == -1 ||
	    drop_commands(r, reviews, on_pr, nitems(on_pr)) == -1)
		rc = -1;
	else if ((rc = task_write(dir, &r->job, r->kind, comments, reviews,
	    err, sizeof(err))) == -1)
		fail(r, "%s", err);
	cJSON_Delete(reviews);
	cJSON_Delete(comments);
	free(dir);
	if (rc == -1)
		return -1;
	summary = path(r, "handoff/summary.md");
	if (util_write_file(summary, "", 0, 0644) == -1)
		rc = fail(r, "task: create %s: %s", summary, strerror(errno));
	free(summary);
	if (rc == -1)
		return -1;
	return finish_step(r, JOB_STEP_TASK, NULL);
}

static int
should_stop_cb(void *arg)
{
	struct run *r = arg;

	return interrupted || store_cancel_requested(r->st, r->job.id) == 1;
}

/* The command's first word, when it is a host file to make visible. */
static char *
agent_file(const char *command)
{
	char *word = xstrndup(command, strcspn(command, " \t\n"));
	struct stat sb;

	if (word[0] != '/' || stat(word, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    strncmp(word, "/usr/", 5) == 0) {
		free(word);
		return NULL;
	}
	return word;
}

static char **
agent_env(const struct run *r, size_t *n)
{
	char **env = xcalloc(16 + r->cfg->agent_env.n, sizeof(*env));
	const char *v;
	size_t i, k = 0;

	env[k++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	env[k++] = xstrdup("HOME=/home/agent");
	env[k++] = xstrdup("USER=agent");
	env[k++] = xstrdup("LOGNAME=agent");
	env[k++] = xstrdup("LANG=C.UTF-8");
	env[k++] = xstrdup("TERM=dumb");
	env[k++] = xstrdup("TMPDIR=/tmp");
	env[k++] = xstrdup("GIT_CONFIG_NOSYSTEM=1");
	env[k++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	env[k++] = xstrdup("HANDOFF_TASK=/handoff/task.md");
	env[k++] = xstrdup("HANDOFF_CONTEXT=/handoff/context.json");
	env[k++] = xstrdup("HANDOFF_SUMMARY=/handoff/summary.md");
	env[k++] = xasprintf("HANDOFF_JOB=%lld", (long long)r->job.id);
	for (i = 0; i < r->cfg->agent_env.n; i++)
		if ((v = getenv(r->cfg->agent_env.v[i])) != NULL)
			env[k++] = xasprintf("%s=%s", r->cfg->agent_env.v[i],
			    v);
	*n = k;
	return env;
}

static void
free_env(char **env, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(env[i]);
	free(env);
}

static void
base_sandbox(struct run *r, struct sandbox *sb)
{
	char *prefix;

	memset(sb, 0, sizeof(*sb));
	sb->lower = r->files;
	sb->seed = path(r, "seed");
	sb->fs = &r->fs;
	sb->merged = path(r, "merged");
	sb->handoff_dir = path(r, "handoff");
	sb->etc_dir = path(r, "etc");
	sb->objects = ws_objects_dir(r->ws);
	prefix = cgroup_prefix(r->cfg->data_dir);
	sb->name = xasprintf("%s%lld", prefix, (long long)r->job.id);
	free(prefix);
	sb->timeout_ms = r->cfg->agent_timeout_ms;
	sb->memory_bytes = r->cfg->memory_bytes;
	sb->disk_bytes = r->cfg->disk_bytes;
	sb->pids = r->cfg->pids;
	sb->max_log_bytes = r->cfg->max_log_bytes;
	sb->log_fd = r->log_fd;
	sb->should_stop = should_stop_cb;
	sb->arg = r;
}

static void
free_sandbox(struct sandbox *sb)
{
	free((char *)sb->seed);
	free((char *)sb->merged);
	free((char *)sb->handoff_dir);
	free((char *)sb->etc_dir);
	free((char *)sb->name);
	free((char *)sb->out_dir);
	free((char *)sb->agent_path);
}

static int
step_sandbox(struct run *r)
{
	struct sandbox sb;
	struct sandbox_result res;
	char err[1024], *argv[4], **env;
	size_t nenv;
	int rc;

	if (r->cfg->agent_command == NULL)
		return fail(r, "no agent: [agent] command is not set");
	if (r->cfg->network == NET_ALLOWLIST)
		return fail(r, "sandbox: [sandbox] network = allowlist is not"
		    " available yet; use none or host");
	if (begin(r, JOB_STEP_SANDBOX) == -1)
		return -1;
	/* A new filesystem for what the agent writes; it stays mounted
	 * until collect has read it. */
	jobfs_stop(&r->fs);
	if (jobfs_start(&r->fs, r->dir, r->cfg->disk_bytes, false, err,
	    sizeof(err)) == -1)
		return fail(r, "sandbox: %s", err);
	base_sandbox(r, &sb);
	sb.agent_path = agent_file(r->cfg->agent_command);
	sb.extra_ro = &r->cfg->extra_ro;
	sb.share_net = r->cfg->network == NET_HOST;
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = r->cfg->agent_command;
	argv[3] = NULL;
	sb.argv = argv;
	env = agent_env(r, &nenv);
	sb.env = env;
	logline(r, "sandbox: running the agent: %s", r->cfg->agent_command);
	publish_status(r->pub, PS_RUNNING, NULL);
	rc = sandbox_run(&sb, &res, err, sizeof(err));
	free_env(env, nenv);
	free_sandbox(&sb);
	if (rc == -1)
		return fail(r, "%s", err);
	logline(r, "sandbox: %s%s", res.how == SB_EXITED ? "the agent " :
	    "stopped: ", res.reason);
	if (res.how == SB_CANCELLED) {
		if (interrupted)
			return -1;
		r->state = JOB_CANCELLED;
		free(r->error);
		r->error = xstrdup("cancelled");
		return -1;
	}
	if (res.how != SB_EXITED || res.status != 0)
		return fail_agent(r, &res);
	return finish_step(r, JOB_STEP_SANDBOX, res.reason);
}

/* A text collect copied out of the job's filesystem (at most max bytes,
 * *len of them when len is not NULL; "" when there is none). */
static char *
read_out(struct run *r, const char *name, size_t max, size_t *len)
{
	char *p = path(r, name), *text;
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
	/* One line of text: the issue's title can hold anything. */
	char *title = util_line(r->job.title, MAX_SUBJECT), *msg;

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

		if (dst && strspn(p + 5, "0123456789abcdef") == WS_OID_HEX) {
			memcpy(dst, p + 5, WS_OID_HEX);
			dst[WS_OID_HEX] = '\0';
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
		clean = util_clean_text(p, n);
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

static int
step_collect(struct run *r)
{
	static const char *const alternates[] = { "/workspace/.git/objects",
	    "/handoff/objects" };
	struct sandbox sb;
	struct sandbox_result res;
	char err[1024], head[WS_OID_HEX + 1], tree[WS_OID_HEX + 1];
	char *argv[4], *env[8], *outp = NULL, *text = NULL, *gitdir, *msg;
	char *pack, *detail, *messages, *full;
	size_t nmessages = 0;
	int fd = -1, rc = -1;

	if (begin(r, JOB_STEP_COLLECT) == -1)
		return -1;
	/* Resuming: the agent's filesystem is still on disk (as root). */
	if (r->fs.holder <= 0 && jobfs_start(&r->fs, r->dir,
	    r->cfg->disk_bytes, true, err, sizeof(err)) == -1)
		return fail(r, "collect: %s", err);
	if (make_dir(r, "out", true, 0700) == -1)
		return -1;
	gitdir = path(r, "out/git");
	rc = ws_collect_gitdir(gitdir, r->base, alternates,
	    nitems(alternates), err, sizeof(err));
	free(gitdir);
	if (rc == -1)
		return fail(r, "collect: %s", err);
	if (give_to_sandbox(r, "out") == -1)
		return -1;
	rc = -1;
	base_sandbox(r, &sb);
	sb.is_readonly = true;
	sb.out_dir = path(r, "out");
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
	outp = path(r, "collect.out");
	if ((fd = open(outp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		fail(r, "collect: create %s: %s", outp, strerror(errno));
		goto out;
	}
	sb.log_fd = fd;
	if (sandbox_run(&sb, &res, err, sizeof(err)) == -1) {
		fail(r, "collect: %s", err);
		goto out;
	}
	text = util_read_file(outp, 128 * 1024, NULL);
	if (res.how != SB_EXITED || res.status != 0 || text == NULL ||
	    parse_collect(text, head, tree) == -1) {
		char *line = text ? text : xstrdup("");

		line[strcspn(line, "\0")] = '\0';
		fail(r, "collect: reading the workspace failed (%s): %.500s",
		    res.reason, line);
		if (text == NULL)
			free(line);
		goto out;
	}
	free(r->summary);
	r->summary = read_out(r, "out/summary", MAX_SUMMARY, NULL);
	messages = read_out(r, "out/messages", MAX_MESSAGES, &nmessages);
	pack = path(r, "out/pack");
	msg = commit_message(r);
	full = with_agent_messages(msg, messages, nmessages);
	rc = ws_finish(r->ws, r->cfg, pack, r->base, tree, r->job.branch,
	    full, &r->change, err, sizeof(err));
	free(full);
	free(msg);
	free(messages);
	free(pack);
	if (rc == -1) {
		if (r->change.is_refused)
			fail_public(r, err);
		else
			fail(r, "%s", err);
		goto out;
	}
	if (store_job_set(r->st, r->job.id, "summary", r->summary) == -1 ||
	    store_job_set(r->st, r->job.id, "diffstat",
	    r->change.diffstat) == -1) {
		rc = fail(r, "store: %s", store_error(r->st));
		goto out;
	}
	if (r->change.is_changed) {
		if (store_job_set(r->st, r->job.id, "head_commit",
		    r->change.head) == -1 || store_thread_set_head(r->st,
		    r->job.thread_id, r->change.head) == -1) {
			rc = fail(r, "store: %s", store_error(r->st));
			goto out;
		}
		detail = xasprintf("%.12s, %d file%s changed", r->change.head,
		    r->change.files_changed, r->change.files_changed == 1 ?
		    "" : "s");
	} else
		detail = xstrdup("no changes");
	rc = finish_step(r, JOB_STEP_COLLECT, detail);
	free(detail);
	/* What the agent wrote is in the mirror now, or refused. */
	jobfs_stop(&r->fs);
	jobfs_discard(r->dir);
out:
	free((char *)env[5]);
	free((char *)env[6]);
	free_sandbox(&sb);
	if (fd != -1)
		close(fd);
	free(outp);
	free(text);
	return rc;
}

static int
step_acknowledge(struct run *r)
{
	char err[1024];
	bool allowed;

	if (store_acknowledged(r->st, r->job.id) == 1) {
		logline(r, "acknowledge: done while the job was queued");
		return 0;
	}
	if (begin(r, JOB_STEP_ACKNOWLEDGE) == -1)
		return -1;
	if (publish_acknowledge(r->pub, 0, &allowed, err, sizeof(err)) == -1)
		return fail(r, "acknowledge: %s", err);
	if (!allowed) {
		/* Quietly: nothing is written to the forge. */
		r->state = JOB_CANCELLED;
		free(r->error);
		r->error = xasprintf("%s may not write to %s; nothing was run",
		    r->job.requested_by ? r->job.requested_by : "nobody",
		    r->job.repo);
		return -1;
	}
	return finish_step(r, JOB_STEP_ACKNOWLEDGE, "acknowledged");
}

/* One pass of acknowledge_queued: what the job's kind asks of the forge. */
static int
acknowledge_pass(struct run *r, bool is_help, bool is_cancel, bool *allowed,
    char *err, size_t errlen)
{
	if (is_help)
		return publish_help(r->pub, allowed, err, errlen);
	if (is_cancel)
		return publish_permit(r->pub, allowed, err, errlen);
	return publish_acknowledge(r->pub, store_queue_position(r->st,
	    r->job.id), allowed, err, errlen);
}

/* `runner --job N --acknowledge`: for a queued job, before it has a run
 * slot. A failure leaves it to the job's own runner (a cancel or help
 * request: to another acknowledging runner). Cancel and help requests
 * end here, decided: whether their requester may write is asked of the
 * forge, and only then is the thread's work stopped. */
static int
acknowledge_queued(struct run *r)
{
	char err[1024], *why;
	bool allowed = false, is_help, is_cancel;
	int rc = 0, pass, ended = 0;

	if ((r->pub = publish_open(r->cfg, r->st, &r->job, err,
	    sizeof(err))) == NULL) {
		store_ack_abandon(r->st, r->job.id);
		return RUNNER_EXIT_ENDED;
	}
	is_help = r->job.kind == JOB_HELP;
	is_cancel = r->job.kind == JOB_CANCEL;
	why = xasprintf("%s may not write to %s; nothing was %s",
	    r->job.nrequests <= 1 && r->job.requested_by ?
	    r->job.requested_by : "no one who asked", r->job.repo,
	    is_cancel ? "cancelled" : "run");
	/* A refusal stands only if no request was folded in meanwhile. */
	for (pass = 0; pass < 4; pass++) {
		rc = acknowledge_pass(r, is_help, is_cancel, &allowed, err,
		    sizeof(err));
		if (rc == -1 || allowed ||
		    (ended = store_job_refuse(r->st, r->job.id, why)) != 0)
			break;
	}
	if (rc == -1 || (!allowed && ended != 1)) {
		log_warn("job %lld: acknowledge: %s", (long long)r->job.id,
		    rc == -1 ? err : ended == -1 ? store_error(r->st) :
		    "requests keep coming");
		store_ack_abandon(r->st, r->job.id);
		free(why);
		return RUNNER_EXIT_ENDED;
	}
	if (!allowed) {
		/* Quietly: a refused cancel changes nothing either. */
		store_step_end(r->st, r->job.id, JOB_STEP_ACKNOWLEDGE, "refused");
		log_info("job %lld: %s", (long long)r->job.id, why);
		free(why);
		return RUNNER_EXIT_ENDED;
	}
	free(why);
	/* The request is answered before the step ends: a failure leaves
	 * the step open, abandoned by serve and tried again. */
	if ((is_help && store_job_finish(r->st, r->job.id, JOB_DONE,
	    "answered with the list of commands", NULL) == -1) ||
	    (is_cancel && store_job_control(r->st, r->job.id) == -1) ||
	    store_step_end(r->st, r->job.id, JOB_STEP_ACKNOWLEDGE,
	    "acknowledged") == -1)
		return RUNNER_EXIT_FAILED;
	log_info("job %lld: %s", (long long)r->job.id, is_help ?
	    "help answered" : is_cancel ? "cancel done: the thread's jobs"
	    " were stopped" : "acknowledged while queued");
	return RUNNER_EXIT_ENDED;
}

static int
step_push(struct run *r)
{
	char err[1024], why[512];

	if (begin(r, JOB_STEP_PUSH) == -1)
		return -1;
	if (publish_push(r->pub, r->ws, why, sizeof(why), err,
	    sizeof(err)) == -1) {
		fail(r, "%s", err);
		if (*why)
			r->public = xasprintf("the forge refused the push of"
			    " %s (%s)", r->job.branch, why);
		return -1;
	}
	return finish_step(r, JOB_STEP_PUSH, r->job.branch);
}

static int
step_publish(struct run *r)
{
	char err[1024];

	if (begin(r, JOB_STEP_PUBLISH) == -1)
		return -1;
	if (publish_pr(r->pub, r->summary, r->change.diffstat, err,
	    sizeof(err)) == -1)
		return fail(r, "publish: %s", err);
	return finish_step(r, JOB_STEP_PUBLISH, publish_pr_url(r->pub));
}

/* After collect, when the forge is to hear of it: the branch, then the
 * pull request. */
static int
steps_publish(struct run *r)
{
	if (r->pub == NULL || !r->change.is_changed)
		return 0;
	if (step_push(r) == -1 || interrupted || step_publish(r) == -1)
		return -1;
	return 0;
}

static void
clean_dir(struct run *r)
{
	static const char *const parts[] = { "seed", "merged", "out",
	    "collect.out", "handoff", "etc", "fs" };
	size_t i;
	char *p;

	jobfs_stop(&r->fs);
	jobfs_discard(r->dir);
	for (i = 0; i < nitems(parts); i++) {
		p = path(r, parts[i]);
		util_rmtree(p);
		free(p);
	}
}

/* The steps from where the job stands. Returns the exit status. */
static int
run_steps(struct run *r)
{
	char err[512], *logp, *result = NULL;
	struct sigaction sa;
	int ended;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* As root the sandbox runs as another user, who reads the mirror's
	 * objects and the task as anyone may (data_dir itself is 0700). */
	if (geteuid() == 0)
		umask(022);

	r->dir = xasprintf("%s/jobs/%lld", r->cfg->data_dir,
	    (long long)r->job.id);
	if (util_mkdirs(r->dir, 0700) == -1) {
		log_error("job %lld: create %s: %s", (long long)r->job.id,
		    r->dir, strerror(errno));
		return RUNNER_EXIT_FAILED;
	}
	logp = path(r, "log");
	r->log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	free(logp);
	if (r->log_fd == -1) {
		log_error("job %lld: open log: %s", (long long)r->job.id,
		    strerror(errno));
		return RUNNER_EXIT_FAILED;
	}
	store_job_runner(r->st, r->job.id, (long)getpid());
	logline(r, "job %lld (%s) on %s, attempt %d", (long long)r->job.id,
	    job_kind_name(r->kind), r->job.branch, r->job.attempts);
	if (r->job.cancel_requested) {
		r->state = JOB_CANCELLED;
		r->error = xstrdup("cancelled");
		goto end;
	}
	if ((r->pub = publish_open(r->cfg, r->st, &r->job, err,
	    sizeof(err))) == NULL && err[0] != '\0') {
		fail(r, "acknowledge: %s", err);
		goto end;
	}
	if (r->pub == NULL && r->job.forge != FORGE_LOCAL)
		logline(r, "no credentials for %s: the result stays in"
		    " handoff's mirror", forge_name(r->job.forge));
	if (r->pub && (step_acknowledge(r) == -1 || interrupted))
		goto end;
	/* Resume where the last attempt stopped: after collect, only the
	 * forge is left; after the agent's run (its filesystem still on
	 * disk: as root, an image), collect and the rest; otherwise start
	 * over (each step is safe to repeat). */
	if (store_step_ended(r->st, r->job.id, JOB_STEP_COLLECT) == 1 &&
	    r->job.base_commit) {
		logline(r, "resuming after collect");
		if (open_mirror(r, err, sizeof(err)) == -1) {
			fail(r, "workspace: %s", err);
			goto end;
		}
		r->summary = xstrdup(r->job.summary ? r->job.summary : "");
		r->change.diffstat = r->job.diffstat ?
		    xstrdup(r->job.diffstat) : NULL;
		if (r->job.head_commit) {
			snprintf(r->change.head, sizeof(r->change.head), "%s",
			    r->job.head_commit);
			r->change.is_changed = true;
		}
		if (steps_publish(r) == -1)
			goto end;
		goto done;
	}
	ended = store_step_ended(r->st, r->job.id, JOB_STEP_SANDBOX);
	if (ended == 1 && jobfs_has_image(r->dir) && r->job.base_commit) {
		logline(r, "resuming at collect");
		if (open_mirror(r, err, sizeof(err)) == -1) {
			fail(r, "workspace: %s", err);
			goto end;
		}
		if (choose_base(r) == -1 || ws_base_tree(r->ws,
		    r->cfg->data_dir, r->base, &r->files, &r->index,
		    &r->tree_lock, err, sizeof(err)) == -1) {
			if (r->error == NULL)
				fail(r, "workspace: %s", err);
			goto end;
		}
		if (step_collect(r) == -1 || interrupted ||
		    steps_publish(r) == -1)
			goto end;
		goto done;
	}
	if (step_workspace(r) == -1 || interrupted || step_task(r) == -1 ||
	    interrupted || step_sandbox(r) == -1 || interrupted ||
	    step_collect(r) == -1 || interrupted || steps_publish(r) == -1)
		goto end;
done:
	r->state = JOB_DONE;
	if (publish_pr_url(r->pub))
		result = xasprintf("pull request %s", publish_pr_url(r->pub));
	else if (r->change.is_changed)
		result = xasprintf("committed %.12s on %s: %d file%s changed",
		    r->change.head, r->job.branch, r->change.files_changed,
		    r->change.files_changed == 1 ? "" : "s");
	else
		result = xstrdup("no changes");
end:
	if (interrupted && !job_state_is_over(r->state)) {
		logline(r, "stopped by a signal; the job resumes at its step");
		free(result);
		return RUNNER_EXIT_STOPPED;
	}
	if (!job_state_is_over(r->state)) {
		/* A store error: leave the job running for serve to resume. */
		free(result);
		return RUNNER_EXIT_FAILED;
	}
	logline(r, "job %s: %s", job_state_name(r->state), r->error ?
	    r->error : result);
	if (r->state == JOB_DONE)
		publish_status(r->pub, r->change.is_changed ? PS_DONE :
		    PS_NO_CHANGES,
		    r->change.is_changed ? r->change.diffstat : r->summary);
	else if (r->state == JOB_CANCELLED)
		publish_status(r->pub, PS_CANCELLED, NULL);
	else {
		char *why = told(r);

		publish_failed(r->pub, why, r->output);
		free(why);
	}
	if (store_job_finish(r->st, r->job.id, r->state, result,
	    r->error) == -1) {
		log_error("job %lld: store: %s", (long long)r->job.id,
		    store_error(r->st));
		free(result);
		return RUNNER_EXIT_FAILED;
	}
	free(result);
	clean_dir(r);
	return RUNNER_EXIT_ENDED;
}

static void
run_free(struct run *r)
{
	publish_close(r->pub);
	store_job_clear(&r->job);
	jobfs_stop(&r->fs);	/* an image stays for the next attempt */
	ws_close(r->ws);
	free(r->dir);
	free(r->files);
	free(r->index);
	free(r->summary);
	free(r->change.diffstat);
	free(r->error);
	free(r->public);
	free(r->output);
	if (r->log_fd > 2)
		close(r->log_fd);
	if (r->tree_lock > 2)
		close(r->tree_lock);
}

static char *
lock_path(const char *data_dir, int64_t job)
{
	return xasprintf("%s/jobs/%lld/runner.lock", data_dir, (long long)job);
}

/*
 * Take the job's lock, held while this runner runs its steps: serve starting
 * meanwhile leaves the job and its sandbox alone, and a second runner of it
 * does not start. Then read the job again, as it is now that the lock is
 * ours. Returns the lock's descriptor, or -1 having said why on stderr.
 */
static int
lock_job(struct run *r)
{
	int64_t id = r->job.id;
	char *dir = xasprintf("%s/jobs/%lld", r->cfg->data_dir, (long long)id);
	char *p = lock_path(r->cfg->data_dir, id);
	long holder = 0;
	int fd = -1, found;

	if (util_mkdirs(dir, 0700) == -1 ||
	    (fd = util_lock_pid(p, &holder)) == -1) {
		if (errno == EWOULDBLOCK && holder > 0)
			fprintf(stderr, "handoff: job %lld: runner %ld runs it"
			    " already\n", (long long)id, holder);
		else if (errno == EWOULDBLOCK)
			fprintf(stderr, "handoff: job %lld: another runner runs"
			    " it already\n", (long long)id);
		else
			fprintf(stderr, "handoff: job %lld: lock %s: %s\n",
			    (long long)id, p, strerror(errno));
		goto out;
	}
	store_job_clear(&r->job);
	if ((found = store_job_load(r->st, id, &r->job)) != 1) {
		fprintf(stderr, "handoff: job %lld: %s\n", (long long)id,
		    found == 0 ? "no such job" : store_error(r->st));
		close(fd);
		fd = -1;
	}
out:
	free(dir);
	free(p);
	return fd;
}

long
runner_running(const char *data_dir, int64_t job)
{
	char *p = lock_path(data_dir, job);
	long pid;
	int held = util_lock_held(p, &pid);

	free(p);
	if (held == 0)
		return 0;
	return held == 1 && pid > 0 ? pid : -1;	/* unreadable: assume one */
}

int
runner_main(const struct config *cfg, int argc, char **argv)
{
	struct run r = { 0 };
	long long id;
	char err[512];
	int status, found, lock = -1;

	if (argc < 2 || argc > 3 || strcmp(argv[0], "--job") != 0 ||
	    util_parse_int(argv[1], 1, INT64_MAX, &id) == -1 ||
	    (argc == 3 && strcmp(argv[2], "--acknowledge") != 0)) {
		fprintf(stderr, "usage: handoff runner --job JOB"
		    " [--acknowledge]\n");
		return 2;
	}
	r.cfg = cfg;
	r.log_fd = r.tree_lock = -1;
	if ((r.st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "handoff: %s\n", err);
		return RUNNER_EXIT_FAILED;
	}
	git_libgit2_init();
	if ((found = store_job_load(r.st, id, &r.job)) != 1) {
		fprintf(stderr, "handoff: job %lld: %s\n", id, found == 0 ?
		    "no such job" : store_error(r.st));
		status = found == 0 ? 2 : RUNNER_EXIT_FAILED;
	} else if (argc == 3) {
		status = r.job.state == JOB_QUEUED ?
		    acknowledge_queued(&r) : RUNNER_EXIT_ENDED;
	} else if ((lock = lock_job(&r)) == -1) {
		status = RUNNER_EXIT_FAILED;
	} else if (r.job.state != JOB_RUNNING) {
		fprintf(stderr, "handoff: job %lld is %s, not running\n", id,
		    job_state_name(r.job.state));
		status = RUNNER_EXIT_ENDED;
	} else {
		r.kind = r.job.origin;
		status = run_steps(&r);
	}
	if (lock != -1)
		close(lock);
	run_free(&r);
	store_close(r.st);
	git_libgit2_shutdown();
	return status;
}

static int
local_usage(void)
{
	fprintf(stderr, "usage: handoff run --repo DIR (--task TEXT |"
	    " --task-file F) [--branch NAME]\n");
	return 2;
}

int
runner_local(const struct config *cfg, int argc, char **argv)
{
	const char *repo = NULL, *task = NULL, *task_file = NULL;
	const char *branch = NULL;
	char real[PATH_MAX], err[1024], *text = NULL;
	struct run r = { 0 };
	int64_t id;
	int i, status = 1, lock = -1;

	for (i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return local_usage();
		if (strcmp(argv[i], "--repo") == 0)
			repo = argv[++i];
		else if (strcmp(argv[i], "--task") == 0)
			task = argv[++i];
		else if (strcmp(argv[i], "--task-file") == 0)
			task_file = argv[++i];
		else if (strcmp(argv[i], "--branch") == 0)
			branch = argv[++i];
		else
			return local_usage();
	}
	if (repo == NULL || (task == NULL) == (task_file == NULL))
		return local_usage();
	if (realpath(repo, real) == NULL) {
		fprintf(stderr, "handoff: --repo %s: %s\n", repo,
		    strerror(errno));
		return 2;
	}
	if (task_file) {
		if ((text = util_read_file(task_file, 1 << 20, NULL)) ==
		    NULL) {
			fprintf(stderr, "handoff: --task-file %s: %s\n",
			    task_file, strerror(errno));
			return 2;
		}
		task = text;
	}
	if (*task == '\0') {
		fprintf(stderr, "handoff: the task is empty\n");
		free(text);
		return 2;
	}
	git_libgit2_init();
	if (branch) {
		char *ref = xasprintf("refs/heads/%s", branch);
		int is_valid = git_reference_is_valid_name(ref);

		free(ref);
		if (!is_valid) {
			fprintf(stderr, "handoff: --branch %s: not a valid"
			    " branch name\n", branch);
			free(text);
			git_libgit2_shutdown();
			return 2;
		}
	}
	r.cfg = cfg;
	r.log_fd = r.tree_lock = -1;
	if ((r.st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "handoff: %s\n", err);
		goto out;
	}
	if ((id = store_local_job(r.st, cfg, real, task, branch)) == -1 ||
	    store_job_load(r.st, id, &r.job) != 1) {
		fprintf(stderr, "handoff: store: %s\n", store_error(r.st));
		goto out;
	}
	if ((lock = lock_job(&r)) == -1) {
		store_job_finish(r.st, id, JOB_FAILED, NULL, "cannot lock the job");
		goto out;
	}
	r.kind = JOB_IMPLEMENT;
	status = run_steps(&r);
	if (status == RUNNER_EXIT_STOPPED) {
		store_job_finish(r.st, r.job.id, JOB_CANCELLED, NULL,
		    "interrupted");
		fprintf(stderr, "handoff: job %lld interrupted\n",
		    (long long)r.job.id);
		status = 130;
		goto out;
	}
	if (status != RUNNER_EXIT_ENDED) {
		fprintf(stderr, "handoff: job %lld: store error\n",
		    (long long)r.job.id);
		status = 1;
		goto out;
	}
	/* The agent's words (and a title in them) are shown as text on a
	 * terminal: they can hold escape sequences. */
	if (r.state != JOB_DONE) {
		fprintf(stderr, "handoff: job %lld %s: ", (long long)r.job.id,
		    job_state_name(r.state));
		util_show(stderr, r.error ? r.error : "?", 0);
		fputc('\n', stderr);
		status = 1;
		goto out;
	}
	if (!r.change.is_changed) {
		printf("job: %lld\nno changes\n", (long long)r.job.id);
		if (r.summary && *r.summary) {
			printf("summary:\n");
			util_show(stdout, r.summary, 0);
			printf("\n");
		}
		status = 0;
		goto out;
	}
	if (ws_export(r.ws, r.job.branch, r.change.head, real, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "handoff: job %lld: %s\n", (long long)r.job.id,
		    err);
		store_job_finish(r.st, r.job.id, JOB_FAILED, NULL, err);
		status = 1;
		goto out;
	}
	printf("job: %lld\nbranch: ", (long long)r.job.id);
	util_show(stdout, r.job.branch, UTIL_ESC_LINE);
	printf("\ncommit: %s\n", r.change.head);
	util_show(stdout, r.change.diffstat ? r.change.diffstat : "", 0);
	if (r.summary && *r.summary) {
		printf("summary:\n");
		util_show(stdout, r.summary, 0);
		printf("%s", r.summary[strlen(r.summary) - 1] == '\n' ? "" :
		    "\n");
	}
	status = 0;
out:
	if (lock != -1)
		close(lock);
	run_free(&r);
	store_close(r.st);
	git_libgit2_shutdown();
	free(text);
	return status;
}
