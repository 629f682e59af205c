/*
 * An HTTP server on one listener: libevent's evhttp with the limits it
 * lacks (a connection cap, a per-request deadline a trickle cannot stretch,
 * unambiguous request framing) and responses streamed over time.
 */
#ifndef HANDOFF_HTTPD_H
#define HANDOFF_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

struct httpd;
struct httpd_stream;
struct httpd_msg;

/* What one listener enforces on every connection and request. */
struct httpd_limits {
	int	 max_connections;	/* accepting pauses at this many */
	int64_t	 timeout_ms;		/* per request, and idle between them */
	size_t	 max_body_bytes;	/* a larger request body: 413 */
	size_t	 max_headers_bytes;	/* larger request headers: refused */
	size_t	 max_stream_bytes;	/* a stream's queue; past it, dropped */
};

/* Requests the server answered itself, before or instead of a handler. */
enum httpd_refusal {
	HTTPD_BAD_FRAMING,	/* 400: a body length in doubt */
	HTTPD_TOO_LARGE,	/* 413: body or headers over their bound */
	HTTPD_TIMED_OUT		/* 408: the request missed its deadline */
};

/* A route's handler: answers req with httpd_reply or httpd_stream_start. */
typedef void (*httpd_handler_cb)(struct httpd *, struct evhttp_request *,
    void *arg);
/* A msg route's handler: m is a POST httpd parsed itself, answered once
 * with httpd_msg_answer (from any thread) and then httpd_msg_done. */
typedef void (*httpd_msg_cb)(struct httpd *, struct httpd_msg *m,
    void *arg);
/* Told of each refusal; path is the route the connection's request named,
 * NULL if none is known. */
typedef void (*httpd_refused_cb)(enum httpd_refusal, const char *path,
    void *arg);
/* Told once that a stream's client is gone (closed, dropped, or the server
 * stopped); the stream's owner still ends it with httpd_stream_end. */
typedef void (*httpd_gone_cb)(struct httpd_stream *, void *arg);
/* Told that a stream's client has taken its queue down to the low mark. */
typedef void (*httpd_drained_cb)(struct httpd_stream *, void *arg);

/* Listen on "host:port" ("[v6]:port") with lim, on base; NULL and err when
 * the address cannot be bound. The caller ignores SIGPIPE. Free with
 * httpd_free. */
struct httpd *httpd_new(struct event_base *base, const char *listen,
    const struct httpd_limits *lim, char *err, size_t errlen);
/* Serve on fd, a socket already bound and listening (a unix socket), with
 * lim; h owns fd from then on, even on failure. NULL and err when evhttp
 * cannot take it. Free with httpd_free. */
struct httpd *httpd_new_fd(struct event_base *base, int fd,
    const struct httpd_limits *lim, char *err, size_t errlen);
/* Route requests for path (NULL: every other path) to cb with arg; path
 * must outlive h. */
void httpd_route(struct httpd *h, const char *path, httpd_handler_cb cb,
    void *arg);
/*
 * As httpd_route, but a plain POST for path (HTTP/1.1, one Content-Length,
 * no Transfer-Encoding or Expect, the headers within their bound) goes to
 * msg_cb without evhttp, and its answer may be sent from any thread. The
 * first request on a connection that is not one of those, and every one
 * after it on that connection, goes through evhttp to cb.
 */
void httpd_route_msg(struct httpd *h, const char *path, httpd_handler_cb cb,
    httpd_msg_cb msg_cb, void *arg);
/* The first header name of m (case-insensitive), its value trimmed; NULL
 * when there is none. */
const char *httpd_msg_header(const struct httpd_msg *m, const char *name);
/* m's body (NUL-terminated, len bytes before the NUL), now the caller's. */
char *httpd_msg_take_body(struct httpd_msg *m, size_t *len);
/* Send m's answer, once, from any thread. An answer the socket does not
 * take at once closes the connection. */
void httpd_msg_answer(struct httpd_msg *m, int code,
    const char *content_type, const char *body);
/* On the event loop, after httpd_msg_answer: the connection takes its next
 * request (or closes); frees m. */
void httpd_msg_done(struct httpd_msg *m);

/* Tell cb of every refusal. */
void httpd_on_refused(struct httpd *h, httpd_refused_cb cb, void *arg);
/* Stop accepting, answer with Connection: close, end every stream. */
void httpd_stop(struct httpd *h);
/* Whether a request is still being read or awaits its answer. */
bool httpd_is_busy(struct httpd *h);
/* Whether every answer has reached the kernel. */
bool httpd_is_flushed(struct httpd *h);
/* Close every connection and free h. */
void httpd_free(struct httpd *h);

/* Mark req's connection as handling a request: its deadline waits for the
 * answer. */
void httpd_busy(struct httpd *h, struct evhttp_request *req);
/* Answer req and free its connection for its next request. body may be
 * NULL. */
void httpd_reply(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, const char *body);
/* As httpd_reply, with a body in a buffer (taken and freed; may be NULL). */
void httpd_reply_buffer(struct httpd *h, struct evhttp_request *req, int code,
    const char *content_type, struct evbuffer *body);

/* Answer req 200 with a body sent in parts over time; the request deadline
 * no longer applies to its connection, which closes at the stream's end.
 * gone_cb (may be NULL) learns that the client left. NULL if req has no
 * connection any more. Free with httpd_stream_end. */
struct httpd_stream *httpd_stream_start(struct httpd *h,
    struct evhttp_request *req, const char *content_type,
    httpd_gone_cb gone_cb, void *arg);
/* As httpd_stream_start, for an answer that ends (a proxied API's): with
 * status code, content_type NULL adding none (the caller put its headers
 * in req's output headers), and the connection kept for the client's next
 * request unless the client asked to close it. */
struct httpd_stream *httpd_stream_answer(struct httpd *h,
    struct evhttp_request *req, int code, const char *content_type,
    httpd_gone_cb gone_cb, void *arg);
/* Send len bytes. -1 if the client is gone, or is dropped now because more
 * than max_stream_bytes would wait for it. */
int httpd_stream_send(struct httpd_stream *s, const void *data, size_t len);
/* Send a server-sent event: "event: NAME" (when not NULL) and each line of
 * data as a "data:" line. As httpd_stream_send. */
int httpd_stream_event(struct httpd_stream *s, const char *name,
    const char *data);
/* The bytes of s that wait in the server for its client (0 once it left). */
size_t httpd_stream_queued(const struct httpd_stream *s);
/* Call cb once, from the event loop, when at most low bytes of s wait for
 * its client (soon, if that is already so); replaces an earlier wait. Not
 * called once the client left: gone_cb says that. A sender that waits for
 * it past a high mark holds at most that much for a slow client. */
void httpd_stream_wait_drained(struct httpd_stream *s, size_t low,
    httpd_drained_cb cb, void *arg);
/* End the stream (if its client is still there) and free s. */
void httpd_stream_end(struct httpd_stream *s);
/* End the stream without its end: the connection closes mid-answer, so the
 * client sees it cut, not complete. Frees s. */
void httpd_stream_abort(struct httpd_stream *s);

#endif
