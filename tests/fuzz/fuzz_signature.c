/*
 * libFuzzer harness for signature.c. GitHub and GitLab token checks read the
 * input as "<header>\n<body>"; the Standard Webhooks check reads the header
 * line and the next two as webhook-id, webhook-timestamp and
 * webhook-signature, and the rest as the body. Every verifier must reject
 * garbage without crashing, and what the signers produce must verify.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signature.h"
#include "util.h"

#define FUZZ_SECRET	"It's a Secret to Everybody"
#define FUZZ_TOKEN	"gitlab-webhook-token"
#define FUZZ_NOW	((int64_t)1614265330)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key32[32] = {
	0x31, 0xf2, 0x0a, 0x9b, 0x5c, 0x6d, 0x7e, 0x8f,
	0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07,
	0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f,
	0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0, 0x01,
};

/* Next '\n'-separated field of [*p, end) as a new string; NULL at the end. */
static char *
field(const char **p, const char *end)
{
	const char *nl;
	char *s;

	if (*p == NULL)
		return NULL;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL) {
		s = xstrndup(*p, (size_t)(end - *p));
		*p = NULL;
	} else {
		s = xstrndup(*p, (size_t)(nl - *p));
		*p = nl + 1;
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size, *nl, *body, *p;
	char *header, *id, *ts, *sigs, *mine, gh[80];
	unsigned char *key;
	const char *why;
	size_t bodylen, keylen;
	int rc;

	nl = memchr(in, '\n', size);
	if (nl != NULL) {
		header = xstrndup(in, (size_t)(nl - in));
		body = nl + 1;
		bodylen = (size_t)(end - body);
	} else {
		header = xstrndup(in, size);
		body = end;
		bodylen = 0;
	}

	(void)sig_github_verify(FUZZ_SECRET, strlen(FUZZ_SECRET), body, bodylen,
	    header);
	(void)sig_github_verify("", 0, body, bodylen, header);
	(void)sig_gitlab_token_verify(FUZZ_TOKEN, strlen(FUZZ_TOKEN), header);
	(void)sig_gitlab_token_verify(header, strlen(header), FUZZ_TOKEN);
	if ((key = sig_whsec_key(header, &keylen)) != NULL) {
		if (keylen == 0 || keylen > 64)
			abort();
		free(key);
	}

	/* What we sign we must accept. */
	sig_github_sign(FUZZ_SECRET, strlen(FUZZ_SECRET), body, bodylen, gh,
	    sizeof(gh));
	if (sig_github_verify(FUZZ_SECRET, strlen(FUZZ_SECRET), body, bodylen,
	    gh) != 0)
		abort();

	/* Standard Webhooks: id = the header line, then timestamp, signatures. */
	p = in;
	id = field(&p, end);
	ts = field(&p, end);
	sigs = field(&p, end);
	body = p != NULL ? p : end;
	bodylen = (size_t)(end - body);
	why = NULL;
	rc = sig_standard_verify(key32, sizeof(key32), id, ts, sigs, body,
	    bodylen, FUZZ_NOW, &why);
	if ((rc == 0) != (why == NULL))
		abort();
	if (id != NULL && ts != NULL) {
		mine = sig_standard_sign(key32, sizeof(key32), id, ts, body,
		    bodylen);
		if (mine == NULL)
			abort();
		why = NULL;
		rc = sig_standard_verify(key32, sizeof(key32), id, ts, mine,
		    body, bodylen, FUZZ_NOW, &why);
		if (rc != 0 && why != NULL &&
		    strcmp(why, "no matching signature") == 0)
			abort();
		free(mine);
	}
	free(sigs);
	free(ts);
	free(id);
	free(header);
	return 0;
}
