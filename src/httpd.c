/*
 * An HTTP server on one listener. libevent's evhttp parses and answers;
 * every connection's bytes pass through a bufferevent of handoff's own (the
 * connection's "front") so that handoff can count connections, cap them,
 * and give each request a deadline that a client trickling bytes cannot
 * stretch (libevent 2.1 has neither).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "httpd.h"
#include "httpd_impl.h"
#include "log.h"
#include "util.h"

#define SWEEP_MS	100
#define SNIFF_BYTES	20	/* a method, a path like /hooks/github */
#define READ_MORE	65536	/* what read_more takes at once */

static void
refused(struct httpd *h, enum httpd_refusal why, const struct route *r)
{
	if (h->refused_cb != NULL)
		h->refused_cb(why, r != NULL ? r->path : NULL, h->refused_arg);
}

struct conn *
httpd_conn_of(struct httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct conn *c;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	for (c = h->conns; c != NULL; c = c->next)
		if (c->front == bev)
			return c;
	return NULL;
}

void
httpd_busy(struct httpd *h, struct evhttp_request *req)
{
	struct conn *c = httpd_conn_of(h, req);

	if (c != NULL)
		c->is_busy = true;
}

const char *
httpd_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return code >= 200 && code < 300 ? "OK" : "Error";
	}
}

/*
 * libevent 2.1's front leaves output queued while writing was disabled
 * until something flushes it; evhttp never does. The flush may end in
 * evhttp freeing the connection: bev carries a reference through it.
 */
void
httpd_flush_front(struct bufferevent *bev)
{
	bufferevent_flush(bev, EV_WRITE, BEV_NORMAL);
	bufferevent_decref(bev);
}

void
httpd_reply(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, const char *body)
{
	struct evbuffer *b = NULL;

	if (body != NULL) {
		b = evbuffer_new();
		evbuffer_add(b, body, strlen(body));
	}
	httpd_reply_buffer(h, req, code, content_type, b);
}

void
httpd_reply_buffer(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, struct evbuffer *body)
{
	struct conn *c = httpd_conn_of(h, req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct bufferevent *bev = NULL;

	if (c != NULL) {
		bev = c->front;
		bufferevent_incref(bev);
		c->is_busy = false;
		c->is_reading = false;
		c->is_counted = false;
		c->deadline_ms = util_mono_ms() + h->lim.timeout_ms;
	}
	if (content_type != NULL)
		evhttp_add_header(hdrs, "Content-Type", content_type);
	if (h->is_stopping && evhttp_find_header(hdrs, "Connection") == NULL)
		evhttp_add_header(hdrs, "Connection", "close");
	if (body != NULL) {
		evbuffer_add_buffer(out, body);
		evbuffer_free(body);
	}
	evhttp_send_reply(req, code, httpd_reason(code), NULL);
	if (bev != NULL)
		httpd_flush_front(bev);	/* c is not used after it */
}

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
	struct httpd *h = r->h;
	const char *why;
	char body[128];

	if ((why = framing_error(req)) == NULL) {
		r->cb(h, req, r->arg);
		return;
	}
	log_info("serve: %s: 400 %s; closing the connection",
	    r->path != NULL ? r->path : "request", why);
	refused(h, HTTPD_BAD_FRAMING, r);
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", why);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Connection", "close");
	httpd_reply(h, req, 400, "application/json", body);
}

/* The route whose path the first bytes of a connection name, if any. */
static const struct route *
sniff_route(const struct httpd *h, const unsigned char *p, size_t n)
{
	const struct route *r;

	for (r = h->routes; r != NULL; r = r->next)
		if (r->path != NULL && memmem(p, n, r->path,
		    strlen(r->path)) != NULL)
			return r;
	return NULL;
}

/*
 * libevent 2.1 reads a socket 4096 bytes at a time, one pass of the loop
 * each (evbuffer_read's EVBUFFER_MAX_READ): a 14 KB delivery took four
 * passes through epoll, the socket's callbacks and evhttp's. After a full
 * read, take what else the socket holds in one readv. An end of file or an
 * error is left for libevent's next read, which sees it again. The bytes
 * go to dst, what evhttp (or httpd_msg.c) reads.
 */
void
httpd_read_more(struct conn *c, struct evbuffer *dst)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int fd = bufferevent_getfd(c->sock), n, i;
	ssize_t r;
	size_t left;

	if (fd < 0 || (n = evbuffer_reserve_space(dst, READ_MORE, v, 2)) <= 0)
		return;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	while ((r = readv(fd, iov, n)) == -1 && errno == EINTR)
		;
	left = r > 0 ? (size_t)r : 0;
	for (i = 0; i < n && left > 0; i++) {
		v[i].iov_len = left < v[i].iov_len ? left : v[i].iov_len;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(dst, v, i);	/* 0: nothing read */
}

/* Pass a request's bytes to evhttp; learn the route from the first line.
 * A stream's client has nothing more to say: its bytes are dropped. */
static enum bufferevent_filter_result
read_through(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	size_t n = evbuffer_get_length(src);

	if (c->stream != NULL) {
		evbuffer_drain(src, n);
		return BEV_OK;
	}
	if (!c->is_sniffed && n >= SNIFF_BYTES) {
		c->is_sniffed = true;
		c->route = sniff_route(c->h, evbuffer_pullup(src, SNIFF_BYTES),
		    SNIFF_BYTES);
	}
	if (httpd_msg_read(c, src))
		return BEV_OK;
	if (limit > 0 && n > (size_t)limit)
		n = (size_t)limit;
	if (n > 0 && !c->is_reading) {
		c->is_reading = true;
		c->is_counted = false;
	}
	evbuffer_remove_buffer(src, dst, n);
	/* src is the socket's input, which libevent keeps frozen here. */
	if (n >= LIBEVENT_READ && limit < 0)
		httpd_read_more(c, dst);
	return BEV_OK;
}

static void
writable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	bufferevent_flush(c->front, EV_WRITE, BEV_NORMAL);
	if (c->stream != NULL)	/* c lives on: handoff holds its front */
		httpd_stream_written(c->stream);
}

/*
 * Write straight to the socket and report progress only once the kernel has
 * the bytes: the front tells evhttp "written" when its output is empty, and
 * evhttp may close the connection at once (Connection: close, a 413), which
 * would drop anything still queued in the socket's bufferevent.
 */
static enum bufferevent_filter_result
write_through(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	unsigned char *p;
	int fd = bufferevent_getfd(c->sock);

	if (!c->is_counted && evbuffer_get_length(src) >= 13) {
		p = evbuffer_pullup(src, 13);
		c->is_counted = true;
		if (memcmp(p, "HTTP/1.1 413 ", 13) == 0 ||
		    memcmp(p, "HTTP/1.0 413 ", 13) == 0)
			refused(c->h, HTTPD_TOO_LARGE, c->route);
	}
	while (evbuffer_get_length(src) > 0) {
		if (fd < 0 || evbuffer_write(src, fd) == -1) {
			if (fd >= 0 && (errno == EAGAIN || errno == EINTR)) {
				if (c->ev_writable == NULL)
					c->ev_writable = event_new(c->h->base,
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
accepting(struct httpd *h, bool on)
{
	struct evconnlistener *l;

	if (h->bound == NULL || h->is_paused == !on)
		return;
	l = evhttp_bound_socket_get_listener(h->bound);
	if (on)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
	h->is_paused = !on;
}

/* Called by libevent when the last reference to the front goes. */
static void
conn_free(void *arg)
{
	struct conn *c = arg;
	struct httpd *h = c->h;

	httpd_msg_conn_free(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->ev_writable != NULL)
		event_free(c->ev_writable);
	free(c);
	if (h->is_freed && h->nconns == 0)
		free(h);
	else if (!h->is_stopping && h->nconns < h->lim.max_connections)
		accepting(h, true);
}

static struct bufferevent *
conn_new_cb(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->h = h;
	c->deadline_ms = util_mono_ms() + h->lim.timeout_ms;
	c->sock = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->front = c->sock == NULL ? NULL : bufferevent_filter_new(c->sock,
	    read_through, write_through, BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	if (c->front == NULL)
		fatalx(1, "serve: cannot allocate a connection");
	/* handoff's own reference: evhttp may free the connection from deep
	 * inside the socket's callbacks, and libevent 2.1's filter takes no
	 * reference there. The front is destroyed from the sweep instead,
	 * once evhttp has let go of it (release_dead). */
	bufferevent_incref(c->front);
	c->next = h->conns;
	if (c->next)
		c->next->prev = c;
	h->conns = c;
	if (++h->nconns >= h->lim.max_connections)
		accepting(h, false);
	return c->front;
}

/*
 * Send the answers libevent wrote by itself (413, 400), which wait in the
 * front like any other. A flush can end in evhttp freeing the connection,
 * so hold a reference on each front and touch no struct conn meanwhile.
 */
static void
flush_pending(struct httpd *h)
{
	struct bufferevent *bevs[64];
	struct conn *c;
	size_t i, n;

	do {
		n = 0;
		for (c = h->conns; c != NULL && n < nitems(bevs); c = c->next) {
			if (c->is_flushed_by_sweep || c->is_released ||
			    evbuffer_get_length(bufferevent_get_output(
			    c->front)) == 0)
				continue;
			c->is_flushed_by_sweep = true;
			bufferevent_incref(c->front);
			bevs[n++] = c->front;
		}
		for (i = 0; i < n; i++)
			httpd_flush_front(bevs[i]);
	} while (n == nitems(bevs));
	for (c = h->conns; c != NULL; c = c->next)
		c->is_flushed_by_sweep = false;
}

/* Drop handoff's reference on connections evhttp has freed (it clears
 * their callbacks); the last reference runs conn_free. */
static void
release_dead(struct httpd *h)
{
	struct bufferevent *dead[64];
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	struct conn *c;
	size_t i, n;

	do {
		n = 0;
		for (c = h->conns; c != NULL && n < nitems(dead); c = c->next) {
			if (c->is_released)
				continue;
			bufferevent_getcb(c->front, &rcb, &wcb, &ecb, NULL);
			if (rcb == NULL && wcb == NULL && ecb == NULL) {
				c->is_released = true;
				dead[n++] = c->front;
			}
		}
		for (i = 0; i < n; i++)
			bufferevent_decref(dead[i]);
	} while (n == nitems(dead));
}

/* Close c: a started request is answered 408 unless an answer has begun. */
void
httpd_expire(struct conn *c)
{
	static const char timeout[] = "HTTP/1.1 408 Request Timeout\r\n"
	    "Connection: close\r\nContent-Length: 0\r\n\r\n";
	int fd = bufferevent_getfd(c->sock);

	if (fd < 0)
		return;
	if (c->is_reading &&
	    evbuffer_get_length(bufferevent_get_output(c->front)) == 0) {
		(void)!send(fd, timeout, sizeof(timeout) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		refused(c->h, HTTPD_TIMED_OUT, c->route);
	}
	shutdown(fd, SHUT_RDWR);
	c->is_killed = true;
}

/* Close connections past their deadline that are not awaiting an answer. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	struct conn *c;
	int64_t now = util_mono_ms();

	release_dead(h);
	for (c = h->conns; c != NULL; c = c->next)
		if (!c->is_released && !c->is_busy && !c->is_killed &&
		    now >= c->deadline_ms)
			httpd_expire(c);
	flush_pending(h);
}

bool
httpd_is_busy(struct httpd *h)
{
	struct conn *c;

	for (c = h->conns; c != NULL; c = c->next)
		if (!c->is_released && (c->is_busy ||
		    (c->is_reading && !c->is_killed)))
			return true;
	return false;
}

bool
httpd_is_flushed(struct httpd *h)
{
	struct conn *c;

	for (c = h->conns; c != NULL; c = c->next)
		if (!c->is_released && evbuffer_get_length(
		    bufferevent_get_output(c->front)) > 0)
			return false;
	return true;
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

/* A server with lim on base, not yet listening. */
static struct httpd *
server_new(struct event_base *base, const struct httpd_limits *lim)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	struct timeval tv;

	h->base = base;
	h->lim = *lim;
	if ((h->http = evhttp_new(base)) == NULL)
		fatalx(1, "serve: cannot create the HTTP server");
	evhttp_set_max_body_size(h->http, (ev_ssize_t)lim->max_body_bytes);
	evhttp_set_max_headers_size(h->http,
	    (ev_ssize_t)lim->max_headers_bytes);
	tv.tv_sec = lim->timeout_ms / 1000;
	tv.tv_usec = (lim->timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(h->http, &tv);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(h->http, conn_new_cb, h);
	return h;
}

/* Start the sweep of a server that listens. */
static void
server_start(struct httpd *h)
{
	struct timeval tv = { 0, SWEEP_MS * 1000 };

	h->ev_sweep = event_new(h->base, -1, EV_PERSIST, sweep_cb, h);
	if (h->ev_sweep == NULL || event_add(h->ev_sweep, &tv) == -1)
		fatalx(1, "serve: cannot register events");
}

struct httpd *
httpd_new(struct event_base *base, const char *listen,
    const struct httpd_limits *lim, char *err, size_t errlen)
{
	struct httpd *h = server_new(base, lim);
	unsigned short port;
	char *host = NULL;

	if (split_listen(listen, &host, &port) == -1 ||
	    (h->bound = evhttp_bind_socket_with_handle(h->http, host,
	    port)) == NULL) {
		snprintf(err, errlen, "listen on %s: %s", listen,
		    strerror(errno));
		free(host);
		httpd_free(h);
		return NULL;
	}
	free(host);
	server_start(h);
	return h;
}

struct httpd *
httpd_new_fd(struct event_base *base, int fd, const struct httpd_limits *lim,
    char *err, size_t errlen)
{
	struct httpd *h = server_new(base, lim);

	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (h->bound = evhttp_accept_socket_with_handle(h->http,
	    fd)) == NULL) {
		snprintf(err, errlen, "listen on descriptor %d: %s", fd,
		    strerror(errno));
		httpd_free(h);
		return NULL;
	}
	server_start(h);
	return h;
}

void
httpd_route(struct httpd *h, const char *path, httpd_handler_cb cb,
    void *arg)
{
	struct route *r = xcalloc(1, sizeof(*r)), **pp;

	r->path = path;
	r->cb = cb;
	r->arg = arg;
	r->h = h;
	for (pp = &h->routes; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	if (path != NULL)
		evhttp_set_cb(h->http, path, route_cb, r);
	else
		evhttp_set_gencb(h->http, route_cb, r);
}

void
httpd_on_refused(struct httpd *h, httpd_refused_cb cb, void *arg)
{
	h->refused_cb = cb;
	h->refused_arg = arg;
}

void
httpd_stop(struct httpd *h)
{
	struct conn *c;

	h->is_stopping = true;
	if (h->bound != NULL) {
		evhttp_del_accept_socket(h->http, h->bound);
		h->bound = NULL;
	}
	for (c = h->conns; c != NULL; c = c->next)
		if (c->stream != NULL)
			httpd_stream_close(c->stream, false);
}

void
httpd_free(struct httpd *h)
{
	struct route *r;

	if (h == NULL)
		return;
	if (h->ev_sweep != NULL)
		event_free(h->ev_sweep);
	h->is_stopping = true;
	h->bound = NULL;
	if (h->http != NULL) {
		evhttp_free(h->http);
		release_dead(h);
	}
	while ((r = h->routes) != NULL) {
		h->routes = r->next;
		free(r);
	}
	/* libevent finalizes the connections evhttp freed from the loop,
	 * later: the last one frees h. */
	h->is_freed = true;
	if (h->nconns == 0)
		free(h);
}

