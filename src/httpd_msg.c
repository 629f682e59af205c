/*
 * Requests on msg routes, read and answered without evhttp. The webhook
 * endpoints take many small POSTs whose answers wait for another thread
 * (the store's commit): evhttp would have that thread hand every answer
 * back to the event loop to send. Here the loop parses a plain POST
 * itself and the answer goes straight to the socket from whichever thread
 * has it, on a descriptor the connection's requests share (a dup, struct
 * answer_fd), so that the loop may close the connection meanwhile without
 * the descriptor's number passing to another client. One request at a time, answers in order: the
 * loop takes a connection's next request once the last one's answer is
 * whole in the socket (let_go) or its handler is done (httpd_msg_done),
 * whichever it sees first. Meanwhile it reads what follows, up to
 * READ_AHEAD bytes.
 *
 * Anything but a plain POST to a msg route goes to evhttp, with every byte
 * that came before it untouched, and the connection stays evhttp's: its
 * checks and answers (framing, 413, 405, other paths) apply as before.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "httpd.h"
#include "httpd_impl.h"
#include "util.h"

#define MAX_FIELDS	64	/* more header fields: evhttp's */
/* Bytes read beyond a request that awaits its answer: a client's next
 * delivery, typically, sent once it has the answer. More waits in the
 * kernel until the answer is done. */
#define READ_AHEAD	(64 * 1024)

enum msg_state {
	MSG_PENDING,
	MSG_SENT,		/* the whole answer is in the socket */
	MSG_CUT			/* it is not: the connection closes */
};

/*
 * A connection's second descriptor, which its requests answer on from the
 * writer's thread: the connection may close meanwhile, and its number be
 * another's, but the socket stays until the last of them lets go. One per
 * connection, not per request (two system calls fewer a request); its
 * references are taken and dropped on the loop only.
 */
struct answer_fd {
	int		 fd;
	unsigned	 refs;
};

struct httpd_msg {
	struct conn	*conn;		/* NULL once the connection is gone */
	struct answer_fd *afd;		/* the answer's descriptor */
	bool		 is_close;	/* the client said Connection: close */
	char		*head;		/* the request's head, fields split */
	struct {
		const char	*name, *value;
	}		 fields[MAX_FIELDS];
	size_t		 nfields;
	char		*body;
	size_t		 len;
	const struct route *route;
	size_t		 hlen;		/* the head's bytes */
	atomic_int	 state;
};

static bool
is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A field value's bytes: visible ASCII, space, tab, obs-text. */
static bool
is_vchars(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f)
			return false;
	return true;
}

/* Whether a Connection value lists "close". */
static bool
has_close(const char *v)
{
	size_t n;

	for (;;) {
		v += strspn(v, " \t,");
		if (*v == '\0')
			return false;
		n = strcspn(v, " \t,");
		if (n == 5 && strncasecmp(v, "close", 5) == 0)
			return true;
		v += n;
	}
}

static void
afd_drop(struct answer_fd *a)
{
	if (a != NULL && --a->refs == 0) {
		close(a->fd);
		free(a);
	}
}

static void
msg_free(struct httpd_msg *m)
{
	afd_drop(m->afd);
	free(m->head);
	free(m->body);
	free(m);
}

/* The msg route target names, or NULL: the path exactly, or with a query. */
static const struct route *
target_route(const struct httpd *h, const char *target, size_t n)
{
	const struct route *r;
	size_t len;

	for (r = h->routes; r != NULL; r = r->next) {
		if (r->msg_cb == NULL)
			continue;
		len = strlen(r->path);
		if (n >= len && memcmp(target, r->path, len) == 0 &&
		    (n == len || target[len] == '?'))
			return r;
	}
	return NULL;
}

/*
 * Split head (hlen bytes ending in CRLF CRLF, NUL-terminated) into m's
 * fields. Returns the route and the body length, or NULL when the request
 * is not a plain POST to a msg route: evhttp then takes it.
 */
static const struct route *
parse_head(const struct httpd *h, struct httpd_msg *m, char *head,
    size_t *clen)
{
	const struct route *r;
	char *line = head, *eol, *colon, *v, *ve;
	bool has_length = false;
	long long n;

	/* "POST " target " HTTP/1.1" */
	if ((eol = strstr(line, "\r\n")) == NULL ||
	    strncmp(line, "POST ", 5) != 0 || eol - line < 5 + 1 + 9 ||
	    memcmp(eol - 9, " HTTP/1.1", 9) != 0)
		return NULL;
	if ((r = target_route(h, line + 5, (size_t)(eol - 9 - line - 5))) ==
	    NULL || memchr(line + 5, ' ', (size_t)(eol - 9 - line - 5)) != NULL)
		return NULL;
	*clen = 0;
	for (line = eol + 2; strncmp(line, "\r\n", 2) != 0; line = eol + 2) {
		if ((eol = strstr(line, "\r\n")) == NULL ||
		    m->nfields == MAX_FIELDS)
			return NULL;
		*eol = '\0';
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return NULL;
		for (v = line; v < colon; v++)
			if (!is_tchar((unsigned char)*v))
				return NULL;	/* obs-fold, a space: evhttp's */
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t');
		    ve--)
			;
		*ve = '\0';
		if (!is_vchars(v, (size_t)(ve - v)))
			return NULL;
		if (strcasecmp(line, "Transfer-Encoding") == 0 ||
		    strcasecmp(line, "Expect") == 0)
			return NULL;
		if (strcasecmp(line, "Content-Length") == 0) {
			if (has_length || *v == '\0' ||
			    strspn(v, "0123456789") != strlen(v) ||
			    strlen(v) > 18 || util_parse_int(v, 0,
			    (long long)h->lim.max_body_bytes, &n) == -1)
				return NULL;	/* 400 or 413 from evhttp */
			has_length = true;
			*clen = (size_t)n;
		}
		if (strcasecmp(line, "Connection") == 0 && has_close(v))
			m->is_close = true;
		m->fields[m->nfields].name = line;
		m->fields[m->nfields].value = v;
		m->nfields++;
	}
	return r;
}

bool
httpd_msg_is_plain(const struct httpd *h, char *head, size_t *clen)
{
	struct httpd_msg *m = xcalloc(1, sizeof(*m));
	bool is_plain = parse_head(h, m, head, clen) != NULL;

	free(m);
	return is_plain;
}

/* From now on c is evhttp's: the bytes it holds go first. */
static void
give_to_evhttp(struct conn *c, bool in_filter)
{
	c->is_evhttp = true;
	if (c->msg_in == NULL)
		return;
	evbuffer_add_buffer(bufferevent_get_input(c->front), c->msg_in);
	evbuffer_free(c->msg_in);
	c->msg_in = NULL;
	/* Inside the filter libevent calls evhttp once we return. */
	if (!in_filter)
		bufferevent_trigger(c->front, EV_READ,
		    BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * The head of c's next request, parsed once; NULL while it is incomplete
 * (or handed to evhttp: is_evhttp). The search for its end goes on where
 * the last one stopped, so a head trickled in byte by byte costs no more
 * than one sent whole.
 */
static struct httpd_msg *
next_head(struct conn *c, bool in_filter)
{
	struct httpd *h = c->h;
	struct evbuffer_ptr from, end;
	struct httpd_msg *m;
	size_t n = evbuffer_get_length(c->msg_in), clen;

	if (c->msg_next != NULL)
		return c->msg_next;
	from.pos = 0;
	if (c->msg_scanned > 3)
		evbuffer_ptr_set(c->msg_in, &from, c->msg_scanned - 3,
		    EVBUFFER_PTR_SET);
	end = evbuffer_search(c->msg_in, "\r\n\r\n", 4,
	    from.pos > 0 ? &from : NULL);
	if (end.pos < 0 || (size_t)end.pos + 4 > h->lim.max_headers_bytes) {
		c->msg_scanned = n;
		if (n > h->lim.max_headers_bytes || end.pos >= 0)
			give_to_evhttp(c, in_filter);
		return NULL;
	}
	c->msg_scanned = 0;
	m = xcalloc(1, sizeof(*m));
	m->hlen = (size_t)end.pos + 4;
	m->head = xmalloc(m->hlen + 1);
	evbuffer_copyout(c->msg_in, m->head, m->hlen);
	m->head[m->hlen] = '\0';
	if ((m->route = parse_head(h, m, m->head, &clen)) == NULL) {
		msg_free(m);
		give_to_evhttp(c, in_filter);
		return NULL;
	}
	m->len = clen;
	return c->msg_next = m;
}

/*
 * The request on c has its whole answer in the socket and the connection
 * stays open: c goes on to its next request now, without waiting for the
 * handler's httpd_msg_done, which then only frees the request. A client
 * sends its next request once it has the answer, so this is the usual way
 * from one request to the next: it does not wait for the loop to hear
 * from the thread that answered.
 */
static bool
let_go(struct conn *c)
{
	struct httpd_msg *m = c->msg;

	if (atomic_load(&m->state) != MSG_SENT || m->is_close ||
	    c->h->is_stopping)
		return false;
	m->conn = NULL;
	c->msg = NULL;
	c->is_busy = false;
	c->is_reading = false;
	c->deadline_ms = util_mono_ms() + c->h->lim.timeout_ms;
	return true;
}

/*
 * Take every whole request c holds, one at a time: each waits until its
 * answer is sent (let_go) or its handler is done (httpd_msg_done). A
 * handler that answers at once ends its request here (c->msg is cleared);
 * the loop goes on.
 */
static void
pump(struct conn *c, bool in_filter)
{
	struct httpd *h = c->h;
	struct httpd_msg *m;
	int fd;

	while (!c->is_evhttp && !c->is_killed && c->msg_in != NULL &&
	    evbuffer_get_length(c->msg_in) > 0) {
		if (c->msg != NULL && !let_go(c))
			return;
		if (!c->is_reading) {
			c->is_reading = true;
			c->is_counted = false;
		}
		if ((m = next_head(c, in_filter)) == NULL ||
		    evbuffer_get_length(c->msg_in) < m->hlen + m->len)
			return;		/* the rest is to come */
		c->msg_next = NULL;
		if (c->afd == NULL) {
			if ((fd = fcntl(bufferevent_getfd(c->sock),
			    F_DUPFD_CLOEXEC, 0)) == -1) {
				msg_free(m);
				give_to_evhttp(c, in_filter);
				return;
			}
			c->afd = xmalloc(sizeof(*c->afd));
			c->afd->fd = fd;
			c->afd->refs = 1;
		}
		m->afd = c->afd;
		m->afd->refs++;
		evbuffer_drain(c->msg_in, m->hlen);
		m->body = xmalloc(m->len + 1);
		evbuffer_remove(c->msg_in, m->body, m->len);
		m->body[m->len] = '\0';
		m->conn = c;
		if (h->is_stopping)
			m->is_close = true;
		atomic_init(&m->state, MSG_PENDING);
		c->msg = m;
		c->is_busy = true;
		c->is_pumping = true;
		m->route->msg_cb(h, m, m->route->arg);
		c->is_pumping = false;
	}
}

bool
httpd_msg_read(struct conn *c, struct evbuffer *src)
{
	size_t n = evbuffer_get_length(src);

	if (!c->h->has_msg_routes || c->is_evhttp)
		return false;
	if (c->msg_in == NULL)
		c->msg_in = evbuffer_new();
	evbuffer_remove_buffer(src, c->msg_in, n);
	if (n >= LIBEVENT_READ)
		httpd_read_more(c, c->msg_in);
	pump(c, true);
	/* While a request awaits its answer, what follows is read up to
	 * READ_AHEAD; httpd_msg_done reads on. */
	if (c->msg != NULL && evbuffer_get_length(c->msg_in) >= READ_AHEAD)
		bufferevent_disable(c->sock, EV_READ);
	return true;
}

void
httpd_msg_conn_free(struct conn *c)
{
	if (c->msg != NULL)
		c->msg->conn = NULL;
	c->msg = NULL;
	if (c->msg_next != NULL)
		msg_free(c->msg_next);
	c->msg_next = NULL;
	if (c->msg_in != NULL)
		evbuffer_free(c->msg_in);
	c->msg_in = NULL;
	afd_drop(c->afd);
	c->afd = NULL;
}

void
httpd_route_msg(struct httpd *h, const char *path, httpd_handler_cb cb,
    httpd_msg_cb msg_cb, void *arg)
{
	struct route *r;

	httpd_route(h, path, cb, arg);
	for (r = h->routes; r->next != NULL; r = r->next)
		;
	r->msg_cb = msg_cb;
	h->has_msg_routes = true;
}

const char *
httpd_msg_header(const struct httpd_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nfields; i++)
		if (strcasecmp(m->fields[i].name, name) == 0)
			return m->fields[i].value;
	return NULL;
}

char *
httpd_msg_take_body(struct httpd_msg *m, size_t *len)
{
	char *b = m->body;

	*len = m->len;
	m->body = NULL;
	m->len = 0;
	return b;
}

/* The Date header's value for now: formatted once a second per thread
 * (the loop and the writer both answer). */
static const char *
http_date(void)
{
	static _Thread_local char date[64];
	static _Thread_local time_t at = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != at) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		at = now;
	}
	return date;
}

void
httpd_msg_answer(struct httpd_msg *m, int code, const char *content_type,
    const char *body)
{
	char head[512];
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t w = -1;
	size_t total = 0;
	int n;

	if (body == NULL)
		body = "";
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = strlen(body);
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nDate: %s\r\nContent-Length: %zu\r\n%s\r\n",
	    code, httpd_reason(code),
	    content_type != NULL ? content_type : "text/plain", http_date(),
	    iov[1].iov_len, m->is_close ? "Connection: close\r\n" : "");
	/* The head, then the body: one system call, no copy of the body. A
	 * head that does not fit (a content type of kilobytes) is not sent:
	 * the connection closes. */
	if (n > 0 && (size_t)n < sizeof(head)) {
		iov[0].iov_base = head;
		iov[0].iov_len = (size_t)n;
		total = iov[0].iov_len + iov[1].iov_len;
		while ((w = sendmsg(m->afd->fd, &msg, MSG_NOSIGNAL |
		    MSG_DONTWAIT)) == -1 && errno == EINTR)
			;
	}
	atomic_store(&m->state, total > 0 && w == (ssize_t)total ? MSG_SENT :
	    MSG_CUT);
}

void
httpd_msg_done(struct httpd_msg *m)
{
	struct conn *c = m->conn;
	bool is_open = atomic_load(&m->state) == MSG_SENT && !m->is_close;

	if (c != NULL) {
		c->msg = NULL;
		c->is_busy = false;
		c->is_reading = false;
		c->deadline_ms = util_mono_ms() + c->h->lim.timeout_ms;
		if (!is_open || c->h->is_stopping)
			httpd_expire(c);
		else {
			bufferevent_enable(c->sock, EV_READ);
			if (!c->is_pumping)	/* else pump goes on itself */
				pump(c, false);
		}
	}
	msg_free(m);
}
