/*
 * The runner: one job, straight-line, blocking. A job's life is the table
 * of steps below, run in order; each step is recorded in the store when it
 * starts and when it ends, so a runner killed anywhere resumes at the step
 * it was in (each step can run again), or after the last step whose result
 * is still there. The agent's work never touches the host: it is read back
 * by a second, read-only sandbox that hands over a pack of objects and two
 * ids.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "jobfs.h"
#include "log.h"
#include "run.h"
#include "runner.h"
#include "sandbox.h"
#include "text.h"
#include "util.h"

/*
 * What a job does, in order. A row with STEP_FORGE runs only when the job
 * has a forge to tell, one with STEP_CHANGED only when the agent changed
 * something; one with STEP_QUEUED also runs for a queued job before it has
 * a run slot (runner --acknowledge).
 */
static const struct step steps[] = {
	{ "acknowledge", .ready = step_acknowledge_ready,
	    .run = step_acknowledge, .flags = STEP_FORGE | STEP_QUEUED },
	{ "workspace", .run = step_workspace,
	    .restore = step_workspace_restore, .flags = STEP_TREE },
	{ "task", .run = step_task },
	{ "sandbox", .ready = step_sandbox_ready, .run = step_sandbox,
	    .kept = step_sandbox_kept, .resumed = "resuming at collect",
	    .flags = STEP_TREE },
	{ "collect", .run = step_collect, .kept = step_collect_kept,
	    .restore = step_collect_restore, .ended = step_collect_ended,
	    .resumed = "resuming after collect", .flags = STEP_TREE },
	{ "push", .run = step_push, .flags = STEP_FORGE | STEP_CHANGED },
	{ "publish", .run = step_publish, .flags = STEP_FORGE | STEP_CHANGED },
	{ NULL }
};

volatile sig_atomic_t run_interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	run_interrupted = 1;
}

char *
run_path(const struct run *r, const char *name)
{
	return xasprintf("%s/%s", r->dir, name);
}

/* A step line in the job's log, as handoff's own voice among the agent's. */
void
run_log(struct run *r, const char *fmt, ...)
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
	esc = text_term_escape(text, strlen(text), TEXT_ESC_LINE, NULL);
	log_info("job %lld: %s", (long long)r->job.id, esc);
	free(esc);
	free(line);
	free(text);
}

int
run_fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	free(r->error);
	va_start(ap, fmt);
	r->error = xvasprintf(fmt, ap);
	va_end(ap);
	free(r->public);
	r->public = NULL;	/* told() decides */
	r->state = "failed";
	return -1;
}

int
run_fail_public(struct run *r, const char *text)
{
	run_fail(r, "%s", text);
	r->public = xstrdup(text);
	return -1;
}

int
run_cancel(struct run *r, const char *why)
{
	r->state = "cancelled";
	free(r->error);
	r->error = xstrdup(why);
	return -1;
}

int
run_done(struct run *r, const char *detail)
{
	free(r->detail);
	r->detail = detail ? xstrdup(detail) : NULL;
	return 0;
}

int
run_make_dir(struct run *r, const char *name, bool is_empty, unsigned mode)
{
	char *p = run_path(r, name);
	int rc = 0;

	if (is_empty && util_rmtree(p) == -1)
		rc = run_fail(r, "workspace: empty %s: %s", p,
		    strerror(errno));
	else if (util_mkdirs(p, mode) == -1 || chmod(p, mode) == -1)
		rc = run_fail(r, "workspace: create %s: %s", p,
		    strerror(errno));
	free(p);
	return rc;
}

int
run_give_to_sandbox(struct run *r, const char *name)
{
	char *p;
	int rc = 0;

	if (geteuid() != 0)
		return 0;
	p = run_path(r, name);
	if (util_chown_tree(p, sandbox_host_uid(), sandbox_host_gid()) == -1)
		rc = run_fail(r, "workspace: give %s to the sandbox's user: %s",
		    p, strerror(errno));
	free(p);
	return rc;
}

/* What the people on the issue are told of a failure: what the step said
 * for them (run_fail_public, the agent's end, a refusal of the change or
 * of its push), else only which step handoff could not finish: the error
 * itself can hold host paths, addresses and handoff's own detail. Caller
 * frees. */
static char *
told(const struct run *r)
{
	if (r->public)
		return xstrdup(r->public);
	if (r->step)
		return xasprintf("handoff could not finish the %s step; the"
		    " operator's log has the reason", r->step);
	return xstrdup("handoff could not finish the job; the operator's log"
	    " has the reason");
}

/* One row: skipped, not ready, or begun, run and recorded as ended. */
static int
run_row(struct run *r, const struct step *s)
{
	int rc;

	if (((s->flags & STEP_FORGE) && r->pub == NULL) ||
	    ((s->flags & STEP_CHANGED) && !r->change.is_changed))
		return 0;
	if (s->ready && (rc = s->ready(r)) != 0)
		return rc == 1 ? 0 : -1;
	run_log(r, "%s: started", s->name);
	r->step = s->name;
	if (store_step_begin(r->st, r->job.id, s->name) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	free(r->detail);
	r->detail = NULL;
	if (s->run(r) == -1)
		return -1;
	run_log(r, "%s: done%s%s", s->name, r->detail ? ": " : "",
	    r->detail ? r->detail : "");
	r->step = NULL;
	if (store_step_end(r->st, r->job.id, s->name, r->detail) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	if (s->ended)
		s->ended(r);
	return 0;
}

/* Where this attempt starts: after the last step that ended in an earlier
 * attempt and whose result is still there, else at the beginning (each
 * step is safe to repeat). */
static const struct step *
resume_from(struct run *r)
{
	size_t i = nitems(steps) - 1;	/* the last is the table's end */

	while (i-- > 0)
		if (steps[i].kept && steps[i].kept(r) &&
		    store_step_ended(r->st, r->job.id, steps[i].name) == 1) {
			run_log(r, "%s", steps[i].resumed);
			return &steps[i + 1];
		}
	return &steps[0];
}

/* Make again what the steps before r->from made and the rest use. */
static int
restore(struct run *r)
{
	const struct step *s;

	for (s = steps; s < r->from; s++)
		if (s->restore && s->restore(r) == -1)
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
		p = run_path(r, parts[i]);
		util_rmtree(p);
		free(p);
	}
}

/* The job's directory and log, and the runner's pid in the store. */
static int
open_job(struct run *r)
{
	char *logp;

	r->dir = xasprintf("%s/jobs/%lld", r->cfg->data_dir,
	    (long long)r->job.id);
	if (util_mkdirs(r->dir, 0700) == -1) {
		log_error("job %lld: create %s: %s", (long long)r->job.id,
		    r->dir, strerror(errno));
		return -1;
	}
	logp = run_path(r, "log");
	r->log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	free(logp);
	if (r->log_fd == -1) {
		log_error("job %lld: open log: %s", (long long)r->job.id,
		    strerror(errno));
		return -1;
	}
	store_job_runner(r->st, r->job.id, (long)getpid());
	run_log(r, "job %lld (%s) on %s, attempt %d", (long long)r->job.id,
	    r->kind, r->job.branch, r->job.attempts);
	return 0;
}

/* What a job that did all its steps made, in a line. Caller frees. */
static char *
result(const struct run *r)
{
	if (publish_pr_url(r->pub))
		return xasprintf("pull request %s", publish_pr_url(r->pub));
	if (r->change.is_changed)
		return xasprintf("committed %.12s on %s: %d file%s changed",
		    r->change.head, r->job.branch, r->change.files_changed,
		    r->change.files_changed == 1 ? "" : "s");
	return xstrdup("no changes");
}

/* End the job once, however it ended: the forge is told, the store
 * records it, and the job's directory is emptied. */
static int
end_job(struct run *r)
{
	char *what = NULL, *why;

	if (run_interrupted && r->state == NULL) {
		run_log(r, "stopped by a signal; the job resumes at its step");
		return RUNNER_EXIT_STOPPED;
	}
	if (r->state == NULL)	/* a store error: serve resumes it */
		return RUNNER_EXIT_FAILED;
	if (strcmp(r->state, "done") == 0)
		what = result(r);
	run_log(r, "job %s: %s", r->state, r->error ? r->error : what);
	if (strcmp(r->state, "done") == 0)
		publish_status(r->pub, r->change.is_changed ? PS_DONE :
		    PS_NO_CHANGES,
		    r->change.is_changed ? r->change.diffstat : r->summary);
	else if (strcmp(r->state, "cancelled") == 0)
		publish_status(r->pub, PS_CANCELLED, NULL);
	else {
		why = told(r);
		publish_failed(r->pub, why, r->output);
		free(why);
	}
	if (store_job_finish(r->st, r->job.id, r->state, what,
	    r->error) == -1) {
		log_error("job %lld: store: %s", (long long)r->job.id,
		    store_error(r->st));
		free(what);
		return RUNNER_EXIT_FAILED;
	}
	free(what);
	clean_dir(r);
	return RUNNER_EXIT_ENDED;
}

int
run_steps(struct run *r)
{
	const struct step *s;
	struct sigaction sa;
	char err[512];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* As root the sandbox runs as another user, who reads the mirror's
	 * objects and the task as anyone may (data_dir itself is 0700). */
	if (geteuid() == 0)
		umask(022);
	if (open_job(r) == -1)
		return RUNNER_EXIT_FAILED;
	if (r->job.cancel_requested) {
		run_cancel(r, "cancelled");
		return end_job(r);
	}
	if ((r->pub = publish_open(r->cfg, r->st, &r->job, err,
	    sizeof(err))) == NULL && err[0] != '\0') {
		run_fail(r, "acknowledge: %s", err);
		return end_job(r);
	}
	if (r->pub == NULL && strcmp(r->job.forge, "local") != 0)
		run_log(r, "no credentials for %s: the result stays in"
		    " handoff's mirror", r->job.forge);
	r->from = resume_from(r);
	if (restore(r) == -1)
		return end_job(r);
	for (s = r->from; s->name != NULL; s++)
		if ((s > steps && run_interrupted) || run_row(r, s) == -1)
			return end_job(r);
	r->state = "done";
	return end_job(r);
}

void
run_free(struct run *r)
{
	publish_close(r->pub);
	store_job_clear(&r->job);
	jobfs_stop(&r->fs);	/* an image stays for the next attempt */
	mirror_close(r->mirror);
	free(r->dir);
	free(r->files);
	free(r->index);
	free(r->summary);
	free(r->change.diffstat);
	free(r->detail);
	free(r->error);
	free(r->public);
	free(r->output);
	if (r->log_fd > 2)
		close(r->log_fd);
	if (r->tree_lock > 2)
		close(r->tree_lock);
}

/* The kind the agent is told: a retry repeats what it retries. */
static const char *
effective_kind(struct run *r)
{
	struct job orig;
	static char kind[16];

	if (strcmp(r->job.kind, "retry") != 0 || r->job.retry_of == 0)
		return r->job.kind;
	if (store_job_load(r->st, r->job.retry_of, &orig) == 1) {
		snprintf(kind, sizeof(kind), "%s", strcmp(orig.kind,
		    "retry") == 0 ? "implement" : orig.kind);
		store_job_clear(&orig);
		return kind;
	}
	return "implement";
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
 * ours.
 */
int
run_lock(struct run *r)
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

/*
 * `runner --job N --acknowledge`: the rows a queued job runs before it has
 * a run slot (serve recorded their start). A failure leaves them to the
 * job's own runner (a cancel or help request: to another acknowledging
 * runner). Cancel and help requests end here, decided.
 */
static int
run_queued(struct run *r)
{
	const struct step *s;
	char err[1024];
	bool is_help = strcmp(r->job.kind, "help") == 0;
	bool is_cancel = strcmp(r->job.kind, "cancel") == 0;

	if ((r->pub = publish_open(r->cfg, r->st, &r->job, err,
	    sizeof(err))) == NULL) {
		store_ack_abandon(r->st, r->job.id);
		return RUNNER_EXIT_ENDED;
	}
	r->is_queued = true;
	for (s = steps; s->name != NULL; s++) {
		if (!(s->flags & STEP_QUEUED))
			continue;
		if (s->run(r) == -1 && r->state != NULL &&
		    strcmp(r->state, "cancelled") == 0) {
			/* Quietly: a refused cancel changes nothing either;
			 * the store ended the job. */
			store_step_end(r->st, r->job.id, s->name, "refused");
			log_info("job %lld: %s", (long long)r->job.id,
			    r->error);
			return RUNNER_EXIT_ENDED;
		}
		if (r->state != NULL) {
			log_warn("job %lld: %s", (long long)r->job.id,
			    r->error);
			store_ack_abandon(r->st, r->job.id);
			return RUNNER_EXIT_ENDED;
		}
		/* The request is answered before the step ends: a failure
		 * leaves the step open, abandoned by serve and tried again. */
		if ((is_help && store_job_finish(r->st, r->job.id, "done",
		    "answered with the list of commands", NULL) == -1) ||
		    (is_cancel && store_job_control(r->st, r->job.id) == -1) ||
		    store_step_end(r->st, r->job.id, s->name, r->detail) == -1)
			return RUNNER_EXIT_FAILED;
	}
	log_info("job %lld: %s", (long long)r->job.id, is_help ?
	    "help answered" : is_cancel ? "cancel done: the thread's jobs"
	    " were stopped" : "acknowledged while queued");
	return RUNNER_EXIT_ENDED;
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
		status = strcmp(r.job.state, "queued") == 0 ?
		    run_queued(&r) : RUNNER_EXIT_ENDED;
	} else if ((lock = run_lock(&r)) == -1) {
		status = RUNNER_EXIT_FAILED;
	} else if (strcmp(r.job.state, "running") != 0) {
		fprintf(stderr, "handoff: job %lld is %s, not running\n", id,
		    r.job.state);
		status = RUNNER_EXIT_ENDED;
	} else {
		r.kind = effective_kind(&r);
		status = run_steps(&r);
	}
	if (lock != -1)
		close(lock);
	run_free(&r);
	store_close(r.st);
	git_libgit2_shutdown();
	return status;
}
