/*
 * URLs: whether two share an origin, the form errors show, and
 * percent-encoding.
 */
#ifndef HANDOFF_URL_H
#define HANDOFF_URL_H

/* Whether to stays on from's scheme, host and port (a redirect that may be
 * followed with the request's headers). When it does not, its host (or
 * "an unreadable URL") goes to *host; caller frees. */
int url_same_origin(const char *from, const char *to, char **host);

/* url as errors show it: without user:password@, should one be there;
 * caller frees. */
char *url_display(const char *url);

/* url's host ("example.com", "127.0.0.1", "[::1]"), or NULL when url
 * cannot be read; caller frees. */
char *url_host(const char *url);

/* Percent-encode all but RFC 3986 unreserved characters, for one path
 * segment or query value ("group/sub" -> "group%2Fsub"); caller frees. */
char *url_escape(const char *s);

#endif
