/*
 * The bridge of a sandbox with network = allowlist: a network namespace
 * with loopback only, and a relay (a process of handoff's, outside the
 * sandbox's pid namespace and seccomp filter) from TCP ports on that
 * loopback to unix sockets on the host, which the sandbox never sees.
 */
#ifndef HANDOFF_RELAY_H
#define HANDOFF_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Bridges a sandbox may have, connections the relay holds at once. */
#define RELAY_MAX	4
#define RELAY_CONNS	64

/* A port on the sandbox's loopback and the host socket it reaches. */
struct relay_bridge {
	int		 port;
	const char	*path;		/* absolute; never bound inside */
	const char	*name;		/* "egress proxy", for messages */
	bool		 is_passing;	/* its server takes the connection */
};

/*
 * A passing bridge's server is handed each TCP connection the relay
 * accepts: the relay connects to the socket, sends one NUL byte with the
 * connection's descriptor (SCM_RIGHTS) and lets go of both, so the bytes
 * never cross the relay. Should the send fail, the relay relays bytes as
 * for any bridge, so the server must take both kinds of client.
 */

/*
 * In the launcher, as the user that makes the sandbox: a new network
 * namespace with lo up, then the relay, forked, listening on 127.0.0.1
 * (and ::1) for each of the n bridges. The relay drops to uid and gid
 * when is_root, dies with its parent and holds no descriptor of the
 * parent's. Returns once it listens and has reached each socket, or -1
 * with the reason in err (a socket missing, not a socket, refusing).
 */
int relay_start(const struct relay_bridge *b, size_t n, bool is_root,
    uid_t uid, gid_t gid, char *err, size_t errlen);

/* The server's side of a passing bridge, on a connection just accepted
 * from its socket: the passed TCP connection (a connected stream socket of
 * IPv4 or IPv6), or -1 with errno EAGAIN (nothing arrived yet), EPROTO (a
 * client speaking for itself: its first byte in *first), or another errno
 * (nothing usable; what came is closed). */
int relay_take(int ux, char *first);

/* dir/resolv.conf for a bridged sandbox: a resolver on its loopback,
 * where nothing listens, so lookups fail at once. */
int relay_resolv_conf(const char *dir, char *err, size_t errlen);

#endif
