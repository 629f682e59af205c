/*
 * GET /jobs/N/log: a job's log as plain text, paged from the file, or with
 * Accept: text/event-stream followed live as server-sent events (each
 * line's id its end offset, so Last-Event-ID resumes exactly), ending with
 * an end event when the job ends. Bounded: streams at once, and bytes held
 * for a client that does not read.
 */
#ifndef HANDOFF_LOGTAIL_H
#define HANDOFF_LOGTAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "httpd.h"

/* The longest piece of a line one event carries; a longer line is sent
 * in parts of at most this, each its own event. */
#define LOGTAIL_PART_BYTES	(16 * 1024)

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

/* Frame the lines in buf (len bytes of a log, from its offset off) as
 * server-sent events into out, until out holds at least max bytes: each
 * complete line as "id: END\ndata: LINE\n\n" (END the offset just past its
 * newline, CR and NUL in LINE replaced by U+FFFD), a line longer than
 * LOGTAIL_PART_BYTES in parts, and with is_last the bytes after the last
 * newline too. Returns how many bytes of buf it framed. */
size_t logtail_frame(struct evbuffer *out, const char *buf, size_t len,
    int64_t off, bool is_last, size_t max);

#endif
