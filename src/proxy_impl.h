/*
 * What the files of the egress proxy share: a connection, the proxy, and
 * reading a request's head (proxy_request.c).
 */
#ifndef HANDOFF_PROXY_IMPL_H
#define HANDOFF_PROXY_IMPL_H

#include <sys/queue.h>

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/listener.h>

#include "egress.h"
#include "pump.h"

#define PROXY_MAX_CONNS		64		/* at once, per job */
#define PROXY_HEAD_MAX		(16 * 1024)	/* request line and headers */
#define PROXY_HEADERS_MAX	100
#define PROXY_HEAD_SECS		30		/* to send the request's head */
#define PROXY_DIAL_SECS		30
#define PROXY_IDLE_MS		(120 * 1000)	/* nothing either way */

enum conn_state { C_HEAD, C_RESOLVE, C_DIAL, C_RELAY, C_ANSWER };

struct proxy;

/* One client connection; side 0 is the client, side 1 the origin. Each
 * side is a bufferevent until the relay starts, then a socket and a pump
 * of what it reads to the other side. */
struct conn {
	struct proxy	*px;
	struct bufferevent *bev[2];
	int		 fd[2];
	struct pump	 pump[2];
	bool		 is_pumping;
	struct event	*ev_read[2], *ev_write[2], *ev_idle;
	int		 ux;		/* until its first byte says who speaks */
	struct event	*ev_first;
	enum conn_state	 state;
	bool		 is_connect;
	struct egress_host host;
	char		 shown[EGRESS_HOST_MAX + 1];	/* host for records */
	int		 port;
	char		 addr[INET6_ADDRSTRLEN];
	struct evbuffer	*head_out;	/* plain HTTP: the request for the origin */
	struct evdns_getaddrinfo_request *dns;
	uint64_t	 bytes_in, bytes_out;
	int64_t		 start_ms, last_ms;
	TAILQ_ENTRY(conn) entry;
};

struct proxy {
	struct event_base *base;
	struct evdns_base *dns;
	struct evconnlistener *listener;
	struct egress_policy policy;
	long long	 job;
	uint64_t	 max_bytes, used_bytes;
	int		 record_fd;
	int		 nconns;
	TAILQ_HEAD(, conn) conns;
};

/* Read the head (NUL-terminated, lines ending in CRLF) into c: the target,
 * and for plain HTTP the request for the origin. Returns 0, or the status
 * to answer with why. */
int proxy_request_parse(struct conn *c, char *head, char *why, size_t whylen);

#endif
