/*
 * jwt.c: a GitHub App JWT made with a key generated here, taken apart, its
 * claims read and its signature verified with OpenSSL; bad keys refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "json.h"
#include "jwt.h"
#include "tap.h"
#include "util.h"

#define NOW	1779666670LL

/* The PEM of a private key in a new string; traditional: PKCS#1. */
static char *
pem_of(EVP_PKEY *key, int traditional, const EVP_CIPHER *enc, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;
	int rc;

	if (traditional)
		rc = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL,
		    0, NULL, NULL);
	else
		rc = PEM_write_bio_PrivateKey(bio, key, enc,
		    enc ? (unsigned char *)"passphrase" : NULL, enc ? 10 : 0,
		    NULL, NULL);
	if (rc == 1 && (n = BIO_get_mem_data(bio, &data)) > 0) {
		out = xstrndup(data, (size_t)n);
		*len = (size_t)n;
	}
	BIO_free(bio);
	return out;
}

/* Base64url (no padding) to bytes; NULL when malformed. */
static unsigned char *
unb64url(const char *s, size_t n, size_t *outlen)
{
	char *t = xstrndup(s, n), *p;
	unsigned char *out;

	for (p = t; *p != '\0'; p++) {
		if (*p == '-')
			*p = '+';
		else if (*p == '_')
			*p = '/';
		else if (*p == '+' || *p == '/' || *p == '=')
			*p = '!';	/* not base64url */
	}
	out = util_base64_decode(t, strlen(t), outlen);
	free(t);
	return out;
}

/* Whether sig (base64url) is key's RS256 signature of signed_part. */
static int
verifies(EVP_PKEY *key, const char *signed_part, size_t signed_len,
    const char *sig64)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig;
	size_t siglen;
	int ok_ = 0;

	if ((sig = unb64url(sig64, strlen(sig64), &siglen)) == NULL)
		goto out;
	ok_ = md != NULL &&
	    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 &&
	    EVP_DigestVerify(md, sig, siglen,
	    (const unsigned char *)signed_part, signed_len) == 1;
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return ok_;
}

static void
check_token(EVP_PKEY *key, const char *token, const char *iss,
    const char *what)
{
	const char *dot1, *dot2;
	unsigned char *hdr = NULL, *claims = NULL;
	size_t hlen = 0, clen = 0;
	cJSON *h = NULL, *c = NULL;
	char *s, *tampered, *fake, *fake64;

	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	ok(dot1 != NULL && dot2 != NULL && strchr(dot2 + 1, '.') == NULL,
	    "%s: three parts", what);
	if (dot2 == NULL)
		return;
	ok(strpbrk(token, "=+/") == NULL, "%s: base64url without padding",
	    what);
	hdr = unb64url(token, (size_t)(dot1 - token), &hlen);
	claims = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &clen);
	ok(hdr != NULL && claims != NULL, "%s: parts decode", what);
	if (hdr != NULL)
		h = json_parse((char *)hdr, hlen, JSON_MAX_DEPTH);
	if (claims != NULL)
		c = json_parse((char *)claims, clen, JSON_MAX_DEPTH);
	ok(h != NULL && c != NULL, "%s: parts are JSON", what);
	s = json_str(h, "alg", 16);
	is_str(s, "RS256", "%s: alg", what);
	free(s);
	s = json_str(h, "typ", 16);
	is_str(s, "JWT", "%s: typ", what);
	free(s);
	is_int(json_int(c, "iat", 0), NOW - 60, "%s: iat now-60", what);
	is_int(json_int(c, "exp", 0), NOW + 540, "%s: exp now+540", what);
	s = json_str(c, "iss", 128);
	is_str(s, iss, "%s: iss is the app id, a string", what);
	free(s);
	is_int(cJSON_GetArraySize(c), 3, "%s: three claims", what);

	ok(verifies(key, token, (size_t)(dot2 - token), dot2 + 1),
	    "%s: signature verifies with the public key", what);

	/* The same signature over other claims. */
	fake = xasprintf("{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%s\"}",
	    NOW - 60, NOW + 5400, iss);
	{
		char *p;

		fake64 = util_base64_encode((unsigned char *)fake, strlen(fake));
		for (p = fake64; *p; p++) {
			if (*p == '+')
				*p = '-';
			else if (*p == '/')
				*p = '_';
			else if (*p == '=')
				*p = '\0';
		}
	}
	tampered = xasprintf("%.*s.%s", (int)(dot1 - token), token, fake64);
	ok(!verifies(key, tampered, strlen(tampered), dot2 + 1),
	    "%s: tampered claims fail verification", what);
	free(tampered);
	free(fake64);
	free(fake);
	tampered = xstrdup(token);
	tampered[strlen(tampered) - 3] =
	    tampered[strlen(tampered) - 3] == 'A' ? 'B' : 'A';
	ok(!verifies(key, tampered, (size_t)(dot2 - token),
	    tampered + (dot2 - token) + 1),
	    "%s: tampered signature fails verification", what);
	free(tampered);

	if (c != NULL)
		json_free(c);
	if (h != NULL)
		json_free(h);
	free(claims);
	free(hdr);
}

int
main(void)
{
	EVP_PKEY *rsa, *ec, *small;
	char err[256], *pem, *token;
	size_t len;

	rsa = EVP_RSA_gen(2048);
	ec = EVP_EC_gen("P-256");
	small = EVP_RSA_gen(1024);
	if (rsa == NULL || ec == NULL || small == NULL) {
		printf("Bail out! cannot generate keys\n");
		return 1;
	}

	/* PKCS#8, as OpenSSL writes by default. */
	pem = pem_of(rsa, 0, NULL, &len);
	token = jwt_github_app("123456", pem, len, NOW, err, sizeof(err));
	if (!ok(token != NULL, "pkcs8: token made"))
		printf("#   %s\n", err);
	if (token != NULL)
		check_token(rsa, token, "123456", "pkcs8");
	free(token);
	/* Client IDs are strings; the PEM needs no NUL. */
	token = jwt_github_app("Iv23liAbCdEf.0_1-x", pem, len, NOW, err,
	    sizeof(err));
	ok(token != NULL, "client id: token made");
	if (token != NULL)
		check_token(rsa, token, "Iv23liAbCdEf.0_1-x", "client id");
	free(token);
	token = jwt_github_app("1\"}", pem, len, NOW, err, sizeof(err));
	ok(token == NULL && strstr(err, "app id") != NULL,
	    "app id with a quote refused (%s)", err);
	free(token);
	token = jwt_github_app("", pem, len, NOW, err, sizeof(err));
	ok(token == NULL, "empty app id refused");
	free(token);
	token = jwt_github_app("1", pem, len, -5, err, sizeof(err));
	ok(token == NULL, "absurd clock refused");
	free(token);
	token = jwt_github_app("1", pem, len - 40, NOW, err, sizeof(err));
	ok(token == NULL, "truncated PEM refused");
	free(token);
	free(pem);

	/* PKCS#1 "BEGIN RSA PRIVATE KEY", as GitHub hands out. */
	pem = pem_of(rsa, 1, NULL, &len);
	ok(pem != NULL && strstr(pem, "BEGIN RSA PRIVATE KEY") != NULL,
	    "pkcs1: PEM written");
	token = jwt_github_app("42", pem, len, NOW, err, sizeof(err));
	ok(token != NULL, "pkcs1: token made");
	if (token != NULL)
		check_token(rsa, token, "42", "pkcs1");
	free(token);
	free(pem);

	token = jwt_github_app("42", "-----BEGIN PRIVATE KEY-----\ngarbage\n"
	    "-----END PRIVATE KEY-----\n", 60, NOW, err, sizeof(err));
	ok(token == NULL && strstr(err, "not an unencrypted PEM private key") !=
	    NULL, "garbage PEM refused (%s)", err);
	free(token);
	token = jwt_github_app("42", "", 0, NOW, err, sizeof(err));
	ok(token == NULL, "empty PEM refused");
	free(token);
	token = jwt_github_app("42", NULL, 0, NOW, err, sizeof(err));
	ok(token == NULL, "NULL PEM refused");
	free(token);

	pem = pem_of(ec, 0, NULL, &len);
	token = jwt_github_app("42", pem, len, NOW, err, sizeof(err));
	ok(token == NULL && strstr(err, "not RSA") != NULL &&
	    strstr(err, "BEGIN") == NULL, "EC key refused (%s)", err);
	free(token);
	free(pem);

	pem = pem_of(small, 0, NULL, &len);
	token = jwt_github_app("42", pem, len, NOW, err, sizeof(err));
	ok(token == NULL && strstr(err, "1024 bits") != NULL,
	    "1024-bit key refused (%s)", err);
	free(token);
	free(pem);

	/* Encrypted: refused, and never a passphrase prompt. */
	pem = pem_of(rsa, 0, EVP_aes_256_cbc(), &len);
	ok(pem != NULL && strstr(pem, "ENCRYPTED") != NULL,
	    "encrypted PEM written");
	token = jwt_github_app("42", pem, len, NOW, err, sizeof(err));
	ok(token == NULL && strstr(err, "unencrypted") != NULL,
	    "encrypted key refused (%s)", err);
	free(token);
	free(pem);

	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	return done_testing();
}
