/*
 * `handoff serve`: the event loop. Two HTTP listeners (httpd): the webhooks
 * on [server] listen, the status pages and metrics on [web] listen; the
 * store writer thread, the pages' reader threads and the scheduler run
 * beside them. This file wires them together and stops them.
 */
#include <sys/syscall.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config_check.h"
#include "httpd.h"
#include "intake.h"
#include "log.h"
#include "logtail.h"
#include "reader.h"
#include "cgroup.h"
#include "runner.h"
#include "scheduler.h"
#include "serve.h"
#include "store.h"
#include "util.h"
#include "web.h"

#define MAX_HEADERS_BYTES	(64 * 1024)
#define MAX_STREAM_BYTES	(1024 * 1024)
#define STOP_POLL_MS		100
#define STOP_GRACE_MS		10000
/* The status listener: browsers and live logs, not forges. */
#define WEB_MAX_CONNECTIONS	512
#define WEB_MAX_BODY_BYTES	(16 * 1024)
#define WEB_READERS		2

struct server {
	struct config		*cfg;
	struct event_base	*base;
	struct httpd		*httpd;		/* the [server] listen listener */
	struct httpd		*web_httpd;	/* the [web] listen listener */
	struct writer		*writer;
	struct reader		*reader;
	struct sched		*sched;
	struct intake		 intake;
	struct web		 web;
	bool			 is_stopping;
	bool			 stop_runners;	/* SIGQUIT: the runners too */
	int64_t			 stop_deadline_ms;
	struct event		*ev_stop, *ev_sigterm, *ev_sigint, *ev_sigquit;
	struct held		*held;		/* jobs live runners held at start */
};

/* Stopping: exit once no request is in flight and every answer is sent. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	int64_t now = util_mono_ms();
	bool is_idle = !httpd_is_busy(srv->httpd) &&
	    !httpd_is_busy(srv->web_httpd) &&
	    pool_inflight(srv->intake.pool) == 0 &&
	    writer_inflight(srv->writer) == 0 &&
	    reader_inflight(srv->reader) == 0;

	if (is_idle && ((httpd_is_flushed(srv->httpd) &&
	    httpd_is_flushed(srv->web_httpd)) ||
	    now > srv->stop_deadline_ms))
		event_base_loopexit(srv->base, NULL);
	else if (!is_idle && now > srv->stop_deadline_ms) {
		log_warn("serve: stopping with requests still in flight");
		event_base_loopexit(srv->base, NULL);
	}
}

static void held_stop(struct server *);

/*
 * SIGTERM and SIGINT stop serve alone: its runners and their sandboxes run
 * on, and the next serve adopts them (an upgrade costs no agent run).
 * SIGQUIT stops the runners too, its own and those it adopted; each leaves
 * its job to resume at its step at the next start.
 */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	const struct timeval tv = { 0, STOP_POLL_MS * 1000 };
	struct server *srv = arg;

	if (sig == SIGQUIT && !srv->stop_runners) {
		log_info("serve: %s: stopping the runners too",
		    strsignal((int)sig));
		srv->stop_runners = true;
		sched_halt(srv->sched, true);
		held_stop(srv);
	}
	if (srv->is_stopping)
		return;
	log_info("serve: %s: no new connections, finishing requests in "
	    "flight%s", strsignal((int)sig), srv->stop_runners ? "" :
	    "; runners run on");
	srv->is_stopping = true;
	srv->stop_deadline_ms = util_mono_ms() + STOP_GRACE_MS;
	sched_halt(srv->sched, srv->stop_runners);
	logtail_stop(srv->web.logtail);
	httpd_stop(srv->httpd);
	httpd_stop(srv->web_httpd);
	if (event_add(srv->ev_stop, &tv) == -1)
		fatalx(1, "serve: cannot register events");
}

/*
 * One daemon per data directory: a second would take the first one's
 * sandboxes for leftovers of a crash, kill them and run their jobs again.
 * The lock lives as long as this process (no runner inherits it). Returns
 * its descriptor, or -1 having said who holds it.
 */
static int
lock_data_dir(const struct config *cfg)
{
	char *path = xasprintf("%s/serve.lock", cfg->data_dir);
	long holder = 0;
	int fd = -1;

	if (util_mkdirs(cfg->data_dir, 0700) == -1)
		log_error("serve: create %s: %s", cfg->data_dir,
		    strerror(errno));
	else if ((fd = util_lock_pid(path, &holder)) != -1)
		;
	else if (errno == EWOULDBLOCK && holder > 0)
		log_error("serve: data_dir %s is in use by handoff serve, pid "
		    "%ld (%s)", cfg->data_dir, holder, path);
	else if (errno == EWOULDBLOCK)
		log_error("serve: data_dir %s is in use by another handoff "
		    "serve (%s)", cfg->data_dir, path);
	else
		log_error("serve: lock %s: %s", path, strerror(errno));
	free(path);
	return fd;
}

/*
 * A running job whose runner lived at start, adopted: a runner of the serve
 * stopped before this one (an upgrade), or `handoff runner` started by
 * hand. Its job's lock file, held only while the runner lives, names it:
 * a recycled pid holds no lock, so it is never taken for the runner. Its
 * end is seen on a pidfd; its outcome is in the store, where the runner
 * ended the job; should it stop without ending it, the job is handled as a
 * lost runner's (queued again, or failed after its attempts).
 */
struct held {
	struct server	*srv;
	int64_t		 job;
	long		 pid;
	int		 pidfd;
	struct event	*ev;
	struct held	*next;
};

/* For the start-up reaping: a group whose job's runner lives is its own. */
static bool
runner_lives(int64_t job, void *arg)
{
	const struct config *cfg = arg;

	return runner_running(cfg->data_dir, job) != 0;
}

/* For the start-up requeue: the same, remembering the runner to adopt. */
static bool
runner_holds(int64_t job, void *arg)
{
	struct server *srv = arg;
	struct held *h;
	long pid;

	if ((pid = runner_running(srv->cfg->data_dir, job)) == 0)
		return false;
	h = xcalloc(1, sizeof(*h));
	h->srv = srv;
	h->job = job;
	h->pid = pid;
	h->pidfd = -1;
	h->next = srv->held;
	srv->held = h;
	return true;
}

static void
held_free(struct server *srv, struct held *h)
{
	struct held **pp;

	for (pp = &srv->held; *pp != NULL && *pp != h; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = h->next;
	if (h->ev != NULL)
		event_free(h->ev);
	if (h->pidfd != -1)
		close(h->pidfd);
	free(h);
}

static void
held_lost_cb(struct writer_req *req, void *arg)
{
	struct server *srv = arg;

	if (req->rc == 0 && req->requeued)
		log_warn("serve: job %lld: queued again to resume",
		    (long long)req->job);
	writer_req_free(req);
	if (srv->sched != NULL)
		sched_kick(srv->sched);
}

/* h's runner is gone: its job, if still running, resumes (or fails after
 * its attempts, as when one of serve's own runners dies). */
static void
held_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;
	struct server *srv = h->srv;
	struct writer_req *req = xcalloc(1, sizeof(*req));

	req->op = WRITER_LOST;
	req->job = h->job;
	req->why = xasprintf("its runner %ld stopped", h->pid);
	req->done_cb = held_lost_cb;
	req->arg = srv;
	log_info("serve: job %lld: runner %ld has stopped", (long long)h->job,
	    h->pid);
	held_free(srv, h);
	if (!srv->is_stopping)
		writer_submit(srv->writer, req);
	else
		writer_req_free(req);
}

/* SIGQUIT: the adopted runners stop too. */
static void
held_stop(struct server *srv)
{
	struct held *h;

	for (h = srv->held; h != NULL; h = h->next)
		if (h->pidfd != -1 && syscall(SYS_pidfd_send_signal, h->pidfd,
		    SIGTERM, NULL, 0) == -1 && errno != ESRCH)
			log_warn("serve: job %lld: stop runner %ld: %s",
			    (long long)h->job, h->pid, strerror(errno));
}

/* Wait up to 10 s for the adopted runners told to stop (not children:
 * their pidfds turn readable when they end). */
static void
held_wait(struct server *srv)
{
	int64_t deadline = util_mono_ms() + STOP_GRACE_MS;
	struct pollfd pfd;
	struct held *h;
	int ms;

	for (h = srv->held; h != NULL; h = h->next) {
		if (h->pidfd == -1)
			continue;
		pfd.fd = h->pidfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		do {
			ms = (int)(deadline - util_mono_ms());
		} while (ms > 0 && poll(&pfd, 1, ms) == -1 && errno == EINTR);
		if (ms <= 0 || !(pfd.revents & POLLIN)) {
			log_warn("serve: runners still stopping; their jobs "
			    "resume at a start after they end");
			return;
		}
	}
}

/* Adopt the runners of the jobs held at start (a pidfd each). */
static void
watch_held(struct server *srv)
{
	struct held *h, *next;

	for (h = srv->held; h != NULL; h = next) {
		next = h->next;
		if (h->pid < 0) {
			log_warn("serve: job %lld: a runner of unknown pid holds"
			    " it; it resumes at a start after that runner ends",
			    (long long)h->job);
			held_free(srv, h);
			continue;
		}
		h->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)h->pid, 0);
		if (h->pidfd == -1 && errno != ESRCH) {
			log_warn("serve: job %lld: cannot watch runner %ld: %s;"
			    " it resumes at a start after that runner ends",
			    (long long)h->job, h->pid, strerror(errno));
			held_free(srv, h);
			continue;
		}
		/* Gone already, or gone before the pidfd (its pid reused):
		 * the pidfd is the runner's only if, once it is open, the
		 * lock is still held in that pid's name. */
		if (h->pidfd == -1 ||
		    runner_running(srv->cfg->data_dir, h->job) != h->pid) {
			held_gone_cb(-1, 0, h);
			continue;
		}
		log_info("serve: job %lld: adopted runner %ld, which runs it",
		    (long long)h->job, h->pid);
		h->ev = event_new(srv->base, h->pidfd, EV_READ, held_gone_cb, h);
		if (h->ev == NULL || event_add(h->ev, NULL) == -1)
			fatalx(1, "serve: cannot register events");
	}
}

/* The webhook listener: its limits, and who answers which path. */
static int
listen_http(struct server *srv)
{
	const struct httpd_limits lim = {
		.max_connections = srv->cfg->max_connections,
		.timeout_ms = srv->cfg->timeout_ms,
		.max_body_bytes = (size_t)srv->cfg->max_body_bytes,
		.max_headers_bytes = MAX_HEADERS_BYTES,
		.max_stream_bytes = MAX_STREAM_BYTES,
	};
	char err[512];

	if ((srv->httpd = httpd_new(srv->base, srv->cfg->listen, &lim, err,
	    sizeof(err))) == NULL) {
		log_error("serve: %s", err);
		return -1;
	}
	httpd_on_refused(srv->httpd, intake_refused_cb, &srv->intake);
	/* Deliveries: parsed by httpd, answered by the writer after the
	 * commit (httpd_route_msg); anything unusual still through evhttp. */
	httpd_route_msg(srv->httpd, INTAKE_GITHUB_PATH, intake_github_cb,
	    intake_github_msg_cb, &srv->intake);
	httpd_route_msg(srv->httpd, INTAKE_GITLAB_PATH, intake_gitlab_cb,
	    intake_gitlab_msg_cb, &srv->intake);
	httpd_route(srv->httpd, "/healthz", web_healthz_cb, &srv->web);
	httpd_route(srv->httpd, NULL, web_notfound_cb, &srv->web);
	return 0;
}

/* Whether "host:port" listens on loopback only. */
static bool
is_loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 ||
	    strncmp(listen, "[::1]:", 6) == 0 ||
	    strncmp(listen, "localhost:", 10) == 0;
}

/* The status listener: pages, live logs, metrics, health. */
static int
listen_web(struct server *srv)
{
	const struct httpd_limits lim = {
		.max_connections = WEB_MAX_CONNECTIONS,
		.timeout_ms = srv->cfg->timeout_ms,
		.max_body_bytes = WEB_MAX_BODY_BYTES,
		.max_headers_bytes = MAX_HEADERS_BYTES,
		.max_stream_bytes = MAX_STREAM_BYTES,
	};
	char err[512];

	if ((srv->reader = reader_start(srv->base, srv->cfg, WEB_READERS, err,
	    sizeof(err))) == NULL) {
		log_error("serve: %s", err);
		return -1;
	}
	srv->web.reader = srv->reader;
	srv->web.logtail = logtail_new(&srv->web);
	if ((srv->web_httpd = httpd_new(srv->base, srv->cfg->web_listen, &lim,
	    err, sizeof(err))) == NULL) {
		log_error("serve: [web] listen: %s", err);
		return -1;
	}
	httpd_route(srv->web_httpd, NULL, web_status_cb, &srv->web);
	if (!srv->web.has_token && !is_loopback(srv->cfg->web_listen))
		log_warn("serve: the status pages on %s show code and logs to "
		    "anyone who reaches them: set [web] token",
		    srv->cfg->web_listen);
	return 0;
}

/* [section] env names serve's environment does not set: the sandbox
 * will not get them, which may be meant. */
static void
warn_unset_env(const struct strlist *l, const char *section)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (getenv(l->v[i]) == NULL)
			log_warn("serve: [%s] env: %s is not set, so it will "
			    "not reach the sandbox", section, l->v[i]);
}

int
serve_main(struct config *cfg)
{
	struct server srv;
	struct store *st;
	char err[512], *prefix;
	int status = 1, n, lock;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if (config_check_host(cfg, err, sizeof(err)) == -1) {
		log_error("serve: %s", err);
		return 1;
	}
	warn_unset_env(&cfg->agent_env, "agent");
	warn_unset_env(&cfg->setup_env, "setup");
	if ((lock = lock_data_dir(cfg)) == -1)
		return 1;
	if ((srv.base = event_base_new()) == NULL)
		fatalx(1, "serve: cannot create the event loop");
	if ((st = store_open_writer(cfg->data_dir, err, sizeof(err))) == NULL) {
		log_error("serve: %s", err);
		goto out;
	}
	/* After a crash: sandboxes left behind are killed, and jobs that
	 * were running go back to the queue to resume at their step. Jobs
	 * a live runner holds are its own. */
	cgroup_delegate_serve();
	prefix = cgroup_prefix(cfg->data_dir);
	if ((n = cgroup_reap(prefix, runner_lives, cfg)) > 0)
		log_warn("serve: killed %d sandboxes left by an earlier run", n);
	free(prefix);
	if ((n = store_requeue_running(st, runner_holds, &srv)) > 0)
		log_info("serve: %d jobs left running will resume", n);
	else if (n == -1)
		log_error("serve: requeue running jobs: %s", store_error(st));
	if ((srv.writer = writer_start(srv.base, st, cfg, err,
	    sizeof(err))) == NULL) {
		log_error("serve: %s", err);
		store_close(st);
		goto out;
	}
	/* Under load, deliveries are authenticated and parsed on the intake
	 * workers, one a CPU; with few in flight, on the loop (hand_off). */
	if ((srv.intake.pool = pool_start(srv.base,
	    pool_default_threads(INTAKE_THREADS_MAX), "handoff-intake",
	    intake_worker_start, intake_worker_end, err, sizeof(err))) ==
	    NULL) {
		log_error("serve: %s", err);
		goto out;
	}
	srv.intake.cfg = cfg;
	srv.intake.writer = srv.writer;
	web_init(&srv.web, cfg, srv.base);
	srv.web.writer = srv.writer;
	srv.web.intake = &srv.intake;
	if (listen_http(&srv) == -1 || listen_web(&srv) == -1)
		goto out;

	srv.ev_sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
	srv.ev_sigint = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
	srv.ev_sigquit = evsignal_new(srv.base, SIGQUIT, signal_cb, &srv);
	srv.ev_stop = event_new(srv.base, -1, EV_PERSIST, stop_cb, &srv);
	if (srv.ev_stop == NULL || event_add(srv.ev_sigterm, NULL) == -1 ||
	    event_add(srv.ev_sigint, NULL) == -1 ||
	    event_add(srv.ev_sigquit, NULL) == -1)
		fatalx(1, "serve: cannot register events");

	if ((srv.sched = sched_start(srv.base, srv.writer, cfg, err,
	    sizeof(err))) == NULL)
		fatalx(1, "serve: %s", err);
	srv.intake.sched = srv.sched;
	watch_held(&srv);
	log_info("serve: listening on %s, status pages on %s, store "
	    "%s/handoff.db", cfg->listen, cfg->web_listen, cfg->data_dir);
	event_base_dispatch(srv.base);
	log_info("serve: stopped");
	status = 0;
out:
	if (srv.ev_stop)
		event_free(srv.ev_stop);
	if (srv.ev_sigterm)
		event_free(srv.ev_sigterm);
	if (srv.ev_sigint)
		event_free(srv.ev_sigint);
	if (srv.ev_sigquit)
		event_free(srv.ev_sigquit);
	logtail_stop(srv.web.logtail);
	reader_stop(srv.reader);
	httpd_free(srv.web_httpd);
	logtail_free(srv.web.logtail);
	httpd_free(srv.httpd);
	/* The children and adopted runners told to stop (SIGQUIT) end
	 * before the data directory is free for the next serve, which
	 * would otherwise adopt them on their way out. */
	sched_halt(srv.sched, srv.stop_runners);
	sched_wait(srv.sched);
	if (srv.stop_runners)
		held_wait(&srv);
	while (srv.held != NULL)
		held_free(&srv, srv.held);
	pool_stop(srv.intake.pool);
	writer_stop(srv.writer);
	sched_free(srv.sched);
	event_base_free(srv.base);
	libevent_global_shutdown();
	close(lock);
	return status;
}
