/*
 * The LLM gateway's front: the job's key in, the real key out. A request
 * passes only with the job's key, on a path a provider's API needs, while
 * no budget is reached; it goes upstream without the agent's credentials
 * and with the operator's (gateway_upstream.c), and its usage is recorded
 * in the store when its answer ends.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "budget.h"
#include "gateway.h"
#include "gateway_impl.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "sidecar.h"
#include "util.h"

#define SOCKET_NAME	"gateway.sock"
#define BUDGET_NAME	"budget"
#define MAX_BODY	(32 * 1024 * 1024)	/* one request */
#define MAX_CONNS	64
#define TIMEOUT_MS	120000		/* to read a request */
#define DAY_MS		(24 * 3600 * 1000LL)

enum provider { ANTHROPIC, OPENAI };

/* A path the gateway forwards: the agent's, and where it goes. */
struct gw_route {
	const char	*path;		/* as the agent asks for it */
	enum provider	 provider;
	const char	*upstream;	/* appended to the provider's URL */
	bool		 is_get;	/* else POST */
	bool		 is_metered;
	enum usage_api	 api;
};

static const struct gw_route routes[] = {
	{ "/anthropic/v1/messages", ANTHROPIC, "/v1/messages", false, true,
	  USAGE_MESSAGES },
	{ "/anthropic/v1/messages/count_tokens", ANTHROPIC,
	  "/v1/messages/count_tokens", false, false, USAGE_MESSAGES },
	{ "/openai/v1/chat/completions", OPENAI, "/chat/completions", false,
	  true, USAGE_CHAT },
	{ "/openai/v1/responses", OPENAI, "/responses", false, true,
	  USAGE_RESPONSES },
	{ "/openai/v1/models", OPENAI, "/models", true, false, USAGE_CHAT },
};

/* Request headers that never go upstream: the agent's credentials, hop by
 * hop, and what libcurl or the gateway sets itself. */
static const char *const dropped[] = { "x-api-key", "authorization",
    "proxy-authorization", "cookie", "host", "content-length",
    "accept-encoding", "connection", "keep-alive", "te", "trailer",
    "transfer-encoding", "upgrade", "proxy-connection", "expect" };

static volatile sig_atomic_t stopping;

/* Whether s holds one of the real keys: never sent or logged. */
static bool
has_key(const struct gw *gw, const char *s)
{
	const struct secret *k[] = { &gw->cfg->anthropic_key,
	    &gw->cfg->openai_key };
	size_t i;

	for (i = 0; i < nitems(k); i++)
		if (k[i]->value != NULL && k[i]->len > 0 &&
		    strstr(s, k[i]->value) != NULL)
			return true;
	return false;
}

void
gw_reply_error(struct gw *gw, struct evhttp_request *req, enum usage_api api,
    int status, const char *code, const char *message)
{
	char *body;

	if (has_key(gw, message))
		message = "the gateway could not forward the request";
	body = usage_error_body(api, status, code, message);
	httpd_reply(gw->httpd, req, status, "application/json", body);
	free(body);
}

/* ---- the job's key ---- */

static bool
key_equal(const char *a, const char *b, size_t blen)
{
	unsigned char d = 0;
	size_t i;

	if (strlen(a) != blen)
		return false;
	for (i = 0; i < blen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

/* Whether every credential req carries is the job's key, and it carries
 * one: x-api-key (Anthropic) or Authorization: Bearer (OpenAI). */
static bool
is_authorized(const struct gw *gw, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const char *v;
	int n = 0;

	TAILQ_FOREACH(kv, in, next) {
		if (strcasecmp(kv->key, "x-api-key") == 0)
			v = kv->value;
		else if (strcasecmp(kv->key, "authorization") == 0) {
			if (strncasecmp(kv->value, "Bearer ", 7) != 0)
				return false;
			v = kv->value + 7;
		} else
			continue;
		if (!key_equal(gw->key, v, strlen(v)))
			return false;
		n++;
	}
	return n > 0;
}

/* Read the job's key from stdin: one line, hk- and 48 hex digits. */
static int
read_key(char *key, char *err, size_t errlen)
{
	char buf[GW_KEY_LEN + 3];
	size_t got = 0, i;
	ssize_t n;

	while (got < sizeof(buf)) {
		if ((n = read(0, buf + got, sizeof(buf) - got)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
		got--;
	if (got != GW_KEY_LEN || strncmp(buf, "hk-", 3) != 0) {
		snprintf(err, errlen, "expected the job's key on stdin");
		return -1;
	}
	for (i = 3; i < got; i++)
		if (strchr("0123456789abcdefABCDEF", buf[i]) == NULL) {
			snprintf(err, errlen, "expected the job's key on stdin");
			return -1;
		}
	memcpy(key, buf, got);
	key[got] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* ---- budgets ---- */

/* What the job, its repository and every job spent, as budget.c reads it;
 * only what a budget is set for is read (a request waits for it). */
static int
spent(struct gw *gw, struct budget_spent *s)
{
	const struct config *c = gw->cfg;
	struct store_usage *list, sum = { 0 }, repo = { 0 }, day = { 0 };
	int64_t now = util_now_ms(), since = now - now % DAY_MS;
	size_t n;

	if (c->max_tokens > 0 || c->max_cost > 0) {
		if (store_usage_of(gw->st, gw->job, &list, &n) == -1)
			return -1;
		store_usage_sum(list, n, &sum);
		store_usage_free(list, n);
	}
	if ((c->max_cost_per_repo > 0 &&
	    store_usage_since(gw->st, gw->repo, since, &repo) == -1) ||
	    (c->max_cost_per_day > 0 &&
	    store_usage_since(gw->st, NULL, since, &day) == -1))
		return -1;
	s->job_tokens = sum.input_tokens + sum.output_tokens +
	    sum.cache_read_tokens + sum.cache_write_tokens;
	s->job_cost = sum.cost_micros > 0 ? sum.cost_micros : 0;
	s->repo_cost = repo.cost_micros > 0 ? repo.cost_micros : 0;
	s->day_cost = day.cost_micros > 0 ? day.cost_micros : 0;
	return 0;
}

/* The budget is reached: say why where the runner looks, and refuse every
 * request from now on. */
static void
refuse_from_now(struct gw *gw, const char *why)
{
	char *path, *line;

	gw->refused = xstrdup(why);
	log_warn("gateway: job %lld: %s; refusing its requests",
	    (long long)gw->job, why);
	path = xasprintf("%s/%s", gw->net_dir, BUDGET_NAME);
	line = xasprintf("budget: %s\n", why);
	if (util_write_file(path, line, strlen(line), 0600) == -1)
		log_error("gateway: write %s: %s", path, strerror(errno));
	free(line);
	free(path);
}

/* Whether the request for model may go: 0, or -1 with the reason set. */
static int
budget_allows(struct gw *gw, const char *model, char *why, size_t whylen)
{
	struct budget_spent s = { 0 };

	if (gw->refused == NULL && spent(gw, &s) == -1) {
		/* An unreadable store cannot say a budget is not reached. */
		log_error("gateway: %s", store_error(gw->st));
		snprintf(why, whylen, "the gateway cannot tell what the job "
		    "spent");
		return -1;
	}
	if (gw->refused == NULL &&
	    (budget_check(gw->cfg, &s, why, whylen) == -1 ||
	    budget_check_model(gw->cfg, model, why, whylen) == -1))
		refuse_from_now(gw, why);
	if (gw->refused == NULL)
		return 0;
	snprintf(why, whylen, "%s", gw->refused);
	return -1;
}

void
gw_record(struct gw *gw, struct gw_xfer *x)
{
	struct store_usage su = { 0 };
	const struct price *p;
	struct usage u;
	char provider[16];

	usage_meter_finish(x->meter, &u);
	/* An error answer without usage spent nothing: no request to count. */
	if (!u.is_seen && x->status >= 400)
		return;
	/* The agent's own name for it when the answer gave none: kept to
	 * the characters of a model's name, as the answer's is. */
	if (u.model[0] == '\0' && x->model != NULL)
		usage_model_name(u.model, sizeof(u.model), x->model);
	/* An alias the answer resolved ("-latest") has the request's price. */
	if ((p = budget_price(&gw->cfg->prices, u.model)) == NULL)
		p = budget_price(&gw->cfg->prices, x->model);
	snprintf(provider, sizeof(provider), "%s", usage_api_provider(x->api));
	su.provider = provider;
	su.model = u.model;
	su.input_tokens = u.tokens.input;
	su.output_tokens = u.tokens.output;
	su.cache_read_tokens = u.tokens.cache_read;
	su.cache_write_tokens = u.tokens.cache_write;
	su.cost_micros = p != NULL ? budget_cost(p, &u.tokens) : -1;
	if (store_usage_add(gw->st, gw->job, &su) == -1)
		log_error("gateway: job %lld: %s", (long long)gw->job,
		    store_error(gw->st));
}

/* ---- requests ---- */

/* The route of path (its query cut off at *query), or NULL. */
static const struct gw_route *
route_of(const char *uri, const char **query)
{
	size_t i, n = strcspn(uri, "?#");

	*query = uri[n] == '?' ? uri + n : "";
	for (i = 0; i < nitems(routes); i++)
		if (strlen(routes[i].path) == n &&
		    strncmp(uri, routes[i].path, n) == 0)
			return &routes[i];
	return NULL;
}

static bool
is_dropped(const char *name, const char *connection)
{
	size_t i, n = strlen(name);
	const char *p;

	for (i = 0; i < nitems(dropped); i++)
		if (strcasecmp(name, dropped[i]) == 0)
			return true;
	/* Connection names more hop-by-hop headers (RFC 9110 §7.6.1). */
	for (p = connection; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
		p += strspn(p, ", \t");
		if (strncasecmp(p, name, n) == 0 &&
		    strchr(", \t", p[n]) != NULL)
			return true;
	}
	return false;
}

/* The upstream's headers: the agent's, less its credentials, and ours. */
static struct curl_slist *
upstream_headers(struct gw *gw, struct evhttp_request *req,
    const struct gw_route *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const struct secret *k = r->provider == ANTHROPIC ?
	    &gw->cfg->anthropic_key : &gw->cfg->openai_key;
	const char *conn = evhttp_find_header(in, "Connection");
	struct curl_slist *l = NULL;
	struct evkeyval *kv;
	char *line;

	TAILQ_FOREACH(kv, in, next) {
		if (is_dropped(kv->key, conn))
			continue;
		line = xasprintf("%s: %s", kv->key, kv->value);
		l = curl_slist_append(l, line);
		free(line);
	}
	l = curl_slist_append(l, "Accept-Encoding: identity");
	l = curl_slist_append(l, "Expect:");
	if (k->value != NULL) {
		line = xasprintf(r->provider == ANTHROPIC ? "x-api-key: %s" :
		    "Authorization: Bearer %s", k->value);
		l = curl_slist_append(l, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	if (l == NULL)
		fatalx(1, "gateway: out of memory");
	return l;
}

/* The body to send: a streamed Chat Completions request made to report its
 * usage. Fills x->body, x->len and x->model; -1 with why. */
static int
take_body(struct gw_xfer *x, struct evhttp_request *req, char *why,
    size_t whylen)
{
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(b);
	const char *p = (const char *)evbuffer_pullup(b, -1);
	cJSON *root;

	if (x->is_metered && x->api == USAGE_CHAT) {
		if ((x->body = usage_chat_include_usage(p != NULL ? p : "",
		    len, MAX_BODY, &x->len, why, whylen)) == NULL)
			return -1;
	} else {
		x->body = xmalloc(len + 1);
		if (len > 0)
			memcpy(x->body, p, len);
		x->body[len] = '\0';
		x->len = len;
	}
	if (x->is_metered &&
	    (root = json_parse(x->body, x->len, JSON_MAX_DEPTH)) != NULL) {
		x->model = json_str(root, "model", USAGE_MODEL_MAX - 1);
		json_free(root);
	}
	return 0;
}

static void
request_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct gw *gw = arg;
	const char *uri = evhttp_request_get_uri(req), *query;
	const struct gw_route *r = route_of(uri, &query);
	enum usage_api api = strncmp(uri, "/anthropic/", 11) == 0 ?
	    USAGE_MESSAGES : USAGE_CHAT;
	bool is_get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	struct gw_xfer *x;
	char why[512], *url;
	int status = 0;

	if (r != NULL)
		api = r->api;
	if (!is_authorized(gw, req)) {
		log_info("gateway: job %lld: a request without the job's key; "
		    "401", (long long)gw->job);
		gw_reply_error(gw, req, api, 401, "invalid_api_key",
		    "invalid x-api-key or bearer token: use the key this job "
		    "was given");
		return;
	}
	if (r == NULL || r->is_get != is_get) {
		gw_reply_error(gw, req, api, r == NULL ? 404 : 405, NULL,
		    r == NULL ? "the gateway forwards only the providers' "
		    "model API paths" : "method not allowed on this path");
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->req = req;
	x->is_metered = r->is_metered;
	x->api = r->api;
	if (take_body(x, req, why, sizeof(why)) == -1)
		status = 400;
	else if (budget_allows(gw, x->model, why, sizeof(why)) == -1)
		status = gw->refused != NULL ? USAGE_REFUSED_STATUS : 503;
	if (status != 0) {
		gw_reply_error(gw, req, api, status, gw->refused != NULL ?
		    "budget_exceeded" : NULL, why);
		free(x->body);
		free(x->model);
		free(x);
		return;
	}
	x->headers = upstream_headers(gw, req, r);
	url = xasprintf("%s%s%s", r->provider == ANTHROPIC ?
	    gw->cfg->anthropic_url : gw->cfg->openai_url, r->upstream, query);
	gw_upstream_start(gw, x, url, r->is_get);
	free(url);
}

/* ---- the process ---- */

/* Listen on DATA_DIR/jobs/N/net/gateway.sock, which only the sandbox's
 * relay reaches (sidecar_listen). Returns the socket, or -1 with err. */
static int
bind_socket(struct gw *gw, char *err, size_t errlen)
{
	int dir, fd;

	if ((dir = sidecar_dir(gw->cfg->data_dir, (long long)gw->job, err,
	    errlen)) == -1)
		return -1;
	fd = sidecar_listen(dir, SOCKET_NAME, MAX_CONNS, err, errlen);
	close(dir);
	return fd;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct gw *gw = arg;

	stopping = 1;
	log_info("gateway: job %lld: stopping", (long long)gw->job);
	event_base_loopexit(gw->base, NULL);
}

/* Set gw up from the store and the job: 0, or the exit status. */
static int
gw_open(struct gw *gw, long long id, char *err, size_t errlen)
{
	struct job job = { 0 };
	int found;

	if ((gw->st = store_open(gw->cfg->data_dir, err, errlen)) == NULL)
		return 1;
	/* A usage row is written as an answer ends; the agent's next
	 * request does not wait for the disk. A power cut may lose the last
	 * rows, never the job or its other records. */
	if (store_relax(gw->st) == -1) {
		snprintf(err, errlen, "%s", store_error(gw->st));
		return 1;
	}
	if ((found = store_job_load(gw->st, id, &job)) != 1) {
		snprintf(err, errlen, "job %lld: %s", id, found == 0 ?
		    "no such job" : store_error(gw->st));
		return found == 0 ? 2 : 1;
	}
	gw->job = id;
	gw->repo = job.repo != NULL ? xstrdup(job.repo) : NULL;
	/* The job's repository's budgets ([repo] sections); main loaded
	 * the config for this process alone. */
	config_apply_repo((struct config *)gw->cfg, gw->repo);
	store_job_clear(&job);
	gw->net_dir = xasprintf("%s/jobs/%lld/net", gw->cfg->data_dir, id);
	return 0;
}

static int
usage_error(void)
{
	fprintf(stderr, "usage: handoff gateway --job JOB [--ready FD]\n");
	return 2;
}

static int
serve(struct gw *gw, int fd, int ready, char *err, size_t errlen)
{
	const struct httpd_limits lim = {
		.max_connections = MAX_CONNS,
		.timeout_ms = TIMEOUT_MS,
		.max_body_bytes = MAX_BODY,
		.max_headers_bytes = GW_MAX_HEADERS,
		/* a last resort: a transfer pauses at GW_QUEUE_HIGH, which
		 * one write of libcurl's (16 KiB) passes at most */
		.max_stream_bytes = 4 * GW_QUEUE_HIGH,
	};
	struct event *ev_term = NULL, *ev_int = NULL;

	if ((gw->base = event_base_new()) == NULL ||
	    gw_upstream_init(gw) == -1) {
		snprintf(err, errlen, "cannot set up the event loop");
		return 1;
	}
	if ((gw->httpd = httpd_new_fd(gw->base, fd, &lim, err,
	    errlen)) == NULL)
		return 1;
	httpd_route(gw->httpd, NULL, request_cb, gw);
	ev_term = evsignal_new(gw->base, SIGTERM, signal_cb, gw);
	ev_int = evsignal_new(gw->base, SIGINT, signal_cb, gw);
	if (ev_term == NULL || ev_int == NULL || event_add(ev_term, NULL) ||
	    event_add(ev_int, NULL))
		fatalx(1, "gateway: cannot register events");
	if (ready >= 0) {
		if (write(ready, "ready\n", 6) != 6)
			log_warn("gateway: ready: %s", strerror(errno));
		close(ready);
	}
	log_info("gateway: job %lld: listening on %s/%s", (long long)gw->job,
	    gw->net_dir, SOCKET_NAME);
	event_base_dispatch(gw->base);
	httpd_stop(gw->httpd);
	gw_upstream_free(gw);
	event_free(ev_term);
	event_free(ev_int);
	return 0;
}

int
gateway_main(const struct config *cfg, int argc, char **argv)
{
	struct gw gw = { .cfg = cfg };
	long long id, ready = -1;
	char err[512];
	int fd = -1, status;

	if ((argc != 2 && argc != 4) || strcmp(argv[0], "--job") != 0 ||
	    util_parse_int(argv[1], 1, INT64_MAX, &id) == -1 ||
	    (argc == 4 && (strcmp(argv[2], "--ready") != 0 ||
	    util_parse_int(argv[3], 0, 1024, &ready) == -1)))
		return usage_error();
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (read_key(gw.key, err, sizeof(err)) == -1)
		status = 2;
	else if ((status = gw_open(&gw, id, err, sizeof(err))) == 0 &&
	    (fd = bind_socket(&gw, err, sizeof(err))) == -1)
		status = 1;
	if (status == 0)
		status = serve(&gw, fd, (int)ready, err, sizeof(err));
	if (status != 0)
		log_error("gateway: %s", err);
	if (gw.httpd != NULL)
		httpd_free(gw.httpd);
	gw_upstream_free(&gw);
	if (gw.base != NULL) {
		event_base_loop(gw.base, EVLOOP_NONBLOCK);
		event_base_free(gw.base);
	}
	if (gw.st != NULL)
		store_close(gw.st);
	explicit_bzero(gw.key, sizeof(gw.key));
	free(gw.refused);
	free(gw.net_dir);
	free(gw.repo);
	curl_global_cleanup();
	return status;
}
