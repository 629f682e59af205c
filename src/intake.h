/*
 * The webhook endpoints: POST /hooks/github and /hooks/gitlab. Verify the
 * delivery, parse and normalize it, decide, and answer only after the store
 * has committed what it asks for.
 */
#ifndef HANDOFF_INTAKE_H
#define HANDOFF_INTAKE_H

#include <event2/http.h>

/* evhttp callbacks; arg is the struct server. */
void intake_github_cb(struct evhttp_request *req, void *arg);
void intake_gitlab_cb(struct evhttp_request *req, void *arg);

#endif
