/*
 * `handoff serve`: the event loop. libevent's HTTP server answers the
 * webhooks; every connection is wrapped in a pass-through filter so that
 * handoff can count connections, cap them, and give each request a deadline
 * that a client trickling bytes cannot stretch (libevent 2.1 has neither).
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
	int status = 1, n;
	size_t i;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	json_use_arena();	/* deliveries are parsed on this thread */
	if ((srv.base = event_base_new()) == NULL)
		fatalx(1, "serve: cannot create the event loop");
	if ((st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		log_error("serve: %s", err);
		goto out;
	}
	/* After a crash: sandboxes left behind are killed, and jobs that
	 * were running go back to the queue to resume at their step. */
	prefix = cgroup_prefix(cfg->data_dir);
	if ((n = cgroup_reap(prefix)) > 0)
		log_warn("serve: killed %d sandboxes left by an earlier run", n);
	free(prefix);
	if ((n = store_requeue_running(st)) > 0)
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
	sched_halt(srv.sched);
	writer_stop(srv.writer);
	sched_free(srv.sched);
	event_base_free(srv.base);
	libevent_global_shutdown();
	free(host);
	return status;
}
