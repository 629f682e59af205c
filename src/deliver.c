/*
 * `handoff deliver --forge github|gitlab --event NAME FILE [--url URL]
 * [--delivery ID] [--form]`: the forge's side of a webhook, for demos,
 * tests and checking a deployment. Blocking libcurl is fine here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "deliver.h"
#include "signature.h"
#include "util.h"

#define MAX_SAMPLE	(64u << 20)
#define MAX_RESPONSE	(1u << 20)

struct response {
	char	*buf;
	size_t	 len;
};

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t add = size * n;

	if (r->len + add > MAX_RESPONSE)
		return 0;
	r->buf = xrealloc(r->buf, r->len + add + 1);
	memcpy(r->buf + r->len, p, add);
	r->len += add;
	r->buf[r->len] = '\0';
	return add;
}

static struct curl_slist *
add_header(struct curl_slist *h, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(h, line);

	free(line);
	return n;
}

/* "http://HOST:PORT/hooks/FORGE" from [server] listen. */
static char *
default_url(const struct config *cfg, const char *forge)
{
	const char *listen = cfg->listen;

	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		return xasprintf("http://127.0.0.1:%s/hooks/%s", listen + 8,
		    forge);
	if (strncmp(listen, "[::]:", 5) == 0)
		return xasprintf("http://[::1]:%s/hooks/%s", listen + 5, forge);
	return xasprintf("http://%s/hooks/%s", listen, forge);
}

static void
usage(void)
{
	fprintf(stderr, "usage: handoff deliver --forge github|gitlab --event "
	    "NAME FILE [--url URL] [--delivery ID] [--form]\n");
}

/* Signed headers for a GitLab delivery: the signing token when one is
 * configured, and the secret token when one is. */
static struct curl_slist *
gitlab_headers(const struct config *cfg, struct curl_slist *h,
    const char *id, const char *body, size_t len, int *ok)
{
	unsigned char *key;
	char ts[32], *sig;
	size_t keylen;

	*ok = 0;
	if (cfg->gitlab_webhook_token.value != NULL) {
		h = add_header(h, "X-Gitlab-Token", cfg->gitlab_webhook_token.value);
		*ok = 1;
	}
	if (cfg->gitlab_signing_token.value != NULL &&
	    (key = sig_whsec_key(cfg->gitlab_signing_token.value,
	    &keylen)) != NULL) {
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		sig = sig_standard_sign(key, keylen, id, ts, body, len);
		h = add_header(h, "webhook-id", id);
		h = add_header(h, "webhook-timestamp", ts);
		h = add_header(h, "webhook-signature", sig);
		free(sig);
		free(key);
		*ok = 1;
	}
	h = add_header(h, "Idempotency-Key", id);
	return add_header(h, "X-Gitlab-Event-UUID", id);
}

int
deliver_main(const struct config *cfg, int argc, char **argv)
{
	const char *forge = NULL, *event = NULL, *file = NULL, *url_arg = NULL;
	const char *id_arg = NULL;
	struct curl_slist *h = NULL;
	struct response resp = { 0 };
	char id[64], sig[80], *body = NULL, *url = NULL, *form = NULL;
	char *escaped;
	size_t len;
	long code = 0;
	int i, is_form = 0, ok, status = 1;
	CURL *curl = NULL;
	CURLcode rc;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--forge") == 0 && i + 1 < argc)
			forge = argv[++i];
		else if (strcmp(argv[i], "--event") == 0 && i + 1 < argc)
			event = argv[++i];
		else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
			url_arg = argv[++i];
		else if (strcmp(argv[i], "--delivery") == 0 && i + 1 < argc)
			id_arg = argv[++i];
		else if (strcmp(argv[i], "--form") == 0)
			is_form = 1;
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else {
			usage();
			return 2;
		}
	}
	if (forge == NULL || event == NULL || file == NULL ||
	    (strcmp(forge, "github") != 0 && strcmp(forge, "gitlab") != 0)) {
		usage();
		return 2;
	}
	if ((body = util_read_file(file, MAX_SAMPLE, &len)) == NULL) {
		fprintf(stderr, "handoff deliver: read %s: %s\n", file,
		    strerror(errno));
		return 1;
	}
	if (id_arg != NULL)
		snprintf(id, sizeof(id), "%s", id_arg);
	else
		util_uuid(id, sizeof(id));
	url = url_arg ? xstrdup(url_arg) : default_url(cfg, forge);
	if ((curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "handoff deliver: cannot start libcurl\n");
		goto out;
	}

	if (strcmp(forge, "github") == 0) {
		if (cfg->github_webhook_secret.value == NULL) {
			fprintf(stderr, "handoff deliver: no [github] "
			    "webhook_secret in %s\n", cfg->path);
			goto out;
		}
		if (is_form) {
			escaped = curl_easy_escape(curl, body, (int)len);
			form = xasprintf("payload=%s", escaped);
			curl_free(escaped);
			free(body);
			body = form;
			len = strlen(form);
			h = add_header(h, "Content-Type",
			    "application/x-www-form-urlencoded");
		} else
			h = add_header(h, "Content-Type", "application/json");
		sig_github_sign(cfg->github_webhook_secret.value,
		    cfg->github_webhook_secret.len, body, len, sig,
		    sizeof(sig));
		h = add_header(h, "X-Hub-Signature-256", sig);
		h = add_header(h, "X-GitHub-Event", event);
		h = add_header(h, "X-GitHub-Delivery", id);
		h = add_header(h, "User-Agent", "GitHub-Hookshot/handoff-deliver");
	} else {
		h = gitlab_headers(cfg, h, id, body, len, &ok);
		if (!ok) {
			fprintf(stderr, "handoff deliver: no [gitlab] "
			    "webhook_token or webhook_signing_token in %s\n",
			    cfg->path);
			goto out;
		}
		h = add_header(h, "Content-Type", "application/json");
		h = add_header(h, "X-Gitlab-Event", event);
		h = add_header(h, "User-Agent", "GitLab/handoff-deliver");
	}
	h = curl_slist_append(h, "Expect:");

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if ((rc = curl_easy_perform(curl)) != CURLE_OK) {
		fprintf(stderr, "handoff deliver: POST %s: %s\n", url,
		    curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	printf("HTTP %ld\n%s", code, resp.buf ? resp.buf : "");
	if (resp.len > 0 && resp.buf[resp.len - 1] != '\n')
		printf("\n");
	status = code >= 200 && code < 300 ? 0 : 1;
out:
	curl_slist_free_all(h);
	if (curl)
		curl_easy_cleanup(curl);
	free(resp.buf);
	free(body);
	free(url);
	return status;
}
