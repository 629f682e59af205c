/*
 * Operator endpoints on the webhook listener: GET /healthz and GET /metrics
 * (Prometheus text format).
 */
#ifndef HANDOFF_WEB_H
#define HANDOFF_WEB_H

#include <event2/http.h>

/* evhttp callbacks; arg is the struct server. */
void web_healthz_cb(struct evhttp_request *req, void *arg);
void web_metrics_cb(struct evhttp_request *req, void *arg);
/* Anything else: 404. */
void web_notfound_cb(struct evhttp_request *req, void *arg);

#endif
