/*
 * Server-sent and other streamed responses of httpd: a handler starts one,
 * sends parts from the event loop later, and ends it.
 */
#include <sys/socket.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "httpd.h"
#include "httpd_impl.h"
#include "log.h"
#include "util.h"

/* evhttp frees the stream's connection: the client left or was dropped.
 * A request evhttp let go of (it does on a network error) is ours. */
static void
stream_gone_cb(struct evhttp_connection *evcon, void *arg)
{
	struct httpd_stream *s = arg;

	if (evhttp_request_get_connection(s->req) == NULL)
		evhttp_request_free(s->req);
	s->req = NULL;
	s->conn->stream = NULL;
	s->conn = NULL;
	s->drained_cb = NULL;
	if (s->gone_cb != NULL)
		s->gone_cb(s, s->arg);
}

/* Start the answer; the connection closes at the stream's end unless
 * is_keep_alive. */
static struct httpd_stream *
stream_start(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, bool is_keep_alive, httpd_gone_cb gone_cb,
    void *arg)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct conn *c = httpd_conn_of(h, req);
	struct httpd_stream *s;

	if (c == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->conn = c;
	s->req = req;
	s->gone_cb = gone_cb;
	s->arg = arg;
	c->stream = s;
	c->is_busy = true;
	c->is_reading = false;	/* answered: a deadline cannot 408 it */
	/* evhttp's own read and write timeouts would cut the stream too. */
	bufferevent_set_timeouts(c->front, NULL, NULL);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    stream_gone_cb, s);
	if (content_type != NULL)
		evhttp_add_header(hdrs, "Content-Type", content_type);
	if (evhttp_find_header(hdrs, "Cache-Control") == NULL)
		evhttp_add_header(hdrs, "Cache-Control", "no-store");
	evhttp_remove_header(hdrs, "Connection");
	/* Kept alive, evhttp closes it anyway if the client asked to. */
	if (!is_keep_alive)
		evhttp_add_header(hdrs, "Connection", "close");
	bufferevent_incref(c->front);
	evhttp_send_reply_start(req, code, httpd_reason(code));
	httpd_flush_front(c->front);
	return s;
}

struct httpd_stream *
httpd_stream_start(struct httpd *h, struct evhttp_request *req,
    const char *content_type, httpd_gone_cb gone_cb, void *arg)
{
	return stream_start(h, req, 200, content_type, false, gone_cb, arg);
}

struct httpd_stream *
httpd_stream_answer(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, httpd_gone_cb gone_cb, void *arg)
{
	return stream_start(h, req, code, content_type, true, gone_cb, arg);
}

/* Close the client's side of s: evhttp notices, and stream_gone_cb runs. */
static void
stream_drop(struct httpd_stream *s)
{
	int fd = bufferevent_getfd(s->conn->sock);

	log_info("serve: a stream's client reads too slowly; dropping it");
	s->is_dropped = true;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int
httpd_stream_send(struct httpd_stream *s, const void *data, size_t len)
{
	struct evbuffer *b;
	struct conn *c = s->conn;
	size_t queued;

	if (c == NULL || s->is_dropped)
		return -1;
	if (len == 0)
		return 0;
	queued = evbuffer_get_length(bufferevent_get_output(c->front));
	if (queued > s->h->lim.max_stream_bytes ||
	    len > s->h->lim.max_stream_bytes - queued) {
		stream_drop(s);
		return -1;
	}
	if ((b = evbuffer_new()) == NULL || evbuffer_add(b, data, len) == -1)
		fatalx(1, "serve: out of memory");
	bufferevent_incref(c->front);
	/* The chunk's size line, data and CRLF leave in one write: the
	 * front writes nothing while disabled; evhttp enables it again. */
	bufferevent_disable(c->front, EV_WRITE);
	evhttp_send_reply_chunk(s->req, b);
	httpd_flush_front(c->front);
	evbuffer_free(b);
	return 0;
}

size_t
httpd_stream_queued(const struct httpd_stream *s)
{
	if (s->conn == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(s->conn->front));
}

/* The queue drained: the waiter runs here, where no buffer of httpd's is
 * in the middle of a write, so it may send (and end the stream) at once. */
static void
drained_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_stream *s = arg;
	httpd_drained_cb cb = s->drained_cb;

	s->drained_cb = NULL;
	if (cb != NULL && s->conn != NULL)
		cb(s, s->drained_arg);
}

void
httpd_stream_written(struct httpd_stream *s)
{
	if (s->drained_cb != NULL && httpd_stream_queued(s) <= s->low)
		event_active(s->ev_drained, EV_TIMEOUT, 0);
}

void
httpd_stream_wait_drained(struct httpd_stream *s, size_t low,
    httpd_drained_cb cb, void *arg)
{
	if (s->ev_drained == NULL && (s->ev_drained = event_new(s->h->base,
	    -1, 0, drained_ev_cb, s)) == NULL)
		fatalx(1, "serve: cannot register events");
	s->drained_cb = cb;
	s->drained_arg = arg;
	s->low = low;
	/* Past the low mark, the socket's writable event is pending: the
	 * write it makes tells httpd_stream_written. */
	httpd_stream_written(s);
}

int
httpd_stream_event(struct httpd_stream *s, const char *name,
    const char *data)
{
	struct evbuffer *b;
	const char *p, *nl;
	int rc;

	if ((b = evbuffer_new()) == NULL)
		fatalx(1, "serve: out of memory");
	if (name != NULL)
		evbuffer_add_printf(b, "event: %s\n", name);
	for (p = data;; p = nl + 1) {
		nl = strchr(p, '\n');
		evbuffer_add_printf(b, "data: %.*s\n",
		    (int)(nl != NULL ? nl - p : (ptrdiff_t)strlen(p)), p);
		if (nl == NULL)
			break;
	}
	evbuffer_add(b, "\n", 1);
	rc = httpd_stream_send(s, evbuffer_pullup(b, -1),
	    evbuffer_get_length(b));
	evbuffer_free(b);
	return rc;
}

void
httpd_stream_close(struct httpd_stream *s, bool is_ended)
{
	struct conn *c = s->conn;
	struct bufferevent *bev = c->front;

	evhttp_connection_set_closecb(evhttp_request_get_connection(s->req),
	    NULL, NULL);
	c->stream = NULL;
	s->drained_cb = NULL;
	c->is_busy = false;
	c->deadline_ms = util_mono_ms() + s->h->lim.timeout_ms;	/* to flush */
	s->conn = NULL;
	bufferevent_incref(bev);
	/* The last chunk is written by the flush below, after evhttp has
	 * set what runs once it is written: written at once, it would leave
	 * evhttp waiting to finish the answer, and a kept-alive connection
	 * would never read its next request. */
	bufferevent_disable(bev, EV_WRITE);
	evhttp_send_reply_end(s->req);	/* frees the request */
	s->req = NULL;
	httpd_flush_front(bev);
	if (!is_ended && s->gone_cb != NULL)
		s->gone_cb(s, s->arg);
}

void
httpd_stream_end(struct httpd_stream *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		httpd_stream_close(s, true);
	if (s->ev_drained != NULL)
		event_free(s->ev_drained);
	free(s);
}

void
httpd_stream_abort(struct httpd_stream *s)
{
	int fd;

	if (s == NULL)
		return;
	if (s->conn != NULL && (fd = bufferevent_getfd(s->conn->sock)) >= 0)
		shutdown(fd, SHUT_RDWR);
	httpd_stream_end(s);
}
