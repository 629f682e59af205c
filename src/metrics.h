/*
 * GET /metrics: the Prometheus text exposition of intake's counters and the
 * store's figures (jobs, steps, agent runs, model usage, egress, forge
 * requests). Every label takes its values from a bounded set.
 */
#ifndef HANDOFF_METRICS_H
#define HANDOFF_METRICS_H

#include <event2/http.h>

#include "httpd.h"

struct web;

/* Answer req with the exposition: after every request the store writer
 * had (each delivery it was handed is counted), the store read on a
 * reader thread. */
void metrics_get(struct web *w, struct httpd *h, struct evhttp_request *req);
/* s as a label value of the text format, without its quotes: valid UTF-8
 * (else U+FFFD), control characters but newline and tab and the
 * bidirectional ones dropped (text_clean: a terminal may show the
 * exposition), then backslash, double quote and newline escaped. Caller
 * frees. */
char *metrics_escape(const char *s);

#endif
