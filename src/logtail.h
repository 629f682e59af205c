/*
 * GET /jobs/N/log: a job's log as plain text, paged from the file, or with
 * Accept: text/event-stream followed live as server-sent events (each
 * line's id its end offset, so Last-Event-ID resumes exactly), ending with
 * an end event when the job ends. Bounded: streams at once, and bytes held
 * for a client that does not read.
 */
#ifndef HANDOFF_LOGTAIL_H
#define HANDOFF_LOGTAIL_H

#include <stdint.h>

#include <event2/http.h>

#include "httpd.h"

struct web;
struct logtail;

/* The pages' script (/static/live.js) that follows a log on a job's page. */
extern const char logtail_script[];

/* The live logs of w's listener. Free with logtail_free. */
struct logtail *logtail_new(struct web *w);
/* Answer GET /jobs/N/log. */
void logtail_get(struct logtail *lt, struct httpd *h,
    struct evhttp_request *req, int64_t id);
/* End every stream (the server stops). */
void logtail_stop(struct logtail *lt);
void logtail_free(struct logtail *lt);

#endif
