/*
 * signature.c against the forges' published vectors: GitHub's
 * X-Hub-Signature-256, GitLab's token, and Standard Webhooks signing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signature.h"
#include "tap.h"
#include "util.h"

/* https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries */
#define GH_SECRET	"It's a Secret to Everybody"
#define GH_BODY		"Hello, World!"
#define GH_SIG		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/* @octokit/webhooks-methods test/verify.test.ts */
#define OCTO_SECRET	"mysecret"
#define OCTO_BODY	"{\"foo\":\"bar\"}"
#define OCTO_SIG	"sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3"
/* Standard Webhooks / Svix library tests */
#define SW_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID		"msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS		"1614265330"
#define SW_NOW		((int64_t)1614265330)
#define SW_BODY		"{\"test\": 2432232314}"
#define SW_SIG		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_WRONG	"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

static int
gh_verify(const char *secret, const char *body, const char *header)
{
	return sig_github_verify(secret, strlen(secret), body, strlen(body),
	    header);
}

static void
test_github(void)
{
	char out[80], upper[80];
	size_t i;

	sig_github_sign(GH_SECRET, strlen(GH_SECRET), GH_BODY, strlen(GH_BODY),
	    out, sizeof(out));
	is_str(out, GH_SIG, "github: sign docs vector");
	is_int(gh_verify(GH_SECRET, GH_BODY, GH_SIG), 0,
	    "github: verify docs vector");

	sig_github_sign(OCTO_SECRET, strlen(OCTO_SECRET), OCTO_BODY,
	    strlen(OCTO_BODY), out, sizeof(out));
	is_str(out, OCTO_SIG, "github: sign octokit vector");
	is_int(gh_verify(OCTO_SECRET, OCTO_BODY, OCTO_SIG), 0,
	    "github: verify octokit vector");

	strcpy(upper, GH_SIG);
	for (i = strlen("sha256="); upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	is_int(gh_verify(GH_SECRET, GH_BODY, upper), 0,
	    "github: uppercase hex accepted");

	is_int(gh_verify(GH_SECRET, "Hello, World?", GH_SIG), -1,
	    "github: tampered body rejected");
	is_int(gh_verify(GH_SECRET, "Hello, World! ", GH_SIG), -1,
	    "github: extra byte rejected");
	is_int(gh_verify("It's a secret to everybody", GH_BODY, GH_SIG), -1,
	    "github: wrong secret rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1"),
	    -1, "github: truncated header rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17a"),
	    -1, "github: overlong header rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
	    -1, "github: missing sha256= prefix rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
	    -1, "github: sha1= header rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"),
	    -1, "github: real sha1 header rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY,
	    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g"),
	    -1, "github: non-hex digit rejected");
	is_int(gh_verify(GH_SECRET, GH_BODY, ""), -1,
	    "github: empty header rejected");
	is_int(sig_github_verify(GH_SECRET, strlen(GH_SECRET), GH_BODY,
	    strlen(GH_BODY), NULL), -1, "github: missing header rejected");

	/* Whatever an empty key signs must never verify. */
	sig_github_sign("", 0, GH_BODY, strlen(GH_BODY), out, sizeof(out));
	ok(strncmp(out, "sha256=", 7) == 0 && strlen(out) == 71,
	    "github: signing with an empty key still formats");
	is_int(gh_verify("", GH_BODY, out), -1,
	    "github: empty secret rejected");
	is_int(sig_github_verify(NULL, 0, GH_BODY, strlen(GH_BODY), out), -1,
	    "github: NULL secret rejected");

	sig_github_sign(GH_SECRET, strlen(GH_SECRET), "", 0, out, sizeof(out));
	is_int(sig_github_verify(GH_SECRET, strlen(GH_SECRET), NULL, 0, out), 0,
	    "github: empty body round trip");
	sig_github_sign(GH_SECRET, strlen(GH_SECRET), GH_BODY, strlen(GH_BODY),
	    out, 40);
	is_str(out, "", "github: short output buffer gets an empty string");
}

static void
test_gitlab_token(void)
{
	is_int(sig_gitlab_token_verify("s3cret-token", 12, "s3cret-token"), 0,
	    "gitlab token: equal accepted");
	is_int(sig_gitlab_token_verify("s3cret-token", 12, "s3cret-tokeN"), -1,
	    "gitlab token: unequal rejected");
	is_int(sig_gitlab_token_verify("s3cret-token", 12, "s3cret-token2"), -1,
	    "gitlab token: longer header rejected");
	is_int(sig_gitlab_token_verify("s3cret-token", 12, "s3cret"), -1,
	    "gitlab token: shorter header rejected");
	is_int(sig_gitlab_token_verify("s3cret-token", 12, ""), -1,
	    "gitlab token: empty header rejected");
	is_int(sig_gitlab_token_verify("s3cret-token", 12, NULL), -1,
	    "gitlab token: missing header rejected");
	is_int(sig_gitlab_token_verify("", 0, ""), -1,
	    "gitlab token: empty token never matches");
	is_int(sig_gitlab_token_verify(NULL, 0, ""), -1,
	    "gitlab token: NULL token never matches");
}

static void
test_whsec_key(void)
{
	unsigned char *key;
	size_t keylen = 99;

	key = sig_whsec_key(SW_SECRET, &keylen);
	ok(key != NULL, "whsec: vector secret decodes");
	is_int(keylen, 24, "whsec: vector key is 24 bytes");
	free(key);

	keylen = 99;
	ok(sig_whsec_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &keylen) == NULL,
	    "whsec: missing prefix rejected");
	is_int(keylen, 0, "whsec: keylen zeroed on failure");
	ok(sig_whsec_key("whsec_", &keylen) == NULL, "whsec: empty key rejected");
	ok(sig_whsec_key("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &keylen) == NULL,
	    "whsec: prefix is case-sensitive");
	ok(sig_whsec_key("whsec_MfKQ9r8G!KYqrTwjUPD8ILPZIo2LaLaSw", &keylen) == NULL,
	    "whsec: non-base64 rejected");
	ok(sig_whsec_key("whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw", &keylen) == NULL,
	    "whsec: whitespace rejected");
	/* 64 bytes of key is the bound. */
	{
		unsigned char raw[65];
		char *b64, *secret;

		memset(raw, 0xa5, sizeof(raw));
		b64 = util_base64_encode(raw, 64);
		secret = xasprintf("whsec_%s", b64);
		key = sig_whsec_key(secret, &keylen);
		ok(key != NULL && keylen == 64, "whsec: 64-byte key accepted");
		free(key);
		free(secret);
		free(b64);
		b64 = util_base64_encode(raw, 65);
		secret = xasprintf("whsec_%s", b64);
		ok(sig_whsec_key(secret, &keylen) == NULL,
		    "whsec: 65-byte key rejected");
		free(secret);
		free(b64);
	}
	ok(sig_whsec_key(NULL, &keylen) == NULL, "whsec: NULL rejected");
}

static int
sw_verify(const unsigned char *key, size_t keylen, const char *ts,
    const char *sigs, int64_t now, const char **why)
{
	return sig_standard_verify(key, keylen, SW_ID, ts, sigs, SW_BODY,
	    strlen(SW_BODY), now, why);
}

static void
test_standard(void)
{
	unsigned char *key, key32[32];
	const char *why;
	char *sig, *sigs, *secret, *b64;
	size_t keylen, i;

	key = sig_whsec_key(SW_SECRET, &keylen);
	if (key == NULL) {
		ok(0, "standard: cannot decode the vector secret");
		return;
	}

	sig = sig_standard_sign(key, keylen, SW_ID, SW_TS, SW_BODY,
	    strlen(SW_BODY));
	is_str(sig, SW_SIG, "standard: sign vector");
	free(sig);

	why = "unset";
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW, &why), 0,
	    "standard: verify vector");
	ok(why == NULL, "standard: no reason on success");
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW + 300, &why), 0,
	    "standard: 300 s late still inside tolerance");
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW - 300, &why), 0,
	    "standard: 300 s early still inside tolerance");

	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW + 301, &why), -1,
	    "standard: 301 s late rejected");
	is_str(why, "timestamp outside tolerance", "standard: late reason");
	why = NULL;
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW - 301, &why), -1,
	    "standard: 301 s early rejected");
	is_str(why, "timestamp outside tolerance", "standard: early reason");
	is_int(sw_verify(key, keylen, "99999999999999999999", SW_SIG, SW_NOW,
	    &why), -1, "standard: 20-digit timestamp rejected");
	is_str(why, "timestamp outside tolerance", "standard: huge ts reason");
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, INT64_MIN, &why), -1,
	    "standard: absurd clock does not overflow");

	is_int(sw_verify(key, keylen, SW_TS,
	    "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= " SW_WRONG " " SW_SIG,
	    SW_NOW, &why), 0,
	    "standard: right signature after a v2 and a wrong v1");
	is_int(sw_verify(key, keylen, SW_TS, "  " SW_SIG "  ", SW_NOW, &why), 0,
	    "standard: extra spaces tolerated");
	is_int(sw_verify(key, keylen, SW_TS,
	    SW_WRONG " v1,bm90LWEtc2lnbmF0dXJl v1,!!! v1, "
	    "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    SW_NOW, &why), -1, "standard: only wrong signatures rejected");
	is_str(why, "no matching signature", "standard: no-match reason");
	is_int(sw_verify(key, keylen, SW_TS,
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", SW_NOW, &why), 0,
	    "standard: unpadded base64 accepted");
	is_int(sw_verify(key, keylen, SW_TS,
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O==", SW_NOW, &why), -1,
	    "standard: truncated signature rejected");
	is_int(sw_verify(key, keylen, SW_TS, "", SW_NOW, &why), -1,
	    "standard: empty signature header rejected");
	is_int(sw_verify(key, keylen, SW_TS, NULL, SW_NOW, &why), -1,
	    "standard: missing signature header rejected");
	is_int(sig_standard_verify(key, keylen, SW_ID, SW_TS, SW_SIG,
	    "{\"test\": 2432232315}", strlen(SW_BODY), SW_NOW, &why), -1,
	    "standard: tampered body rejected");
	is_int(sig_standard_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJeK",
	    SW_TS, SW_SIG, SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
	    "standard: other id rejected");

	/* Too many tokens and too long a header are refused before any MAC. */
	sigs = xstrdup("");
	for (i = 0; i < 16; i++) {
		char *next = xasprintf("%s%s ", sigs, SW_WRONG);

		free(sigs);
		sigs = next;
	}
	{
		char *with_right = xasprintf("%s%s", sigs, SW_SIG);

		is_int(sw_verify(key, keylen, SW_TS, with_right, SW_NOW, &why),
		    -1, "standard: 17 signatures rejected");
		is_str(why, "too many signatures", "standard: too-many reason");
		free(with_right);
	}
	free(sigs);
	sigs = xmalloc(5000);
	memset(sigs, ' ', 4990);
	strcpy(sigs + 4990, "v1,AAAA");
	is_int(sw_verify(key, keylen, SW_TS, sigs, SW_NOW, &why), -1,
	    "standard: header over 4 KiB rejected");
	free(sigs);

	/* Malformed timestamps. */
	{
		static const char *const bad[] = {
			"", "1614265330.5", "-1614265330", "+1614265330",
			" 1614265330", "1614265330 ", "0x603803f2", "16142653e0",
			"161426533000000000000",
		};

		for (i = 0; i < nitems(bad); i++) {
			why = NULL;
			is_int(sw_verify(key, keylen, bad[i], SW_SIG, SW_NOW,
			    &why), -1, "standard: timestamp \"%s\" rejected",
			    bad[i]);
			ok(why != NULL, "standard: timestamp \"%s\" has a reason",
			    bad[i]);
		}
		is_int(sw_verify(key, keylen, NULL, SW_SIG, SW_NOW, &why), -1,
		    "standard: missing timestamp rejected");
	}

	/* Malformed ids, and '.' that would shift the signed text's fields. */
	{
		char longid[300];

		is_int(sig_standard_verify(key, keylen, "", SW_TS, SW_SIG,
		    SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
		    "standard: empty id rejected");
		is_int(sig_standard_verify(key, keylen, NULL, SW_TS, SW_SIG,
		    SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
		    "standard: missing id rejected");
		is_int(sig_standard_verify(key, keylen, "msg.1614265330", SW_TS,
		    SW_SIG, SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
		    "standard: id with '.' rejected");
		is_int(sig_standard_verify(key, keylen, "msg 1", SW_TS,
		    SW_SIG, SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
		    "standard: id with a space rejected");
		memset(longid, 'a', 257);
		longid[257] = '\0';
		is_int(sig_standard_verify(key, keylen, longid, SW_TS, SW_SIG,
		    SW_BODY, strlen(SW_BODY), SW_NOW, &why), -1,
		    "standard: 257-byte id rejected");
		longid[256] = '\0';
		sig = sig_standard_sign(key, keylen, longid, SW_TS, SW_BODY,
		    strlen(SW_BODY));
		is_int(sig_standard_verify(key, keylen, longid, SW_TS, sig,
		    SW_BODY, strlen(SW_BODY), SW_NOW, &why), 0,
		    "standard: 256-byte id accepted");
		free(sig);
	}

	is_int(sw_verify(key, 0, SW_TS, SW_SIG, SW_NOW, &why), -1,
	    "standard: empty key rejected");
	is_int(sw_verify(NULL, 0, SW_TS, SW_SIG, SW_NOW, &why), -1,
	    "standard: NULL key rejected");
	is_int(sw_verify(key, keylen, SW_TS, SW_SIG, SW_NOW + 301, NULL), -1,
	    "standard: NULL why allowed");
	free(key);

	/* GitLab's size: a 32-byte key through whsec_, sign and verify. */
	for (i = 0; i < sizeof(key32); i++)
		key32[i] = (unsigned char)(i * 7 + 1);
	b64 = util_base64_encode(key32, sizeof(key32));
	secret = xasprintf("whsec_%s", b64);
	key = sig_whsec_key(secret, &keylen);
	ok(key != NULL && keylen == 32 && memcmp(key, key32, 32) == 0,
	    "whsec: 32-byte key round trip");
	if (key != NULL) {
		sig = sig_standard_sign(key, keylen, "b9a1e0c4-5f0e-4d0c-9a3e-2f1b7c6d8e90",
		    "1779666670", "{}", 2);
		ok(sig != NULL && strncmp(sig, "v1,", 3) == 0 &&
		    strlen(sig) == 3 + 44, "standard: 32-byte key signs");
		is_int(sig_standard_verify(key, keylen,
		    "b9a1e0c4-5f0e-4d0c-9a3e-2f1b7c6d8e90", "1779666670", sig,
		    "{}", 2, 1779666670, &why), 0,
		    "standard: 32-byte key verifies");
		is_int(sig_standard_verify(key32, 31,
		    "b9a1e0c4-5f0e-4d0c-9a3e-2f1b7c6d8e90", "1779666670", sig,
		    "{}", 2, 1779666670, &why), -1,
		    "standard: shortened key rejected");
		free(sig);
		free(key);
	}
	free(secret);
	free(b64);
}

int
main(void)
{
	test_github();
	test_gitlab_token();
	test_whsec_key();
	test_standard();
	return done_testing();
}
