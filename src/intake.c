/*
 * The webhook endpoints. Order matters: authenticate over the raw bytes
 * first (nothing is parsed or stored for a stranger), then the headers,
 * then the payload; answer 202 only from the writer's callback, after the
 * commit that holds the delivery and its job.
 */
#include <ctype.h>
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
#include "scheduler.h"
#include "log.h"
#include "rules.h"
#include "signature.h"
#include "util.h"

#define MAX_ID_LEN	128	/* delivery ids are GUIDs; be generous, not unbounded */
#define MAX_EVENT_LEN	64
#define LOG_NAME_MAX	128	/* bytes of a login, label or repository in a log line */
#define LOG_TITLE_MAX	80	/* bytes of a title in a log line */

/* A delivery being answered: its counts, server, request and forge. */
struct hook {
	struct intake		*in;
	struct httpd		*h;
	struct evhttp_request	*req;
	enum forge		 forge;
};

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

static void
answer(const struct hook *hk, int code, enum hook_verdict v, cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);
	size_t n = strlen(text);

	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	hk->in->deliveries[hk->forge][v]++;
	httpd_reply(hk->h, hk->req, code, "application/json", text);
	free(text);
	cJSON_Delete(body);
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

/* A header value that is present, short and printable, else NULL. */
static const char *
header(struct evhttp_request *req, const char *name, size_t maxlen)
{
	const char *v = evhttp_find_header(
	    evhttp_request_get_input_headers(req), name);
	size_t i;

	if (v == NULL || *v == '\0' || strlen(v) > maxlen)
		return NULL;
	for (i = 0; v[i] != '\0'; i++)
		if (!isprint((unsigned char)v[i]))
			return NULL;
	return v;
}

static void
recorded_cb(struct writer_req *wr, void *arg)
{
	struct hook *hk = arg;
	char *what;
	cJSON *o;

	if (wr->rc == -1) {
		reject(hk, 503, HV_UNAVAILABLE,
		    "store cannot commit; redeliver later");
		goto out;
	}
	o = cJSON_CreateObject();
	what = log_enabled(LOG_INFO) ? describe(wr->delivery, wr->ev) : NULL;
	switch (wr->res.verdict) {
	case VERDICT_QUEUED:
		cJSON_AddStringToObject(o, "verdict", "queued");
		cJSON_AddNumberToObject(o, "job", (double)wr->res.job);
		cJSON_AddStringToObject(o, "delivery", wr->delivery);
		log_info("intake: %s: %s, job %lld", what,
		    rules_kind_name(wr->cmd.kind), (long long)wr->res.job);
		answer(hk, 202, HV_QUEUED, o);
		if (wr->cmd.kind == CMD_CANCEL || wr->cmd.kind == CMD_HELP)
			sched_kick_control(hk->in->sched);
		else
			sched_kick(hk->in->sched);
		break;
	case VERDICT_DUPLICATE:
		cJSON_AddStringToObject(o, "verdict", "duplicate");
		cJSON_AddNumberToObject(o, "job", (double)wr->res.job);
		log_info("intake: %s: duplicate of job %lld", what,
		    (long long)wr->res.job);
		answer(hk, 200, HV_DUPLICATE, o);
		break;
	case VERDICT_IGNORED:
		cJSON_AddStringToObject(o, "verdict", "ignored");
		cJSON_AddStringToObject(o, "reason", wr->res.reason);
		log_info("intake: %s: ignored: %s", what, wr->res.reason);
		answer(hk, 200, HV_IGNORED, o);
		break;
	}
	free(what);
out:
	writer_req_free(wr);
	free(hk);
}

/* Parse, decide and hand over to the writer; owns nothing on return. */
static void
dispatch(const struct hook *hk, const char *name, const char *delivery,
    const char *json, size_t len)
{
	struct forge_event *ev;
	struct writer_req *wr;
	struct hook *copy;
	struct command cmd;
	char err[256], *what;

	ev = hk->forge == FORGE_GITHUB ?
	    ghev_parse(name, json, len, err, sizeof(err)) :
	    glev_parse(name, json, len, err, sizeof(err));
	if (ev == NULL) {
		reject(hk, 400, HV_MALFORMED, err);
		return;
	}
	rules_decide(hk->in->cfg, ev, &cmd);
	if (cmd.kind == CMD_IGNORE) {
		/* Nothing to remember: answer without touching the disk.
		 * (Log first: the reply frees the request's headers.) */
		if (log_enabled(LOG_INFO)) {
			what = describe(delivery, ev);
			log_info("intake: %s: ignored: %s", what, cmd.reason);
			free(what);
		}
		ignored(hk, cmd.reason);
		rules_command_clear(&cmd);
		forge_event_free(ev);
		return;
	}
	copy = xmalloc(sizeof(*copy));
	*copy = *hk;
	wr = xcalloc(1, sizeof(*wr));
	wr->op = WRITER_RECORD;
	wr->delivery = xstrdup(delivery);
	wr->ev = ev;
	wr->cmd = cmd;
	wr->done_cb = recorded_cb;
	wr->arg = copy;
	writer_submit(hk->in->writer, wr);
}

static bool
is_post(const struct hook *hk)
{
	if (evhttp_request_get_command(hk->req) == EVHTTP_REQ_POST)
		return true;
	reject(hk, 405, HV_MALFORMED, "use POST");
	return false;
}

void
intake_github_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	const struct hook hook = { arg, h, req, FORGE_GITHUB }, *hk = &hook;
	const struct secret *secret = &hk->in->cfg->github_webhook_secret;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *sig, *name, *delivery, *ctype, *body;
	char *decoded = NULL;
	size_t len = evbuffer_get_length(in), dlen;

	httpd_busy(h, req);
	if (!is_post(hk))
		return;
	body = (const char *)evbuffer_pullup(in, -1);
	if (secret->value == NULL) {
		reject(hk, 401, HV_UNAUTHORIZED,
		    "no [github] webhook_secret configured");
		return;
	}
	if ((sig = header(req, "X-Hub-Signature-256", 128)) == NULL) {
		reject(hk, 401, HV_UNAUTHORIZED,
		    "missing X-Hub-Signature-256");
		return;
	}
	if (sig_github_verify(secret->value, secret->len, body, len,
	    sig) == -1) {
		reject(hk, 401, HV_UNAUTHORIZED,
		    "X-Hub-Signature-256 does not match the body");
		return;
	}
	if ((name = header(req, "X-GitHub-Event", MAX_EVENT_LEN)) == NULL) {
		reject(hk, 400, HV_MALFORMED,
		    "missing X-GitHub-Event");
		return;
	}
	if ((delivery = header(req, "X-GitHub-Delivery", MAX_ID_LEN)) ==
	    NULL) {
		reject(hk, 400, HV_MALFORMED,
		    "missing X-GitHub-Delivery");
		return;
	}
	/* The signature covers the form body as sent; decode after it. */
	ctype = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	if (ctype != NULL && strncasecmp(ctype,
	    "application/x-www-form-urlencoded", 33) == 0) {
		if (len < 8 || memcmp(body, "payload=", 8) != 0 ||
		    memchr(body + 8, '&', len - 8) != NULL ||
		    (decoded = util_form_decode(body + 8, len - 8,
		    &dlen)) == NULL) {
			reject(hk, 400, HV_MALFORMED,
			    "form body is not a single payload= field");
			return;
		}
		body = decoded;
		len = dlen;
	} else if (ctype != NULL && strncasecmp(ctype, "application/json",
	    16) != 0) {
		reject(hk, 415, HV_UNSUPPORTED,
		    "Content-Type must be application/json or "
		    "application/x-www-form-urlencoded");
		return;
	}
	dispatch(hk, name, delivery, body, len);
	free(decoded);
}

/* GitLab: the signing token when configured and the delivery is signed,
 * else the secret token. Returns NULL when authentic, else the reason. */
static const char *
gitlab_authenticate(const struct config *cfg, struct evhttp_request *req,
    const char *body, size_t len)
{
	const char *sigs, *id, *ts, *token, *why = NULL;
	unsigned char *key;
	size_t keylen;
	int rc;

	sigs = header(req, "webhook-signature", 4096);
	if (cfg->gitlab_signing_token.value != NULL &&
	    (sigs != NULL || cfg->gitlab_webhook_token.value == NULL)) {
		id = header(req, "webhook-id", 256);
		ts = header(req, "webhook-timestamp", 32);
		if (sigs == NULL || id == NULL || ts == NULL)
			return "missing webhook-id, webhook-timestamp or "
			    "webhook-signature";
		if ((key = sig_whsec_key(cfg->gitlab_signing_token.value,
		    &keylen)) == NULL)
			return "signing token unusable";
		rc = sig_standard_verify(key, keylen, id, ts, sigs, body, len,
		    (int64_t)time(NULL), &why);
		OPENSSL_cleanse(key, keylen);
		free(key);
		return rc == 0 ? NULL : why;
	}
	if (cfg->gitlab_webhook_token.value == NULL)
		return "no [gitlab] webhook_token or webhook_signing_token "
		    "configured";
	if ((token = header(req, "X-Gitlab-Token", 1024)) == NULL)
		return "missing X-Gitlab-Token";
	if (sig_gitlab_token_verify(cfg->gitlab_webhook_token.value,
	    cfg->gitlab_webhook_token.len, token) == -1)
		return "X-Gitlab-Token does not match";
	return NULL;
}

void
intake_gitlab_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	const struct hook hook = { arg, h, req, FORGE_GITLAB }, *hk = &hook;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *body, *why, *name, *delivery;
	size_t len = evbuffer_get_length(in);

	httpd_busy(h, req);
	if (!is_post(hk))
		return;
	body = (const char *)evbuffer_pullup(in, -1);
	if ((why = gitlab_authenticate(hk->in->cfg, req, body, len)) != NULL) {
		reject(hk, 401, HV_UNAUTHORIZED, why);
		return;
	}
	if ((name = header(req, "X-Gitlab-Event", MAX_EVENT_LEN)) == NULL) {
		reject(hk, 400, HV_MALFORMED,
		    "missing X-Gitlab-Event");
		return;
	}
	/* Idempotency-Key survives retries and "Resend Request" (GitLab 17.4+);
	 * older instances only send X-Gitlab-Event-UUID. */
	if ((delivery = header(req, "Idempotency-Key", MAX_ID_LEN)) == NULL &&
	    (delivery = header(req, "webhook-id", MAX_ID_LEN)) == NULL &&
	    (delivery = header(req, "X-Gitlab-Event-UUID", MAX_ID_LEN)) ==
	    NULL) {
		reject(hk, 400, HV_MALFORMED,
		    "missing X-Gitlab-Event-UUID or Idempotency-Key");
		return;
	}
	dispatch(hk, name, delivery, body, len);
}
