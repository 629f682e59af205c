/*
 * The egress proxy's reading of a request head: CONNECT host:port, or an
 * absolute-form plain-HTTP request rewritten for the origin.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "proxy_impl.h"
#include "util.h"

/* Outside text as a record may show it: printable ASCII, bounded. */
static void
show_host(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < dstlen; i++)
		dst[i] = s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' &&
		    s[i] != '\\' ? s[i] : '?';
	dst[i] = '\0';
}

static bool
is_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) ||
		    (s[i] != '\0' && strchr("!#$%&'*+-.^_`|~", s[i]) != NULL)))
			return false;
	return true;
}

/* Whether a header is for this hop only (RFC 9110 §7.6.1), or Host, which
 * is made from the URL. tokens: the Connection headers' values. */
static bool
is_hop_header(const char *name, size_t len, const char *tokens)
{
	static const char *const hop[] = { "connection", "proxy-connection",
	    "keep-alive", "proxy-authorization", "proxy-authenticate", "te",
	    "trailer", "upgrade", "host" };
	const char *t = tokens;
	size_t i, n;

	for (i = 0; i < nitems(hop); i++)
		if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
			return true;
	while (*t != '\0') {
		t += strspn(t, " \t,");
		n = strcspn(t, " \t,");
		if (n == len && strncasecmp(t, name, len) == 0)
			return true;
		t += n;
	}
	return false;
}

/* Split head into lines at CRLF; a bare CR or LF, a control character or
 * a folded line is refused. Returns the number of lines or -1. */
static int
head_lines(char *head, char **lines, int max)
{
	char *p = head, *end;
	int n = 0;

	for (end = head; *end != '\0'; end++) {
		unsigned char ch = (unsigned char)*end;
		if ((ch == '\r' && end[1] != '\n') ||
		    (ch == '\n' && (end == head || end[-1] != '\r')) ||
		    (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') ||
		    ch == 0x7f)
			return -1;
	}
	while (*p != '\0') {
		if (n == max || (n > 0 && (*p == ' ' || *p == '\t')))
			return -1;
		end = strstr(p, "\r\n");
		*end = '\0';
		lines[n++] = p;
		p = end + 2;
	}
	return n;
}

/* The request for the origin: origin-form, Host from the URL, no hop-by-hop
 * headers, one request on the connection. Transfer-Encoding and
 * Content-Length stay: the body follows as the client framed it. */
static int
origin_request(struct conn *c, const char *method, const char *path,
    const char *version, char **lines, int n)
{
	char tokens[1024] = "";
	const char *colon;
	int i;

	for (i = 1; i < n; i++) {
		colon = strchr(lines[i], ':');
		if (colon == NULL || !is_token(lines[i],
		    (size_t)(colon - lines[i])))
			return -1;
		if ((size_t)(colon - lines[i]) == 10 &&
		    strncasecmp(lines[i], "connection", 10) == 0) {
			if (strlen(tokens) + strlen(colon + 1) + 2 >=
			    sizeof(tokens))
				return -1;
			strcat(tokens, colon + 1);
			strcat(tokens, ",");
		}
	}
	c->head_out = evbuffer_new();
	evbuffer_add_printf(c->head_out, "%s %s%s %s\r\nHost: %s%s%s",
	    method, *path == '/' ? "" : "/", path, version,
	    c->host.addr.family == AF_INET6 ? "[" : "", c->host.name,
	    c->host.addr.family == AF_INET6 ? "]" : "");
	if (c->port != 80)
		evbuffer_add_printf(c->head_out, ":%d", c->port);
	evbuffer_add_printf(c->head_out, "\r\n");
	for (i = 1; i < n; i++) {
		colon = strchr(lines[i], ':');
		if (!is_hop_header(lines[i], (size_t)(colon - lines[i]),
		    tokens))
			evbuffer_add_printf(c->head_out, "%s\r\n", lines[i]);
	}
	evbuffer_add_printf(c->head_out, "Connection: close\r\n\r\n");
	return 0;
}

int
proxy_request_parse(struct conn *c, char *head, char *why, size_t whylen)
{
	char *lines[PROXY_HEADERS_MAX + 1], *method, *target, *version;
	char *sp, *auth, *path;
	size_t alen;
	int n;

	if ((n = head_lines(head, lines, PROXY_HEADERS_MAX + 1)) < 1) {
		snprintf(why, whylen, "malformed request head");
		return 400;
	}
	method = lines[0];
	if ((sp = strchr(method, ' ')) == NULL)
		goto bad;
	*sp = '\0';
	target = sp + 1;
	if ((sp = strchr(target, ' ')) == NULL)
		goto bad;
	*sp = '\0';
	version = sp + 1;
	if (!is_token(method, strlen(method)) || (strcmp(version, "HTTP/1.1") &&
	    strcmp(version, "HTTP/1.0")))
		goto bad;
	if (strcmp(method, "CONNECT") == 0) {
		c->is_connect = true;
		auth = target;
		alen = strlen(auth);
		show_host(c->shown, sizeof(c->shown), auth, strcspn(auth, ":"));
		if (egress_target_parse(auth, alen, 443, &c->host, &c->port,
		    why, whylen) == -1)
			return 403;
		return 0;
	}
	if (strncasecmp(target, "https://", 8) == 0) {
		snprintf(why, whylen, "https:// needs CONNECT");
		return 400;
	}
	if (strncasecmp(target, "http://", 7) != 0) {
		snprintf(why, whylen, "not a CONNECT or absolute-form request");
		return 400;
	}
	auth = target + 7;
	alen = strcspn(auth, "/?#");
	path = auth + alen;
	path[strcspn(path, "#")] = '\0';
	show_host(c->shown, sizeof(c->shown), auth, alen);
	if (memchr(auth, '@', alen) != NULL) {
		snprintf(why, whylen, "user information in the URL");
		return 400;
	}
	if (egress_target_parse(auth, alen, 80, &c->host, &c->port, why,
	    whylen) == -1)
		return 403;
	if (origin_request(c, method, *path == '\0' ? "/" : path, version,
	    lines, n) == -1)
		goto bad;
	return 0;
bad:
	snprintf(why, whylen, "malformed request");
	return 400;
}

