/*
 * URLs as the REST client and the forges handle them, with libcurl's URL
 * parser where one is needed: whether two share an origin, the form errors
 * show, and percent-encoding for a path segment or query value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "url.h"
#include "util.h"

char *
url_display(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at;

	if (auth == NULL)
		return xstrdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	if (at == auth)
		return xstrdup(url);
	return xasprintf("%.*s%s", (int)(auth - url), url, at);
}

int
url_same_origin(const char *from, const char *to, char **host)
{
	CURLU *a = curl_url(), *b = curl_url();
	char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL;
	char *pb = NULL;
	int same = 0;

	*host = NULL;
	if (a == NULL || b == NULL ||
	    curl_url_set(a, CURLUPART_URL, from, 0) != CURLUE_OK ||
	    curl_url_set(b, CURLUPART_URL, to, 0) != CURLUE_OK ||
	    curl_url_get(a, CURLUPART_SCHEME, &sa, 0) != CURLUE_OK ||
	    curl_url_get(b, CURLUPART_SCHEME, &sb, 0) != CURLUE_OK ||
	    curl_url_get(a, CURLUPART_HOST, &ha, 0) != CURLUE_OK ||
	    curl_url_get(b, CURLUPART_HOST, &hb, 0) != CURLUE_OK ||
	    curl_url_get(a, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_get(b, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		goto out;
	same = strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 &&
	    strcmp(pa, pb) == 0;
out:
	if (!same)
		*host = xstrndup(hb != NULL ? hb : "an unreadable URL", 256);
	curl_free(sa);
	curl_free(sb);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	curl_url_cleanup(a);
	curl_url_cleanup(b);
	return same;
}

char *
url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		out = xstrdup(host);
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

char *
url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n = strlen(s);
	char *out, *o;

	if (n > (SIZE_MAX - 1) / 3)
		abort();
	out = o = xmalloc(n * 3 + 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}
