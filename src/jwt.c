/*
 * RS256 JSON Web Tokens for GitHub Apps. GitHub: "iat: 60 seconds in the
 * past to allow for clock drift", "exp: no more than 10 minutes into the
 * future", "iss: the client ID or application ID of your GitHub App".
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "util.h"

#define IAT_SKEW_S	60
#define EXP_AHEAD_S	540
#define MAX_APP_ID	128
#define MAX_PEM		(64 * 1024)	/* as config.c bounds secret files */
#define MIN_RSA_BITS	2048

/* The header never changes: {"alg":"RS256","typ":"JWT"}. */
static const char jwt_header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

/* Base64url without padding (RFC 7515 section 2); caller frees. */
static char *
base64url(const unsigned char *in, size_t n)
{
	char *s = util_base64_encode(in, n), *p;

	for (p = s; *p != '\0' && *p != '='; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	*p = '\0';
	return s;
}

/* App IDs are digits, Client IDs like "Iv23liAbC.1": nothing to escape. */
static int
app_id_ok(const char *id)
{
	size_t n = strnlen(id, MAX_APP_ID + 1);

	return n > 0 && n <= MAX_APP_ID && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Never prompt for a passphrase: an encrypted key is refused instead. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* RSA-SHA256, PKCS#1 v1.5, of n bytes; the signature's base64url or NULL. */
static char *
sign(EVP_PKEY *key, const char *data, size_t n)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *out = NULL;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)data,
	    n) != 1)
		goto out;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)data,
	    n) != 1)
		goto out;
	out = base64url(sig, siglen);
out:
	free(sig);
	EVP_MD_CTX_free(md);	/* frees pctx too */
	return out;
}

char *
jwt_github_app(const char *app_id, const char *pem, size_t pem_len,
    int64_t now_s, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	char *claims = NULL, *h64 = NULL, *c64 = NULL, *input = NULL;
	char *sig = NULL, *token = NULL;
	int bits;

	if (app_id == NULL || !app_id_ok(app_id)) {
		snprintf(err, errlen, "GitHub App JWT: the app id must be 1 to "
		    "%d letters, digits, '.', '_' or '-'", MAX_APP_ID);
		goto out;
	}
	/* Seconds in any year a clock may plausibly show. */
	if (now_s < IAT_SKEW_S || now_s > ((int64_t)1 << 40)) {
		snprintf(err, errlen, "GitHub App JWT: the clock says %lld",
		    (long long)now_s);
		goto out;
	}
	if (pem == NULL || pem_len == 0 || pem_len > MAX_PEM) {
		snprintf(err, errlen, "GitHub App JWT: the private key is "
		    "empty or larger than %d bytes", MAX_PEM);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL) {
		snprintf(err, errlen, "GitHub App JWT: out of memory");
		goto out;
	}
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		snprintf(err, errlen, "GitHub App JWT: the private key is not "
		    "an unencrypted PEM private key");
		goto out;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "GitHub App JWT: the private key is %s, "
		    "not RSA (RS256 needs an RSA key)",
		    EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) :
		    "another type");
		goto out;
	}
	if ((bits = EVP_PKEY_get_bits(key)) < MIN_RSA_BITS) {
		snprintf(err, errlen, "GitHub App JWT: the RSA key has %d "
		    "bits, fewer than %d", bits, MIN_RSA_BITS);
		goto out;
	}
	claims = xasprintf("{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%s\"}",
	    (long long)(now_s - IAT_SKEW_S), (long long)(now_s + EXP_AHEAD_S),
	    app_id);
	h64 = base64url((const unsigned char *)jwt_header,
	    sizeof(jwt_header) - 1);
	c64 = base64url((const unsigned char *)claims, strlen(claims));
	input = xasprintf("%s.%s", h64, c64);
	if ((sig = sign(key, input, strlen(input))) == NULL) {
		snprintf(err, errlen, "GitHub App JWT: RSA signing failed");
		goto out;
	}
	token = xasprintf("%s.%s", input, sig);
out:
	/* OpenSSL's queue would otherwise surface in an unrelated caller. */
	ERR_clear_error();
	free(sig);
	free(input);
	free(c64);
	free(h64);
	free(claims);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return token;
}
