/*
 * The egress proxy of one job: a libevent loop on a unix socket that serves
 * CONNECT and plain-HTTP absolute-form requests (one per connection) to the
 * hosts egress.c allows, dialing exactly the address it checked.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "egress.h"
#include "log.h"
#include "proxy.h"
#include "proxy_impl.h"
#include "pump.h"
#include "relay.h"
#include "sidecar.h"
#include "store.h"
#include "util.h"

static void	conn_end(struct conn *, bool, const char *);

/* ---- records ---- */

/* One line of egress.jsonl: INTERFACE.md's `egress` fields and the time. */
static void
record(struct conn *c, bool allowed, const char *reason)
{
	char at[32], *line;
	cJSON *o;
	int64_t now = util_mono_ms();
	bool v6 = strchr(c->shown, ':') != NULL;

	util_time_rfc3339(util_now_ms(), at, sizeof(at));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "at", at);
	cJSON_AddStringToObject(o, "host", c->shown);
	cJSON_AddNumberToObject(o, "port", c->port);
	cJSON_AddStringToObject(o, "address", c->addr);
	cJSON_AddBoolToObject(o, "allowed", allowed);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddNumberToObject(o, "bytes_in", (double)c->bytes_in);
	cJSON_AddNumberToObject(o, "bytes_out", (double)c->bytes_out);
	cJSON_AddNumberToObject(o, "duration_ms", (double)(now - c->start_ms));
	if ((line = cJSON_PrintUnformatted(o)) != NULL) {
		char *nl = xasprintf("%s\n", line);
		if (write(c->px->record_fd, nl, strlen(nl)) == -1)
			log_error("proxy: job %lld: egress.jsonl: %s",
			    c->px->job, strerror(errno));
		free(nl);
		cJSON_free(line);
	}
	cJSON_Delete(o);
	if (!allowed)
		log_warn("proxy: job %lld: refused %s%s%s:%d: %s", c->px->job,
		    v6 ? "[" : "", c->shown, v6 ? "]" : "", c->port, reason);
}

/* ---- connections ---- */

static void
conn_free(struct conn *c)
{
	struct proxy *px = c->px;
	int i;

	if (c->dns != NULL)
		evdns_getaddrinfo_cancel(c->dns);
	if (c->bev[0] != NULL)
		bufferevent_free(c->bev[0]);
	if (c->bev[1] != NULL)
		bufferevent_free(c->bev[1]);
	if (c->head_out != NULL)
		evbuffer_free(c->head_out);
	for (i = 0; i < 2; i++) {
		if (c->ev_read[i] != NULL)
			event_free(c->ev_read[i]);
		if (c->ev_write[i] != NULL)
			event_free(c->ev_write[i]);
		if (c->fd[i] != -1)
			close(c->fd[i]);
	}
	if (c->ev_idle != NULL)
		event_free(c->ev_idle);
	if (c->ev_first != NULL)
		event_free(c->ev_first);
	if (c->ux != -1)
		close(c->ux);
	if (c->is_pumping) {
		pump_close(&c->pump[0]);
		pump_close(&c->pump[1]);
	}
	TAILQ_REMOVE(&px->conns, c, entry);
	free(c);
	if (px->nconns-- == PROXY_MAX_CONNS && px->listener != NULL)
		evconnlistener_enable(px->listener);
}

/* Record the connection's end, then free it. */
static void
conn_end(struct conn *c, bool allowed, const char *reason)
{
	record(c, allowed, reason);
	conn_free(c);
}

static void
answer_sent_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

static void
answer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

/* Answer status and close: a refusal (allowed false) or a failure. The
 * connection is recorded now; nothing more is read from the client. */
static void
answer(struct conn *c, int status, bool allowed, const char *reason)
{
	struct bufferevent *cli = c->bev[0];
	const char *text = status == 400 ? "Bad Request" : status == 403 ?
	    "Forbidden" : status == 431 ? "Request Header Fields Too Large" :
	    status == 504 ? "Gateway Timeout" : "Bad Gateway";

	record(c, allowed, reason);
	if (c->dns != NULL) {
		evdns_getaddrinfo_cancel(c->dns);
		c->dns = NULL;
	}
	if (c->bev[1] != NULL) {
		bufferevent_free(c->bev[1]);
		c->bev[1] = NULL;
	}
	c->state = C_ANSWER;
	bufferevent_disable(cli, EV_READ);
	evbuffer_drain(bufferevent_get_input(cli),
	    evbuffer_get_length(bufferevent_get_input(cli)));
	evbuffer_add_printf(bufferevent_get_output(cli), "HTTP/1.1 %d %s\r\n"
	    "X-Proxy-Error: %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    status, text, reason, strlen(reason) + 1, reason);
	bufferevent_setwatermark(cli, EV_WRITE, 0, 0);
	bufferevent_setcb(cli, NULL, answer_sent_cb, answer_event_cb, c);
	bufferevent_enable(cli, EV_WRITE);
}

/* Cut every relayed connection once the job's bytes are spent. */
static void
cut_all(struct proxy *px)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&px->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == C_RELAY)
			conn_end(c, true, "cut: max_egress reached");
	}
}

/* ---- relaying ---- */

/* Watch each side for what its pumps wait for. */
static void
pumps_arm(struct conn *c)
{
	struct pump *from[2] = { &c->pump[0], &c->pump[1] };
	int i;

	for (i = 0; i < 2; i++) {
		/* side i reads for pump i, writes for the other pump */
		if (pump_wants_src(from[i]))
			event_add(c->ev_read[i], NULL);
		else
			event_del(c->ev_read[i]);
		if (pump_wants_dst(from[1 - i]))
			event_add(c->ev_write[i], NULL);
		else
			event_del(c->ev_write[i]);
	}
}

/* Bytes moved within what the job may still send or get: by the pump
 * that reads the socket fd when it is readable, by the one that writes
 * it when writable, by both at the start (fd -1). */
static void
pumps_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct proxy *px = c->px;
	int i, side = fd == c->fd[1];
	ssize_t k;

	for (i = 0; i < 2; i++) {
		if (fd != -1 && !((what & EV_READ) && i == side) &&
		    !((what & EV_WRITE) && i != side))
			continue;
		k = pump_flow(&c->pump[i], px->used_bytes >= px->max_bytes ?
		    0 : px->max_bytes - px->used_bytes);
		if (k == -2) {
			cut_all(px);
			return;
		}
		if (k == -1) {
			conn_end(c, true, "connection lost");
			return;
		}
		px->used_bytes += (uint64_t)k;
		*(i == 0 ? &c->bytes_out : &c->bytes_in) += (uint64_t)k;
		if (k > 0)
			c->last_ms = util_mono_ms();
	}
	if (pump_is_done(&c->pump[0]) && pump_is_done(&c->pump[1])) {
		conn_end(c, true, "");
		return;
	}
	pumps_arm(c);
}

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (util_mono_ms() - c->last_ms >= PROXY_IDLE_MS)
		conn_end(c, true, "idle timeout");
}

/* Take side i's socket from its bufferevent, with what was read from it
 * and not yet passed on; -1 when it cannot be taken. */
static int
take_socket(struct conn *c, int i, struct evbuffer *unread)
{
	struct bufferevent *bev = c->bev[i];
	int fd;

	if ((fd = fcntl(bufferevent_getfd(bev), F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	evbuffer_add_buffer(unread, bufferevent_get_input(bev));
	bufferevent_free(bev);
	c->bev[i] = NULL;
	return fd;
}

/* The origin answered the dial: from now on both sockets are relayed by
 * pumps (pumps_cb), after what the proxy says or forwards first: the
 * CONNECT's answer, a plain request's head, bytes the client sent after
 * its head (a TLS hello, a body). */
static void
pumps_start(struct conn *c)
{
	struct timeval idle = { PROXY_IDLE_MS / 1000 / 4, 0 };
	struct evbuffer *up, *down = evbuffer_new();
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	size_t n;
	int i;

	if (c->head_out == NULL)
		c->head_out = evbuffer_new();	/* CONNECT: nothing to forward */
	up = c->head_out;
	if (down == NULL || up == NULL || (c->fd[0] = take_socket(c, 0, up)) == -1 ||
	    (c->fd[1] = take_socket(c, 1, down)) == -1) {
		if (down != NULL)
			evbuffer_free(down);
		conn_end(c, true, "relay: out of descriptors");
		return;
	}
	c->state = C_RELAY;
	if (pump_init(&c->pump[0], c->fd[0], c->fd[1]) == -1 ||
	    pump_init(&c->pump[1], c->fd[1], c->fd[0]) == -1) {
		evbuffer_free(down);
		conn_end(c, true, "relay: out of descriptors");
		return;
	}
	c->is_pumping = true;
	if (c->is_connect)
		pump_first(&c->pump[1], ok, sizeof(ok) - 1);
	/* The head and what followed it count as the client's bytes. */
	n = evbuffer_get_length(up);
	pump_first(&c->pump[0], evbuffer_pullup(up, -1), n);
	c->bytes_out += n;
	c->px->used_bytes += n;
	n = evbuffer_get_length(down);
	pump_first(&c->pump[1], evbuffer_pullup(down, -1), n);
	c->bytes_in += n;
	c->px->used_bytes += n;
	evbuffer_free(down);
	evbuffer_drain(up, evbuffer_get_length(up));
	for (i = 0; i < 2; i++) {
		c->ev_read[i] = event_new(c->px->base, c->fd[i],
		    EV_READ | EV_PERSIST, pumps_cb, c);
		c->ev_write[i] = event_new(c->px->base, c->fd[i],
		    EV_WRITE | EV_PERSIST, pumps_cb, c);
		if (c->ev_read[i] == NULL || c->ev_write[i] == NULL) {
			conn_end(c, true, "relay: out of memory");
			return;
		}
	}
	if ((c->ev_idle = event_new(c->px->base, -1, EV_PERSIST, idle_cb,
	    c)) == NULL || event_add(c->ev_idle, &idle) == -1) {
		conn_end(c, true, "relay: out of memory");
		return;
	}
	c->last_ms = util_mono_ms();
	pumps_cb(-1, 0, c);
}

static void
dial_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char reason[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		pumps_start(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		answer(c, 504, true, "connect: timed out");
		return;
	}
	snprintf(reason, sizeof(reason), "connect: %s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	answer(c, 502, true, reason);
}

/* Dial exactly a, the address that was checked. */
static void
dial(struct conn *c, const struct egress_addr *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct timeval tv = { PROXY_DIAL_SECS, 0 };
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	egress_addr_text(a, c->addr, sizeof(c->addr));
	if (a->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)c->port);
		memcpy(&sin->sin_addr, a->bytes, 4);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)c->port);
		memcpy(&sin6->sin6_addr, a->bytes, 16);
		len = sizeof(*sin6);
	}
	c->state = C_DIAL;
	c->bev[1] = bufferevent_socket_new(c->px->base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev[1] == NULL) {
		answer(c, 502, true, "connect: out of memory");
		return;
	}
	bufferevent_setcb(c->bev[1], NULL, NULL, dial_event_cb, c);
	bufferevent_set_timeouts(c->bev[1], &tv, &tv);
	/* Every failure, at once or later, comes to dial_event_cb. */
	(void)bufferevent_socket_connect(c->bev[1], (struct sockaddr *)&ss,
	    (int)len);
}

/* The answer to the lookup: every address must be one we may dial. */
static void
resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;
	struct egress_addr first = { 0 }, a;
	struct evutil_addrinfo *ai;
	char why[64], reason[160], text[INET6_ADDRSTRLEN];

	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->dns = NULL;
	if (result != 0 || res == NULL) {
		snprintf(reason, sizeof(reason), "resolve: %s",
		    evutil_gai_strerror(result));
		answer(c, 502, true, reason);
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		memset(&a, 0, sizeof(a));
		a.family = ai->ai_family;
		if (a.family == AF_INET)
			memcpy(a.bytes, &((struct sockaddr_in *)
			    ai->ai_addr)->sin_addr, 4);
		else if (a.family == AF_INET6)
			memcpy(a.bytes, &((struct sockaddr_in6 *)
			    ai->ai_addr)->sin6_addr, 16);
		else
			continue;
		if (egress_addr_refused(&a, why, sizeof(why))) {
			egress_addr_text(&a, text, sizeof(text));
			snprintf(c->addr, sizeof(c->addr), "%s", text);
			snprintf(reason, sizeof(reason), "resolves to %s, %s",
			    text, why);
			answer(c, 403, false, reason);
			goto out;
		}
		if (first.family == 0)
			first = a;
	}
	if (first.family == 0)
		answer(c, 502, true, "resolve: no address");
	else
		dial(c, &first);
out:
	if (res != NULL)
		evutil_freeaddrinfo(res);
}

/* The request is allowed: dial the pin, the literal, or what it resolves to. */
static void
connect_target(struct conn *c)
{
	const struct egress_addr *pin = egress_pinned(&c->px->policy, &c->host);
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;

	if (pin != NULL) {
		dial(c, pin);
		return;
	}
	/* A literal here was listed as such: the operator named it. */
	if (c->host.is_ip) {
		dial(c, &c->host.addr);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->state = C_RESOLVE;
	bufferevent_disable(c->bev[0], EV_READ);
	req = evdns_getaddrinfo(c->px->dns, c->host.name, NULL, &hints,
	    resolved_cb, c);
	if (req != NULL && c->state == C_RESOLVE)
		c->dns = req;
}

/* ---- the request ---- */

/* A whole head arrived: check it against the policy, then go on. */
static void
request(struct conn *c, char *head)
{
	struct proxy *px = c->px;
	char why[160];
	int status;

	bufferevent_disable(c->bev[0], EV_READ);
	if ((status = proxy_request_parse(c, head, why, sizeof(why))) != 0) {
		answer(c, status, false, why);
		return;
	}
	snprintf(c->shown, sizeof(c->shown), "%s", c->host.name);
	if (!egress_allowed(&px->policy, &c->host, c->port,
	    c->is_connect ? 443 : 80, why, sizeof(why)))
		answer(c, 403, false, why);
	else if (px->used_bytes >= px->max_bytes)
		answer(c, 403, false, "max_egress reached");
	else
		connect_target(c);
}

static void
head_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char *head;
	size_t len;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1 ? evbuffer_get_length(in) > PROXY_HEAD_MAX :
	    (size_t)end.pos + 4 > PROXY_HEAD_MAX) {
		answer(c, 431, false, "request head over 16 KiB");
		return;
	}
	if (end.pos == -1)
		return;
	len = (size_t)end.pos + 2;
	head = xmalloc(len + 1);
	evbuffer_remove(in, head, len);
	evbuffer_drain(in, 2);
	head[len] = '\0';
	if (memchr(head, '\0', len) != NULL)
		answer(c, 400, false, "malformed request head");
	else
		request(c, head);
	free(head);
}

static void
head_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	(void)what;
	/* The client left or sent nothing in time; it asked for nothing
	 * (before the head) or its request ends here (during the dial). */
	if (c->state == C_HEAD)
		conn_free(c);
	else
		conn_end(c, true, "client: connection lost");
}

/* Read the client's head from fd, first the n bytes already taken. */
static void
head_start(struct conn *c, int fd, const char *first, size_t n)
{
	struct timeval tv = { PROXY_HEAD_SECS, 0 };
	struct evbuffer *in;

	c->bev[0] = bufferevent_socket_new(c->px->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev[0] == NULL) {
		close(fd);
		conn_free(c);
		return;
	}
	if (n > 0) {
		/* The input's end is the bufferevent's alone, but for this. */
		in = bufferevent_get_input(c->bev[0]);
		evbuffer_unfreeze(in, 0);
		evbuffer_add(in, first, n);
		evbuffer_freeze(in, 0);
	}
	bufferevent_setcb(c->bev[0], head_read_cb, NULL, head_event_cb, c);
	bufferevent_set_timeouts(c->bev[0], &tv, &tv);
	bufferevent_enable(c->bev[0], EV_READ | EV_WRITE);
}

/*
 * A connection's first byte: a NUL with the TCP connection the relay
 * accepted in the sandbox, which is then the client (relay.c); anything
 * else starts a head on the unix connection itself.
 */
static void
first_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval tv = { PROXY_HEAD_SECS, 0 };
	char first;
	int tcp;

	(void)fd;
	if (what & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	if ((tcp = relay_take(c->ux, &first)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			event_add(c->ev_first, &tv);
		else if (errno == EPROTO) {
			tcp = c->ux;
			c->ux = -1;
			head_start(c, tcp, &first, 1);
		} else {
			if (errno == EBADMSG)
				log_warn("proxy: job %lld: a connection came "
				    "without a TCP socket; dropped", c->px->job);
			conn_free(c);
		}
		return;
	}
	close(c->ux);
	c->ux = -1;
	head_start(c, tcp, NULL, 0);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct proxy *px = arg;
	struct timeval tv = { PROXY_HEAD_SECS, 0 };
	struct conn *c;

	(void)sa;
	(void)salen;
	c = xcalloc(1, sizeof(*c));
	c->px = px;
	c->fd[0] = c->fd[1] = -1;
	c->ux = fd;
	c->start_ms = c->last_ms = util_mono_ms();
	snprintf(c->shown, sizeof(c->shown), "?");
	TAILQ_INSERT_TAIL(&px->conns, c, entry);
	if (++px->nconns == PROXY_MAX_CONNS)
		evconnlistener_disable(l);
	if ((c->ev_first = event_new(px->base, fd, EV_READ, first_cb, c)) ==
	    NULL || event_add(c->ev_first, &tv) == -1)
		conn_free(c);
}

/* ---- the process ---- */

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
proxy_run(struct proxy *px, int dir, int ready_fd, char *err, size_t errlen)
{
	struct event *term = NULL, *intr = NULL;
	evutil_socket_t fd;
	int rc = -1;

	if ((fd = sidecar_listen(dir, "proxy.sock", 128, err, errlen)) == -1)
		return -1;
	px->listener = evconnlistener_new(px->base, accept_cb, px,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	term = evsignal_new(px->base, SIGTERM, stop_cb, px->base);
	intr = evsignal_new(px->base, SIGINT, stop_cb, px->base);
	if (px->listener == NULL || term == NULL || intr == NULL ||
	    evsignal_add(term, NULL) == -1 || evsignal_add(intr, NULL) == -1) {
		snprintf(err, errlen, "event loop: out of memory");
		if (px->listener == NULL)
			close(fd);
		goto out;
	}
	log_info("proxy: job %lld: %zu allowed hosts, max_egress %llu bytes",
	    px->job, px->policy.nrules, (unsigned long long)px->max_bytes);
	if (ready_fd != -1 && (dprintf(ready_fd, "ready\n") < 0 ||
	    close(ready_fd) == -1)) {
		snprintf(err, errlen, "ready: %s", strerror(errno));
		goto out;
	}
	event_base_dispatch(px->base);
	rc = 0;
out:
	while (!TAILQ_EMPTY(&px->conns))
		conn_end(TAILQ_FIRST(&px->conns), true, "proxy stopped");
	if (px->listener != NULL)
		evconnlistener_free(px->listener);
	px->listener = NULL;
	unlinkat(dir, "proxy.sock", 0);
	if (term != NULL)
		event_free(term);
	if (intr != NULL)
		event_free(intr);
	return rc;
}

/*
 * Make cfg (loaded by main for this process alone) the settings of the
 * job's repository ([repo] sections): its allow_hosts, hosts and
 * max_egress. The store is read only when there are such sections.
 */
static int
job_settings(struct config *cfg, long long id, char *err, size_t errlen)
{
	struct store *st;
	struct job job = { 0 };
	int found;

	if (!config_has_repos(cfg))
		return 0;
	if ((st = store_open(cfg->data_dir, err, errlen)) == NULL)
		return -1;
	if ((found = store_job_load(st, id, &job)) != 1)
		snprintf(err, errlen, "%s", found == 0 ? "no such job" :
		    store_error(st));
	else
		config_apply_repo(cfg, job.repo);
	store_job_clear(&job);
	store_close(st);
	return found == 1 ? 0 : -1;
}

int
proxy_main(const struct config *cfg, int argc, char **argv)
{
	struct proxy px = { .record_fd = -1 };
	long long ready = -1;
	char err[512];
	int dir = -1, status = 1, i;
	bool is_setup = false;

	TAILQ_INIT(&px.conns);
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--setup") == 0)
			is_setup = true;
		else if (i + 1 < argc && strcmp(argv[i], "--job") == 0 &&
		    util_parse_int(argv[i + 1], 1, INT64_MAX, &px.job) == 0)
			i++;
		else if (i + 1 < argc && strcmp(argv[i], "--ready") == 0 &&
		    util_parse_int(argv[i + 1], 0, INT32_MAX, &ready) == 0)
			i++;
		else
			break;
	}
	if (i < argc || px.job == 0) {
		fprintf(stderr, "usage: handoff proxy --job JOB [--setup]"
		    " [--ready FD]\n");
		return 2;
	}
	if (job_settings((struct config *)cfg, px.job, err,
	    sizeof(err)) == -1) {
		log_error("proxy: job %lld: %s", px.job, err);
		return 1;
	}
	/* Set-up's hosts, or the agent's; the same pins and limits. */
	if (egress_policy_init(&px.policy, is_setup ? &cfg->setup_allow_hosts :
	    &cfg->allow_hosts, &cfg->egress_pins, err, sizeof(err)) == -1) {
		log_error("proxy: %s", err);
		return 2;
	}
	px.max_bytes = cfg->max_egress_bytes;
	signal(SIGPIPE, SIG_IGN);
	if ((dir = sidecar_dir(cfg->data_dir, px.job, err, sizeof(err))) == -1)
		goto out;
	px.record_fd = openat(dir, "egress.jsonl", O_WRONLY | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (px.record_fd == -1) {
		snprintf(err, sizeof(err), "egress.jsonl: %s", strerror(errno));
		goto out;
	}
	px.base = event_base_new();
	/* resolv.conf's servers and /etc/hosts, as the host resolves. */
	px.dns = px.base == NULL ? NULL : evdns_base_new(px.base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (px.dns == NULL) {
		snprintf(err, sizeof(err), "resolver: cannot start");
		goto out;
	}
	/* The name checked is the name resolved: no search domains. */
	evdns_base_search_clear(px.dns);
	if (proxy_run(&px, dir, (int)ready, err, sizeof(err)) == 0)
		status = 0;
out:
	if (status != 0)
		log_error("proxy: job %lld: %s", px.job, err);
	if (px.dns != NULL)
		evdns_base_free(px.dns, 0);
	if (px.base != NULL)
		event_base_free(px.base);
	if (px.record_fd != -1)
		close(px.record_fd);
	if (dir != -1)
		close(dir);
	egress_policy_free(&px.policy);
	return status;
}
