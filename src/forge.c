/*
 * What both forges share: opening a connection with the configured
 * credentials, and one JSON request helper that adds the forge's headers
 * and its token, so that no token is ever written anywhere else.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "forge.h"
#include "forge_impl.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "url.h"
#include "util.h"

#define USER_AGENT	"handoff/" HANDOFF_VERSION

bool
forge_configured(const struct config *cfg, const char *forge)
{
	if (strcmp(forge, "github") == 0)
		return cfg->github_token.value != NULL ||
		    (cfg->github_app_id != NULL &&
		    cfg->github_private_key.value != NULL);
	if (strcmp(forge, "gitlab") == 0)
		return cfg->gitlab_token.value != NULL;
	return false;
}

char *
forge_account_key(const struct forge_conn *f)
{
	const struct config *cfg = f->cfg;
	const struct secret *token = strcmp(f->ops->name, "github") == 0 ?
	    &cfg->github_token : &cfg->gitlab_token;
	unsigned char md[32];
	unsigned int n = 0;
	char hex[17];

	/* An App's installation tokens change; the App does not. */
	if (token->value == NULL)
		return xasprintf("%s %s app %s", f->ops->name, f->api,
		    cfg->github_app_id ? cfg->github_app_id : "");
	EVP_Digest(token->value, token->len, md, &n, EVP_sha256(), NULL);
	util_hex(md, 8, hex);
	return xasprintf("%s %s token %s", f->ops->name, f->api, hex);
}

static const char *const route_names[FORGE_ROUTES] = {
	[FORGE_ROUTE_ISSUE] = "issue",
	[FORGE_ROUTE_COMMENTS] = "comments",
	[FORGE_ROUTE_REACTIONS] = "reactions",
	[FORGE_ROUTE_PULLS] = "pulls",
	[FORGE_ROUTE_PERMISSION] = "permission",
	[FORGE_ROUTE_USER] = "user",
	[FORGE_ROUTE_TOKEN] = "token",
	[FORGE_ROUTE_OTHER] = "other",
};

const char *
forge_route_name(enum forge_route route)
{
	return route < FORGE_ROUTES ? route_names[route] : "other";
}

/* Whether the n bytes at s start with prefix (its length in *len). */
static bool
starts(const char *s, size_t n, const char *prefix, size_t *len)
{
	*len = strlen(prefix);
	return n >= *len && strncmp(s, prefix, *len) == 0;
}

/* Whether the n bytes at s end with suffix. */
static bool
ends(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

/* Whether the n bytes at s hold the path segment name ("/name" followed
 * by "/" or the end). */
static bool
has_segment(const char *s, size_t n, const char *name)
{
	size_t m = strlen(name), i;

	for (i = 0; i + m + 1 <= n; i++)
		if (s[i] == '/' && strncmp(s + i + 1, name, m) == 0 &&
		    (i + m + 1 == n || s[i + m + 1] == '/'))
			return true;
	return false;
}

/* The length of the repository's part at the start of path (GitHub's
 * /repos/OWNER/NAME, GitLab's /projects/ESCAPED), or 0. */
static size_t
repo_part(const struct forge_conn *f, const char *path, size_t n)
{
	char *id, *prefix;
	size_t len, m = 0;

	id = url_escape(f->repo);
	prefix = xasprintf("/repos/%s", f->repo);
	if (starts(path, n, prefix, &len) && (n == len || path[len] == '/'))
		m = len;
	free(prefix);
	prefix = xasprintf("/projects/%s", id);
	if (m == 0 && starts(path, n, prefix, &len) &&
	    (n == len || path[len] == '/'))
		m = len;
	free(prefix);
	free(id);
	return m;
}

enum forge_route
forge_route_of(const struct forge_conn *f, const char *path)
{
	size_t n = strcspn(path, "?#"), m, len;
	const char *t;

	if ((m = repo_part(f, path, n)) == 0) {
		if (n == 5 && strncmp(path, "/user", 5) == 0)
			return FORGE_ROUTE_USER;
		if (starts(path, n, "/app/installations/", &len) &&
		    ends(path, n, "/access_tokens"))
			return FORGE_ROUTE_TOKEN;
		return FORGE_ROUTE_OTHER;
	}
	t = path + m;
	n -= m;
	if (ends(t, n, "/reactions") || ends(t, n, "/award_emoji"))
		return FORGE_ROUTE_REACTIONS;
	if (starts(t, n, "/collaborators/", &len) ||
	    starts(t, n, "/members/", &len))
		return FORGE_ROUTE_PERMISSION;
	if (has_segment(t, n, "comments") || has_segment(t, n, "notes") ||
	    has_segment(t, n, "discussions"))
		return FORGE_ROUTE_COMMENTS;
	if (has_segment(t, n, "pulls") || has_segment(t, n, "merge_requests"))
		return FORGE_ROUTE_PULLS;
	if (starts(t, n, "/issues/", &len))
		return FORGE_ROUTE_ISSUE;
	return FORGE_ROUTE_OTHER;
}

/* The HTTP client's report of one exchange, counted under the request's
 * route. */
static void
observe(void *arg, const struct http_note *note)
{
	struct forge_conn *f = arg;
	struct forge_tally *t = &f->tally;
	int status = note->status >= 100 && note->status <= 999 ?
	    (int)note->status : 0;
	size_t i;

	for (i = 0; i < t->ncounts; i++)
		if (t->counts[i].route == f->route &&
		    t->counts[i].status == status)
			break;
	if (i == t->ncounts) {
		t->counts = xrealloc(t->counts, (t->ncounts + 1) *
		    sizeof(*t->counts));
		t->counts[t->ncounts++] = (struct forge_count){ f->route,
		    status, 0 };
	}
	t->counts[i].requests++;
	if (note->is_retried)
		t->retries++;
	if (note->is_rate_limit) {
		t->rate_limit_waits++;
		t->rate_limit_wait_ms += note->wait_ms;
	}
}

const struct forge_tally *
forge_tally(const struct forge_conn *f)
{
	return &f->tally;
}

void
forge_tally_reset(struct forge_conn *f)
{
	free(f->tally.counts);
	memset(&f->tally, 0, sizeof(f->tally));
}

struct forge_conn *
forge_open(const struct config *cfg, const char *forge, const char *repo,
    int64_t installation_id, char *err, size_t errlen)
{
	struct http_opts opts = { 0 };
	struct forge_conn *f;
	const char *base;

	if (!forge_configured(cfg, forge)) {
		snprintf(err, errlen, "no credentials for %s: set [%s] token%s",
		    forge, forge, strcmp(forge, "github") == 0 ?
		    " (or app_id and private_key)" : "");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->cfg = cfg;
	f->repo = xstrdup(repo);
	f->installation_id = installation_id;
	if (strcmp(forge, "github") == 0) {
		f->ops = &github_ops;
		base = cfg->github_api_url;
		f->api = xstrdup(base);
	} else {
		f->ops = &gitlab_ops;
		base = cfg->gitlab_url;
		f->api = xasprintf("%s/api/v4", base);
	}
	/* No trailing slash: paths start with one. */
	while (*f->api && f->api[strlen(f->api) - 1] == '/')
		f->api[strlen(f->api) - 1] = '\0';
	opts.user_agent = USER_AGENT;
	opts.rate_limit = forge_rate_limit;
	opts.observe = observe;
	opts.observe_arg = f;
	if ((f->http = http_new(&opts)) == NULL) {
		snprintf(err, errlen, "%s: cannot start an HTTP client", forge);
		forge_close(f);
		return NULL;
	}
	return f;
}

void
forge_close(struct forge_conn *f)
{
	if (f == NULL)
		return;
	http_free(f->http);
	forge_tally_reset(f);
	free(f->repo);
	free(f->api);
	util_free_secret(f->token);
	util_free_secret(f->auth_header);
	free(f->self);
	free(f);
}

void
forge_pr_clear(struct forge_pr *pr)
{
	free(pr->url);
	memset(pr, 0, sizeof(*pr));
}

void
forge_set_token(struct forge_conn *f, const char *token,
    const char *header_prefix)
{
	util_free_secret(f->token);
	util_free_secret(f->auth_header);
	f->token = xstrdup(token);
	f->auth_header = xasprintf("%s%s", header_prefix, token);
}

int
forge_call(struct forge_conn *f, const char *method, const char *path,
    const char *const *extra, const cJSON *body, long *status, cJSON **out,
    char *err, size_t errlen)
{
	struct http_response resp = { 0 };
	const char *headers[12];
	char *text = NULL, *url, *msg;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (f->auth_header == NULL && f->ops->authenticate(f, err,
	    errlen) == -1)
		return -1;
	for (; extra && *extra && n < 8; extra++)
		headers[n++] = *extra;
	headers[n++] = f->auth_header;
	if (body) {
		headers[n++] = "Content-Type: application/json";
		text = cJSON_PrintUnformatted(body);
	}
	headers[n] = NULL;
	url = xasprintf("%s%s", f->api, path);
	f->route = forge_route_of(f, path);
	rc = http_request(f->http, method, url, headers, text, &resp, err,
	    errlen);
	cJSON_free(text);	/* may be the JSON arena's: not free() */
	if (rc == 0) {
		*status = resp.status;
		if (resp.status >= 400) {
			msg = forge_error_message(&resp);
			snprintf(err, errlen, "%s %s: %ld %s", method, url,
			    resp.status, msg);
			free(msg);
		}
		*out = resp.json;
		resp.json = NULL;
	}
	http_response_clear(&resp);
	free(url);
	return rc;
}

void
forge_comments_free(struct forge_comment *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].id);
		free(list[i].author);
		free(list[i].body);
		free(list[i].path);
		free(list[i].diff_hunk);
	}
	free(list);
}

bool
forge_is_mine(struct forge_conn *f, const struct forge_comment *c)
{
	char err[256];

	if (c->is_bot)
		return true;
	if (!f->self_asked) {
		f->self_asked = true;
		if (f->ops->user(f, &f->self, err, sizeof(err)) == -1)
			log_warn("%s: who am I: %s", f->ops->name, err);
	}
	return f->self != NULL && strcmp(c->author, f->self) == 0;
}

char *
forge_marker_of(const char *body)
{
	size_t n = strlen(body), start, plen = strlen(FORGE_MARKER_PREFIX), i;

	while (n > 0 && strchr(" \t\r\n", body[n - 1]) != NULL)
		n--;
	for (start = n; start > 0 && body[start - 1] != '\n'; start--)
		;
	if (n - start < plen + 4 || n - start > FORGE_MARKER_MAX ||
	    strncmp(body + start, FORGE_MARKER_PREFIX, plen) != 0 ||
	    strncmp(body + n - 4, " -->", 4) != 0)
		return NULL;
	for (i = start + plen; i < n - 4; i++)
		if (!islower((unsigned char)body[i]) &&
		    !isdigit((unsigned char)body[i]) && body[i] != ' ' &&
		    body[i] != '-')
			return NULL;
	return xstrndup(body + start, n - start);
}

char *
forge_unmark(const char *text)
{
	/* Still a hidden comment where markdown renders it, never a
	 * marker: the replacement holds no '<' past its first byte, so no
	 * new marker can form across it. */
	static const char inert[] = "<!-- (handoff):";
	size_t plen = strlen(FORGE_MARKER_PREFIX), n = 0;
	const char *p, *m;
	char *out, *o;

	for (p = text; (m = strstr(p, FORGE_MARKER_PREFIX)) != NULL;
	    p = m + plen)
		n++;
	out = o = xmalloc(strlen(text) + n * (sizeof(inert) - 1 - plen) + 1);
	for (p = text; (m = strstr(p, FORGE_MARKER_PREFIX)) != NULL;
	    p = m + plen) {
		memcpy(o, p, (size_t)(m - p));
		o += m - p;
		memcpy(o, inert, sizeof(inert) - 1);
		o += sizeof(inert) - 1;
	}
	strcpy(o, p);
	return out;
}

void
forge_sweep(struct forge_conn *f, enum forge_on on, int64_t number,
    const struct forge_comment *list, size_t n, const char *keep)
{
	char **marks = xcalloc(n + 1, sizeof(*marks)), err[512];
	size_t i, k, kept;

	for (i = 0; i < n; i++)
		if (forge_is_mine(f, &list[i]))
			marks[i] = forge_marker_of(list[i].body);
	for (i = 0; i < n; i++) {
		if (marks[i] == NULL)
			continue;
		/* The group of marks[i]: keep keep if it is there, else
		 * the oldest. */
		kept = i;
		for (k = i; keep && k < n; k++)
			if (marks[k] && strcmp(marks[k], marks[i]) == 0 &&
			    strcmp(list[k].id, keep) == 0)
				kept = k;
		for (k = i; k < n; k++) {
			if (k == kept || marks[k] == NULL || (k != i &&
			    strcmp(marks[k], marks[i]) != 0))
				continue;
			if (f->ops->comment_delete(f, on, number, list[k].id,
			    err, sizeof(err)) == -1)
				log_warn("%s: delete a copy of %s: %s",
				    f->ops->name, marks[k], err);
			else
				log_info("%s: deleted comment %s, a copy of"
				    " %s", f->ops->name, list[k].id,
				    list[kept].id);
			if (k != i) {
				free(marks[k]);
				marks[k] = NULL;
			}
		}
		free(marks[i]);
		marks[i] = NULL;
	}
	free(marks);
}

int
forge_comment_find(struct forge_conn *f, enum forge_on on, int64_t number,
    const char *marker, char **id, char *err, size_t errlen)
{
	struct forge_comment *list = NULL;
	size_t n = 0, i;

	*id = NULL;
	if (f->ops->comments(f, on, number, &list, &n, err, errlen) == -1)
		return -1;
	for (i = 0; i < n && *id == NULL; i++) {
		char *m = forge_marker_of(list[i].body);

		if (m && strcmp(m, marker) == 0 && forge_is_mine(f, &list[i]))
			*id = xstrdup(list[i].id);
		free(m);
	}
	forge_sweep(f, on, number, list, n, *id);
	forge_comments_free(list, n);
	return 0;
}

int
forge_send(struct forge_conn *f, forge_call_fn call, const char *method,
    const char *path, cJSON *body, long want, long *status, cJSON **out,
    char *err, size_t errlen)
{
	cJSON *answer = NULL;
	long got = 0;
	int rc;

	rc = call(f, method, path, body, &got, &answer, err, errlen);
	cJSON_Delete(body);
	if (rc == 0 && (want ? got != want : got < 200 || got > 299)) {
		if (got < 400)	/* forge_call explained the others */
			snprintf(err, errlen, "%s %s: unexpected answer %ld",
			    method, path, got);
		rc = -1;
	}
	if (status)
		*status = got;
	if (out && rc == 0)
		*out = answer;
	else
		json_free(answer);
	return rc;
}

const char *
forge_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t
forge_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

int
forge_comment_post(struct forge_conn *f, forge_call_fn call, const char *path,
    const char *text, char **id, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *o = NULL;
	int rc;

	*id = NULL;
	cJSON_AddStringToObject(body, "body", text);
	rc = forge_send(f, call, "POST", path, body, 201, NULL, &o, err,
	    errlen);
	if (rc == 0 && forge_num(o, "id") == 0) {
		snprintf(err, errlen, "POST %s: no comment id", path);
		rc = -1;
	}
	if (rc == 0)
		*id = xasprintf("%lld", (long long)forge_num(o, "id"));
	json_free(o);
	return rc;
}

int
forge_pr_first(struct forge_conn *f, forge_call_fn call, const char *path,
    const char *number_key, const char *url_key, struct forge_pr *pr,
    char *err, size_t errlen)
{
	const cJSON *first;
	cJSON *arr = NULL;
	int rc;

	memset(pr, 0, sizeof(*pr));
	rc = forge_send(f, call, "GET", path, NULL, 200, NULL, &arr, err,
	    errlen);
	if (rc == 0 && cJSON_IsArray(arr) &&
	    (first = cJSON_GetArrayItem(arr, 0)) != NULL)
		forge_pr_from(pr, first, number_key, url_key);
	json_free(arr);
	return rc;
}

void
forge_pr_from(struct forge_pr *pr, const cJSON *o, const char *number_key,
    const char *url_key)
{
	const char *url = forge_str(o, url_key);

	pr->number = forge_num(o, number_key);
	pr->url = url ? xstrndup(url, 2048) : NULL;
}

int
forge_issue_from(struct forge_conn *f, forge_call_fn call, const char *path,
    const char *body_key, char **title, char **body, char *err,
    size_t errlen)
{
	const cJSON *t, *b;
	cJSON *o = NULL;
	int rc;

	*title = *body = NULL;
	rc = forge_send(f, call, "GET", path, NULL, 200, NULL, &o, err,
	    errlen);
	t = cJSON_GetObjectItemCaseSensitive(o, "title");
	b = cJSON_GetObjectItemCaseSensitive(o, body_key);
	if (rc == 0 && !cJSON_IsString(t)) {
		snprintf(err, errlen, "GET %s: no title", path);
		rc = -1;
	}
	if (rc == 0) {
		*title = xstrndup(t->valuestring, FORGE_TITLE_MAX);
		*body = xstrndup(cJSON_IsString(b) ? b->valuestring : "",
		    FORGE_BODY_MAX);
	}
	json_free(o);
	return rc;
}

int
forge_comments_from(struct forge_conn *f, forge_call_fn call,
    const char *path, int max_pages, forge_comment_fn item,
    struct forge_comment **list, size_t *n, char *err, size_t errlen)
{
	const cJSON *c;
	cJSON *arr = NULL;
	char *url;
	long status;
	int page, count, rc = 0;

	*list = NULL;
	*n = 0;
	for (page = 1; page <= max_pages && rc == 0; page++) {
		url = xasprintf("%sper_page=100&page=%d", path, page);
		rc = call(f, "GET", url, NULL, &status, &arr, err, errlen);
		free(url);
		if (rc == 0 && (status != 200 || !cJSON_IsArray(arr))) {
			if (status == 200)
				snprintf(err, errlen, "GET %s: not a list", path);
			rc = -1;
		}
		if (rc == 0) {
			count = cJSON_GetArraySize(arr);
			cJSON_ArrayForEach(c, arr)
				item(f, c, list, n);
			if (count < 100)
				page = max_pages;
		}
		json_free(arr);
		arr = NULL;
	}
	if (rc == -1) {
		forge_comments_free(*list, *n);
		*list = NULL;
		*n = 0;
	}
	return rc;
}

struct forge_comment *
forge_comment_add(struct forge_comment **list, size_t *n, int64_t id,
    const char *author, const char *body, bool is_bot)
{
	struct forge_comment *c;

	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	c = &(*list)[(*n)++];
	memset(c, 0, sizeof(*c));
	c->id = xasprintf("%lld", (long long)id);
	c->author = xstrndup(author ? author : "", 256);
	c->body = xstrndup(body ? body : "", 65536);
	c->is_bot = is_bot;
	return c;
}

int
forge_rate_limit(struct http_limit *l)
{
	return github_rate_limit(l) || gitlab_rate_limit(l);
}

void
forge_message_add(char **acc, const char *sep, const char *s)
{
	char *n;

	if (s == NULL || *s == '\0' ||
	    (*acc != NULL && strlen(*acc) >= FORGE_MESSAGE_MAX))
		return;
	n = *acc != NULL ? xasprintf("%s%s%s", *acc, sep, s) : xstrdup(s);
	free(*acc);
	*acc = n;
}

/* One printable line of at most FORGE_MESSAGE_MAX bytes, not cut inside
 * UTF-8. */
static void
one_line(char *s)
{
	size_t n = strlen(s);
	char *p;

	if (n > FORGE_MESSAGE_MAX) {
		n = FORGE_MESSAGE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
}

char *
forge_error_message(const struct http_response *r)
{
	const cJSON *root = r != NULL ? r->json : NULL, *m;
	char *acc = NULL, line[64];

	if (cJSON_IsObject(root)) {
		m = cJSON_GetObjectItemCaseSensitive(root, "message");
		if (cJSON_IsString(m))
			forge_message_add(&acc, "", m->valuestring);
		else if (cJSON_IsArray(m) || cJSON_IsObject(m))
			gitlab_error_items(&acc, m);
		github_error_items(&acc,
		    cJSON_GetObjectItemCaseSensitive(root, "errors"));
		/* GitLab's OAuth errors. */
		if (acc == NULL) {
			forge_message_add(&acc, "", forge_str(root, "error"));
			forge_message_add(&acc, ": ", forge_str(root,
			    "error_description"));
		}
	}
	if (acc == NULL && (r == NULL || r->status <= 0))
		acc = xstrdup("no answer");
	else if (acc == NULL) {
		http_status_line(r->status, line, sizeof(line));
		acc = xstrdup(line);
	}
	one_line(acc);
	return acc;
}
