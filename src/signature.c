/*
 * Delivery authentication: GitHub's X-Hub-Signature-256, GitLab's
 * X-Gitlab-Token and the Standard Webhooks signature GitLab's signing token
 * uses. Header values come from the network and are bounded before use.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "signature.h"
#include "util.h"

#define MAC_LEN			32	/* HMAC-SHA256 */
#define GITHUB_PREFIX		"sha256="
#define GITHUB_PREFIX_LEN	(sizeof(GITHUB_PREFIX) - 1)
#define GITHUB_HEADER_LEN	(GITHUB_PREFIX_LEN + 2 * MAC_LEN)
#define WHSEC_PREFIX		"whsec_"
#define WHSEC_PREFIX_LEN	(sizeof(WHSEC_PREFIX) - 1)
#define WHSEC_MAX_KEY		64	/* config enforces GitLab's 32 */
#define WHSEC_MAX_TEXT		256	/* base64 of 64 bytes is 88 */
#define STD_MAX_ID		256
#define STD_MAX_TIMESTAMP	20
#define STD_MAX_HEADER		4096
#define STD_MAX_SIGNATURES	16

struct part {
	const void	*p;
	size_t		 n;
};

/* The HMAC implementation, fetched once: a fetch per delivery is a
 * provider lookup under a lock. EVP_MAC objects may be shared by threads. */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC-SHA256 over the concatenation of parts. Returns 0 or -1. */
static int
hmac_sha256(const unsigned char *key, size_t keylen, const struct part *parts,
    size_t nparts, unsigned char out[MAC_LEN])
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256";
	size_t i, outlen = 0;
	int rc = -1;

	pthread_once(&hmac_once, hmac_fetch);
	if (hmac_impl == NULL || (ctx = EVP_MAC_CTX_new(hmac_impl)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* A NULL key means "keep the previous key" to EVP_MAC_init. */
	if (!EVP_MAC_init(ctx, keylen ? key : (const unsigned char *)"",
	    keylen, params))
		goto out;
	for (i = 0; i < nparts; i++) {
		if (parts[i].n > 0 && !EVP_MAC_update(ctx, parts[i].p, parts[i].n))
			goto out;
	}
	if (!EVP_MAC_final(ctx, out, &outlen, MAC_LEN) || outlen != MAC_LEN)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		ERR_clear_error();
	EVP_MAC_CTX_free(ctx);
	return rc;
}

static int
github_mac_hex(const char *secret, size_t secretlen, const void *body,
    size_t bodylen, char hex[2 * MAC_LEN + 1])
{
	unsigned char mac[MAC_LEN];
	struct part part = { body, bodylen };

	if (body == NULL && bodylen > 0)
		return -1;
	if (hmac_sha256((const unsigned char *)secret, secretlen, &part, 1,
	    mac) == -1)
		return -1;
	util_hex(mac, sizeof(mac), hex);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

void
sig_github_sign(const char *secret, size_t secretlen, const void *body,
    size_t bodylen, char *out, size_t outlen)
{
	char hex[2 * MAC_LEN + 1];

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (outlen < GITHUB_HEADER_LEN + 1 || (secret == NULL && secretlen > 0))
		return;
	if (github_mac_hex(secret, secretlen, body, bodylen, hex) == -1)
		return;
	memcpy(out, GITHUB_PREFIX, GITHUB_PREFIX_LEN);
	memcpy(out + GITHUB_PREFIX_LEN, hex, sizeof(hex));
}

int
sig_github_verify(const char *secret, size_t secretlen, const void *body,
    size_t bodylen, const char *header)
{
	char want[2 * MAC_LEN + 1], got[2 * MAC_LEN];
	size_t i;
	int rc = -1;

	/* An empty secret would make every forged delivery "signed". */
	if (secret == NULL || secretlen == 0 || header == NULL)
		return -1;
	if (strnlen(header, GITHUB_HEADER_LEN + 1) != GITHUB_HEADER_LEN ||
	    memcmp(header, GITHUB_PREFIX, GITHUB_PREFIX_LEN) != 0)
		return -1;
	/* GitHub sends lowercase hex; accept either case. */
	for (i = 0; i < sizeof(got); i++) {
		char c = header[GITHUB_PREFIX_LEN + i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		got[i] = c;
	}
	if (github_mac_hex(secret, secretlen, body, bodylen, want) == -1)
		goto out;
	if (CRYPTO_memcmp(want, got, sizeof(got)) == 0)
		rc = 0;
out:
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

int
sig_gitlab_token_verify(const char *token, size_t tokenlen, const char *header)
{
	if (token == NULL || tokenlen == 0 || header == NULL)
		return -1;
	/* The length is not secret (RFC 2104 style compare after a length check). */
	if (strnlen(header, tokenlen + 1) != tokenlen)
		return -1;
	return CRYPTO_memcmp(token, header, tokenlen) == 0 ? 0 : -1;
}

unsigned char *
sig_whsec_key(const char *secret, size_t *keylen)
{
	unsigned char *key;
	size_t len, n = 0;

	if (keylen != NULL)
		*keylen = 0;
	if (secret == NULL || keylen == NULL)
		return NULL;
	len = strnlen(secret, WHSEC_PREFIX_LEN + WHSEC_MAX_TEXT + 1);
	if (len <= WHSEC_PREFIX_LEN || len > WHSEC_PREFIX_LEN + WHSEC_MAX_TEXT ||
	    memcmp(secret, WHSEC_PREFIX, WHSEC_PREFIX_LEN) != 0)
		return NULL;
	key = util_base64_decode(secret + WHSEC_PREFIX_LEN,
	    len - WHSEC_PREFIX_LEN, &n);
	if (key == NULL)
		return NULL;
	if (n == 0 || n > WHSEC_MAX_KEY) {
		OPENSSL_cleanse(key, n);
		free(key);
		return NULL;
	}
	*keylen = n;
	return key;
}

static int
standard_mac(const unsigned char *key, size_t keylen, const char *id,
    const char *timestamp, const void *body, size_t bodylen,
    unsigned char out[MAC_LEN])
{
	struct part parts[5] = {
		{ id, strlen(id) }, { ".", 1 },
		{ timestamp, strlen(timestamp) }, { ".", 1 },
		{ body, bodylen },
	};

	if (body == NULL && bodylen > 0)
		return -1;
	return hmac_sha256(key, keylen, parts, nitems(parts), out);
}

char *
sig_standard_sign(const unsigned char *key, size_t keylen, const char *id,
    const char *timestamp, const void *body, size_t bodylen)
{
	unsigned char mac[MAC_LEN];
	char *b64, *sig;

	if (key == NULL || keylen == 0 || id == NULL || timestamp == NULL)
		return NULL;
	if (standard_mac(key, keylen, id, timestamp, body, bodylen, mac) == -1)
		return NULL;
	b64 = util_base64_encode(mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	sig = xasprintf("v1,%s", b64);
	free(b64);
	return sig;
}

/*
 * webhook-id goes into the signed text verbatim, so keep it to visible ASCII
 * without '.': "{id}.{timestamp}.{body}" then splits one way only. GitLab
 * sends its Idempotency-Key (a UUID) here, Svix-style senders "msg_...".
 */
static bool
id_ok(const char *id)
{
	size_t i, len;

	len = strnlen(id, STD_MAX_ID + 1);
	if (len == 0 || len > STD_MAX_ID)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c <= ' ' || c >= 0x7f || c == '.')
			return false;
	}
	return true;
}

/* All digits, 1..20 of them; *out saturates at INT64_MAX. */
static bool
timestamp_parse(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t i, len;

	len = strnlen(s, STD_MAX_TIMESTAMP + 1);
	if (len == 0 || len > STD_MAX_TIMESTAMP)
		return false;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			v = (uint64_t)INT64_MAX;
		else
			v = v * 10 + d;
	}
	*out = (int64_t)v;
	return true;
}

static bool
within_tolerance(int64_t ts, int64_t now)
{
	/* Unsigned subtraction gives the exact distance of any two int64s. */
	uint64_t d = ts >= now ? (uint64_t)ts - (uint64_t)now :
	    (uint64_t)now - (uint64_t)ts;

	return d <= SIG_TOLERANCE_S;
}

static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

int
sig_standard_verify(const unsigned char *key, size_t keylen, const char *id,
    const char *timestamp, const char *signatures, const void *body,
    size_t bodylen, int64_t now, const char **why)
{
	unsigned char want[MAC_LEN], *got;
	const char *p, *tok;
	size_t len, toklen, gotlen, ntok = 0;
	int64_t ts;
	bool matched = false;

	if (why != NULL)
		*why = NULL;
	if (key == NULL || keylen == 0)
		return fail(why, "no signing key");
	if (id == NULL || !id_ok(id))
		return fail(why, "bad webhook-id");
	if (timestamp == NULL || !timestamp_parse(timestamp, &ts))
		return fail(why, "bad webhook-timestamp");
	if (!within_tolerance(ts, now))
		return fail(why, "timestamp outside tolerance");
	if (signatures == NULL)
		return fail(why, "no signature");
	len = strnlen(signatures, STD_MAX_HEADER + 1);
	if (len > STD_MAX_HEADER)
		return fail(why, "signature header too long");
	for (p = signatures; *p != '\0'; p += toklen) {
		p += strspn(p, " ");
		if ((toklen = strcspn(p, " ")) > 0)
			ntok++;
	}
	if (ntok == 0)
		return fail(why, "no signature");
	if (ntok > STD_MAX_SIGNATURES)
		return fail(why, "too many signatures");
	if (standard_mac(key, keylen, id, timestamp, body, bodylen, want) == -1)
		return fail(why, "cannot compute signature");

	/* Several signatures allow key rotation: any v1 match will do. */
	for (p = signatures; *p != '\0' && !matched; p += toklen) {
		p += strspn(p, " ");
		tok = p;
		toklen = strcspn(p, " ");
		if (toklen <= 3 || memcmp(tok, "v1,", 3) != 0)
			continue;	/* other versions, or nothing */
		got = util_base64_decode(tok + 3, toklen - 3, &gotlen);
		if (got == NULL)
			continue;
		if (gotlen == sizeof(want) &&
		    CRYPTO_memcmp(got, want, sizeof(want)) == 0)
			matched = true;
		free(got);
	}
	OPENSSL_cleanse(want, sizeof(want));
	if (!matched)
		return fail(why, "no matching signature");
	return 0;
}
