/*
 * `handoff serve`: one libevent loop for webhook intake, health and metrics,
 * with the store writer thread beside it. Holds what the handlers share.
 */
#ifndef HANDOFF_SERVE_H
#define HANDOFF_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>

#include "config.h"
#include "event.h"
#include "writer.h"

/* Verdicts counted in handoff_deliveries_total{forge,verdict}. */
enum hook_verdict {
	HV_QUEUED, HV_IGNORED, HV_DUPLICATE, HV_UNAUTHORIZED, HV_MALFORMED,
	HV_UNSUPPORTED, HV_TOO_LARGE, HV_TIMED_OUT, HV_UNAVAILABLE, HV_COUNT
};
#define FORGE_UNKNOWN	2	/* a 413 sent before the path was known */

struct server {
	struct config		*cfg;
	struct event_base	*base;
	struct evhttp		*http;
	struct evhttp_bound_socket *bound;
	struct writer		*writer;
	struct sched		*sched;
	struct conn		*conns;		/* every open connection */
	int			 nconns;
	bool			 is_paused;	/* accepting stopped at max_connections */
	bool			 is_stopping;
	int64_t			 stop_deadline_ms;
	struct event		*ev_sweep, *ev_sigterm, *ev_sigint;
	struct held		*held;		/* jobs live runners held at start */
	uint64_t		 deliveries[FORGE_UNKNOWN + 1][HV_COUNT];
};

/* Run the daemon until SIGTERM/SIGINT. Returns the exit status. */
int serve_main(struct config *cfg);

/* Send a reply on req and free the connection's slot for its next request
 * (every handler replies through this). body may be NULL. */
void serve_reply(struct server *srv, struct evhttp_request *req, int code,
    const char *content_type, const char *body);
/* Mark req's connection as handling a request: its deadline waits for the reply. */
void serve_busy(struct server *srv, struct evhttp_request *req);
const char *serve_verdict_name(enum hook_verdict v);

#endif
