/*
 * The status pages' HTML, rendered on the reader threads: the list of jobs,
 * one job (steps, instruction, diff, usage, refused hosts), the cancel and
 * retry actions, and the pages' own stylesheet and script.
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

#endif
