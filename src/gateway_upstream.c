/*
 * The gateway's transfers upstream: libcurl's multi interface driven by
 * the gateway's libevent loop (one event per socket libcurl names, one
 * timer), so every request of the agent proceeds at once. Each answer's
 * status and headers go back when its first byte does, then each chunk as
 * it arrives, through the meter; an answer over its bound is cut. A
 * client that reads more slowly than the upstream sends pauses its transfer
 * once GW_QUEUE_HIGH bytes wait for it, until they drain to GW_QUEUE_LOW, so
 * the gateway holds little more than that per answer however large it is.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway_impl.h"
#include "log.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS	30000L
#define LOW_SPEED_TIME_S	600L	/* under 1 byte/s this long: given up */

static void	check_done(struct gw *);
static int	answer_start(struct gw_xfer *);

/* ---- libcurl on libevent ---- */

static void
socket_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw *gw = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(gw->multi, fd, flags, &running);
	check_done(gw);
}

static void
timer_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw *gw = arg;
	int running;

	curl_multi_socket_action(gw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(gw);
}

/* libcurl says which events a socket of its waits for. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct gw *gw = userp;
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	if (ev != NULL) {
		event_free(ev);
		curl_multi_assign(gw->multi, s, NULL);
	}
	if (what == CURL_POLL_REMOVE)
		return 0;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if ((ev = event_new(gw->base, s, kind, socket_ev_cb, gw)) == NULL ||
	    event_add(ev, NULL) == -1)
		fatalx(1, "gateway: cannot register events");
	curl_multi_assign(gw->multi, s, ev);
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct gw *gw = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(gw->ev_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(gw->ev_timer, &tv);
	return 0;
}

/* LOW_SPEED_TIME_S, or less for the tests (HANDOFF_TEST_LOW_SPEED_S). */
static long
low_speed_time(void)
{
	const char *v = getenv("HANDOFF_TEST_LOW_SPEED_S");
	long long s;

	if (v != NULL && util_parse_int(v, 1, LOW_SPEED_TIME_S, &s) == 0)
		return (long)s;
	return LOW_SPEED_TIME_S;
}

int
gw_upstream_init(struct gw *gw)
{
	if ((gw->multi = curl_multi_init()) == NULL ||
	    (gw->ev_timer = evtimer_new(gw->base, timer_ev_cb, gw)) == NULL)
		return -1;
	curl_multi_setopt(gw->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(gw->multi, CURLMOPT_SOCKETDATA, gw);
	curl_multi_setopt(gw->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(gw->multi, CURLMOPT_TIMERDATA, gw);
	gw->low_speed_s = low_speed_time();
	return 0;
}

/* ---- one transfer ---- */

static void
xfer_free(struct gw_xfer *x)
{
	struct gw *gw = x->gw;

	if (x->prev)
		x->prev->next = x->next;
	else
		gw->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	if (x->easy != NULL) {
		curl_multi_remove_handle(gw->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);	/* holds the real key */
	if (x->owns_req && x->req != NULL)
		evhttp_request_free(x->req);
	if (x->ev_reap != NULL)
		event_free(x->ev_reap);
	if (x->ev_eof != NULL)
		event_free(x->ev_eof);
	if (x->ev_stall != NULL)
		event_free(x->ev_stall);
	usage_meter_free(x->meter);
	free(x->answer_headers);
	free(x->body);
	free(x->model);
	free(x);
}

/* The transfer ended (result), or was abandoned (the client left, the
 * gateway stops): answer what is left to answer, record, free. */
static void
xfer_end(struct gw_xfer *x, CURLcode result)
{
	struct gw *gw = x->gw;
	char msg[CURL_ERROR_SIZE + 64];
	struct evhttp_connection *evcon;
	bool is_whole;

	if (x->req != NULL && x->stream == NULL && !x->owns_req &&
	    (evcon = evhttp_request_get_connection(x->req)) != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	/* An answer without a body (a 204, an empty 500) starts at its end. */
	if (result == CURLE_OK && x->stream == NULL && x->req != NULL &&
	    !x->is_gone && answer_start(x) == -1)
		x->is_gone = true;
	is_whole = result == CURLE_OK && !x->is_cut && !x->is_gone;

	if (x->is_cut)
		log_warn("gateway: job %lld: an answer over %zu MiB was cut",
		    (long long)gw->job, x->max_bytes >> 20);
	else if (x->is_stalled)
		log_warn("gateway: job %lld: a client read under 1 byte/s for "
		    "%ld s; its answer was cut", (long long)gw->job,
		    gw->low_speed_s);
	else if (result != CURLE_OK && !x->is_gone)
		log_warn("gateway: job %lld: upstream: %s", (long long)gw->job,
		    x->errbuf[0] != '\0' ? x->errbuf :
		    curl_easy_strerror(result));
	if (x->stream != NULL) {
		if (is_whole)
			httpd_stream_end(x->stream);
		else
			httpd_stream_abort(x->stream);
		x->stream = NULL;
		x->req = NULL;	/* the stream freed it */
	} else if (x->req != NULL && x->is_eof && !x->owns_req) {
		/* Answered so that evhttp lets the connection go. */
		evhttp_add_header(evhttp_request_get_output_headers(x->req),
		    "Connection", "close");
		gw_reply_error(gw, x->req, x->is_metered ? x->api : USAGE_CHAT,
		    502, NULL, "the client left");
		x->req = NULL;
	} else if (x->req != NULL && !x->is_gone) {
		snprintf(msg, sizeof(msg), "upstream: %s",
		    x->errbuf[0] != '\0' ? x->errbuf :
		    curl_easy_strerror(result));
		gw_reply_error(gw, x->req, x->is_metered ? x->api :
		    USAGE_CHAT, 502, NULL, msg);
		x->req = NULL;
	}
	if (x->is_metered && x->meter != NULL)
		gw_record(gw, x);
	xfer_free(x);
}

static void
check_done(struct gw *gw)
{
	struct gw_xfer *x;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(gw->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		xfer_end(x, m->data.result);
	}
}

/* Ended off libcurl's stack: the client left. */
static void
reap_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_end(arg, CURLE_OK);
}

/* The client of a started answer left (httpd tells). */
static void
stream_gone_cb(struct httpd_stream *s, void *arg)
{
	struct gw_xfer *x = arg;

	x->is_gone = true;
	event_active(x->ev_reap, EV_TIMEOUT, 0);
}

/* The client left before its answer started: evhttp frees the connection
 * and lets go of the request, which is then ours to free. */
static void
conn_gone_cb(struct evhttp_connection *evcon, void *arg)
{
	struct gw_xfer *x = arg;

	if (x->stream != NULL || x->req == NULL)
		return;
	if (evhttp_request_get_connection(x->req) == NULL)
		x->owns_req = true;
	else
		x->req = NULL;	/* evhttp frees it with the connection */
	x->is_gone = true;
	event_active(x->ev_reap, EV_TIMEOUT, 0);
}

/*
 * libevent 2.1's evhttp does not read a connection whose request awaits its
 * answer, so it never learns that the client left: watch the socket for its
 * end until the answer starts. Bytes the client sends meanwhile (a next
 * request) end the watch; they wait for evhttp.
 */
static void
eof_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_xfer *x = arg;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	event_del(x->ev_eof);
	if (n > 0 || x->stream != NULL || x->is_gone)
		return;
	x->is_gone = x->is_eof = true;
	event_active(x->ev_reap, EV_TIMEOUT, 0);
}

static void
watch_eof(struct gw_xfer *x)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
	struct bufferevent *bev;
	evutil_socket_t fd;

	if (evcon == NULL || (bev = evhttp_connection_get_bufferevent(evcon))
	    == NULL || (fd = bufferevent_getfd(bev)) < 0)
		return;
	if ((x->ev_eof = event_new(x->gw->base, fd, EV_READ | EV_PERSIST,
	    eof_ev_cb, x)) == NULL || event_add(x->ev_eof, NULL) == -1)
		fatalx(1, "gateway: cannot register events");
}

/* Whether a header of the answer stays with the gateway: hop by hop, or
 * framing the gateway redoes. */
static bool
is_own_header(const char *name, size_t n)
{
	static const char *const own[] = { "connection", "keep-alive",
	    "transfer-encoding", "content-length", "te", "trailer", "upgrade",
	    "proxy-authenticate", "proxy-connection", "set-cookie" };
	size_t i;

	for (i = 0; i < nitems(own); i++)
		if (strlen(own[i]) == n && strncasecmp(name, own[i], n) == 0)
			return true;
	return false;
}

/* The answer's header lines; a new status line (after 1xx) starts over. */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct gw_xfer *x = arg;
	size_t len = size * n, name;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->answer_headers_len = 0;
		return len;
	}
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	name = strcspn(p, ":");
	if (len == 0 || name >= len || name == 0 || is_own_header(p, name))
		return size * n;
	if (x->answer_headers_len + len + 2 > GW_MAX_HEADERS) {
		x->is_headers_over = true;
		return 0;	/* aborts: a 502 */
	}
	x->answer_headers = xrealloc(x->answer_headers,
	    x->answer_headers_len + len + 2);
	memcpy(x->answer_headers + x->answer_headers_len, p, len);
	x->answer_headers_len += len;
	x->answer_headers[x->answer_headers_len++] = '\n';
	x->answer_headers[x->answer_headers_len] = '\0';
	return size * n;
}

/* Send the answer's status and headers; the meter by its content type. */
static int
answer_start(struct gw_xfer *x)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(x->req);
	char *line, *rest, *colon, *v;
	const char *ct;
	long status = 0;
	bool is_sse;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	x->status = status;
	rest = x->answer_headers;
	while (rest != NULL && (line = strsep(&rest, "\n")) != NULL) {
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		evhttp_add_header(out, line, v);
	}
	ct = evhttp_find_header(out, "Content-Type");
	is_sse = ct != NULL && strncasecmp(ct, "text/event-stream", 17) == 0;
	x->max_bytes = is_sse ? GW_MAX_STREAM : GW_MAX_ANSWER;
	if (x->is_metered)
		x->meter = usage_meter_new(x->api, is_sse);
	evhttp_connection_set_closecb(evhttp_request_get_connection(x->req),
	    NULL, NULL);
	if (x->ev_eof != NULL)
		event_del(x->ev_eof);
	x->stream = httpd_stream_answer(x->gw->httpd, x->req,
	    status >= 100 && status <= 999 ? (int)status : 502, NULL,
	    stream_gone_cb, x);
	return x->stream != NULL ? 0 : -1;
}

/* ---- a client slower than its upstream ---- */

/* Whether a paused client took at least 1 byte/s off its queue since it was
 * last looked at (libcurl does not time a paused transfer: this does). */
static void
stall_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_xfer *x = arg;
	size_t queued = httpd_stream_queued(x->stream);
	struct timeval tv = { x->gw->low_speed_s, 0 };

	if (queued < x->paused_queued &&
	    x->paused_queued - queued >= (size_t)x->gw->low_speed_s) {
		x->paused_queued = queued;
		evtimer_add(x->ev_stall, &tv);
		return;
	}
	x->is_stalled = x->is_gone = true;
	xfer_end(x, CURLE_OK);
}

/* The client's queue drained to GW_QUEUE_LOW: resume. libcurl hands back
 * at once what it kept through write_cb, which may pause again, or end the
 * answer (cut, the client gone): then curl_easy_pause fails and the
 * transfer is over without libcurl saying so. */
static void
drained_cb(struct httpd_stream *s, void *arg)
{
	struct gw_xfer *x = arg;
	struct gw *gw = x->gw;
	CURLcode rc;

	evtimer_del(x->ev_stall);
	if ((rc = curl_easy_pause(x->easy, CURLPAUSE_CONT)) != CURLE_OK) {
		xfer_end(x, rc);
		return;
	}
	check_done(gw);
}

/* More than GW_QUEUE_HIGH bytes wait for the client: hold the transfer
 * until they drain, and watch that the client still reads. */
static void
xfer_pause(struct gw_xfer *x)
{
	struct timeval tv = { x->gw->low_speed_s, 0 };

	if (x->ev_stall == NULL && (x->ev_stall = evtimer_new(x->gw->base,
	    stall_ev_cb, x)) == NULL)
		fatalx(1, "gateway: cannot register events");
	x->paused_queued = httpd_stream_queued(x->stream);
	evtimer_add(x->ev_stall, &tv);
	httpd_stream_wait_drained(x->stream, GW_QUEUE_LOW, drained_cb, x);
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct gw_xfer *x = arg;
	size_t len = size * n;

	if (x->is_gone || x->req == NULL)
		return 0;
	if (x->stream == NULL && answer_start(x) == -1) {
		x->is_gone = true;
		return 0;
	}
	/* Nothing of these bytes is counted, metered or sent yet: libcurl
	 * keeps them and offers them again when the transfer resumes. */
	if (httpd_stream_queued(x->stream) > GW_QUEUE_HIGH) {
		xfer_pause(x);
		return CURL_WRITEFUNC_PAUSE;
	}
	if (x->meter != NULL)
		usage_meter_feed(x->meter, p, len);
	x->bytes += len;
	if (x->bytes > x->max_bytes) {
		x->is_cut = true;
		return 0;
	}
	if (httpd_stream_send(x->stream, p, len) == -1) {
		x->is_gone = true;
		return 0;
	}
	return len;
}

void
gw_upstream_start(struct gw *gw, struct gw_xfer *x, const char *url,
    bool is_get)
{
	CURL *e;

	x->gw = gw;
	x->max_bytes = GW_MAX_ANSWER;
	if ((x->ev_reap = event_new(gw->base, -1, 0, reap_ev_cb, x)) == NULL ||
	    (x->easy = e = curl_easy_init()) == NULL)
		fatalx(1, "gateway: out of memory");
	x->next = gw->xfers;
	if (x->next)
		x->next->prev = x;
	gw->xfers = x;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Each transfer on a connection of its own: over HTTP/2, libcurl
	 * 7.88 stops reading a connection while data for a paused stream of
	 * it waits, which would hold up every other answer on it. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, gw->low_speed_s);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (gw->cfg->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, gw->cfg->ca_file);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	/* identity: the meter reads the bytes as they come */
	curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	if (is_get)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->len);
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(x->req),
	    conn_gone_cb, x);
	httpd_busy(gw->httpd, x->req);
	watch_eof(x);
	if (curl_multi_add_handle(gw->multi, e) != CURLM_OK) {
		snprintf(x->errbuf, sizeof(x->errbuf), "cannot start");
		xfer_end(x, CURLE_FAILED_INIT);
	}
}

void
gw_upstream_free(struct gw *gw)
{
	while (gw->xfers != NULL) {
		gw->xfers->is_gone = true;
		xfer_end(gw->xfers, CURLE_ABORTED_BY_CALLBACK);
	}
	if (gw->multi != NULL)
		curl_multi_cleanup(gw->multi);
	if (gw->ev_timer != NULL)
		event_free(gw->ev_timer);
	gw->multi = NULL;
	gw->ev_timer = NULL;
}
