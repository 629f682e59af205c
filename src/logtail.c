/*
 * A job's log over HTTP, plain or followed as server-sent events. The loop
 * holds the answers and learns that a log grew (inotify on the file, and a
 * tick each second for what inotify cannot tell: the file appearing, the
 * job ending); the reader threads (logtail_read.c) read the job's state and
 * the file, one piece per answer at a time, and only once its client has
 * taken the previous piece.
 */
#include <sys/inotify.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpd.h"
#include "job.h"
#include "log.h"
#include "logtail.h"
#include "logtail_impl.h"
#include "reader.h"
#include "util.h"
#include "web.h"

#define MAX_TAILS	256		/* log answers at once */
#define LOW_BYTES	(16 * 1024)	/* the next piece once below this */
#define TICK_MS		1000
#define MAX_OFFSET_DIGITS 18		/* fits int64_t */
#define NOTIFY_READS	64		/* inotify reads per wakeup */
/* How long EventSource waits before it reconnects. */
#define RETRY		"retry: 2000\n\n"

const char logtail_script[] =
	"/* Follows a running job's log on its page: each line is appended\n"
	" * as text, and the end says how the job ended. EventSource resumes\n"
	" * by itself with Last-Event-ID, so a dropped connection neither\n"
	" * loses nor repeats a line. */\n"
	"(function () {\n"
	"\t\"use strict\";\n"
	"\tvar log = document.getElementById(\"log\");\n"
	"\tif (!log || !log.hasAttribute(\"data-live\") ||\n"
	"\t    !window.EventSource)\n"
	"\t\treturn;\n"
	"\tvar state = document.getElementById(\"log-state\");\n"
	"\tvar page = document.scrollingElement || document.documentElement;\n"
	"\tvar src = new EventSource(log.getAttribute(\"data-src\"));\n"
	"\tfunction atEnd(el) {\n"
	"\t\treturn el.scrollHeight - el.scrollTop - el.clientHeight < 24;\n"
	"\t}\n"
	"\tsrc.onmessage = function (e) {\n"
	"\t\tvar follow = atEnd(log), followPage = atEnd(page);\n"
	"\t\tlog.appendChild(document.createTextNode(e.data + \"\\n\"));\n"
	"\t\tif (follow)\n"
	"\t\t\tlog.scrollTop = log.scrollHeight;\n"
	"\t\tif (followPage)\n"
	"\t\t\tpage.scrollTop = page.scrollHeight;\n"
	"\t};\n"
	"\tsrc.addEventListener(\"end\", function (e) {\n"
	"\t\tsrc.close();\n"
	"\t\tlog.removeAttribute(\"data-live\");\n"
	"\t\tif (state)\n"
	"\t\t\tstate.textContent = \"ended: \" + e.data;\n"
	"\t});\n"
	"\tsrc.onerror = function () {\n"
	"\t\tif (src.readyState === EventSource.CLOSED && state)\n"
	"\t\t\tstate.textContent = \"not followed: reload the page\";\n"
	"\t};\n"
	"})();\n";

/* One job's log, as the live answers following it watch it. */
struct watch {
	int64_t			 job;
	int			 wd;		/* inotify's, or -1 */
	int			 refs;		/* live answers of the job */
	bool			 is_changed;
	LIST_ENTRY(watch)	 entry;
};

struct logtail {
	struct web		*web;
	struct event		*ev_tick;
	struct event		*ev_notify;
	int			 ifd;		/* inotify, or -1 */
	int			 ntails;
	int			 nlive;
	bool			 is_stopping;
	TAILQ_HEAD(, tail)	 tails;
	LIST_HEAD(, watch)	 watches;
};

static void tail_submit(struct tail *);
static void tail_drained_cb(struct httpd_stream *, void *);

static struct watch *
watch_get(struct logtail *lt, int64_t job)
{
	struct watch *w;

	LIST_FOREACH(w, &lt->watches, entry)
		if (w->job == job)
			break;
	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->job = job;
		w->wd = -1;
		LIST_INSERT_HEAD(&lt->watches, w, entry);
	}
	w->refs++;
	return w;
}

static void
watch_put(struct logtail *lt, struct watch *w)
{
	if (w == NULL || --w->refs > 0)
		return;
	if (w->wd != -1 && lt->ifd != -1)
		inotify_rm_watch(lt->ifd, w->wd);
	LIST_REMOVE(w, entry);
	free(w);
}

/* The watch a read set up: events that came before the loop knew its
 * descriptor were not told to anyone, so the log may have grown. */
static void
watch_adopt(struct tail *t)
{
	struct watch *w = t->watch;

	if (t->wd == -1 || w == NULL)
		return;
	if (w->wd != t->wd) {
		if (w->wd != -1)	/* the log was made anew */
			inotify_rm_watch(t->lt->ifd, w->wd);
		w->wd = t->wd;
		t->is_changed = true;
	}
	t->wd = -1;
}

static void
tail_free(struct tail *t)
{
	struct logtail *lt = t->lt;

	TAILQ_REMOVE(&lt->tails, t, entry);
	lt->ntails--;
	if (t->is_live && --lt->nlive == 0)
		evtimer_del(lt->ev_tick);
	httpd_stream_end(t->s);
	watch_put(lt, t->watch);
	if (t->fd != -1)
		close(t->fd);
	evbuffer_free(t->piece);
	free(t->path);
	free(t);
}

/* Leave one of our callbacks: a client that left meanwhile is let go. */
static void
tail_release(struct tail *t)
{
	t->is_busy = false;
	if (t->is_gone && t->phase != TAIL_READING)
		tail_free(t);
}

static void
tail_gone_cb(struct httpd_stream *s, void *arg)
{
	struct tail *t = arg;

	t->is_gone = true;
	if (t->phase != TAIL_READING && !t->is_busy)
		tail_free(t);
}

/* The log's answers say no more than what they are. */
static void
add_headers(struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Content-Security-Policy",
	    "default-src 'none'; sandbox");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "Cache-Control", "no-store");
}

static const char *
content_type(const struct tail *t)
{
	return t->is_live ? "text/event-stream; charset=utf-8" :
	    "text/plain; charset=utf-8";
}

/* Send the piece; false when the client is gone. */
static bool
send_piece(struct tail *t)
{
	size_t len = evbuffer_get_length(t->piece);

	if (len > 0 && httpd_stream_send(t->s, evbuffer_pullup(t->piece, -1),
	    len) == -1)
		return false;
	evbuffer_drain(t->piece, len);
	return true;
}

static void
wait_drained(struct tail *t)
{
	t->phase = TAIL_DRAINING;
	httpd_stream_wait_drained(t->s, LOW_BYTES, tail_drained_cb, t);
}

/* A piece was read for a started answer: send it, and end, go on, or
 * wait for the log to grow. */
static void
tail_continue(struct tail *t)
{
	if (t->err != 0) {
		log_warn("serve: read %s: %s", t->path, strerror(t->err));
		httpd_stream_abort(t->s);	/* the client sees it cut */
		t->s = NULL;
		t->is_gone = true;
		return;
	}
	if (!send_piece(t)) {
		t->is_gone = true;
		return;
	}
	if (t->is_final) {
		if (t->is_live)
			httpd_stream_event(t->s, "end",
			    job_state_name(t->state));
		httpd_stream_end(t->s);
		t->s = NULL;
		t->is_gone = true;
	} else if (t->is_more || t->is_changed)
		wait_drained(t);
	else
		t->phase = TAIL_IDLE;
}

/* The first read is back: answer the request. */
static void
tail_start(struct tail *t)
{
	struct evhttp_request *req = t->req;

	t->req = NULL;
	t->is_gone = true;	/* unless a stream follows */
	if (t->found == 0) {
		web_reply_text(t->h, req, 404, "not found\n");
		return;
	}
	if (t->found == -1) {
		web_reply_text(t->h, req, 500, "cannot read the store\n");
		return;
	}
	if (t->err != 0) {
		log_warn("serve: read %s: %s", t->path, strerror(t->err));
		web_reply_text(t->h, req, 500, "cannot read the log\n");
		return;
	}
	add_headers(req);
	if (t->is_head || (!t->is_live && t->is_final)) {
		/* All of it at once, with its length. */
		httpd_reply_buffer(t->h, req, 200, content_type(t),
		    t->is_head ? NULL : t->piece);
		if (!t->is_head)
			t->piece = evbuffer_new();
		return;
	}
	if (t->is_live) {
		/* A proxy in front (nginx) would hold the events back. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "X-Accel-Buffering", "no");
	}
	if ((t->s = httpd_stream_start(t->h, req, content_type(t),
	    tail_gone_cb, t)) == NULL) {
		httpd_reply(t->h, req, 503, NULL, NULL);	/* frees req */
		return;
	}
	t->is_gone = false;
	t->is_started = true;
	if (t->is_live && httpd_stream_send(t->s, RETRY, strlen(RETRY)) == -1) {
		t->is_gone = true;
		return;
	}
	tail_continue(t);
}

static void
tail_done_cb(struct reader_req *rq)
{
	struct tail *t = (struct tail *)rq;
	struct logtail *lt = t->lt;

	watch_adopt(t);
	t->phase = TAIL_IDLE;
	if (reader_is_stopping(lt->web->reader)) {
		tail_free(t);	/* the loop is over: nothing to answer */
		return;
	}
	t->is_busy = true;
	if (!t->is_started && lt->is_stopping) {
		web_reply_text(t->h, t->req, 503, "serve is stopping\n");
		t->req = NULL;
	} else if (!t->is_started)
		tail_start(t);
	else if (!t->is_gone)
		tail_continue(t);
	tail_release(t);
}

static void
tail_drained_cb(struct httpd_stream *s, void *arg)
{
	tail_submit(arg);
}

static void
tail_submit(struct tail *t)
{
	t->phase = TAIL_READING;
	t->is_changed = false;
	t->want_watch = t->watch != NULL && t->watch->wd == -1;
	reader_submit(t->lt->web->reader, &t->rq);
}

/* The log may have grown, or the job ended. */
static void
tail_poke(struct tail *t)
{
	if (!t->is_live || !t->is_started || t->is_gone)
		return;
	if (t->phase == TAIL_READING)
		t->is_changed = true;
	else if (t->phase == TAIL_IDLE)
		wait_drained(t);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct logtail *lt = arg;
	struct tail *t;

	TAILQ_FOREACH(t, &lt->tails, entry)
		tail_poke(t);
}

/* Which watches' files were written to or closed; then their answers. */
static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct logtail *lt = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct watch *w;
	struct tail *t;
	bool is_all = false;
	ssize_t n;
	int i;
	char *p;

	for (i = 0; i < NOTIFY_READS; i++) {
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				is_all = true;
				continue;
			}
			LIST_FOREACH(w, &lt->watches, entry) {
				if (w->wd != ev->wd)
					continue;
				w->is_changed = true;
				if (ev->mask & IN_IGNORED)
					w->wd = -1;	/* the file went */
			}
		}
	}
	TAILQ_FOREACH(t, &lt->tails, entry)
		if (is_all || (t->watch != NULL && t->watch->is_changed))
			tail_poke(t);
	LIST_FOREACH(w, &lt->watches, entry)
		w->is_changed = false;
}

struct logtail *
logtail_new(struct web *w)
{
	struct logtail *lt = xcalloc(1, sizeof(*lt));

	lt->web = w;
	TAILQ_INIT(&lt->tails);
	LIST_INIT(&lt->watches);
	if ((lt->ev_tick = event_new(w->base, -1, EV_PERSIST, tick_cb,
	    lt)) == NULL)
		fatalx(1, "serve: cannot register events");
	/* Without inotify, the tick alone tells that a log grew. */
	if ((lt->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("serve: inotify: %s; live logs follow each second",
		    strerror(errno));
	else if ((lt->ev_notify = event_new(w->base, lt->ifd,
	    EV_READ | EV_PERSIST, notify_cb, lt)) == NULL ||
	    event_add(lt->ev_notify, NULL) == -1)
		fatalx(1, "serve: cannot register events");
	return lt;
}

/* An offset as the client sends it: digits only. */
static int
parse_offset(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= MAX_OFFSET_DIGITS)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return -1;
	*out = v;
	return 0;
}

/* Where the answer starts: the last event the client saw, else ?from=. */
static int
start_offset(struct evhttp_request *req, bool is_live, int64_t *off)
{
	const char *last = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Last-Event-ID");
	char *from;
	int rc = 0;

	*off = 0;
	if (is_live && last != NULL && *last != '\0')
		return parse_offset(last, off);
	if ((from = web_query(req, "from")) != NULL)
		rc = parse_offset(from, off);
	free(from);
	return rc;
}

void
logtail_get(struct logtail *lt, struct httpd *h, struct evhttp_request *req,
    int64_t id)
{
	const char *accept = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept");
	bool is_live = accept != NULL &&
	    strcasestr(accept, "text/event-stream") != NULL;
	const struct timeval tick = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };
	struct tail *t;
	int64_t off;

	if (lt->is_stopping) {
		web_reply_text(h, req, 503, "serve is stopping\n");
		return;
	}
	if (start_offset(req, is_live, &off) == -1) {
		web_reply_text(h, req, 400, "bad offset: Last-Event-ID and "
		    "from= are byte offsets\n");
		return;
	}
	if (lt->ntails >= MAX_TAILS) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "10");
		web_reply_text(h, req, 503, "too many logs are followed at "
		    "once; try again later\n");
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->rq.work = logtail_read;
	t->rq.done_cb = tail_done_cb;
	t->lt = lt;
	t->h = h;
	t->req = req;
	t->job = id;
	t->is_live = is_live;
	t->is_head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	t->path = xasprintf("%s/jobs/%lld/log", lt->web->cfg->data_dir,
	    (long long)id);
	t->ifd = lt->ifd;
	t->fd = t->wd = -1;
	t->off = off;
	if ((t->piece = evbuffer_new()) == NULL)
		fatalx(1, "serve: out of memory");
	TAILQ_INSERT_TAIL(&lt->tails, t, entry);
	lt->ntails++;
	if (is_live) {
		t->watch = watch_get(lt, id);
		if (lt->nlive++ == 0)
			evtimer_add(lt->ev_tick, &tick);
	}
	tail_submit(t);
}

void
logtail_stop(struct logtail *lt)
{
	struct tail *t, *next;

	if (lt == NULL || lt->is_stopping)
		return;
	lt->is_stopping = true;
	evtimer_del(lt->ev_tick);
	if (lt->ev_notify != NULL)
		event_del(lt->ev_notify);
	for (t = TAILQ_FIRST(&lt->tails); t != NULL; t = next) {
		next = TAILQ_NEXT(t, entry);
		t->is_gone = true;
		if (t->s != NULL) {
			/* A live client resumes from its last event; a
			 * plain one must not take a part for the whole. */
			if (t->is_live)
				httpd_stream_end(t->s);
			else
				httpd_stream_abort(t->s);
			t->s = NULL;
		}
		if (t->phase != TAIL_READING && !t->is_busy)
			tail_free(t);
	}
}

void
logtail_free(struct logtail *lt)
{
	if (lt == NULL)
		return;
	while (!TAILQ_EMPTY(&lt->tails))
		tail_free(TAILQ_FIRST(&lt->tails));
	if (lt->ev_notify != NULL)
		event_free(lt->ev_notify);
	event_free(lt->ev_tick);
	if (lt->ifd != -1)
		close(lt->ifd);
	free(lt);
}
