/*
 * httpd.c on 127.0.0.1 with a short request deadline and a cap of two
 * connections: streams outlive the deadline, a client that leaves or reads
 * too slowly is noticed and its slot freed, a sender that waits for the
 * queue to drain gets a slow client all of a large stream, and stopping
 * ends streams.
 * Clients run on a thread; the server tells it what it saw through a pipe.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>

#include "httpd.h"
#include "tap.h"
#include "util.h"

#define TIMEOUT_MS	200
#define TICK_MS		20
#define NEVENTS		4
#define FLOOD_CHUNK	(64 * 1024)
#define MAX_STREAM	(256 * 1024)
#define GUARD_MS	20000	/* only so that a broken server cannot hang the test */
#define MAX_READ	(1u << 20)
#define PACE_CHUNK	4096
#define PACE_HIGH	(64 * 1024)	/* queued: the sender waits */
#define PACE_LOW	(16 * 1024)	/* drained to this: it goes on */
#define PACE_TOTAL	(4 * 1024 * 1024)	/* 16 times MAX_STREAM */

struct server {
	struct event_base	*base;
	struct httpd		*h;
	int			 notice;	/* write end: what the server saw */
};

struct stream {
	struct server		*srv;
	struct httpd_stream	*s;
	struct event		*ev;
	int64_t			 start_ms;
	int			 sent;
	size_t			 flooded;
	size_t			 max_queued;
	bool			 is_early;	/* drained_cb over PACE_LOW */
};

static void
notice(struct server *srv, char what)
{
	(void)!write(srv->notice, &what, 1);
}

static struct stream *
stream_new(struct server *srv, event_callback_fn cb)
{
	struct stream *st = xcalloc(1, sizeof(*st));
	struct timeval tv = { 0, TICK_MS * 1000 };

	st->srv = srv;
	st->start_ms = util_mono_ms();
	st->ev = event_new(srv->base, -1, EV_PERSIST, cb, st);
	event_add(st->ev, &tv);
	return st;
}

static void
stream_free(struct stream *st)
{
	event_free(st->ev);
	httpd_stream_end(st->s);
	free(st);
}

/* Event k goes out once k request deadlines have passed since the start;
 * after the last, the stream ends. */
static void
events_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	char data[16];

	if (util_mono_ms() < st->start_ms + (int64_t)(st->sent + 1) * TIMEOUT_MS)
		return;
	snprintf(data, sizeof(data), "%d", ++st->sent);
	if (httpd_stream_event(st->s, "tick", data) == -1)
		notice(st->srv, 'x');
	if (st->sent == NEVENTS) {
		notice(st->srv, 'E');
		stream_free(st);
	}
}

static void
gone_cb(struct httpd_stream *s, void *arg)
{
	struct stream *st = arg;

	notice(st->srv, 'G');
	/* The owner learns it again on its next send. */
	notice(st->srv, httpd_stream_send(s, "x", 1) == -1 ? 'g' : '!');
	stream_free(st);
}

static void
events_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, events_tick_cb);

	st->s = httpd_stream_start(h, req, "text/event-stream", gone_cb, st);
}

static void
idle_tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void
hold_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, idle_tick_cb);

	st->s = httpd_stream_start(h, req, "text/event-stream", gone_cb, st);
	httpd_stream_event(st->s, NULL, "hello");
}

/* Send until the stream refuses: its client does not read. */
static void
flood_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	static char chunk[FLOOD_CHUNK];
	int i;

	memset(chunk, 'f', sizeof(chunk));
	for (i = 0; i < 16; i++) {
		if (httpd_stream_send(st->s, chunk, sizeof(chunk)) == -1) {
			notice(st->srv, 'S');
			event_del(st->ev);
			return;
		}
		st->flooded += sizeof(chunk);
	}
}

static void
flood_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, flood_tick_cb);

	st->s = httpd_stream_start(h, req, "text/event-stream", gone_cb, st);
}

static void	paced_send(struct stream *);

static void
paced_drained_cb(struct httpd_stream *s, void *arg)
{
	struct stream *st = arg;

	if (httpd_stream_queued(s) > PACE_LOW)
		st->is_early = true;
	paced_send(st);
}

/* Send PACE_TOTAL bytes, waiting whenever more than PACE_HIGH are queued;
 * 'P' once the first wait starts, then 'E' at the end if the queue never
 * passed the high mark by more than a send and no wait ended early. */
static void
paced_send(struct stream *st)
{
	static char chunk[PACE_CHUNK];
	size_t queued;

	memset(chunk, 'z', sizeof(chunk));
	while (st->flooded < PACE_TOTAL) {
		queued = httpd_stream_queued(st->s);
		if (queued > st->max_queued)
			st->max_queued = queued;
		if (queued > PACE_HIGH) {
			if (st->sent++ == 0)
				notice(st->srv, 'P');
			httpd_stream_wait_drained(st->s, PACE_LOW,
			    paced_drained_cb, st);
			return;
		}
		if (httpd_stream_send(st->s, chunk, sizeof(chunk)) == -1) {
			notice(st->srv, 'S');
			return;
		}
		st->flooded += sizeof(chunk);
	}
	/* How often it waits depends on how much the kernel's buffers take
	 * (they grow as the connection goes on); that it waited at all is
	 * 'P'. */
	notice(st->srv, st->max_queued <= PACE_HIGH + PACE_CHUNK + 64 &&
	    !st->is_early && st->sent >= 1 ? 'E' : '!');
	stream_free(st);
}

static void
paced_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, idle_tick_cb);

	st->s = httpd_stream_start(h, req, NULL, gone_cb, st);
	paced_send(st);
}

static void
ping_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	httpd_busy(h, req);
	httpd_reply(h, req, 200, "text/plain", "pong\n");
}

/* The clients ask: 's' stop the server, 'q' quit. */
static void
ask_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	char c = 'q';

	(void)!read(fd, &c, 1);
	if (c == 's')
		httpd_stop(srv->h);
	else
		event_base_loopexit(srv->base, NULL);
}

/* --- the clients' side --- */

struct clients {
	unsigned short	 port;
	int		 notice;	/* read end */
	int		 ask;		/* write end */
};

static int
dial(unsigned short port, int rcvbuf)
{
	struct sockaddr_in sin = { 0 };
	struct timeval tv = { GUARD_MS / 1000, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

/* Read until the server closes (return 0), or until want appears
 * (return 1); -1 when the guard expires first. buf holds what came. */
static int
hear(int fd, char *buf, size_t size, size_t *len, const char *want)
{
	ssize_t n;

	for (;;) {
		buf[*len] = '\0';
		if (want != NULL && strstr(buf, want) != NULL)
			return 1;
		if (*len + 1 >= size)
			*len = 0;	/* keep reading; only the end matters */
		n = read(fd, buf + *len, size - 1 - *len);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		if (n == -1)
			return -1;
		*len += (size_t)n;
	}
}

/* The next thing the server saw, or '?' when it saw nothing in time. */
static char
heard_server(struct clients *cl)
{
	struct pollfd pfd = { cl->notice, POLLIN, 0 };
	char c;

	if (poll(&pfd, 1, GUARD_MS) != 1 || read(cl->notice, &c, 1) != 1)
		return '?';
	return c;
}

/* A client that trickles its request a byte a tick is answered 408 at the
 * deadline, which no byte postpones: the deadline streams must escape. */
static void
test_deadline_is_short(struct clients *cl)
{
	static const char req[] = "GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct pollfd pfd;
	char buf[4096];
	size_t len = 0;
	int fd = dial(cl->port, 0), i;

	say(fd, req);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (i = 0; i < GUARD_MS / TICK_MS; i++) {
		if (poll(&pfd, 1, TICK_MS) != 0)
			break;
		say(fd, "a");
	}
	ok(hear(fd, buf, sizeof(buf), &len, NULL) == 0,
	    "a request trickled byte by byte is closed");
	ok(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "answered 408");
	close(fd);
}

static void
test_stream_outlives_deadline(struct clients *cl)
{
	char buf[8192], want[32];
	size_t len = 0;
	int fd = dial(cl->port, 0), i, rc;

	say(fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
	rc = hear(fd, buf, sizeof(buf), &len, NULL);
	ok(rc == 0, "the stream ends with the server closing");
	ok(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "answered 200");
	ok(strstr(buf, "Content-Type: text/event-stream\r\n") != NULL,
	    "as text/event-stream");
	ok(strstr(buf, "Transfer-Encoding: chunked\r\n") != NULL, "chunked");
	for (i = 1; i <= NEVENTS; i++) {
		snprintf(want, sizeof(want), "event: tick\ndata: %d\n\n", i);
		ok(strstr(buf, want) != NULL, "event %d arrives, %d request "
		    "deadlines after the start", i, i);
	}
	ok(len >= 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0,
	    "then the last chunk");
	ok(heard_server(cl) == 'E', "the server sent every event and ended");
	close(fd);
}

/* HTTP/1.0 has no chunks: the events go out as they are, the close ends
 * the stream. */
static void
test_stream_to_http10(struct clients *cl)
{
	char buf[8192], want[32];
	size_t len = 0;
	int fd = dial(cl->port, 0), i, all = 1;

	say(fd, "GET /events HTTP/1.0\r\n\r\n");
	ok(hear(fd, buf, sizeof(buf), &len, NULL) == 0,
	    "an HTTP/1.0 stream ends with the server closing");
	ok(strncmp(buf, "HTTP/1.0 200 OK\r\n", 17) == 0, "answered 200");
	ok(strstr(buf, "Transfer-Encoding") == NULL, "not chunked");
	for (i = 1; i <= NEVENTS; i++) {
		snprintf(want, sizeof(want), "event: tick\ndata: %d\n\n", i);
		all = all && strstr(buf, want) != NULL;
	}
	ok(all, "every event arrives");
	ok(heard_server(cl) == 'E', "the server sent every event and ended");
	close(fd);
}

static void
test_gone_client_frees_its_slot(struct clients *cl)
{
	char a[4096], b[4096], c[4096];
	size_t alen = 0, blen = 0, clen = 0;
	int fa, fb, fc;

	fa = dial(cl->port, 0);
	say(fa, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(hear(fa, a, sizeof(a), &alen, "data: hello\n\n") == 1,
	    "a first stream starts");
	fb = dial(cl->port, 0);
	say(fb, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(hear(fb, b, sizeof(b), &blen, "data: hello\n\n") == 1,
	    "a second stream starts: the cap of two is reached");
	/* Waits in the listen queue until a slot frees. */
	fc = dial(cl->port, 0);
	say(fc, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
	close(fa);
	ok(heard_server(cl) == 'G', "the server notices the first client left");
	ok(heard_server(cl) == 'g', "and a send on its stream fails");
	ok(hear(fc, c, sizeof(c), &clen, "pong\n") == 1,
	    "its slot serves the next connection");
	ok(strncmp(c, "HTTP/1.1 200 OK\r\n", 17) == 0, "answered 200");
	close(fc);
	close(fb);
	ok(heard_server(cl) == 'G', "the second stream's client is gone too");
	ok(heard_server(cl) == 'g', "and its stream says so");
}

static void
test_slow_reader_is_dropped(struct clients *cl)
{
	char *buf = xmalloc(MAX_READ);
	size_t len = 0;
	int fd = dial(cl->port, 4096);

	say(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(heard_server(cl) == 'S', "a stream whose client does not read "
	    "refuses more than its bound");
	ok(heard_server(cl) == 'G', "the client is dropped and that noticed");
	ok(heard_server(cl) == 'g', "its stream says so");
	ok(hear(fd, buf, MAX_READ, &len, NULL) == 0,
	    "the client finds the connection closed");
	close(fd);
	free(buf);
}

/* A client that reads nothing for a while, then everything, slowly: the
 * sender waits for it instead of queueing, and it gets every byte. */
static void
test_paced_stream_is_whole(struct clients *cl)
{
	char *buf = xmalloc(MAX_READ);
	size_t got = 0, i;
	ssize_t n;
	int fd = dial(cl->port, 4096);

	say(fd, "GET /paced HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(heard_server(cl) == 'P', "the sender waits for a client that does "
	    "not read");
	while ((n = read(fd, buf, 8192)) > 0) {
		for (i = 0; i < (size_t)n; i++)
			got += buf[i] == 'z';
		usleep(200);
	}
	ok(got == PACE_TOTAL, "the client read slowly and got all %d bytes, "
	    "16 times the queue's bound (%zu)", PACE_TOTAL, got);
	ok(heard_server(cl) == 'E', "the queue stayed under the high mark, "
	    "and each wait ended at the low mark");
	close(fd);
	free(buf);
}

static void
test_stop_ends_streams(struct clients *cl)
{
	char buf[4096];
	size_t len = 0;
	int fd = dial(cl->port, 0), late;

	say(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(hear(fd, buf, sizeof(buf), &len, "data: hello\n\n") == 1,
	    "a stream runs");
	(void)!write(cl->ask, "s", 1);
	ok(heard_server(cl) == 'G', "stopping the server ends it, and its "
	    "owner is told");
	ok(heard_server(cl) == 'g', "its stream says so");
	ok(hear(fd, buf, sizeof(buf), &len, NULL) == 0 && len >= 5 &&
	    memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0,
	    "the client gets the last chunk and the close");
	close(fd);
	late = dial(cl->port, 0);
	ok(late == -1, "no new connection is accepted");
	if (late != -1)
		close(late);
}

static void *
clients_main(void *arg)
{
	struct clients *cl = arg;

	test_deadline_is_short(cl);
	test_stream_outlives_deadline(cl);
	test_stream_to_http10(cl);
	test_gone_client_frees_its_slot(cl);
	test_slow_reader_is_dropped(cl);
	test_paced_stream_is_whole(cl);
	test_stop_ends_streams(cl);
	(void)!write(cl->ask, "q", 1);
	return NULL;
}

/* A port nobody listens on now. */
static unsigned short
free_port(void)
{
	struct sockaddr_in sin = { 0 };
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1)
		return 0;
	close(fd);
	return ntohs(sin.sin_port);
}

int
main(void)
{
	const struct httpd_limits lim = {
		.max_connections = 2,
		.timeout_ms = TIMEOUT_MS,
		.max_body_bytes = 1024,
		.max_headers_bytes = 8192,
		.max_stream_bytes = MAX_STREAM,
	};
	struct server srv = { 0 };
	struct clients cl = { 0 };
	struct event *ev_ask;
	pthread_t th;
	char listen[64], err[256];
	int notice[2], ask[2], tries;

	signal(SIGPIPE, SIG_IGN);	/* as serve does */
	if (pipe(notice) == -1 || pipe(ask) == -1)
		return 1;
	srv.base = event_base_new();
	srv.notice = notice[1];
	for (tries = 0; tries < 20 && srv.h == NULL; tries++) {
		cl.port = free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", cl.port);
		srv.h = httpd_new(srv.base, listen, &lim, err, sizeof(err));
	}
	ok(srv.h != NULL, "listens on 127.0.0.1");
	if (srv.h == NULL)
		return done_testing();
	httpd_route(srv.h, "/events", events_cb, &srv);
	httpd_route(srv.h, "/hold", hold_cb, &srv);
	httpd_route(srv.h, "/flood", flood_cb, &srv);
	httpd_route(srv.h, "/paced", paced_cb, &srv);
	httpd_route(srv.h, NULL, ping_cb, &srv);
	ev_ask = event_new(srv.base, ask[0], EV_READ | EV_PERSIST, ask_cb,
	    &srv);
	event_add(ev_ask, NULL);
	cl.notice = notice[0];
	cl.ask = ask[1];
	pthread_create(&th, NULL, clients_main, &cl);
	event_base_dispatch(srv.base);
	pthread_join(th, NULL);
	event_free(ev_ask);
	httpd_free(srv.h);
	event_base_free(srv.base);
	libevent_global_shutdown();
	close(notice[0]);
	close(notice[1]);
	close(ask[0]);
	close(ask[1]);
	return done_testing();
}
