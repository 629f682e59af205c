/*
 * The status listener's front: the token (a Bearer header, or the cookie
 * the login form sets), cross-site forms refused, and the table of which
 * module answers which path. /healthz asks the store writer, so that
 * health means "a transaction just committed"; pages, logs, metrics and
 * actions go to the reader threads, so the loop never reads the disk.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "httpd.h"
#include "intake.h"
#include "logtail.h"
#include "metrics.h"
#include "pages.h"
#include "store.h"
#include "url.h"
#include "util.h"
#include "web.h"

#define COOKIE_NAME	"handoff_session"
#define MAX_FORM_BYTES	4096

/* The pages load nothing from elsewhere and run only their own script. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self'; connect-src 'self'; form-action 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'"

static void
derive(const struct secret *token, const char *label, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	HMAC(EVP_sha256(), token->value, (int)token->len,
	    (const unsigned char *)label, strlen(label), mac, &n);
	util_hex(mac, n, out);
	OPENSSL_cleanse(mac, sizeof(mac));
}

void
web_init(struct web *w, const struct config *cfg, struct event_base *base)
{
	char *host;

	w->cfg = cfg;
	w->base = base;
	w->has_token = cfg->web_token.value != NULL && cfg->web_token.len > 0;
	w->session[0] = w->csrf[0] = '\0';
	if (w->has_token) {
		derive(&cfg->web_token, "handoff web session", w->session);
		derive(&cfg->web_token, "handoff web form", w->csrf);
	}
	host = url_host(cfg->public_url);
	snprintf(w->public_host, sizeof(w->public_host), "%s",
	    host != NULL ? host : "");
	free(host);
}

/*
 * A page elsewhere can make a browser ask for ours under a name of its
 * own that it then points at this address (DNS rebinding), and read the
 * answers as its own origin's: Host names that name. The pages answer to
 * addresses, localhost and [web] public_url's host only.
 */
static bool
is_our_host(const struct web *w, struct evhttp_request *req)
{
	const char *host = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Host"), *colon;
	size_t len;

	if (host == NULL || *host == '[')	/* none, or an IPv6 address */
		return true;
	colon = strrchr(host, ':');
	len = colon != NULL ? (size_t)(colon - host) : strlen(host);
	if (len == 0)
		return false;
	return strspn(host, "0123456789.") >= len ||
	    (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (len == strlen(w->public_host) &&
	    strncasecmp(host, w->public_host, len) == 0);
}

/* Constant-time: both sides hashed first, so not even the length shows. */
static bool
same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)a, alen, ha);
	SHA256((const unsigned char *)b, blen, hb);
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

/* The value of cookie name in req's Cookie headers, or NULL. Caller frees. */
static char *
cookie(struct evhttp_request *req, const char *name)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const char *p, *end;
	size_t nlen = strlen(name);

	TAILQ_FOREACH(kv, in, next) {
		if (strcasecmp(kv->key, "Cookie") != 0)
			continue;
		for (p = kv->value; *p != '\0'; p = *end ? end + 1 : end) {
			while (*p == ' ')
				p++;
			if ((end = strchr(p, ';')) == NULL)
				end = p + strlen(p);
			if ((size_t)(end - p) > nlen && p[nlen] == '=' &&
			    strncmp(p, name, nlen) == 0)
				return xstrndup(p + nlen + 1,
				    (size_t)(end - p) - nlen - 1);
		}
	}
	return NULL;
}

/* Whether req carries the token, or the cookie derived from it. */
static bool
is_allowed(const struct web *w, struct evhttp_request *req)
{
	const char *auth;
	char *c;
	bool ok = false;

	if (!w->has_token)
		return true;
	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		return same_secret(auth + 7, strlen(auth + 7),
		    w->cfg->web_token.value, w->cfg->web_token.len);
	if ((c = cookie(req, COOKIE_NAME)) != NULL) {
		ok = same_secret(c, strlen(c), w->session, strlen(w->session));
		free(c);
	}
	return ok;
}

/*
 * A state-changing request must come from the pages themselves: a
 * browser says where a request comes from (Sec-Fetch-Site, Origin), and
 * a form of ours carries the csrf field no other site can read.
 */
static const char *
cross_site(const struct web *w, struct evhttp_request *req, const char *form)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	char *field;
	bool ok;

	if (site != NULL && strcmp(site, "same-origin") != 0 &&
	    strcmp(site, "none") != 0)
		return "a request from another site";
	if (origin != NULL && strcmp(origin, "null") != 0) {
		const char *o = strstr(origin, "://");
		if (o == NULL || host == NULL || strcasecmp(o + 3, host) != 0)
			return "a request from another origin";
	} else if (origin != NULL)
		return "a request from an opaque origin";
	if (form == NULL)
		return NULL;
	if ((field = web_form_value(form, "csrf")) == NULL)
		return "a form without its csrf field";
	ok = same_secret(field, strlen(field), w->csrf, strlen(w->csrf));
	free(field);
	return ok ? NULL : "a form with a wrong csrf field";
}

static void
add_headers(struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	/* Not no-referrer: under it a browser sends "Origin: null" with the
	 * pages' own forms, which cross_site must refuse. Other sites still
	 * learn nothing of the pages' addresses. */
	evhttp_add_header(out, "Referrer-Policy", "same-origin");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "Content-Security-Policy", CSP);
}

void
web_reply_html(struct httpd *h, struct evhttp_request *req, int code,
    struct evbuffer *html)
{
	add_headers(req);
	httpd_reply_buffer(h, req, code, "text/html; charset=utf-8", html);
}

void
web_reply_text(struct httpd *h, struct evhttp_request *req, int code,
    const char *text)
{
	add_headers(req);
	httpd_reply(h, req, code, "text/plain; charset=utf-8", text);
}

void
web_reply_json(struct httpd *h, struct evhttp_request *req, int code,
    const char *json)
{
	add_headers(req);
	httpd_reply(h, req, code, "application/json", json);
}

char *
web_query(struct evhttp_request *req, const char *name)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));

	return q == NULL ? NULL : web_form_value(q, name);
}

char *
web_form_value(const char *form, const char *name)
{
	const char *p, *end;
	size_t nlen = strlen(name), len;

	for (p = form; *p != '\0'; p = *end ? end + 1 : end) {
		if ((end = strchr(p, '&')) == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) >= nlen && strncmp(p, name, nlen) == 0 &&
		    (p[nlen] == '=' || p + nlen == end))
			return p + nlen == end ? xstrdup("") :
			    util_form_decode(p + nlen + 1,
			    (size_t)(end - p) - nlen - 1, &len);
	}
	return NULL;
}

/* A request's body (a form), bounded; NULL when over the bound. Caller
 * frees. */
static char *
form_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s;

	if (n > MAX_FORM_BYTES)
		return NULL;
	s = xmalloc(n + 1);
	evbuffer_copyout(in, s, n);
	s[n] = '\0';
	return s;
}

/* Where the login form may send a browser back to: a path of ours. */
static bool
is_local_path(const char *s)
{
	return s != NULL && s[0] == '/' && s[1] != '/' && s[1] != '\\' &&
	    strpbrk(s, "\r\n") == NULL;
}

static void
login_page(struct web *w, struct httpd *h, struct evhttp_request *req,
    int code, const char *next, const char *why)
{
	struct evbuffer *b = evbuffer_new();

	pages_head(b, "sign in");
	if (why != NULL)
		evbuffer_add_printf(b, "<p class=\"error\">%s</p>\n", why);
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/login\" "
	    "class=\"login\">\n<label>Token <input type=\"password\" "
	    "name=\"token\" autocomplete=\"current-password\" autofocus>"
	    "</label>\n<input type=\"hidden\" name=\"next\" value=\"");
	pages_escape(b, is_local_path(next) ? next : "/");
	evbuffer_add_printf(b, "\">\n<button type=\"submit\">Sign in</button>\n"
	    "</form>\n");
	pages_foot(b);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"handoff\"");
	web_reply_html(h, req, code, b);
}

/* POST /login: the token in a form, answered with the session cookie. */
static void
login_post(struct web *w, struct httpd *h, struct evhttp_request *req)
{
	char *form = form_body(req), *token = NULL, *next = NULL, *set;
	const char *why;
	bool is_https = strncmp(w->cfg->public_url, "https:", 6) == 0;

	if (form == NULL) {
		web_reply_text(h, req, 413, "form too large\n");
		return;
	}
	next = web_form_value(form, "next");
	if ((why = cross_site(w, req, NULL)) != NULL) {
		web_reply_text(h, req, 403, "refused: a login form from "
		    "another site\n");
		goto out;
	}
	token = web_form_value(form, "token");
	if (!w->has_token || token == NULL ||
	    !same_secret(token, strlen(token), w->cfg->web_token.value,
	    w->cfg->web_token.len)) {
		login_page(w, h, req, 401, next, w->has_token ?
		    "That is not the token." : "No token is set.");
		goto out;
	}
	set = xasprintf(COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict%s",
	    w->session, is_https ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Set-Cookie", set);
	free(set);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
	    is_local_path(next) ? next : "/");
	web_reply_text(h, req, 303, "signed in\n");
out:
	if (token != NULL)
		util_free_secret(token);
	free(next);
	free(form);
}

/* "/jobs/N" and "/jobs/N/REST": N, and REST ("" when none). */
static int64_t
job_path(const char *path, const char **rest)
{
	const char *p = path + strlen("/jobs/");
	int64_t id = 0;

	if (strncmp(path, "/jobs/", 6) != 0 || *p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (id > (INT64_MAX - 9) / 10)
			return 0;
		id = id * 10 + (*p - '0');
	}
	if (*p != '\0' && *p != '/')
		return 0;
	*rest = *p == '/' ? p + 1 : p;
	return id;
}

/* Whether req carries the token itself (not the cookie a browser sends
 * along to any request, which is why forms need their csrf field). */
static bool
has_bearer(const struct web *w, struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");

	return auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
	    same_secret(auth + 7, strlen(auth + 7), w->cfg->web_token.value,
	    w->cfg->web_token.len);
}

static void
action(struct web *w, struct httpd *h, struct evhttp_request *req,
    int64_t id, const char *what)
{
	char *form = form_body(req);
	const char *why;

	if (form == NULL)
		web_reply_text(h, req, 413, "form too large\n");
	else if (!w->has_token)
		web_reply_text(h, req, 403, "refused: cancel and retry from "
		    "the pages need [web] token\n");
	else if ((why = cross_site(w, req, has_bearer(w, req) ? NULL :
	    form)) != NULL) {
		char *msg = xasprintf("refused: %s\n", why);
		web_reply_text(h, req, 403, msg);
		free(msg);
	} else
		pages_action(w, h, req, id, what);
	free(form);
}

void
web_status_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path, *rest = "";
	bool is_get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	int64_t id;

	httpd_busy(h, req);
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || *path == '\0')
		path = "/";
	if (strcmp(path, "/healthz") == 0) {
		web_healthz_cb(h, req, w);
		return;
	}
	if (!is_our_host(w, req)) {
		web_reply_text(h, req, 403, "refused: a request for another "
		    "host name; the status pages answer to addresses, "
		    "localhost and [web] public_url's host\n");
		return;
	}
	if (strcmp(path, "/login") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			login_post(w, h, req);
		else if (is_get) {
			char *next = web_query(req, "next");
			login_page(w, h, req, 200, next, NULL);
			free(next);
		} else
			web_reply_text(h, req, 405, "use GET or POST\n");
		return;
	}
	if (strncmp(path, "/static/", 8) == 0 && is_get) {
		pages_static(w, h, req, path + 8);
		return;
	}
	if (!is_allowed(w, req)) {
		login_page(w, h, req, 401, evhttp_request_get_uri(req), NULL);
		return;
	}
	id = job_path(path, &rest);
	if (cmd == EVHTTP_REQ_POST && id > 0 &&
	    (strcmp(rest, "cancel") == 0 || strcmp(rest, "retry") == 0)) {
		action(w, h, req, id, rest);
		return;
	}
	if (!is_get)
		web_reply_text(h, req, 405, "use GET\n");
	else if (strcmp(path, "/metrics") == 0)
		metrics_get(w, h, req);
	else if (strcmp(path, "/") == 0)
		pages_index(w, h, req);
	else if (id > 0 && *rest == '\0')
		pages_job(w, h, req, id);
	else if (id > 0 && strcmp(rest, "log") == 0)
		logtail_get(w->logtail, h, req, id);
	else
		web_reply_text(h, req, 404, "not found\n");
}

struct pending {
	struct httpd		*h;
	struct evhttp_request	*req;
};

static void
healthz_done_cb(struct writer_req *wr, void *arg)
{
	struct pending *p = arg;

	if (wr->rc == 0)
		httpd_reply(p->h, p->req, 200, "text/plain", "ok\n");
	else
		httpd_reply(p->h, p->req, 503, "text/plain",
		    "store not writable\n");
	writer_req_free(wr);
	free(p);
}

void
web_healthz_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	struct pending *p;
	struct writer_req *wr;

	httpd_busy(h, req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		httpd_reply(h, req, 405, "text/plain", "use GET\n");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	wr = xcalloc(1, sizeof(*wr));
	p->h = h;
	p->req = req;
	wr->op = WRITER_HEARTBEAT;
	wr->done_cb = healthz_done_cb;
	wr->arg = p;
	writer_submit(w->writer, wr);
}

void
web_notfound_cb(struct httpd *h, struct evhttp_request *req, void *arg)
{
	httpd_busy(h, req);
	httpd_reply(h, req, 404, "text/plain", "not found\n");
}
