/*
 * The status listener ([web] listen): who may ask (the token, as a Bearer
 * header or the login form's cookie; cross-site forms refused) and which
 * module answers which path. Also /healthz, answered on both listeners.
 */
#ifndef HANDOFF_WEB_H
#define HANDOFF_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "httpd.h"
#include "intake.h"
#include "reader.h"
#include "writer.h"

struct logtail;

/* What the status listener's handlers share. */
struct web {
	const struct config	*cfg;
	struct event_base	*base;
	struct writer		*writer;	/* the heartbeat, metrics' barrier */
	const struct intake	*intake;	/* deliveries by verdict */
	struct reader		*reader;	/* pages, logs, diffs, actions,
						 * metrics */
	struct logtail		*logtail;	/* the live logs */
	bool			 has_token;	/* [web] token is set */
	char			 session[65];	/* the login cookie's value */
	char			 csrf[65];	/* forms' hidden field */
	char			 public_host[256];	/* [web] public_url's */
};

/* Derive the cookie and form values from [web] token; set up w. */
void web_init(struct web *w, const struct config *cfg, struct event_base *base);

/* The status listener: every path (routed with httpd_route NULL). */
void web_status_cb(struct httpd *h, struct evhttp_request *req, void *arg);
/* GET /healthz on either listener: 200 once a heartbeat commits. */
void web_healthz_cb(struct httpd *h, struct evhttp_request *req, void *arg);
/* The webhook listener's other paths: 404. */
void web_notfound_cb(struct httpd *h, struct evhttp_request *req, void *arg);

/* Answer req with an HTML page whose body is html (taken; may be NULL for
 * none), with the pages' security headers. */
void web_reply_html(struct httpd *h, struct evhttp_request *req, int code,
    struct evbuffer *html);
/* Answer req with a short plain-text message. */
void web_reply_text(struct httpd *h, struct evhttp_request *req, int code,
    const char *text);
/* Answer req with a short JSON text (a script's answer to an action). */
void web_reply_json(struct httpd *h, struct evhttp_request *req, int code,
    const char *json);
/* The value of query parameter name in req's URI, decoded; NULL when
 * absent. Caller frees. */
char *web_query(struct evhttp_request *req, const char *name);
/* The value of name in an application/x-www-form-urlencoded text, decoded;
 * NULL when absent or badly escaped. Caller frees. */
char *web_form_value(const char *form, const char *name);

#endif
