/*
 * A job's status page (GET /jobs/N), rendered on a reader thread.
 */
#ifndef HANDOFF_JOBPAGE_H
#define HANDOFF_JOBPAGE_H

#include <stdint.h>

#include <event2/buffer.h>

#include "reader.h"

struct web;

/* Append job id's page to b, its diff at page diff_page (from 1); the
 * forms for cancel and retry only when w has a token. Returns the HTTP
 * status: 200, 404 (no such job, with a page saying so) or 500. */
int jobpage_render(struct evbuffer *b, const struct reader_ctx *ctx,
    const struct web *w, int64_t id, long long diff_page);

#endif
