/*
 * The bridge's relay. The launcher makes a network namespace with only
 * loopback up and forks the relay in it; bwrap then runs in that namespace
 * without a network of its own. The relay listens on 127.0.0.1 and ::1 at
 * each bridge's port and joins every connection it accepts to a new
 * connection to the bridge's unix socket, bytes both ways, half-closes
 * passed on. It is no trust boundary (all policy is the socket's server's);
 * it only has to hold no more than it must: a bounded number of
 * connections, fixed buffers, none of its parent's descriptors, and the
 * sandbox's host user when handoff is root. It dies with its parent (the
 * launcher, then bwrap), and is in the job's cgroups.
 */
#include <linux/capability.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pump.h"
#include "relay.h"
#include "util.h"

#define BACKLOG		64
#define FD_READY	3	/* the ready pipe, then each socket's dir */
#define FD_DIRS		4
#define FD_HIGH		64
/* A socket whose backlog is full is tried again every tick, this often. */
#define WAIT_TICK_MS	10
#define WAIT_TRIES	1000

struct conn {
	int		 tcp, ux;	/* tcp -1: free; ux -1: refused */
	size_t		 bridge;
	bool		 is_waiting;	/* for room in the socket's backlog */
	bool		 is_pumping;	/* up and down are set */
	int		 tries;
	struct pump	 up, down;	/* tcp to ux, ux to tcp */
};

struct relay {
	const struct relay_bridge *b;
	size_t		 n;
	int		 ready;
	int		 lfd[RELAY_MAX * 2];
	size_t		 lof[RELAY_MAX * 2];	/* each listener's bridge */
	size_t		 nl;
	const char	*base[RELAY_MAX];	/* each socket's name */
	struct conn	 c[RELAY_CONNS];
};

static struct relay relay;

static void __attribute__((noreturn, format(printf, 2, 3)))
fail(int ready, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (write(ready, msg, strlen(msg)) == -1) {
		/* the launcher says the relay ended */
	}
	_exit(1);
}

static int
lo_up(void)
{
	struct ifreq ifr;
	int fd, rc = -1, saved;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* A new connection to bridge i's socket, by its name in its directory
 * (opened before privileges were dropped; a server that restarts binds a
 * new socket there), or -1 with errno set. */
static int
ux_connect(size_t i)
{
	struct sockaddr_un sa;
	int fd, saved;

	if (fchdir(FD_DIRS + (int)i) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", relay.base[i]);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Listen on the loopback address of family at port; -1 with errno. */
static int
listen_on(int family, int port)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr *sa;
	socklen_t len;
	int fd, one = 1, saved;

	memset(&in4, 0, sizeof(in4));
	memset(&in6, 0, sizeof(in6));
	in4.sin_family = AF_INET;
	in4.sin_port = htons((uint16_t)port);
	in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons((uint16_t)port);
	in6.sin6_addr = in6addr_loopback;
	sa = family == AF_INET ? (struct sockaddr *)&in4 :
	    (struct sockaddr *)&in6;
	len = family == AF_INET ? sizeof(in4) : sizeof(in6);
	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	    -1 || (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, sa, len) == -1 || listen(fd, BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Each socket's directory, opened while the relay may still reach it. */
static void
open_dirs(int dirs[])
{
	const struct relay_bridge *b;
	char dir[4096];
	const char *slash;
	size_t i, k;

	for (i = 0; i < relay.n; i++) {
		b = &relay.b[i];
		slash = strrchr(b->path, '/');
		k = slash ? (size_t)(slash - b->path) : 0;
		if (b->path[0] != '/' || slash[1] == '\0' || k >= sizeof(dir) ||
		    strlen(slash + 1) >= sizeof(((struct sockaddr_un *)0)->
		    sun_path))
			fail(relay.ready, "the %s's socket %s: not an absolute"
			    " path to a socket", b->name, b->path);
		if (k == 0)
			k = 1;	/* the root directory */
		memcpy(dir, b->path, k);
		dir[k] = '\0';
		relay.base[i] = slash + 1;
		if ((dirs[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) ==
		    -1)
			fail(relay.ready, "the %s's socket %s: %s", b->name,
			    b->path, strerror(errno));
	}
}

/* /dev/null on 0, 1 and 2, the ready pipe on 3, the directories from 4,
 * and nothing else of the parent's. */
static void
arrange_fds(int dirs[])
{
	int nul, hi[RELAY_MAX + 1];
	size_t i;

	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    (hi[0] = fcntl(relay.ready, F_DUPFD_CLOEXEC, FD_HIGH)) == -1)
		fail(relay.ready, "relay: arrange descriptors: %s",
		    strerror(errno));
	for (i = 0; i < relay.n; i++)
		if ((hi[i + 1] = fcntl(dirs[i], F_DUPFD_CLOEXEC, FD_HIGH)) ==
		    -1)
			fail(relay.ready, "relay: arrange descriptors: %s",
			    strerror(errno));
	if (dup2(nul, 0) == -1 || dup2(nul, 1) == -1 || dup2(nul, 2) == -1 ||
	    dup3(hi[0], FD_READY, O_CLOEXEC) == -1)
		fail(relay.ready, "relay: arrange descriptors: %s",
		    strerror(errno));
	relay.ready = FD_READY;
	for (i = 0; i < relay.n; i++)
		if (dup3(hi[i + 1], FD_DIRS + (int)i, O_CLOEXEC) == -1)
			fail(relay.ready, "relay: arrange descriptors: %s",
			    strerror(errno));
	if (close_range(FD_DIRS + (unsigned)relay.n, ~0U, 0) == -1)
		fail(relay.ready, "relay: close descriptors: %s",
		    strerror(errno));
}

/* No capability left, in any namespace: inside the job's user namespace
 * the relay would otherwise hold them all there. */
static void
drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int cap;

	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fail(relay.ready, "relay: drop capabilities: %s",
		    strerror(errno));
}

/* Become the relay: its own signals, mounts, user, limits, descriptors. */
static void
become(bool is_root, uid_t uid, gid_t gid, pid_t parent)
{
	int dirs[RELAY_MAX], sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	/* each connection: two sockets and two pipes */
	struct rlimit nofile = { 16 + 6 * RELAY_CONNS + 2 * RELAY_MAX,
	    16 + 6 * RELAY_CONNS + 2 * RELAY_MAX }, zero = { 0, 0 };
	sigset_t none;
	size_t i;

	for (i = 0; i < nitems(sigs); i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	open_dirs(dirs);
	/* A mount namespace of its own: it holds none of the sandbox's. */
	if (unshare(CLONE_NEWNS) == -1)
		fail(relay.ready, "relay: unshare the mount namespace: %s",
		    strerror(errno));
	if (is_root && (setgroups(0, NULL) == -1 ||
	    setresgid(gid, gid, gid) == -1 || setresuid(uid, uid, uid) == -1))
		fail(relay.ready, "relay: become the sandbox's user: %s",
		    strerror(errno));
	drop_caps();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	prctl(PR_SET_DUMPABLE, 0);
	arrange_fds(dirs);
	if (setrlimit(RLIMIT_NOFILE, &nofile) == -1 ||
	    setrlimit(RLIMIT_CORE, &zero) == -1 ||
	    setrlimit(RLIMIT_FSIZE, &zero) == -1)
		fail(relay.ready, "relay: set resource limits: %s",
		    strerror(errno));
}

/* Fail closed: each socket is there, is a socket, and answers the relay
 * as the user it now is (a connection closed at once, without a byte). */
static void
check_sockets(void)
{
	const struct relay_bridge *b;
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < relay.n; i++) {
		b = &relay.b[i];
		if (fstatat(FD_DIRS + (int)i, relay.base[i], &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			fail(relay.ready, "the %s's socket %s %s", b->name,
			    b->path, errno == ENOENT ? "does not exist" :
			    strerror(errno));
		if (!S_ISSOCK(st.st_mode))
			fail(relay.ready, "the %s's socket %s is not a socket",
			    b->name, b->path);
		if ((fd = ux_connect(i)) == -1)
			fail(relay.ready, "the %s at %s does not answer: %s",
			    b->name, b->path, strerror(errno));
		close(fd);
	}
}

static void
listen_all(void)
{
	size_t i;
	int fd;

	for (i = 0; i < relay.n; i++) {
		if ((fd = listen_on(AF_INET, relay.b[i].port)) == -1)
			fail(relay.ready, "relay: listen on 127.0.0.1:%d: %s",
			    relay.b[i].port, strerror(errno));
		relay.lof[relay.nl] = i;
		relay.lfd[relay.nl++] = fd;
		/* ::1 when the namespace has IPv6. */
		if ((fd = listen_on(AF_INET6, relay.b[i].port)) != -1) {
			relay.lof[relay.nl] = i;
			relay.lfd[relay.nl++] = fd;
		}
	}
}

/* A connection the socket refused: the client is told so in HTTP (both
 * servers speak it), and what it sends is read and dropped until it
 * closes, so that the answer is not lost to a reset. */
static void
refuse(struct conn *c, const struct relay_bridge *b, int error)
{
	char body[256], head[512];
	int k;

	snprintf(body, sizeof(body), "handoff: the sandbox's %s is not"
	    " reachable: %s\n", b->name, strerror(error));
	k = snprintf(head, sizeof(head), "HTTP/1.1 502 Bad"
	    " Gateway\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", strlen(body));
	pump_first(&c->down, head, (size_t)k);
	pump_first(&c->down, body, strlen(body));
}

static void
conn_close(struct conn *c)
{
	if (c->is_pumping) {
		pump_close(&c->up);
		pump_close(&c->down);
	}
	close(c->tcp);
	if (c->ux != -1)
		close(c->ux);
	c->tcp = c->ux = -1;
	c->is_pumping = false;
}

/* Hand c's TCP connection to the server at the other end of c->ux: one
 * NUL byte carrying the descriptor. 0 once sent, -1 otherwise. */
static int
pass(struct conn *c)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	char nul = '\0';
	struct iovec iov = { &nul, 1 };
	struct msghdr m;
	struct cmsghdr *cm;

	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->tcp, sizeof(int));
	return sendmsg(c->ux, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -1;
}

/* Join c to its bridge's socket: at once, or on a later tick while the
 * socket's backlog is full (its server busy); refused otherwise (what the
 * client sends is then read and dropped). A passing bridge's server is
 * handed the connection, and the relay is done with it. */
static void
attach(struct conn *c)
{
	int error = 0;

	if ((c->ux = ux_connect(c->bridge)) == -1) {
		error = errno;
		c->is_waiting = error == EAGAIN && ++c->tries < WAIT_TRIES;
		if (c->is_waiting)
			return;
	}
	c->is_waiting = false;
	if (c->ux != -1 && relay.b[c->bridge].is_passing && pass(c) == 0) {
		conn_close(c);
		return;
	}
	if (pump_init(&c->up, c->tcp, c->ux) == -1) {
		conn_close(c);
		return;
	}
	if (pump_init(&c->down, c->ux, c->tcp) == -1) {
		pump_close(&c->up);
		conn_close(c);
		return;
	}
	c->is_pumping = true;
	if (c->ux == -1)
		refuse(c, &relay.b[c->bridge], error);
}

static void
accept_one(int lfd, size_t bridge)
{
	struct conn *c = NULL;
	size_t i;
	int fd, one = 1;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	for (i = 0; i < RELAY_CONNS && c == NULL; i++)
		if (relay.c[i].tcp == -1)
			c = &relay.c[i];
	if (c == NULL) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->tcp = fd;
	c->bridge = bridge;
	c->tries = 0;
	attach(c);
	/* A request often comes with its connection: pass it on now. */
	if (c->is_pumping && pump_flow(&c->up, SIZE_MAX) == -1)
		conn_close(c);
}

/* What each side of c waits for: reading while its pipe has room,
 * writing while the other's holds bytes. */
static short
wants(const struct pump *in, const struct pump *out)
{
	return (short)((pump_wants_src(in) ? POLLIN : 0) |
	    (pump_wants_dst(out) ? POLLOUT : 0));
}

static void __attribute__((noreturn))
loop(void)
{
	struct pollfd pfd[RELAY_MAX * 2 + RELAY_CONNS * 2];
	int at[RELAY_CONNS][2];
	size_t i, nconn, nfds;
	struct conn *c;
	bool is_waiting;

	for (;;) {
		nfds = nconn = 0;
		is_waiting = false;
		for (i = 0; i < RELAY_CONNS; i++) {
			c = &relay.c[i];
			nconn += c->tcp != -1;
			if (c->tcp != -1 && c->is_waiting) {
				attach(c);
				is_waiting |= c->is_waiting;
			}
		}
		for (i = 0; i < relay.nl; i++) {
			/* At the bound, new connections wait in the backlog. */
			pfd[nfds].fd = nconn < RELAY_CONNS ? relay.lfd[i] : -1;
			pfd[nfds++].events = POLLIN;
		}
		for (i = 0; i < RELAY_CONNS; i++) {
			c = &relay.c[i];
			at[i][0] = at[i][1] = -1;
			if (c->tcp == -1 || c->is_waiting || !c->is_pumping)
				continue;
			/* A side that waits for nothing is left out: its
			 * hang-up would wake the loop for nothing. */
			if ((pfd[nfds].events = wants(&c->up, &c->down)) != 0) {
				pfd[nfds].fd = c->tcp;
				at[i][0] = (int)nfds++;
			}
			if (c->ux != -1 && (pfd[nfds].events = wants(&c->down,
			    &c->up)) != 0) {
				pfd[nfds].fd = c->ux;
				at[i][1] = (int)nfds++;
			}
		}
		if (poll(pfd, nfds, is_waiting ? WAIT_TICK_MS : -1) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (i = 0; i < relay.nl; i++)
			if (pfd[i].fd != -1 && pfd[i].revents)
				accept_one(relay.lfd[i], relay.lof[i]);
		for (i = 0; i < RELAY_CONNS; i++) {
			c = &relay.c[i];
			if (c->tcp == -1 || ((at[i][0] == -1 ||
			    pfd[at[i][0]].revents == 0) && (at[i][1] == -1 ||
			    pfd[at[i][1]].revents == 0)))
				continue;
			if (pump_flow(&c->up, SIZE_MAX) == -1 ||
			    pump_flow(&c->down, SIZE_MAX) == -1 ||
			    (pump_is_done(&c->up) && pump_is_done(&c->down)))
				conn_close(c);
		}
	}
}

/* The relay, in the forked child: never returns. */
static void __attribute__((noreturn))
relay_main(const struct relay_bridge *b, size_t n, int ready, bool is_root,
    uid_t uid, gid_t gid, pid_t parent)
{
	size_t i;

	relay.b = b;
	relay.n = n;
	relay.ready = ready;
	for (i = 0; i < RELAY_CONNS; i++) {
		relay.c[i].tcp = relay.c[i].ux = -1;
		relay.c[i].is_waiting = false;
	}
	become(is_root, uid, gid, parent);
	check_sockets();
	listen_all();
	if (write(relay.ready, "+", 1) != 1)
		_exit(1);
	close(relay.ready);
	loop();
}

int
relay_start(const struct relay_bridge *b, size_t n, bool is_root,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char msg[512];
	size_t len = 0;
	ssize_t k;
	pid_t parent = getpid(), pid;
	int p[2];

	if (n == 0 || n > RELAY_MAX) {
		snprintf(err, errlen, "relay: %zu bridges", n);
		return -1;
	}
	if (unshare(CLONE_NEWNET) == -1 || lo_up() == -1) {
		snprintf(err, errlen, "make the network namespace: %s",
		    strerror(errno));
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(err, errlen, "start the relay: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		relay_main(b, n, p[1], is_root, uid, gid, parent);
	}
	close(p[1]);
	while (len < sizeof(msg) - 1 && ((k = read(p[0], msg + len,
	    sizeof(msg) - 1 - len)) > 0 || (k == -1 && errno == EINTR)))
		if (k > 0)
			len += (size_t)k;
	close(p[0]);
	msg[len] = '\0';
	if (strcmp(msg, "+") == 0)
		return 0;
	waitpid(pid, NULL, 0);
	snprintf(err, errlen, "%s", len > 0 ? msg :
	    "the relay ended before it was ready");
	return -1;
}

int
relay_take(int ux, char *first)
{
	union {
		struct cmsghdr	h;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { first, 1 };
	struct msghdr m;
	struct cmsghdr *cm;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fds[4], n = 0, fd = -1, v, i;
	socklen_t len = sizeof(v);
	ssize_t k;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	if ((k = recvmsg(ux, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) == -1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS)
			for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int) && n < (int)nitems(fds); i++)
				memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int),
				    sizeof(int));
	if (k == 1 && n == 0 && *first != '\0') {
		errno = EPROTO;
		return -1;
	}
	/* Exactly one connected TCP socket, after a NUL; nothing else. */
	if (k == 1 && n == 1 && *first == '\0' && !(m.msg_flags & MSG_CTRUNC) &&
	    getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
	    v == SOCK_STREAM && (len = sizeof(v), getsockopt(fds[0],
	    SOL_SOCKET, SO_DOMAIN, &v, &len)) == 0 && (v == AF_INET ||
	    v == AF_INET6) && (len = sizeof(v), getsockopt(fds[0], SOL_SOCKET,
	    SO_ACCEPTCONN, &v, &len)) == 0 && v == 0 &&
	    getpeername(fds[0], (struct sockaddr *)&peer, &plen) == 0 &&
	    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) == 0)
		fd = fds[0];
	for (i = 0; i < n; i++)
		if (fds[i] != fd)
			close(fds[i]);
	if (fd == -1)
		errno = k == 0 ? ECONNRESET : EBADMSG;
	return fd;
}

int
relay_resolv_conf(const char *dir, char *err, size_t errlen)
{
	static const char text[] = "nameserver 127.0.0.1\n";
	char *path = xasprintf("%s/resolv.conf", dir);
	int rc;

	if ((rc = util_write_file(path, text, strlen(text), 0644)) == -1)
		snprintf(err, errlen, "sandbox: write %s: %s", path,
		    strerror(errno));
	free(path);
	return rc;
}
