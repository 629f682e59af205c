/*
 * The webhook endpoints. Order matters: authenticate over the raw bytes
 * first (nothing is parsed or stored for a stranger), then the headers,
 * then the payload; answer 202 only from the writer's callback, after the
 * commit that holds the delivery and its job.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "github_event.h"
#include "gitlab_event.h"
#include "httpd.h"
#include "intake.h"
#include "json.h"
#include "scheduler.h"
#include "log.h"
#include "pool.h"
#include "rules.h"
#include "signature.h"
#include "util.h"

#define MAX_ID_LEN	128	/* delivery ids are GUIDs; be generous, not unbounded */
#define MAX_EVENT_LEN	64
#define LOG_NAME_MAX	128	/* bytes of a login, label or repository in a log line */
#define LOG_TITLE_MAX	80	/* bytes of a title in a log line */
/* The loop authenticates and parses a delivery itself, without waking a
 * worker, while fewer than INLINE_BELOW deliveries are in flight and the
 * body is at most INLINE_MAX bytes (see hand_off). */
#define INLINE_BELOW	16
#define INLINE_MAX	(64 * 1024)

/* A delivery being answered: its counts, server, request (evhttp's, or
 * one httpd parsed itself) and forge. */
struct hook {
	struct intake		*in;
	struct httpd		*h;
	struct evhttp_request	*req;
	struct httpd_msg	*msg;
	enum forge		 forge;
};

void
intake_worker_start(void)
{
	struct sched_param sp = { 0 };

	/* A worker woken for a delivery does not preempt the loop that woke
	 * it (SCHED_BATCH: no wakeup preemption, the same share of the CPU
	 * as SCHED_OTHER at the same nice): the loop goes on reading and
	 * answering, and the worker runs when a CPU is free. */
	if ((errno = pthread_setschedparam(pthread_self(), SCHED_BATCH,
	    &sp)) != 0)
		log_debug("intake: SCHED_BATCH: %s", strerror(errno));
	json_use_arena();
}

void
intake_worker_end(void)
{
	json_drop_arena();
}

const char *
intake_verdict_name(enum hook_verdict v)
{
	static const char *const names[HV_COUNT] = { "queued", "ignored",
	    "duplicate", "unauthorized", "malformed", "unsupported",
	    "too_large", "timed_out", "unavailable" };

	return names[v];
}

void
intake_refused_cb(enum httpd_refusal why, const char *path, void *arg)
{
	struct intake *in = arg;
	int forge = FORGE_UNKNOWN;

	if (path != NULL && strcmp(path, INTAKE_GITHUB_PATH) == 0)
		forge = FORGE_GITHUB;
	else if (path != NULL && strcmp(path, INTAKE_GITLAB_PATH) == 0)
		forge = FORGE_GITLAB;
	switch (why) {
	case HTTPD_BAD_FRAMING:
		if (forge != FORGE_UNKNOWN)
			in->deliveries[forge][HV_MALFORMED]++;
		break;
	case HTTPD_TOO_LARGE:
		in->deliveries[forge][HV_TOO_LARGE]++;
		break;
	case HTTPD_TIMED_OUT:
		in->deliveries[forge][HV_TIMED_OUT]++;
		break;
	}
}

/* Count, and send body (freed) as hk's answer: on the loop, or on the
 * writer for a request httpd parsed, which then still needs its
 * httpd_msg_done on the loop. */
static void
send_answer(const struct hook *hk, int code, enum hook_verdict v,
    cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);
	size_t n = strlen(text);

	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	hk->in->deliveries[hk->forge][v]++;
	if (hk->msg != NULL)
		httpd_msg_answer(hk->msg, code, "application/json", text);
	else
		httpd_reply(hk->h, hk->req, code, "application/json", text);
	free(text);
	cJSON_Delete(body);
}

/* On the loop: answer hk, which is then done. */
static void
answer(const struct hook *hk, int code, enum hook_verdict v, cJSON *body)
{
	send_answer(hk, code, v, body);
	if (hk->msg != NULL)
		httpd_msg_done(hk->msg);
}

static void
reject(const struct hook *hk, int code, enum hook_verdict v,
    const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", reason);
	if (code >= 500 || code == 401)
		log_info("intake: %s: %d %s", forge_name(hk->forge), code,
		    reason);
	else
		log_debug("intake: %s: %d %s", forge_name(hk->forge), code,
		    reason);
	answer(hk, code, v, o);
}

static void
ignored(const struct hook *hk, const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "verdict", "ignored");
	cJSON_AddStringToObject(o, "reason", reason);
	answer(hk, 200, HV_IGNORED, o);
}

/*
 * A delivery as its log lines name it: "github DELIVERY issues.labeled
 * owner/repo#1 "Title" by login (label "bug")". Everything but the
 * delivery id (a printable header) is the forge's text, bounded and
 * escaped. Only authenticated deliveries get here. Caller frees.
 */
static char *
describe(const char *delivery, const struct forge_event *ev)
{
	char *repo = log_text(ev->repo, LOG_NAME_MAX);
	char *title = log_text(ev->title, LOG_TITLE_MAX);
	char *sender = log_text(ev->sender, LOG_NAME_MAX);
	char *label = log_text(ev->label, LOG_NAME_MAX);
	char *action = log_text(ev->action, LOG_NAME_MAX);
	char *name = log_text(ev->name, LOG_NAME_MAX);
	char number[24] = "", *s;

	if (ev->number > 0)
		snprintf(number, sizeof(number), "#%lld", (long long)ev->number);
	s = xasprintf("%s %s %s%s%s %s%s%s%s%s by %s%s%s%s",
	    forge_name(ev->forge), delivery, name, ev->action ? "." : "",
	    ev->action ? action : "", repo, number,
	    ev->title ? " \"" : "", ev->title ? title : "",
	    ev->title ? "\"" : "", sender, ev->label ? " (label \"" : "",
	    ev->label ? label : "", ev->label ? "\")" : "");
	free(name);
	free(action);
	free(label);
	free(sender);
	free(title);
	free(repo);
	return s;
}

/* A header of hk's request as it came, or NULL. */
static const char *
raw_header(const struct hook *hk, const char *name)
{
	return hk->msg != NULL ? httpd_msg_header(hk->msg, name) :
	    evhttp_find_header(evhttp_request_get_input_headers(hk->req),
	    name);
}

/* A header value that is present, short and printable, else NULL. */
static const char *
header(const struct hook *hk, const char *name, size_t maxlen)
{
	const char *v = raw_header(hk, name);
	size_t i;

	if (v == NULL || *v == '\0' || strlen(v) > maxlen)
		return NULL;
	for (i = 0; v[i] != '\0'; i++)
		if (!isprint((unsigned char)v[i]))
			return NULL;
	return v;
}

#define UNAVAILABLE	"store cannot commit; redeliver later"

/* The answer to a recorded delivery: its body, status and verdict. */
static cJSON *
recorded_answer(const struct writer_req *wr, int *code, enum hook_verdict *v)
{
	cJSON *o = cJSON_CreateObject();
	char job[24];

	if (wr->rc == -1) {
		cJSON_AddStringToObject(o, "error", UNAVAILABLE);
		*code = 503;
		*v = HV_UNAVAILABLE;
		return o;
	}
	/* A job id as cJSON prints an integer, without its double. */
	snprintf(job, sizeof(job), "%lld", (long long)wr->res.job);
	switch (wr->res.verdict) {
	case VERDICT_QUEUED:
		cJSON_AddStringToObject(o, "verdict", "queued");
		cJSON_AddRawToObject(o, "job", job);
		cJSON_AddStringToObject(o, "delivery", wr->delivery);
		*code = 202;
		*v = HV_QUEUED;
		break;
	case VERDICT_DUPLICATE:
		cJSON_AddStringToObject(o, "verdict", "duplicate");
		cJSON_AddRawToObject(o, "job", job);
		*code = 200;
		*v = HV_DUPLICATE;
		break;
	case VERDICT_IGNORED:
		cJSON_AddStringToObject(o, "verdict", "ignored");
		cJSON_AddStringToObject(o, "reason", wr->res.reason);
		*code = 200;
		*v = HV_IGNORED;
		break;
	}
	return o;
}

/* The log lines of a recorded delivery. */
static void
recorded_log(const struct writer_req *wr, const struct hook *hk,
    enum hook_verdict v)
{
	char *what;

	if (v == HV_UNAVAILABLE) {
		log_info("intake: %s: 503 %s", forge_name(hk->forge),
		    UNAVAILABLE);
		return;
	}
	if (!log_enabled(LOG_INFO))
		return;
	what = describe(wr->delivery, wr->ev);
	if (v == HV_QUEUED)
		log_info("intake: %s: %s, job %lld", what,
		    rules_kind_name(wr->cmd.kind), (long long)wr->res.job);
	else if (v == HV_DUPLICATE)
		log_info("intake: %s: duplicate of job %lld", what,
		    (long long)wr->res.job);
	else
		log_info("intake: %s: ignored: %s", what, wr->res.reason);
	free(what);
}

/*
 * On the writer, right after the commit, for a delivery httpd parsed: log,
 * count and answer from here, not from the loop. What the answer tells the
 * client is then already in the log and the metrics when it arrives.
 */
static void
committed_cb(struct writer_req *wr, void *arg)
{
	struct hook *hk = arg;
	enum hook_verdict v;
	cJSON *o;
	int code;

	o = recorded_answer(wr, &code, &v);
	recorded_log(wr, hk, v);
	send_answer(hk, code, v, o);
}

/* On the loop, after the commit: answer, log and count (unless
 * committed_cb did), and wake the scheduler. */
static void
recorded_cb(struct writer_req *wr, void *arg)
{
	struct hook *hk = arg;
	enum hook_verdict v;
	cJSON *o;
	int code;

	if (hk->msg != NULL)
		httpd_msg_done(hk->msg);
	else {
		o = recorded_answer(wr, &code, &v);
		recorded_log(wr, hk, v);
		answer(hk, code, v, o);
	}
	if (wr->rc != -1 && wr->res.verdict == VERDICT_QUEUED) {
		if (wr->cmd.kind == CMD_CANCEL || wr->cmd.kind == CMD_HELP)
			sched_kick_control(hk->in->sched);
		else
			sched_kick(hk->in->sched);
	}
	writer_req_free(wr);
	free(hk);
}

/*
 * A delivery between the loop and a worker. The loop copies what the
 * worker needs out of the request (the body, the headers as header() finds
 * them) and touches the request again only to answer it; the worker
 * authenticates, parses and decides, and hands a delivery to record
 * straight to the writer. Anything else comes back to the loop to answer.
 */
struct delivery {
	struct hook		 hk;
	char			*body;
	size_t			 len;
	char			*name;		/* the event header */
	char			*id;		/* the delivery's id */
	char			*ctype;		/* GitHub: Content-Type */
	char			*sig;		/* X-Hub-Signature-256 */
	char			*token;		/* X-Gitlab-Token */
	char			*wh_sigs, *wh_id, *wh_ts; /* webhook-* */
	/* Not recorded: the answer. */
	int			 code;
	enum hook_verdict	 verdict;
	char			 reason[256];
	struct forge_event	*ev;		/* ignored: for its log line */
};

static void
delivery_free(void *arg)
{
	struct delivery *d = arg;

	free(d->body);
	free(d->name);
	free(d->id);
	free(d->ctype);
	free(d->sig);
	free(d->token);
	free(d->wh_sigs);
	free(d->wh_id);
	free(d->wh_ts);
	forge_event_free(d->ev);
	free(d);
}

/* On a worker: d is answered code with reason by the loop. */
static bool
refuse(struct delivery *d, int code, enum hook_verdict v, const char *reason)
{
	d->code = code;
	d->verdict = v;
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	return true;
}

/* On the loop: answer what a worker did not hand to the writer. */
static void
answered_cb(void *arg)
{
	struct delivery *d = arg;
	char *what;

	if (d->verdict == HV_IGNORED) {
		/* Log first: the reply frees the request's headers. */
		if (log_enabled(LOG_INFO)) {
			what = describe(d->id, d->ev);
			log_info("intake: %s: ignored: %s", what, d->reason);
			free(what);
		}
		ignored(&d->hk, d->reason);
	} else
		reject(&d->hk, d->code, d->verdict, d->reason);
	delivery_free(d);
}

/* On a worker: parse, decide, and hand over to the writer (false) or back
 * to the loop (true). */
static bool
decide(struct delivery *d, const char *json, size_t len)
{
	struct forge_event *ev;
	struct writer_req *wr;
	struct hook *copy;
	struct command cmd;
	char err[256];

	ev = d->hk.forge == FORGE_GITHUB ?
	    ghev_parse(d->name, json, len, err, sizeof(err)) :
	    glev_parse(d->name, json, len, err, sizeof(err));
	if (ev == NULL)
		return refuse(d, 400, HV_MALFORMED, err);
	rules_decide(d->hk.in->cfg, ev, &cmd);
	if (cmd.kind == CMD_IGNORE) {
		/* Nothing to remember: answer without touching the disk. */
		d->ev = ev;
		refuse(d, 200, HV_IGNORED, cmd.reason);
		rules_command_clear(&cmd);
		return true;
	}
	copy = xmalloc(sizeof(*copy));
	*copy = d->hk;
	wr = xcalloc(1, sizeof(*wr));
	wr->op = WRITER_RECORD;
	wr->delivery = d->id;
	d->id = NULL;
	wr->ev = ev;
	wr->cmd = cmd;
	wr->done_cb = recorded_cb;
	if (copy->msg != NULL)
		wr->committed_cb = committed_cb;
	wr->arg = copy;
	writer_submit(d->hk.in->writer, wr);
	delivery_free(d);
	return false;
}

/* A copy of header() of name, or NULL. */
static char *
header_copy(const struct hook *hk, const char *name, size_t maxlen)
{
	const char *v = header(hk, name, maxlen);

	return v != NULL ? xstrdup(v) : NULL;
}

/* The delivery of hk's request as the loop hands it to a worker. */
static struct delivery *
delivery_new(const struct hook *hk)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	struct evbuffer *in;

	d->hk = *hk;
	if (hk->msg != NULL) {
		d->body = httpd_msg_take_body(hk->msg, &d->len);
		return d;
	}
	in = evhttp_request_get_input_buffer(hk->req);
	d->len = evbuffer_get_length(in);
	d->body = xmalloc(d->len + 1);
	evbuffer_copyout(in, d->body, d->len);
	d->body[d->len] = '\0';
	return d;
}

/*
 * Run work on the intake pool, or here on the loop: without a pool, and
 * when few deliveries are in flight and this one is small. Waking a worker
 * on the other CPU costs a delivery more time than the work itself (about
 * 150 µs of waiting for 30 µs of work, measured with 16 connections);
 * under a heavier load the loop would become the bottleneck, and a large
 * body would hold up every other connection. In flight: with a worker,
 * or waiting for its commit (writer_pending). A delivery whose answer is
 * sent no longer counts, though the loop has yet to hear of it: its
 * connection's next request may already be here (httpd_msg.c's let_go).
 */
static void
hand_off(struct intake *in, pool_work_cb work, struct delivery *d)
{
	if (in->pool == NULL || (d->len <= INLINE_MAX &&
	    pool_inflight(in->pool) + writer_pending(in->writer) <
	    INLINE_BELOW)) {
		if (work(d))
			answered_cb(d);
		return;
	}
	pool_submit(in->pool, work, answered_cb, delivery_free, d);
}

static bool
is_post(const struct hook *hk)
{
	if (hk->msg != NULL ||
	    evhttp_request_get_command(hk->req) == EVHTTP_REQ_POST)
		return true;
	reject(hk, 405, HV_MALFORMED, "use POST");
	return false;
}

/* On a worker: authenticate a GitHub delivery, check its headers, decode
 * a form body, then decide. */
static bool
github_work(void *arg)
{
	struct delivery *d = arg;
	const struct secret *secret = &d->hk.in->cfg->github_webhook_secret;
	const char *body = d->body;
	char *decoded = NULL;
	size_t len = d->len, dlen;
	bool rc;

	if (sig_github_verify(secret->value, secret->len, d->body, d->len,
	    d->sig) == -1)
		return refuse(d, 401, HV_UNAUTHORIZED,
		    "X-Hub-Signature-256 does not match the body");
	if (d->name == NULL)
		return refuse(d, 400, HV_MALFORMED, "missing X-GitHub-Event");
	if (d->id == NULL)
		return refuse(d, 400, HV_MALFORMED,
		    "missing X-GitHub-Delivery");
	/* The signature covers the form body as sent; decode after it. */
	if (d->ctype != NULL && strncasecmp(d->ctype,
	    "application/x-www-form-urlencoded", 33) == 0) {
		if (len < 8 || memcmp(body, "payload=", 8) != 0 ||
		    memchr(body + 8, '&', len - 8) != NULL ||
		    (decoded = util_form_decode(body + 8, len - 8,
		    &dlen)) == NULL)
			return refuse(d, 400, HV_MALFORMED,
			    "form body is not a single payload= field");
		body = decoded;
		len = dlen;
	} else if (d->ctype != NULL && strncasecmp(d->ctype,
	    "application/json", 16) != 0)
		return refuse(d, 415, HV_UNSUPPORTED,
		    "Content-Type must be application/json or "
		    "application/x-www-form-urlencoded");
	rc = decide(d, body, len);
	free(decoded);
	return rc;
}

static void
github_begin(const struct hook *hk)
{
	const struct secret *secret = &hk->in->cfg->github_webhook_secret;
	const char *sig, *ctype;
	struct delivery *d;

	if (!is_post(hk))
		return;
	if (secret->value == NULL) {
		reject(hk, 401, HV_UNAUTHORIZED,
		    "no [github] webhook_secret configured");
		return;
	}
	if ((sig = header(hk, "X-Hub-Signature-256", 128)) == NULL) {
		reject(hk, 401, HV_UNAUTHORIZED,
		    "missing X-Hub-Signature-256");
		return;
	}
	d = delivery_new(hk);
	d->sig = xstrdup(sig);
	d->name = header_copy(hk, "X-GitHub-Event", MAX_EVENT_LEN);
	d->id = header_copy(hk, "X-GitHub-Delivery", MAX_ID_LEN);
	ctype = raw_header(hk, "Content-Type");
	d->ctype = ctype != NULL ? xstrndup(ctype, 64) : NULL;
	hand_off(hk->in, github_work, d);
}

void
intake_github_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	const struct hook hk = { arg, h, req, NULL, FORGE_GITHUB };

	httpd_busy(h, req);
	github_begin(&hk);
}

void
intake_github_msg_cb(struct httpd *h, struct httpd_msg *m, void *arg)
{
	const struct hook hk = { arg, h, NULL, m, FORGE_GITHUB };

	github_begin(&hk);
}

/* GitLab: the signing token when configured and the delivery is signed,
 * else the secret token. Returns NULL when authentic, else the reason. */
static const char *
gitlab_authenticate(const struct config *cfg, const struct delivery *d)
{
	const char *why = NULL;
	unsigned char *key;
	size_t keylen;
	int rc;

	if (cfg->gitlab_signing_token.value != NULL &&
	    (d->wh_sigs != NULL || cfg->gitlab_webhook_token.value == NULL)) {
		if (d->wh_sigs == NULL || d->wh_id == NULL || d->wh_ts == NULL)
			return "missing webhook-id, webhook-timestamp or "
			    "webhook-signature";
		if ((key = sig_whsec_key(cfg->gitlab_signing_token.value,
		    &keylen)) == NULL)
			return "signing token unusable";
		rc = sig_standard_verify(key, keylen, d->wh_id, d->wh_ts,
		    d->wh_sigs, d->body, d->len, (int64_t)time(NULL), &why);
		OPENSSL_cleanse(key, keylen);
		free(key);
		return rc == 0 ? NULL : why;
	}
	if (cfg->gitlab_webhook_token.value == NULL)
		return "no [gitlab] webhook_token or webhook_signing_token "
		    "configured";
	if (d->token == NULL)
		return "missing X-Gitlab-Token";
	if (sig_gitlab_token_verify(cfg->gitlab_webhook_token.value,
	    cfg->gitlab_webhook_token.len, d->token) == -1)
		return "X-Gitlab-Token does not match";
	return NULL;
}

/* On a worker: authenticate a GitLab delivery, check its headers, then
 * decide. */
static bool
gitlab_work(void *arg)
{
	struct delivery *d = arg;
	const char *why;

	if ((why = gitlab_authenticate(d->hk.in->cfg, d)) != NULL)
		return refuse(d, 401, HV_UNAUTHORIZED, why);
	if (d->name == NULL)
		return refuse(d, 400, HV_MALFORMED, "missing X-Gitlab-Event");
	if (d->id == NULL)
		return refuse(d, 400, HV_MALFORMED,
		    "missing X-Gitlab-Event-UUID or Idempotency-Key");
	return decide(d, d->body, d->len);
}

static void
gitlab_begin(const struct hook *hk)
{
	struct delivery *d;

	if (!is_post(hk))
		return;
	d = delivery_new(hk);
	d->wh_sigs = header_copy(hk, "webhook-signature", 4096);
	d->wh_id = header_copy(hk, "webhook-id", 256);
	d->wh_ts = header_copy(hk, "webhook-timestamp", 32);
	d->token = header_copy(hk, "X-Gitlab-Token", 1024);
	d->name = header_copy(hk, "X-Gitlab-Event", MAX_EVENT_LEN);
	/* Idempotency-Key survives retries and "Resend Request" (GitLab 17.4+);
	 * older instances only send X-Gitlab-Event-UUID. */
	if ((d->id = header_copy(hk, "Idempotency-Key", MAX_ID_LEN)) == NULL &&
	    (d->id = header_copy(hk, "webhook-id", MAX_ID_LEN)) == NULL)
		d->id = header_copy(hk, "X-Gitlab-Event-UUID", MAX_ID_LEN);
	hand_off(hk->in, gitlab_work, d);
}

void
intake_gitlab_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	const struct hook hk = { arg, h, req, NULL, FORGE_GITLAB };

	httpd_busy(h, req);
	gitlab_begin(&hk);
}

void
intake_gitlab_msg_cb(struct httpd *h, struct httpd_msg *m, void *arg)
{
	const struct hook hk = { arg, h, NULL, m, FORGE_GITLAB };

	gitlab_begin(&hk);
}
