/*
 * GET /metrics: the Prometheus text exposition of intake's counters and the
 * store's figures (jobs, steps, model usage, egress, forge requests).
 */
#ifndef HANDOFF_METRICS_H
#define HANDOFF_METRICS_H

#include <event2/http.h>

#include "httpd.h"

struct web;

/* Answer req with the exposition, read through the store writer. */
void metrics_get(struct web *w, struct httpd *h, struct evhttp_request *req);

#endif
