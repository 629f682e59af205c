/*
 * `handoff serve`: the event loop. libevent's HTTP server answers the
 * webhooks; every connection is wrapped in a pass-through filter so that
 * handoff can count connections, cap them, and give each request a deadline
 * that a client trickling bytes cannot stretch (libevent 2.1 has neither).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "intake.h"
#include "json.h"
#include "log.h"
#include "cgroup.h"
#include "runner.h"
#include "scheduler.h"
#include "serve.h"
#include "store.h"
#include "util.h"
#include "web.h"

#define MAX_HEADERS_BYTES	(64 * 1024)
#define SWEEP_MS		100
#define STOP_GRACE_MS		10000

struct conn {
	struct server		*srv;
	struct bufferevent	*under;		/* the socket */
	struct bufferevent	*filter;	/* what evhttp reads and writes */
	int64_t			 deadline_ms;	/* monotonic */
	bool			 is_busy;	/* a request awaits its reply */
	bool			 is_reading;	/* bytes of a request have arrived */
	bool			 is_killed;
	bool			 has_forge;
	bool			 is_counted;	/* its answer's status was seen */
	bool			 is_flushed_by_sweep;
	bool			 is_released;	/* evhttp freed it; ours goes next */
	struct event		*ev_writable;	/* waits for room in the socket */
	int			 forge;		/* from the first request line */
	struct conn		*prev, *next;
};

/* The forge a connection's first request line named, if it got that far. */
static int
conn_forge(const struct conn *c)
{
	return c->has_forge ? c->forge : FORGE_UNKNOWN;
}

const char *
serve_verdict_name(enum hook_verdict v)
{
	static const char *const names[HV_COUNT] = { "queued", "ignored",
	    "duplicate", "unauthorized", "malformed", "unsupported",
	    "too_large", "timed_out", "unavailable" };

	return names[v];
}

static struct conn *
conn_of(struct server *srv, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct conn *c;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	for (c = srv->conns; c != NULL; c = c->next)
		if (c->filter == bev)
			return c;
	return NULL;
}

void
serve_busy(struct server *srv, struct evhttp_request *req)
{
	struct conn *c = conn_of(srv, req);

	if (c != NULL)
		c->is_busy = true;
}

void
serve_reply(struct server *srv, struct evhttp_request *req, int code,
    const char *content_type, const char *body)
{
	struct conn *c = conn_of(srv, req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct bufferevent *bev = NULL;
	const char *reason;

	if (c != NULL) {
		bev = c->filter;
		bufferevent_incref(bev);
		c->is_busy = false;
		c->is_reading = false;
		c->is_counted = false;
		c->deadline_ms = util_mono_ms() + srv->cfg->timeout_ms;
	}
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
	if (srv->is_stopping && evhttp_find_header(h, "Connection") == NULL)
		evhttp_add_header(h, "Connection", "close");
	if (body != NULL)
		evbuffer_add(out, body, strlen(body));
	switch (code) {
	case 200: reason = "OK"; break;
	case 202: reason = "Accepted"; break;
	case 400: reason = "Bad Request"; break;
	case 401: reason = "Unauthorized"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	case 415: reason = "Unsupported Media Type"; break;
	case 503: reason = "Service Unavailable"; break;
	default: reason = "Error"; break;
	}
	evhttp_send_reply(req, code, reason, NULL);
	/* libevent 2.1's filter leaves output queued while writing was
	 * disabled until something flushes it; evhttp never does. The flush
	 * may end in evhttp freeing the connection: c is not used after it. */
	if (bev != NULL) {
		bufferevent_flush(bev, EV_WRITE, BEV_NORMAL);
		bufferevent_decref(bev);
	}
}

/* A path of the listener and its handler; every request passes route_cb. */
struct route {
	const char	*path;		/* NULL: any other path */
	void		(*cb)(struct evhttp_request *, void *);
	int		 forge;		/* counted as a delivery of it, if a hook */
	struct server	*srv;
};

/* RFC 9110 §5.1: a field name is a token. */
static bool
is_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || strchr(tchar, *s) != NULL))
			return false;
	return true;
}

static bool
is_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/*
 * Why req's body length is not the one any other reader of the same bytes
 * would find (RFC 9112 §6.3), or NULL. A proxy in front that reads another
 * length forwards the rest as a second request, which libevent would answer:
 * libevent 2.1 takes the first of several Content-Length headers, takes
 * strtoll's numbers ("+5"), keeps "Content-Length :" as some other header,
 * reads no body for HEAD, and for a Transfer-Encoding other than exactly
 * "chunked" reads none or (Debian's patched 2.1.12) decodes the chunks of
 * "gzip, chunked" as if gzip were not there.
 */
static const char *
framing_error(struct evhttp_request *req)
{
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const char *cl = NULL, *te = NULL;
	int ncl = 0, nte = 0;

	TAILQ_FOREACH(kv, headers, next) {
		if (!is_token(kv->key))
			return "a header name that is not a token";
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			cl = kv->value;
			ncl++;
		} else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			te = kv->value;
			nte++;
		}
	}
	if (ncl > 1)
		return "more than one Content-Length";
	if (cl != NULL && !is_digits(cl))
		return "a Content-Length that is not a number";
	if (cl != NULL && te != NULL)
		return "both Content-Length and Transfer-Encoding";
	if (nte > 1 || (te != NULL && strcasecmp(te, "chunked") != 0))
		return "a Transfer-Encoding other than chunked";
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD &&
	    (te != NULL || (cl != NULL && strspn(cl, "0") != strlen(cl))))
		return "a body on HEAD";
	return NULL;
}

/*
 * Check the framing of every request before its handler runs. A request
 * whose length is in doubt is answered 400 with Connection: close; evhttp
 * then frees the connection without parsing another byte of it.
 */
static void
route_cb(struct evhttp_request *req, void *arg)
{
	const struct route *r = arg;
	struct server *srv = r->srv;
	const char *why;
	char body[128];

	if ((why = framing_error(req)) == NULL) {
		r->cb(req, srv);
		return;
	}
	log_info("serve: %s: 400 %s; closing the connection",
	    r->path != NULL ? r->path : "request", why);
	if (r->forge != FORGE_UNKNOWN)
		srv->deliveries[r->forge][HV_MALFORMED]++;
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", why);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Connection", "close");
	serve_reply(srv, req, 400, "application/json", body);
}

/* Pass bytes through; learn the forge from the first request line. */
static enum bufferevent_filter_result
filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	unsigned char *p;
	size_t n = evbuffer_get_length(src);

	if (!c->has_forge && n >= 20) {
		p = evbuffer_pullup(src, 20);
		c->has_forge = true;
		c->forge = memmem(p, 20, "/hooks/gitlab", 13) ? FORGE_GITLAB :
		    memmem(p, 20, "/hooks/github", 13) ? FORGE_GITHUB :
		    FORGE_UNKNOWN;
	}
	if (limit > 0 && n > (size_t)limit)
		n = (size_t)limit;
	if (n > 0 && !c->is_reading) {
		c->is_reading = true;
		c->is_counted = false;
	}
	evbuffer_remove_buffer(src, dst, n);
	return BEV_OK;
}

static void
writable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
}

/*
 * Write straight to the socket and report progress only once the kernel has
 * the bytes: the filter tells evhttp "written" when its output is empty, and
 * evhttp may close the connection at once (Connection: close, a 413), which
 * would drop anything still queued in the socket's bufferevent.
 */
static enum bufferevent_filter_result
filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	unsigned char *p;
	int fd = bufferevent_getfd(c->under);

	if (!c->is_counted && evbuffer_get_length(src) >= 13) {
		p = evbuffer_pullup(src, 13);
		c->is_counted = true;
		if (memcmp(p, "HTTP/1.1 413 ", 13) == 0 ||
		    memcmp(p, "HTTP/1.0 413 ", 13) == 0)
			c->srv->deliveries[conn_forge(c)][HV_TOO_LARGE]++;
	}
	while (evbuffer_get_length(src) > 0) {
		if (fd < 0 || evbuffer_write(src, fd) == -1) {
			if (fd >= 0 && (errno == EAGAIN || errno == EINTR)) {
				if (c->ev_writable == NULL)
					c->ev_writable = event_new(c->srv->base,
					    fd, EV_WRITE, writable_cb, c);
				event_add(c->ev_writable, NULL);
				return BEV_NEED_MORE;
			}
			/* The peer is gone: drop the answer, evhttp notices. */
			evbuffer_drain(src, evbuffer_get_length(src));
		}
	}
	return BEV_OK;
}

static void
accepting(struct server *srv, bool on)
{
	struct evconnlistener *l;

	if (srv->bound == NULL || srv->is_paused == !on)
		return;
	l = evhttp_bound_socket_get_listener(srv->bound);
	if (on)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
	srv->is_paused = !on;
}

/* Called by libevent when evhttp frees the connection. */
static void
conn_free(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->ev_writable != NULL)
		event_free(c->ev_writable);
	free(c);
	if (!srv->is_stopping && srv->nconns < srv->cfg->max_connections)
		accepting(srv, true);
}

static struct bufferevent *
conn_new_cb(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->deadline_ms = util_mono_ms() + srv->cfg->timeout_ms;
	c->under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->filter = c->under == NULL ? NULL : bufferevent_filter_new(c->under,
	    filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	if (c->filter == NULL)
		fatalx(1, "serve: cannot allocate a connection");
	/* handoff's own reference: evhttp may free the connection from deep
	 * inside the socket's callbacks, and libevent 2.1's filter takes no
	 * reference there. The filter is destroyed from the sweep instead,
	 * once evhttp has let go of it (release_dead). */
	bufferevent_incref(c->filter);
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	if (++srv->nconns >= srv->cfg->max_connections)
		accepting(srv, false);
	return c->filter;
}

/*
 * Send the answers libevent wrote by itself (413, 400), which wait in the
 * filter like any other. A flush can end in evhttp freeing the connection,
 * so hold a reference on each filter and touch no struct conn meanwhile.
 */
static void
flush_pending(struct server *srv)
{
	struct bufferevent *bevs[64];
	struct conn *c;
	size_t i, n;

	do {
		n = 0;
		for (c = srv->conns; c != NULL && n < nitems(bevs); c = c->next) {
			if (c->is_flushed_by_sweep || c->is_released ||
			    evbuffer_get_length(bufferevent_get_output(
			    c->filter)) == 0)
				continue;
			c->is_flushed_by_sweep = true;
			bufferevent_incref(c->filter);
			bevs[n++] = c->filter;
		}
		for (i = 0; i < n; i++) {
			bufferevent_flush(bevs[i], EV_WRITE, BEV_NORMAL);
			bufferevent_decref(bevs[i]);
		}
	} while (n == nitems(bevs));
	for (c = srv->conns; c != NULL; c = c->next)
		c->is_flushed_by_sweep = false;
}

/* Drop handoff's reference on connections evhttp has freed (it clears
 * their callbacks); the last reference runs conn_free. */
static void
release_dead(struct server *srv)
{
	struct bufferevent *dead[64];
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	struct conn *c;
	size_t i, n;

	do {
		n = 0;
		for (c = srv->conns; c != NULL && n < nitems(dead); c = c->next) {
			if (c->is_released)
				continue;
			bufferevent_getcb(c->filter, &rcb, &wcb, &ecb, NULL);
			if (rcb == NULL && wcb == NULL && ecb == NULL) {
				c->is_released = true;
				dead[n++] = c->filter;
			}
		}
		for (i = 0; i < n; i++)
			bufferevent_decref(dead[i]);
	} while (n == nitems(dead));
}

/* Close connections past their deadline that are not waiting for a reply. */
static void
sweep_cb(evutil_socket_t fd_, short what, void *arg)
{
	static const char timeout[] = "HTTP/1.1 408 Request Timeout\r\n"
	    "Connection: close\r\nContent-Length: 0\r\n\r\n";
	struct server *srv = arg;
	struct conn *c;
	int64_t now = util_mono_ms();
	bool any_busy = false;
	int fd;

	release_dead(srv);
	for (c = srv->conns; c != NULL; c = c->next) {
		if (c->is_released)
			continue;
		if (c->is_busy) {
			any_busy = true;
			continue;
		}
		if (c->is_reading && !c->is_killed)
			any_busy = true;
		if (c->is_killed || now < c->deadline_ms)
			continue;
		fd = bufferevent_getfd(c->under);
		if (fd < 0)
			continue;
		/* A request had started; never interleave with an answer. */
		if (c->is_reading &&
		    evbuffer_get_length(bufferevent_get_output(c->filter)) == 0) {
			(void)!send(fd, timeout, sizeof(timeout) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			srv->deliveries[conn_forge(c)][HV_TIMED_OUT]++;
		}
		shutdown(fd, SHUT_RDWR);
		c->is_killed = true;
	}
	flush_pending(srv);
	if (srv->is_stopping && !any_busy &&
	    writer_inflight(srv->writer) == 0) {
		bool flushed = true;
		for (c = srv->conns; c != NULL; c = c->next)
			if (!c->is_released && evbuffer_get_length(
			    bufferevent_get_output(c->filter)) > 0)
				flushed = false;
		if (flushed || now > srv->stop_deadline_ms)
			event_base_loopexit(srv->base, NULL);
	} else if (srv->is_stopping && now > srv->stop_deadline_ms) {
		log_warn("serve: stopping with requests still in flight");
		event_base_loopexit(srv->base, NULL);
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	if (srv->is_stopping)
		return;
	log_info("serve: %s: no new connections, finishing requests in "
	    "flight", strsignal((int)sig));
	srv->is_stopping = true;
	srv->stop_deadline_ms = util_mono_ms() + STOP_GRACE_MS;
	/* Running jobs are left to resume at the next start. */
	sched_halt(srv->sched);
	if (srv->bound != NULL) {
		evhttp_del_accept_socket(srv->http, srv->bound);
		srv->bound = NULL;
	}
}

/* "host:port", "[v6]:port" into host and port. */
static int
split_listen(const char *listen, char **host, unsigned short *port)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen, *he = colon;
	long long p;

	if (colon == NULL || util_parse_int(colon + 1, 1, 65535, &p) == -1)
		return -1;
	if (*h == '[' && he > h && he[-1] == ']') {
		h++;
		he--;
	}
	*host = xstrndup(h, (size_t)(he - h));
	*port = (unsigned short)p;
	return 0;
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
 * A running job whose runner lived at start: `handoff runner` started by
 * hand, or a runner of a serve killed a moment ago, on its way out. Should
 * it stop without ending the job, the job is queued again then.
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

/* For the start-up requeue: the same, remembering the runner to watch. */
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

/* Watch the runners of the jobs held at start (a pidfd each). */
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
		log_info("serve: job %lld: runner %ld runs it; left to it",
		    (long long)h->job, h->pid);
		h->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)h->pid, 0);
		if (h->pidfd == -1 && errno != ESRCH) {
			log_warn("serve: job %lld: cannot watch runner %ld: %s;"
			    " it resumes at a start after that runner ends",
			    (long long)h->job, h->pid, strerror(errno));
			held_free(srv, h);
			continue;
		}
		/* Gone already, or gone before the pidfd (its pid reused). */
		if (h->pidfd == -1 ||
		    runner_running(srv->cfg->data_dir, h->job) == 0) {
			held_gone_cb(-1, 0, h);
			continue;
		}
		h->ev = event_new(srv->base, h->pidfd, EV_READ, held_gone_cb, h);
		if (h->ev == NULL || event_add(h->ev, NULL) == -1)
			fatalx(1, "serve: cannot register events");
	}
}

/*
 * The runners were told to stop (sched_halt). Wait for them a while before
 * the data directory is free for the next serve, which would otherwise find
 * their jobs still held and leave them be.
 */
static void
wait_runners(void)
{
	int64_t deadline = util_mono_ms() + STOP_GRACE_MS;
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) != -1 || errno == EINTR) {
		if (pid != 0)
			continue;
		if (util_mono_ms() > deadline) {
			log_warn("serve: runners still stopping; their jobs "
			    "resume at a start after they end");
			return;
		}
		nanosleep(&pause, NULL);
	}
}

int
serve_main(struct config *cfg)
{
	struct route routes[] = {
		{ "/hooks/github", intake_github_cb, FORGE_GITHUB, NULL },
		{ "/hooks/gitlab", intake_gitlab_cb, FORGE_GITLAB, NULL },
		{ "/healthz", web_healthz_cb, FORGE_UNKNOWN, NULL },
		{ "/metrics", web_metrics_cb, FORGE_UNKNOWN, NULL },
		{ NULL, web_notfound_cb, FORGE_UNKNOWN, NULL },
	};
	struct server srv = { 0 };
	struct store *st;
	struct timeval tv;
	char err[512], *host = NULL;
	unsigned short port;
	char *prefix;
	int status = 1, n, lock;
	size_t i;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if ((lock = lock_data_dir(cfg)) == -1)
		return 1;
	json_use_arena();	/* deliveries are parsed on this thread */
	if ((srv.base = event_base_new()) == NULL)
		fatalx(1, "serve: cannot create the event loop");
	if ((st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
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

	srv.http = evhttp_new(srv.base);
	evhttp_set_max_body_size(srv.http, (ev_ssize_t)cfg->max_body_bytes);
	evhttp_set_max_headers_size(srv.http, MAX_HEADERS_BYTES);
	tv.tv_sec = cfg->timeout_ms / 1000;
	tv.tv_usec = (cfg->timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(srv.http, &tv);
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(srv.http, conn_new_cb, &srv);
	for (i = 0; i < nitems(routes); i++) {
		routes[i].srv = &srv;
		if (routes[i].path != NULL)
			evhttp_set_cb(srv.http, routes[i].path, route_cb,
			    &routes[i]);
		else
			evhttp_set_gencb(srv.http, route_cb, &routes[i]);
	}

	if (split_listen(cfg->listen, &host, &port) == -1 ||
	    (srv.bound = evhttp_bind_socket_with_handle(srv.http, host,
	    port)) == NULL) {
		log_error("serve: listen on %s: %s", cfg->listen,
		    strerror(errno));
		goto out;
	}

	srv.ev_sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
	srv.ev_sigint = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
	srv.ev_sweep = event_new(srv.base, -1, EV_PERSIST, sweep_cb, &srv);
	tv.tv_sec = 0;
	tv.tv_usec = SWEEP_MS * 1000;
	if (event_add(srv.ev_sigterm, NULL) == -1 ||
	    event_add(srv.ev_sigint, NULL) == -1 ||
	    event_add(srv.ev_sweep, &tv) == -1)
		fatalx(1, "serve: cannot register events");

	if ((srv.sched = sched_start(srv.base, srv.writer, cfg, err,
	    sizeof(err))) == NULL)
		fatalx(1, "serve: %s", err);
	watch_held(&srv);
	log_info("serve: listening on %s, store %s/handoff.db", cfg->listen,
	    cfg->data_dir);
	event_base_dispatch(srv.base);
	log_info("serve: stopped");
	status = 0;
out:
	if (srv.ev_sweep)
		event_free(srv.ev_sweep);
	if (srv.ev_sigterm)
		event_free(srv.ev_sigterm);
	if (srv.ev_sigint)
		event_free(srv.ev_sigint);
	if (srv.http) {
		evhttp_free(srv.http);
		release_dead(&srv);
	}
	while (srv.held != NULL)
		held_free(&srv, srv.held);
	sched_halt(srv.sched);
	if (srv.sched != NULL)
		wait_runners();
	writer_stop(srv.writer);
	sched_free(srv.sched);
	event_base_free(srv.base);
	libevent_global_shutdown();
	free(host);
	close(lock);
	return status;
}
