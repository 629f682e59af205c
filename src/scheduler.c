/*
 * Which queued job runs next is the store's decision (store_claim, in the
 * writer thread, so the loop never waits on SQLite); starting and watching
 * runner processes is this module's. Runners are children with their own
 * session, so a terminal's ^C reaches serve only, and they outlive serve:
 * a serve stopped for an upgrade leaves them running, and the next one
 * adopts them (serve.c). Acknowledging runners and gc are short, redone at
 * the next start, and die with serve (PDEATHSIG).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "forge.h"
#include "log.h"
#include "runner.h"
#include "scheduler.h"
#include "store.h"
#include "util.h"

#define TICK_SEC	1
#define MAX_ACKS	4	/* acknowledging runners at once */
#define STOP_GRACE_MS	10000	/* for the children told to stop */

struct child {
	pid_t		 pid;
	int64_t		 job;
	bool		 is_ack;	/* runner --acknowledge */
	bool		 is_told;	/* sent SIGTERM by sched_halt */
	struct child	*next;
};

struct sched {
	struct event_base	*base;
	struct writer		*writer;
	const struct config	*cfg;
	char			 exe[PATH_MAX];
	struct event		*ev_tick, *ev_chld, *ev_kick, *ev_gc;
	pid_t			 gc;		/* `handoff gc --log`, or 0 */
	struct child		*children;
	int			 nchildren;	/* job runners */
	int			 nacks;		/* acknowledging runners */
	unsigned		 forges;	/* those with credentials */
	bool			 is_claiming, is_stopping, want_claim;
	bool			 is_claiming_ack, want_claim_ack;
	bool			 is_control_due;	/* cancel or help may wait */
};

static void claim(struct sched *s);

/* Fork and exec `handoff -c CONFIG args...` in a session of its own; one
 * that is_bound dies with serve. Returns its pid, or -1 (errno set). */
static pid_t
start_child(struct sched *s, char *const args[], size_t nargs, bool is_bound)
{
	char *argv[8] = { "handoff", "-c", s->cfg->path };
	pid_t pid, parent = getpid();
	size_t i;

	for (i = 0; i < nargs && i + 4 < nitems(argv); i++)
		argv[3 + i] = args[i];
	if ((pid = fork()) != 0)
		return pid;
	setsid();
	if (is_bound) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(RUNNER_EXIT_STOPPED);
	}
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execv(s->exe, argv);
	_exit(127);
}

static void
spawn(struct sched *s, int64_t job, bool is_ack)
{
	char id[32];
	char *args[] = { "runner", "--job", id, "--acknowledge" };
	struct child *c;
	pid_t pid;

	snprintf(id, sizeof(id), "%lld", (long long)job);
	if ((pid = start_child(s, args, is_ack ? 4 : 3, is_ack)) == -1) {
		log_error("scheduler: job %s: fork: %s", id, strerror(errno));
		return;	/* the job stays running: resumed at next start */
	}
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->job = job;
	c->is_ack = is_ack;
	c->next = s->children;
	s->children = c;
	if (is_ack)
		s->nacks++;
	else
		s->nchildren++;
	log_info("scheduler: job %s: %s %ld started", id, is_ack ?
	    "acknowledging runner" : "runner", (long)pid);
}

/* Every [store] gc_interval, `handoff gc --log` as a child of its own (it
 * opens the store itself, as runners do, and writes one line to the log);
 * one at a time. */
static void
sched_gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	char *args[] = { "gc", "--log" };
	pid_t pid;

	(void)fd;
	(void)what;
	if (s->gc != 0 || s->is_stopping)
		return;
	if ((pid = start_child(s, args, nitems(args), true)) == -1) {
		log_error("scheduler: gc: fork: %s", strerror(errno));
		return;
	}
	s->gc = pid;
}

static void
claim_done_cb(struct writer_req *req, void *arg)
{
	struct sched *s = arg;
	size_t i;

	s->is_claiming = false;
	if (req->rc == 0 && !s->is_stopping)
		for (i = 0; i < req->nclaimed; i++)
			spawn(s, req->claimed[i], false);
	writer_req_free(req);
	if (s->want_claim && !s->is_stopping)
		claim(s);
}

static void claim_ack(struct sched *s);

static void
claim_ack_done_cb(struct writer_req *req, void *arg)
{
	struct sched *s = arg;
	size_t i;

	s->is_claiming_ack = false;
	if (req->rc == 0 && !s->is_stopping)
		for (i = 0; i < req->nclaimed; i++)
			spawn(s, req->claimed[i], true);
	writer_req_free(req);
	/* A request queued meanwhile (a cancel among them) is not left
	 * for the next tick. */
	if (s->want_claim_ack)
		claim_ack(s);
}

/* Queued jobs are acknowledged (permission, 👀, the status comment with
 * their place in line) by short runners of their own, without waiting for
 * a run slot. */
static void
claim_ack(struct sched *s)
{
	struct writer_req *req;

	if (s->forges == 0 || s->is_stopping)
		return;
	s->want_claim_ack = s->is_claiming_ack;
	if (s->is_claiming_ack || s->nacks >= MAX_ACKS)
		return;
	req = xcalloc(1, sizeof(*req));
	req->op = WRITER_CLAIM_ACK;
	req->forges = s->forges;
	req->claim_max = (size_t)(MAX_ACKS - s->nacks);
	req->done_cb = claim_ack_done_cb;
	req->arg = s;
	s->is_claiming_ack = true;
	writer_submit(s->writer, req);
}

static void
claim(struct sched *s)
{
	struct writer_req *req;

	claim_ack(s);

	s->want_claim = false;
	if (s->is_claiming) {
		s->want_claim = true;
		return;
	}
	/* With every run slot taken, the claim still answers the cancel
	 * and help requests the store decides: they need no slot. */
	if (s->is_stopping || (s->nchildren >= s->cfg->max_parallel &&
	    !s->is_control_due))
		return;
	s->is_control_due = false;
	req = xcalloc(1, sizeof(*req));
	req->op = WRITER_CLAIM;
	req->forges = s->forges;
	req->claim_max = s->nchildren >= s->cfg->max_parallel ? 0 :
	    (size_t)(s->cfg->max_parallel - s->nchildren);
	req->done_cb = claim_done_cb;
	req->arg = s;
	s->is_claiming = true;
	writer_submit(s->writer, req);
}

static void
lost_done_cb(struct writer_req *req, void *arg)
{
	struct sched *s = arg;

	if (req->rc == 0 && req->requeued)
		log_warn("scheduler: job %lld: queued again to resume",
		    (long long)req->job);
	writer_req_free(req);
	claim(s);
}

static void
sched_chld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;
	struct child **pp, *c;
	struct writer_req *req;
	int status;
	pid_t pid;

	(void)fd;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (pp = &s->children; *pp && (*pp)->pid != pid;
		    pp = &(*pp)->next)
			;
		if (pid == s->gc) {
			s->gc = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warn("scheduler: gc %ld ended with status"
				    " %d", (long)pid, status);
			continue;
		}
		if ((c = *pp) == NULL)
			continue;
		*pp = c->next;
		if (c->is_ack) {
			s->nacks--;
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
			    !s->is_stopping) {
				/* Its job's runner acknowledges it instead. */
				req = xcalloc(1, sizeof(*req));
				req->op = WRITER_ACK_ABANDON;
				req->job = c->job;
				req->done_cb = lost_done_cb;
				req->arg = s;
				writer_submit(s->writer, req);
			}
			free(c);
			continue;
		}
		s->nchildren--;
		if (WIFEXITED(status) && WEXITSTATUS(status) ==
		    RUNNER_EXIT_ENDED) {
			log_info("scheduler: job %lld: runner %ld finished",
			    (long long)c->job, (long)pid);
		} else {
			/* The job may still say running: resume or fail it,
			 * never forget it. */
			req = xcalloc(1, sizeof(*req));
			req->op = WRITER_LOST;
			req->job = c->job;
			if (WIFSIGNALED(status))
				req->why = xasprintf("the runner was killed by"
				    " signal %d", WTERMSIG(status));
			else
				req->why = xasprintf("the runner exited with"
				    " status %d", WEXITSTATUS(status));
			log_warn("scheduler: job %lld: %s", (long long)c->job,
			    req->why);
			req->done_cb = lost_done_cb;
			req->arg = s;
			if (!s->is_stopping)
				writer_submit(s->writer, req);
			else
				writer_req_free(req);
		}
		free(c);
	}
	claim(s);
}

static void
sched_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	s->is_control_due = true;
	claim(s);
}

static void
sched_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	claim(arg);
}

/* The forges handoff has credentials for, as a set for the store. */
static unsigned
sched_forges(const struct config *cfg)
{
	static const enum forge all[] = { FORGE_GITHUB, FORGE_GITLAB };
	unsigned set = 0;
	size_t i;

	for (i = 0; i < nitems(all); i++)
		if (forge_configured(cfg, forge_name(all[i])))
			set |= JOB_FORGE_BIT(all[i]);
	return set;
}

struct sched *
sched_start(struct event_base *base, struct writer *w,
    const struct config *cfg, char *err, size_t errlen)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	struct timeval tv = { TICK_SEC, 0 }, gc_tv;

	s->base = base;
	s->writer = w;
	s->cfg = cfg;
	s->forges = sched_forges(cfg);
	/* The binary itself, even if the file is replaced meanwhile. */
	if (util_self_exe(s->exe, sizeof(s->exe)) == -1) {
		snprintf(err, errlen, "scheduler: find own binary: %s",
		    strerror(errno));
		free(s);
		return NULL;
	}
	s->ev_tick = event_new(base, -1, EV_PERSIST, sched_tick_cb, s);
	s->ev_chld = evsignal_new(base, SIGCHLD, sched_chld_cb, s);
	s->ev_kick = event_new(base, -1, 0, sched_kick_cb, s);
	s->ev_gc = event_new(base, -1, EV_PERSIST, sched_gc_cb, s);
	gc_tv.tv_sec = cfg->gc_interval_ms / 1000;
	gc_tv.tv_usec = (cfg->gc_interval_ms % 1000) * 1000;
	if (event_add(s->ev_tick, &tv) == -1 ||
	    event_add(s->ev_gc, &gc_tv) == -1 ||
	    event_add(s->ev_chld, NULL) == -1) {
		snprintf(err, errlen, "scheduler: cannot register events");
		sched_free(s);
		return NULL;
	}
	s->is_control_due = true;
	event_active(s->ev_kick, 0, 0);
	return s;
}

void
sched_kick(struct sched *s)
{
	if (s != NULL && !s->is_stopping)
		event_active(s->ev_kick, 0, 0);
}

void
sched_kick_control(struct sched *s)
{
	if (s != NULL && !s->is_stopping) {
		s->is_control_due = true;
		event_active(s->ev_kick, 0, 0);
	}
}

int
sched_active(const struct sched *s)
{
	return s ? s->nchildren : 0;
}

void
sched_halt(struct sched *s, bool stop_runners)
{
	struct child *c;

	if (s == NULL)
		return;
	s->is_stopping = true;
	for (c = s->children; c != NULL; c = c->next)
		if ((c->is_ack || stop_runners) && !c->is_told) {
			kill(c->pid, SIGTERM);
			c->is_told = true;
		}
	if (s->gc != 0)
		kill(s->gc, SIGTERM);
	if (s->ev_tick)
		event_del(s->ev_tick);
	if (s->ev_gc)
		event_del(s->ev_gc);
}

/* Reap *pp if it ended, taking it off the list; whether it did. */
static bool
reap(struct child **pp)
{
	struct child *c = *pp;
	pid_t pid = waitpid(c->pid, NULL, WNOHANG);

	if (pid == 0 || (pid == -1 && errno == EINTR))
		return false;
	if (!c->is_ack)
		log_info("scheduler: job %lld: runner %ld stopped",
		    (long long)c->job, (long)c->pid);
	*pp = c->next;
	free(c);
	return true;
}

void
sched_wait(struct sched *s)
{
	int64_t deadline = util_mono_ms() + STOP_GRACE_MS;
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct child **pp;
	bool is_waiting;

	if (s == NULL)
		return;
	for (;;) {
		is_waiting = false;
		if (s->gc != 0 && waitpid(s->gc, NULL, WNOHANG) == 0)
			is_waiting = true;
		else
			s->gc = 0;
		for (pp = &s->children; *pp != NULL; ) {
			if ((*pp)->is_told && reap(pp))
				continue;
			is_waiting |= (*pp)->is_told;
			pp = &(*pp)->next;
		}
		if (!is_waiting)
			return;
		if (util_mono_ms() > deadline) {
			log_warn("scheduler: runners still stopping; their"
			    " jobs resume at a start after they end");
			return;
		}
		nanosleep(&pause, NULL);
	}
}

void
sched_free(struct sched *s)
{
	struct child *c, *next;

	if (s == NULL)
		return;
	for (c = s->children; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (s->ev_tick)
		event_free(s->ev_tick);
	if (s->ev_chld)
		event_free(s->ev_chld);
	if (s->ev_kick)
		event_free(s->ev_kick);
	if (s->ev_gc)
		event_free(s->ev_gc);
	free(s);
}
