/*
 * The webhook endpoints: POST /hooks/github and /hooks/gitlab. Verify the
 * delivery, parse and normalize it, decide, and answer only after the store
 * has committed what it asks for.
 */
#ifndef HANDOFF_INTAKE_H
#define HANDOFF_INTAKE_H

#include <stdint.h>

#include <event2/http.h>

#include "config.h"
#include "event.h"
#include "httpd.h"
#include "pool.h"
#include "writer.h"

#define INTAKE_GITHUB_PATH	"/hooks/github"
#define INTAKE_GITLAB_PATH	"/hooks/gitlab"
/* Intake workers: one a CPU, at most this many. */
#define INTAKE_THREADS_MAX	4

/* Verdicts counted in handoff_deliveries_total{forge,verdict}. */
enum hook_verdict {
	HV_QUEUED, HV_IGNORED, HV_DUPLICATE, HV_UNAUTHORIZED, HV_MALFORMED,
	HV_UNSUPPORTED, HV_TOO_LARGE, HV_TIMED_OUT, HV_UNAVAILABLE, HV_COUNT
};
#define FORGE_UNKNOWN	2	/* a 413 sent before the path was known */

/* What the endpoints share; serve fills it in, intake counts. */
struct intake {
	const struct config	*cfg;
	struct writer		*writer;
	struct sched		*sched;
	struct pool		*pool;		/* NULL: all on the loop */
	/* counted on the loop, and on the writer for what it answers */
	_Atomic uint64_t	 deliveries[FORGE_UNKNOWN + 1][HV_COUNT];
};

/* Route handlers; arg is the struct intake. */
void intake_github_cb(struct httpd *h, struct evhttp_request *req, void *arg);
void intake_gitlab_cb(struct httpd *h, struct evhttp_request *req, void *arg);
/* The same, for the requests httpd parses itself (httpd_route_msg). */
void intake_github_msg_cb(struct httpd *h, struct httpd_msg *m, void *arg);
void intake_gitlab_msg_cb(struct httpd *h, struct httpd_msg *m, void *arg);
/* Count a delivery the server refused before a handler saw it; arg is the
 * struct intake. */
void intake_refused_cb(enum httpd_refusal why, const char *path, void *arg);
/* What each intake worker runs first and last (pool_start's init and
 * fini): SCHED_BATCH, and its own parse arena. */
void intake_worker_start(void);
void intake_worker_end(void);
/* The verdict's name in handoff_deliveries_total. */
const char *intake_verdict_name(enum hook_verdict v);

#endif
