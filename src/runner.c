/*
 * The runner: one job, straight-line, blocking. A job's life is the table
 * of steps below, run in order; each step is recorded in the store when it
 * starts and when it ends, so a runner killed anywhere resumes at the step
 * it was in (each step can run again), or after the last step whose result
 * is still there. The agent's work never touches the host: it is read back
 * by a second, read-only sandbox that hands over a pack of objects and two
 * ids.
 */
#include <ctype.h>
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
static const struct step steps[JOB_STEP_END] = {
	[JOB_STEP_ACKNOWLEDGE] = { .ready = step_acknowledge_ready,
	    .run = step_acknowledge, .flags = STEP_FORGE | STEP_QUEUED },
	[JOB_STEP_WORKSPACE] = { .run = step_workspace,
	    .restore = step_workspace_restore, .flags = STEP_TREE },
	[JOB_STEP_SETUP] = { .ready = step_setup_ready, .run = step_setup,
	    .flags = STEP_TREE },
	[JOB_STEP_TASK] = { .run = step_task },
	[JOB_STEP_SANDBOX] = { .ready = step_sandbox_ready,
	    .run = step_sandbox, .kept = step_sandbox_kept,
	    .resumed = "resuming at collect", .flags = STEP_TREE | STEP_NET },
	[JOB_STEP_COLLECT] = { .run = step_collect, .kept = step_collect_kept,
	    .restore = step_collect_restore, .ended = step_collect_ended,
	    .resumed = "resuming after collect", .flags = STEP_TREE },
	[JOB_STEP_PUSH] = { .run = step_push,
	    .flags = STEP_FORGE | STEP_CHANGED },
	[JOB_STEP_PUBLISH] = { .run = step_publish,
	    .flags = STEP_FORGE | STEP_CHANGED },
};
#define FIRST_STEP	(JOB_STEP_NONE + 1)

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

/* Whether text starts by naming job id ("job 7 (implement) on ..."). */
static bool
names_job(const char *text, int64_t id)
{
	char *end;

	if (strncmp(text, "job ", 4) != 0 || !isdigit((unsigned char)text[4]))
		return false;
	return strtoll(text + 4, &end, 10) == id && (*end == ' ' ||
	    *end == ':' || *end == '\0');
}

/*
 * A step line in the job's log, as handoff's own voice among the agent's.
 * handoff's own log gets its first line, prefixed with the job unless it
 * names it already: an agent's output in an error (a failure's tail) is
 * the job log's, shown once.
 */
void
run_log(struct run *r, const char *fmt, ...)
{
	char when[32], *text, *line;
	size_t first;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	util_time_rfc3339(util_now_ms(), when, sizeof(when));
	line = xasprintf("%s handoff: %s\n", when, text);
	if (r->log_fd != -1 && write(r->log_fd, line, strlen(line)) == -1)
		log_warn("job %lld: write log: %s", (long long)r->job.id,
		    strerror(errno));
	first = strcspn(text, "\n");
	if (names_job(text, r->job.id))
		log_info("%.*s%s", (int)first, text, text[first] ? " ..." : "");
	else
		log_info("job %lld: %.*s%s", (long long)r->job.id, (int)first,
		    text, text[first] ? " ..." : "");
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
	r->state = JOB_FAILED;
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
	r->state = JOB_CANCELLED;
	free(r->error);
	r->error = xstrdup(why);
	return -1;
}

bool
run_later(const struct run *r, unsigned flag)
{
	enum job_step i;

	for (i = r->from; i < JOB_STEP_END; i++)
		if (steps[i].flags & flag)
			return true;
	return false;
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
	if (r->step != JOB_STEP_NONE)
		return xasprintf("handoff could not finish the %s step; the"
		    " operator's log has the reason", job_step_name(r->step));
	return xstrdup("handoff could not finish the job; the operator's log"
	    " has the reason");
}

/* One row: skipped, not ready, or begun, run and recorded as ended. */
static int
run_row(struct run *r, enum job_step id)
{
	const struct step *s = &steps[id];
	const char *name = job_step_name(id);
	int rc;

	if (((s->flags & STEP_FORGE) && r->pub == NULL) ||
	    ((s->flags & STEP_CHANGED) && !r->change.is_changed))
		return 0;
	if (s->ready && (rc = s->ready(r)) != 0)
		return rc == 1 ? 0 : -1;
	run_log(r, "%s: started", name);
	r->step = id;
	if (store_step_begin(r->st, r->job.id, id) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	free(r->detail);
	r->detail = NULL;
	if ((s->flags & STEP_NET) && step_net_start(r) == -1)
		return -1;
	rc = s->run(r);
	if (s->flags & STEP_NET)
		step_net_stop(r);	/* may fail the step: a budget */
	if (rc == -1 || job_state_is_over(r->state))
		return -1;
	run_log(r, "%s: done%s%s", name, r->detail ? ": " : "",
	    r->detail ? r->detail : "");
	r->step = JOB_STEP_NONE;
	publish_count(r->pub);
	if (store_step_end(r->st, r->job.id, id, r->detail) == -1)
		return run_fail(r, "store: %s", store_error(r->st));
	if (s->ended)
		s->ended(r);
	return 0;
}

/* Where this attempt starts: after the last step that ended in an earlier
 * attempt and whose result is still there, else at the beginning (each
 * step is safe to repeat). */
static enum job_step
resume_from(struct run *r)
{
	enum job_step i;

	for (i = JOB_STEP_END - 1; i >= FIRST_STEP; i--)
		if (steps[i].kept && steps[i].kept(r) &&
		    store_step_ended(r->st, r->job.id, i) == 1) {
			run_log(r, "%s", steps[i].resumed);
			return i + 1;
		}
	return FIRST_STEP;
}

/* Make again what the steps before r->from made and the rest use. */
static int
restore(struct run *r)
{
	enum job_step i;

	for (i = FIRST_STEP; i < r->from; i++)
		if (steps[i].restore && steps[i].restore(r) == -1)
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
	    job_kind_name(r->kind), r->job.branch, r->job.attempts);
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

	if (run_interrupted && !job_state_is_over(r->state)) {
		run_log(r, "stopped by a signal; the job resumes at its step");
		return RUNNER_EXIT_STOPPED;
	}
	if (!job_state_is_over(r->state))	/* a store error: serve resumes it */
		return RUNNER_EXIT_FAILED;
	if (r->state == JOB_DONE)
		what = result(r);
	if (r->pub) {
		why = step_net_report(r);
		publish_meter(r->pub, why);
		free(why);
	}
	run_log(r, "job %s: %s", job_state_name(r->state), r->error ?
	    r->error : what);
	if (r->state == JOB_DONE)
		publish_status(r->pub, r->change.is_changed ? PS_DONE :
		    PS_NO_CHANGES,
		    r->change.is_changed ? r->change.diffstat : r->summary);
	else if (r->state == JOB_CANCELLED)
		publish_status(r->pub, PS_CANCELLED, NULL);
	else {
		why = told(r);
		publish_failed(r->pub, why, r->output);
		free(why);
	}
	/* Counted before the end: whoever sees the job ended sees them. */
	publish_count(r->pub);
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
	enum job_step i;
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
	if (r->pub == NULL && r->job.forge != FORGE_LOCAL)
		run_log(r, "no credentials for %s: the result stays in"
		    " handoff's mirror", forge_name(r->job.forge));
	r->from = resume_from(r);
	if (restore(r) == -1)
		return end_job(r);
	for (i = r->from; i < JOB_STEP_END; i++)
		if ((i > FIRST_STEP && run_interrupted) || run_row(r, i) == -1)
			return end_job(r);
	r->state = JOB_DONE;
	return end_job(r);
}

void
run_free(struct run *r)
{
	publish_count(r->pub);	/* what a stop or an early return left */
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
	devc_free(r->setup.devc);
	free(r->setup_layer);
	for (size_t i = 0; i < nitems(r->setup_dirs); i++)
		free(r->setup_dirs[i]);
	if (r->setup_lock > 2)
		close(r->setup_lock);
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
			log_error("job %lld: runner %ld runs it already",
			    (long long)id, holder);
		else if (errno == EWOULDBLOCK)
			log_error("job %lld: another runner runs it"
			    " already", (long long)id);
		else
			log_error("job %lld: lock %s: %s", (long long)id, p,
			    strerror(errno));
		goto out;
	}
	store_job_clear(&r->job);
	if ((found = store_job_load(r->st, id, &r->job)) != 1) {
		log_error("job %lld: %s", (long long)id,
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
	enum job_step i;
	char err[1024];
	bool is_help = r->job.kind == JOB_HELP;
	bool is_cancel = r->job.kind == JOB_CANCEL;
	int rc;

	if ((r->pub = publish_open(r->cfg, r->st, &r->job, err,
	    sizeof(err))) == NULL) {
		store_ack_abandon(r->st, r->job.id);
		return RUNNER_EXIT_ENDED;
	}
	r->is_queued = true;
	for (i = FIRST_STEP; i < JOB_STEP_END; i++) {
		if (!(steps[i].flags & STEP_QUEUED))
			continue;
		rc = steps[i].run(r);
		publish_count(r->pub);	/* before the step's end is seen */
		if (rc == -1 && r->state == JOB_CANCELLED) {
			/* Quietly: a refused cancel changes nothing either;
			 * the store ended the job. */
			store_step_end(r->st, r->job.id, i, "refused");
			log_info("job %lld: %s", (long long)r->job.id,
			    r->error);
			return RUNNER_EXIT_ENDED;
		}
		if (job_state_is_over(r->state)) {
			log_warn("job %lld: %s", (long long)r->job.id,
			    r->error);
			store_ack_abandon(r->st, r->job.id);
			return RUNNER_EXIT_ENDED;
		}
		/* The request is answered before the step ends: a failure
		 * leaves the step open, abandoned by serve and tried again. */
		if ((is_help && store_job_finish(r->st, r->job.id, JOB_DONE,
		    "answered with the list of commands", NULL) == -1) ||
		    (is_cancel && store_job_control(r->st, r->job.id) == -1) ||
		    store_step_end(r->st, r->job.id, i, r->detail) == -1)
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
	/* A runner outlives serve: its stderr (serve's) may be a pipe whose
	 * reader is gone, and a log line must not end the job. */
	signal(SIGPIPE, SIG_IGN);
	r.cfg = cfg;
	r.log_fd = r.tree_lock = r.setup_lock = -1;
	if ((r.st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		log_error("runner: %s", err);
		return RUNNER_EXIT_FAILED;
	}
	git_libgit2_init();
	/* From here on, cfg is the settings of the job's repository ([repo]
	 * sections): main loaded it for this process alone. */
	if ((found = store_job_load(r.st, id, &r.job)) == 1)
		config_apply_repo((struct config *)cfg, r.job.repo);
	if (found != 1) {
		log_error("job %lld: %s", id, found == 0 ? "no such job" :
		    store_error(r.st));
		status = found == 0 ? 2 : RUNNER_EXIT_FAILED;
	} else if (argc == 3) {
		status = r.job.state == JOB_QUEUED ?
		    run_queued(&r) : RUNNER_EXIT_ENDED;
	} else if ((lock = run_lock(&r)) == -1) {
		status = RUNNER_EXIT_FAILED;
	} else if (r.job.state != JOB_RUNNING) {
		log_warn("job %lld is %s, not running", id,
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
