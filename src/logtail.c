/*
 * A job's log over HTTP: plain, or followed as server-sent events.
 */
#include <stdlib.h>

#include "logtail.h"
#include "util.h"
#include "web.h"

const char logtail_script[] = "";

struct logtail {
	struct web	*web;
};

struct logtail *
logtail_new(struct web *w)
{
	struct logtail *lt = xcalloc(1, sizeof(*lt));

	lt->web = w;
	return lt;
}

void
logtail_get(struct logtail *lt, struct httpd *h, struct evhttp_request *req,
    int64_t id)
{
	web_reply_text(h, req, 404, "not found\n");
}

void
logtail_stop(struct logtail *lt)
{
}

void
logtail_free(struct logtail *lt)
{
	free(lt);
}
