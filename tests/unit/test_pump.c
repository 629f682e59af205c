/*
 * pump.c between real sockets (a TCP connection on loopback into a unix
 * socket pair, as the relay has them): every byte arrives in order, the
 * first bytes go before them, a full destination stops reading the source
 * at the pipe's size, an end is passed on only once everything arrived,
 * room bounds what is taken (and says when more is waiting), a dropped
 * destination reads and discards, and an error on a socket ends it.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pump.h"
#include "tap.h"

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A TCP connection on loopback: *a and *b its two ends. */
static int
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l == -1 || bind(l, (struct sockaddr *)&sa, len) == -1 ||
	    listen(l, 1) == -1 || getsockname(l, (struct sockaddr *)&sa,
	    &len) == -1 || (*a = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(*a, (struct sockaddr *)&sa, len) == -1 ||
	    (*b = accept(l, NULL, NULL)) == -1)
		return -1;
	close(l);
	return 0;
}

/* A pump from one unix socket pair to another: the test writes into
 * in[0] and reads from out[1]. */
static void
pair_pump(struct pump *p, int in[2], int out[2])
{
	socketpair(AF_UNIX, SOCK_STREAM, 0, in);
	socketpair(AF_UNIX, SOCK_STREAM, 0, out);
	nonblock(in[1]);
	nonblock(out[0]);
	pump_init(p, in[1], out[0]);
}

/* Byte i of the test stream. */
static unsigned char
byte_at(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

/* Run p until it is done, or (is_until_idle) until nothing moves for a
 * while; the bytes taken from its source. */
static size_t
run(struct pump *p, size_t room, int is_until_idle)
{
	struct pollfd pfd[2];
	size_t total = 0;
	ssize_t k;
	int idle = 0;

	while (idle < 3 && !pump_is_done(p)) {
		pfd[0].fd = pump_wants_src(p) ? p->src : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = pump_wants_dst(p) ? p->dst : -1;
		pfd[1].events = POLLOUT;
		if (poll(pfd, 2, 50) <= 0) {
			idle += is_until_idle;
			continue;
		}
		if ((k = pump_flow(p, room - total)) < 0)
			return total;
		total += (size_t)k;
	}
	return total;
}

/* Read everything from fd until its end or n bytes; check the stream. */
static size_t
read_all(int fd, size_t n, size_t skip, int *is_bad)
{
	unsigned char buf[65536];
	size_t got = 0, i;
	ssize_t k;

	while (got < n && (k = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)k; i++)
			if (buf[i] != byte_at(skip + got + i))
				*is_bad = 1;
		got += (size_t)k;
	}
	return got;
}

int
main(void)
{
	struct pump p;
	int tcp_in, tcp_out, ux[2], bad = 0, rc;
	size_t big = 3u << 20, i, moved, got;
	unsigned char *data = malloc(big);
	char head[16];
	pid_t pid;
	ssize_t k;

	signal(SIGPIPE, SIG_IGN);	/* as the relay and the proxy */
	for (i = 0; i < big; i++)
		data[i] = byte_at(i);

	/* 1: a big stream TCP -> unix, written by another process, the
	 * first bytes before it, the end passed on. */
	if (tcp_pair(&tcp_in, &tcp_out) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, ux) == -1)
		return 1;
	nonblock(tcp_out);
	nonblock(ux[0]);
	ok(pump_init(&p, tcp_out, ux[0]) == 0, "a pump is made");
	ok(p.cap >= 4096, "its pipe has room (%zu bytes)", p.cap);
	pump_first(&p, "HEAD", 4);
	pump_first(&p, "ER", 2);
	if ((pid = fork()) == 0) {
		size_t off = 0;
		while (off < big && (k = write(tcp_in, data + off, big - off)) >
		    0)
			off += (size_t)k;
		shutdown(tcp_in, SHUT_WR);
		_exit(0);
	}
	close(tcp_in);
	/* Nobody reads ux[1] yet: the pump stops at what the pipe and the
	 * socket's buffer hold. */
	moved = run(&p, SIZE_MAX, 1);
	ok(moved < big, "with the destination full, reading stops (%zu of "
	    "%zu bytes taken)", moved, big);
	ok(p.held <= p.cap, "the pump holds no more than its pipe");
	if ((pid = fork()) == 0) {
		/* the reader: the head, then the stream, then the end */
		int is_bad = 0;
		if (read(ux[1], head, 6) != 6 || memcmp(head, "HEADER", 6) != 0)
			_exit(2);
		got = read_all(ux[1], big + 1, 0, &is_bad);
		_exit(got == big && !is_bad ? 0 : 3);
	}
	moved += run(&p, SIZE_MAX - moved, 0);
	ok(pump_is_done(&p), "the source's end is passed on");
	is_int(moved, big, "every byte was taken from the source");
	while (wait(&rc) != pid)
		;
	ok(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the destination got the "
	    "first bytes, then every byte in order, then the end (%d)",
	    WEXITSTATUS(rc));
	wait(NULL);
	pump_close(&p);
	close(tcp_out);
	close(ux[0]);
	close(ux[1]);

	/* 2: room bounds what is taken; at 0 with more waiting: -2. */
	{
		int out[2];
		pair_pump(&p, ux, out);
		k = write(ux[0], data, 1000);
		is_int(pump_flow(&p, 300), 300, "room 300: 300 bytes taken");
		is_int(pump_flow(&p, 0), -2, "room 0 with more waiting: -2");
		got = read_all(out[1], 300, 0, &bad);
		is_int(got, 300, "the 300 arrived");
		is_int(pump_flow(&p, 700), 700, "more room: the rest");
		close(ux[0]);
		is_int(pump_flow(&p, 0), 0, "room 0 at the end: 0, not -2");
		ok(pump_is_done(&p), "and the end is passed on");
		got = read_all(out[1], 701, 300, &bad);
		is_int(got, 700, "the rest arrived, then the end");
		ok(!bad, "in order");
		pump_close(&p);
		close(ux[1]);
		close(out[0]);
		close(out[1]);
	}

	/* 3: a dropped destination (-1): read and discarded; the first
	 * bytes of a pump without a source still go, then the end. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, ux);
	nonblock(ux[1]);
	pump_init(&p, ux[1], -1);
	k = write(ux[0], data, 5000);
	is_int(pump_flow(&p, SIZE_MAX), 5000, "a dropped destination: the "
	    "source is still read");
	is_int(p.held, 0, "and nothing is held");
	pump_close(&p);
	{
		struct pump q;
		pump_init(&q, -1, ux[1]);
		pump_first(&q, "HTTP/1.1 502\r\n\r\n", 16);
		is_int(pump_flow(&q, SIZE_MAX), 0, "no source: nothing taken");
		ok(pump_is_done(&q), "its first bytes went and the end too");
		k = read(ux[0], head, sizeof(head));
		is_int(k, 16, "the client got them");
		is_int(read(ux[0], head, 1), 0, "then its end");
		pump_close(&q);
	}
	close(ux[0]);
	close(ux[1]);

	/* 4: a destination that is gone ends the pump with an error. */
	{
		int out[2];
		pair_pump(&p, ux, out);
		close(out[1]);
		k = write(ux[0], data, 1000);
		errno = 0;
		is_int(pump_flow(&p, SIZE_MAX), -1, "the destination is gone: -1");
		ok(errno == EPIPE || errno == ECONNRESET, "with its errno (%s)",
		    strerror(errno));
		pump_close(&p);
		ok(p.pipe[0] == -1 && p.first == NULL, "closing frees the pipe");
		close(out[0]);
	}
	close(ux[0]);
	close(ux[1]);
	free(data);
	return done_testing();
}
