/*
 * What httpd.c and httpd_stream.c share: the server, its routes and
 * connections. Nothing outside httpd includes this.
 */
#ifndef HANDOFF_HTTPD_IMPL_H
#define HANDOFF_HTTPD_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "httpd.h"

#define LIBEVENT_READ	4096	/* what libevent 2.1 reads a socket at a time */

/* A path and its handler; every request passes route_cb. */
struct route {
	const char	*path;		/* NULL: any other path */
	httpd_handler_cb cb;
	httpd_msg_cb	 msg_cb;	/* plain POSTs, parsed by httpd_msg.c */
	void		*arg;
	struct httpd	*h;
	struct route	*next;
};

/* One accepted connection, from accept until libevent finalizes it. */
struct conn {
	struct httpd		*h;
	struct bufferevent	*sock;		/* the socket */
	struct bufferevent	*front;		/* what evhttp reads and writes */
	int64_t			 deadline_ms;	/* monotonic */
	bool			 is_busy;	/* a request awaits its answer */
	bool			 is_reading;	/* bytes of a request have arrived */
	bool			 is_killed;	/* past its deadline, shut down */
	bool			 is_sniffed;	/* route is what it will be */
	bool			 is_counted;	/* its answer's status was seen */
	bool			 is_flushed_by_sweep;
	bool			 is_released;	/* evhttp freed it; ours goes next */
	struct event		*ev_writable;	/* waits for room in the socket */
	const struct route	*route;		/* from the first request line */
	struct httpd_stream	*stream;	/* the response streaming on it */
	/* httpd_msg.c: requests read before evhttp sees any */
	bool			 is_evhttp;	/* from now on evhttp reads it all */
	struct evbuffer		*msg_in;	/* bytes of requests not yet taken */
	struct httpd_msg	*msg;		/* the one awaiting its answer */
	struct answer_fd	*afd;		/* httpd_msg.c's, or NULL */
	struct httpd_msg	*msg_next;	/* the next one's head, its body to come */
	size_t			 msg_scanned;	/* msg_in's bytes with no head's end */
	bool			 is_pumping;	/* httpd_msg.c's loop is on it */
	struct conn		*prev, *next;
};

/* A streamed response; its owner frees it with httpd_stream_end. */
struct httpd_stream {
	struct httpd		*h;
	struct conn		*conn;		/* NULL once the client is gone */
	struct evhttp_request	*req;
	httpd_gone_cb		 gone_cb;
	void			*arg;
	bool			 is_dropped;	/* over max_stream_bytes: shut down */
	httpd_drained_cb	 drained_cb;	/* waits for the queue to drain */
	void			*drained_arg;
	size_t			 low;		/* to this many bytes */
	struct event		*ev_drained;	/* calls drained_cb off the stack */
};

/* One listener and its connections. */
struct httpd {
	struct event_base	*base;
	struct httpd_limits	 lim;
	struct evhttp		*http;
	struct evhttp_bound_socket *bound;
	struct route		*routes;
	httpd_refused_cb	 refused_cb;
	void			*refused_arg;
	struct conn		*conns;		/* every open connection */
	bool			 has_msg_routes;
	int			 nconns;
	bool			 is_paused;	/* accepting stopped at the cap */
	bool			 is_stopping;
	bool			 is_freed;	/* the last conn frees it */
	struct event		*ev_sweep;
};

/* httpd_msg.c: take what src holds for c's requests on msg routes; false
 * when c is evhttp's, and src is left for it. */
bool httpd_msg_read(struct conn *c, struct evbuffer *src);
/* httpd_msg.c: c goes away; its request in flight, if any, is let go. */
void httpd_msg_conn_free(struct conn *c);
/* httpd_msg.c, for its fuzzer: whether head (NUL-terminated, its fields
 * split in place) is a request httpd_msg.c takes; its body's length in
 * clen. */
bool httpd_msg_is_plain(const struct httpd *h, char *head, size_t *clen);

/* The reason phrase of code. */
const char *httpd_reason(int code);
/* The connection req arrived on, or NULL. */
struct conn *httpd_conn_of(struct httpd *h, struct evhttp_request *req);
/* Close c at once: a started request is answered 408 first. */
void httpd_expire(struct conn *c);
/* Take what the socket holds beyond libevent's first read into dst. */
void httpd_read_more(struct conn *c, struct evbuffer *dst);
/* Flush bev's output and drop the reference the caller took on it. */
void httpd_flush_front(struct bufferevent *bev);
/* End the response of s, keeping s for its owner; unless is_ended, tell the
 * owner its client is gone. */
void httpd_stream_close(struct httpd_stream *s, bool is_ended);
/* Bytes of s's queue went to its client: tell a drained_cb waiting for
 * this. */
void httpd_stream_written(struct httpd_stream *s);

#endif
