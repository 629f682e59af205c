/*
 * The status pages: plain HTML rendered on a reader thread from the store,
 * the job's files and the mirror. Every string that came from a forge, the
 * agent or a log is escaped on its way in; the pages load nothing from
 * elsewhere and their one script is served from here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"
#include "logtail.h"
#include "pages.h"
#include "util.h"
#include "web.h"

static const char style_css[] =
	"body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72em;"
	"padding:0 1em;color:#1b1f24;background:#fff}\n"
	"header{display:flex;gap:1em;align-items:baseline;"
	"border-bottom:1px solid #d0d7de;margin-bottom:1em}\n"
	"header a{color:inherit;text-decoration:none;font-weight:600}\n"
	"pre{background:#f6f8fa;padding:.6em;overflow-x:auto}\n"
	".error{color:#b42318}\n";

void
pages_escape_n(struct evbuffer *b, const char *s, size_t len)
{
	size_t i, from = 0;
	const char *rep;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\0': rep = "\xef\xbf\xbd"; break;
		default: continue;
		}
		evbuffer_add(b, s + from, i - from);
		evbuffer_add(b, rep, strlen(rep));
		from = i + 1;
	}
	evbuffer_add(b, s + from, len - from);
}

void
pages_escape(struct evbuffer *b, const char *s)
{
	if (s != NULL)
		pages_escape_n(b, s, strlen(s));
}

void
pages_head(struct evbuffer *b, const char *title)
{
	evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n<title>");
	pages_escape(b, title);
	evbuffer_add_printf(b, " · handoff</title>\n<link rel=\"stylesheet\" "
	    "href=\"/static/style.css\">\n</head>\n<body>\n<header><a "
	    "href=\"/\">handoff</a><h1>");
	pages_escape(b, title);
	evbuffer_add_printf(b, "</h1></header>\n<main>\n");
}

void
pages_foot(struct evbuffer *b)
{
	evbuffer_add_printf(b, "</main>\n</body>\n</html>\n");
}

void
pages_static(struct web *w, struct httpd *h, struct evhttp_request *req,
    const char *name)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *type, *body;

	if (strcmp(name, "style.css") == 0) {
		type = "text/css; charset=utf-8";
		body = style_css;
	} else if (strcmp(name, "live.js") == 0) {
		type = "text/javascript; charset=utf-8";
		body = logtail_script;
	} else {
		web_reply_text(h, req, 404, "not found\n");
		return;
	}
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Cache-Control", "max-age=300");
	httpd_reply(h, req, 200, type, body);
}

void
pages_index(struct web *w, struct httpd *h, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	pages_head(b, "jobs");
	pages_foot(b);
	web_reply_html(h, req, 200, b);
}

void
pages_job(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id)
{
	web_reply_text(h, req, 404, "not found\n");
}

void
pages_action(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id, const char *what)
{
	web_reply_text(h, req, 404, "not found\n");
}
