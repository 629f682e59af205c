/*
 * Operator endpoints on the webhook listener: GET /healthz and GET /metrics
 * (Prometheus text format).
 */
#ifndef HANDOFF_WEB_H
#define HANDOFF_WEB_H

#include <event2/http.h>

#include "httpd.h"
#include "intake.h"
#include "writer.h"

/* What the endpoints read: the store through its writer, intake's counts. */
struct web {
	struct writer		*writer;
	const struct intake	*intake;
};

/* Route handlers; arg is the struct web. */
void web_healthz_cb(struct httpd *h, struct evhttp_request *req, void *arg);
void web_metrics_cb(struct httpd *h, struct evhttp_request *req, void *arg);
/* Anything else: 404. */
void web_notfound_cb(struct httpd *h, struct evhttp_request *req, void *arg);

#endif
