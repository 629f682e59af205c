/*
 * One way of a relayed connection: socket to pipe to socket with splice(2),
 * so that a download through the bridge and the proxy is not copied into
 * either process. The pipe is the pump's only buffer: it bounds what the
 * pump holds, and a full pipe stops reading the source.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pump.h"
#include "util.h"

int
pump_init(struct pump *p, int src, int dst)
{
	int size;

	memset(p, 0, sizeof(*p));
	p->src = src;
	p->dst = dst;
	p->is_eof = src == -1;
	if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		p->pipe[0] = p->pipe[1] = -1;
		return -1;
	}
	/* Over the user's pipe allowance the pipe keeps its default size. */
	(void)fcntl(p->pipe[1], F_SETPIPE_SZ, PUMP_PIPE_BYTES);
	if ((size = fcntl(p->pipe[1], F_GETPIPE_SZ)) <= 0)
		size = 4096;
	p->cap = (size_t)size;
	return 0;
}

void
pump_close(struct pump *p)
{
	if (p->pipe[0] != -1)
		close(p->pipe[0]);
	if (p->pipe[1] != -1)
		close(p->pipe[1]);
	p->pipe[0] = p->pipe[1] = -1;
	free(p->first);
	p->first = NULL;
	p->first_off = p->first_len = 0;
}

void
pump_first(struct pump *p, const void *data, size_t len)
{
	size_t left = p->first_len - p->first_off;

	if (len == 0)
		return;
	p->first = xrealloc(p->first, left + len);
	memmove(p->first, p->first + p->first_off, left);
	memcpy(p->first + left, data, len);
	p->first_off = 0;
	p->first_len = left + len;
}

/* What is held goes to dst: the first bytes, then the pipe's. 0, or -1. */
static int
drain(struct pump *p)
{
	ssize_t k;

	while (p->first_off < p->first_len) {
		if (p->dst == -1)
			k = (ssize_t)(p->first_len - p->first_off);
		else if ((k = send(p->dst, p->first + p->first_off,
		    p->first_len - p->first_off, MSG_NOSIGNAL)) == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		p->first_off += (size_t)k;
	}
	while (p->held > 0) {
		if (p->dst == -1) {
			char sink[4096];
			k = read(p->pipe[0], sink, p->held < sizeof(sink) ?
			    p->held : sizeof(sink));
		} else
			k = splice(p->pipe[0], NULL, p->dst, NULL, p->held,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (k == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (k == 0)
			break;
		p->held -= (size_t)k;
	}
	return 0;
}

/* Whether src, which may not be read now, has a byte waiting. */
static int
has_more(struct pump *p)
{
	char c;
	ssize_t k = recv(p->src, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (k == 1)
		return 1;
	if (k == 0)
		p->is_eof = true;
	return 0;
}

/* One splice from src into the pipe, at most want bytes: the bytes, 0
 * when src has none now (or ended), -1 on an error. */
static ssize_t
fill(struct pump *p, size_t want)
{
	ssize_t k;

	if (p->is_eof || want == 0)
		return 0;
	do
		k = splice(p->src, NULL, p->pipe[1], NULL, want,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	while (k == -1 && errno == EINTR);
	if (k == 0)
		p->is_eof = true;
	if (k == -1)
		return errno == EAGAIN ? 0 : -1;
	p->held += (size_t)k;
	return k;
}

ssize_t
pump_flow(struct pump *p, size_t room)
{
	ssize_t k, taken = 0;
	int round;

	if (!p->is_eof && p->held < p->cap && room == 0 && has_more(p))
		return -2;
	/* While dst takes everything, read on a few times before the loop
	 * serves the other connections. */
	for (round = 0; round < 4; round++) {
		k = fill(p, p->cap - p->held < room - (size_t)taken ?
		    p->cap - p->held : room - (size_t)taken);
		if (k == -1 || drain(p) == -1)
			return -1;
		taken += k;
		if (k == 0 || p->held > 0)
			break;
	}
	if (p->is_eof && !p->is_shut && p->held == 0 &&
	    p->first_off == p->first_len) {
		if (p->dst != -1)
			shutdown(p->dst, SHUT_WR);
		p->is_shut = true;
	}
	return taken;
}

bool
pump_wants_src(const struct pump *p)
{
	return !p->is_eof && p->held < p->cap;
}

bool
pump_wants_dst(const struct pump *p)
{
	return p->held > 0 || p->first_off < p->first_len;
}

bool
pump_is_done(const struct pump *p)
{
	return p->is_shut;
}
