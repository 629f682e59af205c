/*
 * What gateway.c (the front: keys, paths, budgets) and gateway_upstream.c
 * (the transfers, libcurl's multi interface on the event loop) share.
 */
#ifndef HANDOFF_GATEWAY_IMPL_H
#define HANDOFF_GATEWAY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "httpd.h"
#include "usage.h"

#define GW_KEY_LEN		51	/* "hk-" and 48 hex digits */
#define GW_MAX_ANSWER		(32 * 1024 * 1024)	/* one JSON answer */
#define GW_MAX_STREAM		(256 * 1024 * 1024)	/* one streamed answer */
#define GW_MAX_HEADERS		(64 * 1024)	/* an answer's headers */
#define GW_QUEUE_HIGH		(512 * 1024)	/* waiting for the client:
						 * the transfer pauses */
#define GW_QUEUE_LOW		(128 * 1024)	/* drained to this: resumes */

struct gw_xfer;

/* The gateway of one job. */
struct gw {
	const struct config	*cfg;
	struct store		*st;
	int64_t			 job;
	char			*repo;
	char			 key[GW_KEY_LEN + 1];	/* the job's key */
	char			*net_dir;	/* DATA_DIR/jobs/N/net */
	char			*refused;	/* the budget reached, or NULL */
	struct event_base	*base;
	struct httpd		*httpd;
	CURLM			*multi;
	struct event		*ev_timer;	/* libcurl's timeout */
	long			 low_speed_s;	/* 1 byte/s over this, or cut */
	struct gw_xfer		*xfers;		/* in flight */
};

/* One request on its way upstream and its answer on its way back. */
struct gw_xfer {
	struct gw		*gw;
	struct evhttp_request	*req;		/* NULL once the client left */
	bool			 owns_req;	/* evhttp let go of it */
	CURL			*easy;
	struct curl_slist	*headers;	/* what goes upstream */
	char			*body;
	size_t			 len;
	bool			 is_metered;
	enum usage_api		 api;		/* when is_metered */
	char			*model;		/* the request's, or NULL */
	struct usage_meter	*meter;		/* once the answer starts */
	struct httpd_stream	*stream;	/* once the answer starts */
	char			*answer_headers; /* "name: value\n"... */
	size_t			 answer_headers_len;
	long			 status;	/* the answer's */
	size_t			 bytes;		/* of the answer's body */
	size_t			 max_bytes;	/* GW_MAX_ANSWER or _STREAM */
	bool			 is_gone;	/* the client left */
	bool			 is_cut;	/* over its bound */
	bool			 is_headers_over; /* over GW_MAX_HEADERS */
	bool			 is_stalled;	/* its client stopped reading */
	size_t			 paused_queued;	/* queued when last looked at */
	struct event		*ev_stall;	/* looks at a paused client */
	struct event		*ev_reap;	/* ends it off libcurl's stack */
	struct event		*ev_eof;	/* the client's end, until the
						 * answer starts */
	bool			 is_eof;	/* the client closed its end */
	char			 errbuf[CURL_ERROR_SIZE];
	struct gw_xfer		*prev, *next;
};

/* Set up libcurl's multi handle on gw's loop. Returns 0 or -1. */
int gw_upstream_init(struct gw *gw);
/* Abort every transfer and free the multi handle. */
void gw_upstream_free(struct gw *gw);
/* Send x (its easy handle, headers and body set by the caller through
 * gw_xfer_new's arguments) upstream to url. x belongs to the gateway. */
void gw_upstream_start(struct gw *gw, struct gw_xfer *x, const char *url,
    bool is_get);
/* A gateway-made error in api's format (never with a key in it). */
void gw_reply_error(struct gw *gw, struct evhttp_request *req,
    enum usage_api api, int status, const char *code, const char *message);
/* Record the usage of a metered transfer that ended. */
void gw_record(struct gw *gw, struct gw_xfer *x);

#endif
