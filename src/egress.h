/*
 * The egress policy of a job, without I/O: which host and port the agent may
 * reach (`[sandbox] allow_hosts`), which addresses are never dialed unless
 * pinned (`[sandbox] hosts`), and how a host in a request is spelled.
 */
#ifndef HANDOFF_EGRESS_H
#define HANDOFF_EGRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define EGRESS_HOST_MAX	253	/* a DNS name's longest text form */

/* An address: family AF_INET or AF_INET6, bytes in network order. */
struct egress_addr {
	int		 family;
	unsigned char	 bytes[16];
};

/* A host as a request names it, normalized. */
struct egress_host {
	char		 name[EGRESS_HOST_MAX + 1];	/* lowercase, no trailing dot;
							   an IP literal without [] */
	bool		 is_ip;
	struct egress_addr addr;			/* when is_ip */
};

struct egress_rule {
	char		*name;		/* the apex for a wildcard */
	bool		 is_wildcard;	/* "*.name": subdomains, not name */
	bool		 is_ip;
	struct egress_addr addr;	/* when is_ip */
	int		 port;		/* 0: the request's default port */
};

struct egress_pin {
	char		*name;
	struct egress_addr addr;
};

struct egress_policy {
	struct egress_rule *rules;
	size_t		 nrules;
	struct egress_pin *pins;
	size_t		 npins;
};

/* Normalize host text (a name, an IPv4 address, an IPv6 address with or
 * without brackets) into out. Returns 0, or -1 with the reason in err:
 * other spellings of IPv4 ("2130706433", "0177.0.0.1", "0x7f.1") are
 * refused, as is anything that is not a plain DNS name. */
int egress_host_parse(const char *text, size_t len, struct egress_host *out,
    char *err, size_t errlen);
/* Parse "host[:port]" or "[v6][:port]"; no port is default_port. */
int egress_target_parse(const char *text, size_t len, int default_port,
    struct egress_host *h, int *port, char *err, size_t errlen);
/* Build a policy from allow_hosts and hosts. Returns 0, or -1 with the
 * entry and why in err. Free with egress_policy_free. */
int egress_policy_init(struct egress_policy *p, const struct strlist *allow,
    const struct strlist *pins, char *err, size_t errlen);
void egress_policy_free(struct egress_policy *p);
/* May the agent reach host:port? default_port is the request's (443 for
 * CONNECT, 80 for plain HTTP). Returns true, or false with the reason. */
bool egress_allowed(const struct egress_policy *p, const struct egress_host *h,
    int port, int default_port, char *reason, size_t reasonlen);
/* The address the operator pinned host to, or NULL. */
const struct egress_addr *egress_pinned(const struct egress_policy *p,
    const struct egress_host *h);
/* Whether address a is never dialed unless pinned; if so why ("loopback",
 * "IPv4-mapped private", ...) into why. */
bool egress_addr_refused(const struct egress_addr *a, char *why, size_t len);
/* a as text (no brackets) into buf. */
void egress_addr_text(const struct egress_addr *a, char *buf, size_t len);
/* The class of a refusal's reason as the proxy records it, from a small
 * fixed set, for counting refusals without their hosts and addresses:
 * "not_allowed" (not in allow_hosts), "port" (the host listed, not the
 * port), "address" (it resolves to an address never dialed),
 * "max_egress" (the job's bytes spent), "request" (a request the proxy
 * does not take: its head, its form, the host's spelling), "other". */
const char *egress_reason_class(const char *reason);
/* config.c's checks of one allow_hosts and one hosts entry: 1 if valid. */
int egress_check_rule(const char *s, size_t len);
int egress_check_pin(const char *s, size_t len);

#endif
