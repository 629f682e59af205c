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
#include "intake.h"
#include "scheduler.h"
#include "log.h"
#include "rules.h"
#include "serve.h"
#include "signature.h"
#include "util.h"

#define MAX_ID_LEN	128	/* delivery ids are GUIDs; be generous, not unbounded */
#define MAX_EVENT_LEN	64

struct hook {
	struct server		*srv;
	struct evhttp_request	*req;
	enum forge		 forge;
};

static void
answer(struct server *srv, struct evhttp_request *req, enum forge forge,
    int code, enum hook_verdict v, cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);
	size_t n = strlen(text);

	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	srv->deliveries[forge][v]++;
	serve_reply(srv, req, code, "application/json", text);
	free(text);
	cJSON_Delete(body);
}

static void
reject(struct server *srv, struct evhttp_request *req, enum forge forge,
    int code, enum hook_verdict v, const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", reason);
	if (code >= 500 || code == 401)
		log_info("intake: %s: %d %s", forge_name(forge), code, reason);
	else
		log_debug("intake: %s: %d %s", forge_name(forge), code, reason);
	answer(srv, req, forge, code, v, o);
}

static void
ignored(struct server *srv, struct evhttp_request *req, enum forge forge,
    const char *reason)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "verdict", "ignored");
	cJSON_AddStringToObject(o, "reason", reason);
	answer(srv, req, forge, 200, HV_IGNORED, o);
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
	struct hook *h = arg;
	cJSON *o;

	if (wr->rc == -1) {
		reject(h->srv, h->req, h->forge, 503, HV_UNAVAILABLE,
		    "store cannot commit; redeliver later");
		goto out;
	}
	o = cJSON_CreateObject();
	switch (wr->res.verdict) {
	case VERDICT_QUEUED:
		cJSON_AddStringToObject(o, "verdict", "queued");
		cJSON_AddNumberToObject(o, "job", (double)wr->res.job);
		cJSON_AddStringToObject(o, "delivery", wr->delivery);
		log_info("intake: %s %s %s#%lld: %s, job %lld",
		    forge_name(h->forge), wr->delivery, wr->ev->repo,
		    (long long)wr->ev->number, rules_kind_name(wr->cmd.kind),
		    (long long)wr->res.job);
		answer(h->srv, h->req, h->forge, 202, HV_QUEUED, o);
		if (wr->cmd.kind == CMD_CANCEL || wr->cmd.kind == CMD_HELP)
			sched_kick_control(h->srv->sched);
		else
			sched_kick(h->srv->sched);
		break;
	case VERDICT_DUPLICATE:
		cJSON_AddStringToObject(o, "verdict", "duplicate");
		cJSON_AddNumberToObject(o, "job", (double)wr->res.job);
		answer(h->srv, h->req, h->forge, 200, HV_DUPLICATE, o);
		break;
	case VERDICT_IGNORED:
		cJSON_AddStringToObject(o, "verdict", "ignored");
		cJSON_AddStringToObject(o, "reason", wr->res.reason);
		answer(h->srv, h->req, h->forge, 200, HV_IGNORED, o);
		break;
	}
out:
	writer_req_free(wr);
	free(h);
}

/* Parse, decide and hand over to the writer; owns nothing on return. */
static void
dispatch(struct server *srv, struct evhttp_request *req, enum forge forge,
    const char *name, const char *delivery, const char *json, size_t len)
{
	struct forge_event *ev;
	struct writer_req *wr;
	struct hook *h;
	struct command cmd;
	char err[256];

	ev = forge == FORGE_GITHUB ?
	    ghev_parse(name, json, len, err, sizeof(err)) :
	    glev_parse(name, json, len, err, sizeof(err));
	if (ev == NULL) {
		reject(srv, req, forge, 400, HV_MALFORMED, err);
		return;
	}
	rules_decide(srv->cfg, ev, &cmd);
	if (cmd.kind == CMD_IGNORE) {
		/* Nothing to remember: answer without touching the disk.
		 * (Log first: the reply frees the request's headers.) */
		log_debug("intake: %s %s %s: ignored: %s", forge_name(forge),
		    delivery, name, cmd.reason);
		ignored(srv, req, forge, cmd.reason);
		rules_command_clear(&cmd);
		forge_event_free(ev);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->srv = srv;
	h->req = req;
	h->forge = forge;
	wr = xcalloc(1, sizeof(*wr));
	wr->op = WRITER_RECORD;
	wr->delivery = xstrdup(delivery);
	wr->ev = ev;
	wr->cmd = cmd;
	wr->done_cb = recorded_cb;
	wr->arg = h;
	writer_submit(srv->writer, wr);
}

static bool
is_post(struct server *srv, struct evhttp_request *req, enum forge forge)
{
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
		return true;
	reject(srv, req, forge, 405, HV_MALFORMED, "use POST");
	return false;
}

void
intake_github_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct secret *secret = &srv->cfg->github_webhook_secret;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *sig, *name, *delivery, *ctype, *body;
	char *decoded = NULL;
	size_t len = evbuffer_get_length(in), dlen;

	serve_busy(srv, req);
	if (!is_post(srv, req, FORGE_GITHUB))
		return;
	body = (const char *)evbuffer_pullup(in, -1);
	if (secret->value == NULL) {
		reject(srv, req, FORGE_GITHUB, 401, HV_UNAUTHORIZED,
		    "no [github] webhook_secret configured");
		return;
	}
	if ((sig = header(req, "X-Hub-Signature-256", 128)) == NULL) {
		reject(srv, req, FORGE_GITHUB, 401, HV_UNAUTHORIZED,
		    "missing X-Hub-Signature-256");
		return;
	}
	if (sig_github_verify(secret->value, secret->len, body, len,
	    sig) == -1) {
		reject(srv, req, FORGE_GITHUB, 401, HV_UNAUTHORIZED,
		    "X-Hub-Signature-256 does not match the body");
		return;
	}
	if ((name = header(req, "X-GitHub-Event", MAX_EVENT_LEN)) == NULL) {
		reject(srv, req, FORGE_GITHUB, 400, HV_MALFORMED,
		    "missing X-GitHub-Event");
		return;
	}
	if ((delivery = header(req, "X-GitHub-Delivery", MAX_ID_LEN)) ==
	    NULL) {
		reject(srv, req, FORGE_GITHUB, 400, HV_MALFORMED,
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
			reject(srv, req, FORGE_GITHUB, 400, HV_MALFORMED,
			    "form body is not a single payload= field");
			return;
		}
		body = decoded;
		len = dlen;
	} else if (ctype != NULL && strncasecmp(ctype, "application/json",
	    16) != 0) {
		reject(srv, req, FORGE_GITHUB, 415, HV_UNSUPPORTED,
		    "Content-Type must be application/json or "
		    "application/x-www-form-urlencoded");
		return;
	}
	dispatch(srv, req, FORGE_GITHUB, name, delivery, body, len);
	free(decoded);
}

/* GitLab: the signing token when configured and the delivery is signed,
 * else the secret token. Returns NULL when authentic, else the reason. */
static const char *
gitlab_authenticate(struct server *srv, struct evhttp_request *req,
    const char *body, size_t len)
{
	const struct config *cfg = srv->cfg;
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
intake_gitlab_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *body, *why, *name, *delivery;
	size_t len = evbuffer_get_length(in);

	serve_busy(srv, req);
	if (!is_post(srv, req, FORGE_GITLAB))
		return;
	body = (const char *)evbuffer_pullup(in, -1);
	if ((why = gitlab_authenticate(srv, req, body, len)) != NULL) {
		reject(srv, req, FORGE_GITLAB, 401, HV_UNAUTHORIZED, why);
		return;
	}
	if ((name = header(req, "X-Gitlab-Event", MAX_EVENT_LEN)) == NULL) {
		reject(srv, req, FORGE_GITLAB, 400, HV_MALFORMED,
		    "missing X-Gitlab-Event");
		return;
	}
	/* Idempotency-Key survives retries and "Resend Request" (GitLab 17.4+);
	 * older instances only send X-Gitlab-Event-UUID. */
	if ((delivery = header(req, "Idempotency-Key", MAX_ID_LEN)) == NULL &&
	    (delivery = header(req, "webhook-id", MAX_ID_LEN)) == NULL &&
	    (delivery = header(req, "X-Gitlab-Event-UUID", MAX_ID_LEN)) ==
	    NULL) {
		reject(srv, req, FORGE_GITLAB, 400, HV_MALFORMED,
		    "missing X-Gitlab-Event-UUID or Idempotency-Key");
		return;
	}
	dispatch(srv, req, FORGE_GITLAB, name, delivery, body, len);
}
