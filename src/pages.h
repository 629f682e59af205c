/*
 * The status pages' HTML, rendered on the reader threads: the list of jobs,
 * one job (jobpage.c), the cancel and retry actions, the pages' own
 * stylesheet and script, and the pieces of HTML the pages share.
 */
#ifndef HANDOFF_PAGES_H
#define HANDOFF_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"

struct web;

/* GET /: threads and jobs, newest first; ?state=, ?repo=, ?page=. */
void pages_index(struct web *w, struct httpd *h, struct evhttp_request *req);
/* GET /jobs/N: one job. */
void pages_job(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id);
/* POST /jobs/N/cancel or /jobs/N/retry (what), once web.c let it through. */
void pages_action(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id, const char *what);
/* GET /static/NAME: the stylesheet and the script, from the program. */
void pages_static(struct web *w, struct httpd *h, struct evhttp_request *req,
    const char *name);

/* Append s (len bytes), escaped for HTML text and attribute values. */
void pages_escape_n(struct evbuffer *b, const char *s, size_t len);
/* Append the NUL-terminated s (NULL: nothing), escaped. */
void pages_escape(struct evbuffer *b, const char *s);
/* A page's start, with title (escaped) in its <title> and heading. */
void pages_head(struct evbuffer *b, const char *title);
/* A page's end. */
void pages_foot(struct evbuffer *b);

struct store_job_row;
struct store_usage;
/* A length of time in ms: "12s", "3m 05s", "2h 07m", "4d 3h". */
void pages_duration(struct evbuffer *b, int64_t ms);
/* A moment (ms since the epoch) as a UTC <time>; a dash for 0. */
void pages_time(struct evbuffer *b, int64_t ms);
/* How long job r ran: started to finished, or to now while it runs. */
void pages_run_time(struct evbuffer *b, const struct store_job_row *r,
    int64_t now);
/* What model requests cost ("$0.71"), "unpriced", or a dash for none. */
void pages_cost(struct evbuffer *b, const struct store_usage *u);
/* A pull request's URL: a link only when it is http(s), else text. */
void pages_pr(struct evbuffer *b, const char *url);
/* Job r's state, with its step while it runs. */
void pages_state(struct evbuffer *b, const struct store_job_row *r);
/* text in a <pre> (of class cls, or none), at most 256 KiB of it, saying
 * when it is cut. */
void pages_pre(struct evbuffer *b, const char *cls, const char *text);

#endif
