/*
 * The egress policy: allow_hosts matching, the spelling of hosts, the
 * classes of addresses the proxy never dials unless pinned. Pure functions:
 * the proxy (proxy.c) does the I/O.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress.h"
#include "util.h"

/* A block of addresses and why it is refused. */
struct block {
	const char	*prefix;	/* address text */
	int		 bits;
	const char	*what;
};

/* IANA's special-purpose registries (RFC 6890 and successors); 240/4 holds
 * the broadcast address. */
static const struct block v4_blocks[] = {
	{ "0.0.0.0", 8, "unspecified" },
	{ "10.0.0.0", 8, "private" },
	{ "100.64.0.0", 10, "shared" },
	{ "127.0.0.0", 8, "loopback" },
	{ "169.254.0.0", 16, "link-local" },
	{ "172.16.0.0", 12, "private" },
	{ "192.0.0.0", 24, "reserved" },
	{ "192.0.2.0", 24, "documentation" },
	{ "192.88.99.0", 24, "reserved" },
	{ "192.168.0.0", 16, "private" },
	{ "198.18.0.0", 15, "benchmark" },
	{ "198.51.100.0", 24, "documentation" },
	{ "203.0.113.0", 24, "documentation" },
	{ "224.0.0.0", 4, "multicast" },
	{ "240.0.0.0", 4, "reserved" },
};

/* The forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4)
 * are classified by that address in v6_embedded. */
static const struct block v6_blocks[] = {
	{ "::", 128, "unspecified" },
	{ "::1", 128, "loopback" },
	{ "64:ff9b:1::", 48, "private" },
	{ "100::", 64, "reserved" },
	{ "2001:2::", 48, "benchmark" },
	{ "2001:db8::", 32, "documentation" },
	{ "3fff::", 20, "documentation" },
	{ "fc00::", 7, "unique-local" },
	{ "fe80::", 10, "link-local" },
	{ "fec0::", 10, "site-local" },
	{ "ff00::", 8, "multicast" },
	{ "::", 8, "reserved" },
};

static bool
in_block(const unsigned char *a, int family, const struct block *b)
{
	unsigned char p[16];
	int full, rest;

	if (inet_pton(family, b->prefix, p) != 1)
		return false;
	full = b->bits / 8;
	rest = b->bits % 8;
	if (memcmp(a, p, (size_t)full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ p[full]) & (0xff << (8 - rest))) == 0;
}

static const char *
v4_refused(const unsigned char *a)
{
	size_t i;

	for (i = 0; i < nitems(v4_blocks); i++)
		if (in_block(a, AF_INET, &v4_blocks[i]))
			return v4_blocks[i].what;
	return NULL;
}

/* An IPv4 address inside an IPv6 one: its offset, or -1. */
static int
v6_embedded(const unsigned char *a, const char **form)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const unsigned char zero[12];
	static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (memcmp(a, mapped, 12) == 0)
		return *form = "IPv4-mapped", 12;
	if (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14] | a[15]) != 0 &&
	    !(a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 1))
		return *form = "IPv4-compatible", 12;
	if (memcmp(a, nat64, 12) == 0)
		return *form = "NAT64", 12;
	if (a[0] == 0x20 && a[1] == 0x02)
		return *form = "6to4", 2;
	return -1;
}

bool
egress_addr_refused(const struct egress_addr *a, char *why, size_t len)
{
	const char *form, *what = NULL;
	size_t i;
	int off;

	if (a->family == AF_INET)
		what = v4_refused(a->bytes);
	else if ((off = v6_embedded(a->bytes, &form)) != -1) {
		if ((what = v4_refused(a->bytes + off)) != NULL) {
			snprintf(why, len, "%s %s", form, what);
			return true;
		}
		/* Mapped and compatible forms are never an answer worth
		 * dialing: the socket would reach IPv4 by another name. */
		if (off == 12 && strcmp(form, "NAT64") != 0)
			what = form;
	} else {
		for (i = 0; i < nitems(v6_blocks) && what == NULL; i++)
			if (in_block(a->bytes, AF_INET6, &v6_blocks[i]))
				what = v6_blocks[i].what;
	}
	if (what != NULL)
		snprintf(why, len, "%s", what);
	return what != NULL;
}

void
egress_addr_text(const struct egress_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/* What a URL parser (WHATWG's) would read as an IPv4 number: the last
 * label all digits, or 0x and hex digits. */
static bool
looks_numeric(const char *s)
{
	const char *last = strrchr(s, '.');
	size_t n;

	last = last != NULL ? last + 1 : s;
	if ((last[0] == '0' && (last[1] == 'x' || last[1] == 'X')))
		return strspn(last + 2, "0123456789abcdefABCDEF") ==
		    strlen(last + 2);
	n = strlen(last);
	return n > 0 && strspn(last, "0123456789") == n;
}

int
egress_host_parse(const char *text, size_t len, struct egress_host *out,
    char *err, size_t errlen)
{
	char buf[EGRESS_HOST_MAX + 2];
	bool bracketed = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++, len -= 2;
		bracketed = true;
	}
	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, errlen, "not a host name");
		return -1;
	}
	for (i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)text[i]);
	buf[len] = '\0';
	if (!bracketed && len > 1 && buf[len - 1] == '.')
		buf[--len] = '\0';
	if (strlen(buf) != len) {
		snprintf(err, errlen, "not a host name");
		return -1;
	}
	if (bracketed || strchr(buf, ':') != NULL) {
		if (inet_pton(AF_INET6, buf, out->addr.bytes) != 1) {
			snprintf(err, errlen, "not an IPv6 address");
			return -1;
		}
		out->addr.family = AF_INET6;
	} else if (inet_pton(AF_INET, buf, out->addr.bytes) == 1) {
		out->addr.family = AF_INET;
	} else if (looks_numeric(buf)) {
		snprintf(err, errlen, "not a dotted-decimal IPv4 address");
		return -1;
	} else if (!util_hostname_ok(buf, strlen(buf))) {
		snprintf(err, errlen, "not a host name");
		return -1;
	}
	out->is_ip = out->addr.family != 0;
	if (out->is_ip)
		egress_addr_text(&out->addr, out->name, sizeof(out->name));
	else
		memcpy(out->name, buf, len + 1);
	return 0;
}

/* Split "host[:port]" / "[v6]:port" into host text and port (0: none). */
static int
split_port(const char *s, size_t len, size_t *hostlen, int *port)
{
	const char *colon = NULL;
	long long n;
	char num[8];
	size_t plen;

	*port = 0;
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (end == NULL)
			return -1;
		if ((size_t)(end - s) + 1 < len) {
			if (end[1] != ':')
				return -1;
			colon = end + 1;
		}
	} else {
		colon = memchr(s, ':', len);
		if (colon != NULL && memchr(colon + 1, ':', len -
		    (size_t)(colon + 1 - s)) != NULL)
			colon = NULL;	/* a bare IPv6 address */
	}
	*hostlen = colon != NULL ? (size_t)(colon - s) : len;
	if (colon == NULL)
		return 0;
	plen = len - *hostlen - 1;
	if (plen == 0 || plen >= sizeof(num))
		return -1;
	memcpy(num, colon + 1, plen);
	num[plen] = '\0';
	if (strspn(num, "0123456789") != plen ||
	    util_parse_int(num, 1, 65535, &n) == -1)
		return -1;
	*port = (int)n;
	return 0;
}

static int
rule_parse(const char *s, size_t len, struct egress_rule *r)
{
	struct egress_host h;
	size_t hostlen;
	char err[64];

	memset(r, 0, sizeof(*r));
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		r->is_wildcard = true;
		s += 2, len -= 2;
	}
	if (split_port(s, len, &hostlen, &r->port) == -1 ||
	    egress_host_parse(s, hostlen, &h, err, sizeof(err)) == -1 ||
	    (r->is_wildcard && h.is_ip))
		return -1;
	r->name = xstrdup(h.name);
	r->is_ip = h.is_ip;
	r->addr = h.addr;
	return 0;
}

static int
pin_parse(const char *s, size_t len, struct egress_pin *pin)
{
	const char *eq = memchr(s, '=', len);
	struct egress_host name, addr;
	char err[64];

	if (eq == NULL ||
	    egress_host_parse(s, (size_t)(eq - s), &name, err,
	    sizeof(err)) == -1 || name.is_ip ||
	    egress_host_parse(eq + 1, len - (size_t)(eq + 1 - s), &addr, err,
	    sizeof(err)) == -1 || !addr.is_ip)
		return -1;
	pin->name = xstrdup(name.name);
	pin->addr = addr.addr;
	return 0;
}

int
egress_check_rule(const char *s, size_t len)
{
	struct egress_rule r;

	if (rule_parse(s, len, &r) == -1)
		return 0;
	free(r.name);
	return 1;
}

int
egress_check_pin(const char *s, size_t len)
{
	struct egress_pin p;

	if (pin_parse(s, len, &p) == -1)
		return 0;
	free(p.name);
	return 1;
}

int
egress_policy_init(struct egress_policy *p, const struct strlist *allow,
    const struct strlist *pins, char *err, size_t errlen)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->rules = xcalloc(allow->n + 1, sizeof(*p->rules));
	p->pins = xcalloc(pins->n + 1, sizeof(*p->pins));
	for (i = 0; i < allow->n; i++, p->nrules++)
		if (rule_parse(allow->v[i], strlen(allow->v[i]),
		    &p->rules[i]) == -1) {
			snprintf(err, errlen, "allow_hosts: \"%.80s\" is not "
			    "a host, *.host, host:port or IP address",
			    allow->v[i]);
			goto fail;
		}
	for (i = 0; i < pins->n; i++, p->npins++)
		if (pin_parse(pins->v[i], strlen(pins->v[i]),
		    &p->pins[i]) == -1) {
			snprintf(err, errlen, "hosts: \"%.80s\" is not "
			    "name=address", pins->v[i]);
			goto fail;
		}
	return 0;
fail:
	egress_policy_free(p);
	return -1;
}

void
egress_policy_free(struct egress_policy *p)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		free(p->rules[i].name);
	for (i = 0; i < p->npins; i++)
		free(p->pins[i].name);
	free(p->rules);
	free(p->pins);
	memset(p, 0, sizeof(*p));
}

static bool
addr_equal(const struct egress_addr *a, const struct egress_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes,
	    a->family == AF_INET ? 4 : 16) == 0;
}

static bool
host_matches(const struct egress_rule *r, const struct egress_host *h)
{
	size_t n, m;

	if (r->is_ip || h->is_ip)
		return r->is_ip && h->is_ip && addr_equal(&r->addr, &h->addr);
	if (!r->is_wildcard)
		return strcmp(r->name, h->name) == 0;
	n = strlen(h->name);
	m = strlen(r->name);
	return n > m + 1 && h->name[n - m - 1] == '.' &&
	    strcmp(h->name + n - m, r->name) == 0;
}

bool
egress_allowed(const struct egress_policy *p, const struct egress_host *h,
    int port, int default_port, char *reason, size_t reasonlen)
{
	bool name_listed = false;
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		const struct egress_rule *r = &p->rules[i];
		if (!host_matches(r, h))
			continue;
		name_listed = true;
		if (port == (r->port != 0 ? r->port : default_port))
			return true;
	}
	if (name_listed)
		snprintf(reason, reasonlen, "port %d not allowed", port);
	else
		snprintf(reason, reasonlen, "not in allow_hosts");
	return false;
}

const struct egress_addr *
egress_pinned(const struct egress_policy *p, const struct egress_host *h)
{
	size_t i;

	if (h->is_ip)
		return NULL;
	for (i = 0; i < p->npins; i++)
		if (strcmp(p->pins[i].name, h->name) == 0)
			return &p->pins[i].addr;
	return NULL;
}

int
egress_target_parse(const char *text, size_t len, int default_port,
    struct egress_host *h, int *port, char *err, size_t errlen)
{
	size_t hostlen;

	if (split_port(text, len, &hostlen, port) == -1) {
		snprintf(err, errlen, "not host:port");
		return -1;
	}
	if (*port == 0)
		*port = default_port;
	return egress_host_parse(text, hostlen, h, err, errlen);
}

const char *
egress_reason_class(const char *reason)
{
	/* The proxy's refusals: egress_allowed's, the answer it resolved
	 * (proxy.c), the bytes spent, and the request's own faults
	 * (proxy_request.c, egress_target_parse). */
	static const struct {
		const char	*prefix;
		const char	*class;
	} classes[] = {
		{ "not in allow_hosts", "not_allowed" },
		{ "port ", "port" },
		{ "resolves to ", "address" },
		{ "max_egress reached", "max_egress" },
		{ "malformed ", "request" },
		{ "request head ", "request" },
		{ "https:// needs CONNECT", "request" },
		{ "not a ", "request" },
		{ "not an ", "request" },
		{ "not host:port", "request" },
		{ "user information ", "request" },
	};
	size_t i;

	for (i = 0; reason != NULL && i < nitems(classes); i++)
		if (strncmp(reason, classes[i].prefix,
		    strlen(classes[i].prefix)) == 0)
			return classes[i].class;
	return "other";
}
