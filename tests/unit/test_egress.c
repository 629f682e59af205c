/*
 * egress.c: how hosts are spelled, allow_hosts matching, pins, and the
 * addresses never dialed unless pinned.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "egress.h"
#include "tap.h"
#include "util.h"

static struct egress_policy policy;

/* host:port as a request names it: allowed by the policy? The reason when not. */
static const char *
verdict(const char *target, int default_port)
{
	static char reason[160];
	struct egress_host h;
	int port;

	if (egress_target_parse(target, strlen(target), default_port, &h, &port,
	    reason, sizeof(reason)) == -1)
		return reason;
	if (!egress_allowed(&policy, &h, port, default_port, reason,
	    sizeof(reason)))
		return reason;
	return "allowed";
}

/* The class of an address given as text, or "public". */
static const char *
class_of(const char *text)
{
	static char why[64];
	struct egress_addr a = { 0 };

	a.family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(a.family, text, a.bytes) != 1)
		return "unparsable";
	return egress_addr_refused(&a, why, sizeof(why)) ? why : "public";
}

static void
test_spelling(void)
{
	struct egress_host h;
	char err[64];

	ok(egress_host_parse("Example.COM.", 12, &h, err, sizeof(err)) == 0 &&
	    strcmp(h.name, "example.com") == 0 && !h.is_ip,
	    "case and one trailing dot normalised");
	ok(egress_host_parse("example.com..", 13, &h, err, sizeof(err)) == -1,
	    "two trailing dots refused");
	ok(egress_host_parse("[::1]", 5, &h, err, sizeof(err)) == 0 &&
	    h.is_ip && h.addr.family == AF_INET6 && strcmp(h.name, "::1") == 0,
	    "[::1] is an IPv6 literal");
	ok(egress_host_parse("[0:0::1]", 8, &h, err, sizeof(err)) == 0 &&
	    strcmp(h.name, "::1") == 0, "IPv6 spelled long is normalised");
	ok(egress_host_parse("127.0.0.1", 9, &h, err, sizeof(err)) == 0 &&
	    h.is_ip && h.addr.family == AF_INET, "dotted quad is IPv4");
	ok(egress_host_parse("[127.0.0.1]", 11, &h, err, sizeof(err)) == -1,
	    "IPv4 in brackets refused");
	ok(egress_host_parse("a\0b.com", 7, &h, err, sizeof(err)) == -1,
	    "NUL in a name refused");
	ok(egress_host_parse("fe80::1%eth0", 12, &h, err, sizeof(err)) == -1,
	    "zone id refused");
	ok(egress_host_parse("exa_mple.com", 12, &h, err, sizeof(err)) == -1,
	    "underscore refused");
	ok(egress_host_parse("xn--bcher-kva.example", 21, &h, err,
	    sizeof(err)) == 0, "punycode name taken");
	ok(egress_host_parse("-a.com", 6, &h, err, sizeof(err)) == -1,
	    "label starting with - refused");
}

static void
test_numeric_forms(void)
{
	static const char *const forms[] = { "2130706433", "0177.0.0.1",
	    "0x7f.1", "0x7f000001", "127.1", "127.0.1", "0x7f.0.0.1",
	    "017700000001", "127.000.000.001", "1.0x7f", "0X7F.1",
	    "example.123", "0", "00", "0x" };
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct egress_host h;
		char err[64];
		ok(egress_host_parse(forms[i], strlen(forms[i]), &h, err,
		    sizeof(err)) == -1 && strstr(err, "IPv4") != NULL,
		    "\"%s\" refused as an IPv4 spelling", forms[i]);
	}
}

static void
test_matching(void)
{
	/* Nothing listed: nothing allowed, literals included. */
	static const char *const refused_forms[] = { "localhost:443",
	    "127.0.0.1:443", "[::1]:443", "0.0.0.0:443",
	    "169.254.169.254:80", "10.0.0.1:443", "[::ffff:127.0.0.1]:443",
	    "[::ffff:7f00:1]:443", "[::127.0.0.1]:443" };
	size_t i;

	for (i = 0; i < sizeof(refused_forms) / sizeof(refused_forms[0]); i++)
		is_str(verdict(refused_forms[i], 443), "not in allow_hosts",
		    "%s not listed: refused", refused_forms[i]);

	is_str(verdict("example.com:443", 443), "allowed", "exact name, 443");
	is_str(verdict("EXAMPLE.com.:443", 443), "allowed",
	    "case and trailing dot of the request normalised");
	is_str(verdict("example.com", 80), "allowed", "plain HTTP: port 80");
	is_str(verdict("example.com:80", 443), "port 80 not allowed",
	    "CONNECT to 80 of a name listed without a port");
	is_str(verdict("example.com:8443", 443), "port 8443 not allowed",
	    "a port not allowed");
	is_str(verdict("www.example.com:443", 443), "not in allow_hosts",
	    "an exact entry allows no subdomain");
	is_str(verdict("pkg.wild.test:443", 443), "allowed",
	    "subdomain of a wildcard");
	is_str(verdict("a.b.wild.test:443", 443), "allowed",
	    "deeper subdomain of a wildcard");
	is_str(verdict("wild.test:443", 443), "not in allow_hosts",
	    "the apex of a wildcard");
	is_str(verdict("evilwild.test:443", 443), "not in allow_hosts",
	    "a name merely ending like the wildcard");
	is_str(verdict("wild.test.evil.com:443", 443), "not in allow_hosts",
	    "the wildcard's name as a prefix");
	is_str(verdict("mirror.test:8080", 443), "allowed", "name:port");
	is_str(verdict("mirror.test:443", 443), "port 443 not allowed",
	    "name:port allows that port only");
	is_str(verdict("mirror.test:8080", 80), "allowed",
	    "name:port for plain HTTP too");
	is_str(verdict("192.0.2.7:443", 443), "allowed", "a listed literal");
	is_str(verdict("192.0.2.8:443", 443), "not in allow_hosts",
	    "another literal");
	is_str(verdict("[2001:db8::0:7]:443", 443), "allowed",
	    "a listed IPv6 literal however spelled");
	is_str(verdict("[::ffff:192.0.2.7]:443", 443), "not in allow_hosts",
	    "the mapped form of a listed literal is not it");
	is_str(verdict("localhost:443", 443), "not in allow_hosts",
	    "localhost unless listed exactly");
	is_str(verdict("2130706433:443", 443),
	    "not a dotted-decimal IPv4 address", "decimal IPv4 refused");
	is_str(verdict("0177.0.0.1:443", 443),
	    "not a dotted-decimal IPv4 address", "octal IPv4 refused");
	is_str(verdict("0x7f.1:443", 443),
	    "not a dotted-decimal IPv4 address", "hex IPv4 refused");
	is_str(verdict("example.com:0", 443), "not host:port", "port 0");
	is_str(verdict("example.com:65536", 443), "not host:port",
	    "port past 65535");
	is_str(verdict("example.com:+443", 443), "not host:port",
	    "a signed port");
	is_str(verdict("example.com:", 443), "not host:port", "empty port");
}

static void
test_pins(void)
{
	struct egress_host h;
	const struct egress_addr *a;
	char err[64], text[64];

	egress_host_parse("Mirror.Test", 11, &h, err, sizeof(err));
	a = egress_pinned(&policy, &h);
	ok(a != NULL, "a pinned name has its address");
	if (a != NULL) {
		egress_addr_text(a, text, sizeof(text));
		is_str(text, "10.1.2.3", "the pinned address");
	}
	egress_host_parse("example.com", 11, &h, err, sizeof(err));
	ok(egress_pinned(&policy, &h) == NULL, "an unpinned name has none");
	egress_host_parse("10.1.2.3", 8, &h, err, sizeof(err));
	ok(egress_pinned(&policy, &h) == NULL, "a literal is never pinned");
	ok(egress_check_pin("a.test=127.0.0.1", 16), "pin to IPv4");
	ok(egress_check_pin("a.test=[::1]", 12), "pin to [IPv6]");
	ok(egress_check_pin("a.test=::1", 10), "pin to IPv6");
	ok(!egress_check_pin("a.test=b.test", 13), "pin to a name refused");
	ok(!egress_check_pin("1.2.3.4=127.0.0.1", 17), "pin of a literal");
	ok(!egress_check_pin("a.test", 6), "pin without =");
	ok(!egress_check_pin("a.test=0x7f.1", 13), "pin to a hex spelling");
	ok(egress_check_rule("*.example.com", 13), "wildcard rule");
	ok(egress_check_rule("[::1]:8080", 10), "IPv6 rule with a port");
	ok(!egress_check_rule("*.10.0.0.1", 10), "wildcard of a literal");
	ok(!egress_check_rule("*example.com", 12), "bare * refused");
	ok(!egress_check_rule("a.*.example.com", 15), "inner * refused");
	ok(!egress_check_rule("2130706433", 10), "decimal literal rule");
	ok(!egress_check_rule("exa mple.com", 12), "space refused");
}

static void
test_classes(void)
{
	static const struct { const char *addr, *want; } cases[] = {
		{ "0.0.0.0", "unspecified" },
		{ "0.1.2.3", "unspecified" },
		{ "10.0.0.1", "private" },
		{ "10.255.255.255", "private" },
		{ "11.0.0.1", "public" },
		{ "100.63.255.255", "public" },
		{ "100.64.0.1", "shared" },
		{ "100.127.255.255", "shared" },
		{ "100.128.0.0", "public" },
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "169.254.169.254", "link-local" },
		{ "172.15.255.255", "public" },
		{ "172.16.0.1", "private" },
		{ "172.31.255.255", "private" },
		{ "172.32.0.0", "public" },
		{ "192.0.0.8", "reserved" },
		{ "192.0.2.1", "documentation" },
		{ "192.88.99.1", "reserved" },
		{ "192.168.1.1", "private" },
		{ "198.17.255.255", "public" },
		{ "198.18.0.1", "benchmark" },
		{ "198.19.255.255", "benchmark" },
		{ "198.20.0.0", "public" },
		{ "198.51.100.9", "documentation" },
		{ "203.0.113.9", "documentation" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.255", "multicast" },
		{ "240.0.0.1", "reserved" },
		{ "255.255.255.255", "reserved" },
		{ "93.184.215.14", "public" },
		{ "8.8.8.8", "public" },
		{ "::", "unspecified" },
		{ "::1", "loopback" },
		{ "::ffff:127.0.0.1", "IPv4-mapped loopback" },
		{ "::ffff:10.0.0.1", "IPv4-mapped private" },
		{ "::ffff:169.254.169.254", "IPv4-mapped link-local" },
		{ "::ffff:8.8.8.8", "IPv4-mapped" },
		{ "::127.0.0.1", "IPv4-compatible loopback" },
		{ "::10.0.0.1", "IPv4-compatible private" },
		{ "::8.8.8.8", "IPv4-compatible" },
		{ "64:ff9b::7f00:1", "NAT64 loopback" },
		{ "64:ff9b::a9fe:a9fe", "NAT64 link-local" },
		{ "64:ff9b::808:808", "public" },
		{ "64:ff9b:1::1", "private" },
		{ "2002:7f00:1::1", "6to4 loopback" },
		{ "2002:a00:1::1", "6to4 private" },
		{ "2002:808:808::1", "public" },
		{ "2001:db8::1", "documentation" },
		{ "2001:2::1", "benchmark" },
		{ "3fff::1", "documentation" },
		{ "100::1", "reserved" },
		{ "fc00::1", "unique-local" },
		{ "fd12:3456::1", "unique-local" },
		{ "fe80::1", "link-local" },
		{ "febf::1", "link-local" },
		{ "fec0::1", "site-local" },
		{ "ff02::1", "multicast" },
		{ "ff0e::1", "multicast" },
		{ "::2", "IPv4-compatible unspecified" },
		{ "1::1", "reserved" },
		{ "2606:4700::1111", "public" },
		{ "2a00:1450:4001::200e", "public" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = class_of(cases[i].addr);
		ok(strcmp(got, cases[i].want) == 0, "%s is %s (%s)",
		    cases[i].addr, cases[i].want, got);
	}
}

/* Refusals counted by reason class: each reason the policy gives (and
 * the proxy's own, as it words them) has its class; hosts and addresses
 * in a reason never make one of their own. */
static void
test_reason_classes(void)
{
	static const struct {
		const char	*reason;
		const char	*class;
	} proxy[] = {
		/* proxy.c and proxy_request.c's words */
		{ "resolves to 10.0.0.5, private", "address" },
		{ "resolves to ::1, loopback", "address" },
		{ "max_egress reached", "max_egress" },
		{ "request head over 16 KiB", "request" },
		{ "malformed request head", "request" },
		{ "malformed request", "request" },
		{ "https:// needs CONNECT", "request" },
		{ "not a CONNECT or absolute-form request", "request" },
		{ "user information in the URL", "request" },
		{ "", "other" },
		{ "something new", "other" },
	};
	size_t i;

	is_str(egress_reason_class(verdict("nowhere.test:443", 443)),
	    "not_allowed", "class: not in allow_hosts");
	is_str(egress_reason_class(verdict("mirror.test:9999", 443)), "port",
	    "class: a port not listed");
	is_str(egress_reason_class(verdict("0x7f.1:80", 80)), "request",
	    "class: a host spelled another way (%s)", verdict("0x7f.1:80", 80));
	is_str(egress_reason_class(verdict("[::1:80", 80)), "request",
	    "class: no host:port (%s)", verdict("[::1:80", 80));
	is_str(egress_reason_class(verdict("exa mple.com:80", 80)), "request",
	    "class: not a host name (%s)", verdict("exa mple.com:80", 80));
	for (i = 0; i < nitems(proxy); i++)
		is_str(egress_reason_class(proxy[i].reason), proxy[i].class,
		    "class of \"%s\"", proxy[i].reason);
	is_str(egress_reason_class(NULL), "other", "class: no reason");
}

int
main(void)
{
	struct strlist allow, pins;
	char *allow_v[] = { "example.com", "*.wild.test", "mirror.test:8080",
	    "192.0.2.7", "[2001:db8::7]" };
	char *pin_v[] = { "mirror.test=10.1.2.3" };
	char err[160];

	allow.v = allow_v;
	allow.n = 5;
	pins.v = pin_v;
	pins.n = 1;
	ok(egress_policy_init(&policy, &allow, &pins, err, sizeof(err)) == 0,
	    "policy built");
	test_spelling();
	test_numeric_forms();
	test_matching();
	test_pins();
	test_classes();
	test_reason_classes();
	egress_policy_free(&policy);
	allow_v[0] = "0x7f.1";
	ok(egress_policy_init(&policy, &allow, &pins, err, sizeof(err)) == -1 &&
	    strstr(err, "0x7f.1") != NULL, "a bad entry names itself");
	return done_testing();
}
